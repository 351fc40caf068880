//! Each rule of the sync on its own, on small hand-made districts.

use jiff::civil::{Date, date};

use super::model::{Identity, ProviderSnapshot};
use super::*;
use crate::oneroster::records::{
    AcademicSession, Class, Course, Enrollment, Org, OrgType, Role, Roster, SessionType, Status,
    TextList, User, UserText, UserTexts,
};

const TODAY: Date = date(2026, 11, 28);

/// A district builder: one school year holding today with a current and a past term.
#[derive(Clone)]
struct District {
    roster: Roster,
}

impl District {
    fn new() -> Self {
        let session = |id: &str, start: Date, end: Date, parent: Option<&str>| AcademicSession {
            sourced_id: id.into(),
            status: Status::Active,
            session_type: Some(if parent.is_some() {
                SessionType::Term
            } else {
                SessionType::SchoolYear
            }),
            start_date: Some(start),
            end_date: Some(end),
            parent: parent.map(str::to_owned),
            school_year: Some("2027".into()),
        };
        Self {
            roster: Roster {
                academic_sessions: vec![
                    session("y-now", date(2026, 8, 1), date(2027, 6, 30), None),
                    session("y-past", date(2025, 8, 1), date(2026, 6, 30), None),
                    session("t-now", date(2026, 8, 1), date(2026, 12, 18), Some("y-now")),
                    session(
                        "t-past",
                        date(2025, 8, 1),
                        date(2025, 12, 18),
                        Some("y-past"),
                    ),
                ],
                courses: Some(vec![Course {
                    sourced_id: "course-1".into(),
                    status: Status::Active,
                    org: None,
                }]),
                ..Roster::default()
            },
        }
    }

    fn school(mut self, id: &str, name: &str) -> Self {
        self.roster.schools.push(Org {
            sourced_id: id.into(),
            status: Status::Active,
            name: Some(name.into()),
            org_type: Some(OrgType::School),
            identifier: Some(format!("ID-{id}")),
            parent: None,
        });
        self
    }

    fn user(mut self, id: &str, role: Role, email: Option<&str>, schools: &[&str]) -> Self {
        self.roster.users.push(User {
            sourced_id: id.into(),
            status: Status::Active,
            enabled: true,
            enabled_invalid: false,
            role: Some(role),
            texts: UserTexts::new([
                email,
                None,
                Some(&format!("Given-{id}")),
                Some(&format!("Family-{id}")),
                None,
                Some("+1 555 0100"),
                None,
            ]),
            orgs: schools.iter().collect(),
            agents: TextList::default(),
            grades: TextList::default(),
        });
        self
    }

    fn student(self, id: &str, school: &str) -> Self {
        let email = format!("{id}@riverside.edu");
        self.user(id, Role::Student, Some(&email), &[school])
    }

    fn teacher(self, id: &str, school: &str) -> Self {
        let email = format!("{id}@riverside.edu");
        self.user(id, Role::Teacher, Some(&email), &[school])
    }

    fn class(mut self, id: &str, school: &str, term: &str) -> Self {
        self.roster.classes.push(Class {
            sourced_id: id.into(),
            status: Status::Active,
            title: Some(format!("Class {id}")),
            class_code: None,
            class_type: None,
            course: Some("course-1".into()),
            school: Some(school.into()),
            terms: vec![term.into()],
        });
        self
    }

    fn enroll(self, user: &str, class: &str, begin: Option<Date>, end: Option<Date>) -> Self {
        let school = self
            .roster
            .classes
            .iter()
            .find(|c| c.sourced_id == class)
            .and_then(|c| c.school.clone());
        self.enroll_naming(user, class, school.as_deref(), begin, end)
    }

    /// An enrollment naming `school` (or none), whatever the class's school is.
    fn enroll_naming(
        mut self,
        user: &str,
        class: &str,
        school: Option<&str>,
        begin: Option<Date>,
        end: Option<Date>,
    ) -> Self {
        let n = self.roster.enrollments.len();
        self.roster.enrollments.push(Enrollment {
            sourced_id: format!("e-{n}"),
            status: Status::Active,
            user: Some(user.into()),
            class: Some(class.into()),
            school: school.map(String::from),
            role: Some(Role::Student),
            primary: None,
            begin_date: begin,
            end_date: end,
        });
        self
    }

    fn agent(mut self, student: &str, guardian: &str) -> Self {
        if let Some(s) = self
            .roster
            .users
            .iter_mut()
            .find(|u| u.sourced_id == student)
        {
            s.agents.push(guardian);
        }
        self
    }

    /// Two schools, each with a current class, a teacher and students enrolled.
    fn two_schools() -> Self {
        District::two_schools_unenrolled()
            .enroll("p1", "c1", None, None)
            .enroll("p2", "c1", None, None)
            .enroll("p3", "c2", None, None)
    }

    /// [`District::two_schools`] before its students are enrolled.
    fn two_schools_unenrolled() -> Self {
        District::new()
            .school("s1", "Riverside Elementary")
            .school("s2", "Oak Middle")
            .class("c1", "s1", "t-now")
            .class("c2", "s2", "t-now")
            .teacher("t1", "s1")
            .teacher("t2", "s2")
            .student("p1", "s1")
            .student("p2", "s1")
            .student("p3", "s2")
    }
}

fn settings() -> SyncSettings {
    SyncSettings {
        namespace: "schools".into(),
        provider: "riverside".into(),
        sync_classroom_data: true,
        respect_enrolment_date: false,
        respect_academic_sessions: false,
        guardian_role: None,
        merge_key: MergeKey::Email,
        priority: 100,
        attach_only: false,
        shrink_guard_percent: 30,
        confirm_shrink: false,
    }
}

fn identity(id: &str, email: &str) -> Identity {
    Identity {
        id: id.into(),
        email: Some(email.into()),
        given_name: None,
        family_name: None,
        role: None,
        source: "import".into(),
        attributes_from: None,
        attributes_priority: None,
    }
}

