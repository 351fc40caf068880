//! The OneRoster client against the project's simulator: every auth method, every
//! simulator fault, both endpoint modes, the concurrency bound and Retry-After.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use classlink_operator::error_code::ErrorCode;
use classlink_operator::oneroster::{
    Auth, Client, ClientConfig, Collection, Error, Progress, RetryNotice, RetryObserver,
    RetryPolicy, Role, Roster, Secret, SignatureMethod,
};
use oneroster_sim::{AuthMethods, Fault, Preset, Sim, SimConfig};

const CLIENT_ID: &str = oneroster_sim::config::DEFAULT_CLIENT_ID;
const CLIENT_SECRET: &str = oneroster_sim::config::DEFAULT_CLIENT_SECRET;

async fn start(config: SimConfig) -> Sim {
    match oneroster_sim::start(config).await {
        Ok(sim) => sim,
        Err(e) => panic!("the simulator did not start: {e:#}"),
    }
}

/// A tiny district (1 school, 30 students) with a fixed seed.
fn tiny() -> SimConfig {
    SimConfig::new(Preset::Tiny).seed(7)
}

fn oauth1(method: SignatureMethod) -> Auth {
    Auth::OAuth1 {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
        signature_method: method,
    }
}

fn oauth2(sim: &Sim, secret: &str, scopes: &[&str]) -> Auth {
    Auth::OAuth2ClientCredentials {
        token_url: sim.token_url(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

/// Small pages so every collection spans several; fast retries so faults stay quick.
fn config(sim: &Sim, auth: Auth) -> ClientConfig {
    let mut config = ClientConfig::new(sim.base_url(), auth);
    config.allow_insecure_http = true;
    config.page_size = 10;
    config.retry = RetryPolicy {
        attempts: 4,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        budget: 1_000,
        max_retry_after: Duration::from_secs(5),
    };
    config
}

/// One request at a time: the simulator's share-based faults then hit every n-th
/// request in turn, so a retry always lands on a clean answer.
fn one_at_a_time(mut config: ClientConfig) -> ClientConfig {
    config.max_concurrent_requests = 1;
    config
}

fn client(config: ClientConfig) -> Client {
    match Client::new(config) {
        Ok(client) => client,
        Err(e) => panic!("client: {e}"),
    }
}

async fn roster(config: ClientConfig) -> Result<Roster, Error> {
    client(config).fetch_roster(|_| {}).await
}

async fn roster_ok(config: ClientConfig) -> Roster {
    match roster(config).await {
        Ok(roster) => roster,
        Err(e) => panic!("fetch_roster failed with {}: {e}", e.code()),
    }
}

async fn error_of(config: ClientConfig) -> Error {
    match roster(config).await {
        Ok(_) => panic!("fetch_roster succeeded but should have failed"),
        Err(e) => e,
    }
}

fn counted(roster: &Roster, role: Role) -> u64 {
    roster
        .users
        .iter()
        .filter(|u| u.enabled && u.role.as_ref() == Some(&role))
        .count() as u64
}

/// The roster agrees with the simulator's ground truth.
fn assert_matches_ground_truth(roster: &Roster, sim: &Sim) {
    let stats = sim.stats();
    assert_eq!(roster.schools.len() as u64, stats.schools);
    assert_eq!(counted(roster, Role::Student), stats.counts.students);
    assert_eq!(counted(roster, Role::Teacher), stats.counts.teachers);
    assert_eq!(counted(roster, Role::Parent), stats.counts.parents);
    assert_eq!(counted(roster, Role::Guardian), stats.counts.guardians);
    assert_eq!(roster.classes.len() as u64, stats.counts.active_classes);
    assert_eq!(roster.enrollments.len() as u64, stats.counts.enrollments);
    assert!(!roster.academic_sessions.is_empty());
    assert!(roster.skipped_records.is_empty());
}

/// A baseline roster from a fault-free simulator with the same seed.
async fn baseline() -> Roster {
    let sim = start(tiny()).await;
    roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha256))).await
}

// ---- authentication ---------------------------------------------------------------

#[tokio::test]
async fn oauth1_hmac_sha256_reads_the_whole_roster() {
    let sim = start(tiny()).await;
    let roster = roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_matches_ground_truth(&roster, &sim);
    assert!(roster.courses.as_ref().is_some_and(|c| !c.is_empty()));
}

#[tokio::test]
async fn oauth1_hmac_sha1_is_accepted() {
    let sim = start(tiny()).await;
    let roster = roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha1))).await;
    assert_matches_ground_truth(&roster, &sim);
}

#[tokio::test]
async fn oauth1_with_a_wrong_secret_is_authentication_failed_without_the_secret() {
    let sim = start(tiny()).await;
    let auth = Auth::OAuth1 {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new("wrong-secret-value"),
        signature_method: SignatureMethod::HmacSha256,
    };
    let error = error_of(config(&sim, auth)).await;
    assert_eq!(error.code(), ErrorCode::AuthenticationFailed);
    let message = error.to_string();
    assert!(message.contains("invalid signature"), "{message}");
    assert!(
        message.contains("Likely cause: the Client Secret is wrong"),
        "{message}"
    );
    assert!(!message.contains("wrong-secret-value"), "{message}");
    // 401 is not retried.
    assert_eq!(sim.metrics().requests_served, 1);
}

#[tokio::test]
async fn oauth1_with_a_signature_method_the_server_rejects_says_so_not_the_secret() {
    let sim = start(tiny().signature_methods(&["HMAC-SHA1"])).await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::AuthenticationFailed);
    let message = error.to_string();
    assert!(message.contains("signature_method_rejected"), "{message}");
    assert!(
        message.contains(
            "Likely cause: the signature method (HMAC-SHA256) is not what the server expects; set spec.credentials.signatureMethod to HMAC-SHA1"
        ),
        "{message}"
    );
    assert!(!message.contains("Client Secret"), "{message}");
    // The method it takes works.
    let roster = roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha1))).await;
    assert_matches_ground_truth(&roster, &sim);
}

#[tokio::test]
async fn oauth2_token_is_fetched_once_and_reused() {
    let sim = start(tiny()).await;
    let roster = roster_ok(config(&sim, oauth2(&sim, CLIENT_SECRET, &[]))).await;
    assert_matches_ground_truth(&roster, &sim);
    let metrics = sim.metrics();
    assert_eq!(metrics.token_requests, 1);
    assert!(metrics.requests_served > 6);
}

#[tokio::test]
async fn oauth2_with_an_explicit_scope_works() {
    let sim = start(tiny()).await;
    let auth = oauth2(
        &sim,
        CLIENT_SECRET,
        &[oneroster_sim::auth::SCOPE_ROSTER_CORE],
    );
    let roster = roster_ok(config(&sim, auth)).await;
    assert_matches_ground_truth(&roster, &sim);
}

#[tokio::test]
async fn oauth2_token_refused_on_401_is_fetched_again_once() {
    // Tokens that are expired as soon as they are issued: every API call answers 401.
    let sim = start(tiny().token_ttl(Duration::ZERO)).await;
    let error = error_of(config(&sim, oauth2(&sim, CLIENT_SECRET, &[]))).await;
    assert_eq!(error.code(), ErrorCode::AuthenticationFailed);
    assert!(error.to_string().contains("expired"), "{error}");
    let metrics = sim.metrics();
    assert_eq!(
        metrics.token_requests, 2,
        "one token, then one refresh after the 401"
    );
    assert_eq!(metrics.requests_served, 2);
}

