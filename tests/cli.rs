//! Two people chatting through the `sotto` CLI: 1:1 and in a group, with JSON output, `listen`
//! printing events as JSON lines, search, safety numbers, device lists, readable exports, and backups.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::BufRead as _;
use std::process::Stdio;
use std::time::Duration;

use sotto_tests::*;

#[tokio::test]
async fn two_people_chat_one_to_one_and_in_a_group() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = Cli::new(&server, dirs.path().join("alice"));
    let bob = Cli::new(&server, dirs.path().join("bob"));
    let carol = Cli::new(&server, dirs.path().join("carol"));
    for (cli, name) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        let out = cli.run(&["register", name, "--password-stdin", "--device-name", "cli"], &format!("{PASSWORD}\n"));
        let v = out.json();
        assert_eq!(v["user_id"], name);
        assert!(v["device_id"].as_str().is_some_and(|d| !d.is_empty()));
    }

    let sent = alice.run(&["send", "bob", "hello from the shell"], "").json();
    assert_eq!(sent["status"], "sent");
    assert_eq!(bob.run(&["sync"], "").json()["messages"], 1);
    let history = bob.run(&["history", "alice"], "").json();
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["body"], "hello from the shell");
    assert_eq!(history[0]["sender_user"], "alice");
    bob.run(&["send", "alice", "hi back"], "").json();
    alice.run(&["sync"], "").json();
    let history = alice.run(&["history", "bob"], "").json();
    let texts: Vec<&str> = history.as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello from the shell", "hi back"]);

    // Safety numbers match on both sides; device lists show the keys.
    let a = alice.run(&["safety-number", "bob"], "").json();
    let b = bob.run(&["safety-number", "alice"], "").json();
    assert_eq!(a["safety_number"], b["safety_number"]);
    assert_eq!(a["verified"], false);
    // They match: alice marks bob verified; a wrong number is refused; --clear removes the mark.
    assert_eq!(alice.run(&["verify", "number", "bob", "12345"], "").error_code(), "safety_number_changed");
    let number = a["safety_number"].as_str().unwrap();
    assert_eq!(alice.run(&["verify", "number", "bob", number], "").json()["verified"], true);
    assert_eq!(alice.run(&["safety-number", "bob"], "").json()["verified"], true);
    assert_eq!(bob.run(&["safety-number", "alice"], "").json()["verified"], false, "only alice marked it");
    assert_eq!(alice.run(&["verify", "clear", "bob"], "").json()["verified"], false);
    alice.run(&["verify", "number", "bob", number], "").json();
    let devices = alice.run(&["devices", "bob"], "").json();
    assert_eq!(devices.as_array().unwrap().len(), 1);
    assert!(devices[0]["ed25519"].as_str().is_some());

    // A group by name.
    let group = alice.run(&["group", "create", "book club", "bob", "carol"], "").json();
    assert_eq!(group["members"].as_array().unwrap().len(), 3);
    alice.run(&["send", "--group", "book club", "chapter one tonight"], "").json();
    bob.run(&["sync"], "").json();
    carol.run(&["sync"], "").json();
    let history = carol.run(&["history", "--group", "book club"], "").json();
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["chapter one tonight"]);

    // Carol leaves; bob's next message reaches alice only.
    let group_id = group["group_id"].as_str().unwrap();
    let out = carol.run(&["group", "leave", group_id], "");
    assert!(out.ok, "{}", out.stderr);
    bob.run(&["sync"], "").json();
    bob.run(&["send", "--group", group_id, "carol has gone"], "").json();
    alice.run(&["sync"], "").json();
    carol.run(&["sync"], "").json();
    let alice_texts = alice.run(&["history", "--group", group_id], "").json();
    assert!(alice_texts.as_array().unwrap().iter().any(|m| m["body"] == "carol has gone"));
    let carol_texts = carol.run(&["history", "--group", group_id], "").json();
    assert!(!carol_texts.as_array().unwrap().iter().any(|m| m["body"] == "carol has gone"));
    let out = carol.run(&["send", "--group", group_id, "let me back"], "");
    assert_eq!(out.error_code(), "not_member");

    // Roles: only the owner gives them; handing ownership over leaves alice an admin, and the
    // new owner dismisses the group for everyone.
    let out = bob.run(&["group", "role", group_id, "bob", "admin"], "");
    assert_eq!(out.error_code(), "not_admin", "{}", out.stderr);
    assert!(out.stderr.contains("Only the owner"), "{}", out.stderr);
    let roles = alice.run(&["group", "role", group_id, "bob", "owner"], "").json();
    let role_of =
        |who: &str| roles["members"].as_array().unwrap().iter().find(|m| m["user_id"] == who).unwrap()["role"].clone();
    assert_eq!((role_of("alice"), role_of("bob")), ("admin".into(), "owner".into()));
    assert_eq!(alice.run(&["group", "dismiss", group_id], "").error_code(), "not_admin");
    let out = bob.run(&["group", "dismiss", group_id], "");
    assert!(out.ok, "{}", out.stderr);
    alice.run(&["sync"], "").json();
    assert_eq!(alice.run(&["send", "--group", group_id, "anyone?"], "").error_code(), "not_member");
    let lines = alice.run(&["history", "--group", group_id], "").json();
    assert!(lines.as_array().unwrap().iter().any(|m| m["body"] == "bob dismissed the group."), "{lines}");

    // Search finds both conversations' words.
    let hits = alice.run(&["search", "chapter"], "").json();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    assert_eq!(hits[0]["conversation_title"], "book club");
    let conversations = alice.run(&["conversations"], "").json();
    assert_eq!(conversations.as_array().unwrap().len(), 2);

    // Bad input gets clear errors.
    assert_eq!(alice.run(&["send", "nobody-here", "hi"], "").error_code(), "unknown_user");
    assert_eq!(alice.run(&["send", "bob", "   "], "").error_code(), "invalid_input");
    let out = Cli::new(&server, dirs.path().join("nobody")).run(&["sync"], "");
    assert_eq!(out.error_code(), "no_profile");
    let out = Cli::new(&server, dirs.path().join("x")).run(&["login", "alice", "--password-stdin"], "wrong password\n");
    assert_eq!(out.error_code(), "invalid_credentials");
    assert!(!dirs.path().join("x").join("profile.json").exists());
    // `--server` is checked as the app's sign-in form checks it; a server typed without its
    // trailing slash or with one is the same server.
    let out = Cli::at("ftp://example.org", dirs.path().join("y")).run(&["login", "alice", "--password-stdin"], "pw\n");
    assert_eq!(out.error_code(), "invalid_url");
    assert!(!dirs.path().join("y").join("profile.json").exists());
    let slash = Cli::at(&format!("{}/", server.url()), dirs.path().join("z"));
    assert!(slash.run(&["login", "bob", "--password-stdin"], &format!("{PASSWORD}\n")).ok);
}

