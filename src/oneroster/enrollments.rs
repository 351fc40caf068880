//! A roster's enrollments, held compactly. A district has ten enrollments or more for each
//! person, so they are most of what a sync reads: a million of them as [`Enrollment`]
//! records took 112 bytes each plus a separate allocation for each sourcedId. Here each is
//! a 48-byte row whose user, class, school and role are numbers into one table of the
//! distinct texts (each a [`Text`] that the wanted memberships share), and whose own
//! sourcedId lies in one string with all the others: about 85 bytes an enrollment.
//!
//! Records are added page by page as the client reads them ([`RecordList`]); the engine
//! reads them through [`EnrollmentRef`].

use std::fmt;

use foldhash::HashMap;
use jiff::civil::Date;

use crate::intern::Text;

use super::decode::RecordList;
use super::records::{Enrollment, Role, Status};

/// A missing text.
const NONE: u32 = u32::MAX;

/// One enrollment. Texts are indices into [`Enrollments::texts`] ([`NONE`] when absent).
#[derive(Debug, Clone, Copy)]
struct Row {
    /// The sourcedId: `ids[id_start..id_start + id_len]`.
    id_start: u32,
    id_len: u32,
    user: u32,
    class: u32,
    school: u32,
    /// The role as OneRoster spells it.
    role: u32,
    begin_date: Day,
    end_date: Day,
    primary: Option<bool>,
    status: Status,
    /// Whether the collection's filter kept it (see [`RecordList::add`]).
    kept: bool,
}

/// A date or none in four bytes, where `Option<Date>` takes six: year, month and day packed
/// as `year * 512 + month * 32 + day`.
#[derive(Debug, Clone, Copy)]
struct Day(i32);

impl Day {
    const NONE: Day = Day(i32::MIN);

    fn new(date: Option<Date>) -> Self {
        date.map_or(Day::NONE, |d| {
            Day(i32::from(d.year()) * 512 + i32::from(d.month()) * 32 + i32::from(d.day()))
        })
    }

    fn get(self) -> Option<Date> {
        if self.0 == Day::NONE.0 {
            return None;
        }
        let (year, rest) = (self.0.div_euclid(512), self.0.rem_euclid(512));
        let date = Date::new(year as i16, (rest / 32) as i8, (rest % 32) as i8);
        Some(date.expect("a Day is made by Day::new from a valid date"))
    }
}

/// The enrollments of a roster, in the order they were added (by sourcedId once the
/// client has finished reading them).
#[derive(Clone, Default)]
pub struct Enrollments {
    /// Each distinct user, class and school sourcedId and role, once.
    texts: Vec<Text>,
    /// Where each text is in `texts`, while records are added.
    index: HashMap<Text, u32>,
    /// Every enrollment's sourcedId, one after the other.
    ids: String,
    rows: Vec<Row>,
}

impl Enrollments {
    /// Adds one enrollment at the end.
    pub fn push(&mut self, enrollment: Enrollment) {
        self.push_kept(enrollment, true);
    }

    fn push_kept(&mut self, enrollment: Enrollment, kept: bool) {
        // The client's record allowance and memory budget keep a roster's sourcedIds far
        // below 4 GiB.
        let id_start = u32::try_from(self.ids.len())
            .expect("a roster's enrollment sourcedIds take less than 4 GiB");
        self.ids.push_str(&enrollment.sourced_id);
        let row = Row {
            id_start,
            id_len: text_len(&enrollment.sourced_id),
            user: self.text(enrollment.user.as_deref()),
            class: self.text(enrollment.class.as_deref()),
            school: self.text(enrollment.school.as_deref()),
            role: self.text(enrollment.role.as_ref().map(Role::as_str)),
            begin_date: Day::new(enrollment.begin_date),
            end_date: Day::new(enrollment.end_date),
            primary: enrollment.primary,
            status: enrollment.status,
            kept,
        };
        self.rows.push(row);
    }

