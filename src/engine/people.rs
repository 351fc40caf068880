//! Stored people and classes as a sync compares them: what the planner reads of each stored
//! row (a person's link to a platform user, email and schools; a class's school) and a
//! fingerprint of the whole row. A whole [`PersonRow`] with its nine texts took about 450
//! bytes; a [`StoredPerson`] about 150. A [`ClassRow`] about 270; a [`StoredClass`] about
//! 60. The planner fingerprints each wanted person from borrowed fields and makes a row only
//! for a person who is new or changed, so an unchanged night makes none.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::intern::{Interner, Text};

use super::model::{ClassRow, PersonRole, PersonRow, Row, Stored};

/// The fields of a person row, borrowed; what [`PersonFields::fingerprint`] reads.
#[derive(Debug, Clone, Copy)]
pub struct PersonFields<'a, S = String> {
    /// sourcedId.
    pub sourced_id: &'a str,
    /// The platform user the person is linked to.
    pub identity_id: Option<&'a str>,
    /// Role.
    pub role: PersonRole,
    /// Email.
    pub email: Option<&'a str>,
    /// Username.
    pub username: Option<&'a str>,
    /// Given name.
    pub given_name: Option<&'a str>,
    /// Family name.
    pub family_name: Option<&'a str>,
    /// Identifier.
    pub identifier: Option<&'a str>,
    /// Grades, comma separated.
    pub grades: &'a str,
    /// Schools, sorted (owned texts in a row, borrowed ones while planning).
    pub schools: &'a [S],
}

/// A digest of every field of a person row: two rows are equal exactly when their
/// fingerprints are (SHA-256, of which 128 bits are kept; an accidental collision is not
/// a concern at any district's size).
pub type Fingerprint = u128;

/// Writes fields into a digest, each with its length (or as absent), so no two different
/// rows write the same bytes.
struct Digest128(Sha256);

impl Digest128 {
    fn new() -> Self {
        Digest128(Sha256::new())
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.0.update((text.len() as u64).to_le_bytes());
        self.0.update(text.as_bytes());
        self
    }

    fn optional(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.0.update([0]),
            Some(value) => {
                self.0.update([1]);
                self.text(value);
            }
        }
        self
    }

    fn list(&mut self, texts: &[impl AsRef<str>]) -> &mut Self {
        self.0.update((texts.len() as u64).to_le_bytes());
        for text in texts {
            self.text(text.as_ref());
        }
        self
    }

    fn finish(self) -> Fingerprint {
        let digest = self.0.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        u128::from_le_bytes(first)
    }
}

impl<S: AsRef<str>> PersonFields<'_, S> {
    /// The row's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut digest = Digest128::new();
        digest
            .text(self.sourced_id)
            .optional(self.identity_id)
            .text(self.role.as_str())
            .optional(self.email)
            .optional(self.username)
            .optional(self.given_name)
            .optional(self.family_name)
            .optional(self.identifier)
            .text(self.grades)
            .list(self.schools);
        digest.finish()
    }
}

impl PersonRow {
    /// The row's fields, borrowed.
    pub fn fields(&self) -> PersonFields<'_> {
        PersonFields {
            sourced_id: &self.sourced_id,
            identity_id: self.identity_id.as_deref(),
            role: self.role,
            email: self.email.as_deref(),
            username: self.username.as_deref(),
            given_name: self.given_name.as_deref(),
            family_name: self.family_name.as_deref(),
            identifier: self.identifier.as_deref(),
            grades: &self.grades,
            schools: &self.schools,
        }
    }
}

/// A stored person, as a sync compares it. Its three texts share one allocation: a
/// district's stored people are held while its roster is planned, and three small boxes
/// took 48 bytes more than one (a quarter of the stored person).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPerson {
    /// The sourcedId, the platform user's id, then the email, one after the other.
    texts: Box<str>,
    /// Where the sourcedId ends in `texts`, and where the platform user's id ends.
    ends: [u32; 2],
    /// Whether the person has a platform user's id ([`HAS_IDENTITY`]) and an email
    /// ([`HAS_EMAIL`]): either may be present and empty.
    present: u8,
    /// Role.
    pub role: PersonRole,
    /// Schools, sorted; each school's text shared by its people.
    pub schools: Box<[Text]>,
    /// The whole row's fingerprint.
    pub fingerprint: Fingerprint,
}

