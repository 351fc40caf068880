//! Loads a OneRoster 1.1 bulk CSV data set (orgs, academicSessions, courses,
//! classes, users, enrollments) so third-party sample data can be served.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};

use crate::dates::{NO_DATE, parse_date, parse_timestamp};
use crate::model::*;

struct Sheet {
    header: HashMap<String, usize>,
    rows: Vec<csv::StringRecord>,
}

impl Sheet {
    fn read(dir: &Path, name: &str, required: bool) -> anyhow::Result<Option<Sheet>> {
        let path = dir.join(name);
        if !path.exists() {
            if required {
                bail!("{name} is missing");
            }
            return Ok(None);
        }
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_path(&path)
            .with_context(|| format!("opening {name}"))?;
        let header = r
            .headers()
            .with_context(|| format!("reading the header of {name}"))?
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim_start_matches('\u{feff}').to_string(), i))
            .collect();
        let rows = r
            .records()
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("reading {name}"))?;
        Ok(Some(Sheet { header, rows }))
    }

    fn get<'a>(&self, row: &'a csv::StringRecord, col: &str) -> &'a str {
        self.header.get(col).and_then(|&i| row.get(i)).unwrap_or("")
    }
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

fn modified(s: &str, fallback: u32) -> u32 {
    parse_timestamp(s)
        .map(|t| t.clamp(0, i64::from(u32::MAX)) as u32)
        .unwrap_or(fallback)
}

fn date(s: &str) -> i32 {
    if s.trim().is_empty() {
        NO_DATE
    } else {
        parse_date(s).unwrap_or(NO_DATE)
    }
}

fn status(s: &str) -> Status {
    Status::parse(s)
}