#[tokio::test]
async fn oauth2_with_a_wrong_secret_is_token_request_failed() {
    let sim = start(tiny()).await;
    let error = error_of(config(&sim, oauth2(&sim, "not-the-secret", &[]))).await;
    assert_eq!(error.code(), ErrorCode::TokenRequestFailed);
    assert!(!error.to_string().contains("not-the-secret"), "{error}");
    assert_eq!(sim.metrics().requests_served, 0);
}

#[tokio::test]
async fn oauth2_scope_that_does_not_cover_rosters_is_access_denied() {
    let sim = start(tiny()).await;
    let auth = oauth2(
        &sim,
        CLIENT_SECRET,
        &[oneroster_sim::auth::SCOPE_DEMOGRAPHICS],
    );
    let error = error_of(config(&sim, auth)).await;
    assert_eq!(error.code(), ErrorCode::AccessDenied);
    assert!(error.to_string().contains("scope"), "{error}");
}

#[tokio::test]
async fn bearer_token_reads_the_roster() {
    let sim = start(tiny().bearer_token("static-proxy-token")).await;
    let auth = Auth::Bearer {
        token: Secret::new("static-proxy-token"),
    };
    let roster = roster_ok(config(&sim, auth)).await;
    assert_matches_ground_truth(&roster, &sim);
}

#[tokio::test]
async fn wrong_bearer_token_is_authentication_failed() {
    let sim = start(tiny().bearer_token("static-proxy-token")).await;
    let auth = Auth::Bearer {
        token: Secret::new("some-other-token"),
    };
    let error = error_of(config(&sim, auth)).await;
    assert_eq!(error.code(), ErrorCode::AuthenticationFailed);
    assert!(!error.to_string().contains("some-other-token"));
}

#[tokio::test]
async fn an_auth_method_the_server_does_not_take_is_authentication_failed() {
    let methods = AuthMethods {
        oauth1: false,
        oauth2: true,
        bearer: true,
    };
    let sim = start(tiny().auth_methods(methods)).await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::AuthenticationFailed);
}

// ---- endpoint strategy and URLs ---------------------------------------------------

#[tokio::test]
async fn both_endpoint_modes_give_identical_records() {
    let sim = start(tiny()).await;
    let normal = roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    let mut compatible = config(&sim, oauth1(SignatureMethod::HmacSha256));
    compatible.compatibility_mode = true;
    let compatible = roster_ok(compatible).await;
    assert_eq!(compatible.courses, None);
    assert_eq!(
        Roster {
            courses: None,
            ..normal
        },
        compatible
    );
}

#[tokio::test]
async fn compatibility_mode_reads_a_minimal_server_like_a_full_one() {
    let full = baseline().await;
    let sim = start(tiny().fault(Fault::Minimal(true))).await;
    let mut compatible = config(&sim, oauth1(SignatureMethod::HmacSha256));
    compatible.compatibility_mode = true;
    let compatible = roster_ok(compatible).await;
    assert_eq!(
        Roster {
            courses: None,
            ..full
        },
        compatible
    );
}

#[tokio::test]
async fn normal_mode_on_a_minimal_server_is_not_oneroster_api() {
    let sim = start(tiny().fault(Fault::Minimal(true))).await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::NotOneRosterApi);
    assert!(error.to_string().contains("/schools"), "{error}");
}

#[tokio::test]
async fn endpoint_with_the_base_path_reads_the_same_roster() {
    let sim = start(tiny()).await;
    let bare = roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    let mut with_path = config(&sim, oauth1(SignatureMethod::HmacSha256));
    with_path.endpoint = format!("{}/", sim.api_url());
    assert_eq!(bare, roster_ok(with_path).await);
}

#[tokio::test]
async fn a_wrong_path_is_not_oneroster_api() {
    let sim = start(tiny()).await;
    let mut wrong = config(&sim, oauth1(SignatureMethod::HmacSha256));
    wrong.endpoint = format!("{}/roster", sim.base_url());
    let error = error_of(wrong).await;
    assert_eq!(error.code(), ErrorCode::NotOneRosterApi);
}

#[tokio::test]
async fn plain_http_is_refused_without_the_insecure_switch() {
    let sim = start(tiny()).await;
    let mut insecure = config(&sim, oauth1(SignatureMethod::HmacSha256));
    insecure.allow_insecure_http = false;
    let error = match Client::new(insecure) {
        Ok(_) => panic!("plain http accepted"),
        Err(e) => e,
    };
    assert_eq!(error.code(), ErrorCode::EndpointInvalid);
    assert_eq!(sim.metrics().requests_served, 0);
}

#[tokio::test]
async fn a_closed_port_is_endpoint_unreachable() {
    let port = {
        let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        match listener.local_addr() {
            Ok(a) => a.port(),
            Err(e) => panic!("addr: {e}"),
        }
    };
    let mut config = ClientConfig::new(
        format!("http://127.0.0.1:{port}"),
        oauth1(SignatureMethod::HmacSha256),
    );
    config.allow_insecure_http = true;
    let error = error_of(config).await;
    assert_eq!(error.code(), ErrorCode::EndpointUnreachable);
}

