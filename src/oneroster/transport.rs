//! One place that talks HTTP: authentication headers, the in-flight bound, timeouts,
//! retries with backoff, bounded body reads, and the mapping of every failure onto
//! an [`Error`] (and so onto an error code).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode, Url};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::{Mutex, Semaphore};

use super::config::{
    Auth, ClientConfig, MemoryBudget, RetryNotice, RetryObserver, RetryPolicy, Secret,
    SignatureMethod,
};
use super::decode::{DecodeError, imsx_description, looks_like_html};
use super::error::{Error, SentCredentials, likely_cause_of_401};
use super::oauth1::{Nonce, authorization_header};
use super::redact::Redactor;
use super::url::{Target, display_url, encode, parse_http_url};

/// Retries left for one fetch, shared by all of its requests.
#[derive(Debug)]
pub(crate) struct RetryBudget(AtomicU32);

impl RetryBudget {
    pub fn new(retries: u32) -> Self {
        RetryBudget(AtomicU32::new(retries))
    }

    /// Takes one retry; false when the budget is spent.
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

/// Bytes of one body counted in the client's ledger of bytes in flight; given back when
/// dropped.
pub(crate) struct BytesLease<'a> {
    ledger: &'a AtomicUsize,
    held: usize,
}

impl<'a> BytesLease<'a> {
    /// A lease on `ledger` that holds nothing yet.
    fn new(ledger: &'a AtomicUsize) -> Self {
        BytesLease { ledger, held: 0 }
    }

    /// Holds `wanted` bytes in all (no change when it already does); false, holding what
    /// it held, when the ledger would go beyond `max`.
    fn grow_to(&mut self, wanted: usize, max: usize) -> bool {
        let Some(more) = wanted.checked_sub(self.held).filter(|&more| more > 0) else {
            return true;
        };
        let taken = self
            .ledger
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                now.checked_add(more).filter(|&after| after <= max)
            })
            .is_ok();
        if taken {
            self.held += more;
        }
        taken
    }
}

impl Drop for BytesLease<'_> {
    fn drop(&mut self) {
        self.ledger.fetch_sub(self.held, Ordering::SeqCst);
    }
}

/// A successful page answer: body and the paging headers.
#[derive(Debug)]
pub(crate) struct PageResponse {
    pub body: Vec<u8>,
    /// `X-Total-Count` (or ClassLink's `x-count`).
    pub total: Option<u64>,
    /// `Link: <...>; rel="next"`, resolved against the request URL.
    pub next: Option<Url>,
    /// `x-perm-rev`.
    pub perm_rev: Option<String>,
}

/// How one attempt failed.
enum Failure {
    /// Not worth retrying.
    Final(Error),
    /// 429, 5xx or a reset: try again after the backoff or `Retry-After`.
    Retry {
        error: Error,
        retry_after: Option<Duration>,
    },
    /// 401 with an OAuth 2.0 token: fetch a new token once, then try again.
    Unauthorized { error: Error, token_generation: u64 },
}

/// A compressed body starts with room for the largest body of its collection so far plus
/// this fraction of it (1/16): pages of one collection differ by a few percent.
const BODY_ROOM_DIVISOR: usize = 16;

pub(crate) struct Transport {
    http: reqwest::Client,
    auth: Authenticator,
    retry: RetryPolicy,
    request_timeout: Duration,
    memory: MemoryBudget,
    /// Raw body bytes held right now by all requests of this client (one sync).
    bytes_in_flight: AtomicUsize,
    /// The largest body read so far from each collection's path: a compressed body
    /// announces no length, and the next page of the collection reserves about this much.
    body_sizes: std::sync::Mutex<HashMap<String, usize>>,
    in_flight: Semaphore,
    redactor: Redactor,
    on_retry: Option<RetryObserver>,
}

