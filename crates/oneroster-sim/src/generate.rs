//! The seeded district generator. Everything is relative to the as-of date so a
//! fixed (seed, as-of) pair always produces the same bytes.

use crate::config::DatasetSpec;
use crate::dates::NO_DATE;
use crate::model::*;
use crate::rng::SplitMix64;

const SUBJECTS: [&str; 12] = [
    "Mathematics",
    "English",
    "Science",
    "History",
    "Art",
    "Music",
    "Physical Education",
    "Spanish",
    "French",
    "Computer Science",
    "Biology",
    "Geography",
];

const SCHOOL_NAMES: [&str; 24] = [
    "Lincoln",
    "Washington",
    "Riverside",
    "Hillcrest",
    "Oakwood",
    "Maple Grove",
    "Lakeview",
    "Sunnydale",
    "Pine Ridge",
    "Cedar Park",
    "Kauri Bay",
    "Harbour View",
    "Westfield",
    "Eastgate",
    "Northbrook",
    "Southport",
    "Meadowlands",
    "Brookside",
    "Fairview",
    "Greenwood",
    "Highland",
    "Valley",
    "Summit",
    "Bayside",
];

/// Session indices the generator creates, in this order.
pub struct Calendar {
    pub past_year: u32,
    pub current_year: u32,
    pub future_year: u32,
    pub past_terms: [u32; 2],
    /// `[0]` ended earlier this school year, `[1]` holds the as-of date.
    pub current_terms: [u32; 2],
    pub future_terms: [u32; 2],
}

