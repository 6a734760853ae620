//! What doctor looks at, gathered before any check: the TargetAccount (from
//! the cluster or flags), the session into it — opened exactly as the
//! operator opens it — the operator's own identity, and what would be
//! deployed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;

use super::Args;
use super::fixes::Fixes;
use crate::access::Admission;
use crate::access::target;
use crate::api::{CrossAccountDeployment, CrossAccountDeploymentSpec, RevisionSpec, S3Revision, TargetAccountSpec};
use crate::aws::session::{SessionCache, SessionRequest, TargetClients, session_name};
use crate::aws::sts::Caller;
use crate::aws::{AwsError, s3};
use crate::cli::inputs::{self, Loaded};
use crate::policy::{Names, principal_of_caller};
use crate::revision::look::Memory;
use crate::runtime::metrics::Metrics;
use crate::runtime::{Context, Settings};
use crate::status::Failure;

/// Session scope of doctor's AssumeRole: CloudTrail shows `crossdeploy.doctor`.
pub const SESSION_SCOPE: &str = "doctor";

/// Doctor makes a dozen calls; the operator's default rate limit is plenty.
const CALLS_PER_SECOND: u32 = 20;

/// The revision that would be deployed.
pub struct Wanted {
    pub s3: S3Revision,
    pub bundle_type: String,
    /// `s3://bucket/key (version v)`, as the operator writes it.
    pub location: String,
}

pub struct World {
    /// "TargetAccount production (arn:..., us-east-1)", for the header.
    pub subject: String,
    pub target_name: Option<String>,
    pub spec: TargetAccountSpec,
    /// Where the ExternalId came from (never its value).
    pub external_id_from: Option<String>,
    /// The assumed-role session, or why it could not be opened.
    pub session: Result<TargetClients, Failure>,
    pub own_s3: s3::Client,
    pub own: Result<Caller, AwsError>,
    /// What looking at buckets taught, for this run (as the operator keeps it).
    pub memory: Memory,
    pub bucket: Option<String>,
    pub wanted: Option<Wanted>,
    pub application: Option<String>,
    pub group: Option<String>,
    pub config: Option<String>,
    /// The tenant namespace and its labels, when a cluster says which.
    pub tenancy: Option<(String, BTreeMap<String, String>)>,
    /// The deployment as tenancy judges it: the CrossAccountDeployment's spec
    /// with the flags applied, or one made of the flags.
    pub deployment: Option<CrossAccountDeploymentSpec>,
    pub fixes: Fixes,
}

/// Field by field: the flag, else the deployment's.
fn pick(flag: &Option<String>, from: impl FnOnce() -> Option<String>) -> Option<String> {
    flag.clone().or_else(from)
}

fn deployment_s3(loaded: &Loaded) -> Option<S3Revision> {
    let d: &CrossAccountDeployment = loaded.deployment.as_ref()?;
    if let Some(s3) = d.spec.revision.as_ref().and_then(|r| r.s3.as_ref()) {
        return Some(s3.clone());
    }
    loaded.source_revision.as_ref().map(|r| S3Revision {
        bucket: r.bucket.clone(),
        key: r.key.clone(),
        version: r.version_id.clone(),
        e_tag: r.e_tag.clone(),
        bundle_type: crate::api::BundleType::from_aws_str(&r.bundle_type),
    })
}

fn wanted(args: &Args, loaded: &Loaded) -> (Option<String>, Option<Wanted>) {
    let from = deployment_s3(loaded);
    let bucket = pick(&args.bucket, || from.as_ref().map(|s| s.bucket.clone()));
    let key = pick(&args.key, || from.as_ref().map(|s| s.key.clone()));
    let (Some(b), Some(k)) = (bucket.clone(), key) else {
        return (bucket, None);
    };
    let same = from.as_ref().is_some_and(|s| s.bucket == b && s.key == k);
    let s3 = S3Revision {
        bucket: b,
        key: k,
        version: pick(&args.version, || {
            from.as_ref().filter(|_| same).and_then(|s| s.version.clone())
        }),
        e_tag: pick(&args.etag, || {
            from.as_ref().filter(|_| same).and_then(|s| s.e_tag.clone())
        }),
        bundle_type: from.as_ref().filter(|_| same).and_then(|s| s.bundle_type),
    };
    let bundle_type = s3.effective_bundle_type().map_or("zip", |b| b.as_aws_str()).to_string();
    let location = match &s3.version {
        Some(v) => format!("s3://{}/{} (version {v})", s3.bucket, s3.key),
        None => format!("s3://{}/{}", s3.bucket, s3.key),
    };
    (
        bucket,
        Some(Wanted {
            s3,
            bundle_type,
            location,
        }),
    )
}

