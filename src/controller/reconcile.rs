//! The reconcile of one ClassLinkSync, a thin executor around [`decide`]: it gathers what
//! the decision needs (status, the annotation, whether a sync runs, the inputs'
//! fingerprint), asks [`decide`], and applies the answer: start a sync, or write when the
//! next one may start and why, and look again then. It also handles the store-cleanup
//! finalizer.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::decide::{
    Decision, FinishedSync, Inputs, Observed, Wait, WaitReason, decide, inputs_fingerprint,
};
use super::runner;
use super::status::{SYNCING, condition, set_condition};
use crate::crd::{
    ClassLinkSync, ClassLinkSyncStatus, DeletionPolicy, STORE_CLEANUP_FINALIZER,
    SYNC_REQUESTED_AT_ANNOTATION, SyncResult,
};
use crate::error_code::ErrorCode;
use crate::schedule::StartRefused;
use crate::sync::Trigger;

/// A reconcile fault: the Kubernetes API or the store answered with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The store could not remove a deleted ClassLinkSync's data (retried, bounded).
    #[error("removing the ClassLinkSync's data from the store: {0}")]
    StoreCleanup(#[from] crate::store::StoreError),
}

impl Error {
    /// The category shown in events and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubernetesApi",
            Error::StoreCleanup(_) => "StoreUnavailable",
        }
    }
}

/// When to look again at a sync the cap on concurrent syncs holds back, should no place free
/// up before (a freed place wakes the longest waiting one at once, see
/// `Context::place_freed`): long, because thousands may wait at once and each look costs
/// requests.
const CAPACITY_REQUEUE: Duration = Duration::from_secs(120);
/// How long a reconcile waits for the caches of Secrets and SchoolExclusions.
const CACHE_WAIT: Duration = Duration::from_secs(10);
/// A look again after a sync started, should its end go unseen.
const RUNNING_REQUEUE: Duration = Duration::from_secs(600);
/// Attempts to remove a deleted ClassLinkSync's data before the finalizer lets go anyway.
pub const CLEANUP_ATTEMPTS: u32 = 4;

/// Reconciles one ClassLinkSync.
pub async fn reconcile(obj: Arc<ClassLinkSync>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = format!("{namespace}/{name}");

    if obj.meta().deletion_timestamp.is_some() {
        return finalize(&obj, &ctx, &namespace, &name, &key).await;
    }
    ensure_finalizer(&obj, &ctx, &namespace, &name).await?;

    // Check for a running sync before reading the object: a sync that finished wrote its
    // status before it left the running set, so the object read next already shows it.
    let running = ctx.is_running(&key);
    let Some(fresh) = ctx.current(&namespace, &name).await? else {
        return Ok(Action::await_change());
    };
    // The inputs' fingerprint needs the caches of Secrets and SchoolExclusions; until their
    // first list is in (the API server is slow, or a CRD is missing), look again later
    // rather than hold the reconcile, which would also hold a shutdown.
    tokio::select! {
        () = ctx.watched.ready() => {}
        () = tokio::time::sleep(CACHE_WAIT) => return Ok(Action::requeue(CACHE_WAIT)),
        () = ctx.shutdown.cancelled() => return Ok(Action::await_change()),
    }
    let now = ctx.clock.now();
    let observed = observe(&ctx, &fresh, running, now);
    let generation = fresh.meta().generation;

    let wait = match decide(now, &observed) {
        Decision::Start(trigger) => match ctx.try_start(&key) {
            Ok(run) => {
                start(&ctx, &fresh, trigger, &observed.inputs.current, run, now).await?;
                return Ok(Action::requeue(RUNNING_REQUEUE));
            }
            Err(StartRefused::AlreadyRunning { .. }) => return Ok(Action::await_change()),
            Err(StartRefused::AtCapacity { .. }) => {
                ctx.wait_for_place(&key);
                // Written once while it waits: nothing in it changes from one look to the
                // next (a changing time here would make every look a write, and every write
                // a look, for every waiting ClassLinkSync).
                let message = format!(
                    "a {} sync waits for a free place: {} syncs run at most at once (--max-concurrent-syncs)",
                    trigger.as_str(),
                    ctx.settings.max_concurrent_syncs
                );
                ctx.update_status(&namespace, &name, |_, s| {
                    s.observed_generation = generation;
                    set_condition(
                        &mut s.conditions,
                        condition(
                            SYNCING,
                            false,
                            "WaitingForCapacity",
                            message,
                            generation,
                            now,
                        ),
                    );
                })
                .await?;
                return Ok(Action::requeue(CAPACITY_REQUEUE));
            }
        },
        Decision::Wait(wait) => wait,
    };

    let current_inputs = observed.inputs.current.clone();
    ctx.update_status(&namespace, &name, |_, s| {
        s.observed_generation = generation;
        apply_wait(s, &wait, &current_inputs, generation, now);
    })
    .await?;
    Ok(match wait.next_sync_time {
        Some(next) => Action::requeue(until(now, next)),
        None if wait.reason == WaitReason::Running => Action::requeue(RUNNING_REQUEUE),
        None => Action::await_change(),
    })
}