#[tokio::test]
async fn classes_of_one_school_come_from_the_nested_endpoint() {
    let sim = start(SimConfig::new(Preset::Small).seed(3)).await;
    let client = client(config(&sim, oauth1(SignatureMethod::HmacSha256)));
    let schools = match client.fetch_schools().await {
        Ok(s) => s.records,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(schools.len(), 3);
    let all = match client.fetch_classes().await {
        Ok(c) => c.records,
        Err(e) => panic!("{e}"),
    };
    let school = &schools[1].sourced_id;
    let nested = match client.fetch_classes_for_school(school).await {
        Ok(c) => c.records,
        Err(e) => panic!("{e}"),
    };
    let expected: Vec<_> = all
        .into_iter()
        .filter(|c| c.school.as_ref() == Some(school))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(nested, expected);
    // An id with reserved characters stays one path segment: an unknown school, not a
    // different route.
    let error = match client.fetch_classes_for_school("x/../../users?").await {
        Ok(_) => panic!("unknown school answered"),
        Err(e) => e,
    };
    assert_eq!(error.code(), ErrorCode::NotOneRosterApi);
    assert!(
        error.to_string().contains("x%2F..%2F..%2Fusers%3F"),
        "{error}"
    );
}

// ---- paging and concurrency -------------------------------------------------------

#[tokio::test]
async fn page_size_does_not_change_the_records() {
    let sim = start(tiny()).await;
    let small = roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    let mut one_page = config(&sim, oauth1(SignatureMethod::HmacSha256));
    one_page.page_size = 10_000;
    assert_eq!(small, roster_ok(one_page).await);
}

#[tokio::test]
async fn a_server_capping_the_page_size_is_read_completely() {
    let full = baseline().await;
    let sim = start(tiny().max_page_size(7)).await;
    let mut asks_more = config(&sim, oauth1(SignatureMethod::HmacSha256));
    asks_more.page_size = 25;
    assert_eq!(full, roster_ok(asks_more).await);
}

#[tokio::test]
async fn concurrency_never_exceeds_the_bound() {
    for bound in [1usize, 3] {
        let sim = start(
            SimConfig::new(Preset::Small)
                .seed(5)
                .fault(Fault::LatencyMs(5)),
        )
        .await;
        let mut bounded = config(&sim, oauth1(SignatureMethod::HmacSha256));
        bounded.page_size = 50;
        bounded.max_concurrent_requests = bound;
        let roster = roster_ok(bounded).await;
        assert_matches_ground_truth(&roster, &sim);
        let metrics = sim.metrics();
        assert!(
            metrics.max_in_flight <= bound as u64,
            "{} requests in flight with a bound of {bound}",
            metrics.max_in_flight
        );
        assert!(metrics.requests_served > 20);
    }
}

#[tokio::test]
async fn the_collections_after_the_schools_are_read_at_once() {
    // One page per collection: read one after another, a single request would be in
    // flight at any time.
    let sim = start(tiny().fault(Fault::LatencyMs(200))).await;
    let mut cfg = config(&sim, oauth1(SignatureMethod::HmacSha256));
    cfg.page_size = 10_000;
    cfg.max_concurrent_requests = 4;
    let roster = roster_ok(cfg).await;
    assert_matches_ground_truth(&roster, &sim);
    let metrics = sim.metrics();
    assert_eq!(
        metrics.max_in_flight, 4,
        "five collections' first pages wait for four places"
    );
}

#[tokio::test]
async fn clones_share_the_concurrency_bound() {
    let sim = start(
        SimConfig::new(Preset::Small)
            .seed(5)
            .fault(Fault::LatencyMs(5)),
    )
    .await;
    let mut bounded = config(&sim, oauth1(SignatureMethod::HmacSha256));
    bounded.page_size = 50;
    bounded.max_concurrent_requests = 2;
    let client = client(bounded);
    let other = client.clone();
    let (a, b) = tokio::join!(client.fetch_users(), other.fetch_enrollments());
    assert!(a.is_ok() && b.is_ok());
    assert!(sim.metrics().max_in_flight <= 2);
}

#[tokio::test]
async fn progress_is_reported_per_page() {
    let sim = start(tiny()).await;
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = seen.clone();
    let client = client(config(&sim, oauth1(SignatureMethod::HmacSha256)));
    let roster = match client
        .fetch_roster(move |p| {
            if let Ok(mut seen) = sink.lock() {
                seen.push(p)
            }
        })
        .await
    {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let last_users = seen
        .iter()
        .rfind(|p| p.collection == Collection::Users)
        .cloned();
    let Some(last_users) = last_users else {
        panic!("no progress for users")
    };
    assert_eq!(last_users.records, roster.users.len() as u64);
    assert_eq!(last_users.total, Some(roster.users.len() as u64));
    assert!(last_users.pages > 1);
}

// ---- faults: recovery and error codes ---------------------------------------------

fn recorder() -> (Arc<Mutex<Vec<RetryNotice>>>, RetryObserver) {
    let notices: Arc<Mutex<Vec<RetryNotice>>> = Arc::default();
    let sink = notices.clone();
    let observer = RetryObserver::new(move |n| {
        if let Ok(mut notices) = sink.lock() {
            notices.push(n.clone())
        }
    });
    (notices, observer)
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_servers_retry_after() {
    let full = baseline().await;
    let sim = start(tiny().fault(Fault::RateLimit(1.0 / 3.0, 1))).await;
    let (notices, observer) = recorder();
    let mut patient = config(&sim, oauth1(SignatureMethod::HmacSha256));
    patient.page_size = 50;
    patient.on_retry = Some(observer);
    patient.max_concurrent_requests = 1;
    assert_eq!(full, roster_ok(patient).await);
    let notices = notices.lock().map(|n| n.clone()).unwrap_or_default();
    assert!(!notices.is_empty());
    for notice in &notices {
        assert_eq!(notice.code, ErrorCode::RateLimited);
        assert_eq!(notice.retry_after, Some(Duration::from_secs(1)));
        // The planned wait honours Retry-After (the backoff alone would be <= 5 ms).
        assert!(notice.wait >= Duration::from_secs(1), "{notice:?}");
    }
}

#[tokio::test]
async fn constant_rate_limiting_is_rate_limited_after_the_attempts() {
    let sim = start(tiny().fault(Fault::RateLimit(1.0, 0))).await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::RateLimited);
    assert!(error.to_string().contains("slow down"), "{error}");
    assert_eq!(sim.metrics().requests_served, 4);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_ends_at_once() {
    let sim = start(tiny().fault(Fault::RateLimit(1.0, 600))).await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::RateLimited);
    assert!(error.to_string().contains("600s"), "{error}");
    assert_eq!(sim.metrics().requests_served, 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let full = baseline().await;
    let sim = start(tiny().fault(Fault::ServerError(1.0 / 3.0))).await;
    let (notices, observer) = recorder();
    let mut cfg = config(&sim, oauth1(SignatureMethod::HmacSha256));
    cfg.on_retry = Some(observer);
    cfg.max_concurrent_requests = 1;
    assert_eq!(full, roster_ok(cfg).await);
    let notices = notices.lock().map(|n| n.clone()).unwrap_or_default();
    assert!(
        !notices.is_empty() && notices.iter().all(|n| n.code == ErrorCode::ServerError),
        "{notices:?}"
    );
}

#[tokio::test]
async fn persistent_server_errors_are_server_error() {
    let sim = start(tiny().fault(Fault::ServerError(1.0))).await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::ServerError);
    assert!(
        error.to_string().contains("simulated server error"),
        "{error}"
    );
    assert_eq!(sim.metrics().requests_served, 4);
}

#[tokio::test]
async fn the_retry_budget_bounds_all_retries_of_a_fetch() {
    let sim = start(tiny().fault(Fault::ServerError(1.0))).await;
    let mut cfg = config(&sim, oauth1(SignatureMethod::HmacSha256));
    cfg.retry.budget = 1;
    let error = error_of(cfg).await;
    assert_eq!(error.code(), ErrorCode::ServerError);
    assert_eq!(sim.metrics().requests_served, 2);
}

#[tokio::test]
async fn connection_resets_are_retried() {
    let full = baseline().await;
    let sim = start(tiny().fault(Fault::Reset(0.5))).await;
    assert_eq!(
        full,
        roster_ok(one_at_a_time(config(
            &sim,
            oauth1(SignatureMethod::HmacSha256)
        )))
        .await
    );
}

#[tokio::test]
async fn persistent_resets_are_connection_reset() {
    let sim = start(tiny().fault(Fault::Reset(1.0))).await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::ConnectionReset);
}

#[tokio::test]
async fn truncated_bodies_are_fetched_again() {
    let full = baseline().await;
    let sim = start(tiny().fault(Fault::Truncate(0.5))).await;
    assert_eq!(
        full,
        roster_ok(one_at_a_time(config(
            &sim,
            oauth1(SignatureMethod::HmacSha256)
        )))
        .await
    );
}

#[tokio::test]
async fn persistently_truncated_bodies_are_malformed_response() {
    let sim = start(tiny().fault(Fault::Truncate(1.0))).await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::MalformedResponse);
    assert!(error.to_string().contains("truncated"), "{error}");
}

#[tokio::test]
async fn perm_rev_changing_on_every_page_is_data_changed_during_sync() {
    let sim = start(tiny().fault(Fault::PermRevChange(true))).await;
    let mut cfg = config(&sim, oauth1(SignatureMethod::HmacSha256));
    cfg.max_refetches = 2;
    let error = error_of(cfg).await;
    assert_eq!(error.code(), ErrorCode::DataChangedDuringSync);
    assert!(matches!(
        error,
        Error::DataChangedDuringSync { attempts: 3, .. }
    ));
}

#[tokio::test]
async fn a_collection_changed_once_is_read_again() {
    let sim = start(tiny()).await;
    let client = client(config(&sim, oauth1(SignatureMethod::HmacSha256)));
    let changed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = changed.clone();
    let sim = Arc::new(sim);
    let sim_in_progress = sim.clone();
    let roster = client
        .fetch_roster(move |p| {
            // After the first page of users, the district adds students.
            if p.collection == Collection::Users
                && p.pages == 1
                && !flag.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                let _ = sim_in_progress.mutate(oneroster_sim::Mutation::AddUsers { count: 3 });
            }
        })
        .await;
    let roster = match roster {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(changed.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(counted(&roster, Role::Student), sim.stats().counts.students);
}

#[tokio::test]
async fn next_past_the_end_does_not_loop() {
    let full = baseline().await;
    let sim = start(tiny().fault(Fault::NextPastEnd(true))).await;
    assert_eq!(
        full,
        roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha256))).await
    );
    let served = sim.metrics().requests_served;
    assert!(served < 100, "{served} requests");
}

