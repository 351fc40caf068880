use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = classlink_operator::cli::Cli::parse();
    cli.run().await
}
