//! Prometheus metrics, served on `/metrics`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: Family<KindLabel, Histogram>,
    deployments_created: Counter,
    deployments_finished: Family<StatusLabel, Counter>,
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
        Self {
            registry,
            reconciles,
            reconcile_duration,
            deployments_created,
            deployments_finished,
        }
    }

    pub fn observe_reconcile(&self, kind: &'static str, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles.get_or_create(&ReconcileLabels { kind, result }).inc();
        self.reconcile_duration
            .get_or_create(&KindLabel { kind })
            .observe(took.as_secs_f64());
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
    pub fn render(&self, session_cache: (u64, u64)) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            return String::new();
        }
        let (hits, misses) = session_cache;
        out.push_str(&format!(
            "# HELP crossdeploy_session_cache_hits Assumed-role session cache hits.\n# TYPE crossdeploy_session_cache_hits counter\ncrossdeploy_session_cache_hits_total {hits}\n\
             # HELP crossdeploy_session_cache_misses Assumed-role session cache misses.\n# TYPE crossdeploy_session_cache_misses counter\ncrossdeploy_session_cache_misses_total {misses}\n"
        ));
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}
