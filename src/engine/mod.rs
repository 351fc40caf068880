//! The sync engine: plain Rust over plain data. It takes a ClassLinkSync's options, the
//! schools its SchoolExclusions take out, today's date, the roster fetched from the Roster
//! Server, the namespace's platform users and what the store holds for this provider, and
//! returns the report and the changes to write. It knows nothing of Kubernetes, HTTP or SQL.

pub mod dates;
pub mod matching;
pub mod memberships;
pub mod model;
pub mod people;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashSet, HashSetExt as _};

use jiff::civil::Date;
use sha2::{Digest, Sha256};

use crate::error_code::ErrorCode;
use crate::intern::Text;
use crate::oneroster::Enrollments;
use crate::oneroster::records::{Class, Org, Role, Roster, User};
use dates::{SessionCalendar, enrollment_holds};
use matching::{IdentityIndex, Lookup, UnusableEmail, key_of, match_key, usable_email};
use memberships::{
    ClassDigests, Compared, MembershipChanges, Memberships, MembershipsBuilder, diff_memberships,
};
use model::{
    ChangeSet, ClassRow, GuardianLinkRow, GuardianRow, Identity, PersonRole, PersonRow,
    ProviderSnapshot, SchoolRow, TableChanges, diff,
};
use people::PersonFields;
use report::{Counts, ProblemLog, SchoolCounts, SchoolReport, SyncReport, SyncResult};

/// What a person is matched on (the guide's Merge Key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKey {
    /// The whole email, case sensitive.
    Email,
    /// The part before `@`, case sensitive.
    EmailWithoutDomain,
}

/// Which OneRoster role is synced as guardians.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardianRole {
    /// `parent`.
    Parent,
    /// `relative`.
    Relative,
    /// `guardian`.
    Guardian,
}

impl GuardianRole {
    fn matches(self, role: &Role) -> bool {
        matches!(
            (self, role),
            (GuardianRole::Parent, Role::Parent)
                | (GuardianRole::Relative, Role::Relative)
                | (GuardianRole::Guardian, Role::Guardian)
        )
    }

    /// The relationship name stored with each guardian.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardianRole::Parent => "Parent",
            GuardianRole::Relative => "Relative",
            GuardianRole::Guardian => "Guardian",
        }
    }
}

/// The options of one ClassLinkSync, as the engine needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// Namespace: the tenant whose platform users are matched.
    pub namespace: String,
    /// Name of the ClassLinkSync: the provider.
    pub provider: String,
    /// Sync classes and memberships.
    pub sync_classroom_data: bool,
    /// Only students with an enrollment holding today; only current memberships.
    pub respect_enrolment_date: bool,
    /// Only classes of a session holding today.
    pub respect_academic_sessions: bool,
    /// Sync guardians of this role (`None`: no guardians).
    pub guardian_role: Option<GuardianRole>,
    /// Merge key.
    pub merge_key: MergeKey,
    /// Merge priority.
    pub priority: i32,
    /// Link only to existing platform users.
    pub attach_only: bool,
    /// Largest share (percent) of stored people one sync may remove.
    pub shrink_guard_percent: u32,
    /// The user confirmed a removal beyond the shrink guard.
    pub confirm_shrink: bool,
}

/// How a SchoolExclusion names a school.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SchoolRef {
    /// By sourcedId.
    SourcedId(String),
    /// By identifier.
    Identifier(String),
    /// By exact name.
    Name(String),
}

impl SchoolRef {
    fn matches(&self, school: &Org) -> bool {
        match self {
            SchoolRef::SourcedId(id) => school.sourced_id == *id,
            SchoolRef::Identifier(identifier) => school.identifier.as_deref() == Some(identifier),
            SchoolRef::Name(name) => school.name.as_deref() == Some(name),
        }
    }
}

/// One SchoolExclusion naming this provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// Name of the SchoolExclusion.
    pub name: String,
    /// The schools it names.
    pub schools: Vec<SchoolRef>,
}

/// What one SchoolExclusion resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExclusionResult {
    /// Name of the SchoolExclusion.
    pub name: String,
    /// Per listed school: the school found (sourcedId, name), or `None`.
    pub schools: Vec<(SchoolRef, Option<(String, String)>)>,
}

/// Everything one sync decides from.
#[derive(Debug, Clone, Copy)]
pub struct SyncInput<'a> {
    /// Options.
    pub settings: &'a SyncSettings,
    /// SchoolExclusions naming this provider.
    pub exclusions: &'a [Exclusion],
    /// Today, in the region's time zone.
    pub today: Date,
    /// The fetched roster.
    pub roster: &'a Roster,
    /// The namespace's platform users, in any order: the plan is the same.
    pub identities: &'a [Identity],
    /// What the store holds for this provider.
    pub stored: &'a ProviderSnapshot,
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlan {
    /// The report.
    pub report: SyncReport,
    /// What to write; `None` when the sync failed and nothing may change.
    pub changes: Option<ChangeSet>,
    /// How each SchoolExclusion resolved.
    pub exclusions: Vec<ExclusionResult>,
}

/// Share (percent) of people without a usable email (masked, empty or not an address)
/// above which DataGuard is assumed.
pub const DATAGUARD_PERCENT: usize = 50;

/// Share (percent) of people whose email carries a mask (`****`, `j***@x.org`, ...) above
/// which DataGuard is assumed. Lower than [`DATAGUARD_PERCENT`]: young students often have
/// no email at all, but a masked one is never real data.
pub const DATAGUARD_MASKED_PERCENT: usize = 10;

/// Decides a sync.
pub fn plan(input: &SyncInput<'_>) -> SyncPlan {
    let planner = Planner::new(input, Held::Borrowed(&input.roster.enrollments));
    assert!(
        input.stored.membership_digests.is_none(),
        "plan() compares every stored membership; a snapshot of digests needs plan_then_begin()"
    );
    match planner.prepare() {
        Ok((mut planner, mut prepared)) => {
            let memberships = prepared.compare_memberships(&input.stored.memberships);
            let guardians = planner.desired_guardians(&prepared.candidates);
            let settled = planner.settle(prepared, guardians);
            planner.complete(settled, memberships)
        }
        Err(failed) => *failed,
    }
}