#[tokio::test]
async fn bare_arrays_read_like_envelopes() {
    let full = baseline().await;
    let sim = start(tiny().fault(Fault::BareArray(true))).await;
    assert_eq!(
        full,
        roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha256))).await
    );
}

#[tokio::test]
async fn masked_emails_are_passed_on_for_the_engine_to_judge() {
    let sim = start(tiny().fault(Fault::MaskEmails(1.0))).await;
    let roster = roster_ok(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_matches_ground_truth(&roster, &sim);
    let full = baseline().await;
    let emails = |r: &Roster| -> Vec<Option<String>> {
        r.users
            .iter()
            .map(|u| u.email().map(str::to_owned))
            .collect()
    };
    assert_ne!(emails(&roster), emails(&full));
}

#[tokio::test]
async fn incomplete_school_data_is_passed_on_for_the_engine_to_judge() {
    let sim = start(SimConfig::new(Preset::Small).seed(3)).await;
    let school = {
        let client = client(config(&sim, oauth1(SignatureMethod::HmacSha256)));
        match client.fetch_schools().await {
            Ok(s) => s.records[0].sourced_id.clone(),
            Err(e) => panic!("{e}"),
        }
    };
    sim.set_fault(Fault::IncompleteSchool(school.clone()));
    let mut cfg = config(&sim, oauth1(SignatureMethod::HmacSha256));
    cfg.page_size = 500;
    let roster = roster_ok(cfg).await;
    let courses: std::collections::HashSet<&str> = roster
        .courses
        .iter()
        .flatten()
        .map(|c| c.sourced_id.as_str())
        .collect();
    let dangling = roster
        .classes
        .iter()
        .filter(|c| c.school.as_deref() == Some(school.as_str()))
        .filter(|c| c.course.as_deref().is_some_and(|k| !courses.contains(k)))
        .count();
    assert!(dangling > 0);
}

#[tokio::test]
async fn a_token_url_without_a_token_endpoint_says_the_url_is_wrong() {
    let sim = start(tiny()).await;
    // 404 from the simulator; 405 from a server that only serves GET there.
    let wrong_path = format!("{}/oauth2/tokens", sim.base_url());
    let get_only =
        scripted::serve(|_, _| Answer::json(r#"{"error":"method_not_allowed"}"#).status(405)).await;
    for token_url in [wrong_path, format!("{}/token", get_only.base)] {
        let auth = Auth::OAuth2ClientCredentials {
            token_url: token_url.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            scopes: Vec::new(),
        };
        let error = error_of(config(&sim, auth)).await;
        assert_eq!(error.code(), ErrorCode::TokenRequestFailed, "{error}");
        let message = error.to_string();
        assert!(message.contains("the token URL is wrong"), "{message}");
        assert!(!message.contains("Client Secret"), "{message}");
    }
}

#[tokio::test]
async fn a_refusal_quotes_the_servers_short_error() {
    for (status, body, code, quoted) in [
        (
            401,
            r#"{"error":"invalid_token","error_description":"signature mismatch"}"#,
            ErrorCode::AuthenticationFailed,
            "invalid_token: signature mismatch",
        ),
        (
            403,
            r#"{"error":"insufficient_scope"}"#,
            ErrorCode::AccessDenied,
            "insufficient_scope",
        ),
    ] {
        let server = scripted::serve(move |_, _| Answer::json(body).status(status)).await;
        let error = users_of(scripted_config(&server.base))
            .await
            .expect_err("refused");
        assert_eq!(error.code(), code);
        assert!(error.to_string().contains(quoted), "{error}");
    }
}

// ---- timeouts ---------------------------------------------------------------------

#[tokio::test]
async fn a_slow_answer_is_request_timeout() {
    let sim = start(tiny().fault(Fault::LatencyMs(3_000))).await;
    let mut impatient = config(&sim, oauth1(SignatureMethod::HmacSha256));
    impatient.request_timeout = Duration::from_millis(200);
    let error = error_of(impatient).await;
    assert_eq!(error.code(), ErrorCode::RequestTimeout);
}

#[tokio::test]
async fn a_timed_out_request_is_retried_like_a_server_error() {
    // The first answer of the first page is slow; the second is quick.
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    let server = scripted::serve(move |_, target| {
        let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let answer = Answer::json(users_json(&slice(target, 3).0));
        if n == 0 {
            answer.after(Duration::from_secs(3))
        } else {
            answer
        }
    })
    .await;
    let mut patient = scripted_config(&server.base);
    patient.request_timeout = Duration::from_millis(300);
    patient.retry = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        budget: 10,
        max_retry_after: Duration::from_secs(1),
    };
    assert_eq!(users_of(patient).await.ok(), Some(ids(0..3)));
    let first_page = server
        .requests()
        .iter()
        .filter(|r| param(r, "offset").is_none_or(|o| o == "0"))
        .count();
    assert_eq!(first_page, 2, "the timed-out page was asked again");
}

#[tokio::test]
async fn a_request_that_keeps_timing_out_names_its_attempts() {
    let sim = start(tiny().fault(Fault::LatencyMs(3_000))).await;
    let mut impatient = config(&sim, oauth1(SignatureMethod::HmacSha256));
    impatient.request_timeout = Duration::from_millis(100);
    impatient.retry.attempts = 2;
    let error = error_of(impatient).await;
    assert_eq!(error.code(), ErrorCode::RequestTimeout);
    assert!(error.to_string().contains("after 2 attempt(s)"), "{error}");
}

#[tokio::test]
async fn a_fetch_past_its_deadline_is_sync_timeout() {
    let sim = start(tiny().fault(Fault::LatencyMs(3_000))).await;
    let mut short = config(&sim, oauth1(SignatureMethod::HmacSha256));
    short.sync_deadline = Duration::from_millis(200);
    let error = error_of(short).await;
    assert_eq!(error.code(), ErrorCode::SyncTimeout);
}

// ---- a scripted server for what the simulator does not do -------------------------

mod scripted {
    //! A minimal HTTP/1.1 server answering from a closure, for paging without totals,
    //! looping `next` links, redirects and HTML answers.

    use std::io::Write as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpListener;

    pub struct Answer {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: String,
        /// Wait this long before answering (a slow server).
        pub delay: Option<std::time::Duration>,
        /// Send the body gzip-compressed when the request accepts it.
        pub gzip: bool,
        /// Compress the body as this many gzip members, one after the other.
        pub gzip_members: usize,
        /// Send only the first half of the compressed body (its length says that is all).
        pub gzip_cut: bool,
        /// The `content-encoding` a compressed body is labelled with.
        pub gzip_label: &'static str,
        /// Send the first half of the body, then wait this long before the rest.
        pub stall_midway: Option<std::time::Duration>,
    }

    impl Answer {
        pub fn json(body: impl Into<String>) -> Self {
            Answer {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.into(),
                delay: None,
                gzip: false,
                gzip_members: 1,
                gzip_cut: false,
                gzip_label: "gzip",
                stall_midway: None,
            }
        }

        pub fn gzip(mut self) -> Self {
            self.gzip = true;
            self
        }

        pub fn gzip_members(mut self, members: usize) -> Self {
            self.gzip_members = members;
            self
        }

        pub fn gzip_cut(mut self) -> Self {
            self.gzip_cut = true;
            self
        }

        pub fn gzip_label(mut self, label: &'static str) -> Self {
            self.gzip_label = label;
            self
        }

        pub fn stall_midway(mut self, pause: std::time::Duration) -> Self {
            self.stall_midway = Some(pause);
            self
        }

        pub fn after(mut self, delay: std::time::Duration) -> Self {
            self.delay = Some(delay);
            self
        }

        pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }

        pub fn status(mut self, status: u16) -> Self {
            self.status = status;
            self
        }
    }

    pub struct Server {
        pub base: String,
        pub requests: Arc<Mutex<Vec<String>>>,
        /// Answers sent gzip-compressed.
        pub gzipped: Arc<AtomicUsize>,
    }

    impl Server {
        pub fn requests(&self) -> Vec<String> {
            self.requests.lock().map(|r| r.clone()).unwrap_or_default()
        }

        pub fn gzipped(&self) -> usize {
            self.gzipped.load(Ordering::SeqCst)
        }
    }

    /// The value of a query parameter in a request target.
    pub fn param(target: &str, key: &str) -> Option<String> {
        let query = target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| v.to_string())
        })
    }

    /// A numeric query parameter, or `default` when it is missing or not a number.
    pub fn number(target: &str, key: &str, default: usize) -> usize {
        param(target, key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Reads one request head from `socket`, logs its target and writes the answer; true
    /// when the body went gzip-compressed.
    pub async fn answer_one<S: AsyncRead + AsyncWrite + Unpin>(
        socket: &mut S,
        base: &str,
        log: &Mutex<Vec<String>>,
        handler: &(dyn Fn(&str, &str) -> Answer + Send + Sync),
    ) -> bool {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buffer).to_string();
        let target = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if let Ok(mut log) = log.lock() {
            log.push(target.clone());
        }
        let answer = handler(base, &target);
        if let Some(delay) = answer.delay {
            tokio::time::sleep(delay).await;
        }
        let accepts_gzip = head.lines().any(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("accept-encoding") && value.contains("gzip")
            })
        });
        let compress = answer.gzip && accepts_gzip;
        let body = if compress {
            let plain = answer.body.as_bytes();
            let size = plain.len().div_ceil(answer.gzip_members.max(1)).max(1);
            let mut compressed = Vec::new();
            for part in plain.chunks(size) {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                match encoder.write_all(part).and_then(|()| encoder.finish()) {
                    Ok(member) => compressed.extend_from_slice(&member),
                    Err(e) => panic!("gzip: {e}"),
                }
            }
            if answer.gzip_cut {
                compressed.truncate(compressed.len() / 2);
            }
            compressed
        } else {
            answer.body.into_bytes()
        };
        let mut response = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
            answer.status,
            body.len()
        );
        if compress {
            response.push_str(&format!("content-encoding: {}\r\n", answer.gzip_label));
        }
        for (name, value) in &answer.headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        let mut bytes = response.into_bytes();
        let head_length = bytes.len();
        bytes.extend_from_slice(&body);
        if let Some(pause) = answer.stall_midway {
            let half = head_length + body.len() / 2;
            let _ = socket.write_all(&bytes[..half]).await;
            let _ = socket.flush().await;
            tokio::time::sleep(pause).await;
            bytes.drain(..half);
        }
        let _ = socket.write_all(&bytes).await;
        let _ = socket.shutdown().await;
        compress
    }

    pub async fn serve(handler: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Server {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let base = match listener.local_addr() {
            Ok(a) => format!("http://{a}"),
            Err(e) => panic!("addr: {e}"),
        };
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let gzipped: Arc<AtomicUsize> = Arc::default();
        let log = requests.clone();
        let compressed = gzipped.clone();
        let handler = Arc::new(handler);
        let own_base = base.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let handler = handler.clone();
                let log = log.clone();
                let compressed = compressed.clone();
                let own_base = own_base.clone();
                tokio::spawn(async move {
                    if answer_one(&mut socket, &own_base, &log, handler.as_ref()).await {
                        compressed.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Server {
            base,
            requests,
            gzipped,
        }
    }
}

use scripted::{Answer, number, param};

fn users_json(ids: &[String]) -> String {
    let records: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"sourcedId":"{id}","status":"active","role":"student"}}"#))
        .collect();
    format!(r#"{{"users":[{}]}}"#, records.join(","))
}

/// Users u0..u{count}, paged by the request's offset and limit.
fn slice(target: &str, count: usize) -> (Vec<String>, usize, usize) {
    let offset = number(target, "offset", 0);
    let limit = number(target, "limit", 100);
    let ids = (offset..(offset + limit).min(count))
        .map(|i| format!("u{i:02}"))
        .collect();
    (ids, offset, limit)
}

fn scripted_config(base: &str) -> ClientConfig {
    let mut config = ClientConfig::new(
        base,
        Auth::Bearer {
            token: Secret::new("t0ken-for-tests"),
        },
    );
    config.allow_insecure_http = true;
    config.page_size = 2;
    config.retry = RetryPolicy::none();
    config
}

async fn users_of(config: ClientConfig) -> Result<Vec<String>, Error> {
    let fetched = client(config).fetch_users().await?;
    Ok(fetched.records.into_iter().map(|u| u.sourced_id).collect())
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("u{i:02}")).collect()
}

#[tokio::test]
async fn without_a_total_next_links_are_followed_to_a_short_page() {
    let server = scripted::serve(|base, target| {
        let (ids, offset, limit) = slice(target, 5);
        // A next link on every page, the last one pointing past the end.
        let next = format!(
            "<{base}/ims/oneroster/v1p1/users?limit={limit}&offset={}>; rel=\"next\"",
            offset + limit
        );
        Answer::json(users_json(&ids)).header("link", next)
    })
    .await;
    assert_eq!(
        users_of(scripted_config(&server.base)).await.ok(),
        Some(ids(0..5))
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn without_a_total_or_links_full_pages_continue_by_offset() {
    let server = scripted::serve(|_, target| Answer::json(users_json(&slice(target, 6).0))).await;
    assert_eq!(
        users_of(scripted_config(&server.base)).await.ok(),
        Some(ids(0..6))
    );
    // Three full pages, then the empty one that ends it.
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn a_next_link_serving_the_same_page_again_does_not_loop() {
    let server = scripted::serve(|base, _| {
        Answer::json(users_json(&ids(0..2))).header(
            "link",
            format!("<{base}/ims/oneroster/v1p1/users?page=again>; rel=\"next\""),
        )
    })
    .await;
    assert_eq!(
        users_of(scripted_config(&server.base)).await.ok(),
        Some(ids(0..2))
    );
    assert!(server.requests().len() <= 3, "{:?}", server.requests());
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let server = scripted::serve(|_, target| {
        Answer::json(users_json(&slice(target, 3).0)).header(
            "link",
            "<https://elsewhere.example/ims/oneroster/v1p1/users?offset=2>; rel=\"next\"",
        )
    })
    .await;
    assert_eq!(
        users_of(scripted_config(&server.base)).await.ok(),
        Some(ids(0..3))
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.starts_with("/ims/oneroster/v1p1/users?"))
    );
}

#[tokio::test]
async fn a_server_capping_the_page_without_a_total_is_read_completely() {
    // Asked for 10 per page, the server gives 3 and a next link.
    let server = scripted::serve(|base, target| {
        let offset = number(target, "offset", 0);
        let ids: Vec<String> = (offset..(offset + 3).min(8))
            .map(|i| format!("u{i:02}"))
            .collect();
        let mut answer = Answer::json(users_json(&ids));
        if offset + 3 < 8 {
            answer = answer.header(
                "link",
                format!(
                    "<{base}/ims/oneroster/v1p1/users?limit=3&offset={}>; rel=\"next\"",
                    offset + 3
                ),
            );
        }
        answer
    })
    .await;
    let mut config = scripted_config(&server.base);
    config.page_size = 10;
    assert_eq!(users_of(config).await.ok(), Some(ids(0..8)));
}

#[tokio::test]
async fn an_absurd_total_is_malformed_response() {
    let server = scripted::serve(|_, target| {
        Answer::json(users_json(&slice(target, 4).0)).header("x-total-count", "999999999999")
    })
    .await;
    let error = users_of(scripted_config(&server.base)).await.err();
    assert_eq!(error.map(|e| e.code()), Some(ErrorCode::MalformedResponse));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_html_answer_is_not_oneroster_api() {
    let server = scripted::serve(|_, _| Answer {
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        ..Answer::json("<html><body>Sign in to ClassLink</body></html>")
    })
    .await;
    let error = users_of(scripted_config(&server.base)).await.err();
    assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotOneRosterApi));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = scripted::serve(|_, _| {
        Answer::json("")
            .status(302)
            .header("location", "https://login.example/sso?session=abc123")
    })
    .await;
    let error = match users_of(scripted_config(&server.base)).await {
        Ok(_) => panic!("redirect followed"),
        Err(e) => e,
    };
    assert_eq!(error.code(), ErrorCode::NotOneRosterApi);
    let message = error.to_string();
    assert!(message.contains("https://login.example/sso"), "{message}");
    assert!(!message.contains("abc123"), "{message}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_rejected_filter_names_the_servers_description() {
    let server = scripted::serve(|_, _| {
        Answer::json(
            r#"{"imsx_codeMajor":"failure","imsx_severity":"error","imsx_description":"Unsupported filter field","imsx_CodeMinor":{"imsx_codeMinorField":[{"imsx_codeMinorFieldName":"TargetEndSystem","imsx_codeMinorFieldValue":"invalid_filter_field"}]}}"#,
        )
        .status(400)
    })
    .await;
    let error = match users_of(scripted_config(&server.base)).await {
        Ok(_) => panic!("400 accepted"),
        Err(e) => e,
    };
    assert_eq!(error.code(), ErrorCode::NotOneRosterApi);
    assert!(
        error.to_string().contains("Unsupported filter field"),
        "{error}"
    );
}

#[tokio::test]
async fn records_without_a_sourced_id_are_counted_per_collection() {
    let server = scripted::serve(|_, target| {
        let path = target.split('?').next().unwrap_or_default();
        let body = match path.rsplit('/').next().unwrap_or_default() {
            "schools" => r#"{"orgs":[{"sourcedId":"s1","type":"school","name":"North"}]}"#,
            "users" => {
                r#"{"users":[{"sourcedId":"u1","role":"student"},{"role":"student"},{"sourcedId":""},{"sourcedId":"u2","status":"tobedeleted"}]}"#
            }
            "academicSessions" => r#"{"academicSessions":[]}"#,
            "courses" => r#"{"courses":[]}"#,
            "classes" => r#"{"classes":[]}"#,
            "enrollments" => r#"[{"status":"active"}]"#,
            _ => return Answer::json("{}").status(404),
        };
        Answer::json(body)
    })
    .await;
    let mut config = scripted_config(&server.base);
    config.page_size = 100;
    let roster = match client(config).fetch_roster(|_| {}).await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(roster.users.len(), 1);
    assert_eq!(roster.skipped_records.get(&Collection::Users), Some(&2));
    assert_eq!(
        roster.skipped_records.get(&Collection::Enrollments),
        Some(&1)
    );
    assert_eq!(roster.skipped_records.get(&Collection::Schools), None);
    // Normal mode asks the server to filter.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.contains("filter=status%3D%27active%27"))
    );
}

// ---- TLS with a private CA ----------------------------------------------------------

/// A test-only private CA and a server certificate for 127.0.0.1 it signed (valid until
/// 2046). The key protects nothing but these tests.
const PRIVATE_CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBvzCCAWWgAwIBAgIUG5qMXJ2Grt4b8pZ18niaanxk6MswCgYIKoZIzj0EAwIw\nLTErMCkGA1UEAwwiY2xhc3NsaW5rLW9wZXJhdG9yIHRlc3QgcHJpdmF0ZSBDQTAe\nFw0yNjExMjgxNTE3MjlaFw00NjExMjMxNTE3MjlaMC0xKzApBgNVBAMMImNsYXNz\nbGluay1vcGVyYXRvciB0ZXN0IHByaXZhdGUgQ0EwWTATBgcqhkjOPQIBBggqhkjO\nPQMBBwNCAATQAQO0U8d/2b7ixcLLO55+eOWZN8hAleDSDoufCLnnR0q5iKGT6P+d\nipRAcNl4fJJek9HUORV2Kb+gumGGFMbDo2MwYTAdBgNVHQ4EFgQUCinN2yg+L5Yt\nX4I+LkTec4av9wIwHwYDVR0jBBgwFoAUCinN2yg+L5YtX4I+LkTec4av9wIwDwYD\nVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIh\nANHRlfgF1RXRbCm3EybdYB7ItjSxB/XlFPWgdJ0VbFFoAiBbUm9DeTGufhhBwZAV\nML4DHlr04zfhtAY5qFQd9esTog==\n-----END CERTIFICATE-----\n";
const SERVER_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBxTCCAWqgAwIBAgIUVvrmtM04rtheIyuIq502U0VY3IkwCgYIKoZIzj0EAwIw\nLTErMCkGA1UEAwwiY2xhc3NsaW5rLW9wZXJhdG9yIHRlc3QgcHJpdmF0ZSBDQTAe\nFw0yNjExMjgxNTE3MjlaFw00NjExMjMxNTE3MjlaMBQxEjAQBgNVBAMMCTEyNy4w\nLjAuMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJfq3gzflVcjU4QsTsChhvfN\nBFsStxUjGobMKOwDUzP3mVOBCkboQjOv2LqSAmyLsmTa4Oh/7JsFUrQowoMm5QCj\ngYAwfjAPBgNVHREECDAGhwR/AAABMAkGA1UdEwQCMAAwCwYDVR0PBAQDAgeAMBMG\nA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBTbheZHfFlBLrqbeIvh7xzxF3PI\n/DAfBgNVHSMEGDAWgBQKKc3bKD4vli1fgj4uRN5zhq/3AjAKBggqhkjOPQQDAgNJ\nADBGAiEAspYwdl1qV4sgzSQGKIqGfEr51YDGfApBpZnZigsxmrwCIQCIvO3Fc5gy\nusn7oQ9ugAQdr5SLH64hdQzafbpDI0tqbw==\n-----END CERTIFICATE-----\n";
const SERVER_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtFqUyhjVZ2DUgKpn\nos9L/3GNaKs4boiUMUEkhlj/w92hRANCAASX6t4M35VXI1OELE7AoYb3zQRbErcV\nIxqGzCjsA1Mz95lTgQpG6EIzr9i6kgJsi7Jk2uDof+ybBVK0KMKDJuUA\n-----END PRIVATE KEY-----\n";

/// An https server on 127.0.0.1 with the private CA's certificate, answering users.
async fn serve_tls() -> (String, Arc<Mutex<Vec<String>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs: Vec<CertificateDer<'static>> =
        match CertificateDer::pem_slice_iter(SERVER_CERT_PEM.as_bytes()).collect() {
            Ok(c) => c,
            Err(e) => panic!("cert: {e}"),
        };
    let key = match PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM.as_bytes()) {
        Ok(k) => k,
        Err(e) => panic!("key: {e}"),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = match rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
    {
        Ok(c) => c,
        Err(e) => panic!("tls config: {e}"),
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let base = match listener.local_addr() {
        Ok(a) => format!("https://{a}"),
        Err(e) => panic!("addr: {e}"),
    };
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let requests = log.clone();
    let own_base = base.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let log = log.clone();
            let own_base = own_base.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let handler =
                        |_: &str, target: &str| Answer::json(users_json(&slice(target, 3).0));
                    scripted::answer_one(&mut tls, &own_base, &log, &handler).await;
                }
            });
        }
    });
    (base, requests)
}

