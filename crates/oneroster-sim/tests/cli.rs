//! `oneroster-sim serve` as a process: prints a ready line, serves, takes faults.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn serve_prints_a_ready_line_and_serves() {
    let port = free_port();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_oneroster-sim"))
            .args([
                "serve",
                "--preset",
                "tiny",
                "--seed",
                "3",
                "--as-of",
                "2026-03-01",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--client-id",
                "cid",
                "--client-secret",
                "csecret",
                "--bearer-token",
                "cli-token",
                "--fault",
                "bare-array=true",
                "--fault",
                "rate-limit=0.5:4",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let stdout = child.0.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(line.contains(&format!("http://127.0.0.1:{port}")), "{line}");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let auth = [("authorization", "Bearer cli-token")];
    let a = oneroster_sim::rawhttp::get(addr, "/ims/oneroster/v1p1/users?limit=3", &auth)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json().ok().and_then(|v| v.as_array().map(Vec::len)),
        Some(3)
    );
    let b = oneroster_sim::rawhttp::get(addr, "/ims/oneroster/v1p1/users?limit=3", &auth)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.status, 429);
    assert_eq!(b.header("retry-after"), Some("4"));
    let token = oneroster_sim::rawhttp::request(
        addr,
        "POST",
        "/oauth2/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"grant_type=client_credentials&client_id=cid&client_secret=csecret",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(token.status, 200);
}

#[test]
fn bad_flags_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_oneroster-sim"))
        .args(["serve", "--fault", "gremlins=1"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fault"));
    let out = Command::new(env!("CARGO_BIN_EXE_oneroster-sim"))
        .args(["stats", "--preset", "huge"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
}
