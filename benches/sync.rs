//! Sync benchmark: a whole district through the client, the engine and the store, against
//! the OneRoster simulator on loopback. Reports each phase's duration (wall and CPU), rows
//! written and the process's peak memory (for the read alone, measured right after it), so
//! runs compare by ratio (first sync vs. a nightly sync of an unchanged district vs. one with
//! a few changes), never by absolute time.
//!
//! ```sh
//! cargo bench --bench sync -- medium sqlite
//! cargo bench --bench sync -- large postgres   # needs PostgreSQL on 127.0.0.1:5432
//! cargo bench --bench sync -- large sqlite 50ms   # the simulator answers after 50 ms
//! ```

use std::time::Instant;

use classlink_operator::crd::ClassLinkSync;
use classlink_operator::store::Store;
use classlink_operator::sync::{self, JobOptions, SyncOutcome, Trigger};
use oneroster_sim::{Fault, Mutation, Preset, SimConfig};

// The binary's allocator and its options (src/allocator.rs), so the benchmark measures what
// ships.
classlink_operator::global_allocator!();

/// CPU seconds this process has used so far, all threads (the simulator's included), from
/// `/proc/self/stat` (`utime` + `stime`, in Linux's fixed 100 ticks per second). Less
/// disturbed than wall time when other work shares the machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Wall and CPU seconds of one phase.
#[derive(Clone, Copy)]
struct Took {
    wall: f64,
    cpu: f64,
}

impl Took {
    fn since(start: Instant, cpu_start: f64) -> Took {
        Took {
            wall: start.elapsed().as_secs_f64(),
            cpu: cpu_seconds() - cpu_start,
        }
    }
}

async fn timed(
    job: &sync::SyncJob,
    store: &Store,
    as_of: jiff::civil::Date,
) -> (SyncOutcome, Took) {
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let outcome = sync::run(job, store, Trigger::Manual, Some(as_of), |_| {}).await;
    (outcome, Took::since(start, cpu_start))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let preset: Preset = args
        .first()
        .map_or("medium", String::as_str)
        .parse()
        .map_err(anyhow::Error::msg)?;
    let backend = args.get(1).map_or("sqlite", String::as_str).to_owned();
    let latency_ms: u64 = match args.get(2) {
        Some(latency) => latency
            .strip_suffix("ms")
            .and_then(|ms| ms.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("latency {latency:?}: expected e.g. 50ms"))?,
        None => 0,
    };
    let as_of = jiff::civil::date(2026, 11, 18);

    let mut sim_config = SimConfig::new(preset).seed(1).as_of(as_of);
    if latency_ms > 0 {
        sim_config = sim_config.fault(Fault::LatencyMs(latency_ms));
    }
    let sim = oneroster_sim::start(sim_config).await?;
    let stats = sim.stats();
    let dir = tempfile::tempdir()?;
    let (url, database) = match backend.as_str() {
        "postgres" => {
            let admin = std::env::var("CLASSLINK_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
            let name = format!("classlink_bench_{}", std::process::id());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let (base, _) = admin.rsplit_once('/').unwrap_or((admin.as_str(), ""));
            (format!("{base}/{name}"), Some((admin.clone(), name)))
        }
        _ => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            None,
        ),
    };
    let store = Store::open(&url).await?;

    let sync: ClassLinkSync = serde_json::from_value(serde_json::json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "ClassLinkSync",
        "metadata": {"name": "bench"},
        "spec": {
            "displayName": "Benchmark district",
            "endpoint": sim.base_url(),
            "region": "US",
            "credentials": {"secretRef": {"name": "bench"}},
        }
    }))?;
    let secret = std::collections::BTreeMap::from([
        (
            "clientId".to_owned(),
            oneroster_sim::config::DEFAULT_CLIENT_ID.as_bytes().to_vec(),
        ),
        (
            "clientSecret".to_owned(),
            oneroster_sim::config::DEFAULT_CLIENT_SECRET
                .as_bytes()
                .to_vec(),
        ),
    ]);
    let options = JobOptions {
        allow_insecure_http: true,
        ..JobOptions::default()
    };
    let job = sync::job::build("bench", &sync, Some(&secret), &[], &options)
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    println!(
        "preset {preset:?} ({} schools, {} students, {} enrollments), store {backend}, latency {latency_ms} ms",
        stats.schools, stats.counts.students, stats.counts.enrollments
    );
    println!(
        "{:<34} {:>10} {:>8} {:>12} {:>10} {:>14}",
        "phase", "seconds", "cpu s", "rows written", "vs first", "peak MiB"
    );
    // Reading alone, to tell the Roster Server's share from the engine's and the store's.
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let client = classlink_operator::oneroster::Client::new(job.client.clone())?;
    let roster = client.fetch_roster(|_| {}).await?;
    let read = Took::since(start, cpu_start);
    let read_peak = peak_memory_mib();
    let records = roster.schools.len()
        + roster.academic_sessions.len()
        + roster.classes.len()
        + roster.users.len()
        + roster.enrollments.len();
    drop(roster);
    let (first, first_took) = timed(&job, &store, as_of).await;
    anyhow::ensure!(
        first.report.error_code.is_none(),
        "first sync: {}",
        first.report.message
    );
    let line = |phase: &str, took: Took, rows: u64, peak: f64| {
        println!(
            "{phase:<34} {:>10.2} {:>8.2} {rows:>12} {:>9.2}x {peak:>14.0}",
            took.wall,
            took.cpu,
            took.wall / first_took.wall,
        );
    };
    let row = |phase: &str, outcome: &SyncOutcome, took: Took| {
        line(phase, took, outcome.rows_written, peak_memory_mib());
    };
    line(
        &format!("read only ({records} records)"),
        read,
        0,
        read_peak,
    );
    row("first sync (empty store)", &first, first_took);
    let (second, s) = timed(&job, &store, as_of).await;
    row("second sync (unchanged)", &second, s);
    sim.mutate(Mutation::ChangeUsers { count: 100 })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    sim.mutate(Mutation::AddUsers { count: 100 })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (third, s) = timed(&job, &store, as_of).await;
    row("third sync (200 users changed)", &third, s);

    drop(store);
    if let Some((admin, name)) = database {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}
