//! End to end, as a school installs and uses the operator: `helm install` the chart, run the
//! operator with a token of the chart's ServiceAccount (so the chart's RBAC is exactly what
//! is tested), point the demo's resources at the OneRoster simulator, and check everything
//! through kubectl and the CLI: counts, columns, a manual trigger, a SchoolExclusion, a
//! broken then fixed Secret, and `helm uninstall`. Against any cluster named by KUBECONFIG
//! with `USE_EXISTING_CLUSTER=true`, too.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use classlink_operator::crd::{ClassLinkSync, SyncResult};
use common::ControlPlane;
use common::helm::{self, ServiceAccountKubeconfig};
use common::operator::{Operator, OperatorOptions, wait_for};
use common::roster::TestStore;
use kube::api::Api;
use oneroster_sim::{Preset, SimConfig};

const RELEASE: &str = "classlink-operator";
const WAIT: Duration = Duration::from_secs(90);

/// The control plane with the CRDs, a namespace for the release and one for the schools.
async fn namespaces(
    system: &str,
    schools: &str,
) -> (&'static ControlPlane, kube::Client, String, String) {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let system = cp.namespace(&client, system).await.expect("namespace");
    let schools = cp.namespace(&client, schools).await.expect("namespace");
    (cp, client, system, schools)
}

fn kubectl_ok(cp: &ControlPlane, args: &[&str]) -> String {
    let out = cp.kubectl().args(args).output().expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The demo's resources, pointed at the simulator, in `dir`.
fn demo_resources(dir: &Path, endpoint: &str) {
    let demo = common::repo_root().join("examples/demo");
    let sync = std::fs::read_to_string(demo.join("classlinksync.yaml")).expect("demo sync");
    std::fs::write(
        dir.join("classlinksync.yaml"),
        sync.replace("http://127.0.0.1:18080", endpoint),
    )
    .expect("write");
    std::fs::copy(demo.join("secret.yaml"), dir.join("secret.yaml")).expect("copy");
}

fn trigger(cp: &ControlPlane, namespace: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_classlink-operator"))
        .args(["trigger", "washington", "-n", namespace])
        .env("KUBECONFIG", cp.kubeconfig())
        .output()
        .expect("trigger runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sync requested at"));
}

fn last_handled(o: &ClassLinkSync) -> Option<String> {
    o.status.as_ref()?.last_handled_sync_request.clone()
}

