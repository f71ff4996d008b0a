//! Replies, reactions, edits and deletions end to end, between real engines through the real
//! server (and the CLI):
//! - one to one and in a group, each arrives and shows on every side: the reply's quote, the
//!   reactions with who gave them, an edit (marked, earlier versions kept, the search index
//!   following the new text), a deletion (a tombstone; text, reactions and file gone, out of
//!   the search index);
//! - actions that arrive before their message (handed over in reverse order) wait for it;
//! - receipts: delivered and read, one to one and aggregated in a group of 4, read receipts
//!   off (none sent, none shown), another device of the reader clearing its unread count;
//! - a conversation's controls on this device: mute (for a while), archive (a new message
//!   brings it back unless muted), pin, mark unread, drafts across restarts, delete (its text
//!   out of search, its files out of the profile), in a backup too, and through the CLI;
//! - disappearing messages: a timer set by a member (a line on every side) deletes texts and
//!   files from history, search and the profile on every side once they run out; off again,
//!   new messages stay; through the CLI too;
//! - an admin renames a group (sealed: the server's copy is no name), everyone sees it;
//! - an owner who leaves hands the group over (to an admin first); roles through the CLI;
//! - a readable export shows all of it (and nothing of a deleted message);
//! - a new device given the one-to-one history gets all of it too;
//! - a backup carries all of it, and a reaction still waiting to be sent goes out after the
//!   restore;
//! - profiles: a name and picture set by one person reach whoever they talk with (one to one,
//!   group members, members added later, their own other devices) and changes follow; the
//!   server keeps only ciphertext; nobody else gets anything; through the CLI too;
//! - notes to self: kept on a device alone, and reaching the person's other devices; a newly
//!   linked device learns the profiles its user's first device knows;
//! - the attacker's tests: an edit or deletion of someone else's message, sent by a modified
//!   client, changes nothing anywhere but on the modified client itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use sotto_core::progress::{CancellationToken, Progress};
use sotto_core::{
    AvatarChange, Client, ClientEvent, ConversationId, ErrorCode, FileState, Message, MessageKind, MessageStatus,
    ProfileChange, Reaction,
};
use sotto_proto::{EntryBody, UserId};
use sotto_tests::*;

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

/// The message `message_id` of `conversation` as `client` has it.
fn seen(client: &Client, conversation: &ConversationId, message_id: &str) -> Message {
    client
        .messages(conversation, None, 200)
        .unwrap()
        .into_iter()
        .find(|m| m.message_id == message_id)
        .unwrap_or_else(|| panic!("{} has no message {message_id}", client.user_id()))
}

fn reactions(pairs: &[(&str, &[&str])]) -> Vec<Reaction> {
    pairs
        .iter()
        .map(|(emoji, users)| Reaction { emoji: (*emoji).into(), users: users.iter().map(|u| (*u).into()).collect() })
        .collect()
}

