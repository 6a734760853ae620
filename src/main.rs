#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    crossdeploy::cli::main().await
}
