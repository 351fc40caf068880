//! The kubectl plugin (`kubectl classlink`: the binary linked as `kubectl-classlink`) against
//! a real kube-apiserver, the operator as a local process and the OneRoster simulator.
//!
//! Commands run through kubectl itself, which finds the plugin on PATH, except where a test
//! needs the plugin's own `--kubeconfig`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use classlink_operator::crd::{ClassLinkSync, SYNC_REQUESTED_AT_ANNOTATION, SyncResult};
use common::ControlPlane;
use common::operator::{Operator, OperatorOptions, condition_of, create_secret, wait_for};
use common::roster::{TestStore, class_link_sync, small_district};
use kube::api::{Api, PostParams};

const SYNC_WAIT: Duration = Duration::from_secs(90);

struct Setup {
    cp: &'static ControlPlane,
    client: kube::Client,
    namespace: String,
    dir: tempfile::TempDir,
    /// A directory holding `kubectl-classlink`, a link to the operator binary.
    plugin_dir: PathBuf,
}

async fn setup(prefix: &str) -> Setup {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let namespace = cp.namespace(&client, prefix).await.expect("namespace");
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin_dir = dir.path().join("bin");
    std::fs::create_dir(&plugin_dir).expect("bin dir");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_classlink-operator"),
        plugin_dir.join("kubectl-classlink"),
    )
    .expect("link kubectl-classlink");
    Setup {
        cp,
        client,
        namespace,
        dir,
        plugin_dir,
    }
}

impl Setup {
    fn operator(&self, store: &str) -> Operator {
        Operator::start(OperatorOptions {
            now: None,
            extra_args: &[],
            kubeconfig: self.cp.kubeconfig(),
            store,
            namespace: &self.namespace,
            lease_namespace: None,
            holder: "plugin",
            log_dir: self.dir.path(),
        })
    }

