//! A hostile server: the tests stop the real server, edit its database directly (as whoever runs
//! it, or stole it, could), start it again, and check what the real clients do. The server may
//! relay, delay or drop, but what it changes on its own must put no key on a device that no user
//! confirmed, and must be visible to the people it concerns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashMap;

use sotto_core::bench::BenchGroupChange;
use sotto_core::{
    ClientEvent, ConversationId, ErrorCode, GroupWarning, KeyChange, MessageKind, MessageReason, ProfileChange,
};
use sotto_proto::{
    DeviceAddress, DeviceConfirmation, DeviceId, DeviceKeys, EntryBody, GroupId, GroupInfo, InboxEntry, KeyId,
    MembershipChange, MembershipEvent, MessageId, SignedKey, UserId, UserIdentity,
};
use sotto_tests::*;
use vodozemac::olm::{Account, OlmMessage, SessionConfig};
use vodozemac::{Curve25519PublicKey, Ed25519SecretKey};

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

/// A device the server makes up for a user: real keys (so it can be claimed and encrypted to),
/// whose private half the attacker holds.
struct Implant {
    address: DeviceAddress,
    account: Account,
}

impl Implant {
    fn new(user: &str, device: &str) -> Implant {
        let address = DeviceAddress { user_id: uid(user), device_id: DeviceId::parse(device).unwrap() };
        let mut account = Account::new();
        account.generate_one_time_keys(10);
        account.generate_fallback_key();
        Implant { address, account }
    }

    fn keys(&self) -> DeviceKeys {
        let mut keys = DeviceKeys {
            user_id: self.address.user_id.clone(),
            device_id: self.address.device_id.clone(),
            curve25519: self.account.curve25519_key().to_base64(),
            ed25519: self.account.ed25519_key().to_base64(),
            signature: String::new(),
        };
        keys.signature = self.account.sign(keys.signing_bytes()).to_base64();
        keys
    }