pub fn generate(spec: &DatasetSpec, seed: u64, as_of: i32) -> Dataset {
    let mut rng = SplitMix64::new(seed ^ 0x0E5E_0AC7_u64);
    let mut ds = Dataset::empty(as_of, seed, false);
    let day = 86_400u32;
    let as_of_secs = (as_of.max(400) as u32) * day;
    let stamp = |rng: &mut SplitMix64| as_of_secs - 3600 - rng.below(u64::from(365 * day)) as u32;

    // District and schools.
    let town = SCHOOL_NAMES[(seed % SCHOOL_NAMES.len() as u64) as usize];
    let district = ds.orgs.push(Org {
        status: Status::Active,
        modified: stamp(&mut rng),
        name: format!("{town} Unified School District").into(),
        kind: OrgType::District,
        identifier: "D0001".into(),
        parent: NONE,
    });
    let schools = spec.schools.max(1);
    let mut school_ids = Vec::new();
    let mut levels = Vec::new();
    for s in 0..schools {
        let (level, grades): (&str, (u8, u8)) = if schools == 1 {
            ("Academy", (GRADE_KG, GRADE_KG + 12))
        } else {
            match s % 3 {
                0 => ("Elementary School", (GRADE_KG, GRADE_KG + 5)),
                1 => ("Middle School", (GRADE_KG + 6, GRADE_KG + 8)),
                _ => ("High School", (GRADE_KG + 9, GRADE_KG + 12)),
            }
        };
        let base = SCHOOL_NAMES[(s as usize / 3 + seed as usize) % SCHOOL_NAMES.len()];
        let round = s as usize / (3 * SCHOOL_NAMES.len());
        let name = if round == 0 {
            format!("{base} {level}")
        } else {
            format!("{base} {level} {}", round + 1)
        };
        let i = ds.orgs.push(Org {
            status: Status::Active,
            modified: stamp(&mut rng),
            name: name.into(),
            kind: OrgType::School,
            identifier: format!("S{:04}", s + 1).into(),
            parent: district,
        });
        school_ids.push(i);
        levels.push(grades);
    }

    // Calendar: three school years, two terms each; the as-of date is in the
    // current year's second term.
    let session = |ds: &mut Dataset,
                   rng: &mut SplitMix64,
                   title: String,
                   kind,
                   start: i32,
                   end: i32,
                   parent| {
        let (y, _, _) = crate::dates::civil_from_days(end);
        ds.sessions.push(Session {
            status: Status::Active,
            modified: stamp(rng),
            title: title.into(),
            kind,
            start,
            end,
            parent,
            school_year: y,
        })
    };
    let year = |ds: &mut Dataset, rng: &mut SplitMix64, start: i32, split: i32, end: i32| {
        let (y0, _, _) = crate::dates::civil_from_days(start);
        let (y1, _, _) = crate::dates::civil_from_days(end);
        let label = if y0 == y1 {
            format!("{y0}")
        } else {
            format!("{y0}-{y1}")
        };
        let sy = session(
            ds,
            rng,
            format!("School Year {label}"),
            SessionType::SchoolYear,
            start,
            end,
            NONE,
        );
        let t1 = session(
            ds,
            rng,
            format!("Term 1 {label}"),
            SessionType::Term,
            start,
            split - 1,
            sy,
        );
        let t2 = session(
            ds,
            rng,
            format!("Term 2 {label}"),
            SessionType::Term,
            split,
            end,
            sy,
        );
        (sy, [t1, t2])
    };
    let (past_year, past_terms) = year(&mut ds, &mut rng, as_of - 515, as_of - 335, as_of - 151);
    let (current_year, current_terms) =
        year(&mut ds, &mut rng, as_of - 150, as_of - 30, as_of + 214);
    let (future_year, future_terms) =
        year(&mut ds, &mut rng, as_of + 215, as_of + 395, as_of + 579);
    let cal = Calendar {
        past_year,
        current_year,
        future_year,
        past_terms,
        current_terms,
        future_terms,
    };

    let share = |total: u32, k: u32| -> u32 { total / schools + u32::from(k < total % schools) };
    // `mode`: 0 normal, 1 withdrawn (every enrollment ended), 2 starts later (none begun).
    let enroll_as = |ds: &mut Dataset,
                     rng: &mut SplitMix64,
                     user,
                     class: u32,
                     role,
                     primary: bool,
                     mode: u8| {
        let c = &ds.classes.rows[class as usize];
        let term = c.terms.first().copied().unwrap_or(cal.current_year);
        let (start, end) = ds
            .sessions
            .rows
            .get(term as usize)
            .map(|s| (s.start, s.end + 1))
            .unwrap_or((NO_DATE, NO_DATE));
        let (mut begin, mut end) = (start, end);
        let roll = rng.below(100);
        if roll < 3 && begin < as_of - 2 && end > as_of {
            end = as_of - 1 - rng.below(20) as i32; // dropped the class
            end = end.max(begin + 1);
        } else if roll < 5 && end > as_of + 30 && begin <= as_of {
            begin = as_of + 1 + rng.below(20) as i32; // joins later
        } else if roll < 10 {
            begin = NO_DATE;
            end = NO_DATE; // open
        }
        match mode {
            1 => {
                end = as_of - 1 - rng.below(20) as i32;
                if begin == NO_DATE || begin >= end {
                    begin = end - 30;
                }
            }
            2 => {
                begin = as_of + 1 + rng.below(20) as i32;
                if end != NO_DATE && end <= begin {
                    end = begin + 30;
                }
            }
            _ => {}
        }
        let status = if rng.chance(0.01) {
            Status::ToBeDeleted
        } else {
            Status::Active
        };
        let school = c.school;
        ds.enrollments.push(Enrollment {
            status,
            role,
            primary,
            user,
            class,
            school,
            begin,
            end,
            modified: stamp(rng),
        });
    };

    let enroll = |ds: &mut Dataset, rng: &mut SplitMix64, user, class: u32, role, primary: bool| {
        enroll_as(ds, rng, user, class, role, primary, 0)
    };

    let person =
        |ds: &mut Dataset, rng: &mut SplitMix64, role: Role, org: u32, family: Option<u16>| {
            let status = if rng.chance(0.01) {
                Status::ToBeDeleted
            } else {
                Status::Active
            };
            let enabled = !rng.chance(0.01);
            ds.users.push(User {
                status,
                enabled,
                role,
                grade: NO_GRADE,
                given: rng.below(GIVEN_NAMES.len() as u64) as u16,
                family: family.unwrap_or(rng.below(FAMILY_NAMES.len() as u64) as u16),
                modified: stamp(rng),
                orgs: [org, NONE],
                agents_start: 0,
                agents_len: 0,
                text: None,
            })
        };

    // District-level administrators for staff that does not divide evenly.
    let mut per_school_scheduled: Vec<Vec<u32>> = Vec::new();
    for (k, &school) in school_ids.iter().enumerate() {
        let k = k as u32;
        let n_students = share(spec.students, k);
        let n_teachers = share(spec.teachers, k).max(1);
        let n_staff = share(spec.staff, k);
        let (g0, g1) = levels[k as usize];

        // Courses: a homeroom course and one per subject.
        let course = |ds: &mut Dataset, rng: &mut SplitMix64, title: &str, code: String| {
            let status = if rng.chance(0.005) {
                Status::ToBeDeleted
            } else {
                Status::Active
            };
            ds.courses.push(Course {
                status,
                modified: stamp(rng),
                title: title.into(),
                code: code.into(),
                school_year: cal.current_year,
                org: school,
                grades: (g0..=g1).collect(),
                subject: title.into(),
            })
        };
        let homeroom_course = course(&mut ds, &mut rng, "Homeroom", format!("HR-{}", k + 1));
        let subject_courses: Vec<u32> = SUBJECTS
            .iter()
            .enumerate()
            .map(|(n, s)| {
                course(
                    &mut ds,
                    &mut rng,
                    s,
                    format!(
                        "{}-{}",
                        &s[..3].to_ascii_uppercase(),
                        (k + 1) * 100 + n as u32
                    ),
                )
            })
            .collect();

        let teachers: Vec<u32> = (0..n_teachers)
            .map(|_| person(&mut ds, &mut rng, Role::Teacher, school, None))
            .collect();
        for n in 0..n_staff {
            let role = if n == 0 {
                Role::Administrator
            } else {
                Role::Aide
            };
            person(&mut ds, &mut rng, role, school, None);
        }

        // Classes.
        let n_grades = u32::from(g1 - g0) + 1;
        let mut homerooms: Vec<Vec<u32>> = Vec::new();
        let mut t_next = 0usize;
        let class = |ds: &mut Dataset,
                     rng: &mut SplitMix64,
                     title: String,
                     code: String,
                     kind,
                     course: u32,
                     term: u32,
                     grade: u8| {
            let status = if rng.chance(0.01) {
                Status::ToBeDeleted
            } else {
                Status::Active
            };
            let subject = ds.courses.rows[course as usize].subject.clone();
            ds.classes.push(Class {
                status,
                modified: stamp(rng),
                title: title.into(),
                code: code.into(),
                kind,
                course,
                school,
                terms: Box::new([term]),
                grades: Box::new([grade]),
                subject,
            })
        };
        for g in 0..n_grades {
            let in_grade = n_students / n_grades + u32::from(g < n_students % n_grades);
            let rooms = in_grade.div_ceil(25).max(1);
            let grade = g0 + g as u8;
            let list = (0..rooms)
                .map(|r| {
                    let c = class(
                        &mut ds,
                        &mut rng,
                        format!(
                            "Homeroom {} {}",
                            GRADES[grade as usize],
                            (b'A' + (r % 26) as u8) as char
                        ),
                        format!("HR{}-{}{}", k + 1, GRADES[grade as usize], r + 1),
                        ClassType::Homeroom,
                        homeroom_course,
                        cal.current_year,
                        grade,
                    );
                    let t = teachers[t_next % teachers.len()];
                    t_next += 1;
                    enroll(&mut ds, &mut rng, t, c, Role::Teacher, true);
                    c
                })
                .collect();
            homerooms.push(list);
        }
        let sections = (n_students * spec.classes_per_student).div_ceil(25).max(1);
        let mut scheduled = Vec::new();
        for n in 0..sections {
            let subj = (n as usize) % SUBJECTS.len();
            let roll = rng.below(100);
            let term = match roll {
                0..=69 => cal.current_terms[1],
                70..=79 => cal.current_terms[0],
                80..=89 => cal.past_terms[rng.below(2) as usize],
                _ => cal.future_terms[rng.below(2) as usize],
            };
            let grade = g0 + rng.below(u64::from(n_grades)) as u8;
            let c = class(
                &mut ds,
                &mut rng,
                format!(
                    "{} {} - Section {}",
                    SUBJECTS[subj],
                    GRADES[grade as usize],
                    n / SUBJECTS.len() as u32 + 1
                ),
                format!(
                    "{}{}-{}",
                    &SUBJECTS[subj][..3].to_ascii_uppercase(),
                    k + 1,
                    n + 1
                ),
                ClassType::Scheduled,
                subject_courses[subj],
                term,
                grade,
            );
            let t = teachers[t_next % teachers.len()];
            t_next += 1;
            enroll(&mut ds, &mut rng, t, c, Role::Teacher, true);
            if rng.chance(0.1) && teachers.len() > 1 {
                let co = teachers[t_next % teachers.len()];
                enroll(&mut ds, &mut rng, co, c, Role::Teacher, false);
            }
            scheduled.push(c);
        }

        // Students, their agents and enrollments.
        for n in 0..n_students {
            let g = (n % n_grades) as usize;
            let s = person(&mut ds, &mut rng, Role::Student, school, None);
            ds.users.rows[s as usize].grade = g0 + g as u8;
            let family = ds.users.rows[s as usize].family;
            let rooms = &homerooms[g];
            let hr = rooms[(n as usize / n_grades as usize) % rooms.len()];
            let mode = match rng.below(100) {
                0 | 1 => 1,
                2 => 2,
                _ => 0,
            };
            enroll_as(&mut ds, &mut rng, s, hr, Role::Student, false, mode);
            let start = rng.below(scheduled.len() as u64) as usize;
            let stride = 1 + rng.below(7) as usize;
            for j in 0..spec.classes_per_student as usize {
                let c = scheduled[(start + j * stride) % scheduled.len()];
                enroll_as(&mut ds, &mut rng, s, c, Role::Student, false, mode);
            }
            // Agents.
            let mut agent_roles = Vec::new();
            if rng.chance(0.6) {
                agent_roles.push(Role::Parent);
                if rng.chance(0.3) {
                    agent_roles.push(Role::Parent);
                }
            }
            if rng.chance(0.1) {
                agent_roles.push(Role::Guardian);
            }
            if rng.chance(0.05) {
                agent_roles.push(Role::Relative);
            }
            // Every data set, even `tiny`, has at least one guardian and one relative.
            if k == 0 && n == 0 && !agent_roles.contains(&Role::Guardian) {
                agent_roles.push(Role::Guardian);
            }
            if k == 0 && n == 1 && !agent_roles.contains(&Role::Relative) {
                agent_roles.push(Role::Relative);
            }
            let student_links = ds.agent_links.len() as u32;
            let first_agent = s + 1;
            for a in 0..agent_roles.len() as u32 {
                ds.agent_links.push(first_agent + a);
            }
            {
                let st = &mut ds.users.rows[s as usize];
                st.agents_start = student_links;
                st.agents_len = agent_roles.len() as u16;
            }
            for role in agent_roles {
                let a = person(&mut ds, &mut rng, role, school, Some(family));
                let link = ds.agent_links.len() as u32;
                ds.agent_links.push(s);
                let ag = &mut ds.users.rows[a as usize];
                ag.agents_start = link;
                ag.agents_len = 1;
            }
        }
        per_school_scheduled.push(scheduled);
    }

    // A few students attend two schools: about 1 in 100, at least one when there
    // are two schools. They get one scheduled class at the next school.
    if schools >= 2 {
        let students: Vec<u32> = ds
            .users
            .iter_live()
            .filter(|(_, u)| u.role == Role::Student)
            .map(|(i, _)| i)
            .collect();
        let picks = (students.len() / 100).max(1);
        let step = (students.len() / picks).max(1);
        for p in 0..picks {
            let s = students[(p * step + step / 2) % students.len()];
            let home = ds.users.rows[s as usize].orgs[0];
            let Some(pos) = school_ids.iter().position(|&x| x == home) else {
                continue;
            };
            let other = (pos + 1) % school_ids.len();
            ds.users.rows[s as usize].orgs[1] = school_ids[other];
            let list = &per_school_scheduled[other];
            let c = list[rng.below(list.len() as u64) as usize];
            enroll(&mut ds, &mut rng, s, c, Role::Student, false);
        }
    }
    cascade_deletions(&mut ds);
    ds
}

