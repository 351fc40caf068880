//! What became of each SchoolExclusion, in the words of a SchoolExclusion's status: the
//! CLI's report shows it for the files it read, as the cluster shows it in each
//! SchoolExclusion's status.

use serde::Serialize;

use crate::crd::{ClassLinkSync, ExcludedSchoolStatus, SchoolExclusion, SchoolSelector};
use crate::engine::{ExclusionResult, SchoolRef};

/// Every listed school was found and excluded.
pub const SCHOOLS_EXCLUDED: &str = "SchoolsExcluded";
/// Some listed school is not among the Roster Server's schools.
pub const SCHOOLS_NOT_FOUND: &str = "SchoolsNotFound";
/// `spec.classLinkSyncName` names no ClassLinkSync of the exclusion's namespace.
pub const CLASSLINKSYNC_NOT_FOUND: &str = "ClassLinkSyncNotFound";
/// The exclusion is in another namespace than the sync: never used.
pub const OTHER_NAMESPACE: &str = "OtherNamespace";
/// The sync failed before it read the schools: the exclusion was not resolved.
pub const NOT_RESOLVED: &str = "NotResolved";

/// One SchoolExclusion after a sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionOutcome {
    /// The SchoolExclusion's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The ClassLinkSync it names.
    pub class_link_sync_name: String,
    /// True when every listed school was found and excluded (the `Ready` condition).
    pub ready: bool,
    /// Why, as the `Ready` condition's reason.
    pub reason: &'static str,
    /// What happened and what to check.
    pub message: String,
    /// Found and listed schools, as `found/listed`, when the sync resolved them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Each listed school as the sync resolved it, in the order of `spec.schools`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schools: Vec<ExcludedSchoolStatus>,
}

/// The outcome of every SchoolExclusion of `exclusions` (in their order) for a sync of
/// `sync_name` in `namespace`: resolved by the sync (`resolved`, the engine's answer, empty
/// when the sync failed before reading the schools), naming no ClassLinkSync of `syncs` in
/// their namespace, or in another namespace. Exclusions naming another ClassLinkSync that
/// exists are left out: another sync uses them.
pub fn outcomes(
    namespace: &str,
    sync_name: &str,
    syncs: &[ClassLinkSync],
    exclusions: &[SchoolExclusion],
    resolved: &[ExclusionResult],
    default_namespace: &str,
) -> Vec<ExclusionOutcome> {
    let mut out = Vec::new();
    for exclusion in exclusions {
        let name = exclusion.metadata.name.clone().unwrap_or_default();
        let its_namespace =
            namespace_of(exclusion.metadata.namespace.as_deref(), default_namespace);
        let target = &exclusion.spec.class_link_sync_name;
        let outcome = |ready, reason, message: String| ExclusionOutcome {
            name: name.clone(),
            namespace: its_namespace.to_owned(),
            class_link_sync_name: target.clone(),
            ready,
            reason,
            message,
            found: None,
            schools: Vec::new(),
        };
        if its_namespace != namespace {
            out.push(outcome(
                false,
                OTHER_NAMESPACE,
                format!(
                    "In namespace {its_namespace}, not {namespace}: a SchoolExclusion applies only to the ClassLinkSyncs of its own namespace; not used."
                ),
            ));
            continue;
        }
        if target == sync_name {
            match resolved.iter().find(|r| r.name == name) {
                Some(result) => out.push(resolution(&name, its_namespace, target, result)),
                None => out.push(outcome(
                    false,
                    NOT_RESOLVED,
                    "The sync failed before it read the schools; the exclusion was not applied."
                        .into(),
                )),
            }
            continue;
        }
        let exists = syncs.iter().any(|s| {
            s.metadata.name.as_deref() == Some(target.as_str())
                && namespace_of(s.metadata.namespace.as_deref(), default_namespace) == its_namespace
        });
        if !exists {
            out.push(outcome(
                false,
                CLASSLINKSYNC_NOT_FOUND,
                format!(
                    "No ClassLinkSync named {target:?} in namespace {its_namespace}: check spec.classLinkSyncName."
                ),
            ));
        }
    }
    out
}

/// A resource's namespace: its own, or the default one (`-n`) when it names none.
fn namespace_of<'a>(namespace: Option<&'a str>, default: &'a str) -> &'a str {
    namespace.unwrap_or(default)
}

/// A SchoolExclusion the sync resolved: which schools it found.
pub fn resolution(
    name: &str,
    namespace: &str,
    class_link_sync_name: &str,
    result: &ExclusionResult,
) -> ExclusionOutcome {
    let schools: Vec<ExcludedSchoolStatus> = result
        .schools
        .iter()
        .map(|(school_ref, found)| ExcludedSchoolStatus {
            selector: selector(school_ref),
            found: found.is_some(),
            sourced_id: found.as_ref().map(|(id, _)| id.clone()),
            name: found.as_ref().map(|(_, name)| name.clone()),
        })
        .collect();
    let found = schools.iter().filter(|s| s.found).count();
    let listed = schools.len();
    let (ready, reason, message) = if found == listed {
        (
            true,
            SCHOOLS_EXCLUDED,
            format!("All {found} schools were found and excluded."),
        )
    } else {
        (
            false,
            SCHOOLS_NOT_FOUND,
            format!(
                "{} of {listed} schools were not found among the Roster Server's schools; check their sourcedId, identifier or exact name.",
                listed - found
            ),
        )
    };
    ExclusionOutcome {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        class_link_sync_name: class_link_sync_name.to_owned(),
        ready,
        reason,
        message,
        found: Some(format!("{found}/{listed}")),
        schools,
    }
}

/// How the spec names a school.
pub fn selector(school_ref: &SchoolRef) -> SchoolSelector {
    match school_ref {
        SchoolRef::SourcedId(id) => SchoolSelector {
            sourced_id: Some(id.clone()),
            ..SchoolSelector::default()
        },
        SchoolRef::Identifier(identifier) => SchoolSelector {
            identifier: Some(identifier.clone()),
            ..SchoolSelector::default()
        },
        SchoolRef::Name(name) => SchoolSelector {
            name: Some(name.clone()),
            ..SchoolSelector::default()
        },
    }
}