    /// Writes the device, its one-time keys and fallback key into the server's database, with
    /// `confirmation` (any text) as its confirmation.
    fn insert(&self, db: &rusqlite::Connection, confirmation: Option<&str>) {
        let keys = self.keys();
        db.execute(
            "INSERT INTO devices (user_id, device_id, name, created_ts, curve25519, ed25519, keys_signature, confirmation)
             VALUES (?1, ?2, 'laptop', 0, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                keys.user_id.as_str(),
                keys.device_id.as_str(),
                keys.curve25519,
                keys.ed25519,
                keys.signature,
                confirmation
            ],
        )
        .unwrap();
        let sign = |id: vodozemac::KeyId, key: Curve25519PublicKey| {
            let mut signed = SignedKey {
                key_id: KeyId::parse(id.to_base64()).unwrap(),
                key: key.to_base64(),
                signature: String::new(),
            };
            signed.signature = self.account.sign(signed.signing_bytes(&self.address)).to_base64();
            signed
        };
        for (id, key) in self.account.one_time_keys() {
            let k = sign(id, key);
            db.execute(
                "INSERT INTO one_time_keys (user_id, device_id, key_id, key, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    keys.user_id.as_str(),
                    keys.device_id.as_str(),
                    k.key_id.as_str(),
                    k.key,
                    k.signature
                ],
            )
            .unwrap();
        }
        let (id, key) = self.account.fallback_key().into_iter().next().unwrap();
        let k = sign(id, key);
        db.execute(
            "INSERT INTO fallback_keys (user_id, device_id, key_id, key, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![keys.user_id.as_str(), keys.device_id.as_str(), k.key_id.as_str(), k.key, k.signature],
        )
        .unwrap();
    }

    /// A message from this device to `to_device` (of a user whose devices hold keys in the
    /// database), as the server would store it: one of the recipient's one-time keys claimed, an
    /// Olm session made with it, `content` sealed in the payload envelope every client writes,
    /// and the ciphertext put in the recipient's inbox as `message_id`.
    fn send_olm(&self, db: &rusqlite::Connection, to_device: &str, message_id: &str, content: serde_json::Value) {
        let to_user: String =
            db.query_row("SELECT user_id FROM devices WHERE device_id = ?1", [to_device], |r| r.get(0)).unwrap();
        let (key_id, key): (String, String) = db
            .query_row(
                "SELECT key_id, key FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 LIMIT 1",
                [to_user.as_str(), to_device],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        db.execute(
            "DELETE FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 AND key_id = ?3",
            [to_user.as_str(), to_device, key_id.as_str()],
        )
        .unwrap();
        let (curve, ed): (String, String) = db
            .query_row(
                "SELECT curve25519, ed25519 FROM devices WHERE user_id = ?1 AND device_id = ?2",
                [to_user.as_str(), to_device],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let mut session = self
            .account
            .create_outbound_session(
                SessionConfig::version_1(),
                Curve25519PublicKey::from_base64(&curve).unwrap(),
                Curve25519PublicKey::from_base64(&key).unwrap(),
            )
            .unwrap();
        let plaintext = serde_json::json!({
            "v": 1,
            "sender": { "user_id": self.address.user_id.as_str(), "device_id": self.address.device_id.as_str() },
            "sender_ed25519": self.account.ed25519_key().to_base64(),
            "recipient": { "user_id": to_user, "device_id": to_device },
            "recipient_ed25519": ed,
            "content": content,
        });
        let (message_type, body) = session.encrypt(plaintext.to_string().as_bytes()).unwrap().to_parts();
        let envelope = serde_json::json!({
            "v": 1,
            "sender_key": self.account.curve25519_key().to_base64(),
            "type": message_type,
            "body": vodozemac::base64_encode(body),
        });
        let seq: i64 = db
            .query_row(
                "SELECT next_seq FROM devices WHERE user_id = ?1 AND device_id = ?2",
                [to_user.as_str(), to_device],
                |r| r.get(0),
            )
            .unwrap();
        db.execute(
            "INSERT INTO inbox (user_id, device_id, seq, message_id, sender_user, sender_device, server_ts, ciphertext)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 2, ?7)",
            rusqlite::params![
                to_user,
                to_device,
                seq,
                message_id,
                self.address.user_id.as_str(),
                self.address.device_id.as_str(),
                envelope.to_string()
            ],
        )
        .unwrap();
        db.execute(
            "UPDATE devices SET next_seq = ?3 WHERE user_id = ?1 AND device_id = ?2",
            rusqlite::params![to_user, to_device, seq + 1],
        )
        .unwrap();
    }

    /// Everything the server delivered to this device that its keys open, as plaintext JSON.
    fn read_inbox(&mut self, db: &rusqlite::Connection) -> Vec<serde_json::Value> {
        let mut stmt = db
            .prepare(
                "SELECT i.ciphertext, p.body FROM inbox i LEFT JOIN shared_payloads p ON p.id = i.payload_id
                 WHERE i.user_id = ?1 AND i.device_id = ?2 ORDER BY i.seq",
            )
            .unwrap();
        let rows: Vec<(Option<String>, Option<String>)> = stmt
            .query_map(rusqlite::params![self.address.user_id.as_str(), self.address.device_id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut sessions: HashMap<String, vodozemac::olm::Session> = HashMap::new();
        let mut opened = Vec::new();
        for (direct, _group) in rows {
            // Group bodies are Megolm: without a session key (never given) they open nothing.
            let Some(direct) = direct else { continue };
            let envelope: serde_json::Value = serde_json::from_str(&direct).unwrap();
            let sender = Curve25519PublicKey::from_base64(envelope["sender_key"].as_str().unwrap()).unwrap();
            let body = vodozemac::base64_decode(envelope["body"].as_str().unwrap()).unwrap();
            let message = OlmMessage::from_parts(envelope["type"].as_u64().unwrap() as usize, &body).unwrap();
            let plaintext = match (&message, sessions.get_mut(&sender.to_base64())) {
                (_, Some(session)) => session.decrypt(&message).unwrap(),
                (OlmMessage::PreKey(pre_key), None) => {
                    let created =
                        self.account.create_inbound_session(SessionConfig::version_1(), sender, pre_key).unwrap();
                    sessions.insert(sender.to_base64(), created.session);
                    created.plaintext
                }
                (OlmMessage::Normal(_), None) => panic!("a normal message before any session"),
            };
            opened.push(serde_json::from_slice(&plaintext).unwrap());
        }
        opened
    }
}

fn open_db(server: &Server) -> rusqlite::Connection {
    rusqlite::Connection::open(server.data_dir().join("sotto.db")).unwrap()
}

fn system_lines(client: &sotto_core::Client, conversation: &ConversationId) -> Vec<(Option<MessageReason>, String)> {
    client
        .messages(conversation, None, 100)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MessageKind::System)
        .map(|m| (m.reason, m.body))
        .collect()
}

/// The server adds a device with keys of its own to bob's account (and copies one of bob's
/// confirmations onto it). Nothing anyone sends afterwards — alice and carol to bob, in the
/// group, or bob himself — gives that device a message or a key; everyone who talks with bob
/// sees a device bob has not confirmed.
#[tokio::test]
async fn a_device_the_server_adds_gets_nothing_and_everyone_sees_it() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let group = alice.create_group("team", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    alice.send_text(&uid("bob"), "hello bob").await.unwrap();
    alice.send_group_text(&group, "hello team").await.unwrap();
    for c in [&bob, &carol] {
        c.sync().await.unwrap();
    }

    server.kill9();
    let mut implant = Implant::new("bob", "IMPLANT");
    {
        let db = open_db(&server);
        let borrowed: String = db
            .query_row("SELECT confirmation FROM devices WHERE user_id = 'bob' AND confirmation IS NOT NULL", [], |r| {
                r.get(0)
            })
            .unwrap();
        implant.insert(&db, Some(&borrowed));
    }
    server.restart().await;

    alice.send_text(&uid("bob"), "secret one-to-one").await.unwrap();
    alice.send_group_text(&group, "secret to the group").await.unwrap();
    carol.send_group_text(&group, "secret from carol").await.unwrap();
    bob.send_text(&uid("alice"), "secret from bob").await.unwrap();
    for c in [&alice, &bob, &carol] {
        c.sync().await.unwrap();
    }
    // Everyone still reads everything.
    let with_bob = ConversationId::Direct(uid("bob"));
    let team = ConversationId::Group(group.clone());
    assert_eq!(
        bodies(&bob, &ConversationId::Direct(uid("alice"))),
        ["hello bob", "secret one-to-one", "secret from bob"]
    );
    assert_eq!(bodies(&bob, &team), ["hello team", "secret to the group", "secret from carol"]);
    assert_eq!(bodies(&carol, &team), ["hello team", "secret to the group", "secret from carol"]);

    // The implant got only notices that something was withheld: no text, no group key (and for
    // bob's receipts, a content-free `session_renewed`).
    let opened = implant.read_inbox(&open_db(&server));
    assert!(!opened.is_empty(), "the senders did address the implant (the server insists)");
    for plaintext in &opened {
        let kind = plaintext["content"]["type"].as_str().unwrap();
        assert!(["withheld", "room_key_withheld", "session_renewed"].contains(&kind), "the implant got {kind}");
        assert!(!plaintext.to_string().contains("secret"), "{plaintext}");
    }

    // Everyone who talks with bob sees the device, not confirmed by bob.
    for (client, conversation) in [(&alice, &with_bob), (&alice, &team), (&carol, &team)] {
        let implant_listed = client.devices(&uid("bob")).unwrap();
        let listed = implant_listed.iter().find(|d| d.device_id == "IMPLANT").expect("the implant is listed");
        assert!(!listed.confirmed);
        let lines = system_lines(client, conversation);
        assert!(
            lines.iter().any(|(reason, body)| *reason == Some(MessageReason::from(KeyChange::UnconfirmedDevice))
                && body.contains("IMPLANT")),
            "{} in {conversation}: {lines:?}",
            client.user_id()
        );
    }
    // Bob too sees a device of his that he did not confirm.
    assert!(!bob.devices(&uid("bob")).unwrap().iter().find(|d| d.device_id == "IMPLANT").unwrap().confirmed);
}

/// The server swaps bob's identity for one whose master key it holds, and confirms its own
/// device with it. Alice, who verified bob, is told and her sends to bob are held; bob is told
/// that his account lists an identity that is not his; carol, who did not verify bob, is told
/// in the group.
#[tokio::test]
async fn an_identity_the_server_swaps_is_shown_and_holds_sending_to_a_verified_contact() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let group = alice.create_group("team", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    alice.send_text(&uid("bob"), "hello bob").await.unwrap();
    carol.send_group_text(&group, "hello team").await.unwrap();
    let number = alice.verification(&uid("bob")).await.unwrap().safety_number;
    alice.set_verified(&uid("bob"), Some(&number)).await.unwrap();

    server.kill9();
    let mut implant = Implant::new("bob", "IMPLANT");
    {
        let db = open_db(&server);
        let (master, self_signing, user_signing) =
            (Ed25519SecretKey::new(), Ed25519SecretKey::new(), Ed25519SecretKey::new());
        let mut forged = UserIdentity {
            user_id: uid("bob"),
            master_key: master.public_key().to_base64(),
            self_signing_key: self_signing.public_key().to_base64(),
            user_signing_key: user_signing.public_key().to_base64(),
            signature: String::new(),
        };
        forged.signature = master.sign(&forged.signing_bytes()).to_base64();
        db.execute(
            "UPDATE identities SET master_key = ?1, self_signing_key = ?2, user_signing_key = ?3, signature = ?4
             WHERE user_id = 'bob'",
            rusqlite::params![forged.master_key, forged.self_signing_key, forged.user_signing_key, forged.signature],
        )
        .unwrap();
        let confirmation = self_signing.sign(&DeviceConfirmation::signing_bytes(&implant.keys())).to_base64();
        implant.insert(&db, Some(&confirmation));
    }
    server.restart().await;

    let held = alice.send_text(&uid("bob"), "secret for verified bob").await.unwrap();
    assert_eq!(held.reason, Some(MessageReason::Failed(ErrorCode::IdentityChangedHeld)));
    assert!(alice.is_held(&uid("bob")).unwrap());
    let with_bob = ConversationId::Direct(uid("bob"));
    assert!(
        system_lines(&alice, &with_bob)
            .iter()
            .any(|(reason, _)| *reason == Some(MessageReason::from(KeyChange::MasterKeyChanged))),
        "{:?}",
        system_lines(&alice, &with_bob)
    );
    let verification = alice.verification(&uid("bob")).await.unwrap();
    assert!(!verification.verified && verification.changed_since_verified);
    // Held in the group too: alice's group key does not go to the devices of the new identity.
    alice.send_group_text(&group, "secret for the team").await.unwrap();
    let opened = implant.read_inbox(&open_db(&server));
    for plaintext in &opened {
        let kind = plaintext["content"]["type"].as_str().unwrap();
        assert!(["withheld", "room_key_withheld"].contains(&kind), "the implant got {kind} from alice");
    }
    // Bob's own device keeps his real identity, and he is told the server lists another one.
    let mut events = bob.subscribe();
    bob.sync().await.unwrap();
    let told = key_changes(&mut events);
    assert!(told.iter().any(|(user, change, _)| user == "bob" && *change == KeyChange::MasterKeyChanged), "{told:?}");
    assert!(!bob.devices(&uid("bob")).unwrap().iter().find(|d| d.device_id == "IMPLANT").unwrap().confirmed);
    // Carol never verified bob: she is told, in the one place she talks with him.
    carol.sync().await.unwrap();
    carol.send_group_text(&group, "carol again").await.unwrap();
    let team = ConversationId::Group(group.clone());
    assert!(
        system_lines(&carol, &team)
            .iter()
            .any(|(reason, _)| *reason == Some(MessageReason::from(KeyChange::MasterKeyChanged))),
        "{:?}",
        system_lines(&carol, &team)
    );
}

/// The server moves a message's time a month back: bob's app shows the time alice wrote it
/// (inside the ciphertext), one-to-one and in a group; the server's time only orders.
#[tokio::test]
async fn a_time_the_server_changes_is_not_the_time_shown() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let group = alice.create_group("pair", &[uid("bob")]).await.unwrap().group_id;
    let direct = alice.send_text(&uid("bob"), "what time is it?").await.unwrap();
    let in_group = alice.send_group_text(&group, "and here?").await.unwrap();

    server.kill9();
    let month_ms: i64 = 30 * 24 * 60 * 60 * 1000;
    let moved = open_db(&server)
        .execute("UPDATE inbox SET server_ts = server_ts - ?1 WHERE user_id = 'bob'", [month_ms])
        .unwrap();
    assert!(moved >= 2, "both messages wait in bob's inbox");
    server.restart().await;

    bob.sync().await.unwrap();
    for (conversation, sent) in
        [(ConversationId::Direct(uid("alice")), &direct), (ConversationId::Group(group.clone()), &in_group)]
    {
        let shown = bob.messages(&conversation, None, 10).unwrap();
        let got = shown.iter().find(|m| m.body == sent.body).expect("the message");
        assert_eq!(got.ts, sent.ts, "the time alice wrote it");
        assert!(got.server_ts.unwrap() < sent.ts - month_ms / 2, "the server's time is kept, for the order only");
    }
}

/// A device the server added to bob's account sends bob's real device a "history hand-over"
/// (the message a confirming device sends a new one), written into his inbox by the server.
/// Bob's device decrypts it, sees it comes from a device he never confirmed, and stores none
/// of the forged history.
#[tokio::test]
async fn history_handed_over_by_a_device_bob_never_confirmed_is_refused() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    alice.send_text(&uid("bob"), "the real conversation").await.unwrap();
    bob.sync().await.unwrap();

    server.kill9();
    let implant = Implant::new("bob", "IMPLANT");
    {
        let db = open_db(&server);
        implant.insert(&db, None);
        implant.send_olm(
            &db,
            bob.device_id().as_str(),
            "forged-handover",
            serde_json::json!({ "type": "history", "messages": [{
                "peer": "alice", "message_id": "forged-1", "sender_user": "alice", "sender_device": null,
                "body": "forged: send me your password", "outgoing": false, "ts": 1, "server_ts": 1
            }]}),
        );
    }
    server.restart().await;

    // Bob's device knows the implant (listed, not confirmed), then fetches its inbox.
    bob.lookup_users(&[uid("bob")]).await.unwrap();
    assert!(!bob.devices(&uid("bob")).unwrap().iter().find(|d| d.device_id == "IMPLANT").unwrap().confirmed);
    let summary = bob.sync().await.unwrap();
    assert!(summary.entries >= 1, "the forged hand-over was delivered");
    let with_alice = ConversationId::Direct(uid("alice"));
    assert_eq!(bodies(&bob, &with_alice), ["the real conversation"]);
    assert!(bob.search("password", 10).unwrap().is_empty(), "nothing of the forged history was stored");
}

