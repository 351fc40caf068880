//! The operator as a local process against the test control plane, and waits on its work.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use classlink_operator::crd::ClassLinkSync;
use kube::api::{Api, PostParams};
use serde_json::json;

/// A running `classlink-operator run`; killed when dropped.
pub struct Operator {
    child: Child,
    log: PathBuf,
    /// Where its metrics listen.
    pub metrics: String,
}

/// How an operator process is started.
pub struct OperatorOptions<'a> {
    /// Kubeconfig it uses.
    pub kubeconfig: &'a Path,
    /// Store URL.
    pub store: &'a str,
    /// The namespace it watches.
    pub namespace: &'a str,
    /// Leader election (with this Lease namespace).
    pub lease_namespace: Option<&'a str>,
    /// Its name in logs and the Lease.
    pub holder: &'a str,
    /// Directory for its log.
    pub log_dir: &'a Path,
    /// The time its clock starts at (`CLASSLINK_FAKE_NOW`), for a test that needs an hour.
    /// `None`: `CLASSLINK_TEST_NOW` when set, else [`DEFAULT_TEST_NOW`].
    pub now: Option<&'a str>,
    /// More arguments of `run` (`--watch-label-selector`, `--lease-name`, …).
    pub extra_args: &'a [&'a str],
}

/// The hour a test that does not pin one runs at: outside the US and UK windows, inside
/// Perth's and Auckland's, and a quarter of an hour from the next slot boundary. No test
/// depends on the machine's clock; `CLASSLINK_TEST_NOW` runs the suite at another hour.
pub const DEFAULT_TEST_NOW: &str = "2026-11-30T13:31:00Z";

/// The hour a test runs at when it does not pin one.
pub fn test_now() -> String {
    std::env::var("CLASSLINK_TEST_NOW").unwrap_or_else(|_| DEFAULT_TEST_NOW.to_owned())
}

impl Operator {
    /// Starts the operator binary.
    pub fn start(options: OperatorOptions<'_>) -> Operator {
        let port = free_port();
        let log = options.log_dir.join(format!("{}.log", options.holder));
        let file = std::fs::File::create(&log).expect("operator log file");
        let now = options.now.map_or_else(test_now, str::to_owned);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_classlink-operator"));
        cmd.arg("run")
            .args(["--store", options.store])
            .args(["--namespaces", options.namespace])
            .args(["--metrics-address", &format!("127.0.0.1:{port}")])
            .args(["--lease-holder", options.holder])
            .arg("--allow-insecure-http")
            .env("KUBECONFIG", options.kubeconfig)
            .env("RUST_LOG", "info,kube=warn")
            .env("CLASSLINK_FAKE_NOW", &now)
            .env_remove("CLASSLINK_NAMESPACES")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        cmd.args(options.extra_args);
        if let Some(lease_namespace) = options.lease_namespace {
            cmd.args([
                "--leader-election",
                "true",
                "--lease-namespace",
                lease_namespace,
            ]);
        }
        let child = cmd.spawn().expect("the operator starts");
        Operator {
            child,
            log,
            metrics: format!("127.0.0.1:{port}"),
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit (at most `within`); returns whether it exited.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Kills it at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `api` for `name` until `check` holds, for at most `within`; returns the object.
pub async fn wait_for(
    api: &Api<ClassLinkSync>,
    name: &str,
    within: Duration,
    what: &str,
    check: impl Fn(&ClassLinkSync) -> bool,
) -> ClassLinkSync {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(Some(obj)) = api.get_opt(name).await {
            if check(&obj) {
                return obj;
            }
            last = Some(obj);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "timed out waiting for {what}; last status: {}",
        last.and_then(|o| o.status)
            .map(|s| serde_json::to_string_pretty(&s).unwrap_or_default())
            .unwrap_or_else(|| "none".into())
    );
}

/// Creates the Secret with the simulator's credentials in `namespace`.
pub async fn create_secret(client: &kube::Client, namespace: &str, name: &str, secret: &str) {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), namespace);
    let obj = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {
            "clientId": oneroster_sim::config::DEFAULT_CLIENT_ID,
            "clientSecret": secret,
        }
    }))
    .expect("a Secret");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create the Secret");
}

/// The condition of `type_` among `conditions`; panics naming it when absent.
pub fn condition_of<'a>(
    conditions: &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {conditions:?}"))
}
