//! `classlink-operator sync`: one sync from resource files, with the same engine and store
//! the controller uses, and the report as the guide's Sync Details.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::interrupt;
use super::resources::{self, Resources};
use super::{EXIT_FAILED, EXIT_PARTIAL, OutputFormat, SyncArgs};
use crate::crd::{ClassLinkSync, SchoolExclusion};
use crate::engine::report::{SyncReport, SyncResult};
use crate::error_code::ErrorCode;
use crate::oneroster::{Progress, RosterProgress};
use crate::store::Store;
use crate::sync::exclusions::ExclusionOutcome;
use crate::sync::{JobOptions, SyncJob, SyncOutcome, Trigger};

/// The JSON/YAML report: the keys of `status.lastSync`, plus `schools`.
/// Also what `kubectl classlink status` prints, from a ClassLinkSync's status.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Printed<'a> {
    pub(super) name: &'a str,
    pub(super) namespace: &'a str,
    pub(super) display_name: &'a str,
    pub(super) trigger: &'a str,
    pub(super) start_time: String,
    pub(super) completion_time: String,
    pub(super) duration_seconds: u64,
    #[serde(flatten)]
    pub(super) report: &'a SyncReport,
    pub(super) rows_written: u64,
    /// Every SchoolExclusion of the files but those of other ClassLinkSyncs, as a
    /// SchoolExclusion's status shows it.
    pub(super) exclusions: &'a [ExclusionOutcome],
}

pub(super) async fn run(args: SyncArgs) -> ExitCode {
    // The report goes to stdout; logs (warnings only, unless RUST_LOG says more) to stderr.
    super::run::init_logging(args.logging.log_format, "warn");
    match sync(&args).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn sync(args: &SyncArgs) -> Result<ExitCode, String> {
    let resources = resources::load(&args.paths)?;
    let sync = pick(&resources, args.name.as_deref())?;
    let name = sync.metadata.name.clone().unwrap_or_default();
    let namespace = sync
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| args.namespace.clone());
    tracing::info!(namespace = %namespace, name = %name, "sync from resource files");
    // As on a cluster: only the sync's own namespace. A resource without a namespace is in
    // the namespace of `-n`, as `kubectl apply -n` would put it.
    let in_namespace =
        |ns: Option<&String>| ns.map_or(args.namespace.as_str(), String::as_str) == namespace;
    let secret_name = &sync.spec.credentials.secret_ref.name;
    let named_secret = |s: &&k8s_openapi::api::core::v1::Secret| {
        s.metadata.name.as_deref() == Some(secret_name.as_str())
    };
    let secret = resources
        .secrets
        .iter()
        .filter(named_secret)
        .find(|s| in_namespace(s.metadata.namespace.as_ref()))
        .map(resources::secret_data);
    let elsewhere: Vec<String> = resources
        .secrets
        .iter()
        .filter(named_secret)
        .filter_map(|s| s.metadata.namespace.clone())
        .filter(|ns| *ns != namespace)
        .collect();
    let exclusions: Vec<SchoolExclusion> = resources
        .exclusions
        .iter()
        .filter(|x| in_namespace(x.metadata.namespace.as_ref()))
        .cloned()
        .collect();
    let extra_ca_pem = match &args.connection.ca_file {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?)
        }
        None => None,
    };
    let options = JobOptions {
        allow_insecure_http: args.connection.allow_insecure_http,
        extra_ca_pem,
        confirm_shrink: args.confirm_shrink,
    };
    let store = Store::open(&args.store.store).await;
    let job = crate::sync::job::build(&namespace, sync, secret.as_ref(), &exclusions, &options)
        .map_err(|mut e| {
            if e.code == ErrorCode::SecretNotFound && !elsewhere.is_empty() {
                let _ = write!(
                    e.message,
                    " The files hold a Secret {secret_name:?} in namespace {}, which is not used: a ClassLinkSync reads the Secret of its own namespace only.",
                    elsewhere.join(", ")
                );
            }
            e
        });
    let outcome = match (store, job) {
        // A store that cannot be opened is a failed sync like any other: its code and exit 4.
        (Err(e), _) => failed_before_start(SyncReport::failed(
            e.code(),
            format!("The roster store cannot be opened: {e}"),
        )),
        (Ok(store), Ok(job)) => {
            let outcome = sync_until_interrupted(&job, &store, args).await;
            super::close_store(store).await;
            outcome
        }
        (Ok(store), Err(e)) => {
            super::close_store(store).await;
            failed_before_start(SyncReport::failed(e.code, e.message))
        }
    };

    let exclusion_outcomes = crate::sync::exclusions::outcomes(
        &namespace,
        &name,
        &resources.syncs,
        &resources.exclusions,
        &outcome.exclusions,
        &args.namespace,
    );
    let duration = outcome
        .completed
        .duration_since(outcome.started)
        .as_secs()
        .max(0) as u64;
    let printed = Printed {
        name: &name,
        namespace: &namespace,
        display_name: &sync.spec.display_name,
        trigger: Trigger::Manual.as_str(),
        start_time: rfc3339_seconds(outcome.started),
        completion_time: rfc3339_seconds(outcome.completed),
        duration_seconds: duration,
        report: &outcome.report,
        rows_written: outcome.rows_written,
        exclusions: &exclusion_outcomes,
    };
    let text = match args.output {
        OutputFormat::Table => table(&printed),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&printed).map_err(|e| e.to_string())? + "\n"
        }
        OutputFormat::Yaml => serde_yaml::to_string(&printed).map_err(|e| e.to_string())?,
    };
    // A closed pipe (`| head`) is not an error of the sync.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(match outcome.report.result {
        SyncResult::Succeeded => ExitCode::SUCCESS,
        SyncResult::PartiallySucceeded => ExitCode::from(EXIT_PARTIAL),
        SyncResult::Failed => ExitCode::from(EXIT_FAILED),
    })
}