fn run(
    settings: &SyncSettings,
    roster: &Roster,
    identities: &[Identity],
    stored: &ProviderSnapshot,
    exclusions: &[Exclusion],
) -> SyncPlan {
    let input = SyncInput {
        settings,
        exclusions,
        today: TODAY,
        roster,
        identities,
        stored,
    };
    let planned = plan(&input);
    // The platform users come in any order (a sync reads them by id, `Store::identities`
    // sorts them by email): the plan is the same.
    let reversed: Vec<Identity> = identities.iter().rev().cloned().collect();
    assert_eq!(
        plan(&SyncInput {
            identities: &reversed,
            ..input
        }),
        planned,
        "the platform users' order changed the plan"
    );
    // The sync's own path, which hands the enrollments over to be freed once the wanted
    // memberships are known, only then reads the stored rows, and reads the platform users
    // once the memberships are compared, decides exactly the same.
    let (handing_over, read) = plan_in_parts(&input, stored.clone(), identities);
    assert_eq!(read.classes, None, "every stored membership was at hand");
    // The store is read unless the roster alone decided the sync fails.
    let store_read = !matches!(
        planned.report.error_code,
        Some(ErrorCode::NoSchoolsLeft | ErrorCode::AllSchoolsIncomplete)
    );
    assert_eq!(read.began, store_read);
    assert_eq!(read.users, store_read);
    assert_eq!(handing_over, planned);

    // With the digests of the stored classes' memberships in place of the rows, only the
    // classes whose digests differ are read back; the plan is the same but for the
    // digests it writes, which are then those of the classes read.
    let stored_digests = stored.memberships.digests();
    let with_digests = ProviderSnapshot {
        memberships: Memberships::default(),
        membership_digests: Some(stored_digests.clone()),
        ..stored.clone()
    };
    let (mut by_digest, read) = plan_in_parts(&input, with_digests, identities);
    let mut planned_without_digests = planned.clone();
    if let (Some(full), Some(partial)) = (
        planned_without_digests.changes.as_mut(),
        by_digest.changes.as_mut(),
    ) {
        let (full, partial) = (
            full.memberships.digests.take().expect("digests kept"),
            partial.memberships.digests.take().expect("digests kept"),
        );
        assert!(full.replace_all && !partial.replace_all);
        // None read when no class differs.
        let read = read.classes.clone().unwrap_or_default();
        assert_eq!(
            partial
                .put
                .iter()
                .map(|(c, _)| c)
                .chain(&partial.remove)
                .collect::<BTreeSet<_>>(),
            read.iter().collect(),
            "each class read has its digest written or removed, and no other"
        );
        // Both leave the store with the digests of the rows as they are after the sync.
        let mut after = stored.clone();
        apply(&planned, &mut after, &mut Vec::new());
        let true_digests = after.memberships.digests();
        assert_eq!(stored_digests.after(&full), true_digests);
        assert_eq!(stored_digests.after(&partial), true_digests);
    }
    assert_eq!(by_digest, planned_without_digests);
    planned
}

/// What [`plan_in_parts`] saw its planning read.
struct Read {
    /// Whether the transaction began.
    began: bool,
    /// Whether the platform users were read.
    users: bool,
    /// The classes whose memberships were read back, when the stored rows came as digests.
    classes: Option<Vec<Text>>,
}

/// The store under the lock as the tests' planning reads it.
struct TestLocked<'a> {
    stored: Memberships,
    identities: &'a [Identity],
    read: &'a mut Read,
}

impl<'a> Locked<std::convert::Infallible> for TestLocked<'a> {
    type Users = Box<dyn FnOnce() -> Result<Vec<Identity>, std::convert::Infallible> + 'a>;

    fn memberships_of(
        &mut self,
        classes: &[Text],
    ) -> Result<Memberships, std::convert::Infallible> {
        assert!(
            self.read.classes.is_none(),
            "memberships are read back once"
        );
        assert!(classes.is_sorted() && !classes.is_empty());
        self.read.classes = Some(classes.to_vec());
        let mut read = self.stored.clone();
        read.retain_classes(classes);
        Ok(read)
    }

    fn read_platform_users(self) -> Self::Users {
        // Starts reading; what it returns waits for the users.
        Box::new(move || {
            self.read.users = true;
            Ok(self.identities.to_vec())
        })
    }
}

/// Plans through [`plan_then_begin`], the store giving `stored` and `identities`; when
/// `stored` holds digests, the memberships read back are those of `input.stored`.
fn plan_in_parts(
    input: &SyncInput<'_>,
    mut stored: ProviderSnapshot,
    identities: &[Identity],
) -> (SyncPlan, Read) {
    let mut roster = input.roster.clone();
    let enrollments = std::mem::take(&mut roster.enrollments);
    let mut read = Read {
        began: false,
        users: false,
        classes: None,
    };
    let stored_people = stored.people.clone();
    let read_slot = &mut read;
    let (plan, leftovers) = plan_then_begin(
        &SyncInput {
            roster: &roster,
            identities: &[],
            stored: &ProviderSnapshot::default(),
            ..*input
        },
        enrollments,
        || {
            read_slot.began = true;
            let locked = TestLocked {
                // What the store holds under the digests, when it gave digests.
                stored: match stored.membership_digests {
                    Some(_) => input.stored.memberships.clone(),
                    None => Memberships::default(),
                },
                identities,
                read: read_slot,
            };
            Ok::<_, std::convert::Infallible>((std::mem::take(&mut stored), locked))
        },
    )
    .unwrap_or_else(|never| match never {});
    // What planning read is handed back, to be freed off the sync's path.
    if read.users {
        assert_eq!(leftovers.platform_users, identities);
        assert_eq!(leftovers.stored.people, stored_people);
    } else {
        assert!(leftovers.platform_users.is_empty());
    }
    (plan, read)
}

/// A sync into an empty store with no platform users.
fn on_empty_store(settings: &SyncSettings, roster: &Roster, exclusions: &[Exclusion]) -> SyncPlan {
    run(
        settings,
        roster,
        &[],
        &ProviderSnapshot::default(),
        exclusions,
    )
}

/// The stored forms of a table's rows after `changes`, as the store would load them back.
fn apply_compared<'s, T: model::Row<Key = String>, S: Clone + 's>(
    stored: impl Iterator<Item = &'s S>,
    id: fn(&S) -> &str,
    changes: &model::TableChanges<T>,
    keep: fn(&T) -> S,
) -> Vec<S> {
    let mut rows: Vec<S> = stored
        .filter(|s| {
            !changes.delete.iter().any(|k| k == id(s))
                && !changes.update.iter().any(|u| u.key() == id(s))
        })
        .cloned()
        .collect();
    rows.extend(changes.update.iter().map(keep));
    rows.extend(changes.insert.iter().map(keep));
    rows
}

