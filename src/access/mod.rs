//! Which namespaces may use which TargetAccount. crossdeploy acts with an
//! identity that can assume roles in other accounts on behalf of whoever can
//! create objects in a namespace, so every use is checked here first and
//! nothing is allowed unless a platform admin said so.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use wildmatch::WildMatchPattern;

pub mod target;

use crate::api::{AutoRollback, AutoRollbackEvent, CrossAccountDeploymentSpec, TargetAccountSpec};
use crate::status::Failure;

/// Whether something may be used; a refusal is not an error but the
/// failure to report in status.
#[must_use]
#[derive(Debug)]
pub enum Admission<T> {
    Admitted(T),
    Refused(Failure),
}

/// Why a use of a TargetAccount is refused, with what was refused. Each
/// variant is one rule of the TargetAccount, named in the explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `namespaceSelector` does not select the namespace.
    Namespace,
    /// `allowedApplications` does not list the application.
    Application(String),
    /// `allowedDeploymentGroups` does not list the group.
    DeploymentGroup(String),
    /// `allowedDeploymentConfigs` does not list the configuration chosen.
    DeploymentConfig { config: String, allowed: Vec<String> },
    /// `requireAutoRollback` is set and the deployment does not roll back
    /// on failure; `found` says what it has instead.
    AutoRollback { found: &'static str },
    /// The region chosen is neither the TargetAccount's nor in `allowedRegions`.
    Region {
        region: String,
        default: String,
        allowed: Vec<String>,
    },
    /// `allowedRevisionBuckets` does not cover the S3 location.
    Revision { location: String, allowed: Vec<String> },
}

impl Refusal {
    /// What was refused, naming the rule, and how to fix it (for the
    /// condition message).
    pub fn explain(&self, namespace: &str) -> String {
        match self {
            Refusal::Namespace => {
                format!("namespace {namespace:?} is not selected by its namespaceSelector; ask a platform admin")
            }
            Refusal::Application(application) => {
                format!("application {application:?} is not in allowedApplications; ask a platform admin")
            }
            Refusal::DeploymentGroup(group) => {
                format!("deployment group {group:?} is not in allowedDeploymentGroups; ask a platform admin")
            }
            Refusal::DeploymentConfig { config, allowed } => format!(
                "deploymentConfigName {config:?} is not in allowedDeploymentConfigs ({}); choose an allowed \
                 configuration, omit deploymentConfigName to use the deployment group's own, or ask a platform admin",
                listed(allowed)
            ),
            Refusal::AutoRollback { found } => format!(
                "requireAutoRollback is set, and spec.autoRollback {found}; set autoRollback to \
                 {{enabled: true, events: [DEPLOYMENT_FAILURE]}}"
            ),
            Refusal::Region {
                region,
                default,
                allowed,
            } => format!(
                "region {region:?} is neither the TargetAccount's region {default:?} nor in allowedRegions ({}); \
                 choose an allowed region, omit spec.region to use {default:?}, or ask a platform admin",
                listed(allowed)
            ),
            Refusal::Revision { location, allowed } => format!(
                "{location} is not in allowedRevisionBuckets ({}); use a revision there, or ask a platform admin \
                 to allow it",
                listed(allowed)
            ),
        }
    }
}

fn listed(patterns: &[String]) -> String {
    if patterns.is_empty() {
        "empty".to_string()
    } else {
        patterns.join(", ")
    }
}

/// Does `selector` match `labels`? An empty selector matches nothing: unlike
/// Kubernetes' usual "empty selects all", deny is the safe default here.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector.match_labels.as_ref().filter(|m| !m.is_empty());
    let exprs = selector.match_expressions.as_deref().unwrap_or_default();
    if match_labels.is_none() && exprs.is_empty() {
        return false;
    }
    let labels_ok = match_labels.is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let exprs_ok = exprs.iter().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            // An operator we do not know must not widen access.
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// `*` matches any run of characters; everything else, `?` included, is
/// literal: the API documents `*` only, and an allow-list must not widen.
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    // wildmatch always has a one-character wildcard: make it NUL, which no
    // CodeDeploy name holds, and let a pattern with a NUL match nothing.
    !pattern.contains('\0') && WildMatchPattern::<'*', '\0'>::new(pattern).matches(value)
}

