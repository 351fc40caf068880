//! The command line: `run`, `sync`, `crds`, `trigger` and `identities`; and, as
//! `kubectl-classlink`, the kubectl plugin.

pub mod cluster;
mod identities;
mod interrupt;
pub mod plugin;
pub mod resources;
mod run;
mod sync;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit code of `sync` when the sync ended `PartiallySucceeded`.
pub const EXIT_PARTIAL: u8 = 3;
/// Exit code of `sync` when the sync ended `Failed`.
pub const EXIT_FAILED: u8 = 4;

/// Keeps a school's roster in sync with its ClassLink Roster Server (OneRoster 1.1).
///
/// Schools commit ClassLinkSync and SchoolExclusion resources; the operator syncs each on its
/// region's nightly schedule or on demand, writes the roster into the store and reports
/// result, counts and error codes in the resource's status.
#[derive(Parser, Debug)]
#[command(name = "classlink-operator", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator: watch ClassLinkSyncs and SchoolExclusions and sync on schedule.
    Run(RunArgs),
    /// Run one sync from resource files (a ClassLinkSync, its Secret, SchoolExclusions) and
    /// print the report: the guide's Sync Details.
    ///
    /// Exit code 0: Succeeded; 3: PartiallySucceeded; 4: Failed; 1: the files could not be
    /// used.
    Sync(SyncArgs),
    /// Print the ClassLinkSync and SchoolExclusion CRDs as YAML (what `crds/` holds).
    Crds,
    /// Print a generated documentation page (docs/reference.md or docs/error-codes.md).
    #[command(hide = true)]
    Docs {
        /// Which page.
        #[arg(value_enum)]
        page: DocsPage,
    },
    /// Ask for a manual sync of a ClassLinkSync now (sets the
    /// `rostersync.io/sync-requested-at` annotation); with `--wait`, wait for its result.
    Trigger(TriggerArgs),
    /// Seed and inspect the platform's existing users in the roster store.
    #[command(subcommand)]
    Identities(IdentitiesCommand),
}

/// Where the roster store is.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Roster store: a SQLite file path or `sqlite://PATH`, or a `postgres://` URL.
    #[arg(
        long,
        env = "CLASSLINK_STORE",
        default_value = "sqlite://classlink-roster.db"
    )]
    pub store: String,
}

/// How the operator may reach Roster Servers.
#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Allow plain `http://` endpoints. For tests and demos on loopback only: OAuth 1.0a
    /// signatures and tokens would cross the network in the clear.
    #[arg(long, env = "CLASSLINK_ALLOW_INSECURE_HTTP")]
    pub allow_insecure_http: bool,
    /// PEM file of extra CA certificates, for Roster Servers behind a private CA.
    #[arg(long, env = "CLASSLINK_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// Flags of `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Namespaces to watch, comma separated; empty watches all.
    #[arg(
        long,
        env = "CLASSLINK_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub namespaces: Vec<String>,
    /// Label selector of the ClassLinkSyncs this instance syncs. The default leaves the
    /// ones labelled `rostersync.io/shard` to their shard's instance (run with
    /// `rostersync.io/shard=NAME`); an empty selector takes every ClassLinkSync.
    #[arg(
        long,
        env = "CLASSLINK_WATCH_LABEL_SELECTOR",
        default_value = "!rostersync.io/shard"
    )]
    pub watch_label_selector: String,
    /// Most syncs running at once, over all ClassLinkSyncs.
    #[arg(long, env = "CLASSLINK_MAX_CONCURRENT_SYNCS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_syncs: u16,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    #[arg(
        long,
        env = "CLASSLINK_METRICS_ADDRESS",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_address: std::net::SocketAddr,
    /// Elect a leader with a Lease so only one replica syncs (on whenever replicas > 1).
    #[arg(long, env = "CLASSLINK_LEADER_ELECTION", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease (default: the pod's, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(
        long,
        env = "CLASSLINK_LEASE_NAME",
        default_value = "classlink-operator"
    )]
    pub lease_name: String,
    /// This replica's identity in the Lease (default: the pod's name, or host and pid).
    #[arg(long, env = "POD_NAME")]
    pub lease_holder: Option<String>,
    #[command(flatten)]
    pub logging: LogArgs,
}

