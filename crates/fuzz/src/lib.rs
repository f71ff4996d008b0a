//! What Sotto is fuzzed for, as functions of an input: decoding every wire type, the engine's
//! receive path (WebSocket frames, Olm and Megolm envelopes and the plaintext payloads inside
//! them), the backup file reader and the key backup's open. Each property returns a
//! [`Violation`] when it does not hold; a panic in the code under test is a failure too.
//!
//! Two drivers call these same functions: the property tests in `tests/` (proptest, stable, a
//! bounded number of cases in the normal test run) and the libFuzzer targets in `fuzz/` (nightly,
//! `cargo fuzz run`, for long runs). `fuzz/README.md` says how to run each.
//!
//! Invariant: a property calls the real code (`sotto_proto`'s types through serde_json, exactly
//! as the server and the engine decode them; `sotto_core::fuzzing`, which drives the engine's
//! own receive path and readers), never a copy of it.

pub mod engine;
pub mod seeds;
pub mod wire;

pub use engine::Engine;

/// A property that did not hold: what was expected and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}
