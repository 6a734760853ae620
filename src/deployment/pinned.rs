//! A CrossAccountDeployment's `revision.sourceRef`, pinned: the source's
//! resolved revision as an exact S3 object (key, version, ETag), so that the
//! deployment digest, and hence exactly-once, follow the source's revisions.

use crate::api::{
    BundleType, ConditionStatus, HasConditions, RevisionSource, RevisionSourceStatus, S3Revision, condition_type,
};
use crate::status::{Failure, Reason};

/// The revision to deploy and the source digest it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Pinned {
    pub s3: S3Revision,
    pub source_digest: String,
}

/// Ok when the source is Ready, suspended on a fully verified revision, or
/// only retrying (not Stalled) after resolving and verifying a revision for
/// its current spec: a throttled poll does not change what is deployed.
pub fn pin(name: &str, source: Option<&RevisionSource>) -> Result<Pinned, Failure> {
    let Some(source) = source else {
        return Err(Failure::permanent(
            Reason::RevisionSourceNotFound,
            format!(
                "RevisionSource {name:?} does not exist in this namespace; create it or fix spec.revision.sourceRef"
            ),
        ));
    };
    let not_ready = |retryable: bool, what: String| {
        let message = format!("RevisionSource {name:?} {what}; no deployment is started until it is Ready");
        if retryable {
            Failure::retryable(Reason::RevisionSourceNotReady, message)
        } else {
            Failure::permanent(Reason::RevisionSourceNotReady, message)
        }
    };
    let generation = source.metadata.generation;
    let Some(status) = source
        .status
        .as_ref()
        .filter(|s| s.observed_generation.is_some() && s.observed_generation == generation)
    else {
        return Err(not_ready(true, "has not resolved its current spec yet".into()));
    };
    if !deployable(status, generation) {
        let stalled = status
            .condition(condition_type::STALLED)
            .filter(|c| ConditionStatus::True.is(c));
        let current = stalled.or_else(|| status.condition(condition_type::RECONCILING));
        let detail = current.map_or_else(String::new, |c| format!(" ({}: {})", c.reason, c.message));
        return Err(match stalled {
            Some(_) => not_ready(false, format!("is stalled{detail}")),
            None => not_ready(true, format!("is not ready yet{detail}")),
        });
    }
    let (Some(rev), Some(digest)) = (status.revision.as_ref(), status.revision_digest.as_ref()) else {
        return Err(not_ready(true, "has no resolved revision yet".into()));
    };
    let Some(bundle_type) = BundleType::from_aws_str(&rev.bundle_type) else {
        return Err(Failure::permanent(
            Reason::InvalidSpec,
            format!(
                "RevisionSource {name:?} reports unknown bundle type {:?}",
                rev.bundle_type
            ),
        ));
    };
    Ok(Pinned {
        s3: S3Revision {
            bucket: rev.bucket.clone(),
            key: rev.key.clone(),
            version: rev.version_id.clone(),
            e_tag: rev.e_tag.clone(),
            bundle_type: Some(bundle_type),
        },
        source_digest: digest.clone(),
    })
}