/// The session into the target account: through `access::target::open`
/// (the operator's path: ExternalId from the Secret) when the TargetAccount
/// comes from the cluster, else the same SessionRequest built from flags.
async fn session(
    args: &Args,
    loaded: &Loaded,
    spec: &TargetAccountSpec,
    cache: SessionCache,
) -> anyhow::Result<(Result<TargetClients, Failure>, Option<String>, s3::Client)> {
    let given = inputs::external_id(&args.target)?;
    let own_s3 = cache.own_s3(Some(&spec.region));
    if let (Some(client), Some(target), None) = (&loaded.client, &loaded.target, &given) {
        let settings = Settings {
            operator_namespace: args.target.operator_namespace.clone(),
            watch_namespace: None,
            target_account_selector: None,
            crash_after_create: false,
            drift_check: Duration::from_secs(1800),
            max_concurrent_reconciles: 1,
        };
        let ctx = Context::new(client.clone(), cache, settings, Arc::new(Metrics::new()));
        let mut target = target.clone();
        target.spec = spec.clone();
        let from = spec
            .external_id_secret_ref
            .as_ref()
            .map(|r| format!("Secret {}/{} (key {:?})", args.target.operator_namespace, r.name, r.key));
        let session = match target::open(&ctx, target, SESSION_SCOPE, None).await? {
            Admission::Admitted(access) => Ok(access.clients),
            Admission::Refused(failure) => Err(failure),
        };
        return Ok((session, from, own_s3));
    }
    let from = match (&given, &args.target.external_id_env, &args.target.external_id_file) {
        (None, _, _) => None,
        (Some(_), Some(var), _) => Some(format!("environment variable {var}")),
        (Some(_), None, Some(path)) => Some(format!("file {}", path.display())),
        (Some(_), None, None) => None,
    };
    let request = SessionRequest::for_target(spec, given.as_deref(), None, session_name(SESSION_SCOPE));
    Ok((Ok(cache.clients(&request).await), from, own_s3))
}

impl World {
    pub async fn gather(args: &Args) -> anyhow::Result<World> {
        let loaded = inputs::load(&args.target).await?;
        let spec = inputs::target_spec(&args.target, &loaded)?;
        let base = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let cache = SessionCache::new(base, args.s3_force_path_style, CALLS_PER_SECOND);
        let own = cache.own_caller().await;
        let (session, external_id_from, own_s3) = session(args, &loaded, &spec, cache).await?;
        let (bucket, wanted) = wanted(args, &loaded);
        let d = loaded.deployment.as_ref().map(|d| &d.spec);
        let application = pick(&args.application, || d.map(|d| d.application_name.clone()));
        let group = pick(&args.deployment_group, || d.map(|d| d.deployment_group_name.clone()));
        let config = pick(&args.deployment_config, || {
            d.and_then(|d| d.deployment_config_name.clone())
        });
        let target_name = loaded.target.as_ref().map(ResourceExt::name_any);
        let tenancy = tenancy(args, &loaded).await?;
        let deployment = deployment_spec(
            &loaded,
            target_name.as_deref(),
            [&application, &group, &config],
            &wanted,
        )?;
        let names = Names {
            external_id: spec.external_id_secret_ref.is_some() || external_id_from.is_some(),
            applications: application.iter().cloned().collect(),
            groups: group.iter().cloned().collect(),
            configs: config.iter().cloned().collect(),
            buckets: bucket.iter().cloned().collect(),
            ..policy_names(&spec, own.as_ref().ok())
        };
        let selector = match &target_name {
            Some(n) => format!("-t {n}"),
            None => format!("--role-arn {}", spec.role_arn),
        };
        let subject = subject(target_name.as_deref(), &spec, loaded.deployment.as_ref());
        Ok(World {
            subject,
            target_name,
            spec,
            external_id_from,
            session,
            own_s3,
            own,
            memory: Memory::default(),
            bucket,
            wanted,
            application,
            group,
            config,
            tenancy,
            deployment,
            fixes: Fixes { names, selector },
        })
    }

