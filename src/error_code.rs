//! The stable error codes a sync reports in `status.lastSync.errorCode`, in events, metrics
//! and the CLI's report. One enum is the single place that names them; docs/error-codes.md
//! is generated from it and a test keeps the two identical.

use std::fmt;
use std::str::FromStr;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident => ($meaning:literal, $action:literal),)+) => {
        /// A stable error code. The names never change once released: users search for
        /// them, alert on them and quote them to support.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)+
        }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)+];

            /// The code as status, events and metrics show it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)+
                }
            }

            /// What the code means.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $meaning,)+
                }
            }

            /// What the user does about it.
            pub fn action(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $action,)+
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownErrorCode;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($name) => Ok(ErrorCode::$name),)+
                    _ => Err(UnknownErrorCode(s.to_owned())),
                }
            }
        }
    };
}

error_codes! {
    /// The credentials Secret does not exist in the ClassLinkSync's namespace.
    SecretNotFound => (
        "The Secret named in `spec.credentials.secretRef.name` does not exist in the ClassLinkSync's namespace.",
        "Create the Secret in the same namespace (other namespaces are never read), or fix the name. The operator retries on its own once the Secret exists."
    ),
    /// A key the auth method needs is missing or empty in the Secret.
    SecretKeyMissing => (
        "The Secret lacks a key the auth method needs (`clientId` and `clientSecret`, or `token` for Bearer, unless renamed in `secretRef`), or the value is empty.",
        "Add the key to the Secret, or point `secretRef.clientIdKey`/`clientSecretKey`/`tokenKey` at the keys it has."
    ),
    /// The operator's ServiceAccount lacks a permission.
    PermissionDenied => (
        "The operator's ServiceAccount may not do something a sync needs (Kubernetes RBAC): the message names the verb, the resource and the namespace.",
        "Restore the Role or ClusterRole the Helm chart installs (`helm upgrade` puts it back); docs/install-helm.md lists every rule and why. With `watchNamespaces`, the namespace must be in the list."
    ),
    /// The Kubernetes API could not be read.
    KubernetesApiUnavailable => (
        "The operator could not read the Secret or the SchoolExclusions from the Kubernetes API (not a permission problem).",
        "Usually passes; the next sync tries again. If it lasts, check the API server's health and the operator's network access to it."
    ),
    /// The spec breaks a cross-field rule that no API server checked.
    InvalidSpec => (
        "The ClassLinkSync's spec breaks one of the CRD's cross-field rules. The API server refuses such a spec, so this comes from a file given to `classlink-operator sync -f`, which no API server checked.",
        "Read the message: it names the field and the rule. Fix the spec; docs/reference.md lists the rules."
    ),
    /// The endpoint URL is unusable.
    EndpointInvalid => (
        "The endpoint URL cannot be used: it does not parse, or it is plain `http://` and the operator does not run with `--allow-insecure-http`.",
        "Copy the Endpoint URL from ClassLink's API Credentials page; it starts with `https://`."
    ),
    /// The Roster Server could not be reached.
    EndpointUnreachable => (
        "The Roster Server could not be reached: the name does not resolve, the connection is refused, or TLS fails.",
        "Check the endpoint URL, DNS and egress from the operator's pod (NetworkPolicy, proxy). For a private CA, give the operator the CA bundle."
    ),
    /// The endpoint answers, but not as a OneRoster API.
    NotOneRosterApi => (
        "The endpoint answered, but not as a OneRoster 1.1 API (404 on the base collections, or an HTML page).",
        "Use the root of the Roster Server (the Endpoint URL ClassLink shows), with or without `/ims/oneroster/v1p1`. For a SIS with only the minimum endpoints, turn on `compatibilityMode`."
    ),
    /// 401: the credentials or the signature were refused.
    AuthenticationFailed => (
        "The Roster Server refused the credentials (HTTP 401): wrong Client Key or Secret, a bad signature, or an expired token.",
        "Read the message's \"Likely cause\": it quotes what the server said and names the cause it points at (the Client Key, the Client Secret, the signature method, the clock, the token). Copy the Key and Secret again from ClassLink's API Credentials page into the Secret; check that `credentials.method` and `signatureMethod` match what the server expects."
    ),
    /// 403: the credentials may not read the roster.
    AccessDenied => (
        "The Roster Server accepted the credentials but refused access (HTTP 403).",
        "In ClassLink Roster Server, make sure the app is approved and shares the schools and data types the sync reads."
    ),
    /// The OAuth 2.0 token endpoint refused or answered garbage.
    TokenRequestFailed => (
        "The OAuth 2.0 token endpoint refused the client credentials or did not answer with a token.",
        "Check `credentials.tokenUrl`, the client id and secret, and the scopes."
    ),
    /// A request took longer than `requestTimeoutSeconds`, after retries.
    RequestTimeout => (
        "Requests to the Roster Server timed out (`spec.requestTimeoutSeconds`), also after retries.",
        "Check the server's health; raise `requestTimeoutSeconds` or lower `pageSize` for a slow server."
    ),
    /// 429 after every retry.
    RateLimited => (
        "The Roster Server kept answering HTTP 429 (rate limited) after the retries, which honour its Retry-After.",
        "Lower `maxConcurrentRequests`, or ask ClassLink about the app's rate limit. The next scheduled sync tries again."
    ),
    /// 5xx after every retry.
    ServerError => (
        "The Roster Server kept answering with server errors (HTTP 5xx) after the retries.",
        "Usually passes on its own; the next sync tries again. If it lasts, contact ClassLink with the time of the sync."
    ),
    /// The connection kept breaking mid-answer.
    ConnectionReset => (
        "Connections to the Roster Server kept breaking in the middle of an answer, also after retries.",
        "Check proxies and load balancers between the operator and the server; try a smaller `pageSize`."
    ),
    /// An answer was not valid OneRoster JSON.
    MalformedResponse => (
        "An answer from the Roster Server was not valid OneRoster JSON (truncated, not JSON, of the wrong shape, or compressed data that does not decompress).",
        "Usually a server or proxy fault; the next sync tries again. If it repeats, contact the SIS vendor with the collection named in the message."
    ),
    /// The data kept changing (`x-perm-rev`) while the sync read it.
    DataChangedDuringSync => (
        "The school's data kept changing while the sync read it (ClassLink's `x-perm-rev` header changed on every attempt).",
        "Nothing to fix: the store keeps its previous snapshot and the next sync tries again. Avoid large SIS imports during the sync window."
    ),
    /// An answer would take more memory than the sync's budget allows.
    MemoryBudgetExceeded => (
        "An answer from the Roster Server would take more memory than one sync may use: the pages being read at once hold more than 128 MiB, one text field is longer than 64 KiB, or a collection has far more records than the server announced (more than twice its `X-Total-Count` plus one page). The sync stops before the operator runs out of memory; nothing was changed.",
        "Lower `maxConcurrentRequests` or `pageSize` when the message names the pages in flight. Otherwise the server sends data no roster has: contact the SIS vendor or ClassLink with the collection named in the message. docs/sync.md describes the budget."
    ),
    /// The server answered pages whose records the sync already had.
    PagesRepeated => (
        "The Roster Server answered a page holding only records the sync had already read (it ignores `offset`, or its paging goes round in circles), while it said more records were left. Reading on would never end; nothing was changed.",
        "A server fault: contact the SIS vendor or ClassLink with the collection named in the message. Turning on `compatibilityMode` does not help; the paging must honour `offset`."
    ),
    /// DataGuard hides the emails.
    DataGuardMasked => (
        "Too many people arrive with a masked email (more than 10%), or most (more than 50%) with no usable one: ClassLink DataGuard is hiding fields, so people cannot be matched safely. Nothing was changed.",
        "In ClassLink, turn DataGuard off for the email fields of this app (the guide warns about this), then sync again."
    ),
    /// Some schools' data was incomplete and left as it was.
    IncompleteSchoolData => (
        "Some schools' data was incomplete (classes pointing at unknown courses, terms or schools, memberships pointing at unknown people or classes, or people but no classes). Their data in the store was left as it was; the other schools were synced.",
        "Fix the data in the SIS, or take the schools named in the message out of the sync with a SchoolExclusion."
    ),
    /// Every school's data was incomplete.
    AllSchoolsIncomplete => (
        "Every included school's data was incomplete, so nothing was synced.",
        "Fix the data in the SIS, or exclude the schools named in the problems with a SchoolExclusion."
    ),
    /// No school left to sync.
    NoSchoolsLeft => (
        "No school is left to sync: the Roster Server returned no active school, or SchoolExclusions exclude them all.",
        "Check the app's school sharing in ClassLink, and the SchoolExclusions that name this ClassLinkSync."
    ),
    /// The sync would remove too many people.
    ShrinkGuardTripped => (
        "More of this provider's people are missing from the feed than `spec.shrinkGuardPercent` allows. A truncated feed looks like a mass deletion, so nothing was changed.",
        "If the removal is real (end of year, a school left), confirm it: set the annotation `rostersync.io/confirm-shrink` to a new value (or pass `--confirm-shrink` to `classlink-operator sync`). Otherwise find out why the feed shrank."
    ),
    /// The roster store could not be used.
    StoreUnavailable => (
        "The roster store (SQLite file or PostgreSQL) could not be opened, read or written.",
        "Check the store URL, the database's health and disk space. The sync is retried; the previous snapshot is intact."
    ),
    /// The whole sync took too long.
    SyncTimeout => (
        "The sync took longer than `spec.syncTimeoutMinutes` and was cancelled; nothing was changed.",
        "Raise `syncTimeoutMinutes` for a very large district (a first sync can take hours), or check the server's speed."
    ),
    /// The sync was cancelled (operator shutdown, or a signal to `classlink-operator sync`).
    SyncCancelled => (
        "The sync was cancelled before it finished: the operator shut down (or lost its Lease, or the ClassLinkSync was deleted), or `classlink-operator sync` got SIGTERM or SIGINT. Its transaction rolled back; nothing was changed.",
        "Nothing to do: the sync runs again after the operator restarts. From the command line, run `classlink-operator sync` again."
    ),
}

