//! `classlink-operator run` and `classlink-operator trigger`.

use std::process::ExitCode;

use super::{LogFormat, RunArgs, TriggerArgs};
use crate::controller::{self, LeaseConfig, RunConfig, Settings};
use crate::sync::JobOptions;

pub(super) async fn run(args: RunArgs) -> ExitCode {
    init_logging(args.logging.log_format, "info");
    let extra_ca_pem = match &args.connection.ca_file {
        Some(path) => match std::fs::read(path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read --ca-file");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let holder = args.lease_holder.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "operator".into());
        format!("{host}-{}", std::process::id())
    });
    let config = RunConfig {
        store: args.store.store.clone(),
        namespaces: args
            .namespaces
            .iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect(),
        watch_label_selector: args.watch_label_selector.trim().to_owned(),
        settings: Settings {
            job: JobOptions {
                allow_insecure_http: args.connection.allow_insecure_http,
                extra_ca_pem,
                confirm_shrink: false,
            },
            max_concurrent_syncs: usize::from(args.max_concurrent_syncs),
        },
        metrics_address: args.metrics_address,
        lease: args.leader_election.then(|| {
            LeaseConfig::new(
                args.lease_namespace.clone(),
                args.lease_name.clone(),
                holder,
            )
        }),
    };
    tracing::info!(
        namespaces = ?config.namespaces,
        max_concurrent_syncs = config.settings.max_concurrent_syncs,
        metrics = %config.metrics_address,
        leader_election = config.lease.is_some(),
        "classlink-operator starting"
    );
    let stopped = controller::run(config).await;
    // Cancelled syncs may still hold connections of the controller's pool: a connection of
    // its own moves SQLite's write-ahead log into the `.db` file before the process ends.
    if let Err(e) = crate::store::checkpoint_url(&args.store.store).await {
        tracing::warn!(error = %e, "checkpointing the roster store");
    }
    match stopped {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "classlink-operator stopped");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (`default` when it is not set).
pub(super) fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: `kubectl logs`, files and log shippers get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Sets the manual-sync annotation to the current time: the operator syncs once per new
/// value. With `--wait`, waits for the result as `kubectl classlink sync --wait` does.
pub(super) async fn trigger(args: TriggerArgs) -> ExitCode {
    let wait = args.wait.then_some(args.timeout);
    match super::cluster::sync_now(&args.kube, args.namespace.as_deref(), &args.name, wait).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
