//! Resources as a user keeps them in Git: YAML files, or directories of them, holding a
//! ClassLinkSync, its Secret and SchoolExclusions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;

use crate::crd::{ClassLinkSync, SchoolExclusion};

/// Everything read from the files.
#[derive(Debug, Default)]
pub struct Resources {
    /// ClassLinkSyncs.
    pub syncs: Vec<ClassLinkSync>,
    /// SchoolExclusions.
    pub exclusions: Vec<SchoolExclusion>,
    /// Secrets.
    pub secrets: Vec<Secret>,
}

/// Reads every `.yaml`/`.yml` file of `paths` (directories recursively). Documents of other
/// kinds (a kustomization, a Namespace) are skipped.
pub fn load(paths: &[PathBuf]) -> Result<Resources, String> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    if files.is_empty() {
        return Err("no YAML files found in the given paths".into());
    }
    let mut resources = Resources::default();
    let mut refused = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document)
                .map_err(|e| format!("{} is not valid YAML: {e}", file.display()))?;
            if value.is_null() {
                continue;
            }
            let kind = value
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or_default()
                .to_owned();
            if matches!(kind.as_str(), "ClassLinkSync" | "SchoolExclusion") {
                // Checked as the API server would check it: a file a cluster refuses is
                // refused here too.
                let json = serde_json::to_value(&value)
                    .map_err(|e| format!("{}: {kind}: {e}", file.display()))?;
                let name = json
                    .pointer("/metadata/name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("(no name)");
                let problems = crate::crd::validate::problems(&json);
                if !problems.is_empty() {
                    for problem in problems {
                        refused.push(format!("{}: {kind} {name}: {problem}", file.display()));
                    }
                    continue;
                }
            }
            let parse_error = |e: serde_yaml::Error| format!("{}: {kind}: {e}", file.display());
            match kind.as_str() {
                "ClassLinkSync" => resources
                    .syncs
                    .push(serde_yaml::from_value(value).map_err(parse_error)?),
                "SchoolExclusion" => resources
                    .exclusions
                    .push(serde_yaml::from_value(value).map_err(parse_error)?),
                "Secret" => resources
                    .secrets
                    .push(serde_yaml::from_value(value).map_err(parse_error)?),
                _ => {}
            }
        }
    }
    if !refused.is_empty() {
        return Err(format!(
            "the API server would refuse these resources:\n  {}",
            refused.join("\n  ")
        ));
    }
    Ok(resources)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir()
                || matches!(
                    entry.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
            {
                collect(&entry, files)?;
            }
        }
    } else {
        files.push(path.to_owned());
    }
    Ok(())
}

/// A Secret's data, with `stringData` over `data` as the API server merges them.
pub fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        data.insert(k.clone(), v.clone().into_bytes());
    }
    data
}