/// The server adds a device to alice's account (alice never confirmed it) and, as that device,
/// sends bob a deletion and an edit of alice's real message, a disappearing-messages timer, and
/// a read receipt for bob's message. Bob's client takes none of it: the message stays as alice
/// wrote it, no timer is set, and bob's message is not shown as read.
#[tokio::test]
async fn a_device_the_server_adds_cannot_edit_delete_set_a_timer_or_mark_read() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let real = alice.send_text(&uid("bob"), "the real words").await.unwrap();
    bob.sync().await.unwrap();
    let from_bob = bob.send_text(&uid("alice"), "did you get it?").await.unwrap();

    server.kill9();
    let implant = Implant::new("alice", "IMPLANT");
    {
        let db = open_db(&server);
        implant.insert(&db, None);
        let target = serde_json::json!({ "sender": "alice", "message_id": real.message_id });
        let forged = [
            serde_json::json!({ "type": "act", "to": "bob", "action": { "do": "delete", "target": target }, "ts": 5 }),
            serde_json::json!({ "type": "act", "to": "bob",
                "action": { "do": "edit", "target": target, "body": "forged words" }, "ts": 6 }),
            serde_json::json!({ "type": "timer", "to": "bob", "seconds": 1, "ts": 7 }),
            serde_json::json!({ "type": "receipt", "to": "bob", "kind": "read", "message_ids": [from_bob.message_id], "ts": 8 }),
        ];
        for (i, content) in forged.into_iter().enumerate() {
            implant.send_olm(&db, bob.device_id().as_str(), &format!("forged-{i}"), content);
        }
    }
    server.restart().await;

    let summary = bob.sync().await.unwrap();
    assert!(summary.entries >= 4, "the forged actions were delivered");
    let with_alice = ConversationId::Direct(uid("alice"));
    let shown = bob.messages(&with_alice, None, 20).unwrap();
    let m = shown.iter().find(|m| m.message_id == real.message_id).unwrap();
    assert_eq!((m.body.as_str(), m.edited, m.deleted), ("the real words", false, false));
    assert!(bob.search("forged", 10).unwrap().is_empty());
    let conversation = bob.conversations().unwrap().into_iter().find(|c| c.id == with_alice).unwrap();
    assert_eq!(conversation.disappear_secs, None, "no timer from a device alice never confirmed");
    assert!(shown.iter().all(|m| m.kind != MessageKind::System || !m.body.contains("disappear")));
    let own = shown.iter().find(|m| m.message_id == from_bob.message_id).unwrap();
    assert!(own.receipts.as_ref().unwrap().read.is_empty(), "not read by a device alice never confirmed");
}

