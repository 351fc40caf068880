//! A sync runs as a task outside the reconcile call: it reads the Secret and the
//! SchoolExclusions, runs the sync, shows progress in the `Syncing` condition (at most every
//! few seconds), and writes the outcome into status, the SchoolExclusions, an event and the
//! metrics. Cancelled (shutdown, deletion, lost lease), it ends `Failed` with
//! `SyncCancelled` and the store's transaction rolls back.

use std::collections::BTreeMap;
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
use super::reconcile::{planned_sync, publish};
use super::status::{self, SYNCING, condition, set_condition};
use crate::crd::{CONFIRM_SHRINK_ANNOTATION, ClassLinkSync, SchoolExclusion};
use crate::engine::report::{SyncReport, SyncResult};
use crate::error_code::ErrorCode;
use crate::oneroster::Progress;
use crate::sync::{self, JobOptions, SyncOutcome, Trigger};

/// How often a running sync may rewrite its `Syncing` condition.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Starts the sync of `obj` in a task.
pub fn spawn(ctx: Arc<Context>, obj: ClassLinkSync, trigger: Trigger, started: Started) {
    let Started { guard, cancel } = started;
    tokio::spawn(async move {
        let namespace = obj.namespace().unwrap_or_default();
        let name = obj.name_any();
        let key = format!("{namespace}/{name}");
        ctx.metrics.in_flight(1);
        let (outcome, confirmation) = run(&ctx, &obj, trigger, &cancel).await;
        if let Err(e) = finish(&ctx, &obj, trigger, &outcome, confirmation).await {
            tracing::warn!(%key, error = %e, "could not write the sync's status");
        }
        ctx.metrics.in_flight(-1);
        // Status first, then the place: a reconcile that sees the place free reads the
        // status this sync wrote.
        ctx.finished(&key);
        drop(guard);
    });
}

async fn run(
    ctx: &Arc<Context>,
    obj: &ClassLinkSync,
    trigger: Trigger,
    cancel: &CancellationToken,
) -> (SyncOutcome, Option<String>) {
    let namespace = obj.namespace().unwrap_or_default();
    let started = Timestamp::now();
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
        completed: Timestamp::now(),
        rows_written: 0,
        run_id: None,
    };

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let secret_name = &obj.spec.credentials.secret_ref.name;
    let secret = match secrets.get_opt(secret_name).await {
        Ok(secret) => secret,
        Err(e) => {
            let message = format!("reading Secret {namespace}/{secret_name}: {e}");
            return (failed(api_error_code(&e), message), None);
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
            return (failed(api_error_code(&e), message), None);
        }
    };
    let options = JobOptions {
        confirm_shrink: confirmation.is_some(),
        ..ctx.settings.job.clone()
    };
    let job = match sync::job::build(&namespace, obj, data.as_ref(), &exclusions, &options) {
        Ok(job) => job,
        Err(e) => return (failed(e.code, e.message), None),
    };

    let (progress_tx, progress_rx) = watch::channel::<Option<Progress>>(None);
    let reporter = report_progress(ctx.clone(), obj.clone(), progress_rx);
    // Records read per collection (the latest count of each), for the metrics.
    let read = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
    let read_in_callback = read.clone();
    let work = sync::run(&job, &ctx.store, trigger, None, move |p: Progress| {
        if let Ok(mut read) = read_in_callback.lock() {
            read.insert(p.collection.to_string(), p.records);
        }
        let _ = progress_tx.send(Some(p));
    });
    let outcome = tokio::select! {
        outcome = work => outcome,
        () = cancel.cancelled() => failed(
            ErrorCode::SyncCancelled,
            "The sync was cancelled (operator shutdown, lost leadership, or the ClassLinkSync was deleted); nothing was changed.".into(),
        ),
    };
    reporter.abort();
    if let Ok(read) = read.lock() {
        for (collection, records) in read.iter() {
            ctx.metrics.records_fetched(collection, *records);
        }
    }
    let handled = (outcome.report.result != SyncResult::Failed)
        .then_some(confirmation)
        .flatten();
    (outcome, handled)
}

/// Rewrites the `Syncing` condition with the latest progress, at most every few seconds.
fn report_progress(
    ctx: Arc<Context>,
    obj: ClassLinkSync,
    mut progress: watch::Receiver<Option<Progress>>,
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
            let Some(p) = progress.borrow_and_update().clone() else {
                continue;
            };
            let total = p.total.map_or_else(String::new, |t| format!("/{t}"));
            let message = format!(
                "reading {}: {}{total} records, {} pages",
                p.collection, p.records, p.pages
            );
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
                            Timestamp::now(),
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
) -> Result<(), kube::Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let report = &outcome.report;
    let now = Timestamp::now();
    let updated = ctx
        .update_status(&namespace, &name, |current, s| {
            let generation = current.meta().generation;
            s.observed_generation = generation;
            s.last_sync = Some(status::last_sync(outcome, trigger));
            if report.result != SyncResult::Failed {
                s.last_successful_sync_time = Some(Time(outcome.completed));
                s.schools = status::schools(report);
            }
            if confirmation.is_some() {
                s.last_handled_shrink_confirmation = confirmation.clone();
            }
            let key = format!("{namespace}/{name}");
            s.next_sync_time = planned_sync(ctx, &key, current, s, now)
                .and_then(|p| p.next_sync_time)
                .map(Time);
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
        })
        .await?;

    let seconds = outcome
        .completed
        .duration_since(outcome.started)
        .as_secs_f64();
    ctx.metrics.sync_finished(
        &namespace,
        &name,
        report,
        seconds,
        outcome.completed.as_second(),
    );
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
        updated.as_ref().unwrap_or(obj),
        type_,
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
