//! Simulator configuration: data set, credentials, auth methods and faults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Named data-set sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Tiny,
    Small,
    Medium,
    Large,
    Xl,
}

impl Preset {
    pub fn spec(self) -> DatasetSpec {
        let (schools, students, teachers, staff, classes_per_student) = match self {
            Preset::Tiny => (1, 24, 3, 2, 4),
            Preset::Small => (3, 1_000, 60, 9, 6),
            Preset::Medium => (20, 20_000, 1_200, 60, 8),
            Preset::Large => (100, 100_000, 6_000, 300, 9),
            Preset::Xl => (200, 250_000, 15_000, 600, 9),
        };
        DatasetSpec {
            schools,
            students,
            teachers,
            staff,
            classes_per_student,
        }
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "tiny" => Preset::Tiny,
            "small" => Preset::Small,
            "medium" => Preset::Medium,
            "large" => Preset::Large,
            "xl" => Preset::Xl,
            other => {
                return Err(format!(
                    "unknown preset {other:?} (tiny, small, medium, large, xl)"
                ));
            }
        })
    }
}

/// Explicit counts for a generated data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSpec {
    pub schools: u32,
    pub students: u32,
    pub teachers: u32,
    /// Administrators and aides (one administrator per school, the rest aides).
    pub staff: u32,
    /// Scheduled classes each student takes (plus one homeroom).
    pub classes_per_student: u32,
}

/// Where the data comes from.
#[derive(Clone, Debug)]
pub enum DataSource {
    Generated(DatasetSpec),
    Csv(PathBuf),
}

/// Which auth methods the server accepts (all by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthMethods {
    pub oauth1: bool,
    pub oauth2: bool,
    pub bearer: bool,
}

impl Default for AuthMethods {
    fn default() -> Self {
        Self {
            oauth1: true,
            oauth2: true,
            bearer: true,
        }
    }
}

/// One fault, as the `--fault NAME=VALUE` flag and the admin API name it.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Share of API requests answered 429, and the Retry-After seconds.
    RateLimit(f64, u64),
    /// Share of API requests answered 5xx (500, 502, 503 in turn).
    ServerError(f64),
    /// Added latency per API request.
    LatencyMs(u64),
    /// Share of collection responses whose connection is cut mid-body.
    Reset(f64),
    /// Share of collection responses whose JSON is cut short (complete HTTP response).
    Truncate(f64),
    /// `x-perm-rev` changes on every collection page.
    PermRevChange(bool),
    /// Share of people whose email is empty or masked (DataGuard).
    MaskEmails(f64),
    /// That school's classes get dangling course/term references, and some of its
    /// enrollments point at unknown users.
    IncompleteSchool(String),
    /// Minimal implementation: no /schools, /students, /teachers or nested endpoints; filters ignored.
    Minimal(bool),
    /// `next` link on the last page, pointing past the end.
    NextPastEnd(bool),
    /// Collections answer a bare JSON array instead of an envelope.
    BareArray(bool),
    /// Error answers (API and token endpoint) quote the request's `Authorization` header
    /// and the bare credential in it, as a careless server's debug output does.
    EchoCredentials(bool),
    /// Share of users whose `enabledUser` is junk (`"yes"`, `"1"`, `"TRUE "`, `""`, `null`
    /// in turn) instead of `"true"`/`"false"`.
    JunkEnabled(f64),
    /// The first page of `/users` is a valid JSON page of `mib` MiB (tiny records made
    /// up on the fly, never held whole), with a `Content-Length` unless `chunked`. Zero
    /// turns it off.
    HugePage { mib: u64, chunked: bool },
    /// Every collection answers its first page whatever `offset` asks; with `announced`,
    /// `X-Total-Count`/`x-count` say that many records instead of the true count.
    IgnoreOffset { on: bool, announced: Option<u64> },
}

fn parse_share(name: &str, v: &str) -> Result<f64, String> {
    let share: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{name}: {v:?} is not a share between 0 and 1"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("{name}: share {share} is outside 0..=1"));
    }
    Ok(share)
}

fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v.trim() {
        "" | "true" | "1" | "on" | "yes" => Ok(true),
        "false" | "0" | "off" | "no" => Ok(false),
        _ => Err(format!("{name}: {v:?} is not true or false")),
    }
}