/// Runs the sync; SIGTERM or SIGINT cancels it (its transaction rolls back) and records the
/// cancelled run, so the report is printed and `sync_runs` shows it either way.
async fn sync_until_interrupted(job: &SyncJob, store: &Store, args: &SyncArgs) -> SyncOutcome {
    let progress = ProgressPrinter::new();
    let started = jiff::Timestamp::now();
    let work = crate::sync::run(job, store, Trigger::Manual, args.as_of, |p| {
        progress.show(&p)
    });
    let outcome = tokio::select! {
        outcome = work => outcome,
        signal = interrupt::interrupted() => {
            progress.finish();
            eprintln!("{}: cancelling the sync; nothing will be changed", signal.name());
            let cancelled =
                crate::sync::record_cancelled(job, store, Trigger::Manual, started, signal.name());
            interrupt::cleanup_unless_interrupted_again(signal, cancelled).await
        }
    };
    progress.finish();
    outcome
}

/// The outcome of a sync that failed before it could start.
fn failed_before_start(report: SyncReport) -> SyncOutcome {
    let now = jiff::Timestamp::now();
    SyncOutcome {
        report,
        exclusions: Vec::new(),
        started: now,
        completed: now,
        rows_written: 0,
        run_id: None,
    }
}

/// `2026-11-28T15:24:55Z`: status's format, without the sub-second noise.
pub(super) fn rfc3339_seconds(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn pick<'a>(resources: &'a Resources, name: Option<&str>) -> Result<&'a ClassLinkSync, String> {
    let names = || {
        resources
            .syncs
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => resources
            .syncs
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .ok_or_else(|| {
                format!(
                    "no ClassLinkSync named {name:?} in the files (found: {})",
                    names()
                )
            }),
        None => match resources.syncs.as_slice() {
            [one] => Ok(one),
            [] => Err("the files hold no ClassLinkSync".into()),
            _ => Err(format!(
                "the files hold several ClassLinkSyncs ({}); choose one with --name",
                names()
            )),
        },
    }
}

