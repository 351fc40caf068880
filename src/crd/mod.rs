//! The Kubernetes resources of the operator: `ClassLinkSync` and `SchoolExclusion`
//! (group `rostersync.io`, version `v1alpha1`). These Rust types are the single source of
//! the CRD YAML in `crds/` and of docs/reference.md.

mod classlinksync;
pub mod reference;
mod schoolexclusion;
pub mod validate;

pub use classlinksync::*;
pub use schoolexclusion::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of the operator's resources.
pub const GROUP: &str = "rostersync.io";

/// Annotation whose new value asks for a manual sync (Flux's `requestedAt` convention).
pub const SYNC_REQUESTED_AT_ANNOTATION: &str = "rostersync.io/sync-requested-at";

/// Annotation whose new value lets the next sync remove more people than the shrink guard
/// allows, once.
pub const CONFIRM_SHRINK_ANNOTATION: &str = "rostersync.io/confirm-shrink";

/// Finalizer that removes a ClassLinkSync's data from the store (`deletionPolicy: Delete`).
pub const STORE_CLEANUP_FINALIZER: &str = "rostersync.io/store-cleanup";

/// Both CRDs, in the order `crds/` and the chart hold them.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![ClassLinkSync::crd(), SchoolExclusion::crd()]
}

/// Both CRDs as one multi-document YAML stream, exactly as `classlink-operator crds` prints
/// it and `crds/` holds it.
pub fn to_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
