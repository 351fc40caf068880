//! filter, sort/orderBy and fields.

mod common;

use common::*;
use oneroster_sim::Preset;

fn enc(s: &str) -> String {
    oneroster_sim::auth::enc(s)
}

#[tokio::test]
async fn status_and_date_filters_with_and_or() {
    let sim = start(Preset::Small).await;
    let all = fetch_all(&sim, "/users", "users", 10_000).await;
    let active = fetch_all(
        &sim,
        &format!("/users?filter={}", enc("status='active'")),
        "users",
        10_000,
    )
    .await;
    assert_eq!(
        active.len(),
        all.iter().filter(|u| u["status"] == "active").count()
    );
    assert!(active.len() < all.len());
    let not_active = fetch_all(
        &sim,
        &format!("/users?filter={}", enc("status!='active'")),
        "users",
        10_000,
    )
    .await;
    assert_eq!(active.len() + not_active.len(), all.len());

    let cut = "2025-09-01T00:00:00Z";
    let newer = |u: &serde_json::Value| {
        u["dateLastModified"].as_str().unwrap_or_default() > "2025-09-01T00:00:00.000Z"
    };
    let f = format!("dateLastModified>'{cut}'");
    let got = fetch_all(&sim, &format!("/users?filter={}", enc(&f)), "users", 10_000).await;
    assert_eq!(got.len(), all.iter().filter(|u| newer(u)).count());
    assert!(!got.is_empty() && got.len() < all.len());

    let f = format!("status='active' AND dateLastModified>'{cut}'");
    let both = fetch_all(&sim, &format!("/users?filter={}", enc(&f)), "users", 10_000).await;
    assert_eq!(
        both.len(),
        all.iter()
            .filter(|u| newer(u) && u["status"] == "active")
            .count()
    );
    let f = format!("status='tobedeleted' OR dateLastModified<='{cut}'");
    let either = fetch_all(&sim, &format!("/users?filter={}", enc(&f)), "users", 10_000).await;
    assert_eq!(
        either.len(),
        all.iter()
            .filter(|u| !newer(u) || u["status"] == "tobedeleted")
            .count()
    );

    let role = fetch_all(
        &sim,
        &format!("/users?filter={}", enc("role='teacher'")),
        "users",
        10_000,
    )
    .await;
    assert!(!role.is_empty() && role.iter().all(|u| u["role"] == "teacher"));
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_filters_are_400_with_an_error_envelope() {
    let sim = start(Preset::Tiny).await;
    for f in [
        "status=active",
        "nosuchfield='x'",
        "status='a' XOR status='b'",
        "dateLastModified>'yesterday'",
    ] {
        let r = get(&sim, &format!("/users?filter={}", enc(f))).await;
        assert_eq!(r.status, 400, "{f}");
        let body = json(&r);
        assert_eq!(body["imsx_codeMajor"], "failure");
        assert_eq!(error_minor(&body), "invalid_filter_field", "{f}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn sort_order_by_and_fields() {
    let sim = start(Preset::Tiny).await;
    let desc = fetch_all(&sim, "/users?sort=sourcedId&orderBy=desc", "users", 1000).await;
    let ids: Vec<String> = desc.iter().map(sid).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(ids, sorted);
    let by_name = fetch_all(&sim, "/users?sort=familyName&orderBy=asc", "users", 1000).await;
    let names: Vec<&str> = by_name
        .iter()
        .filter_map(|u| u["familyName"].as_str())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]));
    let by_date = fetch_all(
        &sim,
        "/enrollments?sort=dateLastModified",
        "enrollments",
        1000,
    )
    .await;
    let dates: Vec<&str> = by_date
        .iter()
        .filter_map(|u| u["dateLastModified"].as_str())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]));

    let r = get(&sim, "/users?fields=sourcedId,email&limit=3").await;
    for u in json(&r)["users"].as_array().cloned().unwrap_or_default() {
        let keys: Vec<&String> = u
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, vec!["email", "sourcedId"]); // serde_json sorts keys
    }
    // An unknown field: all fields come back. A blank one: 400.
    let r = get(&sim, "/users?fields=sourcedId,shoeSize&limit=1").await;
    assert!(json(&r)["users"][0]["givenName"].is_string());
    let r = get(&sim, "/users?fields=sourcedId,,email").await;
    assert_eq!(r.status, 400);
    assert_eq!(error_minor(&json(&r)), "invalid_selection_field");
    sim.shutdown().await;
}
