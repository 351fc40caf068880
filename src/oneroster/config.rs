//! What a [`Client`](super::Client) needs to know: where the Roster Server is, how to
//! authenticate, and how patient to be.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error_code::ErrorCode;

/// A credential: a client secret or a token.
///
/// Its `Debug` and `Display` print `[redacted]`, so a secret never reaches a log line,
/// an error message or a panic message by accident. Read it with [`Secret::expose`]
/// only where it is put on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for signing or sending. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The HMAC used for OAuth 1.0a request signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureMethod {
    /// `HMAC-SHA256`: what ClassLink's own libraries sign with.
    #[default]
    HmacSha256,
    /// `HMAC-SHA1`: accepted by other OneRoster servers.
    HmacSha1,
}

impl SignatureMethod {
    /// The value of the `oauth_signature_method` parameter.
    pub fn as_oauth_str(self) -> &'static str {
        match self {
            SignatureMethod::HmacSha256 => "HMAC-SHA256",
            SignatureMethod::HmacSha1 => "HMAC-SHA1",
        }
    }
}

/// How the client proves who it is to the Roster Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// OAuth 1.0a request signing with the ClassLink Client Key and Client Secret
    /// (ClassLink's default). Every request carries its own signature; there is no token.
    OAuth1 {
        /// ClassLink's "Client Key" (`oauth_consumer_key`).
        client_id: String,
        /// ClassLink's "Client Secret".
        client_secret: Secret,
        /// HMAC-SHA256 unless the server only takes HMAC-SHA1.
        signature_method: SignatureMethod,
    },
    /// OAuth 2.0 client credentials grant: a token is fetched from `token_url`, cached,
    /// refreshed shortly before it expires, and fetched again once when the Roster
    /// Server answers 401.
    OAuth2ClientCredentials {
        /// The token endpoint (absolute URL).
        token_url: String,
        /// The client id, sent with HTTP Basic authentication to the token endpoint.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
        /// Scopes requested, joined with spaces; none when empty.
        scopes: Vec<String>,
    },
    /// A static bearer token (as ClassLink's proxy issues).
    Bearer {
        /// The token, sent as `Authorization: Bearer <token>`.
        token: Secret,
    },
}

impl Auth {
    /// Every credential in this auth method as the client sends it, so error messages can
    /// be scrubbed of them: the secret, and for OAuth 2.0 the HTTP Basic value it makes.
    /// (OAuth 2.0 access tokens are added as they are obtained.)
    pub(crate) fn secrets(&self) -> Vec<String> {
        match self {
            Auth::OAuth1 { client_secret, .. } => vec![client_secret.expose().to_owned()],
            Auth::OAuth2ClientCredentials {
                client_id,
                client_secret,
                ..
            } => vec![
                client_secret.expose().to_owned(),
                super::transport::basic_credentials(client_id, client_secret.expose()),
            ],
            Auth::Bearer { token } => vec![token.expose().to_owned()],
        }
    }
}

/// Retries of failed requests: exponential backoff with full jitter.
///
/// A request answered 429, 5xx (except 501), timed out, or cut off by a connection reset is tried
/// again after a random wait between zero and `min(cap, base * 2^n)`, or after the
/// server's `Retry-After` when it sends one. A single request is tried at most
/// `attempts` times, and one fetch (a whole roster or one collection) spends at most
/// `budget` retries in total, so a struggling server is not hammered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries per request, the first one included (at least 1).
    pub attempts: u32,
    /// Backoff base.
    pub base: Duration,
    /// Longest backoff between two tries (without `Retry-After`).
    pub cap: Duration,
    /// Retries one fetch may spend across all of its requests.
    pub budget: u32,
    /// Longest `Retry-After` the client is willing to wait; a server asking for more
    /// ends the request as `RateLimited` at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            budget: 50,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// No retries at all: every failure is final.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            budget: 0,
            ..RetryPolicy::default()
        }
    }
}

/// One retry about to happen: what failed and how long the client waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryNotice {
    /// The failure being retried (`RateLimited`, `ServerError`, `ConnectionReset`, ...).
    pub code: ErrorCode,
    /// The attempt that failed (1 for the first try).
    pub attempt: u32,
    /// The wait before the next try.
    pub wait: Duration,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

/// A callback told about every retry (for metrics and events).
#[derive(Clone)]
pub struct RetryObserver(Arc<dyn Fn(&RetryNotice) + Send + Sync>);

impl RetryObserver {
    /// Wraps a callback.
    pub fn new(callback: impl Fn(&RetryNotice) + Send + Sync + 'static) -> Self {
        RetryObserver(Arc::new(callback))
    }

