//! The shared test environment: a real kube-apiserver + etcd and the AWS
//! emulator, started once per test process (or reused from `make dev-up`).
//!
//! Children are started with `--exit-on-stdin-eof` and their stdin kept open
//! here: when the test process ends for any reason (success, panic, kill) the
//! pipes close and the servers shut themselves down.
//!
//! The bench programs (`tests/bench/`, `make bench`, `make chaos`) share this
//! file: they start the environment with [`EnvOptions`] (an audit log on the
//! API server, other emulator delays) and kill and restart the control plane
//! under a running operator ([`Env::restart_controlplane`]).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

pub struct Env {
    pub kubeconfig: PathBuf,
    pub world: Value,
    pub work_dir: PathBuf,
    /// Reused from `make dev-up` (CROSSDEPLOY_E2E_ENV) rather than started here.
    pub reused: bool,
    /// Kept so the children's stdin stays open for our lifetime; the control
    /// plane first.
    children: Mutex<Vec<(Child, Option<ChildStdin>)>>,
    /// How the control plane was started, for a restart on the same data.
    controlplane_cmd: Vec<String>,
}

/// How the environment is started; the e2e suite uses the defaults.
#[derive(Clone, Debug)]
pub struct EnvOptions {
    /// Extra kube-apiserver flags (the control plane passes what follows `--`).
    pub apiserver_args: Vec<String>,
    /// (in progress after, complete after) seconds of an emulated deployment.
    pub deployment_delays: (f64, f64),
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            apiserver_args: Vec::new(),
            deployment_delays: (0.3, 1.5),
        }
    }
}

static ENV: OnceLock<Result<Env, String>> = OnceLock::new();

/// The environment, started on first use. A missing piece fails the test
/// with a message naming it; nothing is skipped.
pub fn env() -> &'static Env {
    env_with(EnvOptions::default())
}

/// The environment, started with `options` if nobody has started it yet in
/// this process (the first caller decides; `env()` then returns the same).
pub fn env_with(options: EnvOptions) -> &'static Env {
    crossdeploy::install_crypto_provider();
    match ENV.get_or_init(|| start(&options)) {
        Ok(env) => env,
        Err(e) => panic!("e2e environment unavailable: {e}"),
    }
}

impl Env {
    pub fn endpoint(&self) -> &str {
        self.world["endpoint"].as_str().unwrap_or_default()
    }

    pub fn control_url(&self) -> String {
        format!("{}/_crossdeploy", self.endpoint())
    }

    pub fn identity(&self, who: &str) -> (String, String) {
        let id = &self.world["identities"][who];
        (
            id["accessKeyId"].as_str().unwrap_or_default().to_string(),
            id["secretAccessKey"].as_str().unwrap_or_default().to_string(),
        )
    }

    pub fn role(&self, key: &str) -> String {
        self.world["roles"][key].as_str().unwrap_or_default().to_string()
    }

    pub fn external_id(&self) -> String {
        self.world["externalId"].as_str().unwrap_or_default().to_string()
    }

    fn controlplane_dir(&self) -> PathBuf {
        self.work_dir.join("controlplane")
    }

    /// The control plane's process id, from its ready line (also for an
    /// environment reused from `make dev-up`).
    #[allow(dead_code)] // used by the bench programs
    pub fn controlplane_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.controlplane_dir().join("ready.json")).ok()?;
        let ready: Value = serde_json::from_str(&text).ok()?;
        ready["pid"].as_u64().and_then(|p| u32::try_from(p).ok())
    }

    /// Kills the control plane (SIGKILL: kube-apiserver and etcd die at once,
    /// mid-request) and starts it again on the same data directory, port and
    /// certificates (`--keep-data`): kubeconfigs, tokens and stored objects
    /// stay valid. Returns how long it was unavailable. An environment reused
    /// from `make dev-up` is restarted too, detached, its pid file updated.
    #[allow(dead_code)] // used by the bench programs
    pub fn restart_controlplane(&self) -> Result<Duration, String> {
        let pid = self
            .controlplane_pid()
            .ok_or("control plane pid unknown (no ready.json)")?;
        let started = std::time::Instant::now();
        let mut children = self.children.lock().map_err(|_| "children lock poisoned")?;
        if self.reused {
            let cmd = cmdline_of(pid)?;
            kill_and_wait(pid)?;
            let dir = self.work_dir.clone();
            let child = spawn_detached(&cmd, &dir)?;
            std::fs::write(dir.join("controlplane.pid"), format!("{}\n", child.id()))
                .map_err(|e| format!("writing controlplane.pid: {e}"))?;
        } else {
            let (mut old, _stdin) = children.remove(0);
            let _ = old.kill();
            let _ = old.wait();
            let mut cmd = Command::new(&self.controlplane_cmd[0]);
            cmd.args(&self.controlplane_cmd[1..]);
            let log = self.work_dir.join("controlplane-restarted.log");
            let (child, stdin, _ready) = spawn_ready(cmd, &log, "control plane (restart)")?;
            children.insert(0, (child, stdin));
        }
        Ok(started.elapsed())
    }
}

/// argv of a running process (to restart it as it was started).
fn cmdline_of(pid: u32) -> Result<Vec<String>, String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).map_err(|e| format!("reading cmdline of {pid}: {e}"))?;
    let mut argv: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).to_string())
        .collect();
    if !argv.iter().any(|a| a == "--keep-data") {
        let at = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
        argv.insert(at, "--keep-data".to_string());
    }
    Ok(argv)
}

