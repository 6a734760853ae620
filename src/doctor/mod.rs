//! `crossdeploy doctor`: walks the five steps of the cross-account guide
//! live for one TargetAccount and prints a checklist — each step ✓ / ✗ / ?
//! with what was checked, by which identity, and the exact fix.
//!
//! It decides with the operator's own code: the session comes from
//! `access::target::open` (or the same `SessionRequest` from flags), the
//! revision from `revision::look::existence` and the ETag pin check, guide
//! step 2 from `revision::look::instance_profile_grant` judged by
//! `revision::check::judge`, CodeDeploy through `aws::codedeploy`, tenancy
//! through `access::check` and `access::check_revision`, and every AWS
//! error becomes a reason and message through `status::diagnosis::diagnose`. Only the extra probes the operator
//! has no need for (HeadBucket, GetApplication, GetDeploymentConfig) are
//! doctor's own, and they sit in `aws::` like every other call.

pub mod fixes;
pub mod report;
mod steps;
mod world;

use std::io::Write as _;
use std::process::ExitCode;

use crate::cli::inputs::TargetArgs;
use crate::cli::style::Style;

/// Output of `crossdeploy doctor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// `crossdeploy doctor`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit codes: 0 every step that could be determined passes; 1 a step fails; 2 the \
                        command could not run; 3 (--strict) a step could not be determined.\n\nRun it with \
                        the operator's own AWS identity (the default credential chain), as the operator \
                        checks with that identity too. The ExternalId and credentials are never printed."
)]
pub struct Args {
    /// TargetAccount to check (read from the cluster); or use --role-arn and friends.
    #[arg(value_name = "TARGET_ACCOUNT")]
    pub name: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Revision bucket (guide steps 1, 2, 4); default: the deployment's.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Revision key (guide steps 2, 4).
    #[arg(long)]
    pub key: Option<String>,
    /// Pinned S3 object version.
    #[arg(long = "version-id")]
    pub version: Option<String>,
    /// Expected ETag.
    #[arg(long)]
    pub etag: Option<String>,
    /// CodeDeploy application (guide step 3).
    #[arg(long)]
    pub application: Option<String>,
    /// CodeDeploy deployment group (guide step 3).
    #[arg(long)]
    pub deployment_group: Option<String>,
    /// Deployment config (default: the deployment's, else the group's).
    #[arg(long)]
    pub deployment_config: Option<String>,
    /// Tenant namespace whose use of the TargetAccount to check (default: the deployment's).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Text (✓ ✗ ?, colours on a terminal) or JSON for scripts.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// Count a step that cannot be determined (?) as a failure (exit code 3).
    #[arg(long)]
    pub strict: bool,
    /// Path-style S3 addressing (S3-compatible endpoints, emulators).
    #[arg(long, env = "CROSSDEPLOY_S3_FORCE_PATH_STYLE")]
    pub s3_force_path_style: bool,
}

/// Runs the checks and prints the checklist; the exit code says how it went.
pub async fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    if args.name.is_some() {
        args.target.target_account = args.name.take();
    }
    let world = world::World::gather(&args).await?;
    let steps = steps::run(&world).await;
    let checklist = report::Checklist::new(world.subject.clone(), world.identity(), steps, args.strict);
    let text = match args.output {
        Output::Json => format!("{}\n", checklist.to_json()),
        Output::Text => checklist.to_text(&Style::for_stdout()),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::from(u8::try_from(checklist.exit_code).unwrap_or(1)))
}
