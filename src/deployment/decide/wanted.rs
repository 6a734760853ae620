//! What to deploy, decided before anything is asked of AWS: the revision a
//! promotion takes from its source object, and the revision a rollback
//! (`crossdeploy.io/rollback`) deploys. Pure: the shell reads the objects
//! and passes the time in.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::{
    CrossAccountDeploymentStatus, DeploymentStatus, HasConditions, HistoryEntry, PromotionStatus, ResolvedRevision,
    RollbackStatus, condition_type,
};
use crate::status::{Failure, Health, Reason, Report};

/// A promotion chain longer than this is refused like a cycle.
pub const MAX_PROMOTION_CHAIN: usize = 16;

/// While nothing can be promoted, look again this often (the source's
/// changes are watched; this is a safety net).
const PROMOTION_RECHECK: Duration = Duration::from_secs(5 * 60);

/// The object promoted from, as read from the API server.
#[derive(Clone, Copy, Debug)]
pub struct SourceView<'a> {
    pub generation: Option<i64>,
    pub status: Option<&'a CrossAccountDeploymentStatus>,
}

/// Everything the promotion decision looks at.
#[derive(Clone, Debug)]
pub struct PromotionInput<'a> {
    /// `spec.promotion.from.name`.
    pub from: &'a str,
    /// The source, None when it does not exist.
    pub source: Option<SourceView<'a>>,
    /// Names along `promotion.from`, starting with this object, as far as
    /// the shell followed them (it stops at the first repeated name).
    pub chain: &'a [String],
    pub soak: Duration,
    /// What status recorded as promoted before.
    pub previous: Option<&'a PromotionStatus>,
    pub now: Timestamp,
}

/// The promotion's verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum Promoted {
    /// Deploy `revision`; `note` says where it came from (or what soaks),
    /// `recheck` when to look again (a soak ends).
    Deploy {
        revision: ResolvedRevision,
        status: PromotionStatus,
        note: String,
        recheck: Option<Duration>,
    },
    /// Nothing has been promoted yet and nothing can be now.
    Wait {
        report: Report,
        status: PromotionStatus,
    },
    Refused(Failure),
}

/// A source deployment that may be promoted once it has soaked.
struct Candidate {
    deployment_id: String,
    revision: ResolvedRevision,
    succeeded: Time,
}

pub fn promotion(p: &PromotionInput<'_>) -> Promoted {
    if let Some(failure) = chain_failure(p.chain) {
        return Promoted::Refused(failure);
    }
    let Some(source) = p.source else {
        return Promoted::Refused(Failure::permanent(
            Reason::PromotionSourceNotFound,
            format!(
                "CrossAccountDeployment {:?} (spec.promotion.from) does not exist in this namespace; create it or \
                 fix spec.promotion.from.name",
                p.from
            ),
        ));
    };
    // Only what was promoted from this very source keeps being deployed.
    let previous = p
        .previous
        .filter(|prev| prev.from == p.from)
        .and_then(|prev| prev.revision.clone().map(|rev| (prev, rev)));
    let candidate = match candidate(p.from, source) {
        Ok(c) => c,
        Err(why) => return nothing_newer(p, previous, &why),
    };
    if let Some((prev, rev)) = &previous
        && same_revision(rev, &candidate.revision)
    {
        return Promoted::Deploy {
            note: promoted_note(p.from, prev),
            revision: rev.clone(),
            status: settled(prev),
            recheck: None,
        };
    }
    let until = Timestamp::from_second(candidate.succeeded.0.as_second().saturating_add(secs(p.soak)))
        .unwrap_or(candidate.succeeded.0);
    if p.now >= until {
        let status = PromotionStatus {
            from: p.from.to_string(),
            deployment_id: Some(candidate.deployment_id.clone()),
            succeeded_time: Some(candidate.succeeded.clone()),
            revision: Some(candidate.revision.clone()),
            soaking_deployment_id: None,
            soak_until: None,
        };
        return Promoted::Deploy {
            note: promoted_note(p.from, &status),
            revision: candidate.revision,
            status,
            recheck: None,
        };
    }
    soaking(p, previous, &candidate, until)
}

