//! The Sotto desktop app: a Tauri shell over `sotto-core`. The Rust side owns every key and
//! secret; the web UI (`ui/`) renders and calls the commands in [`commands`]. Engine events
//! reach the window through one forwarder ([`events`]).
//!
//! Modules: [`state`] (phase: welcome / locked / ready, the open client, the local server),
//! [`settings`] (tauri-plugin-store), [`local_server`] ("run a server on this computer"),
//! [`tray`], [`background`] (closing to the tray, quitting, notification clicks), [`webview`]
//! (WebKitGTK settings), [`bindings`] (TypeScript declarations for the UI), [`parsed`] (command
//! arguments checked at the IPC boundary).

pub mod background;
pub mod bindings;
pub mod commands;
pub mod error;
pub mod events;
pub mod local_server;
pub mod parsed;
pub mod settings;
pub mod state;
pub mod tasks;
pub mod tray;
pub mod updates;
pub mod webview;

use tauri::{Manager, RunEvent, WindowEvent};

use crate::state::AppState;

pub fn run() {
    let started = std::time::Instant::now();
    // Before anything else: it may set an environment variable, which needs a single thread.
    webview::prepare_process();
    init_tracing();
    let app = tauri::Builder::default()
        // First, so a second launch only brings the running window forward.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| background::show_window(app)))
        .plugin(tauri_plugin_store::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        // Driven from Rust only (`updates.rs`, with the key set there); the page gets no permission.
        .plugin(tauri_plugin_updater::Builder::new().build())
        // Driven from Rust only (`commands::settings`): the page gets no permission for it.
        .plugin(tauri_plugin_autostart::Builder::new().app_name("Sotto").build())
        .setup(move |app| {
            tracing::info!(ms = started.elapsed().as_millis() as u64, "window created; setup");
            if let Some(window) = app.get_webview_window("main") {
                webview::tune(&window);
            }
            let data_dir = app.path().app_data_dir()?;
            std::fs::create_dir_all(&data_dir)?;
            app.manage(AppState::new(data_dir));
            commands::files::clear_outgoing(app.handle());
            app.manage(updates::Pending::default());
            let tray = tray::create(app.handle());
            if let Err(e) = &tray {
                // Some desktops have no tray; the window still shows the unread count, and
                // closing it quits (there would be no way back).
                tracing::warn!(error = %e, "no tray icon");
            }
            app.manage(background::Tray { created: tray.is_ok() });
            background::report_notification_clicks(app.handle());
            tracing::info!(ms = started.elapsed().as_millis() as u64, "tray created");
            // Opening the profile (keychain read, SQLCipher, engine start) runs beside the
            // window's first load instead of before it; `app_status` waits for it.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let state = handle.state::<AppState>();
                commands::session::restore_at_start(&handle, &state).await;
            });
            Ok(())
        })
        .on_window_event(|window, event| match event {
            WindowEvent::Focused(focused) => {
                if let Some(state) = window.try_state::<AppState>() {
                    state.set_focused(*focused);
                }
            }
            WindowEvent::CloseRequested { api, .. } => background::on_close_requested(window, api),
            WindowEvent::DragDrop(drop) => commands::files::forward_drop(window.app_handle(), drop),
            _ => {}
        })
        .invoke_handler(commands::handler())
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "Sotto could not start");
            eprintln!("Sotto could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| match event {
        RunEvent::Exit => {
            if let Some(state) = handle.try_state::<AppState>() {
                tauri::async_runtime::block_on(state.shut_down());
            }
            tracing::info!("shut down; exiting");
        }
        // macOS: the Dock icon was clicked while the window was closed (hidden).
        #[cfg(target_os = "macos")]
        RunEvent::Reopen { .. } => background::show_window(handle),
        _ => {}
    });
}

/// Logs to stderr, `info` unless `RUST_LOG` says otherwise. Never message text or keys.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tao=warn,wry=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
