//! The kubectl plugin: `kubectl crossdeploy status|history|watch|approve|
//! continue|redeploy|rollback|explain-failure`. It is this same binary,
//! installed as `kubectl-crossdeploy` (a symlink or a copy: kubectl finds
//! plugins by file name on PATH), so plugin and operator never disagree
//! about the API. It only reads objects and Events and writes the
//! annotations the operator reads — there is no second control path.

mod annotate;
mod explain;
mod status;
pub mod view;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::{Client, Resource};

use crate::api::CrossAccountDeployment;
use crate::cli::inputs::kube_client;
use crate::cli::style::Style;
use view::Obj;

/// The file name kubectl looks for.
pub const BINARY_NAME: &str = "kubectl-crossdeploy";

#[derive(Parser)]
#[command(
    name = "kubectl crossdeploy",
    bin_name = "kubectl crossdeploy",
    version,
    about = "CrossAccountDeployments at a glance, and the annotations that steer them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

/// Flags every command takes, as kubectl spells them.
#[derive(clap::Args, Clone, Debug)]
pub struct Global {
    /// Namespace (default: the context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Every namespace (status).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Path to the kubeconfig (default: KUBECONFIG, ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Output: text for people, json for scripts.
    #[arg(short = 'o', long, global = true, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// One line per CrossAccountDeployment: account, revision, deployment,
    /// instances succeeded/total, reason.
    Status {
        /// Only this object.
        name: Option<String>,
    },
    /// The deployments of one object, newest first.
    History { name: String },
    /// Live progress until the deployment ends; exit code 0 when it is
    /// Ready, 1 when Stalled (failed, stopped, refused), 4 when suspended,
    /// 124 on --timeout (2: could not watch).
    Watch {
        name: String,
        /// Give up after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Approve the revision waiting for approval (crossdeploy.io/approve =
    /// the digest status shows).
    Approve(annotate::Args),
    /// Continue a blue/green deployment waiting in Ready (crossdeploy.io/continue
    /// = its deployment id).
    Continue(annotate::Args),
    /// Deploy the same revision again (crossdeploy.io/redeploy = a fresh value).
    Redeploy(annotate::Args),
    /// Deploy the last successful revision again (crossdeploy.io/rollback = a fresh token).
    Rollback(annotate::Args),
    /// Conditions, Events and per-instance diagnostics in one view.
    ExplainFailure { name: String },
}

/// What every command works with.
pub struct Ctx {
    pub client: Client,
    pub namespace: String,
    pub global: Global,
    pub style: Style,
}

impl Ctx {
    pub fn api(&self, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = ApiResource::erase::<CrossAccountDeployment>(&());
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        }
    }

    /// The object `name` in the namespace.
    pub async fn get(&self, name: &str) -> anyhow::Result<Obj> {
        let obj = self.api(Some(&self.namespace)).get_opt(name).await?.with_context(|| {
            format!(
                "{} {}/{name} not found",
                CrossAccountDeployment::kind(&()),
                self.namespace
            )
        })?;
        to_obj(&obj)
    }

    /// Every object in the namespace (or all of them with -A), sorted.
    pub async fn list(&self) -> anyhow::Result<Vec<Obj>> {
        let ns = (!self.global.all_namespaces).then_some(self.namespace.as_str());
        let list = self.api(ns).list(&ListParams::default()).await?;
        let mut objs = list.items.iter().map(to_obj).collect::<anyhow::Result<Vec<_>>>()?;
        objs.sort_by_key(|o| (o.namespace(), o.name()));
        Ok(objs)
    }
}

pub fn to_obj(obj: &DynamicObject) -> anyhow::Result<Obj> {
    let raw = serde_json::to_value(obj)?;
    Obj::from_raw(raw).context("reading a CrossAccountDeployment")
}

/// `kubectl crossdeploy ...`.
pub async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let (client, default_ns) = kube_client(cli.global.kubeconfig.as_deref(), cli.global.context.as_deref()).await?;
    let ctx = Ctx {
        client,
        namespace: cli.global.namespace.clone().unwrap_or(default_ns),
        global: cli.global,
        style: Style::for_stdout(),
    };
    match cli.command {
        Command::Status { name } => status::status(&ctx, name.as_deref()).await,
        Command::History { name } => status::history(&ctx, &name).await,
        Command::Watch { name, timeout } => watch::watch(&ctx, &name, None, timeout).await,
        Command::Approve(args) => annotate::run(&ctx, annotate::Action::Approve, &args).await,
        Command::Continue(args) => annotate::run(&ctx, annotate::Action::Continue, &args).await,
        Command::Redeploy(args) => annotate::run(&ctx, annotate::Action::Redeploy, &args).await,
        Command::Rollback(args) => annotate::run(&ctx, annotate::Action::Rollback, &args).await,
        Command::ExplainFailure { name } => explain::explain(&ctx, &name).await,
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Lays out rows in columns; `paint` may colour a cell after padding.
pub fn table(rows: &[Vec<String>], paint: impl Fn(usize, usize, &str) -> String) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let last = c + 1 == row.len();
                let padded = if last {
                    cell.clone()
                } else {
                    format!("{cell:<width$}", width = widths[c])
                };
                paint(i, c, &padded)
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
