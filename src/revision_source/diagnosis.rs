//! Classified AWS errors of a RevisionSource turned into a reason and a
//! message that names the guide step and the fix.

use crate::aws::{AwsError, ErrorClass};
use crate::status::{Failure, Reason};

/// Whose call failed: the identity that lists and reads the bucket, or the
/// role of a TargetAccount proving it can read the revision.
pub enum Caller<'a> {
    Reader { identity: &'a str },
    Target { role_arn: &'a str },
}

/// `location` is `s3://bucket/key` or `s3://bucket/prefix`.
pub fn diagnose(err: &AwsError, caller: &Caller<'_>, bucket: &str, location: &str) -> Failure {
    let aws = if err.message.is_empty() {
        err.code.clone()
    } else {
        format!("{}: {}", err.code, err.message)
    };
    match (&err.class, caller) {
        (ErrorClass::Retryable | ErrorClass::ExpiredCredentials, _) => Failure::retryable(
            Reason::AwsUnavailable,
            format!("{} failed transiently ({aws}); retrying with backoff", err.operation),
        ),
        (ErrorClass::AssumeRoleDenied, Caller::Reader { identity } | Caller::Target { role_arn: identity }) => {
            Failure::permanent(
                Reason::AssumeRoleDenied,
                format!(
                    "STS refused to let the operator assume {identity} ({aws}). Guide step 3: the role's trust \
                     policy must name the operator's identity, and the ExternalId in the TargetAccount's Secret \
                     must match its sts:ExternalId condition"
                ),
            )
        }
        (ErrorClass::NotFound, _) if err.code == "NoSuchBucket" => Failure::permanent(
            Reason::ObjectNotFound,
            format!("bucket {bucket} does not exist ({aws}). Guide step 1: create it, or fix spec.s3.bucket"),
        ),
        (ErrorClass::NotFound, _) => Failure::permanent(
            Reason::ObjectNotFound,
            format!(
                "{location} does not exist ({aws}). Guide step 4: upload the revision, or fix spec.s3.key/versionId"
            ),
        ),
        (ErrorClass::AccessDenied, Caller::Reader { identity }) => Failure::permanent(
            Reason::BucketAccessDenied,
            format!(
                "{identity} may not call {} on {location} ({aws}). Allow it s3:ListBucket on arn:aws:s3:::{bucket} \
                 and s3:GetObject, s3:GetObjectVersion on arn:aws:s3:::{bucket}/* (in its own policy, and in the \
                 bucket policy when the bucket is in another account), or set spec.readAs to an identity that may",
                err.operation
            ),
        ),
        (ErrorClass::AccessDenied, Caller::Target { role_arn }) => Failure::permanent(
            Reason::NotReadableByTarget,
            format!(
                "{role_arn} cannot read {location} ({aws}). Guide step 3: its own policy \
                 must allow s3:GetObject and s3:GetObjectVersion on arn:aws:s3:::{bucket}/* (the guide attaches \
                 AmazonS3FullAccess); guide step 2: across accounts the bucket policy must grant it too"
            ),
        ),
        _ => Failure::permanent(
            Reason::AwsRequestRejected,
            format!(
                "{} on {location} was rejected ({aws}); fix the spec and apply it again",
                err.operation
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(operation: &'static str, class: ErrorClass, code: &str) -> AwsError {
        AwsError {
            operation,
            class,
            code: code.into(),
            message: "msg".into(),
        }
    }

    #[test]
    fn reasons_depend_on_class_and_caller() {
        let reader = Caller::Reader {
            identity: "arn:aws:iam::111111111111:user/op",
        };
        let target = Caller::Target {
            role_arn: "arn:aws:iam::222222222222:role/Deployer",
        };
        let cases = [
            (
                err("s3:HeadObject", ErrorClass::NotFound, "HTTP404"),
                &reader,
                Reason::ObjectNotFound,
                "step 4",
            ),
            (
                err("s3:ListObjectsV2", ErrorClass::NotFound, "NoSuchBucket"),
                &reader,
                Reason::ObjectNotFound,
                "step 1",
            ),
            (
                err("s3:ListObjectsV2", ErrorClass::AccessDenied, "AccessDenied"),
                &reader,
                Reason::BucketAccessDenied,
                "s3:ListBucket",
            ),
            (
                err("s3:HeadObject", ErrorClass::AccessDenied, "HTTP403"),
                &target,
                Reason::NotReadableByTarget,
                "step 2",
            ),
            (
                err("sts:AssumeRole", ErrorClass::AssumeRoleDenied, "AccessDenied"),
                &target,
                Reason::AssumeRoleDenied,
                "step 3",
            ),
            (
                err("s3:HeadObject", ErrorClass::Invalid, "Weird"),
                &reader,
                Reason::AwsRequestRejected,
                "rejected",
            ),
        ];
        for (e, caller, reason, hint) in cases {
            let f = diagnose(&e, caller, "revs", "s3://revs/app.zip");
            assert_eq!(f.reason, reason, "{e}");
            assert!(!f.retryable);
            assert!(f.message.contains(hint), "{}", f.message);
            assert!(f.message.contains("msg"), "AWS's words are kept: {}", f.message);
        }
        let f = diagnose(
            &err("s3:HeadObject", ErrorClass::Retryable, "SlowDown"),
            &reader,
            "revs",
            "s3://revs/app.zip",
        );
        assert!(f.retryable);
        assert_eq!(f.reason, Reason::AwsUnavailable);
    }
}
