//! gzip: only for clients that ask, the same JSON once decoded, off with `gzip(false)`,
//! and the bytes on the wire counted in the metrics.

mod common;

use std::io::Read as _;

use common::*;
use oneroster_sim::rawhttp::{self, Response};
use oneroster_sim::{Fault, Preset, Sim};

async fn get_with(sim: &Sim, path: &str, accept_encoding: Option<&str>) -> Response {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(coding) = accept_encoding {
        headers.push(("accept-encoding", coding));
    }
    let path = format!("{}{path}", oneroster_sim::API_BASE);
    rawhttp::get(sim.addr(), &path, &headers)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("not gzip: {e}"));
    out
}

const PAGE: &str = "/users?limit=500&offset=20&filter=status%3D%27active%27";

#[tokio::test]
async fn a_client_that_accepts_gzip_gets_the_same_json_compressed() {
    let sim = start(Preset::Small).await;
    let plain = get_with(&sim, PAGE, None).await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert_eq!(plain.header("content-encoding"), None);

    for asked in ["gzip", "br, gzip;q=0.5", "deflate, x-gzip", "GZIP"] {
        let zipped = get_with(&sim, PAGE, Some(asked)).await;
        assert_eq!(zipped.status, 200);
        assert_eq!(zipped.header("content-encoding"), Some("gzip"), "{asked}");
        assert_eq!(zipped.header("vary"), Some("accept-encoding"));
        assert!(
            zipped.body.len() * 4 < plain.body.len(),
            "{asked}: {} compressed bytes for {}",
            zipped.body.len(),
            plain.body.len()
        );
        assert_eq!(gunzip(&zipped.body), plain.body, "{asked}");
        for header in ["x-total-count", "link", "x-perm-rev"] {
            assert_eq!(zipped.header(header), plain.header(header), "{header}");
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn without_gzip_among_the_accepted_codings_the_body_is_plain() {
    let sim = start(Preset::Tiny).await;
    let plain = get_with(&sim, "/users", None).await;
    for asked in ["gzip;q=0", "identity", "br", "*", "deflate, gzip ; q=0.0"] {
        let r = get_with(&sim, "/users", Some(asked)).await;
        assert_eq!(r.header("content-encoding"), None, "{asked}");
        assert_eq!(r.body, plain.body, "{asked}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn gzip_can_be_turned_off() {
    let sim = start_with(config(Preset::Tiny).gzip(false)).await;
    let r = get_with(&sim, "/users", Some("gzip")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), None);
    assert!(json(&r)["users"].is_array());
    sim.shutdown().await;
}

#[tokio::test]
async fn metrics_count_the_body_bytes_sent_and_before_compression() {
    let sim = start(Preset::Small).await;
    sim.reset_metrics();
    let plain = get_with(&sim, PAGE, None).await;
    let zipped = get_with(&sim, PAGE, Some("gzip")).await;
    let refused = get_with(&sim, "/nosuchcollection", Some("gzip")).await;
    assert_eq!(refused.status, 404);
    let m = sim.metrics();
    assert_eq!(
        m.body_bytes_sent as usize,
        plain.body.len() + zipped.body.len() + refused.body.len()
    );
    assert_eq!(
        m.body_bytes_uncompressed as usize,
        2 * plain.body.len() + refused.body.len()
    );
    sim.reset_metrics();
    assert_eq!(sim.metrics().body_bytes_sent, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_truncated_page_is_compressed_after_the_cut() {
    let sim = start(Preset::Tiny).await;
    let whole = get_with(&sim, "/users", None).await;
    sim.set_fault(Fault::Truncate(1.0));
    let cut = get_with(&sim, "/users", Some("gzip")).await;
    assert_eq!(cut.status, 200);
    let json = gunzip(&cut.body);
    assert_eq!(json, whole.body[..whole.body.len() / 2]);
    assert!(serde_json::from_slice::<serde_json::Value>(&json).is_err());
    sim.shutdown().await;
}