/// Decides a sync as [`plan`] does, in parts, for a sync that reads the store only once
/// the roster's own part is done. First, from the roster alone: the schools, the people
/// and classes wanted, and the memberships wanted, from the enrollments handed over here,
/// which are then freed (`input.roster.enrollments`, `input.identities` and `input.stored`
/// are not read). Then `begin` gives the stored rows (the sync's transaction begins
/// there), and the memberships are compared and both sides freed. Only then are the
/// platform users read, through the function `begin` returned: it starts reading them and
/// returns a function that waits for them, and the guardians, the rows that matching does
/// not touch and each person's stored row are settled meanwhile. Then the rest is decided.
/// So the enrollments, the memberships and the platform users are never held at once: for
/// a district of a million enrollments, the enrollments take about 60 MB, the wanted and
/// stored memberships about 40 and the platform users about 35.
///
/// When the stored rows come with the digests of their classes' memberships instead of the
/// memberships themselves, only the classes whose digests differ from the wanted ones'
/// are read back, through [`Locked::memberships_of`], and compared.
///
/// `begin` is not called when the roster alone decides that the sync fails (no school
/// left, every school incomplete); its error, or the platform users', ends the planning.
pub fn plan_then_begin<E, L: Locked<E>>(
    input: &SyncInput<'_>,
    enrollments: Enrollments,
    begin: impl FnOnce() -> Result<(ProviderSnapshot, L), E>,
) -> Result<(SyncPlan, Leftovers), E> {
    let clock = std::time::Instant::now();
    let planner = Planner::new(input, Held::Owned(enrollments));
    let (planner, mut prepared) = match planner.prepare() {
        Ok(prepared) => prepared,
        Err(failed) => {
            let nothing_read = Leftovers {
                stored: ProviderSnapshot::default(),
                platform_users: Vec::new(),
            };
            return Ok((*failed, nothing_read));
        }
    };
    let prepared_in = clock.elapsed();
    let (mut stored, mut locked) = begin()?;
    let clock = std::time::Instant::now();
    let (memberships, classes_read) = match stored.membership_digests.take() {
        None => {
            let stored_memberships = std::mem::take(&mut stored.memberships);
            let memberships = prepared.compare_memberships(&stored_memberships);
            drop(stored_memberships);
            (memberships, None)
        }
        Some(digests) => {
            let classes = prepared.classes_differing(&digests);
            drop(digests);
            let stored_memberships = if classes.is_empty() {
                Memberships::default()
            } else {
                locked.memberships_of(&classes)?
            };
            let memberships = prepared.compare_memberships_of(&classes, &stored_memberships);
            (memberships, Some((classes.len(), stored_memberships.len())))
        }
    };
    let compared_in = clock.elapsed();
    let users_read = locked.read_platform_users();
    let clock = std::time::Instant::now();
    let without_users = SyncInput {
        identities: &[],
        stored: &stored,
        ..*input
    };
    let mut planner = planner.reading(&without_users);
    let guardians = planner.desired_guardians(&prepared.candidates);
    let settled = planner.settle(prepared, guardians);
    let settled_in = clock.elapsed();
    let identities = users_read()?;
    let clock = std::time::Instant::now();
    let input = SyncInput {
        identities: &identities,
        stored: &stored,
        ..*input
    };
    let plan = planner.reading(&input).complete(settled, memberships);
    tracing::debug!(
        prepared = ?prepared_in,
        compared = ?compared_in,
        // (classes whose digests differed, their stored memberships read); none when every
        // stored membership was read.
        classes_read = ?classes_read,
        settled_while_users_read = ?settled_in,
        completed = ?clock.elapsed(),
        "planning's parts"
    );
    Ok((
        plan,
        Leftovers {
            stored,
            platform_users: identities,
        },
    ))
}

/// The store under the sync's lock, as [`plan_then_begin`] reads it once the transaction
/// has begun.
pub trait Locked<E> {
    /// What waits for the platform users.
    type Users: FnOnce() -> Result<Vec<Identity>, E>;

    /// The stored memberships of `classes` (sorted), for stored rows that came with their
    /// classes' digests instead (called at most once, before the platform users are read).
    fn memberships_of(&mut self, classes: &[Text]) -> Result<Memberships, E>;

    /// Starts reading the namespace's platform users, and returns what waits for them; the
    /// planning settles what does not depend on them meanwhile.
    fn read_platform_users(self) -> Self::Users;
}

/// What planning read and no longer needs, handed back by [`plan_then_begin`] to be freed
/// where the caller likes: for a large district, freeing it takes tens of milliseconds,
/// which the sync spends on another thread while it commits.
pub struct Leftovers {
    /// The stored rows (their memberships already freed).
    pub stored: ProviderSnapshot,
    /// The namespace's platform users.
    pub platform_users: Vec<Identity>,
}

/// What a text turned out to be: not looked up yet, not one of those wanted, or one of them
/// with what is known of it.
#[derive(Debug, Clone, Copy)]
enum Known<T> {
    Unseen,
    Unwanted,
    Wanted(T),
}

impl<T> Known<T> {
    /// What is known of the text, looked up by `look_up` the first time; `None` when it is
    /// not one of those wanted.
    fn resolve(&mut self, look_up: impl FnOnce() -> Option<T>) -> Option<&mut T> {
        if let Known::Unseen = self {
            *self = look_up().map_or(Known::Unwanted, Known::Wanted);
        }
        match self {
            Known::Wanted(known) => Some(known),
            _ => None,
        }
    }
}

/// Part of a sync's input, as the planner holds it.
enum Held<'a, T> {
    /// The caller's.
    Borrowed(&'a T),
    /// Handed over; emptied once the planner is done with it.
    Owned(T),
}

impl<T: Default> Held<'_, T> {
    fn get(&self) -> &T {
        match self {
            Held::Borrowed(part) => part,
            Held::Owned(part) => part,
        }
    }

    /// Frees what is owned; nothing is read from it afterwards.
    fn release(&mut self) {
        if let Held::Owned(part) = self {
            *part = T::default();
        }
    }
}

impl Held<'_, Enrollments> {
    /// Frees the enrollments' own sourcedIds when they were handed over.
    fn release_sourced_ids(&mut self) {
        if let Held::Owned(enrollments) = self {
            enrollments.release_sourced_ids();
        }
    }
}

/// A person of the feed that the sync considers.
struct Candidate<'a> {
    user: &'a User,
    role: PersonRole,
    /// Borrowed from the user's orgs: a copy for each of a district's people took 20 MB.
    schools: Vec<&'a str>,
    /// The user's email as matching sees it ([`usable_email`]), checked once: the guard,
    /// matching and the stored row each ask.
    email: Result<&'a str, UnusableEmail>,
}

/// What the first part of planning decided, from the roster alone.
struct Prepared<'a> {
    /// Schools not excluded.
    included: BTreeSet<String>,
    candidates: Vec<Candidate<'a>>,
    /// Schools whose data is incomplete.
    incomplete: BTreeSet<String>,
    /// Included schools whose rows stay as stored.
    frozen: BTreeSet<String>,
    /// The classes wanted.
    classes: Vec<ClassRow>,
    /// The memberships wanted, until [`Prepared::compare_memberships`].
    memberships: Memberships,
}

impl Prepared<'_> {
    /// Compares the memberships wanted with every `stored` one, and frees the wanted ones.
    fn compare_memberships(&mut self, stored: &Memberships) -> MembershipChanges {
        let wanted = std::mem::take(&mut self.memberships);
        diff_memberships(stored, wanted, &self.frozen, Compared::All)
    }

    /// The classes whose wanted memberships' digests differ from the `stored` ones, or
    /// that only one side has.
    fn classes_differing(&self, stored: &ClassDigests) -> Vec<Text> {
        self.memberships.digests().differing(stored)
    }

    /// Compares the wanted memberships of `classes` (sorted) with the `stored` ones, which
    /// are those of the same classes, and frees the wanted ones. The rest are as stored.
    fn compare_memberships_of(
        &mut self,
        classes: &[Text],
        stored: &Memberships,
    ) -> MembershipChanges {
        let mut wanted = std::mem::take(&mut self.memberships);
        wanted.retain_classes(classes);
        diff_memberships(stored, wanted, &self.frozen, Compared::Classes(classes))
    }
}