/// Log output.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "CLASSLINK_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Log formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output formats of `sync`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// The guide's Sync Details as a table.
    Table,
    /// The keys of `status.lastSync`, plus `schools`.
    Json,
    /// The same as YAML.
    Yaml,
}

/// Flags of `sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// YAML files, or directories of them, holding a ClassLinkSync, its Secret and any
    /// SchoolExclusions.
    #[arg(short = 'f', long = "filename", required = true)]
    pub paths: Vec<PathBuf>,
    /// Which ClassLinkSync to sync when the files hold several.
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace (tenant) for resources that do not name one.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// How to print the report.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Take this date as today (YYYY-MM-DD) for enrolment and session dates.
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
    /// Confirm a removal of people beyond the shrink guard.
    #[arg(long)]
    pub confirm_shrink: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub logging: LogArgs,
}

/// Generated documentation pages.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DocsPage {
    /// docs/reference.md: every field of both resources.
    Reference,
    /// docs/error-codes.md: every error code, its meaning and what to do.
    ErrorCodes,
}

/// Flags of `trigger`.
#[derive(Args, Debug)]
pub struct TriggerArgs {
    /// Name of the ClassLinkSync.
    pub name: String,
    /// Namespace of the ClassLinkSync (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Wait until the operator ran the sync, print its Sync Details and exit with its
    /// result: 0 Succeeded, 3 PartiallySucceeded, 4 Failed, 1 not finished in time.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits: 90s, 10m, 1h.
    #[arg(long, default_value = "10m", value_parser = cluster::parse_timeout)]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub kube: cluster::KubeArgs,
}

/// `identities` subcommands.
#[derive(Subcommand, Debug)]
pub enum IdentitiesCommand {
    /// Import platform users from a CSV file with the header
    /// `email,given_name,family_name,role`. Emails already present are left as they are.
    Import {
        /// Namespace (tenant) the users belong to.
        #[arg(short = 'n', long)]
        namespace: String,
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the platform users of a namespace (this prints their emails and names).
    List {
        /// Namespace (tenant) whose users are listed.
        #[arg(short = 'n', long)]
        namespace: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Parses the command line and runs it: as `kubectl-classlink` (a link to or a copy of this
/// binary, which kubectl runs for `kubectl classlink`) the plugin's commands, otherwise
/// `classlink-operator`'s.
pub async fn main() -> ExitCode {
    let invoked_as = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    if invoked_as.as_deref() == Some(plugin::PLUGIN_NAME) {
        plugin::PluginCli::parse().run().await
    } else {
        Cli::parse().run().await
    }
}

impl Cli {
    /// Runs the chosen subcommand and returns the process exit code.
    pub async fn run(self) -> ExitCode {
        match self.command {
            Command::Crds => print(crate::crd::to_yaml()),
            Command::Docs { page } => print(Ok::<_, std::convert::Infallible>(match page {
                DocsPage::Reference => crate::crd::reference::markdown(),
                DocsPage::ErrorCodes => crate::error_code::markdown(),
            })),
            Command::Sync(args) => sync::run(args).await,
            Command::Identities(command) => identities::run(command).await,
            Command::Run(args) => run::run(args).await,
            Command::Trigger(args) => run::trigger(args).await,
        }
    }
}

/// Closes the store when a command ends (SQLite: checkpointed into its `.db` file). A failure
/// is a warning: the command's outcome stands, and the data is safe in the `-wal` file.
async fn close_store(store: crate::store::Store) {
    if let Err(e) = store.close().await {
        eprintln!("warning: {e}");
    }
}

fn print<E: std::fmt::Display>(rendered: Result<String, E>) -> ExitCode {
    match rendered {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: could not render the output: {e}");
            ExitCode::FAILURE
        }
    }
}
