//! Checks a resource as a current API server would before storing it: against the CRD's own
//! OpenAPI schema (the one `classlink-operator crds` prints), with unknown fields refused as
//! `kubectl`'s strict field validation refuses them, then the CRD's CEL rules. Messages
//! take the API server's form (`spec.pageSize: Invalid value: 0: ...`).
//!
//! The schema is read from the generated CRD, never restated, so the CRD and this check
//! cannot disagree.

use serde_json::{Map, Value};

use super::{ClassLinkSync, SchoolExclusion};

/// The problems of a `ClassLinkSync` or `SchoolExclusion` document (empty when it is valid;
/// documents of other kinds have none). `status` is not checked: the API server ignores it
/// on create.
pub fn problems(document: &Value) -> Vec<String> {
    let kind = document
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(schema) = schema_of(kind) else {
        return Vec::new();
    };
    let mut document = document.clone();
    if let Some(object) = document.as_object_mut() {
        object.remove("status");
    }
    let validator = match jsonschema::draft7::new(&schema) {
        Ok(validator) => validator,
        Err(e) => return vec![format!("the {kind} schema cannot be used: {e}")],
    };
    let mut found: Vec<String> = validator.iter_errors(&document).flat_map(message).collect();
    if found.is_empty() {
        // The CEL rules read typed fields: only a document the schema accepts gets here.
        let cel = match kind {
            "ClassLinkSync" => cel_problems::<ClassLinkSync>(&document),
            _ => cel_problems::<SchoolExclusion>(&document),
        };
        found.extend(cel);
    }
    found.sort();
    found.dedup();
    found
}

fn cel_problems<T>(document: &Value) -> Vec<String>
where
    T: kube::CustomResourceExt + serde::Serialize + serde::de::DeserializeOwned,
{
    let typed: T = match serde_json::from_value(document.clone()) {
        Ok(typed) => typed,
        Err(e) => return vec![format!("{e}")],
    };
    match kube::core::cel::validate_cel(&typed) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// The CRD's `openAPIV3Schema` for `kind`, made strict as a structural schema is: nullable
/// fields take `null`, and objects with declared properties take no others.
fn schema_of(kind: &str) -> Option<Value> {
    let crd = super::all()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)?;
    let version = crd.spec.versions.into_iter().next()?;
    let schema = version.schema?.open_api_v3_schema?;
    let mut schema = serde_json::to_value(schema).ok()?;
    // The API server checks these itself (metadata against ObjectMeta), not through the
    // CRD's schema, which therefore need not declare them.
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for field in ["apiVersion", "kind"] {
            properties
                .entry(field)
                .or_insert_with(|| serde_json::json!({"type": "string"}));
        }
        properties.entry("metadata").or_insert_with(
            || serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
    }
    structural(&mut schema);
    Some(schema)
}

fn structural(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if object.remove("nullable") == Some(Value::Bool(true))
        && let Some(Value::String(kind)) = object.get("type").cloned()
    {
        object.insert("type".into(), Value::from(vec![kind, "null".into()]));
    }
    let preserves = object
        .get("x-kubernetes-preserve-unknown-fields")
        .is_some_and(|v| v == &Value::Bool(true));
    if object.contains_key("properties")
        && !object.contains_key("additionalProperties")
        && !preserves
    {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (key, value) in object.iter_mut() {
        match key.as_str() {
            "properties" => {
                if let Some(properties) = value.as_object_mut() {
                    properties.values_mut().for_each(structural);
                }
            }
            "items" | "additionalProperties" => structural(value),
            "allOf" | "anyOf" | "oneOf" => {
                if let Some(list) = value.as_array_mut() {
                    list.iter_mut().for_each(structural);
                }
            }
            _ => {}
        }
    }
}

/// `/spec/options/x` → `spec.options.x`; array indices as `[0]`.
fn field_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').filter(|s| !s.is_empty()) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.chars().all(|c| c.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    path
}

