//! The store on a real SQLCipher file: schema, history queries, search, outbox, and refusals.

use super::history::ORDER_KEY;
use super::*;
use crate::profile::ProfileKey;
use crate::{ConversationId, Undecryptable};

fn cid(s: &str) -> ConversationId {
    ConversationId::parse(s).unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let key = ProfileKey::generate().unwrap();
    let store = Store::open(&dir.path().join("sotto.db"), &key, OpenMode::Create).unwrap();
    (dir, store)
}

#[test]
fn a_stored_conversation_id_that_does_not_parse_is_damage() {
    let (_dir, mut store) = open();
    store
        .transaction(|db| {
            db.ensure_conversation(&cid("u:bob"), "bob")?;
            db.insert_message(&NewMessage::received_text(&cid("u:bob"), "msg-0001", "bob", "hi", 1))?;
            Ok(())
        })
        .unwrap();
    let db = store.db();
    db.conn().execute("UPDATE conversations SET id = 'bob'", []).unwrap();
    db.conn().execute("UPDATE messages SET conversation_id = 'x:bob'", []).unwrap();
    let err = db.conversations().unwrap_err();
    assert_eq!(err.code(), sotto_proto::ErrorCode::Corrupt);
    assert!(
        matches!(&err, crate::Error::Store(StoreError::Id { at, .. }) if *at == DbColumn::new("conversations", "id")),
        "{err:?}"
    );
    let err = db.message(1).unwrap_err();
    assert!(
        matches!(&err, crate::Error::Store(StoreError::Id { at, .. }) if at.column == "conversation_id"),
        "{err:?}"
    );
    // The id's parse error is kept as the cause, and no text names the stored value.
    let cause = std::error::Error::source(&err).and_then(std::error::Error::source).unwrap();
    assert!(cause.downcast_ref::<sotto_proto::InvalidId>().is_some(), "{cause:?}");
    assert_eq!(err.to_string(), "The profile's data is damaged: an id in messages.conversation_id is not valid");
    assert!(!format!("{err:?}").contains("x:bob"), "{err:?}");
}

#[test]
fn a_stored_member_list_that_does_not_parse_keeps_the_json_error() {
    let (_dir, mut store) = open();
    let group = sotto_proto::GroupId::parse("g1").unwrap();
    let me = sotto_proto::UserId::parse("alice").unwrap();
    let info = sotto_proto::GroupInfo {
        group_id: group.clone(),
        name: "g".into(),
        version: 1,
        created_ts: 1,
        members: vec![],
        invited: vec![],
    };
    store.transaction(|db| db.save_unsigned_group(&info, &me).map(|_| ())).unwrap();
    let db = store.db();
    db.conn().execute("UPDATE groups SET members = '{\"secret-looking\": 1}'", []).unwrap();
    let err = db.group(&group).unwrap_err();
    assert_eq!(err.code(), sotto_proto::ErrorCode::Corrupt);
    let store_error = std::error::Error::source(&err).unwrap();
    assert!(store_error.downcast_ref::<StoreError>().is_some(), "{store_error:?}");
    let json = store_error.source().unwrap();
    assert!(json.downcast_ref::<serde_json::Error>().is_some(), "{json:?}");
    assert_eq!(err.to_string(), "The profile's data is damaged: a value in groups.members is not valid");
}

