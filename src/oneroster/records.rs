//! Compact roster records: only the fields a sync uses, so a large district fits in
//! little memory. References (`{href, sourcedId, type}`) keep only the `sourcedId`.
//!
//! `Debug` of a [`User`] hides names, emails, phones and usernames, so a record
//! printed into a log carries no personal data.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;

/// A record's OneRoster status. `tobedeleted` and the legacy `inactive` are both
/// [`Status::Deleted`]; anything else (or no status) is [`Status::Active`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// `active`.
    #[default]
    Active,
    /// `tobedeleted` or `inactive`: gone from the school's data.
    Deleted,
}

impl Status {
    pub(crate) fn parse(value: Option<&str>) -> Self {
        match value {
            Some(v)
                if v.eq_ignore_ascii_case("tobedeleted") || v.eq_ignore_ascii_case("inactive") =>
            {
                Status::Deleted
            }
            _ => Status::Active,
        }
    }
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value outside the OneRoster vocabulary, as sent.
            Other(String),
        }

        impl $name {
            /// Reads a value case-insensitively.
            pub fn parse(value: &str) -> Self {
                $(if value.eq_ignore_ascii_case($text) {
                    return $name::$variant;
                })+
                $name::Other(value.to_owned())
            }

            /// The OneRoster spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(value) => value,
                }
            }
        }
    };
}

vocabulary! {
    /// A person's role (1.1 `role`, or the primary entry of 1.2 `roles[]`), and an
    /// enrollment's role.
    Role {
        /// `administrator`.
        Administrator = "administrator",
        /// `aide`.
        Aide = "aide",
        /// `guardian`.
        Guardian = "guardian",
        /// `member`.
        Member = "member",
        /// `parent`.
        Parent = "parent",
        /// `proctor`.
        Proctor = "proctor",
        /// `relative`.
        Relative = "relative",
        /// `student`.
        Student = "student",
        /// `teacher`.
        Teacher = "teacher",
    }
}

vocabulary! {
    /// An org's `type`.
    OrgType {
        /// `school`.
        School = "school",
        /// `district`.
        District = "district",
        /// `department`.
        Department = "department",
        /// `local`.
        Local = "local",
        /// `state`.
        State = "state",
        /// `national`.
        National = "national",
    }
}

vocabulary! {
    /// An academic session's `type`.
    SessionType {
        /// `term`.
        Term = "term",
        /// `gradingPeriod`.
        GradingPeriod = "gradingPeriod",
        /// `schoolYear`.
        SchoolYear = "schoolYear",
        /// `semester`.
        Semester = "semester",
    }
}

vocabulary! {
    /// A class's `classType`.
    ClassType {
        /// `homeroom`.
        Homeroom = "homeroom",
        /// `scheduled`.
        Scheduled = "scheduled",
    }
}

/// An org (a school, district, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// `sourcedId`.
    pub sourced_id: String,
    /// `status`.
    pub status: Status,
    /// `name`.
    pub name: Option<String>,
    /// `type`.
    pub org_type: Option<OrgType>,
    /// `identifier` (e.g. a state school number).
    pub identifier: Option<String>,
    /// `parent` org's sourcedId.
    pub parent: Option<String>,
}

/// A term, semester, grading period or school year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcademicSession {
    /// `sourcedId`.
    pub sourced_id: String,
    /// `status`.
    pub status: Status,
    /// `type`.
    pub session_type: Option<SessionType>,
    /// `startDate`.
    pub start_date: Option<Date>,
    /// `endDate`.
    pub end_date: Option<Date>,
    /// `parent` session's sourcedId.
    pub parent: Option<String>,
    /// `schoolYear`, as sent (e.g. `2026`).
    pub school_year: Option<String>,
}

/// A course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    /// `sourcedId`.
    pub sourced_id: String,
    /// `status`.
    pub status: Status,
    /// `org` (the school or district offering it).
    pub org: Option<String>,
}

/// A class (a section of a course in a school and terms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// `sourcedId`.
    pub sourced_id: String,
    /// `status`.
    pub status: Status,
    /// `title`.
    pub title: Option<String>,
    /// `classCode`.
    pub class_code: Option<String>,
    /// `classType`.
    pub class_type: Option<ClassType>,
    /// `course` sourcedId.
    pub course: Option<String>,
    /// `school` sourcedId.
    pub school: Option<String>,
    /// `terms[]` sourcedIds.
    pub terms: Vec<String>,
}

