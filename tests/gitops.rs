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
    for kind in ["GitRepository", "HelmRelease", "Kustomization", "Namespace"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for (file, doc) in &docs {
        match doc["kind"].as_str() {
            Some("Kustomization")
                if doc["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("kustomize.toolkit")) =>
            {
                assert_repo_path(file, doc["spec"]["path"].as_str().expect("path"));
                // dependsOn can only name Flux Kustomizations: each must be one of these.
                for dependency in doc["spec"]["dependsOn"].as_array().into_iter().flatten() {
                    let name = &dependency["name"];
                    assert!(
                        docs.iter().any(|(_, d)| d["kind"] == "Kustomization"
                            && d["apiVersion"]
                                .as_str()
                                .is_some_and(|v| v.starts_with("kustomize.toolkit"))
                            && &d["metadata"]["name"] == name),
                        "{file}: dependsOn {name}, which is no Flux Kustomization here"
                    );
                }
            }
            _ => {}
        }
    }
    let integrations = docs
        .iter()
        .find(|(_, d)| d["metadata"]["name"] == "classlink-integrations")
        .map(|(_, d)| d)
        .expect("the integrations' Kustomization");
    assert_eq!(
        integrations["spec"]["dependsOn"][0]["name"],
        "classlink-operator"
    );
    assert_eq!(
        integrations["spec"]["healthCheckExprs"][0]["kind"], "ClassLinkSync",
        "Flux reads the ClassLinkSyncs' Ready condition"
    );
    // The HelmRelease is applied by the operator's own Kustomization.
    let operator = docs
        .iter()
        .find(|(_, d)| {
            d["metadata"]["name"] == "classlink-operator"
                && d["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("kustomize.toolkit"))
        })
        .map(|(_, d)| d)
        .expect("the operator's Kustomization");
    let built = kustomize(operator["spec"]["path"].as_str().expect("path"));
    let kinds: Vec<&str> = built.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["Namespace", "HelmRelease"],
        "the operator's Kustomization"
    );
    for helm_release in built.iter().filter(|d| d["kind"] == "HelmRelease") {
        renders("the HelmRelease", &helm_release["spec"]["values"]);
        assert_repo_path(
            "the HelmRelease",
            helm_release["spec"]["chart"]["spec"]["chart"]
                .as_str()
                .expect("chart path"),
        );
    }
}

/// `kubectl kustomize` of a directory of the repository: its objects.
fn kustomize(path: &str) -> Vec<serde_json::Value> {
    let assets = testenv::assets_dir().expect("kubectl is installed (hack/install-test-tools.sh)");
    let out = std::process::Command::new(assets.join("kubectl"))
        .arg("kustomize")
        .arg(common::repo_root().join(path.trim_start_matches("./")))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::helm::documents(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn argocd_applications_point_at_the_chart_and_the_integrations() {
    let docs = documents("argocd");
    let applications: Vec<_> = docs
        .iter()
        .filter(|(_, d)| d["kind"] == "Application")
        .collect();
    assert_eq!(applications.len(), 2);
    for (file, doc) in applications {
        let source = &doc["spec"]["source"];
        assert_repo_path(file, source["path"].as_str().expect("path"));
        if !source["helm"].is_null() {
            renders(file, &source["helm"]["valuesObject"]);
        }
    }
}

#[tokio::test]
async fn the_integrations_build_with_kustomize_create_their_namespace_and_the_api_server_accepts_them()
 {
    let cp = common::ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let objects = kustomize("examples");
    let namespace = objects
        .iter()
        .find(|d| d["kind"] == "Namespace")
        .expect("examples/ creates its namespace");
    let name = namespace["metadata"]["name"].as_str().expect("a name");
    for object in objects.iter().filter(|d| d["kind"] != "Namespace") {
        assert_eq!(object["metadata"]["namespace"], name, "{object}");
    }
    // The Namespace for real (a dry run creates nothing, so the rest would find none), then
    // everything with a server-side dry run, as Flux and Argo CD apply it.
    let apply = |args: &[&str], objects: &[&serde_json::Value]| {
        let manifest = objects
            .iter()
            .map(|o| serde_yaml::to_string(o).expect("YAML"))
            .collect::<Vec<_>>()
            .join("---\n");
        let mut child = cp
            .kubectl()
            .args([
                "apply",
                "--server-side",
                "--field-manager",
                "gitops-test",
                "-f",
                "-",
            ])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(manifest.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl apply {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    apply(&[], &[namespace]);
    let all: Vec<&serde_json::Value> = objects.iter().collect();
    let applied = apply(&["--dry-run=server"], &all);
    for kind in ["classlinksync", "schoolexclusion", "secret"] {
        assert!(applied.contains(kind), "{applied}");
    }

    // The Secret examples fit the ClassLinkSync that names them.
    let riverside = objects
        .iter()
        .find(|d| d["kind"] == "ClassLinkSync" && d["metadata"]["name"] == "riverside")
        .expect("riverside");
    let secret_name = &riverside["spec"]["credentials"]["secretRef"]["name"];
    let external = &common::yaml_documents(
        &common::repo_root().join("examples/secrets/external-secrets/externalsecret.yaml"),
    )[0];
    assert_eq!(&external["spec"]["target"]["name"], secret_name);
    let keys: Vec<&str> = external["spec"]["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|d| d["secretKey"].as_str())
        .collect();
    assert_eq!(keys, ["clientId", "clientSecret"]);
    // The SOPS example is encrypted: no credential in the clear, and the tests' throw-away
    // age key decrypts it into the Secret the ClassLinkSync names.
    let sops_file = common::repo_root().join("examples/secrets/sops/riverside-classlink.yaml");
    let committed = std::fs::read_to_string(&sops_file).expect("the SOPS example");
    assert!(
        !committed.contains("replace-with-client-secret") && committed.contains("ENC[AES256_GCM,"),
        "the SOPS example is committed encrypted:\n{committed}"
    );
    let decrypted = sops_decrypt(&sops_file);
    let sops_secret: &serde_json::Value = &serde_yaml::from_str(&decrypted).expect("YAML");
    assert_eq!(&sops_secret["metadata"]["name"], secret_name);
    assert_eq!(
        sops_secret["stringData"]["clientSecret"], "replace-with-client-secret",
        "decrypts to the placeholder credentials"
    );
    let sops_rules =
        std::fs::read_to_string(common::repo_root().join("examples/secrets/sops/.sops.yaml"))
            .expect(".sops.yaml");
    let rules: serde_json::Value = serde_yaml::from_str(&sops_rules).expect("YAML");
    let encrypted = rules["creation_rules"][0]["encrypted_regex"]
        .as_str()
        .expect("encrypted_regex");
    assert!(encrypted.contains("stringData") && encrypted.contains("data"));
    apply(&["--dry-run=server"], &[sops_secret]);
}

#[test]
fn example_endpoints_cannot_reach_the_internet_by_accident() {
    let mut checked = 0;
    for file in common::yaml_files(&common::repo_root().join("examples")) {
        for doc in common::yaml_documents(&file) {
            if doc["kind"] != "ClassLinkSync" {
                continue;
            }
            let spec = &doc["spec"];
            for url in [&spec["endpoint"], &spec["credentials"]["tokenUrl"]] {
                let Some(url) = url.as_str() else { continue };
                let host = url
                    .split("://")
                    .nth(1)
                    .and_then(|rest| rest.split(['/', ':']).next())
                    .unwrap_or_default();
                assert!(
                    host.ends_with(".example") || host == "127.0.0.1",
                    "{}: {url} could reach a real server; use a reserved .example host",
                    file.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "{checked} URLs checked");
}

/// `sops --decrypt FILE` with the tests' throw-away age key. sops comes from
/// `hack/install-test-tools.sh` (next to kube-apiserver in `KUBEBUILDER_ASSETS`) or PATH.
fn sops_decrypt(file: &std::path::Path) -> String {
    let bundled = std::env::var_os("KUBEBUILDER_ASSETS")
        .map(|dir| std::path::PathBuf::from(dir).join("sops"))
        .filter(|path| path.exists());
    let sops = bundled.unwrap_or_else(|| "sops".into());
    let out = std::process::Command::new(&sops)
        .arg("--decrypt")
        .arg(file)
        .env(
            "SOPS_AGE_KEY_FILE",
            common::repo_root().join("tests/fixtures/sops/age-test-key.txt"),
        )
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {} (hack/install-test-tools.sh builds it): {e}",
                sops.display()
            )
        });
    assert!(
        out.status.success(),
        "sops --decrypt {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}
