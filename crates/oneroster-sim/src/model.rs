//! The compact in-memory data set. Records hold indices and small integers; the
//! generated sourcedIds, names and emails are derived from indices when a page is
//! encoded, so `large` and `xl` fit in little memory.

use std::collections::HashMap;

use crate::dates::NO_DATE;

/// "No reference" for u32 indices.
pub const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    ToBeDeleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::ToBeDeleted => "tobedeleted",
        }
    }
    pub fn parse(s: &str) -> Status {
        // OneRoster 1.0's "inactive" means the same as tobedeleted.
        match s.trim() {
            "tobedeleted" | "inactive" => Status::ToBeDeleted,
            _ => Status::Active,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Student,
    Teacher,
    Administrator,
    Aide,
    Parent,
    Guardian,
    Relative,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Teacher => "teacher",
            Role::Administrator => "administrator",
            Role::Aide => "aide",
            Role::Parent => "parent",
            Role::Guardian => "guardian",
            Role::Relative => "relative",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s.trim() {
            "student" => Role::Student,
            "teacher" => Role::Teacher,
            "administrator" => Role::Administrator,
            "aide" => Role::Aide,
            "parent" => Role::Parent,
            "guardian" => Role::Guardian,
            "relative" => Role::Relative,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgType {
    District,
    School,
    Department,
    Local,
    State,
    National,
}

impl OrgType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgType::District => "district",
            OrgType::School => "school",
            OrgType::Department => "department",
            OrgType::Local => "local",
            OrgType::State => "state",
            OrgType::National => "national",
        }
    }
    pub fn parse(s: &str) -> OrgType {
        match s.trim() {
            "district" => OrgType::District,
            "department" => OrgType::Department,
            "local" => OrgType::Local,
            "state" => OrgType::State,
            "national" => OrgType::National,
            _ => OrgType::School,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionType {
    SchoolYear,
    Term,
    Semester,
    GradingPeriod,
}

impl SessionType {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionType::SchoolYear => "schoolYear",
            SessionType::Term => "term",
            SessionType::Semester => "semester",
            SessionType::GradingPeriod => "gradingPeriod",
        }
    }
    pub fn parse(s: &str) -> SessionType {
        match s.trim() {
            "schoolYear" => SessionType::SchoolYear,
            "semester" => SessionType::Semester,
            "gradingPeriod" => SessionType::GradingPeriod,
            _ => SessionType::Term,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassType {
    Homeroom,
    Scheduled,
}

impl ClassType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassType::Homeroom => "homeroom",
            ClassType::Scheduled => "scheduled",
        }
    }
}

/// Grade codes (CEDS) as OneRoster 1.1 uses them; records keep an index into this list.
pub const GRADES: [&str; 19] = [
    "IT", "PR", "PK", "TK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11",
    "12", "13", "Other",
];
pub const NO_GRADE: u8 = u8::MAX;
pub const GRADE_KG: u8 = 4;

pub fn grade_index(code: &str) -> Option<u8> {
    GRADES
        .iter()
        .position(|g| *g == code.trim())
        .map(|i| i as u8)
}

#[derive(Clone, Debug)]
pub struct Org {
    pub status: Status,
    pub modified: u32,
    pub name: Box<str>,
    pub kind: OrgType,
    pub identifier: Box<str>,
    pub parent: u32,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub status: Status,
    pub modified: u32,
    pub title: Box<str>,
    pub kind: SessionType,
    pub start: i32,
    pub end: i32,
    pub parent: u32,
    pub school_year: i32,
}

#[derive(Clone, Debug)]
pub struct Course {
    pub status: Status,
    pub modified: u32,
    pub title: Box<str>,
    pub code: Box<str>,
    pub school_year: u32,
    pub org: u32,
    pub grades: Box<[u8]>,
    pub subject: Box<str>,
}

#[derive(Clone, Debug)]
pub struct Class {
    pub status: Status,
    pub modified: u32,
    pub title: Box<str>,
    pub code: Box<str>,
    pub kind: ClassType,
    pub course: u32,
    pub school: u32,
    pub terms: Box<[u32]>,
    pub grades: Box<[u8]>,
    pub subject: Box<str>,
}

/// Text a user carries when it cannot be derived from its index (CSV data).
#[derive(Clone, Debug, Default)]
pub struct UserText {
    pub given: Box<str>,
    pub family: Box<str>,
    pub middle: Box<str>,
    pub email: Box<str>,
    pub username: Box<str>,
    pub identifier: Box<str>,
    pub phone: Box<str>,
    pub sms: Box<str>,
    pub orgs: Box<[u32]>,
    pub agents: Box<[u32]>,
    pub grades: Box<[u8]>,
}

#[derive(Clone, Debug)]
pub struct User {
    pub status: Status,
    pub enabled: bool,
    pub role: Role,
    pub grade: u8,
    pub given: u16,
    pub family: u16,
    pub modified: u32,
    /// Up to two orgs (a school and, for a few students, a second school).
    pub orgs: [u32; 2],
    pub agents_start: u32,
    pub agents_len: u16,
    pub text: Option<Box<UserText>>,
}

#[derive(Clone, Debug)]
pub struct Enrollment {
    pub status: Status,
    pub role: Role,
    pub primary: bool,
    pub user: u32,
    pub class: u32,
    pub school: u32,
    pub begin: i32,
    pub end: i32,
    pub modified: u32,
}

/// How a table's sourcedIds are made.
#[derive(Clone, Debug)]
pub enum Ids {
    /// `prefix` + zero-padded index, so generated ids sort like the index.
    Generated { prefix: &'static str, width: usize },
    /// sourcedIds read from CSV.
    Stored {
        ids: Vec<Box<str>>,
        index: HashMap<Box<str>, u32>,
    },
}

impl Ids {
    pub fn generated(prefix: &'static str, width: usize) -> Self {
        Ids::Generated { prefix, width }
    }

    pub fn stored() -> Self {
        Ids::Stored {
            ids: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Appends the sourcedId (raw, not JSON-escaped) of row `i`.
    pub fn write(&self, i: u32, out: &mut String) {
        use std::fmt::Write;
        match self {
            Ids::Generated { prefix, width } => {
                let _ = write!(out, "{prefix}{i:0width$}");
            }
            Ids::Stored { ids, .. } => {
                if let Some(s) = ids.get(i as usize) {
                    out.push_str(s);
                }
            }
        }
    }

    pub fn get(&self, i: u32) -> String {
        let mut s = String::new();
        self.write(i, &mut s);
        s
    }

    pub fn lookup(&self, sid: &str) -> Option<u32> {
        match self {
            Ids::Generated { prefix, width } => {
                let digits = sid.strip_prefix(prefix)?;
                if digits.len() < *width || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let i: u32 = digits.parse().ok()?;
                (format!("{i:0width$}") == digits).then_some(i)
            }
            Ids::Stored { index, .. } => index.get(sid).copied(),
        }
    }

    /// Registers the id of a newly appended row `i` (stored ids get a generated-looking id).
    pub fn push_new(&mut self, i: u32, fallback_prefix: &str) {
        if let Ids::Stored { ids, index } = self {
            let mut sid: Box<str> = format!("{fallback_prefix}{i:07}").into();
            while index.contains_key(&sid) {
                sid = format!("{sid}x").into();
            }
            index.insert(sid.clone(), i);
            ids.push(sid);
        }
    }

    pub fn push_stored(&mut self, sid: &str) -> Option<u32> {
        if let Ids::Stored { ids, index } = self {
            if index.contains_key(sid) {
                return None;
            }
            let i = ids.len() as u32;
            ids.push(sid.into());
            index.insert(sid.into(), i);
            Some(i)
        } else {
            None
        }
    }
}

/// Rows plus the live order (rows removed by a mutation stay in `rows` but leave `live`).
#[derive(Clone, Debug)]
pub struct Table<T> {
    pub rows: Vec<T>,
    pub live: Vec<u32>,
    pub ids: Ids,
}

impl<T> Table<T> {
    pub fn new(ids: Ids) -> Self {
        Self {
            rows: Vec::new(),
            live: Vec::new(),
            ids,
        }
    }

    pub fn push(&mut self, row: T) -> u32 {
        let i = self.rows.len() as u32;
        self.rows.push(row);
        self.live.push(i);
        i
    }

    pub fn sid(&self, i: u32) -> String {
        self.ids.get(i)
    }

    /// Index of a live row by sourcedId.
    pub fn find(&self, sid: &str) -> Option<u32> {
        let i = self.ids.lookup(sid)?;
        if (i as usize) < self.rows.len() && self.is_live(i) {
            Some(i)
        } else {
            None
        }
    }

    pub fn is_live(&self, i: u32) -> bool {
        // `live` is kept sorted ascending.
        self.live.binary_search(&i).is_ok()
    }

    pub fn iter_live(&self) -> impl Iterator<Item = (u32, &T)> {
        self.live.iter().map(|&i| (i, &self.rows[i as usize]))
    }
}

/// Generated names; users keep indices into these lists.
pub const GIVEN_NAMES: [&str; 64] = [
    "Ava",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Oliver",
    "Amelia",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "William",
    "Mia",
    "Benjamin",
    "Charlotte",
    "Lucas",
    "Harper",
    "Henry",
    "Evelyn",
    "Theodore",
    "Abigail",
    "Jack",
    "Emily",
    "Levi",
    "Ella",
    "Alexander",
    "Elizabeth",
    "Jackson",
    "Camila",
    "Mateo",
    "Luna",
    "Daniel",
    "Sofia",
    "Michael",
    "Avery",
    "Mason",
    "Mila",
    "Sebastian",
    "Aria",
    "Ethan",
    "Scarlett",
    "Logan",
    "Penelope",
    "Owen",
    "Layla",
    "Samuel",
    "Chloe",
    "Jacob",
    "Victoria",
    "Asher",
    "Madison",
    "Aiden",
    "Eleanor",
    "John",
    "Grace",
    "Joseph",
    "Nora",
    "Wyatt",
    "Riley",
    "David",
    "Zoey",
    "Leo",
    "Hannah",
    "Aroha",
];
pub const FAMILY_NAMES: [&str; 64] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Ngata",
    "Tipene",
    "Chen",
    "Wang",
    "Kaur",
    "Singh",
    "Patel",
    "Murphy",
    "Kelly",
    "O'Brien",
    "Walsh",
    "Byrne",
    "Ryan",
    "Evans",
];

#[derive(Clone, Debug)]
pub struct Dataset {
    pub as_of: i32,
    pub seed: u64,
    pub email_domain: Box<str>,
    pub orgs: Table<Org>,
    pub sessions: Table<Session>,
    pub courses: Table<Course>,
    pub classes: Table<Class>,
    pub users: Table<User>,
    pub enrollments: Table<Enrollment>,
    pub agent_links: Vec<u32>,
    /// Moves on with every mutation: what was computed from one revision (a listing of
    /// rows) holds for that revision only.
    pub revision: u64,
}

impl Dataset {
    pub fn empty(as_of: i32, seed: u64, stored_ids: bool) -> Self {
        let ids = |p: &'static str, w: usize| {
            if stored_ids {
                Ids::stored()
            } else {
                Ids::generated(p, w)
            }
        };
        Dataset {
            as_of,
            seed,
            email_domain: format!("sd{}.example.edu", seed % 1000).into(),
            orgs: Table::new(ids("org-", 5)),
            sessions: Table::new(ids("as-", 5)),
            courses: Table::new(ids("crs-", 6)),
            classes: Table::new(ids("cls-", 7)),
            users: Table::new(ids("usr-", 7)),
            enrollments: Table::new(ids("enr-", 8)),
            agent_links: Vec::new(),
            revision: 0,
        }
    }

    pub fn given_name<'a>(&'a self, u: &'a User) -> &'a str {
        match &u.text {
            Some(t) => &t.given,
            None => GIVEN_NAMES[u.given as usize % GIVEN_NAMES.len()],
        }
    }

    pub fn family_name<'a>(&'a self, u: &'a User) -> &'a str {
        match &u.text {
            Some(t) => &t.family,
            None => FAMILY_NAMES[u.family as usize % FAMILY_NAMES.len()],
        }
    }

    /// The user's username (the email's local part for generated users).
    pub fn write_username(&self, i: u32, u: &User, out: &mut String) {
        use std::fmt::Write;
        match &u.text {
            Some(t) => out.push_str(&t.username),
            None => {
                for c in self
                    .given_name(u)
                    .chars()
                    .chain(['.'])
                    .chain(self.family_name(u).chars())
                {
                    if c.is_ascii_alphanumeric() || c == '.' {
                        out.push(c.to_ascii_lowercase());
                    }
                }
                let _ = write!(out, "{i}");
            }
        }
    }

    pub fn write_email(&self, i: u32, u: &User, out: &mut String) {
        match &u.text {
            Some(t) => out.push_str(&t.email),
            None => {
                self.write_username(i, u, out);
                out.push('@');
                if matches!(u.role, Role::Parent | Role::Guardian | Role::Relative) {
                    out.push_str("home.example.net");
                } else {
                    out.push_str(&self.email_domain);
                }
            }
        }
    }

    pub fn write_identifier(&self, i: u32, u: &User, out: &mut String) {
        use std::fmt::Write;
        match &u.text {
            Some(t) => out.push_str(&t.identifier),
            None => {
                let _ = write!(out, "{}", 100_000 + u64::from(i));
            }
        }
    }

    pub fn write_phone(&self, i: u32, u: &User, out: &mut String) {
        use std::fmt::Write;
        match &u.text {
            Some(t) => out.push_str(&t.phone),
            None => {
                if matches!(
                    u.role,
                    Role::Parent
                        | Role::Guardian
                        | Role::Relative
                        | Role::Teacher
                        | Role::Administrator
                ) {
                    let _ = write!(
                        out,
                        "+1-555-{:03}-{:04}",
                        100 + i / 10_000 % 900,
                        i % 10_000
                    );
                }
            }
        }
    }

    pub fn write_sms(&self, i: u32, u: &User, out: &mut String) {
        match &u.text {
            Some(t) => out.push_str(&t.sms),
            None => {
                if matches!(u.role, Role::Parent | Role::Guardian | Role::Relative) {
                    self.write_phone(i, u, out);
                }
            }
        }
    }

    pub fn user_orgs<'a>(&'a self, u: &'a User) -> impl Iterator<Item = u32> + 'a {
        let (fixed, extra): (&[u32], &[u32]) = match &u.text {
            Some(t) if !t.orgs.is_empty() => (&[], &t.orgs),
            _ => (&u.orgs, &[]),
        };
        fixed
            .iter()
            .chain(extra.iter())
            .copied()
            .filter(|o| *o != NONE)
    }

    pub fn user_agents<'a>(&'a self, u: &'a User) -> impl Iterator<Item = u32> + 'a {
        let start = u.agents_start as usize;
        let end = (start + u.agents_len as usize).min(self.agent_links.len());
        let linked: &[u32] = self.agent_links.get(start..end).unwrap_or(&[]);
        let extra: &[u32] = match &u.text {
            Some(t) => &t.agents,
            None => &[],
        };
        linked.iter().chain(extra.iter()).copied()
    }

    pub fn user_grades<'a>(&'a self, u: &'a User) -> impl Iterator<Item = u8> + 'a {
        let extra: &[u8] = match &u.text {
            Some(t) => &t.grades,
            None => &[],
        };
        let own = if u.grade == NO_GRADE || !extra.is_empty() {
            None
        } else {
            Some(u.grade)
        };
        own.into_iter().chain(extra.iter().copied())
    }

    /// A class is current when one of its terms, or that term's parent, holds the as-of date.
    pub fn class_is_current(&self, c: &Class) -> bool {
        c.terms.iter().any(|&t| {
            let Some(s) = self.sessions.rows.get(t as usize) else {
                return false;
            };
            if crate::dates::session_holds(s.start, s.end, self.as_of) {
                return true;
            }
            self.sessions
                .rows
                .get(s.parent as usize)
                .is_some_and(|p| crate::dates::session_holds(p.start, p.end, self.as_of))
        })
    }

    /// The latest dateLastModified in the data set (mutations stamp after it).
    pub fn latest_modified(&self) -> u32 {
        let m = |it: &mut dyn Iterator<Item = u32>| it.max().unwrap_or(0);
        [
            m(&mut self.orgs.rows.iter().map(|r| r.modified)),
            m(&mut self.sessions.rows.iter().map(|r| r.modified)),
            m(&mut self.courses.rows.iter().map(|r| r.modified)),
            m(&mut self.classes.rows.iter().map(|r| r.modified)),
            m(&mut self.users.rows.iter().map(|r| r.modified)),
            m(&mut self.enrollments.rows.iter().map(|r| r.modified)),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

pub fn has_date(d: i32) -> bool {
    d != NO_DATE
}
