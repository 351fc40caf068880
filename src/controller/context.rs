//! What every reconcile shares: the clients, the store, the metrics, the schedule's view
//! of all integrations, the syncs running now, and a per-object lock for status writes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::Recorder;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::crd::{ClassLinkSync, ClassLinkSyncStatus};
use crate::schedule::{Integration, Plan, RunGuard, SharedRunSlots, StartRefused};
use crate::store::Store;
use crate::sync::JobOptions;

/// Field manager of every status write.
pub const MANAGER: &str = "classlink-operator";

/// Operator-wide settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Options every sync job gets.
    pub job: JobOptions,
    /// Most syncs running at once, over all integrations.
    pub max_concurrent_syncs: usize,
}

/// Shared state of the controller.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// The roster store.
    pub store: Store,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Settings.
    pub settings: Settings,
    /// Cancelled when the operator stops (or loses the lease).
    pub shutdown: CancellationToken,
    runs: SharedRunSlots,
    cancels: Mutex<HashMap<String, CancellationToken>>,
    integrations: Mutex<BTreeMap<String, Integration>>,
    status_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cleanup_attempts: Mutex<HashMap<String, u32>>,
}

/// A sync that may run: its place under the cap (freed when dropped) and its cancellation.
pub struct Started {
    /// Dropping it frees the place, also on error or panic.
    pub guard: RunGuard,
    /// Cancels the sync (shutdown, deletion, lost leadership).
    pub cancel: CancellationToken,
}

impl Context {
    /// A context.
    pub fn new(
        client: kube::Client,
        store: Store,
        metrics: Arc<Metrics>,
        recorder: Recorder,
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            client,
            store,
            metrics,
            recorder,
            runs: SharedRunSlots::new(settings.max_concurrent_syncs),
            settings,
            shutdown,
            cancels: Mutex::default(),
            integrations: Mutex::default(),
            status_locks: Mutex::default(),
            cleanup_attempts: Mutex::default(),
        }
    }

    /// Takes a place for a sync of `key` unless one runs or the cap is reached: never two
    /// syncs of one integration at once.
    pub fn try_start(&self, key: &str) -> Result<Started, StartRefused> {
        let guard = self.runs.try_start(key)?;
        let cancel = self.shutdown.child_token();
        lock(&self.cancels).insert(key.to_owned(), cancel.clone());
        Ok(Started { guard, cancel })
    }

    /// Whether `key` syncs now.
    pub fn is_running(&self, key: &str) -> bool {
        self.runs.is_running(key)
    }

    /// The sync of `key` ended: forget its cancellation (the caller drops its guard).
    pub fn finished(&self, key: &str) {
        lock(&self.cancels).remove(key);
    }

    /// Cancels the sync of `key`, if one runs.
    pub fn cancel(&self, key: &str) {
        if let Some(cancel) = lock(&self.cancels).get(key) {
            cancel.cancel();
        }
    }

    /// How many syncs run now.
    pub fn running_count(&self) -> usize {
        self.runs.running()
    }

    /// Records what the schedule needs of one integration and plans all of them at `now`.
    pub fn plan(&self, integration: Integration, now: Timestamp) -> Plan {
        let mut all = lock(&self.integrations);
        let key = integration.key.clone();
        let slot = all.get(&key).and_then(|i| i.slot);
        all.insert(
            key.clone(),
            Integration {
                slot: integration.slot.or(slot),
                ..integration
            },
        );
        let plan = Plan::new(all.values().cloned(), now);
        // Keep each slot once given, so a late start never moves an integration for good.
        for planned in plan.iter() {
            if let Some(i) = all.get_mut(&planned.key) {
                i.slot = Some(planned.slot);
            }
        }
        plan
    }

    /// Forgets a deleted integration.
    pub fn forget(&self, key: &str) {
        lock(&self.integrations).remove(key);
        lock(&self.cleanup_attempts).remove(key);
    }

    /// Counts one more failed attempt to remove `key`'s data; returns the attempts so far.
    pub fn cleanup_failed(&self, key: &str) -> u32 {
        let mut attempts = lock(&self.cleanup_attempts);
        let n = attempts.entry(key.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    /// Changes the status of `name` in `namespace` with `change`, applied to the status as
    /// the API server has it now, and writes it (server-side apply) only when it changed.
    /// Writes of one object are serialised, so the reconciler and a running sync never
    /// overwrite each other's fields.
    pub async fn update_status(
        &self,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&ClassLinkSync, &mut ClassLinkSyncStatus),
    ) -> Result<Option<ClassLinkSync>, kube::Error> {
        let key = format!("{namespace}/{name}");
        let object_lock = lock(&self.status_locks)
            .entry(key)
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let _guard = object_lock.lock().await;
        let api: Api<ClassLinkSync> = Api::namespaced(self.client.clone(), namespace);
        let Some(current) = api.get_opt(name).await? else {
            return Ok(None);
        };
        let before = current.status.clone().unwrap_or_default();
        let mut status = before.clone();
        change(&current, &mut status);
        if status == before {
            return Ok(Some(current));
        }
        let patch = serde_json::json!({
            "apiVersion": "rostersync.io/v1alpha1",
            "kind": "ClassLinkSync",
            "status": status,
        });
        let updated = api
            .patch_status(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        Ok(Some(updated))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
