//! Groups: creation, fan-out, membership changes with their events, and the role rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::json;
use sotto_proto::{
    EntryBody, GroupHistoryPage, GroupInfo, GroupList, GroupMember, InboxEntry, MembershipChange, MembershipEvent,
    Role, SendReceipt,
};

/// Everything in the device's inbox, then acks it all.
async fn take(c: &Client) -> Vec<InboxEntry> {
    let entries = c.inbox_all().await;
    if let Some(last) = entries.last() {
        c.ack(last.seq).await;
    }
    entries
}

/// The membership events in the device's inbox (acking everything); panics on other entries.
async fn take_events(c: &Client) -> Vec<MembershipEvent> {
    take(c)
        .await
        .into_iter()
        .map(|e| match e.body {
            EntryBody::Membership(ev) => ev,
            other => panic!("expected a membership entry, got {other:?}"),
        })
        .collect()
}

/// Asserts each of `clients` got exactly one event, equal for all, and returns it.
async fn one_event_each(clients: &[&Client]) -> MembershipEvent {
    let mut first: Option<MembershipEvent> = None;
    for c in clients {
        let events = take_events(c).await;
        assert_eq!(events.len(), 1, "{} / {}: {events:?}", c.user(), c.device());
        match &first {
            None => first = Some(events[0].clone()),
            Some(f) => assert_eq!(&events[0], f),
        }
    }
    first.unwrap()
}

async fn assert_no_entries(clients: &[&Client]) {
    for c in clients {
        let entries = c.inbox_all().await;
        assert!(entries.is_empty(), "{} got {entries:?}", c.user());
    }
}

fn members(group: &GroupInfo) -> Vec<(String, Role)> {
    group.members.iter().map(|m| (m.user_id.to_string(), m.role)).collect()
}

fn users(list: &[&str]) -> Vec<sotto_proto::UserId> {
    list.iter().map(|u| uid(u)).collect()
}

async fn group_send(c: &Client, group: &GroupInfo, id: &str, ciphertext: &str) -> reqwest::Response {
    c.post(&format!("/v1/groups/{}/messages", group.group_id), &json!({"message_id": id, "ciphertext": ciphertext}))
        .await
}

#[tokio::test]
async fn create_delivers_created_to_every_member_device() {
    let server = Server::start().await;
    let a1 = server.register_keyed("alice").await;
    let a2 = server.login("alice").await; // no keys: membership still reaches it
    let b1 = server.register_keyed("bob").await;
    let c1 = server.register_keyed("carol").await;
    let c2 = server.login_keyed("carol").await;
    let dave = server.register_keyed("dave").await;

    // Unknown member: nothing is created or delivered.
    let resp = a1.post("/v1/groups", &json!({"name": "team", "members": ["bob", "nobody"]})).await;
    let err = assert_error(resp, 404, "unknown_user").await;
    assert!(err.message.contains("nobody"));
    // Bad names.
    for name in ["", "   ", &"n".repeat(129), "bad\nname"] {
        let resp = a1.post("/v1/groups", &json!({"name": name, "members": []})).await;
        assert_error(resp, 400, "invalid_input").await;
    }
    let list: GroupList = a1.get("/v1/groups").await.json().await.unwrap();
    assert!(list.groups.is_empty());
    assert_no_entries(&[&a1, &a2, &b1, &c1, &c2, &dave]).await;

    // The creator listed among the members and duplicates are ignored.
    let resp = a1.post("/v1/groups", &json!({"name": " team ", "members": ["carol", "bob", "alice", "bob"]})).await;
    assert_eq!(resp.status(), 201);
    let group: GroupInfo = resp.json().await.unwrap();
    assert_eq!(group.name, "team");
    assert_eq!(group.version, 1);
    assert_eq!(
        members(&group),
        vec![("alice".into(), Role::Owner), ("bob".into(), Role::Member), ("carol".into(), Role::Member)]
    );

    // Every device of every member, the creator's included, gets the `created` entry.
    for c in [&a1, &a2, &b1, &c1, &c2] {
        let entries = take(c).await;
        assert_eq!(entries.len(), 1, "{}", c.device());
        assert_eq!(entries[0].sender_user.as_str(), "alice");
        let EntryBody::Membership(ev) = &entries[0].body else { panic!("not a membership entry") };
        assert_eq!(ev.change, MembershipChange::Created);
        assert_eq!(ev.actor.as_str(), "alice");
        assert_eq!(ev.users, users(&["bob", "carol"]));
        assert_eq!(ev.group, group);
    }
    assert_no_entries(&[&dave]).await;

    // Members see it; others do not.
    for c in [&a1, &b1, &c2] {
        let list: GroupList = c.get("/v1/groups").await.json().await.unwrap();
        assert_eq!(list.groups, vec![group.clone()]);
        let got: GroupInfo = c.get(&format!("/v1/groups/{}", group.group_id)).await.json().await.unwrap();
        assert_eq!(got, group);
    }
    let list: GroupList = dave.get("/v1/groups").await.json().await.unwrap();
    assert!(list.groups.is_empty());
}

