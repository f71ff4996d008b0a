//! The one place engine events reach the UI: a task per open profile forwards every
//! [`ClientEvent`] to the window, and on the way keeps the unread count (tray and title) and
//! shows native notifications while the window is in the background.

use std::collections::HashMap;

use sotto_core::{
    Client, ClientEvent, ContactProfile, Conversation, ConversationId, Message, MessageKind, MessageReason,
    Undecryptable,
};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;

use crate::settings;
use crate::state::AppState;

/// The event that carries each [`ClientEvent`] to the UI.
pub const CLIENT_EVENT: &str = "sotto://client";

const PREVIEW_CHARS: usize = 160;

/// What the forwarder knows of each conversation: enough for notification titles and the
/// unread total, without holding the client (sign-out needs the only handle).
struct Sidebar {
    /// Title, unread count, and muted until (ms), per conversation.
    conversations: HashMap<ConversationId, (String, i64, Option<i64>)>,
    /// The display names people chose, by user id (notifications are titled with them).
    names: HashMap<String, String>,
}

impl Sidebar {
    fn new(list: Vec<Conversation>, profiles: Vec<ContactProfile>) -> Self {
        let mut sidebar = Sidebar {
            conversations: list.into_iter().map(|c| (c.id, (c.title, c.unread, c.muted_until))).collect(),
            names: HashMap::new(),
        };
        for profile in &profiles {
            sidebar.profile_changed(profile);
        }
        sidebar
    }

    fn profile_changed(&mut self, profile: &ContactProfile) {
        match &profile.name {
            Some(name) => self.names.insert(profile.user_id.clone(), name.clone()),
            None => self.names.remove(&profile.user_id),
        };
    }

    /// What `user_id` is called: the name they chose, or their user id.
    fn name<'a>(&'a self, user_id: &'a str) -> &'a str {
        self.names.get(user_id).map_or(user_id, String::as_str)
    }

    fn update(&mut self, c: &Conversation) {
        self.conversations.insert(c.id.clone(), (c.title.clone(), c.unread, c.muted_until));
    }

    fn remove(&mut self, conversation_id: &ConversationId) {
        self.conversations.remove(conversation_id);
    }

    fn unread(&self) -> i64 {
        self.conversations.values().map(|(_, n, _)| *n).sum()
    }

    fn title(&self, conversation_id: &ConversationId) -> Option<&str> {
        self.conversations.get(conversation_id).map(|(t, _, _)| t.as_str())
    }

    /// Muted now (no notifications).
    fn muted(&self, conversation_id: &ConversationId, now_ms: i64) -> bool {
        self.conversations.get(conversation_id).and_then(|(_, _, until)| *until).is_some_and(|until| until > now_ms)
    }
}

pub fn spawn_forwarder<R: Runtime>(app: AppHandle<R>, client: Client) -> JoinHandle<()> {
    // Subscribe before reading the list, so nothing falls between the two.
    let mut events = client.subscribe();
    let mut sidebar = Sidebar::new(client.conversations().unwrap_or_default(), client.profiles().unwrap_or_default());
    drop(client);
    crate::tray::show_unread(&app, sidebar.unread());
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    match &event {
                        ClientEvent::ConversationUpdated { conversation } => {
                            sidebar.update(conversation);
                            crate::tray::show_unread(&app, sidebar.unread());
                        }
                        ClientEvent::ConversationRemoved { conversation_id } => {
                            sidebar.remove(conversation_id);
                            crate::tray::show_unread(&app, sidebar.unread());
                        }
                        ClientEvent::MessageReceived { message } => notify(&app, &sidebar, message),
                        ClientEvent::ProfileChanged { profile } => sidebar.profile_changed(profile),
                        _ => {}
                    }
                    if let Err(e) = app.emit(CLIENT_EVENT, &event) {
                        tracing::warn!(error = %e, "could not forward an event to the window");
                    }
                }
                // The window missed events: have it reload what it shows.
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the window fell behind the engine's events");
                    if let Some(state) = app.try_state::<AppState>() {
                        state.announce(&app);
                    }
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

