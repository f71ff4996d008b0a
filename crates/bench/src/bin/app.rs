//! `sotto-app-bench`: the desktop app's cold start to an interactive conversation list, opening a
//! conversation of 100,000 messages, and resident memory after loading 10 conversations, measured
//! in the real (release) app window through WebDriver. Prints a table, then one JSON line.
//!
//! Build first: `npm --prefix ui run build`, `TAURI_APP_PATH=src-tauri ui/node_modules/.bin/tauri
//! build --no-bundle` (the release app) and `cargo build --release -p sotto-server -p sotto-bench`;
//! then run `target/release/sotto-app-bench` with a display (Xvfb), `tauri-driver` and
//! `WebKitWebDriver` on `PATH`, and a Secret Service on the session bus.

#[path = "../app/mod.rs"]
mod app;

fn main() -> anyhow::Result<()> {
    app::main()
}
