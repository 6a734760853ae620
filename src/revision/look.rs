//! Looking at a revision in S3 with whichever identities may: HeadObject
//! (guide step 4: the object exists, with its version and ETag) and
//! GetBucketPolicy (guide step 2). Identities are tried in order; an
//! AccessDenied only means "not this one", and when none may look the answer
//! is "unknown", never a failure.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::step2::{self, PolicyFinding};
use crate::api::{ResolvedRevision, S3Revision};
use crate::aws::s3::{self, Head};
use crate::aws::{AwsError, ErrorClass};
use crate::status::diagnosis::{Subject, diagnose};

/// How long what was learned about a bucket is reused: its policy, and
/// which identities it refuses. A fixed policy is noticed after this long.
const REMEMBER: Duration = Duration::from_secs(5 * 60);

/// What looking at buckets taught, so that a fleet of objects on one bucket
/// does not read its policy, or try an identity it refuses, once per
/// rollout. Shared by all reconciles; entries expire after [`REMEMBER`].
#[derive(Default)]
pub struct Memory {
    /// (bucket, identity) → when the identity was refused.
    refused: Mutex<HashMap<(String, String), Instant>>,
    /// (bucket, account) → the policy as read by that account's identity.
    policies: Mutex<HashMap<(String, String), Remembered>>,
}

/// A bucket policy document (None: the bucket has none) and when it was read.
type Remembered = (Option<String>, Instant);

impl Memory {
    fn refused_recently(&self, bucket: &str, who: &str) -> bool {
        self.refused
            .lock()
            .ok()
            .and_then(|m| m.get(&(bucket.to_string(), who.to_string())).copied())
            .is_some_and(|at| at.elapsed() < REMEMBER)
    }

    fn note_refused(&self, bucket: &str, who: &str, refused: bool) {
        if let Ok(mut m) = self.refused.lock() {
            m.retain(|_, at| at.elapsed() < REMEMBER);
            let key = (bucket.to_string(), who.to_string());
            if refused {
                m.insert(key, Instant::now());
            } else {
                m.remove(&key);
            }
        }
    }

    fn policy(&self, bucket: &str, account: &str) -> Option<Option<String>> {
        let m = self.policies.lock().ok()?;
        let (document, at) = m.get(&(bucket.to_string(), account.to_string()))?;
        (at.elapsed() < REMEMBER).then(|| document.clone())
    }

    fn note_policy(&self, bucket: &str, account: &str, document: &Option<String>) {
        if let Ok(mut m) = self.policies.lock() {
            m.retain(|_, (_, at)| at.elapsed() < REMEMBER);
            m.insert(
                (bucket.to_string(), account.to_string()),
                (document.clone(), Instant::now()),
            );
        }
    }
}

/// An identity that may look at a revision.
pub struct Looker<'a> {
    /// For messages, e.g. "the operator's own identity".
    pub who: String,
    /// Its AWS account, when known: only the bucket owner's account may read
    /// a bucket policy.
    pub account: Option<String>,
    pub s3: &'a s3::Client,
}

impl<'a> Looker<'a> {
    /// The TargetAccount's cross-account role (guide step 3), in its account.
    pub fn cross_account_role(role_arn: &str, account: Option<String>, s3: &'a s3::Client) -> Self {
        Self {
            who: format!("the cross-account role {role_arn}"),
            account,
            s3,
        }
    }

    /// The operator's own identity (the guide's development account).
    pub fn operator(account: Option<String>, s3: &'a s3::Client) -> Self {
        Self {
            who: "the operator's own identity".into(),
            account,
            s3,
        }
    }
}

/// Does the object exist?
pub enum Existence {
    Found {
        head: Head,
        by: String,
    },
    /// S3 said there is no such object, version or bucket.
    Missing {
        error: AwsError,
        by: String,
    },
    /// No identity that was tried may read it; why, per identity.
    Unknown(String),
    /// A transient or credential failure: look again later.
    Failed {
        error: AwsError,
        by: String,
    },
}

