//! A sync runs as a task outside the reconcile call: it reads the Secret and the
//! SchoolExclusions, runs the sync, shows progress in the `Syncing` condition (at most every
//! few seconds), and writes the outcome into status, the SchoolExclusions, an event and the
//! metrics. Cancelled (shutdown, deletion, lost lease), it ends `Failed` with
//! `SyncCancelled` and the store's transaction rolls back.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::context::{Context, MANAGER, Started};
use super::decide::{Decision, decide, inputs_fingerprint};
use super::reconcile::{Fold, apply_wait, observe, publish};
use super::status::{self, SYNCING, condition, set_condition};
use crate::crd::{CONFIRM_SHRINK_ANNOTATION, ClassLinkSync, SchoolExclusion};
use crate::engine::report::{SyncReport, SyncResult};
use crate::error_code::ErrorCode;
use crate::oneroster::{Progress, RosterProgress};
use crate::sync::{self, JobOptions, SyncOutcome, Trigger};

/// How often a running sync may rewrite its `Syncing` condition.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Starts the sync of `obj` in a task; `started` is the start status already shows.
pub fn spawn(
    ctx: Arc<Context>,
    obj: ClassLinkSync,
    trigger: Trigger,
    started: Timestamp,
    place: Started,
) {
    let Started { guard, cancel } = place;
    tokio::spawn(async move {
        let namespace = obj.namespace().unwrap_or_default();
        let name = obj.name_any();
        let key = format!("{namespace}/{name}");
        ctx.metrics.in_flight(1);
        let (mut outcome, confirmation, inputs) = run(&ctx, &obj, trigger, started, &cancel).await;
        // The sync's times on the controller's clock, the one every decision reads.
        outcome.started = started;
        outcome.completed = ctx.clock.now();
        log_outcome(&namespace, &name, trigger, &outcome);
        if let Err(e) = finish(&ctx, &obj, trigger, &outcome, confirmation, inputs).await {
            tracing::warn!(%key, error = %e, "could not write the sync's status");
        }
        ctx.metrics.in_flight(-1);
        // Status first, then the place: a reconcile that sees the place free reads the
        // status this sync wrote.
        ctx.finished(&key);
        drop(guard);
        ctx.place_freed();
    });
}

/// One INFO line per finished sync: who, what started it, how it ended, how long, the
/// counts. Codes and counts only: messages may quote a server, and never a person.
fn log_outcome(namespace: &str, name: &str, trigger: Trigger, outcome: &SyncOutcome) {
    let report = &outcome.report;
    let c = &report.counts;
    tracing::info!(
        namespace,
        name,
        trigger = trigger.as_str(),
        result = report.result.as_str(),
        code = report.error_code.map_or("", ErrorCode::as_str),
        duration_seconds = outcome.completed.duration_since(outcome.started).as_secs(),
        rows_written = outcome.rows_written,
        unmatched_users = c.unmatched_users,
        matched_students = c.matched_students,
        matched_teachers = c.matched_teachers,
        imported_classes = c.imported_classes,
        synced_guardians = c.synced_guardians,
        created_users = c.created_users,
        "sync finished"
    );
}

