//! The operator (`classlink-operator run`, a local process) against a real kube-apiserver
//! and the OneRoster simulator: first sync and status, manual triggers, SchoolExclusions,
//! a wrong then fixed Secret, suspend, leader election, deletion with and without a store.
//!
//! Each test has its own namespace, store and operator process watching only that namespace.
//! Multi-threaded runtimes: the simulator keeps serving while a test waits.

mod common;

use std::time::Duration;

use classlink_operator::crd::{
    ClassLinkSync, DeletionPolicy, SYNC_REQUESTED_AT_ANNOTATION, SchoolExclusion, SyncResult,
};
use classlink_operator::store::Store;
use common::ControlPlane;
use common::gitops::{argocd_health, flux_health};
use common::operator::{Operator, OperatorOptions, condition_of, create_secret, wait_for};
use common::roster::{TestStore, class_link_sync, small_district};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

const SYNC_WAIT: Duration = Duration::from_secs(90);
/// A fix (a Secret created, an endpoint corrected) must turn the ClassLinkSync green within
/// two minutes without a trigger.
const FIX_WAIT: Duration = Duration::from_secs(120);

struct Setup {
    cp: &'static ControlPlane,
    client: kube::Client,
    namespace: String,
    dir: tempfile::TempDir,
}

async fn setup(prefix: &str) -> Setup {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let namespace = cp.namespace(&client, prefix).await.expect("namespace");
    Setup {
        cp,
        client,
        namespace,
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

/// A namespace, the simulator's `small` district, its credentials Secret
/// (`sim-credentials`) and an empty store of `backend`.
async fn with_district(prefix: &str, backend: &str) -> (Setup, oneroster_sim::Sim, TestStore) {
    let s = setup(prefix).await;
    let sim = small_district().await;
    create_secret(
        &s.client,
        &s.namespace,
        "sim-credentials",
        oneroster_sim::config::DEFAULT_CLIENT_SECRET,
    )
    .await;
    let db = TestStore::new(backend).await;
    (s, sim, db)
}

impl Setup {
    fn operator(&self, store: &str, holder: &str, leader_election: bool) -> Operator {
        self.operator_at(store, holder, leader_election, None)
    }

    /// An operator whose clock starts at `now` (RFC 3339), for a test that needs an hour.
    fn operator_at(
        &self,
        store: &str,
        holder: &str,
        leader_election: bool,
        now: Option<&str>,
    ) -> Operator {
        Operator::start(OperatorOptions {
            now,
            extra_args: &[],
            kubeconfig: self.cp.kubeconfig(),
            store,
            namespace: &self.namespace,
            lease_namespace: leader_election.then_some(self.namespace.as_str()),
            holder,
            log_dir: self.dir.path(),
        })
    }

    fn syncs(&self) -> Api<ClassLinkSync> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn create(&self, sync: &ClassLinkSync) {
        self.syncs()
            .create(&PostParams::default(), sync)
            .await
            .expect("create the ClassLinkSync");
    }

    /// Makes the operator look at `name` again, provably: a new `displayName` (which starts
    /// no sync) is a new generation, and `observedGeneration` shows when it was handled.
    /// After this, "nothing more happened" is a count, not a guess after a sleep.
    async fn looked_again(&self, name: &str) {
        let current = self.syncs().get(name).await.expect("get");
        let display = format!("{} (looked again)", current.spec.display_name);
        let patch = json!({"spec": {"displayName": display}});
        let patched = self
            .syncs()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch displayName");
        let generation = patched.metadata.generation;
        wait_for(
            &self.syncs(),
            name,
            SYNC_WAIT,
            "the operator to look again",
            |o| o.status.as_ref().and_then(|s| s.observed_generation) == generation,
        )
        .await;
    }

    /// `kubectl get classlinksyncs` (with `-o wide` when `wide`): the row of `name`, cell by
    /// column header, read at the offsets kubectl aligns its columns at.
    fn kubectl_row(&self, name: &str, wide: bool) -> std::collections::BTreeMap<String, String> {
        let mut cmd = self.cp.kubectl();
        cmd.args(["get", "classlinksyncs", "-n", &self.namespace]);
        if wide {
            cmd.args(["-o", "wide"]);
        }
        let out = cmd.output().expect("kubectl");
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = table.lines();
        let header = lines.next().unwrap_or_else(|| panic!("no table: {out:?}"));
        // Headers are separated by at least two spaces ("LAST SYNC" holds one).
        let mut starts = Vec::new();
        let mut spaces = 2;
        for (i, c) in header.char_indices() {
            if c != ' ' && spaces >= 2 {
                starts.push(i);
            }
            spaces = if c == ' ' { spaces + 1 } else { 0 };
        }
        let row = lines
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name} in:\n{table}"));
        let cell = |line: &str, i: usize| -> String {
            let from = starts[i].min(line.len());
            let to = starts
                .get(i + 1)
                .copied()
                .unwrap_or(line.len())
                .min(line.len());
            line[from..to].trim().to_owned()
        };
        let cells: std::collections::BTreeMap<String, String> = (0..starts.len())
            .map(|i| (cell(header, i), cell(row, i)))
            .collect();
        println!("{table}");
        cells
    }

    async fn request_sync(&self, name: &str, value: &str) {
        let patch = json!({"metadata": {"annotations": {SYNC_REQUESTED_AT_ANNOTATION: value}}});
        self.syncs()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotate");
    }
}

fn result_of(sync: &ClassLinkSync) -> Option<SyncResult> {
    sync.status.as_ref()?.last_sync.as_ref()?.result
}

fn error_code_of(sync: &ClassLinkSync) -> Option<String> {
    sync.status.as_ref()?.last_sync.as_ref()?.error_code.clone()
}

fn trigger_of(sync: &ClassLinkSync) -> Option<String> {
    let last = sync.status.as_ref()?.last_sync.as_ref()?;
    Some(format!("{:?}", last.trigger))
}

/// The triggers of the syncs the store recorded for `name`, oldest first.
async fn triggers(db: &TestStore, namespace: &str, name: &str) -> Vec<String> {
    let mut runs = db.store.sync_runs(namespace, name).await.expect("runs");
    runs.sort_by_key(|r| r.started_at);
    runs.into_iter().map(|r| r.trigger).collect()
}

/// 19:31 in Chicago: the US window is open (it opened at 18:00 and closes at 06:00).
const US_WINDOW_OPEN: &str = "2026-11-30T01:31:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_classlinksync_syncs_once_and_its_status_matches_the_cli_report() {
    let (s, sim, db) = with_district("first-sync", "sqlite").await;
    let _operator = s.operator(&db.url, "first", false);
    s.create(&class_link_sync("district", &sim, |_| {})).await;

    let synced = wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some()
    })
    .await;
    let status = synced.status.clone().expect("status");
    let last = status.last_sync.clone().expect("lastSync");
    assert_eq!(
        last.result,
        Some(SyncResult::Succeeded),
        "{:?}",
        last.message
    );
    assert_eq!(format!("{:?}", last.trigger), "Initial");
    assert!(status.next_sync_time.is_some(), "nextSyncTime is set");
    assert_eq!(status.observed_generation, synced.metadata.generation);
    assert_eq!(status.schools.len(), 3);
    let ready = condition_of(&status.conditions, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Succeeded")
    );

    // The same data through the CLI into a fresh store reports the same counts.
    let files = tempfile::tempdir().expect("temp dir");
    common::roster::write_resource_files(files.path(), &class_link_sync("district", &sim, |_| {}));
    let cli_store = format!("sqlite://{}", files.path().join("cli.db").display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_classlink-operator"))
        .args([
            "sync",
            "-o",
            "json",
            "--allow-insecure-http",
            "--store",
            &cli_store,
            "-n",
            &s.namespace,
            "-f",
        ])
        .arg(files.path())
        .output()
        .expect("CLI sync");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let counts = serde_json::to_value(last.counts).expect("counts");
    assert_eq!(report["counts"], counts, "status counts equal the CLI's");

    // kubectl answers "is it working": Ready, what comes next, and the synced totals of a
    // first sync that matched no one.
    let idle = wait_for(&s.syncs(), "district", SYNC_WAIT, "the idle status", |o| {
        o.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Syncing" && c.reason == "Scheduled")
        })
    })
    .await;
    let counts = idle
        .status
        .clone()
        .expect("status")
        .last_sync
        .expect("lastSync")
        .counts;
    assert_eq!(counts.matched_students, 0, "a first sync matches no one");
    assert!(counts.synced_students > 900, "{counts:?}");
    let row = s.kubectl_row("district", false);
    let expected = [
        ("READY", "True".to_owned()),
        ("STATUS", "Scheduled".to_owned()),
        ("RESULT", "Succeeded".to_owned()),
        ("STUDENTS", counts.synced_students.to_string()),
        ("TEACHERS", counts.synced_teachers.to_string()),
        ("CLASSES", counts.imported_classes.to_string()),
        ("UNMATCHED", report["counts"]["unmatchedUsers"].to_string()),
        ("ERROR", String::new()),
        (
            "NEXT SYNC",
            idle.status
                .as_ref()
                .and_then(|s| s.next_sync_time.as_ref())
                .map(|t| t.0.to_string())
                .expect("nextSyncTime"),
        ),
    ];
    for (column, value) in expected {
        assert_eq!(row.get(column), Some(&value), "{column} in {row:?}");
    }
    // The GitOps health checks of examples/gitops/ call this one healthy.
    let (argocd, message) = argocd_health(&idle);
    assert_eq!(
        (argocd.as_str(), message.as_str()),
        ("Healthy", ready.message.as_str())
    );
    assert_eq!(flux_health(&idle), "Current");
    let wide = s.kubectl_row("district", true);
    assert_eq!(wide.get("REGION").map(String::as_str), Some("US"));
    assert_eq!(
        wide.get("MESSAGE").map(String::as_str),
        Some(ready.message.as_str()),
        "the Ready message under -o wide"
    );

    // Exactly one sync ran, and an event says so.
    let store = Store::open(&db.url).await.expect("store");
    assert_eq!(
        store
            .sync_runs(&s.namespace, "district")
            .await
            .expect("runs")
            .len(),
        1
    );
    let out =
        s.cp.kubectl()
            .args(["get", "events", "-n", &s.namespace, "-o", "json"])
            .output()
            .expect("kubectl");
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(events.contains("SyncSucceeded"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_in_an_open_window_gives_exactly_one_sync_recorded_manual() {
    let (s, sim, db) = with_district("manual", "sqlite").await;
    // Tonight's window is open, so a scheduled sync is due too: the first sync and the
    // manual one are tonight's, and no scheduled sync runs besides them.
    let operator = s.operator_at(&db.url, "manual", false, Some(US_WINDOW_OPEN));
    s.create(&class_link_sync("district", &sim, |_| {})).await;
    wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some() && idle_status(o)
    })
    .await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_classlink-operator"))
        .args(["trigger", "district", "-n", &s.namespace])
        .env("KUBECONFIG", s.cp.kubeconfig())
        .output()
        .expect("trigger");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = wait_for(&s.syncs(), "district", SYNC_WAIT, "the manual sync", |o| {
        trigger_of(o).as_deref() == Some("Manual") && idle_status(o)
    })
    .await;
    let status = after.status.clone().expect("status");
    let requested = after
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(classlink_operator::crd::SYNC_REQUESTED_AT_ANNOTATION))
        .cloned();
    assert_eq!(status.last_handled_sync_request, requested);
    let last = status.last_sync.clone().expect("lastSync");
    assert_eq!(
        last.counts.unmatched_users, 0,
        "the second sync matches everyone"
    );
    let next = status.next_sync_time.clone().expect("nextSyncTime").0;
    let now: jiff::Timestamp = US_WINDOW_OPEN.parse().expect("time");
    assert!(
        next.duration_since(now).as_hours() >= 6,
        "tonight is used up: the next sync is tomorrow night ({next})"
    );

    s.looked_again("district").await;
    assert_eq!(
        triggers(&db, &s.namespace, "district").await,
        ["Initial", "Manual"]
    );

    // The newest event tells what status tells, and the log has both syncs.
    let out =
        s.cp.kubectl()
            .args([
                "get",
                "events.events.k8s.io",
                "-n",
                &s.namespace,
                "-o",
                "json",
            ])
            .output()
            .expect("kubectl");
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).expect("events");
    let newest_outcome = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("SyncSucceeded"))
        })
        .max_by_key(|e| {
            e["series"]["lastObservedTime"]
                .as_str()
                .or(e["eventTime"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .expect("a SyncSucceeded event");
    assert_eq!(
        newest_outcome["note"].as_str(),
        last.message.as_deref(),
        "the newest event matches status"
    );
    let log = operator.log();
    for trigger in ["Initial", "Manual"] {
        assert!(
            log.lines().any(|l| l.contains("sync finished")
                && l.contains(&format!("trigger=\"{trigger}\""))
                && l.contains("result=\"Succeeded\"")),
            "an INFO line for the {trigger} sync:\n{log}"
        );
    }
    assert!(!log.contains("@"), "no email in the log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_exclusion_lowers_the_counts_and_shows_in_both_statuses() {
    let (s, sim, db) = with_district("exclusion", "sqlite").await;
    let truth = sim.stats();
    let _operator = s.operator(&db.url, "exclusion", false);
    s.create(&class_link_sync("district", &sim, |_| {})).await;
    let first = wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some()
    })
    .await;
    let before = first
        .status
        .expect("status")
        .last_sync
        .expect("lastSync")
        .counts;

    let exclusions: Api<SchoolExclusion> = Api::namespaced(s.client.clone(), &s.namespace);
    let school = truth.per_school.keys().next().expect("a school").clone();
    let exclusion: SchoolExclusion = serde_json::from_value(json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "SchoolExclusion",
        "metadata": {"name": "closed-campus"},
        "spec": {"classLinkSyncName": "district", "schools": [{"sourcedId": school}, {"name": "No Such School"}]}
    }))
    .expect("valid");
    exclusions
        .create(&PostParams::default(), &exclusion)
        .await
        .expect("create");
    s.request_sync("district", "exclude").await;

    let after = wait_for(
        &s.syncs(),
        "district",
        SYNC_WAIT,
        "the sync with the exclusion",
        |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_sync.as_ref())
                .is_some_and(|l| l.counts.excluded_schools == 1)
        },
    )
    .await;
    let status = after.status.expect("status");
    let counts = status.last_sync.clone().expect("lastSync").counts;
    assert!(counts.imported_classes < before.imported_classes);
    assert!(counts.matched_students < before.unmatched_users);
    let listed = status
        .schools
        .iter()
        .find(|x| x.sourced_id == school)
        .expect("listed");
    assert!(
        !listed.included,
        "{}",
        serde_json::to_string(&status).unwrap_or_default()
    );
    assert_eq!(listed.excluded_by.as_deref(), Some("closed-campus"));

    let deadline = std::time::Instant::now() + SYNC_WAIT;
    let excl = loop {
        let e = exclusions.get("closed-campus").await.expect("get");
        if e.status.as_ref().is_some_and(|st| st.found.is_some())
            || std::time::Instant::now() > deadline
        {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let st = excl.status.expect("SchoolExclusion status");
    assert_eq!(st.found.as_deref(), Some("1/2"));
    assert!(st.schools[0].found && !st.schools[1].found);
    let ready = condition_of(&st.conditions, "Ready");
    assert_eq!(ready.reason, "SchoolsNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_reported_and_fixing_it_recovers_without_a_restart() {
    let s = setup("secret").await;
    let sim = small_district().await;
    create_secret(
        &s.client,
        &s.namespace,
        "sim-credentials",
        "wrong-secret-value",
    )
    .await;
    let db = TestStore::new("sqlite").await;
    let operator = s.operator(&db.url, "secret", false);
    s.create(&class_link_sync("district", &sim, |_| {})).await;

    let failed = wait_for(&s.syncs(), "district", SYNC_WAIT, "the failed sync", |o| {
        result_of(o).is_some()
    })
    .await;
    assert_eq!(
        error_code_of(&failed).as_deref(),
        Some("AuthenticationFailed")
    );
    let status = failed.status.expect("status");
    let stalled = condition_of(&status.conditions, "Stalled");
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "AuthenticationFailed")
    );
    let out =
        s.cp.kubectl()
            .args(["get", "events", "-n", &s.namespace, "-o", "json"])
            .output()
            .expect("kubectl");
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(
        events.contains("SyncFailed") && events.contains("AuthenticationFailed"),
        "{events}"
    );
    assert!(
        !events.contains("wrong-secret-value") && !operator.log().contains("wrong-secret-value")
    );
    let failed = s.syncs().get("district").await.expect("get");
    let (argocd, message) = argocd_health(&failed);
    assert_eq!(argocd, "Degraded", "{message}");
    assert!(
        message.starts_with("AuthenticationFailed: ") && message.contains("API Credentials"),
        "the reason and what to do: {message}"
    );
    assert_eq!(
        flux_health(&failed),
        "Failed",
        "Stalled: a person must fix it"
    );
    let row = s.kubectl_row("district", true);
    for (column, value) in [
        ("READY", "False"),
        ("RESULT", "Failed"),
        ("ERROR", "AuthenticationFailed"),
        ("STUDENTS", "0"),
    ] {
        assert_eq!(
            row.get(column).map(String::as_str),
            Some(value),
            "{column} in {row:?}"
        );
    }
    assert!(
        row.get("MESSAGE").is_some_and(|m| !m.is_empty()),
        "the reason is one -o wide away: {row:?}"
    );

    // Fix the Secret, and ask nothing: the change alone starts a sync in the same process.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(s.client.clone(), &s.namespace);
    let patch =
        json!({"stringData": {"clientSecret": oneroster_sim::config::DEFAULT_CLIENT_SECRET}});
    secrets
        .patch(
            "sim-credentials",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("fix");
    let fixed = wait_for(
        &s.syncs(),
        "district",
        FIX_WAIT,
        "the recovered sync",
        |o| result_of(o) == Some(SyncResult::Succeeded),
    )
    .await;
    assert_eq!(trigger_of(&fixed).as_deref(), Some("Changed"));
    let status = fixed.status.expect("status");
    let stalled = condition_of(&status.conditions, "Stalled");
    assert_eq!(stalled.status, "False");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_reported_and_creating_it_starts_the_sync() {
    let s = setup("no-secret").await;
    let sim = small_district().await;
    let db = TestStore::new("sqlite").await;
    let _operator = s.operator(&db.url, "nosecret", false);
    s.create(&class_link_sync("district", &sim, |_| {})).await;
    let failed = wait_for(&s.syncs(), "district", SYNC_WAIT, "the failed sync", |o| {
        result_of(o).is_some()
    })
    .await;
    assert_eq!(error_code_of(&failed).as_deref(), Some("SecretNotFound"));

    // SecretNotFound is retried: status says when.
    let retrying = wait_for(&s.syncs(), "district", SYNC_WAIT, "the retry", |o| {
        o.status.as_ref().is_some_and(|st| {
            st.conditions
                .iter()
                .any(|c| c.type_ == "Syncing" && c.reason == "Retrying")
        })
    })
    .await;
    let status = retrying.status.expect("status");
    assert_eq!(status.failed_attempts, Some(1));
    assert!(status.next_sync_time.is_some());

    // Creating the Secret is enough: no trigger, Succeeded within two minutes.
    create_secret(
        &s.client,
        &s.namespace,
        "sim-credentials",
        oneroster_sim::config::DEFAULT_CLIENT_SECRET,
    )
    .await;
    let synced = wait_for(
        &s.syncs(),
        "district",
        FIX_WAIT,
        "the sync after the Secret exists",
        |o| result_of(o) == Some(SyncResult::Succeeded),
    )
    .await;
    let trigger = trigger_of(&synced).expect("trigger");
    assert!(trigger == "Changed" || trigger == "Retry", "{trigger}");
    let status = synced.status.expect("status");
    assert_eq!(
        status.failed_attempts, None,
        "a success resets the failures"
    );
    assert_eq!(status.last_handled_sync_request, None, "nobody asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixing_the_endpoint_syncs_again_without_a_trigger() {
    let (s, sim, db) = with_district("endpoint", "sqlite").await;
    let _operator = s.operator(&db.url, "endpoint", false);
    // Nothing listens on port 9 of loopback.
    s.create(&class_link_sync("district", &sim, |spec| {
        spec.endpoint = "http://127.0.0.1:9".into();
    }))
    .await;
    let failed = wait_for(&s.syncs(), "district", SYNC_WAIT, "the failed sync", |o| {
        result_of(o).is_some()
    })
    .await;
    assert_eq!(
        error_code_of(&failed).as_deref(),
        Some("EndpointUnreachable")
    );

    let patch = json!({"spec": {"endpoint": sim.base_url()}});
    s.syncs()
        .patch("district", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("fix the endpoint");
    let fixed = wait_for(
        &s.syncs(),
        "district",
        FIX_WAIT,
        "the sync after the fix",
        |o| result_of(o) == Some(SyncResult::Succeeded),
    )
    .await;
    assert_eq!(trigger_of(&fixed).as_deref(), Some("Changed"));
    assert_eq!(
        fixed.status.and_then(|st| st.observed_generation),
        fixed.metadata.generation
    );
    s.looked_again("district").await;
    assert_eq!(
        triggers(&db, &s.namespace, "district").await,
        ["Initial", "Changed"],
        "one sync for the fix, no retry of the old failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_stops_new_syncs_and_clears_the_next_sync_time() {
    let (s, sim, db) = with_district("suspend", "sqlite").await;
    let _operator = s.operator(&db.url, "suspend", false);
    s.create(&class_link_sync("district", &sim, |spec| {
        spec.suspend = true
    }))
    .await;

    let suspended = wait_for(
        &s.syncs(),
        "district",
        SYNC_WAIT,
        "the suspended status",
        |o| {
            o.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Syncing" && c.reason == "Suspended")
            })
        },
    )
    .await;
    let status = suspended.status.expect("status");
    assert!(
        status.next_sync_time.is_none(),
        "no scheduled sync while suspended"
    );
    assert!(
        status.last_sync.is_none(),
        "no initial sync while suspended"
    );
    let object = s.syncs().get("district").await.expect("get");
    assert_eq!(argocd_health(&object).0, "Suspended");
    assert_eq!(
        flux_health(&object),
        "InProgress",
        "suspended before any sync"
    );
    let row = s.kubectl_row("district", false);
    assert_eq!(
        row.get("STATUS").map(String::as_str),
        Some("Suspended"),
        "{row:?}"
    );
    assert_eq!(
        row.get("NEXT SYNC").map(String::as_str),
        Some(""),
        "{row:?}"
    );

    // A manual request waits too, and runs once suspend is lifted.
    s.request_sync("district", "while-suspended").await;
    s.looked_again("district").await;
    let store = Store::open(&db.url).await.expect("store");
    assert!(
        store
            .sync_runs(&s.namespace, "district")
            .await
            .expect("runs")
            .is_empty()
    );

    let patch = json!({"spec": {"suspend": false}});
    s.syncs()
        .patch("district", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("resume");
    let resumed = wait_for(
        &s.syncs(),
        "district",
        SYNC_WAIT,
        "the sync after resuming",
        |o| result_of(o).is_some(),
    )
    .await;
    let status = resumed.status.expect("status");
    assert_eq!(
        status.last_handled_sync_request.as_deref(),
        Some("while-suspended")
    );
    assert!(status.next_sync_time.is_some());
    assert_eq!(
        store
            .sync_runs(&s.namespace, "district")
            .await
            .expect("runs")
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_with_leader_election_never_run_one_sync_twice() {
    let (s, sim, db) = with_district("leader", "postgres").await;
    let mut a = s.operator(&db.url, "replica-a", true);
    // The first replica takes the Lease, then the second starts.
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    while !a.log().contains("leading") {
        assert!(
            std::time::Instant::now() < deadline,
            "replica a never leads:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The second replica's clock runs three hours ahead: it must still see that the first
    // one renews the Lease, and never lead beside it.
    let ahead: jiff::Timestamp = common::operator::test_now().parse().expect("time");
    let ahead = (ahead + jiff::SignedDuration::from_hours(3)).to_string();
    let b = s.operator_at(&db.url, "replica-b", true, Some(&ahead));
    s.create(&class_link_sync("district", &sim, |_| {})).await;
    wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some()
    })
    .await;
    for n in 0..3 {
        let value = format!("request-{n}");
        s.request_sync("district", &value).await;
        wait_for(&s.syncs(), "district", SYNC_WAIT, "the manual sync", |o| {
            o.status.as_ref().is_some_and(|st| {
                st.last_handled_sync_request.as_deref() == Some(value.as_str())
                    && st
                        .last_sync
                        .as_ref()
                        .is_some_and(|l| format!("{:?}", l.trigger) == "Manual")
                    && !st
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Syncing" && c.status == "True")
            })
        })
        .await;
    }
    s.looked_again("district").await;
    assert_eq!(
        triggers(&db, &s.namespace, "district").await,
        ["Initial", "Manual", "Manual", "Manual"],
        "one initial and three manual syncs, none twice"
    );
    assert!(a.log().contains("leading"), "replica a leads:\n{}", a.log());
    assert!(
        !b.log().contains("leading"),
        "replica b waits:\n{}",
        b.log()
    );

    // The leader goes away: the standby takes over and handles the next request.
    a.kill();
    s.request_sync("district", "after-failover").await;
    wait_for(
        &s.syncs(),
        "district",
        Duration::from_secs(120),
        "the sync after fail-over",
        |o| {
            o.status.as_ref().is_some_and(|st| {
                st.last_handled_sync_request.as_deref() == Some("after-failover")
                    && !st
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Syncing" && c.status == "True")
            })
        },
    )
    .await;
    assert!(
        b.log().contains("leading"),
        "replica b took over:\n{}",
        b.log()
    );
    let runs = db
        .store
        .sync_runs(&s.namespace, "district")
        .await
        .expect("runs");
    assert_eq!(runs.len(), 5);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_with_policy_delete_removes_the_rows_and_completes_without_a_store() {
    let (s, sim, db) = with_district("delete", "postgres").await;
    let _operator = s.operator(&db.url, "delete", false);
    let delete = |spec: &mut classlink_operator::crd::ClassLinkSyncSpec| {
        spec.deletion_policy = DeletionPolicy::Delete
    };
    s.create(&class_link_sync("kept", &sim, |_| {})).await;
    s.create(&class_link_sync("removed", &sim, delete)).await;
    s.create(&class_link_sync("orphan", &sim, delete)).await;
    for name in ["kept", "removed", "orphan"] {
        wait_for(&s.syncs(), name, SYNC_WAIT, "the first sync", |o| {
            result_of(o).is_some()
        })
        .await;
    }
    let removed = s.syncs().get("removed").await.expect("get");
    assert!(
        removed
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "rostersync.io/store-cleanup")
    );

    s.syncs()
        .delete("removed", &DeleteParams::default())
        .await
        .expect("delete");
    s.syncs()
        .delete("kept", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&s.syncs(), "removed").await;
    wait_gone(&s.syncs(), "kept").await;
    let gone = db
        .store
        .snapshot(&s.namespace, "removed")
        .await
        .expect("snapshot");
    assert!(
        gone.people.is_empty() && gone.classes.is_empty(),
        "Delete removes the rows"
    );
    let kept = db
        .store
        .snapshot(&s.namespace, "kept")
        .await
        .expect("snapshot");
    assert!(!kept.people.is_empty(), "Retain keeps them");

    // The store goes away: the deletion still completes, with a warning event.
    let admin = common::roster::postgres_admin_url();
    let name = db.url.rsplit('/').next().expect("database name").to_owned();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin");
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop");
    s.syncs()
        .delete("orphan", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&s.syncs(), "orphan").await;
    let out =
        s.cp.kubectl()
            .args(["get", "events", "-n", &s.namespace, "-o", "json"])
            .output()
            .expect("kubectl");
    assert!(String::from_utf8_lossy(&out.stdout).contains("StoreCleanupAbandoned"));
}

async fn wait_gone(api: &Api<ClassLinkSync>, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while api.get_opt(name).await.expect("get").is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `GET http://{address}{path}`: the body, a newline and the status code.
fn http_get(address: &str, path: &str) -> String {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            &format!("http://{address}{path}"),
        ])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of the series `series` (name and labels, exactly) in a scrape.
fn sample(scrape: &str, series: &str) -> Option<i64> {
    scrape.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Scrapes `address` until `check` holds (at most `SYNC_WAIT`); returns the scrape.
async fn scrape_until(address: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    loop {
        let scrape = http_get(address, "/metrics");
        if check(&scrape) {
            return scrape;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; last scrape:\n{scrape}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_metrics_come_back_from_status_and_follow_each_classlinksync() {
    let (s, sim, db) = with_district("metrics-restart", "sqlite").await;
    let mut first = s.operator(&db.url, "before-restart", false);
    s.create(&class_link_sync("district", &sim, |_| {})).await;
    s.create(&class_link_sync("paused", &sim, |spec| spec.suspend = true))
        .await;
    let synced = wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some()
    })
    .await;
    wait_for(
        &s.syncs(),
        "paused",
        SYNC_WAIT,
        "the suspended status",
        |o| o.status.is_some(),
    )
    .await;
    assert!(
        first.terminate(Duration::from_secs(30)),
        "the operator stops"
    );

    let second = s.operator(&db.url, "after-restart", false);
    let status = synced.status.expect("status");
    let ns = &s.namespace;
    let district = format!(r#"{{namespace="{ns}",name="district"}}"#);
    let paused = format!(r#"{{namespace="{ns}",name="paused"}}"#);
    let scrape = scrape_until(&second.metrics, "both ClassLinkSyncs' series", |m| {
        m.contains(&district) && m.contains(&paused)
    })
    .await;
    println!("{scrape}");
    let last_success = status
        .last_successful_sync_time
        .as_ref()
        .expect("lastSuccessfulSyncTime")
        .0
        .as_second();
    assert_eq!(
        sample(
            &scrape,
            &format!("classlink_last_success_timestamp_seconds{district}")
        ),
        Some(last_success),
        "the last success survives the restart"
    );
    assert_eq!(
        sample(&scrape, &format!("classlink_ready{district}")),
        Some(1)
    );
    let counts = status.last_sync.as_ref().expect("lastSync").counts;
    assert_eq!(
        sample(
            &scrape,
            &format!(
                r#"classlink_last_sync_counts{{namespace="{ns}",name="district",count="syncedStudents"}}"#
            )
        ),
        Some(i64::try_from(counts.synced_students).expect("a count"))
    );
    // One that never synced has its series too, at 0, so "never succeeded" can alert.
    for (gauge, value) in [
        ("last_success_timestamp_seconds", 0),
        ("ready", 0),
        ("suspended", 1),
    ] {
        assert_eq!(
            sample(&scrape, &format!("classlink_{gauge}{paused}")),
            Some(value),
            "{gauge} of the suspended one"
        );
    }
    // The restart ran no sync to get there.
    s.looked_again("district").await;
    assert_eq!(triggers(&db, ns, "district").await, ["Initial"]);

    // Deleted, its series go.
    s.syncs()
        .delete("paused", &DeleteParams::default())
        .await
        .expect("delete");
    let scrape = scrape_until(&second.metrics, "the deleted one's series to go", |m| {
        !m.contains(r#"name="paused""#)
    })
    .await;
    assert!(scrape.contains(&district), "{scrape}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_are_served() {
    let (s, sim, db) = with_district("metrics", "sqlite").await;
    let operator = s.operator(&db.url, "metrics", false);
    s.create(&class_link_sync("district", &sim, |_| {})).await;
    wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some()
    })
    .await;
    let get = |path: &str| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                &format!("http://{}{path}", operator.metrics),
            ])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(get("/healthz").ends_with("200"));
    assert!(get("/readyz").ends_with("200"));
    let metrics = get("/metrics");
    println!("{metrics}");
    for needle in [
        "classlink_sync_total{namespace=",
        "result=\"Succeeded\"",
        "classlink_sync_duration_seconds_bucket",
        "classlink_last_success_timestamp_seconds{",
        "classlink_records_fetched_total{namespace=",
        "collection=\"users\"}",
        "classlink_last_sync_counts{",
        "classlink_ready{namespace=",
        "classlink_build_info{version=",
        "classlink_syncs_in_flight 0",
        "classlink_leader 1",
    ] {
        assert!(metrics.contains(needle), "{needle} in:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shrinking_feed_is_refused_until_the_annotation_confirms_it() {
    let (s, sim, db) = with_district("shrink", "sqlite").await;
    let _operator = s.operator(&db.url, "shrink", false);
    s.create(&class_link_sync("district", &sim, |_| {})).await;
    wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some()
    })
    .await;

    sim.mutate(oneroster_sim::Mutation::RemoveHalfUsers)
        .expect("mutation");
    s.request_sync("district", "after-truncation").await;
    let refused = wait_for(&s.syncs(), "district", SYNC_WAIT, "the refused sync", |o| {
        error_code_of(o).as_deref() == Some("ShrinkGuardTripped")
    })
    .await;
    let stalled = refused
        .status
        .expect("status")
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled")
        .expect("Stalled");
    assert!(
        stalled.message.contains("rostersync.io/confirm-shrink"),
        "{}",
        stalled.message
    );

    let patch = json!({"metadata": {"annotations": {
        classlink_operator::crd::CONFIRM_SHRINK_ANNOTATION: "end-of-year",
        SYNC_REQUESTED_AT_ANNOTATION: "confirmed",
    }}});
    s.syncs()
        .patch("district", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("confirm");
    let confirmed = wait_for(
        &s.syncs(),
        "district",
        SYNC_WAIT,
        "the confirmed sync",
        |o| result_of(o) == Some(SyncResult::Succeeded),
    )
    .await;
    let status = confirmed.status.expect("status");
    assert_eq!(
        status.last_handled_shrink_confirmation.as_deref(),
        Some("end-of-year")
    );

    // The confirmation is used once: another truncation is refused again.
    sim.mutate(oneroster_sim::Mutation::RemoveHalfUsers)
        .expect("mutation");
    s.request_sync("district", "second-truncation").await;
    wait_for(&s.syncs(), "district", SYNC_WAIT, "the refused sync", |o| {
        o.status
            .as_ref()
            .is_some_and(|st| st.last_handled_sync_request.as_deref() == Some("second-truncation"))
            && error_code_of(o).as_deref() == Some("ShrinkGuardTripped")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_a_running_sync_rolls_it_back_and_says_so() {
    let s = setup("shutdown").await;
    let sim = small_district().await;
    // Slow pages keep the sync running long enough to stop the operator in the middle.
    sim.set_fault(oneroster_sim::Fault::LatencyMs(1500));
    create_secret(
        &s.client,
        &s.namespace,
        "sim-credentials",
        oneroster_sim::config::DEFAULT_CLIENT_SECRET,
    )
    .await;
    let db = TestStore::new("sqlite").await;
    let mut operator = s.operator(&db.url, "shutdown", false);
    s.create(&class_link_sync("district", &sim, |spec| {
        spec.page_size = 100
    }))
    .await;
    wait_for(
        &s.syncs(),
        "district",
        SYNC_WAIT,
        "the sync to start",
        |o| {
            o.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == "Syncing" && c.status == "True")
            })
        },
    )
    .await;
    assert!(
        operator.terminate(Duration::from_secs(30)),
        "the operator exits on SIGTERM"
    );
    let stopped = s.syncs().get("district").await.expect("get");
    assert_eq!(error_code_of(&stopped).as_deref(), Some("SyncCancelled"));
    let status = stopped.status.expect("status");
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Syncing" && c.status == "False")
    );
    let store = Store::open(&db.url).await.expect("store");
    let snapshot = store
        .snapshot(&s.namespace, "district")
        .await
        .expect("snapshot");
    assert!(
        snapshot.people.is_empty() && snapshot.schools.is_empty(),
        "nothing was written"
    );
    let runs = store
        .sync_runs(&s.namespace, "district")
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "the cancelled sync is recorded");
    assert_eq!(
        runs[0].report.error_code,
        Some(classlink_operator::error_code::ErrorCode::SyncCancelled)
    );
}

/// When the slot of `namespace/name` starts in the US window that is open at
/// [`US_WINDOW_OPEN`].
fn us_slot_tonight(namespace: &str, name: &str) -> jiff::Timestamp {
    use classlink_operator::crd::Region;
    use classlink_operator::schedule::{Window, slot_for};
    let now: jiff::Timestamp = US_WINDOW_OPEN.parse().expect("time");
    let window = Window::containing(Region::US, now).expect("the US window is open");
    window.slot_start(slot_for(&format!("{namespace}/{name}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_sync_runs_in_its_slot_once_and_suspend_holds_it_back() {
    let (s, sim, db) = with_district("scheduled", "sqlite").await;
    let slot = us_slot_tonight(&s.namespace, "nightly");
    // A second name with the same slot, held back by suspend.
    let held = (0..10_000)
        .map(|n| format!("held-{n}"))
        .find(|name| us_slot_tonight(&s.namespace, name) == slot)
        .expect("a name in the same slot");
    // The clock starts 45 s before the slot: both exist, and the operator has seen them,
    // before it comes. With 20 s, a loaded CI machine (the controller suite's operators,
    // the API server and etcd on two cores) once started the operator and created them
    // after the slot, so tonight's slot was rightly skipped as missed.
    let start = (slot - jiff::SignedDuration::from_secs(45)).to_string();
    let _operator = s.operator_at(&db.url, "scheduled", false, Some(&start));
    let next_window = |spec: &mut classlink_operator::crd::ClassLinkSyncSpec| {
        spec.initial_sync = classlink_operator::crd::InitialSync::NextWindow;
    };
    s.create(&class_link_sync(&held, &sim, |spec| {
        next_window(spec);
        spec.suspend = true;
    }))
    .await;
    s.create(&class_link_sync("nightly", &sim, next_window))
        .await;
    let waiting = wait_for(&s.syncs(), "nightly", SYNC_WAIT, "the slot", |o| {
        o.status
            .as_ref()
            .and_then(|st| st.next_sync_time.clone())
            .is_some()
    })
    .await;
    assert_eq!(
        waiting.status.and_then(|st| st.next_sync_time).map(|t| t.0),
        Some(slot),
        "nextSyncTime is the slot"
    );
    let synced = wait_for(
        &s.syncs(),
        "nightly",
        SYNC_WAIT,
        "the scheduled sync",
        |o| result_of(o).is_some() && idle_status(o),
    )
    .await;
    let status = synced.status.expect("status");
    let last = status.last_sync.expect("lastSync");
    assert_eq!(format!("{:?}", last.trigger), "Scheduled");
    assert_eq!(last.result, Some(SyncResult::Succeeded));
    assert!(last.start_time.0 >= slot);
    let next = status.next_sync_time.expect("nextSyncTime").0;
    assert_eq!(
        next.duration_since(slot).as_hours(),
        24,
        "tonight is used up: the next scheduled sync is the same slot tomorrow ({next})"
    );

    let held_status = s
        .syncs()
        .get(&held)
        .await
        .expect("get")
        .status
        .expect("status");
    assert!(
        held_status.last_sync.is_none(),
        "suspend holds the due sync back"
    );
    assert!(held_status.next_sync_time.is_none());

    // Resumed inside the window after its slot: it runs late tonight, as Scheduled.
    let patch = json!({"spec": {"suspend": false}});
    s.syncs()
        .patch(&held, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("resume");
    let released = wait_for(&s.syncs(), &held, SYNC_WAIT, "the released sync", |o| {
        result_of(o).is_some()
    })
    .await;
    assert_eq!(trigger_of(&released).as_deref(), Some("Scheduled"));
    s.looked_again("nightly").await;
    assert_eq!(triggers(&db, &s.namespace, "nightly").await, ["Scheduled"]);
}

/// ClassLinkSyncs that wait for their window, pointed at an address where nothing listens:
/// none of them may sync during the test.
async fn create_waiting(s: &Setup, names: impl IntoIterator<Item = String>, region: &str) {
    for name in names {
        let obj: ClassLinkSync = serde_json::from_value(json!({
            "apiVersion": "rostersync.io/v1alpha1",
            "kind": "ClassLinkSync",
            "metadata": {"name": name},
            "spec": {
                "displayName": "Waiting for its window",
                "endpoint": "http://127.0.0.1:9",
                "region": region,
                "initialSync": "NextWindow",
                "credentials": {"secretRef": {"name": "sim-credentials"}},
            }
        }))
        .expect("valid");
        s.create(&obj).await;
    }
}

/// Every `nextSyncTime` in the namespace, by name, once all `count` have one.
async fn next_sync_times(s: &Setup, count: usize) -> std::collections::BTreeMap<String, String> {
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    loop {
        let list = s
            .syncs()
            .list(&kube::api::ListParams::default())
            .await
            .expect("list");
        let times: std::collections::BTreeMap<String, String> = list
            .items
            .iter()
            .filter_map(|o| {
                let next = o.status.as_ref()?.next_sync_time.as_ref()?;
                Some((o.metadata.name.clone()?, next.0.to_string()))
            })
            .collect();
        if times.len() == count {
            return times;
        }
        if std::time::Instant::now() >= deadline {
            let without: Vec<String> = list
                .items
                .iter()
                .filter(|o| !times.contains_key(o.metadata.name.as_deref().unwrap_or_default()))
                .map(|o| {
                    format!(
                        "{:?}: {}",
                        o.metadata.name,
                        serde_json::to_string(&o.status).unwrap_or_default()
                    )
                })
                .collect();
            panic!(
                "only {} of {count} have a nextSyncTime; without: {without:#?}",
                times.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_classlinksyncs_applied_in_an_open_window_spread_over_its_slots() {
    let s = setup("spread").await;
    let db = TestStore::new("sqlite").await;
    create_secret(&s.client, &s.namespace, "sim-credentials", "unused").await;
    let _operator = s.operator_at(&db.url, "spread", false, Some(US_WINDOW_OPEN));
    create_waiting(&s, (0..200).map(|n| format!("district-{n:03}")), "US").await;
    let times = next_sync_times(&s, 200).await;
    let distinct: std::collections::BTreeSet<&String> = times.values().collect();
    assert!(
        distinct.len() >= 40,
        "200 ClassLinkSyncs hold only {} slots",
        distinct.len()
    );
    let now: jiff::Timestamp = US_WINDOW_OPEN.parse().expect("time");
    for (name, next) in &times {
        let next: jiff::Timestamp = next.parse().expect("time");
        assert!(next > now, "{name} was not started at once: {next}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_leaves_every_next_sync_time_where_it_was() {
    let s = setup("restart").await;
    let db = TestStore::new("sqlite").await;
    create_secret(&s.client, &s.namespace, "sim-credentials", "unused").await;
    let started = std::time::Instant::now();
    let mut first = s.operator(&db.url, "before-restart", false);
    for region in ["US", "AU", "NZ", "UK"] {
        let names = (0..4).map(|n| format!("{}-{n}", region.to_lowercase()));
        create_waiting(&s, names, region).await;
    }
    let before = next_sync_times(&s, 16).await;
    first.kill();

    // The restarted operator's clock goes on from where the first one's was.
    let start: jiff::Timestamp = common::operator::test_now().parse().expect("time");
    let now =
        (start + jiff::SignedDuration::try_from(started.elapsed()).expect("elapsed")).to_string();
    let _second = s.operator_at(&db.url, "after-restart", false, Some(&now));
    for name in before.keys() {
        s.looked_again(name).await;
    }
    let after = next_sync_times(&s, 16).await;
    assert_eq!(before, after, "a restart moved a nextSyncTime");
}

fn idle_status(o: &ClassLinkSync) -> bool {
    o.status.as_ref().is_some_and(|s| {
        !s.conditions
            .iter()
            .any(|c| c.type_ == "Syncing" && c.status == "True")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusion_naming_no_classlinksync_says_so() {
    let s = setup("orphan-exclusion").await;
    let db = TestStore::new("sqlite").await;
    let _operator = s.operator(&db.url, "orphan", false);
    let exclusions: Api<SchoolExclusion> = Api::namespaced(s.client.clone(), &s.namespace);
    let exclusion: SchoolExclusion = serde_json::from_value(json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "SchoolExclusion",
        "metadata": {"name": "typo"},
        "spec": {"classLinkSyncName": "distrct", "schools": [{"sourcedId": "org-00001"}]}
    }))
    .expect("valid");
    exclusions
        .create(&PostParams::default(), &exclusion)
        .await
        .expect("create");
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    loop {
        let current = exclusions.get("typo").await.expect("get");
        let reason = current
            .status
            .as_ref()
            .and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
        if let Some((status, reason, message)) = reason {
            assert_eq!(
                (status.as_str(), reason.as_str()),
                ("False", "ClassLinkSyncNotFound")
            );
            assert!(message.contains("\"distrct\""), "{message}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no status on the exclusion"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_each_sync_only_their_own_and_the_main_instance_neither() {
    let (s, sim, db) = with_district("shards", "postgres").await;
    let start = |holder: &str, extra_args: &[&str]| {
        Operator::start(OperatorOptions {
            now: None,
            extra_args,
            kubeconfig: s.cp.kubeconfig(),
            store: &db.url,
            namespace: &s.namespace,
            lease_namespace: Some(&s.namespace),
            holder,
            log_dir: s.dir.path(),
        })
    };
    // The main instance with its default selector, and two shards, each with its own Lease
    // as the chart's shards have.
    let main = start("main", &[]);
    let shard_a = start(
        "shard-a",
        &[
            "--watch-label-selector",
            "rostersync.io/shard=a",
            "--lease-name",
            "classlink-operator-shard-a",
        ],
    );
    let shard_b = start(
        "shard-b",
        &[
            "--watch-label-selector",
            "rostersync.io/shard=b",
            "--lease-name",
            "classlink-operator-shard-b",
        ],
    );
    let labelled = |name: &str, shard: Option<&str>| {
        let mut obj = class_link_sync(name, &sim, |_| {});
        if let Some(shard) = shard {
            obj.metadata.labels = Some(
                [(
                    classlink_operator::crd::SHARD_LABEL.to_owned(),
                    shard.to_owned(),
                )]
                .into(),
            );
        }
        obj
    };
    s.create(&labelled("alpha", Some("a"))).await;
    s.create(&labelled("beta", Some("b"))).await;
    s.create(&labelled("plain", None)).await;
    for name in ["alpha", "beta", "plain"] {
        wait_for(&s.syncs(), name, SYNC_WAIT, "the first sync", |o| {
            result_of(o).is_some() && idle_status(o)
        })
        .await;
    }
    let finished = |log: String, name: &str| {
        log.lines()
            .any(|l| l.contains("sync finished") && l.contains(&format!("name=\"{name}\"")))
    };
    assert!(finished(shard_a.log(), "alpha") && !finished(shard_a.log(), "beta"));
    assert!(!finished(shard_a.log(), "plain"));
    assert!(finished(shard_b.log(), "beta") && !finished(shard_b.log(), "alpha"));
    assert!(!finished(shard_b.log(), "plain"));
    assert!(finished(main.log(), "plain"));
    assert!(
        !finished(main.log(), "alpha") && !finished(main.log(), "beta"),
        "the unsharded instance syncs neither shard's ClassLinkSyncs:\n{}",
        main.log()
    );
    for name in ["alpha", "beta", "plain"] {
        assert_eq!(
            triggers(&db, &s.namespace, name).await,
            ["Initial"],
            "{name}"
        );
    }
    db.drop_database().await;
}