#[tokio::test]
async fn a_private_ca_bundle_makes_the_server_trusted() {
    let (base, requests) = serve_tls().await;
    let mut config = scripted_config(&base);
    config.allow_insecure_http = false;
    config.page_size = 10;
    config.extra_ca_pem = Some(PRIVATE_CA_PEM.as_bytes().to_vec());
    assert_eq!(users_of(config).await.ok(), Some(ids(0..3)));
    assert_eq!(requests.lock().map(|r| r.len()).unwrap_or(0), 1);
}

#[tokio::test]
async fn a_server_with_an_unknown_ca_is_endpoint_unreachable() {
    let (base, requests) = serve_tls().await;
    let mut config = scripted_config(&base);
    config.allow_insecure_http = false;
    let error = match users_of(config).await {
        Ok(_) => panic!("an unknown CA was trusted"),
        Err(e) => e,
    };
    assert_eq!(error.code(), ErrorCode::EndpointUnreachable);
    assert!(error.to_string().contains("certificate"), "{error}");
    assert_eq!(requests.lock().map(|r| r.len()).unwrap_or(0), 0);
}

/// A medium district (20 schools, 20,000 students) in pages of 10,000: run with
/// `cargo test --release --test oneroster_client -- --ignored` to see a realistic load.
#[tokio::test]
#[ignore = "a larger load; run on demand"]
async fn a_medium_district_is_read_completely() {
    let sim = start(SimConfig::new(Preset::Medium).seed(11)).await;
    let mut cfg = config(&sim, oauth1(SignatureMethod::HmacSha256));
    cfg.page_size = 10_000;
    let roster = roster_ok(cfg).await;
    assert_matches_ground_truth(&roster, &sim);
}