#[tokio::test]
async fn listen_prints_messages_as_json_lines() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = Cli::new(&server, dirs.path().join("alice"));
    let bob = Cli::new(&server, dirs.path().join("bob"));
    alice.run(&["register", "alice", "--password-stdin"], &format!("{PASSWORD}\n")).json();
    bob.run(&["register", "bob", "--password-stdin"], &format!("{PASSWORD}\n")).json();

    let mut listener =
        bob.command(&["listen"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = listener.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = lines_rx.recv_timeout(left).expect("listen printed nothing in time");
            let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
            if pred(&event) {
                return event;
            }
        }
    };
    wait_for(&|e| e["type"] == "connection_changed" && e["state"] == "online");
    alice.run(&["send", "bob", "are you listening?"], "").json();
    let event = wait_for(&|e| e["type"] == "message_received");
    assert_eq!(event["message"]["body"], "are you listening?");
    assert_eq!(event["message"]["sender_user"], "alice");

    // SIGTERM stops it cleanly.
    let status = std::process::Command::new("kill").arg("-TERM").arg(listener.id().to_string()).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = listener.try_wait().unwrap() {
            assert!(status.success(), "listen exited with {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "listen did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What listen stored is in the history.
    let history = bob.run(&["history", "alice"], "").json();
    assert_eq!(history[0]["body"], "are you listening?");
}

#[tokio::test]
async fn export_writes_what_was_exchanged_as_html_and_json() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = Cli::new(&server, dirs.path().join("alice")).registered("alice");
    let bob = Cli::new(&server, dirs.path().join("bob")).registered("bob");
    let _carol = Cli::new(&server, dirs.path().join("carol")).registered("carol");
    let tricky = "<script>alert('hi')</script> & \"friends\"\nsecond line 👋";
    alice.run(&["send", "bob", tricky], "").json();
    bob.run(&["sync"], "").json();
    bob.run(&["send", "alice", "got it"], "").json();
    alice.run(&["sync"], "").json();
    alice.run(&["group", "create", "book club", "bob", "carol"], "").json();
    alice.run(&["send", "--group", "book club", "chapter one tonight"], "").json();
    alice.run(&["sync"], "").json();

    let out = tempfile::tempdir().unwrap();
    let html = out.path().join("html");
    let run = alice.run(&["export", "--format", "html", html.to_str().unwrap()], "");
    let summary = run.json();
    assert_eq!(summary["conversations"], 2);
    assert_eq!(summary["path"], html.to_str().unwrap());
    assert!(run.stderr.contains("Exporting: 100%"), "{}", run.stderr);
    let index = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(index.contains("book club") && index.contains("with bob"), "{index}");
    let mut pages: Vec<_> = std::fs::read_dir(&html)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "index.html")
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(pages[0].starts_with("bob-") && pages[1].starts_with("book-club-"), "{pages:?}");
    for page in &pages {
        assert!(index.contains(&format!("href=\"{page}\"")), "index links {page}");
    }
    let direct = std::fs::read_to_string(html.join(&pages[0])).unwrap();
    assert!(direct.contains("&lt;script&gt;alert(&#x27;hi&#x27;)&lt;&#x2F;script&gt; &amp; &quot;friends&quot;"));
    assert!(!direct.contains("<script"));
    assert!(direct.contains("<span class=\"sender\">You</span>") && direct.contains("got it"));
    let group = std::fs::read_to_string(html.join(&pages[1])).unwrap();
    assert!(group.contains("chapter one tonight") && group.contains("class=\"system\""));

    // One conversation as JSON: the bodies exactly as sent.
    let json = out.path().join("json");
    let summary =
        alice.run(&["export", "--format", "json", "--conversation", "bob", json.to_str().unwrap()], "").json();
    assert_eq!((summary["conversations"].as_u64(), summary["messages"].as_u64()), (Some(1), Some(2)));
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["user_id"], "alice");
    let file = index["conversations"][0]["file"].as_str().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json.join(file)).unwrap()).unwrap();
    let bodies: Vec<&str> = doc["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, [tricky, "got it"]);
    assert_eq!(doc["messages"][1]["sender"], "bob");

    // A group by name; an existing folder with files is refused and kept.
    let summary = alice
        .run(&["export", "--format", "json", "--group", "book club", out.path().join("g").to_str().unwrap()], "")
        .json();
    assert_eq!(summary["conversations"], 1);
    let out_err = alice.run(&["export", "--format", "html", json.to_str().unwrap()], "");
    assert_eq!(out_err.error_code(), "target_exists");
    assert!(json.join("index.json").exists());
    let missing = alice
        .run(&["export", "--format", "html", "--conversation", "nobody", out.path().join("x").to_str().unwrap()], "");
    assert_eq!(missing.error_code(), "unknown_conversation");
    assert!(!out.path().join("x").exists());
}

