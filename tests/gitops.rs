//! The GitOps manifests in examples/gitops/ point at paths that exist, and the chart values
//! they carry render.

mod common;

use std::path::Path;

fn documents(dir: &str) -> Vec<(String, serde_json::Value)> {
    let root = common::repo_root().join("examples/gitops").join(dir);
    common::yaml_files(&root)
        .into_iter()
        .flat_map(|file| {
            let name = file.display().to_string();
            common::yaml_documents(&file)
                .into_iter()
                .map(move |doc| (name.clone(), doc))
        })
        .collect()
}

fn assert_repo_path(what: &str, path: &str) {
    let path = common::repo_root().join(path.trim_start_matches("./"));
    assert!(
        path.exists(),
        "{what} points at {}, which does not exist",
        path.display()
    );
}

/// `helm template` of the chart with `values`: the chart accepts them.
fn renders(what: &str, values: &serde_json::Value) {
    let assets = testenv::assets_dir().expect("helm is installed (hack/install-test-tools.sh)");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, serde_yaml::to_string(values).expect("yaml")).expect("write");
    let out = std::process::Command::new(assets.join("helm"))
        .args(["template", "classlink-operator"])
        .arg(common::repo_root().join("charts/classlink-operator"))
        .args(["--namespace", "classlink-system", "-f"])
        .arg(Path::new(&file))
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = String::from_utf8_lossy(&out.stdout);
    assert!(manifest.contains("kind: Deployment"), "{what}");
}

#[test]
fn flux_manifests_point_at_the_chart_and_the_integrations() {
    let docs = documents("flux");
    let kinds: Vec<&str> = docs
        .iter()
        .filter_map(|(_, d)| d["kind"].as_str())
        .collect();
    for kind in ["GitRepository", "HelmRelease", "Kustomization"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for (file, doc) in &docs {
        match doc["kind"].as_str() {
            Some("HelmRelease") => {
                assert_repo_path(
                    file,
                    doc["spec"]["chart"]["spec"]["chart"]
                        .as_str()
                        .expect("chart path"),
                );
                renders(file, &doc["spec"]["values"]);
            }
            Some("Kustomization")
                if doc["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("kustomize.toolkit")) =>
            {
                assert_repo_path(file, doc["spec"]["path"].as_str().expect("path"));
                assert_eq!(
                    doc["spec"]["dependsOn"][0]["name"], "classlink-operator",
                    "{file}: after the operator"
                );
            }
            _ => {}
        }
    }
}

#[test]
fn argocd_applications_point_at_the_chart_and_the_integrations() {
    let docs = documents("argocd");
    assert_eq!(docs.len(), 2);
    for (file, doc) in &docs {
        assert_eq!(doc["kind"], "Application", "{file}");
        let source = &doc["spec"]["source"];
        assert_repo_path(file, source["path"].as_str().expect("path"));
        if !source["helm"].is_null() {
            renders(file, &source["helm"]["valuesObject"]);
        }
    }
}
