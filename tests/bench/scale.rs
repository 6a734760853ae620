//! `make bench`: N CrossAccountDeployments over M TargetAccounts on the local
//! environment (a real kube-apiserver + etcd and the AWS emulator), the
//! operator built in release mode, measured through six phases:
//!
//! 1. cold create — every object applied (concurrent server-side apply), until
//!    all are Ready;
//! 2. settled — nothing changes for `--settle-seconds`;
//! 3. operator restart — SIGTERM and start again with everything settled;
//! 4. spec change — `--change-percent` of the objects get a new revision,
//!    until all are Ready again;
//! 5. one at a time — `--single-changes` other objects get a new revision one
//!    after another, each once the previous one's CreateDeployment was sent:
//!    the latency of a change with N objects in the operator and no queue;
//! 6. API-server restart — the control plane is killed (SIGKILL) and started
//!    again on the same data and port.
//!
//! One table: seconds, AWS calls (the emulator's count) by operation and per
//! object, AssumeRole, operator CPU and memory, the operator's requests to the
//! API server (from the API server's audit log: the operator has no metric
//! for them), spec change → CreateDeployment latency (the bench's patch time
//! against the emulator's record of the call), and the emulator's and API
//! server's CPU, to show which process was the limit. A plot of Ready objects
//! and operator memory over time goes next to the table in `--out`.
//!
//! `cargo bench --bench scale -- --objects 500 --accounts 10` (see README,
//! "Performance"). With CROSSDEPLOY_E2E_ENV set (make dev-up) the running
//! environment is reused; its API server has no audit log, so the API
//! request column is empty then.

// A bench that cannot unwrap has failed; the panic says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../e2e/env.rs"]
mod env;
#[allow(dead_code, unused_imports)]
#[path = "../e2e/harness.rs"]
mod harness;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use kube::Client;

use support::audit::{self, AuditLog};
use support::emu::{self, Emu};
use support::operator::{self, Operator, OperatorSpec};
use support::procfs;
use support::ready::Tracker;
use support::report::{self, Axis, Plot, Series, Table};
use support::world::{self, Account, AccountSetup, Applied, Object, V1, V2};