    /// The identity doctor runs as, for the header.
    pub fn identity(&self) -> String {
        match &self.own {
            Ok(c) => format!("{} (account {})", c.arn, c.account),
            Err(e) => format!("an identity STS could not name ({}: {})", e.code, e.message),
        }
    }

    pub fn role_arn(&self) -> &str {
        &self.spec.role_arn
    }
}

/// What `crossdeploy policy` would be asked for this TargetAccount, for the fixes.
fn policy_names(spec: &TargetAccountSpec, own: Option<&Caller>) -> Names {
    Names {
        operator_arn: own.map_or_else(
            || "<the operator's identity>".to_string(),
            |c| principal_of_caller(&c.arn),
        ),
        role_arn: spec.role_arn.clone(),
        role_chain: spec.role_chain.clone(),
        session_tag_keys: spec.session_tags.iter().map(|t| t.key.clone()).collect(),
        region: spec.region.clone(),
        instance_role: spec.instance_profile_role_arn.clone(),
        ..Names::default()
    }
}

fn subject(target: Option<&str>, spec: &TargetAccountSpec, deployment: Option<&CrossAccountDeployment>) -> String {
    let mut s = match target {
        Some(name) => format!("TargetAccount {name} ({}, {})", spec.role_arn, spec.region),
        None => format!("role {} ({})", spec.role_arn, spec.region),
    };
    if let Some(d) = deployment {
        s.push_str(&format!(
            " for CrossAccountDeployment {}/{}",
            d.namespace().unwrap_or_default(),
            d.name_any()
        ));
    }
    s
}

/// The deployment tenancy judges: the CrossAccountDeployment's spec with
/// the application, group, config and revision doctor checks, or a spec made
/// of them (`names`: application, group, config).
fn deployment_spec(
    loaded: &Loaded,
    target: Option<&str>,
    names: [&Option<String>; 3],
    wanted: &Option<Wanted>,
) -> anyhow::Result<Option<CrossAccountDeploymentSpec>> {
    let [Some(app), Some(group), config] = names else {
        return Ok(None);
    };
    let mut spec = match (&loaded.deployment, target) {
        (Some(d), _) => d.spec.clone(),
        // Made of flags: it rolls back on failure, so that requireAutoRollback,
        // a rule about a real deployment's choice, does not refuse it.
        (None, Some(t)) => serde_json::from_value(serde_json::json!({
            "targetAccountRef": {"name": t}, "applicationName": app, "deploymentGroupName": group, "revision": {},
            "autoRollback": {"enabled": true, "events": ["DEPLOYMENT_FAILURE"]},
        }))?,
        (None, None) => return Ok(None),
    };
    spec.application_name.clone_from(app);
    spec.deployment_group_name.clone_from(group);
    spec.deployment_config_name.clone_from(config);
    if let Some(w) = wanted {
        spec.revision = Some(RevisionSpec {
            s3: Some(w.s3.clone()),
            source_ref: None,
        });
        spec.promotion = None;
    }
    Ok(Some(spec))
}

/// The tenant namespace and its labels (cluster TargetAccounts only).
async fn tenancy(args: &Args, loaded: &Loaded) -> anyhow::Result<Option<(String, BTreeMap<String, String>)>> {
    let (Some(client), Some(_)) = (&loaded.client, &loaded.target) else {
        return Ok(None);
    };
    let Some(ns) = args
        .namespace
        .clone()
        .or_else(|| loaded.deployment.as_ref().and_then(ResourceExt::namespace))
    else {
        return Ok(None);
    };
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let labels = api.get_opt(&ns).await?.map(|n| n.labels().clone()).unwrap_or_default();
    Ok(Some((ns, labels)))
}