/// An allow-list that is empty allows everything: applications and groups,
/// which a deployment must always name.
fn allowed_or_unrestricted(patterns: &[String], value: &str) -> bool {
    patterns.is_empty() || listed_in(patterns, value)
}

fn listed_in(patterns: &[String], value: &str) -> bool {
    patterns.iter().any(|p| glob_matches(p, value))
}

/// An S3 location a tenant names: one object, or a RevisionSource prefix.
#[derive(Clone, Copy, Debug)]
pub enum S3Location<'a> {
    Object { bucket: &'a str, key: &'a str },
    Prefix { bucket: &'a str, prefix: &'a str },
}

impl S3Location<'_> {
    fn bucket(&self) -> &str {
        match self {
            S3Location::Object { bucket, .. } | S3Location::Prefix { bucket, .. } => bucket,
        }
    }

    /// Does the key glob allow this key, or every key under this prefix?
    /// For a prefix only a glob that is a literal prefix plus one trailing
    /// `*` can promise that.
    fn covered_by(&self, glob: &str) -> bool {
        match self {
            S3Location::Object { key, .. } => glob_matches(glob, key),
            S3Location::Prefix { prefix, .. } => glob
                .strip_suffix('*')
                .is_some_and(|literal| !literal.contains('*') && prefix.starts_with(literal)),
        }
    }

    fn describe(&self) -> String {
        match self {
            S3Location::Object { bucket, key } => format!("s3://{bucket}/{key}"),
            S3Location::Prefix { bucket, prefix } => format!("s3://{bucket}/{prefix}*"),
        }
    }
}

/// May a tenant of this account have `location` read (by any identity) and
/// deployed? `allowedRevisionBuckets` must cover it; empty covers nothing.
pub fn check_revision(spec: &TargetAccountSpec, location: S3Location<'_>) -> Result<(), Refusal> {
    let allowed = spec.allowed_revision_buckets.iter().any(|rule| {
        rule.bucket == location.bucket() && (rule.keys.is_empty() || rule.keys.iter().any(|g| location.covered_by(g)))
    });
    if allowed {
        return Ok(());
    }
    Err(Refusal::Revision {
        location: location.describe(),
        allowed: spec
            .allowed_revision_buckets
            .iter()
            .map(|r| match r.keys.as_slice() {
                [] => r.bucket.clone(),
                keys => format!("{} ({})", r.bucket, keys.join(", ")),
            })
            .collect(),
    })
}

/// May objects in a namespace with `ns_labels` use this account at all? The
/// other rules (applications, groups, tenant choices) do not apply to
/// reading revisions.
pub fn check_namespace(spec: &TargetAccountSpec, ns_labels: &BTreeMap<String, String>) -> Result<(), Refusal> {
    if selector_matches(&spec.namespace_selector, ns_labels) {
        Ok(())
    } else {
        Err(Refusal::Namespace)
    }
}

/// May a deployment in a namespace with `ns_labels` deploy through this
/// account as `deployment` says? Checked in this order: namespace,
/// application, group, then the tenant's choices (deployment configuration,
/// automatic rollback, region).
pub fn check(
    spec: &TargetAccountSpec,
    ns_labels: &BTreeMap<String, String>,
    deployment: &CrossAccountDeploymentSpec,
) -> Result<(), Refusal> {
    check_namespace(spec, ns_labels)?;
    if !allowed_or_unrestricted(&spec.allowed_applications, &deployment.application_name) {
        return Err(Refusal::Application(deployment.application_name.clone()));
    }
    if !allowed_or_unrestricted(&spec.allowed_deployment_groups, &deployment.deployment_group_name) {
        return Err(Refusal::DeploymentGroup(deployment.deployment_group_name.clone()));
    }
    check_choices(spec, deployment)
}