impl Transport {
    pub fn new(config: &ClientConfig) -> Result<Self, Error> {
        let auth = Authenticator::new(&config.auth, config.allow_insecure_http)?;
        let tls = tls_config(config.extra_ca_pem.as_deref())?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            // `Accept-Encoding: gzip`: a server that agrees sends its answers compressed
            // (about a tenth of a page's bytes); reqwest inflates them as they arrive, so
            // every body read below and every byte limit sees the inflated bytes.
            .gzip(true)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("classlink-operator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::EndpointInvalid {
                reason: format!("cannot set up the HTTP client: {}", chain(&e.without_url())),
            })?;
        Ok(Transport {
            http,
            auth,
            retry: RetryPolicy {
                attempts: config.retry.attempts.max(1),
                ..config.retry.clone()
            },
            request_timeout: config.request_timeout,
            memory: config.memory,
            bytes_in_flight: AtomicUsize::new(0),
            body_sizes: std::sync::Mutex::default(),
            in_flight: Semaphore::new(config.max_concurrent_requests.max(1)),
            redactor: Redactor::new(config.auth.secrets().iter().map(String::as_str)),
            on_retry: config.on_retry.clone(),
        })
    }

    /// A fresh retry budget for one fetch.
    pub fn budget(&self) -> RetryBudget {
        RetryBudget::new(self.retry.budget)
    }

    /// The memory budget this client's requests share.
    pub fn memory(&self) -> MemoryBudget {
        self.memory
    }

    /// GETs one page and decodes it with `decode` (given the body and the total the page
    /// announced), with authentication and retries. A body that fails to decode as JSON
    /// (cut short, garbled) is fetched again like a reset; an answer that is not
    /// OneRoster at all, or that breaks the memory budget, is final.
    ///
    /// The request's place among the `max_concurrent_requests` is given back once the
    /// body is read, before it is decoded, so another request goes out while it is.
    pub async fn get_page<T, D>(
        &self,
        target: &Target,
        budget: &RetryBudget,
        decode: impl Fn(Vec<u8>, Option<u64>) -> D,
    ) -> Result<(PageResponse, T), Error>
    where
        D: Future<Output = Result<T, DecodeError>>,
    {
        let result = self
            .with_retries(budget, || async {
                let (mut response, lease) = self.get_page_once(target, budget).await?;
                // The raw body lives only until it is decoded; its bytes count against
                // the budget until then.
                let body = std::mem::take(&mut response.body);
                let decoded = decode(body, response.total).await;
                drop(lease);
                match decoded {
                    Ok(decoded) => Ok((response, decoded)),
                    Err(DecodeError::TooLarge(reason)) => {
                        Err(Failure::Final(Error::MemoryBudgetExceeded {
                            url: target.display(),
                            reason,
                        }))
                    }
                    Err(DecodeError::TooManyRecords { limit }) => {
                        Err(Failure::Final(Error::MemoryBudgetExceeded {
                            url: target.display(),
                            reason: format!(
                                "the collection has far more records than the server announced \
                                 (X-Total-Count): this page holds more than the {limit} still allowed \
                                 (twice the announced total plus one page)"
                            ),
                        }))
                    }
                    Err(DecodeError::NotOneRoster(reason)) => {
                        Err(Failure::Final(Error::NotOneRosterApi {
                            url: target.display(),
                            reason,
                        }))
                    }
                    Err(DecodeError::Malformed(reason)) => Err(Failure::Retry {
                        error: Error::MalformedResponse {
                            url: target.display(),
                            reason,
                        },
                        retry_after: None,
                    }),
                }
            })
            .await;
        result.map_err(|e| self.scrub(e))
    }

    fn scrub(&self, error: Error) -> Error {
        error.scrub(&self.redactor)
    }

    async fn get_page_once(
        &self,
        target: &Target,
        budget: &RetryBudget,
    ) -> Result<(PageResponse, BytesLease<'_>), Failure> {
        let (authorization, token_generation) = self
            .auth
            .authorization(target, budget, self)
            .await
            .map_err(Failure::Final)?;
        let url = target.to_url();
        let shown = target.display();
        let permit = self.in_flight.acquire().await.map_err(|_| {
            Failure::Final(Error::EndpointUnreachable {
                url: shown.clone(),
                reason: "the client is shutting down".into(),
            })
        })?;
        let mut response = self
            .http
            .get(url.clone())
            .header(header::AUTHORIZATION, authorization)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_failure(e, &shown))?;
        let status = response.status();
        if !status.is_success() {
            let failure = self.status_failure(response, &shown).await;
            return Err(match failure {
                Failure::Final(error @ Error::AuthenticationFailed { .. })
                    if token_generation.is_some() =>
                {
                    Failure::Unauthorized {
                        error,
                        token_generation: token_generation.unwrap_or_default(),
                    }
                }
                other => other,
            });
        }
        let headers = response.headers().clone();
        if is_html(&headers) {
            return Err(Failure::Final(Error::NotOneRosterApi {
                url: shown,
                reason: "the answer is an HTML page, not JSON".into(),
            }));
        }
        let path = target.url.path();
        let (body, lease) = self.read_body(&mut response, &shown, path, permit).await?;
        let response = PageResponse {
            body,
            total: header_u64(&headers, "x-total-count")
                .or_else(|| header_u64(&headers, "x-count")),
            next: next_link(&headers, &url),
            perm_rev: headers
                .get("x-perm-rev")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
        };
        Ok((response, lease))
    }

    /// Reads the body, counting its bytes against the budget of bytes in flight (the
    /// announced `Content-Length` at once, before anything is allocated), and gives the
    /// request's place (`permit`) back as soon as the last byte is in. A compressed body
    /// (`Content-Encoding: gzip`) is inflated by reqwest as it arrives, so its bytes here
    /// and in the budget are the inflated ones, counted piece by piece (a few KiB at a
    /// time): one that would inflate beyond the budget is refused as soon as it reaches
    /// it. Its inflated length is not known in advance, so it starts with room for a
    /// little more than the largest body read so far from the same `path` (when the budget
    /// allows that much) and is not copied as it grows. A body grown by doubling ends in a
    /// block up to twice its size, and blocks of 8 MiB or more are ones jemalloc gives back
    /// to the system at once: every page then faulted in fresh memory (0.4 of the 1.0 s of
    /// system time of `large`'s nightly sync).
    async fn read_body(
        &self,
        response: &mut Response,
        shown: &str,
        path: &str,
        permit: tokio::sync::SemaphorePermit<'_>,
    ) -> Result<(Vec<u8>, BytesLease<'_>), Failure> {
        // reqwest gives no length for a body it inflates (the header counts the
        // compressed bytes).
        let announced = response
            .content_length()
            .map(|length| usize::try_from(length).unwrap_or(usize::MAX));
        let max = self.memory.max_bytes_in_flight;
        let mut lease = BytesLease::new(&self.bytes_in_flight);
        let room = match announced {
            Some(length) => {
                if !lease.grow_to(length, max) {
                    return Err(Failure::Final(self.too_large(shown)));
                }
                length
            }
            None => {
                let largest = self.body_sizes().get(path).copied().unwrap_or(0);
                let room = largest.saturating_add(largest / BODY_ROOM_DIVISOR);
                if lease.grow_to(room, max) { room } else { 0 }
            }
        };
        let mut body = Vec::with_capacity(room);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if !lease.grow_to(body.len().saturating_add(chunk.len()), max) {
                        return Err(Failure::Final(self.too_large(shown)));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport_failure(e, shown)),
            }
        }
        // The server has answered in full: the next request may go while this one's body
        // is decoded.
        drop(permit);
        let mut sizes = self.body_sizes();
        if sizes.get(path).is_none_or(|&largest| largest < body.len()) {
            sizes.insert(path.to_owned(), body.len());
        }
        Ok((body, lease))
    }

    fn body_sizes(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // The map holds only sizes: one left by a thread that panicked is still right.
        self.body_sizes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn too_large(&self, shown: &str) -> Error {
        Error::MemoryBudgetExceeded {
            url: shown.to_owned(),
            reason: format!(
                "the pages being read at once would hold more than {} MiB; lower maxConcurrentRequests or pageSize",
                self.memory.max_bytes_in_flight / (1024 * 1024)
            ),
        }
    }

    /// Maps a transport error: connection failures are final; a timeout is retried like a
    /// 5xx (one slow page must not fail a sync; the sync deadline bounds the retries), and
    /// anything that breaks an established exchange is a reset worth retrying.
    fn transport_failure(&self, error: reqwest::Error, shown: &str) -> Failure {
        let url = shown.to_owned();
        if error.is_decode() && is_undecompressable(&error) {
            // A compressed body that does not inflate (not gzip, corrupt, cut short inside
            // the stream) is garbled like a broken JSON body: fetched again, then
            // MalformedResponse.
            return Failure::Retry {
                error: Error::MalformedResponse {
                    url,
                    reason: format!(
                        "the compressed body could not be decompressed: {}",
                        chain(&error.without_url())
                    ),
                },
                retry_after: None,
            };
        }
        if error.is_connect() {
            return Failure::Final(Error::EndpointUnreachable {
                url,
                reason: chain(&error.without_url()),
            });
        }
        if error.is_timeout() {
            return Failure::Retry {
                error: Error::RequestTimeout {
                    url,
                    after: self.request_timeout,
                    attempts: 1,
                },
                retry_after: None,
            };
        }
        Failure::Retry {
            error: Error::ConnectionReset {
                url,
                attempts: 1,
                reason: chain(&error.without_url()),
            },
            retry_after: None,
        }
    }

    /// Maps a non-2xx answer.
    async fn status_failure(&self, response: Response, shown: &str) -> Failure {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Url::parse(v).ok())
            .map(|u| display_url(&u));
        let description = error_description(response).await;
        let url = shown.to_owned();
        match status {
            StatusCode::UNAUTHORIZED => Failure::Final(Error::AuthenticationFailed {
                likely_cause: likely_cause_of_401(self.auth.sent(), description.as_deref()),
                url,
                description,
            }),
            StatusCode::FORBIDDEN => Failure::Final(Error::AccessDenied { url, description }),
            StatusCode::TOO_MANY_REQUESTS => Failure::Retry {
                error: Error::RateLimited {
                    url,
                    attempts: 1,
                    description,
                },
                retry_after,
            },
            StatusCode::NOT_IMPLEMENTED => Failure::Final(Error::NotOneRosterApi {
                url,
                reason: with_description("the server does not implement it (501)", description),
            }),
            s if s.is_server_error() => Failure::Retry {
                error: Error::ServerError {
                    url,
                    status: s.as_u16(),
                    attempts: 1,
                    description,
                },
                retry_after,
            },
            StatusCode::NOT_FOUND => Failure::Final(Error::NotOneRosterApi {
                url,
                reason: with_description("no such collection (404)", description),
            }),
            s if s.is_redirection() => Failure::Final(Error::NotOneRosterApi {
                url,
                reason: format!(
                    "the server redirects ({}) to {}",
                    s.as_u16(),
                    location.unwrap_or_else(|| "another page".into())
                ),
            }),
            s => Failure::Final(Error::NotOneRosterApi {
                url,
                reason: with_description(
                    &format!("the server rejected the request ({})", s.as_u16()),
                    description,
                ),
            }),
        }
    }

    /// Runs `once` until it succeeds, fails for good, or runs out of attempts or budget.
    async fn with_retries<T, F, Fut>(&self, budget: &RetryBudget, mut once: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut attempts = 0u32;
        let mut refreshed_token = false;
        loop {
            attempts += 1;
            let (error, retry_after) = match once().await {
                Ok(value) => return Ok(value),
                Err(Failure::Final(error)) => return Err(error),
                Err(Failure::Unauthorized {
                    error,
                    token_generation,
                }) => {
                    if refreshed_token {
                        return Err(error);
                    }
                    // The token may have been revoked early: fetch a new one, once.
                    refreshed_token = true;
                    self.auth.invalidate(token_generation).await;
                    attempts -= 1;
                    continue;
                }
                Err(Failure::Retry { error, retry_after }) => (error, retry_after),
            };
            let error = with_attempts(error, attempts);
            if attempts >= self.retry.attempts || !budget.take() {
                return Err(error);
            }
            let wait = match retry_after {
                Some(asked) if asked > self.retry.max_retry_after => {
                    return Err(match error {
                        Error::RateLimited { url, attempts, .. } => Error::RateLimited {
                            url,
                            attempts,
                            description: Some(format!(
                                "the server asked to wait {}s, longer than the {}s allowed",
                                asked.as_secs(),
                                self.retry.max_retry_after.as_secs()
                            )),
                        },
                        other => other,
                    });
                }
                // Honour the server's cool-down, plus a little jitter so parallel
                // requests do not come back at the same instant.
                Some(asked) => asked + jitter(asked / 10),
                None => backoff(&self.retry, attempts),
            };
            if let Some(observer) = &self.on_retry {
                observer.notify(&RetryNotice {
                    code: error.code(),
                    attempt: attempts,
                    wait,
                    retry_after,
                });
            }
            tracing::debug!(
                code = error.code().as_str(),
                attempt = attempts,
                wait_ms = wait.as_millis() as u64,
                "retrying a OneRoster request"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// Full jitter: a random wait between zero and `min(cap, base * 2^(attempt - 1))`.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let ceiling = policy.base.saturating_mul(1u32 << exponent).min(policy.cap);
    jitter(ceiling)
}

fn jitter(ceiling: Duration) -> Duration {
    let ceiling_ms = ceiling.as_millis().min(u64::MAX as u128) as u64;
    Duration::from_millis(fastrand::u64(0..=ceiling_ms))
}

fn with_attempts(mut error: Error, n: u32) -> Error {
    match &mut error {
        Error::RateLimited { attempts, .. }
        | Error::ServerError { attempts, .. }
        | Error::RequestTimeout { attempts, .. }
        | Error::ConnectionReset { attempts, .. } => *attempts = n,
        _ => {}
    }
    error
}

fn with_description(text: &str, description: Option<String>) -> String {
    match description {
        Some(d) => format!("{text}: {d}"),
        None => text.to_owned(),
    }
}

/// What the server said in an error answer (its body read up to 64 KiB): RFC 6749's
/// `error` and `error_description` (`insufficient_scope`, `invalid_token`), or
/// OneRoster's `imsx_description`. Redacted and cut by the caller.
async fn error_description(mut response: Response) -> Option<String> {
    const LIMIT: usize = 64 * 1024;
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > LIMIT {
            return None;
        }
    }
    let text = oauth_error_text(&body);
    text.strip_prefix(": ").map(str::to_owned)
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("html"))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
pub(crate) fn next_link(headers: &HeaderMap, base: &Url) -> Option<Url> {
    for value in headers.get_all(header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        let mut rest = value;
        while let Some(open) = rest.find('<') {
            let after_open = &rest[open + 1..];
            let close = after_open.find('>')?;
            let target = &after_open[..close];
            let params_and_rest = &after_open[close + 1..];
            let params_end = params_and_rest.find('<').unwrap_or(params_and_rest.len());
            let params = &params_and_rest[..params_end];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p.strip_prefix("rel=")
                    .map(|rel| rel.trim_matches('"'))
                    .is_some_and(|rel| {
                        rel.split_whitespace()
                            .any(|r| r.eq_ignore_ascii_case("next"))
                    })
            });
            if is_next {
                return base.join(target.trim()).ok();
            }
            rest = &params_and_rest[params_end..];
        }
    }
    None
}

