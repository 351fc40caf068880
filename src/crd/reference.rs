//! docs/reference.md, generated from the CRDs' OpenAPI schemas so that the field reference
//! can never drift from what the API server enforces.

use std::fmt::Write;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};

/// The whole resource reference as Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Resource reference\n\n\
         Generated from the Rust types by `classlink-operator docs reference`; a test fails \
         when this file and the types differ. `kubectl explain classlinksync.spec` shows the \
         same descriptions.\n",
    );
    for crd in super::all() {
        write_crd(&mut out, &crd);
    }
    out
}

fn write_crd(out: &mut String, crd: &CustomResourceDefinition) {
    let names = &crd.spec.names;
    let version = &crd.spec.versions[0];
    let _ = write!(
        out,
        "\n## {kind}\n\n`{group}/{version}`, namespaced. Short names: {short}. Category: {cat}.\n",
        kind = names.kind,
        group = crd.spec.group,
        version = version.name,
        short = code_list(names.short_names.as_deref().unwrap_or_default()),
        cat = code_list(names.categories.as_deref().unwrap_or_default()),
    );
    let Some(schema) = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
    else {
        return;
    };
    if let Some(description) = &schema.description {
        let _ = writeln!(out, "\n{}", one_line(description));
    }
    if let Some(columns) = &version.additional_printer_columns {
        out.push_str("\n`kubectl get` columns: ");
        let list: Vec<String> = columns
            .iter()
            .map(|c| match c.priority {
                Some(p) if p > 0 => format!("{} (`-o wide`)", c.name),
                _ => c.name.clone(),
            })
            .collect();
        out.push_str(&list.join(", "));
        out.push_str(".\n");
    }
    for part in ["spec", "status"] {
        let Some(props) = schema.properties.as_ref().and_then(|p| p.get(part)) else {
            continue;
        };
        let _ = write!(
            out,
            "\n### {part}\n\n| Field | Type | Default | Description |\n|---|---|---|---|\n"
        );
        let mut rules = Vec::new();
        write_fields(out, &mut rules, part, props);
        if !rules.is_empty() {
            out.push_str("\nRules checked by the API server (CEL):\n\n");
            for rule in rules {
                out.push_str(&rule);
            }
        }
    }
}

fn write_fields(out: &mut String, rules: &mut Vec<String>, path: &str, schema: &JSONSchemaProps) {
    if let Some(validations) = &schema.x_kubernetes_validations {
        for v in validations {
            rules.push(format!(
                "- `{path}`: {} (`{}`)\n",
                v.message.as_deref().unwrap_or("must hold"),
                v.rule
            ));
        }
    }
    let item_schema = match &schema.items {
        Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(s)) => Some(s.as_ref()),
        _ => None,
    };
    let (fields_of, child_path) = match item_schema {
        Some(items) if items.properties.is_some() => (items, format!("{path}[]")),
        _ => (schema, path.to_owned()),
    };
    if let Some(items) = item_schema
        && let Some(validations) = &items.x_kubernetes_validations
    {
        for v in validations {
            rules.push(format!(
                "- `{path}[]`: {} (`{}`)\n",
                v.message.as_deref().unwrap_or("must hold"),
                v.rule
            ));
        }
    }
    let Some(properties) = &fields_of.properties else {
        return;
    };
    let required = fields_of.required.as_deref().unwrap_or_default();
    for (name, prop) in properties {
        let field = format!("{child_path}.{name}");
        let mut kind = type_of(prop);
        if required.contains(name) {
            kind.push_str(", required");
        }
        let default = prop
            .default
            .as_ref()
            .filter(|d| !d.0.is_object())
            .map(|d| format!("`{}`", d.0))
            .unwrap_or_default();
        let description = prop
            .description
            .as_deref()
            .map(one_line)
            .unwrap_or_default();
        let _ = writeln!(out, "| `{field}` | {kind} | {default} | {description} |");
        // Kubernetes' own Condition type is documented upstream; do not repeat it here.
        if name != "conditions" {
            write_fields(out, rules, &field, prop);
        }
    }
}

fn type_of(prop: &JSONSchemaProps) -> String {
    let mut kind = prop.type_.clone().unwrap_or_else(|| "any".into());
    if let Some(values) = &prop.enum_ {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.0.as_str().map_or_else(|| v.0.to_string(), str::to_owned))
            .collect();
        kind = format!("one of {}", code_list(&names));
    }
    if let Some(format) = &prop.format
        && format == "date-time"
    {
        kind = "timestamp".into();
    }
    match (prop.minimum, prop.maximum) {
        (Some(min), Some(max)) => kind.push_str(&format!(" {min}–{max}")),
        (Some(min), None) => kind.push_str(&format!(" ≥ {min}")),
        (None, Some(max)) => kind.push_str(&format!(" ≤ {max}")),
        (None, None) => {}
    }
    if let Some(max) = prop.max_items {
        kind.push_str(&format!(", at most {max} items"));
    }
    if let Some(min) = prop.min_items
        && min > 0
    {
        kind.push_str(&format!(", at least {min} item"));
    }
    kind
}

fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}
