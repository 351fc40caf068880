//! The roster as the store keeps it for one provider (a ClassLinkSync), and the changes a
//! sync makes to it. Plain data: the store reads and writes these rows, the engine computes
//! them.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::intern::Text;

use super::memberships::{ClassDigests, MembershipChanges, Memberships};
use super::people::{StoredClass, StoredPeople};

/// What kind of person a synced user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PersonRole {
    /// OneRoster `student`.
    Student,
    /// OneRoster `teacher`.
    Teacher,
    /// OneRoster `administrator`, `aide` or `proctor`.
    Staff,
}

impl PersonRole {
    /// The name the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonRole::Student => "student",
            PersonRole::Teacher => "teacher",
            PersonRole::Staff => "staff",
        }
    }

    /// Reads the name the store keeps.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "student" => Some(PersonRole::Student),
            "teacher" => Some(PersonRole::Teacher),
            "staff" => Some(PersonRole::Staff),
            _ => None,
        }
    }
}

/// A platform user of a namespace: the store's identities table, shared with the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable id of the user.
    pub id: String,
    /// Email as the platform knows it (the match key is taken from it).
    pub email: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Role as the platform shows it (`student`, `teacher`, `staff`, or the platform's own).
    pub role: Option<String>,
    /// Who created it: `import`, `platform`, or `classlinksync/NAME`.
    pub source: String,
    /// The provider whose attributes the user carries now, if any.
    pub attributes_from: Option<String>,
    /// That provider's merge priority.
    pub attributes_priority: Option<i32>,
}

/// One school of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolRow {
    /// sourcedId.
    pub sourced_id: String,
    /// Name.
    pub name: String,
    /// Identifier (e.g. a state school code).
    pub identifier: Option<String>,
}

/// One synced person (student, teacher or staff) of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    /// sourcedId.
    pub sourced_id: String,
    /// The platform user the person is linked to; `None` when attach-only found none.
    pub identity_id: Option<String>,
    /// Role.
    pub role: PersonRole,
    /// Email.
    pub email: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Identifier (student number).
    pub identifier: Option<String>,
    /// Grades, comma separated.
    pub grades: String,
    /// sourcedIds of the person's schools, sorted.
    pub schools: Vec<String>,
}

/// One synced class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRow {
    /// sourcedId.
    pub sourced_id: String,
    /// The class's school.
    pub school: String,
    /// Title.
    pub title: Option<String>,
    /// Class code.
    pub class_code: Option<String>,
    /// `homeroom` or `scheduled`.
    pub class_type: Option<String>,
    /// Course sourcedId.
    pub course: Option<String>,
    /// Term sourcedIds, comma separated.
    pub terms: String,
}

/// A person's membership of a class. A district has ten memberships or more for each
/// person, so their text is shared (see [`crate::intern::Interner`]): each row holds four pointers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRow {
    /// Class sourcedId.
    pub class: Text,
    /// Person sourcedId.
    pub person: Text,
    /// Role in the class (`student`, `teacher`, `aide`, ...).
    pub role: Text,
    /// The class's school.
    pub school: Text,
}

/// A guardian (parent, guardian or relative) with contact details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardianRow {
    /// sourcedId.
    pub sourced_id: String,
    /// `Parent`, `Relative` or `Guardian`.
    pub relationship: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// SMS number.
    pub sms: Option<String>,
    /// Schools of the guardian's synced students, sorted.
    pub schools: Vec<String>,
}

/// A guardian's relationship to a student.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardianLinkRow {
    /// Guardian sourcedId.
    pub guardian: String,
    /// Student sourcedId.
    pub student: String,
    /// `Parent`, `Relative` or `Guardian`.
    pub relationship: String,
    /// The student's schools, sorted.
    pub schools: Vec<String>,
}

/// Everything the store holds for one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderSnapshot {
    /// Schools.
    pub schools: Vec<SchoolRow>,
    /// People, as a sync compares them.
    pub people: StoredPeople,
    /// Classes, as a sync compares them.
    pub classes: Vec<StoredClass>,
    /// Memberships, held compactly; none when `membership_digests` stand for them.
    pub memberships: Memberships,
    /// The digest of each class's stored memberships, when the store read these instead of
    /// the rows: the sync reads back the rows of the classes whose digests differ from
    /// the wanted ones' (see [`crate::engine::Locked`]).
    pub membership_digests: Option<ClassDigests>,
    /// Guardians.
    pub guardians: Vec<GuardianRow>,
    /// Guardian relationships.
    pub guardian_links: Vec<GuardianLinkRow>,
}

/// A row the diff can compare: it has a key and belongs to schools.
pub trait Row: Clone + PartialEq {
    /// The row's primary key within its provider.
    type Key: Ord + Clone + std::fmt::Debug;
    /// The key.
    fn key(&self) -> Self::Key;
    /// Whether the row belongs to any of `schools`.
    fn touches(&self, schools: &BTreeSet<String>) -> bool;
    /// Orders by key without building one: `self.key().cmp(&other.key())`.
    fn cmp_key(&self, other: &Self) -> Ordering;
}

