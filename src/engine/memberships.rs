//! Class memberships held compactly, on both sides of a sync's comparison: the wanted ones
//! the planner derives from the enrollments and the stored ones the store loads. A district
//! has ten memberships or more for each person, so they are most of the rows a sync
//! compares. As [`MembershipRow`]s they took 32 bytes each (four shared texts); here each is
//! 12 bytes: the class's and the person's numbers into one table of the distinct texts, and
//! the number of its role and school among the few pairs of them a district has.
//!
//! The table is sorted, so the numbers order as the texts do: sorting a million rows by
//! key compares integers, and [`diff_memberships`] walks both sides once.
//!
//! The store keeps a digest of each class's memberships beside them ([`ClassDigests`]): a
//! sync compares the wanted classes' digests with the stored ones and reads back only the
//! rows of the classes that differ, where it would otherwise read every stored row (a
//! million for a large district) to find, most nights, that few or none changed.

use std::collections::BTreeSet;
use std::fmt;

use foldhash::HashMap;
use sha2::{Digest as _, Sha256};

use crate::intern::Text;

use super::model::MembershipRow;

/// One membership: its class and person are numbers into [`Memberships::texts`], its role
/// and school a number into [`Memberships::kinds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Compact {
    class: u32,
    person: u32,
    kind: u32,
}

/// A membership's role and school, numbers into [`Memberships::texts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Kind {
    role: u32,
    school: u32,
}

impl Kind {
    fn ranked(&self, rank: &[u32]) -> Kind {
        Kind {
            role: rank[self.role as usize],
            school: rank[self.school as usize],
        }
    }
}

/// The distinct (role, school) pairs of a set of memberships, numbered as they come: a
/// few per school, where the rows are a million.
#[derive(Default)]
struct Kinds {
    kinds: Vec<Kind>,
    index: HashMap<Kind, u32>,
    /// The pair numbered last: a class's rows come together, most with one role.
    last: Option<(Kind, u32)>,
}

impl Kinds {
    fn number(&mut self, role: u32, school: u32) -> u32 {
        let kind = Kind { role, school };
        if let Some((last, n)) = self.last
            && last == kind
        {
            return n;
        }
        let n = *self.index.entry(kind).or_insert_with(|| {
            let n = u32::try_from(self.kinds.len())
                .expect("fewer than 2^32 (role, school) pairs in one sync's memberships");
            self.kinds.push(kind);
            n
        });
        self.last = Some((kind, n));
        n
    }

    /// The pairs, their texts' numbers ranked.
    fn ranked(self, rank: &[u32]) -> Vec<Kind> {
        self.kinds.iter().map(|k| k.ranked(rank)).collect()
    }
}

impl Compact {
    fn key(&self) -> u64 {
        (u64::from(self.class) << 32) | u64::from(self.person)
    }
}

/// Memberships, sorted by class then person (byte order of their sourcedIds), one per key.
#[derive(Clone, Default)]
pub struct Memberships {
    /// Each distinct text once, sorted.
    texts: Vec<Text>,
    /// Each distinct (role, school) pair once.
    kinds: Vec<Kind>,
    rows: Vec<Compact>,
}

impl Memberships {
    /// How many memberships there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The memberships in key order, each as a row sharing the table's texts.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = MembershipRow> + '_ {
        self.rows.iter().map(|row| self.row(row))
    }

    fn row(&self, row: &Compact) -> MembershipRow {
        let kind = self.kind(row);
        MembershipRow {
            class: self.text(row.class).clone(),
            person: self.text(row.person).clone(),
            role: self.text(kind.role).clone(),
            school: self.text(kind.school).clone(),
        }
    }

    fn text(&self, n: u32) -> &Text {
        &self.texts[n as usize]
    }

    fn kind(&self, row: &Compact) -> Kind {
        self.kinds[row.kind as usize]
    }

    /// Each of this table's texts' place among `other`'s (see [`place`]): `2i + 1` for the
    /// text `i` of `other`, `2i` for a text `other` lacks that sorts before its text `i`.
    /// Both tables hold their texts sorted, once each.
    fn places_among(&self, other: &Memberships) -> Vec<u64> {
        let mut at = 0;
        self.texts
            .iter()
            .map(|text| {
                let text = text.as_str();
                while other.texts.get(at).is_some_and(|t| t.as_str() < text) {
                    at += 1;
                }
                let found = other.texts.get(at).is_some_and(|t| t.as_str() == text);
                2 * at as u64 + u64::from(found)
            })
            .collect()
    }

    /// Which texts name a school in `schools`.
    fn marks(&self, schools: &BTreeSet<String>) -> Vec<bool> {
        if schools.is_empty() {
            return vec![false; self.texts.len()];
        }
        self.texts
            .iter()
            .map(|t| schools.contains(t.as_str()))
            .collect()
    }
}

