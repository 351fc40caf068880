//! `kubectl classlink`: the same binary installed as `kubectl-classlink` (a link or a copy).
//! kubectl runs `kubectl-classlink` for `kubectl classlink …`; `main` sees the name and
//! parses these commands instead of `classlink-operator`'s.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kube::api::Api;

use super::cluster::{self, KubeArgs};
use super::sync::{Printed, rfc3339_seconds, table};
use crate::controller::status::SYNCING;
use crate::crd::{ClassLinkSync, SyncResult as CrdResult, SyncTrigger};
use crate::engine::report::{Counts, Problem, SchoolCounts, SchoolReport, SyncReport, SyncResult};
use crate::store::{PersonLookup, Store, SyncRunRecord};

/// The file name kubectl looks for on PATH for `kubectl classlink`.
pub const PLUGIN_NAME: &str = "kubectl-classlink";

/// kubectl plugin for ClassLinkSyncs: Sync Details, sync and wait, suspend and resume, and
/// one person's roster state.
#[derive(Parser, Debug)]
#[command(name = "kubectl classlink", bin_name = "kubectl classlink", version)]
pub struct PluginCli {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// `kubectl classlink` subcommands.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// The guide's Sync Details of a ClassLinkSync, read from the cluster: result, counts,
    /// next sync and why, schools, problems; recent runs with `--store`.
    Status {
        /// Name of the ClassLinkSync.
        name: String,
        /// Roster store to read recent runs from: a SQLite file path or `sqlite://PATH`, or a
        /// `postgres://` URL.
        #[arg(long, env = "CLASSLINK_STORE")]
        store: Option<String>,
        /// How many recent runs to show.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Ask for a sync now; with `--wait`, wait for its result.
    ///
    /// Exit code with --wait: 0 Succeeded, 3 PartiallySucceeded, 4 Failed, 1 when the sync
    /// could not be asked for or did not finish in time.
    Sync {
        /// Name of the ClassLinkSync.
        name: String,
        /// Wait until the operator ran the sync, print its Sync Details and exit with its
        /// result.
        #[arg(long)]
        wait: bool,
        /// How long to wait: 90s, 10m, 1h.
        #[arg(long, default_value = "10m", value_parser = cluster::parse_timeout)]
        timeout: Duration,
    },
    /// Stop new syncs (sets spec.suspend); a running sync finishes.
    Suspend {
        /// Name of the ClassLinkSync.
        name: String,
    },
    /// Let syncs start again (clears spec.suspend).
    Resume {
        /// Name of the ClassLinkSync.
        name: String,
    },
    /// One person's roster state, read from the store: their platform user, the providers,
    /// schools and classes they are in, and the last change. Prints nobody else's data.
    Whois {
        /// The person's email.
        email: String,
        /// Roster store: a SQLite file path or `sqlite://PATH`, or a `postgres://` URL.
        #[arg(long, env = "CLASSLINK_STORE")]
        store: String,
    },
}

impl PluginCli {
    /// Runs the chosen subcommand and returns the process exit code.
    pub async fn run(self) -> ExitCode {
        // kube-client warns on every run against a cluster whose kubeconfig skips TLS
        // verification; kubectl does not, and neither does its plugin.
        super::run::init_logging(super::LogFormat::Text, "warn,kube_client=error");
        let namespace = self.namespace.as_deref();
        let outcome = match &self.command {
            PluginCommand::Status { name, store, runs } => {
                status(&self.kube, namespace, name, store.as_deref(), *runs).await
            }
            PluginCommand::Sync {
                name,
                wait,
                timeout,
            } => cluster::sync_now(&self.kube, namespace, name, wait.then_some(*timeout)).await,
            PluginCommand::Suspend { name } => {
                cluster::set_suspend(&self.kube, namespace, name, true)
                    .await
                    .map(|()| ExitCode::SUCCESS)
            }
            PluginCommand::Resume { name } => {
                cluster::set_suspend(&self.kube, namespace, name, false)
                    .await
                    .map(|()| ExitCode::SUCCESS)
            }
            PluginCommand::Whois { email, store } => {
                whois(&self.kube, namespace, email, store).await
            }
        };
        match outcome {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

async fn status(
    kube: &KubeArgs,
    namespace: Option<&str>,
    name: &str,
    store: Option<&str>,
    runs: usize,
) -> Result<ExitCode, String> {
    let (client, namespace) = kube.client(namespace).await?;
    let api: Api<ClassLinkSync> = Api::namespaced(client, &namespace);
    let obj = cluster::get(&api, name, &namespace).await?;
    let recent = match store {
        Some(url) => {
            let store = open_existing(url).await?;
            let recorded = store.sync_runs(&namespace, name).await;
            super::close_store(store).await;
            let mut recorded = recorded.map_err(|e| e.to_string())?;
            recorded.reverse();
            recorded.truncate(runs);
            Some(recorded)
        }
        None => None,
    };
    print!("{}", sync_details(&obj, recent.as_deref()));
    Ok(ExitCode::SUCCESS)
}

/// A ClassLinkSync's Sync Details from its status, with the CLI's report printer, then what
/// comes next and, when given, the recent runs (newest first).
pub(super) fn sync_details(obj: &ClassLinkSync, recent: Option<&[SyncRunRecord]>) -> String {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let namespace = obj.metadata.namespace.clone().unwrap_or_default();
    let status = obj.status.clone().unwrap_or_default();
    let mut out = String::new();
    match &status.last_sync {
        Some(last) => {
            let report = SyncReport {
                result: match last.result {
                    Some(CrdResult::Succeeded) => SyncResult::Succeeded,
                    Some(CrdResult::PartiallySucceeded) => SyncResult::PartiallySucceeded,
                    Some(CrdResult::Failed) | None => SyncResult::Failed,
                },
                error_code: last.error_code.as_deref().and_then(|c| c.parse().ok()),
                message: last.message.clone().unwrap_or_default(),
                counts: counts(&last.counts),
                problems: last
                    .problems
                    .iter()
                    .map(|p| Problem {
                        code: p.code.clone(),
                        school: p.school.clone(),
                        record_type: p.record_type.clone(),
                        record: p.record.clone(),
                        occurrences: p.occurrences,
                        message: p.message.clone(),
                    })
                    .collect(),
                schools: status
                    .schools
                    .iter()
                    .map(|s| SchoolReport {
                        sourced_id: s.sourced_id.clone(),
                        name: s.name.clone(),
                        identifier: s.identifier.clone(),
                        included: s.included,
                        excluded_by: s.excluded_by.clone(),
                        complete: s.complete,
                        counts: SchoolCounts {
                            students: s.counts.students,
                            teachers: s.counts.teachers,
                            staff: s.counts.staff,
                            classes: s.counts.classes,
                        },
                    })
                    .collect(),
            };
            let printed = Printed {
                name: &name,
                namespace: &namespace,
                display_name: &obj.spec.display_name,
                trigger: trigger_name(last.trigger),
                start_time: rfc3339_seconds(last.start_time.0),
                completion_time: last
                    .completion_time
                    .as_ref()
                    .map_or_else(String::new, |t| rfc3339_seconds(t.0)),
                duration_seconds: last.duration_seconds.unwrap_or_default(),
                report: &report,
                rows_written: 0,
                exclusions: &[],
            };
            out.push_str(&table(&printed));
        }
        None => {
            let _ = writeln!(
                out,
                "Sync Details: {} ({namespace}/{name})\n\n  No sync has finished yet.",
                obj.spec.display_name
            );
        }
    }

    let _ = writeln!(out);
    let syncing = status.conditions.iter().find(|c| c.type_ == SYNCING);
    match syncing {
        Some(c) if c.status == "True" => {
            let _ = writeln!(out, "  {:<18} {}", "Syncing now", c.message);
        }
        _ => {
            let next = status
                .next_sync_time
                .as_ref()
                .map_or_else(|| "-".to_owned(), |t| rfc3339_seconds(t.0));
            let _ = writeln!(out, "  {:<18} {next}", "Next Sync");
            if let Some(c) = syncing {
                let _ = writeln!(out, "  {:<18} {}: {}", "Why", c.reason, c.message);
            }
        }
    }
    if obj.spec.suspend {
        let _ = writeln!(out, "  {:<18} true", "Suspended");
    }

    if let Some(runs) = recent {
        let _ = writeln!(out);
        let _ = writeln!(out, "  Recent runs:");
        if runs.is_empty() {
            let _ = writeln!(out, "  (none recorded in the store)");
        } else {
            let _ = writeln!(
                out,
                "  {:<20}  {:<9}  {:<18}  {:<22}  {:>8}  {:>12}",
                "STARTED", "TRIGGER", "RESULT", "ERROR", "DURATION", "ROWS WRITTEN"
            );
            for run in runs {
                let started = jiff::Timestamp::from_second(run.started_at)
                    .map_or_else(|_| run.started_at.to_string(), rfc3339_seconds);
                let duration = (run.completed_at - run.started_at).max(0);
                let _ = writeln!(
                    out,
                    "  {:<20}  {:<9}  {:<18}  {:<22}  {:>7}s  {:>12}",
                    started,
                    run.trigger,
                    run.report.result.as_str(),
                    run.report.error_code.map_or("-", |c| c.as_str()),
                    duration,
                    run.rows_written
                );
            }
        }
    }
    out
}

/// Opens a store that exists: a mistyped SQLite path must not become a new, empty store in
/// which nobody is found.
async fn open_existing(url: &str) -> Result<Store, String> {
    let (normalised, backend) = crate::store::normalise_url(url).map_err(|e| e.to_string())?;
    if backend == crate::store::Backend::Sqlite {
        let path = normalised
            .strip_prefix("sqlite://")
            .and_then(|rest| rest.split('?').next())
            .unwrap_or_default();
        if !std::path::Path::new(path).is_file() {
            return Err(format!("no roster store at {path}"));
        }
    }
    Store::open(url).await.map_err(|e| e.to_string())
}

fn counts(c: &crate::crd::SyncCounts) -> Counts {
    Counts {
        unmatched_users: c.unmatched_users,
        matched_students: c.matched_students,
        matched_teachers: c.matched_teachers,
        matched_staff: c.matched_staff,
        imported_classes: c.imported_classes,
        synced_students: c.synced_students,
        synced_teachers: c.synced_teachers,
        synced_staff: c.synced_staff,
        synced_guardians: c.synced_guardians,
        created_users: c.created_users,
        excluded_schools: c.excluded_schools,
    }
}

fn trigger_name(trigger: SyncTrigger) -> &'static str {
    match trigger {
        SyncTrigger::Initial => "Initial",
        SyncTrigger::Scheduled => "Scheduled",
        SyncTrigger::Manual => "Manual",
        SyncTrigger::Retry => "Retry",
        SyncTrigger::Changed => "Changed",
    }
}

async fn whois(
    kube: &KubeArgs,
    namespace: Option<&str>,
    email: &str,
    store: &str,
) -> Result<ExitCode, String> {
    // The store is keyed by namespace; without -n, the context's namespace (read from the
    // kubeconfig, no request to the cluster).
    let namespace = match namespace {
        Some(ns) => ns.to_owned(),
        None => kube.config().await?.default_namespace,
    };
    let store = open_existing(store).await?;
    let found = store.person_by_email(&namespace, email).await;
    super::close_store(store).await;
    let found = found.map_err(|e| e.to_string())?;
    if found.identity.is_none() && found.records.is_empty() {
        eprintln!("no person with email {email} in namespace {namespace}");
        return Ok(ExitCode::FAILURE);
    }
    print!("{}", person(email, &namespace, &found));
    Ok(ExitCode::SUCCESS)
}

fn person(email: &str, namespace: &str, found: &PersonLookup) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{email} (namespace {namespace})");
    let _ = writeln!(out);
    let name = |given: &Option<String>, family: &Option<String>| {
        let parts: Vec<&str> = [given, family]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        if parts.is_empty() {
            "-".to_owned()
        } else {
            parts.join(" ")
        }
    };
    match &found.identity {
        Some(record) => {
            let i = &record.identity;
            let added = jiff::Timestamp::from_second(record.created_at)
                .map_or_else(|_| record.created_at.to_string(), rfc3339_seconds);
            let _ = writeln!(out, "  {:<16} {}", "Platform user", i.id);
            let _ = writeln!(
                out,
                "  {:<16} {}",
                "Name",
                name(&i.given_name, &i.family_name)
            );
            let _ = writeln!(out, "  {:<16} {}", "Role", i.role.as_deref().unwrap_or("-"));
            let _ = writeln!(out, "  {:<16} {} ({added})", "Added by", i.source);
            let _ = writeln!(
                out,
                "  {:<16} {}",
                "Attributes from",
                i.attributes_from.as_deref().unwrap_or("-")
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  {:<16} none (no platform user has this email)",
                "Platform user"
            );
        }
    }
    if found.records.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "  In no provider's roster.");
    }
    for record in &found.records {
        let p = &record.person;
        let _ = writeln!(out);
        let linked = if p.identity_id.is_some() {
            "linked to the platform user"
        } else {
            "not linked to a platform user"
        };
        let _ = writeln!(
            out,
            "  Provider {}: {} {} ({linked})",
            record.provider,
            p.role.as_str(),
            p.sourced_id
        );
        let _ = writeln!(
            out,
            "    {:<14} {}",
            "Name",
            name(&p.given_name, &p.family_name)
        );
        if !p.grades.is_empty() {
            let _ = writeln!(out, "    {:<14} {}", "Grades", p.grades);
        }
        let _ = writeln!(out, "    Schools:");
        for (id, school) in &record.schools {
            let _ = writeln!(out, "      {school} ({id})");
        }
        let _ = writeln!(out, "    Classes:");
        if record.classes.is_empty() {
            let _ = writeln!(out, "      none");
        }
        for class in &record.classes {
            let _ = writeln!(
                out,
                "      {} ({}), school {}, as {}",
                class.title.as_deref().unwrap_or("untitled"),
                class.sourced_id,
                class.school,
                class.role
            );
        }
        match &record.last_change {
            Some(run) => {
                let at = jiff::Timestamp::from_second(run.completed_at)
                    .map_or_else(|_| run.completed_at.to_string(), rfc3339_seconds);
                let _ = writeln!(
                    out,
                    "    {:<14} {at}: the {} sync of {} wrote {} rows ({})",
                    "Last change",
                    run.trigger,
                    record.provider,
                    run.rows_written,
                    run.report.result.as_str()
                );
            }
            None => {
                let _ = writeln!(out, "    {:<14} -", "Last change");
            }
        }
    }
    out
}