/// The newest candidate is still soaking: keep what was promoted before, or
/// wait for the soak to end.
fn soaking(
    p: &PromotionInput<'_>,
    previous: Option<(&PromotionStatus, ResolvedRevision)>,
    candidate: &Candidate,
    until: Timestamp,
) -> Promoted {
    let remaining = Duration::from_secs(u64::try_from((until.as_second() - p.now.as_second()).max(1)).unwrap_or(1));
    let what = format!(
        "{}'s deployment {} of {} succeeded at {}; it is promoted after soaking until {until} \
         (spec.promotion.soakTime)",
        p.from, candidate.deployment_id, candidate.revision.key, candidate.succeeded.0
    );
    let soak_status = |base: PromotionStatus| PromotionStatus {
        soaking_deployment_id: Some(candidate.deployment_id.clone()),
        soak_until: Some(Time(until)),
        ..base
    };
    match previous {
        Some((prev, rev)) => Promoted::Deploy {
            note: format!("{}. Next: {what}", promoted_note(p.from, prev)),
            revision: rev,
            status: soak_status(prev.clone()),
            recheck: Some(remaining),
        },
        None => Promoted::Wait {
            report: Report::new(Health::Progressing, Reason::WaitingForPromotion, what, remaining),
            status: soak_status(PromotionStatus {
                from: p.from.to_string(),
                ..Default::default()
            }),
        },
    }
}

/// The source has nothing promotable: keep what was promoted before, or wait.
fn nothing_newer(
    p: &PromotionInput<'_>,
    previous: Option<(&PromotionStatus, ResolvedRevision)>,
    why: &str,
) -> Promoted {
    match previous {
        Some((prev, rev)) => Promoted::Deploy {
            note: format!("{}. Nothing newer to promote: {why}", promoted_note(p.from, prev)),
            revision: rev,
            status: settled(prev),
            recheck: None,
        },
        None => Promoted::Wait {
            report: Report::new(
                Health::Progressing,
                Reason::WaitingForPromotion,
                format!("nothing to promote yet: {why}; its revision is deployed here once it has Succeeded there"),
                PROMOTION_RECHECK,
            ),
            status: PromotionStatus {
                from: p.from.to_string(),
                ..Default::default()
            },
        },
    }
}

fn settled(prev: &PromotionStatus) -> PromotionStatus {
    PromotionStatus {
        soaking_deployment_id: None,
        soak_until: None,
        ..prev.clone()
    }
}

fn promoted_note(from: &str, s: &PromotionStatus) -> String {
    let succeeded = s
        .succeeded_time
        .as_ref()
        .map(|t| format!(", which succeeded there at {}", t.0))
        .unwrap_or_default();
    format!(
        "promoted from {from}'s deployment {}{succeeded}",
        s.deployment_id.as_deref().unwrap_or("(unknown)")
    )
}

/// The source's current deployment when it is promotable: the source has
/// observed its current spec, is Ready, and its deployment Succeeded.
/// Otherwise why not, for messages.
fn candidate(from: &str, source: SourceView<'_>) -> Result<Candidate, String> {
    let Some(status) = source.status else {
        return Err(format!("{from} has no status yet"));
    };
    if status.observed_generation.is_none() || status.observed_generation != source.generation {
        return Err(format!("{from} has not reconciled its current spec yet"));
    }
    if !status.is_condition_true(condition_type::READY) {
        let current = [
            condition_type::STALLED,
            condition_type::RECONCILING,
            condition_type::READY,
        ]
        .iter()
        .find_map(|t| {
            status
                .condition(t)
                .filter(|c| c.status == "True" || *t == condition_type::READY)
        })
        .map_or_else(|| "no conditions".to_string(), |c| format!("{}: {}", c.type_, c.reason));
        return Err(format!("{from} is not Ready ({current})"));
    }
    let Some(current) = status.current_deployment.as_ref() else {
        return Err(format!("{from} has no deployment"));
    };
    if current.status != Some(DeploymentStatus::Succeeded) {
        return Err(format!("{from}'s deployment {} has not succeeded", current.id));
    }
    let Some(revision) = current.revision.clone().or_else(|| status.revision.clone()) else {
        return Err(format!(
            "{from} does not record the revision of deployment {}",
            current.id
        ));
    };
    let ready_since = status
        .condition(condition_type::READY)
        .map(|c| c.last_transition_time.clone());
    let Some(succeeded) = current.complete_time.clone().or(ready_since) else {
        return Err(format!(
            "{from} does not record when deployment {} succeeded",
            current.id
        ));
    };
    Ok(Candidate {
        deployment_id: current.id.clone(),
        revision,
        succeeded,
    })
}