struct Planner<'a> {
    input: &'a SyncInput<'a>,
    enrollments: Held<'a, Enrollments>,
    problems: ProblemLog,
    schools: BTreeMap<&'a str, &'a Org>,
    excluded: BTreeMap<String, String>,
    exclusions: Vec<ExclusionResult>,
}

impl<'a> Planner<'a> {
    fn new(input: &'a SyncInput<'a>, enrollments: Held<'a, Enrollments>) -> Self {
        let schools = input
            .roster
            .schools
            .iter()
            .map(|o| (o.sourced_id.as_str(), o))
            .collect();
        Self {
            input,
            enrollments,
            problems: ProblemLog::default(),
            schools,
            excluded: BTreeMap::new(),
            exclusions: Vec::new(),
        }
    }

    fn settings(&self) -> &'a SyncSettings {
        self.input.settings
    }

    /// The same planner reading `input`, which holds the platform users and the stored rows
    /// that the first part did not read.
    fn reading<'b>(self, input: &'b SyncInput<'b>) -> Planner<'b>
    where
        'a: 'b,
    {
        Planner {
            input,
            enrollments: self.enrollments,
            problems: self.problems,
            schools: self.schools,
            excluded: self.excluded,
            exclusions: self.exclusions,
        }
    }

    /// The first part of planning, from the roster alone (see [`plan_then_begin`]); the
    /// plan itself when the sync fails there.
    fn prepare(mut self) -> Result<(Self, Prepared<'a>), Box<SyncPlan>> {
        let roster = self.input.roster;
        for (collection, n) in &roster.skipped_records {
            self.problems.add_counted(
                "RecordWithoutSourcedId",
                collection.as_str(),
                *n,
                format!("{n} {collection} records had no sourcedId and were skipped"),
            );
        }
        self.resolve_exclusions();
        let included: BTreeSet<String> = self
            .schools
            .keys()
            .filter(|id| !self.excluded.contains_key(**id))
            .map(|id| (*id).to_owned())
            .collect();
        if included.is_empty() {
            let message = if self.schools.is_empty() {
                "The Roster Server returned no active school.".to_owned()
            } else {
                format!(
                    "All {} schools are excluded by SchoolExclusions; nothing to sync.",
                    self.schools.len()
                )
            };
            return Err(Box::new(self.failed(
                ErrorCode::NoSchoolsLeft,
                message,
                &BTreeSet::new(),
            )));
        }

        let today = self.input.today;
        let calendar = SessionCalendar::new(&roster.academic_sessions, today);
        // The references are checked (a walk over every enrollment) on a thread of their
        // own while this one picks the people wanted: neither depends on the other, and the
        // unchanged nightly sync of a large district otherwise plans on one core while the
        // other waits. Each side keeps its own problems, merged after in the order the steps
        // had when they ran one after the other. The classes wanted are picked after: the
        // check's lookup tables (one entry per user) and the class rows are not held at
        // once (`xl`'s peak rose by 20 MB when they were).
        let mut problems = std::mem::take(&mut self.problems);
        let (candidates, (mut incomplete, checked)) = std::thread::scope(|scope| {
            let this = &self;
            let checking = scope.spawn(|| {
                let mut problems = ProblemLog::default();
                let incomplete = this.check_references(&included, &calendar, &mut problems);
                (incomplete, problems)
            });
            let candidates = this.candidates(&mut problems);
            let checked = checking
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (candidates, checked)
        });
        problems.merge(checked);
        self.problems = problems;
        self.check_schools_have_classes(&included, &candidates, &mut incomplete);
        // The enrollments' own sourcedIds only named the dangling ones above.
        self.enrollments.release_sourced_ids();
        let frozen: BTreeSet<String> = incomplete.intersection(&included).cloned().collect();
        if frozen.len() == included.len() {
            let message = format!(
                "Every included school has incomplete data ({}); nothing was synced. Fix the data in the SIS or exclude these schools with a SchoolExclusion.",
                self.school_list(&frozen)
            );
            return Err(Box::new(self.failed(
                ErrorCode::AllSchoolsIncomplete,
                message,
                &frozen,
            )));
        }

        let classes = self.desired_classes(&included, &calendar);
        let memberships = self.desired_memberships(&classes, &candidates);
        self.enrollments.release();
        let prepared = Prepared {
            included,
            candidates,
            incomplete,
            frozen,
            classes,
            memberships,
        };
        Ok((self, prepared))
    }

    /// What the rest of planning decides before the platform users are in (see
    /// [`Settled`]).
    fn settle(
        &self,
        prepared: Prepared<'a>,
        (guardians, guardian_links): (Vec<GuardianRow>, Vec<GuardianLinkRow>),
    ) -> Settled<'a> {
        let Prepared {
            included,
            candidates,
            incomplete,
            frozen,
            classes,
            memberships: _,
        } = prepared;
        let considered = considered(&candidates, &frozen);
        // Counted before the classes and guardians move into the comparison, so that no
        // copy of them is held.
        let imported_classes = classes
            .iter()
            .filter(|c| !frozen.contains(&c.school))
            .count() as u64;
        let synced_guardians = guardians
            .iter()
            .filter(|g| !g.schools.iter().any(|s| frozen.contains(s)))
            .count() as u64;
        let schools = self.school_reports(&frozen, &considered, &classes);
        drop(considered);
        let stored = self.input.stored;
        let changes = ChangeSet {
            schools: diff(&stored.schools, self.school_rows(&included), &frozen),
            classes: diff(&stored.classes, classes, &frozen),
            guardians: diff(&stored.guardians, guardians, &frozen),
            guardian_links: diff(&stored.guardian_links, guardian_links, &frozen),
            ..ChangeSet::default()
        };
        let stored_rows = stored
            .people
            .find_each(candidates.iter().map(|c| c.user.sourced_id.as_str()))
            .into_iter()
            .zip(&candidates)
            .map(|(found, candidate)| {
                let (at, old) = found?;
                let email = kept_email(candidate.email, old.email());
                let grades = candidate.user.grades.join(",");
                let fields = person_fields(candidate, old.identity_id(), email, &grades);
                Some(StoredRow {
                    at,
                    same_if_linked_as_before: fields.fingerprint() == old.fingerprint,
                })
            })
            .collect();
        Settled {
            included,
            candidates,
            incomplete,
            frozen,
            stored_rows,
            schools,
            changes,
            imported_classes,
            synced_guardians,
        }
    }

    /// The rest of planning, with the platform users and the stored rows, the memberships
    /// compared (before, so that neither side is held while people are matched) and the
    /// rest settled (while the platform users were read).
    fn complete(mut self, settled: Settled<'a>, membership_changes: MembershipChanges) -> SyncPlan {
        let roster = self.input.roster;
        let Settled {
            included,
            candidates,
            incomplete,
            frozen,
            stored_rows,
            schools,
            mut changes,
            imported_classes,
            synced_guardians,
        } = settled;

        // DataGuard hides emails; matching everyone as unmatched would be a lie.
        let considered = considered(&candidates, &frozen);
        let unusable = considered.iter().filter(|c| c.email.is_err()).count();
        let masked = considered
            .iter()
            .filter(|c| c.email == Err(UnusableEmail::Masked))
            .count();
        let total = considered.len();
        if total > 0
            && (unusable * 100 > total * DATAGUARD_PERCENT
                || masked * 100 > total * DATAGUARD_MASKED_PERCENT)
        {
            let message = format!(
                "{unusable} of {total} people have no usable email ({masked} masked, {} empty or not an address): ClassLink DataGuard appears to hide the email field (more than {DATAGUARD_MASKED_PERCENT}% masked or {DATAGUARD_PERCENT}% unusable), so people cannot be matched safely. Nothing was changed. Turn DataGuard off for this app's email fields.",
                unusable - masked
            );
            return self.failed(ErrorCode::DataGuardMasked, message, &frozen);
        }

        let matched = self.match_people(&candidates, &stored_rows, &frozen);
        let stored = self.input.stored;
        changes.new_identities = matched.new_identities;
        changes.identity_updates = matched.identity_updates;
        changes.people = matched.people;
        changes.memberships = membership_changes;
        self.release_attributes_of_removed(&mut changes);

        // The guard counts people who vanished from the feed: a truncated feed looks like
        // that. People still in the feed but left out on purpose (a SchoolExclusion, an
        // option) are not its business.
        let removed = if changes.people.delete.is_empty() {
            0
        } else {
            let in_feed: HashSet<&str> =
                roster.users.iter().map(|u| u.sourced_id.as_str()).collect();
            changes
                .people
                .delete
                .iter()
                .filter(|id| !in_feed.contains(id.as_str()))
                .count()
        };
        let before = stored.people.len();
        let limit = self.settings().shrink_guard_percent as usize;
        if before > 0 && removed * 100 > before * limit && !self.settings().confirm_shrink {
            let message = format!(
                "{removed} of the {before} people stored for this ClassLinkSync ({}%) are missing from the feed, more than the shrink guard's {limit}%. Nothing was changed. If the removal is real, confirm it.",
                removed * 100 / before
            );
            return self.failed(ErrorCode::ShrinkGuardTripped, message, &frozen);
        }

        let mut counts = matched.counts;
        counts.imported_classes = imported_classes;
        counts.synced_guardians = synced_guardians;
        counts.excluded_schools = self.excluded.len() as u64;
        counts.synced_students = count_role(&considered, PersonRole::Student) as u64;
        counts.synced_teachers = count_role(&considered, PersonRole::Teacher) as u64;
        counts.synced_staff = count_role(&considered, PersonRole::Staff) as u64;

        let (result, error_code, message) = if incomplete.is_empty() {
            let message = format!(
                "Synced {} schools: {} students, {} teachers, {} staff, {} classes, {} guardians; {} unmatched users, {} users created.",
                included.len(),
                counts.synced_students,
                counts.synced_teachers,
                counts.synced_staff,
                counts.imported_classes,
                counts.synced_guardians,
                counts.unmatched_users,
                counts.created_users
            );
            (SyncResult::Succeeded, None, message)
        } else {
            let message = format!(
                "Incomplete data in {} of {} schools ({}): their data in the store was left as it was; the other schools were synced. Fix the data in the SIS, or exclude these schools with a SchoolExclusion.",
                incomplete.len(),
                included.len(),
                self.school_list(&incomplete)
            );
            (
                SyncResult::PartiallySucceeded,
                Some(ErrorCode::IncompleteSchoolData),
                message,
            )
        };
        SyncPlan {
            report: SyncReport {
                result,
                error_code,
                message,
                counts,
                problems: self.problems.into_list(),
                schools,
            },
            changes: Some(changes),
            exclusions: self.exclusions,
        }
    }

    fn failed(self, code: ErrorCode, message: String, frozen: &BTreeSet<String>) -> SyncPlan {
        let schools = self.school_reports(frozen, &[], &[]);
        let mut report = SyncReport::failed(code, message);
        report.counts.excluded_schools = self.excluded.len() as u64;
        report.schools = schools;
        report.problems = self.problems.into_list();
        SyncPlan {
            report,
            changes: None,
            exclusions: self.exclusions,
        }
    }

    /// "Riverside High (org-3), org-9" for messages: school names are not personal data.
    fn school_list(&self, ids: &BTreeSet<String>) -> String {
        ids.iter()
            .map(|id| {
                match self
                    .schools
                    .get(id.as_str())
                    .and_then(|o| o.name.as_deref())
                {
                    Some(name) => format!("{name} ({id})"),
                    None => id.clone(),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn resolve_exclusions(&mut self) {
        for exclusion in self.input.exclusions {
            let mut result = ExclusionResult {
                name: exclusion.name.clone(),
                schools: Vec::new(),
            };
            for school_ref in &exclusion.schools {
                let found = self
                    .input
                    .roster
                    .schools
                    .iter()
                    .find(|school| school_ref.matches(school));
                if let Some(school) = found {
                    self.excluded
                        .entry(school.sourced_id.clone())
                        .or_insert_with(|| exclusion.name.clone());
                }
                result.schools.push((
                    school_ref.clone(),
                    found.map(|s| (s.sourced_id.clone(), s.name.clone().unwrap_or_default())),
                ));
            }
            self.exclusions.push(result);
        }
    }

    /// Enabled students, teachers and staff, less those whose only schools are excluded and,
    /// with Respect Enrolment Date, students without a current enrollment.
    fn candidates(&self, problems: &mut ProblemLog) -> Vec<Candidate<'a>> {
        let roster = self.input.roster;
        let settings = self.settings();
        let currently_enrolled: HashSet<&str> = if settings.respect_enrolment_date {
            self.enrollments
                .get()
                .iter()
                .filter(|e| enrollment_holds(e, self.input.today))
                .filter_map(|e| e.user())
                .collect()
        } else {
            HashSet::new()
        };
        let mut out = Vec::new();
        for user in &roster.users {
            let role = match &user.role {
                Some(Role::Student) => PersonRole::Student,
                Some(Role::Teacher) => PersonRole::Teacher,
                Some(Role::Administrator | Role::Aide | Role::Proctor) => PersonRole::Staff,
                _ => continue,
            };
            if user.enabled_invalid {
                let school = user.orgs.iter().find(|o| self.schools.contains_key(o));
                problems.add("InvalidEnabledUser", school, "users", &user.sourced_id, || {
                    "enabledUser is neither true nor false; the user is treated as disabled and not synced.".into()
                });
            }
            if !user.enabled {
                continue;
            }
            let known: Vec<&str> = user
                .orgs
                .iter()
                .filter(|o| self.schools.contains_key(o))
                .collect();
            let mut schools: Vec<&str> = known
                .iter()
                .filter(|o| !self.excluded.contains_key(**o))
                .copied()
                .collect();
            if !known.is_empty() && schools.is_empty() {
                continue;
            }
            if role == PersonRole::Student
                && settings.respect_enrolment_date
                && !currently_enrolled.contains(user.sourced_id.as_str())
            {
                continue;
            }
            schools.sort();
            schools.dedup();
            out.push(Candidate {
                user,
                role,
                schools,
                email: usable_email(user.email()),
            });
        }
        out
    }

    /// Schools whose records point at records the Roster Server does not list, with a
    /// problem recorded in `problems` for each fault. Faults in excluded schools are not
    /// looked at: excluding them is the cure. With [`Self::check_schools_have_classes`],
    /// the schools whose data is incomplete this time.
    fn check_references(
        &self,
        included: &BTreeSet<String>,
        calendar: &SessionCalendar<'_>,
        problems: &mut ProblemLog,
    ) -> BTreeSet<String> {
        let roster = self.input.roster;
        let mut incomplete = BTreeSet::new();
        let courses: Option<HashSet<&str>> = roster
            .courses
            .as_ref()
            .map(|c| c.iter().map(|c| c.sourced_id.as_str()).collect());
        for class in &roster.classes {
            let Some(school) = class.school.as_deref() else {
                problems.add(
                    "MissingSchoolReference",
                    None,
                    "classes",
                    &class.sourced_id,
                    || "A class names no school; it is not synced.".into(),
                );
                continue;
            };
            if self.excluded.contains_key(school) {
                continue;
            }
            if !self.schools.contains_key(school) {
                problems.add(
                    "DanglingSchoolReference",
                    Some(school),
                    "classes",
                    &class.sourced_id,
                    || "Classes point at a school the Roster Server does not list.".into(),
                );
                incomplete.insert(school.to_owned());
                continue;
            }
            if let (Some(courses), Some(course)) = (&courses, class.course.as_deref())
                && !courses.contains(course)
            {
                problems.add(
                    "DanglingCourseReference",
                    Some(school),
                    "classes",
                    &class.sourced_id,
                    || "Classes point at a course the Roster Server does not list.".into(),
                );
                incomplete.insert(school.to_owned());
            }
            if class.terms.iter().any(|t| !calendar.contains(t)) {
                problems.add(
                    "DanglingTermReference",
                    Some(school),
                    "classes",
                    &class.sourced_id,
                    || "Classes point at a term the Roster Server does not list.".into(),
                );
                incomplete.insert(school.to_owned());
            }
        }

        let classes: HashMap<&str, &Class> = roster
            .classes
            .iter()
            .map(|c| (c.sourced_id.as_str(), c))
            .collect();
        let users: HashSet<&str> = roster.users.iter().map(|u| u.sourced_id.as_str()).collect();
        // Hashed rather than searched in the ordered set.
        let included_schools: HashSet<&str> = included.iter().map(String::as_str).collect();
        // What each of the enrollments' texts is, looked up on its first sight and then read
        // by its number, as the wanted memberships do: a listed class, an included school, a
        // listed person.
        let enrollments = self.enrollments.get();
        let texts = enrollments.distinct_texts();
        let mut as_class: Vec<Known<&Class>> = vec![Known::Unseen; texts];
        let mut as_school: Vec<Option<bool>> = vec![None; texts];
        let mut as_user: Vec<Option<bool>> = vec![None; texts];
        for enrollment in enrollments {
            let class = match (enrollment.class(), enrollment.class_number()) {
                (Some(class), Some(at)) => as_class[at]
                    .resolve(|| classes.get(class).copied())
                    .map(|class| &**class),
                _ => None,
            };
            let (school, included) = match (enrollment.school(), enrollment.school_number()) {
                (Some(school), Some(at)) => (
                    school,
                    *as_school[at].get_or_insert_with(|| included_schools.contains(school)),
                ),
                _ => match class.and_then(|c| c.school.as_deref()) {
                    Some(school) => (school, included_schools.contains(school)),
                    None => continue,
                },
            };
            if !included {
                continue;
            }
            if class.is_none() {
                problems.add(
                    "DanglingClassReference",
                    Some(school),
                    "enrollments",
                    enrollment.sourced_id(),
                    || "Enrollments point at a class the Roster Server does not list.".into(),
                );
                incomplete.insert(school.to_owned());
            }
            let listed = match (enrollment.user(), enrollment.user_number()) {
                (Some(user), Some(at)) => *as_user[at].get_or_insert_with(|| users.contains(user)),
                _ => true,
            };
            if !listed {
                problems.add(
                    "DanglingUserReference",
                    Some(school),
                    "enrollments",
                    enrollment.sourced_id(),
                    || "Enrollments point at a person the Roster Server does not list.".into(),
                );
                incomplete.insert(school.to_owned());
            }
        }

        incomplete
    }

    /// Adds to `incomplete` the included schools that have people but no classes, when
    /// classes are synced.
    fn check_schools_have_classes(
        &mut self,
        included: &BTreeSet<String>,
        candidates: &[Candidate<'_>],
        incomplete: &mut BTreeSet<String>,
    ) {
        let roster = self.input.roster;
        if self.settings().sync_classroom_data {
            let mut with_classes: HashSet<&str> = HashSet::new();
            for class in &roster.classes {
                if let Some(school) = class.school.as_deref() {
                    with_classes.insert(school);
                }
            }
            let mut with_people: BTreeSet<&str> = BTreeSet::new();
            for candidate in candidates {
                for school in &candidate.schools {
                    with_people.insert(school);
                }
            }
            for school in with_people {
                if included.contains(school) && !with_classes.contains(school) {
                    self.problems
                        .add("NoClasses", Some(school), "orgs", school, || {
                            "The school has people but no classes.".into()
                        });
                    incomplete.insert(school.to_owned());
                }
            }
        }
    }

    fn school_rows(&self, included: &BTreeSet<String>) -> Vec<SchoolRow> {
        included
            .iter()
            .filter_map(|id| self.schools.get(id.as_str()))
            .map(|org| SchoolRow {
                sourced_id: org.sourced_id.clone(),
                name: org.name.clone().unwrap_or_default(),
                identifier: org.identifier.clone(),
            })
            .collect()
    }

    fn desired_classes(
        &self,
        included: &BTreeSet<String>,
        calendar: &SessionCalendar<'_>,
    ) -> Vec<ClassRow> {
        let settings = self.settings();
        if !settings.sync_classroom_data {
            return Vec::new();
        }
        self.input
            .roster
            .classes
            .iter()
            .filter_map(|class| {
                let school = class.school.as_deref()?;
                if !included.contains(school) {
                    return None;
                }
                if settings.respect_academic_sessions
                    && !class.terms.iter().any(|t| calendar.holds_today(t))
                {
                    return None;
                }
                Some(ClassRow {
                    sourced_id: class.sourced_id.clone(),
                    school: school.to_owned(),
                    title: class.title.clone(),
                    class_code: class.class_code.clone(),
                    class_type: class.class_type.as_ref().map(|t| t.as_str().to_owned()),
                    course: class.course.clone(),
                    terms: class.terms.join(","),
                })
            })
            .collect()
    }

    /// The memberships of the wanted `people` in the wanted `classes`.
    fn desired_memberships(&self, classes: &[ClassRow], people: &[Candidate<'_>]) -> Memberships {
        let enrollments = self.enrollments.get();
        // Its texts are some of the enrollments' (which name the schools too) and
        // "student".
        let mut out = MembershipsBuilder::with_capacity(enrollments.distinct_texts() + 1);
        // Each class's school numbered once per class, not per enrollment.
        let classes: HashMap<&str, u32> = classes
            .iter()
            .map(|c| (c.sourced_id.as_str(), out.text_str(&c.school)))
            .collect();
        let persons: HashSet<&str> = people
            .iter()
            .map(|person| person.user.sourced_id.as_str())
            .collect();
        let student = out.text_str("student");
        // What each of the enrollments' texts is here, looked up on its first sight and then
        // read by its number: a million enrollments name some 140,000 texts, and looking up
        // every enrollment's was most of this step. A wanted class: its number (given on
        // its first membership, sharing the enrollments' copy of its text) and its school's;
        // a wanted person: its number; a role: its number.
        let texts = enrollments.distinct_texts();
        let mut as_class: Vec<Known<(Option<u32>, u32)>> = vec![Known::Unseen; texts];
        let mut as_person: Vec<Known<Option<u32>>> = vec![Known::Unseen; texts];
        let mut as_role: Vec<Option<u32>> = vec![None; texts];
        // First pass: which enrollments make a membership, with their texts numbered and
        // each class's memberships counted.
        let mut wanted = vec![false; enrollments.len()];
        for (enrollment, wanted) in enrollments.iter().zip(&mut wanted) {
            let (Some(class), Some(user), Some(class_at), Some(user_at)) = (
                enrollment.class_shared(),
                enrollment.user_shared(),
                enrollment.class_number(),
                enrollment.user_number(),
            ) else {
                continue;
            };
            let Some((class_number, _)) =
                as_class[class_at].resolve(|| classes.get(&**class).map(|&school| (None, school)))
            else {
                continue;
            };
            let Some(person_number) =
                as_person[user_at].resolve(|| persons.contains(&**user).then_some(None))
            else {
                continue;
            };
            if self.settings().respect_enrolment_date
                && !enrollment_holds(&enrollment, self.input.today)
            {
                continue;
            }
            let class = *class_number.get_or_insert_with(|| out.text(class));
            person_number.get_or_insert_with(|| out.text(user));
            if let (Some(role), Some(role_at)) =
                (enrollment.role_shared(), enrollment.role_number())
            {
                as_role[role_at].get_or_insert_with(|| out.text(role));
            }
            out.count(class);
            *wanted = true;
        }
        // Second pass: each membership straight into its place among its class's, so the
        // million rows are held once, with no sort of them all.
        let mut out = out.into_placing();
        let numbered = "numbered in the first pass";
        for (enrollment, _) in enrollments.iter().zip(&wanted).filter(|(_, w)| **w) {
            let (Some(class_at), Some(user_at)) =
                (enrollment.class_number(), enrollment.user_number())
            else {
                unreachable!("an enrollment without class or person is not wanted")
            };
            let Known::Wanted((Some(class), school)) = as_class[class_at] else {
                unreachable!("{numbered}")
            };
            let Known::Wanted(Some(person)) = as_person[user_at] else {
                unreachable!("{numbered}")
            };
            let role = match enrollment.role_number() {
                Some(role_at) => as_role[role_at].expect(numbered),
                None => student,
            };
            out.place(class, person, role, school);
        }
        // One membership per class and person, the first enrollment's: the rows are placed
        // in the enrollments' order. No set of a million key pairs is built, and the rows
        // come out as the comparison walks them.
        out.finish()
    }

    /// Users of the chosen relationship type who are agents of synced students (the link
    /// may be recorded on either side).
    fn desired_guardians(
        &mut self,
        candidates: &[Candidate<'_>],
    ) -> (Vec<GuardianRow>, Vec<GuardianLinkRow>) {
        let Some(role) = self.settings().guardian_role else {
            return (Vec::new(), Vec::new());
        };
        let students: HashMap<&str, &Candidate> = candidates
            .iter()
            .filter(|c| c.role == PersonRole::Student)
            .map(|c| (c.user.sourced_id.as_str(), c))
            .collect();
        let guardians: HashMap<&str, &User> = self
            .input
            .roster
            .users
            .iter()
            .filter(|u| u.enabled && u.role.as_ref().is_some_and(|r| role.matches(r)))
            .map(|u| (u.sourced_id.as_str(), u))
            .collect();
        // Each (guardian, student) link, recorded on either side or both: sorted and made
        // distinct after, so that a guardian's links come together, in key order.
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (&id, student) in &students {
            for agent in student.user.agents.iter() {
                if let Some((&guardian, _)) = guardians.get_key_value(agent) {
                    pairs.push((guardian, id));
                }
            }
        }
        for (&id, guardian) in &guardians {
            for agent in guardian.agents.iter() {
                if let Some((&student, _)) = students.get_key_value(agent) {
                    pairs.push((id, student));
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let stored_emails: HashMap<&str, &str> = self
            .input
            .stored
            .guardians
            .iter()
            .filter_map(|g| Some((g.sourced_id.as_str(), g.email.as_deref()?)))
            .collect();
        let mut links = Vec::with_capacity(pairs.len());
        let mut rows = Vec::new();
        for links_of_one in pairs.chunk_by(|a, b| a.0 == b.0) {
            let id = links_of_one[0].0;
            // The schools of the guardian's students, sorted, each once.
            let mut schools: Vec<&str> = Vec::new();
            for &(_, student) in links_of_one {
                let student_schools = &students[student].schools;
                schools.extend(student_schools);
                links.push(GuardianLinkRow {
                    guardian: id.to_owned(),
                    student: student.to_owned(),
                    relationship: role.as_str().to_owned(),
                    schools: student_schools.iter().map(|s| (*s).to_owned()).collect(),
                });
            }
            schools.sort_unstable();
            schools.dedup();
            let user = guardians[id];
            if let Some(Err(UnusableEmail::Masked | UnusableEmail::NotAnEmail)) =
                user.email().map(|e| usable_email(Some(e)))
            {
                let school = schools.first().copied();
                self.problems.add("UnusableGuardianEmail", school, "users", id, || {
                    "Guardians whose email is masked by DataGuard or not an address keep the email stored before.".into()
                });
            }
            rows.push(GuardianRow {
                sourced_id: id.to_owned(),
                relationship: role.as_str().to_owned(),
                given_name: user.given_name().map(str::to_owned),
                family_name: user.family_name().map(str::to_owned),
                email: kept_email(usable_email(user.email()), stored_emails.get(id).copied())
                    .map(str::to_owned),
                phone: user.phone().map(str::to_owned),
                sms: user.sms().map(str::to_owned),
                schools: schools.into_iter().map(str::to_owned).collect(),
            });
        }
        (rows, links)
    }

    /// Links each person to a platform user, creating users unless attach-only, and
    /// compares the people with the stored ones as [`diff`] compares other rows: rows of a
    /// `frozen` school are left as stored, and rows come out in key order. A row is made
    /// only for a person who is new or whose row changed, found by its fingerprint: an
    /// unchanged night makes none.
    /// `stored_rows` are [`Settled::stored_rows`].
    fn match_people(
        &mut self,
        candidates: &[Candidate<'_>],
        stored_rows: &[Option<StoredRow>],
        frozen: &BTreeSet<String>,
    ) -> Matched {
        let settings = self.settings();
        let stored = &self.input.stored.people;
        // The users by id, and by match key: the key is built on a thread of its own (every
        // user's email is checked for it), both over a district's hundred thousand users.
        let platform_users = self.input.identities;
        let (identities, index) = std::thread::scope(|scope| {
            let indexing = scope.spawn(|| {
                let mut index = IdentityIndex::with_capacity(platform_users.len());
                for identity in platform_users {
                    if let Ok(key) = match_key(identity.email.as_deref(), settings.merge_key) {
                        index.add(key, &identity.id);
                    }
                }
                index
            });
            let identities: HashMap<&str, usize> = platform_users
                .iter()
                .enumerate()
                .map(|(at, i)| (i.id.as_str(), at))
                .collect();
            let index = indexing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (identities, index)
        });
        // The users this sync creates, by match key (the key borrowed from the feed), as
        // their place in `new_identities`.
        let mut created = HashMap::default();

        let mut out = Matched::default();
        // Everyone not stored yet gets a new row (a first sync: everyone). Room for them at
        // once: grown by doubling, the rows were held one and a half times over at the last
        // step, the peak of a large district's first sync.
        let new_people = stored_rows.iter().filter(|row| row.is_none()).count();
        out.people.insert.reserve_exact(new_people);
        // Which users a person claimed (the first to meet a user sets its attributes).
        let mut claimed = vec![false; platform_users.len()];
        // Which stored people a wanted one met; the others are no longer wanted.
        let mut met = vec![false; stored.len()];
        for (candidate, stored_row) in candidates.iter().zip(stored_rows) {
            let found = stored_row.map(|row| (row.at, stored.at(row.at)));
            let user = candidate.user;
            // Of two wanted rows with one key (the engine makes none), the first meets the
            // stored row and the second is new, as `diff` has it.
            let old = found.filter(|(at, _)| !met[*at]).map(|(at, old)| {
                met[at] = true;
                old
            });
            let in_frozen = candidate.schools.iter().any(|s| frozen.contains(*s));
            // The user this ClassLinkSync linked the person to before, if it still exists.
            let stored_link = found
                .and_then(|(_, person)| person.identity_id())
                .and_then(|id| Some((id, *identities.get(id)?)));
            let identity_id = if in_frozen {
                // Not synced this time: the stored row stays as it is.
                stored_link.map(|(id, _)| id.to_owned())
            } else {
                let link = stored_link.map(|(id, _)| id);
                self.match_one(candidate, link, &index, &mut created, &mut out)
            };
            // The platform user linked to, found once: most nights, the stored link.
            let linked = match (&identity_id, stored_link) {
                (Some(id), Some((link, at))) if id == link => Some(at),
                (Some(id), _) => identities.get(id.as_str()).copied(),
                (None, _) => None,
            };
            if let Some(at) = linked
                && !in_frozen
                && !std::mem::replace(&mut claimed[at], true)
                && let Some(updated) = self.claim_attributes(&platform_users[at], candidate)
            {
                out.identity_updates.push(updated);
            }
            if in_frozen || old.is_some_and(|old| old.touches(frozen)) {
                continue;
            }
            let email = kept_email(candidate.email, found.and_then(|(_, p)| p.email()));
            if let (Some(old), Some(stored_row)) = (old, stored_row) {
                // Linked as before, the row was compared while the users were read.
                let unchanged = if identity_id.as_deref() == old.identity_id() {
                    stored_row.same_if_linked_as_before
                } else {
                    let grades = user.grades.join(",");
                    let fields = person_fields(candidate, identity_id.as_deref(), email, &grades);
                    fields.fingerprint() == old.fingerprint
                };
                if unchanged {
                    continue;
                }
            }
            let row = PersonRow {
                sourced_id: user.sourced_id.clone(),
                identity_id,
                role: candidate.role,
                email: email.map(str::to_owned),
                username: user.username().map(str::to_owned),
                given_name: user.given_name().map(str::to_owned),
                family_name: user.family_name().map(str::to_owned),
                identifier: user.identifier().map(str::to_owned),
                grades: user.grades.join(","),
                schools: candidate.schools.iter().map(|s| (*s).to_owned()).collect(),
            };
            if old.is_some() {
                out.people.update.push(row);
            } else {
                out.people.insert.push(row);
            }
        }
        out.people.delete = stored
            .iter()
            .zip(&met)
            .filter(|(old, met)| !**met && !old.touches(frozen))
            .map(|(old, _)| old.sourced_id().to_owned())
            .collect();
        // In key order, as `diff` gives them; stable, so two rows with one key keep theirs.
        out.people
            .insert
            .sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
        out.people
            .update
            .sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
        out
    }

    fn match_one<'c>(
        &mut self,
        candidate: &Candidate<'c>,
        stored_link: Option<&str>,
        index: &IdentityIndex<'_>,
        created: &mut HashMap<&'c str, usize>,
        out: &mut Matched,
    ) -> Option<String> {
        let settings = self.settings();
        let user = candidate.user;
        let school = candidate.schools.first().copied();
        let key = match candidate
            .email
            .map(|email| key_of(email, settings.merge_key))
        {
            Ok(key) => Ok(key),
            Err(why) => {
                self.problems
                    .add(why.problem_code(), school, "users", &user.sourced_id, || {
                        "People without a usable email (empty, masked by DataGuard, or not an address) cannot be matched to existing users; they are left unmatched and their stored email is kept.".into()
                    });
                Err(why)
            }
        };
        // The link this ClassLinkSync made before rests on the sourcedId, which DataGuard
        // does not hide: it stays, whatever the email says now.
        if let Some(id) = stored_link {
            out.counts.count_matched(candidate.role);
            return Some(id.to_owned());
        }
        // A masked or missing key never looks a user up and never creates one: every `****`
        // would be one key, and a created user would duplicate the real one.
        let Ok(key) = key else {
            out.counts.unmatched_users += 1;
            return None;
        };
        match index.lookup(key) {
            Lookup::One(id) => {
                out.counts.count_matched(candidate.role);
                Some(id.to_owned())
            }
            Lookup::Ambiguous(n) => {
                self.problems
                    .add("AmbiguousMatch", school, "users", &user.sourced_id, || {
                        format!("The person's match key is shared by {n} existing users; the person is left unmatched.")
                    });
                out.counts.unmatched_users += 1;
                None
            }
            Lookup::None => {
                out.counts.unmatched_users += 1;
                if let Some(&at) = created.get(key) {
                    // The user this sync created for someone else with the same key.
                    return Some(out.new_identities[at].id.clone());
                }
                if settings.attach_only {
                    return None;
                }
                let identity = Identity {
                    id: identity_id_for(&settings.namespace, &settings.provider, &user.sourced_id),
                    email: user.email().map(str::to_owned),
                    given_name: user.given_name().map(str::to_owned),
                    family_name: user.family_name().map(str::to_owned),
                    role: Some(candidate.role.as_str().to_owned()),
                    source: format!("classlinksync/{}", settings.provider),
                    attributes_from: Some(settings.provider.clone()),
                    attributes_priority: Some(settings.priority),
                };
                created.insert(key, out.new_identities.len());
                out.counts.created_users += 1;
                let id = identity.id.clone();
                out.new_identities.push(identity);
                Some(id)
            }
        }
    }

    /// The user's new attributes when this provider's priority lets it set them and they
    /// differ from what the user has.
    fn claim_attributes(&self, identity: &Identity, candidate: &Candidate<'_>) -> Option<Identity> {
        let settings = self.settings();
        let may_set = match (&identity.attributes_from, identity.attributes_priority) {
            (None, _) => true,
            (Some(from), _) if *from == settings.provider => true,
            (Some(_), Some(priority)) => settings.priority > priority,
            (Some(_), None) => true,
        };
        if !may_set {
            return None;
        }
        // Compared first: most nights nothing changes, and a copy of each matched user
        // would only be thrown away.
        let user = candidate.user;
        let unchanged = identity.given_name.as_deref() == user.given_name()
            && identity.family_name.as_deref() == user.family_name()
            && identity.role.as_deref() == Some(candidate.role.as_str())
            && identity.attributes_from.as_deref() == Some(settings.provider.as_str())
            && identity.attributes_priority == Some(settings.priority);
        if unchanged {
            return None;
        }
        let updated = Identity {
            given_name: candidate.user.given_name().map(str::to_owned),
            family_name: candidate.user.family_name().map(str::to_owned),
            role: Some(candidate.role.as_str().to_owned()),
            attributes_from: Some(settings.provider.clone()),
            attributes_priority: Some(settings.priority),
            ..identity.clone()
        };
        Some(updated)
    }

    /// A user whose attributes came from a person this provider no longer has is released,
    /// so a lower-priority provider may set them again.
    fn release_attributes_of_removed(&self, changes: &mut ChangeSet) {
        let provider = &self.settings().provider;
        let removed: HashSet<&str> = changes.people.delete.iter().map(String::as_str).collect();
        let removed_identities: HashSet<&str> = self
            .input
            .stored
            .people
            .iter()
            .filter(|p| removed.contains(p.sourced_id()))
            .filter_map(|p| p.identity_id())
            .collect();
        let still_linked: HashSet<String> = changes
            .identity_updates
            .iter()
            .map(|i| i.id.clone())
            .collect();
        let mut released: Vec<Identity> = self
            .input
            .identities
            .iter()
            .filter(|identity| {
                removed_identities.contains(identity.id.as_str())
                    && identity.attributes_from.as_ref() == Some(provider)
                    && !still_linked.contains(&identity.id)
            })
            .map(|identity| Identity {
                attributes_from: None,
                attributes_priority: None,
                ..identity.clone()
            })
            .collect();
        // By id, whatever order the users came in.
        released.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        changes.identity_updates.extend(released);
    }

    fn school_reports(
        &self,
        frozen: &BTreeSet<String>,
        people: &[&Candidate<'_>],
        classes: &[ClassRow],
    ) -> Vec<SchoolReport> {
        let mut counts: BTreeMap<&str, SchoolCounts> = BTreeMap::new();
        for person in people {
            for school in &person.schools {
                let c = counts.entry(school).or_default();
                match person.role {
                    PersonRole::Student => c.students += 1,
                    PersonRole::Teacher => c.teachers += 1,
                    PersonRole::Staff => c.staff += 1,
                }
            }
        }
        for class in classes {
            counts.entry(class.school.as_str()).or_default().classes += 1;
        }
        self.schools
            .values()
            .map(|org| {
                let id = org.sourced_id.as_str();
                let excluded_by = self.excluded.get(id).cloned();
                let complete = !frozen.contains(id);
                SchoolReport {
                    sourced_id: id.to_owned(),
                    name: org.name.clone().unwrap_or_default(),
                    identifier: org.identifier.clone(),
                    included: excluded_by.is_none(),
                    excluded_by,
                    complete,
                    counts: if complete {
                        counts.get(id).copied().unwrap_or_default()
                    } else {
                        SchoolCounts::default()
                    },
                }
            })
            .collect()
    }
}

/// What the rest of planning decides before the platform users are in, while they are
/// read: the schools, classes and guardians compared with the stored ones (matching does
/// not touch them), the schools' report, and each person's stored row.
struct Settled<'a> {
    included: BTreeSet<String>,
    candidates: Vec<Candidate<'a>>,
    incomplete: BTreeSet<String>,
    frozen: BTreeSet<String>,
    /// For each candidate, its stored row, if any.
    stored_rows: Vec<Option<StoredRow>>,
    schools: Vec<SchoolReport>,
    /// The schools, classes, guardians and their links compared.
    changes: ChangeSet,
    imported_classes: u64,
    synced_guardians: u64,
}

/// A candidate's stored row.
#[derive(Debug, Clone, Copy)]
struct StoredRow {
    /// Where it is among the stored people.
    at: usize,
    /// Whether the person's row is the stored one when matching links the person to the
    /// user the stored row names (as an unchanged night does): its fingerprint, compared
    /// ahead.
    same_if_linked_as_before: bool,
}

/// The candidates not in a `frozen` school: the people this sync considers.
fn considered<'c, 'a>(
    candidates: &'c [Candidate<'a>],
    frozen: &BTreeSet<String>,
) -> Vec<&'c Candidate<'a>> {
    candidates
        .iter()
        .filter(|c| !c.schools.iter().any(|s| frozen.contains(*s)))
        .collect()
}

/// A candidate's row as [`PersonFields`], linked to `identity_id`, with `email` and
/// `grades` as the row keeps them.
fn person_fields<'c>(
    candidate: &'c Candidate<'_>,
    identity_id: Option<&'c str>,
    email: Option<&'c str>,
    grades: &'c str,
) -> PersonFields<'c, &'c str> {
    let user = candidate.user;
    PersonFields {
        sourced_id: &user.sourced_id,
        identity_id,
        role: candidate.role,
        email,
        username: user.username(),
        given_name: user.given_name(),
        family_name: user.family_name(),
        identifier: user.identifier(),
        grades,
        schools: &candidate.schools,
    }
}

#[derive(Default)]
struct Matched {
    /// The people's rows to write.
    people: TableChanges<PersonRow>,
    new_identities: Vec<Identity>,
    identity_updates: Vec<Identity>,
    counts: Counts,
}

impl Counts {
    fn count_matched(&mut self, role: PersonRole) {
        match role {
            PersonRole::Student => self.matched_students += 1,
            PersonRole::Teacher => self.matched_teachers += 1,
            PersonRole::Staff => self.matched_staff += 1,
        }
    }
}

/// The email to store for a record: the feed's when it is a usable address, otherwise the
/// one stored before (if any). A mask, a blank or junk never replaces a stored email.
fn kept_email<'a>(
    feed: Result<&'a str, UnusableEmail>,
    stored: Option<&'a str>,
) -> Option<&'a str> {
    match feed {
        Ok(email) => Some(email),
        Err(_) => stored,
    }
}

fn count_role(people: &[&Candidate<'_>], role: PersonRole) -> usize {
    people.iter().filter(|p| p.role == role).count()
}

/// A platform user id for a person this provider creates: derived from the namespace,
/// provider and sourcedId, so a sync that is rolled back and run again creates the same id.
pub fn identity_id_for(namespace: &str, provider: &str, sourced_id: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [namespace, provider, sourced_id] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    // Written digit by digit: a first sync makes an id for each of a district's people.
    let mut id = String::with_capacity(3 + 24);
    id.push_str("cl-");
    for byte in &digest[..12] {
        for digit in [byte >> 4, byte & 0xf] {
            id.push(char::from_digit(u32::from(digit), 16).expect("a digit under 16"));
        }
    }
    id
}

#[cfg(test)]
mod tests;
