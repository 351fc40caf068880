//! Scale benchmark: many ClassLinkSyncs on one operator. Starts the test control plane (a
//! real etcd and kube-apiserver, as the tests do), the OneRoster simulator (`tiny` preset) and
//! the operator's release binary, creates N ClassLinkSyncs with their Secrets over 50
//! namespaces and the four regions, and reports:
//!
//! - how long until every one has a first result, and the syncs per second that makes;
//! - the operator's peak and steady memory (VmHWM, VmRSS) and CPU seconds;
//! - the API requests per minute at steady state, other than watches (from the API server's
//!   own `apiserver_request_total`);
//! - the same after a restart of the operator, how many syncs the restart started and how
//!   long until its requests settle;
//! - a burst of manual triggers (up to 1,000, `rostersync.io/sync-requested-at`): how long
//!   until every one is handled, with which results, and whether any other sync ran;
//! - deleting up to 1,000 ClassLinkSyncs whose `deletionPolicy: Delete` puts a finalizer on
//!   them: how long until they are gone.
//!
//! ```sh
//! cargo bench --bench scale -- 1000          # hack/bench-scale.sh 1000
//! ```

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use classlink_operator::crd::ClassLinkSync;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use oneroster_sim::{Preset, SimConfig};
use serde_json::json;
use testenv::ControlPlane;

const NAMESPACES: usize = 50;
const REGIONS: [&str; 4] = ["US", "AU", "NZ", "UK"];
/// How long steady state is observed for.
const STEADY: Duration = Duration::from_secs(60);
/// Most ClassLinkSyncs triggered at once, and most deleted.
const BURST: usize = 1_000;
/// The API server's own requests (not the operator's) in two seconds are fewer than this.
const QUIET: f64 = 5.0;

struct Operator {
    child: Child,
}

impl Operator {
    fn start(cp: &ControlPlane, store: &str, log: &std::path::Path) -> Operator {
        let log = std::fs::File::create(log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_classlink-operator"))
            .args(["run", "--store", store, "--allow-insecure-http"])
            .args(["--metrics-address", "127.0.0.1:0"])
            .env("KUBECONFIG", cp.kubeconfig())
            .env("RUST_LOG", "warn")
            .env_remove("CLASSLINK_NAMESPACES")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the operator starts");
        Operator { child }
    }

    fn status_field(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// Peak and current resident memory, MiB.
    fn memory(&self) -> (f64, f64) {
        (self.status_field("VmHWM:"), self.status_field("VmRSS:"))
    }

    /// User plus system CPU seconds so far.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which is in parentheses): utime is the 12th, stime
        // the 13th of those.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests the API server has served, other than watches, by verb.
async fn requests(client: &kube::Client) -> BTreeMap<String, f64> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("request");
    let text = client.request_text(request).await.unwrap_or_default();
    let mut by_verb = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let verb = labels
            .split("verb=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default();
        if verb == "WATCH" {
            continue;
        }
        *by_verb.entry(verb.to_owned()).or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
    }
    by_verb
}

fn total(by_verb: &BTreeMap<String, f64>) -> f64 {
    by_verb.values().sum()
}

/// ClassLinkSyncs with a result, of those in the cluster.
async fn with_result(client: &kube::Client) -> (usize, usize) {
    let all: Api<ClassLinkSync> = Api::all(client.clone());
    let list = all.list(&ListParams::default()).await.expect("list");
    let done = list
        .items
        .iter()
        .filter(|o| o.status.as_ref().is_some_and(|s| s.last_sync.is_some()))
        .count();
    (done, list.items.len())
}

/// When each ClassLinkSync's most recent sync started.
async fn starts(client: &kube::Client) -> BTreeMap<String, Option<jiff::Timestamp>> {
    let all: Api<ClassLinkSync> = Api::all(client.clone());
    let list = all.list(&ListParams::default()).await.expect("list");
    list.items
        .iter()
        .map(|o| {
            (
                format!(
                    "{}/{}",
                    o.metadata.namespace.clone().unwrap_or_default(),
                    o.metadata.name.clone().unwrap_or_default()
                ),
                o.status
                    .as_ref()
                    .and_then(|s| s.last_sync_start_time.as_ref())
                    .map(|t| t.0),
            )
        })
        .collect()
}

/// Every `stride`-th ClassLinkSync (from 0) has `deletionPolicy: Delete`, and those are
/// deleted at the end; the ones after them (1, 1 + stride, ...) are triggered in the burst.
fn stride(n: usize) -> usize {
    (n / BURST).max(2)
}

fn name_of(i: usize) -> (String, String) {
    (
        format!("scale-{:02}", i % NAMESPACES),
        format!("district-{i:05}"),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let cp = ControlPlane::shared();
    let client = cp.client().await?;
    let crds = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/rostersync.io.yaml"
    ))?;
    let mut apply = cp.kubectl();
    apply
        .args(["apply", "--server-side", "-f", "-"])
        .stdin(Stdio::piped());
    let mut child = apply.stdout(Stdio::null()).spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(crds.as_bytes())?;
    }
    child.wait()?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sim = oneroster_sim::start(SimConfig::new(Preset::Tiny)).await?;
    let work = tempfile::tempdir()?;
    let store_url = format!("sqlite://{}", work.path().join("roster.db").display());