#[test]
fn history_pages_counts_and_ordering() {
    let (_dir, mut store) = open();
    store
        .transaction(|db| {
            db.ensure_conversation(&cid("u:bob"), "bob")?;
            db.ensure_conversation(&cid("g:g1"), "Old name")?;
            db.ensure_conversation(&cid("g:g1"), "New name")?;
            for i in 0..25 {
                let id = format!("msg-{i:04}");
                let m = db
                    .insert_message(&NewMessage::received_text(
                        &cid("u:bob"),
                        &id,
                        "bob",
                        &format!("number {i}"),
                        1000 + i,
                    ))?
                    .unwrap();
                db.touch_for(&m)?;
            }
            let m = db
                .insert_message(&NewMessage::received_text(&cid("g:g1"), "msg-g001", "carol", "in the group", 5000))?
                .unwrap();
            db.touch_for(&m)?;
            Ok(())
        })
        .unwrap();
    let db = store.db();
    // Duplicates are refused and change nothing.
    assert!(
        db.insert_message(&NewMessage::received_text(&cid("u:bob"), "msg-0003", "bob", "again", 9999))
            .unwrap()
            .is_none()
    );
    let conversations = db.conversations().unwrap();
    assert_eq!(conversations.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(), ["g:g1", "u:bob"]);
    assert_eq!(conversations[0].title, "New name");
    assert_eq!(conversations[1].unread, 25);
    assert_eq!(conversations[1].last_preview, "number 24");
    // Pages: newest first by page, oldest first within a page.
    let page = db.messages(&cid("u:bob"), None, 10).unwrap();
    assert_eq!(page.first().unwrap().body, "number 15");
    assert_eq!(page.last().unwrap().body, "number 24");
    let older = db.messages(&cid("u:bob"), Some(page[0].id), 10).unwrap();
    assert_eq!(older.first().unwrap().body, "number 5");
    let oldest = db.messages(&cid("u:bob"), Some(older[0].id), 10).unwrap();
    assert_eq!(oldest.len(), 5);
    assert!(db.messages(&cid("u:bob"), Some(oldest[0].id), 10).unwrap().is_empty());
    // Forward pages (the window around a search hit): oldest first, other conversations apart.
    let after = db.messages_after(&cid("u:bob"), oldest[1].id, 3).unwrap();
    assert_eq!(after.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["number 2", "number 3", "number 4"]);
    let tail = db.messages_after(&cid("u:bob"), page[8].id, 10).unwrap();
    assert_eq!(tail.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["number 24"]);
    assert!(db.messages_after(&cid("u:bob"), page[9].id, 10).unwrap().is_empty());
    db.mark_read(&cid("u:bob")).unwrap();
    assert_eq!(db.conversation(&cid("u:bob")).unwrap().unwrap().unread, 0);
}