/// One schema error in the API server's words.
fn message(error: jsonschema::ValidationError<'_>) -> Vec<String> {
    use jsonschema::error::ValidationErrorKind as Kind;
    let path = field_path(error.instance_path().as_str());
    let value = compact(error.instance());
    let within = |field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let invalid = |rule: String| format!("{path}: Invalid value: {value}: {path} in body {rule}");
    match error.kind() {
        Kind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|field| format!("{}: field not declared in schema", within(field)))
            .collect(),
        Kind::Required { property } => vec![format!(
            "{}: Required value",
            within(property.as_str().unwrap_or_default())
        )],
        Kind::Enum { options } => {
            let supported = options
                .as_array()
                .map(|o| o.iter().map(compact).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            vec![format!(
                "{path}: Unsupported value: {value}: supported values: {supported}"
            )]
        }
        Kind::Minimum { limit } => vec![invalid(format!(
            "should be greater than or equal to {limit}"
        ))],
        Kind::Maximum { limit } => {
            vec![invalid(format!("should be less than or equal to {limit}"))]
        }
        Kind::ExclusiveMinimum { limit } => {
            vec![invalid(format!("should be greater than {limit}"))]
        }
        Kind::ExclusiveMaximum { limit } => vec![invalid(format!("should be less than {limit}"))],
        Kind::MinLength { limit } => {
            vec![invalid(format!("should be at least {limit} chars long"))]
        }
        Kind::MaxLength { limit } => vec![invalid(format!("may not be more than {limit} bytes"))],
        Kind::MinItems { limit } => vec![invalid(format!("should have at least {limit} items"))],
        Kind::MaxItems { limit } => vec![invalid(format!("must have at most {limit} items"))],
        Kind::Pattern { pattern } => vec![invalid(format!("should match '{pattern}'"))],
        Kind::Type { kind } => vec![invalid(format!("must be of type {}", type_name(kind)))],
        _ => vec![format!("{path}: Invalid value: {value}: {error}")],
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(types) => {
            // `nullable` fields: the API server names the declared type only.
            let names: Vec<String> = types
                .into_iter()
                .map(|t| t.to_string())
                .filter(|t| t != "null")
                .collect();
            names.join(" or ")
        }
    }
}

/// A value as the API server quotes it: strings quoted, long values cut.
fn compact(value: &Value) -> String {
    let text = match value {
        Value::Object(map) if map.len() > 3 => Value::Object(Map::new()).to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(spec: Value) -> Value {
        serde_json::json!({
            "apiVersion": "rostersync.io/v1alpha1",
            "kind": "ClassLinkSync",
            "metadata": {"name": "riverside"},
            "spec": spec,
        })
    }

    fn valid_spec() -> Value {
        serde_json::json!({
            "displayName": "Riverside",
            "endpoint": "https://district-ca-v2.oneroster.com",
            "region": "US",
            "credentials": {"secretRef": {"name": "riverside-classlink"}},
        })
    }

    #[test]
    fn a_valid_classlinksync_has_no_problems() {
        assert_eq!(problems(&sync(valid_spec())), Vec::<String>::new());
    }

    #[test]
    fn unknown_fields_ranges_and_enums_are_named_as_the_api_server_names_them() {
        let mut spec = valid_spec();
        spec["pageSize"] = 0.into();
        spec["shrinkGuardPercent"] = 500.into();
        spec["region"] = "EU".into();
        spec["options"] = serde_json::json!({"respectEnrollmentDate": true});
        let found = problems(&sync(spec)).join("\n");
        for expected in [
            "spec.options.respectEnrollmentDate: field not declared in schema",
            "spec.pageSize: Invalid value: 0: spec.pageSize in body should be greater than or equal to 1",
            "spec.shrinkGuardPercent: Invalid value: 500: spec.shrinkGuardPercent in body should be less than or equal to 100",
            "spec.region: Unsupported value: \"EU\": supported values: \"US\", \"AU\", \"NZ\", \"UK\"",
        ] {
            assert!(found.contains(expected), "{expected}\nin:\n{found}");
        }
    }

    #[test]
    fn the_cel_rules_are_checked_once_the_schema_holds() {
        let mut spec = valid_spec();
        spec["credentials"]["method"] = "OAuth2ClientCredentials".into();
        let found = problems(&sync(spec)).join("\n");
        assert!(found.contains("tokenUrl is required"), "{found}");
    }

    #[test]
    fn other_kinds_are_not_checked() {
        let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "whatever": 1});
        assert!(problems(&secret).is_empty());
    }
}
