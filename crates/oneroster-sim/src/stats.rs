//! Ground truth computed from the data set (issue 3 point 5).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::dates::enrollment_holds;
use crate::model::*;

/// Counts a sync should arrive at. People are counted when `status` is active
/// and `enabledUser` is true.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub students: u64,
    pub teachers: u64,
    /// Administrators and aides.
    pub staff: u64,
    pub parents: u64,
    pub guardians: u64,
    pub relatives: u64,
    /// Active classes.
    pub active_classes: u64,
    /// Active classes with a term (or the term's parent session) holding the as-of date.
    pub current_classes: u64,
    /// Counted students with an active enrollment whose [beginDate, endDate) holds the as-of date.
    pub students_with_current_enrollment: u64,
    /// Active enrollments.
    pub enrollments: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchoolStats {
    pub name: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub as_of: String,
    /// Active schools.
    pub schools: u64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Per school sourcedId. A person counts at every school in their `orgs`;
    /// classes and enrollments at their `school`.
    pub per_school: BTreeMap<String, SchoolStats>,
}

fn counted(u: &User) -> bool {
    u.status == Status::Active && u.enabled
}

fn add_person(c: &mut Counts, role: Role) {
    match role {
        Role::Student => c.students += 1,
        Role::Teacher => c.teachers += 1,
        Role::Administrator | Role::Aide => c.staff += 1,
        Role::Parent => c.parents += 1,
        Role::Guardian => c.guardians += 1,
        Role::Relative => c.relatives += 1,
    }
}

pub fn compute(ds: &Dataset) -> Stats {
    let mut stats = Stats {
        as_of: crate::dates::date_string(ds.as_of),
        ..Stats::default()
    };
    let mut per: BTreeMap<u32, SchoolStats> = BTreeMap::new();
    for (i, o) in ds.orgs.iter_live() {
        if o.kind == OrgType::School && o.status == Status::Active {
            stats.schools += 1;
            per.insert(
                i,
                SchoolStats {
                    name: o.name.to_string(),
                    counts: Counts::default(),
                },
            );
        }
    }
    for (_, u) in ds.users.iter_live() {
        if !counted(u) {
            continue;
        }
        add_person(&mut stats.counts, u.role);
        let mut seen = HashSet::new();
        for o in ds.user_orgs(u) {
            if seen.insert(o)
                && let Some(s) = per.get_mut(&o)
            {
                add_person(&mut s.counts, u.role);
            }
        }
    }
    for (_, c) in ds.classes.iter_live() {
        if c.status != Status::Active {
            continue;
        }
        let current = ds.class_is_current(c);
        stats.counts.active_classes += 1;
        stats.counts.current_classes += u64::from(current);
        if let Some(s) = per.get_mut(&c.school) {
            s.counts.active_classes += 1;
            s.counts.current_classes += u64::from(current);
        }
    }
    let mut current_students: HashSet<u32> = HashSet::new();
    let mut current_at_school: HashSet<(u32, u32)> = HashSet::new();
    for (_, e) in ds.enrollments.iter_live() {
        if e.status != Status::Active {
            continue;
        }
        stats.counts.enrollments += 1;
        if let Some(s) = per.get_mut(&e.school) {
            s.counts.enrollments += 1;
        }
        let Some(u) = ds.users.rows.get(e.user as usize) else {
            continue;
        };
        if u.role == Role::Student
            && counted(u)
            && ds.users.is_live(e.user)
            && enrollment_holds(e.begin, e.end, ds.as_of)
        {
            current_students.insert(e.user);
            current_at_school.insert((e.school, e.user));
        }
    }
    stats.counts.students_with_current_enrollment = current_students.len() as u64;
    for (school, _) in current_at_school {
        if let Some(s) = per.get_mut(&school) {
            s.counts.students_with_current_enrollment += 1;
        }
    }
    stats.per_school = per.into_iter().map(|(i, s)| (ds.orgs.sid(i), s)).collect();
    stats
}

/// The platform's existing users for this data set, as the operator's
/// `identities import` reads them (`email,given_name,family_name,role`): every counted
/// student, teacher and staff member with their real (never masked) email. Seeding a store
/// with it reproduces a district whose users the platform already knows, so a sync should
/// match everyone and create nobody.
pub fn platform_users_csv(ds: &Dataset) -> String {
    let mut out = String::from("email,given_name,family_name,role\n");
    let mut email = String::new();
    for (i, u) in ds.users.iter_live() {
        let role = match u.role {
            Role::Student => "student",
            Role::Teacher => "teacher",
            Role::Administrator | Role::Aide => "staff",
            Role::Parent | Role::Guardian | Role::Relative => continue,
        };
        if !counted(u) {
            continue;
        }
        email.clear();
        ds.write_email(i, u, &mut email);
        let field = |v: &str| {
            if v.contains([',', '"', '\n']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_owned()
            }
        };
        out.push_str(&format!(
            "{},{},{},{role}\n",
            field(&email),
            field(ds.given_name(u)),
            field(ds.family_name(u))
        ));
    }
    out
}
