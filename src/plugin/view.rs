//! What the plugin reads from a CrossAccountDeployment. Objects are read as
//! raw JSON besides the typed view, so that fields this version does not
//! know yet (written by a newer operator) can still be shown: the two
//! lookups that depend on such fields are small functions below, easy to
//! adjust.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use serde_json::Value;

use crate::api::{CrossAccountDeployment, CrossAccountDeploymentStatus, DeploymentOverview, HasConditions};

/// One object, typed and raw.
#[derive(Clone, Debug)]
pub struct Obj {
    pub typed: CrossAccountDeployment,
    pub raw: Value,
}

impl Obj {
    pub fn from_raw(raw: Value) -> Result<Self, serde_json::Error> {
        Ok(Self {
            typed: serde_json::from_value(raw.clone())?,
            raw,
        })
    }

    pub fn name(&self) -> String {
        self.typed.name_any()
    }

    pub fn namespace(&self) -> String {
        self.typed.namespace().unwrap_or_default()
    }

    pub fn status(&self) -> CrossAccountDeploymentStatus {
        self.typed.status.clone().unwrap_or_default()
    }

    /// The revision: as resolved in status, else as the spec names it.
    pub fn revision(&self) -> String {
        let status = self.status();
        if let Some(r) = status.revision {
            return r.key;
        }
        let Some(spec) = &self.typed.spec.revision else {
            return self
                .typed
                .spec
                .promotion
                .as_ref()
                .map(|p| format!("(promoted from {})", p.from.name))
                .unwrap_or_default();
        };
        spec.s3
            .as_ref()
            .map(|s| s.key.clone())
            .or_else(|| spec.source_ref.as_ref().map(|r| format!("(source {})", r.name)))
            .unwrap_or_default()
    }
}

/// Where an object stands, from its kstatus conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum State {
    /// The operator has not reconciled this generation yet.
    NotObserved,
    Ready,
    Reconciling,
    Stalled,
    /// None of the three is True: `spec.suspend` before a deployment.
    Suspended,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::NotObserved => "NotObserved",
            State::Ready => "Ready",
            State::Reconciling => "Reconciling",
            State::Stalled => "Stalled",
            State::Suspended => "Suspended",
        }
    }
}

/// The state and the condition that says so.
pub fn state(obj: &Obj) -> (State, Option<Condition>) {
    let status = obj.status();
    let generation = obj.typed.metadata.generation;
    let observed = status.observed_generation;
    if observed.is_none_or(|o| o < 0 || generation.is_some_and(|g| o < g)) {
        return (State::NotObserved, None);
    }
    for (type_, s) in [
        ("Stalled", State::Stalled),
        ("Ready", State::Ready),
        ("Reconciling", State::Reconciling),
    ] {
        if status.is_condition_true(type_) {
            return (s, status.condition(type_).cloned());
        }
    }
    (State::Suspended, status.condition("Ready").cloned())
}

/// Instances: (succeeded, failed, total) of the current deployment.
pub fn instances(overview: Option<&DeploymentOverview>) -> Option<(i64, i64, i64)> {
    let o = overview?;
    let total = o.pending + o.in_progress + o.succeeded + o.failed + o.skipped + o.ready;
    (total > 0).then_some((o.succeeded, o.failed, total))
}

/// The digest `approve` writes into `crossdeploy.io/approve`: the one status
/// shows as waiting for approval (`status.approval.pendingDigest`), else the
/// desired digest. One function, so that a renamed status field is a
/// one-line change.
pub fn digest_to_approve(raw: &Value) -> Option<String> {
    let status = &raw["status"];
    [&status["approval"]["pendingDigest"], &status["desiredDigest"]]
        .into_iter()
        .find_map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string))
}

/// Per-instance diagnostics of a failed deployment, as status reports them
/// (the first of the candidate fields that holds a list). One function, so
/// that the field name is a one-line change.
pub fn instance_diagnostics(raw: &Value) -> Vec<Value> {
    let status = &raw["status"];
    let current = &status["currentDeployment"];
    [
        &current["failedInstances"],
        &current["instances"],
        &current["diagnostics"],
        &status["diagnostics"],
        &status["failedInstances"],
    ]
    .into_iter()
    .find_map(|v| v.as_array().filter(|a| !a.is_empty()).cloned())
    .unwrap_or_default()
}

