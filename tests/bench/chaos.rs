//! `make chaos`: crossdeploy under failure, on the local environment, with the
//! operator built in release mode. Scenarios, each ending in one table row:
//!
//! - `kill`: `--kills` SIGKILLs of the operator at random moments (seeded)
//!   while rollouts of `--objects` objects in `--groups` deployment groups run
//!   round after round; the operator is restarted after each;
//! - `apiserver`: the API server (kube-apiserver + etcd) killed and restarted
//!   mid-rollout, on the same data and port;
//! - `throttle`, `burst5xx`, `latency`, `expired`: emulator fault injection
//!   (`/_crossdeploy/faults`) during a rollout — throttling on 30 % of calls, a
//!   burst of 5xx, 2 s latency on every call, ExpiredToken on a session;
//! - `leader`: two replicas with `--leader-elect`; the leader is frozen
//!   (SIGSTOP) mid-rollout, the standby must take over, and the frozen one,
//!   resumed (SIGCONT) under a new rollout, must make no AWS write. The
//!   replicas share one AWS identity; each has its own SDK application id
//!   (AWS_SDK_UA_APP_ID), which the emulator records with every call.
//!
//! Every scenario must end with every object Ready, 0 duplicate and 0 missing
//! deployments (markers counted per object and digest, see support/ledger.rs),
//! and prints its AWS call counts. A round gives every object a new desired
//! revision (the key alternates, the `crossdeploy.io/redeploy` annotation
//! carries the round), so each round is one rollout per object.

// A bench that cannot unwrap has failed; the panic says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../e2e/env.rs"]
mod env;
#[allow(dead_code, unused_imports)]
#[path = "../e2e/harness.rs"]
mod harness;
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use support::emu::{self, Emu};
use support::ledger::{self, Expected, Ledger};
use support::operator::{Operator, OperatorSpec};
use support::ready::Tracker;
use support::report::Table;
use support::world::{self, AccountSetup, Object, V1, V2};

const SCENARIOS: &[&str] = &[
    "kill",
    "apiserver",
    "throttle",
    "burst5xx",
    "latency",
    "expired",
    "leader",
];

#[derive(Parser, Debug)]
#[command(about = "crossdeploy under failure: kills, API-server restarts, AWS faults, a frozen leader")]
struct Args {
    /// CrossAccountDeployments.
    #[arg(long, default_value_t = 12)]
    objects: usize,
    /// Deployment groups (also accounts/namespaces); objects share them.
    #[arg(long, default_value_t = 3)]
    groups: usize,
    /// SIGKILLs in the kill scenario.
    #[arg(long, default_value_t = 100)]
    kills: usize,
    /// Shortest and longest pause before a kill, milliseconds.
    #[arg(long, default_value_t = 200)]
    kill_min_ms: u64,
    #[arg(long, default_value_t = 2500)]
    kill_max_ms: u64,
    /// Seed of the kill moments and of the fault rules.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// A scenario fails when its objects are not all Ready after this long.
    #[arg(long, default_value_t = 240)]
    scenario_timeout_seconds: u64,
    /// --leader-lease-seconds of the two replicas in the leader scenario.
    #[arg(long, default_value_t = 6)]
    lease_seconds: u64,
    /// Scenarios to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', default_values_t = SCENARIOS.iter().map(|s| s.to_string()).collect::<Vec<_>>())]
    scenarios: Vec<String>,
    /// Where the table goes (chaos.md).
    #[arg(long, default_value = "docs/bench")]
    out: PathBuf,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Default)]
struct Row {
    name: String,
    ok: bool,
    seconds: f64,
    rollouts: usize,
    ledger: Ledger,
    calls: BTreeMap<String, u64>,
    creates_ok: usize,
    injected: usize,
    notes: Vec<String>,
}

struct Chaos {
    args: Args,
    run: String,
    env: &'static env::Env,
    emu: Emu,
    admin: Client,
    app: String,
    bucket: String,
    operator_ns: String,
    objects: Vec<Object>,
    groups: Vec<String>,
    /// Per object, the desired digests of this scenario's rounds.
    desired: Vec<Vec<String>>,
    /// The current round has been applied and not yet noted in `desired`.
    round_open: bool,
    round: usize,
    spec: OperatorSpec,
    operator: Option<Operator>,
    tracker: Tracker,
    rng: StdRng,
}