#[tokio::test]
async fn a_backup_exported_and_imported_through_the_cli() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = Cli::new(&server, dirs.path().join("alice")).registered("alice");
    let bob = Cli::new(&server, dirs.path().join("bob")).registered("bob");
    alice.run(&["send", "bob", "remember this"], "").json();
    let file = dirs.path().join("alice.sotto");
    let file_arg = file.to_str().unwrap();
    // Without the flag, the passphrase is not read and nothing is written.
    let out = alice.run(&["backup", "export", file_arg], "backup words\n");
    assert!(!out.ok && out.stderr.contains("--backup-passphrase-stdin"), "{}", out.stderr);
    assert!(!file.exists());
    let out = alice.run(&["backup", "export", file_arg, "--backup-passphrase-stdin"], "backup words\n");
    let summary = out.json();
    assert!(summary["messages"].as_u64().unwrap() >= 1);
    assert!(out.stderr.contains("Backing up: 100%"), "progress on stderr: {}", out.stderr);
    // Never overwrites.
    let again = alice.run(&["backup", "export", file_arg, "--backup-passphrase-stdin"], "backup words\n");
    assert_eq!(again.error_code(), "file_exists");

    let restored = Cli::new(&server, dirs.path().join("alice-restored"));
    let wrong = restored.run(
        &["backup", "import", file_arg, "alice", "--password-stdin", "--backup-passphrase-stdin"],
        &format!("{PASSWORD}\nwrong words\n"),
    );
    assert_eq!(wrong.error_code(), "backup_passphrase");
    assert!(!restored.profile.exists());
    let out = restored.run(
        &["backup", "import", file_arg, "alice", "--password-stdin", "--backup-passphrase-stdin"],
        &format!("{PASSWORD}\nbackup words\n"),
    );
    assert_eq!(out.json()["user_id"], "alice");
    let history = restored.run(&["history", "bob"], "").json();
    assert_eq!(history[0]["body"], "remember this");
    bob.run(&["send", "alice", "still there?"], "").json();
    restored.run(&["sync"], "").json();
    let history = restored.run(&["history", "bob"], "").json();
    let texts: Vec<&str> = history.as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(texts, ["remember this", "still there?"]);
}

