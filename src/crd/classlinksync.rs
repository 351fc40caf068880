//! `ClassLinkSync`: one ClassLink Roster Server integration, the guide's "Add ClassLink Sync"
//! dialog as a Kubernetes resource, with the guide's "Sync Details" screen as its status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Page size asked of the Roster Server when the spec does not say (ClassLink's recommendation).
pub const DEFAULT_PAGE_SIZE: u32 = 10_000;
/// Requests in flight at once against one Roster Server when the spec does not say.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 4;
/// Seconds one HTTP request may take when the spec does not say.
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u32 = 60;
/// Minutes a whole sync may take when the spec does not say. The guide warns that a
/// district's first sync can take up to four hours.
pub const DEFAULT_SYNC_TIMEOUT_MINUTES: u32 = 360;
/// Share of stored people a sync may remove before the shrink guard refuses it.
pub const DEFAULT_SHRINK_GUARD_PERCENT: u32 = 30;
/// Merge priority of a provider whose spec does not say.
pub const DEFAULT_MERGE_PRIORITY: i32 = 100;

/// Desired state of one ClassLink integration: where the Roster Server is, how to sign in,
/// which data to sync and how to merge people with the platform's existing users.
// printcolumn(...) repeats `type_ = ...` by design; clippy reads that as a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rostersync.io",
    version = "v1alpha1",
    kind = "ClassLinkSync",
    plural = "classlinksyncs",
    singular = "classlinksync",
    namespaced,
    status = "ClassLinkSyncStatus",
    shortname = "cls",
    shortname = "clsync",
    category = "classlink",
    doc = "A ClassLink Roster Server integration whose roster the operator syncs on its region's nightly schedule or on demand.",
    printcolumn(
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        name = "Ready",
        type_ = "string",
        description = "True while the last sync succeeded (fully or partially)"
    ),
    printcolumn(
        json_path = ".status.conditions[?(@.type==\"Syncing\")].reason",
        name = "Status",
        type_ = "string",
        description = "Running, or what comes next: Scheduled, Retrying, ChangePending, WaitingForCapacity, Suspended"
    ),
    printcolumn(
        json_path = ".status.lastSync.result",
        name = "Result",
        type_ = "string"
    ),
    printcolumn(
        json_path = ".status.lastSync.counts.syncedStudents",
        name = "Students",
        type_ = "integer",
        description = "Students synced by the last sync, matched or not"
    ),
    printcolumn(
        json_path = ".status.lastSync.counts.syncedTeachers",
        name = "Teachers",
        type_ = "integer",
        description = "Teachers synced by the last sync, matched or not"
    ),
    printcolumn(
        json_path = ".status.lastSync.counts.importedClasses",
        name = "Classes",
        type_ = "integer",
        description = "Imported Classes in the last sync"
    ),
    printcolumn(
        json_path = ".status.lastSync.counts.unmatchedUsers",
        name = "Unmatched",
        type_ = "integer",
        description = "Unmatched Users in the last sync"
    ),
    printcolumn(
        json_path = ".status.lastSync.errorCode",
        name = "Error",
        type_ = "string"
    ),
    printcolumn(
        json_path = ".status.lastSync.completionTime",
        name = "Last Sync",
        type_ = "date"
    ),
    printcolumn(
        json_path = ".status.nextSyncTime",
        name = "Next Sync",
        type_ = "string",
        description = "When the next sync may start (RFC 3339); empty while suspended or running"
    ),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    ),
    printcolumn(
        json_path = ".spec.region",
        name = "Region",
        type_ = "string",
        priority = 1
    ),
    printcolumn(
        json_path = ".spec.displayName",
        name = "Display Name",
        type_ = "string",
        priority = 1
    ),
    printcolumn(
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        name = "Message",
        type_ = "string",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClassLinkSyncSpec {
    /// Name of the integration as people know it (the guide's "Name"), for example
    /// "Riverside District ClassLink".
    #[schemars(length(min = 1, max = 253))]
    pub display_name: String,

    /// Endpoint URL of the ClassLink Roster Server, as shown on ClassLink's API Credentials
    /// page, for example `https://district-ca-v2.oneroster.com`. The operator appends the
    /// OneRoster base path `/ims/oneroster/v1p1` unless the URL already ends in it.
    /// Plain `http://` is refused unless the operator runs with `--allow-insecure-http`.
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^https?://[^\s/?#]+[^\s?#]*$")
    )]
    pub endpoint: String,

    /// Region of the school. It sets the nightly sync window: 18:00 local time, and a sync
    /// starts some time in the twelve hours after. US: America/Chicago, AU: Australia/Perth,
    /// NZ: Pacific/Auckland, UK: UTC.
    pub region: Region,

    /// When true, no new sync starts (scheduled, initial or manual). A sync already running
    /// finishes. Status keeps the last result.
    #[serde(default)]
    pub suspend: bool,

    /// How the operator signs in to the Roster Server: the Client Key and Client Secret from
    /// ClassLink's API Credentials page, kept in a Secret of this namespace.
    pub credentials: Credentials,

    /// The guide's sync options: which data to sync.
    #[serde(default)]
    pub options: SyncOptions,

    /// The guide's "Merge Identities": how people from this provider are combined with the
    /// platform's existing users and with other providers.
    #[serde(default)]
    pub merge: MergeSettings,

    /// Turn on for SIS vendors with only the minimum OneRoster implementation: the operator
    /// then reads only `/orgs`, `/academicSessions`, `/classes`, `/users` and `/enrollments`
    /// without server-side filters, and filters the records itself.
    #[serde(default)]
    pub compatibility_mode: bool,

    /// Records asked for in one page (`limit`). ClassLink recommends 10000.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 10000))]
    pub page_size: u32,

    /// Most requests in flight at once against this Roster Server.
    #[serde(default = "default_max_concurrent_requests")]
    #[schemars(range(min = 1, max = 32))]
    pub max_concurrent_requests: u32,

    /// Seconds one HTTP request may take before it is retried or the sync fails with
    /// `RequestTimeout`.
    #[serde(default = "default_request_timeout_seconds")]
    #[schemars(range(min = 1, max = 600))]
    pub request_timeout_seconds: u32,

    /// Minutes one whole sync may take before it is cancelled with `SyncTimeout`; the store
    /// keeps its previous snapshot.
    #[serde(default = "default_sync_timeout_minutes")]
    #[schemars(range(min = 1, max = 1440))]
    pub sync_timeout_minutes: u32,

    /// Shrink guard: a sync in which more than this percentage of the people this provider
    /// has in the store are missing from the feed is refused with `ShrinkGuardTripped` until
    /// a user confirms it (annotation `rostersync.io/confirm-shrink`). A truncated feed
    /// otherwise looks like a mass deletion. 100 turns the guard off.
    #[serde(default = "default_shrink_guard_percent")]
    #[schemars(range(min = 1, max = 100))]
    pub shrink_guard_percent: u32,

    /// When a new ClassLinkSync first syncs: `Immediate` (the guide's "Select Sync" after
    /// Submit) or `NextWindow` (wait for the region's nightly window).
    #[serde(default)]
    pub initial_sync: InitialSync,

    /// What happens to this provider's data in the roster store when the ClassLinkSync is
    /// deleted: `Retain` keeps it, `Delete` removes it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Region of the school; it picks the time zone of the nightly sync window.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Region {
    /// United States: window opens 18:00 America/Chicago (US Central Time).
    US,
    /// Australia: window opens 18:00 Australia/Perth (AWST, UTC+8).
    AU,
    /// New Zealand: window opens 18:00 Pacific/Auckland (NZST, daylight time in summer).
    NZ,
    /// United Kingdom: window opens 18:00 UTC.
    UK,
}

