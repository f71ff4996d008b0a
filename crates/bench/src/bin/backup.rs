//! `sotto-backup-bench`: time and peak memory of `sotto backup export` and `sotto backup import`
//! (the real CLI, one process per command) for a profile of 10,000 and of 100,000 messages, and
//! for an empty one (the fixed costs). Every restore is checked message by message. Prints a
//! table, then one JSON line.
//!
//! Build first: `cargo build --release -p sotto-server -p sotto-cli -p sotto-bench`, then run
//! `target/release/sotto-backup-bench` (it finds `sotto` and `sotto-server` next to itself).

#[path = "../backup/mod.rs"]
mod backup;

fn main() -> anyhow::Result<std::process::ExitCode> {
    backup::main()
}