/// The limits on what a tenant chooses. Leaving a choice out always passes:
/// the deployment then gets what the account's owner set (the group's own
/// configuration, the TargetAccount's region), except for rollback, which
/// `requireAutoRollback` wants stated in the deployment itself.
fn check_choices(spec: &TargetAccountSpec, deployment: &CrossAccountDeploymentSpec) -> Result<(), Refusal> {
    if let Some(config) = &deployment.deployment_config_name
        && !listed_in(&spec.allowed_deployment_configs, config)
    {
        return Err(Refusal::DeploymentConfig {
            config: config.clone(),
            allowed: spec.allowed_deployment_configs.clone(),
        });
    }
    if spec.require_auto_rollback {
        rolls_back_on_failure(deployment.auto_rollback.as_ref()).map_err(|found| Refusal::AutoRollback { found })?;
    }
    if let Some(region) = &deployment.region
        && *region != spec.region
        && !listed_in(&spec.allowed_regions, region)
    {
        return Err(Refusal::Region {
            region: region.clone(),
            default: spec.region.clone(),
            allowed: spec.allowed_regions.clone(),
        });
    }
    Ok(())
}

/// `requireAutoRollback`: enabled, with DEPLOYMENT_FAILURE among the events.
fn rolls_back_on_failure(rollback: Option<&AutoRollback>) -> Result<(), &'static str> {
    match rollback {
        None => Err("is not set (the deployment group's own setting cannot be seen before deploying)"),
        Some(r) if !r.enabled => Err("has enabled: false"),
        Some(r) if !r.events.contains(&AutoRollbackEvent::DeploymentFailure) => {
            Err("does not list the event DEPLOYMENT_FAILURE")
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn by_labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(labels(pairs)),
            match_expressions: None,
        }
    }

    #[test]
    fn empty_selector_denies() {
        assert!(!selector_matches(&LabelSelector::default(), &labels(&[("a", "b")])));
        assert!(!selector_matches(&by_labels(&[]), &labels(&[])));
    }

    #[test]
    fn match_labels_and_expressions() {
        let team = labels(&[("team", "a"), ("env", "prod")]);
        assert!(selector_matches(&by_labels(&[("team", "a")]), &team));
        assert!(!selector_matches(&by_labels(&[("team", "b")]), &team));
        let expr = |op: &str, values: &[&str]| LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: op.into(),
                values: Some(values.iter().map(|s| s.to_string()).collect()),
            }]),
        };
        assert!(selector_matches(&expr("In", &["prod", "staging"]), &team));
        assert!(!selector_matches(&expr("NotIn", &["prod"]), &team));
        assert!(selector_matches(&expr("Exists", &[]), &team));
        assert!(!selector_matches(&expr("DoesNotExist", &[]), &team));
        assert!(!selector_matches(&expr("Bogus", &[]), &team));
    }

    fn target(extra: serde_json::Value) -> TargetAccountSpec {
        let mut spec = serde_json::json!({
            "roleArn": "arn:aws:iam::222222222222:role/Deployer",
            "region": "us-east-1",
            "namespaceSelector": {"matchLabels": {"team": "a"}},
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        serde_json::from_value(spec).unwrap()
    }

    fn deployment(extra: serde_json::Value) -> CrossAccountDeploymentSpec {
        let mut spec = serde_json::json!({
            "targetAccountRef": {"name": "prod"},
            "applicationName": "webapp",
            "deploymentGroupName": "webapp-prod",
            "revision": {"s3": {"bucket": "revisions", "key": "webapp.zip"}},
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        serde_json::from_value(spec).unwrap()
    }

    /// (TargetAccount limits, deployment choices, expected outcome, words
    /// the explanation must contain).
    #[test]
    fn tenant_choices_table() {
        use serde_json::json;
        let rollback = json!({"autoRollback": {"enabled": true, "events": ["DEPLOYMENT_FAILURE"]}});
        let cases: Vec<(serde_json::Value, serde_json::Value, bool, &str)> = vec![
            // Deployment configurations: an empty list allows only the group's own.
            (json!({}), json!({}), true, ""),
            (
                json!({}),
                json!({"deploymentConfigName": "CodeDeployDefault.AllAtOnce"}),
                false,
                "allowedDeploymentConfigs (empty)",
            ),
            (
                json!({"allowedDeploymentConfigs": ["CodeDeployDefault.OneAtATime"]}),
                json!({}),
                true,
                "",
            ),
            (
                json!({"allowedDeploymentConfigs": ["CodeDeployDefault.OneAtATime"]}),
                json!({"deploymentConfigName": "CodeDeployDefault.OneAtATime"}),
                true,
                "",
            ),
            (
                json!({"allowedDeploymentConfigs": ["CodeDeployDefault.OneAtATime"]}),
                json!({"deploymentConfigName": "CodeDeployDefault.AllAtOnce"}),
                false,
                "\"CodeDeployDefault.AllAtOnce\" is not in allowedDeploymentConfigs (CodeDeployDefault.OneAtATime)",
            ),
            (
                json!({"allowedDeploymentConfigs": ["Custom.*"]}),
                json!({"deploymentConfigName": "Custom.Canary10"}),
                true,
                "",
            ),
            (
                json!({"allowedDeploymentConfigs": ["*"]}),
                json!({"deploymentConfigName": "CodeDeployDefault.AllAtOnce"}),
                true,
                "",
            ),
            // Rollback: required means stated, enabled, on failure.
            (
                json!({"requireAutoRollback": true}),
                json!({}),
                false,
                "requireAutoRollback is set, and spec.autoRollback is not set",
            ),
            (
                json!({"requireAutoRollback": true}),
                json!({"autoRollback": {"enabled": false, "events": ["DEPLOYMENT_FAILURE"]}}),
                false,
                "has enabled: false",
            ),
            (
                json!({"requireAutoRollback": true}),
                json!({"autoRollback": {"enabled": true}}),
                false,
                "does not list the event DEPLOYMENT_FAILURE",
            ),
            (
                json!({"requireAutoRollback": true}),
                json!({"autoRollback": {"enabled": true, "events": ["DEPLOYMENT_STOP_ON_ALARM"]}}),
                false,
                "DEPLOYMENT_FAILURE",
            ),
            (json!({"requireAutoRollback": true}), rollback.clone(), true, ""),
            (
                json!({"requireAutoRollback": true}),
                json!({"autoRollback": {"enabled": true, "events": ["DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_FAILURE"]}}),
                true,
                "",
            ),
            (json!({}), json!({"autoRollback": {"enabled": false}}), true, ""),
            // Regions: the TargetAccount's own always, others when listed.
            (json!({}), json!({"region": "us-east-1"}), true, ""),
            (
                json!({}),
                json!({"region": "eu-west-1"}),
                false,
                "region \"eu-west-1\" is neither the TargetAccount's region \"us-east-1\" nor in allowedRegions (empty)",
            ),
            (
                json!({"allowedRegions": ["eu-*"]}),
                json!({"region": "eu-west-1"}),
                true,
                "",
            ),
            (
                json!({"allowedRegions": ["eu-*"]}),
                json!({"region": "ap-south-1"}),
                false,
                "allowedRegions (eu-*)",
            ),
            (json!({"allowedRegions": ["eu-west-1"]}), json!({}), true, ""),
        ];
        for (limits, choices, admitted, words) in cases {
            let result = check(
                &target(limits.clone()),
                &labels(&[("team", "a")]),
                &deployment(choices.clone()),
            );
            assert_eq!(result.is_ok(), admitted, "{limits} / {choices}: {result:?}");
            if let Err(refusal) = result {
                let text = refusal.explain("ns");
                assert!(text.contains(words), "{limits} / {choices}: {text}");
            }
        }
    }

    #[test]
    fn tenancy_is_checked_before_choices() {
        let spec = target(serde_json::json!({"allowedApplications": ["api"], "requireAutoRollback": true}));
        let d = deployment(serde_json::json!({}));
        assert_eq!(check(&spec, &labels(&[("team", "b")]), &d), Err(Refusal::Namespace));
        assert_eq!(
            check(&spec, &labels(&[("team", "a")]), &d),
            Err(Refusal::Application("webapp".into()))
        );
        assert!(Refusal::Namespace.explain("ns").contains("namespaceSelector"));
    }

    #[test]
    fn globs() {
        assert!(glob_matches("web*", "webapp"));
        assert!(glob_matches("*-prod", "webapp-prod"));
        assert!(glob_matches("w*p*d", "webapp-prod"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("web*", "api"));
        assert!(!glob_matches("a*a", "a"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
        assert!(glob_matches("web?", "web?"));
        assert!(!glob_matches("web?", "webx"));
        assert!(glob_matches("[ab]*", "[ab]-prod"));
        assert!(!glob_matches("[ab]*", "a-prod"));
        assert!(!glob_matches("a\0", "a\0"));
    }

    struct RevisionCase {
        location: S3Location<'static>,
        allowed: bool,
    }

    #[test]
    fn revisions_are_allowed_only_where_listed() {
        let spec: TargetAccountSpec = serde_json::from_value(serde_json::json!({
            "roleArn": "arn:aws:iam::222222222222:role/Deployer",
            "region": "us-east-1",
            "namespaceSelector": {"matchLabels": {"team": "a"}},
            "allowedRevisionBuckets": [
                {"bucket": "shared", "keys": ["team-a/*", "common/app-*.zip"]},
                {"bucket": "team-a-only"},
            ],
        }))
        .unwrap();
        let cases = [
            RevisionCase {
                location: S3Location::Object {
                    bucket: "shared",
                    key: "team-a/app.zip",
                },
                allowed: true,
            },
            RevisionCase {
                location: S3Location::Object {
                    bucket: "shared",
                    key: "team-b/app.zip",
                },
                allowed: false,
            },
            RevisionCase {
                location: S3Location::Object {
                    bucket: "shared",
                    key: "common/app-1.zip",
                },
                allowed: true,
            },
            RevisionCase {
                location: S3Location::Object {
                    bucket: "team-a-only",
                    key: "anything/at/all.zip",
                },
                allowed: true,
            },
            RevisionCase {
                location: S3Location::Object {
                    bucket: "other",
                    key: "team-a/app.zip",
                },
                allowed: false,
            },
            RevisionCase {
                location: S3Location::Prefix {
                    bucket: "shared",
                    prefix: "team-a/releases/",
                },
                allowed: true,
            },
            // "team-a" also covers "team-ab/...": not within team-a/*.
            RevisionCase {
                location: S3Location::Prefix {
                    bucket: "shared",
                    prefix: "team-a",
                },
                allowed: false,
            },
            // A glob that is not a literal prefix cannot vouch for a prefix.
            RevisionCase {
                location: S3Location::Prefix {
                    bucket: "shared",
                    prefix: "common/",
                },
                allowed: false,
            },
            RevisionCase {
                location: S3Location::Prefix {
                    bucket: "team-a-only",
                    prefix: "",
                },
                allowed: true,
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            assert_eq!(
                check_revision(&spec, c.location).is_ok(),
                c.allowed,
                "case {i}: {:?}",
                c.location
            );
        }
        let refusal = check_revision(
            &spec,
            S3Location::Object {
                bucket: "shared",
                key: "team-b/x.zip",
            },
        )
        .unwrap_err();
        let why = refusal.explain("ns");
        assert!(
            why.contains("s3://shared/team-b/x.zip") && why.contains("allowedRevisionBuckets"),
            "{why}"
        );
        let mut empty = spec.clone();
        empty.allowed_revision_buckets.clear();
        assert!(
            check_revision(
                &empty,
                S3Location::Object {
                    bucket: "shared",
                    key: "team-a/app.zip"
                }
            )
            .is_err(),
            "an empty list allows no revision"
        );
    }
}
