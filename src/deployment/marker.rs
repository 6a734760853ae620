//! Exactly-once support. CodeDeploy's CreateDeployment takes no client token,
//! so crossdeploy writes a marker into the deployment description and looks
//! for it before creating: a crash between CreateDeployment and the status
//! write then finds the deployment instead of starting a second one.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::{AlarmConfiguration, CrossAccountDeploymentSpec, S3Revision, TargetInstances};

/// Annotation whose value is part of the digest: changing it redeploys the
/// same revision (e.g. after a failed deployment was fixed outside the spec).
pub const REDEPLOY_ANNOTATION: &str = "crossdeploy.io/redeploy";

/// Annotation whose value (a token) rolls back to the last good revision,
/// once per token; the token is part of the rollback deployment's digest.
pub const ROLLBACK_ANNOTATION: &str = "crossdeploy.io/rollback";

/// Annotation carrying the desired digest a person approved
/// (`approval: Manual`).
pub const APPROVE_ANNOTATION: &str = "crossdeploy.io/approve";

/// Annotation carrying the id of a blue/green deployment waiting in Ready
/// that a person wants continued.
pub const CONTINUE_ANNOTATION: &str = "crossdeploy.io/continue";

/// The settings that make two deployments "the same" — version 1 of the
/// digest input. The free-text description is deliberately excluded:
/// editing it must not redeploy. Every field added later must serialize to
/// nothing while unused (`skip_serializing_if`), so that an unchanged spec
/// keeps its digest across operator upgrades; a golden test pins it.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    override_alarm_configuration: Option<&'a AlarmConfiguration>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    update_outdated_instances_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_instances: Option<&'a TargetInstances>,
    /// The `crossdeploy.io/rollback` token of a rollback deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    rollback: Option<&'a str>,
}

/// Digest of the desired deployment (hex, 16 characters: 64 bits is plenty to
/// tell one object's revisions apart, and keeps descriptions short). A
/// rollback's deployment carries its token too, so each token deploys once.
pub fn desired_digest(
    spec: &CrossAccountDeploymentSpec,
    s3: &S3Revision,
    redeploy: Option<&str>,
    rollback: Option<&str>,
) -> String {
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
        override_alarm_configuration: spec.override_alarm_configuration.as_ref(),
        update_outdated_instances_only: spec.update_outdated_instances_only,
        target_instances: spec.target_instances.as_ref(),
        rollback,
    };
    short_hash(&serde_json::to_vec(&input).unwrap_or_default())
}

fn short_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// Whose deployments these are. The marker names the object by a stable id
/// (namespace and name, hashed), so a deleted and recreated object — Argo CD
/// Replace, a cluster migration, a backup restore — adopts what it deployed
/// before. Markers written before this id existed named the object's uid;
/// they are still recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub legacy_uid: String,
}

impl Owner {
    pub fn new(namespace: &str, name: &str, uid: &str) -> Self {
        let id = short_hash(format!("crossdeploy.io/CrossAccountDeployment/{namespace}/{name}").as_bytes());
        Self {
            id: format!("o{id}"),
            legacy_uid: uid.to_string(),
        }
    }

    fn ids(&self) -> [&str; 2] {
        [&self.id, &self.legacy_uid]
    }

    /// Was this deployment created for this object (any digest)?
    pub fn owns(&self, description: &str) -> bool {
        self.ids()
            .iter()
            .any(|id| description.contains(&format!("{PREFIX}{id}:")))
    }

    /// Was it created for this object and this digest?
    pub fn marked(&self, description: &str, digest: &str) -> bool {
        self.ids()
            .iter()
            .any(|id| description.contains(&format!("{PREFIX}{id}:{digest}]")))
    }
}

const PREFIX: &str = "[crossdeploy:";

