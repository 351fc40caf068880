//! The command line: `run`, `sync`, `crds`, `trigger` and `identities`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit code of a command whose capability this build does not have yet.
pub const EXIT_NOT_BUILT: u8 = 2;

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
    /// print the report.
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
    /// `rostersync.io/sync-requested-at` annotation).
    Trigger(TriggerArgs),
    /// Seed and inspect the platform's existing users in the roster store.
    #[command(subcommand)]
    Identities(IdentitiesCommand),
}

/// Flags of `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Roster store: a SQLite file path or `sqlite://PATH`, or a `postgres://` URL.
    #[arg(
        long,
        env = "CLASSLINK_STORE",
        default_value = "sqlite://classlink-roster.db"
    )]
    pub store: String,
}

/// Flags of `sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// YAML files, or directories of them, holding a ClassLinkSync, its Secret and any
    /// SchoolExclusions.
    #[arg(short = 'f', long = "filename", required = true)]
    pub paths: Vec<std::path::PathBuf>,
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
    /// Namespace of the ClassLinkSync.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// `identities` subcommands.
#[derive(Subcommand, Debug)]
pub enum IdentitiesCommand {
    /// Import platform users from a CSV file (email, given name, family name, role).
    Import {
        /// Namespace (tenant) the users belong to.
        #[arg(short = 'n', long)]
        namespace: String,
        /// The CSV file.
        file: std::path::PathBuf,
    },
    /// List the platform users of a namespace.
    List {
        /// Namespace (tenant) whose users are listed.
        #[arg(short = 'n', long)]
        namespace: String,
    },
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
            Command::Run(_) => not_built("run", "the controller"),
            Command::Sync(_) => not_built("sync", "the sync engine and roster store"),
            Command::Trigger(_) => not_built("trigger", "manual sync requests"),
            Command::Identities(_) => not_built("identities", "the roster store"),
        }
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

/// A subcommand whose capability this build does not have: say which, and exit 2.
fn not_built(command: &str, capability: &str) -> ExitCode {
    eprintln!(
        "error: `classlink-operator {command}` needs {capability}, which this build of classlink-operator does not include yet"
    );
    ExitCode::from(EXIT_NOT_BUILT)
}