fn warnings(client: &sotto_core::Client, group: &GroupId, kind: GroupWarning) -> Vec<String> {
    system_lines(client, &ConversationId::Group(group.clone()))
        .into_iter()
        .filter(|(reason, _)| *reason == Some(MessageReason::from(kind)))
        .map(|(_, body)| body)
        .collect()
}

fn members(client: &sotto_core::Client, group: &GroupId) -> Vec<String> {
    client.group(group).unwrap().unwrap().members.iter().map(|m| m.user_id.to_string()).collect()
}

/// The server puts mallory (a real account, its accomplice) into alice's group on its own. The
/// members' sends still reach each other; mallory gets the ciphertexts but never a key; every
/// member is told that the server lists someone no member added.
#[tokio::test]
async fn a_member_the_server_adds_gets_no_key_and_every_member_sees_it() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, mallory] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "mallory"]).await;
    let group = alice.create_group("team", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    alice.send_group_text(&group, "hello team").await.unwrap();
    for c in [&bob, &carol] {
        c.sync().await.unwrap();
    }

    server.kill9();
    open_db(&server)
        .execute(
            "INSERT INTO group_members (group_id, user_id, role) VALUES (?1, 'mallory', 'admin')",
            [group.as_str()],
        )
        .unwrap();
    server.restart().await;

    alice.send_group_text(&group, "secret to the group").await.unwrap();
    bob.sync().await.unwrap();
    carol.send_group_text(&group, "secret from carol").await.unwrap();
    for c in [&alice, &bob, &carol, &mallory] {
        c.sync().await.unwrap();
    }
    let team = ConversationId::Group(group.clone());
    for c in [&bob, &carol] {
        assert_eq!(bodies(c, &team), ["hello team", "secret to the group", "secret from carol"], "{}", c.user_id());
    }
    assert_eq!(bodies(&alice, &team), ["hello team", "secret to the group", "secret from carol"]);
    // Mallory was sent the group's ciphertexts (the server routes by its own list) and can read
    // none of them.
    assert!(bodies(&mallory, &team).is_empty());
    assert!(!undecryptable(&mallory).is_empty(), "the server did route the group's messages to mallory");
    // Bob only reads: he is told when he looks at the group (as the app does when its details are
    // opened), or within a minute of the next message.
    bob.fetch_groups().await.unwrap();
    for c in [&alice, &bob, &carol] {
        assert_eq!(members(c, &group), ["alice", "bob", "carol"], "{}", c.user_id());
        let seen = warnings(c, &group, GroupWarning::MembersDisagree);
        assert!(seen.iter().any(|w| w.contains("mallory")), "{}: {seen:?}", c.user_id());
    }
    // And mallory, listed as an admin by the server, cannot sign a change the server accepts in
    // anyone's name: her own additions are hers, and the members refuse them.
    assert_eq!(mallory.add_members(&group, &[uid("mallory")]).await.unwrap_err().code(), ErrorCode::NotMember);
}

/// On a server as shipped, carol is only invited; the server makes her a member on its own (its
/// database edited, her invitation turned into a membership). She gets the group's ciphertexts
/// and reads none of them, the members are told, and her own device still shows an invitation.
#[tokio::test]
async fn an_invitation_the_server_turns_into_a_membership_gives_no_key() {
    let mut server = Server::start_as_shipped().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    bob.send_text(&uid("alice"), "add me").await.unwrap();
    alice.sync().await.unwrap();
    let info = alice.create_group("team", &[uid("bob"), uid("carol")]).await.unwrap();
    assert_eq!(info.invited, [uid("carol")]);
    let group = info.group_id;

    server.kill9();
    let db = open_db(&server);
    db.execute("DELETE FROM group_invites WHERE group_id = ?1 AND user_id = 'carol'", [group.as_str()]).unwrap();
    db.execute("INSERT INTO group_members (group_id, user_id, role) VALUES (?1, 'carol', 'member')", [group.as_str()])
        .unwrap();
    drop(db);
    server.restart().await;

    alice.send_group_text(&group, "members only").await.unwrap();
    for c in [&bob, &carol] {
        c.sync().await.unwrap();
    }
    let team = ConversationId::Group(group.clone());
    assert_eq!(bodies(&bob, &team), ["members only"]);
    assert!(bodies(&carol, &team).is_empty(), "carol read the group's message");
    assert!(!undecryptable(&carol).is_empty(), "the server did route the group's message to carol");
    // Her device goes by the signed changes: still an invitation to answer, not a membership.
    assert_eq!(carol.invitations().unwrap().len(), 1);
    assert_eq!(carol.send_group_text(&group, "am I in?").await.unwrap_err().code(), ErrorCode::NotMember);
    for c in [&alice, &bob] {
        c.fetch_groups().await.unwrap();
        assert_eq!(members(c, &group), ["alice", "bob"], "{}", c.user_id());
        let seen = warnings(c, &group, GroupWarning::MembersDisagree);
        assert!(seen.iter().any(|w| w.contains("carol")), "{}: {seen:?}", c.user_id());
    }
}

