//! Prometheus metrics and the health endpoints, served on `--metrics-address`:
//! `/metrics` (Prometheus text), `/healthz` (the process runs), `/readyz` (the controller
//! is watching, or is a standby waiting for the lease).
//!
//! The gauges of each ClassLinkSync are read from its status in the controller's cache at
//! every scrape: they exist from the moment the object does (`last_success_timestamp_seconds`
//! 0 until a sync succeeds), they are back right after a restart, and they go with the
//! object. Counters and the duration histogram count what this process ran and are dropped
//! with the object too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::ResourceExt;
use kube::runtime::reflector;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::crd::ClassLinkSync;
use crate::engine::report::SyncReport;

/// Labels of one integration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct IntegrationLabels {
    /// Namespace.
    pub namespace: String,
    /// ClassLinkSync name.
    pub name: String,
}

/// Labels of a finished sync.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ResultLabels {
    /// Namespace.
    pub namespace: String,
    /// ClassLinkSync name.
    pub name: String,
    /// `Succeeded`, `PartiallySucceeded` or `Failed`.
    pub result: String,
    /// The error code, or empty.
    pub error_code: String,
}

/// Labels of one count of the last sync.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CountLabels {
    /// Namespace.
    pub namespace: String,
    /// ClassLinkSync name.
    pub name: String,
    /// The count's name, as in `status.lastSync.counts`.
    pub count: String,
}

/// Labels of records read.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectionLabels {
    /// Namespace.
    pub namespace: String,
    /// ClassLinkSync name.
    pub name: String,
    /// OneRoster collection.
    pub collection: String,
}

/// Labels of `classlink_build_info`.
/// Labels of a region's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct RegionLabels {
    /// `spec.region`.
    pub region: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// Upper bounds of the duration histogram's buckets: 1 s to about 9 h, doubling.