const HAS_IDENTITY: u8 = 1;
const HAS_EMAIL: u8 = 2;

impl StoredPerson {
    /// The stored person of `row`, its schools' texts shared through `shared`.
    pub fn new(row: &PersonRow, shared: &mut Interner) -> Self {
        let (identity, email) = (row.identity_id.as_deref(), row.email.as_deref());
        let mut texts = String::with_capacity(
            row.sourced_id.len() + identity.map_or(0, str::len) + email.map_or(0, str::len),
        );
        // A stored text is under a gigabyte (SQLite's and PostgreSQL's limit).
        let end = |texts: &String| {
            u32::try_from(texts.len()).expect("a stored person's texts fit in 4 GiB")
        };
        texts.push_str(&row.sourced_id);
        let sourced_id_end = end(&texts);
        texts.push_str(identity.unwrap_or_default());
        let identity_end = end(&texts);
        texts.push_str(email.unwrap_or_default());
        StoredPerson {
            texts: texts.into_boxed_str(),
            ends: [sourced_id_end, identity_end],
            present: if identity.is_some() { HAS_IDENTITY } else { 0 }
                | if email.is_some() { HAS_EMAIL } else { 0 },
            role: row.role,
            schools: row.schools.iter().map(|s| shared.get(s)).collect(),
            fingerprint: row.fields().fingerprint(),
        }
    }

    /// sourcedId.
    pub fn sourced_id(&self) -> &str {
        &self.texts[..self.ends[0] as usize]
    }

    /// The platform user the person is linked to.
    pub fn identity_id(&self) -> Option<&str> {
        (self.present & HAS_IDENTITY != 0)
            .then(|| &self.texts[self.ends[0] as usize..self.ends[1] as usize])
    }

    /// Email.
    pub fn email(&self) -> Option<&str> {
        (self.present & HAS_EMAIL != 0).then(|| &self.texts[self.ends[1] as usize..])
    }

    /// Whether the person belongs to any of `schools`.
    pub fn touches(&self, schools: &BTreeSet<String>) -> bool {
        self.schools.iter().any(|s| schools.contains(s.as_str()))
    }
}

/// Its fields, as a row's would show; never logged (it holds an email).
impl std::fmt::Debug for StoredPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPerson")
            .field("sourced_id", &self.sourced_id())
            .field("identity_id", &self.identity_id())
            .field("role", &self.role)
            .field("email", &self.email())
            .field("schools", &self.schools)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl From<&PersonRow> for StoredPerson {
    fn from(row: &PersonRow) -> Self {
        StoredPerson::new(row, &mut Interner::default())
    }
}

impl ClassRow {
    /// The row's fingerprint: equal exactly when the rows are.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut digest = Digest128::new();
        digest
            .text(&self.sourced_id)
            .text(&self.school)
            .optional(self.title.as_deref())
            .optional(self.class_code.as_deref())
            .optional(self.class_type.as_deref())
            .optional(self.course.as_deref())
            .text(&self.terms);
        digest.finish()
    }
}

/// A stored class, as a sync compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClass {
    /// sourcedId.
    pub sourced_id: Box<str>,
    /// The class's school, its text shared by the school's classes.
    pub school: Text,
    /// The whole row's fingerprint.
    pub fingerprint: Fingerprint,
}

impl StoredClass {
    /// The stored class of `row`, its school's text shared through `shared`.
    pub fn new(row: &ClassRow, shared: &mut Interner) -> Self {
        StoredClass {
            sourced_id: row.sourced_id.as_str().into(),
            school: shared.get(&row.school),
            fingerprint: row.fingerprint(),
        }
    }
}

impl From<&ClassRow> for StoredClass {
    fn from(row: &ClassRow) -> Self {
        StoredClass::new(row, &mut Interner::default())
    }
}

impl Stored<ClassRow> for StoredClass {
    fn cmp_with(&self, wanted: &ClassRow) -> Ordering {
        (*self.sourced_id).cmp(wanted.sourced_id.as_str())
    }
    fn cmp_stored(&self, other: &Self) -> Ordering {
        self.sourced_id.cmp(&other.sourced_id)
    }
    fn unchanged(&self, wanted: &ClassRow) -> bool {
        self.fingerprint == wanted.fingerprint()
    }
    fn touches(&self, schools: &BTreeSet<String>) -> bool {
        schools.contains(self.school.as_str())
    }
    fn key(&self) -> <ClassRow as Row>::Key {
        self.sourced_id.to_string()
    }
}