/// A person: student, teacher, parent, administrator, ...
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// `sourcedId`.
    pub sourced_id: String,
    /// `status`.
    pub status: Status,
    /// `enabledUser` (bool or the strings `"true"`/`"false"`); missing means enabled,
    /// anything else disabled (see `enabled_invalid`).
    pub enabled: bool,
    /// `enabledUser` held something other than the spec's values (`"yes"`, `1`, `null`,
    /// ...): the user is treated as disabled and the sync names the record.
    pub enabled_invalid: bool,
    /// `role` (1.1) or the primary `roles[].role` (1.2).
    pub role: Option<Role>,
    /// `email`, `username`, `givenName`, `familyName`, `identifier`, `phone` and `sms`, read
    /// through [`User::email`] and the like.
    pub texts: UserTexts,
    /// `orgs[]` sourcedIds (1.2: the orgs of `roles[]` when `orgs` is absent).
    pub orgs: TextList,
    /// `agents[]` sourcedIds (parents, guardians, ...).
    pub agents: TextList,
    /// `grades[]`.
    pub grades: TextList,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |value: Option<&str>| if value.is_some() { "[personal]" } else { "-" };
        f.debug_struct("User")
            .field("sourced_id", &self.sourced_id)
            .field("status", &self.status)
            .field("enabled", &self.enabled)
            .field("role", &self.role)
            .field("email", &hidden(self.email()))
            .field("username", &hidden(self.username()))
            .field("given_name", &hidden(self.given_name()))
            .field("family_name", &hidden(self.family_name()))
            .field("identifier", &hidden(self.identifier()))
            .field("phone", &hidden(self.phone()))
            .field("sms", &hidden(self.sms()))
            .field("orgs", &self.orgs)
            .field("agents", &self.agents)
            .field("grades", &self.grades)
            .finish()
    }
}

/// A short list of texts (a user's orgs, agents or grades) in one allocation, where a
/// `Vec<String>` took one for the list and one for each text: the number of texts, where
/// each ends, then the texts one after the other (numbers as 4 bytes, little-endian). An
/// empty list allocates nothing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TextList(Box<[u8]>);

impl TextList {
    /// The `i`th number of the header.
    fn number(&self, i: usize) -> usize {
        let bytes: [u8; 4] = self.0[i * 4..i * 4 + 4]
            .try_into()
            .expect("four bytes make a number");
        u32::from_le_bytes(bytes) as usize
    }

    /// The `i`th text.
    fn text(&self, i: usize) -> &str {
        let texts = (1 + self.len()) * 4;
        let start = if i == 0 { 0 } else { self.number(i) };
        let end = self.number(i + 1);
        std::str::from_utf8(&self.0[texts + start..texts + end])
            .expect("a TextList holds whole texts, made from &str")
    }

    /// The texts, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        (0..self.len()).map(|i| self.text(i))
    }

    /// How many texts there are.
    pub fn len(&self) -> usize {
        if self.0.is_empty() { 0 } else { self.number(0) }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `text` is one of them.
    pub fn contains(&self, text: &str) -> bool {
        self.iter().any(|t| t == text)
    }

    /// The texts joined by `separator`.
    pub fn join(&self, separator: &str) -> String {
        self.iter().collect::<Vec<_>>().join(separator)
    }

    /// Adds a text at the end.
    pub fn push(&mut self, text: &str) {
        *self = self.iter().chain([text]).collect();
    }
}

impl<S: AsRef<str>> FromIterator<S> for TextList {
    fn from_iter<I: IntoIterator<Item = S>>(texts: I) -> Self {
        let texts: Vec<S> = texts.into_iter().collect();
        if texts.is_empty() {
            return TextList::default();
        }
        let length: usize = texts.iter().map(|t| t.as_ref().len()).sum();
        let mut bytes = Vec::with_capacity((1 + texts.len()) * 4 + length);
        // The decoder caps a page's fields and elements: a list stays far below 4 GiB.
        let number = |n: usize| u32::try_from(n).expect("a list of texts under 4 GiB");
        bytes.extend(number(texts.len()).to_le_bytes());
        let mut end = 0;
        for text in &texts {
            end += text.as_ref().len();
            bytes.extend(number(end).to_le_bytes());
        }
        for text in &texts {
            bytes.extend(text.as_ref().as_bytes());
        }
        TextList(bytes.into_boxed_slice())
    }
}

