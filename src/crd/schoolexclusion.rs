//! `SchoolExclusion`: the guide's "Exclude Schools" operation. It takes schools out of one
//! ClassLinkSync of the same namespace.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Schools to leave out of one ClassLinkSync. Their classes and memberships are not synced,
/// nor are people whose only schools are excluded.
// printcolumn(...) repeats `type_ = ...` by design; clippy reads that as a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rostersync.io",
    version = "v1alpha1",
    kind = "SchoolExclusion",
    plural = "schoolexclusions",
    singular = "schoolexclusion",
    namespaced,
    status = "SchoolExclusionStatus",
    shortname = "sx",
    shortname = "schoolex",
    category = "classlink",
    doc = "Takes one or more schools out of a ClassLinkSync of the same namespace.",
    printcolumn(json_path = ".spec.classLinkSyncName", name = "Sync", type_ = "string"),
    printcolumn(
        json_path = ".status.summary",
        name = "Schools",
        type_ = "string",
        description = "The excluded schools as the last sync resolved them"
    ),
    printcolumn(
        json_path = ".status.found",
        name = "Found",
        type_ = "string",
        description = "How many of the listed schools the last sync found"
    ),
    printcolumn(
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        name = "Ready",
        type_ = "string"
    ),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SchoolExclusionSpec {
    /// Name of the ClassLinkSync, in this namespace, whose schools are excluded.
    #[schemars(length(min = 1, max = 253))]
    pub class_link_sync_name: String,

    /// The schools to exclude, each named by exactly one of `sourcedId`, `identifier` or
    /// `name` (the school's exact name).
    #[schemars(length(min = 1, max = 500))]
    pub schools: Vec<SchoolSelector>,

    /// Why these schools are excluded, for the people who read this later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
}

/// One school, named by exactly one of its OneRoster sourcedId, its identifier, or its exact
/// name.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, Hash, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.sourcedId) ? 1 : 0) + (has(self.identifier) ? 1 : 0) + (has(self.name) ? 1 : 0) == 1")
        .message("name a school by exactly one of sourcedId, identifier or name")
)]
pub struct SchoolSelector {
    /// The school's OneRoster sourcedId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub sourced_id: Option<String>,

    /// The school's OneRoster identifier (for example its state school code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub identifier: Option<String>,

    /// The school's exact name, case sensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub name: Option<String>,
}

/// What the last sync of the referenced ClassLinkSync made of this exclusion.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchoolExclusionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` is True when every listed school was found in the last sync; its reason says
    /// `SchoolsNotFound` or `ClassLinkSyncNotFound` otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// One entry per listed school, in the order of `spec.schools`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub schools: Vec<ExcludedSchoolStatus>,

    /// How many of the listed schools the last sync found, as `found/listed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,

    /// The excluded schools' names (or how they were named, when not found), comma separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,

    /// Completion time of the sync this status comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}

/// One listed school as the last sync resolved it.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedSchoolStatus {
    /// How the school is named in the spec.
    pub selector: SchoolSelector,
    /// True when the last sync found a school with that sourcedId, identifier or name.
    pub found: bool,
    /// The school's sourcedId, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sourced_id: Option<String>,
    /// The school's name, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