impl Fault {
    /// The fault's name as the flag spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::RateLimit(..) => "rate-limit",
            Fault::ServerError(_) => "server-error",
            Fault::LatencyMs(_) => "latency-ms",
            Fault::Reset(_) => "reset",
            Fault::Truncate(_) => "truncate",
            Fault::PermRevChange(_) => "perm-rev-change",
            Fault::MaskEmails(_) => "mask-emails",
            Fault::IncompleteSchool(_) => "incomplete-school",
            Fault::Minimal(_) => "minimal",
            Fault::NextPastEnd(_) => "next-past-end",
            Fault::BareArray(_) => "bare-array",
            Fault::EchoCredentials(_) => "echo-credentials",
            Fault::JunkEnabled(_) => "junk-enabled",
            Fault::HugePage { .. } => "huge-page",
            Fault::IgnoreOffset { .. } => "ignore-offset",
        }
    }

    /// Parses a name and a value (`rate-limit`, `0.5:2`).
    pub fn parse(name: &str, value: &str) -> Result<Fault, String> {
        let name = name.trim();
        Ok(match name {
            "rate-limit" => {
                let (share, retry) = match value.split_once(':') {
                    Some((s, r)) => (
                        s,
                        r.trim().parse().map_err(|_| {
                            format!("rate-limit: retry-after {r:?} is not whole seconds")
                        })?,
                    ),
                    None => (value, 1),
                };
                Fault::RateLimit(parse_share(name, share)?, retry)
            }
            "server-error" => Fault::ServerError(parse_share(name, value)?),
            "latency-ms" => Fault::LatencyMs(
                value
                    .trim()
                    .parse()
                    .map_err(|_| format!("latency-ms: {value:?} is not whole milliseconds"))?,
            ),
            "reset" => Fault::Reset(parse_share(name, value)?),
            "truncate" => Fault::Truncate(parse_share(name, value)?),
            "perm-rev-change" => Fault::PermRevChange(parse_bool(name, value)?),
            "mask-emails" => Fault::MaskEmails(parse_share(name, value)?),
            "incomplete-school" => {
                if value.trim().is_empty() {
                    return Err("incomplete-school needs a school sourcedId".into());
                }
                Fault::IncompleteSchool(value.trim().to_string())
            }
            "minimal" => Fault::Minimal(parse_bool(name, value)?),
            "next-past-end" => Fault::NextPastEnd(parse_bool(name, value)?),
            "bare-array" => Fault::BareArray(parse_bool(name, value)?),
            "echo-credentials" => Fault::EchoCredentials(parse_bool(name, value)?),
            "junk-enabled" => Fault::JunkEnabled(parse_share(name, value)?),
            "huge-page" => {
                let (mib, chunked) = match value.trim().split_once(':') {
                    Some((mib, "chunked")) => (mib, true),
                    Some((_, other)) => {
                        return Err(format!("huge-page: {other:?} is not `chunked`"));
                    }
                    None => (value.trim(), false),
                };
                Fault::HugePage {
                    mib: mib
                        .parse()
                        .map_err(|_| format!("huge-page: {mib:?} is not whole MiB"))?,
                    chunked,
                }
            }
            "ignore-offset" => match value.trim().parse::<u64>() {
                Ok(announced) => Fault::IgnoreOffset {
                    on: true,
                    announced: Some(announced),
                },
                Err(_) => Fault::IgnoreOffset {
                    on: parse_bool(name, value)?,
                    announced: None,
                },
            },
            other => {
                return Err(format!(
                    "unknown fault {other:?} (rate-limit, server-error, latency-ms, reset, truncate, \
                     perm-rev-change, mask-emails, incomplete-school, minimal, next-past-end, bare-array, \
                     echo-credentials, junk-enabled, huge-page, ignore-offset)"
                ));
            }
        })
    }
}

impl FromStr for Fault {
    type Err = String;
    /// `NAME=VALUE`, e.g. `rate-limit=0.33:2`, `minimal=true`, `incomplete-school=org-00002`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, value) = s.split_once('=').unwrap_or((s, ""));
        Fault::parse(name, value)
    }
}

/// The set of active faults (each kind at most once).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Faults {
    pub rate_limit: Option<f64>,
    pub retry_after_secs: u64,
    pub server_error: Option<f64>,
    pub latency_ms: u64,
    pub reset: Option<f64>,
    pub truncate: Option<f64>,
    pub perm_rev_change: bool,
    pub mask_emails: Option<f64>,
    pub incomplete_school: Option<String>,
    pub minimal: bool,
    pub next_past_end: bool,
    pub bare_array: bool,
    pub echo_credentials: bool,
    pub junk_enabled: Option<f64>,
    /// `huge-page`: size of the first `/users` page in MiB, and whether it is sent
    /// without a `Content-Length`.
    pub huge_page_mib: Option<u64>,
    pub huge_page_chunked: bool,
    /// `ignore-offset`, and the total it announces instead of the true one.
    pub ignore_offset: bool,
    pub ignore_offset_announced: Option<u64>,
}