/// Applies a plan's changes to a stored snapshot and identity list, as the store would.
fn apply(plan: &SyncPlan, stored: &mut ProviderSnapshot, identities: &mut Vec<Identity>) {
    fn apply_table<T: model::Row>(rows: &mut Vec<T>, changes: &model::TableChanges<T>) {
        rows.retain(|r| !changes.delete.contains(&r.key()));
        for updated in &changes.update {
            if let Some(row) = rows.iter_mut().find(|r| r.key() == updated.key()) {
                *row = updated.clone();
            }
        }
        rows.extend(changes.insert.iter().cloned());
    }
    let changes = plan.changes.as_ref().expect("a plan with changes");
    identities.extend(changes.new_identities.iter().cloned());
    for updated in &changes.identity_updates {
        if let Some(i) = identities.iter_mut().find(|i| i.id == updated.id) {
            *i = updated.clone();
        }
    }
    apply_table(&mut stored.schools, &changes.schools);
    // Stored people and classes are compared by fingerprint: the written rows are what
    // the store would load them from.
    stored.people = apply_compared(
        stored.people.iter(),
        |p| p.sourced_id(),
        &changes.people,
        |row| people::StoredPerson::from(row),
    )
    .into_iter()
    .collect();
    stored.classes = apply_compared(
        stored.classes.iter(),
        |c| &c.sourced_id,
        &changes.classes,
        |row| people::StoredClass::from(row),
    );
    let mut memberships: Vec<_> = stored.memberships.iter().collect();
    apply_table(
        &mut memberships,
        &model::TableChanges {
            insert: changes.memberships.insert.iter().collect(),
            update: changes.memberships.update.clone(),
            delete: changes.memberships.delete.clone(),
        },
    );
    stored.memberships = memberships.into_iter().collect();
    apply_table(&mut stored.guardians, &changes.guardians);
    apply_table(&mut stored.guardian_links, &changes.guardian_links);
}

#[test]
fn first_sync_creates_everyone_and_a_second_identical_sync_matches_everyone_and_writes_nothing() {
    let district = District::two_schools();
    let mut stored = ProviderSnapshot::default();
    let mut identities = Vec::new();

    let first = run(&settings(), &district.roster, &identities, &stored, &[]);
    assert_eq!(first.report.result, SyncResult::Succeeded);
    assert_eq!(first.report.counts.unmatched_users, 5);
    assert_eq!(first.report.counts.created_users, 5);
    assert_eq!(first.report.counts.matched_students, 0);
    assert_eq!(first.report.counts.imported_classes, 2);
    // A first sync matches no one, yet it synced everyone: the synced totals say so.
    assert_eq!(
        (
            first.report.counts.synced_students,
            first.report.counts.synced_teachers,
            first.report.counts.synced_staff
        ),
        (3, 2, 0)
    );
    apply(&first, &mut stored, &mut identities);
    assert_eq!(identities.len(), 5);

    let second = run(&settings(), &district.roster, &identities, &stored, &[]);
    let counts = second.report.counts;
    assert_eq!(
        (
            counts.unmatched_users,
            counts.matched_students,
            counts.matched_teachers,
            counts.created_users
        ),
        (0, 3, 2, 0)
    );
    assert_eq!(
        (counts.synced_students, counts.synced_teachers),
        (3, 2),
        "matched or not, the same people were synced"
    );
    assert_eq!(
        second.changes.expect("changes").rows(),
        0,
        "an unchanged district writes nothing"
    );
}

/// With the stored classes' digests in place of their memberships, an unchanged night
/// reads no membership back, and a night that changes one class reads that class only.
#[test]
fn only_the_classes_whose_memberships_changed_are_read_back() {
    let district = District::two_schools();
    let mut stored = ProviderSnapshot::default();
    let mut identities = Vec::new();
    let first = run(&settings(), &district.roster, &identities, &stored, &[]);
    apply(&first, &mut stored, &mut identities);
    let with_digests = |stored: &ProviderSnapshot| ProviderSnapshot {
        memberships: Memberships::default(),
        membership_digests: Some(stored.memberships.digests()),
        ..stored.clone()
    };
    let settings = settings();
    let input = |roster| SyncInput {
        settings: &settings,
        exclusions: &[],
        today: TODAY,
        roster,
        identities: &identities,
        stored: &stored,
    };

    let (unchanged, read) =
        plan_in_parts(&input(&district.roster), with_digests(&stored), &identities);
    assert_eq!(read.classes, None);
    let changes = unchanged.changes.expect("changes");
    assert_eq!(changes.rows(), 0);
    assert_eq!(changes.memberships.digests, Some(Default::default()));

    // p2 leaves c1; c2 is as it was.
    let changed = District::two_schools_unenrolled()
        .enroll("p1", "c1", None, None)
        .enroll("p3", "c2", None, None);
    let (plan, read) = plan_in_parts(&input(&changed.roster), with_digests(&stored), &identities);
    assert_eq!(read.classes, Some(vec![Text::from("c1")]));
    let changes = plan.changes.expect("changes");
    assert_eq!(
        changes.memberships.delete,
        vec![(Text::from("c1"), Text::from("p2"))]
    );
    let digests = changes.memberships.digests.expect("digests kept");
    assert_eq!(
        digests
            .put
            .iter()
            .map(|(c, _)| c.to_string())
            .collect::<Vec<_>>(),
        ["c1"]
    );
}

#[test]
fn email_merge_key_is_case_sensitive() {
    let district = District::new()
        .school("s1", "Riverside")
        .class("c1", "s1", "t-now")
        .user("p1", Role::Student, Some("Ana.Lee@riverside.edu"), &["s1"])
        .enroll("p1", "c1", None, None);
    let identities = [identity("platform-1", "ana.lee@riverside.edu")];
    let plan = run(
        &settings(),
        &district.roster,
        &identities,
        &ProviderSnapshot::default(),
        &[],
    );
    assert_eq!(plan.report.counts.matched_students, 0);
    assert_eq!(plan.report.counts.unmatched_users, 1);

    let identities = [identity("platform-1", "Ana.Lee@riverside.edu")];
    let plan = run(
        &settings(),
        &district.roster,
        &identities,
        &ProviderSnapshot::default(),
        &[],
    );
    assert_eq!(plan.report.counts.matched_students, 1);
    let changes = plan.changes.expect("changes");
    assert_eq!(
        changes.people.insert[0].identity_id.as_deref(),
        Some("platform-1")
    );
}

