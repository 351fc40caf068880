//! A real Kubernetes control plane for tests: etcd and kube-apiserver started on free
//! loopback ports, once per test binary, in the layout controller-runtime's envtest uses.
//!
//! Binaries come from `KUBEBUILDER_ASSETS` when it is set, else from the cache that
//! `hack/install-test-tools.sh` fills (`~/.cache/classlink-operator/assets-k8s-<version>`,
//! the release `hack/kube-apiserver/go.mod` names).
//! With `USE_EXISTING_CLUSTER=true` nothing is started and the cluster named by
//! `KUBECONFIG` (or `~/.kube/config`) is used instead, so the same tests run against kind,
//! k3d or a real cluster.
//!
//! The first test of a binary that uses the control plane prints the server's version on
//! stderr (`testenv: kube-apiserver v1.37.2 at https://127.0.0.1:…`), outside the test
//! harness's capture, so every test run says which Kubernetes it ran on.
//!
//! The processes outlive no test binary: a small watcher shell kills them and removes their
//! data when the process that started them exits, however it exits.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The wrapper module `hack/install-test-tools.sh` builds kube-apiserver from: its direct
/// requirement `k8s.io/kubernetes vX.Y.Z` names the release.
const KUBE_APISERVER_GO_MOD: &str = include_str!("../../../hack/kube-apiserver/go.mod");

/// Kubernetes version (`1.37.2`) of the kube-apiserver that `hack/install-test-tools.sh`
/// builds by default.
pub fn kubernetes_version() -> &'static str {
    KUBE_APISERVER_GO_MOD
        .lines()
        .map(|line| line.trim_start_matches("require").trim())
        .find_map(|line| line.strip_prefix("k8s.io/kubernetes v"))
        .expect("hack/kube-apiserver/go.mod requires k8s.io/kubernetes vX.Y.Z")
}

/// How long the API server may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running control plane (or an existing cluster) and the files that reach it.
pub struct ControlPlane {
    kubeconfig: PathBuf,
    assets: Option<PathBuf>,
    /// Admin bearer token of a started control plane (`None` for an existing cluster).
    admin_token: Option<String>,
    server: String,
    /// The server's `gitVersion` (`v1.37.2`), read once it answers.
    version: String,
    /// Directory holding the data, certificates and kubeconfig of a started control plane.
    _workdir: Option<PathBuf>,
}

static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