/// The server edits the group's log: an entry whose action was changed after alice signed it
/// (adding mallory), and a membership event no member signed. Both are refused and shown; the
/// members stay as their signed changes make them and the group goes on.
#[tokio::test]
async fn changes_the_server_forges_are_refused_and_shown() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, _mallory] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "mallory"]).await;
    let group = alice.create_group("team", &[uid("bob")]).await.unwrap().group_id;
    alice.add_members(&group, &[uid("carol")]).await.unwrap();
    for c in [&bob, &carol] {
        c.sync().await.unwrap();
    }

    server.kill9();
    {
        let db = open_db(&server);
        // Alice's real change 2 ("add carol"), its action rewritten to add mallory instead, under
        // alice's signature, as change 3 after change 2.
        let (change, signature): (String, String) = db
            .query_row(
                "SELECT change, signature FROM group_log WHERE group_id = ?1 AND seq = 2",
                [group.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let hash2: String = db
            .query_row("SELECT hash FROM group_log WHERE group_id = ?1 AND seq = 2", [group.as_str()], |r| r.get(0))
            .unwrap();
        let mut forged: serde_json::Value = serde_json::from_str(&change).unwrap();
        forged["seq"] = 3.into();
        forged["prev"] = hash2.into();
        forged["action"] = serde_json::json!({"type": "add", "users": ["mallory"]});
        db.execute(
            "INSERT INTO group_log (group_id, seq, hash, change, signature) VALUES (?1, 3, 'forged', ?2, ?3)",
            rusqlite::params![group.as_str(), forged.to_string(), signature],
        )
        .unwrap();
        db.execute("UPDATE groups SET version = 3 WHERE group_id = ?1", [group.as_str()]).unwrap();
        db.execute(
            "INSERT INTO group_members (group_id, user_id, role) VALUES (?1, 'mallory', 'member')",
            [group.as_str()],
        )
        .unwrap();
    }
    server.restart().await;

    // Alice's send reads the log first: the forged entry is refused, the send goes to the members.
    alice.send_group_text(&group, "still just us").await.unwrap();
    for c in [&bob, &carol] {
        c.sync().await.unwrap();
        assert_eq!(bodies(c, &ConversationId::Group(group.clone())), ["still just us"], "{}", c.user_id());
    }
    for c in [&alice, &bob, &carol] {
        assert_eq!(members(c, &group), ["alice", "bob", "carol"], "{}", c.user_id());
    }
    let refused = warnings(&alice, &group, GroupWarning::ChangeRefused);
    assert!(refused.iter().any(|w| w.contains("not signed by a device alice confirmed")), "{refused:?}");

    // A membership event no member signed, as the server would put it in bob's inbox.
    let forged = InboxEntry {
        seq: 1_000,
        message_id: MessageId::parse("forged-membership-1").unwrap(),
        sender_user: uid("alice"),
        sender_device: None,
        server_ts: 1,
        body: EntryBody::Membership(Box::new(MembershipEvent {
            group_id: group.clone(),
            change: MembershipChange::Added,
            actor: uid("bob"),
            users: vec![uid("mallory")],
            group: GroupInfo {
                group_id: group.clone(),
                name: "team".into(),
                version: 9,
                created_ts: 0,
                members: vec![],
                invited: vec![],
            },
            signed: None,
        })),
    };
    bob.bench_receive(&[forged]).await.unwrap();
    let unsigned = warnings(&bob, &group, GroupWarning::UnsignedChange);
    assert!(unsigned.iter().any(|w| w.contains("that bob added mallory")), "{unsigned:?}");
    assert_eq!(members(&bob, &group), ["alice", "bob", "carol"]);
    assert!(
        !system_lines(&bob, &ConversationId::Group(group.clone())).iter().any(|(_, b)| b.contains("added mallory.")),
        "the made-up change is not shown as if it happened"
    );
}

/// Alice removes carol; the server keeps the removal from bob (deletes it from his inbox and
/// from the log, and keeps carol listed). Bob's next message from alice names a change he does
/// not have, and he is told that the server is hiding one.
#[tokio::test]
async fn a_removal_the_server_hides_from_a_member_is_noticed() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let group = alice.create_group("team", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    alice.send_group_text(&group, "hello team").await.unwrap();
    for c in [&bob, &carol] {
        c.sync().await.unwrap();
    }
    alice.remove_member(&group, &uid("carol")).await.unwrap();

    server.kill9();
    {
        let db = open_db(&server);
        db.execute(
            "DELETE FROM inbox WHERE user_id = 'bob' AND payload_id IN
                (SELECT id FROM shared_payloads WHERE body LIKE '%\"membership\"%')",
            [],
        )
        .unwrap();
        db.execute("DELETE FROM group_log WHERE group_id = ?1 AND seq = 2", [group.as_str()]).unwrap();
        db.execute("UPDATE groups SET version = 1 WHERE group_id = ?1", [group.as_str()]).unwrap();
        db.execute(
            "INSERT INTO group_members (group_id, user_id, role) VALUES (?1, 'carol', 'member')",
            [group.as_str()],
        )
        .unwrap();
    }
    server.restart().await;

    alice.send_group_text(&group, "carol is gone").await.unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();
    let team = ConversationId::Group(group.clone());
    assert_eq!(bodies(&bob, &team), ["hello team", "carol is gone"]);
    assert_eq!(bodies(&carol, &team), ["hello team"], "the removed member reads nothing sent after");
    let withheld = warnings(&bob, &group, GroupWarning::ChangesWithheld);
    assert!(withheld.iter().any(|w| w.contains("alice's message refers to change 2")), "{withheld:?}");
    // Alice is told that the server still lists carol.
    let disagree = warnings(&alice, &group, GroupWarning::MembersDisagree);
    assert!(disagree.iter().any(|w| w.contains("carol")), "{disagree:?}");
}

/// The server shows members different versions of the group (a fork): carol has alice's change 2
/// (adding dave); the server then drops it and takes bob's change 2 (adding erin) instead. Bob's
/// next message names his change 2, which differs from carol's, and carol is told.
#[tokio::test]
async fn a_fork_of_the_group_is_seen_by_the_members_shown_different_changes() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, _dave, _erin] =
        register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave", "erin"]).await;
    let group = alice.create_group("team", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    alice.set_role(&group, &uid("bob"), sotto_proto::Role::Admin).await.unwrap();
    bob.sync().await.unwrap();
    alice.add_members(&group, &[uid("dave")]).await.unwrap();
    carol.sync().await.unwrap();
    assert_eq!(members(&carol, &group), ["alice", "bob", "carol", "dave"]);

    server.kill9();
    {
        let db = open_db(&server);
        db.execute("DELETE FROM group_log WHERE group_id = ?1 AND seq = 3", [group.as_str()]).unwrap();
        db.execute("UPDATE groups SET version = 2 WHERE group_id = ?1", [group.as_str()]).unwrap();
        db.execute("DELETE FROM group_members WHERE group_id = ?1 AND user_id = 'dave'", [group.as_str()]).unwrap();
        db.execute("DELETE FROM inbox WHERE user_id = 'bob'", []).unwrap();
    }
    server.restart().await;

    bob.add_members(&group, &[uid("erin")]).await.unwrap();
    assert_eq!(members(&bob, &group), ["alice", "bob", "carol", "erin"]);
    bob.send_group_text(&group, "welcome erin").await.unwrap();
    carol.sync().await.unwrap();
    assert_eq!(bodies(&carol, &ConversationId::Group(group.clone())), ["welcome erin"]);
    let forked = warnings(&carol, &group, GroupWarning::Forked);
    assert!(
        forked.iter().any(|w| w.contains("bob's copy of this group's changes differs from yours at change 3")),
        "{forked:?}"
    );
    // Carol's members stay as her own verified changes make them.
    assert_eq!(members(&carol, &group), ["alice", "bob", "carol", "dave"]);
}

