//! `sotto-engine-bench`: measures the client engine (`sotto-core`) on one core: the local send
//! path against raw Megolm encryption, the receive path against raw Megolm decryption, and
//! full-text search over a large encrypted history against the same query on a plain copy.
//! Prints a table, then one JSON line.
//!
//! Build first: `cargo build --release -p sotto-server -p sotto-bench`, then run
//! `target/release/sotto-engine-bench` (it finds `sotto-server` next to itself).

#[path = "../engine/mod.rs"]
mod engine;

fn main() -> anyhow::Result<()> {
    engine::main()
}
