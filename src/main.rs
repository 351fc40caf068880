use std::process::ExitCode;

/// jemalloc rather than the system's malloc: chosen by measurement (docs/benchmarks.md).
#[cfg(all(not(miri), not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    classlink_operator::cli::main().await
}
