//! The cross-field rules of the CRDs (`x-kubernetes-validations`), evaluated in-process with
//! kube's CEL evaluator on the schema exactly as `crds/` holds it: quick to run, and the
//! same verdicts `classlink-operator sync -f` must reach for files no API server checked.
//! `tests/apiserver_schema.rs` proves the real API server enforces them.

mod common;

use classlink_operator::crd::{
    AuthMethod, ClassLinkSync, ClassLinkSyncSpec, Credentials, MergeSettings,
    ParentRelationshipType, Region, SchoolExclusion, SchoolExclusionSpec, SchoolSelector,
    SecretReference, SignatureMethod, SyncOptions,
};
use kube::core::cel::validate_cel;

fn spec(method: AuthMethod) -> ClassLinkSyncSpec {
    serde_json::from_value(serde_json::json!({
        "displayName": "Riverside",
        "endpoint": "https://district-ca-v2.oneroster.com",
        "region": "US",
        "credentials": {"secretRef": {"name": "riverside-classlink"}, "method": method},
    }))
    .expect("a minimal spec parses")
}

fn sync(spec: ClassLinkSyncSpec) -> ClassLinkSync {
    ClassLinkSync::new("riverside", spec)
}

/// The messages of the rules `obj` breaks (empty when it is valid).
fn broken_rules<T: kube::CustomResourceExt + serde::Serialize>(obj: &T) -> String {
    match validate_cel(obj) {
        Ok(()) => String::new(),
        Err(errors) => errors.to_string(),
    }
}

#[test]
fn oauth1_without_token_url_is_valid() {
    assert_eq!(broken_rules(&sync(spec(AuthMethod::OAuth1))), "");
}

#[test]
fn oauth2_needs_a_token_url() {
    let errors = broken_rules(&sync(spec(AuthMethod::OAuth2ClientCredentials)));
    assert!(errors.contains("tokenUrl is required"), "{errors}");
}

#[test]
fn oauth2_with_token_url_and_scopes_is_valid() {
    let mut s = spec(AuthMethod::OAuth2ClientCredentials);
    s.credentials.token_url = Some("https://lakeside.oneroster.com/oauth2/token".into());
    s.credentials.scopes = vec!["roster-core.readonly".into()];
    assert_eq!(broken_rules(&sync(s)), "");
}

#[test]
fn token_url_is_refused_with_oauth1_and_bearer() {
    for method in [AuthMethod::OAuth1, AuthMethod::Bearer] {
        let mut s = spec(method);
        s.credentials.token_url = Some("https://example.org/oauth2/token".into());
        let errors = broken_rules(&sync(s));
        assert!(
            errors.contains(
                "tokenUrl is required with method OAuth2ClientCredentials and not allowed"
            ),
            "{method:?}: {errors}"
        );
    }
}

#[test]
fn scopes_are_refused_without_oauth2() {
    let mut s = spec(AuthMethod::Bearer);
    s.credentials.scopes = vec!["roster-core.readonly".into()];
    let errors = broken_rules(&sync(s));
    assert!(
        errors.contains("scopes are only used with method OAuth2ClientCredentials"),
        "{errors}"
    );
}

#[test]
fn relationship_type_is_refused_without_parent_sync() {
    let mut s = spec(AuthMethod::OAuth1);
    s.options.parent_relationship_type = Some(ParentRelationshipType::Guardian);
    let errors = broken_rules(&sync(s));
    assert!(
        errors.contains("parentRelationshipType is required when syncParentData is true"),
        "{errors}"
    );
}

#[test]
fn parent_sync_needs_a_relationship_type() {
    let mut s = spec(AuthMethod::OAuth1);
    s.options.sync_parent_data = true;
    let errors = broken_rules(&sync(s));
    assert!(
        errors.contains("parentRelationshipType is required"),
        "{errors}"
    );
}

#[test]
fn parent_sync_with_each_relationship_type_is_valid() {
    for kind in [
        ParentRelationshipType::Parent,
        ParentRelationshipType::Relative,
        ParentRelationshipType::Guardian,
    ] {
        let mut s = spec(AuthMethod::OAuth1);
        s.options = SyncOptions {
            sync_parent_data: true,
            parent_relationship_type: Some(kind),
            ..SyncOptions::default()
        };
        assert_eq!(broken_rules(&sync(s)), "", "{kind:?}");
    }
}

fn exclusion(schools: Vec<SchoolSelector>) -> SchoolExclusion {
    SchoolExclusion::new(
        "closed-campuses",
        SchoolExclusionSpec {
            class_link_sync_name: "riverside".into(),
            schools,
            reason: None,
        },
    )
}

#[test]
fn a_school_named_by_exactly_one_identifier_is_valid() {
    let schools = vec![
        SchoolSelector {
            sourced_id: Some("org-1".into()),
            ..Default::default()
        },
        SchoolSelector {
            identifier: Some("CA-0042".into()),
            ..Default::default()
        },
        SchoolSelector {
            name: Some("Oak Middle School".into()),
            ..Default::default()
        },
    ];
    assert_eq!(broken_rules(&exclusion(schools)), "");
}

#[test]
fn a_school_named_twice_or_not_at_all_is_refused() {
    let two = SchoolSelector {
        sourced_id: Some("org-1".into()),
        name: Some("Oak Middle School".into()),
        ..Default::default()
    };
    let errors = broken_rules(&exclusion(vec![two]));
    assert!(
        errors.contains("exactly one of sourcedId, identifier or name"),
        "{errors}"
    );

    let errors = broken_rules(&exclusion(vec![SchoolSelector::default()]));
    assert!(
        errors.contains("exactly one of sourcedId, identifier or name"),
        "{errors}"
    );
}

#[test]
fn every_example_passes_the_rules() {
    for file in common::yaml_files(&common::repo_root().join("examples")) {
        for doc in common::yaml_documents(&file) {
            let errors = match doc["kind"].as_str() {
                Some("ClassLinkSync") => {
                    broken_rules(&serde_json::from_value::<ClassLinkSync>(doc).expect("parses"))
                }
                Some("SchoolExclusion") => {
                    broken_rules(&serde_json::from_value::<SchoolExclusion>(doc).expect("parses"))
                }
                _ => continue,
            };
            assert_eq!(errors, "", "{}", file.display());
        }
    }
}

#[test]
fn defaults_fill_a_minimal_spec() {
    let s = spec(AuthMethod::OAuth1);
    assert_eq!(s.credentials.signature_method, SignatureMethod::HmacSha256);
    assert!(s.options.sync_classroom_data);
    assert_eq!(s.merge, MergeSettings::default());
    assert_eq!(s.page_size, 10_000);
    assert_eq!(s.region, Region::US);
    let secret = SecretReference {
        name: "x".into(),
        client_id_key: None,
        client_secret_key: None,
        token_key: None,
    };
    assert_eq!(
        (
            secret.client_id_key(),
            secret.client_secret_key(),
            secret.token_key()
        ),
        ("clientId", "clientSecret", "token")
    );
    let _ = Credentials {
        secret_ref: secret,
        method: AuthMethod::Bearer,
        signature_method: SignatureMethod::HmacSha1,
        token_url: None,
        scopes: vec![],
    };
}
