//! What the commands that talk to Kubernetes share: choosing the kubeconfig and context,
//! asking for a sync and waiting for its result, and switching `spec.suspend`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{EXIT_FAILED, EXIT_PARTIAL};
use crate::controller::status::SYNCING;
use crate::crd::{ClassLinkSync, SYNC_REQUESTED_AT_ANNOTATION, SyncResult};

/// Which cluster, as kubectl chooses it.
#[derive(Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the
    /// pod's ServiceAccount).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
}

impl KubeArgs {
    /// The client configuration: no request is made yet.
    pub async fn config(&self) -> Result<kube::Config, String> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match (&self.kubeconfig, &self.context) {
            (Some(path), _) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| e.to_string())
            }
            (None, Some(_)) => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| e.to_string()),
            (None, None) => kube::Config::infer().await.map_err(|e| e.to_string()),
        };
        config.map_err(|e| format!("connecting to Kubernetes: {e}"))
    }

    /// A client and the namespace to use: `namespace` when given, else the context's.
    pub async fn client(&self, namespace: Option<&str>) -> Result<(kube::Client, String), String> {
        let config = self.config().await?;
        let namespace = namespace.map_or_else(|| config.default_namespace.clone(), str::to_owned);
        let client =
            kube::Client::try_from(config).map_err(|e| format!("connecting to Kubernetes: {e}"))?;
        Ok((client, namespace))
    }
}

/// Reads `name`, saying so when it does not exist.
pub async fn get(
    api: &Api<ClassLinkSync>,
    name: &str,
    namespace: &str,
) -> Result<ClassLinkSync, String> {
    match api.get_opt(name).await {
        Ok(Some(obj)) => Ok(obj),
        Ok(None) => Err(format!("no ClassLinkSync {name} in namespace {namespace}")),
        Err(e) => Err(format!("reading ClassLinkSync {name}: {e}")),
    }
}

/// Sets the manual-sync annotation to a new value (the current time) and returns it: the
/// operator syncs once per new value.
pub async fn request_sync(
    api: &Api<ClassLinkSync>,
    name: &str,
    namespace: &str,
) -> Result<String, String> {
    let requested = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({
        "metadata": {"annotations": {SYNC_REQUESTED_AT_ANNOTATION: requested}}
    });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(requested),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            Err(format!("no ClassLinkSync {name} in namespace {namespace}"))
        }
        Err(e) => Err(format!("requesting the sync: {e}")),
    }
}

/// Whether the operator handled the request `requested` and its sync has ended.
pub fn request_handled(obj: &ClassLinkSync, requested: &str) -> bool {
    let Some(status) = &obj.status else {
        return false;
    };
    status.last_handled_sync_request.as_deref() == Some(requested)
        && !status
            .conditions
            .iter()
            .any(|c| c.type_ == SYNCING && c.status == "True")
}

/// Waits until the operator handled `requested` and the sync ended; `None` after `timeout`.
pub async fn wait_for_request(
    api: &Api<ClassLinkSync>,
    name: &str,
    requested: &str,
    timeout: Duration,
) -> Result<Option<ClassLinkSync>, String> {
    let requested = requested.to_owned();
    let done = kube::runtime::wait::await_condition(
        api.clone(),
        name,
        move |obj: Option<&ClassLinkSync>| obj.is_some_and(|o| request_handled(o, &requested)),
    );
    match tokio::time::timeout(timeout, done).await {
        Err(_) => Ok(None),
        Ok(Err(e)) => Err(format!("watching ClassLinkSync {name}: {e}")),
        Ok(Ok(Some(obj))) => Ok(Some(obj)),
        Ok(Ok(None)) => Err(format!("ClassLinkSync {name} was deleted while waiting")),
    }
}

/// The exit code of a finished sync, as `classlink-operator sync` uses them.
pub fn exit_code_of(result: Option<SyncResult>) -> ExitCode {
    match result {
        Some(SyncResult::Succeeded) => ExitCode::SUCCESS,
        Some(SyncResult::PartiallySucceeded) => ExitCode::from(EXIT_PARTIAL),
        Some(SyncResult::Failed) => ExitCode::from(EXIT_FAILED),
        None => ExitCode::FAILURE,
    }
}

/// `trigger` and `kubectl classlink sync`: asks for a sync and, with `wait`, waits for its
/// result, prints the Sync Details and returns the result's exit code.
pub async fn sync_now(
    kube: &KubeArgs,
    namespace: Option<&str>,
    name: &str,
    wait: Option<Duration>,
) -> Result<ExitCode, String> {
    let (client, namespace) = kube.client(namespace).await?;
    let api: Api<ClassLinkSync> = Api::namespaced(client, &namespace);
    let current = get(&api, name, &namespace).await?;
    if current.spec.suspend {
        if wait.is_some() {
            return Err(format!(
                "ClassLinkSync {name} is suspended: no sync starts until `kubectl classlink resume {name} -n {namespace}`"
            ));
        }
        eprintln!("warning: ClassLinkSync {name} is suspended: the sync starts when it is resumed");
    }
    let requested = request_sync(&api, name, &namespace).await?;
    println!(
        "classlinksync.rostersync.io/{name} sync requested at {requested} (namespace {namespace})"
    );
    let Some(timeout) = wait else {
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!(
        "waiting for the sync to finish (at most {}s)",
        timeout.as_secs()
    );
    match wait_for_request(&api, name, &requested, timeout).await? {
        Some(obj) => {
            print!("{}", super::plugin::sync_details(&obj, None));
            let result = obj
                .status
                .as_ref()
                .and_then(|s| s.last_sync.as_ref())
                .and_then(|l| l.result);
            Ok(exit_code_of(result))
        }
        None => Err(format!(
            "the sync of {name} did not finish within {}s; it goes on: `kubectl classlink status {name} -n {namespace}` shows it",
            timeout.as_secs()
        )),
    }
}

/// Sets `spec.suspend` and prints what changed.
pub async fn set_suspend(
    kube: &KubeArgs,
    namespace: Option<&str>,
    name: &str,
    suspend: bool,
) -> Result<(), String> {
    let (client, namespace) = kube.client(namespace).await?;
    let api: Api<ClassLinkSync> = Api::namespaced(client, &namespace);
    let patch = serde_json::json!({"spec": {"suspend": suspend}});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            let what = if suspend { "suspended" } else { "resumed" };
            println!("classlinksync.rostersync.io/{name} {what} (namespace {namespace})");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            Err(format!("no ClassLinkSync {name} in namespace {namespace}"))
        }
        Err(e) => Err(format!("patching spec.suspend: {e}")),
    }
}

/// Parses `--timeout`: `10m`, `90s`, `1h 30m` or ISO 8601 (`PT10M`).
pub fn parse_timeout(value: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = value
        .parse()
        .map_err(|e| format!("{value:?} is not a duration such as 10m or 90s: {e}"))?;
    Duration::try_from(parsed).map_err(|_| format!("{value:?} is negative"))
}
