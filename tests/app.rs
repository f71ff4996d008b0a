//! The desktop app in its real window (WebKitGTK through tauri-driver), against the real
//! `sotto-server`, with other people played by the `sotto` CLI. Each flow saves screenshots
//! under `target/test-output/app/<test>/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use fantoccini::key::Key;
use sotto_proto::UserId;
use sotto_tests::window::{AppData, AppWindow, NativeDialog};
use sotto_tests::*;

/// Register `user` through the welcome screen: connect to `server`, create the account.
async fn register_in_window(app: &AppWindow, server: &Server, user: &str) {
    app.find("welcome").await;
    app.screenshot("welcome").await;
    app.click("connect-choice").await;
    app.type_into("server-url", server.url()).await;
    app.click("server-continue").await;
    app.click("mode-register").await;
    app.type_into("user-id", user).await;
    app.type_into("password", PASSWORD).await;
    app.type_into("password-confirm", PASSWORD).await;
    app.screenshot("register").await;
    app.click("sign-in-submit").await;
    app.find("main").await;
    app.wait_for_texts("[data-testid='own-user']", "the own user id", |t| t.iter().any(|s| s.contains(user))).await;
}

/// Sign in to `user`'s existing account through the welcome screen, as a new device.
async fn sign_in_in_window(app: &AppWindow, server: &Server, user: &str) {
    app.find("welcome").await;
    app.click("connect-choice").await;
    app.type_into("server-url", server.url()).await;
    app.click("server-continue").await;
    app.click("mode-login").await;
    app.type_into("user-id", user).await;
    app.type_into("password", PASSWORD).await;
    app.click("sign-in-submit").await;
    app.find("main").await;
}

/// Sync `client` until its verification `id` is in a state `pick` accepts (the window's client
/// syncs itself); panics with the last state after about 20 s.
async fn sync_until<T>(
    client: &sotto_core::Client,
    id: &str,
    pick: impl Fn(&sotto_core::VerificationState) -> Option<T>,
) -> T {
    let mut last = None;
    for _ in 0..100 {
        client.sync().await.unwrap();
        let view = client.verification_list().unwrap().into_iter().find(|v| v.id == id).unwrap();
        if let Some(found) = pick(&view.state) {
            return found;
        }
        last = Some(view.state);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the verification never got there; it shows {last:?}")
}

fn register_cli(server: &Server, dirs: &tempfile::TempDir, user: &str) -> Cli {
    Cli::new(server, dirs.path().join(user)).registered(user)
}

/// The bodies of text messages in a CLI user's history of `conversation` (`bob` or `--group` name).
fn cli_texts(cli: &Cli, conversation: &[&str]) -> Vec<String> {
    cli.run(&["sync"], "").json();
    let mut args = vec!["history"];
    args.extend_from_slice(conversation);
    let history = cli.run(&args, "").json();
    history
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

/// This machine's address on its network (the one its default route goes out from).
fn network_address() -> std::net::IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // Connecting a UDP socket sends nothing; it only picks the route and so the local address.
    probe.connect("192.0.2.1:9").expect("this machine has no network route to test the local server against");
    let ip = probe.local_addr().unwrap().ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "no network address: {ip}");
    ip
}

async fn send_in_window(app: &AppWindow, text: &str) {
    let composer = app.find("composer").await;
    composer.send_keys(text).await.unwrap();
    composer.send_keys(&char::from(Key::Enter).to_string()).await.unwrap();
    // Our own message appears, then the server's acknowledgement turns it `sent`.
    let selector = "[data-testid='message'][data-outgoing='true'][data-status='sent'] [data-testid='message-body']";
    app.wait_for_texts(selector, "the sent message", |texts| texts.iter().any(|t| t == text)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_chats_with_someone_on_the_command_line() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("one_to_one", &data).await;
    register_in_window(&app, &server, "alice").await;
    app.find("empty-state").await;
    app.screenshot("empty").await;

    // bob writes first; the conversation appears, unread, and opens with his message.
    bob.run(&["send", "alice", "hello alice, it's bob"], "").json();
    let row = app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await;
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob'][data-unread='1']").await;
    row.click().await.unwrap();
    app.find_css("[data-testid='chat-view'][data-conversation-id='u:bob']").await;
    app.wait_for_texts("[data-testid='message-body']", "bob's message", |t| {
        t.iter().any(|b| b == "hello alice, it's bob")
    })
    .await;
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob'][data-unread='0']").await;
    app.screenshot("received").await;

    // alice answers from the window; bob reads it on the command line.
    send_in_window(&app, "hi bob, from the window").await;
    assert_eq!(cli_texts(&bob, &["alice"]), ["hello alice, it's bob", "hi bob, from the window"]);

    // A second message from bob arrives live in the open conversation.
    bob.run(&["send", "alice", "great, it works"], "").json();
    app.wait_for_texts("[data-testid='message-body']", "bob's second message", |t| {
        t.iter().any(|b| b == "great, it works")
    })
    .await;

    // The safety number in the details panel is the one bob sees.
    app.click("details-button").await;
    app.find("safety-number").await;
    let shown = app
        .wait_for_texts("[data-testid='safety-number']", "the safety number", |t| t.iter().any(|s| s.len() >= 60))
        .await
        .join("");
    let digits: String = shown.chars().filter(char::is_ascii_digit).collect();
    let expected = bob.run(&["safety-number", "alice"], "").json()["safety_number"].as_str().unwrap().to_owned();
    assert_eq!(digits, expected.chars().filter(char::is_ascii_digit).collect::<String>());
    // They match: alice marks bob verified, and the conversation's header says so.
    app.click("verify-toggle").await;
    app.wait_for_texts("[data-testid='verified-mark']", "the verified mark", |t| {
        t.iter().any(|s| s.contains("Verified"))
    })
    .await;
    app.screenshot("safety-number").await;
    app.close().await;

    // Started again, the app opens the same profile (key from the keychain) with its history.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = AppWindow::launch("one_to_one_reopened", &data).await;
    app.find("main").await;
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "the history after a restart", |t| {
        t.iter().any(|b| b == "hi bob, from the window") && t.iter().any(|b| b == "great, it works")
    })
    .await;
    app.find("verified-mark").await;
    app.screenshot("reopened").await;
    app.close().await;
}

/// On a server as shipped, someone who never wrote to the group's creator is invited: the window
/// shows the invitation in place of the composer, and after Join the person reads and writes in
/// the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_answered_in_the_window() {
    let server = Server::start_as_shipped().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("invitation", &data).await;
    register_in_window(&app, &server, "alice").await;

    let group = bob.run(&["group", "create", "choir", "alice"], "").json();
    assert_eq!(group["invited"], serde_json::json!(["alice"]));
    let group_id = group["group_id"].as_str().unwrap().to_owned();
    bob.run(&["send", "--group", &group_id, "before alice joins"], "").json();
    let row = format!("[data-testid='conversation-row'][data-conversation-id='g:{group_id}']");
    app.find_css(&row).await.click().await.unwrap();
    app.find("invitation").await;
    app.wait_for_texts("[data-testid='message-body']", "the invitation line", |t| {
        t.iter().any(|b| b == "bob invited you to the group.")
    })
    .await;
    app.screenshot("invited").await;
    app.click("invitation-join").await;
    // The composer takes the invitation's place.
    app.find("composer").await;
    app.wait_for_texts("[data-testid='message-body']", "the joined line", |t| {
        t.iter().any(|b| b == "You joined the group.")
    })
    .await;
    bob.run(&["sync"], "").json();
    bob.run(&["send", "--group", &group_id, "welcome alice"], "").json();
    app.wait_for_texts("[data-testid='message-body']", "bob's welcome", |t| t.iter().any(|b| b == "welcome alice"))
        .await;
    send_in_window(&app, "glad to be here").await;
    let texts = cli_texts(&bob, &["--group", &group_id]);
    assert!(texts.contains(&"glad to be here".to_owned()), "{texts:?}");
    let texts = app.texts("[data-testid='message-body']").await;
    assert!(!texts.iter().any(|b| b == "before alice joins"), "{texts:?}");
    app.screenshot("joined").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_two_people_one_removed_and_search() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let carol = register_cli(&server, &dirs, "carol");
    let data = AppData::new();
    let app = AppWindow::launch("group", &data).await;
    register_in_window(&app, &server, "alice").await;

    app.click("new-group-button").await;
    app.type_into("group-name", "Book club").await;
    app.type_into("group-members", "bob, carol").await;
    app.screenshot("new-group").await;
    app.click("group-create-submit").await;
    let chat = app.find_css("[data-testid='chat-view'][data-conversation-id^='g:']").await;
    let conversation_id = chat.attr("data-conversation-id").await.unwrap().unwrap();
    send_in_window(&app, "first chapter tonight").await;
    assert_eq!(cli_texts(&bob, &["--group", "Book club"]), ["first chapter tonight"]);
    assert_eq!(cli_texts(&carol, &["--group", "Book club"]), ["first chapter tonight"]);

    // bob answers in the group.
    bob.run(&["send", "--group", "Book club", "see you there"], "").json();
    app.wait_for_texts("[data-testid='message-body']", "bob's group message", |t| {
        t.iter().any(|b| b == "see you there")
    })
    .await;
    app.screenshot("group-chat").await;

    // Remove carol from the details panel.
    app.click("details-button").await;
    app.wait_for_texts("[data-testid='member-row']", "three members", |t| t.len() == 3).await;
    app.click_css("[data-testid='member-row'][data-user-id='carol'] [data-testid='member-more']").await;
    app.click("menu-remove").await;
    app.click("confirm-button").await;
    app.wait_for_texts("[data-testid='member-row']", "two members", |t| t.len() == 2).await;
    app.wait_for_texts("[data-testid='system-line']", "the removal line", |t| t.iter().any(|l| l.contains("carol")))
        .await;
    app.screenshot("carol-removed").await;

    // After the removal carol no longer receives the group's messages; bob does.
    send_in_window(&app, "only for the two of us").await;
    assert_eq!(
        cli_texts(&bob, &["--group", "Book club"]),
        ["first chapter tonight", "see you there", "only for the two of us"]
    );
    let carol_sees = cli_texts(&carol, &["--group", "Book club"]);
    assert!(!carol_sees.iter().any(|b| b == "only for the two of us"), "carol read {carol_sees:?}");

    // Search the history and jump to a hit.
    app.click("search-input").await;
    app.type_into("search-input", "chapter").await;
    let hits = app.wait_for_texts("[data-testid='search-result']", "a search hit", |t| t.len() == 1).await;
    assert!(hits[0].contains("chapter"), "{hits:?}");
    app.screenshot("search").await;
    app.find("search-result").await.click().await.unwrap();
    app.find_css(&format!("[data-testid='chat-view'][data-conversation-id='{conversation_id}']")).await;
    app.wait_for_texts(
        "[data-testid='message'][data-highlighted='true'] [data-testid='message-body']",
        "the highlighted hit",
        |t| t.iter().any(|b| b == "first chapter tonight"),
    )
    .await;
    // The hit is on screen, not only in the page.
    let visible = app
        .client
        .execute(
            // By its text: the highlight itself fades after a few seconds, which a loaded machine
            // can reach between the wait above and this check.
            "const e = Array.from(document.querySelectorAll(\"[data-testid='message']\")) \
               .find(m => m.querySelector(\"[data-testid='message-body']\")?.textContent === 'first chapter tonight'); \
             const r = e.getBoundingClientRect(); \
             const list = document.querySelector(\"[data-testid='chat-view']\").getBoundingClientRect(); \
             return r.height > 0 && r.top >= list.top && r.bottom <= list.bottom;",
            vec![],
        )
        .await
        .unwrap();
    // WebKitGTK under Xvfb (software rendering, debug build) paints a freshly mounted list a
    // moment after its layout; the screenshot waits for that, the assertions above do not.
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.screenshot("search-jump").await;
    assert_eq!(visible, serde_json::Value::Bool(true), "the search hit is not in view");
    app.close().await;
}

