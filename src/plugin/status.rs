//! `kubectl crossdeploy status` and `history`.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::view::{self, Obj, State};
use super::{Ctx, Output, print_json, table};
use crate::cli::style::Style;

const BAR: usize = 10;

/// `[###x------] 3/10` (succeeded #, failed x); `-` without instances.
pub fn progress(counts: Option<(i64, i64, i64)>) -> String {
    let Some((succeeded, failed, total)) = counts else {
        return "-".to_string();
    };
    let cells = |n: i64| usize::try_from(n * BAR as i64 / total.max(1)).unwrap_or(0).min(BAR);
    let ok = cells(succeeded);
    let bad = cells(failed).min(BAR - ok);
    format!(
        "[{}{}{}] {succeeded}/{total}",
        "#".repeat(ok),
        "x".repeat(bad),
        "-".repeat(BAR - ok - bad)
    )
}

/// The bar in colour blocks, for a terminal.
fn paint_progress(style: &Style, cell: &str) -> String {
    let Some(rest) = cell.strip_prefix('[') else {
        return cell.to_string();
    };
    let Some((bar, tail)) = rest.split_once(']') else {
        return cell.to_string();
    };
    let mut out = String::new();
    for c in bar.chars() {
        out.push_str(&match c {
            '#' => style.green("█"),
            'x' => style.red("█"),
            _ => style.dim("░"),
        });
    }
    // The brackets are gone: two spaces keep the column width.
    format!("{out}{tail}  ")
}

pub fn paint_state(style: &Style, state: State, text: &str) -> String {
    match state {
        State::Ready => style.green(text),
        State::Reconciling => style.yellow(text),
        State::Stalled => style.red(text),
        State::NotObserved | State::Suspended => style.dim(text),
    }
}

/// The reason column: the True condition's reason.
pub fn reason(obj: &Obj) -> (State, String) {
    let (state, condition) = view::state(obj);
    let text = match (state, condition) {
        (State::NotObserved, _) => "NotObservedYet".to_string(),
        (_, Some(c)) => c.reason,
        (s, None) => s.as_str().to_string(),
    };
    (state, text)
}

fn row_json(obj: &Obj) -> Value {
    let status = obj.status();
    let current = status.current_deployment.as_ref();
    let (state, reason) = reason(obj);
    let counts = view::instances(current.and_then(|c| c.overview.as_ref()));
    let message = view::state(obj).1.map(|c| c.message).unwrap_or_default();
    json!({
        "namespace": obj.namespace(),
        "name": obj.name(),
        "account": status.account_id,
        "revision": obj.revision(),
        "deployment": current.map(|c| c.id.clone()),
        "status": current.and_then(|c| c.status.as_ref()).map(ToString::to_string),
        "instances": counts.map(|(s, f, t)| json!({"succeeded": s, "failed": f, "total": t})),
        "state": state,
        "reason": reason,
        "message": message,
    })
}

pub async fn status(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let objs = match name {
        Some(n) => vec![ctx.get(n).await?],
        None => ctx.list().await?,
    };
    if ctx.global.output == Output::Json {
        print_json(&Value::Array(objs.iter().map(row_json).collect()));
        return Ok(ExitCode::SUCCESS);
    }
    if objs.is_empty() {
        println!("No CrossAccountDeployments found.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", status_table(&ctx.style, &objs, ctx.global.all_namespaces));
    Ok(ExitCode::SUCCESS)
}

/// The status lines (header first).
pub fn status_table(style: &Style, objs: &[Obj], all_namespaces: bool) -> String {
    let mut rows = vec![
        [
            "NAMESPACE",
            "NAME",
            "ACCOUNT",
            "REVISION",
            "DEPLOYMENT",
            "STATUS",
            "PROGRESS",
            "REASON",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut states = vec![State::Ready];
    for obj in objs {
        let status = obj.status();
        let current = status.current_deployment.as_ref();
        let (state, reason) = reason(obj);
        states.push(state);
        rows.push(vec![
            obj.namespace(),
            obj.name(),
            status.account_id.clone().unwrap_or_else(|| "-".into()),
            obj.revision(),
            current.map_or_else(|| "-".into(), |c| c.id.clone()),
            current
                .and_then(|c| c.status.as_ref())
                .map_or_else(|| "-".into(), ToString::to_string),
            progress(view::instances(current.and_then(|c| c.overview.as_ref()))),
            reason,
        ]);
    }
    let skip = usize::from(!all_namespaces);
    let rows: Vec<Vec<String>> = rows.into_iter().map(|r| r[skip..].to_vec()).collect();
    table(&rows, |i, c, cell| match (i, c + skip) {
        (0, _) => style.bold(cell),
        (_, 6) if style.is_terminal() => paint_progress(style, cell),
        (_, 7) => paint_state(style, states[i], cell),
        _ => cell.to_string(),
    })
}

pub async fn history(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    let obj = ctx.get(name).await?;
    let status = obj.status();
    if ctx.global.output == Output::Json {
        print_json(&json!({
            "namespace": obj.namespace(),
            "name": obj.name(),
            "current": status.current_deployment,
            "lastSuccessfulRevision": status.last_successful_revision,
            "history": status.history,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let rows = history_rows(&obj);
    if rows.len() == 1 {
        println!("{}/{name} has no deployments yet.", obj.namespace());
        return Ok(ExitCode::SUCCESS);
    }
    let style = ctx.style;
    print!(
        "{}",
        table(&rows, |i, c, cell| match (i, c) {
            (0, _) => style.bold(cell),
            (_, 1) if cell.starts_with("Succeeded") => style.green(cell),
            (_, 1) if cell.starts_with("Failed") || cell.starts_with("Stopped") => style.red(cell),
            _ => cell.to_string(),
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// The current deployment (while it is not in history yet), then history.
fn history_rows(obj: &Obj) -> Vec<Vec<String>> {
    let status = obj.status();
    let mut rows = vec![
        ["DEPLOYMENT", "STATUS", "REVISION", "VERSION", "COMPLETED"]
            .map(String::from)
            .to_vec(),
    ];
    let time = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.map_or_else(|| "-".to_string(), |t| t.0.to_string())
    };
    if let Some(c) = status
        .current_deployment
        .as_ref()
        .filter(|c| !status.history.iter().any(|h| h.deployment_id == c.id))
    {
        let revision = c.revision.as_ref().or(status.revision.as_ref());
        rows.push(vec![
            format!("{} (current)", c.id),
            c.status.as_ref().map_or_else(|| "-".into(), ToString::to_string),
            revision.map_or_else(|| "-".into(), |r| r.key.clone()),
            revision
                .and_then(|r| r.version_id.clone())
                .unwrap_or_else(|| "-".into()),
            time(c.complete_time.as_ref()),
        ]);
    }
    for h in &status.history {
        rows.push(vec![
            h.deployment_id.clone(),
            h.status.to_string(),
            h.revision_key.clone(),
            h.revision_version_id.clone().unwrap_or_else(|| "-".into()),
            time(h.complete_time.as_ref()),
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bars() {
        assert_eq!(progress(None), "-");
        assert_eq!(progress(Some((1, 0, 2))), "[#####-----] 1/2");
        assert_eq!(progress(Some((2, 1, 4))), "[#####xx---] 2/4");
        assert_eq!(progress(Some((3, 0, 3))), "[##########] 3/3");
        let painted = paint_progress(&Style::plain(), "[##x-------] 1/4");
        assert_eq!(painted, "███░░░░░░░ 1/4  ");
        assert_eq!(
            painted.chars().count(),
            "[##x-------] 1/4".chars().count(),
            "the column keeps its width"
        );
    }
}
