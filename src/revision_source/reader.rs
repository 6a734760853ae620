//! Who talks to S3 for a RevisionSource: the operator's own identity or a
//! TargetAccount's role. Tenancy is checked here, before any AWS call: a
//! readAs TargetAccount must select the namespace, and the operator's own
//! identity is only used on behalf of a namespace that one of the verifyFor
//! TargetAccounts selects (else any tenant could have it read any bucket it
//! can read).

use std::collections::BTreeMap;

use kube::ResourceExt;

use crate::access::target::{self, TargetAccess};
use crate::access::{self, Admission, S3Location};
use crate::api::{RevisionSourceSpec, TargetAccount, TargetAccountRef};
use crate::aws::{AwsError, s3};
use crate::revision_source::digest::{TargetIdentity, verification_digest};
use crate::runtime::{Context, Error};
use crate::status::{Failure, Reason};

/// Everything a poll needs from Kubernetes before it may call AWS.
pub struct Access {
    pub reader: Admission<Reader>,
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
    let location = match (&spec.s3.key, &spec.s3.prefix) {
        (Some(key), _) => S3Location::Object {
            bucket: &spec.s3.bucket,
            key,
        },
        (None, prefix) => S3Location::Prefix {
            bucket: &spec.s3.bucket,
            prefix: prefix.as_deref().unwrap_or_default(),
        },
    };
    let scope = Scope {
        ns,
        ns_labels: &ns_labels,
        location,
        bucket_region: region,
    };
    // verifyFor first: whether one of them admits this namespace decides
    // whether the operator's own identity may read the bucket.
    let mut admitted = false;
    let mut targets = Vec::with_capacity(spec.verify_for.len());
    let mut identities = Vec::with_capacity(spec.verify_for.len());
    for r in &spec.verify_for {
        let used = use_target(ctx, r, &scope).await?;
        admitted |= used.admits_namespace;
        identities.push(used.identity.unwrap_or_else(|| TargetIdentity {
            name: r.name.clone(),
            uid: None,
            generation: None,
        }));
        targets.push(match used.access {
            Admission::Admitted(access) => Ok(access),
            Admission::Refused(f) => Err((r.name.clone(), f)),
        });
    }
    let (reader, reader_identity) = match &spec.read_as {
        None if admitted => (Admission::Admitted(Reader::Operator(ctx.sessions.own_s3(region))), None),
        None => (Admission::Refused(operator_not_permitted(spec, ns)), None),
        Some(r) => {
            let used = use_target(ctx, r, &scope).await?;
            let reader = match used.access {
                Admission::Admitted(access) => Admission::Admitted(Reader::Target(Box::new(access))),
                Admission::Refused(f) => Admission::Refused(f),
            };
            (reader, used.identity)
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

/// A referenced TargetAccount as this poll may use it.
struct Used {
    /// What verification depends on; None when the TargetAccount is missing.
    identity: Option<TargetIdentity>,
    admits_namespace: bool,
    access: Admission<TargetAccess>,
}

/// What a TargetAccount is checked against for this source.
struct Scope<'a> {
    ns: &'a str,
    ns_labels: &'a BTreeMap<String, String>,
    /// The key or prefix the source names, which every identity reading it
    /// for this namespace must be allowed (allowedRevisionBuckets).
    location: S3Location<'a>,
    bucket_region: Option<&'a str>,
}

/// The TargetAccount, looked up, checked for this namespace and revision
/// location, and opened; no AWS call is made for a refused one.
async fn use_target(ctx: &Context, r: &TargetAccountRef, scope: &Scope<'_>) -> Result<Used, Error> {
    let ns = scope.ns;
    let target = match target::lookup(ctx, &r.name).await? {
        Admission::Admitted(target) => target,
        Admission::Refused(failure) => {
            return Ok(Used {
                identity: None,
                admits_namespace: false,
                access: Admission::Refused(failure),
            });
        }
    };
    let identity = Some(identity(&target));
    if access::check_namespace(&target.spec, scope.ns_labels).is_err() {
        let failure = Failure::permanent(
            Reason::TargetAccountNotPermitted,
            format!(
                "TargetAccount {:?} does not permit namespace {ns:?} (not selected by its namespaceSelector); \
                 ask a platform admin",
                r.name
            ),
        );
        return Ok(Used {
            identity,
            admits_namespace: false,
            access: Admission::Refused(failure),
        });
    }
    if let Err(refusal) = access::check_revision(&target.spec, scope.location) {
        return Ok(Used {
            identity,
            admits_namespace: false,
            access: Admission::Refused(target::not_permitted(&target, &refusal, ns)),
        });
    }
    Ok(Used {
        identity,
        admits_namespace: true,
        access: target::open(ctx, target, ns, scope.bucket_region).await?,
    })
}

/// The identity that lists and reads the bucket.
pub enum Reader {
    Operator(s3::Client),
    Target(Box<TargetAccess>),
}

impl Reader {
    pub fn s3(&self) -> &s3::Client {
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