/// What the decision needs of `obj` at `now`.
pub fn observe(ctx: &Context, obj: &ClassLinkSync, running: bool, now: Timestamp) -> Observed {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = format!("{namespace}/{name}");
    let status = obj.status.clone().unwrap_or_default();
    let spec = serde_json::to_value(&obj.spec).unwrap_or_default();
    let current = inputs_fingerprint(
        &spec,
        ctx.watched
            .secret_version(&namespace, &obj.spec.credentials.secret_ref.name)
            .as_deref(),
        &ctx.watched.exclusions_of(&namespace, &name),
    );
    let current_since = ctx.inputs_since(&key, &current, now);
    let manual_request = obj
        .annotations()
        .get(SYNC_REQUESTED_AT_ANNOTATION)
        .is_some_and(|v| status.last_handled_sync_request.as_ref() != Some(v));
    Observed {
        key,
        region: obj.spec.region,
        suspend: obj.spec.suspend,
        initial_sync: obj.spec.initial_sync,
        created: obj
            .meta()
            .creation_timestamp
            .as_ref()
            .map_or(now, |t| ctx.clock.reading_of_wall_time(t.0)),
        manual_request,
        running,
        last_start: status.last_sync_start_time.as_ref().map(|t| t.0),
        last_sync: status.last_sync.as_ref().map(|last| FinishedSync {
            started: last.start_time.0,
            completed: last
                .completion_time
                .as_ref()
                .map_or(last.start_time.0, |t| t.0),
            failed_with: (last.result == Some(SyncResult::Failed)).then(|| {
                last.error_code
                    .as_deref()
                    .and_then(|c| c.parse().ok())
                    // A code this version does not know is treated as one that needs a user.
                    .unwrap_or(ErrorCode::InvalidSpec)
            }),
        }),
        failed_attempts: status.failed_attempts.unwrap_or(0),
        inputs: Inputs {
            recorded: status.inputs_fingerprint.clone(),
            current,
            current_since,
        },
    }
}

/// Writes a decision to wait into status: `nextSyncTime` and the `Syncing` condition, which
/// a running sync owns and so are left alone while one runs.
pub fn apply_wait(
    s: &mut ClassLinkSyncStatus,
    wait: &Wait,
    current_inputs: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    if wait.adopt_inputs {
        s.inputs_fingerprint = Some(current_inputs.to_owned());
    }
    if wait.reason == WaitReason::Running {
        return;
    }
    s.next_sync_time = wait.next_sync_time.map(Time);
    let at = wait.next_sync_time.map_or_else(String::new, |t| {
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    });
    let message = match wait.reason {
        WaitReason::Running => return,
        WaitReason::Suspended => "spec.suspend is true: no sync starts".to_owned(),
        WaitReason::Retrying { attempt, code } => format!(
            "{code} is transient: retry {attempt} at {at} (backoff 1, 2, 4 … minutes, at most 60)"
        ),
        WaitReason::ChangePending => format!(
            "the spec, the Secret or a SchoolExclusion changed: a sync starts at {at} unless they change again"
        ),
        WaitReason::Scheduled => format!("the next nightly sync starts at {at}"),
        WaitReason::MissedWindow { night } => format!(
            "no sync ran in the nightly window of {night}: the operator was down, suspended or at its cap on concurrent syncs (--max-concurrent-syncs) all night; the next nightly sync starts at {at}"
        ),
    };
    set_condition(
        &mut s.conditions,
        condition(
            SYNCING,
            false,
            wait.reason.as_str(),
            message,
            generation,
            now,
        ),
    );
}

/// Starts a sync: status first (what started it, when, from which inputs), then the event,
/// the log line and the task.
async fn start(
    ctx: &Arc<Context>,
    obj: &ClassLinkSync,
    trigger: Trigger,
    inputs: &str,
    run: super::context::Started,
    now: Timestamp,
) -> Result<(), Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = format!("{namespace}/{name}");
    let generation = obj.meta().generation;
    let requested = obj.annotations().get(SYNC_REQUESTED_AT_ANNOTATION).cloned();
    let started = ctx
        .update_status(&namespace, &name, |_, s| {
            s.observed_generation = generation;
            if trigger == Trigger::Manual {
                s.last_handled_sync_request = requested.clone();
            }
            s.last_sync_start_time = Some(Time(now));
            s.inputs_fingerprint = Some(inputs.to_owned());
            s.next_sync_time = None;
            set_condition(
                &mut s.conditions,
                condition(
                    SYNCING,
                    true,
                    "Running",
                    format!("{} sync started", trigger.as_str()),
                    generation,
                    now,
                ),
            );
        })
        .await;
    match started {
        Ok(Some(object)) => {
            // The sync itself logs its start (src/sync), for the CLI and the operator alike.
            publish(
                ctx,
                &object,
                (EventType::Normal, Fold::Repeats),
                "SyncStarted",
                trigger.as_str(),
                format!("{} sync started", trigger.as_str()),
            )
            .await;
            runner::spawn(ctx.clone(), Arc::unwrap_or_clone(object), trigger, now, run);
            Ok(())
        }
        Ok(None) => {
            ctx.finished(&key);
            Ok(())
        }
        Err(e) => {
            ctx.finished(&key);
            Err(e.into())
        }
    }
}