#[tokio::test]
async fn key_backup_from_the_shell_lets_a_new_device_read_group_history() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = Cli::new(&server, dirs.path().join("alice")).registered("alice");
    let bob = Cli::new(&server, dirs.path().join("bob")).registered("bob");
    alice.run(&["group", "create", "crew", "bob"], "").json();
    alice.run(&["send", "--group", "crew", "said before the new laptop"], "").json();
    bob.run(&["sync"], "").json();
    bob.run(&["send", "--group", "crew", "bob answered"], "").json();
    alice.run(&["sync"], "").json();

    let status = alice.run(&["keys", "backup", "status"], "").json();
    assert_eq!(status["enabled"], false);
    let enabled = alice.run(&["keys", "backup", "enable"], "").json();
    let recovery_key = enabled["recovery_key"].as_str().unwrap().to_owned();
    assert_eq!(enabled["status"]["enabled"], true);
    assert_eq!(enabled["status"]["kind"], "recovery_key");
    assert_eq!(enabled["status"]["backed_up"], enabled["status"]["sessions"]);
    assert_eq!(alice.run(&["keys", "backup", "enable"], "").error_code(), "key_backup_exists");

    let laptop = Cli::new(&server, dirs.path().join("alice-laptop"));
    laptop.run(&["login", "alice", "--password-stdin"], &format!("{PASSWORD}\n")).json();
    let wrong = laptop.run(&["keys", "backup", "restore", "--recovery-key-stdin"], "not a key\n");
    assert_eq!(wrong.error_code(), "recovery_key_invalid");
    assert!(wrong.stderr.contains("hint:"), "{}", wrong.stderr);
    let restored =
        laptop.run(&["keys", "backup", "restore", "--recovery-key-stdin"], &format!("{recovery_key}\n")).json();
    assert_eq!(restored["groups"], 1);
    assert_eq!(restored["undecryptable"], 0);
    let history = laptop.run(&["history", "--group", "crew"], "").json();
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["said before the new laptop", "bob answered"]);
    assert_eq!(laptop.run(&["keys", "backup", "status"], "").json()["enabled"], true);
}