fn any_in(list: &[String], schools: &BTreeSet<String>) -> bool {
    list.iter().any(|s| schools.contains(s))
}

impl Row for SchoolRow {
    type Key = String;
    fn key(&self) -> String {
        self.sourced_id.clone()
    }
    fn touches(&self, schools: &BTreeSet<String>) -> bool {
        schools.contains(&self.sourced_id)
    }
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.sourced_id.cmp(&other.sourced_id)
    }
}

impl Row for PersonRow {
    type Key = String;
    fn key(&self) -> String {
        self.sourced_id.clone()
    }
    fn touches(&self, schools: &BTreeSet<String>) -> bool {
        any_in(&self.schools, schools)
    }
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.sourced_id.cmp(&other.sourced_id)
    }
}

impl Row for ClassRow {
    type Key = String;
    fn key(&self) -> String {
        self.sourced_id.clone()
    }
    fn touches(&self, schools: &BTreeSet<String>) -> bool {
        schools.contains(&self.school)
    }
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.sourced_id.cmp(&other.sourced_id)
    }
}

impl Row for MembershipRow {
    type Key = (Text, Text);
    fn key(&self) -> (Text, Text) {
        (self.class.clone(), self.person.clone())
    }
    fn touches(&self, schools: &BTreeSet<String>) -> bool {
        schools.contains(&*self.school)
    }
    fn cmp_key(&self, other: &Self) -> Ordering {
        (&self.class, &self.person).cmp(&(&other.class, &other.person))
    }
}

impl Row for GuardianRow {
    type Key = String;
    fn key(&self) -> String {
        self.sourced_id.clone()
    }
    fn touches(&self, schools: &BTreeSet<String>) -> bool {
        any_in(&self.schools, schools)
    }
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.sourced_id.cmp(&other.sourced_id)
    }
}

impl Row for GuardianLinkRow {
    type Key = (String, String);
    fn key(&self) -> (String, String) {
        (self.guardian.clone(), self.student.clone())
    }
    fn touches(&self, schools: &BTreeSet<String>) -> bool {
        any_in(&self.schools, schools)
    }
    fn cmp_key(&self, other: &Self) -> Ordering {
        (&self.guardian, &self.student).cmp(&(&other.guardian, &other.student))
    }
}

/// A stored row as [`diff`] compares it with wanted rows of type `T`: the row itself, or
/// what a sync keeps of it (a key, its schools and a fingerprint of the whole row).
pub trait Stored<T: Row> {
    /// Orders this stored row against a wanted one by key.
    fn cmp_with(&self, wanted: &T) -> Ordering;
    /// Orders two stored rows by key.
    fn cmp_stored(&self, other: &Self) -> Ordering;
    /// Whether the wanted row of the same key is this row.
    fn unchanged(&self, wanted: &T) -> bool;
    /// Whether the row belongs to any of `schools`.
    fn touches(&self, schools: &BTreeSet<String>) -> bool;
    /// The row's key.
    fn key(&self) -> T::Key;
}

impl<T: Row> Stored<T> for T {
    fn cmp_with(&self, wanted: &T) -> Ordering {
        self.cmp_key(wanted)
    }
    fn cmp_stored(&self, other: &Self) -> Ordering {
        self.cmp_key(other)
    }
    fn unchanged(&self, wanted: &T) -> bool {
        self == wanted
    }
    fn touches(&self, schools: &BTreeSet<String>) -> bool {
        Row::touches(self, schools)
    }
    fn key(&self) -> T::Key {
        Row::key(self)
    }
}

/// The writes one table needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableChanges<T: Row> {
    /// New rows.
    pub insert: Vec<T>,
    /// Rows whose content changed.
    pub update: Vec<T>,
    /// Keys of rows to remove.
    pub delete: Vec<T::Key>,
}

impl<T: Row> Default for TableChanges<T> {
    fn default() -> Self {
        Self {
            insert: Vec::new(),
            update: Vec::new(),
            delete: Vec::new(),
        }
    }
}

impl<T: Row> TableChanges<T> {
    /// Rows this change writes.
    pub fn len(&self) -> usize {
        self.insert.len() + self.update.len() + self.delete.len()
    }

