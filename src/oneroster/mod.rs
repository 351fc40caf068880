//! The OneRoster 1.1 client: the operator's only way to a school's data.
//!
//! It reads a ClassLink Roster Server (or any OneRoster 1.1 REST API) into compact
//! [`records`] and knows nothing of Kubernetes. [`Client::fetch_roster`] reads everything
//! a sync needs; the per-collection fetches read one collection.
//!
//! - Authentication: OAuth 1.0a signing ([`Auth::OAuth1`], ClassLink's default),
//!   OAuth 2.0 client credentials, or a static bearer token.
//! - Paging: pages of [`ClientConfig::page_size`]; when the first page tells the total,
//!   the rest is fetched concurrently (at most [`ClientConfig::max_concurrent_requests`]
//!   requests in flight); otherwise `Link: rel="next"` or the next offset is followed
//!   until a short or empty page.
//! - Memory: one [`MemoryBudget`] per sync (page bodies in flight, field length) and
//!   records per collection bounded by what the server announced; pages that repeat
//!   records already read fail with `PagesRepeated`.
//! - Robustness: timeouts, retries with exponential backoff and full jitter, `x-perm-rev`
//!   change detection, and one [`Error`] whose [`Error::code`] is the stable error code.

mod client;
mod config;
mod decode;
mod enrollments;
mod error;
mod oauth1;
pub mod records;
mod redact;
mod transport;
mod url;

pub use client::{Client, Progress, RosterProgress};
pub use config::{
    Auth, ClientConfig, DEFAULT_MAX_BYTES_IN_FLIGHT, DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_FIELD_BYTES, DEFAULT_PAGE_SIZE, MemoryBudget, RetryNotice, RetryObserver,
    RetryPolicy, Secret, SignatureMethod,
};
pub use decode::decode_page_as;
pub use enrollments::{EnrollmentRef, Enrollments};
pub use error::Error;
pub use records::{
    AcademicSession, Class, ClassType, Collection, Course, Enrollment, Fetched, Org, OrgType, Role,
    Roster, SessionType, Status, TextList, User, UserText, UserTexts,
};
pub use url::{BASE_PATH, BaseUrl};