#[test]
fn email_without_domain_matches_across_domains_and_stays_case_sensitive() {
    let district = District::new()
        .school("s1", "Riverside")
        .class("c1", "s1", "t-now")
        .user(
            "p1",
            Role::Student,
            Some("ana.lee@students.riverside.edu"),
            &["s1"],
        )
        .user(
            "p2",
            Role::Student,
            Some("Bo.Chen@students.riverside.edu"),
            &["s1"],
        )
        .enroll("p1", "c1", None, None)
        .enroll("p2", "c1", None, None);
    let identities = [
        identity("platform-1", "ana.lee@riverside.org"),
        identity("platform-2", "bo.chen@riverside.org"),
    ];
    let s = SyncSettings {
        merge_key: MergeKey::EmailWithoutDomain,
        ..settings()
    };
    let plan = run(
        &s,
        &district.roster,
        &identities,
        &ProviderSnapshot::default(),
        &[],
    );
    assert_eq!(plan.report.counts.matched_students, 1);
    assert_eq!(plan.report.counts.unmatched_users, 1);
}

#[test]
fn attach_only_creates_nobody_and_reports_everyone_unmatched() {
    let district = District::two_schools();
    let s = SyncSettings {
        attach_only: true,
        ..settings()
    };
    let plan = on_empty_store(&s, &district.roster, &[]);
    assert_eq!(plan.report.counts.unmatched_users, 5);
    assert_eq!(plan.report.counts.created_users, 0);
    let changes = plan.changes.expect("changes");
    assert!(changes.new_identities.is_empty());
    assert!(
        changes
            .people
            .insert
            .iter()
            .all(|p| p.identity_id.is_none())
    );
}

#[test]
fn a_key_shared_by_two_users_leaves_the_person_unmatched_with_a_problem() {
    let district = District::new()
        .school("s1", "Riverside")
        .class("c1", "s1", "t-now")
        .student("p1", "s1")
        .enroll("p1", "c1", None, None);
    let identities = [
        identity("a", "p1@riverside.edu"),
        identity("b", "p1@riverside.edu"),
    ];
    let plan = run(
        &settings(),
        &district.roster,
        &identities,
        &ProviderSnapshot::default(),
        &[],
    );
    assert_eq!(plan.report.counts.unmatched_users, 1);
    assert_eq!(plan.report.counts.created_users, 0);
    let problem = plan
        .report
        .problems
        .iter()
        .find(|p| p.code == "AmbiguousMatch")
        .expect("AmbiguousMatch problem");
    assert_eq!(problem.record.as_deref(), Some("p1"));
}

#[test]
fn a_person_without_email_is_never_created_and_stays_unmatched() {
    let district = District::new()
        .school("s1", "Riverside")
        .class("c1", "s1", "t-now")
        .student("p1", "s1")
        .student("p2", "s1")
        .user("p3", Role::Student, None, &["s1"])
        .enroll("p1", "c1", None, None);
    let mut stored = ProviderSnapshot::default();
    let mut identities = Vec::new();
    let first = run(&settings(), &district.roster, &identities, &stored, &[]);
    assert!(first.report.problems.iter().any(|p| p.code == "NoEmail"));
    assert_eq!(first.report.counts.created_users, 2);
    assert_eq!(first.report.counts.unmatched_users, 3);
    apply(&first, &mut stored, &mut identities);
    let p3 = stored.people.iter().find(|p| p.sourced_id() == "p3");
    assert_eq!(p3.and_then(|p| p.identity_id()), None);
    let second = run(&settings(), &district.roster, &identities, &stored, &[]);
    assert_eq!(second.report.counts.matched_students, 2);
    assert_eq!(second.report.counts.unmatched_users, 1);
    assert_eq!(second.report.counts.created_users, 0);
}

/// Twenty students of one school, `p0`..`p19`, all with a platform user of the same email.
fn twenty_seeded_students() -> (District, Vec<Identity>) {
    let mut district = District::new()
        .school("s1", "Riverside")
        .class("c1", "s1", "t-now");
    let mut identities = Vec::new();
    for n in 0..20 {
        let id = format!("p{n}");
        identities.push(identity(
            &format!("platform-{n}"),
            &format!("{id}@riverside.edu"),
        ));
        district = district.student(&id, "s1").enroll(&id, "c1", None, None);
    }
    (district, identities)
}

fn set_email(district: &mut District, id: &str, email: Option<&str>) {
    if let Some(u) = district
        .roster
        .users
        .iter_mut()
        .find(|u| u.sourced_id == id)
    {
        u.texts = u.texts.with(UserText::Email, email);
    }
}

#[test]
fn masked_missing_or_junk_keys_never_create_or_claim_a_user() {
    let (mut district, identities) = twenty_seeded_students();
    set_email(&mut district, "p0", Some("****"));
    set_email(&mut district, "p1", Some("   "));
    set_email(&mut district, "p2", Some("not-an-address"));
    // A platform user imported with a masked email must not be found by a masked key.
    let mut identities = identities;
    identities.push(identity("platform-masked", "****"));
    for key in [MergeKey::Email, MergeKey::EmailWithoutDomain] {
        let s = SyncSettings {
            merge_key: key,
            ..settings()
        };
        let plan = run(
            &s,
            &district.roster,
            &identities,
            &ProviderSnapshot::default(),
            &[],
        );
        assert_eq!(
            plan.report.result,
            SyncResult::Succeeded,
            "{}",
            plan.report.message
        );
        let c = plan.report.counts;
        assert_eq!(
            c.created_users, 0,
            "{key:?}: no user is created for a bad key"
        );
        assert_eq!(c.unmatched_users, 3, "{key:?}");
        assert_eq!(c.matched_students, 17, "{key:?}");
        let changes = plan.changes.expect("changes");
        assert!(changes.new_identities.is_empty());
        for bad in ["p0", "p1", "p2"] {
            let row = changes.people.insert.iter().find(|p| p.sourced_id == bad);
            let row = row.expect("the person is still synced");
            assert_eq!(row.identity_id, None, "{key:?}: {bad} claims no user");
            assert_eq!(row.email, None, "{key:?}: a mask is never stored");
        }
        for code in ["MaskedEmail", "NoEmail", "InvalidEmail"] {
            assert!(
                plan.report.problems.iter().any(|p| p.code == code),
                "{key:?}: {code} listed"
            );
        }
    }
}

