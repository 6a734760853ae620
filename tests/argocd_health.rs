//! The Argo CD health check shipped with the chart
//! (`charts/crossdeploy/files/health.lua`), run by a real Lua 5.1 interpreter
//! (the language version of Argo CD's gopher-lua) against every combination
//! of the kstatus conditions, `spec.suspend` and generation lag, and against
//! the conditions the operator itself writes. The argocd-cm snippet in the
//! chart README must carry the file verbatim. The e2e suite runs the same
//! script through gopher-lua the way Argo CD does (tests/statuscheck).

// A test that cannot unwrap has failed; its panic message says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mlua::{Lua, LuaOptions, LuaSerdeExt, SerializeOptions, StdLib, Table};
use serde_json::{Value, json};

use crossdeploy::status::{Health, Reason, conditions};

const SCRIPT: &str = include_str!("../charts/crossdeploy/files/health.lua");
const README: &str = include_str!("../charts/crossdeploy/README.md");

/// Runs the script as Argo CD runs a health check from argocd-cm: `obj`
/// global, a table with `status` and `message` returned, and only the base,
/// table and package libraries (plus a safe `os`, which the script does not
/// use): Argo CD opens `string` and `math` only with
/// `resource.customizations.useOpenLibs`. `float_numbers` hands the script
/// floats the way gopher-lua does; Lua 5.1 has no integer subtype, so both
/// must agree.
fn health_with(obj: &Value, float_numbers: bool) -> (String, String) {
    let lua = Lua::new_with(StdLib::TABLE | StdLib::PACKAGE, LuaOptions::default()).expect("Lua state");
    let obj = if float_numbers { floats(obj) } else { obj.clone() };
    // Argo CD converts JSON null to nil, not to a sentinel value.
    let opts = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let value = lua.to_value_with(&obj, opts).expect("obj converts");
    lua.globals().set("obj", value).expect("obj set");
    let result: Table = lua
        .load(SCRIPT)
        .set_name("health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health.lua failed on {obj}: {e}"));
    let status: String = result.get("status").expect("status is a string");
    let message: String = result.get("message").expect("message is a string");
    (status, message)
}

fn health(obj: &Value) -> (String, String) {
    let as_int = health_with(obj, false);
    let as_float = health_with(obj, true);
    assert_eq!(as_int, as_float, "integer and float numbers agree for {obj}");
    as_int
}

fn floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().expect("finite")),
        Value::Array(a) => Value::Array(a.iter().map(floats).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), floats(v))).collect()),
        other => other.clone(),
    }
}

fn object(kind: &str, generation: i64, spec: Value, status: Option<Value>) -> Value {
    let mut obj = json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "web", "namespace": "team", "generation": generation},
        "spec": spec,
    });
    if let Some(s) = status {
        obj["status"] = s;
    }
    obj
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

#[derive(Clone, Copy, Debug)]
enum Observed {
    Current,
    Behind,
    Missing,
}

/// The documented mapping, stated as a precedence list independent of the
/// Lua: a status for an older (or unknown) generation → Progressing; then
/// Stalled → Degraded, Reconciling → Progressing, suspend → Suspended,
/// Ready → Healthy, otherwise Progressing.
fn expected(c: [Option<&str>; 3], suspend: Option<bool>, observed: Observed) -> &'static str {
    let [ready, reconciling, stalled] = c;
    if c.iter().all(Option::is_none) || !matches!(observed, Observed::Current) {
        return "Progressing";
    }
    if stalled == Some("True") {
        "Degraded"
    } else if reconciling == Some("True") {
        "Progressing"
    } else if suspend == Some(true) {
        "Suspended"
    } else if ready == Some("True") {
        "Healthy"
    } else {
        "Progressing"
    }
}