/// Settings → back up to a file, and → export a readable copy; then on a fresh install the
/// welcome screen restores the file: the history is there and messages flow both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_made_in_the_app_restores_on_a_fresh_install() {
    const BACKUP_PASSPHRASE: &str = "four unrelated words here";
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("backup_export", &data).await;
    register_in_window(&app, &server, "alice").await;
    bob.run(&["send", "alice", "a message worth keeping"], "").json();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "bob's message", |t| {
        t.iter().any(|b| b == "a message worth keeping")
    })
    .await;
    send_in_window(&app, "and my answer").await;

    // The backup, to a file of the person's choosing.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("alice.sotto");
    app.click("settings-button").await;
    app.click("open-backup").await;
    app.wait_for_texts("[data-testid='backup-path']", "the suggested file", |_| true).await;
    // Picked with the system's file chooser: closed once without choosing, then used.
    app.click("backup-path-choose").await;
    NativeDialog::wait("Save the backup as").await.dismiss().await;
    app.click("backup-path-choose").await;
    NativeDialog::wait("Save the backup as").await.choose(&file).await;
    let chosen = app.find("backup-path").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while chosen.prop("value").await.unwrap().as_deref() != file.to_str() {
        assert!(std::time::Instant::now() < deadline, "the chooser's file did not reach the field");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.type_into("backup-passphrase", BACKUP_PASSPHRASE).await;
    app.type_into("backup-passphrase-confirm", BACKUP_PASSPHRASE).await;
    app.screenshot("backup-form").await;
    app.click("backup-start").await;
    // The DOM's text, not WebDriver's rendered text: WebKitGTK under Xvfb may not have painted
    // a freshly mounted element yet, and then reports it empty.
    let done =
        app.wait_for_texts("[data-testid='backup-done']", "the backup's summary", |t| !t.is_empty()).await.concat();
    assert!(done.contains("Your backup is saved"), "{done}");
    app.screenshot("backup-done").await;
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    app.click("backup-close").await;

    // A readable copy of the open conversation, as web pages.
    let readable = out.path().join("readable");
    app.click("open-export").await;
    app.click("export-open").await;
    app.replace_text("export-path", readable.to_str().unwrap()).await;
    app.click("export-start").await;
    let done =
        app.wait_for_texts("[data-testid='export-done']", "the export's summary", |t| !t.is_empty()).await.concat();
    assert!(done.contains("1 conversation"), "{done}");
    app.screenshot("export-done").await;
    let pages: Vec<String> = std::fs::read_dir(&readable)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(pages.iter().any(|p| p.contains("a message worth keeping") && p.contains("and my answer")));
    app.close().await;

    // A new computer: nothing but the file.
    let fresh = AppData::new();
    let app = AppWindow::launch("backup_restore", &fresh).await;
    app.find("welcome").await;
    app.click("connect-choice").await;
    app.type_into("server-url", server.url()).await;
    app.click("server-continue").await;
    app.click("open-restore").await;
    app.type_into("restore-file", file.to_str().unwrap()).await;
    app.type_into("restore-backup-passphrase", "not the passphrase").await;
    app.type_into("restore-user-id", "alice").await;
    app.type_into("restore-password", PASSWORD).await;
    app.click("restore-submit").await;
    let error = app.wait_for_texts("[data-testid='form-error']", "the wrong passphrase", |t| !t.is_empty()).await;
    assert!(error.concat().contains("doesn't open this backup"), "{error:?}");
    app.screenshot("restore-wrong-passphrase").await;
    app.type_into("restore-backup-passphrase", BACKUP_PASSPHRASE).await;
    app.click("restore-submit").await;
    app.find("main").await;
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "the restored history", |t| {
        t.iter().any(|b| b == "a message worth keeping") && t.iter().any(|b| b == "and my answer")
    })
    .await;
    app.screenshot("restored").await;

    // Both ways after the restore.
    bob.run(&["send", "alice", "welcome back"], "").json();
    app.wait_for_texts("[data-testid='message-body']", "a new message from bob", |t| {
        t.iter().any(|b| b == "welcome back")
    })
    .await;
    send_in_window(&app, "thanks, all here").await;
    assert!(cli_texts(&bob, &["alice"]).contains(&"thanks, all here".to_owned()));
    app.close().await;
}

/// Settings → key backup: turned on in the app (the recovery key shown once), then on a new
/// device of the same person (a fresh install signing in) restored with that key: the group's
/// earlier messages are readable there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_backup_turned_on_in_the_app_lets_a_new_device_read_group_history() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("key_backup_enable", &data).await;
    register_in_window(&app, &server, "alice").await;
    app.click("new-group-button").await;
    app.type_into("group-name", "Garden").await;
    app.type_into("group-members", "bob").await;
    app.click("group-create-submit").await;
    app.find_css("[data-testid='chat-view'][data-conversation-id^='g:']").await;
    send_in_window(&app, "tomatoes are in").await;
    bob.run(&["send", "--group", "Garden", "so are the beans"], "").json();
    app.wait_for_texts("[data-testid='message-body']", "bob's group message", |t| {
        t.iter().any(|b| b == "so are the beans")
    })
    .await;

    app.click("settings-button").await;
    app.wait_for_texts("[data-testid='key-backup-status']", "key backup off", |t| {
        t.iter().any(|s| s.contains("Key backup is off"))
    })
    .await;
    app.click("key-backup-enable").await;
    app.click("key-backup-start").await;
    let recovery_key = app
        .wait_for_texts("[data-testid='recovery-key']", "the recovery key", |t| t.iter().any(|k| k.len() > 40))
        .await
        .concat();
    assert!(recovery_key.len() > 40, "a recovery key: {recovery_key}");
    app.screenshot("recovery-key").await;
    app.click("recovery-key-saved").await;
    app.click("key-backup-done").await;
    app.wait_for_texts("[data-testid='key-backup-status']", "key backup on", |t| {
        t.iter().any(|s| s.contains("Key backup is on"))
    })
    .await;
    app.close().await;

    // A new device: sign in on a fresh install; the group is there but not its past.
    let fresh = AppData::new();
    let app = AppWindow::launch("key_backup_restore", &fresh).await;
    sign_in_in_window(&app, &server, "alice").await;
    app.click("settings-button").await;
    // Click once the section has settled (its status read), as a person would: a click while
    // the dialog still grows can land beside the button, on the backdrop, which closes it.
    app.wait_for_texts("[data-testid='key-backup-status']", "the key backup's status", |t| {
        t.iter().any(|s| s.starts_with("Key backup"))
    })
    .await;
    app.click("key-backup-restore").await;
    app.type_into("key-restore-secret", "SOTTO-not-the-key").await;
    app.click("key-restore-start").await;
    app.find("key-restore-error").await;
    app.type_into("key-restore-secret", &recovery_key).await;
    app.click("key-restore-start").await;
    let done = app.wait_for_texts("[data-testid='key-restore-done']", "the restore's summary", |t| !t.is_empty()).await;
    assert!(done.concat().contains("earlier messages"), "{done:?}");
    app.screenshot("key-restored").await;
    app.click("key-restore-close").await;
    app.click("close-button").await;
    app.find_css("[data-testid='conversation-row'][data-conversation-id^='g:']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "the group's history on the new device", |t| {
        t.iter().any(|b| b == "tomatoes are in") && t.iter().any(|b| b == "so are the beans")
    })
    .await;
    app.screenshot("group-history").await;
    app.close().await;
}