impl PartialEq for Memberships {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Memberships {}

impl fmt::Debug for Memberships {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl FromIterator<MembershipRow> for Memberships {
    fn from_iter<I: IntoIterator<Item = MembershipRow>>(rows: I) -> Self {
        let mut builder = MembershipsBuilder::default();
        for row in rows {
            let class = builder.text(&row.class);
            let person = builder.text(&row.person);
            let role = builder.text(&row.role);
            let school = builder.text(&row.school);
            builder.push(class, person, role, school);
        }
        builder.finish()
    }
}

/// Collects memberships in any order; [`MembershipsBuilder::finish`] sorts them. For many
/// rows that can be derived twice, [`MembershipsBuilder::count`] and
/// [`MembershipsBuilder::into_placing`] put each row straight in its place instead.
#[derive(Default)]
pub struct MembershipsBuilder {
    texts: Vec<Text>,
    index: HashMap<Text, u32>,
    kinds: Kinds,
    rows: Vec<Compact>,
    /// Rows counted for each class, by the class's number.
    counts: Vec<u32>,
}

impl MembershipsBuilder {
    /// A builder with room for `texts` distinct texts: a million enrollments name some
    /// 140,000, and the table grown one doubling at a time took 0.04 s of planning.
    pub fn with_capacity(texts: usize) -> Self {
        MembershipsBuilder {
            texts: Vec::with_capacity(texts),
            index: HashMap::with_capacity_and_hasher(texts, Default::default()),
            ..MembershipsBuilder::default()
        }
    }

    /// The number of `text` in the table; a text seen first is kept as this shared copy.
    pub fn text(&mut self, text: &Text) -> u32 {
        match self.index.get(text.as_str()) {
            Some(&n) => n,
            None => self.add(text.clone()),
        }
    }

    /// The number of `text` in the table; a text seen first is copied once.
    pub fn text_str(&mut self, text: &str) -> u32 {
        match self.index.get(text) {
            Some(&n) => n,
            None => self.add(Text::from(text)),
        }
    }

    fn add(&mut self, text: Text) -> u32 {
        // Distinct texts are fewer than rows, and a sync holds far fewer than four billion
        // rows (the client's record allowance and memory budget stop it long before).
        let n = u32::try_from(self.texts.len())
            .expect("fewer than 2^32 distinct texts in one sync's memberships");
        self.texts.push(text.clone());
        self.index.insert(text, n);
        n
    }

    /// Adds a membership; its fields are numbers from [`MembershipsBuilder::text`].
    pub fn push(&mut self, class: u32, person: u32, role: u32, school: u32) {
        let kind = self.kinds.number(role, school);
        self.rows.push(Compact {
            class,
            person,
            kind,
        });
    }

    /// Counts a membership of `class` (a number from [`MembershipsBuilder::text`]) that
    /// [`Placing::place`] will place.
    pub fn count(&mut self, class: u32) {
        let class = class as usize;
        if self.counts.len() <= class {
            self.counts.resize(class + 1, 0);
        }
        self.counts[class] += 1;
    }

    /// The memberships sorted by key; of several with one key, the first pushed is kept.
    pub fn finish(self) -> Memberships {
        let MembershipsBuilder {
            texts,
            index,
            kinds,
            mut rows,
            counts,
        } = self;
        drop((index, counts));
        let (texts, rank) = ranked(texts);
        for row in &mut rows {
            *row = row.ranked(&rank);
        }
        let kinds = kinds.ranked(&rank);
        // Stable: of two rows with one key, the first pushed comes first and is kept.
        if !rows.is_sorted_by_key(Compact::key) {
            rows.sort_by_key(Compact::key);
        }
        rows.dedup_by_key(|row| row.key());
        rows.shrink_to_fit();
        Memberships { texts, kinds, rows }
    }