    /// The number of `text` in the table, added on first sight.
    fn text(&mut self, text: Option<&str>) -> u32 {
        let Some(text) = text else { return NONE };
        if let Some(&n) = self.index.get(text) {
            return n;
        }
        // Fewer distinct texts than enrollments, and the client holds far fewer than four
        // billion records (its record allowance and memory budget stop it long before).
        let n = u32::try_from(self.texts.len())
            .ok()
            .filter(|&n| n != NONE)
            .expect("fewer than 2^32 - 1 distinct texts in one roster's enrollments");
        let shared = Text::from(text);
        self.texts.push(shared.clone());
        self.index.insert(shared, n);
        n
    }

    /// How many distinct texts (user, class and school sourcedIds, roles) the enrollments
    /// name: each has a number below this, the same in every enrollment that names it
    /// ([`EnrollmentRef::user_number`] and the like).
    pub fn distinct_texts(&self) -> usize {
        self.texts.len()
    }

    /// How many enrollments there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The enrollments in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = EnrollmentRef<'_>> + '_ {
        self.rows
            .iter()
            .map(|row| EnrollmentRef { list: self, row })
    }

    fn id(&self, row: &Row) -> &str {
        let start = row.id_start as usize;
        self.ids.get(start..start + row.id_len as usize).expect(
            "an enrollment's sourcedId is read before Enrollments::release_sourced_ids, never after",
        )
    }

    /// Frees every enrollment's own sourcedId, the biggest part of the list after its rows
    /// (24 MB of 60 for a million enrollments). The engine reads them only to name the
    /// enrollments whose class or person is missing, and then releases them before it
    /// builds the memberships, the peak of its first part. Reading one afterwards panics.
    pub fn release_sourced_ids(&mut self) {
        self.ids = String::new();
    }
}

/// A sourcedId's length in bytes: under the client's 64 KiB field limit.
fn text_len(text: &str) -> u32 {
    u32::try_from(text.len()).expect("a sourcedId under 4 GiB (the client caps fields at 64 KiB)")
}

impl RecordList<Enrollment> for Enrollments {
    fn add(&mut self, records: Vec<Enrollment>, keep: fn(&Enrollment) -> bool) {
        self.rows.reserve(records.len());
        for record in records {
            let kept = keep(&record);
            self.push_kept(record, kept);
        }
    }

    fn finish(&mut self, _keep: fn(&Enrollment) -> bool) -> u64 {
        let Enrollments { ids, rows, .. } = self;
        let id = |row: &Row| {
            let start = row.id_start as usize;
            &ids[start..start + row.id_len as usize]
        };
        // Stable, so of two records with one sourcedId the first read stays.
        rows.sort_by(|a, b| id(a).cmp(id(b)));
        rows.dedup_by(|later, earlier| id(later) == id(earlier));
        let before = rows.len();
        rows.retain(|row| row.status == Status::Active && row.kept);
        let dropped = (before - rows.len()) as u64;
        rows.shrink_to_fit();
        ids.shrink_to_fit();
        // No more records come: the lookup table is not needed to read them.
        self.index = HashMap::default();
        dropped
    }
}

impl<'a> IntoIterator for &'a Enrollments {
    type Item = EnrollmentRef<'a>;
    type IntoIter = Box<dyn ExactSizeIterator<Item = EnrollmentRef<'a>> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl FromIterator<Enrollment> for Enrollments {
    fn from_iter<I: IntoIterator<Item = Enrollment>>(records: I) -> Self {
        let mut list = Enrollments::default();
        for record in records {
            list.push(record);
        }
        list
    }
}

impl PartialEq for Enrollments {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Enrollments {}

impl fmt::Debug for Enrollments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|e| e.to_owned()))
            .finish()
    }
}

/// One enrollment of an [`Enrollments`] list.
#[derive(Clone, Copy)]
pub struct EnrollmentRef<'a> {
    list: &'a Enrollments,
    row: &'a Row,
}