/// Whether reading a body failed because its compressed bytes do not inflate (not gzip,
/// corrupt, or cut short inside the stream while the connection ended cleanly), not
/// because the connection broke or timed out under the decompressor. reqwest wraps both
/// in its own errors; below them, the decompressor's is an I/O error, the connection's is
/// hyper's (or reqwest's timeout).
fn is_undecompressable(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source.filter(|inner| inner.is::<reqwest::Error>()) {
        source = inner.source();
    }
    source
        .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        .is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::UnexpectedEof
            )
        })
}

/// The messages of an error and its sources, without URLs.
fn chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = inner.source();
    }
    parts.join(": ")
}

/// Verifiers of the platform's roots kept for reuse, one for each extra CA bundle (the
/// operator reads its one bundle, or none, when it starts).
const VERIFIERS_KEPT: usize = 8;

/// The platform's verifier with `extra` roots beside the platform's own. Making one reads
/// and parses every certificate of the platform's store (on Debian, the bundle and 146
/// files: 12-18 ms in a test build), and a client is built for every sync, so each is made
/// once per process and shared; the platform's store changes with the image, which a new
/// process brings. Of more than [`VERIFIERS_KEPT`] extra bundles, the oldest is made again
/// when next asked for. Every client uses one crypto provider (ring's), so the provider of
/// the first call is the one a kept verifier has.
fn platform_verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<rustls_platform_verifier::Verifier>, rustls::Error> {
    type Made = Vec<(
        Vec<CertificateDer<'static>>,
        Arc<rustls_platform_verifier::Verifier>,
    )>;
    static MADE: std::sync::Mutex<Made> = std::sync::Mutex::new(Vec::new());
    // Held while a verifier is made, so syncs that start at once read the store once. The
    // list holds only finished verifiers: one left by a thread that panicked is still right.
    let mut made = MADE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, verifier)) = made.iter().find(|(roots, _)| *roots == extra) {
        return Ok(verifier.clone());
    }
    let verifier = Arc::new(rustls_platform_verifier::Verifier::new_with_extra_roots(
        extra.clone(),
        provider,
    )?);
    if made.len() >= VERIFIERS_KEPT {
        made.remove(0);
    }
    made.push((extra, verifier.clone()));
    Ok(verifier)
}