fn search_ids(client: &Client, text: &str) -> Vec<String> {
    client.search(text, 50).unwrap().into_iter().map(|h| h.message.message_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_replies_reactions_edits_and_deletions_show_on_both_sides() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let (with_bob, with_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));

    let question = alice.send_text(&uid("bob"), "lunch at noon?").await.unwrap();
    let id = question.message_id.clone();
    bob.sync().await.unwrap();
    let on_bob = seen(&bob, &with_alice, &id);

    // A reply: the quote names the message and shows its text, on both sides.
    let answer = bob.reply(on_bob.id, "yes, noon works").await.unwrap();
    let quote = answer.reply_to.clone().unwrap();
    assert_eq!((quote.sender_user.as_str(), quote.message_id.as_str()), ("alice", id.as_str()));
    assert_eq!((quote.id, quote.body.as_str()), (Some(on_bob.id), "lunch at noon?"));
    alice.sync().await.unwrap();
    let reply = seen(&alice, &with_bob, &answer.message_id);
    let quote = reply.reply_to.unwrap();
    assert_eq!((quote.id, quote.body.as_str(), quote.deleted), (Some(question.id), "lunch at noon?", false));

    // Reactions: one per person and emoji, with who gave it; taken back; the same twice is one.
    bob.react(on_bob.id, "👍", false).await.unwrap();
    bob.react(on_bob.id, "👍", false).await.unwrap();
    alice.sync().await.unwrap();
    alice.react(question.id, "❤️", false).await.unwrap();
    let both = reactions(&[("👍", &["bob"]), ("❤️", &["alice"])]);
    assert_eq!(seen(&alice, &with_bob, &id).reactions, both);
    bob.sync().await.unwrap();
    assert_eq!(seen(&bob, &with_alice, &id).reactions, both);
    bob.react(on_bob.id, "👍", true).await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(seen(&alice, &with_bob, &id).reactions, reactions(&[("❤️", &["alice"])]));
    // Not an emoji: refused before anything is sent.
    let err = bob.react(on_bob.id, "lol", false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);

    // An edit: the new text everywhere, marked, the old one kept here and out of search.
    let edited = alice.edit(question.id, "lunch at one?").await.unwrap();
    assert!(edited.edited);
    bob.sync().await.unwrap();
    let on_bob = seen(&bob, &with_alice, &id);
    assert_eq!((on_bob.body.as_str(), on_bob.edited), ("lunch at one?", true));
    let versions: Vec<String> = bob.message_versions(on_bob.id).unwrap().into_iter().map(|(b, _)| b).collect();
    assert_eq!(versions, ["lunch at noon?", "lunch at one?"]);
    assert_eq!(seen(&bob, &with_alice, &answer.message_id).reply_to.unwrap().body, "lunch at one?");
    for c in [&alice, &bob] {
        assert_eq!(
            search_ids(c, "noon"),
            std::slice::from_ref(&answer.message_id),
            "{} finds only the reply",
            c.user_id()
        );
        assert_eq!(search_ids(c, "one"), std::slice::from_ref(&id));
    }
    // Only the sender edits or deletes.
    let err = bob.edit(on_bob.id, "lunch never").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let err = bob.delete_for_everyone(on_bob.id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);

    // A deletion: a tombstone on both sides, nothing of it left.
    let gone = alice.delete_for_everyone(question.id).await.unwrap();
    assert!(gone.deleted && gone.body.is_empty() && gone.reactions.is_empty());
    bob.sync().await.unwrap();
    let on_bob = seen(&bob, &with_alice, &id);
    assert!(on_bob.deleted && on_bob.body.is_empty() && on_bob.reactions.is_empty(), "{on_bob:?}");
    assert!(bob.message_versions(on_bob.id).unwrap().is_empty(), "the earlier versions go too");
    let quote = seen(&bob, &with_alice, &answer.message_id).reply_to.unwrap();
    assert!(quote.deleted && quote.body.is_empty());
    for c in [&alice, &bob] {
        assert!(search_ids(c, "lunch").is_empty(), "{} still finds the deleted text", c.user_id());
    }
    let listed = bob.conversations().unwrap();
    assert_eq!(listed.iter().find(|c| c.id == with_alice).unwrap().last_preview, "yes, noon works");
    // A deleted message takes no more actions.
    let err = alice.edit(question.id, "back?").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_file_leaves_every_profile() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("plan.txt");
    std::fs::write(&path, tagged_bytes(10_000, "the-plan")).unwrap();
    let sent = alice.send_file(&uid("bob"), &path, "the plan").await.unwrap();
    bob.sync().await.unwrap();
    let with_alice = ConversationId::Direct(uid("alice"));
    let got = seen(&bob, &with_alice, &sent.message_id);
    assert_eq!(got.file.as_ref().unwrap().state, FileState::Local);
    let kept = |c: &Client| std::fs::read_dir(c.profile_dir().join("files")).map_or(0, |d| d.count());
    assert_eq!((kept(&alice), kept(&bob)), (1, 1));

    alice.delete_for_everyone(sent.id).await.unwrap();
    bob.sync().await.unwrap();
    let got = seen(&bob, &with_alice, &sent.message_id);
    assert!(got.deleted && got.file.is_none() && got.body.is_empty(), "{got:?}");
    assert_eq!(got.kind, MessageKind::File);
    assert_eq!((kept(&alice), kept(&bob)), (0, 0), "the ciphertexts left both profiles");
    let err = bob.save_file(got.id, &work.path().join("out.txt")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_see_replies_reactions_edits_and_deletions() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, dave] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    let group = alice.create_group("trip", &[uid("bob"), uid("carol"), uid("dave")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    let plan = alice.send_group_text(&group, "train at 9").await.unwrap();
    for c in [&bob, &carol, &dave] {
        c.sync().await.unwrap();
    }
    let row = |c: &Client| seen(c, &conversation, &plan.message_id).id;
    let reply = bob.reply(row(&bob), "I'll be there").await.unwrap();
    carol.react(row(&carol), "🚆", false).await.unwrap();
    dave.react(row(&dave), "🚆", false).await.unwrap();
    alice.edit(plan.id, "train at 10").await.unwrap();
    for c in [&alice, &bob, &carol, &dave] {
        c.sync().await.unwrap();
    }
    for c in [&alice, &bob, &carol, &dave] {
        let m = seen(c, &conversation, &plan.message_id);
        assert_eq!((m.body.as_str(), m.edited), ("train at 10", true), "{}", c.user_id());
        assert_eq!(m.reactions, reactions(&[("🚆", &["carol", "dave"])]), "{}", c.user_id());
        let quote = seen(c, &conversation, &reply.message_id).reply_to.unwrap();
        assert_eq!((quote.sender_user.as_str(), quote.body.as_str()), ("alice", "train at 10"));
    }
    bob.delete_for_everyone(reply.id).await.unwrap();
    for c in [&alice, &carol, &dave] {
        c.sync().await.unwrap();
        let m = seen(c, &conversation, &reply.message_id);
        assert!(m.deleted && m.body.is_empty(), "{}: {m:?}", c.user_id());
        assert!(search_ids(c, "there").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_that_arrive_before_their_message_wait_for_it() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let group = alice.create_group("plans", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    // Bob and carol hold alice's and carol's group keys before the tap starts collecting.
    alice.send_group_text(&group, "hello").await.unwrap();
    carol.sync().await.unwrap();
    carol.send_group_text(&group, "hi").await.unwrap();
    bob.sync().await.unwrap();
    // A second device of bob's collects the ciphertexts as the server delivers them.
    let tap = Tap::login(&server, "bob").await;

    let first = alice.send_group_text(&group, "meet at 6").await.unwrap();
    let second = alice.send_group_text(&group, "bring snacks").await.unwrap();
    carol.sync().await.unwrap();
    carol.react(seen(&carol, &conversation, &first.message_id).id, "👌", false).await.unwrap();
    alice.edit(first.id, "meet at 7").await.unwrap();
    alice.delete_for_everyone(second.id).await.unwrap();

    // Handed to bob last first: each action arrives before its message.
    let mut entries: Vec<_> =
        tap.inbox().await.into_iter().filter(|e| matches!(e.body, EntryBody::Group { .. })).collect();
    assert_eq!(entries.len(), 5, "two messages and three actions");
    entries.reverse();
    bob.bench_receive(&as_new_deliveries(&entries, 1_000_000)).await.unwrap();
    let check = |bob: &Client| {
        let first = seen(bob, &conversation, &first.message_id);
        assert_eq!((first.body.as_str(), first.edited), ("meet at 7", true));
        assert_eq!(first.reactions, reactions(&[("👌", &["carol"])]));
        let second = seen(bob, &conversation, &second.message_id);
        assert!(second.deleted && second.body.is_empty(), "{second:?}");
        assert!(search_ids(bob, "snacks").is_empty());
        assert_eq!(search_ids(bob, "meet"), std::slice::from_ref(&first.message_id));
    };
    check(&bob);
    // The same entries from bob's own inbox afterwards change nothing.
    bob.sync().await.unwrap();
    check(&bob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_or_deletion_of_someone_elses_message_is_refused_everywhere() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;

    // One to one: bob's modified client edits, then deletes, alice's message.
    let sent = alice.send_text(&uid("bob"), "the real text").await.unwrap();
    bob.sync().await.unwrap();
    let on_bob = seen(&bob, &ConversationId::Direct(uid("alice")), &sent.message_id);
    bob.send_unchecked_change(on_bob.id, Some("a forged text")).await.unwrap();
    bob.send_unchecked_change(on_bob.id, None).await.unwrap();
    alice.sync().await.unwrap();
    let on_alice = seen(&alice, &ConversationId::Direct(uid("bob")), &sent.message_id);
    assert_eq!((on_alice.body.as_str(), on_alice.edited, on_alice.deleted), ("the real text", false, false));

    // In a group: carol's modified client; alice and bob keep the real text.
    let group = alice.create_group("g", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    let sent = alice.send_group_text(&group, "the group's real text").await.unwrap();
    carol.sync().await.unwrap();
    let on_carol = seen(&carol, &conversation, &sent.message_id);
    carol.send_unchecked_change(on_carol.id, Some("forged in the group")).await.unwrap();
    carol.send_unchecked_change(on_carol.id, None).await.unwrap();
    for c in [&alice, &bob] {
        c.sync().await.unwrap();
        let m = seen(c, &conversation, &sent.message_id);
        assert_eq!((m.body.as_str(), m.edited, m.deleted), ("the group's real text", false, false), "{}", c.user_id());
        assert!(search_ids(c, "forged").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_replies_reacts_edits_and_deletes() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = ["alice", "bob"].map(|name| Cli::new(&server, dirs.path().join(name)).registered(name));
    let sent = alice.run(&["send", "bob", "see you at 5"], "").json();
    let id = sent["message_id"].as_str().unwrap().to_owned();
    bob.run(&["sync"], "").json();
    let reply = bob.run(&["reply", &id, "ok!"], "").json();
    assert_eq!(reply["reply_to"]["message_id"], id.as_str());
    assert_eq!(reply["reply_to"]["body"], "see you at 5");
    bob.run(&["react", &id, "🎉"], "").json();
    alice.run(&["edit", &id, "see you at 6"], "").json();
    alice.run(&["sync"], "").json();
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let original = history.as_array().unwrap().iter().find(|m| m["message_id"] == id.as_str()).unwrap();
    assert_eq!(original["body"], "see you at 6");
    assert_eq!(original["edited"], true);
    assert_eq!(original["reactions"][0]["emoji"], "🎉");
    assert_eq!(original["reactions"][0]["users"][0], "bob");
    let answer = history.as_array().unwrap().iter().find(|m| m["message_id"] == reply["message_id"]).unwrap();
    assert_eq!(answer["reply_to"]["body"], "see you at 6");
    // Taken back; someone else's message refused with a clear error; deleted by its sender.
    let removed = bob.run(&["react", &id, "🎉", "--remove"], "").json();
    assert_eq!(removed["reactions"], serde_json::json!([]));
    let refused = bob.run(&["delete", &id], "");
    assert_eq!(refused.error_code(), "invalid_input");
    assert!(refused.stderr.contains("Only the person who sent a message can delete it"), "{}", refused.stderr);
    alice.run(&["delete", &id], "").json();
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let original = history.as_array().unwrap().iter().find(|m| m["message_id"] == id.as_str()).unwrap();
    assert_eq!((original["deleted"].as_bool(), original["body"].as_str()), (Some(true), Some("")));
    let unknown = bob.run(&["react", "no-such-message", "🎉"], "");
    assert!(!unknown.ok && unknown.stderr.contains("there is no message no-such-message"), "{}", unknown.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_carries_replies_reactions_edits_deletions_and_unsent_actions() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let with_alice = ConversationId::Direct(uid("alice"));
    let first = alice.send_text(&uid("bob"), "dinner at noon").await.unwrap();
    let second = alice.send_text(&uid("bob"), "a secret to take back").await.unwrap();
    bob.sync().await.unwrap();
    let reply = bob.reply(seen(&bob, &with_alice, &first.message_id).id, "count me in").await.unwrap();
    alice.sync().await.unwrap();
    alice.react(seen(&alice, &ConversationId::Direct(uid("bob")), &reply.message_id).id, "🙌", false).await.unwrap();
    alice.edit(first.id, "dinner at eight").await.unwrap();
    alice.delete_for_everyone(second.id).await.unwrap();
    bob.sync().await.unwrap();
    // Offline, bob reacts: it waits in the outbox.
    server.kill9();
    bob.react(seen(&bob, &with_alice, &first.message_id).id, "🍝", false).await.unwrap();

    bob.set_read_receipts(false).unwrap();
    bob.set_pinned(&with_alice, true).unwrap();
    bob.set_draft(&with_alice, "see you at").unwrap();
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("bob.sotto-backup");
    let passphrase = "a long backup passphrase";
    bob.export_backup(&backup, passphrase, &Progress::unobserved(), &CancellationToken::new()).await.unwrap();
    drop(bob);
    server.restart().await;
    let restore = sotto_core::Restore {
        file: &backup,
        backup_passphrase: passphrase,
        server: server.url(),
        trust: sotto_core::ServerTrust::System,
        user_id: "bob",
        password: PASSWORD,
    };
    let dir = dirs.path().join("bob-restored");
    let bob = Client::restore_backup(&dir, restore, keychain(), &Progress::unobserved(), &CancellationToken::new())
        .await
        .unwrap();
    let m = seen(&bob, &with_alice, &first.message_id);
    assert_eq!((m.body.as_str(), m.edited), ("dinner at eight", true));
    assert_eq!(m.reactions, reactions(&[("🍝", &["bob"])]));
    let versions: Vec<String> = bob.message_versions(m.id).unwrap().into_iter().map(|(b, _)| b).collect();
    assert_eq!(versions, ["dinner at noon", "dinner at eight"]);
    let gone = seen(&bob, &with_alice, &second.message_id);
    assert!(gone.deleted && gone.body.is_empty());
    let answer = seen(&bob, &with_alice, &reply.message_id);
    assert_eq!(answer.reply_to.unwrap().body, "dinner at eight");
    assert_eq!(answer.reactions, reactions(&[("🙌", &["alice"])]));
    assert!(search_ids(&bob, "secret").is_empty() && search_ids(&bob, "noon").is_empty());
    assert_eq!(search_ids(&bob, "eight"), std::slice::from_ref(&first.message_id));
    assert!(!bob.read_receipts().unwrap(), "the setting comes back");
    let c = listed(&bob, &with_alice);
    assert!(c.pinned && c.draft == "see you at", "{c:?}");
    // Receipts come back too: bob's reply was delivered to alice.
    let receipts = seen(&bob, &with_alice, &reply.message_id).receipts.unwrap();
    assert_eq!((receipts.delivered, receipts.read), (names(&["alice"]), vec![]));
    // The reaction bob gave offline goes out from the restored device.
    bob.sync().await.unwrap();
    alice.sync().await.unwrap();
    let on_alice = seen(&alice, &ConversationId::Direct(uid("bob")), &first.message_id);
    assert_eq!(on_alice.reactions, reactions(&[("🍝", &["bob"])]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_exports_show_replies_reactions_edits_and_deletions() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let with_alice = ConversationId::Direct(uid("alice"));
    let first = alice.send_text(&uid("bob"), "picnic on saturday").await.unwrap();
    let second = alice.send_text(&uid("bob"), "my old phone number").await.unwrap();
    bob.sync().await.unwrap();
    bob.reply(seen(&bob, &with_alice, &first.message_id).id, "I'll bring bread").await.unwrap();
    bob.react(seen(&bob, &with_alice, &first.message_id).id, "🧺", false).await.unwrap();
    alice.edit(first.id, "picnic on sunday").await.unwrap();
    alice.delete_for_everyone(second.id).await.unwrap();
    bob.sync().await.unwrap();

    let work = tempfile::tempdir().unwrap();
    for (format, ext) in [(sotto_core::ExportFormat::Html, "html"), (sotto_core::ExportFormat::Json, "json")] {
        let out = work.path().join(format!("export-{ext}"));
        bob.export_readable(
            &out,
            format,
            sotto_core::ExportScope::All,
            &Progress::unobserved(),
            &CancellationToken::new(),
        )
        .unwrap();
        let page = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == ext) && !p.ends_with(format!("index.{ext}")))
            .unwrap();
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(!text.contains("phone number"), "the deleted text is not in the {ext} export");
        assert!(!text.contains("saturday"), "nor the text before the edit");
        if ext == "html" {
            assert!(text.contains("picnic on sunday<span class=\"edited\">(edited)</span>"), "{text}");
            assert!(text.contains(
                "<blockquote class=\"quote\"><span class=\"sender\">alice</span>picnic on sunday</blockquote>"
            ));
            assert!(text.contains("<p class=\"reactions\">🧺 bob</p>"));
            assert!(text.contains("This message was deleted."));
        } else {
            let messages: Vec<serde_json::Value> =
                serde_json::from_str::<serde_json::Value>(&text).unwrap()["messages"].as_array().unwrap().clone();
            let find = |id: &str| messages.iter().find(|m| m["message_id"] == id).unwrap().clone();
            let edited = find(&first.message_id);
            assert_eq!((edited["body"].as_str(), edited["edited"].as_bool()), (Some("picnic on sunday"), Some(true)));
            assert_eq!(edited["reactions"], serde_json::json!([{ "emoji": "🧺", "users": ["bob"] }]));
            let deleted = find(&second.message_id);
            assert_eq!((deleted["body"].as_str(), deleted["deleted"].as_bool()), (Some(""), Some(true)));
            let reply = messages.iter().find(|m| m["body"] == "I'll bring bread").unwrap();
            assert_eq!(reply["reply_to"]["message_id"], first.message_id.as_str());
            assert_eq!(reply["reply_to"]["body"], "picnic on sunday");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_given_the_history_sees_replies_reactions_edits_and_deletions() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let with_bob = ConversationId::Direct(uid("bob"));
    let first = bob.send_text(&uid("alice"), "film at 8?").await.unwrap();
    let second = bob.send_text(&uid("alice"), "wrong chat, ignore").await.unwrap();
    alice.sync().await.unwrap();
    let reply = alice.reply(seen(&alice, &with_bob, &first.message_id).id, "yes!").await.unwrap();
    alice.react(seen(&alice, &with_bob, &first.message_id).id, "🎬", false).await.unwrap();
    bob.edit(first.id, "film at 9?").await.unwrap();
    bob.delete_for_everyone(second.id).await.unwrap();
    alice.sync().await.unwrap();

    let laptop = login(&server, &dirs.path().join("alice-laptop"), "alice").await;
    link_device_with_history(&alice, &laptop).await;
    laptop.sync().await.unwrap();
    let m = seen(&laptop, &with_bob, &first.message_id);
    assert_eq!((m.body.as_str(), m.edited), ("film at 9?", true));
    assert_eq!(m.reactions, reactions(&[("🎬", &["alice"])]));
    let gone = seen(&laptop, &with_bob, &second.message_id);
    assert!(gone.deleted && gone.body.is_empty(), "{gone:?}");
    assert!(search_ids(&laptop, "wrong").is_empty());
    let quote = seen(&laptop, &with_bob, &reply.message_id).reply_to.unwrap();
    assert_eq!((quote.id, quote.body.as_str()), (Some(m.id), "film at 9?"));
}

fn receipts_of(client: &Client, conversation: &ConversationId, message_id: &str) -> (u32, Vec<String>, Vec<String>) {
    let r = seen(client, conversation, message_id).receipts.expect("receipts on one's own message");
    (r.recipients, r.delivered, r.read)
}

fn names(users: &[&str]) -> Vec<String> {
    users.iter().map(|u| (*u).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_say_who_got_and_who_read_a_message() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, dave] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    let (with_bob, with_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));

    // One to one: sent, then delivered, then read.
    let sent = alice.send_text(&uid("bob"), "are you there?").await.unwrap();
    assert_eq!(receipts_of(&alice, &with_bob, &sent.message_id), (1, vec![], vec![]));
    bob.sync().await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(receipts_of(&alice, &with_bob, &sent.message_id), (1, names(&["bob"]), vec![]));
    bob.read_conversation(&with_alice).await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(receipts_of(&alice, &with_bob, &sent.message_id), (1, names(&["bob"]), names(&["bob"])));
    // Reading again sends nothing new; a received message has no receipts of its own.
    bob.read_conversation(&with_alice).await.unwrap();
    assert!(seen(&bob, &with_alice, &sent.message_id).receipts.is_none());

    // A group of 4: read by 2 of 3, with who.
    let group = alice.create_group("four", &[uid("bob"), uid("carol"), uid("dave")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    let news = alice.send_group_text(&group, "news for all").await.unwrap();
    for c in [&bob, &carol, &dave] {
        c.sync().await.unwrap();
    }
    // Dave turned read receipts off: he sends none (and sees nobody's).
    dave.set_read_receipts(false).unwrap();
    for c in [&bob, &carol, &dave] {
        c.read_conversation(&conversation).await.unwrap();
    }
    alice.sync().await.unwrap();
    let (recipients, delivered, read) = receipts_of(&alice, &conversation, &news.message_id);
    assert_eq!(recipients, 3);
    assert_eq!(sorted(delivered), names(&["bob", "carol", "dave"]));
    assert_eq!(sorted(read), names(&["bob", "carol"]));
    // Dave's own message: delivered to the others and read by them, but he is not shown who read it.
    let from_dave = dave.send_group_text(&group, "noted").await.unwrap();
    for c in [&alice, &bob, &carol] {
        c.sync().await.unwrap();
        c.read_conversation(&conversation).await.unwrap();
    }
    dave.sync().await.unwrap();
    let (_, delivered, read) = receipts_of(&dave, &conversation, &from_dave.message_id);
    assert_eq!((sorted(delivered), read), (names(&["alice", "bob", "carol"]), vec![]));
    dave.set_read_receipts(true).unwrap();
    assert_eq!(sorted(receipts_of(&dave, &conversation, &from_dave.message_id).2), names(&["alice", "bob", "carol"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_on_one_device_clears_the_unread_count_on_the_others() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let laptop = login_linked(&server, &dirs.path().join("bob-laptop"), &bob).await;
    let with_alice = ConversationId::Direct(uid("alice"));
    alice.send_text(&uid("bob"), "one").await.unwrap();
    alice.send_text(&uid("bob"), "two").await.unwrap();
    let unread = |c: &Client| c.conversations().unwrap().into_iter().find(|c| c.id == with_alice).unwrap().unread;
    bob.sync().await.unwrap();
    laptop.sync().await.unwrap();
    assert_eq!((unread(&bob), unread(&laptop)), (2, 2));
    bob.read_conversation(&with_alice).await.unwrap();
    laptop.sync().await.unwrap();
    assert_eq!((unread(&bob), unread(&laptop)), (0, 0));
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_who_leaves_hands_the_group_over() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let group = alice.create_group("club", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    alice.set_role(&group, &uid("carol"), sotto_proto::Role::Admin).await.unwrap();
    // The owner leaves: carol, the admin, owns the group now; bob and carol go on talking.
    alice.leave_group(&group).await.unwrap();
    for c in [&bob, &carol] {
        let g = c.fetch_groups().await.unwrap().into_iter().find(|g| g.group_id == group).unwrap();
        let roles: Vec<(String, sotto_proto::Role)> =
            g.members.iter().map(|m| (m.user_id.to_string(), m.role)).collect();
        assert_eq!(
            roles,
            [("bob".to_owned(), sotto_proto::Role::Member), ("carol".to_owned(), sotto_proto::Role::Owner)],
            "{}",
            c.user_id()
        );
    }
    carol.send_group_text(&group, "still here").await.unwrap();
    bob.sync().await.unwrap();
    assert!(seen_body(&bob, &ConversationId::Group(group.clone()), "still here"));
    // With no admin, the next owner is the first other member; the last one ends the group.
    carol.leave_group(&group).await.unwrap();
    let g = bob.fetch_groups().await.unwrap().into_iter().find(|g| g.group_id == group).unwrap();
    assert_eq!(
        g.members.iter().map(|m| (m.user_id.as_str(), m.role)).collect::<Vec<_>>(),
        [("bob", sotto_proto::Role::Owner)]
    );
    bob.leave_group(&group).await.unwrap();
    assert!(!bob.fetch_groups().await.unwrap().iter().any(|g| g.group_id == group && g.joined));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_promotes_demotes_and_transfers() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] =
        ["alice", "bob", "carol"].map(|name| Cli::new(&server, dirs.path().join(name)).registered(name));
    alice.run(&["group", "create", "crew", "bob", "carol"], "").json();
    let role = |g: &serde_json::Value, user: &str| {
        g["members"].as_array().unwrap().iter().find(|m| m["user_id"] == user).unwrap()["role"].clone()
    };
    let g = alice.run(&["group", "promote", "crew", "bob"], "").json();
    assert_eq!(role(&g, "bob"), "admin");
    let g = alice.run(&["group", "demote", "crew", "bob"], "").json();
    assert_eq!(role(&g, "bob"), "member");
    let g = alice.run(&["group", "transfer", "crew", "carol"], "").json();
    assert_eq!((role(&g, "carol"), role(&g, "alice")), ("owner".into(), "admin".into()));
    // Only the owner changes roles.
    let refused = bob.run(&["group", "promote", "crew", "bob"], "");
    assert!(!refused.ok);
    carol.run(&["sync"], "").json();
}

fn seen_body(client: &Client, conversation: &ConversationId, body: &str) -> bool {
    client.messages(conversation, None, 100).unwrap().iter().any(|m| m.body == body)
}

fn listed(client: &Client, id: &ConversationId) -> sotto_core::Conversation {
    client.conversations().unwrap().into_iter().find(|c| &c.id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_muted_archived_pinned_marked_unread_drafted_and_deleted() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let (with_bob, with_carol) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("carol")));
    bob.send_text(&uid("alice"), "first from bob").await.unwrap();
    carol.send_text(&uid("alice"), "first from carol").await.unwrap();
    alice.sync().await.unwrap();

    // Pinned first, whatever came later.
    alice.set_pinned(&with_bob, true).unwrap();
    carol.send_text(&uid("alice"), "carol again").await.unwrap();
    alice.sync().await.unwrap();
    let order: Vec<ConversationId> = alice.conversations().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(order, [with_bob.clone(), with_carol.clone()]);
    alice.set_pinned(&with_bob, false).unwrap();
    assert_eq!(alice.conversations().unwrap()[0].id, with_carol);

    // Archived: a new message brings it back; muted, it stays archived.
    alice.set_archived(&with_carol, true).unwrap();
    assert!(listed(&alice, &with_carol).archived);
    carol.send_text(&uid("alice"), "are you there?").await.unwrap();
    alice.sync().await.unwrap();
    assert!(!listed(&alice, &with_carol).archived, "back with a new message");
    alice.set_archived(&with_carol, true).unwrap();
    alice.set_muted(&with_carol, Some(i64::MAX)).unwrap();
    carol.send_text(&uid("alice"), "hello??").await.unwrap();
    alice.sync().await.unwrap();
    let c = listed(&alice, &with_carol);
    assert!(c.archived && c.muted_until == Some(i64::MAX));
    alice.set_muted(&with_carol, None).unwrap();
    assert_eq!(listed(&alice, &with_carol).muted_until, None);

    // Marked unread until read.
    alice.mark_read(&with_bob).unwrap();
    alice.mark_unread(&with_bob).unwrap();
    assert!(listed(&alice, &with_bob).marked_unread);
    alice.mark_read(&with_bob).unwrap();
    assert!(!listed(&alice, &with_bob).marked_unread);

    // A draft survives a restart.
    alice.set_draft(&with_bob, "half a thought").unwrap();
    let dir = alice.profile_dir().to_owned();
    drop(alice);
    let alice = Client::open(&dir, None).unwrap();
    assert_eq!(listed(&alice, &with_bob).draft, "half a thought");
    let err = alice.set_draft(&with_bob, &"x".repeat(65 * 1024)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);

    // Deleted: gone from the list, from search, and its files from the profile; nothing sent.
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("note.txt");
    std::fs::write(&path, b"a small file").unwrap();
    carol.send_file(&uid("alice"), &path, "carol's file").await.unwrap();
    alice.sync().await.unwrap();
    let files = |c: &Client| std::fs::read_dir(c.profile_dir().join("files")).map_or(0, |d| d.count());
    assert_eq!(files(&alice), 1);
    assert!(!search_ids(&alice, "hello").is_empty());
    alice.delete_conversation(&with_carol).unwrap();
    assert!(!alice.conversations().unwrap().iter().any(|c| c.id == with_carol));
    assert!(search_ids(&alice, "hello").is_empty() && search_ids(&alice, "carol").is_empty());
    assert_eq!(files(&alice), 0);
    assert!(alice.messages(&with_carol, None, 10).unwrap().is_empty());
    assert_eq!(alice.delete_conversation(&with_carol).unwrap_err().code(), ErrorCode::InvalidInput);
    // Carol still has her side; a new message starts the conversation again.
    carol.send_text(&uid("alice"), "new start").await.unwrap();
    alice.sync().await.unwrap();
    let bodies: Vec<String> = alice.messages(&with_carol, None, 10).unwrap().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["new start"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_mutes_archives_pins_and_deletes_conversations() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = ["alice", "bob"].map(|name| Cli::new(&server, dirs.path().join(name)).registered(name));
    bob.run(&["send", "alice", "hi"], "").json();
    alice.run(&["sync"], "").json();
    let muted = alice.run(&["conversation", "mute", "bob", "--for", "3600"], "").json();
    let until = muted["muted_until"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((until - now - 3_600_000).abs() < 60_000, "an hour from now: {until}");
    assert_eq!(alice.run(&["conversation", "unmute", "bob"], "").json()["muted_until"], serde_json::Value::Null);
    assert_eq!(alice.run(&["conversation", "archive", "bob"], "").json()["archived"], true);
    assert_eq!(alice.run(&["conversation", "pin", "bob"], "").json()["pinned"], true);
    assert_eq!(alice.run(&["conversation", "unread", "bob"], "").json()["marked_unread"], true);
    assert!(!alice.run(&["conversation", "archive", "bob", "--for", "5"], "").ok);
    assert_eq!(alice.run(&["conversation", "delete", "bob"], "").json()["deleted"], true);
    assert_eq!(alice.run(&["conversations"], "").json(), serde_json::json!([]));
    assert!(!alice.run(&["conversation", "pin", "bob"], "").ok, "no such conversation any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disappearing_messages_leave_every_device_when_their_time_runs_out() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let (with_bob, with_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));
    alice.send_text(&uid("bob"), "this one stays").await.unwrap();
    alice.set_disappearing(&with_bob, Some(2)).await.unwrap();
    assert_eq!(listed(&alice, &with_bob).disappear_secs, Some(2));
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("secret.txt");
    std::fs::write(&path, b"gone soon").unwrap();
    alice.send_text(&uid("bob"), "self-destructing plan").await.unwrap();
    alice.send_file(&uid("bob"), &path, "").await.unwrap();
    bob.sync().await.unwrap();
    // Both sides: the line saying so, the timer, and the messages (for now).
    for (c, conversation, who) in [(&alice, &with_bob, "You"), (&bob, &with_alice, "alice")] {
        let lines: Vec<String> = c
            .messages(conversation, None, 20)
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == MessageKind::System)
            .map(|m| m.body)
            .collect();
        assert_eq!(lines, [format!("{who} set messages to disappear after 2 seconds.")], "{}", c.user_id());
        assert_eq!(listed(c, conversation).disappear_secs, Some(2));
        assert_eq!(search_ids(c, "destructing").len(), 1);
    }
    let files = |c: &Client| std::fs::read_dir(c.profile_dir().join("files")).map_or(0, |d| d.count());
    assert_eq!((files(&alice), files(&bob)), (1, 1));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    alice.sweep_expired().unwrap();
    bob.sync().await.unwrap();
    for (c, conversation) in [(&alice, &with_bob), (&bob, &with_alice)] {
        let kept: Vec<String> = c
            .messages(conversation, None, 20)
            .unwrap()
            .into_iter()
            .filter(|m| m.kind != MessageKind::System)
            .map(|m| m.body)
            .collect();
        assert_eq!(kept, ["this one stays"], "{}", c.user_id());
        assert!(search_ids(c, "destructing").is_empty());
    }
    assert_eq!((files(&alice), files(&bob)), (0, 0), "the files' ciphertexts left both profiles");
    // Turned off by bob: new messages stay.
    bob.set_disappearing(&with_alice, None).await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(listed(&alice, &with_bob).disappear_secs, None);
    alice.send_text(&uid("bob"), "this stays too").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    bob.sync().await.unwrap();
    assert_eq!(search_ids(&bob, "stays").len(), 2, "a message after a deleted one is found (its row is new)");

    // In a group, any member sets it; all of them apply it.
    let group = alice.create_group("brief", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    bob.sync().await.unwrap();
    bob.set_disappearing(&conversation, Some(1)).await.unwrap();
    carol.sync().await.unwrap();
    carol.send_group_text(&group, "brief remark").await.unwrap();
    alice.sync().await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(search_ids(&alice, "remark").len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for c in [&alice, &bob, &carol] {
        c.sync().await.unwrap();
        assert!(search_ids(c, "remark").is_empty(), "{}", c.user_id());
        assert_eq!(listed(c, &conversation).disappear_secs, Some(1));
    }
    // Out of range: refused before anything changes.
    let err = alice.set_disappearing(&with_bob, Some(0)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_and_clears_a_timer() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = ["alice", "bob"].map(|name| Cli::new(&server, dirs.path().join(name)).registered(name));
    bob.run(&["send", "alice", "hi"], "").json();
    let set = alice.run(&["disappear", "bob", "3600"], "").json();
    assert_eq!(set["disappear_secs"], 3600);
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    assert!(history.as_array().unwrap().iter().any(|m| m["body"] == "alice set messages to disappear after 1 hour."));
    assert_eq!(alice.run(&["disappear", "bob", "off"], "").json()["disappear_secs"], serde_json::Value::Null);
    assert!(!alice.run(&["disappear", "bob", "soon"], "").ok);
    assert!(!alice.run(&["disappear", "bob"], "").ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_renames_a_group_and_everyone_sees_the_new_name() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let group = alice.create_group("old name", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    alice.send_group_text(&group, "hello").await.unwrap();
    alice.set_role(&group, &uid("bob"), sotto_proto::Role::Admin).await.unwrap();
    bob.sync().await.unwrap();
    let renamed = bob.rename_group(&group, "Climbing on Sundays").await.unwrap();
    assert_eq!(renamed.name, "Climbing on Sundays");
    // A plain member may not.
    carol.sync().await.unwrap();
    let err = carol.rename_group(&group, "carol's group").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotAdmin, "{err}");
    for c in [&alice, &carol] {
        c.sync().await.unwrap();
        let g = c.fetch_groups().await.unwrap().into_iter().find(|g| g.group_id == group).unwrap();
        assert_eq!(g.name, "Climbing on Sundays", "{}", c.user_id());
        assert_eq!(listed(c, &conversation).title, "Climbing on Sundays");
        let lines: Vec<String> = c
            .messages(&conversation, None, 50)
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == MessageKind::System)
            .map(|m| m.body)
            .collect();
        assert!(lines.contains(&"bob renamed the group to \"Climbing on Sundays\".".to_owned()), "{lines:?}");
    }
    // The server holds only the sealed name.
    let leaks = files_containing(&server.data_dir(), &["Climbing on Sundays"]);
    assert!(leaks.is_empty(), "{leaks:?}");
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, 90, (y % 256) as u8]));
    let mut bytes = Vec::new();
    picture.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

fn name_of(client: &Client, user: &str) -> Option<(Option<String>, bool)> {
    client.profile(&uid(user)).unwrap().map(|p| (p.name, p.avatar))
}

fn named(name: &str, avatar: bool) -> Option<(Option<String>, bool)> {
    Some((Some(name.to_owned()), avatar))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_pictures_reach_the_people_one_talks_with_and_changes_follow() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, dave] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    let change = |name: &str, avatar: Option<AvatarChange>| ProfileChange { name: Some(name.to_owned()), avatar };
    let mine = alice.set_profile(change("  Alice Liddell ", Some(AvatarChange::Image(png(900, 600))))).await.unwrap();
    assert_eq!((mine.name.as_deref(), mine.avatar), (Some("Alice Liddell"), true));

    // Nobody has it before Alice writes to them: the key goes with her first message.
    bob.sync().await.unwrap();
    assert_eq!(name_of(&bob, "alice"), None);
    alice.send_text(&uid("bob"), "hi").await.unwrap();
    let mut bob_events = bob.subscribe();
    bob.sync().await.unwrap();
    assert_eq!(name_of(&bob, "alice"), named("Alice Liddell", true));
    let picture = image::load_from_memory(&bob.avatar(&uid("alice")).unwrap().unwrap()).unwrap();
    assert_eq!((picture.width(), picture.height()), (256, 256), "the middle square, 256 pixels a side");
    let mut announced = false;
    while let Ok(event) = bob_events.try_recv() {
        announced |= matches!(&event, ClientEvent::ProfileChanged { profile } if profile.user_id == "alice");
    }
    assert!(announced, "a profile_changed event tells the app");

    // A group: the members learn it with her first message there, someone added later with the
    // next one.
    let group = alice.create_group("walks", &[uid("carol")]).await.unwrap().group_id;
    alice.send_group_text(&group, "first").await.unwrap();
    carol.sync().await.unwrap();
    assert_eq!(name_of(&carol, "alice"), named("Alice Liddell", true));
    alice.add_members(&group, &[uid("dave")]).await.unwrap();
    alice.send_group_text(&group, "second").await.unwrap();
    dave.sync().await.unwrap();
    assert_eq!(name_of(&dave, "alice"), named("Alice Liddell", true));

    // Carol never wrote to Bob: he has nothing of hers.
    carol.set_profile(change("Carol", None)).await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(name_of(&bob, "carol"), None);

    // A change reaches everyone she talks with.
    alice.set_profile(change("Alice L.", Some(AvatarChange::Remove))).await.unwrap();
    for c in [&bob, &carol, &dave] {
        c.sync().await.unwrap();
        assert_eq!(name_of(c, "alice"), named("Alice L.", false), "{}", c.user_id());
        assert_eq!(c.avatar(&uid("alice")).unwrap(), None);
    }
    assert_eq!(name_of(&alice, "alice"), named("Alice L.", false));
    // The server holds only ciphertext.
    let leaks = files_containing(&server.data_dir(), &["Alice Liddell", "Alice L."]);
    assert!(leaks.is_empty(), "{leaks:?}");

    // Bad input changes nothing, with words that say why.
    let long = alice.set_profile(change(&"a".repeat(65), None)).await.unwrap_err();
    assert!(long.code() == ErrorCode::InvalidInput && long.to_string().contains("at most 64"), "{long}");
    let control = alice.set_profile(change("Alice\nL.", None)).await.unwrap_err();
    assert_eq!(control.code(), ErrorCode::InvalidInput, "{control}");
    let not_a_picture = ProfileChange { name: None, avatar: Some(AvatarChange::Image(b"hello".to_vec())) };
    let err = alice.set_profile(not_a_picture).await.unwrap_err();
    assert!(err.to_string().contains("JPEG, PNG, GIF or WebP"), "{err}");
    assert_eq!(name_of(&alice, "alice"), named("Alice L.", false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_to_self_stay_here_or_reach_the_other_devices_and_so_does_the_profile() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice1 = register(&server, &dirs.path().join("alice1"), "alice").await;
    let notes = ConversationId::Direct(uid("alice"));
    let started = alice1.start_direct(&uid("alice")).await.unwrap();
    assert_eq!(started.id, notes);
    let mut events = alice1.subscribe();
    let sent = alice1.send_text(&uid("alice"), "buy milk").await.unwrap();
    let mut listed_again = false;
    while let Ok(event) = events.try_recv() {
        listed_again |= matches!(&event, ClientEvent::ConversationUpdated { conversation } if conversation.id == notes);
    }
    assert!(listed_again, "the list is told of the conversation's new message");
    assert_eq!(sent.status, MessageStatus::Sent, "alone, a note is kept here: nothing to send");
    assert_eq!(sent.receipts, None, "a note has nobody to deliver it to");
    assert_eq!(bodies(&alice1, &notes), ["buy milk"]);

    // Bob wrote to her before her second device existed: that device learns his name from her
    // first one when she links it.
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    bob.set_profile(ProfileChange { name: Some("Bob".into()), avatar: None }).await.unwrap();
    bob.send_text(&uid("alice"), "hello").await.unwrap();
    alice1.sync().await.unwrap();
    assert_eq!(name_of(&alice1, "bob"), named("Bob", false));
    let alice2 = login(&server, &dirs.path().join("alice2"), "alice").await;
    link_device(&alice1, &alice2).await;
    alice1.set_profile(ProfileChange { name: Some("Alice".into()), avatar: None }).await.unwrap();
    let note = alice1.send_text(&uid("alice"), "and bread").await.unwrap();
    assert_eq!(note.status, MessageStatus::Sent);
    alice2.sync().await.unwrap();
    let copies = alice2.messages(&notes, None, 10).unwrap();
    assert_eq!(copies.iter().map(|m| (m.body.as_str(), m.outgoing)).collect::<Vec<_>>(), [("and bread", true)]);
    // Her other device has her profile too (its key came with the note's copy), and Bob's.
    assert_eq!(name_of(&alice2, "alice"), named("Alice", false));
    assert_eq!(name_of(&alice2, "bob"), named("Bob", false));
    // And a note from there arrives here.
    alice2.send_text(&uid("alice"), "and eggs").await.unwrap();
    alice1.sync().await.unwrap();
    assert_eq!(bodies(&alice1, &notes), ["buy milk", "and bread", "and eggs"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_and_shows_profiles() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = ["alice", "bob"].map(|name| Cli::new(&server, dirs.path().join(name)).registered(name));
    let photo = dirs.path().join("photo.png");
    std::fs::write(&photo, png(400, 500)).unwrap();
    let set = alice.run(&["profile", "set", "--name", "Alice", "--avatar", photo.to_str().unwrap()], "").json();
    assert_eq!((set["name"].as_str(), set["avatar"].as_bool()), (Some("Alice"), Some(true)));
    alice.run(&["send", "bob", "hello"], "").json();
    bob.run(&["sync"], "").json();
    let saved = dirs.path().join("alice.jpg");
    let shown = bob.run(&["profile", "show", "alice", "--save-avatar", saved.to_str().unwrap()], "").json();
    assert_eq!((shown["user_id"].as_str(), shown["name"].as_str()), (Some("alice"), Some("Alice")));
    let picture = image::open(&saved).unwrap();
    assert_eq!((picture.width(), picture.height()), (256, 256));
    // Someone bob knows nothing of, and a picture that is not one: clear errors.
    let unknown = bob.run(&["profile", "show", "carol"], "");
    assert!(!unknown.ok && unknown.stderr.contains("no profile of carol is known here yet"), "{}", unknown.stderr);
    let notes = dirs.path().join("notes.txt");
    std::fs::write(&notes, "not a picture").unwrap();
    let refused = alice.run(&["profile", "set", "--avatar", notes.to_str().unwrap()], "");
    assert_eq!(refused.error_code(), "invalid_input");
    assert!(refused.stderr.contains("The picture can't be used"), "{}", refused.stderr);
    let cleared = alice.run(&["profile", "set", "--no-avatar"], "").json();
    assert_eq!((cleared["name"].as_str(), cleared["avatar"].as_bool()), (Some("Alice"), Some(false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_that_cannot_be_sent_says_so_in_the_conversation() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let sent = bob.send_text(&uid("alice"), "bye").await.unwrap();
    alice.sync().await.unwrap();
    let with_bob = ConversationId::Direct(uid("bob"));
    let on_alice = seen(&alice, &with_bob, &sent.message_id);
    // Bob signs his only device out: nothing can reach him any more.
    bob.logout().await.unwrap();
    let mut events = alice.subscribe();
    alice.react(on_alice.id, "👋", false).await.unwrap();
    let lines: Vec<String> = alice
        .messages(&with_bob, None, 10)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MessageKind::System)
        .map(|m| m.body)
        .collect();
    assert_eq!(lines, ["Your reaction could not be sent. bob has no device that can receive encrypted messages yet."]);
    let mut told = false;
    while let Ok(event) = events.try_recv() {
        told |= matches!(&event, ClientEvent::MessageReceived { message } if message.kind == MessageKind::System);
    }
    assert!(told, "the app is told of the line");
    assert!(listed(&alice, &with_bob).last_preview.starts_with("Your reaction could not be sent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_that_did_not_decrypt_is_sent_again_when_asked() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let sent = alice.send_text(&uid("bob"), "lunch?").await.unwrap();
    bob.sync().await.unwrap();
    let with_alice = ConversationId::Direct(uid("alice"));
    let with_bob = ConversationId::Direct(uid("bob"));
    let on_bob = seen(&bob, &with_alice, &sent.message_id);
    alice.reset_keys(PASSWORD).await.unwrap();
    // Bob has not heard of the reset: his reaction goes to alice's old keys.
    bob.react(on_bob.id, "🍜", false).await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(seen(&alice, &with_bob, &sent.message_id).reactions, []);
    // Alice's device asks again; bob's sends the reaction again, as it was.
    bob.sync().await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(seen(&alice, &with_bob, &sent.message_id).reactions, reactions(&[("🍜", &["bob"])]));
    assert!(
        alice.messages(&with_bob, None, 20).unwrap().iter().all(|m| m.kind != MessageKind::Undecryptable),
        "no placeholder is left"
    );
}
