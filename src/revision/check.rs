//! What CodeDeploy needs from a revision, judged: the object exists (guide
//! step 4) and the production instance profile may read it (guide step 2).
//! Only a determined failure blocks a deployment; what cannot be determined
//! becomes a note. Pure, so table-tested.

use super::step2::PolicyFinding;
use crate::api::{BucketPolicyGrant, ResolvedRevision, RevisionCheck};
use crate::status::{Failure, Reason};

/// What was learned about the object itself.
pub enum ObjectSeen<'a> {
    /// HeadObject succeeded as `by`; `kms_key` when the object is SSE-KMS.
    Found { by: &'a str, kms_key: Option<&'a str> },
    /// No identity crossdeploy may use could read it; why, per identity.
    Unknown(&'a str),
}

/// The check as status reports it, and the failure that blocks, if any.
pub fn judge(location: &str, object: &ObjectSeen<'_>, policy: &PolicyFinding) -> (RevisionCheck, Option<Failure>) {
    let mut notes = Vec::new();
    let read_by = match object {
        ObjectSeen::Found { by, kms_key } => {
            if let Some(key) = kms_key {
                notes.push(format!(
                    "{location} is encrypted with the KMS key {key}: the production instance profile role also \
                     needs kms:Decrypt on it (and the key policy must allow the production account); crossdeploy \
                     does not check key policies"
                ));
            }
            Some(by.to_string())
        }
        ObjectSeen::Unknown(why) => {
            notes.push(format!(
                "no identity crossdeploy may use could read {location} to confirm it exists ({why}); it is \
                 deployed anyway: CodeDeploy's instances fetch it with their instance profile (guide step 2)"
            ));
            None
        }
    };
    let (bucket_policy, failure) = match policy {
        PolicyFinding::NotRequired => (BucketPolicyGrant::NotRequired, None),
        PolicyFinding::Granted => (BucketPolicyGrant::Granted, None),
        PolicyFinding::NotGranted(m) => (
            BucketPolicyGrant::NotGranted,
            Some(Failure::permanent(Reason::BucketPolicyMissingGrant, m.clone())),
        ),
        PolicyFinding::Undetermined(why) => {
            notes.push(format!(
                "could not determine whether the bucket policy grants the production instance profile role read \
                 access (guide step 2): {why}; check it by hand"
            ));
            (BucketPolicyGrant::Undetermined, None)
        }
        PolicyFinding::NotChecked(why) => {
            notes.push(why.clone());
            (BucketPolicyGrant::NotChecked, None)
        }
        PolicyFinding::Failed(f) => (BucketPolicyGrant::NotChecked, Some(f.clone())),
    };
    let check = RevisionCheck {
        read_by,
        bucket_policy,
        notes,
    };
    (check, failure)
}

/// The object was replaced after the spec pinned its ETag (guide step 4):
/// `expected` is the pinned ETag, `revision` what S3 reports now.
pub fn etag_mismatch(expected: Option<&str>, revision: &ResolvedRevision) -> Option<Failure> {
    let expected = expected?;
    let found = revision.e_tag.as_deref().map(|e| e.trim_matches('"'));
    (found != Some(expected.trim_matches('"'))).then(|| {
        Failure::permanent(
            Reason::RevisionChanged,
            format!(
                "s3://{}/{} has ETag {} but spec.revision.s3.eTag is {expected}: the object was replaced \
                 after the spec was written (guide step 4). Pin spec.revision.s3.version or update the eTag",
                revision.bucket,
                revision.key,
                revision.e_tag.as_deref().unwrap_or("none")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case<'a> {
        object: ObjectSeen<'a>,
        policy: PolicyFinding,
        grant: BucketPolicyGrant,
        blocks: Option<Reason>,
        notes: usize,
    }

    #[test]
    fn only_determined_failures_block() {
        let found = || ObjectSeen::Found {
            by: "the operator's own identity",
            kms_key: None,
        };
        let cases = [
            Case {
                object: found(),
                policy: PolicyFinding::Granted,
                grant: BucketPolicyGrant::Granted,
                blocks: None,
                notes: 0,
            },
            Case {
                object: found(),
                policy: PolicyFinding::NotRequired,
                grant: BucketPolicyGrant::NotRequired,
                blocks: None,
                notes: 0,
            },
            Case {
                object: found(),
                policy: PolicyFinding::NotGranted("add this statement".into()),
                grant: BucketPolicyGrant::NotGranted,
                blocks: Some(Reason::BucketPolicyMissingGrant),
                notes: 0,
            },
            Case {
                object: found(),
                policy: PolicyFinding::Undetermined("a Condition".into()),
                grant: BucketPolicyGrant::Undetermined,
                blocks: None,
                notes: 1,
            },
            Case {
                object: ObjectSeen::Unknown("role: HTTP403; operator: HTTP403"),
                policy: PolicyFinding::Undetermined("unreadable".into()),
                grant: BucketPolicyGrant::Undetermined,
                blocks: None,
                notes: 2,
            },
            Case {
                object: ObjectSeen::Found {
                    by: "role",
                    kms_key: Some("arn:aws:kms:us-east-1:111111111111:key/k"),
                },
                policy: PolicyFinding::Granted,
                grant: BucketPolicyGrant::Granted,
                blocks: None,
                notes: 1,
            },
            Case {
                object: found(),
                policy: PolicyFinding::NotChecked("no instanceProfileRoleArn".into()),
                grant: BucketPolicyGrant::NotChecked,
                blocks: None,
                notes: 1,
            },
            Case {
                object: found(),
                policy: PolicyFinding::Failed(Failure::retryable(Reason::AwsUnavailable, "slow down")),
                grant: BucketPolicyGrant::NotChecked,
                blocks: Some(Reason::AwsUnavailable),
                notes: 0,
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let (check, failure) = judge("s3://revs/app.zip", &c.object, &c.policy);
            assert_eq!(check.bucket_policy, c.grant, "case {i}");
            assert_eq!(failure.map(|f| f.reason), c.blocks, "case {i}");
            assert_eq!(check.notes.len(), c.notes, "case {i}: {:?}", check.notes);
        }
    }

    #[test]
    fn notes_say_what_was_not_checked_and_why() {
        let (check, _) = judge(
            "s3://revs/app.zip",
            &ObjectSeen::Found {
                by: "role",
                kms_key: Some("arn:aws:kms:us-east-1:111111111111:key/k"),
            },
            &PolicyFinding::Undetermined("statement \"Tls\" has a Condition".into()),
        );
        let all = check.notes.join(" ");
        assert!(all.contains("kms:Decrypt") && all.contains("key/k"), "{all}");
        assert!(all.contains("guide step 2") && all.contains("has a Condition"), "{all}");
        assert_eq!(check.read_by.as_deref(), Some("role"));
    }
}
