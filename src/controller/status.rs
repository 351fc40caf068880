//! Status as the guide's Sync Details, built from a sync's outcome: pure functions, so the
//! rules (conditions that move `lastTransitionTime` only on a transition, bounded problems,
//! the school list) are tested without a cluster.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{
    Problem, SchoolCounts, SchoolExclusionStatus, SchoolStatus, SyncCounts, SyncResult, SyncRun,
    SyncTrigger,
};
use crate::engine::ExclusionResult;
use crate::engine::report::{self, SyncReport};
use crate::error_code::ErrorCode;
use crate::sync::{SyncOutcome, Trigger};

/// `Ready`: True while the last sync succeeded (fully or partially).
pub const READY: &str = "Ready";
/// `Syncing`: True while a sync runs; its message tells the phase.
pub const SYNCING: &str = "Syncing";
/// `Stalled`: True when the last sync failed for a reason a user must fix.
pub const STALLED: &str = "Stalled";

/// Sets `condition` in `conditions`, keeping the old `lastTransitionTime` when the
/// condition's status did not change, so an unchanged condition never rewrites status.
pub fn set_condition(conditions: &mut Vec<Condition>, mut condition: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if existing.status == condition.status {
                condition.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = condition;
        }
        None => conditions.push(condition),
    }
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// A condition observed at `now` for `generation`.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(now),
    }
}

/// Whether a failure needs a user before a retry can help.
pub fn needs_user(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::SecretNotFound
            | ErrorCode::PermissionDenied
            | ErrorCode::SecretKeyMissing
            | ErrorCode::InvalidSpec
            | ErrorCode::EndpointInvalid
            | ErrorCode::NotOneRosterApi
            | ErrorCode::AuthenticationFailed
            | ErrorCode::AccessDenied
            | ErrorCode::TokenRequestFailed
            | ErrorCode::DataGuardMasked
            | ErrorCode::ShrinkGuardTripped
            | ErrorCode::NoSchoolsLeft
            | ErrorCode::AllSchoolsIncomplete
    )
}

/// The status's `trigger` value.
pub fn trigger_of(trigger: Trigger) -> SyncTrigger {
    match trigger {
        Trigger::Initial => SyncTrigger::Initial,
        Trigger::Scheduled => SyncTrigger::Scheduled,
        Trigger::Manual => SyncTrigger::Manual,
        Trigger::Retry => SyncTrigger::Retry,
        Trigger::Changed => SyncTrigger::Changed,
    }
}

/// `status.lastSync` of a finished sync.
pub fn last_sync(outcome: &SyncOutcome, trigger: Trigger) -> SyncRun {
    let report = &outcome.report;
    SyncRun {
        trigger: trigger_of(trigger),
        start_time: Time(outcome.started),
        completion_time: Some(Time(outcome.completed)),
        duration_seconds: Some(
            u64::try_from(outcome.completed.duration_since(outcome.started).as_secs())
                .unwrap_or_default(),
        ),
        result: Some(match report.result {
            report::SyncResult::Succeeded => SyncResult::Succeeded,
            report::SyncResult::PartiallySucceeded => SyncResult::PartiallySucceeded,
            report::SyncResult::Failed => SyncResult::Failed,
        }),
        error_code: report.error_code.map(|c| c.as_str().to_owned()),
        message: Some(report.message.clone()),
        counts: counts(&report.counts),
        problems: report
            .problems
            .iter()
            .take(report::MAX_PROBLEMS)
            .map(|p| Problem {
                code: p.code.clone(),
                school: p.school.clone(),
                record_type: p.record_type.clone(),
                record: p.record.clone(),
                occurrences: p.occurrences,
                message: p.message.clone(),
            })
            .collect(),
    }
}

fn counts(c: &report::Counts) -> SyncCounts {
    SyncCounts {
        unmatched_users: c.unmatched_users,
        matched_students: c.matched_students,
        matched_teachers: c.matched_teachers,
        matched_staff: c.matched_staff,
        imported_classes: c.imported_classes,
        synced_students: c.synced_students,
        synced_teachers: c.synced_teachers,
        synced_staff: c.synced_staff,
        synced_guardians: c.synced_guardians,
        created_users: c.created_users,
        excluded_schools: c.excluded_schools,
    }
}

/// `status.schools`: every school the sync saw.
pub fn schools(report: &SyncReport) -> Vec<SchoolStatus> {
    report
        .schools
        .iter()
        .map(|s| SchoolStatus {
            sourced_id: s.sourced_id.clone(),
            name: s.name.clone(),
            identifier: s.identifier.clone(),
            included: s.included,
            excluded_by: s.excluded_by.clone(),
            complete: s.complete,
            counts: SchoolCounts {
                students: s.counts.students,
                teachers: s.counts.teachers,
                staff: s.counts.staff,
                classes: s.counts.classes,
            },
        })
        .collect()
}

