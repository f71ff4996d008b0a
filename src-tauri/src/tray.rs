//! The tray icon: the unread count at a glance, and the way back to the window once it is
//! closed while Sotto keeps running ([`crate::background`]).

use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

const TRAY_ID: &str = "main";

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Sotto", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Sotto", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID).menu(&menu).tooltip("Sotto").on_menu_event(|app, event| {
        match event.id().as_ref() {
            "open" => crate::background::show_window(app),
            "quit" => crate::background::quit(app),
            _ => {}
        }
    });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

/// Show `unread` in the tray (tooltip, and the label beside the icon where the desktop has
/// one) and in the window title.
pub fn show_unread<R: Runtime>(app: &AppHandle<R>, unread: i64) {
    let label = if unread > 0 { format!("Sotto ({unread})") } else { "Sotto".to_owned() };
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let tooltip = match unread {
            0 => "Sotto".to_owned(),
            1 => "Sotto — 1 unread message".to_owned(),
            n => format!("Sotto — {n} unread messages"),
        };
        let _ = tray.set_tooltip(Some(tooltip));
        let _ = tray.set_title(if unread > 0 { Some(unread.to_string()) } else { None });
    }
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.set_title(&label);
    }
}