    /// Lays out the counted memberships: each class's rows together, the classes in key
    /// order. The rows are then placed in the order they were counted.
    pub fn into_placing(self) -> Placing {
        let MembershipsBuilder {
            texts,
            index,
            kinds,
            rows,
            counts,
        } = self;
        assert!(rows.is_empty(), "memberships are either pushed or placed");
        // Placing takes the numbers the builder gave (the caller keeps them), not texts.
        drop(index);
        let (texts, rank) = ranked(texts);
        let mut by_rank = vec![0u32; texts.len()];
        for (class, count) in counts.iter().enumerate() {
            by_rank[rank[class] as usize] = *count;
        }
        let mut next = Vec::with_capacity(texts.len());
        let mut total = 0u32;
        for count in &by_rank {
            next.push(total);
            total += count;
        }
        let empty = Compact {
            class: 0,
            person: 0,
            kind: 0,
        };
        Placing {
            texts,
            kinds,
            rank,
            ends: next
                .iter()
                .zip(&by_rank)
                .map(|(start, n)| start + n)
                .collect(),
            next,
            rows: vec![empty; total as usize],
        }
    }
}

/// The texts sorted, and for each text's number its place among them.
fn ranked(texts: Vec<Text>) -> (Vec<Text>, Vec<u32>) {
    // Sorted as borrowed texts, one step from their bytes: through the shared copies,
    // each comparison took two more reads from far apart in memory.
    let mut sorted: Vec<(&str, u32)> = texts
        .iter()
        .zip(0u32..)
        .map(|(text, at)| (text.as_str(), at))
        .collect();
    sorted.sort_unstable();
    let order: Vec<u32> = sorted.into_iter().map(|(_, at)| at).collect();
    let mut rank = vec![0u32; texts.len()];
    for (new, old) in order.iter().enumerate() {
        rank[*old as usize] = new as u32;
    }
    let mut slots: Vec<Option<Text>> = texts.into_iter().map(Some).collect();
    let texts = order
        .iter()
        .map(|old| {
            slots[*old as usize]
                .take()
                .expect("each text is moved once")
        })
        .collect();
    (texts, rank)
}

impl Compact {
    /// The row with its class's and person's numbers ranked; its kind's number stays.
    fn ranked(&self, rank: &[u32]) -> Compact {
        Compact {
            class: rank[self.class as usize],
            person: rank[self.person as usize],
            kind: self.kind,
        }
    }
}

/// Memberships counted by a [`MembershipsBuilder`], being placed: each row goes straight to
/// its class's rows, so they are held once, at their final length, and only each class's
/// few rows are sorted.
pub struct Placing {
    texts: Vec<Text>,
    /// The rows' (role, school) pairs, as the builder's numbers.
    kinds: Kinds,
    /// Each text's place in `texts`, by the builder's number.
    rank: Vec<u32>,
    /// Where each class's next row goes, by the class's place in `texts`.
    next: Vec<u32>,
    /// Where each class's rows end.
    ends: Vec<u32>,
    rows: Vec<Compact>,
}

impl Placing {
    /// Places a counted membership; its fields are the builder's numbers.
    pub fn place(&mut self, class: u32, person: u32, role: u32, school: u32) {
        let row = Compact {
            class,
            person,
            kind: self.kinds.number(role, school),
        }
        .ranked(&self.rank);
        let class = row.class as usize;
        let at = self.next[class];
        assert!(
            at < self.ends[class],
            "a membership placed that was not counted"
        );
        self.rows[at as usize] = row;
        self.next[class] += 1;
    }

    /// The memberships sorted by key; of several with one key, the first placed is kept.
    pub fn finish(self) -> Memberships {
        let Placing {
            texts,
            kinds,
            rank,
            next,
            ends,
            mut rows,
            ..
        } = self;
        assert!(
            next == ends,
            "every counted membership is placed, and no other"
        );
        drop((next, ends));
        for class in rows.chunk_by_mut(|a, b| a.class == b.class) {
            // Stable: of two rows with one key, the first placed comes first and is kept.
            class.sort_by_key(|row| row.person);
        }
        rows.dedup_by_key(|row| row.key());
        rows.shrink_to_fit();
        let kinds = kinds.ranked(&rank);
        Memberships { texts, kinds, rows }
    }
}

/// The writes of the memberships table, the new rows held compactly: a first sync's
/// million memberships are written from the wanted rows themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChanges {
    /// New rows.
    pub insert: Memberships,
    /// Rows whose role or school changed.
    pub update: Vec<MembershipRow>,
    /// Keys (class, person) of rows to remove.
    pub delete: Vec<(Text, Text)>,
    /// The writes that keep the store's class digests true to the rows; `None` for
    /// changes that do not keep them (the store then stops using its digests until a sync
    /// writes them all again).
    pub digests: Option<DigestChanges>,
}

impl MembershipChanges {
    /// Rows this change writes (of the memberships table; the digests are not counted).
    pub fn len(&self) -> usize {
        self.insert.len() + self.update.len() + self.delete.len()
    }

