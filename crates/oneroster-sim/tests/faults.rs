//! Every fault, set through the library and through the admin API.

mod common;

use common::*;
use oneroster_sim::rawhttp;
use oneroster_sim::{Fault, Preset};

#[test]
fn faults_parse_as_the_flag_spells_them() {
    let cases = [
        ("rate-limit=0.25:3", Fault::RateLimit(0.25, 3)),
        ("rate-limit=0.5", Fault::RateLimit(0.5, 1)),
        ("server-error=0.1", Fault::ServerError(0.1)),
        ("latency-ms=40", Fault::LatencyMs(40)),
        ("reset=1", Fault::Reset(1.0)),
        ("truncate=0.5", Fault::Truncate(0.5)),
        ("perm-rev-change=true", Fault::PermRevChange(true)),
        ("mask-emails=0.9", Fault::MaskEmails(0.9)),
        (
            "incomplete-school=org-00002",
            Fault::IncompleteSchool("org-00002".into()),
        ),
        ("minimal=true", Fault::Minimal(true)),
        ("next-past-end=false", Fault::NextPastEnd(false)),
        ("bare-array=true", Fault::BareArray(true)),
        ("echo-credentials=true", Fault::EchoCredentials(true)),
        ("junk-enabled=0.1", Fault::JunkEnabled(0.1)),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Fault>(), Ok(want), "{text}");
    }
    for bad in [
        "rate-limit=2",
        "latency-ms=soon",
        "minimal=maybe",
        "gremlins=1",
        "incomplete-school=",
    ] {
        assert!(bad.parse::<Fault>().is_err(), "{bad}");
    }
}

