//! The Kubernetes resources of the operator: `ClassLinkSync` and `SchoolExclusion`
//! (group `rostersync.io`, version `v1alpha1`). These Rust types are the single source of
//! the CRD YAML in `crds/` and of docs/reference.md.

mod classlinksync;
pub mod reference;
mod schoolexclusion;
pub mod validate;

pub use classlinksync::*;
pub use schoolexclusion::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
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

/// Label that assigns a ClassLinkSync to a shard: the operator instance run with
/// `--watch-label-selector rostersync.io/shard=NAME` syncs it, and the main instance (whose
/// default selector is `!rostersync.io/shard`) leaves it alone.
pub const SHARD_LABEL: &str = "rostersync.io/shard";

/// Both CRDs, in the order `crds/` and the chart hold them.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![ClassLinkSync::crd(), SchoolExclusion::crd()];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                fit_for_kubernetes(schema);
            }
        }
    }
    crds
}

/// Formats schemars gives Rust's unsigned and small integer types. They are not formats
/// Kubernetes knows: a current API server answers every apply of the CRDs with a warning for
/// each. The bounds that carry their meaning (`minimum: 0`, `maximum`) stay.
const RUST_INTEGER_FORMATS: &[&str] = &[
    "int8", "int16", "uint", "uint8", "uint16", "uint32", "uint64", "uint128", "int128",
];

/// The generated schema as the API server and kubectl want it: no Rust integer formats,
/// and each description paragraph on one line. The doc comments it comes from are wrapped
/// at the source's width, and `kubectl explain` keeps those line breaks on top of its own
/// wrapping, which cuts its lines mid-sentence.
fn fit_for_kubernetes(schema: &mut JSONSchemaProps) {
    if let Some(description) = &mut schema.description {
        *description = one_line_paragraphs(description);
    }
    if schema
        .format
        .as_deref()
        .is_some_and(|f| RUST_INTEGER_FORMATS.contains(&f))
    {
        schema.format = None;
    }
    if let Some(properties) = &mut schema.properties {
        properties.values_mut().for_each(fit_for_kubernetes);
    }
    match &mut schema.items {
        Some(JSONSchemaPropsOrArray::Schema(items)) => fit_for_kubernetes(items),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            items.iter_mut().for_each(fit_for_kubernetes);
        }
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(values)) = &mut schema.additional_properties {
        fit_for_kubernetes(values);
    }
    for alternatives in [&mut schema.all_of, &mut schema.any_of, &mut schema.one_of]
        .into_iter()
        .flatten()
    {
        alternatives.iter_mut().for_each(fit_for_kubernetes);
    }
    if let Some(not) = &mut schema.not {
        fit_for_kubernetes(not);
    }
}

/// `text` with the lines of each paragraph (blocks between blank lines) joined by spaces.
fn one_line_paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|paragraph| !paragraph.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema of both CRDs, depth first.
    fn schemas(schema: &JSONSchemaProps) -> Vec<&JSONSchemaProps> {
        let mut found = vec![schema];
        for child in schema.properties.iter().flat_map(|p| p.values()) {
            found.extend(schemas(child));
        }
        if let Some(JSONSchemaPropsOrArray::Schema(items)) = &schema.items {
            found.extend(schemas(items));
        }
        found
    }

    fn all_schemas() -> Vec<JSONSchemaProps> {
        all()
            .into_iter()
            .flat_map(|crd| crd.spec.versions)
            .filter_map(|v| v.schema.and_then(|s| s.open_api_v3_schema))
            .collect()
    }

    #[test]
    fn no_schema_carries_a_rust_integer_format() {
        let roots = all_schemas();
        let formats: Vec<&str> = roots
            .iter()
            .flat_map(schemas)
            .filter_map(|s| s.format.as_deref())
            .collect();
        assert!(formats.contains(&"date-time"), "{formats:?}");
        assert!(formats.contains(&"int64"), "{formats:?}");
        for format in formats {
            assert!(!RUST_INTEGER_FORMATS.contains(&format), "{format}");
        }
    }

    #[test]
    fn descriptions_keep_each_paragraph_on_one_line() {
        let roots = all_schemas();
        let descriptions: Vec<&str> = roots
            .iter()
            .flat_map(schemas)
            .filter_map(|s| s.description.as_deref())
            .collect();
        assert!(descriptions.len() > 50, "{}", descriptions.len());
        for description in descriptions {
            assert!(
                !description.replace("\n\n", "").contains('\n'),
                "{description:?}"
            );
        }
    }

    #[test]
    fn paragraphs_are_joined_line_by_line_and_kept_apart() {
        assert_eq!(
            one_line_paragraphs("Minutes one sync\nmay take.\n\nThe store  keeps\nits snapshot.\n"),
            "Minutes one sync may take.\n\nThe store keeps its snapshot."
        );
    }
}