/// A SIS deletes a record's dependants with it: a class of a deleted course, and an
/// enrollment of a deleted user or class, are marked `tobedeleted` too. So the live data
/// never points at a deleted record; breaking that is the `incomplete-school` fault's job.
fn cascade_deletions(ds: &mut Dataset) {
    let courses = &ds.courses.rows;
    for class in &mut ds.classes.rows {
        if courses
            .get(class.course as usize)
            .is_some_and(|c| c.status == Status::ToBeDeleted)
        {
            class.status = Status::ToBeDeleted;
        }
    }
    let (users, classes) = (&ds.users.rows, &ds.classes.rows);
    for enrollment in &mut ds.enrollments.rows {
        let user_gone = users
            .get(enrollment.user as usize)
            .is_some_and(|u| u.status == Status::ToBeDeleted);
        let class_gone = classes
            .get(enrollment.class as usize)
            .is_some_and(|c| c.status == Status::ToBeDeleted);
        if user_gone || class_gone {
            enrollment.status = Status::ToBeDeleted;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    #[test]
    fn tiny_has_about_fifty_people() {
        let ds = generate(
            &Preset::Tiny.spec(),
            1,
            crate::dates::days_from_civil(2026, 3, 1),
        );
        let n = ds.users.rows.len();
        assert!((40..=70).contains(&n), "{n} people");
        assert_eq!(ds.orgs.rows.len(), 2);
    }

    #[test]
    fn every_reference_resolves() {
        let ds = generate(
            &Preset::Small.spec(),
            7,
            crate::dates::days_from_civil(2026, 3, 1),
        );
        for e in &ds.enrollments.rows {
            assert!((e.user as usize) < ds.users.rows.len());
            assert!((e.class as usize) < ds.classes.rows.len());
        }
        for u in &ds.users.rows {
            for a in ds.user_agents(u) {
                assert!((a as usize) < ds.users.rows.len());
            }
        }
        let two = ds.users.rows.iter().filter(|u| u.orgs[1] != NONE).count();
        assert!(two >= 1);
    }
}