#[test]
fn a_masked_email_never_replaces_a_stored_email() {
    let (clean, mut identities) = twenty_seeded_students();
    let clean = clean
        .user("g1", Role::Guardian, Some("g1@home.example"), &[])
        .agent("p3", "g1");
    let s = SyncSettings {
        guardian_role: Some(GuardianRole::Guardian),
        ..settings()
    };
    let mut stored = ProviderSnapshot::default();
    let first = run(&s, &clean.roster, &identities, &stored, &[]);
    apply(&first, &mut stored, &mut identities);
    let before = (stored.clone(), identities.clone());

    let mut masked = clean.clone();
    set_email(&mut masked, "p3", Some("p***@riverside.edu"));
    set_email(&mut masked, "p4", Some(""));
    set_email(&mut masked, "g1", Some("****"));
    let plan = run(&s, &masked.roster, &identities, &stored, &[]);
    assert_eq!(
        plan.report.result,
        SyncResult::Succeeded,
        "{}",
        plan.report.message
    );
    assert_eq!(
        plan.report.counts.matched_students, 20,
        "the links this sync made before stay"
    );
    let changes = plan.changes.as_ref().expect("changes");
    assert!(
        changes.people.update.is_empty(),
        "no stored email is overwritten"
    );
    assert!(changes.guardians.update.is_empty(), "nor a guardian's");
    assert!(changes.new_identities.is_empty() && changes.identity_updates.is_empty());
    apply(&plan, &mut stored, &mut identities);
    assert!(
        before == (stored, identities),
        "the store is exactly as before"
    );
}

#[test]
fn more_than_a_tenth_masked_fails_with_dataguard_and_changes_nothing() {
    let (mut district, identities) = twenty_seeded_students();
    // 2 of 20 masked is the limit (10%): still synced, nobody created.
    set_email(&mut district, "p0", Some("****"));
    set_email(&mut district, "p1", Some("x***@riverside.edu"));
    let plan = run(
        &settings(),
        &district.roster,
        &identities,
        &ProviderSnapshot::default(),
        &[],
    );
    assert_eq!(
        plan.report.result,
        SyncResult::Succeeded,
        "{}",
        plan.report.message
    );
    assert_eq!(plan.report.counts.created_users, 0);
    // A third is more than a tenth.
    set_email(&mut district, "p2", Some("xxxx@xxxx.xxx"));
    let plan = run(
        &settings(),
        &district.roster,
        &identities,
        &ProviderSnapshot::default(),
        &[],
    );
    assert_eq!(plan.report.result, SyncResult::Failed);
    assert_eq!(plan.report.error_code, Some(ErrorCode::DataGuardMasked));
    assert!(
        plan.report.message.contains("3 masked"),
        "{}",
        plan.report.message
    );
    assert!(plan.changes.is_none());
}

#[test]
fn respect_enrolment_date_drops_students_who_left_and_ended_memberships() {
    let district = District::new()
        .school("s1", "Riverside")
        .class("c1", "s1", "t-now")
        .class("c2", "s1", "t-now")
        .student("current", "s1")
        .student("left", "s1")
        .student("starting", "s1")
        .enroll("current", "c1", Some(date(2026, 8, 1)), None)
        .enroll("current", "c2", Some(date(2026, 8, 1)), Some(TODAY))
        .enroll("left", "c1", Some(date(2025, 8, 1)), Some(date(2026, 6, 1)))
        .enroll("starting", "c1", Some(date(2027, 1, 5)), None);
    let off = on_empty_store(&settings(), &district.roster, &[]);
    assert_eq!(
        off.report.counts.unmatched_users, 3,
        "all students without the option"
    );
    assert_eq!(off.changes.expect("changes").memberships.insert.len(), 4);

    let s = SyncSettings {
        respect_enrolment_date: true,
        ..settings()
    };
    let on = on_empty_store(&s, &district.roster, &[]);
    assert_eq!(
        on.report.counts.unmatched_users, 1,
        "only the current student"
    );
    let changes = on.changes.expect("changes");
    let memberships: Vec<(&str, &str)> = changes
        .memberships
        .insert
        .texts_of_rows()
        .map(|[class, person, ..]| (class, person))
        .collect();
    assert_eq!(
        memberships,
        [("c1", "current")],
        "the ended enrollment is no membership"
    );
}

#[test]
fn respect_academic_sessions_syncs_only_classes_of_a_current_session() {
    let district = District::new()
        .school("s1", "Riverside")
        .class("now", "s1", "t-now")
        .class("past", "s1", "t-past")
        .class("year", "s1", "y-now")
        .student("p1", "s1");
    let off = on_empty_store(&settings(), &district.roster, &[]);
    assert_eq!(off.report.counts.imported_classes, 3);
    let s = SyncSettings {
        respect_academic_sessions: true,
        ..settings()
    };
    let on = on_empty_store(&s, &district.roster, &[]);
    assert_eq!(on.report.counts.imported_classes, 2);
    let ids: Vec<String> = on
        .changes
        .expect("changes")
        .classes
        .insert
        .into_iter()
        .map(|c| c.sourced_id)
        .collect();
    assert_eq!(ids, ["now", "year"]);
}

#[test]
fn sync_classroom_data_off_imports_no_classes_or_memberships() {
    let district = District::two_schools();
    let s = SyncSettings {
        sync_classroom_data: false,
        ..settings()
    };
    let plan = on_empty_store(&s, &district.roster, &[]);
    assert_eq!(plan.report.result, SyncResult::Succeeded);
    assert_eq!(plan.report.counts.imported_classes, 0);
    let changes = plan.changes.expect("changes");
    assert!(changes.classes.insert.is_empty() && changes.memberships.insert.is_empty());
    assert_eq!(changes.people.insert.len(), 5, "people still sync");
}

#[test]
fn guardians_of_the_chosen_type_sync_with_contact_details_and_relationships() {
    let district = District::two_schools()
        .user("g1", Role::Guardian, Some("g1@home.example"), &[])
        .user("par1", Role::Parent, Some("par1@home.example"), &[])
        .user("g-orphan", Role::Guardian, Some("g2@home.example"), &[])
        .agent("p1", "g1")
        .agent("p2", "g1")
        .agent("p3", "par1");
    let off = on_empty_store(&settings(), &district.roster, &[]);
    assert_eq!(off.report.counts.synced_guardians, 0);

    let s = SyncSettings {
        guardian_role: Some(GuardianRole::Guardian),
        ..settings()
    };
    let plan = on_empty_store(&s, &district.roster, &[]);
    assert_eq!(
        plan.report.counts.synced_guardians, 1,
        "only agents of synced students"
    );
    let changes = plan.changes.expect("changes");
    let guardian = &changes.guardians.insert[0];
    assert_eq!(guardian.sourced_id, "g1");
    assert_eq!(guardian.relationship, "Guardian");
    assert_eq!(guardian.email.as_deref(), Some("g1@home.example"));
    assert_eq!(guardian.phone.as_deref(), Some("+1 555 0100"));
    let links: Vec<(&str, &str)> = changes
        .guardian_links
        .insert
        .iter()
        .map(|l| (l.guardian.as_str(), l.student.as_str()))
        .collect();
    assert_eq!(links, [("g1", "p1"), ("g1", "p2")]);
    assert_eq!(
        plan.report.counts.unmatched_users, 5,
        "guardians are not counted as users"
    );

    let s = SyncSettings {
        guardian_role: Some(GuardianRole::Parent),
        ..settings()
    };
    let plan = on_empty_store(&s, &district.roster, &[]);
    let changes = plan.changes.expect("changes");
    assert_eq!(changes.guardians.insert[0].sourced_id, "par1");
    assert_eq!(changes.guardians.insert[0].relationship, "Parent");
}