const DURATION_BUCKETS: [f64; 16] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
    16384.0, 32768.0,
];

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    in_flight: Gauge,
    leader: Gauge,
    syncs: Arc<SyncCollector>,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("classlink");
        registry.register(
            "build",
            "The operator's version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
        );
        let in_flight = Gauge::default();
        registry.register("syncs_in_flight", "Syncs running now", in_flight.clone());
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        let syncs = Arc::new(SyncCollector::default());
        registry.register_collector(Box::new(syncs.clone()));
        Self {
            registry,
            in_flight,
            leader,
            syncs,
            ready: AtomicBool::new(false),
        }
    }

    /// Exports the ClassLinkSyncs in `cache` (one per watched scope), read at every scrape.
    /// `--max-concurrent-syncs`, which the windows' load is measured against.
    pub fn set_max_concurrent_syncs(&self, max: usize) {
        self.syncs.max_concurrent_syncs.store(
            u64::try_from(max).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn watch(&self, cache: reflector::Store<ClassLinkSync>) {
        lock(&self.syncs.caches).push(cache);
    }

    /// Records a finished sync: its result and how long it took.
    pub fn sync_finished(&self, namespace: &str, name: &str, report: &SyncReport, seconds: f64) {
        let key = IntegrationLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let mut finished = lock(&self.syncs.finished);
        let ran = finished.entry(key).or_default();
        let code = report
            .error_code
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        *ran.results
            .entry((report.result.as_str().to_owned(), code))
            .or_default() += 1;
        ran.duration.observe(seconds);
    }

    /// Records a sync of `namespace/name` read from a collection.
    pub fn records_fetched(&self, namespace: &str, name: &str, collection: &str, records: u64) {
        let key = IntegrationLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        *lock(&self.syncs.finished)
            .entry(key)
            .or_default()
            .records
            .entry(collection.to_owned())
            .or_default() += records;
    }

    /// A sync started (+1) or ended (-1).
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.inc_by(delta);
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// `/readyz` answers 200 from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A lock that a panicked holder did not poison for good: metrics are best effort.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What one ClassLinkSync's status says, as its gauges export it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncGauges {
    /// The `Ready` condition is True: the last sync succeeded, fully or partially.
    pub ready: bool,
    /// `spec.suspend`.
    pub suspended: bool,
    /// A sync runs now (`Syncing` True).
    pub running: bool,
    /// A sync waits for a free slot (`Syncing` reason `WaitingForCapacity`).
    pub waiting_for_capacity: bool,
    /// Last night's window closed without its nightly sync (`Syncing` reason
    /// `MissedWindow`).
    pub missed_window: bool,
    /// `spec.region`, for the window's load.
    pub region: String,
    /// How long the last sync took, in seconds; 0 before the first.
    pub last_duration: i64,
    /// When the object was created (Unix seconds).
    pub created: i64,
    /// When the last sync that did not fail completed; 0 when none did.
    pub last_success: i64,
    /// When the last sync of any result completed; 0 before the first.
    pub last_sync: i64,
    /// Failed syncs in a row.
    pub failed_attempts: i64,
    /// `status.lastSync.counts` by name; empty before the first sync.
    pub counts: Vec<(String, i64)>,
}

impl SyncGauges {
    /// The gauges of `sync`, from its spec and status alone.
    pub fn of(sync: &ClassLinkSync) -> Self {
        let status = sync.status.clone().unwrap_or_default();
        let condition = |type_: &str| status.conditions.iter().find(|c| c.type_ == type_);
        let syncing = condition(super::status::SYNCING);
        let last = status.last_sync.as_ref();
        let counts = last
            .and_then(|l| serde_json::to_value(l.counts).ok())
            .and_then(|v| v.as_object().cloned())
            .map(|counts| {
                counts
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value.as_i64()?)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            ready: condition(super::status::READY).is_some_and(|c| c.status == "True"),
            suspended: sync.spec.suspend,
            running: syncing.is_some_and(|c| c.status == "True"),
            waiting_for_capacity: syncing.is_some_and(|c| c.reason == "WaitingForCapacity"),
            missed_window: syncing.is_some_and(|c| c.reason == "MissedWindow"),
            region: format!("{:?}", sync.spec.region),
            last_duration: last
                .and_then(|l| l.duration_seconds)
                .map_or(0, |d| i64::try_from(d).unwrap_or(i64::MAX)),
            created: sync
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| t.0.as_second()),
            last_success: status
                .last_successful_sync_time
                .as_ref()
                .map_or(0, |t| t.0.as_second()),
            last_sync: last
                .filter(|l| l.result.is_some())
                .and_then(|l| l.completion_time.as_ref())
                .map_or(0, |t| t.0.as_second()),
            failed_attempts: i64::from(status.failed_attempts.unwrap_or(0)),
            counts,
        }
    }
}

/// The per-ClassLinkSync series.
#[derive(Debug, Default)]
struct SyncCollector {
    caches: Mutex<Vec<reflector::Store<ClassLinkSync>>>,
    /// `--max-concurrent-syncs`, for the windows' load; 0 until set.
    max_concurrent_syncs: std::sync::atomic::AtomicU64,
    finished: Mutex<BTreeMap<IntegrationLabels, Ran>>,
}

/// What this process ran for one ClassLinkSync.
#[derive(Debug, Default, Clone)]
struct Ran {
    results: BTreeMap<(String, String), u64>,
    records: BTreeMap<String, u64>,
    duration: DurationHistogram,
}

/// A fixed-bucket histogram of sync durations.
#[derive(Debug, Default, Clone)]
struct DurationHistogram {
    sum: f64,
    count: u64,
    /// Observations per bucket (not cumulative), the last one `+Inf`.
    buckets: [u64; DURATION_BUCKETS.len() + 1],
}

impl DurationHistogram {
    fn observe(&mut self, seconds: f64) {
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[bucket] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    fn buckets(&self) -> Vec<(f64, u64)> {
        DURATION_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.buckets.iter().copied())
            .collect()
    }
}