    /// Whether the memberships table stays as it is (the digests may still be written).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Memberships {
    /// Each row's texts in key order: class, person, role, school (the store's columns).
    pub fn texts_of_rows(&self) -> impl ExactSizeIterator<Item = [&str; 4]> + '_ {
        self.rows.iter().map(|row| {
            let kind = self.kind(row);
            [row.class, row.person, kind.role, kind.school].map(|n| self.text(n).as_str())
        })
    }
}

/// A text's place in its own table, as [`Memberships::places_among`] gives other tables'.
fn place(n: u32) -> u64 {
    2 * u64::from(n) + 1
}

/// Compares stored memberships with wanted ones as [`super::model::diff`] compares other
/// rows: rows of a `frozen` school are left exactly as stored, unchanged rows produce no
/// write, and rows come out in key order. The new rows stay in the wanted rows' own
/// buffer; only updated rows are made into [`MembershipRow`]s.
///
/// `scope` says which classes the two sides hold: all of them (the digests are then
/// written anew), or only the listed ones (only theirs are). Either way the changes carry
/// the digest of each class's rows as they will be stored, frozen rows and all.
pub fn diff_memberships(
    stored: &Memberships,
    mut wanted: Memberships,
    frozen: &BTreeSet<String>,
    scope: Compared<'_>,
) -> MembershipChanges {
    let stored_frozen = stored.marks(frozen);
    let wanted_frozen = wanted.marks(frozen);
    // The two tables number their texts apart, each in the texts' order: a stored text is
    // given its place among the wanted ones, so that rows compare as numbers do, without
    // reading their texts (two text comparisons per row of a million).
    let placed = stored.places_among(&wanted);
    let stored_key = |row: &Compact| (placed[row.class as usize], placed[row.person as usize]);
    let wanted_key = |row: &Compact| (place(row.class), place(row.person));
    let mut changes = MembershipChanges::default();
    let mut old_rows = stored.rows.iter().peekable();
    // The rows as they will be stored, in key order, digested class by class.
    let mut digests = Digesting::default();
    let gone = |old: &Compact, changes: &mut MembershipChanges, digests: &mut Digesting| {
        if stored_frozen[stored.kind(old).school as usize] {
            digests.row(stored, old);
        } else {
            changes.delete.push((
                stored.text(old.class).clone(),
                stored.text(old.person).clone(),
            ));
        }
    };
    // Whether each wanted row is new.
    let mut new = Vec::with_capacity(wanted.rows.len());
    for row in &wanted.rows {
        // Stored rows before this key are wanted no more.
        let key = wanted_key(row);
        while let Some(old) = old_rows.next_if(|old| stored_key(old) < key) {
            gone(old, &mut changes, &mut digests);
        }
        let old = old_rows.next_if(|old| stored_key(old) == key);
        let kind = wanted.kind(row);
        let old_kind = old.map(|o| stored.kind(o));
        let left = wanted_frozen[kind.school as usize]
            || old_kind.is_some_and(|o| stored_frozen[o.school as usize]);
        new.push(!left && old.is_none());
        match old {
            Some(old) if left => digests.row(stored, old),
            _ if left => {}
            _ => digests.row(&wanted, row),
        }
        if let Some(old) = old_kind
            && !left
            && (placed[old.role as usize] != place(kind.role)
                || placed[old.school as usize] != place(kind.school))
        {
            changes.update.push(wanted.row(row));
        }
    }
    for old in old_rows {
        gone(old, &mut changes, &mut digests);
    }
    let digested = digests.finish();
    changes.digests = Some(match scope {
        Compared::All => DigestChanges {
            replace_all: true,
            put: digested,
            remove: Vec::new(),
        },
        Compared::Classes(classes) => {
            // A listed class left with no rows loses its digest.
            let mut put = digested.iter().map(|(class, _)| class).peekable();
            let remove = classes
                .iter()
                .filter(|class| {
                    while put.next_if(|p| p < class).is_some() {}
                    put.next_if(|p| p == class).is_none()
                })
                .cloned()
                .collect();
            DigestChanges {
                replace_all: false,
                put: digested,
                remove,
            }
        }
    });
    let mut new = new.into_iter();
    wanted.rows.retain(|_| new.next() == Some(true));
    wanted.rows.shrink_to_fit();
    changes.insert = wanted;
    changes
}

/// Which classes the two sides of [`diff_memberships`] hold.
#[derive(Debug, Clone, Copy)]
pub enum Compared<'a> {
    /// Every class: the stored side is all the stored rows.
    All,
    /// Only these classes (sorted), on both sides.
    Classes(&'a [Text]),
}

/// A digest of one class's memberships: of each row's person, role and school, in key
/// order (SHA-256, of which 128 bits are kept). Two classes whose rows differ have
/// different digests but for an accidental collision, which is not a concern at any
/// district's size; a digest that differs only makes the sync read the class's rows.
pub type ClassDigest = u128;