impl<'a> EnrollmentRef<'a> {
    fn shared(&self, n: u32) -> Option<&'a Text> {
        self.list.texts.get(n as usize)
    }

    /// `sourcedId`.
    pub fn sourced_id(&self) -> &'a str {
        self.list.id(self.row)
    }

    /// `user` sourcedId.
    pub fn user(&self) -> Option<&'a str> {
        self.shared(self.row.user).map(|t| &**t)
    }

    /// `class` sourcedId.
    pub fn class(&self) -> Option<&'a str> {
        self.shared(self.row.class).map(|t| &**t)
    }

    /// `school` sourcedId.
    pub fn school(&self) -> Option<&'a str> {
        self.shared(self.row.school).map(|t| &**t)
    }

    /// The number of the `user` sourcedId among [`Enrollments::distinct_texts`].
    pub fn user_number(&self) -> Option<usize> {
        self.number(self.row.user)
    }

    /// The number of the `class` sourcedId among [`Enrollments::distinct_texts`].
    pub fn class_number(&self) -> Option<usize> {
        self.number(self.row.class)
    }

    /// The number of the `school` sourcedId among [`Enrollments::distinct_texts`].
    pub fn school_number(&self) -> Option<usize> {
        self.number(self.row.school)
    }

    /// The number of the `role` among [`Enrollments::distinct_texts`].
    pub fn role_number(&self) -> Option<usize> {
        self.number(self.row.role)
    }

    fn number(&self, n: u32) -> Option<usize> {
        (n != NONE).then_some(n as usize)
    }

    /// The `user` sourcedId, as the copy every enrollment of this user shares.
    pub fn user_shared(&self) -> Option<&'a Text> {
        self.shared(self.row.user)
    }

    /// The `class` sourcedId, as the copy every enrollment of this class shares.
    pub fn class_shared(&self) -> Option<&'a Text> {
        self.shared(self.row.class)
    }

    /// `role`, as OneRoster spells it (`student`, `teacher`, ...; other values as sent).
    pub fn role(&self) -> Option<&'a str> {
        self.shared(self.row.role).map(|t| &**t)
    }

    /// The `role`, as the copy every enrollment with this role shares.
    pub fn role_shared(&self) -> Option<&'a Text> {
        self.shared(self.row.role)
    }

    /// `primary`.
    pub fn primary(&self) -> Option<bool> {
        self.row.primary
    }

    /// `beginDate` (inclusive).
    pub fn begin_date(&self) -> Option<Date> {
        self.row.begin_date.get()
    }

    /// `endDate` (exclusive).
    pub fn end_date(&self) -> Option<Date> {
        self.row.end_date.get()
    }

    /// `status`.
    pub fn status(&self) -> Status {
        self.row.status
    }

    /// The enrollment as a record of its own.
    pub fn to_owned(&self) -> Enrollment {
        Enrollment {
            sourced_id: self.sourced_id().to_owned(),
            status: self.status(),
            user: self.user().map(str::to_owned),
            class: self.class().map(str::to_owned),
            school: self.school().map(str::to_owned),
            role: self.role().map(Role::parse),
            primary: self.primary(),
            begin_date: self.begin_date(),
            end_date: self.end_date(),
        }
    }
}

impl PartialEq for EnrollmentRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.sourced_id() == other.sourced_id()
            && self.user() == other.user()
            && self.class() == other.class()
            && self.school() == other.school()
            && self.role() == other.role()
            && self.primary() == other.primary()
            && self.begin_date() == other.begin_date()
            && self.end_date() == other.end_date()
            && self.status() == other.status()
    }
}

