//! Which namespaces may use which TargetAccount. crossdeploy acts with an
//! identity that can assume roles in other accounts on behalf of whoever can
//! create objects in a namespace, so every use is checked here first and
//! nothing is allowed unless a platform admin said so.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use wildmatch::WildMatchPattern;

pub mod target;

use crate::api::TargetAccountSpec;
use crate::status::Failure;

/// Whether something may be used; a refusal is not an error but the
/// failure to report in status.
#[must_use]
#[derive(Debug)]
pub enum Admission<T> {
    Admitted(T),
    Refused(Failure),
}

/// Why a use of a TargetAccount is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Namespace,
    Application,
    DeploymentGroup,
}

impl Refusal {
    /// What was refused, for the condition message.
    pub fn explain(&self, namespace: &str, application: &str, group: &str) -> String {
        match self {
            Refusal::Namespace => format!("namespace {namespace:?} is not selected by its namespaceSelector"),
            Refusal::Application => format!("application {application:?} is not in allowedApplications"),
            Refusal::DeploymentGroup => format!("deployment group {group:?} is not in allowedDeploymentGroups"),
        }
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

fn allowed(patterns: &[String], value: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob_matches(p, value))
}

/// May objects in a namespace with `ns_labels` use this account at all? The
/// application and group allow-lists do not apply to reading revisions.
pub fn check_namespace(spec: &TargetAccountSpec, ns_labels: &BTreeMap<String, String>) -> Result<(), Refusal> {
    if selector_matches(&spec.namespace_selector, ns_labels) {
        Ok(())
    } else {
        Err(Refusal::Namespace)
    }
}

/// May a deployment in a namespace with `ns_labels` target `application`/`group`
/// through this account?
pub fn check(
    spec: &TargetAccountSpec,
    ns_labels: &BTreeMap<String, String>,
    application: &str,
    group: &str,
) -> Result<(), Refusal> {
    if !selector_matches(&spec.namespace_selector, ns_labels) {
        return Err(Refusal::Namespace);
    }
    if !allowed(&spec.allowed_applications, application) {
        return Err(Refusal::Application);
    }
    if !allowed(&spec.allowed_deployment_groups, group) {
        return Err(Refusal::DeploymentGroup);
    }
    Ok(())
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
}