    /// Whether the table stays as it is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Compares what is stored with what is wanted. Rows that belong to a `frozen` school (its
/// data was incomplete this time) are left exactly as stored: neither written nor removed.
/// Unchanged rows produce no write.
///
/// Both sides are sorted by key (unless they already are) and walked once, side by side: no
/// map of a million keys, and no key copied. Rows come out in key order. New rows stay in
/// the wanted rows' own buffer, so a first sync's million memberships are not copied.
pub fn diff<T: Row, S: Stored<T>>(
    stored: &[S],
    mut desired: Vec<T>,
    frozen: &BTreeSet<String>,
) -> TableChanges<T> {
    let mut stored: Vec<&S> = stored.iter().collect();
    if !stored.is_sorted_by(|a, b| a.cmp_stored(b) != Ordering::Greater) {
        stored.sort_unstable_by(|a, b| a.cmp_stored(b));
    }
    // Stable: of two wanted rows with one key (the engine makes none), the first meets the
    // stored row and the second is new, as before.
    if !desired.is_sorted_by(|a, b| a.cmp_key(b) != Ordering::Greater) {
        desired.sort_by(|a, b| a.cmp_key(b));
    }
    let mut changes = TableChanges::default();
    let mut old_rows = stored.into_iter().peekable();
    let keep_or_delete = |old: &S, changes: &mut TableChanges<T>| {
        if !old.touches(frozen) {
            changes.delete.push(old.key());
        }
    };
    // What becomes of each wanted row, in order; then the rows are moved accordingly.
    let mut fates = Vec::with_capacity(desired.len());
    for row in &desired {
        // Stored rows before this key are wanted no more.
        while let Some(old) = old_rows.next_if(|old| old.cmp_with(row) == Ordering::Less) {
            keep_or_delete(old, &mut changes);
        }
        let old = old_rows.next_if(|old| old.cmp_with(row) == Ordering::Equal);
        fates.push(
            if Row::touches(row, frozen) || old.is_some_and(|o| o.touches(frozen)) {
                Fate::Left
            } else {
                match old {
                    None => Fate::Insert,
                    Some(old) if !old.unchanged(row) => Fate::Update,
                    Some(_) => Fate::Left,
                }
            },
        );
    }
    for old in old_rows {
        keep_or_delete(old, &mut changes);
    }
    let mut fate = fates.iter();
    changes.update = desired
        .extract_if(.., |_| fate.next() == Some(&Fate::Update))
        .collect();
    let mut fate = fates.iter().filter(|f| **f != Fate::Update);
    desired.retain(|_| fate.next() == Some(&Fate::Insert));
    desired.shrink_to_fit();
    changes.insert = desired;
    changes
}

/// What [`diff`] does with a wanted row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Insert,
    Update,
    /// Unchanged, or in a frozen school.
    Left,
}

/// Everything one sync writes for one provider, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Platform users this sync creates.
    pub new_identities: Vec<Identity>,
    /// Platform users whose attributes this provider now sets.
    pub identity_updates: Vec<Identity>,
    /// Schools.
    pub schools: TableChanges<SchoolRow>,
    /// People.
    pub people: TableChanges<PersonRow>,
    /// Classes.
    pub classes: TableChanges<ClassRow>,
    /// Memberships.
    pub memberships: MembershipChanges,
    /// Guardians.
    pub guardians: TableChanges<GuardianRow>,
    /// Guardian relationships.
    pub guardian_links: TableChanges<GuardianLinkRow>,
}

impl ChangeSet {
    /// Rows the change set writes (inserted, updated or deleted), identities included.
    pub fn rows(&self) -> usize {
        self.new_identities.len()
            + self.identity_updates.len()
            + self.schools.len()
            + self.people.len()
            + self.classes.len()
            + self.memberships.len()
            + self.guardians.len()
            + self.guardian_links.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(id: &str, school: &str, title: &str) -> ClassRow {
        ClassRow {
            sourced_id: id.into(),
            school: school.into(),
            title: Some(title.into()),
            class_code: None,
            class_type: None,
            course: None,
            terms: String::new(),
        }
    }

    #[test]
    fn diff_writes_only_what_changed() {
        let stored = vec![
            class("c1", "s1", "Maths"),
            class("c2", "s1", "Art"),
            class("c3", "s1", "Music"),
        ];
        let desired = vec![
            class("c1", "s1", "Maths"),
            class("c2", "s1", "Art and Design"),
            class("c4", "s1", "Drama"),
        ];
        let changes = diff(&stored, desired, &BTreeSet::new());
        assert_eq!(changes.insert, vec![class("c4", "s1", "Drama")]);
        assert_eq!(changes.update, vec![class("c2", "s1", "Art and Design")]);
        assert_eq!(changes.delete, vec!["c3".to_owned()]);
    }

    #[test]
    fn diff_of_identical_data_is_empty() {
        let rows = vec![class("c1", "s1", "Maths"), class("c2", "s2", "Art")];
        assert!(diff(&rows, rows.clone(), &BTreeSet::new()).is_empty());
    }

    #[test]
    fn rows_of_a_frozen_school_are_left_as_stored() {
        let stored = vec![class("c1", "bad", "Maths"), class("c2", "good", "Art")];
        let desired = vec![class("c1", "bad", "Maths II"), class("c3", "bad", "New")];
        let frozen = BTreeSet::from(["bad".to_owned()]);
        let changes = diff(&stored, desired, &frozen);
        assert!(changes.insert.is_empty(), "no new row in a frozen school");
        assert!(changes.update.is_empty(), "no update in a frozen school");
        assert_eq!(
            changes.delete,
            vec!["c2".to_owned()],
            "other schools still sync"
        );
    }
}