/// A new device signed in from the shell is confirmed from the first one by comparing emoji in
/// the terminal (`sotto device confirm` there, `sotto device link` here): until then it reads
/// nothing, afterwards everything sent to the account. Answering "n" on either side confirms
/// nothing.
#[tokio::test]
async fn a_new_device_is_confirmed_in_the_terminal_by_comparing_emoji() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = Cli::new(&server, dirs.path().join("alice")).registered("alice");
    let bob = Cli::new(&server, dirs.path().join("bob")).registered("bob");
    let login = |name: &str| {
        let cli = Cli::new(&server, dirs.path().join(name));
        let out = cli.run(&["login", "alice", "--password-stdin", "--device-name", name], &format!("{PASSWORD}\n"));
        let id = out.json()["device_id"].as_str().unwrap().to_owned();
        (cli, id)
    };
    let (laptop, laptop_id) = login("laptop");
    let own = laptop.run(&["devices"], "").json();
    let this = own.as_array().unwrap().iter().find(|d| d["this_device"] == true).unwrap();
    assert_eq!(this["confirmed"], false);

    bob.run(&["send", "alice", "before the laptop was confirmed"], "").json();
    laptop.run(&["sync"], "").json();
    let history = laptop.run(&["history", "bob"], "").json();
    assert_eq!(history[0]["kind"], "undecryptable");
    assert_eq!(history[0]["reason"], "withheld");

    // Both sides at once, as two people at two keyboards would.
    let run_both = |new: &Cli, new_answer: &str, old_answer: &str, device: &str| {
        std::thread::scope(|scope| {
            let linking = scope.spawn(|| new.run(&["device", "link", "--timeout", "60"], &format!("{new_answer}\n")));
            let confirming = alice.run(&["device", "confirm", device, "--timeout", "60"], &format!("{old_answer}\n"));
            (linking.join().unwrap(), confirming)
        })
    };
    let (linked, confirmed) = run_both(&laptop, "y", "y", &laptop_id);
    let (linked, confirmed) = (linked.json(), confirmed.json());
    assert_eq!(linked["confirmed"], true);
    assert_eq!(confirmed["device_id"], laptop_id.as_str());
    assert_eq!(linked["emoji"], confirmed["emoji"], "both showed the same emoji");
    assert_eq!(linked["emoji"].as_array().unwrap().len(), 7);

    bob.run(&["send", "alice", "after"], "").json();
    laptop.run(&["sync"], "").json();
    let history = laptop.run(&["history", "bob"], "").json();
    assert_eq!(history.as_array().unwrap().last().unwrap()["body"], "after");
    let listed = bob.run(&["devices", "alice"], "").json();
    assert!(listed.as_array().unwrap().iter().all(|d| d["confirmed"] == true), "{listed}");

    // Someone says they differ: nothing is confirmed, on either side.
    let (phone, phone_id) = login("phone");
    let (linked, confirmed) = run_both(&phone, "n", "y", &phone_id);
    assert!(!linked.ok && !confirmed.ok);
    assert!(confirmed.stderr.contains("differ"), "{}", confirmed.stderr);
    let listed = bob.run(&["devices", "alice"], "").json();
    let phone_listed = listed.as_array().unwrap().iter().find(|d| d["device_id"] == phone_id.as_str()).unwrap();
    assert_eq!(phone_listed["confirmed"], false);
}

/// Two people verify each other from the shell by comparing emoji: `sotto verify start bob` on
/// alice's side, `sotto verify accept` on bob's; both end up marked verified.
#[tokio::test]
async fn contacts_verify_each_other_in_the_terminal() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = Cli::new(&server, dirs.path().join("alice")).registered("alice");
    let bob = Cli::new(&server, dirs.path().join("bob")).registered("bob");
    alice.run(&["send", "bob", "hello"], "").json();
    let (accepted, started) = std::thread::scope(|scope| {
        let accepting = scope.spawn(|| bob.run(&["verify", "accept", "--timeout", "60"], "y\n"));
        let started = alice.run(&["verify", "start", "bob", "--timeout", "60"], "y\n");
        (accepting.join().unwrap(), started)
    });
    let (accepted, started) = (accepted.json(), started.json());
    assert_eq!((accepted["verified"].as_bool(), started["verified"].as_bool()), (Some(true), Some(true)));
    assert_eq!(accepted["emoji"], started["emoji"]);
    assert_eq!(alice.run(&["safety-number", "bob"], "").json()["verified"], true);
    assert_eq!(bob.run(&["safety-number", "alice"], "").json()["verified"], true);
}