/// TLS with rustls and the ring provider: the platform's roots plus the extra CA bundle.
fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, Error> {
    let invalid = |reason: String| Error::EndpointInvalid { reason };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra: Vec<CertificateDer<'static>> = match extra_ca_pem {
        None => Vec::new(),
        Some(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(format!("the extra CA bundle is not valid PEM: {e}")))?;
            if certs.is_empty() {
                return Err(invalid(
                    "the extra CA bundle contains no certificates".into(),
                ));
            }
            certs
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("cannot set up TLS: {e}")))?;
    let config = match platform_verifier(extra.clone(), provider) {
        Ok(verifier) => builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
        Err(platform_error) => {
            // No system roots (a minimal image): trust only the extra bundle. With no
            // bundle either, every TLS handshake fails with EndpointUnreachable naming
            // the certificate problem.
            tracing::warn!(error = %platform_error, "no platform CA certificates; trusting only the extra CA bundle");
            let mut roots = rustls::RootCertStore::empty();
            for cert in extra {
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("the extra CA bundle is not usable: {e}")))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

// ---- authentication ---------------------------------------------------------------

enum Authenticator {
    OAuth1 {
        client_id: String,
        client_secret: Secret,
        method: SignatureMethod,
    },
    OAuth2(Box<OAuth2>),
    Bearer(Secret),
}

impl Authenticator {
    /// How this authenticator authenticates requests, for the cause of a 401.
    fn sent(&self) -> SentCredentials {
        match self {
            Authenticator::OAuth1 { method, .. } => SentCredentials::OAuth1(*method),
            Authenticator::OAuth2(_) => SentCredentials::OAuth2,
            Authenticator::Bearer(_) => SentCredentials::Bearer,
        }
    }
}

struct OAuth2 {
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    scopes: Vec<String>,
    cache: Mutex<Option<CachedToken>>,
    generation: AtomicU64,
}

struct CachedToken {
    value: Secret,
    refresh_at: Instant,
    generation: u64,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

impl Authenticator {
    fn new(auth: &Auth, allow_insecure_http: bool) -> Result<Self, Error> {
        Ok(match auth {
            Auth::OAuth1 {
                client_id,
                client_secret,
                signature_method,
            } => Authenticator::OAuth1 {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                method: *signature_method,
            },
            Auth::OAuth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scopes,
            } => Authenticator::OAuth2(Box::new(OAuth2 {
                token_url: parse_http_url(token_url.trim(), allow_insecure_http, "token")?,
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                scopes: scopes.clone(),
                cache: Mutex::new(None),
                generation: AtomicU64::new(0),
            })),
            Auth::Bearer { token } => Authenticator::Bearer(token.clone()),
        })
    }

    /// The `Authorization` header for one attempt, and the OAuth 2.0 token generation
    /// it carries (to invalidate exactly that token on 401).
    async fn authorization(
        &self,
        target: &Target,
        budget: &RetryBudget,
        transport: &Transport,
    ) -> Result<(HeaderValue, Option<u64>), Error> {
        let (text, generation) = match self {
            Authenticator::OAuth1 {
                client_id,
                client_secret,
                method,
            } => {
                let header = authorization_header(
                    target,
                    client_id,
                    client_secret.expose(),
                    *method,
                    &Nonce::fresh(),
                );
                // A server may echo the signature: it is redacted like a secret.
                transport.redactor.remember_signature(&header);
                (header, None)
            }
            Authenticator::Bearer(token) => (format!("Bearer {}", token.expose()), None),
            Authenticator::OAuth2(oauth2) => {
                let (token, generation) = oauth2.token(budget, transport).await?;
                (format!("Bearer {}", token.expose()), Some(generation))
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| Error::EndpointInvalid {
            reason: "the credentials contain characters that cannot be sent in an HTTP header"
                .into(),
        })?;
        value.set_sensitive(true);
        Ok((value, generation))
    }

    async fn invalidate(&self, generation: u64) {
        if let Authenticator::OAuth2(oauth2) = self {
            let mut cache = oauth2.cache.lock().await;
            if cache.as_ref().is_some_and(|t| t.generation == generation) {
                *cache = None;
            }
        }
    }
}

impl OAuth2 {
    /// The cached token, or a new one when there is none or it is about to expire.
    /// The lock is held while fetching, so parallel requests share one token request.
    async fn token(
        &self,
        budget: &RetryBudget,
        transport: &Transport,
    ) -> Result<(Secret, u64), Error> {
        let mut cache = self.cache.lock().await;
        if let Some(token) = cache.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok((token.value.clone(), token.generation));
        }
        let (value, lifetime) = transport
            .with_retries(budget, || self.request_token(&transport.http))
            .await
            .map_err(|e| transport.scrub(e))?;
        // A server may echo the token it issued: from now on it is redacted like a secret.
        transport.redactor.remember(value.expose());
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        *cache = Some(CachedToken {
            value: value.clone(),
            refresh_at: Instant::now() + refresh_after(lifetime),
            generation,
        });
        Ok((value, generation))
    }

    async fn request_token(&self, http: &reqwest::Client) -> Result<(Secret, Duration), Failure> {
        let shown = display_url(&self.token_url);
        let failed = |reason: String| Error::TokenRequestFailed {
            url: shown.clone(),
            reason,
        };
        let mut form = String::from("grant_type=client_credentials");
        if !self.scopes.is_empty() {
            form.push_str("&scope=");
            form.push_str(&encode(&self.scopes.join(" ")));
        }
        let basic = basic_credentials(&self.client_id, self.client_secret.expose());
        let mut authorization = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
            Failure::Final(failed("the client id cannot be sent in a header".into()))
        })?;
        authorization.set_sensitive(true);
        let response = http
            .post(self.token_url.clone())
            .header(header::AUTHORIZATION, authorization)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await;
        let mut response = match response {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                return Err(Failure::Final(Error::EndpointUnreachable {
                    url: shown.clone(),
                    reason: chain(&e.without_url()),
                }));
            }
            Err(e) if e.is_timeout() => {
                return Err(Failure::Retry {
                    error: failed("the token endpoint did not answer in time".into()),
                    retry_after: None,
                });
            }
            Err(e) => {
                return Err(Failure::Retry {
                    error: failed(format!("connection reset: {}", chain(&e.without_url()))),
                    retry_after: None,
                });
            }
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = retry_after(response.headers());
            return Err(Failure::Retry {
                error: failed(format!("the token endpoint answered {}", status.as_u16())),
                retry_after,
            });
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() <= 64 * 1024 => {
                    body.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => {
                    return Err(Failure::Final(failed("the answer is too large".into())));
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure::Retry {
                        error: failed(format!(
                            "the answer was cut off: {}",
                            chain(&e.without_url())
                        )),
                        retry_after: None,
                    });
                }
            }
        }
        if !status.is_success() {
            let likely = match status {
                // No token endpoint there: a credentials message would send the admin
                // looking in the wrong place.
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                    "the token URL is wrong: no OAuth 2.0 token endpoint answers there (check credentials.tokenUrl)"
                }
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED => {
                    "the token endpoint refused the client: check the Client Key and Client Secret, and the scopes"
                }
                StatusCode::FORBIDDEN => {
                    "the token endpoint does not let this client have a token: check the app's access in ClassLink and the scopes"
                }
                _ => "the token endpoint refused the request",
            };
            return Err(Failure::Final(failed(format!(
                "{likely} ({}){}",
                status.as_u16(),
                oauth_error_text(&body)
            ))));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            Failure::Final(failed(if looks_like_html(&body) {
                "the answer is HTML, not a token".into()
            } else {
                "the answer is not a JSON token response".into()
            }))
        })?;
        let token = answer
            .access_token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| Failure::Final(failed("the answer has no access_token".into())))?;
        if let Some(kind) = &answer.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(Failure::Final(failed(format!(
                "the token type is {}, not Bearer",
                kind.chars().take(20).collect::<String>()
            ))));
        }
        let lifetime = match &answer.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        // Without expires_in, assume an hour; a 401 still triggers a refresh.
        .unwrap_or(3600);
        Ok((Secret::new(token), Duration::from_secs(lifetime)))
    }
}

