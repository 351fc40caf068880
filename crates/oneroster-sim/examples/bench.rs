//! Throughput of the simulator over loopback.
//!
//! cargo run --release -p oneroster-sim --example bench -- [PRESET] [SECONDS]
//!
//! Starts the simulator in-process with the preset (default `large`), then for
//! each scenario runs keep-alive clients that page through a collection for a
//! fixed time and reports pages/s and MB/s. Timing lives here, never in tests.

use std::time::{Duration, Instant};

use oneroster_sim::rawhttp::Conn;
use oneroster_sim::{Preset, SimConfig};

const TOKEN: &str = "bench-token";

async fn run(
    addr: std::net::SocketAddr,
    path: &'static str,
    limit: u64,
    clients: usize,
    secs: u64,
) -> anyhow::Result<(u64, u64, f64)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let auth = format!("Bearer {TOKEN}");
            let (mut pages, mut bytes) = (0u64, 0u64);
            // Each client starts at a different place so they do not read in lockstep.
            let mut offset = c as u64 * limit * 7;
            while Instant::now() < deadline {
                let r = conn
                    .get(
                        &format!("/ims/oneroster/v1p1/{path}?limit={limit}&offset={offset}"),
                        &[("authorization", &auth)],
                    )
                    .await?;
                anyhow::ensure!(r.status == 200, "status {}", r.status);
                let total: u64 = r
                    .header("x-total-count")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                pages += 1;
                bytes += r.body.len() as u64;
                offset += limit;
                if offset >= total {
                    offset = 0;
                }
            }
            anyhow::Ok((pages, bytes))
        }));
    }
    let (mut pages, mut bytes) = (0, 0);
    for t in tasks {
        let (p, b) = t.await??;
        pages += p;
        bytes += b;
    }
    Ok((pages, bytes, start.elapsed().as_secs_f64()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let preset: Preset = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("large")
        .parse()
        .map_err(anyhow::Error::msg)?;
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let t0 = Instant::now();
    let config = SimConfig::new(preset)
        .seed(1)
        .as_of(jiff::civil::date(2026, 3, 1))
        .bearer_token(TOKEN);
    let sim = oneroster_sim::start(config).await?;
    let stats = sim.stats();
    println!(
        "preset {preset:?}: generated and listening in {:.2} s ({} students, {} enrollments active)",
        t0.elapsed().as_secs_f64(),
        stats.counts.students,
        stats.counts.enrollments
    );
    println!("| collection | limit | clients | pages/s | records/s | MB/s | avg page KB |");
    println!("|---|---|---|---|---|---|---|");
    for (path, limit, clients) in [
        ("users", 10_000, 1),
        ("enrollments", 10_000, 1),
        ("enrollments", 10_000, 4),
        ("enrollments", 100, 1),
        ("enrollments", 100, 4),
        ("classes", 1_000, 2),
    ] {
        let (pages, bytes, elapsed) = run(sim.addr(), path, limit, clients, secs).await?;
        println!(
            "| /{path} | {limit} | {clients} | {:.1} | {:.0} | {:.1} | {:.0} |",
            pages as f64 / elapsed,
            pages as f64 * limit as f64 / elapsed,
            bytes as f64 / elapsed / 1e6,
            bytes as f64 / pages.max(1) as f64 / 1e3
        );
    }
    let m = sim.metrics();
    println!(
        "requests served {}, max in flight {}",
        m.requests_served, m.max_in_flight
    );
    sim.shutdown().await;
    Ok(())
}
