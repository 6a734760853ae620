//! Turns a classified AWS error into a condition reason and a message that
//! names the failing step of the cross-account guide and the fix.

use crate::aws::{AwsError, ErrorClass};
use crate::status::{Failure, Reason};

/// What the failing call was about, for the message.
pub struct Subject<'a> {
    pub role_arn: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: Option<&'a str>,
    pub application: &'a str,
    pub group: &'a str,
}

pub fn diagnose(err: &AwsError, s: &Subject<'_>) -> Failure {
    let aws = format!("{}: {}", err.code, err.message);
    let object = match s.version {
        Some(v) => format!("s3://{}/{} (version {v})", s.bucket, s.key),
        None => format!("s3://{}/{}", s.bucket, s.key),
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
                s.role_arn
            ),
        ),
        ErrorClass::NotFound if err.operation.starts_with("s3:") => Failure::permanent(
            Reason::RevisionNotFound,
            format!("{object} does not exist ({aws}). Guide step 4: upload the revision, or fix bucket/key/version"),
        ),
        ErrorClass::AccessDenied if err.operation.starts_with("s3:") => Failure::permanent(
            Reason::RevisionNotReadable,
            format!(
                "{} cannot read {object} ({aws}). Guide step 2: the bucket policy of {} must grant the production \
                 account's roles s3:Get* and s3:List* on arn:aws:s3:::{}/*, and the role's own policy must allow \
                 s3:GetObject (guide step 3)",
                s.role_arn, s.bucket, s.bucket
            ),
        ),
        ErrorClass::ApplicationNotFound => Failure::permanent(
            Reason::ApplicationNotFound,
            format!(
                "CodeDeploy application {:?} does not exist in the target account ({aws}). Guide step 3: create \
                 it there, or fix spec.applicationName",
                s.application
            ),
        ),
        ErrorClass::DeploymentGroupNotFound => Failure::permanent(
            Reason::DeploymentGroupNotFound,
            format!(
                "deployment group {:?} of application {:?} does not exist in the target account ({aws}). Guide \
                 step 3: create it there, or fix spec.deploymentGroupName",
                s.group, s.application
            ),
        ),
        ErrorClass::AccessDenied => Failure::permanent(
            Reason::CodeDeployAccessDenied,
            format!(
                "{} may not call {} ({aws}). Guide step 3: attach AWSCodeDeployDeployerAccess (or equivalent) to \
                 the cross-account role",
                s.role_arn, err.operation
            ),
        ),
        ErrorClass::NotFound | ErrorClass::DeploymentLimitExceeded | ErrorClass::Invalid => Failure::permanent(
            Reason::AwsRequestRejected,
            format!(
                "{} was rejected ({aws}); fix the spec and apply it again",
                err.operation
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: Subject<'static> = Subject {
        role_arn: "arn:aws:iam::222222222222:role/Deployer",
        bucket: "revs",
        key: "app/v1.zip",
        version: None,
        application: "webapp",
        group: "prod",
    };

    fn diag(operation: &'static str, class: ErrorClass) -> Failure {
        diagnose(
            &AwsError {
                operation,
                class,
                code: "Code".into(),
                message: "msg".into(),
            },
            &SUBJECT,
        )
    }

    #[test]
    fn each_failure_names_its_reason_and_guide_step() {
        let cases = [
            (
                "sts:AssumeRole",
                ErrorClass::AssumeRoleDenied,
                Reason::AssumeRoleDenied,
                "step 3",
            ),
            (
                "s3:HeadObject",
                ErrorClass::NotFound,
                Reason::RevisionNotFound,
                "step 4",
            ),
            (
                "s3:HeadObject",
                ErrorClass::AccessDenied,
                Reason::RevisionNotReadable,
                "step 2",
            ),
            (
                "codedeploy:GetDeploymentGroup",
                ErrorClass::ApplicationNotFound,
                Reason::ApplicationNotFound,
                "step 3",
            ),
            (
                "codedeploy:GetDeploymentGroup",
                ErrorClass::DeploymentGroupNotFound,
                Reason::DeploymentGroupNotFound,
                "step 3",
            ),
            (
                "codedeploy:CreateDeployment",
                ErrorClass::AccessDenied,
                Reason::CodeDeployAccessDenied,
                "AWSCodeDeployDeployerAccess",
            ),
        ];
        for (op, class, reason, hint) in cases {
            let f = diag(op, class);
            assert_eq!(f.reason, reason, "{op}");
            assert!(!f.retryable, "{op}");
            assert!(f.message.contains(hint), "{op}: {}", f.message);
            assert!(
                f.message.contains("Code: msg"),
                "AWS's own words are kept: {}",
                f.message
            );
        }
    }

    #[test]
    fn transient_errors_are_retryable() {
        for class in [ErrorClass::Retryable, ErrorClass::ExpiredCredentials] {
            let f = diag("codedeploy:GetDeployment", class);
            assert!(f.retryable);
            assert_eq!(f.reason, Reason::AwsUnavailable);
        }
    }
}