/// A repeated name, or a chain too long to be meant: refused.
fn chain_failure(chain: &[String]) -> Option<Failure> {
    let last = chain.last()?;
    let repeated = chain[..chain.len() - 1].contains(last);
    if !repeated && chain.len() <= MAX_PROMOTION_CHAIN {
        return None;
    }
    let path = chain.join(" → ");
    let why = if repeated {
        format!("spec.promotion.from forms a cycle ({path})")
    } else {
        format!("the promotion chain {path} is longer than {MAX_PROMOTION_CHAIN} objects")
    };
    Some(Failure::permanent(
        Reason::PromotionCycle,
        format!("{why}: a promotion must end at an object that deploys spec.revision; change one of them"),
    ))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Two revisions name the same S3 object: bucket and key, and version and
/// ETag where both name one.
pub fn same_revision(a: &ResolvedRevision, b: &ResolvedRevision) -> bool {
    let agree = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => x.trim_matches('"') == y.trim_matches('"'),
        _ => true,
    };
    a.bucket == b.bucket && a.key == b.key && agree(&a.version_id, &b.version_id) && agree(&a.e_tag, &b.e_tag)
}

/// Everything the rollback decision looks at.
#[derive(Clone, Debug)]
pub struct RollbackInput<'a> {
    /// The annotation `crossdeploy.io/rollback`.
    pub token: Option<&'a str>,
    /// The rollback status recorded.
    pub previous: Option<&'a RollbackStatus>,
    /// The digest of what the spec asks for now.
    pub spec_digest: &'a str,
    /// The revision the spec asks for (as far as it is known before S3).
    pub spec_revision: &'a ResolvedRevision,
    pub last_successful: Option<&'a ResolvedRevision>,
    pub history: &'a [HistoryEntry],
    pub now: Time,
}

/// The rollback's verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum Rollback {
    /// Deploy the spec; the record of an earlier rollback, now ended, is kept
    /// so its token never rolls back again.
    Spec(Option<RollbackStatus>),
    /// Deploy `to_revision` (its `digest` is the caller's to fill in).
    Active(RollbackStatus),
    /// A new token, but nothing succeeded before that differs from the spec.
    Unavailable(Failure),
}

/// A rollback lasts from its token until the spec asks for something else
/// (a new revision or settings, `crossdeploy.io/redeploy`); removing the
/// annotation does not end it (that would redeploy what was rolled back).
pub fn rollback(r: &RollbackInput<'_>) -> Rollback {
    let continuing = |p: &RollbackStatus| {
        if p.active && p.from_digest == r.spec_digest {
            Rollback::Active(p.clone())
        } else {
            Rollback::Spec(Some(RollbackStatus {
                active: false,
                ..p.clone()
            }))
        }
    };
    match (r.token, r.previous) {
        (Some(token), Some(p)) if p.token == token => continuing(p),
        (Some(token), _) => match last_good(r) {
            Some(to) => Rollback::Active(RollbackStatus {
                token: token.to_string(),
                request_time: Some(r.now.clone()),
                active: true,
                from_revision: r.spec_revision.clone(),
                from_digest: r.spec_digest.to_string(),
                to_revision: to,
                digest: String::new(),
            }),
            None => Rollback::Unavailable(Failure::permanent(
                Reason::RollbackUnavailable,
                format!(
                    "crossdeploy.io/rollback={token} asks for a rollback, but no earlier revision other than {} \
                     succeeded here (status.lastSuccessfulRevision, status.history). Nothing is deployed until the \
                     annotation is removed or changed",
                    r.spec_revision.key
                ),
            )),
        },
        (None, Some(p)) => continuing(p),
        (None, None) => Rollback::Spec(None),
    }
}