#[test]
fn every_condition_combination() {
    let values = [None, Some("True"), Some("False"), Some("Unknown")];
    let mut cases = 0;
    for kind in ["CrossAccountDeployment", "RevisionSource"] {
        for ready in values {
            for reconciling in values {
                for stalled in values {
                    for suspend in [None, Some(false), Some(true)] {
                        for observed in [Observed::Current, Observed::Behind, Observed::Missing] {
                            let mut conds = Vec::new();
                            for (t, s) in [("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled)] {
                                if let Some(s) = s {
                                    conds.push(cond(t, s, &format!("{t}Reason"), &format!("{t} is {s}")));
                                }
                            }
                            let mut status = json!({"conditions": conds});
                            match observed {
                                Observed::Current => status["observedGeneration"] = json!(4),
                                Observed::Behind => status["observedGeneration"] = json!(3),
                                Observed::Missing => {}
                            }
                            let spec = match suspend {
                                Some(s) => json!({"suspend": s}),
                                None => json!({}),
                            };
                            let obj = object(kind, 4, spec, Some(status));
                            let (got, message) = health(&obj);
                            let want = expected([ready, reconciling, stalled], suspend, observed);
                            assert_eq!(got, want, "{obj}");
                            assert!(!message.is_empty(), "a message for {obj}");
                            cases += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, 2 * 64 * 3 * 3);
}

#[test]
fn messages_name_the_deciding_condition() {
    let spec = json!({"targetAccountRef": {"name": "production"}});
    let stalled = object(
        "CrossAccountDeployment",
        2,
        spec.clone(),
        Some(json!({"observedGeneration": 2, "conditions": [
            cond("Ready", "False", "AssumeRoleDenied", "step 3: the trust policy does not allow us"),
            cond("Reconciling", "False", "AssumeRoleDenied", "step 3: the trust policy does not allow us"),
            cond("Stalled", "True", "AssumeRoleDenied", "step 3: the trust policy does not allow us"),
        ]})),
    );
    assert_eq!(
        health(&stalled),
        (
            "Degraded".into(),
            "AssumeRoleDenied: step 3: the trust policy does not allow us".into()
        )
    );

    let ready = object(
        "CrossAccountDeployment",
        2,
        spec.clone(),
        Some(json!({"observedGeneration": 2, "conditions": [
            cond("Ready", "True", "Succeeded", "deployment d-ABC succeeded"),
        ]})),
    );
    assert_eq!(
        health(&ready),
        ("Healthy".into(), "Succeeded: deployment d-ABC succeeded".into())
    );

    let behind = object(
        "CrossAccountDeployment",
        7,
        spec.clone(),
        Some(json!({"observedGeneration": 6, "conditions": [cond("Ready", "True", "Succeeded", "ok")]})),
    );
    assert_eq!(
        health(&behind),
        (
            "Progressing".into(),
            "Waiting for the crossdeploy operator to observe generation 7".into()
        )
    );

    // Status written for the current generation wins over suspend only when
    // something is still failing or in flight; otherwise suspend is shown
    // with the operator's own words when it has acknowledged it.
    let mut suspended_spec = spec.clone();
    suspended_spec["suspend"] = json!(true);
    let acknowledged = object(
        "CrossAccountDeployment",
        3,
        suspended_spec.clone(),
        Some(json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "False", "Suspended", "spec.suspend is true: no new deployment is started"),
            cond("Reconciling", "False", "Suspended", "spec.suspend is true: no new deployment is started"),
            cond("Stalled", "False", "Suspended", "spec.suspend is true: no new deployment is started"),
        ]})),
    );
    assert_eq!(
        health(&acknowledged),
        (
            "Suspended".into(),
            "Suspended: spec.suspend is true: no new deployment is started".into()
        )
    );

    // Nothing from the operator yet: no status, an empty one, no conditions,
    // a JSON null status.
    for status in [
        None,
        Some(json!({})),
        Some(json!({"conditions": []})),
        Some(Value::Null),
    ] {
        for s in [spec.clone(), suspended_spec.clone()] {
            let obj = object("CrossAccountDeployment", 1, s, status.clone());
            assert_eq!(
                health(&obj),
                (
                    "Progressing".into(),
                    "Waiting for the crossdeploy operator to report status".into()
                ),
                "{obj}"
            );
        }
    }

    // A condition without reason or message still yields a readable message.
    let bare = object(
        "RevisionSource",
        1,
        json!({}),
        Some(json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]})),
    );
    assert_eq!(health(&bare), ("Healthy".into(), "Ready".into()));
}

