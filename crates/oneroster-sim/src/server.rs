//! The HTTP side: OneRoster API, token endpoint, admin API, faults.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;

use crate::auth::{Auth, Refusal};
use crate::config::{Fault, Faults};
use crate::encode::{Ctx, Kind};
use crate::listing::{Listing, ListingCache, ListingKey};
use crate::model::*;
use crate::mutate::{Mutation, MutationError, MutationReport};
use crate::query::{BadRequest, Query, parse_query};
use crate::rng::{SplitMix64, share_hits};
use crate::stats::Stats;

pub const API_BASE: &str = "/ims/oneroster/v1p1";

/// Request counters the admin API reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// OneRoster API requests received (any outcome).
    pub requests_served: u64,
    /// API requests being handled right now.
    pub in_flight: u64,
    /// The most API requests in flight at once since start (or the last reset).
    pub max_in_flight: u64,
    /// Requests to the token endpoint.
    pub token_requests: u64,
    /// Bytes of API response bodies handed to the connection: gzip-compressed where the
    /// client asked for gzip (headers not counted).
    pub body_bytes_sent: u64,
    /// The same bodies before compression: the JSON the answers held.
    pub body_bytes_uncompressed: u64,
}

pub struct Shared {
    pub data: RwLock<Arc<Dataset>>,
    pub faults: RwLock<Faults>,
    pub perm_rev: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    token_requests: AtomicU64,
    body_bytes_sent: AtomicU64,
    body_bytes_uncompressed: AtomicU64,
    n_rate: AtomicU64,
    n_server: AtomicU64,
    n_reset: AtomicU64,
    n_truncate: AtomicU64,
    /// Pages (path and query) whose last request a share fault below 1 hit: their next
    /// request is spared, so a client that retries gets every page by its second try,
    /// whatever order its requests come in.
    just_hit: Mutex<std::collections::HashSet<String>>,
    pub auth: Auth,
    pub max_page_size: u32,
    /// Whether API answers are gzip-compressed for clients that accept gzip.
    pub gzip: bool,
    pub base_url: String,
    pub href_base: String,
    mutation_rng: Mutex<SplitMix64>,
    /// Filtered, sorted and derived row lists, shared by the pages of one listing.
    listings: ListingCache,
}

impl Shared {
    pub fn new(
        ds: Dataset,
        faults: Faults,
        auth: Auth,
        max_page_size: u32,
        gzip: bool,
        base_url: String,
    ) -> Self {
        let seed = ds.seed;
        Shared {
            data: RwLock::new(Arc::new(ds)),
            faults: RwLock::new(faults),
            perm_rev: AtomicU64::new(1),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            body_bytes_sent: AtomicU64::new(0),
            body_bytes_uncompressed: AtomicU64::new(0),
            n_rate: AtomicU64::new(0),
            n_server: AtomicU64::new(0),
            n_reset: AtomicU64::new(0),
            n_truncate: AtomicU64::new(0),
            just_hit: Mutex::new(std::collections::HashSet::new()),
            auth,
            max_page_size,
            gzip,
            href_base: format!("{base_url}{API_BASE}"),
            base_url,
            mutation_rng: Mutex::new(SplitMix64::new(seed ^ 0x4D55_7441)),
            listings: ListingCache::default(),
        }
    }

