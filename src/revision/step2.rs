//! Guide step 2 for one TargetAccount: is a bucket policy grant needed, and
//! if so, is it there? Turns [`bucket_policy::evaluate`] into a finding whose
//! message tells the human exactly what to add.

use super::bucket_policy::{self, Grant, Request};
use crate::status::Failure;

/// The guide step 2 check for one TargetAccount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyFinding {
    /// Bucket and TargetAccount share an account.
    NotRequired,
    Granted,
    /// Not granted; the message says what to add (or which Deny to remove).
    NotGranted(String),
    /// Policy semantics crossdeploy does not evaluate, or a policy it may not read.
    Undetermined(String),
    /// Nothing to check against (no instanceProfileRoleArn).
    NotChecked(String),
    /// Reading the bucket policy failed.
    Failed(Failure),
}

/// Account id of a role ARN (`arn:aws:iam::<account>:role/...`).
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| a.len() == 12)
}

/// The instance profile role the step applies to, when it is in another
/// account than the bucket (in the same account no grant is needed).
pub fn cross_account_role<'a>(instance_role: Option<&'a str>, bucket_account: &str) -> Option<&'a str> {
    instance_role.filter(|r| account_of(r) != Some(bucket_account))
}

pub struct Input<'a> {
    pub instance_role: Option<&'a str>,
    pub bucket_account: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub versioned: bool,
    /// The bucket policy; only read when a grant is needed.
    pub policy: Option<&'a str>,
}

pub fn finding(i: &Input<'_>) -> PolicyFinding {
    let Some(role) = i.instance_role else {
        return PolicyFinding::NotChecked(
            "spec.instanceProfileRoleArn of the TargetAccount is not set, so the bucket policy grant of guide \
             step 2 was not checked"
                .into(),
        );
    };
    if cross_account_role(Some(role), i.bucket_account).is_none() {
        return PolicyFinding::NotRequired;
    }
    let req = Request {
        role_arn: role,
        bucket: i.bucket,
        key: i.key,
        versioned: i.versioned,
    };
    let statement = bucket_policy::grant_statement(role, i.bucket);
    let object = format!("s3://{}/{}", i.bucket, i.key);
    match bucket_policy::evaluate(i.policy, &req) {
        Grant::Granted => PolicyFinding::Granted,
        Grant::Undetermined(why) => PolicyFinding::Undetermined(why),
        Grant::NotGranted {
            denied_by: Some(statement_name),
            missing,
        } => PolicyFinding::NotGranted(format!(
            "guide step 2: {statement_name} of the bucket policy of {} explicitly denies {role} {} on {object}; \
             an Allow cannot override a Deny, so narrow or remove that statement, and keep this statement in \
             the policy: {statement}",
            i.bucket,
            missing.join(", ")
        )),
        Grant::NotGranted { missing, .. } if i.policy.is_none() => PolicyFinding::NotGranted(format!(
            "guide step 2: bucket {} (account {}) has no bucket policy, so nothing grants the production instance \
             profile role {role} {} on {object}. Add this statement to the bucket policy: {statement}",
            i.bucket,
            i.bucket_account,
            missing.join(", ")
        )),
        Grant::NotGranted { missing, .. } => PolicyFinding::NotGranted(format!(
            "guide step 2: the bucket policy of {} (account {}) does not grant the production instance profile \
             role {role} {} on {object}. Add this statement to the bucket policy: {statement}",
            i.bucket,
            i.bucket_account,
            missing.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::222222222222:role/CodeDeployInstanceRole";

    fn input(policy: Option<&str>, role: Option<&'static str>, bucket_account: &'static str) -> PolicyFinding {
        finding(&Input {
            instance_role: role,
            bucket_account,
            bucket: "revs",
            key: "app.zip",
            versioned: true,
            policy,
        })
    }

    #[test]
    fn same_account_and_unknown_role_need_no_policy() {
        assert_eq!(input(None, Some(ROLE), "222222222222"), PolicyFinding::NotRequired);
        assert!(matches!(
            input(None, None, "111111111111"),
            PolicyFinding::NotChecked(_)
        ));
        assert_eq!(cross_account_role(Some(ROLE), "111111111111"), Some(ROLE));
        assert_eq!(cross_account_role(Some(ROLE), "222222222222"), None);
    }

    #[test]
    fn missing_grants_name_the_statement_to_add() {
        let stmt = bucket_policy::grant_statement(ROLE, "revs");
        let PolicyFinding::NotGranted(no_policy) = input(None, Some(ROLE), "111111111111") else {
            panic!("not granted expected");
        };
        assert!(
            no_policy.contains("has no bucket policy") && no_policy.contains(&stmt),
            "{no_policy}"
        );
        let other =
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"333333333333"},"Action":"s3:*","Resource":"*"}]}"#;
        let PolicyFinding::NotGranted(msg) = input(Some(other), Some(ROLE), "111111111111") else {
            panic!("not granted expected");
        };
        assert!(
            msg.contains(&stmt) && msg.contains("s3:GetObject, s3:GetObjectVersion"),
            "{msg}"
        );
        let deny = r#"{"Statement":[{"Sid":"Lock","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        let PolicyFinding::NotGranted(msg) = input(Some(deny), Some(ROLE), "111111111111") else {
            panic!("not granted expected");
        };
        assert!(msg.contains("\"Lock\"") && msg.contains("explicitly denies"), "{msg}");
    }

    #[test]
    fn grants_and_doubts_pass_through() {
        let grant = format!(r#"{{"Statement":[{}]}}"#, bucket_policy::grant_statement(ROLE, "revs"));
        assert_eq!(input(Some(&grant), Some(ROLE), "111111111111"), PolicyFinding::Granted);
        let conditional = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"s3:*","Resource":"*","Condition":{{"Bool":{{"aws:SecureTransport":"true"}}}}}}]}}"#
        );
        assert!(matches!(
            input(Some(&conditional), Some(ROLE), "111111111111"),
            PolicyFinding::Undetermined(_)
        ));
    }
}
