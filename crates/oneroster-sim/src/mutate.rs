//! Changes between syncs: add, remove or change users, end enrollments, move a
//! student between schools, remove half the users.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::rng::SplitMix64;

/// One change to the data set. JSON form (admin API): `{"kind":"addUsers","count":5}`,
/// `{"kind":"moveStudent","student":"usr-0000042","toSchool":"org-00002"}`,
/// `{"kind":"removeHalfUsers"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Mutation {
    /// New students (each with a homeroom enrollment), spread over the schools.
    AddUsers { count: u32 },
    /// Removes students and teachers (and their enrollments) from the feed.
    RemoveUsers { count: u32 },
    /// Changes the family name (and so the generated email) of students and teachers.
    ChangeUsers { count: u32 },
    /// Ends current student enrollments as of the as-of date.
    EndEnrollments { count: u32 },
    /// Moves a student (default: the first active one) to another school (default: the next one).
    MoveStudent {
        #[serde(default)]
        student: Option<String>,
        #[serde(default)]
        to_school: Option<String>,
    },
    /// Removes every second user (and their enrollments): what a truncated feed looks like.
    RemoveHalfUsers,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationReport {
    /// The `x-perm-rev` the server answers from now on.
    pub perm_rev: u64,
    /// sourcedIds of the records that were added, removed or changed.
    pub affected: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MutationError {
    #[error("unknown student {0:?}")]
    UnknownStudent(String),
    #[error("unknown school {0:?}")]
    UnknownSchool(String),
    #[error("the data set has no {0}")]
    Nothing(&'static str),
}

fn pick(rng: &mut SplitMix64, mut candidates: Vec<u32>, n: u32) -> Vec<u32> {
    let n = (n as usize).min(candidates.len());
    for k in 0..n {
        let j = k + rng.below((candidates.len() - k) as u64) as usize;
        candidates.swap(k, j);
    }
    candidates.truncate(n);
    candidates.sort_unstable();
    candidates
}

fn remove_users(ds: &mut Dataset, gone: &HashSet<u32>) {
    ds.users.live.retain(|i| !gone.contains(i));
    let rows = &ds.enrollments.rows;
    ds.enrollments
        .live
        .retain(|&e| !gone.contains(&rows[e as usize].user));
}

fn homeroom_at(ds: &Dataset, school: u32) -> Option<u32> {
    let mut any = None;
    for (i, c) in ds.classes.iter_live() {
        if c.school == school && c.status == Status::Active {
            if c.kind == ClassType::Homeroom && ds.class_is_current(c) {
                return Some(i);
            }
            any.get_or_insert(i);
        }
    }
    any
}

fn add_enrollment(ds: &mut Dataset, user: u32, class: u32, now: u32) -> u32 {
    let school = ds.classes.rows[class as usize].school;
    let i = ds.enrollments.push(Enrollment {
        status: Status::Active,
        role: Role::Student,
        primary: false,
        user,
        class,
        school,
        begin: ds.as_of,
        end: crate::dates::NO_DATE,
        modified: now,
    });
    ds.enrollments.ids.push_new(i, "enr-sim-");
    i
}

/// Applies `m`; `now` stamps dateLastModified of everything touched.
pub fn apply(
    ds: &mut Dataset,
    m: &Mutation,
    rng: &mut SplitMix64,
    now: u32,
) -> Result<Vec<String>, MutationError> {
    // Before anything changes, so no listing of the old rows survives even a mutation
    // that fails half-way.
    ds.revision += 1;
    let people = |ds: &Dataset| -> Vec<u32> {
        ds.users
            .iter_live()
            .filter(|(_, u)| matches!(u.role, Role::Student | Role::Teacher))
            .map(|(i, _)| i)
            .collect()
    };
    let schools: Vec<u32> = ds
        .orgs
        .iter_live()
        .filter(|(_, o)| o.kind == OrgType::School)
        .map(|(i, _)| i)
        .collect();
    let mut affected = Vec::new();
    match m {
        Mutation::AddUsers { count } => {
            if schools.is_empty() {
                return Err(MutationError::Nothing("schools"));
            }
            for k in 0..*count {
                let school = schools[k as usize % schools.len()];
                let u = ds.users.push(User {
                    status: Status::Active,
                    enabled: true,
                    role: Role::Student,
                    grade: GRADE_KG,
                    given: rng.below(GIVEN_NAMES.len() as u64) as u16,
                    family: rng.below(FAMILY_NAMES.len() as u64) as u16,
                    modified: now,
                    orgs: [school, NONE],
                    agents_start: 0,
                    agents_len: 0,
                    text: None,
                });
                ds.users.ids.push_new(u, "usr-sim-");
                if matches!(ds.users.ids, Ids::Stored { .. }) {
                    // CSV data: give the newcomer text of its own.
                    let sid = ds.users.sid(u);
                    ds.users.rows[u as usize].text = Some(Box::new(UserText {
                        given: GIVEN_NAMES[k as usize % GIVEN_NAMES.len()].into(),
                        family: "Newcomer".into(),
                        email: format!("{sid}@{}", ds.email_domain).into(),
                        username: sid.clone().into(),
                        identifier: sid.into(),
                        ..UserText::default()
                    }));
                }
                if let Some(c) = homeroom_at(ds, school) {
                    add_enrollment(ds, u, c, now);
                }
                affected.push(ds.users.sid(u));
            }
        }
        Mutation::RemoveUsers { count } => {
            let gone: HashSet<u32> = pick(rng, people(ds), *count).into_iter().collect();
            let mut list: Vec<u32> = gone.iter().copied().collect();
            list.sort_unstable();
            affected = list.iter().map(|&i| ds.users.sid(i)).collect();
            remove_users(ds, &gone);
        }
        Mutation::ChangeUsers { count } => {
            for i in pick(rng, people(ds), *count) {
                let u = &mut ds.users.rows[i as usize];
                u.modified = now;
                match &mut u.text {
                    Some(t) => {
                        t.family = format!("{}-Changed", t.family).into();
                        if let Some((local, domain)) = t.email.split_once('@') {
                            t.email = format!("{local}.changed@{domain}").into();
                        }
                    }
                    None => u.family = (u.family + 1) % FAMILY_NAMES.len() as u16,
                }
                affected.push(ds.users.sid(i));
            }
        }
        Mutation::EndEnrollments { count } => {
            let as_of = ds.as_of;
            let candidates: Vec<u32> = ds
                .enrollments
                .iter_live()
                .filter(|(_, e)| {
                    e.status == Status::Active
                        && e.role == Role::Student
                        && crate::dates::enrollment_holds(e.begin, e.end, as_of)
                })
                .map(|(i, _)| i)
                .collect();
            for i in pick(rng, candidates, *count) {
                let e = &mut ds.enrollments.rows[i as usize];
                // endDate is exclusive: ending on the as-of date means not current any more.
                e.end = as_of;
                if e.begin != crate::dates::NO_DATE && e.begin >= as_of {
                    e.begin = as_of - 1;
                }
                e.modified = now;
                affected.push(ds.enrollments.sid(i));
            }
        }
        Mutation::MoveStudent { student, to_school } => {
            let s = match student {
                Some(sid) => ds
                    .users
                    .find(sid)
                    .filter(|&i| ds.users.rows[i as usize].role == Role::Student)
                    .ok_or_else(|| MutationError::UnknownStudent(sid.clone()))?,
                None => ds
                    .users
                    .iter_live()
                    .find(|(_, u)| {
                        u.role == Role::Student
                            && u.status == Status::Active
                            && u.enabled
                            && u.orgs[1] == NONE
                    })
                    .map(|(i, _)| i)
                    .ok_or(MutationError::Nothing("students"))?,
            };
            let from: Vec<u32> = ds.user_orgs(&ds.users.rows[s as usize]).collect();
            let to = match to_school {
                Some(sid) => ds
                    .orgs
                    .find(sid)
                    .filter(|&i| ds.orgs.rows[i as usize].kind == OrgType::School)
                    .ok_or_else(|| MutationError::UnknownSchool(sid.clone()))?,
                None => {
                    let pos = schools.iter().position(|x| from.contains(x)).unwrap_or(0);
                    *schools
                        .get((pos + 1) % schools.len().max(1))
                        .ok_or(MutationError::Nothing("schools"))?
                }
            };
            {
                let u = &mut ds.users.rows[s as usize];
                u.orgs = [to, NONE];
                u.modified = now;
                if let Some(t) = &mut u.text {
                    t.orgs = Box::new([to]);
                }
            }
            let rows = &ds.enrollments.rows;
            ds.enrollments.live.retain(|&e| rows[e as usize].user != s);
            if let Some(c) = homeroom_at(ds, to) {
                let e = add_enrollment(ds, s, c, now);
                affected.push(ds.enrollments.sid(e));
            }
            affected.insert(0, ds.users.sid(s));
        }
        Mutation::RemoveHalfUsers => {
            let gone: HashSet<u32> = ds.users.live.iter().skip(1).step_by(2).copied().collect();
            let mut list: Vec<u32> = gone.iter().copied().collect();
            list.sort_unstable();
            affected = list.iter().map(|&i| ds.users.sid(i)).collect();
            remove_users(ds, &gone);
        }
    }
    Ok(affected)
}