/// The conditions the operator actually writes (status.rs) map to the Argo
/// CD health a user expects for each of the operator's health states.
#[test]
fn operator_conditions_map_to_argo_health() {
    let now = Time(k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).expect("time"));
    for (health_state, reason, suspend, want) in [
        (Health::Ready, Reason::Succeeded, false, "Healthy"),
        (Health::Progressing, Reason::DeploymentInProgress, false, "Progressing"),
        (
            Health::Progressing,
            Reason::WaitingForActiveDeployment,
            false,
            "Progressing",
        ),
        // Blue/green waiting for a person to reroute traffic.
        (
            Health::Progressing,
            Reason::WaitingForTrafficReroute,
            false,
            "Suspended",
        ),
        (Health::Stalled, Reason::DeploymentFailed, false, "Degraded"),
        (Health::Stalled, Reason::AssumeRoleDenied, true, "Degraded"),
        // Progressive delivery (issue 13): waiting for a person is
        // Suspended; what progresses by itself is Progressing; what needs a
        // human to change the spec is Degraded.
        (Health::Progressing, Reason::AwaitingApproval, false, "Suspended"),
        (Health::Progressing, Reason::AwaitingApproval, true, "Suspended"),
        (Health::Progressing, Reason::DeploymentContinued, false, "Progressing"),
        (Health::Progressing, Reason::WaitingForPromotion, false, "Progressing"),
        (Health::Progressing, Reason::RollingBack, false, "Progressing"),
        (Health::Stalled, Reason::RolledBack, false, "Degraded"),
        (Health::Stalled, Reason::ProgressDeadlineExceeded, false, "Degraded"),
        (Health::Stalled, Reason::PromotionCycle, false, "Degraded"),
        (Health::Stalled, Reason::PromotionSourceNotFound, false, "Degraded"),
        (Health::Stalled, Reason::RollbackUnavailable, false, "Degraded"),
        (Health::Suspended, Reason::Suspended, true, "Suspended"),
        // A deployment started before suspend is still tracked to its end.
        (Health::Progressing, Reason::DeploymentInProgress, true, "Progressing"),
    ] {
        let conds = conditions(&[], health_state, reason, "the message", Some(5), &now);
        let status = json!({"observedGeneration": 5, "conditions": conds});
        for kind in ["CrossAccountDeployment", "RevisionSource"] {
            let obj = object(kind, 5, json!({"suspend": suspend}), Some(status.clone()));
            let (got, message) = health(&obj);
            assert_eq!(got, want, "{health_state:?}/{reason:?} suspend={suspend}");
            assert_eq!(message, format!("{}: the message", reason.as_str()));
        }
    }
}

/// Argo CD runs gopher-lua (Lua 5.1), as does this test's interpreter; the
/// token check also names the 5.3+ syntax that would slip in from habit.
#[test]
fn script_stays_within_lua_5_1() {
    for line in SCRIPT.lines() {
        let code = line.split("--").next().unwrap_or_default();
        for token in [
            "//",
            "goto ",
            "<const>",
            "<close>",
            "::",
            "utf8.",
            "math.tointeger",
            " & ",
            " | ",
            "<<",
            ">>",
        ] {
            assert!(!code.contains(token), "Lua 5.3+ syntax {token:?} in health.lua: {line}");
        }
        assert!(
            !code.replace("~=", "").contains('~'),
            "Lua 5.3+ bitwise ~ in health.lua: {line}"
        );
    }
}

/// Argo CD leaves `string`, `math`, `io` and the full `os` closed for a
/// script from argocd-cm (util/lua/lua.go opens package, base, table and a
/// safe os): a call into them fails at run time and Argo CD shows the
/// resource as Unknown. The interpreter above does not open them either;
/// this names the line.
#[test]
fn script_uses_only_libraries_argo_cd_opens() {
    for line in SCRIPT.lines() {
        let code = line.split("--").next().unwrap_or_default();
        for lib in [
            "string.", "math.", "io.", "os.", "utf8.", "debug.", ":format(", ":sub(", ":find(",
        ] {
            assert!(
                !code.contains(lib),
                "health.lua uses {lib:?}, which Argo CD does not open for argocd-cm scripts: {line}"
            );
        }
    }
}

/// The argocd-cm snippet in the chart README is what users paste; it must be
/// the tested script, for both kinds.
#[test]
fn readme_snippet_carries_the_script_verbatim() {
    let start = README
        .find("```yaml\napiVersion: v1\nkind: ConfigMap")
        .expect("argocd-cm snippet in charts/crossdeploy/README.md")
        + "```yaml\n".len();
    let end = start + README[start..].find("```").expect("snippet closes");
    let cm: Value = serde_norway::from_str(&README[start..end]).expect("snippet is YAML");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    for kind in ["CrossAccountDeployment", "RevisionSource", "TargetAccount"] {
        let key = format!("resource.customizations.health.crossdeploy.io_{kind}");
        assert_eq!(
            cm["data"][&key].as_str(),
            Some(SCRIPT),
            "{key} in the chart README differs from files/health.lua: paste the file again"
        );
    }
}
