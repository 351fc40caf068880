//! `classlink-operator run`: watches ClassLinkSyncs (and the SchoolExclusions and Secrets
//! they use), runs syncs on the regional schedule or on demand, and writes their outcome into
//! status, events and metrics. With leader election only the Lease holder reconciles.

mod context;
pub mod decide;
mod exclusions;
mod leader;
pub mod metrics;
mod reconcile;
mod runner;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;

use crate::crd::{ClassLinkSync, SchoolExclusion};
use crate::store::Store;
pub use context::{Context, Settings, Watched};
pub use leader::LeaseConfig;

/// How long in-flight syncs get to write their cancelled status on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// Most ClassLinkSyncs looked at at once by one scope's controller. A look takes
/// milliseconds (a sync runs in a task of its own), so this bounds memory and requests after
/// a restart without slowing anything down.
const RECONCILE_CONCURRENCY: u16 = 16;

/// What `run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Store URL.
    pub store: String,
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Label selector of the ClassLinkSyncs this instance syncs (its shard); empty: all.
    pub watch_label_selector: String,
    /// Settings shared by every reconcile.
    pub settings: Settings,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    pub metrics_address: SocketAddr,
    /// The Lease to hold, when leader election is on.
    pub lease: Option<LeaseConfig>,
}

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No kubeconfig or in-cluster configuration.
    #[error("connecting to Kubernetes: {0}")]
    Kubernetes(#[from] kube::Error),
    /// The store could not be opened.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The API server refused `--watch-label-selector`.
    #[error("--watch-label-selector {selector:?} was refused by the API server: {source}")]
    Selector {
        /// The selector.
        selector: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// `CLASSLINK_FAKE_NOW` is not a time.
    #[error("{0}")]
    Clock(String),
    /// The metrics address could not be served.
    #[error("serving metrics on {address}: {source}")]
    Metrics {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another replica took the Lease.
    #[error("lost the leader Lease; in-flight syncs were cancelled and rolled back")]
    LostLease,
}

/// Runs the operator until SIGTERM/SIGINT (then `Ok`) or a lost Lease (then `Err`).
pub async fn run(config: RunConfig) -> Result<(), RunError> {
    let clock = crate::schedule::clock_from_env().map_err(RunError::Clock)?;
    let client = kube::Client::try_default().await?;
    check_selector(&client, &config).await?;
    let store = Store::open(&config.store).await?;
    let metrics = Arc::new(metrics::Metrics::new());
    metrics.set_max_concurrent_syncs(config.settings.max_concurrent_syncs);

    let listener = tokio::net::TcpListener::bind(config.metrics_address)
        .await
        .map_err(|source| RunError::Metrics {
            address: config.metrics_address,
            source,
        })?;
    let served = metrics.clone();
    let address = config.metrics_address;
    tokio::spawn(async move {
        if let Err(e) = metrics::serve(listener, served).await {
            tracing::error!(error = %e, %address, "the metrics server stopped");
        }
    });

    let stop = CancellationToken::new();
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: cancelling in-flight syncs");
        signal_stop.cancel();
    });

    // A standby replica is ready: it serves probes and waits for the Lease.
    metrics.set_ready();
    let lost = CancellationToken::new();
    if let Some(lease) = &config.lease {
        let lease = &LeaseConfig {
            clock: clock.clone(),
            ..lease.clone()
        };
        tracing::info!(lease = %lease.name, namespace = %lease.namespace, holder = %lease.holder, "waiting for the leader Lease");
        if !leader::acquire(&client, lease, &stop).await {
            return Ok(());
        }
        tracing::info!(lease = %lease.name, "leading");
        metrics.set_leader(true);
        let (client, lease, stop, lost) =
            (client.clone(), lease.clone(), stop.clone(), lost.clone());
        tokio::spawn(async move { leader::hold(&client, &lease, &stop, &lost).await });
    } else {
        metrics.set_leader(true);
    }

    // Syncs stop when the operator stops or the Lease is lost.
    let shutdown = CancellationToken::new();
    {
        let (shutdown, stop, lost) = (shutdown.clone(), stop.clone(), lost.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = lost.cancelled() => {}
            }
            shutdown.cancel();
        });
    }

    let reporter = Reporter {
        controller: "classlink-operator".into(),
        instance: config.lease.as_ref().map(|l| l.holder.clone()),
    };
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    // One cache of Secrets (metadata) and SchoolExclusions per scope: the inputs of a sync,
    // read without a request on every reconcile.
    let mut watched = Watched::default();
    let mut writers = Vec::new();
    for _ in &scopes {
        let (secrets, secret_writer) = reflector::store();
        let (exclusions, exclusion_writer) = reflector::store();
        watched.secrets.push(secrets);
        watched.exclusions.push(exclusions);
        writers.push((secret_writer, exclusion_writer));
    }
    let ctx = Arc::new(Context::new(
        client.clone(),
        store,
        metrics.clone(),
        reporter,
        config.settings.clone(),
        shutdown.clone(),
        clock,
        watched,
    ));

    let controllers = scopes.into_iter().zip(writers).map(|(namespace, writers)| {
        controller(
            client.clone(),
            namespace,
            &config.watch_label_selector,
            writers,
            ctx.clone(),
            shutdown.clone(),
        )
    });
    futures::future::join_all(controllers).await;

    // Let cancelled syncs write their status before the process ends.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while ctx.running_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    metrics.set_leader(false);
    if lost.is_cancelled() && !stop.is_cancelled() {
        return Err(RunError::LostLease);
    }
    Ok(())
}

