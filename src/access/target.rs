//! Using a TargetAccount on behalf of a tenant namespace: look it up, check
//! tenancy, read the ExternalId, open the (lazy) assumed-role session. Every
//! controller goes through here, so the checks run in the same order
//! everywhere and always before the first AWS call.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, ResourceExt};

use super::{self as access, Admission};
use crate::api::{CrossAccountDeploymentSpec, TargetAccount};
use crate::aws::session::{SessionRequest, TargetClients, session_name};
use crate::aws::{AwsError, ErrorClass};
use crate::runtime::{Context, Error};
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

    /// Drop cached credentials AWS called expired, so the next use assumes afresh.
    pub async fn forget_if_expired(&self, ctx: &Context, err: &AwsError) {
        if err.class == ErrorClass::ExpiredCredentials {
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
    let targets: Api<TargetAccount> = Api::all(ctx.client.clone());
    Ok(match targets.get_opt(name).await? {
        Some(target) => Admission::Admitted(target),
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
        return Ok(Admission::Refused(Failure::permanent(
            Reason::TargetAccountNotPermitted,
            format!(
                "TargetAccount {:?} refuses this deployment: {}",
                target.name_any(),
                refusal.explain(namespace)
            ),
        )));
    }
    open(ctx, target, namespace, spec.region.as_deref()).await
}

/// Labels of a namespace (none when it is gone, which selects nothing).
pub async fn namespace_labels(ctx: &Context, ns: &str) -> Result<BTreeMap<String, String>, Error> {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    Ok(namespaces
        .get_opt(ns)
        .await?
        .map(|n| n.labels().clone())
        .unwrap_or_default())
}

/// The session for an admitted TargetAccount, or `ExternalIdSecretMissing`.
/// No AWS call is made here: STS is called by the first request.
/// `session_scope` names the session (`crossdeploy.<scope>`, the tenant
/// namespace) so CloudTrail shows who acted.
pub async fn open(
    ctx: &Context,
    target: TargetAccount,
    session_scope: &str,
    region: Option<&str>,
) -> Result<Admission<TargetAccess>, Error> {
    let external_id = match &target.spec.external_id_secret_ref {
        Some(secret) => match ctx.external_id(secret).await? {
            Some(id) => Some(id),
            None => {
                let failure = Failure::permanent(
                    Reason::ExternalIdSecretMissing,
                    format!(
                        "the ExternalId Secret {}/{} (key {:?}) of TargetAccount {:?} is missing or empty",
                        ctx.settings.operator_namespace,
                        secret.name,
                        secret.key,
                        target.name_any()
                    ),
                );
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
