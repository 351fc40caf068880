//! The Helm chart against a real API server: render, lint, install, and act as the chart's
//! ServiceAccount.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

use super::ControlPlane;

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    super::repo_root().join("charts/classlink-operator")
}

/// The output of a command that must succeed, else a panic naming `what` and its stderr.
fn succeed(what: &str, out: std::io::Result<Output>) -> String {
    let out = out.unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stdout on success, else stderr.
fn outcome(out: std::io::Result<Output>) -> Result<String, String> {
    let out = out.map_err(|e| format!("cannot run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn with_sets<'a>(cmd: &'a mut Command, sets: &[&str]) -> &'a mut Command {
    for set in sets {
        cmd.arg("--set").arg(set);
    }
    cmd
}

/// `helm template` of the chart without its CRDs, for this server's Kubernetes version:
/// the manifest, or helm's error message.
pub fn template(
    cp: &ControlPlane,
    release: &str,
    namespace: &str,
    sets: &[&str],
) -> Result<String, String> {
    let mut cmd = cp.helm();
    cmd.args(["template", release])
        .arg(chart_dir())
        .args(["--namespace", namespace, "--skip-crds", "--kube-version"])
        .arg(cp.version().trim_start_matches('v'));
    outcome(with_sets(&mut cmd, sets).output())
}

/// `helm lint --strict` with `sets`: its output, asserting no chart failed and nothing
/// above INFO was reported.
pub fn lint(cp: &ControlPlane, sets: &[&str]) -> String {
    let mut cmd = cp.helm();
    cmd.args(["lint", "--strict"]).arg(chart_dir());
    let out = succeed(
        &format!("helm lint {sets:?}"),
        with_sets(&mut cmd, sets).output(),
    );
    assert!(
        out.contains("1 chart(s) linted, 0 chart(s) failed"),
        "helm lint {sets:?}:\n{out}"
    );
    assert!(
        !out.contains("[WARNING]") && !out.contains("[ERROR]"),
        "helm lint {sets:?} is not clean:\n{out}"
    );
    out
}

/// `kubectl apply --server-side --dry-run=server` of `manifest`: kubectl's output, or the
/// API server's refusal.
pub fn dry_run_apply(cp: &ControlPlane, manifest: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("manifest.yaml");
    std::fs::write(&file, manifest).expect("writing the manifest");
    outcome(
        cp.kubectl()
            .args([
                "apply",
                "--server-side",
                "--field-manager=helm-chart-test",
                "--dry-run=server",
                "-f",
            ])
            .arg(&file)
            .output(),
    )
}

/// `helm install` of the chart, as docs/install-helm.md runs it (Helm 4 applies server-side).
pub fn install(
    cp: &ControlPlane,
    release: &str,
    namespace: &str,
    sets: &[&str],
) -> Result<String, String> {
    let mut cmd = cp.helm();
    cmd.args(["install", release])
        .arg(chart_dir())
        .args(["--namespace", namespace]);
    outcome(with_sets(&mut cmd, sets).output())
}

/// `helm uninstall` of a release.
pub fn uninstall(cp: &ControlPlane, release: &str, namespace: &str) -> Result<String, String> {
    outcome(
        cp.helm()
            .args(["uninstall", release, "--namespace", namespace])
            .output(),
    )
}

/// The YAML documents of a manifest, as JSON values.
pub fn documents(manifest: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(manifest)
        .map(|doc| {
            let value = serde_yaml::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("the rendering is not valid YAML: {e}\n{manifest}"));
            serde_json::to_value(value).expect("YAML maps to JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The objects of `kind` in a rendering.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The one object of `kind` in a rendering.
pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The value of environment variable `name` of the operator's container.
pub fn env<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("the container has env")
        .iter()
        .find(|e| e["name"] == name)
}

/// A kubeconfig that authenticates as a ServiceAccount, with a token from `kubectl create
/// token`; removed on drop.
pub struct ServiceAccountKubeconfig {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl ServiceAccountKubeconfig {
    /// Makes a kubeconfig for ServiceAccount `name` of `namespace`.
    pub fn new(cp: &ControlPlane, namespace: &str, name: &str) -> Self {
        let token = succeed(
            &format!("kubectl create token {name}"),
            cp.kubectl()
                .args(["create", "token", name, "--namespace", namespace])
                .output(),
        );
        let token = token.trim();
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("kubeconfig");
        if cp.kubeconfig_for_token(&path, token).is_err() {
            // An existing cluster (USE_EXISTING_CLUSTER): its server and CA from the admin
            // kubeconfig, the ServiceAccount's token as the only credential.
            let minified = succeed(
                "kubectl config view --minify",
                cp.kubectl()
                    .args(["config", "view", "--raw", "--minify", "--flatten"])
                    .output(),
            );
            let mut config: Value =
                serde_yaml::from_str(&minified).expect("kubectl prints a kubeconfig");
            config["users"] = serde_json::json!([{"name": name, "user": {"token": token}}]);
            config["contexts"][0]["context"]["user"] = Value::from(name);
            let yaml = serde_yaml::to_string(&config).expect("kubeconfig as YAML");
            std::fs::write(&path, yaml).expect("writing the ServiceAccount's kubeconfig");
        }
        ServiceAccountKubeconfig { _dir: dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `kubectl` authenticated as the ServiceAccount.
    pub fn kubectl(&self) -> Command {
        let kubectl = testenv::assets_dir()
            .map(|dir| dir.join("kubectl"))
            .unwrap_or_else(|_| PathBuf::from("kubectl"));
        let mut cmd = Command::new(kubectl);
        cmd.arg("--kubeconfig").arg(&self.path);
        cmd
    }

    /// `kubectl auth can-i ARGS` as the ServiceAccount.
    pub fn can_i(&self, args: &[&str]) -> bool {
        let out = self
            .kubectl()
            .args(["auth", "can-i"])
            .args(args)
            .output()
            .expect("kubectl runs");
        let answer = String::from_utf8_lossy(&out.stdout);
        match answer.trim() {
            "yes" => true,
            "no" => false,
            other => panic!(
                "kubectl auth can-i {args:?} answered {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
}
