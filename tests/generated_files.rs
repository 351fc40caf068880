//! Files generated from the Rust types stay identical to what the types generate, and every
//! example parses into the types.

mod common;

use classlink_operator::crd::{ClassLinkSync, SchoolExclusion};
use k8s_openapi::api::core::v1::Secret;

#[test]
fn crds_directory_holds_exactly_what_the_crds_command_prints() {
    let path = common::repo_root().join("crds/rostersync.io.yaml");
    let checked_in = std::fs::read_to_string(&path).expect("crds/rostersync.io.yaml exists");
    let generated = classlink_operator::crd::to_yaml().expect("CRDs render as YAML");
    assert!(
        checked_in == generated,
        "crds/rostersync.io.yaml differs from the Rust types: run `cargo run -- crds > crds/rostersync.io.yaml`"
    );
}

#[test]
fn reference_doc_holds_exactly_what_the_types_generate() {
    let path = common::repo_root().join("docs/reference.md");
    let checked_in = std::fs::read_to_string(&path).expect("docs/reference.md exists");
    assert!(
        checked_in == classlink_operator::crd::reference::markdown(),
        "docs/reference.md differs from the Rust types: run `cargo run -- docs reference > docs/reference.md`"
    );
}

#[test]
fn error_code_doc_holds_exactly_what_the_code_generates() {
    let path = common::repo_root().join("docs/error-codes.md");
    let checked_in = std::fs::read_to_string(&path).expect("docs/error-codes.md exists");
    assert!(
        checked_in == classlink_operator::error_code::markdown(),
        "docs/error-codes.md differs from src/error_code.rs: run `cargo run -- docs error-codes > docs/error-codes.md`"
    );
}

#[test]
fn error_codes_round_trip_through_their_names() {
    use classlink_operator::error_code::ErrorCode;
    for code in ErrorCode::ALL {
        assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(*code));
    }
    assert!("NoSuchCode".parse::<ErrorCode>().is_err());
}

#[test]
fn crds_yaml_holds_both_kinds_with_status_subresource_and_category() {
    let generated = classlink_operator::crd::all();
    let kinds: Vec<&str> = generated
        .iter()
        .map(|c| c.spec.names.kind.as_str())
        .collect();
    assert_eq!(kinds, ["ClassLinkSync", "SchoolExclusion"]);
    for crd in &generated {
        assert_eq!(crd.spec.group, "rostersync.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{} has a status subresource",
            crd.spec.names.kind
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["classlink".to_owned()][..])
        );
    }
}

#[test]
fn every_example_parses_into_the_rust_types() {
    let examples = common::repo_root().join("examples");
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for file in common::yaml_files(&examples) {
        for doc in common::yaml_documents(&file) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let context = format!("{} ({kind})", file.display());
            match kind.as_str() {
                "ClassLinkSync" => {
                    serde_json::from_value::<ClassLinkSync>(doc)
                        .unwrap_or_else(|e| panic!("{context}: {e}"));
                }
                "SchoolExclusion" => {
                    serde_json::from_value::<SchoolExclusion>(doc)
                        .unwrap_or_else(|e| panic!("{context}: {e}"));
                }
                "Secret" => {
                    serde_json::from_value::<Secret>(doc)
                        .unwrap_or_else(|e| panic!("{context}: {e}"));
                }
                "Kustomization" if doc["apiVersion"] == "kustomize.config.k8s.io/v1beta1" => {
                    let dir = file.parent().expect("file has a directory");
                    for resource in doc["resources"].as_array().expect("resources list") {
                        let path = dir.join(resource.as_str().expect("resource path"));
                        assert!(
                            path.exists(),
                            "{context} lists {} which does not exist",
                            path.display()
                        );
                    }
                }
                // Flux, Argo CD and External Secrets objects, Namespaces and Argo CD's
                // health check (a ConfigMap): tests/gitops.rs checks them.
                "GitRepository" | "HelmRelease" | "Application" | "Kustomization" | "Namespace"
                | "ExternalSecret" | "ConfigMap" => {}
                // SOPS's own configuration, not a Kubernetes object.
                "" if file.file_name().is_some_and(|n| n == ".sops.yaml") => continue,
                other => panic!("{context}: unexpected kind {other:?}"),
            }
            *seen.entry(kind).or_default() += 1;
        }
    }
    assert!(
        seen.get("ClassLinkSync").copied().unwrap_or(0) >= 3,
        "one ClassLinkSync per auth method: {seen:?}"
    );
    assert!(seen.contains_key("SchoolExclusion"), "{seen:?}");
    assert!(seen.contains_key("Kustomization"), "{seen:?}");
}

#[test]
fn examples_cover_every_auth_method() {
    let examples = common::repo_root().join("examples");
    let mut methods = std::collections::BTreeSet::new();
    for file in common::yaml_files(&examples) {
        for doc in common::yaml_documents(&file) {
            if doc["kind"] == "ClassLinkSync" {
                let sync: ClassLinkSync = serde_json::from_value(doc).expect("parses");
                methods.insert(format!("{:?}", sync.spec.credentials.method));
            }
        }
    }
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        ["Bearer", "OAuth1", "OAuth2ClientCredentials"]
    );
}
