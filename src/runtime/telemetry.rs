//! Logging setup: JSON lines for production, plain text for people.
//!
//! The filter is the user's (`RUST_LOG` when set, else `--log-level`), with
//! one cap no filter can lift: the AWS SDK crates never log above `debug`.
//! At `trace` the SDK writes whole requests (the AssumeRole body carries the
//! ExternalId) and its credential providers' Debug output. The cap is a
//! second filter ANDed to the user's, not a directive: a directive would
//! *set* those crates' level and so raise them to `debug` at `info`.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;
use tracing_subscriber::util::SubscriberInitExt;

/// The most an AWS SDK crate may log, whatever the filter asks for.
pub const AWS_SDK_MAX_LEVEL: Level = Level::DEBUG;

/// Whether `target` (a module path) belongs to the AWS SDK. Every crate of
/// the SDK is named `aws_*`: aws_config, aws_credential_types, aws_runtime,
/// aws_sdk_{sts,s3,codedeploy,sso,ssooidc}, aws_sigv4, aws_smithy_* (runtime,
/// runtime_api, http_client, http, checksums, …) and aws_types. A prefix
/// rather than a list, so a crate the SDK adds later is capped too.
pub fn is_aws_sdk(target: &str) -> bool {
    target.starts_with("aws_")
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line, with the current span's fields; never coloured.
    Json,
    /// Human-readable lines; ANSI colours only when `colour`.
    Text { colour: bool },
}

impl Format {
    /// JSON when asked; otherwise text, coloured only when stderr is a
    /// terminal and `NO_COLOR` is unset (https://no-color.org).
    pub fn detect(json: bool) -> Self {
        if json {
            return Self::Json;
        }
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self::Text {
            colour: std::io::stderr().is_terminal() && !no_color,
        }
    }
}

/// kube-runtime's controllers each say "press ctrl+c to shut down
/// gracefully" at `info` when they start, and again on SIGTERM: terminal
/// advice, three times over, where the operator's own start and stop lines
/// already say it once. At a plain `info` level they are held to `warn`.
const QUIET_AT_INFO: &str = "kube_runtime::controller=warn";

/// The user's filter: `rust_log` (the `RUST_LOG` variable), taken as
/// written, when set and valid; else `log_level`. The second value says why
/// `rust_log` was ignored, to be logged once logging works.
pub fn user_filter(rust_log: Option<&str>, log_level: &str) -> (EnvFilter, Option<String>) {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => (level_filter(log_level), None),
        Some(spec) => match EnvFilter::try_new(spec) {
            Ok(filter) => (filter, None),
            Err(e) => (level_filter(log_level), Some(e.to_string())),
        },
    }
}

/// `--log-level`: a level or filter; at `info` (the default), kube-runtime's
/// controller chatter is quieted unless the filter names kube_runtime.
fn level_filter(log_level: &str) -> EnvFilter {
    let filter = EnvFilter::new(log_level);
    // Only exactly at info: a directive sets a level, so below info it
    // would raise kube-runtime, above it hide what was asked for.
    if filter.max_level_hint() == Some(LevelFilter::INFO)
        && !log_level.contains("kube_runtime")
        && let Ok(quiet) = QUIET_AT_INFO.parse()
    {
        return filter.add_directive(quiet);
    }
    filter
}

