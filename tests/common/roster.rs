//! Fixtures for syncs against the simulator, on both store backends.

use std::collections::BTreeMap;
use std::path::Path;

use classlink_operator::crd::{ClassLinkSync, ClassLinkSyncSpec};
use classlink_operator::store::Store;
use classlink_operator::sync::{self, JobOptions, SyncOutcome, Trigger};
use jiff::civil::{Date, date};
use oneroster_sim::{Preset, Sim, SimConfig};

/// The simulator's as-of date in these tests: a school day inside its current term.
pub const AS_OF: Date = date(2026, 11, 18);

/// Starts the simulator on the `small` preset (3 schools, about 1,000 students).
pub async fn small_district() -> Sim {
    oneroster_sim::start(SimConfig::new(Preset::Small).seed(7).as_of(AS_OF))
        .await
        .expect("the simulator starts")
}

/// A ClassLinkSync named `name` pointing at `sim`, changed by `tweak`.
pub fn class_link_sync(
    name: &str,
    sim: &Sim,
    tweak: impl FnOnce(&mut ClassLinkSyncSpec),
) -> ClassLinkSync {
    let mut spec: ClassLinkSyncSpec = serde_json::from_value(serde_json::json!({
        "displayName": "Simulated district",
        "endpoint": sim.base_url(),
        "region": "US",
        "credentials": {"secretRef": {"name": "sim-credentials"}},
    }))
    .expect("a valid spec");
    tweak(&mut spec);
    ClassLinkSync::new(name, spec)
}

/// The simulator's default credentials, as the Secret's data.
pub fn secret_data() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        (
            "clientId".to_owned(),
            oneroster_sim::config::DEFAULT_CLIENT_ID.as_bytes().to_vec(),
        ),
        (
            "clientSecret".to_owned(),
            oneroster_sim::config::DEFAULT_CLIENT_SECRET
                .as_bytes()
                .to_vec(),
        ),
    ])
}

/// Runs one sync of `sync` in namespace `schools`.
pub async fn sync_once(store: &Store, sync: &ClassLinkSync, confirm_shrink: bool) -> SyncOutcome {
    let options = JobOptions {
        allow_insecure_http: true,
        confirm_shrink,
        ..JobOptions::default()
    };
    let job = sync::job::build("schools", sync, Some(&secret_data()), &[], &options)
        .expect("the job builds");
    sync::run(&job, store, Trigger::Manual, Some(AS_OF), |_| {}).await
}

/// Seeds namespace `schools` with the platform's users of `sim` (its `platform-users`
/// CSV, as `identities import` would), so a sync should match everyone.
pub async fn seed_platform_users(store: &Store, sim: &Sim) -> usize {
    let csv = sim.platform_users_csv();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let people: Vec<classlink_operator::store::NewIdentity> = reader
        .records()
        .map(|r| {
            let r = r.expect("a CSV row");
            let field = |i: usize| r.get(i).filter(|v| !v.is_empty()).map(str::to_owned);
            classlink_operator::store::NewIdentity {
                email: r[0].to_owned(),
                given_name: field(1),
                family_name: field(2),
                role: field(3),
            }
        })
        .collect();
    store
        .import_identities("schools", &people)
        .await
        .expect("the platform's users import");
    people.len()
}

/// Writes the files a user keeps in Git for `sync`: the ClassLinkSync and its Secret.
pub fn write_resource_files(dir: &Path, sync: &ClassLinkSync) {
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "sim-credentials"},
        "stringData": {
            "clientId": oneroster_sim::config::DEFAULT_CLIENT_ID,
            "clientSecret": oneroster_sim::config::DEFAULT_CLIENT_SECRET,
        }
    });
    std::fs::write(
        dir.join("secret.yaml"),
        serde_yaml::to_string(&secret).expect("yaml"),
    )
    .expect("write secret");
    std::fs::write(
        dir.join("classlinksync.yaml"),
        serde_yaml::to_string(sync).expect("yaml"),
    )
    .expect("write classlinksync");
}

/// A throw-away store: a SQLite file or a fresh PostgreSQL database.
pub struct TestStore {
    pub url: String,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    pg_database: Option<String>,
}

/// The PostgreSQL server the tests use (`CLASSLINK_TEST_POSTGRES_URL`, default the local one).
pub fn postgres_admin_url() -> String {
    std::env::var("CLASSLINK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

impl TestStore {
    /// A store of the given backend: `"sqlite"` or `"postgres"`.
    pub async fn new(backend: &str) -> TestStore {
        match backend {
            "sqlite" => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("roster.db").display());
                let store = Store::open(&url).await.expect("SQLite store opens");
                TestStore {
                    url,
                    store,
                    _dir: Some(dir),
                    pg_database: None,
                }
            }
            "postgres" => {
                let admin = postgres_admin_url();
                let name = format!(
                    "classlink_test_{}_{}",
                    std::process::id(),
                    fastrand::u32(..)
                );
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at {admin} (hack/ensure-postgres.sh starts it): {e}")
                    });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
                let url = format!("{base}/{name}");
                let store = Store::open(&url).await.expect("PostgreSQL store opens");
                TestStore {
                    url,
                    store,
                    _dir: None,
                    pg_database: Some(name),
                }
            }
            other => panic!("unknown backend {other}"),
        }
    }

    /// Drops the PostgreSQL database (SQLite files go with the temp dir).
    pub async fn drop_database(self) {
        let Some(name) = self.pg_database else { return };
        drop(self.store);
        let admin = postgres_admin_url();
        if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}
