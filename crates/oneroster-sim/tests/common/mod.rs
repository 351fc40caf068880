//! Shared helpers for the simulator's integration tests.
#![allow(dead_code)]

use oneroster_sim::rawhttp::{self, Response};
use oneroster_sim::{Preset, Sim, SimConfig};
use serde_json::Value;

pub const TOKEN: &str = "test-token";

pub fn as_of() -> jiff::civil::Date {
    jiff::civil::date(2026, 3, 1)
}

pub fn config(preset: Preset) -> SimConfig {
    SimConfig::new(preset)
        .seed(1)
        .as_of(as_of())
        .bearer_token(TOKEN)
}

pub async fn start(preset: Preset) -> Sim {
    start_with(config(preset)).await
}

pub async fn start_with(c: SimConfig) -> Sim {
    match oneroster_sim::start(c).await {
        Ok(s) => s,
        Err(e) => panic!("simulator did not start: {e:#}"),
    }
}

/// GET an API path (relative to /ims/oneroster/v1p1) with the static bearer token.
pub async fn get(sim: &Sim, path: &str) -> Response {
    get_raw(sim, &format!("{}{path}", oneroster_sim::API_BASE)).await
}

pub async fn get_raw(sim: &Sim, path_and_query: &str) -> Response {
    let auth = format!("Bearer {TOKEN}");
    match rawhttp::get(sim.addr(), path_and_query, &[("authorization", &auth)]).await {
        Ok(r) => r,
        Err(e) => panic!("GET {path_and_query}: {e}"),
    }
}

pub fn json(r: &Response) -> Value {
    match r.json() {
        Ok(v) => v,
        Err(e) => panic!("not JSON ({e}): {}", r.text()),
    }
}

pub fn total(r: &Response) -> u64 {
    r.header("x-total-count")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no X-Total-Count"))
}

/// Every record of a collection, following pages of `limit`.
pub async fn fetch_all(sim: &Sim, path: &str, key: &str, limit: u64) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let r = get(sim, &format!("{path}{sep}limit={limit}&offset={offset}")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let total = total(&r);
        let body = json(&r);
        let page = body[key]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in {path}"));
        let n = page.len() as u64;
        out.extend(page);
        offset += limit;
        if n < limit || offset >= total {
            return out;
        }
    }
}

pub fn sid(v: &Value) -> String {
    v["sourcedId"].as_str().unwrap_or_default().to_string()
}

pub fn error_minor(v: &Value) -> String {
    v["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