async fn run(
    ctx: &Arc<Context>,
    obj: &ClassLinkSync,
    trigger: Trigger,
    started: Timestamp,
    cancel: &CancellationToken,
) -> (SyncOutcome, Option<String>, Option<String>) {
    let namespace = obj.namespace().unwrap_or_default();
    let confirmation = obj
        .annotations()
        .get(CONFIRM_SHRINK_ANNOTATION)
        .filter(|v| {
            obj.status
                .as_ref()
                .and_then(|s| s.last_handled_shrink_confirmation.as_ref())
                != Some(*v)
        })
        .cloned();
    let failed = |code: ErrorCode, message: String| SyncOutcome {
        report: SyncReport::failed(code, message),
        exclusions: Vec::new(),
        started,
        completed: ctx.clock.now(),
        rows_written: 0,
        run_id: None,
    };

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let secret_name = &obj.spec.credentials.secret_ref.name;
    let secret = match secrets.get_opt(secret_name).await {
        Ok(secret) => secret,
        Err(e) => {
            let message = format!("reading Secret {namespace}/{secret_name}: {e}");
            return (failed(api_error_code(&e), message), None, None);
        }
    };
    let data = secret.as_ref().map(|s| {
        s.data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect()
    });
    let exclusions: Api<SchoolExclusion> = Api::namespaced(ctx.client.clone(), &namespace);
    let exclusions = match exclusions.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            let message = format!("listing SchoolExclusions in {namespace}: {e}");
            return (failed(api_error_code(&e), message), None, None);
        }
    };
    // What this sync reads, as a fingerprint: a change the watches deliver later than this
    // read then compares equal, and starts no second sync.
    let name = obj.name_any();
    let naming_this: Vec<(String, i64)> = exclusions
        .iter()
        .filter(|x| x.spec.class_link_sync_name == name)
        .map(|x| (x.name_any(), x.metadata.generation.unwrap_or_default()))
        .collect();
    let inputs = Some(inputs_fingerprint(
        &serde_json::to_value(&obj.spec).unwrap_or_default(),
        secret
            .as_ref()
            .and_then(|s| s.metadata.resource_version.as_deref()),
        &naming_this,
    ));
    let options = JobOptions {
        confirm_shrink: confirmation.is_some(),
        ..ctx.settings.job.clone()
    };
    let job = match sync::job::build(&namespace, obj, data.as_ref(), &exclusions, &options) {
        Ok(job) => job,
        Err(e) => return (failed(e.code, e.message), None, inputs),
    };

    let (progress_tx, progress_rx) = watch::channel::<Option<String>>(None);
    let reporter = report_progress(ctx.clone(), obj.clone(), progress_rx);
    // Every collection's latest progress: the `Syncing` message and the metrics.
    let read = Arc::new(std::sync::Mutex::new(RosterProgress::default()));
    let read_in_callback = read.clone();
    // The region's date on the controller's clock, for the date rules.
    let today = sync::today_in(obj.spec.region, started);
    let work = sync::run(
        &job,
        &ctx.store,
        trigger,
        Some(today),
        move |p: Progress| {
            if let Ok(mut read) = read_in_callback.lock() {
                read.update(p);
                let _ = progress_tx.send(Some(read.line()));
            }
        },
    );
    let finished = tokio::select! {
        outcome = work => Some(outcome),
        () = cancel.cancelled() => None,
    };
    // Cancelled: the sync's future is dropped, so its transaction rolled back; the store
    // still records the run, so `sync_runs` shows every sync that started.
    let outcome = match finished {
        Some(outcome) => outcome,
        None => {
            sync::record_cancelled(
                &job,
                &ctx.store,
                trigger,
                started,
                "operator shutdown, lost leadership, or the ClassLinkSync was deleted",
            )
            .await
        }
    };
    reporter.abort();
    if let Ok(read) = read.lock() {
        for (collection, records) in read.records() {
            ctx.metrics
                .records_fetched(&namespace, &name, collection.as_str(), records);
        }
    }
    let handled = (outcome.report.result != SyncResult::Failed)
        .then_some(confirmation)
        .flatten();
    (outcome, handled, inputs)
}

/// Rewrites the `Syncing` condition with the latest progress, at most every few seconds.
fn report_progress(
    ctx: Arc<Context>,
    obj: ClassLinkSync,
    mut progress: watch::Receiver<Option<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let namespace = obj.namespace().unwrap_or_default();
        let name = obj.name_any();
        let generation = obj.meta().generation;
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            if progress.changed().await.is_err() {
                return;
            }
            let Some(message) = progress.borrow_and_update().clone() else {
                continue;
            };
            let _ = ctx
                .update_status(&namespace, &name, |_, s| {
                    set_condition(
                        &mut s.conditions,
                        condition(
                            SYNCING,
                            true,
                            "Running",
                            message,
                            generation,
                            ctx.clock.now(),
                        ),
                    );
                })
                .await;
        }
    })
}

