//! Using a TargetAccount on behalf of a tenant namespace: look it up, check
//! tenancy, read the ExternalId, open the (lazy) assumed-role session. Every
//! controller goes through here, so the checks run in the same order
//! everywhere and always before the first AWS call.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::{self as access, Admission};
use crate::api::{CrossAccountDeploymentSpec, EXTERNAL_ID_SECRET_LABEL, SecretKeyRef, TargetAccount};
use crate::aws::session::{SessionRequest, TargetClients, session_name};
use crate::aws::{AwsError, ErrorClass};
use crate::runtime::{Context, Error, ExternalId};
use crate::status::{Failure, Reason};

/// A TargetAccount this namespace may use, with its assumed-role session.
pub struct TargetAccess {
    pub target: TargetAccount,
    pub clients: TargetClients,
    /// Kept to rebuild the SessionRequest when the session must be forgotten.
    external_id: Option<String>,
    region: Option<String>,
    session_name: String,
}

impl TargetAccess {
    pub fn name(&self) -> String {
        self.target.name_any()
    }

    pub fn role_arn(&self) -> &str {
        &self.target.spec.role_arn
    }

    /// Drop cached credentials AWS called expired, revoked or invalid
    /// (ExpiredToken, InvalidClientTokenId, AccessDenied — a revoked session
    /// and a missing permission look alike), so the next use assumes afresh.
    pub async fn forget_if_expired(&self, ctx: &Context, err: &AwsError) {
        if matches!(err.class, ErrorClass::ExpiredCredentials | ErrorClass::AccessDenied) {
            ctx.sessions.invalidate(&self.request()).await;
        }
    }

    fn request(&self) -> SessionRequest<'_> {
        SessionRequest::for_target(
            &self.target.spec,
            self.external_id.as_deref(),
            self.region.as_deref(),
            self.session_name.clone(),
        )
    }
}

/// The TargetAccount, or `TargetAccountNotFound`.
pub async fn lookup(ctx: &Context, name: &str) -> Result<Admission<TargetAccount>, Error> {
    Ok(match ctx.feeds.targets.get(name, None) {
        Some(target) => Admission::Admitted((*target).clone()),
        None => Admission::Refused(Failure::permanent(
            Reason::TargetAccountNotFound,
            format!("TargetAccount {name:?} does not exist; ask a platform admin to create it"),
        )),
    })
}

/// The session a CrossAccountDeployment in `namespace` deploys with: its
/// TargetAccount, admitted for this namespace, application, group and the
/// tenant's choices (deployment configuration, rollback, region). A refusal
/// makes no AWS call and reads no Secret.
pub async fn for_deployment(
    ctx: &Context,
    spec: &CrossAccountDeploymentSpec,
    namespace: &str,
) -> Result<Admission<TargetAccess>, Error> {
    let target = match lookup(ctx, &spec.target_account_ref.name).await? {
        Admission::Admitted(target) => target,
        Admission::Refused(failure) => return Ok(Admission::Refused(failure)),
    };
    let ns_labels = namespace_labels(ctx, namespace).await?;
    if let Err(refusal) = access::check(&target.spec, &ns_labels, spec) {
        return Ok(Admission::Refused(not_permitted(&target, &refusal, namespace)));
    }
    open(ctx, target, namespace, spec.region.as_deref()).await
}

/// The refusal of a TargetAccount rule as the condition says it.
pub fn not_permitted(target: &TargetAccount, refusal: &access::Refusal, namespace: &str) -> Failure {
    Failure::permanent(
        Reason::TargetAccountNotPermitted,
        format!(
            "TargetAccount {:?} refuses it: {}",
            target.name_any(),
            refusal.explain(namespace)
        ),
    )
}

/// Labels of a namespace (none when it is gone, which selects nothing).
pub async fn namespace_labels(ctx: &Context, ns: &str) -> Result<BTreeMap<String, String>, Error> {
    Ok(ctx
        .feeds
        .namespaces
        .get(ns, None)
        .map(|n| n.labels().clone())
        .unwrap_or_default())
}

