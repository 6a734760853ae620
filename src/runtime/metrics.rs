//! Prometheus metrics, served on `/metrics`.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsCallLabels {
    operation: &'static str,
    outcome: &'static str,
}

/// AWS calls are counted where they are classified (aws::Classify), far
/// from any Context, so this one family is process-wide.
static AWS_CALLS: LazyLock<Family<AwsCallLabels, Counter>> = LazyLock::new(Family::default);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

/// Requests to the Kubernetes API server, by HTTP method.
static KUBE_REQUESTS: LazyLock<Family<MethodLabel, Counter>> = LazyLock::new(Family::default);

/// Count one request to the Kubernetes API server.
pub fn kube_request(method: &str) {
    KUBE_REQUESTS
        .get_or_create(&MethodLabel {
            method: method.to_string(),
        })
        .inc();
}

/// Calls that waited for their account's rate limit (aws::gate).
static AWS_CALLS_DELAYED: LazyLock<Family<OperationLabel, Counter>> = LazyLock::new(Family::default);

/// Count one AWS call held back by its account's rate limit.
pub fn aws_call_delayed(operation: &'static str) {
    AWS_CALLS_DELAYED.get_or_create(&OperationLabel { operation }).inc();
}

/// Count one AWS call; `error` is the error class, None on success.
pub fn aws_call(operation: &'static str, error: Option<&'static str>) {
    AWS_CALLS
        .get_or_create(&AwsCallLabels {
            operation,
            outcome: error.unwrap_or("ok"),
        })
        .inc();
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    kind: &'static str,
    condition: &'static str,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: Family<KindLabel, Histogram>,
    deployments_created: Counter,
    deployments_finished: Family<StatusLabel, Counter>,
    objects: Family<ConditionLabels, Gauge>,
    /// Last condition reported per object, to move it between gauge labels.
    object_conditions: Mutex<HashMap<(&'static str, String), &'static str>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("crossdeploy");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by kind and result", reconciles.clone());
        let reconcile_duration = Family::<KindLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            reconcile_duration.clone(),
        );
        let deployments_created = Counter::default();
        registry.register(
            "deployments_created",
            "CodeDeploy deployments created",
            deployments_created.clone(),
        );
        let deployments_finished = Family::<StatusLabel, Counter>::default();
        registry.register(
            "deployments_finished",
            "CodeDeploy deployments seen finishing, by final status",
            deployments_finished.clone(),
        );
        let objects = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "objects",
            "Objects by kind and the kstatus condition that is True (or Suspended)",
            objects.clone(),
        );
        registry.register(
            "aws_calls",
            "AWS calls by operation and outcome (ok or error class)",
            AWS_CALLS.clone(),
        );
        registry.register(
            "kube_requests",
            "Requests to the Kubernetes API server, by HTTP method",
            KUBE_REQUESTS.clone(),
        );
        registry.register(
            "aws_calls_delayed",
            "AWS calls that waited for their account's rate limit",
            AWS_CALLS_DELAYED.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_duration,
            deployments_created,
            deployments_finished,
            objects,
            object_conditions: Mutex::new(HashMap::new()),
        }
    }

    /// Starts timing a reconcile; it is recorded when the timer is dropped.
    pub fn reconcile_timer(&self, kind: &'static str) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            kind,
            started: Instant::now(),
            ok: false,
        }
    }

    fn observe_reconcile(&self, kind: &'static str, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles.get_or_create(&ReconcileLabels { kind, result }).inc();
        self.reconcile_duration
            .get_or_create(&KindLabel { kind })
            .observe(took.as_secs_f64());
    }

    /// Record the condition an object is in now; None when it is gone.
    pub fn object_condition(&self, kind: &'static str, uid: &str, condition: Option<&'static str>) {
        let Ok(mut map) = self.object_conditions.lock() else {
            return;
        };
        let key = (kind, uid.to_string());
        let old = match condition {
            Some(c) => map.insert(key, c),
            None => map.remove(&key),
        };
        if old == condition {
            return;
        }
        if let Some(old) = old {
            self.objects
                .get_or_create(&ConditionLabels { kind, condition: old })
                .dec();
        }
        if let Some(new) = condition {
            self.objects
                .get_or_create(&ConditionLabels { kind, condition: new })
                .inc();
        }
    }

    pub fn deployment_created(&self) {
        self.deployments_created.inc();
    }

    pub fn deployment_finished(&self, status: &str) {
        self.deployments_finished
            .get_or_create(&StatusLabel {
                status: status.to_string(),
            })
            .inc();
    }

    /// Text exposition format.
    pub fn render(&self, session_cache: (u64, u64, u64)) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            return String::new();
        }
        let (hits, misses, cached) = session_cache;
        out.push_str(&format!(
            "# HELP crossdeploy_session_cache_hits Assumed-role session cache hits.\n# TYPE crossdeploy_session_cache_hits counter\ncrossdeploy_session_cache_hits_total {hits}\n\
             # HELP crossdeploy_session_cache_misses Assumed-role session cache misses.\n# TYPE crossdeploy_session_cache_misses counter\ncrossdeploy_session_cache_misses_total {misses}\n\
             # HELP crossdeploy_sessions Assumed-role sessions cached now.\n# TYPE crossdeploy_sessions gauge\ncrossdeploy_sessions {cached}\n"
        ));
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}