    pub fn dataset(&self) -> Arc<Dataset> {
        match self.data.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn faults(&self) -> Faults {
        match self.faults.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Sets a fault and restarts the fault counters, so "every k-th request"
    /// counts from the change.
    pub fn set_fault(&self, f: Fault) {
        match self.faults.write() {
            Ok(mut g) => g.set(f),
            Err(p) => p.into_inner().set(f),
        }
        self.reset_fault_counters();
    }

    pub fn clear_faults(&self) {
        match self.faults.write() {
            Ok(mut g) => *g = Faults::default(),
            Err(p) => *p.into_inner() = Faults::default(),
        }
        self.reset_fault_counters();
    }

    fn reset_fault_counters(&self) {
        for c in [
            &self.n_rate,
            &self.n_server,
            &self.n_reset,
            &self.n_truncate,
        ] {
            c.store(0, Ordering::SeqCst);
        }
        self.just_hit_pages().clear();
    }

    fn just_hit_pages(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.just_hit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one request of `page` for a share fault (its `counter`), and says whether the
    /// fault hits it (`Some(n)`, the n-th request the fault saw): by the `share_hits` rule,
    /// except when a share below 1 hit this page's previous request.
    fn share_fault_hits(&self, counter: &AtomicU64, share: f64, page: &PageRequest) -> Option<u64> {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        if !share_hits(n, share) {
            return None;
        }
        if share < 1.0 {
            if page.spared {
                return None;
            }
            self.just_hit_pages().insert(page.key.clone());
        }
        Some(n)
    }

    pub fn metrics(&self) -> Metrics {
        Metrics {
            requests_served: self.requests.load(Ordering::SeqCst),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
            token_requests: self.token_requests.load(Ordering::SeqCst),
            body_bytes_sent: self.body_bytes_sent.load(Ordering::SeqCst),
            body_bytes_uncompressed: self.body_bytes_uncompressed.load(Ordering::SeqCst),
        }
    }

    pub fn reset_metrics(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.token_requests.store(0, Ordering::SeqCst);
        self.body_bytes_sent.store(0, Ordering::SeqCst);
        self.body_bytes_uncompressed.store(0, Ordering::SeqCst);
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    fn count_body(&self, sent: usize, uncompressed: usize) {
        self.body_bytes_sent
            .fetch_add(sent as u64, Ordering::SeqCst);
        self.body_bytes_uncompressed
            .fetch_add(uncompressed as u64, Ordering::SeqCst);
    }

    pub fn stats(&self) -> Stats {
        crate::stats::compute(&self.dataset())
    }

    pub fn mutate(&self, m: &Mutation) -> Result<MutationReport, MutationError> {
        let mut guard = match self.data.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let ds = Arc::make_mut(&mut guard);
        let wall = jiff::Timestamp::now()
            .as_second()
            .clamp(0, i64::from(u32::MAX)) as u32;
        let now = wall.max(ds.latest_modified() + 1);
        let affected = {
            let mut rng = match self.mutation_rng.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            crate::mutate::apply(ds, m, &mut rng, now)?
        };
        let perm_rev = self.perm_rev.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(MutationReport { perm_rev, affected })
    }
}

struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(sh: &'a Shared) -> Self {
        let n = sh.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        sh.max_in_flight.fetch_max(n, Ordering::SeqCst);
        InFlight(sh)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A OneRoster error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code_minor: &'static str,
    pub description: String,
}

impl ApiError {
    fn new(status: u16, code_minor: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code_minor,
            description: description.into(),
        }
    }
    /// With the `echo-credentials` fault: the description quotes what the client sent.
    fn echoing(mut self, authorization: Option<&str>) -> Self {
        if let Some(sent) = authorization {
            self.description = format!("{} ({})", self.description, echo_text(sent));
        }
        self
    }
    fn not_found(what: &str) -> Self {
        ApiError::new(404, "unknownobject", format!("{what} not found"))
    }
}

impl From<BadRequest> for ApiError {
    fn from(b: BadRequest) -> Self {
        ApiError::new(400, b.code_minor, b.description)
    }
}

/// What the `echo-credentials` fault quotes: the whole `Authorization` header, and the bare
/// credential in it (the Basic value, the token, or the OAuth 1.0a signature decoded), the
/// two ways a careless server's debug output shows them.
pub fn echo_text(authorization: &str) -> String {
    let bare = if let Some(rest) = authorization
        .strip_prefix("Basic ")
        .or_else(|| authorization.strip_prefix("Bearer "))
    {
        rest.trim().to_string()
    } else {
        authorization
            .split("oauth_signature=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|sig| {
                percent_encoding::percent_decode_str(sig)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    format!("credential seen: {bare}; request had Authorization: {authorization}")
}

pub fn error_body(code_minor: &str, description: &str) -> Vec<u8> {
    let v = serde_json::json!({
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
        ]}
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

fn respond(status: u16, headers: Vec<(&'static str, String)>, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    respond(
        status,
        vec![("content-type", "application/json".into())],
        Body::from(body),
    )
}

fn api_error(sh: &Shared, e: ApiError) -> Response {
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("x-perm-rev", sh.perm_rev.load(Ordering::SeqCst).to_string()),
    ];
    if e.status == 401 {
        headers.push((
            "www-authenticate",
            "OAuth realm=\"oneroster\", Bearer".into(),
        ));
    }
    let body = error_body(e.code_minor, &e.description);
    sh.count_body(body.len(), body.len());
    respond(e.status, headers, Body::from(body))
}

pub async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/admin" || path.starts_with("/admin/") {
        return admin(&sh, req).await;
    }
    if path == "/oauth2/token" {
        return token(&sh, req).await;
    }
    if path == API_BASE || path.starts_with(&format!("{API_BASE}/")) {
        return api(&sh, req).await;
    }
    json_response(404, error_body("unknownobject", "no such endpoint"))
}

async fn token(sh: &Shared, req: Request) -> Response {
    sh.token_requests.fetch_add(1, Ordering::SeqCst);
    if req.method() != Method::POST {
        return json_response(
            405,
            br#"{"error":"invalid_request","error_description":"use POST"}"#.to_vec(),
        );
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Ok(body) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else {
        return json_response(400, br#"{"error":"invalid_request"}"#.to_vec());
    };
    let mut answer = sh
        .auth
        .token(auth.as_deref(), &String::from_utf8_lossy(&body));
    if sh.faults().echo_credentials
        && answer.status >= 400
        && let Some(sent) = auth.as_deref()
        && let Some(object) = answer.body.as_object_mut()
    {
        let described = object
            .get("error_description")
            .and_then(|d| d.as_str())
            .unwrap_or("refused")
            .to_string();
        object.insert(
            "error_description".into(),
            format!("{described} ({})", echo_text(sent)).into(),
        );
    }
    let mut r = json_response(
        answer.status,
        serde_json::to_vec(&answer.body).unwrap_or_default(),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn api(sh: &Shared, req: Request) -> Response {
    sh.requests.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight::enter(sh);
    if req.method() != Method::GET {
        return api_error(
            sh,
            ApiError::new(405, "invaliddata", "only GET is supported"),
        );
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.to_ascii_lowercase())
        .unwrap_or_else(|| sh.base_url.trim_start_matches("http://").to_string());
    let host = host.strip_suffix(":80").unwrap_or(&host);
    let url = format!("http://{host}{path}");
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let faults = sh.faults();
    let encoding = if sh.gzip && accepts_gzip(req.headers()) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    };
    let echo = authorization.filter(|_| faults.echo_credentials);
    if let Err(r) = sh
        .auth
        .check("GET", &url, query.as_deref(), authorization, &path)
    {
        let e = match r {
            Refusal::Unauthorized(d) => ApiError::new(401, "unauthorisedrequest", d),
            Refusal::Forbidden(d) => ApiError::new(403, "forbidden", d),
        };
        return api_error(sh, e.echoing(echo));
    }
    if faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.latency_ms)).await;
    }
    let page = PageRequest::new(sh, &faults, &path, query.as_deref());
    if let Some(share) = faults.rate_limit
        && sh.share_fault_hits(&sh.n_rate, share, &page).is_some()
    {
        let mut r = api_error(
            sh,
            ApiError::new(429, "server_busy", "too many requests, slow down").echoing(echo),
        );
        if let Ok(v) = HeaderValue::from_str(&faults.retry_after_secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    if let Some(share) = faults.server_error
        && let Some(n) = sh.share_fault_hits(&sh.n_server, share, &page)
    {
        let status = [500, 502, 503][(n % 3) as usize];
        return api_error(
            sh,
            ApiError::new(status, "internal_server_error", "simulated server error").echoing(echo),
        );
    }
    let ds = sh.dataset();
    let rest = &path[API_BASE.len()..];
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match route(sh, &ds, &faults, &segs, query.as_deref(), &path) {
        Ok(answer) => finish(sh, &faults, &page, answer, encoding),
        Err(e) => api_error(sh, e.echoing(echo)),
    }
}

/// A successful answer before faults touch the body.
struct Answer {
    body: Vec<u8>,
    /// `huge-page`: answer this made-up page instead of `body`.
    huge: Option<HugePage>,
    headers: Vec<(&'static str, String)>,
    collection: bool,
}

/// The `huge-page` fault's answer: its size, and whether it goes without a length.
#[derive(Clone, Copy)]
struct HugePage {
    bytes: u64,
    chunked: bool,
}

/// How an answer's body travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
}

/// Whether `Accept-Encoding` names gzip (or `x-gzip`) with a weight above zero:
/// `gzip`, `br, gzip;q=0.5`, but not `gzip;q=0`, and not `*` alone.
fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            (name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip"))
                && parts.all(|param| match param.split_once('=') {
                    Some((k, q)) if k.trim().eq_ignore_ascii_case("q") => {
                        q.trim().parse::<f64>().is_ok_and(|q| q > 0.0)
                    }
                    _ => true,
                })
        })
}

/// gzip at level 1: about ten times smaller at a few hundred MB/s, so the simulator's
/// compressing stays small next to a client's decoding (nginx's default level too).
fn gzip(json: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    encoder.write_all(json)?;
    encoder.finish()
}

/// One request of a page, as the share faults see it.
struct PageRequest {
    /// Path and query.
    key: String,
    /// A share fault below 1 hit this page's previous request: this one is spared.
    spared: bool,
}

impl PageRequest {
    fn new(sh: &Shared, faults: &Faults, path: &str, query: Option<&str>) -> Self {
        let key = format!("{path}?{}", query.unwrap_or(""));
        let any_share = [
            faults.rate_limit,
            faults.server_error,
            faults.reset,
            faults.truncate,
        ]
        .iter()
        .any(|s| s.is_some_and(|s| s < 1.0));
        let spared = any_share && sh.just_hit_pages().remove(&key);
        PageRequest { key, spared }
    }
}

fn finish(
    sh: &Shared,
    faults: &Faults,
    page: &PageRequest,
    a: Answer,
    encoding: Encoding,
) -> Response {
    let mut headers = a.headers;
    headers.push(("content-type", "application/json".into()));
    if sh.gzip {
        headers.push(("vary", "accept-encoding".into()));
    }
    if let Some(huge) = a.huge {
        // Made as the client reads it, never held whole: sent as it is.
        let bytes = usize::try_from(huge.bytes).unwrap_or(usize::MAX);
        sh.count_body(bytes, bytes);
        return respond(200, headers, Body::new(HugeBody::new(huge)));
    }
    let cut = a.collection
        && faults
            .reset
            .is_some_and(|share| sh.share_fault_hits(&sh.n_reset, share, page).is_some());
    let truncated = a.collection
        && !cut
        && faults
            .truncate
            .is_some_and(|share| sh.share_fault_hits(&sh.n_truncate, share, page).is_some());
    let mut json = a.body;
    if truncated {
        // A complete HTTP answer (compressed whole, when compressed) whose JSON is cut.
        json.truncate(json.len() / 2);
    }
    let uncompressed = json.len();
    let mut body = match encoding {
        Encoding::Identity => json,
        Encoding::Gzip => match gzip(&json) {
            Ok(compressed) => {
                headers.push(("content-encoding", "gzip".into()));
                compressed
            }
            Err(_) => json,
        },
    };
    if cut {
        // Content-Length promises the whole body; half of it (of the compressed stream,
        // when compressed) arrives before the connection goes.
        let total = body.len() as u64;
        body.truncate(body.len() / 2);
        sh.count_body(body.len(), uncompressed);
        return respond(
            200,
            headers,
            Body::new(CutBody::new(Bytes::from(body), total)),
        );
    }
    sh.count_body(body.len(), uncompressed);
    respond(200, headers, Body::from(body))
}

/// A valid `users` page of exactly `bytes` bytes, made 64 KiB at a time as the client
/// reads it: `{"users":[` then tiny records `{"sourcedId":"huge-0000000001","status":"active"}`
/// separated by commas, spaces to fill, and `]}`. It stops being made when the client
/// hangs up.
struct HugeBody {
    page: HugePage,
    sent: u64,
    records: u64,
    next_record: u64,
    padding: u64,
}

const HUGE_PREFIX: &[u8] = b"{\"users\":[";
const HUGE_SUFFIX: &[u8] = b"]}";
const HUGE_RECORD_LEN: u64 = 49;

impl HugeBody {
    fn new(page: HugePage) -> Self {
        let frame = (HUGE_PREFIX.len() + HUGE_SUFFIX.len()) as u64;
        let room = page.bytes.saturating_sub(frame);
        // n records take n * len + (n - 1) commas.
        let records = (room + 1) / (HUGE_RECORD_LEN + 1);
        let used = if records == 0 {
            0
        } else {
            records * (HUGE_RECORD_LEN + 1) - 1
        };
        HugeBody {
            page,
            sent: 0,
            records,
            next_record: 0,
            padding: room - used,
        }
    }

    fn total(&self) -> u64 {
        self.page
            .bytes
            .max((HUGE_PREFIX.len() + HUGE_SUFFIX.len()) as u64)
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.sent >= self.total() {
            return None;
        }
        let mut chunk = Vec::with_capacity(64 * 1024 + 128);
        if self.sent == 0 {
            chunk.extend_from_slice(HUGE_PREFIX);
        }
        while chunk.len() < 64 * 1024 && self.next_record < self.records {
            if self.next_record > 0 {
                chunk.push(b',');
            }
            self.next_record += 1;
            chunk.extend_from_slice(
                format!(
                    "{{\"sourcedId\":\"huge-{:010}\",\"status\":\"active\"}}",
                    self.next_record
                )
                .as_bytes(),
            );
        }
        if self.next_record == self.records && chunk.len() < 64 * 1024 {
            let pad = self.padding.min(64 * 1024) as usize;
            chunk.resize(chunk.len() + pad, b' ');
            self.padding -= pad as u64;
            if self.padding == 0 {
                chunk.extend_from_slice(HUGE_SUFFIX);
            }
        }
        self.sent += chunk.len() as u64;
        Some(Bytes::from(chunk))
    }
}

impl http_body::Body for HugeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.next_chunk().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.total()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.page.chunked {
            http_body::SizeHint::default()
        } else {
            http_body::SizeHint::with_exact(self.total())
        }
    }
}

/// A body that sends its first half, pauses so it reaches the client, then
/// fails: hyper aborts the connection mid-body (Content-Length promised more).
struct CutBody {
    first: Option<Bytes>,
    total: u64,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl CutBody {
    fn new(first: Bytes, total: u64) -> Self {
        CutBody {
            first: Some(first),
            total,
            pause: None,
        }
    }
}

impl http_body::Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(b) = self.first.take() {
            self.pause = Some(Box::pin(tokio::time::sleep(
                std::time::Duration::from_millis(50),
            )));
            return Poll::Ready(Some(Ok(http_body::Frame::data(b))));
        }
        if let Some(p) = self.pause.as_mut() {
            if p.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated connection reset",
        ))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.total)
    }
}