fn idle(o: &ClassLinkSync) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.last_sync.is_some()
            && !s
                .conditions
                .iter()
                .any(|c| c.type_ == "Syncing" && c.status == "True")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_sync_trigger_exclude_break_fix_and_uninstall() {
    let (cp, client, system, schools) = namespaces("e2e-system", "e2e-schools").await;

    let watch = format!("watchNamespaces={{{schools}}}");
    helm::install(cp, RELEASE, &system, &[&watch, "leaderElection.force=true"])
        .unwrap_or_else(|e| panic!("helm install: {e}"));
    let account = ServiceAccountKubeconfig::new(cp, &system, RELEASE);

    // The simulator's dates follow the operator's clock, which the test pins.
    let now: jiff::Timestamp = common::operator::test_now().parse().expect("test time");
    let today = classlink_operator::sync::today_in(classlink_operator::crd::Region::US, now);
    let sim = oneroster_sim::start(SimConfig::new(Preset::Small).as_of(today))
        .await
        .expect("simulator");
    let truth = sim.stats();
    let db = TestStore::new("sqlite").await;
    let logs = tempfile::tempdir().expect("temp dir");
    let operator = Operator::start(OperatorOptions {
        now: None,
        extra_args: &[],
        kubeconfig: account.path(),
        store: &db.url,
        namespace: &schools,
        lease_namespace: Some(&system),
        holder: "e2e",
        log_dir: logs.path(),
    });

    let files = tempfile::tempdir().expect("temp dir");
    demo_resources(files.path(), &sim.base_url());
    kubectl_ok(
        cp,
        &[
            "apply",
            "-n",
            &schools,
            "-f",
            &files.path().display().to_string(),
        ],
    );
    let syncs: Api<ClassLinkSync> = Api::namespaced(client.clone(), &schools);

    // The first sync, under the chart's role.
    let first = wait_for(&syncs, "washington", WAIT, "the first sync", idle).await;
    let last = first
        .status
        .clone()
        .and_then(|s| s.last_sync)
        .expect("lastSync");
    assert_eq!(
        last.result,
        Some(SyncResult::Succeeded),
        "{:?}\n{}",
        last.message,
        operator.log()
    );
    assert_eq!(
        last.counts.unmatched_users,
        truth.counts.students + truth.counts.teachers + truth.counts.staff
    );
    assert_eq!(last.counts.imported_classes, truth.counts.current_classes);
    assert!(last.counts.synced_guardians > 0);
    let table = kubectl_ok(cp, &["get", "classlinksyncs", "-n", &schools]);
    let row = table
        .lines()
        .find(|l| l.starts_with("washington"))
        .unwrap_or_else(|| panic!("{table}"));
    // READY STATUS RESULT STUDENTS TEACHERS CLASSES: the synced totals of a first sync.
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "True", "{table}");
    assert_eq!(cells[3], "Succeeded", "{table}");
    assert_eq!(cells[4], truth.counts.students.to_string(), "{table}");
    assert_eq!(
        cells[6],
        truth.counts.current_classes.to_string(),
        "{table}"
    );

    // A manual trigger: one more sync, now matching everyone.
    trigger(cp, &schools);
    let manual = wait_for(&syncs, "washington", WAIT, "the manual sync", |o| {
        idle(o)
            && o.status
                .as_ref()
                .and_then(|s| s.last_sync.as_ref())
                .is_some_and(|l| l.counts.matched_students == truth.counts.students)
    })
    .await;
    let handled = last_handled(&manual).expect("handled request");

    // A SchoolExclusion.
    let (school, stats) = truth.per_school.iter().next().expect("a school");
    let exclusion = format!(
        "apiVersion: rostersync.io/v1alpha1\nkind: SchoolExclusion\nmetadata:\n  name: pilot-later\nspec:\n  classLinkSyncName: washington\n  schools:\n    - sourcedId: {school}\n"
    );
    std::fs::write(files.path().join("exclusion.yaml"), exclusion).expect("write");
    kubectl_ok(
        cp,
        &[
            "apply",
            "-n",
            &schools,
            "-f",
            &files.path().join("exclusion.yaml").display().to_string(),
        ],
    );
    trigger(cp, &schools);
    let excluded = wait_for(
        &syncs,
        "washington",
        WAIT,
        "the sync with the exclusion",
        |o| {
            idle(o)
                && o.status
                    .as_ref()
                    .and_then(|s| s.last_sync.as_ref())
                    .is_some_and(|l| l.counts.excluded_schools == 1)
        },
    )
    .await;
    let counts = excluded
        .status
        .clone()
        .and_then(|s| s.last_sync)
        .expect("lastSync")
        .counts;
    assert!(counts.imported_classes <= truth.counts.current_classes - stats.counts.current_classes);
    let listing = kubectl_ok(cp, &["get", "schoolexclusions", "-n", &schools]);
    assert!(
        listing.contains("pilot-later") && listing.contains("1/1") && listing.contains(&stats.name),
        "{listing}"
    );

    // A broken Secret, then the fix, without restarting the operator.
    kubectl_ok(
        cp,
        &[
            "patch",
            "secret",
            "washington-classlink",
            "-n",
            &schools,
            "--type",
            "merge",
            "-p",
            r#"{"stringData":{"clientSecret":"wrong"}}"#,
        ],
    );
    trigger(cp, &schools);
    wait_for(&syncs, "washington", WAIT, "the failed sync", |o| {
        idle(o)
            && o.status
                .as_ref()
                .and_then(|s| s.last_sync.as_ref())
                .and_then(|l| l.error_code.as_deref())
                == Some("AuthenticationFailed")
    })
    .await;
    let table = kubectl_ok(cp, &["get", "classlinksyncs", "-n", &schools]);
    assert!(
        table.contains("Failed") && table.contains("AuthenticationFailed"),
        "{table}"
    );
    kubectl_ok(
        cp,
        &[
            "patch",
            "secret",
            "washington-classlink",
            "-n",
            &schools,
            "--type",
            "merge",
            "-p",
            r#"{"stringData":{"clientSecret":"demo-client-secret"}}"#,
        ],
    );
    trigger(cp, &schools);
    let fixed = wait_for(&syncs, "washington", WAIT, "the recovered sync", |o| {
        idle(o)
            && last_handled(o) != Some(handled.clone())
            && o.status
                .as_ref()
                .and_then(|s| s.last_sync.as_ref())
                .and_then(|l| l.result)
                == Some(SyncResult::Succeeded)
    })
    .await;
    assert!(
        fixed
            .status
            .expect("status")
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "False")
    );
    assert!(
        !operator.log().contains("demo-client-secret"),
        "no secret in the log"
    );

    // Uninstall: the release and its RBAC are gone.
    drop(operator);
    helm::uninstall(cp, RELEASE, &system).unwrap_or_else(|e| panic!("helm uninstall: {e}"));
    let roles = kubectl_ok(cp, &["get", "roles", "-n", &schools, "-o", "name"]);
    assert!(roles.trim().is_empty(), "the chart's Role is gone: {roles}");
    let out = account
        .kubectl()
        .args(["get", "classlinksyncs", "-n", &schools])
        .output()
        .expect("kubectl");
    assert!(
        !out.status.success(),
        "the ServiceAccount is gone with the release"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_one_needed_rule_the_sync_fails_with_a_clear_code_and_message() {
    let (cp, client, system, schools) = namespaces("e2e-rbac-system", "e2e-rbac-schools").await;
    let watch = format!("watchNamespaces={{{schools}}}");
    helm::install(cp, RELEASE, &system, &[&watch]).unwrap_or_else(|e| panic!("helm install: {e}"));

    // Take `get` away from the Secrets rule of the chart's Role.
    let role: serde_json::Value = serde_json::from_str(&kubectl_ok(
        cp,
        &["get", "role", RELEASE, "-n", &schools, "-o", "json"],
    ))
    .expect("role JSON");
    let mut role = role;
    let rules = role["rules"].as_array_mut().expect("rules");
    let secrets = rules
        .iter_mut()
        .find(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|res| res.iter().any(|x| x == "secrets"))
        })
        .expect("a Secrets rule");
    secrets["verbs"] = serde_json::json!(["list", "watch"]);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("role.json"), role.to_string()).expect("write");
    kubectl_ok(
        cp,
        &[
            "replace",
            "-f",
            &dir.path().join("role.json").display().to_string(),
        ],
    );

    let account = ServiceAccountKubeconfig::new(cp, &system, RELEASE);
    assert!(!account.can_i(&["get", "secrets", "-n", &schools]));
    let sim = oneroster_sim::start(SimConfig::new(Preset::Tiny))
        .await
        .expect("simulator");
    let db = TestStore::new("sqlite").await;
    let _operator = Operator::start(OperatorOptions {
        now: None,
        extra_args: &[],
        kubeconfig: account.path(),
        store: &db.url,
        namespace: &schools,
        lease_namespace: None,
        holder: "e2e-rbac",
        log_dir: dir.path(),
    });
    demo_resources(dir.path(), &sim.base_url());
    kubectl_ok(
        cp,
        &[
            "apply",
            "-n",
            &schools,
            "-f",
            &dir.path().join("classlinksync.yaml").display().to_string(),
        ],
    );
    kubectl_ok(
        cp,
        &[
            "apply",
            "-n",
            &schools,
            "-f",
            &dir.path().join("secret.yaml").display().to_string(),
        ],
    );

    let syncs: Api<ClassLinkSync> = Api::namespaced(client.clone(), &schools);
    let failed = wait_for(&syncs, "washington", WAIT, "the failed sync", idle).await;
    let last = failed
        .status
        .clone()
        .and_then(|s| s.last_sync)
        .expect("lastSync");
    assert_eq!(last.error_code.as_deref(), Some("PermissionDenied"));
    let message = last.message.unwrap_or_default();
    assert!(
        message.contains("secrets") && message.contains("get"),
        "{message}"
    );
    let table = kubectl_ok(cp, &["get", "classlinksyncs", "-n", &schools]);
    assert!(table.contains("PermissionDenied"), "{table}");
    helm::uninstall(cp, RELEASE, &system).unwrap_or_else(|e| panic!("helm uninstall: {e}"));
}