#[test]
fn messages_that_arrive_late_take_their_place_in_the_order() {
    let (_dir, mut store) = open();
    store
        .transaction(|db| {
            db.ensure_conversation(&cid("g:g1"), "g1")?;
            // Recent messages first, then older ones (a group's history read after a restore).
            for (i, ts) in [(0, 5000), (1, 6000), (2, 7000)] {
                let m = db
                    .insert_message(&NewMessage::received_text(
                        &cid("g:g1"),
                        &format!("new-{i}"),
                        "bob",
                        &format!("new {i}"),
                        ts,
                    ))?
                    .unwrap();
                db.touch_for(&m)?;
            }
            for (i, ts) in [(0, 1000), (1, 2000), (2, 3000)] {
                let m = db
                    .insert_message(&NewMessage::received_text(
                        &cid("g:g1"),
                        &format!("old-{i}"),
                        "bob",
                        &format!("old {i}"),
                        ts,
                    ))?
                    .unwrap();
                db.touch_for(&m)?;
            }
            // Our own message not yet taken by the server sorts by when it was written.
            let g1 = cid("g:g1");
            let mut queued = NewMessage::received_text(&g1, "queued", "alice", "queued", 8000);
            queued.server_ts = None;
            queued.outgoing = true;
            queued.status = MessageStatus::Queued;
            db.insert_message(&queued)?.unwrap();
            Ok(())
        })
        .unwrap();
    let db = store.db();
    let bodies = |page: &[Message]| page.iter().map(|m| m.body.clone()).collect::<Vec<_>>();
    let all = db.messages(&cid("g:g1"), None, 100).unwrap();
    assert_eq!(bodies(&all), ["old 0", "old 1", "old 2", "new 0", "new 1", "new 2", "queued"]);
    // Paging in both directions follows that order, from any message.
    let newest = db.messages(&cid("g:g1"), None, 3).unwrap();
    assert_eq!(bodies(&newest), ["new 1", "new 2", "queued"]);
    let older = db.messages(&cid("g:g1"), Some(newest[0].id), 3).unwrap();
    assert_eq!(bodies(&older), ["old 1", "old 2", "new 0"]);
    let after = db.messages_after(&cid("g:g1"), older[0].id, 3).unwrap();
    assert_eq!(bodies(&after), ["old 2", "new 0", "new 1"]);
    // The preview stays the newest message, not the last one stored.
    assert_eq!(db.conversation(&cid("g:g1")).unwrap().unwrap().last_preview, "new 2");
    // Pages are read from the index, whatever the history's size: no sort of the whole
    // conversation.
    let plan: Vec<String> = db
        .conn()
        .prepare(&format!(
            "EXPLAIN QUERY PLAN SELECT m.id FROM messages m WHERE m.conversation_id = ?1 AND ({ORDER_KEY}, m.id) < (?2, ?3)
             ORDER BY {ORDER_KEY} DESC, m.id DESC LIMIT 50"
        ))
        .unwrap()
        .query_map(params!["g:g1", 1, 1], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(plan.iter().any(|p| p.contains("messages_order")), "{plan:?}");
    assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
}

#[test]
fn search_is_full_text_newest_first_and_safe_with_any_input() {
    let (_dir, mut store) = open();
    store
        .transaction(|db| {
            db.ensure_conversation(&cid("u:bob"), "bob")?;
            db.insert_message(&NewMessage::received_text(
                &cid("u:bob"),
                "msg-0001",
                "bob",
                "Let's meet at the café tomorrow",
                1,
            ))?;
            db.insert_message(&NewMessage::received_text(&cid("u:bob"), "msg-0002", "bob", "the CAFE was closed", 2))?;
            db.insert_message(&NewMessage::received_text(
                &cid("u:bob"),
                "msg-0003",
                "bob",
                "something else entirely",
                3,
            ))?;
            Ok(())
        })
        .unwrap();
    let db = store.db();
    // Nothing is searchable before it is indexed; indexing is one statement for all new rows.
    assert!(db.search("cafe", 10).unwrap().is_empty());
    assert_eq!(db.index_pending().unwrap(), 3);
    assert_eq!(db.index_pending().unwrap(), 0);
    let hits = db.search("cafe", 10).unwrap();
    assert_eq!(hits.iter().map(|h| h.message.message_id.as_str()).collect::<Vec<_>>(), ["msg-0002", "msg-0001"]);
    assert!(hits[0].snippet.contains('\u{2}'));
    assert_eq!(db.search("tomor", 10).unwrap().len(), 1, "the last word is a prefix");
    assert_eq!(db.search("meet cafe", 10).unwrap().len(), 1, "every word must match");
    for hostile in ["\"", "NEAR(", "a OR", "*", "col:val", "'); DROP TABLE messages; --", ""] {
        db.search(hostile, 10).unwrap();
    }
    assert_eq!(db.search("meet", 1).unwrap().len(), 1);
    // Undecryptable and system lines are not searchable; a message decrypted later becomes so.
    let row = db
        .insert_message(&NewMessage {
            kind: MessageKind::Undecryptable,
            status: MessageStatus::Undecryptable,
            reason: Some(Undecryptable::MissingRoomKey.into()),
            body: "",
            ..NewMessage::received_text(&cid("u:bob"), "msg-0004", "bob", "", 4)
        })
        .unwrap()
        .unwrap();
    db.index_pending().unwrap();
    assert!(db.search("zebra", 10).unwrap().is_empty());
    db.set_decrypted(row.id, "a zebra appears").unwrap();
    assert_eq!(db.search("zebra", 10).unwrap().len(), 1, "decrypted below the watermark: indexed at once");
    // One decrypted above the watermark is picked up by the next batch.
    let later = db
        .insert_message(&NewMessage {
            kind: MessageKind::Undecryptable,
            status: MessageStatus::Undecryptable,
            reason: Some(Undecryptable::MissingRoomKey.into()),
            body: "",
            ..NewMessage::received_text(&cid("u:bob"), "msg-0005", "bob", "", 5)
        })
        .unwrap()
        .unwrap();
    db.set_decrypted(later.id, "another zebra").unwrap();
    assert_eq!(db.search("zebra", 10).unwrap().len(), 1);
    db.index_pending().unwrap();
    assert_eq!(db.search("zebra", 10).unwrap().len(), 2);
    assert_eq!(db.conversation(&cid("u:bob")).unwrap().unwrap().last_preview, "another zebra");
}

#[test]
fn outbox_backoff_and_wake() {
    let (_dir, store) = open();
    let db = store.db();
    db.enqueue("msg-0001", &cid("u:bob"), "hello", 1000).unwrap();
    db.enqueue("msg-0002", &cid("u:bob"), "world", 1001).unwrap();
    assert_eq!(db.due_outbox(1001).unwrap().len(), 2);
    db.outbox_retry_at("msg-0001", 60_000).unwrap();
    // The later send never overtakes the one waiting for its retry.
    assert!(db.due_outbox(2000).unwrap().is_empty());
    assert_eq!(db.next_outbox_due().unwrap(), Some(1001));
    let due = db.due_outbox(60_000).unwrap();
    assert_eq!(due.iter().map(|i| i.message_id.as_str()).collect::<Vec<_>>(), ["msg-0001", "msg-0002"]);
    db.set_outbox_request("msg-0002", Some("{}")).unwrap();
    db.remove_outbox("msg-0002").unwrap();
    assert_eq!(db.next_outbox_due().unwrap(), Some(60_000));
    db.outbox_wake(3000).unwrap();
    let due = db.due_outbox(3000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts, 1);
}

#[test]
fn sends_made_in_the_same_millisecond_leave_in_the_order_they_were_made() {
    let (_dir, store) = open();
    let db = store.db();
    // Ids in the opposite order of the sends, all at one millisecond, an action among them.
    db.enqueue("msg-zzzz", &cid("u:bob"), "first", 1000).unwrap();
    db.enqueue_action("msg-mmmm", &cid("u:bob"), "{}", 1000).unwrap();
    db.enqueue("msg-aaaa", &cid("u:bob"), "third", 1000).unwrap();
    let ids = |due: Vec<OutboxItem>| due.into_iter().map(|i| i.message_id).collect::<Vec<_>>();
    assert_eq!(ids(db.due_outbox(1000).unwrap()), ["msg-zzzz", "msg-mmmm", "msg-aaaa"]);
    // The second waits for a retry: the third waits with it.
    db.outbox_retry_at("msg-mmmm", 5000).unwrap();
    assert_eq!(ids(db.due_outbox(2000).unwrap()), ["msg-zzzz"]);
    // A row from before schema 16 (no queue number) comes first among its millisecond, as before.
    store.conn.execute("UPDATE outbox SET queued = NULL WHERE message_id = 'msg-aaaa'", []).unwrap();
    assert_eq!(ids(db.due_outbox(5000).unwrap()), ["msg-aaaa", "msg-zzzz", "msg-mmmm"]);
}

#[test]
fn a_wrong_key_or_a_newer_schema_is_refused_without_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.db");
    let key = ProfileKey::generate().unwrap();
    drop(Store::open(&path, &key, OpenMode::Create).unwrap());
    assert!(matches!(Store::open(&path, &key, OpenMode::Create), Err(Error::ProfileExists(_))));
    let before = std::fs::read(&path).unwrap();
    let other = ProfileKey::generate().unwrap();
    assert!(matches!(Store::open(&path, &other, OpenMode::Existing), Err(Error::DatabaseKey)));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    {
        let store = Store::open(&path, &key, OpenMode::Existing).unwrap();
        store.db().conn().pragma_update(None, "user_version", 99).unwrap();
    }
    assert!(matches!(Store::open(&path, &key, OpenMode::Existing), Err(Error::ProfileTooNew { found: 99, .. })));
    assert!(matches!(Store::open(&dir.path().join("missing.db"), &key, OpenMode::Existing), Err(Error::NoProfile(_))));
}

