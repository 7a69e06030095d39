//! The project's runner as a process of its own, for tests that must kill the host hard
//! (`kill -9`) in the middle of its work: the same command line as `storefront-runner`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    storefront_runner::cli::main().await
}