/// `Ready` and `Stalled` after a sync ended with `report`.
pub fn result_conditions(
    conditions: &mut Vec<Condition>,
    report: &SyncReport,
    generation: Option<i64>,
    now: Timestamp,
) {
    let code = report.error_code;
    let (ready, reason) = match (report.result, code) {
        (report::SyncResult::Failed, Some(code)) => (false, code.as_str()),
        (report::SyncResult::Failed, None) => (false, "Failed"),
        (result, _) => (true, result.as_str()),
    };
    set_condition(
        conditions,
        condition(
            READY,
            ready,
            reason,
            report.message.clone(),
            generation,
            now,
        ),
    );
    let stalled = report.result == report::SyncResult::Failed && code.is_some_and(needs_user);
    let (reason, message) = if stalled {
        (
            code.map_or("Failed", ErrorCode::as_str),
            code.map(ErrorCode::action).unwrap_or_default().to_owned(),
        )
    } else {
        ("Progressing", String::new())
    };
    set_condition(
        conditions,
        condition(STALLED, stalled, reason, message, generation, now),
    );
}

/// A SchoolExclusion's status after the sync of its ClassLinkSync resolved it: the same
/// resolution the CLI's report shows (`crate::sync::exclusions::resolution`).
pub fn exclusion_status(
    mut current: SchoolExclusionStatus,
    result: &ExclusionResult,
    generation: Option<i64>,
    completed: Timestamp,
) -> SchoolExclusionStatus {
    // Only the resolution is used here; the names are the object's own.
    let resolved = crate::sync::exclusions::resolution(&result.name, "", "", result);
    let summary = resolved
        .schools
        .iter()
        .map(|s| match (&s.name, &s.selector) {
            (Some(name), _) => name.clone(),
            (None, sel) => format!(
                "{} (not found)",
                sel.sourced_id
                    .as_deref()
                    .or(sel.identifier.as_deref())
                    .or(sel.name.as_deref())
                    .unwrap_or_default()
            ),
        })
        .collect::<Vec<_>>()
        .join(", ");
    set_condition(
        &mut current.conditions,
        condition(
            READY,
            resolved.ready,
            resolved.reason,
            resolved.message,
            generation,
            completed,
        ),
    );
    current.found = resolved.found;
    current.summary = Some(summary);
    current.schools = resolved.schools;
    current.observed_generation = generation;
    current.last_sync_time = Some(Time(completed));
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SchoolRef;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn an_unchanged_condition_keeps_its_transition_time() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            condition(
                READY,
                true,
                "Succeeded",
                "one",
                Some(1),
                t("2026-11-01T00:00:00Z"),
            ),
        );
        set_condition(
            &mut conditions,
            condition(
                READY,
                true,
                "Succeeded",
                "two",
                Some(2),
                t("2026-11-02T00:00:00Z"),
            ),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(
            conditions[0].last_transition_time.0,
            t("2026-11-01T00:00:00Z")
        );
        assert_eq!(conditions[0].message, "two");
        set_condition(
            &mut conditions,
            condition(
                READY,
                false,
                "AuthenticationFailed",
                "",
                Some(2),
                t("2026-11-03T00:00:00Z"),
            ),
        );
        assert_eq!(
            conditions[0].last_transition_time.0,
            t("2026-11-03T00:00:00Z")
        );
    }

    #[test]
    fn a_failure_a_user_must_fix_stalls_and_a_passing_one_does_not() {
        let now = t("2026-11-01T00:00:00Z");
        let mut conditions = Vec::new();
        let report = SyncReport::failed(ErrorCode::AuthenticationFailed, "401");
        result_conditions(&mut conditions, &report, Some(1), now);
        let stalled = conditions
            .iter()
            .find(|c| c.type_ == STALLED)
            .expect("Stalled");
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "AuthenticationFailed")
        );
        let ready = conditions.iter().find(|c| c.type_ == READY).expect("Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "AuthenticationFailed")
        );

        let report = SyncReport::failed(ErrorCode::ServerError, "503");
        result_conditions(&mut conditions, &report, Some(1), now);
        let stalled = conditions
            .iter()
            .find(|c| c.type_ == STALLED)
            .expect("Stalled");
        assert_eq!(stalled.status, "False", "a server error passes on its own");
    }

    #[test]
    fn an_exclusion_reports_each_school_found_or_not() {
        let result = ExclusionResult {
            name: "closed".into(),
            schools: vec![
                (
                    SchoolRef::Name("Oak Middle".into()),
                    Some(("org-2".into(), "Oak Middle".into())),
                ),
                (SchoolRef::SourcedId("org-99".into()), None),
            ],
        };
        let status = exclusion_status(
            SchoolExclusionStatus::default(),
            &result,
            Some(3),
            t("2026-11-01T00:00:00Z"),
        );
        assert_eq!(status.found.as_deref(), Some("1/2"));
        assert_eq!(
            status.summary.as_deref(),
            Some("Oak Middle, org-99 (not found)")
        );
        assert!(status.schools[0].found && !status.schools[1].found);
        assert_eq!(status.schools[0].sourced_id.as_deref(), Some("org-2"));
        let ready = &status.conditions[0];
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "SchoolsNotFound")
        );
    }
}
