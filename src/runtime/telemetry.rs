//! Logging setup. JSON logs for production, plain text for humans.

use tracing_subscriber::EnvFilter;

/// At trace level the AWS SDK logs whole requests and its credential
/// providers' Debug output, which contain the ExternalId; these crates are
/// capped at debug whatever the user asks for.
const SECRET_SAFE_CAPS: [&str; 5] = [
    "aws_smithy_runtime=debug",
    "aws_smithy_runtime_api=debug",
    "aws_smithy_http_client=debug",
    "aws_sigv4=debug",
    "aws_config=debug",
];

pub fn init(json: bool, default_level: &str) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    for cap in SECRET_SAFE_CAPS {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).with_span_list(false).init();
    } else {
        builder.init();
    }
}