/// Identities the bucket refused recently are tried last.
pub async fn existence(memory: &Memory, lookers: &[Looker<'_>], wanted: &S3Revision, bundle_type: &str) -> Existence {
    let mut ordered: Vec<&Looker<'_>> = lookers.iter().collect();
    ordered.sort_by_key(|l| memory.refused_recently(&wanted.bucket, &l.who));
    let mut refused = Vec::new();
    for l in ordered {
        let result = s3::head(l.s3, wanted, bundle_type).await;
        let denied = matches!(&result, Err(e) if e.class == ErrorClass::AccessDenied);
        memory.note_refused(&wanted.bucket, &l.who, denied);
        match result {
            Ok(head) => {
                return Existence::Found {
                    head,
                    by: l.who.clone(),
                };
            }
            Err(error) if error.class == ErrorClass::NotFound => {
                return Existence::Missing {
                    error,
                    by: l.who.clone(),
                };
            }
            Err(error) if error.class == ErrorClass::AccessDenied => {
                refused.push(format!("{}: {}", l.who, error.code));
            }
            Err(error) => {
                return Existence::Failed {
                    error,
                    by: l.who.clone(),
                };
            }
        }
    }
    Existence::Unknown(refused.join("; "))
}

/// The bucket policy, as far as some identity may read it.
pub enum PolicyRead {
    /// Read by an identity of the owner's account; None: the bucket has no policy.
    /// Read by `by`, an identity of the owner's account (or remembered from
    /// such a read: then `by` says so); None: the bucket has no policy.
    Read {
        owner: String,
        by: String,
        document: Option<String>,
    },
    /// No identity that was tried may read it; why, per identity.
    Unreadable(String),
    /// A transient failure: look again later.
    Failed(AwsError),
}

/// A policy read in the last few minutes is reused.
pub async fn bucket_policy(memory: &Memory, lookers: &[Looker<'_>], bucket: &str) -> PolicyRead {
    for l in lookers {
        if let Some(account) = l.account.as_deref()
            && let Some(document) = memory.policy(bucket, account)
        {
            return PolicyRead::Read {
                owner: account.to_string(),
                by: format!("{} (read in the last minutes)", l.who),
                document,
            };
        }
    }
    let mut refused = Vec::new();
    for l in lookers {
        let Some(account) = l.account.as_deref() else {
            continue;
        };
        match s3::get_bucket_policy(l.s3, bucket, Some(account)).await {
            Ok(document) => {
                memory.note_policy(bucket, account, &document);
                return PolicyRead::Read {
                    owner: account.to_string(),
                    by: l.who.clone(),
                    document,
                };
            }
            Err(error) if matches!(error.class, ErrorClass::Retryable | ErrorClass::ExpiredCredentials) => {
                return PolicyRead::Failed(error);
            }
            // AccessDenied, MethodNotAllowed (not the owner's account),
            // NoSuchBucket: not this identity.
            Err(error) => refused.push(format!("{}: {}", l.who, error.code)),
        }
    }
    if refused.is_empty() {
        return PolicyRead::Unreadable("no identity of a known account could look".into());
    }
    PolicyRead::Unreadable(refused.join("; "))
}

/// Guide step 2 as crossdeploy judges it, and who could tell.
pub struct Step2Look {
    pub finding: PolicyFinding,
    /// (who read the bucket policy, the bucket owner's account), when one could.
    pub read: Option<(String, String)>,
}

/// Guide step 2: does the bucket policy grant the production instance
/// profile role read access to `revision`? Read by an identity of the bucket
/// owner's account, in `lookers` order (the operator's own first: the guide's
/// development account; then the cross-account role's: a bucket in the
/// production account), and evaluated offline. `subject` names what a
/// transient failure was about.
pub async fn instance_profile_grant(
    memory: &Memory,
    lookers: &[Looker<'_>],
    instance_role: Option<&str>,
    revision: &ResolvedRevision,
    subject: &Subject<'_>,
) -> Step2Look {
    let input = |owner: &str, policy: Option<&str>| {
        step2::finding(&step2::Input {
            instance_role,
            bucket_account: owner,
            bucket: &revision.bucket,
            key: &revision.key,
            versioned: revision.version_id.is_some(),
            policy,
        })
    };
    if instance_role.is_none() {
        return Step2Look {
            finding: input("", None),
            read: None,
        };
    }
    match bucket_policy(memory, lookers, &revision.bucket).await {
        PolicyRead::Read { owner, by, document } => Step2Look {
            finding: input(&owner, document.as_deref()),
            read: Some((by, owner)),
        },
        PolicyRead::Unreadable(why) => Step2Look {
            finding: PolicyFinding::Undetermined(format!(
                "the bucket policy of {} could not be read ({why}); allow the operator's identity \
                 s3:GetBucketPolicy on arn:aws:s3:::{} to have it checked",
                revision.bucket, revision.bucket
            )),
            read: None,
        },
        PolicyRead::Failed(e) => Step2Look {
            finding: PolicyFinding::Failed(diagnose(&e, subject)),
            read: None,
        },
    }
}
