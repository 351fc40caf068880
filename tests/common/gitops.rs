//! The health checks of examples/gitops/, evaluated the way Argo CD (Lua) and Flux (CEL)
//! evaluate them, so tests can run them on the statuses the operator really writes.

use std::io::Write;
use std::process::{Command, Stdio};

use classlink_operator::crd::ClassLinkSync;
use serde_json::Value;

use super::{repo_root, yaml_documents};

/// The Lua of `resource.customizations.health.rostersync.io_ClassLinkSync`.
pub fn argocd_health_lua() -> String {
    let path = repo_root().join("examples/gitops/argocd/health-check.yaml");
    let docs = yaml_documents(&path);
    docs[0]["data"]["resource.customizations.health.rostersync.io_ClassLinkSync"]
        .as_str()
        .expect("the health check's Lua")
        .to_owned()
}

/// A JSON value as a Lua table constructor.
fn lua_literal(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Argo CD's verdict on `obj`: (status, message), from the example's Lua run by `lua5.4`
/// (Debian's lua5.4 package) with `obj` set as Argo CD sets it.
pub fn argocd_health(obj: &ClassLinkSync) -> (String, String) {
    let json = serde_json::to_value(obj).expect("JSON");
    let script = format!(
        "obj = {}\nlocal function check()\n{}\nend\nlocal hs = check()\nprint(hs.status)\nprint(hs.message)\n",
        lua_literal(&json),
        argocd_health_lua()
    );
    let mut child = Command::new("lua5.4")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("lua5.4: {e}; install Debian's lua5.4 package"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write the script");
    let out = child.wait_with_output().expect("lua5.4 runs");
    assert!(
        out.status.success(),
        "the health check fails: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    (
        lines.next().unwrap_or_default().to_owned(),
        lines.collect::<Vec<_>>().join("\n"),
    )
}

/// Flux's verdict on `obj` from the example Kustomization's `healthCheckExprs`:
/// `Failed` when `failed` holds, else `Current` when `current` holds, else `InProgress`.
pub fn flux_health(obj: &ClassLinkSync) -> &'static str {
    let path = repo_root().join("examples/gitops/flux/integrations.yaml");
    let docs = yaml_documents(&path);
    let exprs = &docs[0]["spec"]["healthCheckExprs"][0];
    assert_eq!(exprs["kind"], "ClassLinkSync");
    let json = serde_json::to_value(obj).expect("JSON");
    let mut context = cel::Context::default();
    for field in ["apiVersion", "kind", "metadata", "spec", "status"] {
        context
            .add_variable(field, json[field].clone())
            .expect("a CEL variable");
    }
    let holds = |which: &str| {
        let source = exprs[which].as_str().expect("an expression");
        let program = cel::Program::compile(source)
            .unwrap_or_else(|e| panic!("{which}: {source} does not compile: {e:?}"));
        match program.execute(&context) {
            Ok(cel::Value::Bool(b)) => b,
            other => panic!("{which}: {source} gave {other:?}"),
        }
    };
    if holds("failed") {
        "Failed"
    } else if holds("current") {
        "Current"
    } else {
        "InProgress"
    }
}