/// A native notification for an incoming message, unless the window is focused or the person
/// turned them off; without the text when previews are off.
fn notify<R: Runtime>(app: &AppHandle<R>, sidebar: &Sidebar, message: &Message) {
    if message.outgoing || message.kind == MessageKind::System {
        return;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    if sidebar.muted(&message.conversation_id, now_ms) {
        return;
    }
    if app.try_state::<AppState>().is_some_and(|s| s.is_focused()) {
        return;
    }
    let prefs = settings::settings(app).unwrap_or_default();
    if !prefs.notifications {
        return;
    }
    let (title, body) = notification_text(
        sidebar.name(&message.sender_user),
        sidebar.title(&message.conversation_id),
        message,
        prefs.previews,
    );
    let shown = app
        .notification()
        .builder()
        .title(title)
        .body(body)
        // A click opens the conversation (`background::report_notification_clicks`).
        .extra(crate::background::NOTIFICATION_CONVERSATION, message.conversation_id.to_string())
        .show();
    if let Err(e) = shown {
        // No notification service (a bare X session, a locked-down desktop): not an error for
        // the person, who still sees the unread count.
        tracing::debug!(error = %e, "could not show a notification");
    }
}

/// A notification's title (who wrote, and in which group) and body. `sender`: the name the
/// sender chose, else their user id.
fn notification_text(
    sender: &str,
    conversation_title: Option<&str>,
    message: &Message,
    previews: bool,
) -> (String, String) {
    let group = matches!(message.conversation_id, ConversationId::Group(_));
    let title = match (group, conversation_title) {
        (true, Some(group_title)) => format!("{sender} in {group_title}"),
        _ => sender.to_owned(),
    };
    let body = if !previews {
        "New message".to_owned()
    } else if message.reason == Some(MessageReason::Undecryptable(Undecryptable::Withheld)) {
        // Not waiting for anything: it was never given to this device, which is not confirmed.
        "New message (this device isn't confirmed yet, so it can't show it)".to_owned()
    } else if message.kind == MessageKind::Undecryptable {
        "New message (waiting for the key to decrypt it)".to_owned()
    } else if let (MessageKind::File, Some(file)) = (message.kind, &message.file) {
        // As the conversation list says it: the caption, else "Photo" or the file's name.
        let icon = if file.image.is_some() { "📷" } else { "📎" };
        let text = match (message.body.trim().is_empty(), file.image.is_some()) {
            (false, _) => shortened(&message.body),
            (true, true) => "Photo".to_owned(),
            (true, false) => shortened(&file.name),
        };
        format!("{icon} {text}")
    } else {
        shortened(&message.body)
    };
    (title, body)
}

/// `text` cut to [`PREVIEW_CHARS`], with an ellipsis when cut.
fn shortened(text: &str) -> String {
    let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    preview
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use sotto_core::{ConversationKind, FileInfo, FileState, ImageInfo, MessageStatus};

    use super::*;

    fn message(conversation_id: &str, body: &str, kind: MessageKind) -> Message {
        Message {
            id: 1,
            conversation_id: ConversationId::parse(conversation_id).unwrap(),
            message_id: "m1".into(),
            sender_user: "bob".into(),
            sender_device: None,
            kind,
            body: body.into(),
            status: MessageStatus::Received,
            reason: None,
            outgoing: false,
            ts: 0,
            server_ts: None,
            file: None,
            reply_to: None,
            reactions: Vec::new(),
            edited: false,
            deleted: false,
            receipts: None,
        }
    }

    #[test]
    fn notifications_hide_the_text_without_previews() {
        let m = message("g:team", "the secret plan", MessageKind::Text);
        assert_eq!(notification_text("bob", Some("Team"), &m, true), ("bob in Team".into(), "the secret plan".into()));
        assert_eq!(notification_text("bob", Some("Team"), &m, false), ("bob in Team".into(), "New message".into()));
        let direct = message("u:bob", &"x".repeat(500), MessageKind::Text);
        let (title, body) = notification_text("bob", Some("bob"), &direct, true);
        assert_eq!(title, "bob");
        assert_eq!(body.chars().count(), PREVIEW_CHARS + 1);
        let waiting = message("u:bob", "", MessageKind::Undecryptable);
        assert!(notification_text("bob", None, &waiting, true).1.contains("waiting for the key"));
        let withheld = Message {
            reason: Some(MessageReason::Undecryptable(Undecryptable::Withheld)),
            ..message("u:bob", "", MessageKind::Undecryptable)
        };
        assert!(notification_text("bob", None, &withheld, true).1.contains("isn't confirmed yet"));
    }

    #[test]
    fn notifications_are_titled_with_the_name_people_chose() {
        let profile = |name: Option<&str>, version| ContactProfile {
            user_id: "bob".into(),
            name: name.map(str::to_owned),
            avatar: false,
            version,
        };
        let mut sidebar = Sidebar::new(Vec::new(), vec![profile(Some("Bob B."), 1)]);
        assert_eq!(sidebar.name("bob"), "Bob B.");
        assert_eq!(sidebar.name("carol"), "carol", "no profile: the user id");
        let direct = message("u:bob", "hi", MessageKind::Text);
        assert_eq!(notification_text(sidebar.name("bob"), Some("bob"), &direct, true).0, "Bob B.");
        let group = message("g:team", "hi", MessageKind::Text);
        assert_eq!(notification_text(sidebar.name("bob"), Some("Team"), &group, true).0, "Bob B. in Team");
        sidebar.profile_changed(&profile(Some("Robert"), 2));
        assert_eq!(sidebar.name("bob"), "Robert");
        // A name taken away: the user id again.
        sidebar.profile_changed(&profile(None, 3));
        assert_eq!(sidebar.name("bob"), "bob");
    }

    #[test]
    fn file_messages_say_what_they_are() {
        let file = |image: bool| FileInfo {
            name: "report.pdf".into(),
            mime: if image { "image/png" } else { "application/pdf" }.into(),
            size: 1234,
            state: FileState::Remote,
            image: image.then(|| ImageInfo { width: 4, height: 3, blurhash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj".into() }),
        };
        let with = |caption: &str, image: bool| Message {
            file: Some(file(image)),
            ..message("u:bob", caption, MessageKind::File)
        };
        assert_eq!(notification_text("bob", None, &with("", true), true).1, "📷 Photo");
        assert_eq!(notification_text("bob", None, &with("", false), true).1, "📎 report.pdf");
        assert_eq!(notification_text("bob", None, &with("  ", false), true).1, "📎 report.pdf");
        assert_eq!(notification_text("bob", None, &with("our holiday", true), true).1, "📷 our holiday");
        assert_eq!(notification_text("bob", None, &with("the numbers", false), true).1, "📎 the numbers");
        let (_, long) = notification_text("bob", None, &with(&"y".repeat(500), true), true);
        assert_eq!(long.chars().count(), PREVIEW_CHARS + 3, "icon, space, text and ellipsis");
        // Without previews, not even the file's name shows.
        assert_eq!(notification_text("bob", None, &with("", false), false).1, "New message");
    }

    #[test]
    fn unread_total_follows_updates() {
        let conv = |id: &str, unread| Conversation {
            id: ConversationId::parse(id).unwrap(),
            kind: ConversationKind::Direct,
            peer: "bob".into(),
            title: "bob".into(),
            last_ts: 0,
            last_preview: String::new(),
            unread,
            muted_until: None,
            archived: false,
            pinned: false,
            marked_unread: false,
            draft: String::new(),
            disappear_secs: None,
        };
        let mut sidebar = Sidebar::new(vec![conv("u:bob", 2), conv("u:carol", 3)], Vec::new());
        assert_eq!(sidebar.unread(), 5);
        sidebar.update(&conv("u:bob", 0));
        sidebar.update(&conv("g:x", 4));
        assert_eq!(sidebar.unread(), 7);
        sidebar.remove(&ConversationId::parse("g:x").unwrap());
        assert_eq!(sidebar.unread(), 3);
        // Muted until a time: silent before it, not after.
        let muted = Conversation { muted_until: Some(1_000), ..conv("u:dave", 1) };
        sidebar.update(&muted);
        assert!(sidebar.muted(&muted.id, 999) && !sidebar.muted(&muted.id, 1_000));
    }
}