#[tokio::test]
async fn group_messages_fan_out_to_every_other_member_device_and_are_stored_once() {
    let server = Server::start().await;
    let a1 = server.register_keyed("alice").await;
    let a2 = server.login_keyed("alice").await;
    let b1 = server.register_keyed("bob").await;
    let b2 = server.login("bob").await;
    let carol = server.register_keyed("carol").await;
    let outsider = server.register_keyed("dave").await;
    let resp = a1.post("/v1/groups", &json!({"name": "fan-out", "members": ["bob", "carol"]})).await;
    let group: GroupInfo = resp.json().await.unwrap();
    for c in [&a1, &a2, &b1, &b2, &carol] {
        take(c).await;
    }
    let mut ws = b1.ws().await;
    ws.until_synced().await;

    let marker = "GROUP-CIPHERTEXT-MARKER-7f3a";
    let resp = group_send(&a1, &group, "group-msg-0001", marker).await;
    assert_eq!(resp.status(), 200);
    let receipt: SendReceipt = resp.json().await.unwrap();
    assert!(!receipt.duplicate);

    // Pushed to the connected member device.
    let pushed = ws.next_entry().await;
    assert_eq!(pushed.message_id.as_str(), "group-msg-0001");
    for c in [&a2, &b1, &b2, &carol] {
        let entries = c.inbox_all().await;
        assert_eq!(entries.len(), 1, "{}", c.device());
        let e = &entries[0];
        assert_eq!(e.message_id.as_str(), "group-msg-0001");
        assert_eq!(e.sender_device.as_ref(), Some(a1.device()));
        assert_eq!(e.server_ts, receipt.server_ts);
        assert_eq!(e.body, EntryBody::Group { group_id: group.group_id.clone(), ciphertext: marker.into() });
    }
    // Not back to the sending device, not to outsiders.
    assert_no_entries(&[&a1, &outsider]).await;

    // Idempotent.
    let resp = group_send(&a1, &group, "group-msg-0001", marker).await;
    let again: SendReceipt = resp.json().await.unwrap();
    assert!(again.duplicate);
    assert_eq!(b2.inbox_all().await.len(), 1);
    // Bad ciphertexts.
    assert_error(group_send(&a1, &group, "group-msg-0002", "").await, 400, "invalid_input").await;
    let huge = "x".repeat(256 * 1024 + 1);
    assert_error(group_send(&a1, &group, "group-msg-0003", &huge).await, 400, "invalid_input").await;

    // Stored once: one shared payload referenced by the four inbox rows.
    let db = rusqlite::Connection::open(server.data_dir().join("sotto.db")).unwrap();
    assert_eq!(shared_payloads_with(&db, marker), 1);
    let rows: i64 = db
        .query_row(
            "SELECT count(*) FROM inbox i JOIN shared_payloads p ON p.id = i.payload_id WHERE instr(p.body, ?1) > 0",
            [marker],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 4);
    let copies: i64 = db
        .query_row("SELECT count(*) FROM inbox WHERE instr(coalesce(ciphertext, ''), ?1) > 0", [marker], |r| r.get(0))
        .unwrap();
    assert_eq!(copies, 0);
    drop(db);

    // Every device acks it: the body stays, once, for the group's history (members' new devices).
    for c in [&a2, &b1, &b2, &carol] {
        take(c).await;
    }
    let db = rusqlite::Connection::open(server.data_dir().join("sotto.db")).unwrap();
    // Garbage collection runs about every second after acks. To know one ran after these acks,
    // a canary body is made collectable after them (its group dismissed, every copy acked) and
    // waited for until it is collected: that collection saw the acks above too.
    let canary = "GROUP-CIPHERTEXT-CANARY-91c4";
    let resp = a1.post("/v1/groups", &json!({"name": "canary", "members": ["carol"]})).await;
    let canary_group: GroupInfo = resp.json().await.unwrap();
    assert_eq!(group_send(&a1, &canary_group, "group-msg-canary", canary).await.status(), 200);
    assert_eq!(a1.delete(&format!("/v1/groups/{}", canary_group.group_id)).await.status(), 204);
    for c in [&a1, &a2, &carol] {
        take(c).await;
    }
    wait_until_collected(&db, canary).await;
    assert_eq!(shared_payloads_with(&db, marker), 1, "the acked body is kept for the history");
    let history: GroupHistoryPage =
        carol.get(&format!("/v1/groups/{}/history", group.group_id)).await.json().await.unwrap();
    assert_eq!(history.messages.len(), 1);
    assert_eq!(history.messages[0].ciphertext, marker);
    assert_eq!(history.messages[0].sender_device.as_ref(), Some(a1.device()));

    // Dismissing the group deletes its history; the body is then collected in the background.
    assert_eq!(a1.delete(&format!("/v1/groups/{}", group.group_id)).await.status(), 204);
    for c in [&a2, &b1, &b2, &carol] {
        take(c).await;
    }
    wait_until_collected(&db, marker).await;
}