#[test]
fn a_guardian_linked_only_from_its_own_agents_list_is_found() {
    let mut district = District::two_schools().user("g1", Role::Relative, None, &[]);
    if let Some(g) = district
        .roster
        .users
        .iter_mut()
        .find(|u| u.sourced_id == "g1")
    {
        g.agents.push("p3");
    }
    let s = SyncSettings {
        guardian_role: Some(GuardianRole::Relative),
        ..settings()
    };
    let plan = on_empty_store(&s, &district.roster, &[]);
    assert_eq!(plan.report.counts.synced_guardians, 1);
}

#[test]
fn exclusions_drop_the_school_its_classes_and_people_only_there() {
    let district = District::two_schools().user(
        "both",
        Role::Teacher,
        Some("both@riverside.edu"),
        &["s1", "s2"],
    );
    let exclusions = [Exclusion {
        name: "closed-campus".into(),
        schools: vec![
            SchoolRef::Name("Oak Middle".into()),
            SchoolRef::Identifier("nope".into()),
        ],
    }];
    let plan = on_empty_store(&settings(), &district.roster, &exclusions);
    assert_eq!(plan.report.result, SyncResult::Succeeded);
    assert_eq!(plan.report.counts.excluded_schools, 1);
    assert_eq!(plan.report.counts.imported_classes, 1);
    let changes = plan.changes.expect("changes");
    let people: Vec<(&str, Vec<String>)> = changes
        .people
        .insert
        .iter()
        .map(|p| (p.sourced_id.as_str(), p.schools.clone()))
        .collect();
    assert_eq!(
        people,
        // In key order (the diff walks both sides sorted by key).
        [
            ("both", vec!["s1".to_owned()]),
            ("p1", vec!["s1".to_owned()]),
            ("p2", vec!["s1".to_owned()]),
            ("t1", vec!["s1".to_owned()]),
        ]
    );
    let oak = plan
        .report
        .schools
        .iter()
        .find(|s| s.sourced_id == "s2")
        .expect("s2 listed");
    assert!(!oak.included);
    assert_eq!(oak.excluded_by.as_deref(), Some("closed-campus"));
    assert_eq!(
        plan.exclusions[0].schools,
        [
            (
                SchoolRef::Name("Oak Middle".into()),
                Some(("s2".into(), "Oak Middle".into()))
            ),
            (SchoolRef::Identifier("nope".into()), None),
        ]
    );
    for id in [
        SchoolRef::SourcedId("s2".into()),
        SchoolRef::Identifier("ID-s2".into()),
    ] {
        let exclusions = [Exclusion {
            name: "x".into(),
            schools: vec![id],
        }];
        let plan = on_empty_store(&settings(), &district.roster, &exclusions);
        assert_eq!(plan.report.counts.excluded_schools, 1);
    }
}

#[test]
fn excluding_every_school_fails_with_no_schools_left() {
    let district = District::two_schools();
    let exclusions = [Exclusion {
        name: "all".into(),
        schools: vec![
            SchoolRef::SourcedId("s1".into()),
            SchoolRef::SourcedId("s2".into()),
        ],
    }];
    let plan = on_empty_store(&settings(), &district.roster, &exclusions);
    assert_eq!(plan.report.result, SyncResult::Failed);
    assert_eq!(plan.report.error_code, Some(ErrorCode::NoSchoolsLeft));
    assert!(plan.changes.is_none());
}

#[test]
fn an_incomplete_school_is_left_as_stored_while_the_others_sync() {
    let mut stored = ProviderSnapshot::default();
    let mut identities = Vec::new();
    let first = run(
        &settings(),
        &District::two_schools().roster,
        &identities,
        &stored,
        &[],
    );
    apply(&first, &mut stored, &mut identities);

    // Oak Middle's new class points at a course nobody lists; Riverside gains a student.
    let mut district = District::two_schools()
        .class("c-bad", "s2", "t-now")
        .student("p4", "s1")
        .student("p5", "s2");
    district.roster.classes.last_mut().expect("class").course = Some("course-missing".into());
    let plan = run(&settings(), &district.roster, &identities, &stored, &[]);
    assert_eq!(plan.report.result, SyncResult::PartiallySucceeded);
    assert_eq!(
        plan.report.error_code,
        Some(ErrorCode::IncompleteSchoolData)
    );
    assert!(
        plan.report.message.contains("Oak Middle (s2)"),
        "{}",
        plan.report.message
    );
    assert!(plan.report.message.contains("SchoolExclusion"));
    // Riverside's p1, p2, p4 and t1; Oak Middle, left as stored, counts for nothing.
    assert_eq!(
        (
            plan.report.counts.synced_students,
            plan.report.counts.synced_teachers
        ),
        (3, 1)
    );
    let problem = &plan.report.problems[0];
    assert_eq!(
        (
            problem.code.as_str(),
            problem.school.as_deref(),
            problem.record.as_deref()
        ),
        ("DanglingCourseReference", Some("s2"), Some("c-bad"))
    );
    let changes = plan.changes.expect("changes");
    let inserted: Vec<&str> = changes
        .people
        .insert
        .iter()
        .map(|p| p.sourced_id.as_str())
        .collect();
    assert_eq!(inserted, ["p4"], "Oak Middle's new student waits");
    assert!(
        changes.classes.insert.is_empty(),
        "Oak Middle's new class waits"
    );
    assert!(changes.people.delete.is_empty() && changes.classes.delete.is_empty());
    let oak = plan
        .report
        .schools
        .iter()
        .find(|s| s.sourced_id == "s2")
        .expect("s2");
    assert!(!oak.complete && oak.included);
}

