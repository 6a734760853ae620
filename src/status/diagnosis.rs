//! One place turns a classified AWS error into a condition reason and a
//! message that names the failing step of the cross-account guide and the
//! fix. The [`Subject`] says what the failing call was about.

use crate::aws::{AwsError, ErrorClass};
use crate::status::{Failure, Reason};

/// What a failed AWS call was about.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// Assuming a TargetAccount's role and asking STS who it is.
    Role { role_arn: &'a str },
    /// A revision in S3 read by `reader`; `location` is `s3://bucket/key`
    /// (with its version) or `s3://bucket/prefix`.
    Revision {
        reader: Reader<'a>,
        bucket: &'a str,
        location: &'a str,
    },
    /// CodeDeploy in the target account, called as `role_arn`.
    CodeDeploy {
        role_arn: &'a str,
        application: &'a str,
        group: &'a str,
    },
}

/// Who read an S3 revision; the reasons differ because the fixes do.
#[derive(Clone, Copy, Debug)]
pub enum Reader<'a> {
    /// A CrossAccountDeployment's TargetAccount role, checking what it deploys.
    Deployer { role_arn: &'a str },
    /// The identity a RevisionSource lists and reads the bucket with.
    Source { identity: &'a str },
    /// A RevisionSource's `verifyFor` TargetAccount role.
    VerifyTarget { role_arn: &'a str },
}

impl Subject<'_> {
    /// The identity STS refused to let the operator become.
    fn assumed(&self) -> &str {
        match self {
            Subject::Role { role_arn }
            | Subject::CodeDeploy { role_arn, .. }
            | Subject::Revision {
                reader: Reader::Deployer { role_arn } | Reader::VerifyTarget { role_arn },
                ..
            } => role_arn,
            Subject::Revision {
                reader: Reader::Source { identity },
                ..
            } => identity,
        }
    }
}

pub fn diagnose(err: &AwsError, subject: &Subject<'_>) -> Failure {
    let aws = if err.message.is_empty() {
        err.code.clone()
    } else {
        format!("{}: {}", err.code, err.message)
    };
    match err.class {
        ErrorClass::Retryable | ErrorClass::ExpiredCredentials => Failure::retryable(
            Reason::AwsUnavailable,
            format!("{} failed transiently ({aws}); retrying with backoff", err.operation),
        ),
        ErrorClass::AssumeRoleDenied => Failure::permanent(
            Reason::AssumeRoleDenied,
            format!(
                "STS refused to let the operator assume {} ({aws}). Guide step 3: the role's trust policy must \
                 name the operator's identity, and the ExternalId in the TargetAccount's Secret must match its \
                 sts:ExternalId condition",
                subject.assumed()
            ),
        ),
        _ => match subject {
            Subject::Revision {
                reader,
                bucket,
                location,
            } => revision(err, &aws, *reader, bucket, location),
            Subject::CodeDeploy {
                role_arn,
                application,
                group,
            } => codedeploy(err, &aws, role_arn, application, group),
            Subject::Role { .. } => rejected(err, &aws, ""),
        },
    }
}

fn revision(err: &AwsError, aws: &str, reader: Reader<'_>, bucket: &str, location: &str) -> Failure {
    let deployer = matches!(reader, Reader::Deployer { .. });
    match (&err.class, reader) {
        (ErrorClass::NotFound, _) if deployer => Failure::permanent(
            Reason::RevisionNotFound,
            format!("{location} does not exist ({aws}). Guide step 4: upload the revision, or fix bucket/key/version"),
        ),
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
        (ErrorClass::AccessDenied, Reader::Deployer { role_arn }) => Failure::permanent(
            Reason::RevisionNotReadable,
            format!(
                "{role_arn} cannot read {location} ({aws}). Guide step 2: the bucket policy of {bucket} must grant \
                 the production account's roles s3:Get* and s3:List* on arn:aws:s3:::{bucket}/*, and the role's own \
                 policy must allow s3:GetObject (guide step 3)"
            ),
        ),
        (ErrorClass::AccessDenied, Reader::Source { identity }) => Failure::permanent(
            Reason::BucketAccessDenied,
            format!(
                "{identity} may not call {} on {location} ({aws}). Allow it s3:ListBucket on arn:aws:s3:::{bucket} \
                 and s3:GetObject, s3:GetObjectVersion on arn:aws:s3:::{bucket}/* (in its own policy, and in the \
                 bucket policy when the bucket is in another account), or set spec.readAs to an identity that may",
                err.operation
            ),
        ),
        (ErrorClass::AccessDenied, Reader::VerifyTarget { role_arn }) => Failure::permanent(
            Reason::NotReadableByTarget,
            format!(
                "{role_arn} cannot read {location} ({aws}). Guide step 3: its own policy must allow s3:GetObject \
                 and s3:GetObjectVersion on arn:aws:s3:::{bucket}/* (the guide attaches AmazonS3FullAccess); guide \
                 step 2: across accounts the bucket policy must grant it too"
            ),
        ),
        _ => rejected(err, aws, &format!(" on {location}")),
    }
}

fn codedeploy(err: &AwsError, aws: &str, role_arn: &str, application: &str, group: &str) -> Failure {
    match err.class {
        ErrorClass::ApplicationNotFound => Failure::permanent(
            Reason::ApplicationNotFound,
            format!(
                "CodeDeploy application {application:?} does not exist in the target account ({aws}). Guide step \
                 3: create it there, or fix spec.applicationName"
            ),
        ),
        ErrorClass::DeploymentGroupNotFound => Failure::permanent(
            Reason::DeploymentGroupNotFound,
            format!(
                "deployment group {group:?} of application {application:?} does not exist in the target account \
                 ({aws}). Guide step 3: create it there, or fix spec.deploymentGroupName"
            ),
        ),
        ErrorClass::AccessDenied => Failure::permanent(
            Reason::CodeDeployAccessDenied,
            format!(
                "{role_arn} may not call {} ({aws}). Guide step 3: attach AWSCodeDeployDeployerAccess (or \
                 equivalent) to the cross-account role",
                err.operation
            ),
        ),
        _ => rejected(err, aws, ""),
    }
}

fn rejected(err: &AwsError, aws: &str, on: &str) -> Failure {
    Failure::permanent(
        Reason::AwsRequestRejected,
        format!(
            "{}{on} was rejected ({aws}); fix the spec and apply it again",
            err.operation
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::222222222222:role/Deployer";
    const DEPLOYER: Subject<'static> = Subject::Revision {
        reader: Reader::Deployer { role_arn: ROLE },
        bucket: "revs",
        location: "s3://revs/app/v1.zip",
    };
    const SOURCE: Subject<'static> = Subject::Revision {
        reader: Reader::Source {
            identity: "arn:aws:iam::111111111111:user/op",
        },
        bucket: "revs",
        location: "s3://revs/app/v1.zip",
    };
    const VERIFY: Subject<'static> = Subject::Revision {
        reader: Reader::VerifyTarget { role_arn: ROLE },
        bucket: "revs",
        location: "s3://revs/app/v1.zip",
    };
    const CODEDEPLOY: Subject<'static> = Subject::CodeDeploy {
        role_arn: ROLE,
        application: "webapp",
        group: "prod",
    };

    fn err(operation: &'static str, class: ErrorClass, code: &str) -> AwsError {
        AwsError {
            operation,
            class,
            code: code.into(),
            message: "msg".into(),
        }
    }

    struct Case {
        error: AwsError,
        subject: Subject<'static>,
        reason: Reason,
        hint: &'static str,
    }

    #[test]
    fn each_failure_names_its_reason_and_guide_step() {
        let cases = [
            Case {
                error: err("sts:AssumeRole", ErrorClass::AssumeRoleDenied, "AccessDenied"),
                subject: Subject::Role { role_arn: ROLE },
                reason: Reason::AssumeRoleDenied,
                hint: "step 3",
            },
            Case {
                error: err("s3:HeadObject", ErrorClass::NotFound, "HTTP404"),
                subject: DEPLOYER,
                reason: Reason::RevisionNotFound,
                hint: "step 4",
            },
            Case {
                error: err("s3:HeadObject", ErrorClass::AccessDenied, "HTTP403"),
                subject: DEPLOYER,
                reason: Reason::RevisionNotReadable,
                hint: "step 2",
            },
            Case {
                error: err("s3:HeadObject", ErrorClass::NotFound, "HTTP404"),
                subject: SOURCE,
                reason: Reason::ObjectNotFound,
                hint: "step 4",
            },
            Case {
                error: err("s3:ListObjectsV2", ErrorClass::NotFound, "NoSuchBucket"),
                subject: SOURCE,
                reason: Reason::ObjectNotFound,
                hint: "step 1",
            },
            Case {
                error: err("s3:ListObjectsV2", ErrorClass::AccessDenied, "AccessDenied"),
                subject: SOURCE,
                reason: Reason::BucketAccessDenied,
                hint: "s3:ListBucket",
            },
            Case {
                error: err("s3:HeadObject", ErrorClass::AccessDenied, "HTTP403"),
                subject: VERIFY,
                reason: Reason::NotReadableByTarget,
                hint: "step 2",
            },
            Case {
                error: err("sts:AssumeRole", ErrorClass::AssumeRoleDenied, "AccessDenied"),
                subject: VERIFY,
                reason: Reason::AssumeRoleDenied,
                hint: "step 3",
            },
            Case {
                error: err("s3:HeadObject", ErrorClass::Invalid, "Weird"),
                subject: SOURCE,
                reason: Reason::AwsRequestRejected,
                hint: "on s3://revs/app/v1.zip was rejected",
            },
            Case {
                error: err(
                    "codedeploy:GetDeploymentGroup",
                    ErrorClass::ApplicationNotFound,
                    "ApplicationDoesNotExistException",
                ),
                subject: CODEDEPLOY,
                reason: Reason::ApplicationNotFound,
                hint: "step 3",
            },
            Case {
                error: err(
                    "codedeploy:GetDeploymentGroup",
                    ErrorClass::DeploymentGroupNotFound,
                    "DeploymentGroupDoesNotExistException",
                ),
                subject: CODEDEPLOY,
                reason: Reason::DeploymentGroupNotFound,
                hint: "step 3",
            },
            Case {
                error: err(
                    "codedeploy:CreateDeployment",
                    ErrorClass::AccessDenied,
                    "AccessDeniedException",
                ),
                subject: CODEDEPLOY,
                reason: Reason::CodeDeployAccessDenied,
                hint: "AWSCodeDeployDeployerAccess",
            },
        ];
        for Case {
            error,
            subject,
            reason,
            hint,
        } in cases
        {
            let f = diagnose(&error, &subject);
            assert_eq!(f.reason, reason, "{error}");
            assert!(!f.retryable, "{error}");
            assert!(f.message.contains(hint), "{error}: {}", f.message);
            assert!(f.message.contains(": msg"), "AWS's own words are kept: {}", f.message);
        }
    }

    #[test]
    fn transient_errors_are_retryable_whatever_the_subject() {
        for class in [ErrorClass::Retryable, ErrorClass::ExpiredCredentials] {
            for subject in [DEPLOYER, SOURCE, CODEDEPLOY, Subject::Role { role_arn: ROLE }] {
                let f = diagnose(&err("codedeploy:GetDeployment", class.clone(), "SlowDown"), &subject);
                assert!(f.retryable);
                assert_eq!(f.reason, Reason::AwsUnavailable);
            }
        }
    }

    #[test]
    fn empty_aws_messages_show_the_code_alone() {
        let mut e = err("s3:HeadObject", ErrorClass::AccessDenied, "HTTP403");
        e.message.clear();
        let f = diagnose(&e, &DEPLOYER);
        assert!(f.message.contains("(HTTP403)"), "{}", f.message);
    }
}
