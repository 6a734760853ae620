//! The commands people run: `crossdeploy run` (the operator),
//! `crossdeploy crds` (the CustomResourceDefinitions as YAML),
//! `crossdeploy doctor` (the guide's five steps checked live),
//! `crossdeploy policy` (the policies the guide asks for, filled in), and the
//! kubectl plugin (`kubectl crossdeploy ...`: this binary installed as
//! `kubectl-crossdeploy`).

pub mod inputs;
pub mod style;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::api;
use crate::aws::session::SessionCache;
use crate::runtime::http::{self, HttpState};
use crate::runtime::leader::{self, LeaseSettings};
use crate::runtime::metrics::Metrics;
use crate::runtime::{Context, Settings, telemetry};

#[derive(Parser)]
#[command(
    name = "crossdeploy",
    version,
    about = "Deploy into other AWS accounts with CodeDeploy, from Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers.
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
    /// Walk the guide's five steps live for a TargetAccount: ✓ / ✗ / ? per
    /// step, who checked, and the fix.
    Doctor(Box<crate::doctor::Args>),
    /// Print the policies the guide asks for, filled in and least-privilege
    /// (JSON, Terraform or CloudFormation).
    Policy(Box<crate::policy::cli::Args>),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Namespace the operator runs in; ExternalId Secrets are read only from here.
    #[arg(long, env = "CROSSDEPLOY_NAMESPACE", default_value = "crossdeploy-system")]
    operator_namespace: String,
    /// Watch only this namespace for CrossAccountDeployments (default: all).
    #[arg(long, env = "CROSSDEPLOY_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Verify only TargetAccounts matching this label selector.
    #[arg(long, env = "CROSSDEPLOY_TARGET_ACCOUNT_SELECTOR")]
    target_account_selector: Option<String>,
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "CROSSDEPLOY_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Log as JSON lines.
    #[arg(long, env = "CROSSDEPLOY_LOG_JSON")]
    log_json: bool,
    /// Default log filter (RUST_LOG overrides).
    #[arg(long, env = "CROSSDEPLOY_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Use path-style S3 addressing (for S3-compatible endpoints and emulators).
    #[arg(long, env = "CROSSDEPLOY_S3_FORCE_PATH_STYLE")]
    s3_force_path_style: bool,
    /// Run only while holding a Lease in the operator namespace (for replicas > 1).
    #[arg(long, env = "CROSSDEPLOY_LEADER_ELECT")]
    leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long, env = "CROSSDEPLOY_LEADER_LEASE_NAME", default_value = "crossdeploy")]
    leader_lease_name: String,
    /// Seconds a leader that stopped renewing keeps the Lease.
    #[arg(long, env = "CROSSDEPLOY_LEADER_LEASE_SECONDS", default_value_t = 15)]
    leader_lease_seconds: u64,
    /// Seconds between drift checks of a settled deployment (one
    /// GetDeploymentGroup each).
    #[arg(long, env = "CROSSDEPLOY_DRIFT_CHECK_SECONDS", default_value_t = 1800)]
    drift_check_seconds: u64,
    /// AWS calls per second per (account, region), shared by every tenant
    /// deploying into that account; bursts of as many.
    #[arg(long, env = "CROSSDEPLOY_AWS_CALLS_PER_SECOND", default_value_t = 20)]
    aws_calls_per_second: u32,
    /// Reconciles run at once, per kind.
    #[arg(long, env = "CROSSDEPLOY_MAX_CONCURRENT_RECONCILES", default_value_t = 16)]
    max_concurrent_reconciles: u16,
    /// Test-only: exit right after CreateDeployment, before writing status.
    #[arg(long, hide = true)]
    test_crash_after_create: bool,
}