/// Top-level collections: kind, rows, envelope key.
fn collection<'a>(
    ds: &'a Dataset,
    name: &str,
    minimal: bool,
) -> Option<(Kind, Cow<'a, [u32]>, &'static str)> {
    let filtered = |kind: Kind, keep: &dyn Fn(u32) -> bool| -> Cow<'a, [u32]> {
        Cow::Owned(kind.live(ds).iter().copied().filter(|&i| keep(i)).collect())
    };
    Some(match name {
        "orgs" => (Kind::Org, Cow::Borrowed(&ds.orgs.live[..]), "orgs"),
        "academicSessions" => (
            Kind::Session,
            Cow::Borrowed(&ds.sessions.live[..]),
            "academicSessions",
        ),
        "courses" => (Kind::Course, Cow::Borrowed(&ds.courses.live[..]), "courses"),
        "classes" => (Kind::Class, Cow::Borrowed(&ds.classes.live[..]), "classes"),
        "users" => (Kind::User, Cow::Borrowed(&ds.users.live[..]), "users"),
        "enrollments" => (
            Kind::Enrollment,
            Cow::Borrowed(&ds.enrollments.live[..]),
            "enrollments",
        ),
        "demographics" => (Kind::Demographic, Cow::Borrowed(&[][..]), "demographics"),
        _ if minimal => return None,
        "schools" => (
            Kind::Org,
            filtered(Kind::Org, &|i| {
                ds.orgs.rows[i as usize].kind == OrgType::School
            }),
            "orgs",
        ),
        "terms" => (
            Kind::Session,
            filtered(Kind::Session, &|i| {
                ds.sessions.rows[i as usize].kind == SessionType::Term
            }),
            "academicSessions",
        ),
        "gradingPeriods" => (
            Kind::Session,
            filtered(Kind::Session, &|i| {
                ds.sessions.rows[i as usize].kind == SessionType::GradingPeriod
            }),
            "academicSessions",
        ),
        "students" => (
            Kind::User,
            filtered(Kind::User, &|i| {
                ds.users.rows[i as usize].role == Role::Student
            }),
            "users",
        ),
        "teachers" => (
            Kind::User,
            filtered(Kind::User, &|i| {
                ds.users.rows[i as usize].role == Role::Teacher
            }),
            "users",
        ),
        _ => return None,
    })
}

