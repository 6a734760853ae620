//! Deletion: stop the in-flight deployment when `deletionPolicy` asks to,
//! but never hang on AWS — a broken account must not block the deletion of
//! a namespace.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use tracing::instrument;

use crate::access::Admission;
use crate::access::target;
use crate::api::{CrossAccountDeployment, DeletionPolicy};
use crate::aws::codedeploy;
use crate::aws::fence::TENURE_OVER;
use crate::runtime::reconcile::Reconciled;
use crate::runtime::{Context, Error, display_ref};

/// Deletion gives up on AWS after this many failed attempts.
const CLEANUP_ATTEMPTS: u32 = 5;

#[instrument(skip_all, fields(object = %display_ref(obj), deployment_id = tracing::field::Empty))]
pub async fn cleanup(obj: &CrossAccountDeployment, ctx: &Context) -> Result<Action, Error> {
    let uid = obj.uid().unwrap_or_default();
    ctx.metrics.object_condition(CrossAccountDeployment::KIND, &uid, None);
    ctx.forget(&uid).await;
    let Some(current) = obj
        .status
        .as_ref()
        .and_then(|s| s.current_deployment.as_ref())
        .filter(|c| c.status.as_ref().is_some_and(|s| s.is_active()))
    else {
        return Ok(Action::await_change());
    };
    tracing::Span::current().record("deployment_id", current.id.as_str());
    if obj.spec.deletion_policy == DeletionPolicy::Orphan {
        let note = format!("deployment {} keeps running (deletionPolicy: Orphan)", current.id);
        publish(ctx, obj, EventType::Normal, "DeploymentOrphaned", note).await;
        return Ok(Action::await_change());
    }
    // Own counter: backoff from earlier transient failures must not use up
    // the deletion's attempts.
    let key = format!("{uid}/cleanup");
    let why = match stop(obj, ctx, &current.id).await? {
        Ok(()) => {
            ctx.forget(&key).await;
            let note = format!(
                "stopped in-flight deployment {} (deletionPolicy: StopInFlight)",
                current.id
            );
            publish(ctx, obj, EventType::Normal, "DeploymentStopped", note).await;
            return Ok(Action::await_change());
        }
        Err(why) => why,
    };
    if ctx.note_attempt(&key, true).await + 1 < CLEANUP_ATTEMPTS {
        return Err(Error::Cleanup(why));
    }
    ctx.forget(&key).await;
    let note = format!(
        "could not stop deployment {} after {CLEANUP_ATTEMPTS} attempts ({why}); it was left running",
        current.id
    );
    publish(ctx, obj, EventType::Warning, "DeploymentLeftRunning", note).await;
    Ok(Action::await_change())
}

/// Stops the deployment unless it already ended; Err(why) when it could not.
async fn stop(obj: &CrossAccountDeployment, ctx: &Context, id: &str) -> Result<Result<(), String>, Error> {
    let tenure = ctx.tenure().await?;
    let namespace = obj.namespace().unwrap_or_default();
    let access = match target::for_deployment(ctx, &obj.spec, &namespace).await? {
        Admission::Admitted(access) => access,
        Admission::Refused(failure) => return Ok(Err(failure.message)),
    };
    let codedeploy = &access.clients.codedeploy;
    let result = async {
        let live = codedeploy::get_deployment(codedeploy, id).await?;
        if !live.status.is_active() {
            return Ok(());
        }
        let rollback = obj.spec.auto_rollback.as_ref().is_some_and(|r| r.enabled);
        codedeploy::stop_deployment(codedeploy, id, rollback, tenure).await
    }
    .await;
    if let Err(e) = &result {
        if e.code == TENURE_OVER {
            return Err(Error::NotLeader);
        }
        access.forget_if_expired(ctx, e).await;
    }
    Ok(result.map_err(|e| e.to_string()))
}

async fn publish(ctx: &Context, obj: &CrossAccountDeployment, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    ctx.publish(obj, &ev).await;
}