/// "Run a server on this computer": the app starts its own server, a second person joins it
/// from the command line at the address the app shows, and they chat. In Settings the person
/// changes the password and resets this computer's keys: the other side sees the key-change
/// line and the conversation goes on. After a restart the server comes back with the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_this_computer_serves_a_second_person_and_the_account_settings_work() {
    const NEW_PASSWORD: &str = "a new password for alice";
    let dirs = profiles();
    let data = AppData::new();
    let app = AppWindow::launch("local_server", &data).await;
    app.find("welcome").await;
    app.click("local-choice").await;
    let address = app
        .wait_for_texts("[data-testid='local-server-address']", "the local server's address", |t| {
            t.iter().any(|s| s.contains("http://"))
        })
        .await
        .concat();
    // (The text runs on without spaces: the address is an IP and a port.)
    let host: String = address
        .get(address.find("http://").unwrap() + 7..)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    // (The sentence's full stop follows the address.)
    let host = host.trim_end_matches('.').to_owned();
    let url = format!("http://{host}");
    app.screenshot("local-server").await;
    // It listens on loopback only: from this machine's network address, nothing answers.
    let port: u16 = host.rsplit(':').next().unwrap().parse().unwrap();
    assert!(host.starts_with("127.0.0.1:"), "the address shown is {host}");
    let lan = network_address();
    let reached = std::net::TcpStream::connect_timeout(&std::net::SocketAddr::new(lan, port), Duration::from_secs(2));
    assert!(reached.is_err(), "the local server answered on {lan}:{port}");
    app.type_into("user-id", "alice").await;
    app.type_into("password", PASSWORD).await;
    app.type_into("password-confirm", PASSWORD).await;
    app.click("sign-in-submit").await;
    app.find("main").await;

    // bob joins the server at the address shown, and they talk.
    let bob = Cli::at(&url, dirs.path().join("bob")).registered("bob");
    bob.run(&["send", "alice", "hello from the network"], "").json();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "bob's message", |t| {
        t.iter().any(|b| b == "hello from the network")
    })
    .await;
    send_in_window(&app, "welcome to my server").await;
    assert_eq!(cli_texts(&bob, &["alice"]), ["hello from the network", "welcome to my server"]);

    // Settings → Change password: a wrong current password is refused, the right one works.
    app.click("settings-button").await;
    app.click("open-password").await;
    app.type_into("password-current", "not my password").await;
    app.type_into("password-new", NEW_PASSWORD).await;
    app.type_into("password-confirm", NEW_PASSWORD).await;
    app.click("password-save").await;
    app.wait_for_texts("[data-testid='password-error']", "the wrong password", |t| {
        t.iter().any(|s| s.contains("isn't your current password"))
    })
    .await;
    app.type_into("password-current", PASSWORD).await;
    app.click("password-save").await;
    app.find("password-done").await;
    app.screenshot("password-changed").await;
    app.click("password-close").await;
    // Only the new password signs in now.
    let other = Cli::at(&url, dirs.path().join("alice-cli"));
    let refused = other.run(&["login", "alice", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert_eq!(refused.error_code(), "invalid_credentials");
    other.run(&["login", "alice", "--password-stdin"], &format!("{NEW_PASSWORD}\n")).json();

    // Settings → Reset this computer's keys, with the new password.
    app.click("open-reset-keys").await;
    app.type_into("reset-keys-password", NEW_PASSWORD).await;
    app.click("reset-keys-confirm").await;
    app.find("reset-keys-done").await;
    app.screenshot("keys-reset").await;
    app.click("reset-keys-close").await;
    app.click("close-button").await;
    // bob is told, and they keep talking both ways.
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let reasons: Vec<&str> = history.as_array().unwrap().iter().filter_map(|m| m["reason"].as_str()).collect();
    assert!(reasons.contains(&"identity_changed"), "{history}");
    send_in_window(&app, "my keys are new").await;
    assert!(cli_texts(&bob, &["alice"]).ends_with(&["my keys are new".to_owned()]));
    bob.run(&["send", "alice", "noted, and compared"], "").json();
    app.wait_for_texts("[data-testid='message-body']", "bob's reply to the new keys", |t| {
        t.iter().any(|b| b == "noted, and compared")
    })
    .await;
    assert!(app.all("[data-testid='message'][data-kind='undecryptable']").await.is_empty());
    app.close().await;

    // Started again, the app brings its server back at the same address and opens the profile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = AppWindow::launch("local_server_reopened", &data).await;
    app.find("main").await;
    bob.run(&["send", "alice", "still there after a restart?"], "").json();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "a message after the restart", |t| {
        t.iter().any(|b| b == "still there after a restart?") && t.iter().any(|b| b == "my keys are new")
    })
    .await;
    app.screenshot("reopened").await;

    // Settings → let other computers connect: HTTPS on the network address, with the
    // certificate's fingerprint shown to compare.
    app.click("settings-button").await;
    app.click("local-server-network-toggle").await;
    let fingerprint = app
        .wait_for_texts("[data-testid='local-server-fingerprint']", "the certificate's fingerprint", |t| {
            t.iter().any(|s| s.len() == 95)
        })
        .await
        .concat();
    let shown = app.texts("[data-testid='local-server-network']").await.concat();
    app.screenshot("network-access").await;
    let lan = network_address();
    let start = shown.find(&format!("https://{lan}:")).unwrap_or_else(|| panic!("no https address for {lan}: {shown}"));
    let network_url: String = shown[start..].chars().take_while(|c| !c.is_whitespace() && *c != ',').collect();
    // Someone on another computer: first told what to compare, then trusting it.
    let carol = Cli::at(&network_url, dirs.path().join("carol"));
    let refused = carol.run(&["register", "carol", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert_eq!(refused.error_code(), "untrusted_certificate", "{}", refused.stderr);
    assert!(refused.stderr.contains(&fingerprint), "the fingerprint the window shows: {}", refused.stderr);
    let carol = Cli { env: vec![("SOTTO_TRUST_CERTIFICATE".into(), fingerprint.clone())], ..carol };
    carol.run(&["register", "carol", "--password-stdin"], &format!("{PASSWORD}\n")).json();
    carol.run(&["send", "alice", "over the network, encrypted twice"], "").json();
    app.click("close-button").await;
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:carol']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "carol's message over HTTPS", |t| {
        t.iter().any(|b| b == "over the network, encrypted twice")
    })
    .await;
    // Plain HTTP on the network port is not served.
    let network_port: u16 = network_url.rsplit(':').next().unwrap().parse().unwrap();
    let plain = reqwest::get(format!("http://{lan}:{network_port}/healthz")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP answered on the network port");
    // Closed again: nothing answers on the network address.
    app.click("settings-button").await;
    app.click("local-server-network-toggle").await;
    app.wait_for_texts("[data-testid='local-server-address']", "closed to the network", |t| {
        t.iter().any(|s| s.contains("not open to your network"))
    })
    .await;
    let reached =
        std::net::TcpStream::connect_timeout(&std::net::SocketAddr::new(lan, network_port), Duration::from_secs(2));
    assert!(reached.is_err(), "the local server still answered on {lan}:{network_port}");
    app.close().await;
}

/// Without a GPU (CI, virtual machines) the app tells WebKitGTK and GTK so before it starts:
/// no DMA-BUF renderer, no GTK OpenGL, no GPU device to look for. The web process inherits that,
/// and the app's own process then never loads Mesa's software driver (nor its LLVM). With a GPU,
/// or when the person set a variable, it is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_gpu_the_app_starts_without_gpu_probing() {
    let data = AppData::new();
    let app = AppWindow::launch("no_gpu", &data).await;
    app.find("welcome").await;
    let env = app.web_process_environment().expect("the web process and its environment");
    // The app's own rule (`sotto_app::webview::software_rendering`), restated: this crate does
    // not link the app.
    let render_node = std::fs::read_dir("/dev/dri").ok().and_then(|d| {
        let mut nodes: Vec<String> = d
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("renderD"))
            .map(|e| e.path().display().to_string())
            .collect();
        nodes.sort();
        nodes.into_iter().next()
    });
    let software = render_node.is_none()
        || std::env::var_os("LIBGL_ALWAYS_SOFTWARE").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let device = render_node.clone().unwrap_or_else(|| "/dev/null".to_owned());
    let expected =
        [("WEBKIT_DISABLE_DMABUF_RENDERER", "1"), ("GDK_GL", "disable"), ("WEBKIT_WEB_RENDER_DEVICE_FILE", &device)];
    let mut all_ours = true;
    for (name, value) in expected {
        let seen: Vec<&String> = env.iter().filter(|e| e.starts_with(&format!("{name}="))).collect();
        match std::env::var(name) {
            Ok(own) => {
                all_ours = false;
                assert_eq!(seen, [&format!("{name}={own}")], "a value set outside is kept");
            }
            Err(_) if software => assert_eq!(seen, [&format!("{name}={value}")]),
            Err(_) => assert!(seen.is_empty(), "with a GPU {name} is not set: {seen:?}"),
        }
    }
    if software && render_node.is_none() && all_ours {
        let pid = app.app_pid().expect("the app's process");
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("the app's memory map");
        let mesa: Vec<&str> = maps.lines().filter(|l| l.contains("libLLVM") || l.contains("_dri.so")).collect();
        assert!(mesa.is_empty(), "the app's process loaded Mesa's driver: {mesa:?}");
    }
    app.close().await;
}

/// A second device signed in with the password is not confirmed: its banner says why it shows
/// nothing and names the device, and Settings → Devices lists it as not confirmed beside the
/// first. The first device (the engine, holding the identity) starts the emoji comparison, the
/// window opens it by itself with the same seven emoji, and once the person says they match on
/// both, this device is confirmed and the banner goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_waits_to_be_confirmed_and_is_confirmed_by_comparing_emoji() {
    let server = Server::start().await;
    let dirs = profiles();
    let first = register(&server, &dirs.path().join("alice"), "alice").await;
    let data = AppData::new();
    let app = AppWindow::launch("second_device", &data).await;
    sign_in_in_window(&app, &server, "alice").await;

    let banner = app
        .wait_for_texts("[data-testid='unconfirmed-banner']", "the unconfirmed banner", |t| {
            t.iter().any(|s| s.contains("This device is not confirmed yet"))
        })
        .await;
    let device_id = app
        .wait_for_texts("[data-testid='unconfirmed-device-id']", "this device's id", |t| !t.concat().is_empty())
        .await;
    let device_id = sotto_proto::DeviceId::parse(device_id.concat()).unwrap();
    assert!(banner.concat().contains(device_id.as_str()), "{banner:?}");
    app.screenshot("unconfirmed-banner").await;
    app.click("settings-button").await;
    let rows = app
        .wait_for_texts("[data-testid='own-device']", "both devices", |t| {
            t.len() == 2 && t.iter().any(|r| r.contains(first.device_id().as_str()) && r.contains("Confirmed"))
        })
        .await;
    assert!(
        rows.iter()
            .any(|r| r.contains(device_id.as_str()) && r.contains("This device") && r.contains("Not confirmed yet")),
        "{rows:?}"
    );
    app.screenshot("devices").await;
    app.click("close-button").await;

    // From the first device: start, then carry each step over.
    let id = first.start_device_confirmation(&device_id, false).await.unwrap().id;
    let sas = sync_until(&first, &id, |state| match state {
        sotto_core::VerificationState::Compare { sas, .. } => Some(sas.clone()),
        _ => None,
    })
    .await;
    let names: Vec<String> = sas.emoji.iter().map(|e| format!("{}{}", e.symbol, e.name)).collect();
    app.wait_for_texts("[data-testid='comparison-emoji'] li", "the same seven emoji in the window", |t| t == names)
        .await;
    app.screenshot("comparison").await;

    app.click("comparison-match").await;
    first.confirm_verification(&id).await.unwrap();
    // The first device reads the window's answer, confirms it and sends it the identity keys.
    let done = sync_until(&first, &id, |state| {
        matches!(state, sotto_core::VerificationState::Done { .. }).then(|| state.clone())
    })
    .await;
    assert_eq!(done, sotto_core::VerificationState::Done { device_confirmed: true });
    app.wait_for_texts("[data-testid='comparison-done']", "this device confirmed", |t| {
        t.iter().any(|s| s.contains("This device is confirmed"))
    })
    .await;
    app.screenshot("confirmed").await;
    app.click("comparison-close").await;
    assert!(app.texts("[data-testid='unconfirmed-banner']").await.is_empty(), "the banner is gone");
    app.close().await;
}

/// Two people verify each other by comparing emoji: alice in the window asks from bob's details,
/// bob (on the engine) accepts; both see the same seven emoji, both confirm, and the window
/// marks bob verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_verify_each_other_by_comparing_emoji_in_the_window() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    let data = AppData::new();
    let app = AppWindow::launch("contact_emoji", &data).await;
    register_in_window(&app, &server, "alice").await;
    bob.send_text(&UserId::parse("alice").unwrap(), "shall we verify?").await.unwrap();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.click("details-button").await;
    app.click("verify-by-emoji").await;
    app.find("comparison-waiting").await;

    // Bob accepts the request on his device.
    let asked = eventually_async(|| async {
        bob.sync().await.unwrap();
        bob.verification_list().unwrap().into_iter().find(|v| v.state == sotto_core::VerificationState::Requested)
    })
    .await;
    bob.accept_verification(&asked.id).await.unwrap();
    let sas = sync_until(&bob, &asked.id, |state| match state {
        sotto_core::VerificationState::Compare { sas, .. } => Some(sas.clone()),
        _ => None,
    })
    .await;
    let names: Vec<String> = sas.emoji.iter().map(|e| format!("{}{}", e.symbol, e.name)).collect();
    app.wait_for_texts("[data-testid='comparison-emoji'] li", "the same seven emoji in the window", |t| t == names)
        .await;
    app.screenshot("contact-comparison").await;
    app.click("comparison-match").await;
    bob.confirm_verification(&asked.id).await.unwrap();
    sync_until(&bob, &asked.id, |state| matches!(state, sotto_core::VerificationState::Done { .. }).then_some(()))
        .await;
    app.wait_for_texts("[data-testid='comparison-done']", "verified each other", |t| {
        t.iter().any(|s| s.contains("You and bob verified each other"))
    })
    .await;
    app.click("comparison-close").await;
    app.wait_for_texts("[data-testid='verified-mark']", "the verified mark", |t| {
        t.iter().any(|s| s.contains("Verified"))
    })
    .await;
    assert!(bob.is_verified(&UserId::parse("alice").unwrap()).unwrap());
    app.screenshot("contact-verified").await;
    app.close().await;
}

/// Run `check` (async) until it gives a value, for at most about 20 s.
async fn eventually_async<T, F: std::future::Future<Output = Option<T>>>(mut check: impl FnMut() -> F) -> T {
    for _ in 0..100 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out")
}

/// A server with a self-signed certificate (someone's own computer): the window shows its
/// fingerprint and connects only once the person trusts it; when the server later shows another
/// certificate, the window stops, shows both fingerprints, and goes on only when told to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_server_is_trusted_in_the_window_and_a_changed_certificate_is_reviewed() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, fingerprint) = self_signed(certs.path(), "first");
    let mut server = Server::start_tls(&cert, &key).await;
    let dirs = profiles();
    let data = AppData::new();
    let app = AppWindow::launch("self_signed", &data).await;

    app.find("welcome").await;
    app.click("connect-choice").await;
    app.type_into("server-url", server.url()).await;
    app.click("server-continue").await;
    let shown = app
        .wait_for_texts("[data-testid='certificate-fingerprint']", "the certificate's fingerprint", |t| {
            t.iter().any(|s| !s.is_empty())
        })
        .await
        .concat();
    assert_eq!(shown, fingerprint.to_string());
    app.screenshot("certificate-check").await;
    app.click("trust-certificate").await;
    app.click("mode-register").await;
    app.type_into("user-id", "alice").await;
    app.type_into("password", PASSWORD).await;
    app.type_into("password-confirm", PASSWORD).await;
    app.click("sign-in-submit").await;
    app.find("main").await;

    let bob = Cli {
        env: vec![("SOTTO_TRUST_CERTIFICATE".into(), fingerprint.to_string())],
        ..Cli::new(&server, dirs.path().join("bob"))
    }
    .registered("bob");
    bob.run(&["send", "alice", "hello over https"], "").json();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "bob's message", |t| t.iter().any(|b| b == "hello over https"))
        .await;

    // The attacker's test: the address now presents another certificate.
    let (new_cert, new_key, new_fingerprint) = self_signed(certs.path(), "second");
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    server.restart().await;
    app.find("certificate-changed").await;
    app.screenshot("certificate-changed").await;
    // Nothing reaches the window meanwhile: bob (who trusts the new one) writes, it waits.
    bob.run(&["trust-server", &new_fingerprint.to_string()], "");
    bob.run(&["send", "alice", "sent while alice decides"], "").json();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!app.texts("[data-testid='message-body']").await.iter().any(|b| b == "sent while alice decides"));

    app.click("review-certificate").await;
    let presented = app
        .wait_for_texts("[data-testid='certificate-presented']", "the new fingerprint", |t| {
            t.iter().any(|s| !s.is_empty())
        })
        .await
        .concat();
    let trusted = app.texts("[data-testid='certificate-trusted']").await.concat();
    assert_eq!((trusted, presented), (fingerprint.to_string(), new_fingerprint.to_string()));
    app.screenshot("certificate-review").await;
    app.click("trust-new-certificate").await;
    app.wait_for_texts("[data-testid='message-body']", "the message that waited", |t| {
        t.iter().any(|b| b == "sent while alice decides")
    })
    .await;
    send_in_window(&app, "and back over the new certificate").await;
    assert!(cli_texts(&bob, &["alice"]).ends_with(&["and back over the new certificate".to_owned()]));
    app.close().await;
}