/// Looks up one record of a top-level collection.
fn single(ds: &Dataset, name: &str, sid: &str, minimal: bool) -> Option<(Kind, u32)> {
    let (kind, rows, _) = collection(ds, name, minimal)?;
    let i = match kind {
        Kind::Org => ds.orgs.find(sid),
        Kind::Session => ds.sessions.find(sid),
        Kind::Course => ds.courses.find(sid),
        Kind::Class => ds.classes.find(sid),
        Kind::User => ds.users.find(sid),
        Kind::Enrollment => ds.enrollments.find(sid),
        Kind::Demographic => None,
    }?;
    // The filtered collections (schools, students, ...) only know their own.
    match rows {
        Cow::Borrowed(_) => Some((kind, i)),
        Cow::Owned(list) => list.binary_search(&i).is_ok().then_some((kind, i)),
    }
}

fn nested<'a>(
    ds: &'a Dataset,
    parent: &str,
    sid: &str,
    sub: &str,
) -> Result<(Kind, Cow<'a, [u32]>, &'static str), ApiError> {
    let users_in_class = |class: u32, role: Role| -> Vec<u32> {
        let mut v: Vec<u32> = ds
            .enrollments
            .iter_live()
            .filter(|(_, e)| e.class == class && e.role == role && ds.users.is_live(e.user))
            .map(|(_, e)| e.user)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let classes_of_user = |user: u32| -> Vec<u32> {
        let mut v: Vec<u32> = ds
            .enrollments
            .iter_live()
            .filter(|(_, e)| e.user == user && ds.classes.is_live(e.class))
            .map(|(_, e)| e.class)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let unknown = || ApiError::not_found(&format!("{parent} {sid}"));
    match parent {
        "schools" => {
            let s = ds
                .orgs
                .find(sid)
                .filter(|&i| ds.orgs.rows[i as usize].kind == OrgType::School)
                .ok_or_else(unknown)?;
            let users_with_role = |role: Role| -> Vec<u32> {
                ds.users
                    .iter_live()
                    .filter(|(_, u)| u.role == role && ds.user_orgs(u).any(|o| o == s))
                    .map(|(i, _)| i)
                    .collect()
            };
            Ok(match sub {
                "classes" => (
                    Kind::Class,
                    Cow::Owned(
                        ds.classes
                            .iter_live()
                            .filter(|(_, c)| c.school == s)
                            .map(|(i, _)| i)
                            .collect(),
                    ),
                    "classes",
                ),
                "students" => (
                    Kind::User,
                    Cow::Owned(users_with_role(Role::Student)),
                    "users",
                ),
                "teachers" => (
                    Kind::User,
                    Cow::Owned(users_with_role(Role::Teacher)),
                    "users",
                ),
                "enrollments" => (
                    Kind::Enrollment,
                    Cow::Owned(
                        ds.enrollments
                            .iter_live()
                            .filter(|(_, e)| e.school == s)
                            .map(|(i, _)| i)
                            .collect(),
                    ),
                    "enrollments",
                ),
                "courses" => (
                    Kind::Course,
                    Cow::Owned(
                        ds.courses
                            .iter_live()
                            .filter(|(_, c)| c.org == s)
                            .map(|(i, _)| i)
                            .collect(),
                    ),
                    "courses",
                ),
                "terms" => (
                    Kind::Session,
                    Cow::Owned(
                        ds.sessions
                            .iter_live()
                            .filter(|(_, x)| x.kind == SessionType::Term)
                            .map(|(i, _)| i)
                            .collect(),
                    ),
                    "academicSessions",
                ),
                _ => return Err(ApiError::not_found("endpoint")),
            })
        }
        "classes" => {
            let c = ds.classes.find(sid).ok_or_else(unknown)?;
            Ok(match sub {
                "students" => (
                    Kind::User,
                    Cow::Owned(users_in_class(c, Role::Student)),
                    "users",
                ),
                "teachers" => (
                    Kind::User,
                    Cow::Owned(users_in_class(c, Role::Teacher)),
                    "users",
                ),
                _ => return Err(ApiError::not_found("endpoint")),
            })
        }
        "users" | "students" | "teachers" if sub == "classes" => {
            let u = ds.users.find(sid).ok_or_else(unknown)?;
            let role = ds.users.rows[u as usize].role;
            if (parent == "students" && role != Role::Student)
                || (parent == "teachers" && role != Role::Teacher)
            {
                return Err(unknown());
            }
            Ok((Kind::Class, Cow::Owned(classes_of_user(u)), "classes"))
        }
        "terms" if sub == "classes" => {
            let t = ds.sessions.find(sid).ok_or_else(unknown)?;
            Ok((
                Kind::Class,
                Cow::Owned(
                    ds.classes
                        .iter_live()
                        .filter(|(_, c)| c.terms.contains(&t))
                        .map(|(i, _)| i)
                        .collect(),
                ),
                "classes",
            ))
        }
        "courses" if sub == "classes" => {
            let k = ds.courses.find(sid).ok_or_else(unknown)?;
            Ok((
                Kind::Class,
                Cow::Owned(
                    ds.classes
                        .iter_live()
                        .filter(|(_, c)| c.course == k)
                        .map(|(i, _)| i)
                        .collect(),
                ),
                "classes",
            ))
        }
        _ => Err(ApiError::not_found("endpoint")),
    }
}

fn route(
    sh: &Shared,
    ds: &Dataset,
    faults: &Faults,
    segs: &[&str],
    raw_query: Option<&str>,
    path: &str,
) -> Result<Answer, ApiError> {
    let mut ctx = Ctx::new(ds, &sh.href_base);
    ctx.mask_emails = faults.mask_emails;
    ctx.junk_enabled = faults.junk_enabled;
    ctx.incomplete_school = faults
        .incomplete_school
        .as_deref()
        .and_then(|s| ds.orgs.find(s));
    match segs {
        [name] => {
            let rows_of = || {
                collection(ds, name, faults.minimal).ok_or_else(|| ApiError::not_found("endpoint"))
            };
            let q = query_after(raw_query, sh.max_page_size, rows_of)?;
            let listed = listing(sh, &mut ctx, faults, &q, path, rows_of)?;
            page(sh, &mut ctx, faults, &listed, &q, path)
        }
        [name, sid] => {
            let (kind, i) = single(ds, name, sid, faults.minimal)
                .ok_or_else(|| ApiError::not_found(&format!("{name} {sid}")))?;
            let q = parse_query(raw_query, sh.max_page_size)?;
            let fields = projection(kind, &q);
            let mut body = Vec::with_capacity(1024);
            body.extend_from_slice(b"{\"");
            body.extend_from_slice(kind.single_key().as_bytes());
            body.extend_from_slice(b"\":");
            ctx.encode(kind, i, fields, &mut body);
            body.push(b'}');
            Ok(Answer {
                body,
                huge: None,
                headers: vec![("x-perm-rev", sh.perm_rev.load(Ordering::SeqCst).to_string())],
                collection: false,
            })
        }
        [parent, sid, sub] if !faults.minimal => {
            let rows_of = || nested(ds, parent, sid, sub);
            let q = query_after(raw_query, sh.max_page_size, rows_of)?;
            let listed = listing(sh, &mut ctx, faults, &q, path, rows_of)?;
            page(sh, &mut ctx, faults, &listed, &q, path)
        }
        _ => Err(ApiError::not_found("endpoint")),
    }
}

/// The `fields` projection; unknown field names mean "all fields" (OneRoster 1.1 §3.3).
fn projection(kind: Kind, q: &Query) -> Option<&[String]> {
    let f = q.fields.as_deref()?;
    f.iter()
        .all(|x| kind.fields().contains(&x.as_str()))
        .then_some(f)
}

fn sort_rows(ctx: &mut Ctx<'_>, kind: Kind, rows: &mut Vec<u32>, field: &str, descending: bool) {
    let ds = ctx.ds;
    match field {
        "sourcedId" => match kind.ids(ds) {
            Ids::Generated { .. } => rows.sort_unstable(),
            ids => rows.sort_by_cached_key(|&i| ids.get(i)),
        },
        "dateLastModified" => rows.sort_by_key(|&i| (kind.modified(ds, i), i)),
        "status" => rows.sort_by_key(|&i| (kind.status(ds, i).as_str(), i)),
        f => {
            let mut keyed: Vec<(String, u32)> = rows
                .iter()
                .map(|&i| {
                    let key = match ctx.field_value(kind, i, f) {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        v => v.to_string(),
                    };
                    (key, i)
                })
                .collect();
            keyed.sort();
            *rows = keyed.into_iter().map(|(_, i)| i).collect();
        }
    }
    if descending {
        rows.reverse();
    }
}

/// A collection's rows, their kind and envelope key, and where they come from.
type Rows<'d> = (Kind, Cow<'d, [u32]>, &'static str);

/// The query of a collection request, parsed after the collection is known to exist:
/// an unknown endpoint answers 404 even when its query is malformed too.
fn query_after<'d>(
    raw_query: Option<&str>,
    max_page_size: u32,
    rows_of: impl FnOnce() -> Result<Rows<'d>, ApiError>,
) -> Result<Query, ApiError> {
    parse_query(raw_query, max_page_size).or_else(|bad| {
        rows_of()?;
        Err(bad.into())
    })
}

/// The rows a collection request lists, filtered and sorted, before paging.
enum Listed<'d> {
    /// A whole table, borrowed from the data set.
    Whole {
        kind: Kind,
        envelope: &'static str,
        rows: &'d [u32],
    },
    /// A list made for this request shape, shared with its other pages.
    Kept(Arc<Listing>),
}