/// Times one reconcile; dropped without [`ReconcileTimer::succeeded`] (an
/// error, or a reconcile cancelled half-way) it counts as an error.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    kind: &'static str,
    started: Instant,
    ok: bool,
}

impl ReconcileTimer<'_> {
    pub fn succeeded(&mut self, ok: bool) {
        self.ok = ok;
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .observe_reconcile(self.kind, self.ok, self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let m = Metrics::new();
        aws_call("s3:HeadObject", None);
        kube_request("GET");
        aws_call_delayed("s3:HeadObject");
        aws_call("sts:AssumeRole", Some("AssumeRoleDenied"));
        m.reconcile_timer("CrossAccountDeployment").succeeded(true);
        drop(m.reconcile_timer("TargetAccount"));
        m.deployment_created();
        m.deployment_finished("Succeeded");
        m.object_condition("CrossAccountDeployment", "a", Some("Reconciling"));
        m.object_condition("CrossAccountDeployment", "b", Some("Reconciling"));
        m.object_condition("CrossAccountDeployment", "a", Some("Ready"));
        m.object_condition("CrossAccountDeployment", "b", None);
        let text = m.render((3, 1, 2));
        for needle in [
            r#"crossdeploy_aws_calls_total{operation="s3:HeadObject",outcome="ok"} 1"#,
            r#"crossdeploy_aws_calls_total{operation="sts:AssumeRole",outcome="AssumeRoleDenied"} 1"#,
            r#"crossdeploy_reconciles_total{kind="CrossAccountDeployment",result="ok"} 1"#,
            r#"crossdeploy_reconciles_total{kind="TargetAccount",result="error"} 1"#,
            "crossdeploy_reconcile_duration_seconds_bucket",
            "crossdeploy_deployments_created_total 1",
            r#"crossdeploy_deployments_finished_total{status="Succeeded"} 1"#,
            r#"crossdeploy_objects{kind="CrossAccountDeployment",condition="Ready"} 1"#,
            r#"crossdeploy_objects{kind="CrossAccountDeployment",condition="Reconciling"} 0"#,
            "crossdeploy_session_cache_hits_total 3",
            "crossdeploy_session_cache_misses_total 1",
            "crossdeploy_sessions 2",
            r#"crossdeploy_kube_requests_total{method="GET"} 1"#,
            r#"crossdeploy_aws_calls_delayed_total{operation="s3:HeadObject"} 1"#,
        ] {
            assert!(text.contains(needle), "missing {needle} in:\n{text}");
        }
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