// ---- the memory budget (issue 11 item 3) ------------------------------------------

#[tokio::test]
async fn a_huge_page_announced_by_its_length_is_refused_before_it_is_read() {
    // 1 GiB of valid JSON: its Content-Length alone breaks the 128 MiB budget, so the
    // client stops before reading the body.
    let sim = start(tiny().fault(Fault::HugePage {
        mib: 1024,
        chunked: false,
    }))
    .await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::MemoryBudgetExceeded, "{error}");
    let message = error.to_string();
    assert!(message.contains("128 MiB"), "{message}");
    assert!(message.contains("/users"), "{message}");
}

#[tokio::test]
async fn a_huge_page_without_a_length_stops_at_the_budget() {
    // 64 MiB sent chunked, against a budget of 1 MiB: reading stops at the budget.
    let sim = start(tiny().fault(Fault::HugePage {
        mib: 64,
        chunked: true,
    }))
    .await;
    let mut config = config(&sim, oauth1(SignatureMethod::HmacSha256));
    config.memory.max_bytes_in_flight = 1024 * 1024;
    let error = error_of(config).await;
    assert_eq!(error.code(), ErrorCode::MemoryBudgetExceeded, "{error}");
    assert!(error.to_string().contains("1 MiB"), "{error}");
}

#[tokio::test]
async fn the_default_budget_reads_a_whole_district_with_many_requests_at_once() {
    let sim = start(tiny()).await;
    let mut config = config(&sim, oauth1(SignatureMethod::HmacSha256));
    config.max_concurrent_requests = 32;
    let roster = roster_ok(config).await;
    assert_matches_ground_truth(&roster, &sim);
}