/// A group made before changes were signed (as the previous release left it on the server: rows,
/// no log) goes on: the first member to use it signs its member list, once, and the others check
/// that signature and take the list from it.
#[tokio::test]
async fn a_group_from_before_signed_changes_is_signed_once_and_goes_on() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    server.kill9();
    open_db(&server)
        .execute_batch(
            "INSERT INTO groups (group_id, name, version, created_ts) VALUES ('old-group', 'old times', 3, 1);
             INSERT INTO group_members VALUES ('old-group', 'alice', 'owner'), ('old-group', 'bob', 'member');
             INSERT INTO group_membership_periods (group_id, user_id, from_seq, to_seq)
                 SELECT group_id, user_id, 1, NULL FROM group_members WHERE group_id = 'old-group';",
        )
        .unwrap();
    server.restart().await;
    let group = GroupId::parse("old-group").unwrap();

    let listed = bob.fetch_groups().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].signed);
    assert_eq!((listed[0].name.as_str(), listed[0].version), ("old times", 4));
    let adopted = warnings(&bob, &group, GroupWarning::ListAdopted);
    assert!(adopted.iter().any(|w| w.starts_with("You signed this group's member list (alice, you)")), "{adopted:?}");

    alice.send_group_text(&group, "still here").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &ConversationId::Group(group.clone())), ["still here"]);
    assert_eq!(members(&alice, &group), ["alice", "bob"]);
    let adopted = warnings(&alice, &group, GroupWarning::ListAdopted);
    assert!(adopted.iter().any(|w| w.starts_with("bob signed this group's member list (you, bob)")), "{adopted:?}");
    assert!(alice.group(&group).unwrap().unwrap().signed);
}

/// A group's name is sealed by its creator: the server stores and relays only ciphertext, and
/// the members' devices open it with the key that came with the group's Megolm key.
#[tokio::test]
async fn the_server_stores_only_ciphertext_for_a_groups_name() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let group = alice.create_group("Surprise party for carol", &[uid("bob")]).await.unwrap();
    assert_eq!(group.name, "Surprise party for carol");
    bob.sync().await.unwrap();
    // Bob reads the name before anyone wrote a message: the key came with the group's creation.
    assert_eq!(bob.group(&group.group_id).unwrap().unwrap().name, "Surprise party for carol");
    let titles: Vec<String> = bob.conversations().unwrap().into_iter().map(|c| c.title).collect();
    assert_eq!(titles, ["Surprise party for carol"]);
    let lines = system_lines(&bob, &ConversationId::Group(group.group_id.clone()));
    assert!(lines.iter().any(|(_, b)| b == "alice created the group."), "{lines:?}");

    // Nowhere in the server's database, nor in what it answers.
    let found = files_containing(&server.data_dir(), &["Surprise", "party for carol"]);
    assert!(found.is_empty(), "{found:?}");
    let listed = alice.fetch_groups().await.unwrap();
    assert_eq!(listed[0].name, "Surprise party for carol");
}

