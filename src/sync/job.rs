//! From resources to a sync job: a ClassLinkSync, the data of its Secret and the
//! SchoolExclusions naming it become the engine's settings and the client's configuration.
//! The CLI reads these resources from files, the controller from the API server; both come
//! through here.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::crd::{
    AuthMethod, ClassLinkSync, MergeKey as SpecMergeKey, ParentRelationshipType, Region,
    SchoolExclusion, SignatureMethod as SpecSignatureMethod,
};
use crate::engine::{Exclusion, GuardianRole, MergeKey, SchoolRef, SyncSettings};
use crate::error_code::ErrorCode;
use crate::oneroster::{Auth, ClientConfig, Secret, SignatureMethod};

/// A resource problem that stops a sync before it talks to the Roster Server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    /// The error code.
    pub code: ErrorCode,
    /// What is wrong, naming keys and fields, never values.
    pub message: String,
}

impl JobError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Operator-wide choices that are not in the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOptions {
    /// Allow plain `http://` endpoints (tests and demos on loopback).
    pub allow_insecure_http: bool,
    /// Extra CA certificates (PEM) for Roster Servers behind a private CA.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// The user confirmed a removal beyond the shrink guard.
    pub confirm_shrink: bool,
}

/// Everything one sync needs.
#[derive(Debug, Clone)]
pub struct SyncJob {
    /// The engine's settings.
    pub settings: SyncSettings,
    /// The SchoolExclusions naming this ClassLinkSync.
    pub exclusions: Vec<Exclusion>,
    /// How to reach the Roster Server.
    pub client: ClientConfig,
    /// The region, for today's date and the schedule.
    pub region: Region,
    /// The display name, for reports.
    pub display_name: String,
}

/// Builds the job of `sync` (in `namespace`) from its Secret's data and the exclusions of
/// the namespace: those naming other ClassLinkSyncs, and those of another namespace
/// (`metadata.namespace` set and different), are never used.
pub fn build(
    namespace: &str,
    sync: &ClassLinkSync,
    secret_data: Option<&BTreeMap<String, Vec<u8>>>,
    exclusions: &[SchoolExclusion],
    options: &JobOptions,
) -> Result<SyncJob, JobError> {
    let name = sync.metadata.name.clone().unwrap_or_default();
    let spec = &sync.spec;
    check_cross_field_rules(sync)?;
    let secret_name = &spec.credentials.secret_ref.name;
    let data = secret_data.ok_or_else(|| {
        JobError::new(
            ErrorCode::SecretNotFound,
            format!("Secret {namespace}/{secret_name} does not exist; create it with the keys the auth method needs."),
        )
    })?;
    let value = |key: &str| -> Result<String, JobError> {
        let bytes = data.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            JobError::new(
                ErrorCode::SecretKeyMissing,
                format!("Secret {namespace}/{secret_name} has no key {key:?} (or it is empty)."),
            )
        })?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| {
            JobError::new(
                ErrorCode::SecretKeyMissing,
                format!("Secret {namespace}/{secret_name} key {key:?} is not UTF-8 text."),
            )
        })?;
        Ok(text.trim().to_owned())
    };
    let secret_ref = &spec.credentials.secret_ref;
    let auth = match spec.credentials.method {
        AuthMethod::OAuth1 => Auth::OAuth1 {
            client_id: value(secret_ref.client_id_key())?,
            client_secret: Secret::new(value(secret_ref.client_secret_key())?),
            signature_method: match spec.credentials.signature_method {
                SpecSignatureMethod::HmacSha256 => SignatureMethod::HmacSha256,
                SpecSignatureMethod::HmacSha1 => SignatureMethod::HmacSha1,
            },
        },
        AuthMethod::OAuth2ClientCredentials => Auth::OAuth2ClientCredentials {
            token_url: spec.credentials.token_url.clone().unwrap_or_default(),
            client_id: value(secret_ref.client_id_key())?,
            client_secret: Secret::new(value(secret_ref.client_secret_key())?),
            scopes: spec.credentials.scopes.clone(),
        },
        AuthMethod::Bearer => Auth::Bearer {
            token: Secret::new(value(secret_ref.token_key())?),
        },
    };

    let mut client = ClientConfig::new(spec.endpoint.clone(), auth);
    client.page_size = spec.page_size;
    client.max_concurrent_requests = spec.max_concurrent_requests as usize;
    client.request_timeout = Duration::from_secs(u64::from(spec.request_timeout_seconds));
    client.sync_deadline = Duration::from_secs(u64::from(spec.sync_timeout_minutes) * 60);
    client.compatibility_mode = spec.compatibility_mode;
    client.allow_insecure_http = options.allow_insecure_http;
    client.extra_ca_pem = options.extra_ca_pem.clone();

    let settings = SyncSettings {
        namespace: namespace.to_owned(),
        provider: name.clone(),
        sync_classroom_data: spec.options.sync_classroom_data,
        respect_enrolment_date: spec.options.respect_enrolment_date,
        respect_academic_sessions: spec.options.respect_academic_sessions,
        guardian_role: if spec.options.sync_parent_data {
            spec.options
                .parent_relationship_type
                .map(|kind| match kind {
                    ParentRelationshipType::Parent => GuardianRole::Parent,
                    ParentRelationshipType::Relative => GuardianRole::Relative,
                    ParentRelationshipType::Guardian => GuardianRole::Guardian,
                })
        } else {
            None
        },
        merge_key: match spec.merge.key {
            SpecMergeKey::Email => MergeKey::Email,
            SpecMergeKey::EmailWithoutDomain => MergeKey::EmailWithoutDomain,
        },
        priority: spec.merge.priority,
        attach_only: spec.merge.attach_to_existing_users_only,
        shrink_guard_percent: spec.shrink_guard_percent,
        confirm_shrink: options.confirm_shrink,
    };

    let exclusions = exclusions
        .iter()
        .filter(|x| {
            x.spec.class_link_sync_name == name
                && x.metadata
                    .namespace
                    .as_deref()
                    .is_none_or(|ns| ns == namespace)
        })
        .map(|x| Exclusion {
            name: x.metadata.name.clone().unwrap_or_default(),
            schools: x
                .spec
                .schools
                .iter()
                .filter_map(|s| {
                    s.sourced_id
                        .clone()
                        .map(SchoolRef::SourcedId)
                        .or_else(|| s.identifier.clone().map(SchoolRef::Identifier))
                        .or_else(|| s.name.clone().map(SchoolRef::Name))
                })
                .collect(),
        })
        .collect();

    Ok(SyncJob {
        settings,
        exclusions,
        client,
        region: spec.region,
        display_name: spec.display_name.clone(),
    })
}