impl Listed<'_> {
    fn kind(&self) -> Kind {
        match self {
            Listed::Whole { kind, .. } => *kind,
            Listed::Kept(l) => l.kind,
        }
    }
    fn envelope(&self) -> &'static str {
        match self {
            Listed::Whole { envelope, .. } => envelope,
            Listed::Kept(l) => l.envelope,
        }
    }
    fn rows(&self) -> &[u32] {
        match self {
            Listed::Whole { rows, .. } => rows,
            Listed::Kept(l) => &l.rows,
        }
    }
}

/// Filters and sorts the rows `rows_of` gives, or takes the list an earlier page of the
/// same request shape made (see [`crate::listing`]): only the first page pays for
/// going through the whole collection.
fn listing<'d>(
    sh: &Shared,
    ctx: &mut Ctx<'d>,
    faults: &Faults,
    q: &Query,
    path: &str,
    rows_of: impl FnOnce() -> Result<Rows<'d>, ApiError>,
) -> Result<Listed<'d>, ApiError> {
    let key = ListingKey::new(ctx.ds.revision, path, q, faults);
    if let Some(kept) = sh.listings.get(&key) {
        return Ok(Listed::Kept(kept));
    }
    let (kind, mut rows, envelope) = rows_of()?;
    if let Some(f) = q.filter.as_ref().filter(|_| !faults.minimal) {
        f.validate(kind)?;
        rows = Cow::Owned(
            rows.iter()
                .copied()
                .filter(|&i| f.matches(ctx, kind, i))
                .collect(),
        );
    }
    if let Some(field) = q.sort.as_deref()
        && kind.fields().contains(&field)
    {
        let mut v = rows.into_owned();
        sort_rows(ctx, kind, &mut v, field, q.descending);
        rows = Cow::Owned(v);
    }
    Ok(match rows {
        Cow::Borrowed(rows) => Listed::Whole {
            kind,
            envelope,
            rows,
        },
        Cow::Owned(rows) => {
            let made = Arc::new(Listing {
                kind,
                envelope,
                rows,
            });
            sh.listings.insert(key, made.clone());
            Listed::Kept(made)
        }
    })
}

