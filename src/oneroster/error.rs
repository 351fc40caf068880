//! The client's one error type. Each variant is one stable error code.
//!
//! Messages name what failed (URL without query, HTTP status, the server's
//! `imsx_description`, record counts) and never a credential or a person's data.

use std::time::Duration;

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
        "the Roster Server refused the credentials (401) at {url}{}",
        describe(description)
    )]
    AuthenticationFailed {
        /// The URL (no query).
        url: String,
        /// The server's `imsx_description`, trimmed.
        description: Option<String>,
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
            | Error::ConnectionReset { url, reason, .. } => {
                clean(url);
                clean(reason);
            }
            Error::AuthenticationFailed { url, description }
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
        };
        assert_eq!(e.code(), ErrorCode::AuthenticationFailed);
        assert!(e.to_string().ends_with(": Invalid signature"), "{e}");
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