impl fmt::Debug for EnrollmentRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_owned().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrollment(id: &str, user: &str, class: &str, status: Status) -> Enrollment {
        Enrollment {
            sourced_id: id.into(),
            status,
            user: Some(user.into()),
            class: Some(class.into()),
            school: None,
            role: Some(Role::parse("Teacher")),
            primary: Some(true),
            begin_date: Some(jiff::civil::date(2026, 1, 5)),
            end_date: None,
        }
    }

    #[test]
    fn released_sourced_ids_leave_the_rest_of_each_enrollment() {
        let mut list: Enrollments = [
            enrollment("e1", "u1", "c1", Status::Active),
            enrollment("e2", "u2", "c1", Status::Active),
        ]
        .into_iter()
        .collect();
        let fields = |list: &Enrollments| -> Vec<(String, String, String)> {
            list.iter()
                .map(|e| {
                    let text = |t: Option<&str>| t.unwrap_or_default().to_owned();
                    (text(e.user()), text(e.class()), text(e.role()))
                })
                .collect()
        };
        let before = fields(&list);
        list.release_sourced_ids();
        assert_eq!(fields(&list), before);
        let read = std::panic::catch_unwind(|| list.iter().next().unwrap().sourced_id().len());
        let message = read.unwrap_err();
        let message = message
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| message.downcast_ref::<&str>().map(|m| (*m).to_owned()))
            .expect("a panic message");
        assert!(message.contains("release_sourced_ids"), "{message}");
    }

    #[test]
    fn an_enrollment_row_is_at_most_36_bytes() {
        assert!(std::mem::size_of::<Row>() <= 36);
    }

    #[test]
    fn a_day_holds_any_date_and_none() {
        for date in [
            Date::MIN,
            Date::MAX,
            jiff::civil::date(-1, 12, 31),
            jiff::civil::date(0, 1, 1),
            jiff::civil::date(2026, 2, 28),
            jiff::civil::date(2024, 2, 29),
        ] {
            assert_eq!(Day::new(Some(date)).get(), Some(date), "{date}");
        }
        assert_eq!(Day::new(None).get(), None);
    }

    #[test]
    fn enrollments_read_back_as_added_and_share_their_texts() {
        let mut list = Enrollments::default();
        let records = vec![
            enrollment("e2", "u1", "c1", Status::Active),
            enrollment("e1", "u1", "c2", Status::Active),
        ];
        list.add(records.clone(), |_| true);
        let back: Vec<Enrollment> = list.iter().map(|e| e.to_owned()).collect();
        assert_eq!(back, records);
        let [a, b] = [0, 1].map(|i| list.iter().nth(i).unwrap());
        assert!(std::ptr::eq(
            a.user_shared().unwrap(),
            b.user_shared().unwrap()
        ));
        assert_eq!(a.role(), Some("teacher"));
        assert_eq!(a.school(), None);
        // u1, c1, teacher, c2.
        assert_eq!(list.texts.len(), 4);
    }

    #[test]
    fn finishing_sorts_by_sourced_id_keeps_the_first_of_duplicates_and_drops_the_inactive() {
        let mut list = Enrollments::default();
        list.add(
            vec![
                enrollment("e3", "u1", "c1", Status::Active),
                enrollment("e1", "u1", "c1", Status::Active),
                enrollment("e2", "u2", "c1", Status::Deleted),
            ],
            |_| true,
        );
        list.add(
            vec![
                enrollment("e1", "u9", "c9", Status::Active),
                enrollment("e4", "u4", "c4", Status::Active),
            ],
            |e| e.sourced_id != "e4",
        );
        // e1 twice (one dropped as a duplicate, not counted), e2 inactive, e4 not kept.
        assert_eq!(list.finish(|_| true), 2);
        let left: Vec<(&str, Option<&str>)> =
            list.iter().map(|e| (e.sourced_id(), e.user())).collect();
        assert_eq!(left, [("e1", Some("u1")), ("e3", Some("u1"))]);
    }

    #[test]
    fn an_unknown_role_keeps_its_spelling() {
        let mut record = enrollment("e1", "u1", "c1", Status::Active);
        record.role = Some(Role::parse("Coach"));
        let list: Enrollments = [record.clone()].into_iter().collect();
        assert_eq!(list.iter().next().unwrap().role(), Some("Coach"));
        assert_eq!(list.iter().next().unwrap().to_owned(), record);
    }
}