/// The cache writers of one scope: Secrets (metadata) and SchoolExclusions.
type Writers = (
    reflector::store::Writer<PartialObjectMeta<Secret>>,
    reflector::store::Writer<SchoolExclusion>,
);

/// A bad `--watch-label-selector` stops the operator at once with the API server's reason,
/// instead of a watch that fails forever.
async fn check_selector(client: &kube::Client, config: &RunConfig) -> Result<(), RunError> {
    if config.watch_label_selector.is_empty() {
        return Ok(());
    }
    let api: Api<ClassLinkSync> = match config.namespaces.first() {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let params = kube::api::ListParams::default()
        .labels(&config.watch_label_selector)
        .limit(1);
    match api.list_metadata(&params).await {
        Err(kube::Error::Api(status)) if status.code == 400 => Err(RunError::Selector {
            selector: config.watch_label_selector.clone(),
            source: kube::Error::Api(status),
        }),
        // Other faults (RBAC, the API server away) show in the controllers' own requests.
        _ => Ok(()),
    }
}

/// One controller for one scope (a namespace, or all).
async fn controller(
    client: kube::Client,
    namespace: Option<String>,
    label_selector: &str,
    (secret_writer, exclusion_writer): Writers,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
) {
    let (syncs, exclusions, secrets): (
        Api<ClassLinkSync>,
        Api<SchoolExclusion>,
        Api<PartialObjectMeta<Secret>>,
    ) = match &namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    // Only this instance's ClassLinkSyncs: its shard, or those of no shard.
    let sync_watch = if label_selector.is_empty() {
        watcher::Config::default()
    } else {
        watcher::Config::default().labels(label_selector)
    };
    // At most RECONCILE_CONCURRENCY looks at once: after a restart every ClassLinkSync is
    // looked at, and thousands at once would each hold an object and a request.
    // The cache keeps each ClassLinkSync without its managedFields, which no decision reads
    // and which are the larger part of an object that this operator writes status to.
    let (reader, writer) = reflector::store();
    let objects = watcher(syncs.clone(), sync_watch.clone())
        .default_backoff()
        .modify(|sync: &mut ClassLinkSync| sync.metadata.managed_fields = None)
        .reflect(writer)
        .applied_objects();
    let controller = Controller::for_stream(objects, reader.clone())
        .with_config(controller::Config::default().concurrency(RECONCILE_CONCURRENCY));
    // The per-ClassLinkSync metrics are read from this cache at every scrape, and every
    // reconcile reads the object from it (Context::current).
    ctx.metrics.watch(reader.clone());
    ctx.watch_syncs(reader.clone());
    // Secrets are watched by metadata only: their data never crosses the watch. A change
    // re-queues the ClassLinkSyncs that name the Secret, and the cache gives each reconcile
    // the Secret's version for the inputs' fingerprint; likewise for SchoolExclusions.
    // Only a Secret's name and resourceVersion are read: the rest of its metadata (managed
    // fields, kubectl's last-applied annotation) is not kept.
    let secret_changes = watcher(secrets, watcher::Config::default())
        .default_backoff()
        .modify(|secret: &mut PartialObjectMeta<Secret>| {
            secret.metadata.managed_fields = None;
            secret.metadata.annotations = None;
            secret.metadata.labels = None;
        })
        .reflect(secret_writer)
        .touched_objects();
    let exclusion_changes = watcher(exclusions.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(exclusion_writer)
        .touched_objects();
    let syncing = controller
        .watches_stream(exclusion_changes, |exclusion| {
            let namespace = exclusion.metadata.namespace.clone().unwrap_or_default();
            Some(
                ObjectRef::<ClassLinkSync>::new(&exclusion.spec.class_link_sync_name)
                    .within(&namespace),
            )
        })
        .watches_stream(secret_changes, move |secret| {
            let namespace = secret.metadata.namespace.clone().unwrap_or_default();
            let name = secret.metadata.name.clone().unwrap_or_default();
            reader
                .state()
                .into_iter()
                .filter(|sync| {
                    sync.metadata.namespace.as_deref() == Some(namespace.as_str())
                        && sync.spec.credentials.secret_ref.name == name
                })
                .map(|sync| ObjectRef::from_obj(sync.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_on(ctx.place_freed_stream())
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile loop");
            }
        });

    // SchoolExclusions naming no ClassLinkSync say so; a ClassLinkSync's creation or
    // deletion re-queues the exclusions that name it.
    let exclusion_controller = Controller::new(exclusions, watcher::Config::default());
    let exclusion_reader = exclusion_controller.store();
    let excluding = exclusion_controller
        .watches(syncs, sync_watch, move |sync| {
            let namespace = sync.metadata.namespace.clone().unwrap_or_default();
            let name = sync.metadata.name.clone().unwrap_or_default();
            exclusion_reader
                .state()
                .into_iter()
                .filter(|x| {
                    x.metadata.namespace.as_deref() == Some(namespace.as_str())
                        && x.spec.class_link_sync_name == name
                })
                .map(|x| ObjectRef::from_obj(x.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(exclusions::reconcile, exclusions::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "SchoolExclusion reconcile loop");
            }
        });
    futures::join!(syncing, excluding);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
