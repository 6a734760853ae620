//! Looking at a revision in S3 with whichever identities may: HeadObject
//! (guide step 4: the object exists, with its version and ETag) and
//! GetBucketPolicy (guide step 2). Identities are tried in order; an
//! AccessDenied only means "not this one", and when none may look the answer
//! is "unknown", never a failure.

use crate::api::S3Revision;
use crate::aws::s3::{self, Head};
use crate::aws::{AwsError, ErrorClass};

/// An identity that may look at a revision.
pub struct Looker<'a> {
    /// For messages, e.g. "the operator's own identity".
    pub who: String,
    /// Its AWS account, when known: only the bucket owner's account may read
    /// a bucket policy.
    pub account: Option<String>,
    pub s3: &'a s3::Client,
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

pub async fn existence(lookers: &[Looker<'_>], wanted: &S3Revision, bundle_type: &str) -> Existence {
    let mut refused = Vec::new();
    for l in lookers {
        match s3::head(l.s3, wanted, bundle_type).await {
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
    Read { owner: String, document: Option<String> },
    /// No identity that was tried may read it; why, per identity.
    Unreadable(String),
    /// A transient failure: look again later.
    Failed(AwsError),
}

pub async fn bucket_policy(lookers: &[Looker<'_>], bucket: &str) -> PolicyRead {
    let mut refused = Vec::new();
    for l in lookers {
        let Some(account) = l.account.as_deref() else {
            continue;
        };
        match s3::get_bucket_policy(l.s3, bucket, Some(account)).await {
            Ok(document) => {
                return PolicyRead::Read {
                    owner: account.to_string(),
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