/// Writes the outcome: status, SchoolExclusions, an event and metrics.
async fn finish(
    ctx: &Context,
    obj: &ClassLinkSync,
    trigger: Trigger,
    outcome: &SyncOutcome,
    confirmation: Option<String>,
    inputs: Option<String>,
) -> Result<(), kube::Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let report = &outcome.report;
    let now = ctx.clock.now();
    let updated = ctx
        .update_status(&namespace, &name, |current, s| {
            let generation = current.meta().generation;
            s.observed_generation = generation;
            s.last_sync = Some(status::last_sync(outcome, trigger));
            if report.result == SyncResult::Failed {
                s.failed_attempts = Some(s.failed_attempts.unwrap_or(0).saturating_add(1));
            } else {
                s.failed_attempts = None;
                s.last_successful_sync_time = Some(Time(outcome.completed));
                s.schools = status::schools(report);
            }
            if confirmation.is_some() {
                s.last_handled_shrink_confirmation = confirmation.clone();
            }
            if inputs.is_some() {
                s.inputs_fingerprint = inputs.clone();
            }
            status::result_conditions(&mut s.conditions, report, generation, now);
            set_condition(
                &mut s.conditions,
                condition(
                    SYNCING,
                    false,
                    "Idle",
                    "no sync is running",
                    generation,
                    now,
                ),
            );
            // What comes next, decided as the next reconcile will: the same answer, so that
            // reconcile writes nothing more.
            let mut after = current.clone();
            after.status = Some(s.clone());
            let observed = observe(ctx, &after, false, now);
            match decide(now, &observed) {
                Decision::Wait(wait) => {
                    apply_wait(s, &wait, &observed.inputs.current, generation, now)
                }
                Decision::Start(_) => s.next_sync_time = Some(Time(now)),
            }
        })
        .await?;

    let seconds = outcome
        .completed
        .duration_since(outcome.started)
        .as_secs_f64();
    ctx.metrics
        .sync_finished(&namespace, &name, report, seconds);
    let (type_, reason) = match report.result {
        SyncResult::Succeeded => (EventType::Normal, "SyncSucceeded"),
        SyncResult::PartiallySucceeded => (EventType::Warning, "SyncPartiallySucceeded"),
        SyncResult::Failed => (EventType::Warning, "SyncFailed"),
    };
    let note = match report.error_code {
        Some(code) => format!("{code}: {}", report.message),
        None => report.message.clone(),
    };
    let action = report.error_code.map_or("Sync", ErrorCode::as_str);
    publish(
        ctx,
        updated.as_deref().unwrap_or(obj),
        (type_, Fold::Never),
        reason,
        action,
        truncate(&note, 1000),
    )
    .await;

    let exclusions: Api<SchoolExclusion> = Api::namespaced(ctx.client.clone(), &namespace);
    for result in &outcome.exclusions {
        let Some(current) = exclusions.get_opt(&result.name).await? else {
            continue;
        };
        let generation = current.meta().generation;
        let new = status::exclusion_status(
            current.status.clone().unwrap_or_default(),
            result,
            generation,
            outcome.completed,
        );
        if Some(&new) == current.status.as_ref() {
            continue;
        }
        let patch = serde_json::json!({
            "apiVersion": "rostersync.io/v1alpha1",
            "kind": "SchoolExclusion",
            "status": new,
        });
        exclusions
            .patch_status(
                &result.name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    Ok(())
}

/// A Kubernetes API error as a sync's error code: RBAC refusals are the user's to fix.
fn api_error_code(e: &kube::Error) -> ErrorCode {
    match e {
        kube::Error::Api(status) if status.code == 403 => ErrorCode::PermissionDenied,
        _ => ErrorCode::KubernetesApiUnavailable,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