/// One gauge family of the per-ClassLinkSync series.
struct GaugeSpec {
    name: &'static str,
    help: &'static str,
    value: fn(&SyncGauges) -> i64,
}

const GAUGES: &[GaugeSpec] = &[
    GaugeSpec {
        name: "ready",
        help: "1 while the ClassLinkSync's Ready condition is True (its last sync succeeded, fully or partially), else 0",
        value: |g| i64::from(g.ready),
    },
    GaugeSpec {
        name: "suspended",
        help: "1 while spec.suspend holds new syncs back",
        value: |g| i64::from(g.suspended),
    },
    GaugeSpec {
        name: "syncing",
        help: "1 while a sync of the ClassLinkSync runs",
        value: |g| i64::from(g.running),
    },
    GaugeSpec {
        name: "missed_window",
        help: "1 when last night's window closed without this ClassLinkSync's nightly sync (the operator was down, suspended or at its cap all night)",
        value: |g| i64::from(g.missed_window),
    },
    GaugeSpec {
        name: "waiting_for_capacity",
        help: "1 while a sync waits because --max-concurrent-syncs syncs run already",
        value: |g| i64::from(g.waiting_for_capacity),
    },
    GaugeSpec {
        name: "creation_timestamp_seconds",
        help: "When the ClassLinkSync was created (Unix seconds)",
        value: |g| g.created,
    },
    GaugeSpec {
        name: "last_success_timestamp_seconds",
        help: "When the last sync that succeeded (fully or partially) completed (Unix seconds); 0 until one does",
        value: |g| g.last_success,
    },
    GaugeSpec {
        name: "last_sync_timestamp_seconds",
        help: "When the last sync of any result completed (Unix seconds); 0 before the first",
        value: |g| g.last_sync,
    },
    GaugeSpec {
        name: "failed_attempts",
        help: "Failed syncs in a row since the last one that did not fail",
        value: |g| g.failed_attempts,
    },
];

impl SyncCollector {
    /// Every ClassLinkSync in the caches, by namespace and name; prunes what this process
    /// ran for objects that are gone.
    fn snapshot(&self) -> BTreeMap<IntegrationLabels, SyncGauges> {
        let caches = lock(&self.caches).clone();
        let objects: BTreeMap<IntegrationLabels, SyncGauges> = caches
            .iter()
            .flat_map(reflector::Store::state)
            .map(|sync| {
                (
                    IntegrationLabels {
                        namespace: sync.namespace().unwrap_or_default(),
                        name: sync.name_any(),
                    },
                    SyncGauges::of(&sync),
                )
            })
            .collect();
        if !caches.is_empty() {
            lock(&self.finished).retain(|key, _| objects.contains_key(key));
        }
        objects
    }
}