/// The digests of classes, sorted by class; a class with no memberships has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassDigests(pub Vec<(Text, ClassDigest)>);

impl ClassDigests {
    /// The classes whose digests differ between `self` and `other`, or that only one of
    /// them has, sorted.
    pub fn differing(&self, other: &ClassDigests) -> Vec<Text> {
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        let mut differing = Vec::new();
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => return differing,
                (Some((class, _)), None) => {
                    differing.push(class.clone());
                    a.next();
                }
                (None, Some((class, _))) => {
                    differing.push(class.clone());
                    b.next();
                }
                (Some((x, dx)), Some((y, dy))) => match x.cmp(y) {
                    std::cmp::Ordering::Less => {
                        differing.push(x.clone());
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        differing.push(y.clone());
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if dx != dy {
                            differing.push(x.clone());
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
    }

    /// How many classes have a digest.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no class has one.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These digests after `changes`, as the store keeps them.
    #[cfg(test)]
    pub fn after(&self, changes: &DigestChanges) -> ClassDigests {
        let mut digests: std::collections::BTreeMap<Text, ClassDigest> = if changes.replace_all {
            Default::default()
        } else {
            self.0.iter().cloned().collect()
        };
        for class in &changes.remove {
            digests.remove(class);
        }
        digests.extend(changes.put.iter().cloned());
        ClassDigests(digests.into_iter().collect())
    }
}

/// The writes of the class digests that keep them true to the memberships.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestChanges {
    /// Whether every stored digest of the provider is dropped first (`put` is then all).
    pub replace_all: bool,
    /// Digests written, over any stored for the class; sorted by class.
    pub put: Vec<(Text, ClassDigest)>,
    /// Classes whose digests are removed (they have no memberships left); sorted.
    pub remove: Vec<Text>,
}

/// Digests the rows handed to it, class by class, as they come in key order.
#[derive(Default)]
struct Digesting {
    /// The class being digested.
    class: Option<Text>,
    /// Its rows' bytes so far.
    bytes: Vec<u8>,
    done: Vec<(Text, ClassDigest)>,
}

impl Digesting {
    /// Adds `row` of `table`. Its class is told by its text: two stored classes that the
    /// wanted side lacks can share a place among the wanted texts.
    fn row(&mut self, table: &Memberships, row: &Compact) {
        let class = table.text(row.class);
        if self
            .class
            .as_ref()
            .is_none_or(|c| c.as_str() != class.as_str())
        {
            self.close();
            self.class = Some(class.clone());
        }
        table.digest_row(&mut self.bytes, row);
    }

    fn close(&mut self) {
        if let Some(class) = self.class.take() {
            self.done.push((class, digest_bytes(&self.bytes)));
            self.bytes.clear();
        }
    }

    fn finish(mut self) -> Vec<(Text, ClassDigest)> {
        self.close();
        self.done
    }
}

impl Memberships {
    /// Appends `row` to the bytes its class's digest is made of: its person, role and
    /// school, each with its length first, so that no two different lists of rows make the
    /// same bytes.
    fn digest_row(&self, bytes: &mut Vec<u8>, row: &Compact) {
        let kind = self.kind(row);
        for n in [row.person, kind.role, kind.school] {
            let text = self.text(n).as_str();
            bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
        }
    }
}

/// The digest of a class's bytes (see [`Memberships::digest_row`]).
fn digest_bytes(bytes: &[u8]) -> ClassDigest {
    let hash = Sha256::new()
        .chain_update(b"classlink-operator class memberships 1\0")
        .chain_update(bytes)
        .finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(first)
}

/// Below this many rows, digests are made on the calling thread alone.
const DIGEST_ROWS_PER_THREAD: usize = 100_000;

impl Memberships {
    /// Each class's digest. A large table is digested in two halves on two threads.
    pub fn digests(&self) -> ClassDigests {
        self.digests_with(DIGEST_ROWS_PER_THREAD)
    }

    /// [`Memberships::digests`], on two threads from `per_thread` rows each.
    fn digests_with(&self, per_thread: usize) -> ClassDigests {
        let rows = &self.rows;
        if rows.len() < 2 * per_thread {
            return ClassDigests(self.digests_of(rows));
        }
        // Split where a class begins, near the middle.
        let mut middle = rows.len() / 2;
        while middle < rows.len() && rows[middle].class == rows[middle - 1].class {
            middle += 1;
        }
        let (first, second) = rows.split_at(middle);
        let (mut first, second) = std::thread::scope(|s| {
            let second = s.spawn(|| self.digests_of(second));
            let first = self.digests_of(first);
            (
                first,
                second
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            )
        });
        first.extend(second);
        ClassDigests(first)
    }

    /// The digests of `rows`, which are whole classes of this table.
    fn digests_of(&self, rows: &[Compact]) -> Vec<(Text, ClassDigest)> {
        let mut bytes = Vec::new();
        rows.chunk_by(|a, b| a.class == b.class)
            .map(|class| {
                bytes.clear();
                for row in class {
                    self.digest_row(&mut bytes, row);
                }
                (self.text(class[0].class).clone(), digest_bytes(&bytes))
            })
            .collect()
    }

    /// Keeps only the rows of `classes` (sorted).
    pub fn retain_classes(&mut self, classes: &[Text]) {
        let mut listed = classes.iter().peekable();
        let kept: Vec<bool> = self
            .texts
            .iter()
            .map(|text| {
                while listed.next_if(|c| c.as_str() < text.as_str()).is_some() {}
                listed.peek().is_some_and(|c| c.as_str() == text.as_str())
            })
            .collect();
        self.rows.retain(|row| kept[row.class as usize]);
        self.rows.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::diff;

    fn row(class: &str, person: &str, role: &str, school: &str) -> MembershipRow {
        MembershipRow {
            class: class.into(),
            person: person.into(),
            role: role.into(),
            school: school.into(),
        }
    }

    #[test]
    fn a_membership_is_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Compact>(), 12);
    }

    #[test]
    fn rows_come_out_sorted_by_key_in_byte_order_and_the_first_of_a_key_is_kept() {
        let memberships: Memberships = [
            row("c2", "p1", "student", "s1"),
            row("c1", "p2", "student", "s1"),
            row("c1", "P3", "teacher", "s1"),
            row("c1", "p2", "teacher", "s1"),
        ]
        .into_iter()
        .collect();
        let rows: Vec<MembershipRow> = memberships.iter().collect();
        assert_eq!(
            rows,
            vec![
                row("c1", "P3", "teacher", "s1"),
                row("c1", "p2", "student", "s1"),
                row("c2", "p1", "student", "s1"),
            ]
        );
    }

    /// Over many random pairs of stored and wanted rows, from small sets of texts so that
    /// the two sides share some and not others, the compact comparison (which compares the
    /// rows' places, not their texts) decides as the generic one does.
    #[test]
    fn random_rows_compare_as_the_generic_diff_does() {
        let mut rng = fastrand::Rng::with_seed(12);
        let classes = ["c0", "c1", "C1", "c10", "c2", "c3", ""];
        let people = ["p0", "p1", "P1", "p10", "p2", "é", "s1"];
        let roles = ["student", "teacher", "aide"];
        let schools = ["s1", "s2", "frozen", "c1"];
        let frozen = BTreeSet::from(["frozen".to_owned()]);
        let mut rows = |n: usize| -> Vec<MembershipRow> {
            (0..n)
                .map(|_| {
                    row(
                        classes[rng.usize(..classes.len())],
                        people[rng.usize(..people.len())],
                        roles[rng.usize(..roles.len())],
                        schools[rng.usize(..schools.len())],
                    )
                })
                .collect()
        };
        for _ in 0..300 {
            let (stored, wanted) = (rows(12), rows(12));
            let stored: Memberships = stored.into_iter().collect();
            let wanted: Memberships = wanted.into_iter().collect();
            let expected = diff(
                &stored.iter().collect::<Vec<_>>(),
                wanted.iter().collect(),
                &frozen,
            );
            let by_class = compare_by_digest(&stored, &wanted, &frozen);
            let compact = diff_memberships(&stored, wanted, &frozen, Compared::All);
            assert_eq!(compact.insert.iter().collect::<Vec<_>>(), expected.insert);
            assert_eq!(compact.update, expected.update);
            assert_eq!(compact.delete, expected.delete);
            // The digests written are those of the rows as the store keeps them after.
            let after: Memberships = after(&stored, &compact).into_iter().collect();
            let digests = compact.digests.clone().expect("digests kept");
            assert!(digests.replace_all && digests.remove.is_empty());
            assert_eq!(ClassDigests(digests.put), after.digests());
            // Comparing only the classes whose digests differ decides the same, and leaves
            // the same digests.
            let (mut by_class, classes) = by_class;
            let partial = by_class.digests.take().expect("digests kept");
            assert!(!partial.replace_all);
            assert_eq!(stored.digests().after(&partial), after.digests());
            assert_eq!(
                partial.put.len() + partial.remove.len(),
                classes.len(),
                "each class compared has its digest written or removed"
            );
            let mut compact = compact;
            compact.digests = None;
            assert_eq!(by_class, compact);
        }
    }

    /// The stored rows after `changes`, as the store would hold them.
    fn after(stored: &Memberships, changes: &MembershipChanges) -> Vec<MembershipRow> {
        let mut rows: Vec<MembershipRow> = stored
            .iter()
            .filter(|r| {
                let key = (r.class.clone(), r.person.clone());
                !changes.delete.contains(&key)
                    && !changes
                        .update
                        .iter()
                        .any(|u| (&u.class, &u.person) == (&key.0, &key.1))
            })
            .collect();
        rows.extend(changes.update.iter().cloned());
        rows.extend(changes.insert.iter());
        rows
    }

    /// The comparison of only the classes whose digests differ, and those classes.
    fn compare_by_digest(
        stored: &Memberships,
        wanted: &Memberships,
        frozen: &BTreeSet<String>,
    ) -> (MembershipChanges, Vec<Text>) {
        let classes = wanted.digests().differing(&stored.digests());
        let (mut stored, mut wanted) = (stored.clone(), wanted.clone());
        stored.retain_classes(&classes);
        wanted.retain_classes(&classes);
        let changes = diff_memberships(&stored, wanted, frozen, Compared::Classes(&classes));
        (changes, classes)
    }

    #[test]
    fn digests_differ_exactly_where_a_classes_rows_do() {
        let base = [
            row("c1", "p1", "student", "s1"),
            row("c1", "p2", "student", "s1"),
            row("c2", "p1", "teacher", "s1"),
            row("c3", "p3", "student", "s2"),
        ];
        let stored: Memberships = base.iter().cloned().collect();
        let digests = stored.digests();
        assert_eq!(digests.len(), 3);
        let differing = |rows: Vec<MembershipRow>| -> Vec<String> {
            let wanted: Memberships = rows.into_iter().collect();
            let differing = wanted.digests().differing(&digests);
            differing.iter().map(|c| c.to_string()).collect()
        };
        assert!(differing(base.to_vec()).is_empty());
        // Order does not matter; a role, a school, a person, a class's rows do.
        assert!(differing(base.iter().rev().cloned().collect()).is_empty());
        let mut changed = base.to_vec();
        changed[1].role = "aide".into();
        assert_eq!(differing(changed), ["c1"]);
        let mut changed = base.to_vec();
        changed[3].school = "s1".into();
        assert_eq!(differing(changed), ["c3"]);
        let mut changed = base.to_vec();
        changed[2].person = "p2".into();
        assert_eq!(differing(changed), ["c2"]);
        // A class gone, a class new.
        let mut changed = base.to_vec();
        changed[2].class = "c0".into();
        assert_eq!(differing(changed), ["c0", "c2"]);
        // Texts that run into each other differ: lengths are part of the bytes.
        let a: Memberships = [row("c", "ab", "c", "s")].into_iter().collect();
        let b: Memberships = [row("c", "a", "bc", "s")].into_iter().collect();
        assert_ne!(a.digests(), b.digests());
    }

    /// The store keeps digests from one version to the next: a change of what they are
    /// made of must change the version in `digest_bytes` (a digest that differs only
    /// makes a sync read its class back), and this value with it.
    #[test]
    fn a_class_digest_is_what_the_store_already_holds() {
        let one: Memberships = [row("class-1", "person-1", "student", "school-1")]
            .into_iter()
            .collect();
        let digests = one.digests();
        assert_eq!(digests.0.len(), 1);
        assert_eq!(
            format!("{:032x}", digests.0[0].1),
            "1afb579dfd7c68a87d11798c739e70d6"
        );
    }

    #[test]
    fn digests_made_on_two_threads_are_those_made_on_one() {
        let mut rng = fastrand::Rng::with_seed(7);
        let rows: Memberships = (0..5_000)
            .map(|_| {
                row(
                    &format!("c{}", rng.usize(..300)),
                    &format!("p{}", rng.usize(..2_000)),
                    ["student", "teacher"][rng.usize(..2)],
                    &format!("s{}", rng.usize(..3)),
                )
            })
            .collect();
        let one = ClassDigests(rows.digests_of(&rows.rows));
        for per_thread in [1, 100, 2_000, 10_000] {
            assert_eq!(rows.digests_with(per_thread), one, "{per_thread}");
        }
    }

    #[test]
    fn retaining_classes_keeps_their_rows_only() {
        let mut rows: Memberships = [
            row("c1", "p1", "student", "s1"),
            row("c2", "p1", "student", "s1"),
            row("c3", "p2", "student", "s1"),
        ]
        .into_iter()
        .collect();
        rows.retain_classes(&["c0".into(), "c2".into(), "c3".into(), "c9".into()]);
        assert_eq!(
            rows.iter().map(|r| r.class.to_string()).collect::<Vec<_>>(),
            ["c2", "c3"]
        );
    }

    /// The compact comparison decides exactly as the generic one does, frozen schools and
    /// all, over rows that share some texts and not others.
    #[test]
    fn the_comparison_decides_as_the_generic_diff_does() {
        let stored = vec![
            row("c1", "p1", "student", "s1"),
            row("c1", "p2", "student", "s1"),
            row("c2", "p1", "teacher", "s2"),
            row("c3", "p4", "student", "frozen"),
            row("c4", "p1", "student", "s1"),
            row("c5", "p9", "aide", "s2"),
        ];
        let wanted = vec![
            row("c5", "p9", "teacher", "s2"),
            row("c1", "p1", "student", "s1"),
            row("c2", "p1", "teacher", "s3"),
            row("c3", "p5", "student", "frozen"),
            row("c0", "p1", "student", "s1"),
            row("c6", "p1", "student", "frozen"),
        ];
        let frozen = BTreeSet::from(["frozen".to_owned()]);
        let mut sorted_stored = stored.clone();
        sorted_stored.sort_by(|a, b| (&a.class, &a.person).cmp(&(&b.class, &b.person)));
        let expected = diff(&sorted_stored, wanted.clone(), &frozen);
        let compact = diff_memberships(
            &stored.into_iter().collect(),
            wanted.into_iter().collect(),
            &frozen,
            Compared::All,
        );
        assert_eq!(compact.insert.iter().collect::<Vec<_>>(), expected.insert);
        assert_eq!(compact.update, expected.update);
        assert_eq!(compact.delete, expected.delete);
        assert_eq!(
            compact.insert.iter().collect::<Vec<_>>(),
            vec![row("c0", "p1", "student", "s1")]
        );
        assert_eq!(
            compact.insert.texts_of_rows().collect::<Vec<_>>(),
            vec![["c0", "p1", "student", "s1"]]
        );
        assert_eq!(
            compact.update,
            vec![
                row("c2", "p1", "teacher", "s3"),
                row("c5", "p9", "teacher", "s2")
            ]
        );
        assert_eq!(
            compact.delete,
            vec![
                (Text::from("c1"), Text::from("p2")),
                (Text::from("c4"), Text::from("p1"))
            ]
        );
    }

    /// Counting then placing gives what pushing then sorting gives: key order, and the
    /// first of several rows with one key.
    #[test]
    fn placed_memberships_come_out_as_pushed_ones_do() {
        let rows = vec![
            row("c2", "p1", "student", "s1"),
            row("c1", "p2", "student", "s1"),
            row("c10", "p1", "student", "s2"),
            row("c1", "P3", "teacher", "s1"),
            row("c1", "p2", "aide", "s1"),
            row("c2", "p0", "teacher", "s1"),
        ];
        let mut counted = MembershipsBuilder::default();
        let mut numbered = Vec::new();
        for r in &rows {
            let class = counted.text(&r.class);
            let (person, role, school) = (
                counted.text(&r.person),
                counted.text(&r.role),
                counted.text(&r.school),
            );
            counted.count(class);
            numbered.push((class, person, role, school));
        }
        let mut placing = counted.into_placing();
        for (class, person, role, school) in numbered {
            placing.place(class, person, role, school);
        }
        let placed = placing.finish();
        let pushed: Memberships = rows.into_iter().collect();
        assert_eq!(placed, pushed);
        assert_eq!(placed.len(), 5);
        assert_eq!(placed.iter().nth(1), Some(row("c1", "p2", "student", "s1")));
    }

    #[test]
    #[should_panic(expected = "every counted membership is placed")]
    fn a_counted_membership_left_unplaced_is_a_loud_error() {
        let mut counted = MembershipsBuilder::default();
        let class = counted.text_str("c1");
        counted.count(class);
        counted.into_placing().finish();
    }

    #[test]
    fn identical_memberships_write_nothing() {
        let rows = vec![
            row("c1", "p1", "student", "s1"),
            row("c1", "p2", "teacher", "s1"),
        ];
        let stored: Memberships = rows.iter().cloned().collect();
        let wanted: Memberships = rows.into_iter().rev().collect();
        assert_eq!(stored, wanted);
        assert!(diff_memberships(&stored, wanted, &BTreeSet::new(), Compared::All).is_empty());
    }
}
