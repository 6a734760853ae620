//! Can each verifyFor TargetAccount deploy the resolved revision? Guide
//! step 2 from the bucket policy (read once per verification, and only when
//! some target is in another account than the bucket), and a HeadObject as
//! each target's own role — which CodeDeploy does not need, so a refusal is
//! only a note.

use super::decide::{RoleRead, TargetCheck, describe};
use crate::api::{ResolvedRevision, S3Revision};
use crate::aws::{AwsError, ErrorClass, s3};
use crate::revision::step2::PolicyFinding;
use crate::revision::step2::{self, cross_account_role};
use crate::runtime::Context;
use crate::status::diagnosis::{Reader as Caller, Subject, diagnose};

use super::reader::{Reader, Target};
use crate::access::target::TargetAccess;

pub async fn verify(
    ctx: &Context,
    reader: &Reader,
    targets: &[Target],
    rev: &ResolvedRevision,
    kms_key: Option<&str>,
) -> Vec<TargetCheck> {
    let usable: Vec<&TargetAccess> = targets.iter().filter_map(|t| t.as_ref().ok()).collect();
    let policy = if usable.is_empty() {
        PolicyDoc::Unneeded
    } else {
        read_policy(ctx, reader, &usable, &rev.bucket).await
    };
    let mut checks = Vec::with_capacity(targets.len());
    for target in targets {
        let check = match target {
            Err((name, failure)) => TargetCheck::refused(name, failure.clone()),
            Ok(access) => {
                let finding = policy_finding(&policy, access, rev);
                let role_read = role_read(ctx, access, rev).await;
                TargetCheck::judge(&access.name(), finding, role_read, kms_key, &describe(rev))
            }
        };
        checks.push(check);
    }
    checks
}

/// The bucket policy as far as this verification needs it.
enum PolicyDoc {
    /// No target is in another account (or none has an instance profile role).
    Unneeded,
    Read {
        owner: String,
        document: Option<String>,
    },
    /// Only same-account targets can be judged.
    OwnerOnly {
        owner: String,
        problem: PolicyFinding,
    },
    Unavailable(PolicyFinding),
}

async fn read_policy(ctx: &Context, reader: &Reader, targets: &[&TargetAccess], bucket: &str) -> PolicyDoc {
    let roles: Vec<&str> = targets
        .iter()
        .filter_map(|t| t.target.spec.instance_profile_role_arn.as_deref())
        .collect();
    if roles.is_empty() {
        return PolicyDoc::Unneeded;
    }
    let owner = match reader.account(ctx).await {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => {
            return PolicyDoc::Unavailable(PolicyFinding::Undetermined(
                "the account that owns the bucket could not be determined".into(),
            ));
        }
        Err(e) => return PolicyDoc::Unavailable(unreadable(&e, reader, bucket)),
    };
    if roles.iter().all(|r| cross_account_role(Some(r), &owner).is_none()) {
        return PolicyDoc::OwnerOnly {
            owner,
            problem: PolicyFinding::NotRequired,
        };
    }
    match s3::get_bucket_policy(reader.s3(), bucket, Some(&owner)).await {
        Ok(document) => PolicyDoc::Read { owner, document },
        Err(e) => {
            reader.forget_if_expired(ctx, &e).await;
            PolicyDoc::OwnerOnly {
                owner,
                problem: unreadable(&e, reader, bucket),
            }
        }
    }
}

/// A policy that cannot be read is a doubt, not a failure, unless the
/// trouble is transient (then the verification is retried).
fn unreadable(e: &AwsError, reader: &Reader, bucket: &str) -> PolicyFinding {
    let who = reader.describe();
    let location = format!("s3://{bucket}");
    let subject = Subject::Revision {
        reader: Caller::Source { identity: &who },
        bucket,
        location: &location,
    };
    let failure = diagnose(e, &subject);
    if failure.retryable {
        return PolicyFinding::Failed(failure);
    }
    let hint = match e.class {
        ErrorClass::AccessDenied => {
            format!("; allow {who} s3:GetBucketPolicy on arn:aws:s3:::{bucket} to have it checked")
        }
        _ => String::new(),
    };
    PolicyFinding::Undetermined(format!(
        "the bucket policy of {bucket} could not be read ({}: {}){hint}",
        e.code, e.message
    ))
}

fn policy_finding(policy: &PolicyDoc, access: &TargetAccess, rev: &ResolvedRevision) -> PolicyFinding {
    let role = access.target.spec.instance_profile_role_arn.as_deref();
    let input = |owner: &str, document: Option<&str>| {
        step2::finding(&step2::Input {
            instance_role: role,
            bucket_account: owner,
            bucket: &rev.bucket,
            key: &rev.key,
            versioned: rev.version_id.is_some(),
            policy: document,
        })
    };
    match policy {
        PolicyDoc::Unneeded => input("", None),
        PolicyDoc::Read { owner, document } => input(owner, document.as_deref()),
        PolicyDoc::OwnerOnly { owner, problem } => match input(owner, None) {
            // The document was not needed for this target, or could not be read.
            f @ (PolicyFinding::NotRequired | PolicyFinding::NotChecked(_)) => f,
            _ => problem.clone(),
        },
        PolicyDoc::Unavailable(problem) => match role {
            None => input("", None),
            Some(_) => problem.clone(),
        },
    }
}

/// HeadObject as the TargetAccount's role, exactly the revision resolved.
async fn role_read(ctx: &Context, access: &TargetAccess, rev: &ResolvedRevision) -> RoleRead {
    let wanted = S3Revision {
        bucket: rev.bucket.clone(),
        key: rev.key.clone(),
        version: rev.version_id.clone(),
        e_tag: None,
        bundle_type: None,
    };
    let e = match s3::head(&access.clients.s3, &wanted, &rev.bundle_type).await {
        Ok(_) => return RoleRead::Readable,
        Err(e) => e,
    };
    access.forget_if_expired(ctx, &e).await;
    if matches!(e.class, ErrorClass::AccessDenied | ErrorClass::NotFound) {
        return RoleRead::Refused(format!(
            "its role {} cannot read the revision itself ({}), which CodeDeploy does not need: the instances \
             fetch it with their instance profile (guide step 2)",
            access.role_arn(),
            e.code
        ));
    }
    let location = describe(rev);
    RoleRead::Failed(diagnose(
        &e,
        &Subject::Revision {
            reader: Caller::VerifyTarget {
                role_arn: access.role_arn(),
            },
            bucket: &rev.bucket,
            location: &location,
        },
    ))
}
