//! `sotto`: a headless Sotto client over the same engine as the desktop app.
//!
//! Commands that print data print JSON (one document, or JSON lines for `listen`) on stdout;
//! progress and errors go to stderr as sentences. Exit status 0 on success, 1 on failure.

use std::process::ExitCode;

use clap::Parser;

mod args;
mod commands;
mod hints;
mod shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SOTTO_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = args::Cli::parse();
    match commands::run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<sotto_core::Error>() {
                Some(core) => {
                    eprintln!("error [{}]: {core}", core.code());
                    if let Some(hint) = hints::hint(core.code()) {
                        eprintln!("hint: {hint}");
                    }
                }
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
