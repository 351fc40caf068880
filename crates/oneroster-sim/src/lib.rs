//! A OneRoster 1.1 Roster Server simulator that stands in for ClassLink in the
//! project's tests, demos and benchmarks. See `docs/simulator.md`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use oneroster_sim::{Fault, Preset, SimConfig};
//! let sim = oneroster_sim::start(SimConfig::new(Preset::Tiny).seed(7)).await?;
//! sim.set_fault(Fault::RateLimit(1.0 / 3.0, 1)); // every 3rd API request gets 429
//! println!("{}/ims/oneroster/v1p1/users", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod config;
pub mod csv_load;
pub mod dates;
pub mod encode;
pub mod generate;
pub mod listing;
pub mod model;
pub mod mutate;
pub mod query;
pub mod rawhttp;
pub mod rng;
pub mod server;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;

pub use config::{AuthMethods, DataSource, DatasetSpec, Fault, Faults, Preset, SimConfig};
pub use mutate::{Mutation, MutationError, MutationReport};
pub use server::{API_BASE, Metrics};
pub use stats::{Counts, SchoolStats, Stats};

/// Builds the data set a configuration describes (generated or read from CSV).
pub fn build_dataset(config: &SimConfig) -> anyhow::Result<model::Dataset> {
    let as_of = dates::from_jiff(config.as_of);
    match &config.data {
        DataSource::Generated(spec) => Ok(generate::generate(spec, config.seed, as_of)),
        DataSource::Csv(dir) => csv_load::load(dir, as_of, config.seed)
            .with_context(|| format!("loading OneRoster CSV files from {}", dir.display())),
    }
}

/// The platform's users for a configuration (an `identities import` CSV), without
/// starting a server.
pub fn platform_users_csv_for(config: &SimConfig) -> anyhow::Result<String> {
    Ok(stats::platform_users_csv(&build_dataset(config)?))
}

/// Ground truth for a configuration without starting a server.
pub fn stats_for(config: &SimConfig) -> anyhow::Result<Stats> {
    Ok(stats::compute(&build_dataset(config)?))
}

/// A running simulator.
pub struct Sim {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// Builds the data set, binds `config.listen` (127.0.0.1:0 by default) and
/// returns once the listener accepts connections.
pub async fn start(config: SimConfig) -> anyhow::Result<Sim> {
    let ds = build_dataset(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let mut auth = auth::Auth::new(
        config.auth,
        config.client_id.clone(),
        config.client_secret.clone(),
        config.bearer_token.clone(),
        config.token_ttl,
        config.oauth1_window,
    );
    auth.signature_methods = config.signature_methods.clone();
    let shared = Arc::new(server::Shared::new(
        ds,
        config.faults.clone(),
        auth,
        config.max_page_size,
        config.gzip,
        format!("http://{addr}"),
    ));
    let app = axum::Router::new()
        .fallback(server::handle)
        .with_state(shared.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Sim {
        shared,
        addr,
        stop: Some(tx),
        task,
    })
}

impl Sim {
    /// `http://127.0.0.1:PORT` (OneRoster lives under [`API_BASE`]).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url() + "/ims/oneroster/v1p1"`.
    pub fn api_url(&self) -> String {
        format!("{}{API_BASE}", self.base_url())
    }

    /// `base_url() + "/oauth2/token"`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets (or, with a zero share / false, turns off) one fault; counters restart.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.set_fault(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Changes the data set; `x-perm-rev` moves on.
    pub fn mutate(&self, m: Mutation) -> Result<MutationReport, MutationError> {
        self.shared.mutate(&m)
    }

    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    pub fn reset_metrics(&self) {
        self.shared.reset_metrics();
    }

    /// Ground truth of the data set as served now.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The platform's users for this data set as an `identities import` CSV: every
    /// counted person with their real email (see [`stats::platform_users_csv`]).
    pub fn platform_users_csv(&self) -> String {
        stats::platform_users_csv(&self.shared.dataset())
    }

    /// The sourcedIds of the users whose `enabledUser` the `junk-enabled` fault replaces
    /// now (none without the fault), so a test knows exactly who must not be synced.
    pub fn junk_enabled_users(&self) -> Vec<String> {
        let Some(share) = self.faults().junk_enabled else {
            return Vec::new();
        };
        let ds = self.shared.dataset();
        ds.users
            .iter_live()
            .filter(|(i, _)| rng::share_hits(u64::from(*i) + 1, share))
            .map(|(i, _)| ds.users.sid(i))
            .collect()
    }

    /// The OAuth 2.0 access tokens issued and not yet expired.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.auth.issued_tokens()
    }

    /// The current `x-perm-rev`.
    pub fn perm_rev(&self) -> u64 {
        self.shared
            .perm_rev
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