fn page(
    sh: &Shared,
    ctx: &mut Ctx<'_>,
    faults: &Faults,
    listed: &Listed<'_>,
    q: &Query,
    path: &str,
) -> Result<Answer, ApiError> {
    let (kind, key, rows) = (listed.kind(), listed.envelope(), listed.rows());
    let fields = projection(kind, q);
    let total = rows.len() as u64;
    let offset = if faults.ignore_offset { 0 } else { q.offset };
    let start = offset.min(total) as usize;
    let end = (offset.saturating_add(q.limit)).min(total) as usize;
    let slice = &rows[start..end];
    let mut body = Vec::with_capacity(slice.len() * 700 + 64);
    if faults.bare_array {
        body.push(b'[');
    } else {
        body.extend_from_slice(b"{\"");
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(b"\":[");
    }
    for (n, &i) in slice.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        ctx.encode(kind, i, fields, &mut body);
    }
    body.push(b']');
    if !faults.bare_array {
        body.push(b'}');
    }
    let perm_rev = if faults.perm_rev_change {
        sh.perm_rev.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        sh.perm_rev.load(Ordering::SeqCst)
    };
    let announced = faults
        .ignore_offset_announced
        .filter(|_| faults.ignore_offset)
        .unwrap_or(total);
    let link = link_header(&sh.base_url, path, q, announced, faults.next_past_end);
    let huge = faults
        .huge_page_mib
        .filter(|_| key == "users" && path.ends_with("/users") && q.offset == 0)
        .map(|mib| HugePage {
            bytes: mib.saturating_mul(1024 * 1024),
            chunked: faults.huge_page_chunked,
        });
    Ok(Answer {
        body,
        huge,
        headers: vec![
            ("x-total-count", announced.to_string()),
            ("x-count", announced.to_string()),
            ("link", link),
            ("x-perm-rev", perm_rev.to_string()),
        ],
        collection: true,
    })
}