impl Collector for SyncCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let objects = self.snapshot();
        for spec in GAUGES {
            let mut family =
                encoder.encode_descriptor(spec.name, spec.help, None, MetricType::Gauge)?;
            for (labels, gauges) in &objects {
                ConstGauge::new((spec.value)(gauges)).encode(family.encode_family(labels)?)?;
            }
        }
        // How full each region's nightly window is: the last durations of its ClassLinkSyncs
        // (suspended ones aside) over what the window holds at the cap on concurrent syncs.
        // Above 1, some nightly syncs cannot run in their window (docs/schedule.md).
        let max = self
            .max_concurrent_syncs
            .load(std::sync::atomic::Ordering::Relaxed);
        if max > 0 {
            let mut busy: BTreeMap<String, i64> = BTreeMap::new();
            for gauges in objects.values().filter(|g| !g.suspended) {
                *busy.entry(gauges.region.clone()).or_default() += gauges.last_duration;
            }
            let capacity = crate::schedule::WINDOW_LENGTH.as_secs() as f64 * max as f64;
            let mut family = encoder.encode_descriptor(
                "window_load_ratio",
                "Seconds of nightly syncs (their last durations) per second the window offers at --max-concurrent-syncs; above 1 the window overflows",
                None,
                MetricType::Gauge,
            )?;
            for (region, seconds) in busy {
                ConstGauge::new(seconds as f64 / capacity)
                    .encode(family.encode_family(&RegionLabels { region })?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "last_sync_counts",
            "The counts of each ClassLinkSync's last sync, as status.lastSync.counts shows them (docs/counts.md)",
            None,
            MetricType::Gauge,
        )?;
        for (labels, gauges) in &objects {
            for (count, value) in &gauges.counts {
                let labels = CountLabels {
                    namespace: labels.namespace.clone(),
                    name: labels.name.clone(),
                    count: count.clone(),
                };
                ConstGauge::new(*value).encode(family.encode_family(&labels)?)?;
            }
        }

        let finished = lock(&self.finished).clone();
        let mut family = encoder.encode_descriptor(
            "sync",
            "Syncs this process finished, by result and error code",
            None,
            MetricType::Counter,
        )?;
        for (labels, ran) in &finished {
            for ((result, error_code), count) in &ran.results {
                let labels = ResultLabels {
                    namespace: labels.namespace.clone(),
                    name: labels.name.clone(),
                    result: result.clone(),
                    error_code: error_code.clone(),
                };
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(count, None)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "records_fetched",
            "OneRoster records the syncs this process ran read from Roster Servers",
            None,
            MetricType::Counter,
        )?;
        for (labels, ran) in &finished {
            for (collection, count) in &ran.records {
                let labels = CollectionLabels {
                    namespace: labels.namespace.clone(),
                    name: labels.name.clone(),
                    collection: collection.clone(),
                };
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(count, None)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "sync_duration_seconds",
            "How long the syncs this process finished took",
            None,
            MetricType::Histogram,
        )?;
        for (labels, ran) in &finished {
            family
                .encode_family(labels)?
                .encode_histogram::<NoLabelSet>(
                    ran.duration.sum,
                    ran.duration.count,
                    &ran.duration.buckets(),
                    None,
                )?;
        }
        Ok(())
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(metrics);
    axum::serve(listener, app).await
}

async fn metrics_page(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

async fn readyz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::report::SyncReport;
    use crate::error_code::ErrorCode;
    use kube::runtime::watcher;

    fn sync(name: &str, status: serde_json::Value) -> ClassLinkSync {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "rostersync.io/v1alpha1",
            "kind": "ClassLinkSync",
            "metadata": {
                "name": name,
                "namespace": "schools",
                "creationTimestamp": "2026-11-30T12:00:00Z",
            },
            "spec": {
                "displayName": "District",
                "endpoint": "https://oneroster.invalid",
                "region": "US",
                "credentials": {"secretRef": {"name": "creds"}},
            },
            "status": status,
        }))
        .expect("a ClassLinkSync")
    }

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn a_classlinksync_that_never_synced_has_every_gauge_at_zero_until_it_succeeds() {
        let (cache, mut writer) = reflector::store();
        let metrics = Metrics::new();
        metrics.watch(cache);
        writer.apply_watcher_event(&watcher::Event::Apply(sync("new", serde_json::json!({}))));
        let text = metrics.encode();
        let labels = r#"{namespace="schools",name="new"}"#;
        for gauge in [
            "ready",
            "last_success_timestamp_seconds",
            "last_sync_timestamp_seconds",
            "failed_attempts",
        ] {
            let series = format!("classlink_{gauge}{labels} 0");
            assert!(text.contains(&series), "{series} in:\n{text}");
        }
        assert!(text.contains(&format!(
            "classlink_creation_timestamp_seconds{labels} 1796040000"
        )));
        assert!(text.contains("classlink_build_info{version=\""));

        writer.apply_watcher_event(&watcher::Event::Apply(sync(
            "new",
            serde_json::json!({
                "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                    "message": "", "lastTransitionTime": "2026-11-30T13:00:00Z"}],
                "lastSuccessfulSyncTime": "2026-11-30T13:00:00Z",
                "lastSync": {"trigger": "Initial", "startTime": "2026-11-30T12:59:00Z",
                    "completionTime": "2026-11-30T13:00:00Z", "result": "Succeeded",
                    "counts": {"syncedStudents": 980, "matchedStudents": 0}},
            }),
        )));
        let text = metrics.encode();
        assert!(
            text.contains(&format!("classlink_ready{labels} 1")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "classlink_last_success_timestamp_seconds{labels} 1796043600"
        )));
        assert!(
            text.contains(
                r#"classlink_last_sync_counts{namespace="schools",name="new",count="syncedStudents"} 980"#
            ),
            "{text}"
        );
    }

    #[test]
    fn the_series_of_a_deleted_classlinksync_go_with_it() {
        let (cache, mut writer) = reflector::store();
        let metrics = Metrics::new();
        metrics.watch(cache);
        let obj = sync("gone", serde_json::json!({}));
        writer.apply_watcher_event(&watcher::Event::Apply(obj.clone()));
        metrics.sync_finished(
            "schools",
            "gone",
            &SyncReport::failed(ErrorCode::ServerError, "503"),
            3.0,
        );
        metrics.records_fetched("schools", "gone", "users", 1200);
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"classlink_records_fetched_total{namespace="schools",name="gone",collection="users"} 1200"#
            ),
            "{text}"
        );
        let failed = line(
            &text,
            r#"classlink_sync_total{namespace="schools",name="gone",result="Failed",error_code="ServerError"}"#,
        )
        .unwrap_or_else(|| panic!("{text}"));
        assert!(failed.ends_with(" 1"), "{failed}");
        let bucket = line(
            &text,
            r#"classlink_sync_duration_seconds_bucket{le="4.0",namespace="schools",name="gone"}"#,
        )
        .or_else(|| {
            line(
                &text,
                r#"classlink_sync_duration_seconds_bucket{namespace="schools",name="gone",le="4.0"}"#,
            )
        })
        .unwrap_or_else(|| panic!("{text}"));
        assert!(bucket.ends_with(" 1"), "{bucket}");

        writer.apply_watcher_event(&watcher::Event::Delete(obj));
        let text = metrics.encode();
        assert!(!text.contains(r#"name="gone""#), "{text}");
    }

    #[test]
    fn the_window_load_adds_the_last_durations_of_a_region_against_its_capacity() {
        let metrics = Metrics::new();
        metrics.set_max_concurrent_syncs(2);
        let (cache, mut writer) = reflector::store();
        let synced = |name: &str, region: &str, seconds: u64, suspend: bool| {
            let mut obj = sync(
                name,
                serde_json::json!({
                    "lastSync": {"trigger": "Scheduled", "startTime": "2026-11-30T00:00:00Z", "durationSeconds": seconds, "result": "Succeeded"}
                }),
            );
            obj.spec.region = serde_json::from_value(serde_json::json!(region)).expect("region");
            obj.spec.suspend = suspend;
            obj
        };
        for obj in [
            synced("a", "US", 21_600, false),
            synced("b", "US", 21_600, false),
            synced("c", "UK", 4_320, false),
            synced("paused", "UK", 86_400, true),
        ] {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(obj));
        }
        metrics.watch(cache);
        let text = metrics.encode();
        // Two 6-hour syncs fill half of a 12-hour window at 2 syncs at once; a suspended
        // one adds nothing.
        assert!(
            text.contains(r#"classlink_window_load_ratio{region="US"} 0.5"#),
            "{text}"
        );
        assert!(
            text.contains(r#"classlink_window_load_ratio{region="UK"} 0.05"#),
            "{text}"
        );
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let text = Metrics::new().encode();
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let mut parts = line.split_whitespace().skip(2);
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            assert!(name.starts_with("classlink_"), "{line}");
            if kind == "gauge" {
                for suffix in ["_total", "_count", "_sum", "_bucket"] {
                    assert!(
                        !name.ends_with(suffix),
                        "a gauge named like a counter: {line}"
                    );
                }
            }
        }
    }
}
