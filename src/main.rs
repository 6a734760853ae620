#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crossdeploy::cli::main().await
}
