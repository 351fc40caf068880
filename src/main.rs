use std::process::ExitCode;

// jemalloc, with its options (src/allocator.rs).
classlink_operator::global_allocator!();

#[tokio::main]
async fn main() -> ExitCode {
    classlink_operator::cli::main().await
}
