//! Types shared by several kinds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::rules;

/// API group of every crossdeploy kind.
pub const GROUP: &str = "crossdeploy.io";

/// Condition types, following kstatus so Argo CD, Flux and `kubectl wait` understand them.
pub mod condition_type {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";
}

/// The status of a condition. crossdeploy decides every condition it writes,
/// so it never writes `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
}

impl ConditionStatus {
    pub fn of(on: bool) -> Self {
        if on { Self::True } else { Self::False }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
        }
    }

    /// Is `c` in this status?
    pub fn is(self, c: &Condition) -> bool {
        c.status == self.as_str()
    }
}

/// Label an ExternalId Secret must carry (value `"true"`): naming a Secret in
/// `externalIdSecretRef` is not enough to have the operator hand its content
/// to STS; whoever owns the Secret marks it for the purpose.
pub const EXTERNAL_ID_SECRET_LABEL: &str = "crossdeploy.io/external-id";

/// Reference to a cluster-scoped `TargetAccount`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct TargetAccountRef {
    /// Name of the cluster-scoped TargetAccount whose IAM role is assumed.
    #[x_kube(validation = rules::object_name("name"))]
    #[schemars(length(max = 253))]
    pub name: String,
}

/// A key of a Secret in the operator's own namespace. The Secret must carry
/// the label `crossdeploy.io/external-id: "true"`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret (in the namespace the operator runs in). The Secret
    /// must be labelled `crossdeploy.io/external-id: "true"`.
    #[x_kube(validation = rules::object_name("name"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Key inside the Secret's data.
    #[serde(default = "default_external_id_key")]
    #[x_kube(validation = rules::secret_key("key"))]
    #[schemars(length(max = 253))]
    pub key: String,
}

fn default_external_id_key() -> String {
    "externalId".into()
}

/// Implements [`HasConditions`] for a status with `conditions` and
/// `observed_generation` fields.
macro_rules! has_conditions {
    ($status:ty) => {
        impl $crate::api::HasConditions for $status {
            fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
                &self.conditions
            }

            fn observed_generation(&self) -> Option<i64> {
                self.observed_generation
            }

            fn set_observed(
                &mut self,
                generation: Option<i64>,
                conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
            ) {
                self.observed_generation = generation;
                self.conditions = conditions;
            }
        }
    };
}
pub(crate) use has_conditions;

/// Helpers every status with kstatus conditions shares.
pub trait HasConditions {
    fn conditions(&self) -> &[Condition];

    /// The generation of the spec the operator last reported on.
    fn observed_generation(&self) -> Option<i64>;

    /// Record the conditions decided for the spec of `generation`.
    fn set_observed(&mut self, generation: Option<i64>, conditions: Vec<Condition>);

    fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions().iter().find(|c| c.type_ == type_)
    }

    fn is_condition_true(&self, type_: &str) -> bool {
        self.condition(type_).is_some_and(|c| ConditionStatus::True.is(c))
    }
}