/// How many shared bodies in the server's database contain `marker`.
fn shared_payloads_with(db: &rusqlite::Connection, marker: &str) -> i64 {
    db.query_row("SELECT count(*) FROM shared_payloads WHERE instr(body, ?1) > 0", [marker], |r| r.get(0)).unwrap()
}

/// Polls until garbage collection has removed the shared body containing `marker`.
async fn wait_until_collected(db: &rusqlite::Connection, marker: &str) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while shared_payloads_with(db, marker) != 0 {
        assert!(std::time::Instant::now() < deadline, "the acked group body {marker} was never collected");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn membership_changes_follow_the_role_rules_and_reach_old_and_new_members() {
    let server = Server::start().await;
    let [alice, bob, carol, dave, erin] = server.register_all(["alice", "bob", "carol", "dave", "erin"]).await;
    let everyone = [&alice, &bob, &carol, &dave, &erin];

    let resp = alice.post("/v1/groups", &json!({"name": "rules", "members": ["bob", "carol"]})).await;
    let group: GroupInfo = resp.json().await.unwrap();
    let g = format!("/v1/groups/{}", group.group_id);
    one_event_each(&[&alice, &bob, &carol]).await;

    // A member may not add; the owner makes bob an admin.
    assert_error(bob.post(&format!("{g}/members"), &json!({"user_ids": ["dave"]})).await, 403, "not_admin").await;
    let resp = alice.put(&format!("{g}/members/bob/role"), &json!({"role": "admin"})).await;
    assert_eq!(resp.status(), 200);
    let v2: GroupInfo = resp.json().await.unwrap();
    assert_eq!(v2.version, 2);
    let ev = one_event_each(&[&alice, &bob, &carol]).await;
    assert_eq!(
        (ev.change, ev.actor.as_str(), ev.users.clone()),
        (MembershipChange::RoleChanged, "alice", users(&["bob"]))
    );
    assert_eq!(ev.group, v2);
    assert_no_entries(&[&dave, &erin]).await;

    // The admin adds dave and erin: old and new members all hear of it.
    let resp = bob.post(&format!("{g}/members"), &json!({"user_ids": ["erin", "dave", "erin"]})).await;
    assert_eq!(resp.status(), 200);
    let v3: GroupInfo = resp.json().await.unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(
        members(&v3),
        vec![
            ("alice".into(), Role::Owner),
            ("bob".into(), Role::Admin),
            ("carol".into(), Role::Member),
            ("dave".into(), Role::Member),
            ("erin".into(), Role::Member)
        ]
    );
    let ev = one_event_each(&everyone).await;
    assert_eq!(
        (ev.change, ev.actor.as_str(), ev.users.clone()),
        (MembershipChange::Added, "bob", users(&["dave", "erin"]))
    );
    // Adding members again, unknown users, nobody.
    assert_error(bob.post(&format!("{g}/members"), &json!({"user_ids": ["dave"]})).await, 409, "conflict").await;
    assert_error(bob.post(&format!("{g}/members"), &json!({"user_ids": ["nobody"]})).await, 404, "unknown_user").await;
    assert_error(bob.post(&format!("{g}/members"), &json!({"user_ids": []})).await, 400, "invalid_input").await;

    // The admin kicks carol, a member: carol is told `removed`, and so is everyone else.
    let resp = bob.delete(&format!("{g}/members/carol")).await;
    assert_eq!(resp.status(), 200);
    let v4: GroupInfo = resp.json().await.unwrap();
    assert!(!v4.members.iter().any(|m| m.user_id.as_str() == "carol"));
    let ev = one_event_each(&everyone).await;
    assert_eq!((ev.change, ev.actor.as_str(), ev.users.clone()), (MembershipChange::Removed, "bob", users(&["carol"])));
    assert_eq!(ev.group, v4);
    // Carol can no longer send, read, or receive.
    assert_error(group_send(&carol, &group, "carol-after-kick", "x").await, 403, "not_member").await;
    assert_error(carol.get(&g).await, 403, "not_member").await;
    let resp = group_send(&alice, &group, "alice-after-kick", "after").await;
    assert_eq!(resp.status(), 200);
    assert_no_entries(&[&carol, &alice]).await;
    for c in [&bob, &dave, &erin] {
        let entries = take(c).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].message_id.as_str(), "alice-after-kick");
    }
    // Kicking a non-member.
    assert_error(bob.delete(&format!("{g}/members/carol")).await, 404, "not_found").await;

    // Admins may not remove the owner or another admin; the owner may.
    assert_error(bob.delete(&format!("{g}/members/alice")).await, 403, "not_admin").await;
    let resp = alice.put(&format!("{g}/members/dave/role"), &json!({"role": "admin"})).await;
    assert_eq!(resp.status(), 200);
    one_event_each(&[&alice, &bob, &dave, &erin]).await;
    assert_error(bob.delete(&format!("{g}/members/dave")).await, 403, "not_admin").await;
    // Role rules: only the owner, not on itself, only on members.
    assert_error(bob.put(&format!("{g}/members/erin/role"), &json!({"role": "admin"})).await, 403, "not_admin").await;
    assert_error(alice.put(&format!("{g}/members/alice/role"), &json!({"role": "member"})).await, 409, "conflict")
        .await;
    assert_error(alice.put(&format!("{g}/members/carol/role"), &json!({"role": "admin"})).await, 404, "not_found")
        .await;
    assert_error(alice.put(&format!("{g}/members/erin/role"), &json!({"role": "boss"})).await, 400, "invalid_json")
        .await;
    let resp = alice.delete(&format!("{g}/members/dave")).await;
    assert_eq!(resp.status(), 200);
    let ev = one_event_each(&[&alice, &bob, &dave, &erin]).await;
    assert_eq!((ev.change, ev.users.clone()), (MembershipChange::Removed, users(&["dave"])));

    // The owner cannot leave while others remain.
    assert_error(alice.post(&format!("{g}/leave"), &json!({})).await, 409, "conflict").await;
    // Erin leaves (removing oneself is leaving, too).
    let resp = erin.delete(&format!("{g}/members/erin")).await;
    assert_eq!(resp.status(), 200);
    let ev = one_event_each(&[&alice, &bob, &erin]).await;
    assert_eq!((ev.change, ev.actor.as_str(), ev.users.clone()), (MembershipChange::Left, "erin", users(&["erin"])));
    assert_error(erin.get(&g).await, 403, "not_member").await;

    // Handing over ownership: the old owner becomes an admin and may then leave.
    let resp = alice.put(&format!("{g}/members/bob/role"), &json!({"role": "owner"})).await;
    assert_eq!(resp.status(), 200);
    let handed: GroupInfo = resp.json().await.unwrap();
    assert_eq!(members(&handed), vec![("alice".into(), Role::Admin), ("bob".into(), Role::Owner)]);
    one_event_each(&[&alice, &bob]).await;
    let resp = alice.post(&format!("{g}/leave"), &json!({})).await;
    assert_eq!(resp.status(), 200);
    let left: GroupInfo = resp.json().await.unwrap();
    assert_eq!(left.members, vec![GroupMember { user_id: uid("bob"), role: Role::Owner }]);
    let ev = one_event_each(&[&alice, &bob]).await;
    assert_eq!(ev.change, MembershipChange::Left);

    // The last member leaving dismisses the group.
    let resp = bob.post(&format!("{g}/leave"), &json!({})).await;
    assert_eq!(resp.status(), 200);
    let ev = one_event_each(&[&bob]).await;
    assert_eq!(ev.change, MembershipChange::Dismissed);
    assert!(ev.group.members.is_empty());
    assert_error(bob.get(&g).await, 404, "not_found").await;
    assert_no_entries(&everyone).await;

    // Versions only went up.
    assert!(ev.group.version > handed.version && handed.version > v4.version && v4.version > v3.version);
}

