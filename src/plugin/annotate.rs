//! `approve`, `continue`, `redeploy`, `rollback`: each writes one annotation
//! the operator reads, nothing else.

use std::process::ExitCode;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::view::{self, Obj};
use super::watch::{self, baseline};
use super::{Ctx, Output, print_json};

/// The annotations the operator reads (issue 13 implements approve,
/// continue and rollback in the operator; redeploy is the operator's own).
pub const APPROVE_ANNOTATION: &str = "crossdeploy.io/approve";
pub const CONTINUE_ANNOTATION: &str = "crossdeploy.io/continue";
pub const ROLLBACK_ANNOTATION: &str = "crossdeploy.io/rollback";
pub const REDEPLOY_ANNOTATION: &str = crate::deployment::REDEPLOY_ANNOTATION;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The CrossAccountDeployment.
    pub name: String,
    /// Then follow the object until the change has played out (exit code as `watch`).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: give up after this many seconds.
    #[arg(long)]
    pub timeout: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Approve,
    Continue,
    Redeploy,
    Rollback,
}

/// A value never used before: time plus randomness.
pub fn fresh_token() -> String {
    let now = k8s_openapi::jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    format!("{now}-{:04x}", rand::random::<u16>())
}

/// The annotation to write and what to tell the person; Err when there is
/// nothing to do.
pub fn annotation(action: Action, obj: &Obj) -> Result<(&'static str, String, String), String> {
    let id = format!("{}/{}", obj.namespace(), obj.name());
    let status = obj.status();
    match action {
        Action::Approve => {
            let digest = view::digest_to_approve(&obj.raw)
                .ok_or_else(|| format!("nothing to approve: {id} shows no revision digest yet"))?;
            let said = format!("approved revision {} (digest {digest}) of {id}", obj.revision());
            Ok((APPROVE_ANNOTATION, digest, said))
        }
        Action::Continue => {
            let current = status
                .current_deployment
                .ok_or_else(|| format!("nothing to continue: {id} has no deployment"))?;
            let state = current.status.as_ref().map(ToString::to_string).unwrap_or_default();
            let mut said = format!("asked to continue {} of {id}", current.id);
            if state != "Ready" {
                said.push_str(&format!(
                    " (it is {state}: the operator continues a blue/green deployment once it waits in Ready)"
                ));
            }
            Ok((CONTINUE_ANNOTATION, current.id, said))
        }
        Action::Redeploy => Ok((
            REDEPLOY_ANNOTATION,
            fresh_token(),
            format!("asked to deploy {} of {id} again", obj.revision()),
        )),
        Action::Rollback => {
            let last = status
                .last_successful_revision
                .ok_or_else(|| format!("nothing to roll back to: no deployment of {id} has succeeded yet"))?;
            let version = last.version_id.map(|v| format!(" (version {v})")).unwrap_or_default();
            let said = format!("asked to roll {id} back to {}{version}", last.key);
            Ok((ROLLBACK_ANNOTATION, fresh_token(), said))
        }
    }
}

pub async fn run(ctx: &Ctx, action: Action, args: &Args) -> anyhow::Result<ExitCode> {
    let obj = ctx.get(&args.name).await?;
    let (key, value, said) = match annotation(action, &obj) {
        Ok(a) => a,
        Err(why) => {
            eprintln!("{why}");
            return Ok(ExitCode::from(1));
        }
    };
    let before = baseline(&obj);
    let patch = json!({"metadata": {"annotations": {key: value}}});
    ctx.api(Some(&ctx.namespace))
        .patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    if ctx.global.output == Output::Json {
        print_json(&json!({"namespace": obj.namespace(), "name": obj.name(), "annotation": key, "value": value}));
    } else {
        println!("{said} ({key}={value})");
    }
    if args.watch {
        return watch::watch(ctx, &args.name, Some(before), args.timeout).await;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn obj(status: Value) -> Obj {
        super::super::view::sample(status, 1)
    }

    #[test]
    fn each_action_writes_its_annotation_or_says_why_not() {
        let empty = obj(json!({}));
        for action in [Action::Approve, Action::Continue, Action::Rollback] {
            assert!(annotation(action, &empty).is_err(), "{action:?}");
        }
        let (k, v, _) = annotation(Action::Redeploy, &empty).unwrap();
        assert_eq!(k, "crossdeploy.io/redeploy");
        assert_ne!(v, annotation(Action::Redeploy, &empty).unwrap().1, "fresh every time");
        let full = obj(json!({
            "desiredDigest": "abc",
            "currentDeployment": {"id": "d-1", "digest": "abc", "status": "Ready"},
            "lastSuccessfulRevision": {"bucket": "b", "key": "old.zip", "versionId": "v1", "bundleType": "zip"},
        }));
        assert_eq!(annotation(Action::Approve, &full).unwrap().1, "abc");
        let (k, v, said) = annotation(Action::Continue, &full).unwrap();
        assert_eq!((k, v.as_str()), ("crossdeploy.io/continue", "d-1"));
        assert!(!said.contains("once it waits"), "{said}");
        let (k, _, said) = annotation(Action::Rollback, &full).unwrap();
        assert_eq!(k, "crossdeploy.io/rollback");
        assert!(said.contains("old.zip (version v1)"), "{said}");
    }
}