/// Description sent to CodeDeploy: the user's text, then the marker. CodeDeploy
/// allows 512 characters; the spec caps user text at 400. Admission refuses
/// marker syntax in the user's text; it is defused here as well, so no
/// description can carry a marker but the operator's own.
pub fn description(user: Option<&str>, owner: &Owner, digest: &str) -> String {
    let marker = format!("{PREFIX}{}:{digest}]", owner.id);
    match user.map(|t| t.replace(PREFIX, "(crossdeploy:")) {
        Some(text) if !text.is_empty() => format!("{text} {marker}"),
        _ => format!("Deployed by crossdeploy {marker}"),
    }
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
            revision: Some(RevisionSpec {
                s3: Some(S3Revision {
                    bucket: "b".into(),
                    key: key.into(),
                    version: None,
                    e_tag: None,
                    bundle_type: None,
                }),
                source_ref: None,
            }),
            description: None,
            auto_rollback: None,
            file_exists_behavior: None,
            ignore_application_stop_failures: false,
            on_active_deployment: OnActiveDeployment::Wait,
            deletion_policy: DeletionPolicy::Orphan,
            suspend: false,
            promotion: None,
            approval: Approval::Automatic,
            blue_green: None,
            progress_deadline_seconds: None,
            diagnostics: None,
            override_alarm_configuration: None,
            update_outdated_instances_only: false,
            target_instances: None,
        }
    }

    fn digest(s: &CrossAccountDeploymentSpec, redeploy: Option<&str>) -> String {
        desired_digest(s, s.revision.as_ref().unwrap().s3.as_ref().unwrap(), redeploy, None)
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
        // Settings that only steer the lifecycle never redeploy.
        let mut gated = a.clone();
        gated.approval = Approval::Manual;
        gated.progress_deadline_seconds = Some(600);
        gated.blue_green = Some(BlueGreen {
            continue_after: Some("10m".into()),
        });
        gated.diagnostics = Some(Diagnostics { log_tail: true });
        assert_eq!(digest(&a, None), digest(&gated, None));
        // CreateDeployment options change what is deployed.
        let mut outdated = a.clone();
        outdated.update_outdated_instances_only = true;
        let mut alarms = a.clone();
        alarms.override_alarm_configuration = Some(AlarmConfiguration {
            enabled: false,
            ignore_poll_alarm_failure: false,
            alarms: vec![],
        });
        let mut targets = a.clone();
        targets.target_instances = Some(TargetInstances {
            tag_filters: vec![],
            auto_scaling_groups: vec!["asg".into()],
        });
        for changed in [&outdated, &alarms, &targets] {
            assert_ne!(digest(&a, None), digest(changed, None));
        }
        let s3 = a.revision.as_ref().unwrap().s3.as_ref().unwrap();
        let rollback = desired_digest(&a, s3, None, Some("t1"));
        assert_ne!(rollback, digest(&a, None));
        assert_ne!(
            rollback,
            desired_digest(&a, s3, None, Some("t2")),
            "each token deploys once"
        );
    }

    #[test]
    fn marker_round_trips_through_description() {
        let me = Owner::new("team-a", "web", "uid-1");
        let d = description(Some("hello"), &me, "abcd");
        assert!(d.starts_with("hello "));
        assert!(me.marked(&d, "abcd"));
        assert!(!me.marked(&d, "abce"));
        assert!(me.owns(&d));
        for other in [
            Owner::new("team-b", "web", "uid-1"),
            Owner::new("team-a", "web2", "uid-1"),
        ] {
            assert!(!other.owns(&d) && !other.marked(&d, "abcd"), "{other:?}");
        }
        assert!(description(None, &me, &"d".repeat(16)).len() < 100);
    }

    #[test]
    fn a_recreated_object_is_the_same_owner_and_old_markers_still_count() {
        let before = Owner::new("team-a", "web", "uid-1");
        let after = Owner::new("team-a", "web", "uid-2");
        let d = description(None, &before, "abcd");
        assert!(after.marked(&d, "abcd"), "same namespace and name: adopted");
        let legacy = "Deployed by crossdeploy [crossdeploy:uid-2:abcd]";
        assert!(after.marked(legacy, "abcd") && after.owns(legacy));
        assert!(!after.owns("[crossdeploy:uid:abcd]"), "a uid prefix is not the owner");
    }

    #[test]
    fn user_text_cannot_forge_a_marker() {
        let victim = Owner::new("team-a", "web", "uid-1");
        let forged = format!("[crossdeploy:{}:abcd]", victim.id);
        let attacker = Owner::new("team-b", "x", "uid-9");
        let d = description(Some(&forged), &attacker, "ffff");
        assert!(!victim.owns(&d), "{d}");
        assert!(attacker.marked(&d, "ffff"));
    }

    #[test]
    fn the_digest_of_an_unchanged_spec_never_changes() {
        // Golden value: if this fails, every deployed object would deploy
        // again after an upgrade. Add new inputs with skip_serializing_if.
        assert_eq!(digest(&spec("app/v1.zip"), None), "c98629db229feae8");
    }
}