fn main() -> anyhow::Result<()> {
    if !support::invoked_by_cargo_bench() {
        return Ok(());
    }
    let args = Args::parse();
    let run = format!("xc{:04x}", std::process::id() % 0x10000);
    let tmp = std::env::temp_dir().join(format!("crossdeploy-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let env = env::env_with(env::EnvOptions::default());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let logs = tmp.clone();
    runtime
        .block_on(async move {
            let mut chaos = Chaos::prepare(args, run, env, tmp).await?;
            let rows = chaos.scenarios().await?;
            chaos.report(&rows)
        })
        .inspect_err(|_| eprintln!("operator logs kept in {}", logs.display()))?;
    let _ = std::fs::remove_dir_all(logs);
    Ok(())
}

impl Chaos {
    async fn prepare(args: Args, run: String, env: &'static env::Env, tmp: PathBuf) -> anyhow::Result<Self> {
        let emu = Emu::new(env.endpoint());
        let admin = harness::admin_client().await;
        harness::ensure_crds(&admin).await;
        let operator_ns = format!("{run}-system");
        world::namespace(&admin, &operator_ns).await?;
        let accounts = AccountSetup {
            client: &admin,
            run: &run,
            operator_namespace: &operator_ns,
            env,
        }
        .create(args.groups.max(1))
        .await?;
        let groups: Vec<String> = (0..accounts.len()).map(|g| format!("{run}-g{g}")).collect();
        let objects: Vec<Object> = (0..args.objects)
            .map(|i| {
                let a = &accounts[i % accounts.len()];
                Object {
                    namespace: a.namespace.clone(),
                    name: format!("o-{i}"),
                    target: a.target.clone(),
                    group: groups[i % groups.len()].clone(),
                }
            })
            .collect();
        let app = harness::app();
        emu.create_groups(&app, &groups).await?;
        let spec = operator_spec(env, &run, &operator_ns, accounts.len(), &tmp);
        let tracker = Tracker::start(admin.clone(), &format!("crossdeploy.io/bench={run}"));
        let rng = StdRng::seed_from_u64(args.seed);
        let desired = vec![Vec::new(); objects.len()];
        let mut chaos = Self {
            args,
            run,
            env,
            emu,
            admin,
            app,
            bucket: harness::revisions_bucket(),
            operator_ns,
            objects,
            groups,
            desired,
            round_open: false,
            round: 0,
            spec,
            operator: None,
            tracker,
            rng,
        };
        chaos.start_single()?;
        chaos.rollout().await?;
        chaos
            .wait_ready(Duration::from_secs(chaos.args.scenario_timeout_seconds))
            .await
            .map_err(anyhow::Error::msg)
            .context("the first rollout (no chaos yet)")?;
        eprintln!(
            "chaos {}: {} objects in {} groups deployed; scenarios: {:?}",
            chaos.run,
            chaos.objects.len(),
            chaos.groups.len(),
            chaos.args.scenarios
        );
        Ok(chaos)
    }

    fn start_single(&mut self) -> anyhow::Result<()> {
        self.operator = Some(Operator::start(self.spec.clone())?);
        Ok(())
    }

    fn operator(&mut self) -> &mut Operator {
        self.operator.as_mut().expect("the operator is running")
    }

    async fn scenarios(&mut self) -> anyhow::Result<Vec<Row>> {
        let mut rows = Vec::new();
        let wanted = self.args.scenarios.clone();
        for name in wanted {
            eprintln!("scenario {name}");
            let row = match name.as_str() {
                "kill" => self.kills().await?,
                "apiserver" => self.apiserver().await?,
                "throttle" => self.fault("throttle 30 %", self.throttle_rules()).await?,
                "burst5xx" => self.fault("burst of 5xx", self.burst_rules()).await?,
                "latency" => self.fault("2 s latency", self.latency_rules()).await?,
                "expired" => self.fault("ExpiredToken on a session", self.expired_rules()).await?,
                "leader" => self.leader().await?,
                other => anyhow::bail!("unknown scenario {other}; known: {SCENARIOS:?}"),
            };
            eprintln!(
                "  {}: {} in {:.1}s: {} rollouts, {} duplicates, {} missing",
                row.name,
                if row.ok { "ok" } else { "FAILED" },
                row.seconds,
                row.rollouts,
                row.ledger.duplicates,
                row.ledger.missing
            );
            rows.push(row);
        }
        Ok(rows)
    }

    /// A new desired revision for every object; returns when the watch has
    /// seen the new generations (so "Ready" then means this round).
    async fn rollout(&mut self) -> anyhow::Result<()> {
        self.round += 1;
        let key = if self.round % 2 == 1 { V1 } else { V2 };
        let round = self.round.to_string();
        let items = self
            .objects
            .iter()
            .map(|o| {
                (
                    o.clone(),
                    o.manifest(&self.run, &self.app, &self.bucket, key, Some(&round)),
                )
            })
            .collect();
        self.note_round();
        let applied = world::apply_all(&self.admin, items, 8).await?;
        self.round_open = true;
        let generations: Vec<(String, i64)> = applied.iter().map(|a| (a.object.id(), a.generation)).collect();
        self.tracker.wait_seen(&generations, Duration::from_secs(60)).await;
        Ok(())
    }

    /// Records what each object was asked to deploy in the open round: the
    /// digest its status names once the operator has observed the spec, or a
    /// digest that matches nothing when it never did (a missing deployment).
    fn note_round(&mut self) {
        if !std::mem::take(&mut self.round_open) {
            return;
        }
        let snapshot = self.tracker.snapshot();
        for (i, o) in self.objects.iter().enumerate() {
            let digest = snapshot
                .get(&o.id())
                .filter(|s| s.observed == Some(s.generation))
                .and_then(|s| s.digest.clone())
                .unwrap_or_else(|| format!("unobserved:{}", self.round));
            self.desired[i].push(digest);
        }
    }

    /// Starts a scenario: its ledger counts only its own rounds.
    fn begin(&mut self) -> usize {
        self.note_round();
        for d in &mut self.desired {
            d.clear();
        }
        self.round
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<f64, String> {
        let started = Instant::now();
        while self.tracker.done() < self.objects.len() {
            if started.elapsed() > timeout {
                return Err(format!(
                    "{}/{} Ready after {:.0} s ({})",
                    self.tracker.done(),
                    self.objects.len(),
                    timeout.as_secs_f64(),
                    self.tracker.summary()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(started.elapsed().as_secs_f64())
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.args.scenario_timeout_seconds)
    }

    /// The scenario's result: waits for Ready (or the timeout), then counts.
    async fn conclude(&mut self, name: &str, since: u64, started: Instant) -> anyhow::Result<Row> {
        let ready = self.wait_ready(self.timeout()).await;
        let mut row = self.count(name, since, started).await?;
        if let Err(e) = ready {
            row.ok = false;
            row.notes.push(e);
        }
        Ok(row)
    }

    async fn count(&mut self, name: &str, since: u64, started: Instant) -> anyhow::Result<Row> {
        self.note_round();
        let mut deployments = Vec::new();
        for g in &self.groups {
            deployments.extend(self.emu.deployments(&self.app, Some(g)).await?);
        }
        let expected: Vec<Expected> = self
            .objects
            .iter()
            .zip(&self.desired)
            .map(|(o, d)| Expected {
                namespace: o.namespace.clone(),
                name: o.name.clone(),
                digests: d.clone(),
            })
            .collect();
        let rollouts = expected.iter().map(|e| e.digests.len()).sum();
        let ledger = ledger::count(&deployments, &expected);
        let calls = self.emu.calls(&format!("since={since}")).await?;
        let mine = |c: &&Value| !c["principal"].as_str().unwrap_or_default().contains(":user/prod-admin");
        let creates_ok = calls
            .iter()
            .filter(mine)
            .filter(|c| c["operation"] == "CreateDeployment" && c["outcome"] == "ok")
            .count();
        let injected = calls.iter().filter(|c| c["injected"] == true).count();
        let counters = self.emu.counters_since(since, "").await?;
        Ok(Row {
            name: name.to_string(),
            ok: ledger.duplicates == 0 && ledger.missing == 0,
            seconds: started.elapsed().as_secs_f64(),
            rollouts,
            ledger,
            calls: counters,
            creates_ok,
            injected,
            notes: Vec::new(),
        })
    }

    /// Before a scenario: every object Ready (the previous one may have left
    /// some behind); a note when not.
    async fn settle_before(&mut self) -> Option<String> {
        self.wait_ready(self.timeout())
            .await
            .err()
            .map(|e| format!("started with objects not Ready: {e}"))
    }

    async fn kills(&mut self) -> anyhow::Result<Row> {
        let before = self.settle_before().await;
        let first_round = self.begin() + 1;
        let since = self.emu.last_seq().await?;
        let started = Instant::now();
        self.rollout().await?;
        let mut kills = 0;
        while kills < self.args.kills {
            let pause = self
                .rng
                .random_range(self.args.kill_min_ms..=self.args.kill_max_ms.max(self.args.kill_min_ms));
            tokio::time::sleep(Duration::from_millis(pause)).await;
            if self.tracker.done() == self.objects.len() {
                self.rollout().await?;
            }
            self.operator().kill_and_restart().await?;
            kills += 1;
        }
        let mut row = self
            .conclude(&format!("{kills} SIGKILLs of the operator"), since, started)
            .await?;
        row.notes.extend(before);
        row.notes.push(format!(
            "{} rounds of {} objects in {} groups; kills every {}–{} ms (seed {})",
            self.round + 1 - first_round,
            self.objects.len(),
            self.groups.len(),
            self.args.kill_min_ms,
            self.args.kill_max_ms,
            self.args.seed
        ));
        Ok(row)
    }

    /// Waits until a CreateDeployment has succeeded since `since`: mid-rollout.
    async fn wait_first_create(&self, since: u64, app: Option<&str>) -> anyhow::Result<()> {
        let filter = app.map(|a| format!("&app={a}")).unwrap_or_default();
        for _ in 0..600 {
            let calls = self
                .emu
                .calls(&format!("operation=CreateDeployment&outcome=ok&since={since}{filter}"))
                .await?;
            if !calls.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("no CreateDeployment within 30 s")
    }

    async fn apiserver(&mut self) -> anyhow::Result<Row> {
        let before = self.settle_before().await;
        self.begin();
        let since = self.emu.last_seq().await?;
        let started = Instant::now();
        self.rollout().await?;
        self.wait_first_create(since, None).await?;
        let env = self.env;
        let down = tokio::task::spawn_blocking(move || env.restart_controlplane())
            .await?
            .map_err(anyhow::Error::msg)?;
        let mut row = self.conclude("API server killed mid-rollout", since, started).await?;
        row.notes.extend(before);
        row.notes
            .push(format!("API server (SIGKILL) back after {:.1} s", down.as_secs_f64()));
        Ok(row)
    }

    /// Principals of this run: its role sessions (`crossdeploy.<namespace>`)
    /// and the operator's own identity (AssumeRole, its own S3 reads).
    fn scopes(&self) -> [String; 2] {
        [
            format!("/crossdeploy.{}-", self.run),
            ":user/crossdeploy-operator".to_string(),
        ]
    }

    fn throttle_rules(&self) -> Value {
        let seed = self.args.seed;
        Value::Array(
            self.scopes()
                .iter()
                .enumerate()
                .map(|(i, p)| json!({"principal_contains": p, "effect": "throttle", "probability": 0.3, "seed": seed + i as u64}))
                .collect(),
        )
    }

    fn burst_rules(&self) -> Value {
        Value::Array(
            self.scopes()
                .iter()
                .map(|p| json!({"principal_contains": p, "effect": "error5xx", "count": 15}))
                .collect(),
        )
    }

    fn latency_rules(&self) -> Value {
        Value::Array(
            self.scopes()
                .iter()
                .map(|p| json!({"principal_contains": p, "latencySeconds": 2.0}))
                .collect(),
        )
    }

    fn expired_rules(&self) -> Value {
        let session = format!("/crossdeploy.{}-n0", self.run);
        json!([{"principal_contains": session, "effect": "expiredToken", "existingSessionsOnly": true}])
    }

    /// A rollout under fault rules; the rules are cleared at the end. When the
    /// objects did not get Ready under the fault, the row fails and says how
    /// long they took once the rules were gone.
    async fn fault(&mut self, name: &str, rules: Value) -> anyhow::Result<Row> {
        let before = self.settle_before().await;
        self.begin();
        let since = self.emu.last_seq().await?;
        let started = Instant::now();
        let added = self.emu.add_faults(rules).await?;
        self.rollout().await?;
        let ready = self.wait_ready(self.timeout()).await;
        let fired: u64 = self
            .emu
            .faults()
            .await?
            .iter()
            .filter(|r| added.iter().any(|a| a["id"] == r["id"]))
            .map(|r| r["fired"].as_u64().unwrap_or(0))
            .sum();
        self.emu.clear_faults().await?;
        let recovered = match &ready {
            Ok(_) => None,
            Err(_) => Some(self.wait_ready(self.timeout()).await),
        };
        let mut row = self.count(name, since, started).await?;
        row.notes.extend(before);
        row.notes.push(format!("the {} rules fired {fired} times", added.len()));
        if let Err(e) = ready {
            row.ok = false;
            row.notes.push(format!("under the fault: {e}"));
            row.notes.push(match recovered {
                Some(Ok(s)) => format!("Ready {s:.1} s after the rules were cleared"),
                _ => "still not Ready after the rules were cleared".into(),
            });
        }
        Ok(row)
    }

    async fn lease_holder(&self) -> Option<String> {
        harness::lease_holder(&self.admin, &self.operator_ns).await
    }

    async fn wait_holder(&self, want: impl Fn(&str) -> bool, timeout: Duration) -> Option<(String, f64)> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(h) = self.lease_holder().await.filter(|h| want(h)) {
                return Some((h, started.elapsed().as_secs_f64()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    fn replica(&self, name: &str) -> OperatorSpec {
        let mut spec = self.spec.clone();
        spec.name = name.to_string();
        spec.args.extend([
            "--leader-elect".to_string(),
            "--leader-lease-seconds".to_string(),
            self.args.lease_seconds.to_string(),
        ]);
        spec.env.push(("POD_NAME".into(), name.into()));
        spec.env.push(("AWS_SDK_UA_APP_ID".into(), name.into()));
        spec
    }

    async fn leader(&mut self) -> anyhow::Result<Row> {
        let before = self.settle_before().await;
        self.begin();
        if let Some(mut single) = self.operator.take() {
            single.stop().await;
        }
        let mut replicas = [
            Operator::start(self.replica("replica-a"))?,
            Operator::start(self.replica("replica-b"))?,
        ];
        let lease = Duration::from_secs(self.args.lease_seconds);
        let (leader, _) = self
            .wait_holder(|h| h.starts_with("replica-"), lease * 4)
            .await
            .context("no replica took the lease")?;
        let l = usize::from(leader != "replica-a");
        let standby = if l == 0 { "replica-b" } else { "replica-a" };
        let since = self.emu.last_seq().await?;
        let started = Instant::now();
        self.rollout().await?;
        self.wait_first_create(since, Some(&leader)).await?;
        replicas[l].freeze();
        let takeover = self.wait_holder(|h| h == standby, lease * 4).await;
        let first_round = self.wait_ready(self.timeout()).await;
        let resumed_at = self.emu.last_seq().await?;
        self.rollout().await?;
        replicas[l].resume();
        let mut row = self.conclude("frozen leader replaced", since, started).await?;
        row.notes.extend(before);
        tokio::time::sleep(lease).await;
        let after = self.emu.calls(&format!("since={resumed_at}&app={leader}")).await?;
        let writes = after
            .iter()
            .filter(|c| matches!(c["operation"].as_str(), Some("CreateDeployment" | "StopDeployment")))
            .count();
        row.ok &= takeover.is_some() && writes == 0 && first_round.is_ok();
        row.notes.push(match &takeover {
            Some((_, t)) => format!(
                "{standby} took the lease {t:.1} s after {leader} was frozen (lease {} s)",
                self.args.lease_seconds
            ),
            None => format!("{standby} did NOT take the lease while {leader} was frozen"),
        });
        if let Err(e) = first_round {
            row.notes.push(format!("rollout while frozen: {e}"));
        }
        row.notes.push(format!(
            "after SIGCONT {leader} made {} AWS calls, {writes} of them writes (Create/StopDeployment); it {}",
            after.len(),
            if replicas[l].alive() { "kept running" } else { "exited" }
        ));
        for r in &mut replicas {
            r.kill().await;
        }
        self.start_single()?;
        Ok(row)
    }

    fn report(&self, rows: &[Row]) -> anyhow::Result<()> {
        let mut table = Table::new(&[
            "scenario",
            "result",
            "s",
            "rollouts",
            "deployments",
            "duplicates",
            "missing",
            "CreateDeployment ok",
            "AWS calls",
            "per rollout",
            "AWS calls by operation",
            "faults injected",
        ]);
        for r in rows {
            let total = emu::total(&r.calls, "");
            table.row(vec![
                r.name.clone(),
                if r.ok { "ok".into() } else { "FAILED".into() },
                format!("{:.1}", r.seconds),
                r.rollouts.to_string(),
                r.ledger.matched.to_string(),
                r.ledger.duplicates.to_string(),
                r.ledger.missing.to_string(),
                r.creates_ok.to_string(),
                total.to_string(),
                format!("{:.1}", total as f64 / r.rollouts.max(1) as f64),
                emu::by_operation(&r.calls),
                r.injected.to_string(),
            ]);
        }
        let mut text = format!(
            "crossdeploy chaos: {} objects in {} deployment groups, operator {} (release)\n\n{}\n",
            self.objects.len(),
            self.groups.len(),
            env!("CARGO_PKG_VERSION"),
            table.markdown()
        );
        for r in rows {
            for n in &r.notes {
                text.push_str(&format!("- {}: {n}\n", r.name));
            }
            for p in &r.ledger.problems {
                text.push_str(&format!("- {}: {p}\n", r.name));
            }
        }
        println!("\n{text}");
        let dir = if self.args.out.is_absolute() {
            self.args.out.clone()
        } else {
            PathBuf::from(env::REPO).join(&self.args.out)
        };
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("chaos.md"), &text)?;
        if rows.iter().any(|r| !r.ok) {
            anyhow::bail!(
                "chaos: {} of {} scenarios failed (table above)",
                rows.iter().filter(|r| !r.ok).count(),
                rows.len()
            );
        }
        Ok(())
    }
}

fn operator_spec(env: &env::Env, run: &str, operator_ns: &str, accounts: usize, tmp: &std::path::Path) -> OperatorSpec {
    let (key, secret) = env.identity("operator");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_crossdeploy"));
    let mut args = vec![
        "--operator-namespace".into(),
        operator_ns.into(),
        "--target-account-selector".into(),
        format!("crossdeploy.io/bench={run}"),
        "--s3-force-path-style".into(),
    ];
    args.extend(support::operator::per_account_rate_args(&binary, accounts, &[]));
    OperatorSpec {
        binary,
        name: "operator".into(),
        kubeconfig: env.kubeconfig.clone(),
        args,
        env: vec![
            ("AWS_ENDPOINT_URL".into(), env.endpoint().to_string()),
            ("AWS_ACCESS_KEY_ID".into(), key),
            ("AWS_SECRET_ACCESS_KEY".into(), secret),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            // CROSSDEPLOY_CHAOS_RUST_LOG to see more of a failing scenario.
            (
                "RUST_LOG".into(),
                std::env::var("CROSSDEPLOY_CHAOS_RUST_LOG").unwrap_or_else(|_| "info".into()),
            ),
        ],
        log_dir: tmp.to_path_buf(),
    }
}