#[tokio::test]
async fn dismissing_a_group() {
    let server = Server::start().await;
    let [alice, bob, carol] = server.register_all(["alice", "bob", "carol"]).await;
    let resp = alice.post("/v1/groups", &json!({"name": "short-lived", "members": ["bob", "carol"]})).await;
    let group: GroupInfo = resp.json().await.unwrap();
    let g = format!("/v1/groups/{}", group.group_id);
    alice.put(&format!("{g}/members/bob/role"), &json!({"role": "admin"})).await;
    for c in [&alice, &bob, &carol] {
        take(c).await;
    }
    // Only the owner may dismiss.
    assert_error(bob.delete(&g).await, 403, "not_admin").await;
    assert_error(carol.delete(&g).await, 403, "not_admin").await;
    assert_eq!(alice.delete(&g).await.status(), 204);
    let ev = one_event_each(&[&alice, &bob, &carol]).await;
    assert_eq!(ev.change, MembershipChange::Dismissed);
    assert_eq!(ev.users, users(&["alice", "bob", "carol"]));
    assert!(ev.group.members.is_empty());
    assert_eq!(ev.group.group_id, group.group_id);
    // Gone for everyone.
    for c in [&alice, &bob, &carol] {
        assert_error(c.get(&g).await, 404, "not_found").await;
        assert_error(group_send(c, &group, "after-dismiss", "x").await, 404, "not_found").await;
        let list: GroupList = c.get("/v1/groups").await.json().await.unwrap();
        assert!(list.groups.is_empty());
    }
    assert_error(alice.delete(&g).await, 404, "not_found").await;
    let resp = alice.post(&format!("{g}/members"), &json!({"user_ids": ["bob"]})).await;
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test]
async fn concurrent_membership_changes_are_never_lost() {
    let server = Server::start_with(Launch::new().no_rate_limit()).await;
    let [alice, bob] = server.register_all(["alice", "bob"]).await;
    let newcomers = ["nina", "omar", "pia", "quin", "rosa", "sven"];
    for u in newcomers {
        server.register(u).await;
    }
    let resp = alice.post("/v1/groups", &json!({"name": "race", "members": ["bob"]})).await;
    let group: GroupInfo = resp.json().await.unwrap();
    let g = format!("/v1/groups/{}", group.group_id);
    assert_eq!(alice.put(&format!("{g}/members/bob/role"), &json!({"role": "admin"})).await.status(), 200);

    // Two admins add six people at once, one request each.
    let mut tasks = Vec::new();
    for (i, u) in newcomers.iter().enumerate() {
        let admin = if i % 2 == 0 { alice.clone() } else { bob.clone() };
        let path = format!("{g}/members");
        let user = (*u).to_owned();
        tasks.push(tokio::spawn(async move {
            let resp = admin.post(&path, &json!({ "user_ids": [user] })).await;
            (user, resp.status().as_u16(), resp.text().await.unwrap())
        }));
    }
    let mut added = Vec::new();
    let mut versions = BTreeSet::new();
    for t in tasks {
        let (user, status, text) = t.await.unwrap();
        match status {
            200 => {
                let info: GroupInfo = serde_json::from_str(&text).unwrap();
                assert!(info.members.iter().any(|m| m.user_id.as_str() == user));
                assert!(versions.insert(info.version), "two changes got version {}", info.version);
                added.push(user);
            }
            // Allowed: the server gave up after too many races; nothing may be half-done.
            409 => assert!(text.contains("conflict"), "{text}"),
            _ => panic!("adding {user}: {status} {text}"),
        }
    }
    assert!(!added.is_empty());
    let last: GroupInfo = alice.get(&g).await.json().await.unwrap();
    assert_eq!(last.version, 2 + added.len() as u64, "each successful change is one version");
    for u in &added {
        assert!(last.members.iter().any(|m| m.user_id.as_str() == u), "{u} was added, then lost");
    }
    assert_eq!(last.members.len(), 2 + added.len());
    // Every change delivered exactly one event to alice.
    let events = take_events(&alice).await;
    let added_events = events.iter().filter(|e| e.change == MembershipChange::Added).count();
    assert_eq!(added_events, added.len());
}