#[tokio::test]
async fn rate_limit_every_third_request_with_retry_after() {
    let sim = start(Preset::Tiny).await;
    sim.set_fault(Fault::RateLimit(1.0 / 3.0, 2));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = get(&sim, "/orgs").await;
        if r.status == 429 {
            assert_eq!(r.header("retry-after"), Some("2"));
            assert_eq!(error_minor(&json(&r)), "server_busy");
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, vec![200, 200, 429, 200, 200, 429]);
    sim.clear_faults();
    assert_eq!(get(&sim, "/orgs").await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_at_a_share() {
    let sim = start(Preset::Tiny).await;
    sim.set_fault(Fault::ServerError(0.5));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&sim, "/users").await.status);
    }
    assert_eq!(statuses[0], 200);
    assert_eq!(statuses[2], 200);
    assert!(
        (500..600).contains(&statuses[1]) && (500..600).contains(&statuses[3]),
        "{statuses:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_share_below_one_never_hits_a_page_twice_in_a_row() {
    let sim = start(Preset::Tiny).await;
    sim.set_fault(Fault::ServerError(0.5));
    // The fault's counter hits its 2nd, 4th and 6th request; the 4th is /users again
    // right after /users was hit, so it is spared.
    let mut statuses = Vec::new();
    for path in ["/orgs", "/users", "/orgs", "/users", "/users", "/users"] {
        statuses.push((path, get(&sim, path).await.status));
    }
    let failed: Vec<usize> = (0..statuses.len())
        .filter(|&i| (500..600).contains(&statuses[i].1))
        .collect();
    assert_eq!(failed, vec![1, 5], "{statuses:?}");
    // A share of 1 hits every request.
    sim.set_fault(Fault::ServerError(1.0));
    for _ in 0..3 {
        assert!((500..600).contains(&get(&sim, "/users").await.status));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_keeps_requests_in_flight_and_metrics_see_them() {
    let sim = start(Preset::Tiny).await;
    sim.set_fault(Fault::LatencyMs(500));
    sim.reset_metrics();
    let (a, b, c) = tokio::join!(
        get(&sim, "/users"),
        get(&sim, "/orgs"),
        get(&sim, "/classes")
    );
    assert_eq!((a.status, b.status, c.status), (200, 200, 200));
    let m = sim.metrics();
    assert_eq!(m.requests_served, 3);
    assert_eq!(m.max_in_flight, 3);
    assert_eq!(m.in_flight, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn reset_cuts_the_connection_mid_body() {
    let sim = start(Preset::Tiny).await;
    sim.set_fault(Fault::Reset(1.0));
    let auth = format!("Bearer {TOKEN}");
    let r = rawhttp::get(
        sim.addr(),
        "/ims/oneroster/v1p1/users?limit=50",
        &[("authorization", &auth)],
    )
    .await;
    assert!(
        r.is_err(),
        "the body should be cut: {:?}",
        r.map(|r| r.status)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn truncate_sends_short_json() {
    let sim = start(Preset::Tiny).await;
    let full = get(&sim, "/users?limit=50").await;
    sim.set_fault(Fault::Truncate(1.0));
    let r = get(&sim, "/users?limit=50").await;
    assert_eq!(r.status, 200);
    assert!(r.body.len() < full.body.len());
    assert!(r.json().is_err());
    assert!(full.body.starts_with(&r.body));
    sim.shutdown().await;
}

#[tokio::test]
async fn perm_rev_changes_during_paging() {
    let sim = start(Preset::Tiny).await;
    let a = get(&sim, "/users?limit=10").await;
    let b = get(&sim, "/users?limit=10&offset=10").await;
    assert_eq!(a.header("x-perm-rev"), b.header("x-perm-rev"));
    sim.set_fault(Fault::PermRevChange(true));
    let a = get(&sim, "/users?limit=10").await;
    let b = get(&sim, "/users?limit=10&offset=10").await;
    assert_ne!(a.header("x-perm-rev"), b.header("x-perm-rev"));
    sim.shutdown().await;
}

#[tokio::test]
async fn mask_emails_hides_a_share_of_addresses() {
    let sim = start(Preset::Small).await;
    sim.set_fault(Fault::MaskEmails(0.5));
    let users = fetch_all(&sim, "/users", "users", 10_000).await;
    let hidden = users
        .iter()
        .filter(|u| {
            oneroster_sim::encode::MASKED_EMAILS.contains(&u["email"].as_str().unwrap_or("?"))
        })
        .count();
    for pattern in oneroster_sim::encode::MASKED_EMAILS {
        assert!(
            users.iter().any(|u| u["email"] == pattern),
            "{pattern:?} is used"
        );
    }
    let share = hidden as f64 / users.len() as f64;
    assert!((0.45..=0.55).contains(&share), "{share}");
    sim.shutdown().await;
}

#[tokio::test]
async fn incomplete_school_has_dangling_references() {
    let sim = start(Preset::Small).await;
    let schools = fetch_all(&sim, "/schools", "orgs", 100).await;
    let bad = sid(&schools[0]);
    let good = sid(&schools[1]);
    sim.set_fault(Fault::IncompleteSchool(bad.clone()));
    let courses: Vec<String> = fetch_all(&sim, "/courses", "courses", 10_000)
        .await
        .iter()
        .map(sid)
        .collect();
    let sessions: Vec<String> = fetch_all(&sim, "/academicSessions", "academicSessions", 100)
        .await
        .iter()
        .map(sid)
        .collect();
    let users: std::collections::HashSet<String> = fetch_all(&sim, "/users", "users", 10_000)
        .await
        .iter()
        .map(sid)
        .collect();
    let classes = fetch_all(&sim, "/classes", "classes", 10_000).await;
    let dangling = |c: &serde_json::Value| {
        !courses.contains(
            &c["course"]["sourcedId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ) && c["terms"].as_array().is_some_and(|t| {
            t.iter().all(|t| {
                !sessions.contains(&t["sourcedId"].as_str().unwrap_or_default().to_string())
            })
        })
    };
    let at = |s: &str| {
        classes
            .iter()
            .filter(move |c| c["school"]["sourcedId"] == s)
            .collect::<Vec<_>>()
    };
    assert!(!at(&bad).is_empty() && at(&bad).iter().all(|c| dangling(c)));
    assert!(at(&good).iter().all(|c| !dangling(c)));
    let enr = fetch_all(&sim, "/enrollments", "enrollments", 10_000).await;
    let unknown_user = |e: &&serde_json::Value| {
        !users.contains(e["user"]["sourcedId"].as_str().unwrap_or_default())
    };
    assert!(
        enr.iter()
            .filter(|e| e["school"]["sourcedId"] == bad.as_str())
            .any(|e| unknown_user(&e))
    );
    assert!(
        !enr.iter()
            .filter(|e| e["school"]["sourcedId"] == good.as_str())
            .any(|e| unknown_user(&e))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn minimal_implementation_lacks_endpoints_and_ignores_filters() {
    let sim = start(Preset::Tiny).await;
    let school = sid(&json(&get(&sim, "/schools").await)["orgs"][0]);
    sim.set_fault(Fault::Minimal(true));
    for path in [
        "/schools",
        "/students",
        "/teachers",
        &format!("/schools/{school}/classes"),
        "/terms",
    ] {
        assert_eq!(get(&sim, path).await.status, 404, "{path}");
    }
    for path in [
        "/orgs",
        "/academicSessions",
        "/classes",
        "/users",
        "/enrollments",
    ] {
        assert_eq!(get(&sim, path).await.status, 200, "{path}");
    }
    let all = get(&sim, "/users?limit=1").await;
    let filtered = get(&sim, "/users?limit=1&filter=status%3D%27tobedeleted%27").await;
    assert_eq!(total(&filtered), total(&all));
    sim.shutdown().await;
}

#[tokio::test]
async fn next_link_past_the_end_serves_an_empty_page() {
    let sim = start(Preset::Tiny).await;
    sim.set_fault(Fault::NextPastEnd(true));
    let n = total(&get(&sim, "/users?limit=1").await);
    let last = get(
        &sim,
        &format!("/users?limit=10&offset={}", (n - 1) / 10 * 10),
    )
    .await;
    let link = last.header("link").unwrap_or_default().to_string();
    let next = link
        .split(", ")
        .find(|p| p.ends_with("rel=\"next\""))
        .and_then(|p| p.split(';').next())
        .map(|u| u.trim_matches(|c| c == '<' || c == '>').to_string())
        .unwrap_or_else(|| panic!("no next on the last page: {link}"));
    let past = get_raw(&sim, next.trim_start_matches(&sim.base_url())).await;
    assert_eq!(past.status, 200);
    assert_eq!(json(&past)["users"].as_array().map(Vec::len), Some(0));
    sim.shutdown().await;
}

#[tokio::test]
async fn bare_array_instead_of_an_envelope() {
    let sim = start(Preset::Tiny).await;
    sim.set_fault(Fault::BareArray(true));
    let body = json(&get(&sim, "/users?limit=5").await);
    assert_eq!(body.as_array().map(Vec::len), Some(5));
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_api_sets_and_clears_faults_and_reports_metrics() {
    let sim = start(Preset::Tiny).await;
    let put = rawhttp::request(
        sim.addr(),
        "PUT",
        "/admin/faults",
        &[("content-type", "application/json")],
        br#"{"rate-limit":"1:3","bare-array":true}"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(json(&put)["retryAfterSecs"], 3);
    let r = get(&sim, "/users").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    let bad = rawhttp::request(
        sim.addr(),
        "PUT",
        "/admin/faults",
        &[],
        br#"{"gremlins":"1"}"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status, 400);
    let del = rawhttp::request(sim.addr(), "DELETE", "/admin/faults", &[], b"")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(del.status, 200);
    assert!(json(&get(&sim, "/users").await)["users"].is_array());
    let m = rawhttp::get(sim.addr(), "/admin/metrics", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let m = json(&m);
    assert_eq!(m["requestsServed"], 2);
    assert!(m["maxInFlight"].as_u64().is_some_and(|n| n >= 1));
    sim.shutdown().await;
}