/// On a server as shipped, `group create` adds those who wrote to the creator and invites the
/// others; the invited list, accept and decline from the shell.
#[tokio::test]
async fn group_invitations_from_the_shell() {
    let server = Server::start_as_shipped().await;
    let dirs = profiles();
    let names = ["alice", "bob", "carol", "dave"];
    let clis: Vec<Cli> = names.iter().map(|n| Cli::new(&server, dirs.path().join(n))).collect();
    for (cli, name) in clis.iter().zip(names) {
        cli.run(&["register", name, "--password-stdin"], &format!("{PASSWORD}\n")).json();
    }
    let [alice, bob, carol, dave] = [&clis[0], &clis[1], &clis[2], &clis[3]];
    bob.run(&["send", "alice", "count me in"], "").json();
    alice.run(&["sync"], "").json();

    let group = alice.run(&["group", "create", "choir", "bob", "carol", "dave"], "").json();
    let group_id = group["group_id"].as_str().unwrap();
    let members: Vec<&str> =
        group["members"].as_array().unwrap().iter().map(|m| m["user_id"].as_str().unwrap()).collect();
    assert_eq!(members, ["alice", "bob"]);
    assert_eq!(group["invited"], serde_json::json!(["carol", "dave"]));

    let invitations = carol.run(&["group", "invitations"], "").json();
    assert_eq!(invitations.as_array().unwrap().len(), 1);
    assert_eq!(invitations[0]["group_id"], group_id);
    assert_eq!(carol.run(&["send", "--group", group_id, "hello?"], "").error_code(), "not_member");
    let joined = carol.run(&["group", "accept", group_id], "").json();
    assert_eq!(joined["joined"], true);
    assert!(carol.run(&["group", "invitations"], "").json().as_array().unwrap().is_empty());
    carol.run(&["send", "--group", group_id, "glad to be here"], "").json();

    let out = dave.run(&["group", "decline", group_id], "");
    assert!(out.ok, "{}", out.stderr);
    let out = dave.run(&["group", "accept", group_id], "");
    assert_eq!(out.error_code(), "not_invited", "{}", out.stderr);

    alice.run(&["sync"], "").json();
    let lines = alice.run(&["history", "--group", group_id], "").json();
    let bodies: Vec<&str> = lines.as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(bodies.contains(&"carol joined the group."), "{bodies:?}");
    assert!(bodies.contains(&"glad to be here"), "{bodies:?}");
    assert!(bodies.contains(&"dave declined the invitation."), "{bodies:?}");
}

/// The server moves to another address (here: the same server by another name): `--server`
/// with the new address moves the profile there. An address that is another installation is
/// refused, and the profile keeps its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_follows_its_installation_to_a_new_address_and_refuses_another() {
    let server = Server::start().await;
    let another = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = ["alice", "bob"].map(|name| Cli::new(&server, dirs.path().join(name)).registered(name));
    // Another installation (it never heard of this device): nothing changes.
    let elsewhere = Cli::at(another.url(), alice.profile.clone());
    let refused = elsewhere.run(&["sync"], "");
    assert_eq!(refused.error_code(), "other_installation", "{}", refused.stderr);
    assert!(refused.stderr.contains("does not know this device"), "{}", refused.stderr);
    assert_eq!(alice.run(&["account", "show"], "").json()["server"], server.url());
    alice.run(&["send", "bob", "still at the old address"], "").json();

    // The same installation at a new address: the profile moves, and carries on there.
    let new_address = server.url().replace("127.0.0.1", "localhost");
    assert_ne!(new_address, server.url());
    let moved = Cli::at(&new_address, alice.profile.clone());
    let sent = moved.run(&["send", "bob", "from the new address"], "");
    assert!(sent.ok && sent.stderr.contains("This profile now uses"), "{}", sent.stderr);
    assert_eq!(moved.run(&["account", "show"], "").json()["server"], new_address.as_str());
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let bodies: Vec<&str> = history.as_array().unwrap().iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies, ["still at the old address", "from the new address"]);
    // Its tokens moved along: it keeps working there (a refresh token is spent once).
    moved.run(&["sync"], "").json();
}