/// The server hands a new member the group's changes out of order (it swapped two in its log).
/// Nothing after the swap is applied, the new member is told that changes could not be checked,
/// and the members who had the changes in order are not affected.
#[tokio::test]
async fn changes_the_server_reorders_are_not_applied_and_shown() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, dave] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    let group = alice.create_group("team", &[uid("bob")]).await.unwrap().group_id;
    alice.add_members(&group, &[uid("carol")]).await.unwrap();
    alice.set_role(&group, &uid("bob"), sotto_proto::Role::Admin).await.unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();
    bob.add_members(&group, &[uid("dave")]).await.unwrap();

    server.kill9();
    {
        let db = open_db(&server);
        let row = |seq: i64| -> (String, String, String) {
            db.query_row(
                "SELECT hash, change, signature FROM group_log WHERE group_id = ?1 AND seq = ?2",
                rusqlite::params![group.as_str(), seq],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        let (two, three) = (row(2), row(3));
        for (seq, (hash, change, signature)) in [(2, three), (3, two)] {
            db.execute(
                "UPDATE group_log SET hash = ?3, change = ?4, signature = ?5 WHERE group_id = ?1 AND seq = ?2",
                rusqlite::params![group.as_str(), seq, hash, change, signature],
            )
            .unwrap();
        }
    }
    server.restart().await;

    dave.sync().await.unwrap();
    let withheld = warnings(&dave, &group, GroupWarning::ChangesWithheld);
    assert!(withheld.iter().any(|w| w.contains("could not be checked")), "{withheld:?}");
    // Dave applied only what he could check: the group's creation.
    let seen = dave.group(&group).unwrap().unwrap();
    assert_eq!((seen.version, seen.member_ids()), (1, vec![uid("alice"), uid("bob")]));
    // The others had the changes in order from their inboxes and go on.
    alice.sync().await.unwrap();
    carol.sync().await.unwrap();
    for c in [&alice, &bob, &carol] {
        assert_eq!(members(c, &group), ["alice", "bob", "carol", "dave"], "{}", c.user_id());
    }
    // When the server's last entry is not the one they have, a change from one of them is not
    // made, and says why, instead of trying again and again.
    server.kill9();
    open_db(&server)
        .execute("UPDATE group_log SET hash = 'tampered' WHERE group_id = ?1 AND seq = 4", [group.as_str()])
        .unwrap();
    server.restart().await;
    let err = alice.remove_member(&group, &uid("dave")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::StaleVersion);
    assert!(err.to_string().contains("differs from this device's"), "{err}");
    let forked = warnings(&alice, &group, GroupWarning::Forked);
    assert!(forked.iter().any(|w| w.contains("The server's copy of this group's changes differs")), "{forked:?}");
}

/// A hostile sender (here a device the server made up for mallory's account) sends alice a file
/// message built to hurt: a name that is a path with a control character, a media type with a
/// header injected, a "thumbnail" that is no image, and the blob of a file someone else sent her
/// under a key that is not its own. Alice's client shows a plain name, a neutral type and no
/// preview, marks it as from an unconfirmed device, and refuses the bytes: nothing is written,
/// nothing counts as downloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_message_built_to_hurt_is_shown_harmless_and_its_bytes_refused() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, _mallory] = register_all(&server, dirs.path(), ["alice", "bob", "mallory"]).await;
    let work = tempfile::tempdir().unwrap();
    // A real file bob sent alice: its blob is one alice may fetch.
    let real = work.path().join("real.txt");
    std::fs::write(&real, tagged_bytes(100_000, "bobs-file")).unwrap();
    bob.send_file(&uid("alice"), &real, "").await.unwrap();
    alice.set_auto_download_limit(0).unwrap();
    alice.sync().await.unwrap();
    let blob =
        std::fs::read_dir(server.data_dir().join("blobs")).unwrap().flatten().find(|e| e.path().is_file()).unwrap();
    let blob_id = blob.file_name().to_string_lossy().into_owned();
    let blob_len = blob.metadata().unwrap().len();
    // A key of the right format for another file, claiming the blob's size.
    let mut key = sotto_core::attachment::encrypt(&b"something else"[..], std::io::sink(), |_| {}).unwrap();
    key.encrypted_size = blob_len;
    key.size = blob_len - 16 * blob_len.div_ceil(64 * 1024 + 16);

    server.kill9();
    let implant = Implant::new("mallory", "IMPLANT");
    {
        let db = open_db(&server);
        implant.insert(&db, None);
        implant.send_olm(
            &db,
            alice.device_id().as_str(),
            "hostile-file",
            serde_json::json!({ "type": "file", "to": "alice", "ts": 1, "file": {
                "blob_id": blob_id,
                "key": key,
                "name": "../../.bashrc\u{0}x",
                "mime": "text/html\r\nX-Injected: 1",
                "caption": "open me",
                "preview": { "width": 100, "height": 100, "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
                             "thumbnail": "PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+" }
            }}),
        );
    }
    server.restart().await;

    alice.sync().await.unwrap();
    let from_mallory = ConversationId::Direct(uid("mallory"));
    let got = alice.messages(&from_mallory, None, 10).unwrap().pop().expect("the message is shown");
    assert_eq!((got.kind, got.body.as_str()), (MessageKind::File, "open me"));
    assert_eq!(got.reason, Some(MessageReason::KeyChange(KeyChange::UnconfirmedDevice)));
    let file = got.file.as_ref().unwrap();
    assert_eq!(file.name, "bashrcx", "a name, never a path");
    assert_eq!(file.mime, "application/octet-stream");
    assert!(file.image.is_none(), "a thumbnail that is no image is dropped");
    assert_eq!(alice.thumbnail(got.id).unwrap(), None);
    // The bytes: bob's ciphertext, which this key does not describe.
    assert_eq!(alice.download(got.id).await.unwrap_err().code(), ErrorCode::FileDamaged);
    let dest = work.path().join("bashrcx");
    assert_eq!(alice.save_file(got.id, &dest).await.unwrap_err().code(), ErrorCode::FileDamaged);
    assert!(!dest.exists());
    let after = alice.messages(&from_mallory, None, 10).unwrap().pop().unwrap();
    assert_eq!(after.file.unwrap().state, sotto_core::FileState::Remote, "never shown as downloaded");
    // Bob's own file, from the same blob, still opens with its own key.
    let from_bob = alice.messages(&ConversationId::Direct(uid("bob")), None, 10).unwrap().pop().unwrap();
    alice.save_file(from_bob.id, &work.path().join("real-saved.txt")).await.unwrap();
    assert_eq!(std::fs::read(work.path().join("real-saved.txt")).unwrap(), std::fs::read(&real).unwrap());
}

fn profile_name(client: &sotto_core::Client, user: &str) -> Option<String> {
    client.profile(&uid(user)).unwrap().and_then(|p| p.name)
}

