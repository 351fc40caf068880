//! The reconcile of one ClassLinkSync: decide whether a sync starts now (first sync, manual
//! request, nightly slot), keep status true (`observedGeneration`, `nextSyncTime`,
//! `Syncing`), handle the store-cleanup finalizer, and say when to look again.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::runner;
use super::status::{SYNCING, condition, set_condition};
use crate::crd::{
    ClassLinkSync, ClassLinkSyncStatus, DeletionPolicy, InitialSync, STORE_CLEANUP_FINALIZER,
    SYNC_REQUESTED_AT_ANNOTATION, SyncTrigger,
};
use crate::schedule::{Integration, PlannedSync, StartRefused};
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

/// How long to wait at most before looking at a ClassLinkSync again.
const MAX_REQUEUE: Duration = Duration::from_secs(3600);
/// How long to wait when the cap on concurrent syncs holds a sync back.
const CAPACITY_REQUEUE: Duration = Duration::from_secs(30);
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
    let api: Api<ClassLinkSync> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(fresh) = api.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let status = fresh.status.clone().unwrap_or_default();
    let spec = &fresh.spec;
    let now = Timestamp::now();

    let planned = planned_sync(&ctx, &key, &fresh, &status, now);

    let requested = fresh
        .annotations()
        .get(SYNC_REQUESTED_AT_ANNOTATION)
        .filter(|v| status.last_handled_sync_request.as_ref() != Some(*v))
        .cloned();
    let trigger = if running || spec.suspend {
        None
    } else if requested.is_some() {
        Some(Trigger::Manual)
    } else if status.last_sync.is_none() && spec.initial_sync == InitialSync::Immediate {
        Some(Trigger::Initial)
    } else if planned.as_ref().is_some_and(|p| p.is_due(now)) {
        Some(Trigger::Scheduled)
    } else {
        None
    };

    let generation = fresh.meta().generation;
    let mut requeue = planned
        .as_ref()
        .and_then(|p| p.next_sync_time)
        .map_or(MAX_REQUEUE, |next| {
            let wait = next.duration_since(now).as_secs().max(1);
            Duration::from_secs(u64::try_from(wait).unwrap_or(1)).min(MAX_REQUEUE)
        });
    let mut waiting_for_capacity = false;
    if let Some(trigger) = trigger {
        match ctx.try_start(&key) {
            Ok(run) => {
                let started = ctx
                    .update_status(&namespace, &name, |_, s| {
                        s.observed_generation = generation;
                        if trigger == Trigger::Manual {
                            s.last_handled_sync_request = requested.clone();
                        }
                        if trigger == Trigger::Scheduled {
                            s.last_scheduled_sync_time = Some(Time(now));
                            // Tonight is used up: the next scheduled sync is a later night.
                            s.next_sync_time = planned_sync(&ctx, &key, &fresh, s, now)
                                .and_then(|p| p.next_sync_time)
                                .map(Time);
                        }
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
                        publish(
                            &ctx,
                            &object,
                            EventType::Normal,
                            "SyncStarted",
                            trigger.as_str(),
                            format!("{} sync started", trigger.as_str()),
                        )
                        .await;
                        runner::spawn(ctx.clone(), object, trigger, run);
                    }
                    Ok(None) => ctx.finished(&key),
                    Err(e) => {
                        ctx.finished(&key);
                        return Err(e.into());
                    }
                }
                return Ok(Action::requeue(requeue));
            }
            Err(StartRefused::AlreadyRunning { .. }) => {}
            Err(StartRefused::AtCapacity { .. }) => {
                waiting_for_capacity = true;
                requeue = CAPACITY_REQUEUE;
            }
        }
    }

    // Nothing starts now: keep the rest of status true.
    let next = planned.and_then(|p| p.next_sync_time);
    let running_now = ctx.is_running(&key);
    ctx.update_status(&namespace, &name, |_, s| {
        s.observed_generation = generation;
        if !running_now {
            s.next_sync_time = next.map(Time);
            let (reason, message) = if spec.suspend {
                (
                    "Suspended",
                    "spec.suspend is true: no sync starts".to_owned(),
                )
            } else if waiting_for_capacity {
                (
                    "WaitingForCapacity",
                    format!(
                        "waiting: {} syncs run already (--max-concurrent-syncs)",
                        ctx.running_count()
                    ),
                )
            } else {
                ("Idle", "no sync is running".to_owned())
            };
            set_condition(
                &mut s.conditions,
                condition(SYNCING, false, reason, message, generation, now),
            );
        }
    })
    .await?;
    Ok(Action::requeue(requeue))
}

/// The schedule of `obj` as of `now`, from what its status says of earlier syncs.
pub fn planned_sync(
    ctx: &Context,
    key: &str,
    obj: &ClassLinkSync,
    status: &ClassLinkSyncStatus,
    now: Timestamp,
) -> Option<PlannedSync> {
    // The slot comes from the last scheduled start, or from the first sync when it ran
    // inside a window; manual syncs never move it.
    let previous_start = status
        .last_scheduled_sync_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| {
            status
                .last_sync
                .as_ref()
                .filter(|s| s.trigger == SyncTrigger::Initial)
                .map(|s| s.start_time.0)
        });
    let mut integration =
        Integration::new(key.to_owned(), obj.spec.region).with_suspended(obj.spec.suspend);
    integration.previous_start = previous_start;
    ctx.plan(integration, now).get(key).cloned()
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
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
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
                EventType::Normal,
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
                EventType::Warning,
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

/// Publishes an event about `obj`; a failure to publish is logged, never fatal. Events of
/// one reason and action within a few minutes fold into one with a count, so `action`
/// carries what tells outcomes apart (the error code of a failure).
pub async fn publish(
    ctx: &Context,
    obj: &ClassLinkSync,
    type_: EventType,
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
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish an event");
    }
}
