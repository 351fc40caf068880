//! Every auth method, verified against requests built in this file from first
//! principles (RFC 5849 as ClassLink's reference libraries apply it).

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use hmac::{Hmac, Mac};
use oneroster_sim::rawhttp;
use oneroster_sim::{AuthMethods, Preset};

const ID: &str = "demo-client-id";
const SECRET: &str = "demo-client-secret";
const FILTER_QUERY: &str = "filter=status%3D%27active%27%20AND%20dateLastModified%3E%272026-01-01T00%3A00%3A00Z%27&limit=100&offset=0";

/// RFC 3986 percent-encoding, unreserved characters kept.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unpct(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base_string(url: &str, query: &str, oauth: &[(&str, String)]) -> String {
    let mut pairs: Vec<(String, String)> = oauth.iter().map(|(k, v)| (pct(k), pct(v))).collect();
    for p in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        pairs.push((pct(&unpct(k)), pct(&unpct(v))));
    }
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("GET&{}&{}", pct(url), pct(&joined.join("&")))
}

fn sign(method: &str, secret: &str, base: &str) -> String {
    let key = format!("{}&", pct(secret));
    let raw = if method == "HMAC-SHA1" {
        let mut m =
            Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        m.update(base.as_bytes());
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m =
            Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        m.update(base.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    STANDARD.encode(raw)
}

struct Signed {
    header: String,
}

fn oauth1(url: &str, query: &str, method: &str, secret: &str, ts: i64, nonce: &str) -> Signed {
    let oauth = vec![
        ("oauth_consumer_key", ID.to_string()),
        ("oauth_signature_method", method.to_string()),
        ("oauth_timestamp", ts.to_string()),
        ("oauth_nonce", nonce.to_string()),
        ("oauth_version", "1.0".to_string()),
    ];
    let sig = sign(method, secret, &base_string(url, query, &oauth));
    let mut parts: Vec<String> = oauth
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", pct(v)))
        .collect();
    parts.push(format!("oauth_signature=\"{}\"", pct(&sig)));
    Signed {
        header: format!("OAuth {}", parts.join(", ")),
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

async fn signed_get(
    sim: &oneroster_sim::Sim,
    path: &str,
    query: &str,
    method: &str,
    secret: &str,
    ts: i64,
    nonce: &str,
) -> rawhttp::Response {
    let url = format!("{}{path}", sim.base_url());
    let s = oauth1(&url, query, method, secret, ts, nonce);
    let pq = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    match rawhttp::get(sim.addr(), &pq, &[("authorization", &s.header)]).await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn base_string_matches_classlink_reference_for_quoted_filter() {
    let oauth = vec![
        ("oauth_consumer_key", ID.to_string()),
        ("oauth_signature_method", "HMAC-SHA256".to_string()),
        ("oauth_timestamp", "1767225600".to_string()),
        ("oauth_nonce", "abc123".to_string()),
        ("oauth_version", "1.0".to_string()),
    ];
    let expected = "GET&https%3A%2F%2Fdistrict-ca-v2.oneroster.com%2Fims%2Foneroster%2Fv1p1%2Fusers&filter%3Dstatus%253D%2527active%2527%2520AND%2520dateLastModified%253E%25272026-01-01T00%253A00%253A00Z%2527%26limit%3D100%26oauth_consumer_key%3Ddemo-client-id%26oauth_nonce%3Dabc123%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1767225600%26oauth_version%3D1.0%26offset%3D0";
    let url = "https://district-ca-v2.oneroster.com/ims/oneroster/v1p1/users";
    assert_eq!(base_string(url, FILTER_QUERY, &oauth), expected);
    // The simulator's own base string (what it verifies against) is the same.
    let mut params: Vec<(String, String)> = oauth
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    params.extend(oneroster_sim::query::decode_pairs(FILTER_QUERY));
    assert_eq!(
        oneroster_sim::auth::base_string("GET", url, &params),
        expected
    );
    // Signatures computed independently with `openssl dgst -hmac "demo-client-secret&"`.
    assert_eq!(
        sign("HMAC-SHA256", SECRET, expected),
        "dgPyP6ZC2qCLjXhi3M4ZllLEPKZvsIS5C1WLRqv9STU="
    );
    assert_eq!(
        oneroster_sim::auth::signature("HMAC-SHA256", SECRET, expected).as_deref(),
        Some("dgPyP6ZC2qCLjXhi3M4ZllLEPKZvsIS5C1WLRqv9STU=")
    );
    let sha1_base = expected.replace("HMAC-SHA256", "HMAC-SHA1");
    assert_eq!(
        sign("HMAC-SHA1", SECRET, &sha1_base),
        "CPSmV8PvPwTkPofUzfFwiHsYSfk="
    );
}

#[tokio::test]
async fn oauth1_hmac_sha256_with_quoted_filter_is_accepted() {
    let sim = start(Preset::Tiny).await;
    let r = signed_get(
        &sim,
        "/ims/oneroster/v1p1/users",
        FILTER_QUERY,
        "HMAC-SHA256",
        SECRET,
        now(),
        "n-sha256",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The same query sent with raw quotes and '+' for spaces signs to the same base string.
    let raw =
        "filter=status='active'+AND+dateLastModified%3E'2026-01-01T00:00:00Z'&limit=100&offset=0";
    let r = signed_get(
        &sim,
        "/ims/oneroster/v1p1/users",
        raw,
        "HMAC-SHA256",
        SECRET,
        now(),
        "n-raw",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth1_hmac_sha1_is_accepted() {
    let sim = start(Preset::Tiny).await;
    let r = signed_get(
        &sim,
        "/ims/oneroster/v1p1/orgs",
        "limit=5",
        "HMAC-SHA1",
        SECRET,
        now(),
        "n-sha1",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth1_wrong_secret_is_401() {
    let sim = start(Preset::Tiny).await;
    let r = signed_get(
        &sim,
        "/ims/oneroster/v1p1/users",
        FILTER_QUERY,
        "HMAC-SHA256",
        "wrong-secret",
        now(),
        "n1",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(error_minor(&json(&r)), "unauthorisedrequest");
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth1_stale_timestamp_is_401() {
    let sim = start(Preset::Tiny).await;
    let r = signed_get(
        &sim,
        "/ims/oneroster/v1p1/users",
        "",
        "HMAC-SHA256",
        SECRET,
        now() - 301 - 5,
        "n-old",
    )
    .await;
    assert_eq!(r.status, 401);
    let r = signed_get(
        &sim,
        "/ims/oneroster/v1p1/users",
        "",
        "HMAC-SHA256",
        SECRET,
        now() + 600,
        "n-future",
    )
    .await;
    assert_eq!(r.status, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth1_replayed_nonce_is_401() {
    let sim = start(Preset::Tiny).await;
    let ts = now();
    let first = signed_get(
        &sim,
        "/ims/oneroster/v1p1/users",
        "limit=1",
        "HMAC-SHA256",
        SECRET,
        ts,
        "same-nonce",
    )
    .await;
    assert_eq!(first.status, 200);
    let replay = signed_get(
        &sim,
        "/ims/oneroster/v1p1/users",
        "limit=1",
        "HMAC-SHA256",
        SECRET,
        ts,
        "same-nonce",
    )
    .await;
    assert_eq!(replay.status, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth1_tampered_query_and_unknown_key_are_401() {
    let sim = start(Preset::Tiny).await;
    let url = format!("{}/ims/oneroster/v1p1/users", sim.base_url());
    let s = oauth1(&url, "limit=1", "HMAC-SHA256", SECRET, now(), "n-tamper");
    let r = rawhttp::get(
        sim.addr(),
        "/ims/oneroster/v1p1/users?limit=2",
        &[("authorization", &s.header)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 401);
    let h = s.header.replace(ID, "someone-else");
    let r = rawhttp::get(
        sim.addr(),
        "/ims/oneroster/v1p1/users?limit=1",
        &[("authorization", &h)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn static_bearer_token_and_missing_auth() {
    let sim = start(Preset::Tiny).await;
    assert_eq!(get(&sim, "/users?limit=1").await.status, 200);
    let r = rawhttp::get(
        sim.addr(),
        "/ims/oneroster/v1p1/users",
        &[("authorization", "Bearer nope")],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 401);
    let r = rawhttp::get(sim.addr(), "/ims/oneroster/v1p1/users", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 401);
    assert_eq!(json(&r)["imsx_codeMajor"], "failure");
    sim.shutdown().await;
}

async fn token(
    sim: &oneroster_sim::Sim,
    headers: &[(&str, &str)],
    body: &str,
) -> rawhttp::Response {
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    rawhttp::request(sim.addr(), "POST", "/oauth2/token", &h, body.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn oauth2_client_credentials_basic_and_form() {
    let sim = start(Preset::Tiny).await;
    assert!(sim.token_url().ends_with("/oauth2/token"));
    let basic = format!("Basic {}", STANDARD.encode(format!("{ID}:{SECRET}")));
    let r = token(
        &sim,
        &[("authorization", &basic)],
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = json(&r);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let access = body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let auth = format!("Bearer {access}");
    let r = rawhttp::get(
        sim.addr(),
        "/ims/oneroster/v1p1/users?limit=1",
        &[("authorization", &auth)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 200);

    let form = format!(
        "grant_type=client_credentials&client_id={ID}&client_secret={SECRET}&scope=https%3A%2F%2Fpurl.imsglobal.org%2Fspec%2For%2Fv1p1%2Fscope%2Froster-core.readonly"
    );
    let r = token(&sim, &[], &form).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let core = json(&r)["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let auth = format!("Bearer {core}");
    let ok = rawhttp::get(
        sim.addr(),
        "/ims/oneroster/v1p1/classes",
        &[("authorization", &auth)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.status, 200);
    // roster-core does not cover demographics: 403.
    let r = rawhttp::get(
        sim.addr(),
        "/ims/oneroster/v1p1/demographics",
        &[("authorization", &auth)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 403);
    assert_eq!(error_minor(&json(&r)), "forbidden");

    let bad = token(
        &sim,
        &[],
        &format!("grant_type=client_credentials&client_id={ID}&client_secret=nope"),
    )
    .await;
    assert_eq!(bad.status, 401);
    let grant = token(&sim, &[("authorization", &basic)], "grant_type=password").await;
    assert_eq!(grant.status, 400);
    let scope = token(
        &sim,
        &[("authorization", &basic)],
        "grant_type=client_credentials&scope=admin",
    )
    .await;
    assert_eq!(scope.status, 400);
    assert_eq!(sim.metrics().token_requests, 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth2_tokens_expire() {
    let sim = start_with(config(Preset::Tiny).token_ttl(std::time::Duration::ZERO)).await;
    let r = token(
        &sim,
        &[],
        &format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}"),
    )
    .await;
    let access = json(&r)["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let auth = format!("Bearer {access}");
    let r = rawhttp::get(
        sim.addr(),
        "/ims/oneroster/v1p1/users",
        &[("authorization", &auth)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 401);
    assert!(
        json(&r)["imsx_description"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_methods_can_be_restricted() {
    let only_oauth1 = AuthMethods {
        oauth1: true,
        oauth2: false,
        bearer: false,
    };
    let sim = start_with(config(Preset::Tiny).auth_methods(only_oauth1)).await;
    assert_eq!(get(&sim, "/users").await.status, 401);
    let r = signed_get(
        &sim,
        "/ims/oneroster/v1p1/users",
        "",
        "HMAC-SHA256",
        SECRET,
        now(),
        "n-only",
    )
    .await;
    assert_eq!(r.status, 200);
    let r = token(
        &sim,
        &[],
        &format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}"),
    )
    .await;
    assert_eq!(r.status, 400);
    sim.shutdown().await;
}
