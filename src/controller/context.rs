//! What every reconcile shares: the clients, the store, the metrics, the clock, the caches
//! of Secrets and SchoolExclusions, the syncs running now, when each ClassLinkSync's inputs
//! last changed, and a per-object lock for status writes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store as Cache};
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::crd::{ClassLinkSync, ClassLinkSyncStatus, SchoolExclusion};
use crate::schedule::{Clock, RunGuard, SharedRunSlots, StartRefused};
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
    /// Event recorder (events that may fold into a series: same reason, action and note).
    pub recorder: Recorder,
    /// Who reports events, for recorders that must not fold.
    pub reporter: Reporter,
    /// Settings.
    pub settings: Settings,
    /// Cancelled when the operator stops (or loses the lease).
    pub shutdown: CancellationToken,
    /// Every `now` of the controller.
    pub clock: Arc<dyn Clock>,
    /// The watched Secrets (metadata only) and SchoolExclusions, one cache per scope.
    pub watched: Watched,
    runs: SharedRunSlots,
    /// ClassLinkSyncs whose due sync waits for a place, first come first served, and where
    /// to send them when a place frees (one sender per watched scope).
    waiting: Mutex<VecDeque<String>>,
    wakers: Mutex<Vec<tokio::sync::mpsc::UnboundedSender<ObjectRef<ClassLinkSync>>>>,
    cancels: Mutex<HashMap<String, CancellationToken>>,
    inputs_seen: Mutex<HashMap<String, (String, Timestamp)>>,
    status_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cleanup_attempts: Mutex<HashMap<String, u32>>,
    /// The controllers' caches of ClassLinkSyncs, one per scope.
    syncs: Mutex<Vec<Cache<ClassLinkSync>>>,
    /// The newest `resourceVersion` known of each ClassLinkSync the caches may not show yet:
    /// this operator's own last write, or a read that found the cache behind. Cleared when
    /// the cache shows it.
    ahead_of_cache: Mutex<HashMap<String, String>>,
}

/// The caches of the objects a sync's inputs include, filled by the controller's watches.
#[derive(Default, Clone)]
pub struct Watched {
    /// Secrets, metadata only.
    pub secrets: Vec<Cache<PartialObjectMeta<Secret>>>,
    /// SchoolExclusions.
    pub exclusions: Vec<Cache<SchoolExclusion>>,
}

impl Watched {
    /// Waits until every cache holds its first full list, so a Secret not yet listed never
    /// reads as missing.
    pub async fn ready(&self) {
        for cache in &self.secrets {
            let _ = cache.wait_until_ready().await;
        }
        for cache in &self.exclusions {
            let _ = cache.wait_until_ready().await;
        }
    }

    /// The `resourceVersion` of Secret `name` in `namespace`; `None` when it does not exist.
    pub fn secret_version(&self, namespace: &str, name: &str) -> Option<String> {
        let key = ObjectRef::new(name).within(namespace);
        self.secrets
            .iter()
            .find_map(|cache| cache.get(&key))
            .and_then(|secret| secret.metadata.resource_version.clone())
    }