impl ControlPlane {
    /// The control plane of this test binary, started on first use.
    ///
    /// Panics with the reason when it cannot start: a test that needs a cluster must not
    /// pass without one.
    pub fn shared() -> &'static ControlPlane {
        let started = SHARED.get_or_init(|| Self::start().map_err(|e| format!("{e:#}")));
        match started {
            Ok(cp) => cp,
            Err(e) => panic!("the test control plane is not available: {e}"),
        }
    }

    fn start() -> anyhow::Result<ControlPlane> {
        let mut cp = if std::env::var("USE_EXISTING_CLUSTER").is_ok_and(|v| v == "true") {
            Self::existing_cluster()?
        } else {
            Self::start_local()?
        };
        cp.version = cp.read_version()?;
        // Straight to stderr: the harness captures `eprintln!` of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "testenv: kube-apiserver {} at {}{}",
            cp.version,
            cp.server,
            match &cp.assets {
                Some(dir) if cp.admin_token.is_some() =>
                    format!(" (binaries in {})", dir.display()),
                _ => " (existing cluster)".to_string(),
            }
        );
        Ok(cp)
    }

    fn start_local() -> anyhow::Result<ControlPlane> {
        let assets = assets_dir()?;
        let workdir = tempfile::Builder::new()
            .prefix("classlink-testenv-")
            .tempdir()
            .context("creating the control plane's directory")?
            .keep();
        let etcd_port = free_port()?;
        let etcd_peer_port = free_port()?;
        let api_port = free_port()?;

        let sa_key = workdir.join("sa.key");
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&sa_key)
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .context("running openssl to make the service-account signing key")?;
        if !status.success() {
            bail!("openssl genrsa failed ({status})");
        }
        let token = format!("admin-{}-{}", std::process::id(), api_port);
        std::fs::write(
            workdir.join("tokens.csv"),
            format!("{token},admin,admin-uid,\"system:masters\"\n"),
        )?;

        let etcd_log = std::fs::File::create(workdir.join("etcd.log"))?;
        let etcd = Command::new(assets.join("etcd"))
            .arg("--data-dir")
            .arg(workdir.join("etcd"))
            .arg("--name=testenv")
            .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
            .arg(format!(
                "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
            ))
            .arg(format!(
                "--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}"
            ))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}"
            ))
            .arg(format!(
                "--initial-cluster=testenv=http://127.0.0.1:{etcd_peer_port}"
            ))
            .stdout(Stdio::null())
            .stderr(etcd_log)
            .spawn()
            .context("starting etcd")?;

        let api_log = std::fs::File::create(workdir.join("kube-apiserver.log"))?;
        let apiserver = Command::new(assets.join("kube-apiserver"))
            .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={api_port}"))
            .arg("--cert-dir")
            .arg(workdir.join("certs"))
            .arg("--token-auth-file")
            .arg(workdir.join("tokens.csv"))
            .arg("--authorization-mode=RBAC")
            .arg("--service-account-issuer=https://kubernetes.default.svc")
            .arg("--service-account-key-file")
            .arg(&sa_key)
            .arg("--service-account-signing-key-file")
            .arg(&sa_key)
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            // No controller-manager makes the namespaces' `default` ServiceAccount, which this
            // plugin would require of every Pod.
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--allow-privileged=true")
            .stdout(Stdio::null())
            .stderr(api_log)
            .spawn()
            .context("starting kube-apiserver")?;

        reap_with_this_process(&[etcd.id(), apiserver.id()], &workdir)?;

        let server = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = workdir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&server, &token))?;

        let cp = ControlPlane {
            kubeconfig,
            assets: Some(assets),
            admin_token: Some(token),
            server,
            version: String::new(),
            _workdir: Some(workdir.clone()),
        };
        cp.wait_ready().with_context(|| {
            format!(
                "kube-apiserver did not become ready; logs in {}",
                workdir.display()
            )
        })?;
        Ok(cp)
    }

    fn existing_cluster() -> anyhow::Result<ControlPlane> {
        let kubeconfig = match std::env::var_os("KUBECONFIG") {
            Some(path) => PathBuf::from(path),
            None => home_dir()?.join(".kube/config"),
        };
        let config = Kubeconfig::read_from(&kubeconfig)
            .with_context(|| format!("reading {}", kubeconfig.display()))?;
        let server = config
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone())
            .unwrap_or_default();
        Ok(ControlPlane {
            kubeconfig,
            assets: assets_dir().ok(),
            admin_token: None,
            server,
            version: String::new(),
            _workdir: None,
        })
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let out = self.kubectl().args(["get", "--raw", "/readyz"]).output()?;
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "no answer from /readyz within {READY_TIMEOUT:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn read_version(&self) -> anyhow::Result<String> {
        let out = self.kubectl().args(["get", "--raw", "/version"]).output()?;
        if !out.status.success() {
            bail!(
                "reading the server's /version: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let info: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("the server's /version is not JSON")?;
        info["gitVersion"]
            .as_str()
            .map(str::to_owned)
            .context("the server's /version has no gitVersion")
    }

    /// The API server's Kubernetes version as it reports it (`v1.37.2`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Path of a kubeconfig with cluster-admin rights on this control plane.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// URL of the API server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Writes a kubeconfig for this server that authenticates with `token` (for example a
    /// ServiceAccount token from `kubectl create token`).
    pub fn kubeconfig_for_token(&self, path: &Path, token: &str) -> anyhow::Result<()> {
        if self.admin_token.is_none() {
            bail!("kubeconfigs for other tokens are only made for a started control plane");
        }
        std::fs::write(path, kubeconfig_yaml(&self.server, token))?;
        Ok(())
    }

    /// A kube client with cluster-admin rights. Make one per test: a client belongs to the
    /// Tokio runtime it was made on.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        client_from_kubeconfig(&self.kubeconfig).await
    }

    /// `kubectl` pointed at this control plane.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.tool("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// `helm` pointed at this control plane.
    pub fn helm(&self) -> Command {
        let mut cmd = Command::new(self.tool("helm"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// kubectl with the admin kubeconfig in `KUBECONFIG` rather than a flag: kubectl finds a
    /// plugin only when its name is the first argument.
    pub fn kubectl_for_plugins(&self) -> Command {
        let mut cmd = Command::new(self.tool("kubectl"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    fn tool(&self, name: &str) -> PathBuf {
        match &self.assets {
            Some(dir) if dir.join(name).exists() => dir.join(name),
            _ => PathBuf::from(name),
        }
    }

    /// Creates a namespace with a unique name starting with `prefix` and returns its name.
    pub async fn namespace(&self, client: &kube::Client, prefix: &str) -> anyhow::Result<String> {
        let api: Api<Namespace> = Api::all(client.clone());
        let mut ns = Namespace::default();
        ns.metadata.generate_name = Some(format!("{prefix}-"));
        let created = api
            .create(&PostParams::default(), &ns)
            .await
            .context("creating a test namespace")?;
        created
            .metadata
            .name
            .context("the API server gave the namespace no name")
    }

    /// Deletes a namespace made by [`ControlPlane::namespace`]. Without a controller-manager
    /// its contents are not garbage collected, which a per-binary control plane does not mind.
    pub async fn delete_namespace(&self, client: &kube::Client, name: &str) -> anyhow::Result<()> {
        let api: Api<Namespace> = Api::all(client.clone());
        api.delete(name, &DeleteParams::default()).await?;
        Ok(())
    }
}

/// A kube client from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("building a kube client")
}

/// Where the etcd, kube-apiserver, kubectl and helm binaries are.
pub fn assets_dir() -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("KUBEBUILDER_ASSETS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = match std::env::var_os("CLASSLINK_CACHE") {
                Some(dir) => PathBuf::from(dir),
                None => home_dir()?.join(".cache/classlink-operator"),
            };
            cache.join(format!("assets-k8s-{}", kubernetes_version()))
        }
    };
    for binary in ["etcd", "kube-apiserver", "kubectl", "helm"] {
        if !dir.join(binary).exists() {
            bail!(
                "{} has no {binary}: run hack/install-test-tools.sh (or set KUBEBUILDER_ASSETS, or USE_EXISTING_CLUSTER=true with KUBECONFIG)",
                dir.display()
            );
        }
    }
    Ok(dir)
}

fn home_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts a watcher that kills `pids` and removes `dir` once this process has exited.
fn reap_with_this_process(pids: &[u32], dir: &Path) -> anyhow::Result<()> {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    let pids = pids.join(" ");
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {pids} 2>/dev/null; sleep 3; kill -9 {pids} 2>/dev/null; rm -rf '{dir}'",
        me = std::process::id(),
        dir = dir.display(),
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the control plane's watcher")?;
    Ok(())
}

fn kubeconfig_yaml(server: &str, token: &str) -> String {
    // The API server makes its own self-signed serving certificate, so clients skip
    // verification; the server only listens on loopback.
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: {server}
    insecure-skip-tls-verify: true
users:
- name: testenv
  user:
    token: {token}
contexts:
- name: testenv
  context:
    cluster: testenv
    user: testenv
    namespace: default
current-context: testenv
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_version_is_the_release_the_wrapper_module_requires() {
        let version = kubernetes_version();
        let parts: Vec<&str> = version.split('.').collect();
        assert_eq!(parts.len(), 3, "{version}");
        assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()), "{version}");
        assert_eq!(parts[0], "1", "{version}");
        // Each staging module is replaced by the release of the same minor and patch.
        let staging = format!("k8s.io/apiserver v0.{}.{}", parts[1], parts[2]);
        assert!(
            KUBE_APISERVER_GO_MOD.contains(&format!("k8s.io/apiserver => {staging}")),
            "hack/kube-apiserver/go.mod maps k8s.io/apiserver to {staging}"
        );
    }
}
