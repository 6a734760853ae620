//! The shared test environment: a real kube-apiserver + etcd and the AWS
//! emulator, started once per test process (or reused from `make dev-up`).
//!
//! Children are started with `--exit-on-stdin-eof` and their stdin kept open
//! here: when the test process ends for any reason (success, panic, kill) the
//! pipes close and the servers shut themselves down.

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
    /// Kept so the children's stdin stays open for our lifetime.
    _children: Mutex<Vec<(Child, Option<ChildStdin>)>>,
}

static ENV: OnceLock<Result<Env, String>> = OnceLock::new();

/// The environment, started on first use. A missing piece fails the test
/// with a message naming it; nothing is skipped.
pub fn env() -> &'static Env {
    crossdeploy::install_crypto_provider();
    match ENV.get_or_init(start) {
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
}

fn start() -> Result<Env, String> {
    if let Ok(file) = std::env::var("CROSSDEPLOY_E2E_ENV") {
        // Reuse an environment started by `make dev-up`.
        let text = std::fs::read_to_string(&file).map_err(|e| format!("reading {file}: {e}"))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("parsing {file}: {e}"))?;
        return Ok(Env {
            kubeconfig: PathBuf::from(doc["kubeconfig"].as_str().unwrap_or_default()),
            world: doc["world"].clone(),
            work_dir: PathBuf::from(doc["workDir"].as_str().unwrap_or_default()),
            _children: Mutex::new(Vec::new()),
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

    let mut cp = Command::new(&controlplane);
    cp.args([
        "--dir",
        &work_dir.join("controlplane").to_string_lossy(),
        "--exit-on-stdin-eof",
    ]);
    let (cp_child, cp_stdin, cp_ready) = spawn_ready(cp, &work_dir.join("controlplane.log"), "control plane")?;

    let mut emu = Command::new(&python);
    emu.args(["-m", "crossdeploy_emulator", "--port", "0", "--exit-on-stdin-eof"])
        .env("PYTHONPATH", format!("{REPO}/tests/emulator"))
        .env("CROSSDEPLOY_EMULATOR_CD_IN_PROGRESS_AFTER", "0.3")
        .env("CROSSDEPLOY_EMULATOR_CD_COMPLETE_AFTER", "1.5");
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
        _children: Mutex::new(vec![(cp_child, cp_stdin), (emu_child, emu_stdin)]),
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