impl fmt::Debug for TextList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One of a user's own texts (see [`UserTexts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserText {
    /// `email`.
    Email,
    /// `username`.
    Username,
    /// `givenName`.
    GivenName,
    /// `familyName`.
    FamilyName,
    /// `identifier`.
    Identifier,
    /// `phone`.
    Phone,
    /// `sms`.
    Sms,
}

/// A user's own texts, each present or not, kept in one allocation: a district has two
/// hundred thousand users (students, staff and parents), and seven separately allocated
/// strings each took more memory than the rest of the user.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserTexts {
    /// The present texts, one after the other, in [`UserText`] order.
    data: Box<str>,
    /// Where each text ends in `data` (a missing one is empty).
    ends: [u32; 7],
    /// Which texts are present, one bit each.
    present: u8,
}

impl UserTexts {
    /// The texts in [`UserText`] order: email, username, given name, family name,
    /// identifier, phone, sms.
    pub fn new(texts: [Option<&str>; 7]) -> Self {
        let mut data = String::with_capacity(texts.iter().flatten().map(|t| t.len()).sum());
        let mut ends = [0; 7];
        let mut present = 0;
        for (i, text) in texts.iter().enumerate() {
            if let Some(text) = text {
                data.push_str(text);
                present |= 1 << i;
            }
            // The decoder caps each field at 64 KiB: seven of them stay far below 4 GiB.
            ends[i] = u32::try_from(data.len()).expect("a user's texts under 4 GiB");
        }
        UserTexts {
            data: data.into_boxed_str(),
            ends,
            present,
        }
    }

    /// One text.
    pub fn get(&self, which: UserText) -> Option<&str> {
        let i = which as usize;
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.data.get(start..self.ends[i] as usize)
    }

    /// The same texts with one replaced.
    pub fn with(&self, which: UserText, text: Option<&str>) -> Self {
        let mut texts = self.all();
        texts[which as usize] = text;
        UserTexts::new(texts)
    }

    fn all(&self) -> [Option<&str>; 7] {
        use UserText::*;
        [
            Email, Username, GivenName, FamilyName, Identifier, Phone, Sms,
        ]
        .map(|t| self.get(t))
    }
}

impl fmt::Debug for UserTexts {
    /// Personal data: only which texts are present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserTexts({:07b})", self.present)
    }
}

impl User {
    /// `email`.
    pub fn email(&self) -> Option<&str> {
        self.texts.get(UserText::Email)
    }
    /// `username`.
    pub fn username(&self) -> Option<&str> {
        self.texts.get(UserText::Username)
    }
    /// `givenName`.
    pub fn given_name(&self) -> Option<&str> {
        self.texts.get(UserText::GivenName)
    }
    /// `familyName`.
    pub fn family_name(&self) -> Option<&str> {
        self.texts.get(UserText::FamilyName)
    }
    /// `identifier`.
    pub fn identifier(&self) -> Option<&str> {
        self.texts.get(UserText::Identifier)
    }
    /// `phone`.
    pub fn phone(&self) -> Option<&str> {
        self.texts.get(UserText::Phone)
    }
    /// `sms`.
    pub fn sms(&self) -> Option<&str> {
        self.texts.get(UserText::Sms)
    }
}

/// A person's membership of a class. The sourcedIds it refers to recur in many
/// enrollments: the client keeps one copy of each (see [`super::Enrollments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// `sourcedId`.
    pub sourced_id: String,
    /// `status`.
    pub status: Status,
    /// `user` sourcedId.
    pub user: Option<String>,
    /// `class` sourcedId.
    pub class: Option<String>,
    /// `school` sourcedId.
    pub school: Option<String>,
    /// `role`.
    pub role: Option<Role>,
    /// `primary` (a teacher's main class).
    pub primary: Option<bool>,
    /// `beginDate` (inclusive).
    pub begin_date: Option<Date>,
    /// `endDate` (exclusive).
    pub end_date: Option<Date>,
}