/// A provider's stored people, sorted by sourcedId (byte order), one per sourcedId.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPeople(Vec<StoredPerson>);

impl StoredPeople {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The people in sourcedId order.
    pub fn iter(&self) -> std::slice::Iter<'_, StoredPerson> {
        self.0.iter()
    }

    /// The person at `at` in [`StoredPeople::iter`]'s order.
    pub fn at(&self, at: usize) -> &StoredPerson {
        &self.0[at]
    }

    /// The person with this sourcedId and where it is in [`StoredPeople::iter`]'s order.
    pub fn find(&self, sourced_id: &str) -> Option<(usize, &StoredPerson)> {
        let at = self
            .0
            .binary_search_by(|p| p.sourced_id().cmp(sourced_id))
            .ok()?;
        Some((at, &self.0[at]))
    }

    /// [`StoredPeople::find`] for each of `sourced_ids`. Taken in sourcedId order (a
    /// roster's users are), each is looked for from where the one before was, a step or two
    /// away: no search over all of them for each. Out of order, they are still found.
    pub fn find_each<'i>(
        &self,
        sourced_ids: impl IntoIterator<Item = &'i str>,
    ) -> Vec<Option<(usize, &StoredPerson)>> {
        let mut from = 0;
        let mut last: Option<&str> = None;
        sourced_ids
            .into_iter()
            .map(|id| {
                if last.is_some_and(|last| id < last) {
                    from = 0;
                }
                last = Some(id);
                let rest = &self.0[from..];
                // The first of the rest at or after `id` is within the first `bound`: the
                // window doubles until its last is.
                let mut bound = 1;
                while bound < rest.len() && rest[bound - 1].sourced_id() < id {
                    bound *= 2;
                }
                let window = &rest[..bound.min(rest.len())];
                match window.binary_search_by(|p| p.sourced_id().cmp(id)) {
                    Ok(at) => {
                        from += at;
                        Some((from, &self.0[from]))
                    }
                    Err(at) => {
                        from += at;
                        None
                    }
                }
            })
            .collect()
    }
}

/// Sorts them; of several with one sourcedId, the first is kept (a store's primary key
/// allows one).
impl FromIterator<StoredPerson> for StoredPeople {
    fn from_iter<I: IntoIterator<Item = StoredPerson>>(people: I) -> Self {
        let mut people: Vec<StoredPerson> = people.into_iter().collect();
        if !people.is_sorted_by(|a, b| a.sourced_id() <= b.sourced_id()) {
            people.sort_by(|a, b| a.sourced_id().cmp(b.sourced_id()));
        }
        people.dedup_by(|later, first| later.sourced_id() == first.sourced_id());
        people.shrink_to_fit();
        StoredPeople(people)
    }
}

impl<'a> FromIterator<&'a PersonRow> for StoredPeople {
    fn from_iter<I: IntoIterator<Item = &'a PersonRow>>(rows: I) -> Self {
        let mut shared = Interner::default();
        rows.into_iter()
            .map(|row| StoredPerson::new(row, &mut shared))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding each of many ids walking along gives what finding each alone gives: in
    /// order, out of order, repeated, missing, before the first and past the last.
    #[test]
    fn finding_each_finds_what_finding_one_finds() {
        let stored: StoredPeople = (0..300)
            .filter(|n| n % 3 != 0)
            .map(|n| PersonRow {
                sourced_id: format!("u{n:04}"),
                ..person()
            })
            .collect::<Vec<_>>()
            .iter()
            .collect();
        let mut ids: Vec<String> = (0..310).map(|n| format!("u{n:04}")).collect();
        ids.extend(["a", "u0005", "u0005", "u0299", "u0001", "z", "u0150"].map(String::from));
        let each = stored.find_each(ids.iter().map(String::as_str));
        assert_eq!(each.len(), ids.len());
        for (id, found) in ids.iter().zip(each) {
            let one = stored.find(id);
            assert_eq!(
                found.map(|(at, p)| (at, p.sourced_id())),
                one.map(|(at, p)| (at, p.sourced_id())),
                "{id}"
            );
        }
        assert!(
            StoredPeople::default()
                .find_each(["u1"])
                .iter()
                .all(Option::is_none)
        );
    }

