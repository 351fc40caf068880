//! The report of one sync: what `status.lastSync` shows and `classlink-operator sync`
//! prints. Its JSON keys are those of `status.lastSync`, plus `schools`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error_code::ErrorCode;

/// Most problems a report lists; the rest are folded into counts.
pub const MAX_PROBLEMS: usize = 20;

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResult {
    /// Every included school was synced.
    Succeeded,
    /// Some schools were left as they were; the others were synced.
    PartiallySucceeded,
    /// Nothing changed in the store.
    Failed,
}

impl SyncResult {
    /// The name status and metrics show.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncResult::Succeeded => "Succeeded",
            SyncResult::PartiallySucceeded => "PartiallySucceeded",
            SyncResult::Failed => "Failed",
        }
    }
}

/// The counts of a sync (docs/counts.md defines each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// People with no platform user before this sync.
    pub unmatched_users: u64,
    /// Students linked to a platform user that existed before this sync.
    pub matched_students: u64,
    /// Teachers linked to a platform user that existed before this sync.
    pub matched_teachers: u64,
    /// Staff linked to a platform user that existed before this sync.
    pub matched_staff: u64,
    /// Classes synced.
    pub imported_classes: u64,
    /// Students synced (matched or not).
    pub synced_students: u64,
    /// Teachers synced (matched or not).
    pub synced_teachers: u64,
    /// Staff synced (matched or not).
    pub synced_staff: u64,
    /// Guardians synced.
    pub synced_guardians: u64,
    /// Platform users created.
    pub created_users: u64,
    /// Schools left out by SchoolExclusions.
    pub excluded_schools: u64,
}

/// One problem in the data, named by codes and ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Stable code, e.g. `DanglingCourseReference`.
    pub code: String,
    /// sourcedId of the school concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
    /// OneRoster collection of the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// sourcedId of the (first) record concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// How many records had this problem in this school.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// Per-school counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolCounts {
    /// Students.
    pub students: u64,
    /// Teachers.
    pub teachers: u64,
    /// Staff.
    pub staff: u64,
    /// Classes.
    pub classes: u64,
}

/// One school the sync saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchoolReport {
    /// sourcedId.
    pub sourced_id: String,
    /// Name.
    pub name: String,
    /// Identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Synced (true) or excluded (false).
    pub included: bool,
    /// The SchoolExclusion that took it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_by: Option<String>,
    /// False when its data was incomplete and left as stored.
    pub complete: bool,
    /// Counts.
    pub counts: SchoolCounts,
}

/// The outcome of one sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// How it ended.
    pub result: SyncResult,
    /// The error code, unless it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// What happened, for people; never personal data.
    pub message: String,
    /// Counts.
    pub counts: Counts,
    /// Up to [`MAX_PROBLEMS`] problems.
    pub problems: Vec<Problem>,
    /// Every school seen.
    pub schools: Vec<SchoolReport>,
}

impl SyncReport {
    /// A failed sync with nothing counted.
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            result: SyncResult::Failed,
            error_code: Some(code),
            message: message.into(),
            counts: Counts::default(),
            problems: Vec::new(),
            schools: Vec::new(),
        }
    }
}

/// Collects problems, folding repeats of one code in one school into a single entry with a
/// count, and keeping at most [`MAX_PROBLEMS`] entries.
#[derive(Debug, Default)]
pub struct ProblemLog {
    entries: BTreeMap<(String, Option<String>), Problem>,
}

impl ProblemLog {
    /// Records one occurrence.
    pub fn add(
        &mut self,
        code: &str,
        school: Option<&str>,
        record_type: &str,
        record: &str,
        message: impl FnOnce() -> String,
    ) {
        let key = (code.to_owned(), school.map(str::to_owned));
        match self.entries.get_mut(&key) {
            Some(problem) => {
                let n = problem.occurrences.unwrap_or(1) + 1;
                problem.occurrences = Some(n);
            }
            None => {
                self.entries.insert(
                    key,
                    Problem {
                        code: code.to_owned(),
                        school: school.map(str::to_owned),
                        record_type: Some(record_type.to_owned()),
                        record: Some(record.to_owned()),
                        occurrences: None,
                        message: message(),
                    },
                );
            }
        }
    }

    /// Records a problem counted elsewhere (`occurrences` records).
    pub fn add_counted(
        &mut self,
        code: &str,
        record_type: &str,
        occurrences: u64,
        message: String,
    ) {
        self.entries.insert(
            (code.to_owned(), None),
            Problem {
                code: code.to_owned(),
                school: None,
                record_type: Some(record_type.to_owned()),
                record: None,
                occurrences: Some(occurrences),
                message,
            },
        );
    }

    /// Adds the problems recorded in `later`, as if each had been added here after those
    /// already here: an entry seen on both sides keeps this side's record and counts both.
    pub fn merge(&mut self, later: ProblemLog) {
        for (key, problem) in later.entries {
            match self.entries.get_mut(&key) {
                Some(first) => {
                    let n = first.occurrences.unwrap_or(1) + problem.occurrences.unwrap_or(1);
                    first.occurrences = Some(n);
                }
                None => {
                    self.entries.insert(key, problem);
                }
            }
        }
    }

    /// Whether a problem with this code was seen in this school.
    pub fn has(&self, code: &str, school: &str) -> bool {
        self.entries
            .contains_key(&(code.to_owned(), Some(school.to_owned())))
    }

    /// The problems, most important first (school-level data faults before notes), at most
    /// [`MAX_PROBLEMS`].
    pub fn into_list(self) -> Vec<Problem> {
        let mut list: Vec<Problem> = self.entries.into_values().collect();
        list.sort_by_key(|p| (p.school.is_none(), p.code.clone(), p.school.clone()));
        list.truncate(MAX_PROBLEMS);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(log: &mut ProblemLog, code: &str, school: &str, record: &str) {
        log.add(code, Some(school), "users", record, || {
            format!("{code} message")
        });
    }

    /// Problems recorded on two logs and merged are the problems recorded on one log in
    /// the same order: the first record of an entry is kept, occurrences add up.
    #[test]
    fn merged_logs_equal_one_log_written_in_order() {
        let steps: [&[(&str, &str, &str)]; 2] = [
            &[("A", "s1", "u1"), ("B", "s1", "u2"), ("A", "s1", "u3")],
            &[
                ("A", "s1", "u4"),
                ("C", "s2", "u5"),
                ("B", "s2", "u6"),
                ("A", "s1", "u7"),
            ],
        ];
        let mut one = ProblemLog::default();
        for step in steps {
            for (code, school, record) in step {
                add(&mut one, code, school, record);
            }
        }
        let mut first = ProblemLog::default();
        let mut later = ProblemLog::default();
        for (log, step) in [(&mut first, steps[0]), (&mut later, steps[1])] {
            for (code, school, record) in step {
                add(log, code, school, record);
            }
        }
        first.merge(later);
        let merged = first.into_list();
        assert_eq!(merged, one.into_list());
        let a = merged.iter().find(|p| p.code == "A").expect("A");
        assert_eq!(a.record.as_deref(), Some("u1"));
        assert_eq!(a.occurrences, Some(4));
    }
}