/// Where the Client Key and Client Secret live and how requests are signed.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.tokenUrl) == (has(self.method) && self.method == 'OAuth2ClientCredentials')")
        .message("tokenUrl is required with method OAuth2ClientCredentials and not allowed with any other method")
        .field_path(".tokenUrl")
)]
#[x_kube(
    validation = Rule::new("!has(self.scopes) || size(self.scopes) == 0 || (has(self.method) && self.method == 'OAuth2ClientCredentials')")
        .message("scopes are only used with method OAuth2ClientCredentials")
        .field_path(".scopes")
)]
pub struct Credentials {
    /// The Secret, in this namespace, that holds the credentials.
    pub secret_ref: SecretReference,

    /// How requests are authenticated. `OAuth1` (ClassLink's default) signs every request
    /// with the Client Key and Client Secret; `OAuth2ClientCredentials` exchanges them for a
    /// token at `tokenUrl`; `Bearer` sends a static token (as ClassLink's proxy issues).
    #[serde(default)]
    pub method: AuthMethod,

    /// Signature method for `OAuth1`. ClassLink signs with HMAC-SHA256; some other
    /// OneRoster servers expect HMAC-SHA1.
    #[serde(default)]
    pub signature_method: SignatureMethod,

    /// Token endpoint for `OAuth2ClientCredentials`, for example
    /// `https://district.oneroster.com/oauth2/token`. Required with that method, refused
    /// with the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^https?://[^\s/?#]+[^\s?#]*$")
    )]
    pub token_url: Option<String>,

    /// Scopes asked for with `OAuth2ClientCredentials`, for example
    /// `https://purl.imsglobal.org/spec/or/v1p1/scope/roster-core.readonly`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub scopes: Vec<String>,
}

