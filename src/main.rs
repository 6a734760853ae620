// jemalloc returns freed memory to the system (glibc keeps most of it), from
// a background thread even when the operator is idle (Cargo.toml): the
// 10,000-object store is rebuilt on every relist, and without this the
// operator kept the high-water mark for good (make bench, README
// "Performance").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    crossdeploy::cli::main().await
}
