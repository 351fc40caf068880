//! The client's one error type. Each variant is one stable error code.
//!
//! Messages name what failed (URL without query, HTTP status, the server's
//! `imsx_description`, record counts) and never a credential or a person's data.

use std::time::Duration;

use super::config::SignatureMethod;
use super::redact::{QUOTE_CHARS, Redactor, cap};
use crate::error_code::ErrorCode;

/// Why a fetch from the Roster Server failed. [`Error::code`] is the stable code the
/// operator reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint URL (or the token URL, or the CA bundle) cannot be used.
    #[error("the endpoint is not valid: {reason}")]
    EndpointInvalid {
        /// What is wrong with it.
        reason: String,
    },
    /// DNS, TCP or TLS failed.
    #[error("cannot reach {url}: {reason}")]
    EndpointUnreachable {
        /// The URL (no query).
        url: String,
        /// The transport's explanation.
        reason: String,
    },
    /// The server answered, but not as a OneRoster API (404 on a collection, HTML, an
    /// object without the expected collection).
    #[error(
        "{url} is not a OneRoster 1.1 API: {reason} (check the endpoint URL, or turn on compatibility mode)"
    )]
    NotOneRosterApi {
        /// The URL (no query).
        url: String,
        /// What was seen.
        reason: String,
    },
    /// 401: the credentials or the signature were refused.
    #[error(
        "the Roster Server refused the credentials (401) at {url}{}. Likely cause: {likely_cause}",
        describe(description)
    )]
    AuthenticationFailed {
        /// The URL (no query).
        url: String,
        /// The server's short error (`error`, `error_description` or `imsx_description`).
        description: Option<String>,
        /// The likely cause in a school admin's words, from what the server said and the
        /// auth method ([`likely_cause_of_401`]).
        likely_cause: String,
    },
    /// 403: the credentials are valid but may not read this.
    #[error(
        "the Roster Server denied access (403) to {url}{}",
        describe(description)
    )]
    AccessDenied {
        /// The URL (no query).
        url: String,
        /// The server's `imsx_description`, trimmed.
        description: Option<String>,
    },
    /// The OAuth 2.0 token endpoint refused the client or answered something unusable.
    #[error("the token request to {url} failed: {reason}")]
    TokenRequestFailed {
        /// The token URL (no query).
        url: String,
        /// Status and description, or what was wrong with the answer.
        reason: String,
    },
    /// One request took longer than the request timeout, on every attempt.
    #[error(
        "the request to {url} timed out (no answer within {}s) after {attempts} attempt(s)",
        after.as_secs_f32()
    )]
    RequestTimeout {
        /// The URL (no query).
        url: String,
        /// The request timeout.
        after: Duration,
        /// Tries made.
        attempts: u32,
    },
    /// 429 after every retry.
    #[error(
        "the Roster Server kept rate limiting (429) {url} after {attempts} attempt(s){}",
        describe(description)
    )]
    RateLimited {
        /// The URL (no query).
        url: String,
        /// Tries made.
        attempts: u32,
        /// The server's `imsx_description`, or why retrying stopped.
        description: Option<String>,
    },
    /// 5xx after every retry.
    #[error(
        "the Roster Server failed ({status}) at {url} after {attempts} attempt(s){}",
        describe(description)
    )]
    ServerError {
        /// The URL (no query).
        url: String,
        /// The HTTP status.
        status: u16,
        /// Tries made.
        attempts: u32,
        /// The server's `imsx_description`, trimmed.
        description: Option<String>,
    },
    /// The connection was reset or closed mid-answer, after every retry.
    #[error("the connection to {url} was reset after {attempts} attempt(s): {reason}")]
    ConnectionReset {
        /// The URL (no query).
        url: String,
        /// Tries made.
        attempts: u32,
        /// The transport's explanation.
        reason: String,
    },
    /// The body is not the JSON it should be: syntax, truncation, wrong shape, too big.
    #[error("malformed response from {url}: {reason}")]
    MalformedResponse {
        /// The URL (no query).
        url: String,
        /// What is wrong (a parser position, never record content).
        reason: String,
    },
    /// An answer would break the sync's memory budget: too many bytes in flight, a field
    /// too long, or far more records than announced.
    #[error("{url} would exceed the sync's memory budget: {reason}")]
    MemoryBudgetExceeded {
        /// The URL (no query).
        url: String,
        /// Which limit, with its number (never record content).
        reason: String,
    },
    /// A page held only records already read while more were announced.
    #[error(
        "{url} answered a page holding only records already read ({reason}); the server ignores `offset` or its paging loops"
    )]
    PagesRepeated {
        /// The URL (no query).
        url: String,
        /// Where the paging was.
        reason: String,
    },
    /// `x-perm-rev` kept changing while a collection was read.
    #[error(
        "the data changed on the Roster Server while {collection} was read ({attempts} attempt(s)); the next sync will try again"
    )]
    DataChangedDuringSync {
        /// The collection, e.g. `users`.
        collection: &'static str,
        /// Full reads attempted.
        attempts: u32,
    },
    /// The whole fetch took longer than its deadline.
    #[error("fetching from the Roster Server took longer than the deadline of {}s", after.as_secs())]
    SyncTimeout {
        /// The deadline.
        after: Duration,
    },
}