/// A Secret in the same namespace as the ClassLinkSync. Other namespaces are never read.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// Key in the Secret that holds the Client Key (client id). Default `clientId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub client_id_key: Option<String>,

    /// Key in the Secret that holds the Client Secret. Default `clientSecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub client_secret_key: Option<String>,

    /// Key in the Secret that holds the static token for `Bearer`. Default `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub token_key: Option<String>,
}

impl SecretReference {
    /// Secret key of the Client Key.
    pub fn client_id_key(&self) -> &str {
        self.client_id_key.as_deref().unwrap_or("clientId")
    }

    /// Secret key of the Client Secret.
    pub fn client_secret_key(&self) -> &str {
        self.client_secret_key.as_deref().unwrap_or("clientSecret")
    }

    /// Secret key of the bearer token.
    pub fn token_key(&self) -> &str {
        self.token_key.as_deref().unwrap_or("token")
    }
}

/// How requests to the Roster Server are authenticated.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AuthMethod {
    /// OAuth 1.0a request signing with the Client Key and Client Secret (ClassLink's default).
    #[default]
    OAuth1,
    /// OAuth 2.0 client credentials grant: the Client Key and Client Secret buy a token at
    /// `tokenUrl`.
    OAuth2ClientCredentials,
    /// A static bearer token from the Secret's `token` key.
    Bearer,
}

/// OAuth 1.0a signature method.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum SignatureMethod {
    /// HMAC with SHA-256, as ClassLink signs.
    #[default]
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
    /// HMAC with SHA-1, for servers that only accept it.
    #[serde(rename = "HMAC-SHA1")]
    HmacSha1,
}

/// The guide's sync options.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.parentRelationshipType) == (has(self.syncParentData) && self.syncParentData)")
        .message("parentRelationshipType is required when syncParentData is true and not allowed otherwise")
        .field_path(".parentRelationshipType")
)]
pub struct SyncOptions {
    /// Sync classes and class memberships (on by default). Off: no classes are synced and
    /// Imported Classes is 0.
    #[serde(default = "default_true")]
    pub sync_classroom_data: bool,

    /// Sync only students with an enrollment that holds today (begin date inclusive, end
    /// date exclusive, missing dates open), so students who have left are not synced.
    /// Off: all active students are synced.
    #[serde(default)]
    pub respect_enrolment_date: bool,

    /// Sync only classes of a term, semester or school year that holds today. Off: all
    /// active classes are synced, whatever their dates.
    #[serde(default)]
    pub respect_academic_sessions: bool,

    /// Sync guardians of synced students: their contact details and their relationship to
    /// each student. Needs `parentRelationshipType`.
    #[serde(default)]
    pub sync_parent_data: bool,

    /// Which OneRoster role is synced as a guardian. Required with `syncParentData`,
    /// refused without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_relationship_type: Option<ParentRelationshipType>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            sync_classroom_data: true,
            respect_enrolment_date: false,
            respect_academic_sessions: false,
            sync_parent_data: false,
            parent_relationship_type: None,
        }
    }
}