    fn person() -> PersonRow {
        PersonRow {
            sourced_id: "u1".into(),
            identity_id: Some("cl-1".into()),
            role: PersonRole::Student,
            email: Some("a@example.org".into()),
            username: None,
            given_name: Some("Ann".into()),
            family_name: Some("Lee".into()),
            identifier: None,
            grades: "09,10".into(),
            schools: vec!["s1".into(), "s2".into()],
        }
    }

    /// A stored person gives back each of its three texts as the row had it, telling an
    /// absent text from an empty one.
    #[test]
    fn a_stored_person_keeps_its_texts_apart() {
        let row = person();
        let stored = StoredPerson::from(&row);
        assert_eq!(stored.sourced_id(), "u1");
        assert_eq!(stored.identity_id(), Some("cl-1"));
        assert_eq!(stored.email(), Some("a@example.org"));
        let absent = PersonRow {
            identity_id: None,
            email: None,
            ..person()
        };
        let stored = StoredPerson::from(&absent);
        assert_eq!((stored.identity_id(), stored.email()), (None, None));
        assert_eq!(stored.sourced_id(), "u1");
        let empty = PersonRow {
            sourced_id: "ü-2".into(),
            identity_id: Some(String::new()),
            email: Some(String::new()),
            ..person()
        };
        let stored = StoredPerson::from(&empty);
        assert_eq!(stored.sourced_id(), "ü-2");
        assert_eq!((stored.identity_id(), stored.email()), (Some(""), Some("")));
        let only_email = PersonRow {
            identity_id: None,
            ..person()
        };
        let stored = StoredPerson::from(&only_email);
        assert_eq!(stored.identity_id(), None);
        assert_eq!(stored.email(), Some("a@example.org"));
    }

    #[test]
    fn every_field_changes_the_fingerprint() {
        let base = person();
        let changes: Vec<fn(&mut PersonRow)> = vec![
            |p| p.sourced_id.push('x'),
            |p| p.identity_id = None,
            |p| p.role = PersonRole::Teacher,
            |p| p.email = Some("b@example.org".into()),
            |p| p.username = Some(String::new()),
            |p| p.given_name = Some("Anne".into()),
            |p| p.family_name = None,
            |p| p.identifier = Some("7".into()),
            |p| p.grades = "09".into(),
            |p| p.schools.pop().map(drop).unwrap_or_default(),
            // Text moved from one field to the next writes other bytes.
            |p| {
                p.given_name = Some("An".into());
                p.family_name = Some("nLee".into());
            },
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(
                changed.fields().fingerprint(),
                base.fields().fingerprint(),
                "change {i}"
            );
        }
        assert_eq!(
            base.clone().fields().fingerprint(),
            base.fields().fingerprint()
        );
    }

    #[test]
    fn every_field_of_a_class_changes_its_fingerprint() {
        let base = ClassRow {
            sourced_id: "c1".into(),
            school: "s1".into(),
            title: Some("Maths".into()),
            class_code: None,
            class_type: Some("scheduled".into()),
            course: Some("course-1".into()),
            terms: "t1".into(),
        };
        let changes: Vec<fn(&mut ClassRow)> = vec![
            |c| c.sourced_id.push('x'),
            |c| c.school = "s2".into(),
            |c| c.title = None,
            |c| c.class_code = Some(String::new()),
            |c| c.class_type = Some("homeroom".into()),
            |c| c.course = None,
            |c| c.terms = "t1,t2".into(),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(changed.fingerprint(), base.fingerprint(), "change {i}");
            assert!(!StoredClass::from(&base).unchanged(&changed), "change {i}");
        }
        assert!(StoredClass::from(&base).unchanged(&base.clone()));
    }

    #[test]
    fn people_are_found_by_sourced_id_in_byte_order() {
        let rows: Vec<PersonRow> = ["b", "a", "C"]
            .into_iter()
            .map(|id| PersonRow {
                sourced_id: id.into(),
                ..person()
            })
            .collect();
        let people: StoredPeople = rows.iter().collect();
        let ids: Vec<&str> = people.iter().map(StoredPerson::sourced_id).collect();
        assert_eq!(ids, ["C", "a", "b"]);
        assert_eq!(people.find("a").map(|(at, _)| at), Some(1));
        assert!(people.find("d").is_none());
        assert_eq!(
            people.find("b").expect("b").1.fingerprint,
            rows[0].fields().fingerprint()
        );
    }
}
