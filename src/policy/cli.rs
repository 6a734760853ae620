//! `crossdeploy policy`: the policies for a TargetAccount (from the cluster)
//! or for flags, in JSON, Terraform or CloudFormation.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use super::render::{Format, Kind, render};
use super::{Names, principal_of_caller};
use crate::cli::inputs::{self, Loaded, TargetArgs};

/// `crossdeploy policy`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The ExternalId is filled in only from --external-id-env/--external-id-file; otherwise \
                        the JSON shows ${EXTERNAL_ID} (fill it with envsubst), Terraform a sensitive variable and \
                        CloudFormation a NoEcho parameter."
)]
pub struct Args {
    /// Which policy.
    #[arg(value_enum, default_value = "all")]
    pub kind: Kind,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The operator's own identity, which the role trusts (default: who STS
    /// says the current credentials are).
    #[arg(long, value_name = "ARN")]
    pub operator_arn: Option<String>,
    /// CodeDeploy application name or glob (repeatable; default: the
    /// deployment's, else the TargetAccount's allowedApplications, else all).
    #[arg(long)]
    pub application: Vec<String>,
    /// Deployment group name or glob (repeatable; default as for --application).
    #[arg(long)]
    pub deployment_group: Vec<String>,
    /// Deployment config the deployments name (repeatable; default: any).
    #[arg(long)]
    pub deployment_config: Vec<String>,
    /// Revision bucket (repeatable; default: the deployment's, else the
    /// TargetAccount's allowedRevisionBuckets).
    #[arg(long)]
    pub bucket: Vec<String>,
    /// Account owning the buckets (default: the operator's, the guide's development account).
    #[arg(long, value_name = "ACCOUNT")]
    pub bucket_account: Option<String>,
    /// No sts:ExternalId condition in the trust policy.
    #[arg(long)]
    pub no_external_id: bool,
    #[arg(long, short = 'f', value_enum, default_value = "json")]
    pub format: Format,
}

fn or_else(flag: &[String], from: impl FnOnce() -> Vec<String>) -> Vec<String> {
    if flag.is_empty() { from() } else { flag.to_vec() }
}

async fn operator_arn(args: &Args) -> anyhow::Result<String> {
    if let Some(arn) = &args.operator_arn {
        return Ok(arn.clone());
    }
    let base = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let caller = crate::aws::session::SessionCache::new(base, false, 1)
        .own_caller()
        .await
        .context("asking STS who the operator is (or pass --operator-arn)")?;
    Ok(principal_of_caller(&caller.arn))
}

/// The names the policies are about: flags first, then the deployment, then the TargetAccount.
pub async fn names(args: &Args, loaded: &Loaded, external_id_given: bool) -> anyhow::Result<Names> {
    let spec = inputs::target_spec(&args.target, loaded)?;
    let d = loaded.deployment.as_ref().map(|d| &d.spec);
    let deployment_bucket = d
        .and_then(|d| d.revision.as_ref()?.s3.as_ref().map(|s| s.bucket.clone()))
        .or_else(|| loaded.source_revision.as_ref().map(|r| r.bucket.clone()));
    Ok(Names {
        operator_arn: operator_arn(args).await?,
        role_arn: spec.role_arn.clone(),
        role_chain: spec.role_chain.clone(),
        external_id: !args.no_external_id
            && (spec.external_id_secret_ref.is_some() || loaded.target.is_none() || external_id_given),
        session_tag_keys: spec.session_tags.iter().map(|t| t.key.clone()).collect(),
        region: spec.region.clone(),
        applications: or_else(&args.application, || match d {
            Some(d) => vec![d.application_name.clone()],
            None => spec.allowed_applications.clone(),
        }),
        groups: or_else(&args.deployment_group, || match d {
            Some(d) => vec![d.deployment_group_name.clone()],
            None => spec.allowed_deployment_groups.clone(),
        }),
        configs: or_else(&args.deployment_config, || {
            d.and_then(|d| d.deployment_config_name.clone()).into_iter().collect()
        }),
        buckets: or_else(&args.bucket, || match deployment_bucket {
            Some(b) => vec![b],
            None => spec.allowed_revision_buckets.iter().map(|r| r.bucket.clone()).collect(),
        }),
        bucket_account: args.bucket_account.clone(),
        instance_role: spec.instance_profile_role_arn.clone(),
    })
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = inputs::load(&args.target).await?;
    let external_id = inputs::external_id(&args.target)?;
    let names = names(&args, &loaded, external_id.is_some()).await?;
    match render(&names, args.kind, args.format, external_id.as_deref()) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            if args.format == Format::Json && args.kind != Kind::All {
                for note in super::notes(&names) {
                    eprintln!("note: {note}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("crossdeploy policy: {why}");
            Ok(ExitCode::from(1))
        }
    }
}