fn link_header(base_url: &str, path: &str, q: &Query, total: u64, next_past_end: bool) -> String {
    let mut kept = String::new();
    for (k, v) in q
        .pairs
        .iter()
        .filter(|(k, _)| k != "limit" && k != "offset")
    {
        kept.push_str(&crate::auth::enc(k));
        kept.push('=');
        kept.push_str(&crate::auth::enc(v));
        kept.push('&');
    }
    let url = |offset: u64| format!("<{base_url}{path}?{kept}limit={}&offset={offset}>", q.limit);
    let limit = q.limit.max(1);
    let last = if total == 0 {
        0
    } else {
        (total - 1) / limit * limit
    };
    let mut parts = vec![
        format!("{}; rel=\"first\"", url(0)),
        format!("{}; rel=\"last\"", url(last)),
    ];
    if q.offset > 0 {
        parts.push(format!(
            "{}; rel=\"prev\"",
            url(q.offset.saturating_sub(limit))
        ));
    }
    let next = q.offset.saturating_add(limit);
    if next < total || next_past_end {
        parts.push(format!("{}; rel=\"next\"", url(next)));
    }
    parts.join(", ")
}

async fn admin(sh: &Shared, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => b,
        Err(_) => return admin_error(400, "body too large or unreadable"),
    };
    let ok = |v: serde_json::Value| json_response(200, serde_json::to_vec(&v).unwrap_or_default());
    match (method, path.as_str()) {
        (Method::GET, "/admin/health") => ok(serde_json::json!({"status": "ok"})),
        (Method::GET, "/admin/metrics") => {
            ok(serde_json::to_value(sh.metrics()).unwrap_or_default())
        }
        (Method::DELETE, "/admin/metrics") => {
            sh.reset_metrics();
            ok(serde_json::to_value(sh.metrics()).unwrap_or_default())
        }
        (Method::GET, "/admin/faults") => ok(serde_json::to_value(sh.faults()).unwrap_or_default()),
        (Method::PUT, "/admin/faults") => {
            let Ok(map) =
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
            else {
                return admin_error(
                    400,
                    "expected a JSON object of fault name to value, e.g. {\"rate-limit\":\"0.5:2\"}",
                );
            };
            let mut parsed = Vec::new();
            for (name, v) in map {
                let value = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => "false".into(),
                    other => other.to_string(),
                };
                match Fault::parse(&name, &value) {
                    Ok(f) => parsed.push(f),
                    Err(e) => return admin_error(400, &e),
                }
            }
            for f in parsed {
                sh.set_fault(f);
            }
            ok(serde_json::to_value(sh.faults()).unwrap_or_default())
        }
        (Method::DELETE, "/admin/faults") => {
            sh.clear_faults();
            ok(serde_json::to_value(sh.faults()).unwrap_or_default())
        }
        (Method::POST, "/admin/mutations") => {
            let m: Mutation = match serde_json::from_slice(&body) {
                Ok(m) => m,
                Err(e) => return admin_error(400, &format!("not a mutation: {e}")),
            };
            match sh.mutate(&m) {
                Ok(report) => ok(serde_json::to_value(report).unwrap_or_default()),
                Err(e) => admin_error(400, &e.to_string()),
            }
        }
        (Method::GET, "/admin/stats") => ok(serde_json::to_value(sh.stats()).unwrap_or_default()),
        _ => admin_error(404, "unknown admin endpoint"),
    }
}

fn admin_error(status: u16, message: &str) -> Response {
    json_response(
        status,
        serde_json::to_vec(&serde_json::json!({"error": message})).unwrap_or_default(),
    )
}

#[cfg(test)]
mod huge_page_tests {
    use super::*;

    fn whole(bytes: u64) -> Vec<u8> {
        let mut body = HugeBody::new(HugePage {
            bytes,
            chunked: false,
        });
        let mut out = Vec::new();
        while let Some(chunk) = body.next_chunk() {
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[test]
    fn the_huge_page_is_valid_json_of_exactly_its_size() {
        for bytes in [12, 61, 62, 1000, 65_600, 300_001] {
            let body = whole(bytes);
            assert_eq!(body.len() as u64, bytes);
            let page: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
            let users = page["users"].as_array().expect("users");
            assert_eq!(
                users.len() as u64,
                HugeBody::new(HugePage {
                    bytes,
                    chunked: false
                })
                .records
            );
            if let Some(last) = users.last() {
                assert_eq!(last["status"], "active");
            }
        }
    }
}