    let namespaces: Vec<String> = (0..NAMESPACES).map(|i| format!("scale-{i:02}")).collect();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    for ns in &namespaces {
        let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        ns_api.create(&PostParams::default(), &obj).await?;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "sim-credentials"},
            "stringData": {
                "clientId": oneroster_sim::config::DEFAULT_CLIENT_ID,
                "clientSecret": oneroster_sim::config::DEFAULT_CLIENT_SECRET,
            }
        }))?;
        secrets.create(&PostParams::default(), &secret).await?;
    }

    let operator = Operator::start(cp, &store_url, &work.path().join("operator.log"));
    let before = requests(&client).await;
    let started = Instant::now();
    let endpoint = sim.base_url();
    futures::stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let client = client.clone();
            let ns = name_of(i).0;
            let endpoint = endpoint.clone();
            async move {
                let api: Api<ClassLinkSync> = Api::namespaced(client, &ns);
                let policy = if i % stride(n) == 0 {
                    "Delete"
                } else {
                    "Retain"
                };
                let obj: ClassLinkSync = serde_json::from_value(json!({
                    "apiVersion": "rostersync.io/v1alpha1",
                    "kind": "ClassLinkSync",
                    "metadata": {"name": name_of(i).1},
                    "spec": {
                        "displayName": "Scale test",
                        "endpoint": endpoint,
                        "region": REGIONS[i % REGIONS.len()],
                        "credentials": {"secretRef": {"name": "sim-credentials"}},
                        "deletionPolicy": policy,
                    }
                }))
                .expect("a ClassLinkSync");
                api.create(&PostParams::default(), &obj)
                    .await
                    .expect("create");
            }
        })
        .await;
    let created = started.elapsed();
    loop {
        let (done, all) = with_result(&client).await;
        if done == all && all == n {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let first_results = started.elapsed();
    let first_requests = total(&requests(&client).await) - total(&before);
    let (peak, _) = operator.memory();
    let cpu = operator.cpu_seconds();

    // Steady state: nothing is due (every first sync used tonight's or today's turn).
    tokio::time::sleep(Duration::from_secs(10)).await;
    let a = requests(&client).await;
    tokio::time::sleep(STEADY).await;
    let b = requests(&client).await;
    let steady_per_minute = (total(&b) - total(&a)) * 60.0 / STEADY.as_secs_f64();
    let (_, steady_rss) = operator.memory();
    let starts_before_restart = starts(&client).await;
    drop(operator);

    let restarted = Operator::start(cp, &store_url, &work.path().join("restarted.log"));
    let restart = Instant::now();
    let c = requests(&client).await;
    // Settled: the last two-second interval in which the API server saw more requests than
    // its own.
    let mut settled = Duration::ZERO;
    let mut last = c.clone();
    while restart.elapsed() < STEADY {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = requests(&client).await;
        if total(&now) - total(&last) > QUIET {
            settled = restart.elapsed();
        }
        last = now;
    }
    let d = last;
    let restart_requests = total(&d) - total(&c);
    let restart_syncs = starts(&client)
        .await
        .iter()
        .filter(|(key, start)| starts_before_restart.get(*key) != Some(*start))
        .count();
    let (restart_peak, restart_rss) = restarted.memory();
    let mut restart_by_verb: Vec<String> = d
        .iter()
        .map(|(verb, v)| format!("{verb} {}", v - c.get(verb).copied().unwrap_or(0.0)))
        .filter(|s| !s.ends_with(" 0"))
        .collect();
    restart_by_verb.sort();

    // A burst of manual triggers, at most BURST.
    let triggered: Vec<usize> = (0..n).filter(|i| i % stride(n) == 1).take(BURST).collect();
    let before_burst = starts(&client).await;
    let burst = Instant::now();
    let request = "scale-burst-1";
    futures::stream::iter(triggered.iter().copied())
        .for_each_concurrent(32, |i| {
            let client = client.clone();
            async move {
                let (ns, name) = name_of(i);
                let api: Api<ClassLinkSync> = Api::namespaced(client, &ns);
                let patch = json!({"metadata": {"annotations": {
                    classlink_operator::crd::SYNC_REQUESTED_AT_ANNOTATION: request}}});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .expect("trigger");
            }
        })
        .await;
    let (handled, failed) = loop {
        let all: Api<ClassLinkSync> = Api::all(client.clone());
        let list = all.list(&ListParams::default()).await?;
        let handled: Vec<&ClassLinkSync> = list
            .items
            .iter()
            .filter(|o| {
                o.status.as_ref().is_some_and(|s| {
                    s.last_handled_sync_request.as_deref() == Some(request)
                        && s.last_sync
                            .as_ref()
                            .is_some_and(|l| l.completion_time.is_some())
                })
            })
            .collect();
        if handled.len() >= triggered.len() || burst.elapsed() > Duration::from_secs(1800) {
            let failed = handled
                .iter()
                .filter(|o| {
                    o.status
                        .as_ref()
                        .and_then(|s| s.last_sync.as_ref())
                        .is_some_and(|l| l.error_code.is_some())
                })
                .count();
            break (handled.len(), failed);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let burst_time = burst.elapsed();
    let after_burst = starts(&client).await;
    let burst_syncs = after_burst
        .iter()
        .filter(|(key, start)| before_burst.get(*key) != Some(*start))
        .count();
    let (_, burst_rss) = restarted.memory();

    // Deleting the ClassLinkSyncs whose finalizer removes their data.
    let doomed: Vec<usize> = (0..n).filter(|i| i % stride(n) == 0).take(BURST).collect();
    let deletion = Instant::now();
    futures::stream::iter(doomed.iter().copied())
        .for_each_concurrent(32, |i| {
            let client = client.clone();
            async move {
                let (ns, name) = name_of(i);
                let api: Api<ClassLinkSync> = Api::namespaced(client, &ns);
                api.delete(&name, &DeleteParams::default())
                    .await
                    .expect("delete");
            }
        })
        .await;
    let remaining = loop {
        let (_, all) = with_result(&client).await;
        if all <= n - doomed.len() || deletion.elapsed() > Duration::from_secs(600) {
            break all - (n - doomed.len());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let deletion_time = deletion.elapsed();
    let (restart_peak_end, _) = restarted.memory();

    println!(
        "kube-apiserver {}, {} ClassLinkSyncs over {NAMESPACES} namespaces, simulator preset tiny, SQLite",
        cp.version(),
        n
    );
    println!(
        "created in                         {:>8.1} s",
        created.as_secs_f64()
    );
    println!(
        "all first results after            {:>8.1} s",
        first_results.as_secs_f64()
    );
    println!(
        "syncs per second                   {:>8.1}",
        n as f64 / first_results.as_secs_f64()
    );
    println!("API requests until then (no watch) {:>8.0}", first_requests);
    println!("operator CPU seconds until then    {:>8.1}", cpu);
    println!("operator peak RSS                  {:>8.0} MiB", peak);
    println!("operator steady RSS                {:>8.0} MiB", steady_rss);
    println!(
        "steady API requests per minute     {:>8.0}",
        steady_per_minute
    );
    println!(
        "after a restart, first 60 s: {restart_requests:.0} API requests ({}), {restart_syncs} syncs, RSS {restart_rss:.0} MiB (peak {restart_peak:.0} MiB)",
        restart_by_verb.join(", ")
    );
    println!(
        "after a restart, requests settled after {:.0} s",
        settled.as_secs_f64()
    );
    println!(
        "burst of {} manual triggers: {handled} handled ({failed} failed) in {:.1} s, {burst_syncs} syncs ran, RSS {burst_rss:.0} MiB",
        triggered.len(),
        burst_time.as_secs_f64()
    );
    println!(
        "deleting {} ClassLinkSyncs with finalizers: {:.1} s, {remaining} left; operator peak RSS since restart {restart_peak_end:.0} MiB",
        doomed.len(),
        deletion_time.as_secs_f64()
    );
    Ok(())
}