/// The server keeps profiles as ciphertext under a key it never sees: it can neither read one,
/// nor serve an older one in place of the newest, nor pass another user's off as someone's;
/// and it gives a profile only to people who share a conversation with its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_cannot_read_roll_back_or_swap_a_profile() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let named = |name: &str| ProfileChange { name: Some(name.to_owned()), avatar: None };
    alice.set_profile(named("Alice one")).await.unwrap();
    alice.send_text(&uid("bob"), "hi").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(profile_name(&bob, "alice").as_deref(), Some("Alice one"));
    let sealed = |server: &Server, user: &str| -> Vec<u8> {
        open_db(server).query_row("SELECT ciphertext FROM profiles WHERE user_id = ?1", [user], |r| r.get(0)).unwrap()
    };
    let first = sealed(&server, "alice");
    assert!(!String::from_utf8_lossy(&first).contains("Alice one"));
    alice.set_profile(named("Alice two")).await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(profile_name(&bob, "alice").as_deref(), Some("Alice two"));

    // Alice changes it again; the server serves her first profile instead: refused.
    alice.set_profile(named("Alice three")).await.unwrap();
    let replace = |server: &mut Server, user: &str, ciphertext: &[u8]| {
        server.kill9();
        open_db(server).execute("UPDATE profiles SET ciphertext = ?2 WHERE user_id = ?1", (user, ciphertext)).unwrap();
    };
    replace(&mut server, "alice", &first);
    server.restart().await;
    bob.sync().await.unwrap();
    assert_eq!(profile_name(&bob, "alice").as_deref(), Some("Alice two"), "an older profile is not taken");

    // Carol's profile (sealed under her key, for her) passed off as Alice's, then plain garbage.
    carol.set_profile(named("Alice four")).await.unwrap();
    alice.set_profile(named("Alice four")).await.unwrap();
    let carols = sealed(&server, "carol");
    replace(&mut server, "alice", &carols);
    server.restart().await;
    bob.sync().await.unwrap();
    assert_eq!(profile_name(&bob, "alice").as_deref(), Some("Alice two"), "another user's profile is not taken");
    alice.set_profile(named("Alice five")).await.unwrap();
    replace(&mut server, "alice", b"AAAAnot-a-profileAAAA");
    server.restart().await;
    bob.sync().await.unwrap();
    assert_eq!(profile_name(&bob, "alice").as_deref(), Some("Alice two"));
    // Left alone, the next change arrives.
    alice.set_profile(named("Alice six")).await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(profile_name(&bob, "alice").as_deref(), Some("Alice six"));

    // Someone who shares no conversation with Alice gets nothing, not even that she has one.
    let stranger = Tap::login(&server, "carol").await;
    let (status, body) = stranger.get("/v1/users/alice/profile").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let contact = Tap::login(&server, "bob").await;
    assert_eq!(contact.get("/v1/users/alice/profile").await.0, 200);
}

/// Typing notices are sealed under the sender's profile key: a modified client's notice in the
/// clear (as they went before), or sealed under another key, shows nothing; a real one shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_notices_that_do_not_open_show_nothing() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    alice.send_text(&uid("bob"), "hi").await.unwrap();
    let mut events = bob.subscribe();
    start_online(&bob).await;
    start_online(&alice).await;
    eventually("bob has alice's key", || bob.profile(&uid("alice")).unwrap()).await;
    // Another device of alice's, run by a modified client, sends notices of its own making.
    let modified = Tap::login(&server, "alice").await;
    let to_bob = serde_json::json!({ "type": "user", "user_id": "bob" });
    let clear = serde_json::json!({ "v": 1, "type": "typing", "typing": true }).to_string();
    let other_key =
        serde_json::json!({ "v": 2, "sealed": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })
            .to_string();
    let frames: Vec<serde_json::Value> = [clear, other_key]
        .into_iter()
        .map(|body| serde_json::json!({ "type": "ephemeral", "to": to_bob, "body": body }))
        .collect();
    modified.send_frames(&frames).await;
    // Then the real one (to know the others had their chance to arrive first).
    let to_alice = ConversationId::Direct(uid("alice"));
    assert!(alice.send_typing(&ConversationId::Direct(uid("bob")), true).unwrap());
    let shown = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut shown = Vec::new();
        loop {
            if let ClientEvent::Typing { conversation_id, user_id, typing } = events.recv().await.unwrap() {
                shown.push((conversation_id, user_id, typing));
                return shown;
            }
        }
    })
    .await
    .expect("the real notice");
    assert_eq!(shown, [(to_alice, "alice".to_owned(), true)], "only the real notice shows");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    while let Ok(event) = events.try_recv() {
        assert!(!matches!(event, ClientEvent::Typing { .. }), "a forged notice showed: {event:?}");
    }
    alice.shutdown();
    bob.shutdown();
}

/// Carol, removed from a group, keeps the key she sent with. Her modified client, helped by the
/// server (which lists her as a member again), sends a timer change, a reaction and a new
/// profile key of hers to the group. The members can decrypt them (her key was theirs to
/// read) and apply none: only members (as the signed changes make them) act in a group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_the_server_lets_back_in_cannot_set_a_timer_react_or_give_a_key() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let group = alice.create_group("team", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let team = ConversationId::Group(group.clone());
    let hello = alice.send_group_text(&group, "hello").await.unwrap();
    carol.sync().await.unwrap();
    carol.send_group_text(&group, "hi from carol").await.unwrap();
    for c in [&alice, &bob] {
        c.sync().await.unwrap();
    }
    let key_before = alice.profile(&uid("carol")).unwrap().expect("carol's key came with her message").version;
    alice.remove_member(&group, &uid("carol")).await.unwrap();
    bob.sync().await.unwrap();

    // Carol's client is not told (it does not sync) and prepares its changes with her old key.
    let hello_on_carol =
        carol.messages(&team, None, 10).unwrap().into_iter().find(|m| m.message_id == hello.message_id).unwrap();
    let forged_version = 4_000_000_000_000;
    let key = sotto_core::bench::new_profile_key().unwrap().to_string();
    for change in [
        BenchGroupChange::Timer(Some(60)),
        BenchGroupChange::React { target_row: hello_on_carol.id, emoji: "😈".into() },
        BenchGroupChange::ProfileKey { key, version: forged_version },
    ] {
        carol.bench_prepare_group_change(&group, change).unwrap();
    }
    server.kill9();
    open_db(&server)
        .execute("INSERT INTO group_members (group_id, user_id, role) VALUES (?1, 'carol', 'member')", [group.as_str()])
        .unwrap();
    server.restart().await;
    carol.flush_outbox().await;
    let failed: Vec<String> = carol
        .messages(&team, None, 50)
        .unwrap()
        .into_iter()
        .filter(|m| m.body.contains("could not be sent"))
        .map(|m| m.body)
        .collect();
    assert!(failed.is_empty(), "the server took all three: {failed:?}");

    for c in [&alice, &bob] {
        c.sync().await.unwrap();
        let name = c.user_id().to_string();
        assert_eq!(c.conversations().unwrap().iter().find(|x| x.id == team).unwrap().disappear_secs, None, "{name}");
        let on_c = c.messages(&team, None, 50).unwrap().into_iter().find(|m| m.message_id == hello.message_id).unwrap();
        assert!(on_c.reactions.is_empty(), "{name}: {:?}", on_c.reactions);
        let held = c.profile(&uid("carol")).unwrap().unwrap().version;
        assert!(held != forged_version && held == key_before, "{name}: carol's key was replaced ({held})");
        assert!(undecryptable(c).is_empty(), "{name}: they did decrypt (her key was theirs)");
    }
}