    /// Name and generation of each SchoolExclusion in `namespace` that names `sync`.
    pub fn exclusions_of(&self, namespace: &str, sync: &str) -> Vec<(String, i64)> {
        self.exclusions
            .iter()
            .flat_map(|cache| {
                cache.state_filter(|x| {
                    x.metadata.namespace.as_deref() == Some(namespace)
                        && x.spec.class_link_sync_name == sync
                })
            })
            .map(|x| {
                (
                    x.metadata.name.clone().unwrap_or_default(),
                    x.metadata.generation.unwrap_or_default(),
                )
            })
            .collect()
    }
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: kube::Client,
        store: Store,
        metrics: Arc<Metrics>,
        reporter: Reporter,
        settings: Settings,
        shutdown: CancellationToken,
        clock: Arc<dyn Clock>,
        watched: Watched,
    ) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            reporter,
            client,
            store,
            metrics,
            runs: SharedRunSlots::new(settings.max_concurrent_syncs),
            settings,
            shutdown,
            clock,
            watched,
            waiting: Mutex::default(),
            wakers: Mutex::default(),
            cancels: Mutex::default(),
            inputs_seen: Mutex::default(),
            status_locks: Mutex::default(),
            cleanup_attempts: Mutex::default(),
            syncs: Mutex::default(),
            ahead_of_cache: Mutex::default(),
        }
    }

    /// Adds one scope's cache of ClassLinkSyncs, which [`Context::current`] reads.
    pub fn watch_syncs(&self, cache: Cache<ClassLinkSync>) {
        lock(&self.syncs).push(cache);
    }

    /// ClassLinkSync `name` in `namespace` as this instance's caches hold it: `None` also
    /// for one of another shard.
    pub fn cached(&self, namespace: &str, name: &str) -> Option<Arc<ClassLinkSync>> {
        let reference = ObjectRef::new(name).within(namespace);
        lock(&self.syncs)
            .iter()
            .find_map(|cache| cache.get(&reference))
    }

    /// ClassLinkSync `name` in `namespace` as the API server has it now, `None` when it is
    /// gone. The cache's copy serves unless this operator knows of a newer version (its own
    /// write, which the watch has not brought yet): then, and only then, it is read from the
    /// API server. So a restart, or a look that changes nothing, costs no request, and a
    /// decision never rests on a status older than the operator's own last write.
    pub async fn current(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<ClassLinkSync>>, kube::Error> {
        let key = format!("{namespace}/{name}");
        if let Some(cached) = self.cached(namespace, name) {
            let mut ahead = lock(&self.ahead_of_cache);
            match ahead.get(&key) {
                None => return Ok(Some(cached)),
                Some(version) if cached.metadata.resource_version.as_ref() == Some(version) => {
                    ahead.remove(&key);
                    return Ok(Some(cached));
                }
                Some(_) => {}
            }
        }
        let api: Api<ClassLinkSync> = Api::namespaced(self.client.clone(), namespace);
        let fresh = api.get_opt(name).await?;
        match fresh
            .as_ref()
            .and_then(|f| f.metadata.resource_version.clone())
        {
            Some(version) => self.saw_version(&key, version),
            None => {
                lock(&self.ahead_of_cache).remove(&key);
            }
        }
        Ok(fresh.map(Arc::new))
    }

    /// Notes `version` of `key`, written or read by this operator, as the newest known until
    /// the cache shows it.
    pub fn saw_version(&self, key: &str, version: String) {
        lock(&self.ahead_of_cache).insert(key.to_owned(), version);
    }

    /// Takes a place for a sync of `key` unless one runs or the cap is reached: never two
    /// syncs of one integration at once.
    pub fn try_start(&self, key: &str) -> Result<Started, StartRefused> {
        let guard = self.runs.try_start(key)?;
        // It runs now: a freed place goes to the next one waiting.
        lock(&self.waiting).retain(|waiting| waiting != key);
        let cancel = self.shutdown.child_token();
        lock(&self.cancels).insert(key.to_owned(), cancel.clone());
        Ok(Started { guard, cancel })
    }

    /// A stream of ClassLinkSyncs to look at again because a place freed up, for one scope's
    /// controller (`Controller::reconcile_on`).
    pub fn place_freed_stream(
        &self,
    ) -> impl futures::Stream<Item = ObjectRef<ClassLinkSync>> + Send + 'static {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        lock(&self.wakers).push(tx);
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) })
    }

    /// The due sync of `key` (`namespace/name`) could not start for want of a place: it is looked at
    /// again as soon as one frees up (and every [`super::reconcile`] requeue meanwhile).
    pub fn wait_for_place(&self, key: &str) {
        let mut waiting = lock(&self.waiting);
        if !waiting.iter().any(|waiting| waiting == key) {
            waiting.push_back(key.to_owned());
        }
    }

    /// A sync ended and gave its place back: the longest waiting ClassLinkSync is looked at
    /// again now, instead of at its next requeue.
    pub fn place_freed(&self) {
        let Some(key) = lock(&self.waiting).pop_front() else {
            return;
        };
        let Some((namespace, name)) = key.split_once('/') else {
            return;
        };
        let object = ObjectRef::new(name).within(namespace);
        lock(&self.wakers).retain(|waker| waker.send(object.clone()).is_ok());
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

    /// Since when `key`'s inputs have had `fingerprint`: the moment this replica first saw
    /// that fingerprint (a restart starts counting again, which only delays a change's sync
    /// by the short debounce).
    pub fn inputs_since(&self, key: &str, fingerprint: &str, now: Timestamp) -> Timestamp {
        let mut seen = lock(&self.inputs_seen);
        match seen.get(key) {
            Some((known, since)) if known == fingerprint => *since,
            _ => {
                seen.insert(key.to_owned(), (fingerprint.to_owned(), now));
                now
            }
        }
    }

    /// Forgets a deleted integration.
    pub fn forget(&self, key: &str) {
        lock(&self.inputs_seen).remove(key);
        lock(&self.cleanup_attempts).remove(key);
        lock(&self.status_locks).remove(key);
        lock(&self.ahead_of_cache).remove(key);
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
    ) -> Result<Option<Arc<ClassLinkSync>>, kube::Error> {
        let key = format!("{namespace}/{name}");
        let object_lock = lock(&self.status_locks)
            .entry(key.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let _guard = object_lock.lock().await;
        let Some(current) = self.current(namespace, name).await? else {
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
        let api: Api<ClassLinkSync> = Api::namespaced(self.client.clone(), namespace);
        let updated = api
            .patch_status(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        if let Some(version) = updated.metadata.resource_version.clone() {
            self.saw_version(&key, version);
        }
        Ok(Some(Arc::new(updated)))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