/// The CRD's CEL rules, checked again here for the specs no API server checked
/// (`classlink-operator sync -f` reads them from files).
fn check_cross_field_rules(sync: &ClassLinkSync) -> Result<(), JobError> {
    let spec = &sync.spec;
    let oauth2 = spec.credentials.method == AuthMethod::OAuth2ClientCredentials;
    if oauth2 != spec.credentials.token_url.is_some() {
        return Err(JobError::new(
            ErrorCode::InvalidSpec,
            "spec.credentials.tokenUrl is required with method OAuth2ClientCredentials and not allowed with any other method.",
        ));
    }
    if !oauth2 && !spec.credentials.scopes.is_empty() {
        return Err(JobError::new(
            ErrorCode::InvalidSpec,
            "spec.credentials.scopes are only used with method OAuth2ClientCredentials.",
        ));
    }
    if spec.options.sync_parent_data != spec.options.parent_relationship_type.is_some() {
        return Err(JobError::new(
            ErrorCode::InvalidSpec,
            "spec.options.parentRelationshipType is required when syncParentData is true and not allowed otherwise.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("a valid resource")
    }

    #[test]
    fn only_exclusions_of_the_syncs_namespace_and_naming_it_are_used() {
        let sync: ClassLinkSync = resource(serde_json::json!({
            "apiVersion": "rostersync.io/v1alpha1",
            "kind": "ClassLinkSync",
            "metadata": {"name": "district"},
            "spec": {
                "displayName": "District",
                "endpoint": "https://district.example",
                "region": "US",
                "credentials": {"secretRef": {"name": "creds"}},
            },
        }));
        let exclusion = |name: &str, namespace: Option<&str>, target: &str| -> SchoolExclusion {
            resource(serde_json::json!({
                "apiVersion": "rostersync.io/v1alpha1",
                "kind": "SchoolExclusion",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"classLinkSyncName": target, "schools": [{"sourcedId": "s1"}]},
            }))
        };
        let data = BTreeMap::from([
            ("clientId".to_owned(), b"id".to_vec()),
            ("clientSecret".to_owned(), b"secret".to_vec()),
        ]);
        let job = build(
            "schools",
            &sync,
            Some(&data),
            &[
                exclusion("same-namespace", Some("schools"), "district"),
                exclusion("no-namespace", None, "district"),
                exclusion("other-namespace", Some("elsewhere"), "district"),
                exclusion("other-sync", Some("schools"), "another"),
            ],
            &JobOptions::default(),
        )
        .expect("the job builds");
        let used: Vec<&str> = job.exclusions.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(used, ["same-namespace", "no-namespace"]);
    }
}
