//! `oneroster-sim serve`, `oneroster-sim stats` and `oneroster-sim platform-users`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use oneroster_sim::{Fault, Preset, SimConfig};

#[derive(Parser)]
#[command(
    name = "oneroster-sim",
    version,
    about = "A OneRoster 1.1 Roster Server simulator (stands in for ClassLink)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the data set over HTTP until interrupted.
    Serve(ServeArgs),
    /// Print the ground-truth counts of the data set as JSON.
    Stats(DataArgs),
    /// Print the platform's users of the data set as a CSV for
    /// `classlink-operator identities import` (real emails, never masked).
    PlatformUsers(DataArgs),
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Data-set size: tiny, small, medium, large, xl.
    #[arg(long, default_value = "tiny")]
    preset: Preset,
    /// Generator seed: the same seed and as-of date give byte-identical responses.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The date the data set is generated around (YYYY-MM-DD); default today.
    #[arg(long)]
    as_of: Option<jiff::civil::Date>,
    /// Serve OneRoster 1.1 bulk CSV files from this directory instead of generated data.
    #[arg(long)]
    csv_dir: Option<PathBuf>,
    /// Explicit counts instead of a preset: schools.
    #[arg(long)]
    schools: Option<u32>,
    /// Explicit counts: students.
    #[arg(long)]
    students: Option<u32>,
    /// Explicit counts: teachers.
    #[arg(long)]
    teachers: Option<u32>,
    /// Explicit counts: administrators and aides.
    #[arg(long)]
    staff: Option<u32>,
    /// Explicit counts: scheduled classes per student.
    #[arg(long)]
    classes_per_student: Option<u32>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address to listen on (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// OAuth client id (Client Key).
    #[arg(long, default_value = oneroster_sim::config::DEFAULT_CLIENT_ID)]
    client_id: String,
    /// OAuth client secret.
    #[arg(long, default_value = oneroster_sim::config::DEFAULT_CLIENT_SECRET)]
    client_secret: String,
    /// A static bearer token that is also accepted.
    #[arg(long)]
    bearer_token: Option<String>,
    /// Largest page size; larger `limit`s are clamped.
    #[arg(long, default_value_t = 10_000)]
    max_page_size: u32,
    /// Lifetime of OAuth2 access tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl_secs: u64,
    /// Accept only these auth methods (comma list of oauth1, oauth2, bearer); default all.
    #[arg(long, value_delimiter = ',')]
    auth: Vec<String>,
    /// Accept only these OAuth 1.0a signature methods (comma list of HMAC-SHA256,
    /// HMAC-SHA1); default both. Others are refused with `signature_method_rejected`.
    #[arg(long, value_delimiter = ',')]
    signature_methods: Vec<String>,
    /// Never gzip answers, even for clients that send `Accept-Encoding: gzip`.
    #[arg(long)]
    no_gzip: bool,
    /// A fault, NAME=VALUE (repeatable): rate-limit=SHARE[:RETRY_AFTER], server-error=SHARE,
    /// latency-ms=MS, reset=SHARE, truncate=SHARE, perm-rev-change=BOOL, mask-emails=SHARE,
    /// incomplete-school=SOURCEDID, minimal=BOOL, next-past-end=BOOL, bare-array=BOOL,
    /// echo-credentials=BOOL, junk-enabled=SHARE, huge-page=MIB[:chunked],
    /// ignore-offset=BOOL|ANNOUNCED_TOTAL.
    #[arg(long = "fault")]
    faults: Vec<Fault>,
}

fn config(d: &DataArgs) -> SimConfig {
    let mut spec = d.preset.spec();
    if let Some(v) = d.schools {
        spec.schools = v;
    }
    if let Some(v) = d.students {
        spec.students = v;
    }
    if let Some(v) = d.teachers {
        spec.teachers = v;
    }
    if let Some(v) = d.staff {
        spec.staff = v;
    }
    if let Some(v) = d.classes_per_student {
        spec.classes_per_student = v;
    }
    let mut c = SimConfig::with_spec(spec).seed(d.seed);
    if let Some(a) = d.as_of {
        c = c.as_of(a);
    }
    if let Some(dir) = &d.csv_dir {
        c = c.csv_dir(dir);
    }
    c
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Stats(d) => {
            let stats = oneroster_sim::stats_for(&config(&d))?;
            println!("{}", serde_json::to_string_pretty(&stats)?);
        }
        Command::PlatformUsers(d) => {
            print!("{}", oneroster_sim::platform_users_csv_for(&config(&d))?);
        }
        Command::Serve(s) => {
            let mut c = config(&s.data)
                .listen(s.listen)
                .credentials(s.client_id, s.client_secret)
                .max_page_size(s.max_page_size)
                .gzip(!s.no_gzip)
                .token_ttl(std::time::Duration::from_secs(s.token_ttl_secs));
            if let Some(t) = s.bearer_token {
                c = c.bearer_token(t);
            }
            if !s.auth.is_empty() {
                let has = |m: &str| s.auth.iter().any(|a| a.trim().eq_ignore_ascii_case(m));
                for a in &s.auth {
                    if !["oauth1", "oauth2", "bearer"]
                        .contains(&a.trim().to_ascii_lowercase().as_str())
                    {
                        anyhow::bail!("--auth: unknown method {a:?} (oauth1, oauth2, bearer)");
                    }
                }
                c = c.auth_methods(oneroster_sim::AuthMethods {
                    oauth1: has("oauth1"),
                    oauth2: has("oauth2"),
                    bearer: has("bearer"),
                });
            }
            if !s.signature_methods.is_empty() {
                let methods: Vec<&str> = s.signature_methods.iter().map(|m| m.trim()).collect();
                if let Some(unknown) = methods
                    .iter()
                    .find(|m| !["HMAC-SHA256", "HMAC-SHA1"].contains(m))
                {
                    anyhow::bail!(
                        "--signature-methods: unknown method {unknown:?} (HMAC-SHA256, HMAC-SHA1)"
                    );
                }
                c = c.signature_methods(&methods);
            }
            for f in s.faults {
                c = c.fault(f);
            }
            let sim = oneroster_sim::start(c).await?;
            println!(
                "oneroster-sim listening on {} (OneRoster at {})",
                sim.base_url(),
                sim.api_url()
            );
            tokio::signal::ctrl_c().await?;
            sim.shutdown().await;
        }
    }
    Ok(())
}