impl ErrorCode {
    /// Whether a sync that failed with this code is retried on its own, with backoff (1, 2,
    /// 4 … minutes, at most 60, plus jitter), before the next nightly window. Transient
    /// faults are: an unreachable or slow server, server errors, rate limits, a missing
    /// Secret (GitOps may apply it a moment later), an API server or store that is briefly
    /// away. The others need a change (spec, Secret, SchoolExclusion) or a manual trigger,
    /// either of which starts a sync at once; the nightly sync still runs.
    ///
    /// No wildcard: a new code must say which it is.
    pub fn retried(self) -> bool {
        match self {
            ErrorCode::SecretNotFound
            | ErrorCode::PermissionDenied
            | ErrorCode::KubernetesApiUnavailable
            | ErrorCode::EndpointUnreachable
            | ErrorCode::RequestTimeout
            | ErrorCode::RateLimited
            | ErrorCode::ServerError
            | ErrorCode::ConnectionReset
            | ErrorCode::MalformedResponse
            | ErrorCode::DataChangedDuringSync
            | ErrorCode::StoreUnavailable
            | ErrorCode::SyncTimeout
            | ErrorCode::SyncCancelled => true,
            ErrorCode::SecretKeyMissing
            | ErrorCode::InvalidSpec
            | ErrorCode::EndpointInvalid
            | ErrorCode::NotOneRosterApi
            | ErrorCode::AuthenticationFailed
            | ErrorCode::AccessDenied
            | ErrorCode::TokenRequestFailed
            | ErrorCode::MemoryBudgetExceeded
            | ErrorCode::PagesRepeated
            | ErrorCode::DataGuardMasked
            | ErrorCode::IncompleteSchoolData
            | ErrorCode::AllSchoolsIncomplete
            | ErrorCode::NoSchoolsLeft
            | ErrorCode::ShrinkGuardTripped => false,
        }
    }
}

/// A string that is not one of the codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// docs/error-codes.md: the table of every code, its meaning and what to do.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Generated from `src/error_code.rs` by `classlink-operator docs error-codes`; a test fails \
         when this file and the code differ. A sync shows its code in `status.lastSync.errorCode`, \
         the `Error` column of `kubectl get classlinksyncs`, its Event and the \
         `classlink_sync_total` metric. Codes never carry secrets or personal data.\n\n\
         **Retried** says whether a failed sync with that code is retried on its own with \
         backoff (1, 2, 4 … minutes, at most 60, plus jitter; `status.nextSyncTime` shows when). \
         The others wait for a change to the spec, the Secret or a SchoolExclusion, or for a \
         manual trigger, each of which starts a sync at once; the nightly sync still runs. \
         See docs/schedule.md.\n\n\
         | Code | Retried | Meaning | What to do |\n|---|---|---|---|\n",
    );
    for code in ErrorCode::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            code.as_str(),
            if code.retried() { "yes" } else { "no" },
            code.meaning(),
            code.action()
        ));
    }
    out
}