/// Which OneRoster role is synced as a guardian: `Parent`, `Relative` or `Guardian`.
/// Required with `syncParentData`, refused without it.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ParentRelationshipType {
    /// Users with role `parent`.
    Parent,
    /// Users with role `relative`.
    Relative,
    /// Users with role `guardian`.
    Guardian,
}

/// The guide's "Merge Identities" settings.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MergeSettings {
    /// Merge priority: where several ClassLinkSyncs of this namespace link the same user,
    /// the attributes of the one with the highest priority win. Give a secondary provider a
    /// value lower than the primary's.
    #[serde(default = "default_merge_priority")]
    #[schemars(range(min = 0, max = 1000))]
    pub priority: i32,

    /// Merge key: `Email` matches on the whole email address, `EmailWithoutDomain` on the
    /// part before `@` (for directories with different domains). Both are case sensitive.
    #[serde(default)]
    pub key: MergeKey,

    /// Link people only to users that already exist on the platform; people without a
    /// match are reported as unmatched and not created.
    #[serde(default)]
    pub attach_to_existing_users_only: bool,
}

impl Default for MergeSettings {
    fn default() -> Self {
        Self {
            priority: DEFAULT_MERGE_PRIORITY,
            key: MergeKey::default(),
            attach_to_existing_users_only: false,
        }
    }
}

/// What a person is matched on.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum MergeKey {
    /// The whole email address, case sensitive.
    #[default]
    Email,
    /// The part of the email address before `@`, case sensitive.
    EmailWithoutDomain,
}

/// When a new ClassLinkSync first syncs.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum InitialSync {
    /// Sync as soon as the resource is created.
    #[default]
    Immediate,
    /// Wait for the region's next nightly window.
    NextWindow,
}

/// What deleting a ClassLinkSync does to its data in the roster store.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep this provider's people, classes and links in the store.
    #[default]
    Retain,
    /// Remove this provider's data from the store before the resource goes away.
    Delete,
}

/// Observed state: the guide's "Sync Details".
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassLinkSyncStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (the last sync succeeded), `Syncing` (a sync runs now; its message tells the
    /// phase and records fetched) and `Stalled` (a fault a user must fix, such as a missing
    /// Secret or refused credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The most recent finished sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<SyncRun>,

    /// When the last sync that ended `Succeeded` or `PartiallySucceeded` completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_sync_time: Option<Time>,

    /// When the next sync may start: the nightly slot, or sooner when a failed sync is
    /// retried or a change waits out its short delay (the `Syncing` condition says which).
    /// Absent while suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sync_time: Option<Time>,

    /// The last value of the `rostersync.io/sync-requested-at` annotation that started a
    /// manual sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_sync_request: Option<String>,

    /// The last value of the `rostersync.io/confirm-shrink` annotation that let a sync
    /// remove more people than the shrink guard allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_shrink_confirmation: Option<String>,

    /// When the most recent sync of any kind started (it may still run). A sync that
    /// started in a night's window counts as that night's: at most one scheduled sync runs
    /// per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_start_time: Option<Time>,

    /// Failed syncs in a row since the last one that did not fail; transient failures are
    /// retried after 1, 2, 4 … minutes (at most 60) as this grows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_attempts: Option<u32>,

    /// Fingerprint of what the most recent sync started from: the spec (but `suspend` and
    /// `displayName`), the credentials Secret's version and the SchoolExclusions naming this
    /// ClassLinkSync. When it differs from what the cluster holds now, a sync starts shortly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_fingerprint: Option<String>,

    /// Every school the last sync saw: the guide's "Included Schools" and "Excluded
    /// Schools" lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2000))]
    pub schools: Vec<SchoolStatus>,
}

/// One finished sync: what started it, how it ended and what it counted.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    /// What started the sync.
    pub trigger: SyncTrigger,

    /// When the sync started.
    pub start_time: Time,

    /// When the sync finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,

    /// How long the sync took, in whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,

    /// `Succeeded`, `PartiallySucceeded` (some schools' data was incomplete and left as it
    /// was) or `Failed` (nothing changed in the store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<SyncResult>,

    /// Stable error code when the result is not `Succeeded`; docs/error-codes.md says what
    /// each means and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,

    /// What happened, for people. Never holds secrets or personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// The guide's counts and the ones users ask for next.
    #[serde(default)]
    pub counts: SyncCounts,

    /// Up to 20 problems found in the data, each with a code and record ids, never personal
    /// data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub problems: Vec<Problem>,
}