/// How the client authenticated a refused request, for [`likely_cause_of_401`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SentCredentials {
    /// An OAuth 1.0a signature with this method.
    OAuth1(SignatureMethod),
    /// An OAuth 2.0 access token from the token endpoint.
    OAuth2,
    /// A static bearer token.
    Bearer,
}

/// Why a Roster Server most likely answered 401, in words a school admin understands: from
/// what the server said (OAuth 1.0a's problem names such as `signature_method_rejected`,
/// `signature_invalid`, `consumer_key_unknown`, `timestamp_refused`; OAuth 2.0's
/// `invalid_token`; or the same in prose) and how the request was authenticated.
pub(crate) fn likely_cause_of_401(sent: SentCredentials, said: Option<&str>) -> String {
    let said = said
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace('_', " ");
    let mentions = |words: &[&str]| words.iter().any(|w| said.contains(w));
    const COPY_AGAIN: &str =
        "copy it again from the application's API Credentials page in ClassLink";
    match sent {
        SentCredentials::OAuth1(method) => {
            let ours = method.as_oauth_str();
            let other = match method {
                SignatureMethod::HmacSha256 => SignatureMethod::HmacSha1,
                SignatureMethod::HmacSha1 => SignatureMethod::HmacSha256,
            }
            .as_oauth_str();
            if mentions(&["signature method", "oauth signature method"]) {
                format!(
                    "the signature method ({ours}) is not what the server expects; set spec.credentials.signatureMethod to {other}."
                )
            } else if mentions(&["timestamp", "clock"]) {
                "the clock of the machine the operator runs on is off (OAuth 1.0a signatures carry the time); check its time synchronisation.".into()
            } else if mentions(&["nonce"]) {
                "the server saw this request's nonce before (a proxy that resends requests?); it usually passes on the next sync.".into()
            } else if mentions(&["consumer", "client id", "client key", "invalid client", "unknown client"]) {
                format!("the Client Key (the Secret's clientId) is wrong; {COPY_AGAIN}.")
            } else if mentions(&["signature"]) {
                format!(
                    "the Client Secret is wrong ({COPY_AGAIN}), or, if it is right, the signature method ({ours}) may not be what the server expects (try {other})."
                )
            } else {
                format!(
                    "the Client Key or Client Secret is wrong ({COPY_AGAIN}), or the signature method ({ours}) is not what the server expects (try {other})."
                )
            }
        }
        SentCredentials::OAuth2 => {
            if mentions(&["expired"]) {
                "the access token expired, and a fresh one was refused too; check that the token URL belongs to this Roster Server.".into()
            } else {
                "the Roster Server does not accept the access token its token URL issued; check that spec.credentials.tokenUrl and the scopes belong to this Roster Server.".into()
            }
        }
        SentCredentials::Bearer => {
            "the token (the Secret's token key) is wrong, expired or revoked; ask for a new one and update the Secret.".into()
        }
    }
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}

