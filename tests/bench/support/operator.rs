//! An operator process under measurement: started from the release binary
//! with its own kubeconfig, identity and flags, stopped gracefully, killed,
//! frozen and resumed; its CPU time summed over every process it has been.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::metrics::{self, Samples};
use super::procfs;

#[derive(Clone, Debug)]
pub struct OperatorSpec {
    pub binary: PathBuf,
    /// Names log files (`<log_dir>/<name>-<n>.log`).
    pub name: String,
    pub kubeconfig: PathBuf,
    pub args: Vec<String>,
    /// The AWS identity and endpoint, RUST_LOG, ...; nothing else is inherited
    /// but PATH.
    pub env: Vec<(String, String)>,
    pub log_dir: PathBuf,
}

pub struct Operator {
    spec: OperatorSpec,
    child: Option<tokio::process::Child>,
    pid: Option<u32>,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub addr: String,
    pub starts: usize,
    pub started_at: Instant,
    /// CPU seconds of the processes that have ended.
    past_cpu: f64,
}

/// Whether `crossdeploy run` of this binary has a flag (the bench runs
/// against whichever operator the checkout has).
pub fn supports_flag(binary: &std::path::Path, flag: &str) -> bool {
    std::process::Command::new(binary)
        .args(["run", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
}

/// The M TargetAccounts of a bench all name the emulator's one production
/// account, so an operator that rate-limits AWS calls per account would give
/// them one account's budget; `--aws-calls-per-second` is raised to M times
/// its default (20) to model M real accounts, unless the caller chose one.
pub fn per_account_rate_args(binary: &std::path::Path, accounts: usize, chosen: &[String]) -> Vec<String> {
    const FLAG: &str = "--aws-calls-per-second";
    if chosen.iter().any(|a| a.starts_with(FLAG)) || !supports_flag(binary, FLAG) {
        return Vec::new();
    }
    vec![FLAG.to_string(), (20 * accounts.max(1)).to_string()]
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

impl Operator {
    pub fn start(spec: OperatorSpec) -> anyhow::Result<Self> {
        let mut op = Self {
            spec,
            child: None,
            pid: None,
            addr: format!("127.0.0.1:{}", free_port()),
            starts: 0,
            started_at: Instant::now(),
            past_cpu: 0.0,
        };
        op.spawn()?;
        Ok(op)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = self
            .spec
            .log_dir
            .join(format!("{}-{}.log", self.spec.name, self.starts));
        let file = std::fs::File::create(&log)?;
        let mut cmd = tokio::process::Command::new(&self.spec.binary);
        cmd.arg("run")
            .args(["--http-addr", &self.addr])
            .args(&self.spec.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", &self.spec.kubeconfig)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        self.pid = child.id();
        self.child = Some(child);
        self.starts += 1;
        self.started_at = Instant::now();
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub fn log_path(&self) -> PathBuf {
        self.spec
            .log_dir
            .join(format!("{}-{}.log", self.spec.name, self.starts.saturating_sub(1)))
    }

    /// CPU seconds of every process this operator has been, so far.
    pub fn cpu_seconds(&self) -> f64 {
        self.past_cpu + self.pid.and_then(procfs::cpu_seconds).unwrap_or(0.0)
    }

    /// (RSS, high-water mark) of the current process, KiB.
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        self.pid.and_then(procfs::memory_kib)
    }

    async fn end(&mut self, sig: &str, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        self.past_cpu += self.pid.and_then(procfs::cpu_seconds).unwrap_or(0.0);
        if let Some(pid) = self.pid.take() {
            procfs::signal(pid, sig);
        }
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM, as a rolling update does; SIGKILL after 10 s.
    pub async fn stop(&mut self) {
        self.end("TERM", Duration::from_secs(10)).await;
    }

    /// SIGKILL: no chance to finish anything.
    pub async fn kill(&mut self) {
        self.end("KILL", Duration::from_secs(10)).await;
    }

    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        self.spawn()
    }

    pub async fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.spawn()
    }

    pub fn freeze(&self) {
        if let Some(pid) = self.pid {
            procfs::signal(pid, "STOP");
        }
    }

    pub fn resume(&self) {
        if let Some(pid) = self.pid {
            procfs::signal(pid, "CONT");
        }
    }

    /// Still running (it may exit by itself, e.g. on losing leadership).
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub async fn metrics(&self) -> Option<Samples> {
        metrics::fetch(&self.addr).await
    }

    pub async fn ready(&self) -> bool {
        reqwest::get(format!("http://{}/readyz", self.addr))
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            procfs::signal(pid, "CONT");
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}