/// Whether the checkbox `testid` is checked (once it exists).
async fn is_checked(app: &AppWindow, testid: &str) -> bool {
    app.find(testid).await;
    let value = app
        .client
        .execute(
            "return document.querySelector(`[data-testid='${arguments[0]}']`).checked",
            vec![serde_json::Value::from(testid)],
        )
        .await
        .unwrap();
    value.as_bool().unwrap()
}

/// Wait until the checkbox `testid` is (un)checked.
async fn wait_checked(app: &AppWindow, testid: &str, checked: bool) {
    for _ in 0..150 {
        if is_checked(app, testid).await == checked {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.screenshot("timeout").await;
    panic!("{testid} did not become {}", if checked { "checked" } else { "unchecked" });
}

/// Closing the window the way a window manager does (WM_DELETE_WINDOW) quits while no tray
/// would show Sotto's icon (there would be no way back). With a tray (trayer) it hides the
/// window: the app keeps running and connected (a message that arrives meanwhile shows in the
/// window's title), and a second launch brings the window back with the message there. With the
/// setting off, the same close quits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_window_keeps_sotto_running_until_the_setting_is_off() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let x = sotto_tests::desktop::XDisplay::connect();
    let app = AppWindow::launch("close_without_tray", &data).await;
    register_in_window(&app, &server, "alice").await;
    let pid = app.app_pid().expect("the app's process");
    let window = x.app_window(pid).await;
    x.request_close(window);
    sotto_tests::desktop::wait_exit(pid, Duration::from_secs(30)).await;
    app.close().await;

    let _tray = sotto_tests::desktop::TrayPanel::start().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = AppWindow::launch("close_to_tray", &data).await;
    app.find("main").await;
    let pid = app.app_pid().expect("the app's process");
    let window = x.app_window(pid).await;
    assert!(x.is_viewable(window), "the window is shown at start");

    x.request_close(window);
    x.wait_viewable(window, false).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(sotto_tests::desktop::process_alive(pid), "closing the window ended the app");

    // Still connected: bob's message arrives while the window is hidden (the unread count in
    // the window's title, as the desktop shows it).
    bob.run(&["send", "alice", "still there?"], "").json();
    let title =
        eventually("the unread count in the hidden window's title", || x.title(window).filter(|t| t == "Sotto (1)"))
            .await;
    assert!(!x.is_viewable(window), "the window stayed hidden ({title})");

    // "Open Sotto" in the tray brings the window back; closed again, so does launching Sotto
    // again (the running one's window comes back, with the message).
    let icon = x.tray_icon(pid).await;
    x.choose_in_tray_menu(icon, 0).await;
    x.wait_viewable(window, true).await;
    x.request_close(window);
    x.wait_viewable(window, false).await;
    data.launch_second_instance().await;
    x.wait_viewable(window, true).await;
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob'][data-unread='1']")
        .await
        .click()
        .await
        .unwrap();
    app.wait_for_texts("[data-testid='message-body']", "the message that came while hidden", |t| {
        t.iter().any(|b| b == "still there?")
    })
    .await;
    app.screenshot("back").await;

    // Setting off: the same close quits.
    app.click("settings-button").await;
    assert!(is_checked(&app, "keep-running-toggle").await, "keeping Sotto running is on by default");
    app.click("keep-running-toggle").await;
    wait_checked(&app, "keep-running-toggle", false).await;
    app.click("close-button").await;
    x.request_close(window);
    sotto_tests::desktop::wait_exit(pid, Duration::from_secs(30)).await;
    app.close().await;
}

/// With the window hidden, a message from bob shows a notification on a real notification
/// server (dunst); clicking it (its default action) shows the window with bob's conversation
/// open, not the one that was open before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_a_notification_opens_its_conversation() {
    let dunst = sotto_tests::desktop::Dunst::start().await;
    let _tray = sotto_tests::desktop::TrayPanel::start().await;
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let carol = register_cli(&server, &dirs, "carol");
    let data = AppData::new();
    let app = AppWindow::launch("notification_click", &data).await;
    register_in_window(&app, &server, "alice").await;
    carol.run(&["send", "alice", "hi from carol"], "").json();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:carol']").await.click().await.unwrap();
    app.find_css("[data-testid='chat-view'][data-conversation-id='u:carol']").await;

    let pid = app.app_pid().expect("the app's process");
    let x = sotto_tests::desktop::XDisplay::connect();
    let window = x.app_window(pid).await;
    x.request_close(window);
    x.wait_viewable(window, false).await;
    // Whatever was shown while the window had (or had not) the focus is not this test's.
    dunst.close_all();

    bob.run(&["send", "alice", "ping from bob"], "").json();
    dunst.wait_displayed(1).await;
    dunst.click(0);
    x.wait_viewable(window, true).await;
    app.find_css("[data-testid='chat-view'][data-conversation-id='u:bob']").await;
    app.wait_for_texts("[data-testid='message-body']", "bob's message", |t| t.iter().any(|b| b == "ping from bob"))
        .await;
    app.screenshot("opened-from-notification").await;
    // The app closed the clicked notification (dunst leaves that to the app); it was bob's,
    // with the text (previews are on by default).
    dunst.wait_displayed(0).await;
    let history = dunst.history();
    assert!(history.iter().any(|(summary, body)| summary == "bob" && body == "ping from bob"), "{history:?}");

    // "Quit Sotto" in the tray ends the app through its shutdown.
    let icon = x.tray_icon(pid).await;
    x.choose_in_tray_menu(icon, 1).await;
    sotto_tests::desktop::wait_exit(pid, Duration::from_secs(30)).await;
    assert!(
        app.log().contains("shut down; exiting"),
        "the tray's Quit did not go through the shutdown:\n{}",
        app.log()
    );
    app.close().await;
}

/// Turning "Start Sotto when I log in" on writes the desktop's autostart entry (pointing at the
/// app), the dialog reads the system's state (after a restart, and after the entry is removed
/// by hand), and turning it off removes the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_login_writes_and_removes_the_autostart_entry() {
    let server = Server::start().await;
    let data = AppData::new().with_own_home();
    let entry = data.home().join(".config/autostart/Sotto.desktop");
    let app = AppWindow::launch("start_at_login", &data).await;
    register_in_window(&app, &server, "alice").await;
    app.click("settings-button").await;
    assert!(!is_checked(&app, "start-at-login-toggle").await, "off by default");
    assert!(!entry.exists());
    app.click("start-at-login-toggle").await;
    wait_checked(&app, "start-at-login-toggle", true).await;
    let text = eventually("the autostart entry", || std::fs::read_to_string(&entry).ok()).await;
    let exec = text.lines().find_map(|l| l.strip_prefix("Exec=")).unwrap_or_else(|| panic!("no Exec line:\n{text}"));
    let app_binary = binary("sotto-app").canonicalize().unwrap();
    assert_eq!(Path::new(exec.trim()).canonicalize().unwrap(), app_binary, "{text}");
    app.screenshot("on").await;
    app.close().await;

    // After a restart the dialog shows it on; removed by hand, the dialog shows it off.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = AppWindow::launch("start_at_login_reopened", &data).await;
    app.find("main").await;
    app.click("settings-button").await;
    wait_checked(&app, "start-at-login-toggle", true).await;
    app.click("close-button").await;
    std::fs::remove_file(&entry).unwrap();
    app.click("settings-button").await;
    wait_checked(&app, "start-at-login-toggle", false).await;

    // On again, then off: the entry comes and goes.
    app.click("start-at-login-toggle").await;
    wait_checked(&app, "start-at-login-toggle", true).await;
    eventually("the autostart entry again", || entry.exists().then_some(())).await;
    app.click("start-at-login-toggle").await;
    wait_checked(&app, "start-at-login-toggle", false).await;
    eventually("the autostart entry removed", || (!entry.exists()).then_some(())).await;
    app.close().await;
}