    fn syncs(&self) -> Api<ClassLinkSync> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// `kubectl classlink ARGS`, kubectl finding the plugin on PATH.
    fn kubectl_classlink(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.plugin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = self
            .cp
            .kubectl_for_plugins()
            .arg("classlink")
            .args(args)
            .env("PATH", path)
            .env_remove("CLASSLINK_STORE")
            .output()
            .expect("kubectl runs");
        println!(
            "$ kubectl classlink {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The plugin binary itself, with no KUBECONFIG in its environment.
    fn plugin(&self) -> Command {
        let mut cmd = Command::new(self.plugin_dir.join("kubectl-classlink"));
        cmd.env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("CLASSLINK_STORE")
            .env("HOME", self.dir.path());
        cmd
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn result_of(sync: &ClassLinkSync) -> Option<SyncResult> {
    sync.status.as_ref()?.last_sync.as_ref()?.result
}

fn syncing_reason(sync: &ClassLinkSync) -> Option<String> {
    let status = sync.status.as_ref()?;
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Syncing")
        .map(|c| format!("{}:{}", c.status, c.reason))
}

/// The value of a `  Label   value` row of the Sync Details.
fn row<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(label)?;
        rest.starts_with("  ").then(|| rest.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_sync_wait_suspend_resume_and_whois_after_a_real_sync() {
    let s = setup("plugin").await;
    let sim = small_district().await;
    create_secret(
        &s.client,
        &s.namespace,
        "sim-credentials",
        oneroster_sim::config::DEFAULT_CLIENT_SECRET,
    )
    .await;
    let db = TestStore::new("sqlite").await;
    let _operator = s.operator(&db.url);
    s.syncs()
        .create(
            &PostParams::default(),
            &class_link_sync("district", &sim, |_| {}),
        )
        .await
        .expect("create");
    let synced = wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some() && syncing_reason(o).is_some_and(|r| r.starts_with("False:"))
    })
    .await;
    let status = synced.status.clone().expect("status");
    let last = status.last_sync.clone().expect("lastSync");
    assert_eq!(last.result, Some(SyncResult::Succeeded));

    // status: the Sync Details from the cluster, and the store's runs.
    let out = s.kubectl_classlink(&["status", "district", "-n", &s.namespace, "--store", &db.url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "Sync Details: Simulated district ({}/district)",
            s.namespace
        )),
        "{text}"
    );
    for (label, value) in [
        ("Result", "Succeeded".to_owned()),
        ("Error code", "-".to_owned()),
        ("Trigger", "Initial".to_owned()),
        ("Synced Students", last.counts.synced_students.to_string()),
        ("Synced Teachers", last.counts.synced_teachers.to_string()),
        ("Matched Students", last.counts.matched_students.to_string()),
        ("Imported Classes", last.counts.imported_classes.to_string()),
        ("Message", last.message.clone().unwrap_or_default()),
    ] {
        assert_eq!(
            row(&text, label),
            Some(value.as_str()),
            "{label} in\n{text}"
        );
    }
    assert!(last.counts.synced_students > 0);
    assert!(!status.schools.is_empty());
    for school in &status.schools {
        assert!(
            text.lines().any(|l| l.contains(&school.name)
                && l.contains(&school.sourced_id)
                && l.contains(&school.counts.students.to_string())),
            "school {} in\n{text}",
            school.name
        );
    }
    let next = status.next_sync_time.clone().expect("nextSyncTime");
    assert_eq!(
        row(&text, "Next Sync"),
        Some(next.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().as_str())
    );
    let waiting = condition_of(&status.conditions, "Syncing");
    assert_eq!(
        row(&text, "Why"),
        Some(format!("{}: {}", waiting.reason, waiting.message).as_str())
    );
    assert_eq!(waiting.reason, "Scheduled");
    let runs_header = text
        .lines()
        .position(|l| l.trim() == "Recent runs:")
        .unwrap_or_else(|| panic!("recent runs in\n{text}"));
    let runs: Vec<&str> = text.lines().skip(runs_header + 2).collect();
    assert_eq!(runs.len(), 1, "one run recorded:\n{text}");
    assert!(runs[0].contains("Initial") && runs[0].contains("Succeeded"));

    // sync --wait: the request is handled, the result printed, exit 0.
    let out = s.kubectl_classlink(&["sync", "district", "--wait", "-n", &s.namespace]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(row(&text, "Trigger"), Some("Manual"), "{text}");
    assert_eq!(row(&text, "Result"), Some("Succeeded"), "{text}");
    let after = s.syncs().get("district").await.expect("get");
    let requested = after
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SYNC_REQUESTED_AT_ANNOTATION))
        .cloned();
    let after_status = after.status.clone().expect("status");
    assert!(requested.is_some());
    assert_eq!(after_status.last_handled_sync_request, requested);
    assert_eq!(
        format!("{:?}", after_status.last_sync.expect("lastSync").trigger),
        "Manual",
        "the wait ended after the manual sync, not before"
    );
    assert_eq!(
        db.store
            .sync_runs(&s.namespace, "district")
            .await
            .expect("runs")
            .len(),
        2
    );

    // suspend: spec, then status (Syncing reason Suspended, no next sync), then the output.
    let out = s.kubectl_classlink(&["suspend", "district", "-n", &s.namespace]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.syncs().get("district").await.expect("get").spec.suspend);
    let suspended = wait_for(&s.syncs(), "district", SYNC_WAIT, "Suspended", |o| {
        syncing_reason(o).as_deref() == Some("False:Suspended")
    })
    .await;
    assert!(suspended.status.expect("status").next_sync_time.is_none());
    let out = s.kubectl_classlink(&["status", "district", "-n", &s.namespace]);
    let text = stdout(&out);
    assert_eq!(row(&text, "Next Sync"), Some("-"), "{text}");
    assert!(
        row(&text, "Why").is_some_and(|w| w.starts_with("Suspended: ")),
        "{text}"
    );
    assert_eq!(row(&text, "Suspended"), Some("true"), "{text}");
    assert!(
        !text.contains("Recent runs"),
        "no runs without --store:\n{text}"
    );
    // A suspended ClassLinkSync never runs a requested sync: waiting for one is refused.
    let out = s.kubectl_classlink(&["sync", "district", "--wait", "-n", &s.namespace]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is suspended"), "{}", stderr(&out));

    let out = s.kubectl_classlink(&["resume", "district", "-n", &s.namespace]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!s.syncs().get("district").await.expect("get").spec.suspend);
    let resumed = wait_for(&s.syncs(), "district", SYNC_WAIT, "resumed", |o| {
        syncing_reason(o).is_some_and(|r| r.starts_with("False:") && r != "False:Suspended")
    })
    .await;
    assert!(resumed.status.expect("status").next_sync_time.is_some());

    // whois: one synced student, and nobody else.
    let snapshot = db
        .store
        .snapshot(&s.namespace, "district")
        .await
        .expect("snapshot");
    let student = snapshot
        .people
        .iter()
        .find(|p| p.role.as_str() == "student" && p.email().is_some())
        .expect("a synced student with an email");
    let email = student.email().expect("email");
    let out = s.kubectl_classlink(&[
        "whois",
        &email.to_uppercase(),
        "-n",
        &s.namespace,
        "--store",
        &db.url,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "Provider district: student {}",
            student.sourced_id()
        )),
        "{text}"
    );
    for school in &student.schools {
        let name = &snapshot
            .schools
            .iter()
            .find(|x| *x.sourced_id == **school)
            .expect("the school is stored")
            .name;
        assert!(text.contains(&format!("{name} ({school})")), "{text}");
    }
    let classes: Vec<_> = snapshot
        .memberships
        .iter()
        .filter(|m| *m.person == *student.sourced_id())
        .map(|m| m.class)
        .collect();
    assert!(!classes.is_empty(), "the student is in classes");
    for class in &classes {
        assert!(
            text.contains(&format!("({class})")),
            "class {class} in\n{text}"
        );
    }
    assert!(
        row(&text, "Last change").is_some_and(|c| c.contains("sync of district wrote")),
        "{text}"
    );
    assert_eq!(
        text.matches('@').count(),
        1,
        "no email but the asked one:\n{text}"
    );
    for other in snapshot
        .people
        .iter()
        .filter(|p| p.sourced_id() != student.sourced_id())
    {
        assert!(
            !text.contains(&format!(" {} ", other.sourced_id()))
                && !text.contains(&format!(" {}\n", other.sourced_id())),
            "another person's id {} in\n{text}",
            other.sourced_id()
        );
    }

    let out = s.kubectl_classlink(&[
        "whois",
        "nobody@example.invalid",
        "-n",
        &s.namespace,
        "--store",
        &db.url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains(&format!(
            "no person with email nobody@example.invalid in namespace {}",
            s.namespace
        )),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_wait_and_sync_wait_exit_4_on_a_failed_sync() {
    let s = setup("plugin-fail").await;
    let sim = small_district().await;
    create_secret(
        &s.client,
        &s.namespace,
        "sim-credentials",
        "wrong-secret-value",
    )
    .await;
    let db = TestStore::new("sqlite").await;
    let _operator = s.operator(&db.url);
    s.syncs()
        .create(
            &PostParams::default(),
            &class_link_sync("district", &sim, |_| {}),
        )
        .await
        .expect("create");
    wait_for(&s.syncs(), "district", SYNC_WAIT, "the first sync", |o| {
        result_of(o).is_some()
    })
    .await;

    // `classlink-operator trigger --wait` (its own --kubeconfig) and the plugin share the code.
    let out = Command::new(env!("CARGO_BIN_EXE_classlink-operator"))
        .args(["trigger", "district", "--wait", "--timeout", "90s"])
        .args(["-n", &s.namespace])
        .arg("--kubeconfig")
        .arg(s.cp.kubeconfig())
        .env_remove("KUBECONFIG")
        .output()
        .expect("trigger");
    println!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(row(&text, "Result"), Some("Failed"), "{text}");
    assert_eq!(row(&text, "Error code"), Some("AuthenticationFailed"));
    assert_eq!(row(&text, "Trigger"), Some("Manual"));
    assert!(!text.contains("wrong-secret-value"));

    let out = s.kubectl_classlink(&["sync", "district", "--wait", "-n", &s.namespace]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(
        row(&stdout(&out), "Error code"),
        Some("AuthenticationFailed")
    );

    let triggers: Vec<String> = db
        .store
        .sync_runs(&s.namespace, "district")
        .await
        .expect("runs")
        .into_iter()
        .map(|r| r.trigger)
        .collect();
    assert_eq!(triggers, ["Initial", "Manual", "Manual"]);
}

/// A kubeconfig with the test cluster as context `school` (namespace `namespace`) and an
/// unreachable cluster as the current context `elsewhere`.
fn two_contexts(admin: &Path, namespace: &str, path: &Path) {
    let text = std::fs::read_to_string(admin).expect("kubeconfig");
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig YAML");
    let context = config["contexts"][0]["context"].clone();
    let user = context["user"].clone();
    let mut school = context.clone();
    school["namespace"] = namespace.into();
    let mut elsewhere = serde_yaml::Mapping::new();
    elsewhere.insert("cluster".into(), "unreachable".into());
    elsewhere.insert("user".into(), user);
    elsewhere.insert("namespace".into(), namespace.into());
    config["contexts"] = serde_yaml::to_value(vec![
        serde_json::json!({"name": "school", "context": school}),
        serde_json::json!({"name": "elsewhere", "context": elsewhere}),
    ])
    .expect("contexts");
    let clusters = config["clusters"]
        .as_sequence_mut()
        .expect("clusters is a list");
    clusters.push(
        serde_yaml::to_value(serde_json::json!({
            "name": "unreachable",
            "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": true}
        }))
        .expect("cluster"),
    );
    config["current-context"] = "elsewhere".into();
    std::fs::write(path, serde_yaml::to_string(&config).expect("YAML")).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_chooses_the_cluster_and_its_namespace() {
    let s = setup("plugin-context").await;
    let sim = small_district().await;
    // No operator: the plugin reads what the API server holds.
    s.syncs()
        .create(
            &PostParams::default(),
            &class_link_sync("district", &sim, |_| {}),
        )
        .await
        .expect("create");
    let kubeconfig = s.dir.path().join("two-contexts.yaml");
    two_contexts(s.cp.kubeconfig(), &s.namespace, &kubeconfig);

    // The current context is the unreachable cluster.
    let out = s
        .plugin()
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["status", "district"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("reading ClassLinkSync district"),
        "{}",
        stderr(&out)
    );

    // --context school: the test cluster, and the context's namespace without -n.
    let out = s
        .plugin()
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--context", "school", "status", "district"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "Sync Details: Simulated district ({}/district)",
            s.namespace
        )),
        "{text}"
    );
    assert!(text.contains("No sync has finished yet."), "{text}");

    // Flags after the subcommand work as well, and suspend reaches the same cluster.
    let out = s
        .plugin()
        .args(["suspend", "district", "--context", "school", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.syncs().get("district").await.expect("get").spec.suspend);

    // `classlink-operator trigger` honours --context too.
    let out = Command::new(env!("CARGO_BIN_EXE_classlink-operator"))
        .args(["trigger", "district", "--context", "school", "--kubeconfig"])
        .arg(&kubeconfig)
        .env_remove("KUBECONFIG")
        .output()
        .expect("trigger");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is suspended"),
        "a suspended ClassLinkSync is named so: {}",
        stderr(&out)
    );
    let annotated = s.syncs().get("district").await.expect("get");
    assert!(
        annotated
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(SYNC_REQUESTED_AT_ANNOTATION))
    );
}