#[tokio::test]
async fn a_text_field_beyond_the_limit_is_memory_budget_exceeded() {
    let long_name = "x".repeat(100 * 1024);
    let server = scripted::serve(move |_, _| {
        Answer::json(format!(
            r#"{{"users":[{{"sourcedId":"u00","status":"active","givenName":"{long_name}"}}]}}"#
        ))
    })
    .await;
    let error = users_of(scripted_config(&server.base)).await.err();
    let error = error.expect("a 100 KiB field fails the fetch");
    assert_eq!(error.code(), ErrorCode::MemoryBudgetExceeded, "{error}");
    let message = error.to_string();
    assert!(message.contains("102400 bytes"), "{message}");
    assert!(message.contains("65536 bytes"), "{message}");
    assert!(
        !message.contains("xxxx"),
        "the field's text is never quoted"
    );

    // The same field fits a raised limit.
    let mut config = scripted_config(&server.base);
    config.memory.max_field_bytes = 200 * 1024;
    assert_eq!(users_of(config).await.ok(), Some(ids(0..1)));
}

#[tokio::test]
async fn far_more_records_than_announced_is_memory_budget_exceeded() {
    // X-Total-Count says 3; the first page holds 50 (asked for 2). At most 3 * 2 + 2 = 8
    // are decoded.
    let server =
        scripted::serve(|_, _| Answer::json(users_json(&ids(0..50))).header("x-total-count", "3"))
            .await;
    let error = users_of(scripted_config(&server.base)).await.err();
    let error = error.expect("50 records where 3 were announced fail the fetch");
    assert_eq!(error.code(), ErrorCode::MemoryBudgetExceeded, "{error}");
    assert!(error.to_string().contains("X-Total-Count"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_few_more_records_than_announced_are_read() {
    // Data grows while it is read: the last page brings 3 where 1 was left, 5 records
    // where 3 were announced, within the budget.
    let server = scripted::serve(|_, target| {
        let ids = match param(target, "offset").as_deref() {
            Some("2") => ids(2..5),
            _ => ids(0..2),
        };
        Answer::json(users_json(&ids)).header("x-total-count", "3")
    })
    .await;
    assert_eq!(
        users_of(scripted_config(&server.base)).await.ok(),
        Some(ids(0..5))
    );
}

#[tokio::test]
async fn concurrent_pages_each_a_little_beyond_add_up_to_memory_budget_exceeded() {
    // 10 announced in pages of 2: at most 10 * 2 + 2 = 22 records. The four pages read
    // concurrently after the first hold 6 each, every one within what was left when it
    // was asked for, together 26.
    let server = scripted::serve(|_, target| {
        let offset = number(target, "offset", 0);
        let ids = if offset == 0 {
            ids(0..2)
        } else {
            ids(offset * 10..offset * 10 + 6)
        };
        Answer::json(users_json(&ids)).header("x-total-count", "10")
    })
    .await;
    let mut config = scripted_config(&server.base);
    config.max_concurrent_requests = 4;
    let error = users_of(config).await.err();
    let error = error.expect("26 records where 10 were announced fail the fetch");
    assert_eq!(error.code(), ErrorCode::MemoryBudgetExceeded, "{error}");
    assert!(error.to_string().contains("X-Total-Count"), "{error}");
}

#[tokio::test]
async fn a_server_ignoring_offset_is_pages_repeated_in_the_parallel_path() {
    let sim = start(tiny().fault(Fault::IgnoreOffset {
        on: true,
        announced: None,
    }))
    .await;
    let error = error_of(config(&sim, oauth1(SignatureMethod::HmacSha256))).await;
    assert_eq!(error.code(), ErrorCode::PagesRepeated, "{error}");
    assert!(!error.code().retried());
}

#[tokio::test]
async fn a_server_ignoring_offset_with_a_vast_total_stops_at_the_first_repeat() {
    // 400,000 announced in pages of 10: 40,000 pages planned, every one the first page
    // again. The fetch stops at the first repeat, after a handful of requests.
    let sim = start(tiny().fault(Fault::IgnoreOffset {
        on: true,
        announced: Some(400_000),
    }))
    .await;
    let mut config = config(&sim, oauth1(SignatureMethod::HmacSha256));
    config.max_concurrent_requests = 4;
    let error = match client(config).fetch_users().await {
        Ok(_) => panic!("the fetch succeeded but should have failed"),
        Err(e) => e,
    };
    assert_eq!(error.code(), ErrorCode::PagesRepeated, "{error}");
    let served = sim.metrics().requests_served;
    assert!(served <= 10, "{served} requests served");
}

#[tokio::test]
async fn a_server_ignoring_offset_without_a_total_is_pages_repeated() {
    // No total, no links: the sequential path asks by offset and gets page one again.
    let server = scripted::serve(|_, _| Answer::json(users_json(&ids(0..2)))).await;
    let error = users_of(scripted_config(&server.base)).await.err();
    let error = error.expect("the fetch fails");
    assert_eq!(error.code(), ErrorCode::PagesRepeated, "{error}");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_repeat_after_the_parallel_pages_is_pages_repeated_in_the_sequential_path() {
    // The total says 8, pages of 2: the pages at 2, 4 and 6 are read in parallel; the
    // one at 4 is short (data moved), the last one full, so with 7 of 8 read the
    // sequential read goes on at 8, where the server answers page one again.
    let server = scripted::serve(|_, target| {
        let offset = number(target, "offset", 0);
        let ids = match offset {
            2 => ids(2..4),
            4 => ids(4..5),
            6 => ids(6..8),
            _ => ids(0..2),
        };
        Answer::json(users_json(&ids)).header("x-total-count", "8")
    })
    .await;
    let error = users_of(scripted_config(&server.base)).await.err();
    let error = error.expect("the fetch fails");
    assert_eq!(error.code(), ErrorCode::PagesRepeated, "{error}");
    assert!(error.to_string().contains("7 of 8"), "{error}");
}

// ---- compressed answers (issue 12) ------------------------------------------------

#[tokio::test]
async fn pages_travel_gzip_compressed_when_the_server_agrees() {
    let server = scripted::serve(|_, target| {
        Answer::json(users_json(&slice(target, 5).0))
            .header("x-total-count", "5")
            .gzip()
    })
    .await;
    assert_eq!(
        users_of(scripted_config(&server.base)).await.ok(),
        Some(ids(0..5))
    );
    // Three pages of 2, each answered compressed: every request said it accepts gzip.
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.gzipped(), 3);
}

#[tokio::test]
async fn the_byte_budget_counts_the_decompressed_body() {
    // 8 MiB of JSON that compresses to a few KiB, against a budget of 1 MiB.
    let server = scripted::serve(|_, _| {
        let padding = " ".repeat(8 * 1024 * 1024);
        Answer::json(format!(
            r#"{{"users":[{padding}{{"sourcedId":"u00","status":"active"}}]}}"#
        ))
        .gzip()
    })
    .await;
    let mut config = scripted_config(&server.base);
    config.memory.max_bytes_in_flight = 1024 * 1024;
    let error = users_of(config).await.err();
    let error = error.expect("8 MiB decompressed is beyond a 1 MiB budget");
    assert_eq!(error.code(), ErrorCode::MemoryBudgetExceeded, "{error}");
    assert!(error.to_string().contains("1 MiB"), "{error}");
    assert_eq!(server.gzipped(), 1);
}

#[tokio::test]
async fn a_compressed_refusal_still_names_the_servers_description() {
    let server = scripted::serve(|_, _| {
        Answer::json(
            r#"{"imsx_codeMajor":"failure","imsx_description":"Unsupported filter field"}"#,
        )
        .status(400)
        .gzip()
    })
    .await;
    let error = match users_of(scripted_config(&server.base)).await {
        Ok(_) => panic!("400 accepted"),
        Err(e) => e,
    };
    assert_eq!(error.code(), ErrorCode::NotOneRosterApi);
    assert!(
        error.to_string().contains("Unsupported filter field"),
        "{error}"
    );
    assert_eq!(server.gzipped(), 1);
}

/// Users fetched from a server that answers every request with `answer`, with two
/// attempts: the fetch fails with MalformedResponse after fetching again once.
async fn malformed_after_a_second_try(answer: fn() -> Answer) -> Error {
    let server = scripted::serve(move |_, _| answer()).await;
    let mut config = scripted_config(&server.base);
    config.retry = RetryPolicy {
        attempts: 2,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let error = match users_of(config).await {
        Ok(users) => panic!("{} users read", users.len()),
        Err(error) => error,
    };
    assert_eq!(error.code(), ErrorCode::MalformedResponse, "{error}");
    assert_eq!(server.requests().len(), 2, "fetched again once");
    error
}

#[tokio::test]
async fn a_compressed_body_cut_short_is_malformed_response() {
    // The server's length covers half the gzip stream: the connection ends cleanly, the
    // stream does not.
    let error =
        malformed_after_a_second_try(|| Answer::json(users_json(&ids(0..2))).gzip().gzip_cut())
            .await;
    assert!(error.to_string().contains("decompressed"), "{error}");
}

#[tokio::test]
async fn a_body_compressed_in_several_gzip_members_fails_rather_than_reads_short() {
    // reqwest inflates the first gzip member only; the rest of the page is dropped and
    // what is left is no whole JSON page, so the fetch fails loudly instead of returning
    // part of the page.
    let error = malformed_after_a_second_try(|| {
        Answer::json(users_json(&ids(0..5)))
            .header("x-total-count", "5")
            .gzip()
            .gzip_members(3)
    })
    .await;
    assert!(!error.to_string().contains("u0"), "{error}");
}

#[tokio::test]
async fn a_compressed_body_that_stalls_midway_is_request_timeout() {
    // The decompressor is waiting on the connection when the time is up: a timeout, not a
    // body that does not decompress.
    let server = scripted::serve(|_, _| {
        Answer::json(users_json(&ids(0..50)))
            .gzip()
            .stall_midway(Duration::from_secs(3))
    })
    .await;
    let mut impatient = scripted_config(&server.base);
    impatient.request_timeout = Duration::from_millis(300);
    impatient.retry.attempts = 1;
    let error = users_of(impatient)
        .await
        .expect_err("the page never finishes");
    assert_eq!(error.code(), ErrorCode::RequestTimeout, "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_body_labelled_x_gzip_is_read_as_sent_and_fails_as_json() {
    // gzip's old name, which reqwest does not inflate: the compressed bytes are no JSON.
    let error = malformed_after_a_second_try(|| {
        Answer::json(users_json(&ids(0..2)))
            .gzip()
            .gzip_label("x-gzip")
    })
    .await;
    assert!(!error.to_string().contains("decompressed"), "{error}");
}

#[tokio::test]
async fn a_body_that_does_not_decompress_is_malformed_response() {
    // Says gzip, sends plain JSON: like a garbled body, fetched again, then
    // MalformedResponse.
    let error = malformed_after_a_second_try(|| {
        Answer::json(users_json(&ids(0..1))).header("content-encoding", "gzip")
    })
    .await;
    assert!(error.to_string().contains("decompressed"), "{error}");
}
