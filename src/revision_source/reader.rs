//! Who talks to S3 for a RevisionSource: the operator's own identity or a
//! TargetAccount's role. Tenancy is checked here, before any AWS call: a
//! readAs TargetAccount must select the namespace, and the operator's own
//! identity is only used on behalf of a namespace that one of the verifyFor
//! TargetAccounts selects (else any tenant could have it read any bucket it
//! can read).

use std::collections::BTreeMap;

use kube::ResourceExt;

use crate::access;
use crate::access::target::{self, TargetAccess};
use crate::api::{RevisionSourceSpec, TargetAccount, TargetAccountRef};
use crate::aws::AwsError;
use crate::revision_source::digest::{TargetIdentity, verification_digest};
use crate::runtime::{Context, Error};
use crate::status::{Failure, Reason};

/// Everything a poll needs from Kubernetes before it may call AWS.
pub struct Access {
    pub reader: Result<Reader, Failure>,
    pub targets: Vec<Target>,
    pub inputs: VerificationInputs,
}

/// A verifyFor entry: usable, or refused before any AWS call.
pub type Target = Result<TargetAccess, (String, Failure)>;

/// The TargetAccounts a verification depends on.
pub struct VerificationInputs {
    reader: Option<TargetIdentity>,
    targets: Vec<TargetIdentity>,
}

impl VerificationInputs {
    pub fn verification_digest(&self, revision_digest: &str, generation: Option<i64>) -> String {
        verification_digest(revision_digest, generation, self.reader.as_ref(), &self.targets)
    }
}

/// Look up the reader and the verifyFor TargetAccounts for this namespace.
pub async fn gather(ctx: &Context, spec: &RevisionSourceSpec, ns: &str) -> Result<Access, Error> {
    let ns_labels = target::namespace_labels(ctx, ns).await?;
    let region = spec.s3.region.as_deref();
    // verifyFor first: whether one of them admits this namespace decides
    // whether the operator's own identity may read the bucket.
    let mut admitted = false;
    let mut targets = Vec::with_capacity(spec.verify_for.len());
    let mut identities = Vec::with_capacity(spec.verify_for.len());
    for r in &spec.verify_for {
        let access = match admitted_target(ctx, r, ns, &ns_labels).await? {
            Ok(target) => {
                admitted = true;
                open_session(ctx, target, ns, region).await?
            }
            Err(refused) => Err(refused),
        };
        match access {
            Ok(access) => {
                identities.push(identity(&access.target));
                targets.push(Ok(access));
            }
            Err((id, f)) => {
                identities.push(id.unwrap_or_else(|| TargetIdentity {
                    name: r.name.clone(),
                    uid: None,
                    generation: None,
                }));
                targets.push(Err((r.name.clone(), f)));
            }
        }
    }
    let (reader, reader_identity) = match &spec.read_as {
        None if admitted => (Ok(Reader::Operator(ctx.sessions.own_s3(region))), None),
        None => (Err(operator_not_permitted(spec, ns)), None),
        Some(r) => {
            let access = match admitted_target(ctx, r, ns, &ns_labels).await? {
                Ok(target) => open_session(ctx, target, ns, region).await?,
                Err(refused) => Err(refused),
            };
            match access {
                Ok(access) => {
                    let id = identity(&access.target);
                    (Ok(Reader::Target(Box::new(access))), Some(id))
                }
                Err((id, f)) => (Err(f), id),
            }
        }
    };
    Ok(Access {
        reader,
        targets,
        inputs: VerificationInputs {
            reader: reader_identity,
            targets: identities,
        },
    })
}

pub fn identity(target: &TargetAccount) -> TargetIdentity {
    TargetIdentity {
        name: target.name_any(),
        uid: target.metadata.uid.clone(),
        generation: target.metadata.generation,
    }
}

/// A TargetAccount that cannot be used, and why; no AWS call is made for it.
type Refused = (Option<TargetIdentity>, Failure);