/// The OneRoster collections the client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// `/orgs` (compatibility mode's source of schools).
    Orgs,
    /// `/schools`.
    Schools,
    /// `/academicSessions`.
    AcademicSessions,
    /// `/courses`.
    Courses,
    /// `/classes`.
    Classes,
    /// `/users`.
    Users,
    /// `/enrollments`.
    Enrollments,
}

impl Collection {
    /// The collection's path segment and name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Orgs => "orgs",
            Collection::Schools => "schools",
            Collection::AcademicSessions => "academicSessions",
            Collection::Courses => "courses",
            Collection::Classes => "classes",
            Collection::Users => "users",
            Collection::Enrollments => "enrollments",
        }
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One collection as fetched: live records (deleted ones dropped, duplicates removed,
/// sorted by sourcedId) and what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched<L> {
    /// The records (a `Vec`, or [`super::Enrollments`]).
    pub records: L,
    /// Records without a sourcedId (or not even an object): counted, not kept.
    pub skipped: u64,
    /// Records with status `tobedeleted`/`inactive` (or, for schools in compatibility
    /// mode, orgs that are not schools) dropped on the client.
    pub dropped: u64,
}

/// Everything a sync reads from one Roster Server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roster {
    /// Active schools.
    pub schools: Vec<Org>,
    /// Active academic sessions.
    pub academic_sessions: Vec<AcademicSession>,
    /// Active courses; `None` in compatibility mode, which does not read `/courses`.
    pub courses: Option<Vec<Course>>,
    /// Active classes.
    pub classes: Vec<Class>,
    /// Active users.
    pub users: Vec<User>,
    /// Active enrollments.
    pub enrollments: super::Enrollments,
    /// Records without a sourcedId, per collection (only collections that had some).
    pub skipped_records: BTreeMap<Collection, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_texts_read_back_each_present_or_missing_and_empty_is_not_missing() {
        let texts = UserTexts::new([
            Some("a@b.org"),
            None,
            Some("Ada"),
            Some(""),
            Some("42"),
            None,
            Some("+1 555"),
        ]);
        assert_eq!(texts.get(UserText::Email), Some("a@b.org"));
        assert_eq!(texts.get(UserText::Username), None);
        assert_eq!(texts.get(UserText::GivenName), Some("Ada"));
        assert_eq!(texts.get(UserText::FamilyName), Some(""));
        assert_eq!(texts.get(UserText::Identifier), Some("42"));
        assert_eq!(texts.get(UserText::Phone), None);
        assert_eq!(texts.get(UserText::Sms), Some("+1 555"));
        let renamed = texts.with(UserText::GivenName, Some("Grace"));
        assert_eq!(renamed.get(UserText::GivenName), Some("Grace"));
        assert_eq!(renamed.get(UserText::Email), Some("a@b.org"));
        assert_eq!(renamed.get(UserText::Sms), Some("+1 555"));
        assert_eq!(texts.with(UserText::GivenName, Some("Ada")), texts);
        assert!(!format!("{texts:?}").contains("Ada"));
    }

    #[test]
    fn a_text_list_reads_back_in_order_empty_texts_included() {
        let mut list: TextList = ["s1", "", "s22"].into_iter().collect();
        assert_eq!(list.iter().collect::<Vec<_>>(), ["s1", "", "s22"]);
        assert_eq!(list.len(), 3);
        assert!(list.contains("") && list.contains("s22") && !list.contains("s2"));
        list.push("s3");
        assert_eq!(list.join(","), "s1,,s22,s3");
        assert!(TextList::default().is_empty());
        assert_eq!(format!("{list:?}"), r#"["s1", "", "s22", "s3"]"#);
        let wide: TextList = ["é", "日本", "x"].into_iter().collect();
        assert_eq!(wide.iter().collect::<Vec<_>>(), ["é", "日本", "x"]);
        // One pointer and a length; the texts and their ends in one allocation.
        assert_eq!(std::mem::size_of::<TextList>(), 16);
    }
}