/// Ready; or suspended with every verification passed; or only retrying a
/// transient failure (throttling, 5xx), which leaves the last revision in
/// place: deployable if it was resolved for this very spec and every
/// verification passed.
fn deployable(status: &RevisionSourceStatus, generation: Option<i64>) -> bool {
    let all_passed = status.verifications.iter().all(|v| v.passed);
    let ready = status.is_condition_true(condition_type::READY);
    let frozen = status
        .condition(condition_type::READY)
        .is_some_and(|c| c.reason == Reason::Suspended.as_str())
        && all_passed;
    let retrying = !status.is_condition_true(condition_type::STALLED)
        && status.resolved_generation.is_some()
        && status.resolved_generation == generation
        && status.revision_digest.is_some()
        && status.verification_digest.is_some()
        && all_passed;
    ready || frozen || retrying
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ResolvedRevision, RevisionSourceStatus, TargetVerification};
    use crate::status::{Health, conditions};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn source(health: Health, reason: Reason, observed: i64, with_revision: bool) -> RevisionSource {
        let now = Time(k8s_openapi::jiff::Timestamp::from_second(0).unwrap());
        let mut rs: RevisionSource = serde_json::from_value(serde_json::json!({
            "apiVersion": "crossdeploy.io/v1alpha1",
            "kind": "RevisionSource",
            "metadata": {"name": "src", "namespace": "ns", "generation": 2},
            "spec": {"s3": {"bucket": "revs", "key": "app.zip"}},
        }))
        .unwrap();
        rs.status = Some(RevisionSourceStatus {
            observed_generation: Some(observed),
            conditions: conditions(&[], health, reason, "why", Some(observed), &now),
            revision: with_revision.then(|| ResolvedRevision {
                bucket: "revs".into(),
                key: "app.zip".into(),
                version_id: Some("v7".into()),
                e_tag: Some("\"e\"".into()),
                bundle_type: "zip".into(),
                ..Default::default()
            }),
            revision_digest: with_revision.then(|| "d1".to_string()),
            verification_digest: with_revision.then(|| "v1".to_string()),
            resolved_generation: with_revision.then_some(observed),
            ..Default::default()
        });
        rs
    }

    #[test]
    fn pins_only_ready_sources() {
        let ok = pin("src", Some(&source(Health::Ready, Reason::RevisionResolved, 2, true))).unwrap();
        assert_eq!(ok.s3.version.as_deref(), Some("v7"));
        assert_eq!(ok.s3.e_tag.as_deref(), Some("\"e\""));
        assert_eq!(ok.s3.bundle_type, Some(BundleType::Zip));
        assert_eq!(ok.source_digest, "d1");

        // (source, expected reason, retryable)
        let table = [
            (None, Reason::RevisionSourceNotFound, false),
            (
                Some(source(Health::Ready, Reason::RevisionResolved, 1, true)),
                Reason::RevisionSourceNotReady,
                true,
            ),
            (
                Some(source(Health::Stalled, Reason::ObjectNotFound, 2, true)),
                Reason::RevisionSourceNotReady,
                false,
            ),
            (
                Some(source(Health::Progressing, Reason::AwsUnavailable, 2, false)),
                Reason::RevisionSourceNotReady,
                true,
            ),
            (
                Some(source(Health::Ready, Reason::RevisionResolved, 2, false)),
                Reason::RevisionSourceNotReady,
                true,
            ),
        ];
        for (i, (src, reason, retryable)) in table.into_iter().enumerate() {
            let f = pin("src", src.as_ref()).unwrap_err();
            assert_eq!((f.reason, f.retryable), (reason, retryable), "row {i}: {}", f.message);
        }
        let stalled = pin("src", Some(&source(Health::Stalled, Reason::ObjectNotFound, 2, true))).unwrap_err();
        assert!(stalled.message.contains("ObjectNotFound: why"), "{}", stalled.message);
    }

    #[test]
    fn a_suspended_source_keeps_its_verified_revision() {
        let mut src = source(Health::Suspended, Reason::Suspended, 2, true);
        assert!(pin("src", Some(&src)).is_ok());
        if let Some(s) = src.status.as_mut() {
            s.verifications.push(TargetVerification {
                target_account: "prod".into(),
                passed: false,
                ..Default::default()
            });
        }
        assert!(pin("src", Some(&src)).is_err());
    }

    #[test]
    fn a_retrying_source_keeps_its_verified_revision() {
        let ready = pin("src", Some(&source(Health::Ready, Reason::RevisionResolved, 2, true))).unwrap();
        let throttled = source(Health::Progressing, Reason::AwsUnavailable, 2, true);
        assert_eq!(
            pin("src", Some(&throttled)).unwrap(),
            ready,
            "a throttled poll changes nothing for the deployments"
        );

        let edit = |f: fn(&mut RevisionSourceStatus)| {
            let mut src = throttled.clone();
            if let Some(s) = src.status.as_mut() {
                f(s);
            }
            src
        };
        let rows = [
            (
                "never resolved",
                source(Health::Progressing, Reason::AwsUnavailable, 2, false),
            ),
            (
                "resolved for an earlier spec",
                edit(|s| s.resolved_generation = Some(1)),
            ),
            (
                "resolved before resolvedGeneration existed",
                edit(|s| s.resolved_generation = None),
            ),
            ("never verified", edit(|s| s.verification_digest = None)),
            (
                "a verification did not pass",
                edit(|s| {
                    s.verifications.push(TargetVerification {
                        target_account: "prod".into(),
                        passed: false,
                        ..Default::default()
                    })
                }),
            ),
        ];
        for (what, src) in rows {
            let f = pin("src", Some(&src)).unwrap_err();
            assert_eq!(
                (f.reason, f.retryable),
                (Reason::RevisionSourceNotReady, true),
                "{what}"
            );
            assert!(f.message.contains("AwsUnavailable: why"), "{what}: {}", f.message);
        }

        // Stalled needs a human, even with a verified revision in status.
        let stalled = source(Health::Stalled, Reason::BucketAccessDenied, 2, true);
        let f = pin("src", Some(&stalled)).unwrap_err();
        assert_eq!((f.reason, f.retryable), (Reason::RevisionSourceNotReady, false));
    }
}