/// A profile of the release before identities (schema 5), with a pinned device and a contact
/// marked verified, opens and migrates: the device is kept, not confirmed until the directory
/// shows its user's identity; the mark stays; nothing is held.
#[test]
fn a_profile_from_before_identities_upgrades_and_keeps_its_trust_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.db");
    let key = ProfileKey::generate().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "key", key.sqlcipher_key().as_str()).unwrap();
        for sql in &super::MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 5;
             INSERT INTO devices (user_id, device_id, curve25519, ed25519, first_seen, active)
                VALUES ('bob', 'B1', 'curve', 'ed', 7, 1);
             INSERT INTO known_users (user_id, fetched_ts, verified) VALUES ('bob', 7, '123');",
        )
        .unwrap();
    }
    let store = Store::open(&path, &key, OpenMode::Existing).unwrap();
    let db = store.db();
    let bob = sotto_proto::UserId::parse("bob").unwrap();
    let devices = db.devices_of(&bob, Devices::IncludingRemoved).unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!((devices[0].curve25519.as_str(), devices[0].first_seen, devices[0].confirmed), ("curve", 7, false));
    assert_eq!(db.verified_number(&bob).unwrap().as_deref(), Some("123"));
    assert!(!db.is_held(&bob).unwrap());
    assert!(db.pinned_identity(&bob).unwrap().is_none());
    assert!(db.cross_signing().unwrap().is_none(), "the engine makes the identity at its first start");
}