/// What started a sync.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SyncTrigger {
    /// The first sync of a new ClassLinkSync.
    Initial,
    /// The region's nightly window.
    Scheduled,
    /// A user asked for it (annotation or `classlink-operator trigger`).
    Manual,
    /// A transient failure is retried with backoff.
    Retry,
    /// The spec, the credentials Secret or a SchoolExclusion changed.
    Changed,
}

/// How a sync ended.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SyncResult {
    /// Every included school was synced.
    Succeeded,
    /// Some schools had incomplete data and were left as they were; the others were synced.
    PartiallySucceeded,
    /// Nothing was changed in the store.
    Failed,
}

/// Counts of one sync. Matched means linked to a platform user that existed before this
/// sync; docs/counts.md defines each.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncCounts {
    /// People (students, teachers, staff) with no platform user before this sync: created
    /// now, or skipped with `attachToExistingUsersOnly`.
    #[serde(default)]
    pub unmatched_users: u64,
    /// Students linked to a platform user that existed before this sync.
    #[serde(default)]
    pub matched_students: u64,
    /// Teachers linked to a platform user that existed before this sync.
    #[serde(default)]
    pub matched_teachers: u64,
    /// Administrators, aides and other staff linked to a platform user that existed before
    /// this sync.
    #[serde(default)]
    pub matched_staff: u64,
    /// Classes written to the store.
    #[serde(default)]
    pub imported_classes: u64,
    /// Students this sync kept (active, of an included and complete school), matched or
    /// not: what the roster holds for this provider now.
    #[serde(default)]
    pub synced_students: u64,
    /// Teachers this sync kept, matched or not.
    #[serde(default)]
    pub synced_teachers: u64,
    /// Administrators, aides and other staff this sync kept, matched or not.
    #[serde(default)]
    pub synced_staff: u64,
    /// Guardians synced with their relationship to students.
    #[serde(default)]
    pub synced_guardians: u64,
    /// Platform users this sync created.
    #[serde(default)]
    pub created_users: u64,
    /// Schools left out by SchoolExclusions.
    #[serde(default)]
    pub excluded_schools: u64,
}

/// A problem found in the data. It names records by their ids only.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Stable code of the problem, for example `DanglingCourseReference`.
    pub code: String,
    /// sourcedId of the school concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
    /// OneRoster collection of the record concerned, for example `classes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// sourcedId of the record concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// How many records had this problem, when several are folded into one entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u64>,
    /// What is wrong, for people.
    pub message: String,
}

/// One school the last sync saw.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchoolStatus {
    /// The school's OneRoster sourcedId.
    pub sourced_id: String,
    /// The school's name.
    pub name: String,
    /// The school's identifier (often its state or district code), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// True when the school was synced; false when a SchoolExclusion took it out.
    pub included: bool,
    /// Name of the SchoolExclusion that took the school out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_by: Option<String>,
    /// False when the school's data was incomplete and its stored data was left as it was.
    pub complete: bool,
    /// What the last sync counted for this school.
    #[serde(default)]
    pub counts: SchoolCounts,
}

/// Per-school counts.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchoolCounts {
    /// Students synced for the school.
    #[serde(default)]
    pub students: u64,
    /// Teachers synced for the school.
    #[serde(default)]
    pub teachers: u64,
    /// Other staff synced for the school.
    #[serde(default)]
    pub staff: u64,
    /// Classes synced for the school.
    #[serde(default)]
    pub classes: u64,
}

fn default_true() -> bool {
    true
}
fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_max_concurrent_requests() -> u32 {
    DEFAULT_MAX_CONCURRENT_REQUESTS
}
fn default_request_timeout_seconds() -> u32 {
    DEFAULT_REQUEST_TIMEOUT_SECONDS
}
fn default_sync_timeout_minutes() -> u32 {
    DEFAULT_SYNC_TIMEOUT_MINUTES
}
fn default_shrink_guard_percent() -> u32 {
    DEFAULT_SHRINK_GUARD_PERCENT
}
fn default_merge_priority() -> i32 {
    DEFAULT_MERGE_PRIORITY
}
