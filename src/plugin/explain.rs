//! `kubectl crossdeploy explain-failure NAME`: conditions, Events and
//! per-instance diagnostics in one view.

use std::process::ExitCode;

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use super::status::paint_state;
use super::view::{self, Obj};
use super::{Ctx, Output, print_json, table};

/// (time, type, reason, note) of the Events about one object, oldest first.
async fn events(ctx: &Ctx, obj: &Obj) -> anyhow::Result<Vec<(String, String, String, String)>> {
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), &obj.namespace());
    let name = obj.name();
    let mut found: Vec<(String, String, String, String)> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.name.as_deref() == Some(name.as_str()) && r.kind.as_deref() == Some("CrossAccountDeployment")
            })
        })
        .map(|e| {
            let time = e
                .series
                .as_ref()
                .map(|s| s.last_observed_time.0.to_string())
                .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
                .or_else(|| e.deprecated_last_timestamp.as_ref().map(|t| t.0.to_string()))
                .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()))
                .unwrap_or_default();
            (
                time,
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    Ok(found)
}

pub async fn explain(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    let obj = ctx.get(name).await?;
    let events = events(ctx, &obj).await?;
    let instances = view::instance_diagnostics(&obj.raw);
    if ctx.global.output == Output::Json {
        let status = &obj.raw["status"];
        print_json(&json!({
            "namespace": obj.namespace(),
            "name": obj.name(),
            "state": view::state(&obj).0,
            "revision": status["revision"],
            "currentDeployment": status["currentDeployment"],
            "revisionCheck": status["revisionCheck"],
            "conditions": status["conditions"],
            "instances": instances,
            "events": events.iter().map(|(t, ty, r, n)| json!({"time": t, "type": ty, "reason": r, "note": n}))
                .collect::<Vec<Value>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", text(ctx, &obj, &events, &instances));
    Ok(ExitCode::SUCCESS)
}

fn text(ctx: &Ctx, obj: &Obj, events: &[(String, String, String, String)], instances: &[Value]) -> String {
    let style = &ctx.style;
    let status = obj.status();
    let (state, _) = view::state(obj);
    let mut out = format!(
        "{} {}/{}  {}\n",
        style.bold("CrossAccountDeployment"),
        obj.namespace(),
        obj.name(),
        paint_state(style, state, state.as_str())
    );
    out.push_str(&format!(
        "  target:     TargetAccount {} (account {}), {}/{}\n",
        obj.typed.spec.target_account_ref.name,
        status.account_id.as_deref().unwrap_or("unknown"),
        obj.typed.spec.application_name,
        obj.typed.spec.deployment_group_name
    ));
    out.push_str(&format!("  revision:   {}\n", obj.revision()));
    out.push_str(&deployment_lines(obj));
    out.push_str(&conditions(ctx, obj));
    out.push_str(&details(ctx, obj, events, instances));
    out
}

fn conditions(ctx: &Ctx, obj: &Obj) -> String {
    let style = &ctx.style;
    let status = obj.status();
    let mut out = format!("\n{}\n", style.bold("Conditions"));
    let mut rows = vec![["TYPE", "STATUS", "REASON", "MESSAGE"].map(String::from).to_vec()];
    rows.extend(
        status
            .conditions
            .iter()
            // The three share one message: it is shown once, by the True one.
            .map(|c| {
                let message = if c.status == "True" {
                    c.message.clone()
                } else {
                    String::new()
                };
                vec![c.type_.clone(), c.status.clone(), c.reason.clone(), message]
            }),
    );
    out.push_str(&indent(&table(&rows, |i, _, cell| {
        if i == 0 { style.dim(cell) } else { cell.to_string() }
    })));
    if let Some(check) = &status.revision_check {
        out.push_str(&format!("\n{}\n", style.bold("Revision check (guide steps 2 and 4)")));
        out.push_str(&format!(
            "  read by {}; bucket policy {:?}\n",
            check.read_by.as_deref().unwrap_or("nobody"),
            check.bucket_policy
        ));
        for note in &check.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
    }
    out
}

fn details(ctx: &Ctx, obj: &Obj, events: &[(String, String, String, String)], instances: &[Value]) -> String {
    let style = &ctx.style;
    let mut out = format!("\n{}\n", style.bold("Instances"));
    if instances.is_empty() {
        out.push_str("  no per-instance diagnostics in status\n");
    }
    for i in instances {
        out.push_str(&format!("  {}\n", view::describe_instance(i)));
    }
    out.push_str(&format!(
        "\n{} about {}/{}\n",
        style.bold("Events"),
        obj.namespace(),
        obj.name()
    ));
    if events.is_empty() {
        out.push_str("  none\n");
    }
    for (time, type_, reason, note) in events {
        let type_ = if type_ == "Warning" {
            style.red(type_)
        } else {
            type_.clone()
        };
        out.push_str(&format!("  {time}  {type_}  {reason}: {note}\n"));
    }
    out
}

fn deployment_lines(obj: &Obj) -> String {
    let status = obj.status();
    let Some(c) = &status.current_deployment else {
        return "  deployment: none yet\n".to_string();
    };
    let mut out = format!(
        "  deployment: {} {}{}\n",
        c.id,
        c.status.as_ref().map(ToString::to_string).unwrap_or_default(),
        view::instances(c.overview.as_ref())
            .map(|(s, f, t)| format!(" ({s} of {t} instances succeeded, {f} failed)"))
            .unwrap_or_default()
    );
    if c.error_code.is_some() || c.error_message.is_some() {
        out.push_str(&format!(
            "  error:      {}: {}\n",
            c.error_code.as_deref().unwrap_or("-"),
            c.error_message.as_deref().unwrap_or("-")
        ));
    }
    if let Some(rb) = &c.rollback_deployment_id {
        out.push_str(&format!(
            "  rollback:   {rb} {} to {}\n",
            c.rollback_status.as_ref().map(ToString::to_string).unwrap_or_default(),
            c.rollback_revision_key.as_deref().unwrap_or("the previous revision")
        ));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