impl Error {
    /// The stable error code for this failure (see `crate::error_code`).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::EndpointInvalid { .. } => ErrorCode::EndpointInvalid,
            Error::EndpointUnreachable { .. } => ErrorCode::EndpointUnreachable,
            Error::NotOneRosterApi { .. } => ErrorCode::NotOneRosterApi,
            Error::AuthenticationFailed { .. } => ErrorCode::AuthenticationFailed,
            Error::AccessDenied { .. } => ErrorCode::AccessDenied,
            Error::TokenRequestFailed { .. } => ErrorCode::TokenRequestFailed,
            Error::RequestTimeout { .. } => ErrorCode::RequestTimeout,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::ServerError { .. } => ErrorCode::ServerError,
            Error::ConnectionReset { .. } => ErrorCode::ConnectionReset,
            Error::MalformedResponse { .. } => ErrorCode::MalformedResponse,
            Error::MemoryBudgetExceeded { .. } => ErrorCode::MemoryBudgetExceeded,
            Error::PagesRepeated { .. } => ErrorCode::PagesRepeated,
            Error::DataChangedDuringSync { .. } => ErrorCode::DataChangedDuringSync,
            Error::SyncTimeout { .. } => ErrorCode::SyncTimeout,
        }
    }

    /// Removes every credential from the free-text parts of the error (a server may echo
    /// what it was sent, in any encoding): see [`Redactor`].
    pub(crate) fn scrub(mut self, redactor: &Redactor) -> Self {
        // Redact first, then cut: a cut credential would no longer be recognised.
        let clean = |text: &mut String| {
            let redacted = cap(&redactor.redact(text), QUOTE_CHARS);
            if redacted != *text {
                *text = redacted;
            }
        };
        match &mut self {
            Error::EndpointInvalid { reason } => clean(reason),
            Error::EndpointUnreachable { url, reason }
            | Error::NotOneRosterApi { url, reason }
            | Error::TokenRequestFailed { url, reason }
            | Error::MalformedResponse { url, reason }
            | Error::MemoryBudgetExceeded { url, reason }
            | Error::PagesRepeated { url, reason }
            | Error::ConnectionReset { url, reason, .. } => {
                clean(url);
                clean(reason);
            }
            Error::AuthenticationFailed {
                url, description, ..
            }
            | Error::AccessDenied { url, description }
            | Error::RateLimited {
                url, description, ..
            }
            | Error::ServerError {
                url, description, ..
            } => {
                clean(url);
                if let Some(d) = description {
                    clean(d);
                }
            }
            Error::RequestTimeout { url, .. } => clean(url),
            Error::DataChangedDuringSync { .. } | Error::SyncTimeout { .. } => {}
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_project_names() {
        let e = Error::DataChangedDuringSync {
            collection: "users",
            attempts: 4,
        };
        assert_eq!(e.code(), ErrorCode::DataChangedDuringSync);
        let e = Error::AuthenticationFailed {
            url: "https://x/ims/oneroster/v1p1/users".into(),
            description: Some("Invalid signature".into()),
            likely_cause: "the Client Secret is wrong.".into(),
        };
        assert_eq!(e.code(), ErrorCode::AuthenticationFailed);
        assert!(
            e.to_string()
                .ends_with(": Invalid signature. Likely cause: the Client Secret is wrong."),
            "{e}"
        );
    }

    #[test]
    fn a_401_names_its_likely_cause_from_what_the_server_said() {
        let sha256 = SentCredentials::OAuth1(SignatureMethod::HmacSha256);
        let cause = |sent, said: Option<&str>| likely_cause_of_401(sent, said);
        for said in [
            "signature_method_rejected",
            "Unsupported oauth_signature_method",
            "Invalid signature method",
        ] {
            let c = cause(sha256, Some(said));
            assert!(
                c.contains("signature method (HMAC-SHA256) is not what the server expects")
                    && c.contains("HMAC-SHA1")
                    && !c.contains("Client Secret"),
                "{said}: {c}"
            );
        }
        for said in [
            "invalid_signature",
            "signature_invalid",
            "Invalid signature",
        ] {
            let c = cause(sha256, Some(said));
            assert!(c.starts_with("the Client Secret is wrong"), "{said}: {c}");
        }
        let c = cause(SentCredentials::OAuth1(SignatureMethod::HmacSha1), None);
        assert!(
            c.contains("Client Key or Client Secret") && c.contains("try HMAC-SHA256"),
            "{c}"
        );
        assert!(cause(sha256, Some("consumer_key_unknown")).contains("Client Key"));
        assert!(cause(sha256, Some("timestamp_refused")).contains("clock"));
        assert!(cause(SentCredentials::OAuth2, Some("invalid_token")).contains("tokenUrl"));
        assert!(cause(SentCredentials::Bearer, None).contains("token"));
    }

    #[test]
    fn scrub_removes_echoed_credentials() {
        let e = Error::ServerError {
            url: "https://x/users".into(),
            status: 500,
            attempts: 3,
            description: Some("bad key topsecret123 given".into()),
        }
        .scrub(&Redactor::new(["topsecret123"]));
        assert!(!e.to_string().contains("topsecret123"), "{e}");
        assert!(e.to_string().contains("[redacted]"));
    }
}
