//! `sotto-files-bench`: one large file through the real server on loopback — encrypted and
//! uploaded by one engine, downloaded and decrypted by another — beside `cp` of the same file
//! and the raw AEAD throughput, with the peak memory of the client (this process) and of the
//! server. Prints a table, then one JSON line.
//!
//! Build first: `cargo build --release -p sotto-server -p sotto-bench`, then run
//! `target/release/sotto-files-bench` (it finds `sotto-server` next to itself).

#[path = "../files/mod.rs"]
mod files;

fn main() -> anyhow::Result<std::process::ExitCode> {
    files::main()
}