/// The subscriber `init` installs, writing to `writer`: the user's filter
/// AND the AWS SDK cap, so an SDK crate logs at the lower of the user's
/// level and [`AWS_SDK_MAX_LEVEL`].
pub fn subscriber<W>(filter: EnvFilter, format: Format, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let cap = FilterFn::new(|meta: &Metadata<'_>| !is_aws_sdk(meta.target()) || *meta.level() <= AWS_SDK_MAX_LEVEL)
        // The cap limits no other target: without a hint the combined
        // filter would have none and every callsite would be asked.
        .with_max_level_hint(LevelFilter::TRACE);
    let output = match format {
        Format::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_ansi(false)
            .with_writer(writer)
            .boxed(),
        Format::Text { colour } => tracing_subscriber::fmt::layer()
            .with_ansi(colour)
            .with_writer(writer)
            .boxed(),
    };
    Registry::default().with(output.with_filter(filter.and(cap)))
}

/// Installs logging to stderr for the process.
pub fn init(json: bool, log_level: &str) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, ignored) = user_filter(rust_log.as_deref(), log_level);
    subscriber(filter, Format::detect(json), std::io::stderr).init();
    if let Some(error) = ignored {
        tracing::warn!(%error, log_level, "RUST_LOG is not a valid filter; using --log-level");
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects everything written, for assertions.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Self;
        fn make_writer(&'w self) -> Self {
            self.clone()
        }
    }

    const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

    /// Emits one event per level for a target; each message names both, as
    /// `target@LEVEL`. (Event targets must be constants, hence a macro.)
    macro_rules! emit_all_levels {
        ($($target:literal),+ $(,)?) => {$(
            tracing::error!(target: $target, concat!($target, "@ERROR"));
            tracing::warn!(target: $target, concat!($target, "@WARN"));
            tracing::info!(target: $target, concat!($target, "@INFO"));
            tracing::debug!(target: $target, concat!($target, "@DEBUG"));
            tracing::trace!(target: $target, concat!($target, "@TRACE"));
        )+};
    }

    /// The AWS SDK targets the operator links (their real module paths)
    /// and two that are not the SDK.
    fn emit() {
        emit_all_levels!(
            "aws_smithy_runtime::client::orchestrator",
            "aws_smithy_runtime_api::client::interceptors::context",
            "aws_smithy_http_client::client",
            "aws_sigv4::http_request::sign",
            "aws_config::sts::assume_role",
            "aws_config::meta::credentials::chain",
            "aws_sdk_sts::operation::assume_role",
            "aws_sdk_s3::operation::head_object",
            "aws_sdk_codedeploy::operation::create_deployment",
            "aws_credential_types::provider",
            "aws_runtime::auth::sigv4",
            "aws_types::sdk_config",
            "crossdeploy::deployment::reconcile",
            "kube_runtime::controller",
        );
        // Fields the SDK writes at trace look like this; they must never pass.
        tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", request = "ExternalId=secret-external-id", "serialized request");
    }

    const SDK: [&str; 12] = [
        "aws_smithy_runtime::client::orchestrator",
        "aws_smithy_runtime_api::client::interceptors::context",
        "aws_smithy_http_client::client",
        "aws_sigv4::http_request::sign",
        "aws_config::sts::assume_role",
        "aws_config::meta::credentials::chain",
        "aws_sdk_sts::operation::assume_role",
        "aws_sdk_s3::operation::head_object",
        "aws_sdk_codedeploy::operation::create_deployment",
        "aws_credential_types::provider",
        "aws_runtime::auth::sigv4",
        "aws_types::sdk_config",
    ];

    /// What the subscriber built from (`RUST_LOG`, `--log-level`) writes
    /// when every target logs at every level.
    fn output(rust_log: Option<&str>, log_level: &str, format: Format) -> String {
        let captured = Captured::default();
        let (filter, ignored) = user_filter(rust_log, log_level);
        assert_eq!(ignored, None, "{rust_log:?} parses");
        tracing::subscriber::with_default(subscriber(filter, format, captured.clone()), emit);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// The levels of `target` that came out.
    fn passed(out: &str, target: &str) -> Vec<&'static str> {
        LEVELS
            .into_iter()
            .filter(|level| out.contains(&format!("{target}@{level}")))
            .collect()
    }

    fn up_to(level: &str) -> Vec<&'static str> {
        let n = LEVELS.iter().position(|l| *l == level).unwrap();
        LEVELS[..=n].to_vec()
    }

    /// Asserts every SDK target passed exactly `sdk`, crossdeploy exactly
    /// `ours`, and the trace-level request never came out.
    fn assert_levels(out: &str, sdk: &[&str], ours: &[&str], case: &str) {
        for target in SDK {
            assert_eq!(passed(out, target), sdk, "{case}: {target}\n{out}");
        }
        assert_eq!(
            passed(out, "crossdeploy::deployment::reconcile"),
            ours,
            "{case}: crossdeploy\n{out}"
        );
        assert!(
            !out.contains("secret-external-id"),
            "{case}: a trace request leaked\n{out}"
        );
    }

    #[test]
    fn sdk_crates_log_at_the_lower_of_the_users_level_and_debug() {
        let text = Format::Text { colour: false };
        // --log-level alone (no RUST_LOG): info is the default.
        for (level, sdk, ours) in [
            ("error", up_to("ERROR"), up_to("ERROR")),
            ("warn", up_to("WARN"), up_to("WARN")),
            ("info", up_to("INFO"), up_to("INFO")),
            ("debug", up_to("DEBUG"), up_to("DEBUG")),
            ("trace", up_to("DEBUG"), up_to("TRACE")),
        ] {
            for format in [text, Format::Json] {
                let out = output(None, level, format);
                assert_levels(&out, &sdk, &ours, &format!("--log-level {level} {format:?}"));
            }
        }
    }

    #[test]
    fn rust_log_overrides_the_level_but_not_the_cap() {
        let text = Format::Text { colour: false };
        for (rust_log, sdk, ours) in [
            ("trace", up_to("DEBUG"), up_to("TRACE")),
            (
                "aws_smithy_runtime=trace,aws_config=trace,aws_sdk_sts=trace",
                up_to("DEBUG"),
                vec![],
            ),
            (
                "info,aws=trace,aws_sigv4=trace,aws_smithy_runtime_api=trace",
                up_to("DEBUG"),
                up_to("INFO"),
            ),
            ("warn", up_to("WARN"), up_to("WARN")),
        ] {
            // The aws_* crates a narrow RUST_LOG does not name stay off, so
            // check only the named ones there.
            let out = output(Some(rust_log), "info", text);
            if rust_log.starts_with("aws_smithy_runtime=") {
                for target in [
                    "aws_smithy_runtime::client::orchestrator",
                    "aws_config::sts::assume_role",
                ] {
                    assert_eq!(passed(&out, target), sdk, "RUST_LOG={rust_log}: {target}\n{out}");
                }
                assert_eq!(passed(&out, "aws_sdk_sts::operation::assume_role"), sdk, "{out}");
                assert_eq!(
                    passed(&out, "aws_sigv4::http_request::sign"),
                    Vec::<&str>::new(),
                    "{out}"
                );
                assert!(!out.contains("secret-external-id"), "{out}");
            } else {
                assert_levels(&out, &sdk, &ours, &format!("RUST_LOG={rust_log}"));
            }
        }
    }

    #[test]
    fn default_level_writes_no_sdk_debug_or_trace_line() {
        let out = output(None, "info", Format::Text { colour: false });
        let sdk_lines: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(" aws_") && (l.contains("DEBUG") || l.contains("TRACE")))
            .collect();
        assert!(sdk_lines.is_empty(), "{sdk_lines:#?}");
        assert!(out.contains("crossdeploy::deployment::reconcile@INFO"), "{out}");
    }

    #[test]
    fn kube_runtime_chatter_is_quiet_only_at_a_plain_info_level() {
        let text = Format::Text { colour: false };
        let kube = "kube_runtime::controller";
        for (rust_log, level, expected) in [
            (None, "info", up_to("WARN")),
            (None, "error", up_to("ERROR")),
            (None, "debug", up_to("DEBUG")),
            (None, "info,kube_runtime=info", up_to("INFO")),
            (Some("info"), "info", up_to("INFO")),
        ] {
            let out = output(rust_log, level, text);
            assert_eq!(
                passed(&out, kube),
                expected,
                "RUST_LOG={rust_log:?} --log-level {level}\n{out}"
            );
        }
    }

    #[test]
    fn the_e2e_harness_filter_is_capped_too() {
        // tests/e2e/harness.rs runs the operator with this RUST_LOG.
        let harness = "debug,hyper=info,hyper_util=info,h2=info,rustls=info,tower=info,\
                       aws_smithy_runtime=info,aws_smithy_http_client=info";
        let out = output(Some(harness), "info", Format::Text { colour: false });
        assert_eq!(passed(&out, "aws_smithy_runtime::client::orchestrator"), up_to("INFO"));
        assert_eq!(passed(&out, "aws_config::sts::assume_role"), up_to("DEBUG"));
        assert!(!out.contains("@TRACE"), "{out}");
    }

    #[test]
    fn an_invalid_rust_log_falls_back_to_the_level() {
        let (filter, ignored) = user_filter(Some("aws_config=loud"), "info");
        assert!(ignored.is_some());
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::INFO));
        let (filter, ignored) = user_filter(Some("  "), "debug");
        assert_eq!((filter.max_level_hint(), ignored), (Some(LevelFilter::DEBUG), None));
    }

    #[test]
    fn colour_only_when_asked_and_never_in_json() {
        let plain = output(None, "info", Format::Text { colour: false });
        assert!(!plain.contains('\u{1b}'), "{plain}");
        let coloured = output(None, "info", Format::Text { colour: true });
        assert!(coloured.contains("\u{1b}["), "{coloured}");
        let json = output(None, "info", Format::Json);
        assert!(!json.contains('\u{1b}'), "{json}");
        for line in json.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
        }
    }

    #[test]
    fn json_is_never_detected_as_coloured() {
        assert_eq!(Format::detect(true), Format::Json);
    }
}