impl Faults {
    pub fn set(&mut self, f: Fault) {
        let nz = |s: f64| (s > 0.0).then_some(s);
        match f {
            Fault::RateLimit(s, r) => {
                self.rate_limit = nz(s);
                self.retry_after_secs = r;
            }
            Fault::ServerError(s) => self.server_error = nz(s),
            Fault::LatencyMs(ms) => self.latency_ms = ms,
            Fault::Reset(s) => self.reset = nz(s),
            Fault::Truncate(s) => self.truncate = nz(s),
            Fault::PermRevChange(b) => self.perm_rev_change = b,
            Fault::MaskEmails(s) => self.mask_emails = nz(s),
            Fault::IncompleteSchool(s) => self.incomplete_school = Some(s),
            Fault::Minimal(b) => self.minimal = b,
            Fault::NextPastEnd(b) => self.next_past_end = b,
            Fault::BareArray(b) => self.bare_array = b,
            Fault::EchoCredentials(b) => self.echo_credentials = b,
            Fault::JunkEnabled(s) => self.junk_enabled = nz(s),
            Fault::HugePage { mib, chunked } => {
                self.huge_page_mib = (mib > 0).then_some(mib);
                self.huge_page_chunked = chunked;
            }
            Fault::IgnoreOffset { on, announced } => {
                self.ignore_offset = on;
                self.ignore_offset_announced = announced.filter(|_| on);
            }
        }
    }
}

/// Everything `start` needs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub data: DataSource,
    pub seed: u64,
    pub as_of: jiff::civil::Date,
    pub client_id: String,
    pub client_secret: String,
    pub bearer_token: Option<String>,
    pub max_page_size: u32,
    pub faults: Faults,
    pub auth: AuthMethods,
    /// Lifetime of OAuth2 access tokens.
    pub token_ttl: Duration,
    /// Allowed OAuth1 clock skew (and nonce memory).
    pub oauth1_window: Duration,
    /// OAuth 1.0a signature methods accepted (`HMAC-SHA256`, `HMAC-SHA1`); both by default.
    pub signature_methods: Vec<String>,
    /// Whether API answers are gzip-compressed for clients that send
    /// `Accept-Encoding: gzip` (on by default; never for clients that do not).
    pub gzip: bool,
    pub listen: SocketAddr,
}

pub const DEFAULT_CLIENT_ID: &str = "demo-client-id";
pub const DEFAULT_CLIENT_SECRET: &str = "demo-client-secret";

impl SimConfig {
    pub fn new(preset: Preset) -> Self {
        Self::with_spec(preset.spec())
    }

    pub fn with_spec(spec: DatasetSpec) -> Self {
        SimConfig {
            data: DataSource::Generated(spec),
            seed: 1,
            as_of: jiff::Zoned::now().date(),
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            bearer_token: None,
            max_page_size: 10_000,
            faults: Faults::default(),
            auth: AuthMethods::default(),
            token_ttl: Duration::from_secs(3600),
            oauth1_window: Duration::from_secs(300),
            signature_methods: vec!["HMAC-SHA256".into(), "HMAC-SHA1".into()],
            gzip: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn as_of(mut self, date: jiff::civil::Date) -> Self {
        self.as_of = date;
        self
    }
    pub fn credentials(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = id.into();
        self.client_secret = secret.into();
        self
    }
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.set(fault);
        self
    }
    pub fn max_page_size(mut self, n: u32) -> Self {
        self.max_page_size = n.max(1);
        self
    }
    pub fn csv_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data = DataSource::Csv(dir.into());
        self
    }
    pub fn dataset(mut self, spec: DatasetSpec) -> Self {
        self.data = DataSource::Generated(spec);
        self
    }
    pub fn auth_methods(mut self, auth: AuthMethods) -> Self {
        self.auth = auth;
        self
    }
    /// Accept only these OAuth 1.0a signature methods; a request signed with another is
    /// refused (401) with `signature_method_rejected`, as OAuth's problem reporting names it.
    pub fn signature_methods(mut self, methods: &[&str]) -> Self {
        self.signature_methods = methods.iter().map(|m| (*m).to_owned()).collect();
        self
    }
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }
    /// Whether to gzip answers for clients that accept gzip.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
}