#[derive(Parser, Debug)]
#[command(about = "crossdeploy at scale: N objects over M accounts, six phases, one table")]
struct Args {
    /// CrossAccountDeployments.
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// TargetAccounts (each with its own ExternalId Secret and namespace).
    #[arg(long, default_value_t = 50)]
    accounts: usize,
    /// Deployment groups per account; objects share them round-robin (and
    /// queue: one active deployment per group). Default: one per object.
    #[arg(long)]
    groups_per_account: Option<usize>,
    /// Length of the settled window.
    #[arg(long, default_value_t = 60)]
    settle_seconds: u64,
    /// How long the restart phases keep counting after the operator is back.
    #[arg(long, default_value_t = 30)]
    window_seconds: u64,
    /// Share of the objects whose revision changes in the spec-change phase.
    #[arg(long, default_value_t = 10.0)]
    change_percent: f64,
    /// Objects changed one at a time in the one-at-a-time phase (0 skips it).
    #[arg(long, default_value_t = 50)]
    single_changes: usize,
    /// Server-side applies in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Give up on a phase after this long.
    #[arg(long, default_value_t = 1800)]
    timeout_seconds: u64,
    /// Where the table (.md) and the plot (.svg) go.
    #[arg(long, default_value = "docs/bench")]
    out: PathBuf,
    /// An extra flag for `crossdeploy run` (repeat for more).
    #[arg(long = "operator-arg", allow_hyphen_values = true)]
    operator_args: Vec<String>,
    /// Skip the API-server restart phase.
    #[arg(long)]
    no_apiserver_restart: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// What is read at the start and the end of a phase.
#[derive(Clone, Debug)]
struct Mark {
    at: Instant,
    emu_seq: u64,
    emu_cpu: f64,
    cp_cpu: f64,
    op_cpu: f64,
    /// The operator's own count of its Kubernetes requests, when it has one.
    kube: Option<f64>,
}

#[derive(Debug, Default)]
struct PhaseResult {
    name: String,
    /// The phase's own measure (e.g. first apply → all Ready).
    seconds: f64,
    wall: f64,
    calls: BTreeMap<String, u64>,
    /// Objects the calls are divided by.
    per: usize,
    op_cpu: f64,
    peak_rss_kib: u64,
    end_rss_kib: u64,
    api: Option<BTreeMap<String, u64>>,
    /// crossdeploy_kube_requests_total over the phase (operators that have it).
    kube_metric: Option<f64>,
    latency_ms: Vec<f64>,
    emu_cpu: f64,
    cp_cpu: f64,
    notes: Vec<String>,
}

/// Shared with the sampler: which operator process to watch, and what it saw.
#[derive(Default)]
struct Samples {
    /// (seconds since start, Ready objects, operator RSS MiB)
    points: Vec<(f64, f64, f64)>,
    /// Highest RSS seen since the phase began.
    phase_peak_kib: u64,
}

struct Bench {
    args: Args,
    run: String,
    env: &'static env::Env,
    emu: Emu,
    admin: Client,
    app: String,
    bucket: String,
    objects: Vec<Object>,
    operator: Operator,
    tracker: Tracker,
    audit: Option<AuditLog>,
    emu_pid: u32,
    op_pid: Arc<AtomicU32>,
    samples: Arc<Mutex<Samples>>,
    started: Instant,
    phases: Vec<(f64, f64, String)>,
    /// The operator's Kubernetes request count when it was last stopped.
    kube_at_stop: Option<f64>,
    operator_flags: Vec<String>,
}

const USER_SA: &str = "crossdeploy-operator";

// Counts live heap bytes: what one cached object weighs (settled phase).
#[global_allocator]
static HEAP: &stats_alloc::StatsAlloc<std::alloc::System> = &support::heap::COUNTING;

fn main() -> anyhow::Result<()> {
    if !support::invoked_by_cargo_bench() {
        return Ok(());
    }
    let args = Args::parse();
    let run = format!("xb{:04x}", std::process::id() % 0x10000);
    let tmp = std::env::temp_dir().join(format!("crossdeploy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let operator_ns = format!("{run}-system");
    let user = format!("system:serviceaccount:{operator_ns}:{USER_SA}");
    let (audit_args, audit_path) = audit::apiserver_args(&tmp, &user)?;
    let options = env::EnvOptions {
        apiserver_args: audit_args,
        ..Default::default()
    };
    let env = env::env_with(options);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let logs = tmp.clone();
    runtime
        .block_on(async move {
            let mut bench = Bench::prepare(args, run, env, tmp, audit_path).await?;
            let results = bench.phases().await;
            bench.report(&results?)
        })
        .inspect_err(|_| eprintln!("operator logs and the audit log kept in {}", logs.display()))?;
    // The operator's logs and the audit log are kept only when something failed.
    let _ = std::fs::remove_dir_all(logs);
    Ok(())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kib| kib / 1024 / 1024)
        .unwrap_or(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{} — {cores} cores ({model}), {mem} GiB RAM", host.trim())
}

impl Bench {
    async fn prepare(
        args: Args,
        run: String,
        env: &'static env::Env,
        tmp: PathBuf,
        audit_path: PathBuf,
    ) -> anyhow::Result<Self> {
        let emu = Emu::new(env.endpoint());
        let emu_pid = emu.stats().await?["pid"].as_u64().context("emulator pid")? as u32;
        let admin = harness::admin_client().await;
        harness::ensure_crds(&admin).await;
        let operator_ns = format!("{run}-system");
        let kubeconfig = world::operator_identity(
            &admin,
            &env.kubeconfig,
            &operator_ns,
            USER_SA,
            &tmp.join("operator.kubeconfig"),
        )
        .await?;
        let started = Instant::now();
        let accounts = AccountSetup {
            client: &admin,
            run: &run,
            operator_namespace: &operator_ns,
            env,
        }
        .create(args.accounts.max(1))
        .await?;
        let objects = plan_objects(&run, &accounts, args.objects, args.groups_per_account);
        let app = harness::app();
        let mut groups: Vec<String> = objects.iter().map(|o| o.group.clone()).collect();
        groups.dedup();
        emu.create_groups(&app, &groups).await?;
        eprintln!(
            "bench {run}: {} accounts, {} groups, set up in {:.1}s; starting the operator",
            accounts.len(),
            groups.len(),
            started.elapsed().as_secs_f64()
        );
        let spec = operator_spec(&args, env, &run, &operator_ns, kubeconfig, &tmp);
        let operator_flags = spec.args.clone();
        let operator = Operator::start(spec)?;
        let tracker = Tracker::start(admin.clone(), &format!("crossdeploy.io/bench={run}"));
        let audit = (!env.reused).then(|| AuditLog::new(audit_path));
        let op_pid = Arc::new(AtomicU32::new(operator.pid().unwrap_or(0)));
        let bench = Self {
            args,
            run,
            env,
            emu,
            admin,
            app,
            bucket: harness::revisions_bucket(),
            objects,
            operator,
            tracker,
            audit,
            emu_pid,
            op_pid,
            samples: Arc::default(),
            started: Instant::now(),
            phases: Vec::new(),
            kube_at_stop: None,
            operator_flags,
        };
        bench.wait_operator_ready().await?;
        bench.sample_in_background();
        Ok(bench)
    }

    async fn phases(&mut self) -> anyhow::Result<Vec<PhaseResult>> {
        let mut results = vec![self.cold_create().await?];
        results.push(self.settled().await?);
        results.push(self.operator_restart().await?);
        results.push(self.spec_change().await?);
        if self.args.single_changes > 0 {
            results.push(self.one_at_a_time().await?);
        }
        if !self.args.no_apiserver_restart {
            results.push(self.apiserver_restart().await?);
        }
        Ok(results)
    }

    async fn wait_operator_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.operator.ready().await {
            if Instant::now() > deadline {
                bail!("operator not ready after 120 s:\n{}", self.operator.log_tail(30));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Every 500 ms: Ready objects and operator RSS, for the plot and peaks.
    fn sample_in_background(&self) {
        let samples = self.samples.clone();
        let pid = self.op_pid.clone();
        let started = self.started;
        let objects = self.tracker_handle();
        tokio::spawn(async move {
            loop {
                let rss = procfs::memory_kib(pid.load(Ordering::Relaxed))
                    .map(|m| m.0)
                    .unwrap_or(0);
                let ready = objects() as f64;
                if let Ok(mut s) = samples.lock() {
                    s.points
                        .push((started.elapsed().as_secs_f64(), ready, procfs::mib(rss)));
                    s.phase_peak_kib = s.phase_peak_kib.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    fn tracker_handle(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let snapshot = self.tracker.shared();
        move || {
            snapshot
                .lock()
                .map(|m| m.values().filter(|o| o.done()).count())
                .unwrap_or(0)
        }
    }

    async fn mark(&self) -> anyhow::Result<Mark> {
        let stats = self.emu.stats().await?;
        Ok(Mark {
            at: Instant::now(),
            emu_seq: stats["calls"]["lastSeq"].as_u64().unwrap_or(0),
            emu_cpu: procfs::cpu_seconds(self.emu_pid).unwrap_or(0.0),
            cp_cpu: self.env.controlplane_pid().and_then(procfs::cpu_seconds).unwrap_or(0.0),
            op_cpu: self.operator.cpu_seconds(),
            kube: self.kube_requests().await,
        })
    }

    async fn kube_requests(&self) -> Option<f64> {
        let m = self.operator.metrics().await?;
        m.0.keys()
            .any(|k| k.starts_with("crossdeploy_kube_requests_total"))
            .then(|| m.sum("crossdeploy_kube_requests_total", &[]))
    }

    fn begin_phase(&self) {
        if let Ok(mut s) = self.samples.lock() {
            s.phase_peak_kib = self.operator.memory_kib().map(|m| m.0).unwrap_or(0);
        }
    }

    /// Everything measured between `start` and now.
    async fn finish(&mut self, name: &str, start: &Mark, cp_cpu_before_restart: f64) -> anyhow::Result<PhaseResult> {
        let end = self.mark().await?;
        let calls = self.emu.counters_since(start.emu_seq, "").await?;
        let (end_rss, hwm) = self.operator.memory_kib().unwrap_or((0, 0));
        let sampled_peak = self.samples.lock().map(|s| s.phase_peak_kib).unwrap_or(0);
        let started_here = self.operator.started_at >= start.at;
        let peak = if started_here {
            hwm.max(sampled_peak)
        } else {
            sampled_peak.max(end_rss)
        };
        let from = start.at.duration_since(self.started).as_secs_f64();
        let to = end.at.duration_since(self.started).as_secs_f64();
        self.phases.push((from, to, name.to_string()));
        let wall = end.at.duration_since(start.at).as_secs_f64();
        let kube_metric = match (start.kube, end.kube, started_here) {
            (Some(a), Some(b), false) => Some(b - a),
            (Some(a), Some(b), true) => Some(self.kube_at_stop.take().unwrap_or(a) - a + b),
            _ => None,
        };
        let cp_cpu = if cp_cpu_before_restart > 0.0 {
            cp_cpu_before_restart - start.cp_cpu + end.cp_cpu
        } else {
            end.cp_cpu - start.cp_cpu
        };
        Ok(PhaseResult {
            name: name.to_string(),
            seconds: wall,
            wall,
            calls,
            per: self.objects.len(),
            op_cpu: end.op_cpu - start.op_cpu,
            peak_rss_kib: peak,
            end_rss_kib: end_rss,
            api: self.audit.as_mut().filter(|a| a.available()).map(AuditLog::take),
            kube_metric,
            latency_ms: Vec::new(),
            emu_cpu: end.emu_cpu - start.emu_cpu,
            cp_cpu,
            notes: Vec::new(),
        })
    }

    async fn wait_all_ready(&self, what: &str) -> anyhow::Result<f64> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.args.timeout_seconds);
        let mut last_report = Instant::now();
        loop {
            let done = self.tracker.done();
            if done >= self.objects.len() {
                return Ok(started.elapsed().as_secs_f64());
            }
            if Instant::now() > deadline {
                bail!(
                    "{what}: {done}/{} Ready after {} s ({}); operator log tail:\n{}",
                    self.objects.len(),
                    self.args.timeout_seconds,
                    self.tracker.summary(),
                    self.operator.log_tail(30)
                );
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                eprintln!(
                    "  {what}: {done}/{} Ready after {:.0}s",
                    self.objects.len(),
                    started.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn cold_create(&mut self) -> anyhow::Result<PhaseResult> {
        eprintln!("phase 1: cold create of {} objects", self.objects.len());
        // The operator is ready and has no CrossAccountDeployment yet.
        let empty_rss = procfs::memory_kib(self.op_pid.load(Ordering::Relaxed)).map(|(rss, _)| rss / 1024);
        self.begin_phase();
        let start = self.mark().await?;
        let items = self
            .objects
            .iter()
            .map(|o| (o.clone(), o.manifest(&self.run, &self.app, &self.bucket, V1, None)))
            .collect();
        let applied = world::apply_all(&self.admin, items, self.args.concurrency).await?;
        let apply_seconds = start.at.elapsed().as_secs_f64();
        let generations: Vec<(String, i64)> = applied.iter().map(|a| (a.object.id(), a.generation)).collect();
        self.tracker.wait_seen(&generations, Duration::from_secs(60)).await;
        let all_ready = start.at.elapsed().as_secs_f64() + self.wait_all_ready("cold create").await?;
        let mut result = self.finish("cold create", &start, 0.0).await?;
        result.seconds = all_ready;
        result.latency_ms = self.create_latencies(start.emu_seq, &applied).await?;
        if let Some(mib) = empty_rss {
            result.notes.push(format!(
                "operator RSS before the first object: {mib} MiB ({} TargetAccounts, their Secrets and sessions not yet assumed)",
                self.args.accounts
            ));
        }
        result.notes.push(format!(
            "applied {} objects in {apply_seconds:.1} s ({:.0}/s, {} in flight)",
            applied.len(),
            applied.len() as f64 / apply_seconds.max(0.001),
            self.args.concurrency
        ));
        Ok(result)
    }

    async fn settled(&mut self) -> anyhow::Result<PhaseResult> {
        eprintln!("phase 2: settled for {} s", self.args.settle_seconds);
        self.begin_phase();
        let start = self.mark().await?;
        tokio::time::sleep(Duration::from_secs(self.args.settle_seconds)).await;
        let mut result = self.finish("settled", &start, 0.0).await?;
        result.notes.push(self.store_floor().await?);
        Ok(result)
    }

    /// What the operator's store of every object weighs at least: one settled
    /// object read back, deserialized and trimmed as the operator caches it.
    async fn store_floor(&self) -> anyhow::Result<String> {
        let sample = &self.objects[0];
        let api: kube::Api<crossdeploy::api::CrossAccountDeployment> =
            kube::Api::namespaced(self.admin.clone(), &sample.namespace);
        let mut obj = api.get(&sample.name).await?;
        crossdeploy::runtime::trim_for_cache(&mut obj);
        let json = serde_json::to_string(&obj)?;
        let bytes = support::heap::cached_object_bytes(&json, 1000)?;
        let n = self.objects.len();
        Ok(format!(
            "the store: one settled object as the operator caches it is {} bytes of JSON and {bytes} bytes of heap; \
             {n} of them are {:.0} MiB before the allocator's size classes",
            json.len(),
            (bytes * n) as f64 / 1048576.0
        ))
    }

    async fn operator_restart(&mut self) -> anyhow::Result<PhaseResult> {
        eprintln!("phase 3: operator restart with everything settled");
        self.begin_phase();
        let start = self.mark().await?;
        self.kube_at_stop = self.kube_requests().await;
        self.operator.restart().await?;
        self.op_pid.store(self.operator.pid().unwrap_or(0), Ordering::Relaxed);
        self.begin_phase(); // peak memory of the new process
        let restarted = Instant::now();
        self.wait_operator_ready().await?;
        let readyz = restarted.elapsed().as_secs_f64();
        let reconciled = self.wait_reconciled(restarted).await;
        tokio::time::sleep(Duration::from_secs(self.args.window_seconds)).await;
        let mut result = self.finish("operator restart", &start, 0.0).await?;
        result.seconds = reconciled.unwrap_or(readyz);
        result.notes.push(match reconciled {
            Some(s) => format!("/readyz after {readyz:.1} s; every object reconciled once after {s:.1} s"),
            None => format!(
                "/readyz after {readyz:.1} s; not every object was reconciled within {} s",
                self.args.window_seconds
            ),
        });
        Ok(result)
    }

    /// Seconds until `crossdeploy_reconciles_total` of CrossAccountDeployments
    /// reaches the number of objects (each one looked at once).
    async fn wait_reconciled(&self, since: Instant) -> Option<f64> {
        let deadline = Instant::now() + Duration::from_secs(self.args.window_seconds.max(30) * 4);
        while Instant::now() < deadline {
            if let Some(m) = self.operator.metrics().await
                && m.sum("crossdeploy_reconciles_total", &[r#"kind="CrossAccountDeployment""#])
                    >= self.objects.len() as f64
            {
                return Some(since.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }

    async fn spec_change(&mut self) -> anyhow::Result<PhaseResult> {
        let every = (100.0 / self.args.change_percent.clamp(0.01, 100.0)).round().max(1.0) as usize;
        let changed: Vec<Object> = self.objects.iter().step_by(every).cloned().collect();
        eprintln!("phase 4: spec change of {} objects", changed.len());
        self.begin_phase();
        let start = self.mark().await?;
        let items = changed
            .iter()
            .map(|o| (o.clone(), o.manifest(&self.run, &self.app, &self.bucket, V2, None)))
            .collect();
        let patched = world::apply_all(&self.admin, items, self.args.concurrency).await?;
        let patch_seconds = start.at.elapsed().as_secs_f64();
        let generations: Vec<(String, i64)> = patched.iter().map(|a| (a.object.id(), a.generation)).collect();
        self.tracker.wait_seen(&generations, Duration::from_secs(60)).await;
        let all_ready =
            start.at.elapsed().as_secs_f64().max(patch_seconds) + self.wait_all_ready("spec change").await?;
        let mut result = self.finish("spec change", &start, 0.0).await?;
        result.seconds = all_ready;
        result.per = changed.len();
        result.latency_ms = self.create_latencies(start.emu_seq, &patched).await?;
        result
            .notes
            .push(format!("patched {} objects in {patch_seconds:.1} s", patched.len()));
        Ok(result)
    }

    /// Objects the spec-change phase left alone get a new revision one after
    /// another; the next is applied once the previous one's CreateDeployment
    /// was sent, so nothing queues and the latency is the operator's own.
    async fn one_at_a_time(&mut self) -> anyhow::Result<PhaseResult> {
        let every = (100.0 / self.args.change_percent.clamp(0.01, 100.0)).round().max(1.0) as usize;
        let untouched: Vec<Object> = (0..self.objects.len())
            .filter(|i| every == 1 || i % every != 0)
            .map(|i| self.objects[i].clone())
            .collect();
        let stride = (untouched.len() / self.args.single_changes.max(1)).max(1);
        let picked: Vec<Object> = untouched
            .into_iter()
            .step_by(stride)
            .take(self.args.single_changes)
            .collect();
        eprintln!("phase 5: {} spec changes one at a time", picked.len());
        self.begin_phase();
        let start = self.mark().await?;
        let mut patched = Vec::new();
        for object in picked {
            // An object changed before (every == 1) goes back to V1: also new.
            let version = if every == 1 { V1 } else { V2 };
            let manifest = object.manifest(&self.run, &self.app, &self.bucket, version, None);
            let seq = self.mark().await?.emu_seq;
            let applied = world::apply_all(&self.admin, vec![(object, manifest)], 1).await?;
            self.wait_created(seq, &applied[0].object.group).await?;
            patched.extend(applied);
        }
        let changes_seconds = start.at.elapsed().as_secs_f64();
        let generations: Vec<(String, i64)> = patched.iter().map(|a| (a.object.id(), a.generation)).collect();
        self.tracker.wait_seen(&generations, Duration::from_secs(60)).await;
        let all_ready = changes_seconds + self.wait_all_ready("one at a time").await?;
        let mut result = self.finish("one at a time", &start, 0.0).await?;
        result.seconds = all_ready;
        result.per = patched.len();
        result.latency_ms = self.create_latencies(start.emu_seq, &patched).await?;
        result.notes.push(format!(
            "{} objects changed one after another in {changes_seconds:.1} s",
            patched.len()
        ));
        Ok(result)
    }

    /// Waits until the emulator served a successful CreateDeployment for
    /// `group` after `since`.
    async fn wait_created(&self, since: u64, group: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let calls = self
                .emu
                .calls(&format!("operation=CreateDeployment&outcome=ok&since={since}"))
                .await?;
            if calls
                .iter()
                .any(|c| c["params"]["deploymentGroupName"].as_str() == Some(group))
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("no CreateDeployment for group {group} within 60 s")
    }

    async fn apiserver_restart(&mut self) -> anyhow::Result<PhaseResult> {
        eprintln!("phase 6: API server killed and restarted");
        self.begin_phase();
        let start = self.mark().await?;
        let env = self.env;
        let cp_cpu_before = self.env.controlplane_pid().and_then(procfs::cpu_seconds).unwrap_or(0.0);
        let down = tokio::task::spawn_blocking(move || env.restart_controlplane())
            .await?
            .map_err(anyhow::Error::msg)?;
        let back = Instant::now();
        self.wait_operator_ready().await?;
        let operator_back = back.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(self.args.window_seconds)).await;
        let still = self.tracker.done();
        let mut result = self.finish("API-server restart", &start, cp_cpu_before).await?;
        result.seconds = down.as_secs_f64() + operator_back;
        result.notes.push(format!(
            "API server back after {:.1} s, operator /readyz {operator_back:.1} s later; {still}/{} still Ready at the end",
            down.as_secs_f64(),
            self.objects.len()
        ));
        Ok(result)
    }

    /// Milliseconds from each object's apply to the emulator's record of its
    /// group's first successful CreateDeployment after `since`.
    async fn create_latencies(&self, since: u64, applied: &[Applied]) -> anyhow::Result<Vec<f64>> {
        let calls = self
            .emu
            .calls(&format!("operation=CreateDeployment&outcome=ok&since={since}"))
            .await?;
        let mut first: HashMap<String, f64> = HashMap::new();
        for c in &calls {
            if let (Some(group), Some(epoch)) = (c["params"]["deploymentGroupName"].as_str(), c["epoch"].as_f64()) {
                first.entry(group.to_string()).or_insert(epoch);
            }
        }
        Ok(applied
            .iter()
            .filter_map(|a| first.get(&a.object.group).map(|created| (created - a.at) * 1000.0))
            .collect())
    }
}

/// Objects spread round-robin over the accounts, and over each account's groups.
fn plan_objects(run: &str, accounts: &[Account], n: usize, groups_per_account: Option<usize>) -> Vec<Object> {
    let m = accounts.len().max(1);
    (0..n)
        .map(|j| {
            let account = &accounts[j % m];
            let group = match groups_per_account {
                Some(g) => format!("{run}-a{}-g{}", j % m, (j / m) % g.max(1)),
                None => format!("{run}-g{j}"),
            };
            Object {
                namespace: account.namespace.clone(),
                name: format!("o-{j}"),
                target: account.target.clone(),
                group,
            }
        })
        .collect()
}

fn operator_spec(
    args: &Args,
    env: &env::Env,
    run: &str,
    operator_ns: &str,
    kubeconfig: PathBuf,
    tmp: &std::path::Path,
) -> OperatorSpec {
    let (key, secret) = env.identity("operator");
    let mut flags = vec![
        "--operator-namespace".to_string(),
        operator_ns.to_string(),
        "--target-account-selector".to_string(),
        format!("crossdeploy.io/bench={run}"),
        "--s3-force-path-style".to_string(),
    ];
    flags.extend(args.operator_args.iter().cloned());
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_crossdeploy"));
    flags.extend(operator::per_account_rate_args(
        &binary,
        args.accounts,
        &args.operator_args,
    ));
    OperatorSpec {
        binary,
        name: "operator".into(),
        kubeconfig,
        args: flags,
        env: vec![
            ("AWS_ENDPOINT_URL".into(), env.endpoint().to_string()),
            ("AWS_ACCESS_KEY_ID".into(), key),
            ("AWS_SECRET_ACCESS_KEY".into(), secret),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("RUST_LOG".into(), "info".into()),
        ],
        log_dir: tmp.to_path_buf(),
    }
}

// ----------------------------------------------------------------- report

fn cell_calls(r: &PhaseResult) -> [String; 4] {
    let total = emu::total(&r.calls, "");
    let per = if r.per == 0 { 0.0 } else { total as f64 / r.per as f64 };
    [
        total.to_string(),
        format!("{per:.2}"),
        r.calls.get("sts:AssumeRole").copied().unwrap_or(0).to_string(),
        if r.calls.is_empty() {
            "—".into()
        } else {
            emu::by_operation(&r.calls)
        },
    ]
}

fn cell_api(r: &PhaseResult) -> String {
    let audited = match &r.api {
        None => "n/a".into(),
        Some(api) if api.is_empty() => "0".into(),
        Some(api) => {
            let verbs = audit::by_verb(api);
            let total: u64 = verbs.values().sum();
            let detail: Vec<String> = verbs.iter().map(|(v, n)| format!("{v} {n}")).collect();
            format!("{total} ({})", detail.join(", "))
        }
    };
    match r.kube_metric {
        Some(n) => format!("{audited}; own metric {n:.0}"),
        None => audited,
    }
}

fn cell_latency(r: &PhaseResult) -> String {
    match (
        report::percentile(&r.latency_ms, 50.0),
        report::percentile(&r.latency_ms, 99.0),
    ) {
        (Some(p50), Some(p99)) => format!("{p50:.0} / {p99:.0}"),
        _ => "—".into(),
    }
}

impl Bench {
    fn report(&self, results: &[PhaseResult]) -> anyhow::Result<()> {
        let mut table = Table::new(&[
            "phase",
            "s",
            "AWS calls",
            "per object",
            "AssumeRole",
            "AWS calls by operation",
            "operator CPU s",
            "peak RSS MiB",
            "RSS at end MiB",
            "API requests by the operator",
            "p50 / p99 ms to CreateDeployment",
            "emulator CPU s (busy)",
            "API server CPU s (busy)",
        ]);
        for r in results {
            let [total, per, assume, ops] = cell_calls(r);
            table.row(vec![
                r.name.clone(),
                format!("{:.1}", r.seconds),
                total,
                per,
                assume,
                ops,
                format!("{:.1}", r.op_cpu),
                format!("{:.0}", procfs::mib(r.peak_rss_kib)),
                format!("{:.0}", procfs::mib(r.end_rss_kib)),
                cell_api(r),
                cell_latency(r),
                format!("{:.1} ({:.0} %)", r.emu_cpu, 100.0 * r.emu_cpu / r.wall.max(0.001)),
                format!("{:.1} ({:.0} %)", r.cp_cpu, 100.0 * r.cp_cpu / r.wall.max(0.001)),
            ]);
        }
        let header = format!(
            "crossdeploy bench: N={} objects, M={} accounts, {}; {}; operator {} (release)",
            self.objects.len(),
            self.args.accounts,
            match self.args.groups_per_account {
                Some(g) => format!("groups: {g} per account"),
                None => "groups: one per object".into(),
            },
            machine(),
            env!("CARGO_PKG_VERSION"),
        );
        let mut text = format!(
            "{header}\noperator flags: {}\n\n{}\n",
            self.operator_flags.join(" "),
            table.markdown()
        );
        for r in results {
            for note in &r.notes {
                text.push_str(&format!("- {}: {note}\n", r.name));
            }
            if let Some(api) = r.api.as_ref().filter(|a| !a.is_empty()) {
                let detail: Vec<String> = api.iter().map(|(k, n)| format!("{k} {n}")).collect();
                text.push_str(&format!("- {}: API requests: {}\n", r.name, detail.join(", ")));
            }
        }
        println!("\n{text}");
        self.write_outputs(&text)
    }

    fn write_outputs(&self, text: &str) -> anyhow::Result<()> {
        let dir = if self.args.out.is_absolute() {
            self.args.out.clone()
        } else {
            PathBuf::from(env::REPO).join(&self.args.out)
        };
        std::fs::create_dir_all(&dir)?;
        let stem = format!("bench-N{}-M{}", self.objects.len(), self.args.accounts);
        std::fs::write(dir.join(format!("{stem}.md")), text)?;
        let points = self.samples.lock().map(|s| s.points.clone()).unwrap_or_default();
        let plot = Plot {
            title: format!(
                "crossdeploy: {} objects over {} accounts",
                self.objects.len(),
                self.args.accounts
            ),
            x_label: "seconds".into(),
            left_label: "objects Ready for their current spec".into(),
            right_label: "operator RSS (MiB)".into(),
            series: vec![
                Series {
                    name: "Ready objects".into(),
                    color: "#1f77b4",
                    axis: Axis::Left,
                    points: points.iter().map(|p| (p.0, p.1)).collect(),
                },
                Series {
                    name: "operator RSS MiB".into(),
                    color: "#d62728",
                    axis: Axis::Right,
                    points: points.iter().map(|p| (p.0, p.2)).collect(),
                },
            ],
            phases: self.phases.clone(),
        };
        std::fs::write(dir.join(format!("{stem}.svg")), plot.svg())?;
        eprintln!("wrote {}/{stem}.md and {stem}.svg", dir.display());
        Ok(())
    }
}