/// A sender that lists the member devices it shared its key with learns of a device it did not
/// know (`devices_changed` with the difference) before anything is delivered; devices without
/// keys do not count; a retry of a message already stored is a duplicate, not a refusal.
#[tokio::test]
async fn a_group_send_listing_stale_member_devices_is_refused_with_the_difference() {
    let server = Server::start().await;
    let [a1, b1] = server.register_keyed_all(["alice", "bob"]).await;
    let resp = a1.post("/v1/groups", &json!({"name": "known", "members": ["bob"]})).await;
    let group: GroupInfo = resp.json().await.unwrap();
    take(&b1).await;
    let path = format!("/v1/groups/{}/messages", group.group_id);
    let send = |id: &str, devices: &[sotto_proto::DeviceAddress]| json!({"message_id": id, "ciphertext": "ct", "member_devices": devices});

    // Exactly the keyed devices: delivered.
    let resp = a1.post(&path, &send("msg-0001", &[b1.addr()])).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    // bob signs in on a second device with keys, and on a third without: only the keyed one is
    // missing from what alice knew.
    let b2 = server.login_keyed("bob").await;
    let _b3_unkeyed = server.login("bob").await;
    let err = assert_error(a1.post(&path, &send("msg-0002", &[b1.addr()])).await, 409, "devices_changed").await;
    let mismatch = err.devices.expect("the difference");
    assert_eq!(mismatch.missing, vec![b2.addr()]);
    assert!(mismatch.unknown.is_empty());
    assert!(b1.inbox_all().await.iter().all(|e| e.message_id.as_str() != "msg-0002"), "nothing delivered");
    // A device that is gone is unknown.
    let err = assert_error(
        a1.post(&path, &send("msg-0002", &[b1.addr(), b2.addr(), a1.addr()])).await,
        409,
        "devices_changed",
    )
    .await;
    assert_eq!(err.devices.unwrap().unknown, vec![a1.addr()]);
    // With the new device: delivered to it too.
    assert_eq!(a1.post(&path, &send("msg-0002", &[b1.addr(), b2.addr()])).await.status(), 200);
    assert!(b2.inbox_all().await.iter().any(|e| e.message_id.as_str() == "msg-0002"));
    // A retry of the first message with its old list is a duplicate, not a refusal.
    let resp = a1.post(&path, &send("msg-0001", &[b1.addr()])).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<SendReceipt>().await.unwrap().duplicate);
    // Without a list, no check (older clients).
    assert_eq!(group_send(&a1, &group, "msg-0003", "ct").await.status(), 200);
}
