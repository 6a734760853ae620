//! What `crossdeploy doctor` and `crossdeploy policy` are about: a
//! TargetAccount and a CrossAccountDeployment read from the cluster, and
//! flags that name them or stand in for them.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::api::{
    CrossAccountDeployment, ResolvedRevision, RevisionSource, SessionTag, TargetAccount, TargetAccountSpec,
};

/// Flags naming the cross-account role and how to reach it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// TargetAccount to read from the cluster.
    #[arg(long = "target-account", short = 't', value_name = "NAME")]
    pub target_account: Option<String>,
    /// A CrossAccountDeployment: its application, deployment group, config,
    /// revision and (unless one is named) TargetAccount.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub deployment: Option<String>,
    /// Kubeconfig context (default: the current one; KUBECONFIG is honoured).
    #[arg(long)]
    pub context: Option<String>,
    /// The operator's namespace, where ExternalId Secrets live.
    #[arg(long, env = "CROSSDEPLOY_NAMESPACE", default_value = "crossdeploy-system")]
    pub operator_namespace: String,
    /// The cross-account role (guide step 3); overrides the TargetAccount's roleArn.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// Region of the CodeDeploy application (default: the TargetAccount's, else AWS_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// A session tag passed to AssumeRole (repeatable).
    #[arg(long = "session-tag", value_name = "KEY=VALUE")]
    pub session_tags: Vec<String>,
    /// A role assumed before --role-arn (repeatable, in order).
    #[arg(long = "role-chain", value_name = "ARN")]
    pub role_chain: Vec<String>,
    /// The production instance profile's role (guide step 2).
    #[arg(long, value_name = "ARN")]
    pub instance_profile_role_arn: Option<String>,
    /// Name of an environment variable holding the ExternalId. It is never a
    /// flag value (command lines show in `ps` and shell history) and never printed.
    #[arg(long, value_name = "VAR")]
    pub external_id_env: Option<String>,
    /// A file holding the ExternalId (never printed).
    #[arg(long, value_name = "PATH")]
    pub external_id_file: Option<PathBuf>,
}

/// What was read from the cluster.
#[derive(Default)]
pub struct Loaded {
    pub client: Option<Client>,
    pub target: Option<TargetAccount>,
    pub deployment: Option<CrossAccountDeployment>,
    /// A `revision.sourceRef` deployment's revision: its RevisionSource's
    /// resolved one.
    pub source_revision: Option<ResolvedRevision>,
}

/// A Kubernetes client for `context` (KUBECONFIG, else in-cluster), and the
/// context's default namespace.
pub async fn kube_client(kubeconfig: Option<&Path>, context: Option<&str>) -> anyhow::Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &options).await?
        }
        None if context.is_some() => Config::from_kubeconfig(&options).await?,
        None => Config::infer().await?,
    };
    let namespace = config.default_namespace.clone();
    Ok((
        Client::try_from(config).context("connecting to the Kubernetes API")?,
        namespace,
    ))
}

/// `NAMESPACE/NAME`.
fn split_ref(r: &str) -> anyhow::Result<(&str, &str)> {
    match r.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => Ok((ns, name)),
        _ => bail!("--deployment must be NAMESPACE/NAME, not {r:?}"),
    }
}

