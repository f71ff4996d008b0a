//! Sotto in the background: what the window's close button does, quitting, and the ways back to
//! the window (the tray's "Open Sotto", a second launch, a click on a notification).
//!
//! Invariant: the window is only ever hidden when there is a way back to it that the person can
//! see — a tray icon that a tray shows, or the Dock on macOS. Otherwise closing quits, as before.

use sotto_core::ConversationId;
use tauri::{AppHandle, Emitter, Manager, Runtime, Window};
use tauri_plugin_notification::{ActionPerformed, NotificationExt};

use crate::settings;
use crate::state::AppState;

/// The event that asks the UI to open a conversation (a notification was clicked); its payload
/// is the [`ConversationId`].
pub const OPEN_CONVERSATION_EVENT: &str = "sotto://open-conversation";

/// The key under which a notification carries its conversation id (the plugin's `extra`).
pub const NOTIFICATION_CONVERSATION: &str = "conversation";

/// Whether this run has a tray icon (it could be created), managed as app state. Whether a tray
/// shows it is asked at each close ([`crate::tray::host_present`]): a panel may come or go.
#[derive(Debug, Clone, Copy)]
pub struct Tray {
    pub created: bool,
}

/// What a close request on the main window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Hide the window; the engine stays connected and notifications keep coming.
    Hide,
    /// End the app: the window closes (it is the last one), or `app.exit` once a tray turned out
    /// to be missing.
    Quit,
}

/// The close decision. On macOS closing a window never quits an app (the Dock icon brings it
/// back), whatever the setting. Elsewhere the window hides only when the person wants Sotto to
/// keep running and a tray shows its icon to come back through.
pub fn close_action(keep_running: bool, tray_shown: bool, macos: bool) -> CloseAction {
    if macos || (keep_running && tray_shown) { CloseAction::Hide } else { CloseAction::Quit }
}

/// `WindowEvent::CloseRequested` on `window`: hide it instead when [`close_action`] says so.
///
/// Whether a tray shows the icon takes a D-Bus and an X round trip, so it is asked off the UI
/// thread: the close is held, and the answer then hides the window or quits.
pub fn on_close_requested<R: Runtime>(window: &Window<R>, api: &tauri::CloseRequestApi) {
    if window.label() != "main" {
        return;
    }
    let app = window.app_handle().clone();
    let keep_running = settings::settings(&app).map(|s| s.keep_running).unwrap_or(true);
    let macos = cfg!(target_os = "macos");
    let tray_created = app.try_state::<Tray>().is_some_and(|t| t.created);
    if close_action(keep_running, tray_created, macos) == CloseAction::Quit {
        tracing::info!(keep_running, tray_created, "window closed: quitting");
        return;
    }
    api.prevent_close();
    let window = window.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let shown = macos || crate::tray::host_present();
        let action = close_action(keep_running, tray_created && shown, macos);
        tracing::info!(?action, keep_running, tray_shown = shown, "window close requested");
        match action {
            CloseAction::Hide => hide(&app, &window),
            CloseAction::Quit => quit(&app),
        }
    });
}

fn hide<R: Runtime>(app: &AppHandle<R>, window: &Window<R>) {
    if let Err(e) = window.hide() {
        tracing::warn!(error = %e, "could not hide the window");
    }
    // A hidden window is not looked at: notifications must show (the focus-out event may not
    // come, or come late, depending on the window manager).
    if let Some(state) = app.try_state::<AppState>() {
        state.set_focused(false);
    }
}

/// Bring the main window to the front (tray, second launch, notification click, the Dock).
pub fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Quit Sotto (the tray's and the window's Quit): the `RunEvent::Exit` handler shuts the engine
/// and the local server down before the process ends.
pub fn quit<R: Runtime>(app: &AppHandle<R>) {
    tracing::info!("quit");
    app.exit(0);
}

/// Report clicks on Sotto's notifications: each carries its conversation id, and a click shows
/// the window with that conversation open.
///
/// tauri-plugin-notification (2.6 and later) reports a click on a notification (`tap`) on desktop:
/// - Linux and the BSDs: the notification offers the `default` action of the Desktop
///   Notifications Specification, and one session-bus connection with one thread (the plugin's)
///   receives `ActionInvoked` for every notification; an entry is dropped when the server reports
///   the notification closed. No thread per notification.
/// - Windows: the plugin waits on a thread per notification; a click is reported while the toast
///   is on screen, not once it has moved to the Action Center.
/// - macOS: the plugin waits on a thread per notification until it is clicked or dismissed (so a
///   notification left in the Notification Center keeps its thread until then).
///
/// Not tried on Windows or macOS: what a click on an old notification does there is the
/// system's (at most it brings Sotto forward, without choosing the conversation).
pub fn report_notification_clicks<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    let registered = app.notification().on_action(move |performed: &ActionPerformed| {
        if performed.action_id() != "tap" {
            return;
        }
        let conversation = performed
            .notification()
            .and_then(|n| n.extra().get(NOTIFICATION_CONVERSATION))
            .and_then(|v| v.as_str())
            .and_then(|s| ConversationId::parse(s).ok());
        open_from_notification(&handle, conversation);
        // Done with: some servers (dunst) keep a clicked notification on screen until its app
        // closes it. Not on this thread, which reports the other notifications' signals.
        if let Some(id) = performed.notification().map(|n| n.id()) {
            let handle = handle.clone();
            tauri::async_runtime::spawn_blocking(move || handle.notification().remove_active(vec![id]));
        }
    });
    if let Err(e) = registered {
        tracing::warn!(error = %e, "notification clicks will not open their conversation");
    }
}

/// Show the window and, when known, have the UI open `conversation`.
fn open_from_notification<R: Runtime>(app: &AppHandle<R>, conversation: Option<ConversationId>) {
    tracing::info!(known = conversation.is_some(), "notification clicked");
    show_window(app);
    if let Some(id) = conversation
        && let Err(e) = app.emit(OPEN_CONVERSATION_EVENT, &id)
    {
        tracing::warn!(error = %e, "could not ask the window to open the conversation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_hides_only_with_a_way_back() {
        // Linux and Windows: the setting decides, but only with a tray icon to come back through.
        assert_eq!(close_action(true, true, false), CloseAction::Hide);
        assert_eq!(close_action(false, true, false), CloseAction::Quit);
        assert_eq!(close_action(true, false, false), CloseAction::Quit);
        assert_eq!(close_action(false, false, false), CloseAction::Quit);
        // macOS: closing a window never quits; the Dock icon is the way back.
        assert_eq!(close_action(false, false, true), CloseAction::Hide);
        assert_eq!(close_action(true, false, true), CloseAction::Hide);
    }
}