/// The guide's Sync Details, in a terminal.
pub(super) fn table(p: &Printed<'_>) -> String {
    let r = p.report;
    let c = &r.counts;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Sync Details: {} ({}/{})",
        p.display_name, p.namespace, p.name
    );
    let _ = writeln!(out);
    let rows: [(&str, String); 6] = [
        ("Result", r.result.as_str().to_owned()),
        (
            "Error code",
            r.error_code
                .map_or("-".to_owned(), |c| c.as_str().to_owned()),
        ),
        ("Message", r.message.clone()),
        ("Trigger", p.trigger.to_owned()),
        ("Started", p.start_time.clone()),
        ("Duration", format!("{}s", p.duration_seconds)),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<18} {value}");
    }
    let _ = writeln!(out);
    let counts = [
        ("Synced Students", c.synced_students),
        ("Synced Teachers", c.synced_teachers),
        ("Synced Staff", c.synced_staff),
        ("Unmatched Users", c.unmatched_users),
        ("Matched Students", c.matched_students),
        ("Matched Teachers", c.matched_teachers),
        ("Matched Staff", c.matched_staff),
        ("Imported Classes", c.imported_classes),
        ("Synced Guardians", c.synced_guardians),
        ("Created Users", c.created_users),
        ("Excluded Schools", c.excluded_schools),
    ];
    for (label, value) in counts {
        let _ = writeln!(out, "  {label:<18} {value}");
    }
    if !r.schools.is_empty() {
        let _ = writeln!(out);
        let width = r
            .schools
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "  {:<width$}  {:<16}  {:<22}  {:>8}  {:>8}  {:>5}  {:>7}",
            "SCHOOL", "SOURCEDID", "STATUS", "STUDENTS", "TEACHERS", "STAFF", "CLASSES"
        );
        for s in &r.schools {
            let status = match (&s.excluded_by, s.complete) {
                (Some(by), _) => format!("excluded by {by}"),
                (None, true) => "included".to_owned(),
                (None, false) => "included, incomplete".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {:<width$}  {:<16}  {:<22}  {:>8}  {:>8}  {:>5}  {:>7}",
                s.name,
                s.sourced_id,
                status,
                s.counts.students,
                s.counts.teachers,
                s.counts.staff,
                s.counts.classes
            );
        }
    }
    if !p.exclusions.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "  SchoolExclusions:");
        for x in p.exclusions {
            let found = x
                .found
                .as_ref()
                .map_or_else(String::new, |f| format!(" ({f} found)"));
            let _ = writeln!(
                out,
                "  - {}/{}: {}{found}: {}",
                x.namespace, x.name, x.reason, x.message
            );
            for school in x.schools.iter().filter(|s| !s.found) {
                let selector = &school.selector;
                let (field, value) = if let Some(id) = &selector.sourced_id {
                    ("sourcedId", id)
                } else if let Some(identifier) = &selector.identifier {
                    ("identifier", identifier)
                } else if let Some(name) = &selector.name {
                    ("name", name)
                } else {
                    continue;
                };
                let _ = writeln!(out, "      not found: {field} {value:?}");
            }
        }
    }
    if !r.problems.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "  Problems:");
        for problem in &r.problems {
            let mut place = Vec::new();
            if let Some(school) = &problem.school {
                place.push(format!("school {school}"));
            }
            if let (Some(kind), Some(record)) = (&problem.record_type, &problem.record) {
                place.push(format!("{kind} {record}"));
            }
            if let Some(n) = problem.occurrences {
                place.push(format!("{n} records"));
            }
            let _ = writeln!(
                out,
                "  - {} ({}): {}",
                problem.code,
                place.join(", "),
                problem.message
            );
        }
    }
    out
}

/// Progress on stderr while the roster is read: one updating line on a terminal, a line
/// every few seconds otherwise (logs of a CI job or a cron run).
struct ProgressPrinter {
    terminal: bool,
    last: Mutex<Option<Instant>>,
    read: Mutex<RosterProgress>,
}

const PROGRESS_EVERY: Duration = Duration::from_secs(5);

impl ProgressPrinter {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new(None),
            read: Mutex::new(RosterProgress::default()),
        }
    }

    fn show(&self, progress: &Progress) {
        let Ok(mut read) = self.read.lock() else {
            return;
        };
        read.update(progress.clone());
        let line = read.line();
        drop(read);
        if self.terminal {
            eprint!("\r\x1b[2K{line}");
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
            eprintln!("{line}");
            *last = Some(Instant::now());
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}