/// The newest successfully deployed revision that is not the spec's.
fn last_good(r: &RollbackInput<'_>) -> Option<ResolvedRevision> {
    let from_history = r
        .history
        .iter()
        .filter(|h| h.status == DeploymentStatus::Succeeded)
        .filter_map(|h| {
            Some(ResolvedRevision {
                bucket: h.revision_bucket.clone()?,
                key: h.revision_key.clone(),
                version_id: h.revision_version_id.clone(),
                e_tag: h.revision_e_tag.clone(),
                size: None,
                last_modified: None,
                bundle_type: h.revision_bundle_type.clone()?,
            })
        });
    r.last_successful
        .cloned()
        .into_iter()
        .chain(from_history)
        .find(|rev| !same_revision(rev, r.spec_revision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DeploymentRecord;
    use crate::status::conditions;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn rev(key: &str, version: &str) -> ResolvedRevision {
        ResolvedRevision {
            bucket: "revs".into(),
            key: key.into(),
            version_id: Some(version.into()),
            e_tag: Some(format!("\"etag-{version}\"")),
            bundle_type: "zip".into(),
            ..Default::default()
        }
    }

    /// A source status: its deployment (id, status, revision, completed at).
    fn source(
        health: Health,
        reason: Reason,
        deployment: Option<(&str, &str, ResolvedRevision, i64)>,
    ) -> CrossAccountDeploymentStatus {
        CrossAccountDeploymentStatus {
            observed_generation: Some(2),
            conditions: conditions(&[], health, reason, "m", Some(2), &at(0)),
            current_deployment: deployment.map(|(id, status, revision, done)| DeploymentRecord {
                id: id.into(),
                status: Some(status.into()),
                revision: Some(revision),
                complete_time: Some(at(done)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn promoted(from: &str, id: &str, revision: ResolvedRevision, done: i64) -> PromotionStatus {
        PromotionStatus {
            from: from.into(),
            deployment_id: Some(id.into()),
            succeeded_time: Some(at(done)),
            revision: Some(revision),
            ..Default::default()
        }
    }

    #[derive(Debug, PartialEq)]
    enum Verdict {
        Deploy(&'static str),
        Wait,
        Refused(Reason),
    }

    struct Case {
        name: &'static str,
        source: Option<CrossAccountDeploymentStatus>,
        /// The source's metadata.generation.
        generation: i64,
        previous: Option<PromotionStatus>,
        soak: u64,
        now: i64,
        chain: &'static [&'static str],
        verdict: Verdict,
        /// When to look again (seconds), if at a set time.
        recheck: Option<u64>,
    }

    #[test]
    fn promotion_table() {
        let v1 = rev("app/v1.zip", "1");
        let v2 = rev("app/v2.zip", "2");
        let ok_v2 = source(
            Health::Ready,
            Reason::Succeeded,
            Some(("d-S2", "Succeeded", v2.clone(), 1000)),
        );
        let running_v2 = source(
            Health::Progressing,
            Reason::DeploymentInProgress,
            Some(("d-S2", "InProgress", v2.clone(), 1000)),
        );
        let failed_v2 = source(
            Health::Stalled,
            Reason::DeploymentFailed,
            Some(("d-S2", "Failed", v2.clone(), 1000)),
        );
        let was_v1 = promoted("staging", "d-S1", v1.clone(), 500);
        let other_source = promoted("qa", "d-Q1", v1.clone(), 500);
        let chain: &[&str] = &["prod", "staging"];
        let cases = [
            Case {
                name: "succeeded and soaked: promoted",
                source: Some(ok_v2.clone()),
                generation: 2,
                previous: None,
                soak: 600,
                now: 1600,
                chain,
                verdict: Verdict::Deploy("app/v2.zip"),
                recheck: None,
            },
            Case {
                name: "first promotion still soaking: wait until the soak ends",
                source: Some(ok_v2.clone()),
                generation: 2,
                previous: None,
                soak: 600,
                now: 1200,
                chain,
                verdict: Verdict::Wait,
                recheck: Some(400),
            },
            Case {
                name: "a newer revision soaking: keep the promoted one",
                source: Some(ok_v2.clone()),
                generation: 2,
                previous: Some(was_v1.clone()),
                soak: 600,
                now: 1200,
                chain,
                verdict: Verdict::Deploy("app/v1.zip"),
                recheck: Some(400),
            },
            Case {
                name: "a running source is never promoted",
                source: Some(running_v2.clone()),
                generation: 2,
                previous: Some(was_v1.clone()),
                soak: 0,
                now: 5000,
                chain,
                verdict: Verdict::Deploy("app/v1.zip"),
                recheck: None,
            },
            Case {
                name: "a failed source is never promoted",
                source: Some(failed_v2.clone()),
                generation: 2,
                previous: Some(was_v1.clone()),
                soak: 0,
                now: 5000,
                chain,
                verdict: Verdict::Deploy("app/v1.zip"),
                recheck: None,
            },
            Case {
                name: "nothing promoted and a running source: wait",
                source: Some(running_v2.clone()),
                generation: 2,
                previous: None,
                soak: 0,
                now: 5000,
                chain,
                verdict: Verdict::Wait,
                recheck: Some(300),
            },
            Case {
                name: "a source whose new spec is not observed yet is not promoted",
                source: Some(ok_v2.clone()),
                generation: 3,
                previous: Some(was_v1.clone()),
                soak: 0,
                now: 5000,
                chain,
                verdict: Verdict::Deploy("app/v1.zip"),
                recheck: None,
            },
            Case {
                name: "what was promoted from another source does not count",
                source: Some(running_v2.clone()),
                generation: 2,
                previous: Some(other_source),
                soak: 0,
                now: 5000,
                chain,
                verdict: Verdict::Wait,
                recheck: Some(300),
            },
            Case {
                name: "missing source",
                source: None,
                generation: 0,
                previous: Some(was_v1.clone()),
                soak: 0,
                now: 5000,
                chain,
                verdict: Verdict::Refused(Reason::PromotionSourceNotFound),
                recheck: None,
            },
            Case {
                name: "a cycle through this object",
                source: Some(ok_v2.clone()),
                generation: 2,
                previous: None,
                soak: 0,
                now: 5000,
                chain: &["a", "b", "a"],
                verdict: Verdict::Refused(Reason::PromotionCycle),
                recheck: None,
            },
            Case {
                name: "a cycle further up the chain",
                source: Some(ok_v2.clone()),
                generation: 2,
                previous: None,
                soak: 0,
                now: 5000,
                chain: &["prod", "staging", "dev", "staging"],
                verdict: Verdict::Refused(Reason::PromotionCycle),
                recheck: None,
            },
        ];
        for c in cases {
            let chain: Vec<String> = c.chain.iter().map(|s| s.to_string()).collect();
            let got = promotion(&PromotionInput {
                from: "staging",
                source: c.source.as_ref().map(|status| SourceView {
                    generation: Some(c.generation),
                    status: Some(status),
                }),
                chain: &chain,
                soak: Duration::from_secs(c.soak),
                previous: c.previous.as_ref(),
                now: Timestamp::from_second(c.now).unwrap(),
            });
            let (verdict, recheck) = match &got {
                Promoted::Deploy { revision, recheck, .. } => (
                    Verdict::Deploy(if revision.key == "app/v1.zip" {
                        "app/v1.zip"
                    } else {
                        "app/v2.zip"
                    }),
                    *recheck,
                ),
                Promoted::Wait { report, .. } => (Verdict::Wait, report.requeue),
                Promoted::Refused(f) => (Verdict::Refused(f.reason), None),
            };
            assert_eq!(verdict, c.verdict, "{}: {got:?}", c.name);
            assert_eq!(recheck, c.recheck.map(Duration::from_secs), "{}", c.name);
        }
    }

    #[test]
    fn a_promotion_names_its_source_deployment_and_soak() {
        let v2 = rev("app/v2.zip", "2");
        let ok = source(
            Health::Ready,
            Reason::Succeeded,
            Some(("d-S2", "Succeeded", v2.clone(), 1000)),
        );
        let input = |now, previous| PromotionInput {
            from: "staging",
            source: Some(SourceView {
                generation: Some(2),
                status: Some(&ok),
            }),
            chain: &[],
            soak: Duration::from_secs(600),
            previous,
            now: Timestamp::from_second(now).unwrap(),
        };
        let Promoted::Wait { report, status } = promotion(&input(1100, None)) else {
            panic!("soaking")
        };
        assert_eq!(report.reason, Reason::WaitingForPromotion);
        assert!(
            report.message.contains("d-S2") && report.message.contains("soakTime"),
            "{}",
            report.message
        );
        assert_eq!(status.soaking_deployment_id.as_deref(), Some("d-S2"));
        assert_eq!(status.soak_until, Some(at(1600)));
        let Promoted::Deploy {
            revision, status, note, ..
        } = promotion(&input(1600, Some(&status)))
        else {
            panic!("soaked")
        };
        assert_eq!(
            revision, v2,
            "exactly the revision that succeeded there, version and ETag included"
        );
        assert_eq!(status.deployment_id.as_deref(), Some("d-S2"));
        assert_eq!(status.soak_until, None);
        assert!(note.contains("promoted from staging's deployment d-S2"), "{note}");
        // Promoted once, it stays promoted while the source is unchanged.
        let Promoted::Deploy { status: again, .. } = promotion(&input(1700, Some(&status))) else {
            panic!("kept")
        };
        assert_eq!(again, status);
    }

    struct RollbackCase {
        name: &'static str,
        token: Option<&'static str>,
        previous: Option<RollbackStatus>,
        spec_digest: &'static str,
        spec_key: &'static str,
        last_successful: Option<&'static str>,
        /// Keys of succeeded history entries, newest first.
        history: &'static [&'static str],
        /// The key deployed, "spec", or the reason refused.
        want: Result<&'static str, Reason>,
        /// The record kept (active?), if any.
        record: Option<bool>,
    }

    #[test]
    fn rollback_table() {
        let active = RollbackStatus {
            token: "t1".into(),
            active: true,
            from_revision: rev("app/v2.zip", "2"),
            from_digest: "spec-v2".into(),
            to_revision: rev("app/v1.zip", "1"),
            digest: "rb".into(),
            ..Default::default()
        };
        let cases = [
            RollbackCase {
                name: "no token, nothing recorded",
                token: None,
                previous: None,
                spec_digest: "spec-v2",
                spec_key: "app/v2.zip",
                last_successful: Some("app/v1.zip"),
                history: &[],
                want: Ok("spec"),
                record: None,
            },
            RollbackCase {
                name: "a failed v2: back to the last successful v1",
                token: Some("t1"),
                previous: None,
                spec_digest: "spec-v2",
                spec_key: "app/v2.zip",
                last_successful: Some("app/v1.zip"),
                history: &["app/v1.zip"],
                want: Ok("app/v1.zip"),
                record: Some(true),
            },
            RollbackCase {
                name: "v2 succeeded but is bad: back to v1, the newest good one that is not v2",
                token: Some("t1"),
                previous: None,
                spec_digest: "spec-v2",
                spec_key: "app/v2.zip",
                last_successful: Some("app/v2.zip"),
                history: &["app/v2.zip", "app/v1.zip"],
                want: Ok("app/v1.zip"),
                record: Some(true),
            },
            RollbackCase {
                name: "the same token again: still rolled back, not again",
                token: Some("t1"),
                previous: Some(active.clone()),
                spec_digest: "spec-v2",
                spec_key: "app/v2.zip",
                last_successful: Some("app/v1.zip"),
                history: &["app/v1.zip"],
                want: Ok("app/v1.zip"),
                record: Some(true),
            },
            RollbackCase {
                name: "the annotation removed: the rollback stays",
                token: None,
                previous: Some(active.clone()),
                spec_digest: "spec-v2",
                spec_key: "app/v2.zip",
                last_successful: Some("app/v1.zip"),
                history: &[],
                want: Ok("app/v1.zip"),
                record: Some(true),
            },
            RollbackCase {
                name: "the spec changed: the rollback ends and its token is remembered",
                token: Some("t1"),
                previous: Some(active.clone()),
                spec_digest: "spec-v3",
                spec_key: "app/v3.zip",
                last_successful: Some("app/v1.zip"),
                history: &[],
                want: Ok("spec"),
                record: Some(false),
            },
            RollbackCase {
                name: "the spec changed back: an ended rollback stays ended",
                token: Some("t1"),
                previous: Some(RollbackStatus {
                    active: false,
                    ..active.clone()
                }),
                spec_digest: "spec-v2",
                spec_key: "app/v2.zip",
                last_successful: Some("app/v1.zip"),
                history: &[],
                want: Ok("spec"),
                record: Some(false),
            },
            RollbackCase {
                name: "a new token rolls back once more",
                token: Some("t2"),
                previous: Some(active.clone()),
                spec_digest: "spec-v2",
                spec_key: "app/v2.zip",
                last_successful: Some("app/v1.zip"),
                history: &[],
                want: Ok("app/v1.zip"),
                record: Some(true),
            },
            RollbackCase {
                name: "nothing to roll back to",
                token: Some("t1"),
                previous: None,
                spec_digest: "spec-v1",
                spec_key: "app/v1.zip",
                last_successful: Some("app/v1.zip"),
                history: &["app/v1.zip"],
                want: Err(Reason::RollbackUnavailable),
                record: None,
            },
        ];
        for c in cases {
            let spec_revision = rev(c.spec_key, &c.spec_key[5..6]);
            let last = c.last_successful.map(|k| rev(k, &k[5..6]));
            let history: Vec<HistoryEntry> = c
                .history
                .iter()
                .map(|k| HistoryEntry {
                    status: DeploymentStatus::Succeeded,
                    revision_key: k.to_string(),
                    revision_version_id: Some(k[5..6].to_string()),
                    revision_bucket: Some("revs".into()),
                    revision_e_tag: Some(format!("\"etag-{}\"", &k[5..6])),
                    revision_bundle_type: Some("zip".into()),
                    ..Default::default()
                })
                .collect();
            let got = rollback(&RollbackInput {
                token: c.token,
                previous: c.previous.as_ref(),
                spec_digest: c.spec_digest,
                spec_revision: &spec_revision,
                last_successful: last.as_ref(),
                history: &history,
                now: at(7),
            });
            let (want, record) = match &got {
                Rollback::Spec(kept) => (Ok("spec"), kept.as_ref().map(|r| r.active)),
                Rollback::Active(r) => (
                    Ok(if r.to_revision.key == "app/v1.zip" {
                        "app/v1.zip"
                    } else {
                        "other"
                    }),
                    Some(r.active),
                ),
                Rollback::Unavailable(f) => (Err(f.reason), None),
            };
            assert_eq!((want, record), (c.want, c.record), "{}: {got:?}", c.name);
            if let Rollback::Active(r) = &got {
                assert_eq!(r.token, c.token.unwrap_or("t1"), "{}", c.name);
                assert_eq!(r.from_revision.key, "app/v2.zip", "{}", c.name);
            }
        }
    }
}