/// How long from `now` until `then`, at least a second.
fn until(now: Timestamp, then: Timestamp) -> Duration {
    let wait = then.duration_since(now).as_millis().max(1000);
    Duration::from_millis(u64::try_from(wait).unwrap_or(1000))
}

/// Requeues after an error, later each time.
pub fn error_policy(obj: Arc<ClassLinkSync>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any(),
        category = error.category(),
        error = %error,
        "reconcile failed"
    );
    Action::requeue(Duration::from_secs(5))
}

/// The finalizer is there exactly while `deletionPolicy` is `Delete`.
async fn ensure_finalizer(
    obj: &ClassLinkSync,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(), Error> {
    let wants = obj.spec.deletion_policy == DeletionPolicy::Delete;
    let has = obj
        .finalizers()
        .iter()
        .any(|f| f == STORE_CLEANUP_FINALIZER);
    if wants == has {
        return Ok(());
    }
    let mut finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != STORE_CLEANUP_FINALIZER)
        .cloned()
        .collect();
    if wants {
        finalizers.push(STORE_CLEANUP_FINALIZER.to_owned());
    }
    patch_finalizers(ctx, namespace, name, obj, finalizers).await
}

async fn patch_finalizers(
    ctx: &Context,
    namespace: &str,
    name: &str,
    obj: &ClassLinkSync,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    let api: Api<ClassLinkSync> = Api::namespaced(ctx.client.clone(), namespace);
    // The resourceVersion guards against dropping a finalizer another controller added.
    let patch = serde_json::json!({
        "metadata": {
            "resourceVersion": obj.resource_version(),
            "finalizers": finalizers,
        }
    });
    let patched = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    if let Some(version) = patched.metadata.resource_version {
        ctx.saw_version(&format!("{namespace}/{name}"), version);
    }
    Ok(())
}

/// A ClassLinkSync is going away: stop its sync, remove its data when asked to, and let it
/// go. A store that stays unreachable never blocks the deletion for good: after
/// [`CLEANUP_ATTEMPTS`] attempts the finalizer is released with a warning event.
async fn finalize(
    obj: &ClassLinkSync,
    ctx: &Context,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Action, Error> {
    ctx.cancel(key);
    if !obj
        .finalizers()
        .iter()
        .any(|f| f == STORE_CLEANUP_FINALIZER)
    {
        ctx.forget(key);
        return Ok(Action::await_change());
    }
    match ctx.store.delete_provider(namespace, name).await {
        Ok(rows) => {
            publish(
                ctx,
                obj,
                (EventType::Normal, Fold::Repeats),
                "StoreDataDeleted",
                "Delete",
                format!("deletionPolicy Delete: removed {rows} rows of this ClassLinkSync from the roster store"),
            )
            .await;
        }
        Err(e) => {
            let attempts = ctx.cleanup_failed(key);
            if attempts < CLEANUP_ATTEMPTS {
                tracing::warn!(%key, attempts, error = %e, "removing a deleted ClassLinkSync's data failed; retrying");
                return Ok(Action::requeue(Duration::from_secs(1 << attempts)));
            }
            publish(
                ctx,
                obj,
                (EventType::Warning, Fold::Repeats),
                "StoreCleanupAbandoned",
                "Delete",
                format!(
                    "Could not remove this ClassLinkSync's data from the roster store after {attempts} attempts ({}); releasing the finalizer so the deletion completes. Remove the rows of provider {name} in namespace {namespace} by hand.",
                    e.code()
                ),
            )
            .await;
        }
    }
    let finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != STORE_CLEANUP_FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(ctx, namespace, name, obj, finalizers).await?;
    ctx.forget(key);
    Ok(Action::await_change())
}

/// Whether an event may fold into an earlier one of the same reason and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Within a few minutes, repeats become one event with a count and the first note: for
    /// events whose note is the same each time (`SyncStarted` of one trigger).
    Repeats,
    /// Always a new event: a sync's outcome, whose note (counts, message) must be the one
    /// status shows, even when an earlier outcome had the same reason.
    Never,
}

/// Publishes an event about `obj`; a failure to publish is logged, never fatal.
pub async fn publish(
    ctx: &Context,
    obj: &ClassLinkSync,
    (type_, fold): (EventType, Fold),
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    let published = match fold {
        Fold::Repeats => ctx.recorder.publish(&event, &obj.object_ref(&())).await,
        // A recorder of its own has no earlier event to fold into.
        Fold::Never => {
            Recorder::new(ctx.client.clone(), ctx.reporter.clone())
                .publish(&event, &obj.object_ref(&()))
                .await
        }
    };
    if let Err(e) = published {
        tracing::warn!(error = %e, reason, "could not publish an event");
    }
}