/// Reads the files in `dir`. Rows whose references cannot be resolved are kept
/// where the record allows it (a missing parent becomes null) and skipped where
/// it does not (an enrollment for an unknown class or user).
pub fn load(dir: &Path, as_of: i32, seed: u64) -> anyhow::Result<Dataset> {
    let mut ds = Dataset::empty(as_of, seed, true);
    let fallback = (as_of.max(1) as u32) * 86_400;

    let orgs = Sheet::read(dir, "orgs.csv", true)?.unwrap_or_else(|| Sheet {
        header: HashMap::new(),
        rows: vec![],
    });
    let mut org_parent = Vec::new();
    for row in &orgs.rows {
        let sid = orgs.get(row, "sourcedId");
        if sid.is_empty() || ds.orgs.ids.push_stored(sid).is_none() {
            continue;
        }
        ds.orgs.push(Org {
            status: status(orgs.get(row, "status")),
            modified: modified(orgs.get(row, "dateLastModified"), fallback),
            name: orgs.get(row, "name").into(),
            kind: OrgType::parse(orgs.get(row, "type")),
            identifier: orgs.get(row, "identifier").into(),
            parent: NONE,
        });
        org_parent.push(orgs.get(row, "parentSourcedId").to_string());
    }
    for (i, p) in org_parent.iter().enumerate() {
        ds.orgs.rows[i].parent = ds.orgs.ids.lookup(p).unwrap_or(NONE);
    }

    if let Some(sheet) = Sheet::read(dir, "academicSessions.csv", false)? {
        let mut parents = Vec::new();
        for row in &sheet.rows {
            let sid = sheet.get(row, "sourcedId");
            if sid.is_empty() || ds.sessions.ids.push_stored(sid).is_none() {
                continue;
            }
            let start = date(sheet.get(row, "startDate"));
            let end = date(sheet.get(row, "endDate"));
            let year = sheet
                .get(row, "schoolYear")
                .trim()
                .parse()
                .unwrap_or_else(|_| {
                    if end == NO_DATE {
                        0
                    } else {
                        crate::dates::civil_from_days(end).0
                    }
                });
            ds.sessions.push(Session {
                status: status(sheet.get(row, "status")),
                modified: modified(sheet.get(row, "dateLastModified"), fallback),
                title: sheet.get(row, "title").into(),
                kind: SessionType::parse(sheet.get(row, "type")),
                start,
                end,
                parent: NONE,
                school_year: year,
            });
            parents.push(sheet.get(row, "parentSourcedId").to_string());
        }
        for (i, p) in parents.iter().enumerate() {
            ds.sessions.rows[i].parent = ds.sessions.ids.lookup(p).unwrap_or(NONE);
        }
    }

    if let Some(sheet) = Sheet::read(dir, "courses.csv", false)? {
        for row in &sheet.rows {
            let sid = sheet.get(row, "sourcedId");
            if sid.is_empty() || ds.courses.ids.push_stored(sid).is_none() {
                continue;
            }
            ds.courses.push(Course {
                status: status(sheet.get(row, "status")),
                modified: modified(sheet.get(row, "dateLastModified"), fallback),
                title: sheet.get(row, "title").into(),
                code: sheet.get(row, "courseCode").into(),
                school_year: ds
                    .sessions
                    .ids
                    .lookup(sheet.get(row, "schoolYearSourcedId"))
                    .unwrap_or(NONE),
                org: ds
                    .orgs
                    .ids
                    .lookup(sheet.get(row, "orgSourcedId"))
                    .unwrap_or(NONE),
                grades: list(sheet.get(row, "grades"))
                    .filter_map(grade_index)
                    .collect(),
                subject: list(sheet.get(row, "subjects")).next().unwrap_or("").into(),
            });
        }
    }

    if let Some(sheet) = Sheet::read(dir, "classes.csv", false)? {
        for row in &sheet.rows {
            let sid = sheet.get(row, "sourcedId");
            if sid.is_empty() || ds.classes.ids.push_stored(sid).is_none() {
                continue;
            }
            let kind = if sheet.get(row, "classType").trim() == "homeroom" {
                ClassType::Homeroom
            } else {
                ClassType::Scheduled
            };
            ds.classes.push(Class {
                status: status(sheet.get(row, "status")),
                modified: modified(sheet.get(row, "dateLastModified"), fallback),
                title: sheet.get(row, "title").into(),
                code: sheet.get(row, "classCode").into(),
                kind,
                course: ds
                    .courses
                    .ids
                    .lookup(sheet.get(row, "courseSourcedId"))
                    .unwrap_or(NONE),
                school: ds
                    .orgs
                    .ids
                    .lookup(sheet.get(row, "schoolSourcedId"))
                    .unwrap_or(NONE),
                terms: list(sheet.get(row, "termSourcedIds"))
                    .filter_map(|t| ds.sessions.ids.lookup(t))
                    .collect(),
                grades: list(sheet.get(row, "grades"))
                    .filter_map(grade_index)
                    .collect(),
                subject: list(sheet.get(row, "subjects")).next().unwrap_or("").into(),
            });
        }
    }

    let users = Sheet::read(dir, "users.csv", true)?;
    let mut agent_sids = Vec::new();
    if let Some(sheet) = &users {
        for row in &sheet.rows {
            let sid = sheet.get(row, "sourcedId");
            if sid.is_empty() || ds.users.ids.push_stored(sid).is_none() {
                continue;
            }
            let Some(role) = Role::parse(sheet.get(row, "role")) else {
                // Keep the row as an aide rather than dropping a person silently.
                agent_sids.push(String::new());
                push_user(&mut ds, sheet, row, Role::Aide, fallback);
                continue;
            };
            agent_sids.push(sheet.get(row, "agentSourcedIds").to_string());
            push_user(&mut ds, sheet, row, role, fallback);
        }
    }
    for (i, agents) in agent_sids.iter().enumerate() {
        let ids: Box<[u32]> = list(agents)
            .filter_map(|a| ds.users.ids.lookup(a))
            .collect();
        if let Some(t) = &mut ds.users.rows[i].text {
            t.agents = ids;
        }
    }

    if let Some(sheet) = Sheet::read(dir, "enrollments.csv", false)? {
        for row in &sheet.rows {
            let sid = sheet.get(row, "sourcedId");
            let (Some(class), Some(user)) = (
                ds.classes.ids.lookup(sheet.get(row, "classSourcedId")),
                ds.users.ids.lookup(sheet.get(row, "userSourcedId")),
            ) else {
                continue;
            };
            if sid.is_empty() || ds.enrollments.ids.push_stored(sid).is_none() {
                continue;
            }
            let school = ds
                .orgs
                .ids
                .lookup(sheet.get(row, "schoolSourcedId"))
                .unwrap_or(ds.classes.rows[class as usize].school);
            let role = Role::parse(sheet.get(row, "role")).unwrap_or(Role::Student);
            ds.enrollments.push(Enrollment {
                status: status(sheet.get(row, "status")),
                role,
                primary: sheet
                    .get(row, "primary")
                    .trim()
                    .eq_ignore_ascii_case("true"),
                user,
                class,
                school,
                begin: date(sheet.get(row, "beginDate")),
                end: date(sheet.get(row, "endDate")),
                modified: modified(sheet.get(row, "dateLastModified"), fallback),
            });
        }
    }
    Ok(ds)
}

fn push_user(ds: &mut Dataset, sheet: &Sheet, row: &csv::StringRecord, role: Role, fallback: u32) {
    let g = |c: &str| -> Box<str> { sheet.get(row, c).into() };
    let orgs: Box<[u32]> = list(sheet.get(row, "orgSourcedIds"))
        .filter_map(|o| ds.orgs.ids.lookup(o))
        .collect();
    let grades: Box<[u8]> = list(sheet.get(row, "grades"))
        .filter_map(grade_index)
        .collect();
    let enabled = !sheet
        .get(row, "enabledUser")
        .trim()
        .eq_ignore_ascii_case("false");
    let identifier = if sheet.header.contains_key("identifier") {
        g("identifier")
    } else {
        g("userIdentifier")
    };
    ds.users.push(User {
        status: status(sheet.get(row, "status")),
        enabled,
        role,
        grade: NO_GRADE,
        given: 0,
        family: 0,
        modified: modified(sheet.get(row, "dateLastModified"), fallback),
        orgs: [NONE, NONE],
        agents_start: 0,
        agents_len: 0,
        text: Some(Box::new(UserText {
            given: g("givenName"),
            family: g("familyName"),
            middle: g("middleName"),
            email: g("email"),
            username: g("username"),
            identifier,
            phone: g("phone"),
            sms: g("sms"),
            orgs,
            agents: Box::new([]),
            grades,
        })),
    });
}
