//! Test support shared by the server's integration tests, the end-to-end tests and the
//! benchmarks: the real `sotto-server` binary in a child process on a free loopback port, over
//! a temporary data directory, with its log kept beside it.
//!
//! The crate starts the binary; it never links `sotto-server` or `sotto-core`, so what is tested
//! is exactly what ships. Every operation returns a [`LaunchError`] (the benchmarks report it);
//! [`Launch::start`] and [`ServerProcess::restart`] are the panicking forms tests use.
//!
//! The crate's own tests (`tests/launcher.rs`) run the binary of the target directory they were
//! built into, like the end-to-end tests: `cargo build -p sotto-server` first.

mod error;
mod locate;
mod s3;
mod server;

pub use error::LaunchError;
pub use locate::{free_port, locate, override_var};
pub use s3::{BUCKET, S3Server};
pub use server::{Launch, ServerProcess};