/// When a token of this lifetime is replaced: a little before it expires (a tenth of
/// its lifetime early, at most a minute), so no request goes out with a stale token.
fn refresh_after(lifetime: Duration) -> Duration {
    let margin = (lifetime / 10).min(Duration::from_secs(60));
    lifetime.saturating_sub(margin)
}

/// The HTTP Basic value for the token request. RFC 6749 §2.3.1: id and secret
/// form-encoded, then Base64.
pub(crate) fn basic_credentials(client_id: &str, client_secret: &str) -> String {
    BASE64.encode(format!(
        "{}:{}",
        form_encode(client_id),
        form_encode(client_secret)
    ))
}

/// `application/x-www-form-urlencoded` for the Basic credentials (spaces as `+`).
fn form_encode(value: &str) -> String {
    encode(value).replace("%20", "+")
}

/// RFC 6749 `error` and `error_description`, or the OneRoster `imsx_description`.
fn oauth_error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: Option<String>,
        error_description: Option<String>,
    }
    let clean = |s: &str| -> String {
        let single_line: String = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        // Cut generously here; the message quotes at most `QUOTE_CHARS`, after redaction.
        super::redact::cap(&single_line, super::redact::READ_CHARS)
    };
    if let Ok(parsed) = serde_json::from_slice::<OAuthError>(body) {
        let parts: Vec<String> = [parsed.error, parsed.error_description]
            .into_iter()
            .flatten()
            .map(|s| clean(&s))
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return format!(": {}", parts.join(": "));
        }
    }
    imsx_description(body)
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_flight_are_bounded_across_requests_and_given_back() {
        let ledger = AtomicUsize::new(0);
        let mut first = BytesLease::new(&ledger);
        let mut second = BytesLease::new(&ledger);
        assert!(first.grow_to(60, 100));
        assert!(first.grow_to(40, 100), "asking for less holds what it has");
        assert!(!second.grow_to(50, 100), "60 + 50 is beyond 100");
        assert!(second.grow_to(40, 100));
        assert_eq!(ledger.load(Ordering::SeqCst), 100);
        drop(first);
        assert_eq!(ledger.load(Ordering::SeqCst), 40);
        assert!(second.grow_to(100, 100));
        assert!(!second.grow_to(101, 100));
        drop(second);
        assert_eq!(ledger.load(Ordering::SeqCst), 0);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn link_next_is_found_among_other_relations() {
        let base = Url::parse("https://x.example/ims/oneroster/v1p1/users?limit=2").unwrap();
        let h = headers(&[(
            "link",
            r#"<https://x.example/ims/oneroster/v1p1/users?limit=2&offset=0>; rel="first", <https://x.example/ims/oneroster/v1p1/users?limit=2&offset=2>; rel="next", <...>; rel="last""#,
        )]);
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "https://x.example/ims/oneroster/v1p1/users?limit=2&offset=2"
        );
        let relative = headers(&[("link", "</ims/oneroster/v1p1/users?offset=4>;rel=next")]);
        assert_eq!(
            next_link(&relative, &base).unwrap().as_str(),
            "https://x.example/ims/oneroster/v1p1/users?offset=4"
        );
        let none = headers(&[("link", r#"<https://x.example/a>; rel="prev""#)]);
        assert_eq!(next_link(&none, &base), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Sun, 06 Nov 1994 08:49:37 GMT"
            )])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn backoff_stays_under_the_exponential_ceiling_and_cap() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            assert!(backoff(&policy, 1) <= Duration::from_millis(100));
            assert!(backoff(&policy, 2) <= Duration::from_millis(200));
            assert!(backoff(&policy, 30) <= Duration::from_millis(350));
        }
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(100)),
            Duration::from_secs(90)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn retry_budget_is_shared_and_runs_out() {
        let budget = RetryBudget::new(2);
        assert!(budget.take());
        assert!(budget.take());
        assert!(!budget.take());
    }

    #[test]
    fn token_errors_show_the_oauth_error_not_the_body() {
        let body = br#"{"error":"invalid_client","error_description":"Client authentication failed","extra":"x"}"#;
        assert_eq!(
            oauth_error_text(body),
            ": invalid_client: Client authentication failed"
        );
        assert_eq!(oauth_error_text(b"<html>"), "");
    }

    /// Two certificates of the client tests' private CA (tests/oneroster_client.rs).
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBvzCCAWWgAwIBAgIUG5qMXJ2Grt4b8pZ18niaanxk6MswCgYIKoZIzj0EAwIw\nLTErMCkGA1UEAwwiY2xhc3NsaW5rLW9wZXJhdG9yIHRlc3QgcHJpdmF0ZSBDQTAe\nFw0yNjExMjgxNTE3MjlaFw00NjExMjMxNTE3MjlaMC0xKzApBgNVBAMMImNsYXNz\nbGluay1vcGVyYXRvciB0ZXN0IHByaXZhdGUgQ0EwWTATBgcqhkjOPQIBBggqhkjO\nPQMBBwNCAATQAQO0U8d/2b7ixcLLO55+eOWZN8hAleDSDoufCLnnR0q5iKGT6P+d\nipRAcNl4fJJek9HUORV2Kb+gumGGFMbDo2MwYTAdBgNVHQ4EFgQUCinN2yg+L5Yt\nX4I+LkTec4av9wIwHwYDVR0jBBgwFoAUCinN2yg+L5YtX4I+LkTec4av9wIwDwYD\nVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIh\nANHRlfgF1RXRbCm3EybdYB7ItjSxB/XlFPWgdJ0VbFFoAiBbUm9DeTGufhhBwZAV\nML4DHlr04zfhtAY5qFQd9esTog==\n-----END CERTIFICATE-----\n";
    const OTHER_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBxTCCAWqgAwIBAgIUVvrmtM04rtheIyuIq502U0VY3IkwCgYIKoZIzj0EAwIw\nLTErMCkGA1UEAwwiY2xhc3NsaW5rLW9wZXJhdG9yIHRlc3QgcHJpdmF0ZSBDQTAe\nFw0yNjExMjgxNTE3MjlaFw00NjExMjMxNTE3MjlaMBQxEjAQBgNVBAMMCTEyNy4w\nLjAuMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJfq3gzflVcjU4QsTsChhvfN\nBFsStxUjGobMKOwDUzP3mVOBCkboQjOv2LqSAmyLsmTa4Oh/7JsFUrQowoMm5QCj\ngYAwfjAPBgNVHREECDAGhwR/AAABMAkGA1UdEwQCMAAwCwYDVR0PBAQDAgeAMBMG\nA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBTbheZHfFlBLrqbeIvh7xzxF3PI\n/DAfBgNVHSMEGDAWgBQKKc3bKD4vli1fgj4uRN5zhq/3AjAKBggqhkjOPQQDAgNJ\nADBGAiEAspYwdl1qV4sgzSQGKIqGfEr51YDGfApBpZnZigsxmrwCIQCIvO3Fc5gy\nusn7oQ9ugAQdr5SLH64hdQzafbpDI0tqbw==\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_platforms_roots_are_read_once_for_each_extra_bundle() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = |pem: &str| {
            CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("a certificate")
        };
        let first = platform_verifier(roots(CA_PEM), provider.clone()).expect("a verifier");
        let again = platform_verifier(roots(CA_PEM), provider.clone()).expect("a verifier");
        assert!(Arc::ptr_eq(&first, &again), "one bundle, one verifier");
        let other = platform_verifier(roots(OTHER_PEM), provider).expect("a verifier");
        assert!(
            !Arc::ptr_eq(&first, &other),
            "another bundle, another verifier"
        );
    }

    #[test]
    fn extra_ca_bundle_must_be_pem_certificates() {
        let err = tls_config(Some(b"not a certificate")).unwrap_err();
        assert_eq!(err.code(), crate::error_code::ErrorCode::EndpointInvalid);
    }
}
