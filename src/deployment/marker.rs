//! Exactly-once support. CodeDeploy's CreateDeployment takes no client token,
//! so crossdeploy writes a marker into the deployment description and looks
//! for it before creating: a crash between CreateDeployment and the status
//! write then finds the deployment instead of starting a second one.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::{CrossAccountDeploymentSpec, S3Revision};

/// Annotation whose value is part of the digest: changing it redeploys the
/// same revision (e.g. after a failed deployment was fixed outside the spec).
pub const REDEPLOY_ANNOTATION: &str = "crossdeploy.io/redeploy";

/// The settings that make two deployments "the same". The free-text
/// description is deliberately excluded: editing it must not redeploy.
#[derive(Serialize)]
struct DigestInput<'a> {
    revision: &'a S3Revision,
    bundle_type: Option<&'static str>,
    application: &'a str,
    group: &'a str,
    config: Option<&'a str>,
    file_exists_behavior: Option<&'static str>,
    ignore_application_stop_failures: bool,
    auto_rollback: Option<(bool, Vec<&'static str>)>,
    redeploy: Option<&'a str>,
}

/// Digest of the desired deployment (hex, 16 characters: 64 bits is plenty to
/// tell one object's revisions apart, and keeps descriptions short).
pub fn desired_digest(spec: &CrossAccountDeploymentSpec, s3: &S3Revision, redeploy: Option<&str>) -> String {
    let input = DigestInput {
        revision: s3,
        bundle_type: s3.effective_bundle_type().map(|b| b.as_aws_str()),
        application: &spec.application_name,
        group: &spec.deployment_group_name,
        config: spec.deployment_config_name.as_deref(),
        file_exists_behavior: spec.file_exists_behavior.map(|f| f.as_aws_str()),
        ignore_application_stop_failures: spec.ignore_application_stop_failures,
        auto_rollback: spec
            .auto_rollback
            .as_ref()
            .map(|r| (r.enabled, r.events.iter().map(|e| e.as_aws_str()).collect())),
        redeploy,
    };
    // Serializing plain structs of strings and bools cannot fail.
    let bytes = serde_json::to_vec(&input).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..8])
}

/// The marker text: object UID plus digest.
pub fn marker(uid: &str, digest: &str) -> String {
    format!("[crossdeploy:{uid}:{digest}]")
}

/// Description sent to CodeDeploy: the user's text, then the marker. CodeDeploy
/// allows 512 characters; the spec caps user text at 400.
pub fn description(user: Option<&str>, uid: &str, digest: &str) -> String {
    match user {
        Some(text) if !text.is_empty() => format!("{text} {}", marker(uid, digest)),
        _ => format!("Deployed by crossdeploy {}", marker(uid, digest)),
    }
}

pub fn carries_marker(description: &str, uid: &str, digest: &str) -> bool {
    description.contains(&marker(uid, digest))
}

/// Was this deployment created for the object with `uid` (any digest)?
pub fn owned_by(description: &str, uid: &str) -> bool {
    description.contains(&format!("[crossdeploy:{uid}:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::*;

    fn spec(key: &str) -> CrossAccountDeploymentSpec {
        CrossAccountDeploymentSpec {
            target_account_ref: TargetAccountRef { name: "prod".into() },
            region: None,
            application_name: "webapp".into(),
            deployment_group_name: "webapp-prod".into(),
            deployment_config_name: None,
            revision: RevisionSpec {
                s3: Some(S3Revision {
                    bucket: "b".into(),
                    key: key.into(),
                    version: None,
                    e_tag: None,
                    bundle_type: None,
                }),
                source_ref: None,
            },
            description: None,
            auto_rollback: None,
            file_exists_behavior: None,
            ignore_application_stop_failures: false,
            on_active_deployment: OnActiveDeployment::Wait,
            deletion_policy: DeletionPolicy::Orphan,
            suspend: false,
        }
    }

    fn digest(s: &CrossAccountDeploymentSpec, redeploy: Option<&str>) -> String {
        desired_digest(s, s.revision.s3.as_ref().unwrap(), redeploy)
    }

    #[test]
    fn digest_changes_with_revision_and_settings_only() {
        let a = spec("app/v1.zip");
        assert_eq!(digest(&a, None), digest(&a.clone(), None));
        assert_ne!(digest(&a, None), digest(&spec("app/v2.zip"), None));
        let mut described = a.clone();
        described.description = Some("release notes".into());
        assert_eq!(digest(&a, None), digest(&described, None));
        let mut suspended = a.clone();
        suspended.suspend = true;
        assert_eq!(digest(&a, None), digest(&suspended, None));
        let mut overwrite = a.clone();
        overwrite.file_exists_behavior = Some(FileExistsBehavior::Overwrite);
        assert_ne!(digest(&a, None), digest(&overwrite, None));
        assert_ne!(digest(&a, None), digest(&a, Some("1")));
    }

    #[test]
    fn marker_round_trips_through_description() {
        let d = description(Some("hello"), "uid-1", "abcd");
        assert!(d.starts_with("hello "));
        assert!(carries_marker(&d, "uid-1", "abcd"));
        assert!(!carries_marker(&d, "uid-2", "abcd"));
        assert!(!carries_marker(&d, "uid-1", "abce"));
        assert!(owned_by(&d, "uid-1"));
        assert!(!owned_by(&d, "uid-2"));
        assert!(!owned_by(&d, "uid"), "a uid prefix is not the owner");
        assert!(description(None, &"u".repeat(36), &"d".repeat(16)).len() < 100);
    }
}
