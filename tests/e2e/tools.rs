//! Running the tools people run — `crossdeploy doctor`, `crossdeploy
//! policy`, and the kubectl plugin through the real kubectl — against the
//! test API server and the emulator.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::env::env;
use crate::harness::TestCtx;
use crate::packaging::tool;

/// A finished command.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Fails when any of `secrets` shows in the output.
    pub fn assert_shows_none_of(&self, secrets: &[String]) {
        for s in secrets {
            assert!(
                !self.stdout.contains(s.as_str()) && !self.stderr.contains(s.as_str()),
                "a secret ({} chars) was printed",
                s.len()
            );
        }
    }
}

async fn run(mut cmd: tokio::process::Command) -> Ran {
    let out = cmd.output().await.expect("command runs");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `crossdeploy ARGS` as the AWS identity (key id, secret), with the test
/// kubeconfig and the emulator endpoint; nothing else from our environment.
pub async fn crossdeploy(args: &[&str], identity: &(String, String), extra_env: &[(&str, &str)]) -> Ran {
    let env = env();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_crossdeploy"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KUBECONFIG", &env.kubeconfig)
        .env("AWS_ENDPOINT_URL", env.endpoint())
        .env("AWS_ACCESS_KEY_ID", &identity.0)
        .env("AWS_SECRET_ACCESS_KEY", &identity.1)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CROSSDEPLOY_S3_FORCE_PATH_STYLE", "true");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    run(cmd).await
}

/// `crossdeploy doctor -o json ...` for a test's TargetAccount, as the
/// operator's identity of that test.
pub async fn doctor(ctx: &TestCtx, args: &[&str]) -> Ran {
    let identity = ctx.aws_identity.clone().unwrap_or_else(|| env().identity("operator"));
    let mut all = vec!["doctor", "-o", "json", "--operator-namespace", &ctx.sys_ns];
    all.extend_from_slice(args);
    crossdeploy(&all, &identity, &[]).await
}

/// Step `n` (1-5) of a doctor checklist.
pub fn step(checklist: &Value, n: u64) -> &Value {
    checklist["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == n))
        .unwrap_or_else(|| panic!("no step {n} in {checklist:#}"))
}

/// The results of the five steps, e.g. ["pass", "fail", ...].
pub fn results(checklist: &Value) -> Vec<String> {
    (1..=5)
        .map(|n| step(checklist, n)["result"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The first check of step `n` with this result.
pub fn check<'a>(checklist: &'a Value, n: u64, result: &str) -> &'a Value {
    step(checklist, n)["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["result"] == result))
        .unwrap_or_else(|| panic!("no {result} check in step {n}: {checklist:#}"))
}

static PLUGIN_DIR: OnceLock<PathBuf> = OnceLock::new();

/// A directory holding `kubectl-crossdeploy`, a symlink to the crossdeploy
/// binary, as a user installs the plugin.
fn plugin_dir() -> &'static PathBuf {
    PLUGIN_DIR.get_or_init(|| {
        let dir = env().work_dir.join(format!("plugin-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("plugin dir");
        let link = dir.join("kubectl-crossdeploy");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_crossdeploy"), &link).expect("plugin symlink");
        dir
    })
}

/// `kubectl crossdeploy ARGS`: the real kubectl finds the plugin on PATH.
pub async fn kubectl_crossdeploy(args: &[&str]) -> Ran {
    let path = format!(
        "{}:{}",
        plugin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new(tool("kubectl"));
    cmd.arg("crossdeploy")
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("KUBECONFIG", &env().kubeconfig);
    run(cmd).await
}