#[test]
fn dangling_enrollments_and_a_school_without_classes_make_it_incomplete() {
    let district = District::two_schools()
        .school("s3", "Pine High")
        .student("p9", "s3")
        .enroll("ghost", "c1", None, None);
    let plan = on_empty_store(&settings(), &district.roster, &[]);
    assert_eq!(plan.report.result, SyncResult::PartiallySucceeded);
    let codes: Vec<(&str, Option<&str>)> = plan
        .report
        .problems
        .iter()
        .map(|p| (p.code.as_str(), p.school.as_deref()))
        .collect();
    assert!(
        codes.contains(&("DanglingUserReference", Some("s1"))),
        "{codes:?}"
    );
    assert!(codes.contains(&("NoClasses", Some("s3"))), "{codes:?}");
}

#[test]
fn every_school_incomplete_fails_and_changes_nothing() {
    let mut district = District::two_schools();
    for class in &mut district.roster.classes {
        class.terms = vec!["t-missing".into()];
    }
    let plan = on_empty_store(&settings(), &district.roster, &[]);
    assert_eq!(plan.report.result, SyncResult::Failed);
    assert_eq!(
        plan.report.error_code,
        Some(ErrorCode::AllSchoolsIncomplete)
    );
    assert!(plan.changes.is_none());
}

#[test]
fn masked_emails_are_named_as_dataguard() {
    let district = District::new()
        .school("s1", "Riverside")
        .class("c1", "s1", "t-now")
        .user("p1", Role::Student, Some("****"), &["s1"])
        .user("p2", Role::Student, Some(""), &["s1"])
        .user("p3", Role::Student, Some("p***@riverside.edu"), &["s1"])
        .student("p4", "s1");
    let plan = on_empty_store(&settings(), &district.roster, &[]);
    assert_eq!(plan.report.result, SyncResult::Failed);
    assert_eq!(plan.report.error_code, Some(ErrorCode::DataGuardMasked));
    assert!(plan.report.message.contains("DataGuard"));
    assert!(plan.changes.is_none());
}

#[test]
fn shrink_guard_refuses_a_large_removal_until_confirmed() {
    let mut stored = ProviderSnapshot::default();
    let mut identities = Vec::new();
    let full = District::two_schools();
    let first = run(&settings(), &full.roster, &identities, &stored, &[]);
    apply(&first, &mut stored, &mut identities);

    let mut half = District::two_schools();
    half.roster
        .users
        .retain(|u| u.sourced_id != "p1" && u.sourced_id != "p2");
    half.roster.enrollments = half
        .roster
        .enrollments
        .iter()
        .filter(|e| e.user() == Some("p3"))
        .map(|e| e.to_owned())
        .collect();
    let refused = run(&settings(), &half.roster, &identities, &stored, &[]);
    assert_eq!(refused.report.result, SyncResult::Failed);
    assert_eq!(
        refused.report.error_code,
        Some(ErrorCode::ShrinkGuardTripped)
    );
    assert!(
        refused.report.message.contains("2 of the 5"),
        "{}",
        refused.report.message
    );
    assert!(refused.changes.is_none());

    let confirmed = SyncSettings {
        confirm_shrink: true,
        ..settings()
    };
    let plan = run(&confirmed, &half.roster, &identities, &stored, &[]);
    assert_eq!(plan.report.result, SyncResult::Succeeded);
    assert_eq!(plan.changes.expect("changes").people.delete.len(), 2);

    let guard_off = SyncSettings {
        shrink_guard_percent: 100,
        ..settings()
    };
    let plan = run(&guard_off, &half.roster, &identities, &stored, &[]);
    assert_eq!(plan.report.result, SyncResult::Succeeded);
}

#[test]
fn the_higher_priority_provider_sets_a_shared_users_attributes() {
    let district = District::new()
        .school("s1", "Riverside")
        .class("c1", "s1", "t-now")
        .student("p1", "s1")
        .enroll("p1", "c1", None, None);
    let mut identities = vec![identity("platform-1", "p1@riverside.edu")];

    let primary = SyncSettings {
        provider: "primary".into(),
        priority: 100,
        ..settings()
    };
    let secondary = SyncSettings {
        provider: "secondary".into(),
        priority: 50,
        ..settings()
    };

    let mut primary_store = ProviderSnapshot::default();
    let plan = run(&primary, &district.roster, &identities, &primary_store, &[]);
    apply(&plan, &mut primary_store, &mut identities);
    assert_eq!(identities[0].attributes_from.as_deref(), Some("primary"));
    assert_eq!(identities[0].given_name.as_deref(), Some("Given-p1"));

    // The secondary provider knows the student under another name: it does not win.
    let mut renamed = district.roster.clone();
    renamed.users[0].texts = renamed.users[0]
        .texts
        .with(UserText::GivenName, Some("Other"));
    let mut secondary_store = ProviderSnapshot::default();
    let plan = run(&secondary, &renamed, &identities, &secondary_store, &[]);
    assert_eq!(plan.report.counts.matched_students, 1);
    assert!(
        plan.changes
            .as_ref()
            .expect("changes")
            .identity_updates
            .is_empty()
    );
    apply(&plan, &mut secondary_store, &mut identities);
    assert_eq!(identities[0].given_name.as_deref(), Some("Given-p1"));

    // With a higher priority it does.
    let boosted = SyncSettings {
        priority: 200,
        ..secondary.clone()
    };
    let plan = run(&boosted, &renamed, &identities, &secondary_store, &[]);
    apply(&plan, &mut secondary_store, &mut identities);
    assert_eq!(identities[0].given_name.as_deref(), Some("Other"));
    assert_eq!(identities[0].attributes_from.as_deref(), Some("secondary"));
    assert_eq!(
        identities[0].email.as_deref(),
        Some("p1@riverside.edu"),
        "email never changes"
    );
}

#[test]
fn the_report_names_records_by_id_only() {
    let district = District::two_schools()
        .user("p8", Role::Student, None, &["s1"])
        .enroll("ghost", "c1", None, None);
    let identities = [
        identity("a", "t1@riverside.edu"),
        identity("b", "t1@riverside.edu"),
    ];
    let plan = run(
        &settings(),
        &district.roster,
        &identities,
        &ProviderSnapshot::default(),
        &[],
    );
    let json = serde_json::to_string(&plan.report).expect("serialises");
    for personal in ["@riverside.edu", "Given-", "Family-", "555"] {
        assert!(!json.contains(personal), "report leaks {personal}: {json}");
    }
}