/// Quit from the window: Ctrl+Q on the page, and Settings → "Quit Sotto", each end the app
/// through its shutdown (the engine and the local server stop), and the profile opens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_q_and_the_quit_button_end_sotto_through_its_shutdown() {
    let server = Server::start().await;
    let data = AppData::new();
    let app = AppWindow::launch("quit", &data).await;
    register_in_window(&app, &server, "alice").await;
    let pid = app.app_pid().expect("the app's process");
    let ctrl_q = format!("{}q{}", char::from(Key::Control), char::from(Key::Null));
    // The app may be gone before WebDriver answers: the answer is not the test, the exit is.
    let _ = app.find_css("body").await.send_keys(&ctrl_q).await;
    sotto_tests::desktop::wait_exit(pid, Duration::from_secs(30)).await;
    assert!(app.log().contains("shut down; exiting"), "Ctrl+Q did not go through the shutdown:\n{}", app.log());
    app.close().await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = AppWindow::launch("quit_reopened", &data).await;
    app.find("main").await;
    app.wait_for_texts("[data-testid='own-user']", "the reopened profile", |t| t.iter().any(|s| s.contains("alice")))
        .await;
    let pid = app.app_pid().expect("the app's process");
    // Settings → Quit Sotto, as a person does, again if a click went astray: while the dialog
    // still grows in, a click aimed at the button can land on the backdrop, which closes the
    // dialog instead (seen on a loaded CI machine). WebDriver's answers are not the test (the
    // exit may cut them); the process ending is.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sotto_tests::desktop::process_alive(pid) {
        if std::time::Instant::now() >= deadline {
            app.screenshot("quit-did-not-end").await;
            panic!("Settings → Quit Sotto did not end the app in 30 s:\n{}", app.log());
        }
        let panel = app.client.find_all(fantoccini::Locator::Css("[data-testid='settings-panel']")).await;
        if panel.is_ok_and(|p| p.is_empty())
            && let Ok(button) = app.client.find(fantoccini::Locator::Css("[data-testid='settings-button']")).await
        {
            let _ = button.click().await;
        }
        // Scrolled into view (the button is at the bottom of a tall dialog; WebKitWebDriver
        // refuses an element outside the view), once the dialog has settled.
        tokio::time::sleep(Duration::from_millis(400)).await;
        if let Ok(quit) = app.client.find(fantoccini::Locator::Css("[data-testid='quit']")).await {
            let _ = app
                .client
                .execute("arguments[0].scrollIntoView({block: 'center'})", vec![serde_json::to_value(&quit).unwrap()])
                .await;
            let _ = quit.click().await;
        }
        for _ in 0..30 {
            if !sotto_tests::desktop::process_alive(pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(app.log().contains("shut down; exiting"), "Quit did not go through the shutdown:\n{}", app.log());
    app.close().await;
}

/// A tiny HTTPS server for the update test: answers `GET <path>` with what `files` holds for
/// it at that moment (the test changes it between checks), 404 otherwise. One request per
/// connection (`Connection: close`).
async fn serve_files(
    acceptor: tokio_rustls::TlsAcceptor,
    files: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
) -> u16 {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            // (A failed accept, a connection reset before it was taken say, ends only that one.)
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let (acceptor, files) = (acceptor.clone(), files.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let mut stream = tokio::io::BufReader::new(tls);
                let mut request_line = String::new();
                if stream.read_line(&mut request_line).await.is_err() {
                    return;
                }
                // The headers, up to the empty line.
                loop {
                    let mut line = String::new();
                    match stream.read_line(&mut line).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/");
                let body = files.lock().unwrap().get(path).cloned();
                let (status, body) = match body {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", Vec::new()),
                };
                let head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let stream = stream.get_mut();
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

/// Updates through the real tauri-plugin-updater, from a manifest served over HTTPS (a test
/// authority in `SSL_CERT_FILE`), signed with a release key made here (given to this debug build
/// as `SOTTO_UPDATE_PUBKEY`). A tampered package, and a genuinely signed package announced as
/// another version, are refused with nothing installed; the genuine one is installed (into
/// `SOTTO_UPDATE_TARGET`, standing in for the installed AppImage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_install_only_packages_signed_for_the_version_announced() {
    use base64::Engine as _;
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let work = tempfile::tempdir().unwrap();

    // The release key, and packages signed with it (an AppImage is an ELF file).
    let key = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let pubkey = b64(key.pk.to_box().unwrap().to_string());
    let sign = |bytes: &[u8], version: &str| {
        let trusted = format!("timestamp:1700000000\tfile:Sotto.AppImage\tversion:{version}");
        let signature =
            minisign::sign(Some(&key.pk), &key.sk, std::io::Cursor::new(bytes), Some(&trusted), None).unwrap();
        b64(signature.into_string())
    };
    // (The updater takes a package for an AppImage from its ELF header: 4 magic bytes, and more
    // than 52 bytes in all.)
    let appimage = |text: &str| [b"\x7fELF".as_slice(), format!(" {text:<60}").as_bytes()].concat();
    let package = appimage("Sotto 9.9.9, the genuine one");
    let old_package = appimage("Sotto 0.0.1, genuine but old");

    // HTTPS with a certificate from a test authority the app's process trusts.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    std::fs::write(work.path().join("ca.pem"), ca.pem()).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
            )
            .unwrap();
    let files = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let port = serve_files(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)), files.clone()).await;
    let base = format!("https://localhost:{port}");
    let publish = |version: &str, served: &[u8], signature: String| {
        let manifest = serde_json::json!({
            "version": version,
            "notes": "Faster and calmer.",
            "pub_date": "2026-12-01T00:00:00Z",
            "platforms": { "linux-x86_64": { "url": format!("{base}/Sotto.AppImage"), "signature": signature } },
        });
        let mut files = files.lock().unwrap();
        files.insert("/latest.json".to_owned(), serde_json::to_vec(&manifest).unwrap());
        files.insert("/Sotto.AppImage".to_owned(), served.to_vec());
    };

    // What an update replaces (the installed AppImage, for this debug build).
    let installed = work.path().join("Sotto.AppImage");
    std::fs::write(&installed, b"\x7fELF Sotto 0.1.0, installed").unwrap();
    let data = AppData::new()
        .with_env("SOTTO_UPDATE_ENDPOINT", format!("{base}/latest.json"))
        .with_env("SOTTO_UPDATE_PUBKEY", pubkey)
        .with_env("SOTTO_UPDATE_TARGET", installed.clone())
        .with_env("SSL_CERT_FILE", work.path().join("ca.pem"));
    let app = AppWindow::launch("updates", &data).await;
    app.find("welcome").await;
    // Settings needs an account: one on a server on this computer is the quickest.
    app.click("local-choice").await;
    app.type_into("user-id", "alice").await;
    app.type_into("password", PASSWORD).await;
    app.type_into("password-confirm", PASSWORD).await;
    app.click("sign-in-submit").await;
    app.find("main").await;

    let try_update = |expect_installed: bool| {
        let app = &app;
        async move {
            app.click("settings-button").await;
            app.click("check-for-update").await;
            // (An error note instead fails at once, saying what it was.)
            app.wait_for_texts(
                "[data-testid='update-status'], [data-testid='update-error']",
                "the update found",
                |t| {
                    let error = t.get(1).filter(|s| !s.is_empty());
                    assert!(error.is_none(), "the check for updates failed: {t:?}");
                    t.iter().any(|s| s.contains("Sotto 9.9.9 is available"))
                },
            )
            .await;
            app.click("install-update").await;
            let outcome = if expect_installed { "update-installed" } else { "update-error" };
            let text = app.find(outcome).await.text().await.unwrap();
            app.click("close-button").await;
            text
        }
    };

    // 1. The package was altered after it was signed.
    let mut tampered = package.clone();
    tampered.extend_from_slice(b" and something else");
    publish("9.9.9", &tampered, sign(&package, "9.9.9"));
    let refused = try_update(false).await;
    assert!(refused.contains("isn't signed with Sotto's release key"), "{refused}");
    assert_eq!(std::fs::read(&installed).unwrap(), b"\x7fELF Sotto 0.1.0, installed");

    // 2. A genuine, older package announced as 9.9.9 (its signature says 0.0.1).
    publish("9.9.9", &old_package, sign(&old_package, "0.0.1"));
    let refused = try_update(false).await;
    assert!(refused.contains("isn't signed with Sotto's release key"), "{refused}");
    assert_eq!(std::fs::read(&installed).unwrap(), b"\x7fELF Sotto 0.1.0, installed");

    // 3. The genuine package: installed.
    publish("9.9.9", &package, sign(&package, "9.9.9"));
    let done = try_update(true).await;
    assert!(done.contains("Restart Sotto"), "{done}");
    assert_eq!(std::fs::read(&installed).unwrap(), package);
    app.close().await;
}

/// The natural width of a loaded `<img>` matching `selector`, once there is one (about 30 s).
async fn loaded_image_width(app: &AppWindow, selector: &str) -> u32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(width) = app.loaded_image_width(selector).await {
            return width;
        }
        if std::time::Instant::now() > deadline {
            app.screenshot("timeout").await;
            panic!("no loaded picture at {selector}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Pictures both ways: alice picks one with the attach button in the system's file chooser,
/// captions it in the preview sheet and sends it; bob (CLI) gets exactly its bytes. She pastes
/// another from the clipboard; bob gets its pixels, and no plaintext copy is left. She drops a
/// file from another app (XDND) on the window; bob gets it. bob sends a picture back; the window shows it inline (its thumbnail loaded) and at full size in the viewer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_go_out_by_chooser_paste_and_drop_and_pictures_show_inline() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("files", &data).await;
    register_in_window(&app, &server, "alice").await;
    bob.run(&["send", "alice", "send me a picture of the garden"], "").json();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "bob's message", |t| {
        t.iter().any(|b| b == "send me a picture of the garden")
    })
    .await;

    let work = tempfile::tempdir().unwrap();
    let garden = work.path().join("garden.png");
    image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x / 3 % 256) as u8, 160, (y / 2 % 256) as u8]))
        .save(&garden)
        .unwrap();
    let original = std::fs::read(&garden).unwrap();

    // The attach button opens the system's file chooser; the picked picture waits in the sheet.
    app.click("composer-attach").await;
    NativeDialog::wait("Choose a file to send").await.open(&garden).await;
    app.find("attachment-sheet").await;
    loaded_image_width(&app, "[data-testid='attach-picture']").await;
    app.type_into("attach-caption", "our garden").await;
    app.screenshot("attach-sheet").await;
    app.click("attach-send").await;
    let sent = "[data-testid='message'][data-outgoing='true'][data-kind='file'][data-status='sent']";
    app.find_css(sent).await;
    loaded_image_width(&app, &format!("{sent} [data-testid='image-thumbnail']")).await;

    // bob gets the very bytes, with the name and the caption.
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let got = history.as_array().unwrap().iter().find(|m| m["kind"] == "file").expect("bob has the picture").clone();
    assert_eq!(got["body"], "our garden");
    assert_eq!(got["file"]["name"], "garden.png");
    assert_eq!(got["file"]["image"]["width"], 640);
    let dest = work.path().join("bob-got.png");
    bob.run(&["download", got["message_id"].as_str().unwrap(), "--to", dest.to_str().unwrap()], "").json();
    assert_eq!(std::fs::read(&dest).unwrap(), original, "the bytes bob saved are the bytes alice picked");

    // A picture copied in another app and pasted into the composer: it has no file, so it is
    // sent from a private temporary copy, gone once the engine holds its own encrypted one.
    let copied = work.path().join("copied.png");
    image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([200, (x % 256) as u8, (y % 256) as u8]))
        .save(&copied)
        .unwrap();
    let clipboard = desktop::CopiedImage::png(&copied).await;
    app.find("composer").await.click().await.unwrap();
    clipboard.paste_into(&desktop::XDisplay::connect(), app.app_pid().unwrap()).await;
    app.find("attachment-sheet").await;
    assert_eq!(loaded_image_width(&app, "[data-testid='attach-picture']").await, 300);
    app.screenshot("pasted-sheet").await;
    app.click("attach-send").await;
    app.wait_for_texts(sent, "the pasted picture, sent", |t| t.len() == 2).await;
    drop(clipboard);
    let outgoing = data.path().join("cache").join("im.sotto.app").join("outgoing");
    let left: Vec<_> =
        std::fs::read_dir(&outgoing).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "no plaintext copy of the pasted picture is left: {left:?}");
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let pasted = history
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"]["name"].as_str().is_some_and(|n| n.starts_with("Pasted image ") && n.ends_with(".png")))
        .expect("bob has the pasted picture")
        .clone();
    let dest = work.path().join("bob-pasted.png");
    bob.run(&["download", pasted["message_id"].as_str().unwrap(), "--to", dest.to_str().unwrap()], "").json();
    // The clipboard may carry the picture re-encoded: the same pixels, not necessarily the same bytes.
    let (want, got) = (image::open(&copied).unwrap().to_rgb8(), image::open(&dest).unwrap().to_rgb8());
    assert_eq!((got.width(), got.height()), (300, 200));
    assert!(want == got, "bob's picture has the pasted picture's pixels");

    // A file dragged from another app and dropped on the window: the same sheet, then bob has it.
    let notes = work.path().join("notes.txt");
    std::fs::write(&notes, "minutes of the garden meeting\n".repeat(100)).unwrap();
    let window = desktop::XDisplay::connect().app_window(app.app_pid().unwrap()).await;
    desktop::drop_files(window, &[notes.as_path()]).await;
    app.find("attachment-sheet").await;
    app.wait_for_texts("[data-testid='attach-item']", "the dropped file", |t| {
        t.iter().any(|s| s.contains("notes.txt"))
    })
    .await;
    app.screenshot("dropped-sheet").await;
    app.click("attach-send").await;
    app.wait_for_texts(sent, "the dropped file, sent", |t| t.len() == 3).await;
    app.wait_for_texts("[data-testid='file-name']", "the dropped file's card", |t| t.iter().any(|s| s == "notes.txt"))
        .await;
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let dropped = history
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"]["name"] == "notes.txt")
        .expect("bob has the dropped file")
        .clone();
    let dest = work.path().join("bob-notes.txt");
    bob.run(&["download", dropped["message_id"].as_str().unwrap(), "--to", dest.to_str().unwrap()], "").json();
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&notes).unwrap());

    // bob answers with a picture: shown inline, its thumbnail loaded, in the picture's shape.
    let pond = work.path().join("pond.png");
    image::RgbImage::from_fn(800, 400, |x, y| image::Rgb([20, (x % 200) as u8 + 40, (y % 256) as u8]))
        .save(&pond)
        .unwrap();
    bob.run(&["send", "alice", "--file", pond.to_str().unwrap(), "--caption", "and our pond"], "").json();
    let theirs = "[data-testid='message'][data-outgoing='false'][data-kind='file']";
    app.find_css(theirs).await;
    assert!(loaded_image_width(&app, &format!("{theirs} [data-testid='image-thumbnail']")).await > 0);
    let frame = app.find_css(&format!("{theirs} [data-testid='image-attachment']")).await;
    let style = frame.attr("style").await.unwrap().unwrap_or_default();
    assert!(style.contains("width: 320px") && style.contains("height: 160px"), "2:1, capped at 320 px: {style}");
    app.wait_for_texts("[data-testid='message-body']", "bob's caption", |t| t.iter().any(|b| b == "and our pond"))
        .await;
    app.screenshot("pictures-inline").await;

    // A click opens it at full size.
    frame.click().await.unwrap();
    app.find("image-viewer").await;
    assert_eq!(loaded_image_width(&app, "[data-testid='viewer-image']").await, 800);
    // Past the dialog's short opening motion.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.screenshot("viewer").await;
    app.close().await;
}

