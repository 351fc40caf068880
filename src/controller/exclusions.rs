//! SchoolExclusions that name no existing ClassLinkSync (a typo in `classLinkSyncName`, or a
//! ClassLinkSync deleted since) say so in their own status; the others get their status from
//! the syncs of their ClassLinkSync (see `runner`).

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::context::{Context, MANAGER};
use super::reconcile::Error;
use super::status::{READY, condition, set_condition};
use crate::crd::{ClassLinkSync, SchoolExclusion};

/// Reconciles one SchoolExclusion.
pub async fn reconcile(obj: Arc<SchoolExclusion>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let target = &obj.spec.class_link_sync_name;
    let syncs: Api<ClassLinkSync> = Api::namespaced(ctx.client.clone(), &namespace);
    // The cache answers for this instance's ClassLinkSyncs; one of another shard, or one
    // the cache has not seen yet, is asked for.
    if ctx.cached(&namespace, target).is_some() || syncs.get_opt(target).await?.is_some() {
        // Its ClassLinkSync's next sync resolves the schools and writes this status.
        return Ok(Action::await_change());
    }
    let mut status = obj.status.clone().unwrap_or_default();
    let before = status.clone();
    let generation = obj.meta().generation;
    set_condition(
        &mut status.conditions,
        condition(
            READY,
            false,
            "ClassLinkSyncNotFound",
            format!(
                "No ClassLinkSync named {target:?} in namespace {namespace}: check spec.classLinkSyncName."
            ),
            generation,
            ctx.clock.now(),
        ),
    );
    status.observed_generation = generation;
    if status != before {
        let api: Api<SchoolExclusion> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = serde_json::json!({
            "apiVersion": "rostersync.io/v1alpha1",
            "kind": "SchoolExclusion",
            "status": status,
        });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    }
    // A ClassLinkSync created later is noticed through the watch below, or here.
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// Requeues after an error.
pub fn error_policy(_obj: Arc<SchoolExclusion>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(category = error.category(), error = %error, "SchoolExclusion reconcile failed");
    Action::requeue(Duration::from_secs(10))
}
