use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    classlink_operator::cli::main().await
}