    pub(crate) fn notify(&self, notice: &RetryNotice) {
        (self.0)(notice)
    }
}

impl fmt::Debug for RetryObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryObserver")
    }
}

/// Page size ClassLink recommends.
pub const DEFAULT_PAGE_SIZE: u32 = 10_000;
/// A modest default for parallel page requests.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 4;

/// How much memory one sync may spend on what the Roster Server sends; beyond it the sync
/// fails with `MemoryBudgetExceeded` long before the operator's memory limit (the chart's
/// default is 1 GiB, shared by every district the operator syncs). A third limit is
/// fixed: a collection may not hold more than twice the records its first page announced
/// (`X-Total-Count`) plus one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Raw page bodies held at once, summed over every request of the sync (the pages
    /// read concurrently and those waiting to be decoded), in bytes.
    pub max_bytes_in_flight: usize,
    /// Longest text field kept from a record, in bytes.
    pub max_field_bytes: usize,
}

/// Page bodies one sync may hold at once: 128 MiB. A page of 10,000 users is about 15 MiB.
pub const DEFAULT_MAX_BYTES_IN_FLIGHT: usize = 128 * 1024 * 1024;
/// Longest text field: 64 KiB, far beyond any name, email or identifier.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 * 1024;

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget {
            max_bytes_in_flight: DEFAULT_MAX_BYTES_IN_FLIGHT,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
        }
    }
}

/// Everything a [`Client`](super::Client) is built from.
///
/// Build one with [`ClientConfig::new`] and adjust the public fields; the defaults suit
/// ClassLink.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Root of the Roster Server (`https://district-ca-v2.oneroster.com`), with or
    /// without the OneRoster base path `/ims/oneroster/v1p1`.
    pub endpoint: String,
    /// How to authenticate.
    pub auth: Auth,
    /// Records per page (`limit`). Clamped to at least 1.
    pub page_size: u32,
    /// Most requests in flight at once against the Roster Server. Clamped to at least 1.
    pub max_concurrent_requests: usize,
    /// Limit for one request, response body included.
    pub request_timeout: Duration,
    /// Limit for opening a connection (DNS, TCP and TLS).
    pub connect_timeout: Duration,
    /// Limit for one whole fetch ([`Client::fetch_roster`](super::Client::fetch_roster)
    /// or one collection).
    pub sync_deadline: Duration,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// How many times a collection is fetched again when `x-perm-rev` changes while it
    /// is read, before the fetch fails with `DataChangedDuringSync`.
    pub max_refetches: u32,
    /// Allows `http://` endpoints (loopback tests, `--allow-insecure-http`).
    pub allow_insecure_http: bool,
    /// Extra trusted CA certificates (PEM), for private servers; the platform's roots
    /// stay trusted too.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Compatibility Mode for minimal SIS implementations: only `/orgs`,
    /// `/academicSessions`, `/classes`, `/users` and `/enrollments`, no server-side
    /// filter; schools and deleted records are filtered on the client.
    pub compatibility_mode: bool,
    /// How much memory one sync may take for what the server sends.
    pub memory: MemoryBudget,
    /// Told about every retry before the client waits.
    pub on_retry: Option<RetryObserver>,
}

impl ClientConfig {
    /// A configuration with the defaults: pages of 10,000, 4 concurrent requests,
    /// 60 s per request, 10 s to connect, 6 hours for a whole fetch.
    pub fn new(endpoint: impl Into<String>, auth: Auth) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            auth,
            page_size: DEFAULT_PAGE_SIZE,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            sync_deadline: Duration::from_secs(6 * 60 * 60),
            retry: RetryPolicy::default(),
            max_refetches: 3,
            allow_insecure_http: false,
            extra_ca_pem: None,
            compatibility_mode: false,
            memory: MemoryBudget::default(),
            on_retry: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_and_display() {
        let auth = Auth::OAuth2ClientCredentials {
            token_url: "https://idp.example/token".into(),
            client_id: "client-1".into(),
            client_secret: Secret::new("hunter2-very-secret"),
            scopes: vec![],
        };
        let config = ClientConfig::new("https://x.example", auth);
        let shown = format!("{config:?} {:?}", Secret::new("hunter2-very-secret"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(Secret::new("s3cr3t").to_string(), "[redacted]");
        let bearer = format!(
            "{:?}",
            Auth::Bearer {
                token: "tok-abc".into()
            }
        );
        assert!(!bearer.contains("tok-abc"));
    }
}