/// bob's copy of his conversation with alice once `check` holds for it: he syncs until then
/// (about 30 s), since the window sends what alice does from its outbox in the background.
async fn bob_sees(bob: &Cli, what: &str, check: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        bob.run(&["sync"], "").json();
        let history = bob.run(&["history", "alice"], "").json().as_array().unwrap().clone();
        if check(&history) {
            return history;
        }
        assert!(std::time::Instant::now() < deadline, "bob never saw {what}; his history: {history:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The message `message_id` in a CLI history.
fn by_id<'a>(history: &'a [serde_json::Value], message_id: &str) -> Option<&'a serde_json::Value> {
    history.iter().find(|m| m["message_id"] == message_id)
}

/// alice in the window, bob on the command line. alice answers bob's message from its action bar
/// (bob's copy quotes it), reacts to it and takes the reaction back, sees bob's reaction and edit
/// arrive (her reply's quote follows the edit), edits her reply with Up in the empty composer (bob
/// sees the new text, marked edited) and deletes it for everyone (bob keeps a tombstone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reactions_edits_and_deletions_go_both_ways_in_the_window() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("message_actions", &data).await;
    register_in_window(&app, &server, "alice").await;

    let question = bob.run(&["send", "alice", "lunch at noon?"], "").json();
    let question_id = question["message_id"].as_str().unwrap().to_owned();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    // The list's own rows (not the first view drawn over it while it settles, which takes no clicks).
    let theirs = ".message-list__scroller [data-testid='message'][data-outgoing='false'][data-kind='text']";
    let mine = ".message-list__scroller [data-testid='message'][data-outgoing='true'][data-kind='text']";
    app.wait_for_texts(&format!("{theirs} [data-testid='message-body']"), "bob's question", |t| {
        t == ["lunch at noon?"]
    })
    .await;
    app.wait_for_texts(".message-list__first", "the list settled", <[String]>::is_empty).await;

    // Reply: over bob's message, its bar; the composer quotes it; the reply shows the quote.
    app.click_css(&format!("{theirs} [data-testid='message-body']")).await;
    app.click_css(&format!("{theirs} [data-testid='action-reply']")).await;
    app.wait_for_texts("[data-testid='reply-bar']", "the reply bar", |t| {
        t.iter().any(|s| s.contains("Replying to bob") && s.contains("lunch at noon?"))
    })
    .await;
    app.screenshot("replying").await;
    send_in_window(&app, "noon works").await;
    app.wait_for_texts(&format!("{mine}[data-status='sent'] [data-testid='quote']"), "the reply's quote", |t| {
        t.iter().any(|s| s.contains("lunch at noon?"))
    })
    .await;
    assert!(app.all("[data-testid='reply-bar']").await.is_empty(), "the reply bar went with the reply");
    let history = bob_sees(&bob, "alice's reply", |h| h.iter().any(|m| m["body"] == "noon works")).await;
    let reply = history.iter().find(|m| m["body"] == "noon works").unwrap();
    assert_eq!(reply["reply_to"]["message_id"], question_id.as_str(), "bob's copy answers his question");
    let reply_id = reply["message_id"].as_str().unwrap().to_owned();

    // React from the quick row; bob sees it; a click on the chip takes it back.
    app.click_css(&format!("{theirs} [data-testid='message-body']")).await;
    app.click_css(&format!("{theirs} [data-testid='action-react']")).await;
    app.find("reaction-picker").await;
    app.screenshot("reaction-picker").await;
    app.click_css("[data-testid='quick-reaction'][data-emoji='👍']").await;
    let chip = format!("{theirs} [data-testid='reaction-chip'][data-emoji='👍'][data-mine='true']");
    app.find_css(&chip).await;
    bob_sees(&bob, "alice's 👍", |h| {
        by_id(h, &question_id)
            .is_some_and(|m| m["reactions"] == serde_json::json!([{ "emoji": "👍", "users": ["alice"] }]))
    })
    .await;
    app.click_css(&chip).await;
    app.wait_for_texts(&format!("{theirs} [data-testid='reaction-chip']"), "the 👍 taken back", |t| t.is_empty()).await;
    bob_sees(&bob, "alice's 👍 taken back", |h| {
        by_id(h, &question_id).is_some_and(|m| m["reactions"] == serde_json::json!([]))
    })
    .await;

    // bob reacts and changes his question: both arrive live, and alice's quote follows the edit.
    bob.run(&["react", &question_id, "🎉"], "").json();
    app.find_css(&format!("{theirs} [data-testid='reaction-chip'][data-emoji='🎉'][data-mine='false']")).await;
    bob.run(&["edit", &question_id, "lunch at one?"], "").json();
    app.wait_for_texts(&format!("{theirs} [data-testid='message-body']"), "bob's edit", |t| t == ["lunch at one?"])
        .await;
    app.find_css(&format!("{theirs} [data-testid='edited-marker']")).await;
    app.wait_for_texts(&format!("{mine} [data-testid='quote']"), "the quote after bob's edit", |t| {
        t.iter().any(|s| s.contains("lunch at one?"))
    })
    .await;
    app.screenshot("their-edit-and-reaction").await;

    // Up in the empty composer edits alice's reply; Enter saves; bob gets the new text.
    app.find("composer").await.click().await.unwrap();
    app.find("composer").await.send_keys(&char::from(Key::Up).to_string()).await.unwrap();
    app.find("edit-bar").await;
    let editing = app.find("composer").await.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(editing, "noon works", "the composer holds the text being edited");
    app.replace_text("composer", "one works too").await;
    app.screenshot("editing").await;
    app.find("composer").await.send_keys(&char::from(Key::Enter).to_string()).await.unwrap();
    app.wait_for_texts(&format!("{mine} [data-testid='message-body']"), "the edited reply", |t| t == ["one works too"])
        .await;
    app.find_css(&format!("{mine} [data-testid='edited-marker']")).await;
    assert!(app.all("[data-testid='edit-bar']").await.is_empty(), "the edit bar went with the edit");
    bob_sees(&bob, "alice's edit", |h| {
        by_id(h, &reply_id).is_some_and(|m| m["body"] == "one works too" && m["edited"] == true)
    })
    .await;

    // Delete for everyone, confirmed in the dialog: a tombstone here and at bob's.
    app.click_css(&format!("{mine} [data-testid='message-body']")).await;
    app.click_css(&format!("{mine} [data-testid='action-more']")).await;
    app.click("menu-delete").await;
    app.find("delete-dialog").await;
    // Past the dialog's short opening motion.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.screenshot("delete-dialog").await;
    app.click("confirm-button").await;
    app.find_css(&format!("{mine}[data-deleted='true']")).await;
    app.wait_for_texts(&format!("{mine} [data-testid='message-body']"), "the tombstone", |t| {
        t == ["This message was deleted"]
    })
    .await;
    bob_sees(&bob, "alice's reply deleted", |h| {
        by_id(h, &reply_id).is_some_and(|m| m["deleted"] == true && m["body"] == "")
    })
    .await;
    app.screenshot("deleted").await;
    app.close().await;
}