#[test]
fn problems_are_folded_and_bounded() {
    let mut district = District::two_schools();
    for n in 0..60 {
        district = district.enroll(
            &format!("ghost-{n}"),
            if n % 2 == 0 { "c1" } else { "c2" },
            None,
            None,
        );
    }
    for n in 0..30 {
        district.roster.schools.push(Org {
            sourced_id: format!("empty-{n}"),
            status: Status::Active,
            name: Some(format!("Empty {n}")),
            org_type: Some(OrgType::School),
            identifier: None,
            parent: None,
        });
        district = district.student(&format!("lonely-{n}"), &format!("empty-{n}"));
    }
    let plan = on_empty_store(&settings(), &district.roster, &[]);
    assert_eq!(plan.report.problems.len(), report::MAX_PROBLEMS);
    let ghosts = plan
        .report
        .problems
        .iter()
        .find(|p| p.code == "DanglingUserReference" && p.school.as_deref() == Some("s1"))
        .expect("folded entry");
    assert_eq!(ghosts.occurrences, Some(30));
}

#[test]
fn identity_ids_are_stable_and_carry_no_personal_data() {
    let a = identity_id_for("schools", "riverside", "p1");
    assert_eq!(a, identity_id_for("schools", "riverside", "p1"));
    assert_ne!(a, identity_id_for("schools", "riverside", "p2"));
    assert_ne!(a, identity_id_for("other", "riverside", "p1"));
    assert!(a.starts_with("cl-") && a.len() == 27);
    // The first 12 bytes of SHA-256("schools\0riverside\0p1\0") in lowercase hex: ids
    // already stored stay the ids a sync derives.
    assert_eq!(a, "cl-aa2875b68fac830853d219cc");
}

#[test]
fn people_left_out_on_purpose_do_not_trip_the_shrink_guard() {
    let mut stored = ProviderSnapshot::default();
    let mut identities = Vec::new();
    let district = District::two_schools();
    let first = run(&settings(), &district.roster, &identities, &stored, &[]);
    apply(&first, &mut stored, &mut identities);
    // Excluding Riverside removes 3 of 5 people (60%): on purpose, so no guard.
    let exclusions = [Exclusion {
        name: "riverside-out".into(),
        schools: vec![SchoolRef::SourcedId("s1".into())],
    }];
    let plan = run(
        &settings(),
        &district.roster,
        &identities,
        &stored,
        &exclusions,
    );
    assert_eq!(
        plan.report.result,
        SyncResult::Succeeded,
        "{}",
        plan.report.message
    );
    assert_eq!(plan.changes.expect("changes").people.delete.len(), 3);
}

#[test]
fn a_junk_enabled_user_is_named_and_not_synced() {
    let mut district = District::two_schools();
    if let Some(u) = district
        .roster
        .users
        .iter_mut()
        .find(|u| u.sourced_id == "p3")
    {
        u.enabled = false;
        u.enabled_invalid = true;
    }
    let plan = on_empty_store(&settings(), &district.roster, &[]);
    assert_eq!(
        plan.report.result,
        SyncResult::Succeeded,
        "{}",
        plan.report.message
    );
    let problem = plan
        .report
        .problems
        .iter()
        .find(|p| p.code == "InvalidEnabledUser")
        .expect("InvalidEnabledUser is listed");
    assert_eq!(problem.record.as_deref(), Some("p3"));
    assert_eq!(problem.school.as_deref(), Some("s2"));
    let changes = plan.changes.expect("changes");
    assert!(changes.people.insert.iter().all(|p| p.sourced_id != "p3"));
}

/// A person whose row changed is written again, and only that person: a new name with the
/// link kept, and a new link (the user it was linked to is gone, another one has the
/// email). The rows of an unchanged night are compared while the users are read, on the
/// link stored before; a link that changes is compared again.
#[test]
fn a_renamed_person_and_a_relinked_person_are_written_again_and_no_one_else() {
    let mut district = District::two_schools();
    let mut stored = ProviderSnapshot::default();
    let mut identities = Vec::new();
    let first = run(&settings(), &district.roster, &identities, &stored, &[]);
    apply(&first, &mut stored, &mut identities);
    let linked = |stored: &ProviderSnapshot, id: &str| {
        let person = stored.people.find(id).expect("stored").1;
        person.identity_id().map(str::to_owned)
    };
    let p3_before = linked(&stored, "p3").expect("p3 linked");

    if let Some(u) = district
        .roster
        .users
        .iter_mut()
        .find(|u| u.sourced_id == "p1")
    {
        u.texts = u.texts.with(UserText::GivenName, Some("Renamed"));
    }
    identities.retain(|i| i.id != p3_before);
    identities.push(identity("platform-p3", "p3@riverside.edu"));

    let second = run(&settings(), &district.roster, &identities, &stored, &[]);
    let changes = second.changes.as_ref().expect("changes");
    assert!(changes.people.insert.is_empty() && changes.people.delete.is_empty());
    let updated: Vec<(&str, Option<&str>, Option<&str>)> = changes
        .people
        .update
        .iter()
        .map(|p| {
            (
                p.sourced_id.as_str(),
                p.given_name.as_deref(),
                p.identity_id.as_deref(),
            )
        })
        .collect();
    let p1_link = linked(&stored, "p1");
    assert_eq!(
        updated,
        [
            ("p1", Some("Renamed"), p1_link.as_deref()),
            ("p3", Some("Given-p3"), Some("platform-p3")),
        ]
    );

    apply(&second, &mut stored, &mut identities);
    let third = run(&settings(), &district.roster, &identities, &stored, &[]);
    assert_eq!(third.changes.expect("changes").rows(), 0);
}

/// An enrollment that names no school is checked in its class's school; one that names a
/// class the Roster Server does not list is checked in the school it names. Many
/// enrollments of one dangling person count as many occurrences.
#[test]
fn dangling_references_are_found_through_the_class_when_the_enrollment_names_no_school() {
    let district = District::two_schools()
        .enroll_naming("ghost", "c2", None, None, None)
        .enroll_naming("p1", "c2", None, None, None)
        .enroll_naming("ghost", "c2", None, None, None)
        .enroll_naming("p1", "no-such-class", Some("s1"), None, None);
    let plan = on_empty_store(&settings(), &district.roster, &[]);
    let problems: Vec<(&str, Option<&str>, Option<u64>)> = plan
        .report
        .problems
        .iter()
        .filter(|p| p.code.starts_with("Dangling"))
        .map(|p| (p.code.as_str(), p.school.as_deref(), p.occurrences))
        .collect();
    assert_eq!(
        problems,
        [
            ("DanglingClassReference", Some("s1"), None),
            ("DanglingUserReference", Some("s2"), Some(2)),
        ]
    );
    assert_eq!(
        plan.report.error_code,
        Some(ErrorCode::AllSchoolsIncomplete)
    );
}
