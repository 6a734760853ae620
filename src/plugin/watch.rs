//! `kubectl crossdeploy watch NAME`: live progress until the deployment
//! ends, exit code from the outcome.

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt as _;
use kube::runtime::watcher::watch_object;
use serde_json::json;

use super::status::{paint_state, progress, reason};
use super::view::{self, Obj, State};
use super::{Ctx, Output, to_obj};

/// Exit codes of `watch` (and of the annotation commands with --watch).
pub const EXIT_READY: u8 = 0;
pub const EXIT_STALLED: u8 = 1;
pub const EXIT_SUSPENDED: u8 = 4;
pub const EXIT_TIMEOUT: u8 = 124;

/// What the object showed before a change was asked for: watching after an
/// annotation must not stop at the state the annotation is about to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    deployment: Option<String>,
    digest: Option<String>,
    reason: String,
}

pub fn baseline(obj: &Obj) -> Baseline {
    let status = obj.status();
    Baseline {
        deployment: status.current_deployment.map(|c| c.id),
        digest: status.desired_digest,
        reason: reason(obj).1,
    }
}

/// Is watching over, and with which exit code? Ready, Stalled or suspended
/// for the current generation; after an annotation, only once the object
/// moved off its baseline.
pub fn outcome(obj: &Obj, since: Option<&Baseline>) -> Option<u8> {
    if since.is_some_and(|b| *b == baseline(obj)) {
        return None;
    }
    match view::state(obj).0 {
        State::Ready => Some(EXIT_READY),
        State::Stalled => Some(EXIT_STALLED),
        State::Suspended => Some(EXIT_SUSPENDED),
        State::NotObserved | State::Reconciling => None,
    }
}

/// One line of progress: deployment, status, instances, reason and message.
pub fn progress_line(obj: &Obj) -> (State, String) {
    let status = obj.status();
    let current = status.current_deployment.as_ref();
    let (state, reason) = reason(obj);
    let message = view::state(obj).1.map(|c| c.message).unwrap_or_default();
    let message: String = message.chars().take(160).collect();
    let line = format!(
        "{} {} {} {reason}: {message}",
        current.map_or("-", |c| c.id.as_str()),
        current
            .and_then(|c| c.status.as_ref())
            .map_or_else(|| "-".to_string(), ToString::to_string),
        progress(view::instances(current.and_then(|c| c.overview.as_ref()))),
    );
    (state, line)
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%H:%M:%S").to_string()
}

pub async fn watch(ctx: &Ctx, name: &str, since: Option<Baseline>, timeout: Option<u64>) -> anyhow::Result<ExitCode> {
    let limit = timeout.map_or(Duration::MAX, Duration::from_secs);
    match tokio::time::timeout(limit, follow(ctx, name, since.as_ref())).await {
        Ok(code) => Ok(ExitCode::from(code?)),
        Err(_) => {
            eprintln!(
                "gave up after {}s: {}/{name} has not finished",
                limit.as_secs(),
                ctx.namespace
            );
            Ok(ExitCode::from(EXIT_TIMEOUT))
        }
    }
}

async fn follow(ctx: &Ctx, name: &str, since: Option<&Baseline>) -> anyhow::Result<u8> {
    let json = ctx.global.output == Output::Json;
    let mut events = Box::pin(watch_object(ctx.api(Some(&ctx.namespace)), name));
    let mut last = String::new();
    if !json {
        println!("{} watching {}/{name}", ctx.style.dim(&now()), ctx.namespace);
    }
    while let Some(event) = events.next().await {
        let obj = match event {
            Ok(Some(o)) => to_obj(&o)?,
            Ok(None) => {
                eprintln!("{}/{name} does not exist (or was deleted)", ctx.namespace);
                return Ok(EXIT_STALLED);
            }
            Err(e) => {
                eprintln!("watch interrupted ({e}); resuming");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let (state, line) = progress_line(&obj);
        let done = outcome(&obj, since);
        if line != last {
            if json {
                let status = obj.status();
                println!(
                    "{}",
                    json!({"time": now(), "state": state, "line": line, "deployment": status.current_deployment,
                           "exitCode": done})
                );
            } else {
                println!("{} {}", ctx.style.dim(&now()), paint_state(&ctx.style, state, &line));
            }
            last = line;
        }
        if let Some(code) = done {
            return Ok(code);
        }
    }
    anyhow::bail!("the watch on {}/{name} ended", ctx.namespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn obj(status: Value) -> Obj {
        super::super::view::sample(status, 1)
    }

    fn with(type_: &str, reason: &str, deployment: &str, digest: &str) -> Obj {
        obj(json!({"observedGeneration": 1, "desiredDigest": digest,
            "currentDeployment": {"id": deployment, "digest": digest, "status": "Succeeded",
                                  "overview": {"pending": 0, "inProgress": 0, "succeeded": 2, "failed": 0,
                                               "skipped": 0, "ready": 0}},
            "conditions": [{"type": type_, "status": "True", "reason": reason, "message": "msg",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}))
    }

    #[test]
    fn outcomes_and_baselines() {
        let ready = with("Ready", "Succeeded", "d-1", "a");
        assert_eq!(outcome(&ready, None), Some(EXIT_READY));
        assert_eq!(
            outcome(&with("Stalled", "DeploymentFailed", "d-1", "a"), None),
            Some(EXIT_STALLED)
        );
        assert_eq!(
            outcome(&with("Reconciling", "DeploymentInProgress", "d-1", "a"), None),
            None
        );
        assert_eq!(outcome(&obj(json!({"observedGeneration": -1})), None), None);
        let before = baseline(&ready);
        assert_eq!(outcome(&ready, Some(&before)), None, "nothing happened yet");
        assert_eq!(
            outcome(&with("Ready", "Succeeded", "d-2", "b"), Some(&before)),
            Some(EXIT_READY)
        );
        let (_, line) = progress_line(&ready);
        assert_eq!(line, "d-1 Succeeded [##########] 2/2 Succeeded: msg");
    }
}