/// Without readAs the operator's own identity would read the bucket, but no
/// verifyFor TargetAccount vouches for this namespace.
fn operator_not_permitted(spec: &RevisionSourceSpec, ns: &str) -> Failure {
    let verify_for = if spec.verify_for.is_empty() {
        "spec.verifyFor is empty".to_string()
    } else {
        let names: Vec<String> = spec.verify_for.iter().map(|r| format!("{:?}", r.name)).collect();
        format!(
            "none of the TargetAccounts in spec.verifyFor ({}) exists and selects namespace {ns:?}",
            names.join(", ")
        )
    };
    Failure::permanent(
        Reason::TargetAccountNotPermitted,
        format!(
            "spec.readAs is not set, so S3 would be read as the operator's own identity, which is only used on \
             behalf of namespaces that some TargetAccount admits: {verify_for}. Add to spec.verifyFor a \
             TargetAccount whose namespaceSelector selects this namespace, or set spec.readAs to one; ask a \
             platform admin"
        ),
    )
}

/// The TargetAccount, looked up and checked for this namespace.
async fn admitted_target(
    ctx: &Context,
    r: &TargetAccountRef,
    ns: &str,
    ns_labels: &BTreeMap<String, String>,
) -> Result<Result<TargetAccount, Refused>, Error> {
    let target = match target::lookup(ctx, &r.name).await? {
        Ok(target) => target,
        Err(failure) => return Ok(Err((None, failure))),
    };
    if access::check_namespace(&target.spec, ns_labels).is_err() {
        return Ok(Err((
            Some(identity(&target)),
            Failure::permanent(
                Reason::TargetAccountNotPermitted,
                format!(
                    "TargetAccount {:?} does not permit namespace {ns:?} (not selected by its namespaceSelector); \
                     ask a platform admin",
                    r.name
                ),
            ),
        )));
    }
    Ok(Ok(target))
}

/// The admitted TargetAccount's session, or why it cannot be opened.
async fn open_session(
    ctx: &Context,
    target: TargetAccount,
    ns: &str,
    bucket_region: Option<&str>,
) -> Result<Result<TargetAccess, Refused>, Error> {
    Ok(target::open(ctx, target, ns, bucket_region)
        .await?
        .map_err(|(target, failure)| (Some(identity(&target)), failure)))
}

/// The identity that lists and reads the bucket.
pub enum Reader {
    Operator(aws_sdk_s3::Client),
    Target(Box<TargetAccess>),
}

impl Reader {
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        match self {
            Reader::Operator(s3) => s3,
            Reader::Target(t) => &t.clients.s3,
        }
    }

    /// For messages: who was refused.
    pub fn describe(&self) -> String {
        match self {
            Reader::Operator(_) => "the operator's own identity".into(),
            Reader::Target(t) => format!("{} (spec.readAs {:?})", t.role_arn(), t.name()),
        }
    }

    /// The bucket is taken to live in the reader's account (the guide's
    /// development account): the operator's account from STS (once per
    /// process), or the readAs role's account from its ARN.
    pub async fn account(&self, ctx: &Context) -> Result<String, AwsError> {
        match self {
            Reader::Operator(_) => ctx.sessions.own_account().await,
            Reader::Target(t) => Ok(t.target.spec.account_id().unwrap_or_default().to_string()),
        }
    }

    pub async fn forget_if_expired(&self, ctx: &Context, err: &AwsError) {
        if let Reader::Target(t) = self {
            t.forget_if_expired(ctx, err).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_refusal_says_why_and_what_to_do() {
        let mut spec: RevisionSourceSpec =
            serde_json::from_value(serde_json::json!({"s3": {"bucket": "revs", "key": "app.zip"}})).unwrap();
        let f = operator_not_permitted(&spec, "team-a");
        assert_eq!((f.reason, f.retryable), (Reason::TargetAccountNotPermitted, false));
        for expected in [
            "operator's own identity",
            "only used on behalf of namespaces that some TargetAccount admits",
            "spec.verifyFor is empty",
            "spec.readAs",
        ] {
            assert!(f.message.contains(expected), "{expected}: {}", f.message);
        }
        spec.verify_for = vec![TargetAccountRef { name: "prod".into() }];
        let f = operator_not_permitted(&spec, "team-a");
        assert!(
            f.message
                .contains(r#"spec.verifyFor ("prod") exists and selects namespace "team-a""#),
            "{}",
            f.message
        );
    }
}