/// The session for an admitted TargetAccount, or `ExternalIdSecretMissing` /
/// `ExternalIdSecretNotMarked`. No AWS call is made here: STS is called by
/// the first request. `session_scope` names the session
/// (`crossdeploy.<scope>`, the tenant namespace) so CloudTrail shows who acted.
pub async fn open(
    ctx: &Context,
    target: TargetAccount,
    session_scope: &str,
    region: Option<&str>,
) -> Result<Admission<TargetAccess>, Error> {
    let external_id = match &target.spec.external_id_secret_ref {
        Some(secret) => match ctx.external_id(secret).await? {
            ExternalId::Found(id) => Some(id),
            unusable => {
                let failure = external_id_failure(&ctx.settings.operator_namespace, secret, &target, &unusable);
                return Ok(Admission::Refused(failure));
            }
        },
        None => None,
    };
    let region = region.map(str::to_string);
    let name = session_name(session_scope);
    let request = SessionRequest::for_target(&target.spec, external_id.as_deref(), region.as_deref(), name.clone());
    let clients = ctx.sessions.clients(&request).await;
    Ok(Admission::Admitted(TargetAccess {
        target,
        clients,
        external_id,
        region,
        session_name: name,
    }))
}

/// Why the ExternalId Secret cannot be used, and how to fix it.
fn external_id_failure(
    operator_ns: &str,
    secret: &SecretKeyRef,
    target: &TargetAccount,
    found: &ExternalId,
) -> Failure {
    let (name, key, target) = (&secret.name, &secret.key, target.name_any());
    if *found == ExternalId::NotMarked {
        return Failure::permanent(
            Reason::ExternalIdSecretNotMarked,
            format!(
                "the ExternalId Secret {operator_ns}/{name} of TargetAccount {target:?} is not marked for that \
                 purpose, so crossdeploy does not send its content to AWS (a TargetAccount can name any Secret in \
                 {operator_ns}); if it holds this account's ExternalId, label it: kubectl -n {operator_ns} label \
                 secret {name} {EXTERNAL_ID_SECRET_LABEL}=true"
            ),
        );
    }
    Failure::permanent(
        Reason::ExternalIdSecretMissing,
        format!(
            "the ExternalId Secret {operator_ns}/{name} (key {key:?}) of TargetAccount {target:?} is missing or \
             empty; create it in {operator_ns} with the ExternalId under {key:?} and the label \
             {EXTERNAL_ID_SECRET_LABEL}=true"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TargetAccount {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "crossdeploy.io/v1alpha1",
            "kind": "TargetAccount",
            "metadata": {"name": "prod"},
            "spec": {
                "roleArn": "arn:aws:iam::222222222222:role/Deployer",
                "region": "us-east-1",
                "namespaceSelector": {},
                "externalIdSecretRef": {"name": "prod-external-id"},
            },
        }))
        .unwrap()
    }

    #[test]
    fn an_unmarked_secret_says_why_and_how_to_mark_it() {
        let t = target();
        let secret = t.spec.external_id_secret_ref.clone().unwrap();
        let f = external_id_failure("crossdeploy-system", &secret, &t, &ExternalId::NotMarked);
        assert_eq!((f.reason, f.retryable), (Reason::ExternalIdSecretNotMarked, false));
        for words in [
            "crossdeploy-system/prod-external-id",
            "not marked",
            "kubectl -n crossdeploy-system label secret prod-external-id crossdeploy.io/external-id=true",
        ] {
            assert!(f.message.contains(words), "{words:?} in {}", f.message);
        }
        let f = external_id_failure("crossdeploy-system", &secret, &t, &ExternalId::Missing);
        assert_eq!(f.reason, Reason::ExternalIdSecretMissing);
        assert!(f.message.contains("missing or empty"), "{}", f.message);
        assert!(f.message.contains("crossdeploy.io/external-id=true"), "{}", f.message);
    }

    #[test]
    fn external_ids_never_print() {
        assert_eq!(format!("{:?}", ExternalId::Found("s3cr3t".into())), "Found(..)");
    }
}
