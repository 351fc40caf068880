//! Leader election with a `coordination.k8s.io/v1` Lease: one replica syncs, the others wait.
//!
//! A replica takes the Lease when it is free or its holder stopped renewing it for the lease
//! duration, renews it every few seconds, and gives up leadership (cancelling its syncs, so
//! their transactions roll back) as soon as a renewal fails for longer than the lease
//! duration allows, before another replica can take over.
//!
//! Whether another holder stopped renewing is judged the way client-go's leader election
//! does: by how long this replica has seen the same `renewTime`, on its own monotonic
//! clock, never by comparing the other node's `renewTime` with this node's wall clock. Nodes
//! whose clocks disagree by minutes still never both lead. (kube-lease-manager was tried
//! for this; it compares the remote `renewTime` with the local wall clock and keeps
//! reporting leadership while the API server cannot be reached, so it is not used.)

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::schedule::{Clock, SystemClock};

/// Where the Lease is and who competes for it.
#[derive(Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (pod name, or host and process id).
    pub holder: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews, and a standby retries.
    pub retry_every: Duration,
    /// Stamps `acquireTime` and `renewTime` for people to read.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LeaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseConfig")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("holder", &self.holder)
            .field("duration", &self.duration)
            .field("retry_every", &self.retry_every)
            .finish_non_exhaustive()
    }
}

impl LeaseConfig {
    /// Defaults: 15 s lease, renewed every 5 s.
    pub fn new(namespace: String, name: String, holder: String) -> Self {
        Self {
            namespace,
            name,
            holder,
            duration: Duration::from_secs(15),
            retry_every: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Waits until this replica holds the Lease, or `stop` is cancelled (then `false`).
pub async fn acquire(
    client: &kube::Client,
    config: &LeaseConfig,
    stop: &CancellationToken,
) -> bool {
    let api: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
    let mut seen = Observed::default();
    loop {
        match try_acquire_or_renew(&api, config, &mut seen).await {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, lease = %config.name, "could not read or write the leader Lease")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(config.retry_every) => {}
        }
    }
}

/// Renews the Lease until `stop` is cancelled or leadership is lost; on loss it cancels
/// `lost` and returns.
pub async fn hold(
    client: &kube::Client,
    config: &LeaseConfig,
    stop: &CancellationToken,
    lost: &CancellationToken,
) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
    let mut last_renewal = Instant::now();
    let mut seen = Observed::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(config.retry_every) => {}
        }
        match try_acquire_or_renew(&api, config, &mut seen).await {
            Ok(true) => last_renewal = Instant::now(),
            Ok(false) => {
                tracing::warn!(lease = %config.name, "another replica holds the leader Lease now");
                lost.cancel();
                return;
            }
            Err(e) => {
                // Stop leading before the Lease can expire in another replica's eyes.
                let margin = config.duration.saturating_sub(config.retry_every);
                if last_renewal.elapsed() >= margin {
                    tracing::warn!(error = %e, lease = %config.name, "could not renew the leader Lease in time");
                    lost.cancel();
                    return;
                }
                tracing::warn!(error = %e, lease = %config.name, "renewing the leader Lease failed; retrying");
            }
        }
    }
}

/// What this replica last saw of the Lease, and when by its own monotonic clock.
#[derive(Debug, Default)]
struct Observed {
    record: Option<(Option<String>, Option<MicroTime>)>,
    since: Option<Instant>,
}

impl Observed {
    /// Notes the holder and renew time read now; returns how long they have been the same.
    fn unchanged_for(&mut self, holder: Option<String>, renewed: Option<MicroTime>) -> Duration {
        let record = Some((holder, renewed));
        if self.record != record || self.since.is_none() {
            self.record = record;
            self.since = Some(Instant::now());
        }
        self.since.map_or(Duration::ZERO, |since| since.elapsed())
    }
}

/// Takes or renews the Lease. `Ok(true)` when this replica holds it now.
async fn try_acquire_or_renew(
    api: &Api<Lease>,
    config: &LeaseConfig,
    seen: &mut Observed,
) -> Result<bool, kube::Error> {
    // Written into the Lease for people to read; no decision compares it across nodes.
    let now = config.clock.now();
    let duration_seconds = i32::try_from(config.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.holder.clone()),
                lease_duration_seconds: Some(duration_seconds),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let ours = spec.holder_identity.as_deref() == Some(config.holder.as_str());
    let unchanged = seen.unchanged_for(spec.holder_identity.clone(), spec.renew_time.clone());
    let expired = match (&spec.holder_identity, spec.lease_duration_seconds) {
        (Some(_), Some(seconds)) => {
            unchanged > Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
        }
        _ => true,
    };
    if !ours && !expired {
        return Ok(false);
    }
    if !ours {
        spec.holder_identity = Some(config.holder.clone());
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(duration_seconds);
    // The resourceVersion makes this a compare-and-swap: of two replicas taking an expired
    // Lease at once, one gets a conflict.
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
