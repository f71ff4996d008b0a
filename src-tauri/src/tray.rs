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

/// Whether a tray shows Sotto's icon now, so a hidden window has a way back. On Linux the icon
/// is "created" (libappindicator) whether or not anything shows it: look for a StatusNotifier
/// host (KDE, GNOME's AppIndicator extension, most panels) on the session bus, or an XEmbed tray
/// manager on the X screen (libappindicator falls back to it). Elsewhere the system always has
/// a place for the icon (notification area, menu bar).
pub fn host_present() -> bool {
    #[cfg(target_os = "linux")]
    {
        status_notifier_host() || xembed_tray_manager()
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// A StatusNotifierWatcher that has a host registered. Asked without activating anything.
#[cfg(target_os = "linux")]
fn status_notifier_host() -> bool {
    const WATCHER: &str = "org.kde.StatusNotifierWatcher";
    let check = || -> zbus::Result<bool> {
        let bus = zbus::blocking::Connection::session()?;
        let name = zbus::names::BusName::try_from(WATCHER)?;
        if !zbus::blocking::fdo::DBusProxy::new(&bus)?.name_has_owner(name)? {
            return Ok(false);
        }
        let watcher = zbus::blocking::proxy::Builder::<zbus::blocking::Proxy<'_>>::new(&bus)
            .destination(WATCHER)?
            .path("/StatusNotifierWatcher")?
            .interface(WATCHER)?
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()?;
        watcher.get_property::<bool>("IsStatusNotifierHostRegistered")
    };
    check().unwrap_or_else(|e| {
        tracing::debug!(error = %e, "no StatusNotifier host");
        false
    })
}

/// An XEmbed system tray: the owner of the `_NET_SYSTEM_TRAY_S<screen>` selection.
#[cfg(target_os = "linux")]
fn xembed_tray_manager() -> bool {
    use x11rb::protocol::xproto::ConnectionExt as _;
    let check = || -> Result<bool, Box<dyn std::error::Error>> {
        let (conn, screen) = x11rb::connect(None)?;
        let atom = conn.intern_atom(true, format!("_NET_SYSTEM_TRAY_S{screen}").as_bytes())?.reply()?.atom;
        if atom == x11rb::NONE {
            return Ok(false);
        }
        Ok(conn.get_selection_owner(atom)?.reply()?.owner != x11rb::NONE)
    };
    check().unwrap_or_else(|e| {
        tracing::debug!(error = %e, "no XEmbed tray");
        false
    })
}