/// Reads the named TargetAccount and CrossAccountDeployment, if any.
pub async fn load(args: &TargetArgs) -> anyhow::Result<Loaded> {
    if args.target_account.is_none() && args.deployment.is_none() {
        return Ok(Loaded::default());
    }
    let (client, _) = kube_client(None, args.context.as_deref()).await?;
    let mut loaded = Loaded::default();
    if let Some(r) = &args.deployment {
        let (ns, name) = split_ref(r)?;
        let api: Api<CrossAccountDeployment> = Api::namespaced(client.clone(), ns);
        let obj = api
            .get_opt(name)
            .await?
            .with_context(|| format!("CrossAccountDeployment {ns}/{name} does not exist"))?;
        if let Some(source) = obj.spec.revision.as_ref().and_then(|r| r.source_ref.as_ref()) {
            let sources: Api<RevisionSource> = Api::namespaced(client.clone(), ns);
            loaded.source_revision = sources
                .get_opt(&source.name)
                .await?
                .and_then(|s| s.status)
                .and_then(|s| s.revision);
        }
        loaded.deployment = Some(obj);
    }
    let target_name = args.target_account.clone().or_else(|| {
        loaded
            .deployment
            .as_ref()
            .map(|d| d.spec.target_account_ref.name.clone())
    });
    if let Some(name) = target_name {
        let api: Api<TargetAccount> = Api::all(client.clone());
        let target = api
            .get_opt(&name)
            .await?
            .with_context(|| format!("TargetAccount {name:?} does not exist"))?;
        loaded.target = Some(target);
    }
    loaded.client = Some(client);
    Ok(loaded)
}

fn parse_tags(tags: &[String]) -> anyhow::Result<Vec<SessionTag>> {
    tags.iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(SessionTag {
                key: k.to_string(),
                value: v.to_string(),
            }),
            _ => bail!("--session-tag must be KEY=VALUE, not {t:?}"),
        })
        .collect()
}

/// The TargetAccount's spec, with what the flags override; without a
/// TargetAccount the flags alone (--role-arn is then required).
pub fn target_spec(args: &TargetArgs, loaded: &Loaded) -> anyhow::Result<TargetAccountSpec> {
    let mut spec = match &loaded.target {
        Some(t) => t.spec.clone(),
        // Every field the flags do not give keeps its default.
        None => serde_json::from_value(serde_json::json!({"roleArn": "", "region": "", "namespaceSelector": {}}))?,
    };
    if let Some(arn) = &args.role_arn {
        spec.role_arn.clone_from(arn);
    }
    if spec.role_arn.is_empty() {
        bail!("name a TargetAccount (--target-account, --deployment) or the role (--role-arn)");
    }
    let env_region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok();
    if let Some(region) = args
        .region
        .clone()
        .or_else(|| loaded.deployment.as_ref().and_then(|d| d.spec.region.clone()))
    {
        spec.region = region;
    } else if spec.region.is_empty() {
        spec.region = env_region.unwrap_or_else(|| "us-east-1".to_string());
    }
    if !args.session_tags.is_empty() {
        spec.session_tags = parse_tags(&args.session_tags)?;
    }
    if !args.role_chain.is_empty() {
        spec.role_chain.clone_from(&args.role_chain);
    }
    if args.instance_profile_role_arn.is_some() {
        spec.instance_profile_role_arn
            .clone_from(&args.instance_profile_role_arn);
    }
    Ok(spec)
}

/// The ExternalId given on this machine (env var or file), if any.
pub fn external_id(args: &TargetArgs) -> anyhow::Result<Option<String>> {
    if let Some(var) = &args.external_id_env {
        let value = std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?;
        return Ok(Some(value.trim().to_string()).filter(|v| !v.is_empty()));
    }
    if let Some(path) = &args.external_id_file {
        let value = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(Some(value.trim().to_string()).filter(|v| !v.is_empty()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stand_in_for_a_target_account() {
        let args = TargetArgs {
            role_arn: Some("arn:aws:iam::222222222222:role/R".into()),
            region: Some("eu-west-1".into()),
            session_tags: vec!["team=a".into()],
            ..Default::default()
        };
        let spec = target_spec(&args, &Loaded::default()).unwrap();
        assert_eq!(spec.role_arn, "arn:aws:iam::222222222222:role/R");
        assert_eq!(spec.region, "eu-west-1");
        assert_eq!(spec.session_tags[0].key, "team");
        assert!(target_spec(&TargetArgs::default(), &Loaded::default()).is_err());
        let bad = TargetArgs {
            session_tags: vec!["novalue".into()],
            ..args
        };
        assert!(target_spec(&bad, &Loaded::default()).is_err());
        assert!(split_ref("ns/name").is_ok() && split_ref("name").is_err());
    }
}
