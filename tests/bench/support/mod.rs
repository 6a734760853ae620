//! What the bench programs share: the processes they measure, the emulator's
//! control API, the API server's audit log, the objects they create, and the
//! report (one table, one plot).

// Shared by two programs (scale, chaos), each using a part of it.
#![allow(dead_code)]

pub mod audit;
pub mod emu;
pub mod heap;
pub mod ledger;
pub mod metrics;
pub mod operator;
pub mod procfs;
pub mod ready;
pub mod report;
pub mod world;

/// `cargo bench` passes `--bench`; `cargo test --all-targets` (make test) runs
/// bench targets too, without it, and must not start a benchmark.
pub fn invoked_by_cargo_bench() -> bool {
    if std::env::args().any(|a| a == "--bench") {
        return true;
    }
    eprintln!(
        "{}: a benchmark; run it with make bench / make chaos (cargo bench --bench <name>)",
        env!("CARGO_CRATE_NAME")
    );
    false
}