/// How far alice's message `body` got, as its bubble shows it (`data-delivery` of its icon).
async fn delivery_of(app: &AppWindow, body: &str) -> Option<String> {
    let value = app
        .client
        .execute(
            "const row = Array.from(document.querySelectorAll(
                 \".message-list__scroller [data-testid='message'][data-outgoing='true']\"))
               .find(m => m.querySelector(\"[data-testid='message-body']\")?.textContent.trim() === arguments[0]);
             return row?.querySelector(\"[data-testid='delivery']\")?.dataset.delivery ?? null",
            vec![serde_json::Value::from(body)],
        )
        .await
        .unwrap();
    value.as_str().map(str::to_owned)
}

/// Wait until alice's message `body` shows `state` (about 30 s).
async fn wait_delivery(app: &AppWindow, body: &str, state: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = delivery_of(app, body).await;
        if now.as_deref() == Some(state) {
            return;
        }
        if std::time::Instant::now() > deadline {
            app.screenshot("timeout").await;
            panic!("{body:?} never showed {state}; it shows {now:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// alice in the window, bob on the command line. alice's message shows one tick once the server
/// has it, two once bob's device got it (his `sync`), two filled once he read it (`read`). With
/// read receipts turned off in Settings → Privacy, nobody's reads show: the message bob read
/// falls back to delivered, and bob reading her next one leaves it at delivered (his message sent
/// after it has arrived, so his receipt has too) — until she
/// turns them on again, which shows both read (the receipt came; it was only not shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_and_read_receipts_show_in_the_window_and_follow_the_privacy_setting() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("receipts", &data).await;
    register_in_window(&app, &server, "alice").await;

    bob.run(&["send", "alice", "are you coming tonight?"], "").json();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts(".message-list__first", "the list settled", <[String]>::is_empty).await;

    send_in_window(&app, "yes, at eight").await;
    wait_delivery(&app, "yes, at eight", "sent").await;
    bob_sees(&bob, "alice's message", |h| h.iter().any(|m| m["body"] == "yes, at eight")).await;
    wait_delivery(&app, "yes, at eight", "delivered").await;
    app.screenshot("delivered").await;
    bob.run(&["read", "alice"], "").json();
    wait_delivery(&app, "yes, at eight", "read").await;
    let mine = ".message-list__scroller [data-testid='message'][data-outgoing='true']";
    let labels = app
        .client
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0] + \" [data-testid='delivery'] svg\"))
               .map(s => s.getAttribute('aria-label'))",
            vec![serde_json::Value::from(mine)],
        )
        .await
        .unwrap();
    assert_eq!(labels, serde_json::json!(["Read"]), "the icon is named for screen readers");
    app.screenshot("read").await;

    // Info in its menu says so too.
    app.click_css(&format!("{mine} [data-testid='message-body']")).await;
    app.click_css(&format!("{mine} [data-testid='action-more']")).await;
    app.click("menu-info").await;
    app.wait_for_texts("[data-testid='details-state']", "the message's details", |t| t == ["Read by bob"]).await;
    app.screenshot("details").await;
    // Focus went into it; Escape closes it.
    app.client.active_element().await.unwrap().send_keys(&char::from(Key::Escape).to_string()).await.unwrap();
    app.wait_for_texts("[data-testid='message-details']", "the details closed", <[String]>::is_empty).await;

    // Read receipts off: bob's read of the first no longer shows.
    app.click("settings-button").await;
    // On by default (the switch is drawn unchecked and disabled until the setting is read).
    wait_checked(&app, "read-receipts-toggle", true).await;
    app.click("read-receipts-toggle").await;
    wait_checked(&app, "read-receipts-toggle", false).await;
    app.screenshot("privacy-off").await;
    app.click("close-button").await;
    wait_delivery(&app, "yes, at eight", "delivered").await;

    send_in_window(&app, "bringing dessert").await;
    bob_sees(&bob, "alice's second message", |h| h.iter().any(|m| m["body"] == "bringing dessert")).await;
    wait_delivery(&app, "bringing dessert", "delivered").await;
    bob.run(&["read", "alice"], "").json();
    // `read` sent bob's receipt before it returned, and his next message went after it: once that
    // message is here, so is the receipt — and it must not show.
    bob.run(&["send", "alice", "yum"], "").json();
    app.wait_for_texts(".message-list__scroller [data-testid='message-body']", "bob's message after reading", |t| {
        t.iter().any(|b| b == "yum")
    })
    .await;
    assert_eq!(delivery_of(&app, "bringing dessert").await.as_deref(), Some("delivered"));
    assert_eq!(delivery_of(&app, "yes, at eight").await.as_deref(), Some("delivered"));
    app.screenshot("read-hidden").await;

    // On again: both show read, so bob's receipt did arrive.
    app.click("settings-button").await;
    wait_checked(&app, "read-receipts-toggle", false).await;
    app.click("read-receipts-toggle").await;
    wait_checked(&app, "read-receipts-toggle", true).await;
    app.click("close-button").await;
    wait_delivery(&app, "bringing dessert", "read").await;
    wait_delivery(&app, "yes, at eight", "read").await;
    app.close().await;
}

/// A conversation's controls in the window: pin and mute for good from its "…" menu, the
/// disappearing-messages timer from the header (bob gets the line), a draft kept across a
/// restart, then archive and delete another conversation from the archived list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_controls_pin_mute_timer_draft_archive_and_delete() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let carol = register_cli(&server, &dirs, "carol");
    let data = AppData::new();
    let app = AppWindow::launch("conversation_controls", &data).await;
    register_in_window(&app, &server, "alice").await;
    bob.run(&["send", "alice", "hello from bob"], "").json();
    let bob_row = "[data-testid='conversation-row'][data-conversation-id='u:bob']";
    let carol_row = "[data-testid='conversation-row'][data-conversation-id='u:carol']";
    app.find_css(bob_row).await;
    carol.run(&["send", "alice", "hello from carol"], "").json();
    app.find_css(carol_row).await;
    let titles = ".conversation-list [data-testid='conversation-row'] .conversation-row__title";
    app.wait_for_texts(titles, "carol's newer conversation first", |t| t == ["carol", "bob"]).await;

    // Pinned, bob goes first; muted for good (the engine's i64::MAX), the row says so.
    app.click_css(bob_row).await;
    app.find_css("[data-testid='chat-view'][data-conversation-id='u:bob']").await;
    let bob_more = format!("{bob_row} ~ [data-testid='conversation-more']");
    app.click_css(&bob_more).await;
    app.find("conversation-menu").await;
    app.screenshot("menu").await;
    app.click("menu-pin").await;
    app.find_css(&format!("{bob_row}[data-pinned='true']")).await;
    app.wait_for_texts(titles, "pinned bob first", |t| t == ["bob", "carol"]).await;
    app.click_css(&bob_more).await;
    app.click("menu-mute").await;
    app.click("menu-mute-always").await;
    app.find_css(&format!("{bob_row}[data-muted='true']")).await;

    // Disappearing messages after 1 hour, for bob too.
    app.click("timer-button").await;
    app.click("menu-timer-1h").await;
    app.wait_for_texts("[data-testid='timer-badge']", "the timer badge", |t| t.iter().any(|s| s.contains("1 hour")))
        .await;
    let mut bob_got_it = false;
    for _ in 0..50 {
        bob.run(&["sync"], "").json();
        let history = bob.run(&["history", "alice"], "").json();
        if history.as_array().unwrap().iter().any(|m| m["body"].as_str().is_some_and(|b| b.contains("1 hour"))) {
            bob_got_it = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(bob_got_it, "bob's side has the timer's line");

    // A draft, saved half a second after typing stops, shows in the list and outlives a restart.
    app.find("composer").await.send_keys("half a thought").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.click_css(carol_row).await;
    app.wait_for_texts(&format!("{bob_row} [data-testid='draft-preview']"), "bob's draft in the list", |t| {
        t == ["Draft: half a thought"]
    })
    .await;
    app.screenshot("controls").await;
    app.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = AppWindow::launch("conversation_controls_reopened", &data).await;
    app.find("main").await;
    app.find_css(&format!("{bob_row}[data-pinned='true'][data-muted='true']")).await;
    app.click_css(bob_row).await;
    app.find_css("[data-testid='chat-view'][data-conversation-id='u:bob']").await;
    let composer = app.find("composer").await;
    assert_eq!(composer.prop("value").await.unwrap().as_deref(), Some("half a thought"));
    app.wait_for_texts("[data-testid='timer-badge']", "the timer after a restart", |t| {
        t.iter().any(|s| s.contains("1 hour"))
    })
    .await;

    // carol's conversation archived, then deleted from the archived list after the question.
    let carol_more = format!("{carol_row} ~ [data-testid='conversation-more']");
    app.click_css(carol_row).await;
    app.click_css(&carol_more).await;
    app.click("menu-archive").await;
    app.wait_for_texts("[data-testid='archived-open']", "the archived row", |t| t == ["Archived (1)"]).await;
    app.wait_for_texts(titles, "carol out of the main list", |t| t == ["bob"]).await;
    app.click("archived-open").await;
    app.wait_for_texts(titles, "carol in the archived list", |t| t == ["carol"]).await;
    app.click_css(carol_row).await;
    app.click_css(&carol_more).await;
    app.click("menu-delete").await;
    app.find("delete-conversation-dialog").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.screenshot("delete-dialog").await;
    app.click("confirm-button").await;
    app.wait_for_texts(titles, "back to the main list without carol", |t| t == ["bob"]).await;
    assert!(app.all("[data-testid='archived-open']").await.is_empty(), "nothing archived any more");
    app.close().await;
}

/// The group as `cli` knows it after reading its changes (`group list`), or None once it is not
/// among the groups they are in.
fn cli_group(cli: &Cli, group_id: &str) -> Option<serde_json::Value> {
    cli.run(&["sync"], "").json();
    let groups = cli.run(&["group", "list"], "").json();
    groups.as_array().unwrap().iter().find(|g| g["group_id"] == group_id).cloned()
}

/// Sync `cli` until `check` holds for their view of the group (None: not in it); panics after
/// about 20 s with what they saw last.
async fn cli_group_until(
    cli: &Cli,
    group_id: &str,
    what: &str,
    check: impl Fn(Option<&serde_json::Value>) -> bool,
) -> Option<serde_json::Value> {
    let mut last = None;
    for _ in 0..100 {
        last = cli_group(cli, group_id);
        if check(last.as_ref()) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} never showed on the command line; the group is {last:?}")
}

fn role_of(group: Option<&serde_json::Value>, user: &str) -> Option<String> {
    group?["members"].as_array()?.iter().find(|m| m["user_id"] == user).map(|m| m["role"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_details_rename_roles_hand_over_and_dismiss() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let carol = register_cli(&server, &dirs, "carol");
    let data = AppData::new();
    let app = AppWindow::launch("group_management", &data).await;
    register_in_window(&app, &server, "alice").await;

    app.click("new-group-button").await;
    app.type_into("group-name", "Book club").await;
    app.type_into("group-members", "bob, carol").await;
    app.click("group-create-submit").await;
    let chat = app.find_css("[data-testid='chat-view'][data-conversation-id^='g:']").await;
    let conversation_id = chat.attr("data-conversation-id").await.unwrap().unwrap();
    let group_id = conversation_id.strip_prefix("g:").unwrap().to_owned();
    send_in_window(&app, "welcome, both").await;
    app.click("details-button").await;
    app.wait_for_texts("[data-testid='member-row']", "three members", |t| t.len() == 3).await;

    // Rename in place: Escape leaves the name (and the panel) as they were, Enter saves.
    app.click("group-rename").await;
    app.replace_text("group-name-input", "Not this").await;
    app.find("group-name-input").await.send_keys(&char::from(Key::Escape).to_string()).await.unwrap();
    app.wait_for_texts("[data-testid='group-name']", "the name kept", |t| t == ["Book club"]).await;
    app.find("details-panel").await;
    app.click("group-rename").await;
    app.replace_text("group-name-input", "Readers").await;
    app.screenshot("renaming").await;
    app.find("group-name-input").await.send_keys(&char::from(Key::Enter).to_string()).await.unwrap();
    app.wait_for_texts("[data-testid='group-name']", "the new name in the details", |t| t == ["Readers"]).await;
    app.wait_for_texts("[data-testid='chat-title']", "the new name in the header", |t| {
        t.iter().any(|s| s.contains("Readers"))
    })
    .await;
    let row =
        format!("[data-testid='conversation-row'][data-conversation-id='{conversation_id}'] .conversation-row__title");
    app.wait_for_texts(&row, "the new name in the list", |t| t.len() == 1 && t[0].starts_with("Readers")).await;
    cli_group_until(&bob, &group_id, "the new name", |g| g.is_some_and(|g| g["name"] == "Readers")).await;

    // The owner makes carol an admin from her row's menu; bob is offered the same.
    let carol_row = "[data-testid='member-row'][data-user-id='carol']";
    app.click_css(&format!("{carol_row} [data-testid='member-more']")).await;
    let items =
        app.wait_for_texts("[data-testid='member-menu'] [role='menuitem']", "carol's menu", |t| t.len() == 3).await;
    assert_eq!(items, ["Make admin", "Make owner…", "Remove from group…"]);
    app.screenshot("member-menu").await;
    app.click("menu-make-admin").await;
    app.find_css(&format!("{carol_row}[data-role='admin']")).await;
    cli_group_until(&carol, &group_id, "carol an admin", |g| role_of(g, "carol").as_deref() == Some("admin")).await;

    // Handing ownership to bob asks first, then alice is an admin and has no owner's controls.
    app.click_css("[data-testid='member-row'][data-user-id='bob'] [data-testid='member-more']").await;
    app.click("menu-make-owner").await;
    // (Read once it shows: while the dialog fades in, WebDriver gives its text as empty.)
    let words = app
        .wait_for_texts("[data-testid='transfer-dialog']", "the hand-over dialog's words", |t| {
            t.first().is_some_and(|w| w.contains("becomes the group's owner"))
        })
        .await
        .remove(0);
    assert!(words.contains("bob becomes the group's owner") && words.contains("You stay an admin"), "{words}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.screenshot("transfer-dialog").await;
    app.click("confirm-button").await;
    app.find_css("[data-testid='member-row'][data-user-id='bob'][data-role='owner']").await;
    app.find_css("[data-testid='member-row'][data-user-id='alice'][data-role='admin']").await;
    assert!(app.all("[data-testid='dismiss-group']").await.is_empty(), "only the owner dismisses");
    assert!(app.all("[data-testid='member-more']").await.is_empty(), "an admin can't touch admins or the owner");
    let seen =
        cli_group_until(&bob, &group_id, "bob the owner", |g| role_of(g, "bob").as_deref() == Some("owner")).await;
    assert_eq!(role_of(seen.as_ref(), "alice").as_deref(), Some("admin"));

    // bob hands it back on the command line: the panel follows the engine's event.
    bob.run(&["group", "transfer", &group_id, "alice"], "").json();
    app.find_css("[data-testid='member-row'][data-user-id='alice'][data-role='owner']").await;

    // The owner dismisses the group after the question; it ends for bob too.
    app.click("dismiss-group").await;
    app.wait_for_texts("[data-testid='dismiss-dialog']", "the dismiss dialog's words", |t| {
        t.first().is_some_and(|w| w.contains("The group ends for everyone"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.screenshot("dismiss-dialog").await;
    app.click("confirm-button").await;
    app.wait_for_texts(".details .notice", "the group ended", |t| {
        t.iter().any(|s| s.contains("not a member of this group any more"))
    })
    .await;
    assert!(app.all("[data-testid='leave-group']").await.is_empty());
    app.screenshot("dismissed").await;
    cli_group_until(&bob, &group_id, "the group gone", |g| g.is_none()).await;
    app.close().await;
}

/// Where the "New messages" line is in the open conversation's list: the text of the message it
/// stands above, whether it is on screen, and whether the newest message is (null: no line).
async fn unread_line(app: &AppWindow) -> serde_json::Value {
    app.client
        .execute(
            "const lines = document.querySelectorAll(\".message-list__scroller [data-testid='unread-line']\"); \
             if (lines.length === 0) return null; \
             const list = document.querySelector('.message-list__scroller').getBoundingClientRect(); \
             const shown = (e) => { const r = e.getBoundingClientRect(); \
               return r.height > 0 && r.top >= list.top - 1 && r.bottom <= list.bottom + 1; }; \
             const line = lines[0]; \
             const below = line.parentElement.querySelector(\"[data-testid='message'] [data-testid='message-body']\"); \
             const bodies = Array.from(document.querySelectorAll(\".message-list__scroller [data-testid='message']\")); \
             const newest = bodies[bodies.length - 1]; \
             return { count: lines.length, below: below ? below.textContent : null, shown: shown(line), \
                      newest: newest ? newest.querySelector(\"[data-testid='message-body']\").textContent : null, \
                      newest_shown: newest ? shown(newest) : false };",
            vec![],
        )
        .await
        .unwrap()
}

/// Open a conversation by its row and wait until its list has settled (the first view gone).
async fn open_settled(app: &AppWindow, conversation_id: &str) {
    app.click_css(&format!("[data-testid='conversation-row'][data-conversation-id='{conversation_id}']")).await;
    app.find_css(&format!("[data-testid='chat-view'][data-conversation-id='{conversation_id}']")).await;
    app.find_css(".message-list__scroller").await;
    // Asked in the page: the first view can go between finding it and reading it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let settled = "return document.querySelector('.message-list__first') === null";
    while app.client.execute(settled, vec![]).await.unwrap() != serde_json::Value::Bool(true) {
        assert!(std::time::Instant::now() < deadline, "the list never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_divider_marks_the_first_new_message_and_stays_put() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let carol = register_cli(&server, &dirs, "carol");
    let data = AppData::new();
    let app = AppWindow::launch("unread_divider", &data).await;
    register_in_window(&app, &server, "alice").await;
    let bob_row = "[data-testid='conversation-row'][data-conversation-id='u:bob']";

    // A conversation read up to here: bob's hello and alice's answer.
    bob.run(&["send", "alice", "hello"], "").json();
    app.find_css(bob_row).await;
    open_settled(&app, "u:bob").await;
    send_in_window(&app, "hi bob").await;
    carol.run(&["send", "alice", "hey from carol"], "").json();
    open_settled(&app, "u:carol").await;

    // Three from bob while his conversation is closed: the line goes above the first of them.
    for text in ["one", "two", "three"] {
        bob.run(&["send", "alice", text], "").json();
    }
    app.find_css(&format!("{bob_row}[data-unread='3']")).await;
    open_settled(&app, "u:bob").await;
    app.wait_for_texts("[data-testid='message-body']", "bob's three", |t| t.iter().any(|b| b == "three")).await;
    let line = unread_line(&app).await;
    app.screenshot("divider").await;
    assert_eq!(line["count"], 1, "{line}");
    assert_eq!(line["below"], "one", "{line}");
    assert_eq!(line["shown"], true, "{line}");
    assert_eq!(line["newest_shown"], true, "three short messages fit: the view is at the bottom; {line}");
    assert_eq!(
        app.texts(".message-list__scroller [data-testid='unread-line']").await,
        ["New messages"],
        "the line's words"
    );

    // Read meanwhile, and another arrives: the line stays where it was.
    app.find_css(&format!("{bob_row}[data-unread='0']")).await;
    bob.run(&["send", "alice", "four"], "").json();
    app.wait_for_texts("[data-testid='message-body']", "bob's fourth", |t| t.iter().any(|b| b == "four")).await;
    let line = unread_line(&app).await;
    assert_eq!(line["count"], 1, "{line}");
    assert_eq!(line["below"], "one", "the line stayed above the first new message: {line}");

    // Away and back with nothing unread: no line.
    open_settled(&app, "u:carol").await;
    open_settled(&app, "u:bob").await;
    app.wait_for_texts("[data-testid='message-body']", "bob's messages", |t| t.iter().any(|b| b == "four")).await;
    assert_eq!(unread_line(&app).await, serde_json::Value::Null);

    // More than a screenful while away: the conversation opens at the line, not at the bottom.
    open_settled(&app, "u:carol").await;
    let long = |i: usize| format!("long {i}: {}", "a line of words that wraps in the bubble ".repeat(8));
    for i in 1..=12 {
        bob.run(&["send", "alice", &long(i)], "").json();
    }
    app.find_css(&format!("{bob_row}[data-unread='12']")).await;
    open_settled(&app, "u:bob").await;
    // Virtuoso draws the rows it scrolled to a moment after it shows the list.
    let mut line = serde_json::Value::Null;
    for _ in 0..50 {
        line = unread_line(&app).await;
        if line["shown"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.screenshot("divider-scrolled").await;
    assert_eq!(line["below"], long(1), "{line}");
    assert_eq!(line["shown"], true, "the line is in view: {line}");
    assert_eq!(line["newest_shown"], false, "the view is at the line, not the bottom: {line}");
    app.close().await;
}

/// Profiles end to end: alice (the window) sets her name and picture in Settings; bob (CLI) gets
/// them with her first message (the name, and a 256×256 JPEG made from her picture). bob names
/// himself and writes: the window's list row and chat header show his name. A note to self sent
/// from the window shows in its own conversation, sent, titled Note to self.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_pictures_travel_both_ways_and_a_note_to_self_is_kept() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("profiles", &data).await;
    register_in_window(&app, &server, "alice").await;

    // Settings → Profile: a name (saved on Enter) and a picture from the file chooser, previewed
    // before it is used.
    let work = tempfile::tempdir().unwrap();
    let portrait = work.path().join("portrait.png");
    image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x / 3 % 256) as u8, 90, (y / 2 % 256) as u8]))
        .save(&portrait)
        .unwrap();
    app.click("settings-button").await;
    app.find("profile-section").await;
    app.type_into("profile-name", &format!("Alice A.{}", char::from(Key::Enter))).await;
    app.wait_for_texts("[data-testid='profile-saved']", "the saved name", |t| {
        t.iter().any(|s| s == "Your name is saved.")
    })
    .await;
    app.click("profile-picture-choose").await;
    NativeDialog::wait("Choose a profile picture").await.open(&portrait).await;
    loaded_image_width(&app, "[data-testid='profile-picture'][data-chosen='true'] img").await;
    app.screenshot("picture-preview").await;
    app.click("profile-picture-use").await;
    app.wait_for_texts("[data-testid='profile-saved']", "the saved picture", |t| {
        t.iter().any(|s| s == "Your picture is saved.")
    })
    .await;
    // The picture as the engine keeps it (256×256) shows as the signed-in account's, with the name.
    assert_eq!(loaded_image_width(&app, ".sidebar__header [data-testid='avatar-picture'] img").await, 256);
    app.wait_for_texts("[data-testid='own-name']", "the own name", |t| t == ["Alice A."]).await;
    app.screenshot("profile-set").await;
    app.click("close-button").await;

    // alice writes to bob; her profile key goes before the message, and bob reads her profile.
    app.click("new-chat-button").await;
    app.type_into("new-chat-user", "bob").await;
    app.click("new-chat-submit").await;
    app.find_css("[data-testid='chat-view'][data-conversation-id='u:bob']").await;
    send_in_window(&app, "hello bob, see my new picture").await;
    bob_sees(&bob, "alice's message", |h| h.iter().any(|m| m["body"] == "hello bob, see my new picture")).await;
    let saved = work.path().join("alice-avatar.jpg");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let out = bob.run(&["profile", "show", "alice", "--save-avatar", saved.to_str().unwrap()], "");
        if out.ok {
            let shown = out.json();
            if shown["name"] == "Alice A." && shown["avatar"] == true {
                break shown;
            }
        }
        assert!(std::time::Instant::now() < deadline, "bob never read alice's profile: {}{}", out.stdout, out.stderr);
        bob.run(&["sync"], "").json();
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(shown["user_id"], "alice");
    let jpeg = std::fs::read(&saved).unwrap();
    assert_eq!(image::guess_format(&jpeg).unwrap(), image::ImageFormat::Jpeg);
    let picture = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((picture.width(), picture.height()), (256, 256));

    // bob names himself and answers: the window names him so in the list and the header.
    let mine = bob.run(&["profile", "set", "--name", "Bob B."], "").json();
    assert_eq!(mine["name"], "Bob B.");
    bob.run(&["send", "alice", "nice picture!"], "").json();
    app.wait_for_texts("[data-testid='message-body']", "bob's answer", |t| t.iter().any(|b| b == "nice picture!"))
        .await;
    let title = "[data-testid='conversation-row'][data-conversation-id='u:bob'] [data-testid='conversation-title']";
    app.wait_for_texts(title, "bob's name in the list", |t| t == ["Bob B."]).await;
    app.wait_for_texts("[data-testid='chat-title']", "bob's name in the header", |t| t == ["Bob B."]).await;
    app.screenshot("bob-named").await;

    // Note to self, from New chat: the message is kept as sent, in the conversation with alice's
    // own user id, titled Note to self.
    app.click("new-chat-button").await;
    app.click("note-to-self").await;
    app.find_css("[data-testid='chat-view'][data-conversation-id='u:alice']").await;
    app.wait_for_texts("[data-testid='chat-title']", "the note's title", |t| t == ["Note to self"]).await;
    send_in_window(&app, "remember the milk").await;
    let own_row = "[data-testid='conversation-row'][data-conversation-id='u:alice'] [data-testid='conversation-title']";
    app.wait_for_texts(own_row, "the note's row", |t| t == ["Note to self"]).await;
    app.screenshot("note-to-self").await;
    // Not sent to bob.
    let history = bob_sees(&bob, "his conversation with alice", |_| true).await;
    assert!(!history.iter().any(|m| m["body"] == "remember the milk"), "{history:#?}");
    app.close().await;
}

/// The server moved to a new address: Settings → "Server moved…" takes the profile there once
/// the address proves to be the same server (it knows this device), and refuses another server
/// in words. Messages keep flowing at the new address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_follows_the_server_to_its_new_address_and_refuses_another() {
    let server = Server::start().await;
    let another = Server::start().await;
    let dirs = profiles();
    let bob = register_cli(&server, &dirs, "bob");
    let data = AppData::new();
    let app = AppWindow::launch("move_server", &data).await;
    register_in_window(&app, &server, "alice").await;
    app.click("settings-button").await;
    app.click("open-move-server").await;
    // Another installation: refused, nothing changed.
    app.type_into("move-server-url", another.url()).await;
    app.click("move-server-submit").await;
    let refused = app.wait_for_texts("[data-testid='move-server-error']", "the refusal", |t| !t.is_empty()).await;
    assert!(refused.concat().contains("different Sotto server"), "{refused:?}");
    // The same server at its new name.
    let new_address = server.url().replace("127.0.0.1", "localhost");
    app.replace_text("move-server-url", &new_address).await;
    app.click("move-server-submit").await;
    // The profile opens again at the new address (the window starts over on it).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let shown = loop {
        assert!(std::time::Instant::now() < deadline, "Settings never showed the new address");
        if app.all("[data-testid='account-server']").await.is_empty() {
            app.click("settings-button").await;
        }
        let shown = app.texts("[data-testid='account-server']").await;
        if shown.contains(&new_address) {
            break shown;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(shown, std::slice::from_ref(&new_address));
    app.screenshot("moved").await;
    app.click("close-button").await;
    bob.run(&["send", "alice", "still reaching you"], "").json();
    app.find_css("[data-testid='conversation-row'][data-conversation-id='u:bob']").await.click().await.unwrap();
    app.wait_for_texts("[data-testid='message-body']", "bob's message at the new address", |t| {
        t.iter().any(|b| b == "still reaching you")
    })
    .await;
    app.close().await;
}
