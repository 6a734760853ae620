//! Short digests that say "same revision" and "same verification inputs".

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::ResolvedRevision;

/// Identity of a resolved revision. Size and lastModified are left out: they
/// follow from the version and ETag, and HeadObject and ListObjectsV2 report
/// lastModified with different precision.
pub fn revision_digest(rev: &ResolvedRevision) -> String {
    #[derive(Serialize)]
    struct Input<'a> {
        bucket: &'a str,
        key: &'a str,
        version_id: Option<&'a str>,
        e_tag: Option<&'a str>,
        bundle_type: &'a str,
    }
    short(&Input {
        bucket: &rev.bucket,
        key: &rev.key,
        version_id: rev.version_id.as_deref(),
        e_tag: rev.e_tag.as_deref().map(|e| e.trim_matches('"')),
        bundle_type: &rev.bundle_type,
    })
}

/// A TargetAccount as far as verification depends on it: a new object with
/// the same name, or an edited spec, must be verified again.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TargetIdentity {
    pub name: String,
    pub uid: Option<String>,
    pub generation: Option<i64>,
}

/// What the verifications of a source depend on.
pub fn verification_digest(
    revision_digest: &str,
    source_generation: Option<i64>,
    reader: Option<&TargetIdentity>,
    targets: &[TargetIdentity],
) -> String {
    short(&(revision_digest, source_generation, reader, targets))
}

fn short<T: Serialize>(input: &T) -> String {
    // Serializing plain structs of strings and integers cannot fail.
    let bytes = serde_json::to_vec(input).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(version: Option<&str>, etag: &str) -> ResolvedRevision {
        ResolvedRevision {
            bucket: "b".into(),
            key: "k.zip".into(),
            version_id: version.map(str::to_string),
            e_tag: Some(etag.into()),
            size: Some(1),
            last_modified: None,
            bundle_type: "zip".into(),
        }
    }

    #[test]
    fn revision_digest_tracks_identity_only() {
        let a = rev(Some("v1"), "\"e1\"");
        assert_eq!(revision_digest(&a), revision_digest(&rev(Some("v1"), "e1")));
        let mut bigger = a.clone();
        bigger.size = Some(2);
        assert_eq!(revision_digest(&a), revision_digest(&bigger));
        assert_ne!(revision_digest(&a), revision_digest(&rev(Some("v2"), "e1")));
        assert_ne!(revision_digest(&a), revision_digest(&rev(Some("v1"), "e2")));
        assert_eq!(revision_digest(&a).len(), 16);
    }

    #[test]
    fn verification_digest_tracks_targets_and_generation() {
        let t = |g| TargetIdentity {
            name: "prod".into(),
            uid: Some("u".into()),
            generation: Some(g),
        };
        let base = verification_digest("r", Some(1), None, &[t(1)]);
        assert_eq!(base, verification_digest("r", Some(1), None, &[t(1)]));
        assert_ne!(base, verification_digest("r", Some(1), None, &[t(2)]));
        assert_ne!(base, verification_digest("r", Some(2), None, &[t(1)]));
        assert_ne!(base, verification_digest("s", Some(1), None, &[t(1)]));
        assert_ne!(base, verification_digest("r", Some(1), Some(&t(1)), &[t(1)]));
    }
}