/// One instance's diagnostics on one line, the telling fields first.
pub fn describe_instance(v: &Value) -> String {
    const ORDER: [&str; 9] = [
        "targetId",
        "instanceId",
        "status",
        "lifecycleEvent",
        "failedLifecycleEvent",
        "errorCode",
        "scriptName",
        "message",
        "logTail",
    ];
    let Some(map) = v.as_object() else {
        return v.to_string();
    };
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let mut parts: Vec<String> = ORDER
        .iter()
        .filter_map(|k| map.get(*k).map(|v| (k, v)))
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    parts.extend(
        map.iter()
            .filter(|(k, _)| !ORDER.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={}", text(v))),
    );
    parts.join("  ")
}

/// A CrossAccountDeployment `web` in `ns` with `status`, for the plugin's tests.
#[cfg(test)]
pub(super) fn sample(status: Value, generation: i64) -> Obj {
    Obj::from_raw(serde_json::json!({
        "apiVersion": "crossdeploy.io/v1alpha1", "kind": "CrossAccountDeployment",
        "metadata": {"name": "web", "namespace": "ns", "generation": generation},
        "spec": {"targetAccountRef": {"name": "prod"}, "applicationName": "a", "deploymentGroupName": "g",
                 "revision": {"s3": {"bucket": "b", "key": "k.zip"}}},
        "status": status,
    }))
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(status: Value, generation: i64) -> Obj {
        sample(status, generation)
    }

    fn cond(type_: &str, status: &str, reason: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "message": "m",
               "lastTransitionTime": "2026-01-01T00:00:00Z"})
    }

    #[test]
    fn states_follow_kstatus() {
        assert_eq!(state(&obj(json!({"observedGeneration": -1}), 1)).0, State::NotObserved);
        let ready = json!({"observedGeneration": 1, "conditions": [cond("Ready", "True", "Succeeded"),
            cond("Reconciling", "False", "Succeeded"), cond("Stalled", "False", "Succeeded")]});
        assert_eq!(state(&obj(ready.clone(), 1)).0, State::Ready);
        assert_eq!(
            state(&obj(ready, 2)).0,
            State::NotObserved,
            "a newer spec is not observed yet"
        );
        let stalled = json!({"observedGeneration": 1, "conditions": [cond("Ready", "False", "DeploymentFailed"),
            cond("Stalled", "True", "DeploymentFailed")]});
        let (s, c) = state(&obj(stalled, 1));
        assert_eq!(
            (s, c.map(|c| c.reason)),
            (State::Stalled, Some("DeploymentFailed".to_string()))
        );
        let suspended = json!({"observedGeneration": 1, "conditions": [cond("Ready", "False", "Suspended")]});
        assert_eq!(state(&obj(suspended, 1)).0, State::Suspended);
    }

    #[test]
    fn the_digest_to_approve_prefers_the_pending_one() {
        let o = obj(json!({"desiredDigest": "d1", "approval": {"pendingDigest": "p1"}}), 1);
        assert_eq!(digest_to_approve(&o.raw).as_deref(), Some("p1"));
        let o = obj(json!({"desiredDigest": "d1"}), 1);
        assert_eq!(digest_to_approve(&o.raw).as_deref(), Some("d1"));
        assert_eq!(digest_to_approve(&obj(json!({}), 1).raw), None);
    }

    #[test]
    fn instance_diagnostics_are_found_and_described() {
        let o = obj(
            json!({"currentDeployment": {"id": "d-1", "digest": "x", "failedInstances": [
                {"message": "exit 1", "targetId": "i-1", "lifecycleEvent": "ApplicationStart", "extra": 3}]}}),
            1,
        );
        let found = instance_diagnostics(&o.raw);
        assert_eq!(found.len(), 1);
        assert_eq!(
            describe_instance(&found[0]),
            "targetId=i-1  lifecycleEvent=ApplicationStart  message=exit 1  extra=3"
        );
        assert!(instance_diagnostics(&obj(json!({}), 1).raw).is_empty());
    }

    #[test]
    fn instance_counts() {
        let o = DeploymentOverview {
            succeeded: 2,
            failed: 1,
            pending: 1,
            ..Default::default()
        };
        assert_eq!(instances(Some(&o)), Some((2, 1, 4)));
        assert_eq!(instances(Some(&DeploymentOverview::default())), None);
        assert_eq!(instances(None), None);
    }
}