/// The `crossdeploy` command (or the kubectl plugin, when this binary is
/// called as `kubectl-crossdeploy`).
pub async fn main() -> anyhow::Result<ExitCode> {
    crate::install_crypto_provider();
    if invoked_as_plugin() {
        return Ok(or_exit_2("kubectl crossdeploy", crate::plugin::main().await));
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            print!("{}", api::crds_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Doctor(args) => Ok(or_exit_2("crossdeploy doctor", crate::doctor::run(*args).await)),
        Command::Policy(args) => Ok(or_exit_2("crossdeploy policy", crate::policy::cli::run(*args).await)),
    }
}

/// A tool that could not run exits 2 (as for a usage error), so that its own
/// exit codes (a failed check, a failed deployment) stay unambiguous.
fn or_exit_2(tool: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("{tool}: {e:#}");
        ExitCode::from(2)
    })
}

/// kubectl runs plugins by file name: `kubectl crossdeploy` finds
/// `kubectl-crossdeploy` on PATH (a symlink to, or copy of, this binary).
fn invoked_as_plugin() -> bool {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .is_some_and(|n| n.starts_with(crate::plugin::BINARY_NAME))
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_json, &args.log_level);
    let client = crate::runtime::kube_client()
        .await
        .context("connecting to the Kubernetes API")?;
    // The operator's own AWS identity: env, IRSA web identity, EKS Pod
    // Identity or instance profile, per aws-config's default chain.
    let base = crate::aws::base_config().await;
    let settings = Settings {
        operator_namespace: args.operator_namespace,
        watch_namespace: args.watch_namespace,
        target_account_selector: args.target_account_selector,
        crash_after_create: args.test_crash_after_create,
        drift_check: Duration::from_secs(args.drift_check_seconds.max(1)),
        max_concurrent_reconciles: args.max_concurrent_reconciles.max(1),
    };
    let metrics = Arc::new(Metrics::new());
    let ctx = Arc::new(Context::new(
        client,
        SessionCache::new(base, args.s3_force_path_style, args.aws_calls_per_second),
        settings,
        metrics,
    ));
    let http_state = HttpState { ctx: ctx.clone() };
    let addr = args.http_addr;
    tokio::spawn(async move {
        if let Err(e) = http::serve(addr, http_state).await {
            tracing::error!(error = %e, %addr, "health/metrics server failed");
        }
    });
    tracing::info!(namespace = %ctx.settings.operator_namespace, "crossdeploy starting");
    if args.leader_elect {
        let lease = LeaseSettings {
            namespace: ctx.settings.operator_namespace.clone(),
            name: args.leader_lease_name,
            identity: std::env::var("POD_NAME").unwrap_or_else(|_| default_identity()),
            duration: Duration::from_secs(args.leader_lease_seconds),
        };
        run_as_leader(ctx, &lease).await?;
    } else {
        run_controllers(ctx).await;
    }
    tracing::info!("crossdeploy stopped");
    Ok(())
}

/// Waits for the Lease, then runs the controllers while holding it.
async fn run_as_leader(ctx: Arc<Context>, lease: &LeaseSettings) -> anyhow::Result<()> {
    // A standby replica is ready too: it serves health and metrics and
    // would take over at once, so rollouts must not wait for it to lead.
    ctx.ready.store(true, Ordering::Relaxed);
    let leader = leader::acquire(ctx.client.clone(), lease)
        .await
        .context("leader election")?;
    // Leading now: ready again once this replica's caches have synced.
    ctx.ready.store(false, Ordering::Relaxed);
    let fence = ctx.fence.get_or_init(|| leader::Fence::new(ctx.client.clone(), lease));
    tokio::select! {
        () = run_controllers(ctx.clone()) => {}
        // Exiting (and being restarted) is the only way to be sure no
        // reconcile of ours is still in flight while another leads.
        () = leader::lost(leader) => {
            tracing::error!("lost leadership; exiting");
            std::process::exit(1);
        }
        () = fence.lost() => {
            tracing::error!("the Lease was not renewed in time or is held by another replica; exiting");
            std::process::exit(1);
        }
    }
    Ok(())
}

/// The three controllers, side by side, until shutdown.
async fn run_controllers(ctx: Arc<Context>) {
    ctx.feeds.synced().await;
    tokio::join!(
        crate::deployment::run(ctx.clone()),
        crate::target_account::run(ctx.clone()),
        crate::revision_source::run(ctx),
    );
}

/// Host name plus process id: unique per replica outside Kubernetes too.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}
