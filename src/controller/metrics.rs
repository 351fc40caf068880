//! Prometheus metrics and the health endpoints, served on `--metrics-address`:
//! `/metrics` (Prometheus text), `/healthz` (the process runs), `/readyz` (the controller
//! is watching, or is a standby waiting for the lease).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::engine::report::{Counts, SyncReport};

/// Labels of one integration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntegrationLabels {
    /// Namespace.
    pub namespace: String,
    /// ClassLinkSync name.
    pub name: String,
}

/// Labels of a finished sync.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
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
    /// OneRoster collection.
    pub collection: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    syncs: Family<ResultLabels, Counter>,
    duration: Family<IntegrationLabels, Histogram>,
    records: Family<CollectionLabels, Counter>,
    last_success: Family<IntegrationLabels, Gauge>,
    counts: Family<CountLabels, Gauge>,
    in_flight: Gauge,
    leader: Gauge,
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
        let syncs = Family::<ResultLabels, Counter>::default();
        registry.register(
            "sync",
            "Finished syncs by result and error code",
            syncs.clone(),
        );
        let duration = Family::<IntegrationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1.0, 2.0, 16))
        });
        registry.register(
            "sync_duration_seconds",
            "How long syncs take",
            duration.clone(),
        );
        let records = Family::<CollectionLabels, Counter>::default();
        registry.register(
            "records_fetched",
            "OneRoster records read from Roster Servers",
            records.clone(),
        );
        let last_success = Family::<IntegrationLabels, Gauge>::default();
        registry.register(
            "last_success_timestamp_seconds",
            "When each integration's last successful sync completed (Unix seconds)",
            last_success.clone(),
        );
        let counts = Family::<CountLabels, Gauge>::default();
        registry.register(
            "sync_count",
            "The counts of each integration's last sync",
            counts.clone(),
        );
        let in_flight = Gauge::default();
        registry.register("syncs_in_flight", "Syncs running now", in_flight.clone());
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        Self {
            registry,
            syncs,
            duration,
            records,
            last_success,
            counts,
            in_flight,
            leader,
            ready: AtomicBool::new(false),
        }
    }

    /// Records a finished sync.
    pub fn sync_finished(
        &self,
        namespace: &str,
        name: &str,
        report: &SyncReport,
        seconds: f64,
        completed_unix: i64,
    ) {
        let integration = IntegrationLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.syncs
            .get_or_create(&ResultLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                result: report.result.as_str().to_owned(),
                error_code: report
                    .error_code
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
            })
            .inc();
        self.duration.get_or_create(&integration).observe(seconds);
        if report.result != crate::engine::report::SyncResult::Failed {
            self.last_success
                .get_or_create(&integration)
                .set(completed_unix);
            self.set_counts(namespace, name, &report.counts);
        }
    }

    fn set_counts(&self, namespace: &str, name: &str, counts: &Counts) {
        let named = [
            ("unmatchedUsers", counts.unmatched_users),
            ("matchedStudents", counts.matched_students),
            ("matchedTeachers", counts.matched_teachers),
            ("matchedStaff", counts.matched_staff),
            ("importedClasses", counts.imported_classes),
            ("syncedGuardians", counts.synced_guardians),
            ("createdUsers", counts.created_users),
            ("excludedSchools", counts.excluded_schools),
        ];
        for (count, value) in named {
            self.counts
                .get_or_create(&CountLabels {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    count: count.to_owned(),
                })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    /// Records read from a collection.
    pub fn records_fetched(&self, collection: &str, records: u64) {
        self.records
            .get_or_create(&CollectionLabels {
                collection: collection.to_owned(),
            })
            .inc_by(records);
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