fn kill_and_wait(pid: u32) -> Result<(), String> {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // gone, or a zombie of a parent that is not us
        if stat.is_empty() || stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("process {pid} did not die"))
}

/// Starts a control plane that outlives us (as `make dev-up` does) and waits
/// for its ready line in `<dir>/controlplane.json`.
fn spawn_detached(argv: &[String], dir: &Path) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    let out = dir.join("controlplane.json");
    let stdout = std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("controlplane.log"))
        .map_err(|e| format!("controlplane.log: {e}"))?;
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("restarting the control plane: {e}"))?;
    for _ in 0..1200 {
        if std::fs::metadata(&out).is_ok_and(|m| m.len() > 0) {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the restarted control plane was not ready within 120 s".into())
}

fn start(options: &EnvOptions) -> Result<Env, String> {
    if let Ok(file) = std::env::var("CROSSDEPLOY_E2E_ENV") {
        // Reuse an environment started by `make dev-up`.
        let text = std::fs::read_to_string(&file).map_err(|e| format!("reading {file}: {e}"))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("parsing {file}: {e}"))?;
        return Ok(Env {
            kubeconfig: PathBuf::from(doc["kubeconfig"].as_str().unwrap_or_default()),
            world: doc["world"].clone(),
            work_dir: PathBuf::from(doc["workDir"].as_str().unwrap_or_default()),
            reused: true,
            children: Mutex::new(Vec::new()),
            controlplane_cmd: Vec::new(),
        });
    }
    let work_dir = std::env::temp_dir().join(format!("crossdeploy-e2e-{}", std::process::id()));
    remove_stale_work_dirs();
    std::fs::create_dir_all(&work_dir).map_err(|e| format!("creating {}: {e}", work_dir.display()))?;

    let controlplane = build_output(
        &["bash", &format!("{REPO}/tests/controlplane/build.sh")],
        "control plane build",
    )?;
    let python = build_output(
        &["bash", &format!("{REPO}/tests/emulator/setup-venv.sh")],
        "emulator venv setup",
    )?;

    // --keep-data: a fresh cluster now (the work dir is new), the same one
    // again on a restart.
    let mut controlplane_cmd = vec![
        controlplane,
        "--dir".to_string(),
        work_dir.join("controlplane").to_string_lossy().to_string(),
        "--exit-on-stdin-eof".to_string(),
        "--keep-data".to_string(),
    ];
    if !options.apiserver_args.is_empty() {
        controlplane_cmd.push("--".to_string());
        controlplane_cmd.extend(options.apiserver_args.iter().cloned());
    }
    let mut cp = Command::new(&controlplane_cmd[0]);
    cp.args(&controlplane_cmd[1..]);
    let (cp_child, cp_stdin, cp_ready) = spawn_ready(cp, &work_dir.join("controlplane.log"), "control plane")?;

    let (in_progress, complete) = options.deployment_delays;
    let mut emu = Command::new(&python);
    emu.args(["-m", "crossdeploy_emulator", "--port", "0", "--exit-on-stdin-eof"])
        .env("PYTHONPATH", format!("{REPO}/tests/emulator"))
        .env("CROSSDEPLOY_EMULATOR_CD_IN_PROGRESS_AFTER", in_progress.to_string())
        .env("CROSSDEPLOY_EMULATOR_CD_COMPLETE_AFTER", complete.to_string());
    let (emu_child, emu_stdin, world) = spawn_ready(emu, &work_dir.join("emulator.log"), "AWS emulator")?;

    let kubeconfig = PathBuf::from(
        cp_ready["kubeconfig"]
            .as_str()
            .ok_or("control plane printed no kubeconfig")?,
    );
    eprintln!(
        "e2e environment: API server {} ready in {}s, emulator at {}",
        cp_ready["server"], cp_ready["readySeconds"], world["endpoint"]
    );
    Ok(Env {
        kubeconfig,
        world,
        work_dir,
        reused: false,
        children: Mutex::new(vec![(cp_child, cp_stdin), (emu_child, emu_stdin)]),
        controlplane_cmd,
    })
}

/// Runs a setup script and returns the last line it printed (a path).
fn build_output(argv: &[&str], what: &str) -> Result<String, String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: cannot run {}: {e}", argv.join(" ")))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({}); see the output above", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("{what} printed no path"))
}

/// Spawns a server that prints one JSON line when ready.
fn spawn_ready(mut cmd: Command, log: &Path, what: &str) -> Result<(Child, Option<ChildStdin>, Value), String> {
    let log_file = std::fs::File::create(log).map_err(|e| format!("{what}: log file: {e}"))?;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", cmd.get_program()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(180)).map_err(|_| {
        let _ = child.kill();
        format!("{what} not ready after 180 s; see {}", log.display())
    })?;
    let ready: Value = serde_json::from_str(line.trim()).map_err(|_| {
        let _ = child.kill();
        let tail = std::fs::read_to_string(log).unwrap_or_default();
        let tail: String = tail
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        format!("{what} exited before it was ready; last log lines:\n{tail}")
    })?;
    let stdin = child.stdin.take();
    Ok((child, stdin, ready))
}

/// Work dirs of earlier runs whose process is gone (etcd data is not small).
fn remove_stale_work_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix("crossdeploy-e2e-")
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
