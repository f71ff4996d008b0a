//! Groups: creation, fan-out, membership changes signed by members' devices with their events
//! and log, and the role rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;

use common::*;
use ed25519_dalek::Signer;
use serde_json::json;
use sotto_proto::{
    DeviceAddress, EntryBody, GroupAction, GroupChange, GroupHistoryPage, GroupId, GroupInfo, GroupList, GroupLogPage,
    GroupMember, InboxEntry, MembershipChange, MembershipEvent, Role, SendReceipt, SignedGroupChange,
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
            EntryBody::Membership(ev) => *ev,
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

fn create(name: &str, list: &[&str]) -> GroupAction {
    GroupAction::Create { name: name.into(), members: users(list), invited: vec![] }
}

fn add(list: &[&str]) -> GroupAction {
    GroupAction::Add { users: users(list) }
}

fn remove(user: &str) -> GroupAction {
    GroupAction::Remove { user: uid(user) }
}

fn set_role(user: &str, role: Role) -> GroupAction {
    GroupAction::SetRole { user: uid(user), role }
}

/// Asserts that each entry of the log names the one before it, and its seq follows.
fn assert_chained(log: &[SignedGroupChange]) {
    for pair in log.windows(2) {
        let (before, after) = (parse_change(&pair[0]), parse_change(&pair[1]));
        assert_eq!(after.seq, before.seq + 1, "{after:?}");
        assert_eq!(after.prev, Some(entry_hash(&pair[0])), "{after:?}");
    }
}

/// An entry no log holds, to name as a `prev`.
fn log_free_entry() -> SignedGroupChange {
    SignedGroupChange { change: "not in any log".into(), signature: String::new() }
}

/// The server's database, for what the API cannot show or do (the server keeps running).
fn database(server: &Server) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(server.data_dir().join("sotto.db")).unwrap();
    db.busy_timeout(TIMEOUT).unwrap();
    db
}

async fn group_send(c: &Client, group: &GroupInfo, id: &str, ciphertext: &str) -> reqwest::Response {
    c.post(&format!("/v1/groups/{}/messages", group.group_id), &json!({"message_id": id, "ciphertext": ciphertext}))
        .await
}

#[tokio::test]
async fn create_delivers_created_to_every_member_device() {
    let server = Server::start_team().await;
    let a1 = server.register_member("alice").await;
    let a2 = server.login("alice").await; // no keys: membership still reaches it
    let b1 = server.register_keyed("bob").await;
    let c1 = server.register_keyed("carol").await;
    let c2 = server.login_keyed("carol").await;
    let dave = server.register_keyed("dave").await;

    // Unknown member: nothing is created or delivered.
    let err = assert_error(a1.create_group_with(create("team", &["bob", "nobody"])).await, 404, "unknown_user").await;
    assert!(err.message.contains("nobody"));
    // Bad names (the name is signed as it is: the server trims nothing).
    for name in ["", "   ", " team ", &"n".repeat(129), "bad\nname"] {
        assert_error(a1.create_group_with(create(name, &[])).await, 400, "invalid_input").await;
    }
    // The creator among the members, or anyone twice.
    for list in [&["bob", "alice"][..], &["bob", "carol", "bob"]] {
        assert_error(a1.create_group_with(create("team", list)).await, 400, "invalid_input").await;
    }
    let list: GroupList = a1.get("/v1/groups").await.json().await.unwrap();
    assert!(list.groups.is_empty());
    assert_no_entries(&[&a1, &a2, &b1, &c1, &c2, &dave]).await;

    let g = random_gid();
    let signed = a1.sign_change(&g, 1, None, create("team", &["carol", "bob"]));
    let resp = a1.post("/v1/groups", &signed).await;
    assert_eq!(resp.status(), 201);
    let group: GroupInfo = resp.json().await.unwrap();
    assert_eq!((&group.group_id, group.name.as_str(), group.version), (&g, "team", 1));
    assert_eq!(
        members(&group),
        vec![("alice".into(), Role::Owner), ("bob".into(), Role::Member), ("carol".into(), Role::Member)]
    );
    // The id is taken now.
    let again = a1.sign_change(&g, 1, None, create("another", &[]));
    assert_error(a1.post("/v1/groups", &again).await, 409, "conflict").await;

    // Every device of every member, the creator's included, gets the `created` entry, which
    // carries the signed change.
    for c in [&a1, &a2, &b1, &c1, &c2] {
        let entries = take(c).await;
        assert_eq!(entries.len(), 1, "{}", c.device());
        assert_eq!(entries[0].sender_user.as_str(), "alice");
        let EntryBody::Membership(ev) = &entries[0].body else { panic!("not a membership entry") };
        assert_eq!(ev.change, MembershipChange::Created);
        assert_eq!(ev.actor.as_str(), "alice");
        assert_eq!(ev.users, users(&["carol", "bob"]), "as the change names them");
        assert_eq!(ev.group, group);
        assert_eq!(ev.signed.as_ref(), Some(&signed));
    }
    assert_no_entries(&[&dave]).await;
    // It is the first entry of the group's log.
    assert_eq!(b1.group_log(&g).await.changes, vec![signed]);

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
    let server = Server::start_team().await;
    let a1 = server.register_member("alice").await;
    let a2 = server.login_keyed("alice").await;
    let b1 = server.register_keyed("bob").await;
    let b2 = server.login("bob").await;
    let carol = server.register_keyed("carol").await;
    let outsider = server.register_keyed("dave").await;
    let group = a1.create_group("fan-out", &["bob", "carol"]).await;
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
    let canary_group = a1.create_group("canary", &["carol"]).await;
    assert_eq!(group_send(&a1, &canary_group, "group-msg-canary", canary).await.status(), 200);
    a1.change_ok(&canary_group.group_id, GroupAction::Dismiss).await;
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
    a1.change_ok(&group.group_id, GroupAction::Dismiss).await;
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
    let server = Server::start_team().await;
    let [alice, bob, carol, dave, erin] = server.register_members(["alice", "bob", "carol", "dave", "erin"]).await;
    let everyone = [&alice, &bob, &carol, &dave, &erin];

    let group = alice.create_group("rules", &["bob", "carol"]).await;
    let g = &group.group_id;
    let path = format!("/v1/groups/{g}");
    one_event_each(&[&alice, &bob, &carol]).await;

    // A member may not add; the owner makes bob an admin.
    assert_error(bob.change(g, add(&["dave"])).await, 403, "not_admin").await;
    let v2 = alice.change_ok(g, set_role("bob", Role::Admin)).await;
    assert_eq!(v2.version, 2);
    let ev = one_event_each(&[&alice, &bob, &carol]).await;
    assert_eq!(
        (ev.change, ev.actor.as_str(), ev.users.clone()),
        (MembershipChange::RoleChanged, "alice", users(&["bob"]))
    );
    assert_eq!(ev.group, v2);
    assert_no_entries(&[&dave, &erin]).await;

    // The admin adds dave and erin, each named once: old and new members all hear of it.
    assert_error(bob.change(g, add(&["erin", "dave", "erin"])).await, 400, "invalid_input").await;
    let v3 = bob.change_ok(g, add(&["erin", "dave"])).await;
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
        (MembershipChange::Added, "bob", users(&["erin", "dave"]))
    );
    // Adding members again, unknown users, nobody.
    assert_error(bob.change(g, add(&["dave"])).await, 409, "conflict").await;
    assert_error(bob.change(g, add(&["nobody"])).await, 404, "unknown_user").await;
    assert_error(bob.change(g, add(&[])).await, 400, "invalid_input").await;

    // The admin kicks carol, a member: carol is told `removed`, and so is everyone else.
    let v4 = bob.change_ok(g, remove("carol")).await;
    assert!(!v4.members.iter().any(|m| m.user_id.as_str() == "carol"));
    let ev = one_event_each(&everyone).await;
    assert_eq!((ev.change, ev.actor.as_str(), ev.users.clone()), (MembershipChange::Removed, "bob", users(&["carol"])));
    assert_eq!(ev.group, v4);
    // Carol can no longer send, read, or receive.
    assert_error(group_send(&carol, &group, "carol-after-kick", "x").await, 403, "not_member").await;
    assert_error(carol.get(&path).await, 403, "not_member").await;
    assert_error(carol.group_log_page(g, 0, 10).await, 403, "not_member").await;
    let resp = group_send(&alice, &group, "alice-after-kick", "after").await;
    assert_eq!(resp.status(), 200);
    assert_no_entries(&[&carol, &alice]).await;
    for c in [&bob, &dave, &erin] {
        let entries = take(c).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].message_id.as_str(), "alice-after-kick");
    }
    // Kicking a non-member.
    assert_error(bob.change(g, remove("carol")).await, 404, "not_found").await;

    // Admins may not remove the owner or another admin; the owner may.
    assert_error(bob.change(g, remove("alice")).await, 403, "not_admin").await;
    alice.change_ok(g, set_role("dave", Role::Admin)).await;
    one_event_each(&[&alice, &bob, &dave, &erin]).await;
    assert_error(bob.change(g, remove("dave")).await, 403, "not_admin").await;
    // Role rules: only the owner, not on itself, only on members, only known roles.
    assert_error(bob.change(g, set_role("erin", Role::Admin)).await, 403, "not_admin").await;
    assert_error(alice.change(g, set_role("alice", Role::Member)).await, 400, "invalid_input").await;
    assert_error(alice.change(g, set_role("carol", Role::Admin)).await, 404, "not_found").await;
    let (seq, prev) = alice.next_change(g).await;
    let change = serde_json::to_string(&alice.group_change(g, seq, prev, set_role("erin", Role::Admin))).unwrap();
    let boss = alice.sign_json(change.replace(r#""role":"admin""#, r#""role":"boss""#));
    assert!(boss.change.contains("boss"));
    assert_error(alice.post_change(g, &boss).await, 400, "invalid_input").await;
    alice.change_ok(g, remove("dave")).await;
    let ev = one_event_each(&[&alice, &bob, &dave, &erin]).await;
    assert_eq!((ev.change, ev.users.clone()), (MembershipChange::Removed, users(&["dave"])));

    // The owner cannot leave while others remain; a member leaves by leaving, not by removing
    // itself.
    assert_error(alice.change(g, GroupAction::Leave).await, 409, "conflict").await;
    assert_error(erin.change(g, remove("erin")).await, 400, "invalid_input").await;
    erin.change_ok(g, GroupAction::Leave).await;
    let ev = one_event_each(&[&alice, &bob, &erin]).await;
    assert_eq!((ev.change, ev.actor.as_str(), ev.users.clone()), (MembershipChange::Left, "erin", users(&["erin"])));
    assert_error(erin.get(&path).await, 403, "not_member").await;

    // Handing over ownership: the old owner becomes an admin and may then leave.
    let handed = alice.change_ok(g, set_role("bob", Role::Owner)).await;
    assert_eq!(members(&handed), vec![("alice".into(), Role::Admin), ("bob".into(), Role::Owner)]);
    one_event_each(&[&alice, &bob]).await;
    let left = alice.change_ok(g, GroupAction::Leave).await;
    assert_eq!(left.members, vec![GroupMember { user_id: uid("bob"), role: Role::Owner }]);
    let ev = one_event_each(&[&alice, &bob]).await;
    assert_eq!(ev.change, MembershipChange::Left);

    // The last member leaving dismisses the group.
    let gone = bob.change_ok(g, GroupAction::Leave).await;
    assert!(gone.members.is_empty());
    let ev = one_event_each(&[&bob]).await;
    assert_eq!(ev.change, MembershipChange::Dismissed);
    assert!(ev.group.members.is_empty());
    assert_error(bob.get(&path).await, 404, "not_found").await;
    assert_no_entries(&everyone).await;

    // Versions only went up.
    assert!(ev.group.version > handed.version && handed.version > v4.version && v4.version > v3.version);
}

#[tokio::test]
async fn dismissing_a_group() {
    let server = Server::start_team().await;
    let [alice, bob, carol] = server.register_members(["alice", "bob", "carol"]).await;
    let group = alice.create_group("short-lived", &["bob", "carol"]).await;
    let g = &group.group_id;
    let path = format!("/v1/groups/{g}");
    alice.change_ok(g, set_role("bob", Role::Admin)).await;
    for c in [&alice, &bob, &carol] {
        take(c).await;
    }
    // Only the owner may dismiss.
    assert_error(bob.change(g, GroupAction::Dismiss).await, 403, "not_admin").await;
    assert_error(carol.change(g, GroupAction::Dismiss).await, 403, "not_admin").await;
    let (seq, prev) = alice.next_change(g).await;
    let resp = alice.post_change(g, &alice.sign_change(g, seq, prev.clone(), GroupAction::Dismiss)).await;
    assert_eq!(resp.status(), 200);
    let last: GroupInfo = resp.json().await.unwrap();
    assert_eq!((last.version, last.members.len()), (3, 0));
    let ev = one_event_each(&[&alice, &bob, &carol]).await;
    assert_eq!(ev.change, MembershipChange::Dismissed);
    assert_eq!(ev.users, users(&["alice", "bob", "carol"]));
    assert_eq!(ev.group, last);
    // Gone for everyone, with its log.
    for c in [&alice, &bob, &carol] {
        assert_error(c.get(&path).await, 404, "not_found").await;
        assert_error(c.group_log_page(g, 0, 10).await, 404, "not_found").await;
        assert_error(group_send(c, &group, "after-dismiss", "x").await, 404, "not_found").await;
        let list: GroupList = c.get("/v1/groups").await.json().await.unwrap();
        assert!(list.groups.is_empty());
    }
    // Changes signed where the log ended find no group.
    for action in [GroupAction::Dismiss, add(&["carol"])] {
        let resp = alice.post_change(g, &alice.sign_change(g, seq, prev.clone(), action)).await;
        assert_error(resp, 404, "not_found").await;
    }
}

/// A change names the version it follows: of two changes signed at the same place in the log,
/// exactly one lands and the other is told the group changed, with nothing of it stored; signed
/// again after the new head, it lands too. Admins racing that way lose no change.
#[tokio::test]
async fn concurrent_membership_changes_are_never_lost() {
    let server = Server::start_with(Launch::new().no_rate_limit().args(["--group-adds", "direct"])).await;
    let [alice, bob] = server.register_members(["alice", "bob"]).await;
    let newcomers = ["nina", "omar", "pia", "quin", "rosa", "sven"];
    for u in newcomers {
        server.register(u).await;
    }
    let group = alice.create_group("race", &["bob"]).await;
    let g = group.group_id.clone();
    alice.change_ok(&g, set_role("bob", Role::Admin)).await;

    // Both admins sign at the head they read, and send at once.
    let (seq, prev) = alice.next_change(&g).await;
    let by_alice = alice.sign_change(&g, seq, prev.clone(), add(&["nina"]));
    let by_bob = bob.sign_change(&g, seq, prev, add(&["omar"]));
    let (to_alice, to_bob) = tokio::join!(alice.post_change(&g, &by_alice), bob.post_change(&g, &by_bob));
    let (won, lost, winner, loser) = match (to_alice.status().as_u16(), to_bob.status().as_u16()) {
        (200, 409) => (to_alice, to_bob, (&by_alice, "nina"), (&bob, "omar")),
        (409, 200) => (to_bob, to_alice, (&by_bob, "omar"), (&alice, "nina")),
        other => panic!("expected exactly one change to land, got {other:?}"),
    };
    assert_error(lost, 409, "stale_version").await;
    let after: GroupInfo = won.json().await.unwrap();
    assert_eq!(after.version, seq);
    assert!(after.members.iter().any(|m| m.user_id.as_str() == winner.1));
    assert!(!after.members.iter().any(|m| m.user_id.as_str() == loser.1));
    let log = alice.group_log(&g).await;
    assert_eq!(log.changes.last(), Some(winner.0));
    assert_eq!(log.group, after);
    // The one told the group changed reads the log again and signs after the new head.
    let again = loser.0.change_ok(&g, add(&[loser.1])).await;
    assert_eq!(again.version, seq + 1);

    // The other four at once, one request each, every admin signing again while it is stale.
    let mut tasks = Vec::new();
    for (i, u) in newcomers[2..].iter().enumerate() {
        let admin = if i % 2 == 0 { alice.clone() } else { bob.clone() };
        let (g, user) = (g.clone(), *u);
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let resp = admin.change(&g, add(&[user])).await;
                if resp.status() == 200 {
                    return (user, resp.json::<GroupInfo>().await.unwrap());
                }
                assert_error(resp, 409, "stale_version").await;
            }
            panic!("adding {user} never landed");
        }));
    }
    let mut versions = BTreeSet::new();
    for t in tasks {
        let (user, info) = t.await.unwrap();
        assert!(info.members.iter().any(|m| m.user_id.as_str() == user));
        assert!(versions.insert(info.version), "two changes got version {}", info.version);
    }
    let last: GroupInfo = alice.get(&format!("/v1/groups/{g}")).await.json().await.unwrap();
    assert_eq!(last.version, 2 + newcomers.len() as u64, "each change is one version");
    assert_eq!(last.members.len(), 2 + newcomers.len());
    for u in newcomers {
        assert!(last.members.iter().any(|m| m.user_id.as_str() == u), "{u} was added, then lost");
    }
    // The log is one chain, and every change delivered exactly one event to alice.
    let log = alice.group_log(&g).await;
    assert_eq!(log.changes.len() as u64, last.version);
    assert_chained(&log.changes);
    let events = take_events(&alice).await;
    assert_eq!(events.iter().filter(|e| e.change == MembershipChange::Added).count(), newcomers.len());
}

/// A sender that lists the member devices it shared its key with learns of a device it did not
/// know (`devices_changed` with the difference) before anything is delivered; devices without
/// keys do not count; a retry of a message already stored is a duplicate, not a refusal.
#[tokio::test]
async fn a_group_send_listing_stale_member_devices_is_refused_with_the_difference() {
    let server = Server::start_team().await;
    let a1 = server.register_member("alice").await;
    let b1 = server.register_keyed("bob").await;
    let group = a1.create_group("known", &["bob"]).await;
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

/// The server takes a change only from the device that signed it, naming the keys that device
/// published, and confirmed by its user's self-signing key: what every client would refuse, the
/// server refuses first, and stores and delivers nothing of it.
#[tokio::test]
async fn a_change_is_taken_only_from_the_confirmed_device_that_signed_it() {
    let server = Server::start_team().await;
    let [a1, bob] = server.register_members(["alice", "bob"]).await;
    let mut a2 = server.login_keyed("alice").await;
    let mut carol = server.register_keyed("carol").await;
    let group = a1.create_group("signed", &["bob"]).await;
    let g = &group.group_id;
    for c in [&a1, &a2, &bob] {
        take(c).await;
    }
    let (seq, prev) = a1.next_change(g).await;
    let change = a1.group_change(g, seq, prev.clone(), add(&["carol"]));
    let json = serde_json::to_string(&change).unwrap();

    // A bad signature: by another key, or over other bytes.
    let other_key = new_signing_key();
    let by_other_key = SignedGroupChange {
        change: json.clone(),
        signature: b64(&other_key.sign(&SignedGroupChange::signing_bytes(&json)).to_bytes()),
    };
    assert_error(a1.post_change(g, &by_other_key).await, 400, "invalid_signature").await;
    let mut tampered = a1.sign_json(json.clone());
    tampered.change = tampered.change.replace(r#""carol""#, r#""bob""#);
    assert_error(a1.post_change(g, &tampered).await, 400, "invalid_signature").await;
    // Signed by the key it names, but keys this device did not publish.
    let foreign = GroupChange { ed25519: b64(other_key.verifying_key().as_bytes()), ..change.clone() };
    let foreign_json = serde_json::to_string(&foreign).unwrap();
    let by_foreign = SignedGroupChange {
        signature: b64(&other_key.sign(&SignedGroupChange::signing_bytes(&foreign_json)).to_bytes()),
        change: foreign_json,
    };
    assert_error(a1.post_change(g, &by_foreign).await, 400, "invalid_signature").await;
    let other_curve = GroupChange { curve25519: b64(&random_bytes::<32>()), ..change.clone() };
    assert_error(a1.post_change(g, &a1.sign_group_change(&other_curve)).await, 400, "invalid_signature").await;

    // Not confirmed by its user: no confirmation; alice's second device, never confirmed,
    // vouching for itself with cross-signing keys alice never published, or with her first
    // device's confirmation.
    let unconfirmed = GroupChange { confirmation: String::new(), ..change.clone() };
    assert_error(a1.post_change(g, &a1.sign_group_change(&unconfirmed)).await, 403, "not_confirmed").await;
    a2.cross_signing = Some(CrossSigning::generate());
    let by_a2 = a2.group_change(g, seq, prev.clone(), add(&["carol"]));
    assert_error(a2.post_change(g, &a2.sign_group_change(&by_a2)).await, 403, "not_confirmed").await;
    let borrowed = GroupChange { confirmation: change.confirmation.clone(), ..by_a2.clone() };
    assert_error(a2.post_change(g, &a2.sign_group_change(&borrowed)).await, 403, "not_confirmed").await;

    // A change another device or another user made, sent by this one, even signed correctly.
    assert_error(a1.post_change(g, &a2.sign_group_change(&by_a2)).await, 403, "forbidden").await;
    let by_bob = bob.sign_change(g, seq, prev, GroupAction::Leave);
    assert_error(a1.post_change(g, &by_bob).await, 403, "forbidden").await;
    // A user without a published identity signs nothing.
    carol.cross_signing = Some(CrossSigning::generate());
    assert_error(carol.create_group_with(create("mine", &[])).await, 409, "no_identity").await;

    // Nothing was stored or delivered.
    let log = a1.group_log(g).await;
    assert_eq!((log.changes.len(), log.group), (1, group.clone()));
    assert_no_entries(&[&a1, &a2, &bob, &carol]).await;

    // Once alice confirms the second device, its change is taken.
    a2.confirm_with(a1.cross_signing().clone()).await;
    let after = a2.change_ok(g, add(&["carol"])).await;
    assert!(after.members.iter().any(|m| m.user_id.as_str() == "carol"));
    let ev = one_event_each(&[&a1, &a2, &bob, &carol]).await;
    assert_eq!(parse_change(ev.signed.as_ref().unwrap()).device_id, *a2.device());
}

/// A change names its place in the log: another seq or another `prev` is refused as stale and
/// stores nothing. A `create` goes to `POST /v1/groups` and every other change to the group's
/// `changes`.
#[tokio::test]
async fn a_change_must_follow_the_head_of_the_log_on_its_route() {
    let server = Server::start_team().await;
    let [alice, bob] = server.register_members(["alice", "bob"]).await;
    server.register("carol").await;
    let group = alice.create_group("chain", &["bob"]).await;
    let g = &group.group_id;
    alice.change_ok(g, set_role("bob", Role::Admin)).await;
    let log = alice.group_log(g).await;
    let (first, head) = (entry_hash(&log.changes[0]), entry_hash(&log.changes[1]));
    for c in [&alice, &bob] {
        take(c).await;
    }

    let add_carol = |seq: u64, prev: Option<&str>| alice.sign_change(g, seq, prev.map(str::to_owned), add(&["carol"]));
    let unrelated = entry_hash(&log_free_entry());
    for (seq, prev) in [(2, Some(&first)), (4, Some(&head)), (3, Some(&first)), (3, Some(&unrelated)), (3, None)] {
        let resp = alice.post_change(g, &add_carol(seq, prev.map(String::as_str))).await;
        assert_error(resp, 409, "stale_version").await;
    }
    let unchanged = alice.group_log(g).await;
    assert_eq!((unchanged.changes, unchanged.group), (log.changes, log.group));
    assert_no_entries(&[&alice, &bob]).await;
    // At the head: taken.
    let resp = alice.post_change(g, &add_carol(3, Some(&head))).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    // A change of another group, sent to this one's route.
    let other = alice.create_group("other", &[]).await;
    let (seq, prev) = alice.next_change(&other.group_id).await;
    let elsewhere = alice.sign_change(&other.group_id, seq, prev, GroupAction::Dismiss);
    assert_error(alice.post_change(g, &elsewhere).await, 400, "invalid_input").await;
    // `create` on a group's route, wherever it is signed to go.
    let (seq, prev) = alice.next_change(g).await;
    for (seq, prev) in [(seq, prev.clone()), (1, None)] {
        let resp = alice.post_change(g, &alice.sign_change(g, seq, prev, create("again", &[]))).await;
        assert_error(resp, 400, "invalid_input").await;
    }
    // Anything but a first `create` at `POST /v1/groups`, for a new group or an existing one.
    assert_error(alice.create_group_with(GroupAction::Leave).await, 400, "invalid_input").await;
    let resp = alice.post("/v1/groups", &alice.sign_change(g, seq, prev.clone(), add(&["dave"]))).await;
    assert_error(resp, 400, "invalid_input").await;
    for (seq, prev) in [(2, None), (1, Some(head))] {
        let resp = alice.post("/v1/groups", &alice.sign_change(&random_gid(), seq, prev, create("late", &[]))).await;
        assert_error(resp, 400, "invalid_input").await;
    }
    // Not a change at all.
    let junk = SignedGroupChange { change: "{}".into(), signature: "x".into() };
    assert_error(alice.post_change(g, &junk).await, 400, "invalid_input").await;
    assert_error(alice.post("/v1/groups", &junk).await, 400, "invalid_input").await;

    assert_eq!(alice.group_log(g).await.group.version, 3, "nothing else was stored");
    let list: GroupList = bob.get("/v1/groups").await.json().await.unwrap();
    assert_eq!(list.groups.len(), 1, "and no group was created");
}

async fn log_page(c: &Client, g: &GroupId, after: u64, limit: u32) -> GroupLogPage {
    let resp = c.group_log_page(g, after, limit).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

/// The log: the signed changes in order, chained, paged with `after` and `limit`, with the member
/// list the server holds, for current members only; every membership event carries its entry.
#[tokio::test]
async fn the_log_lists_the_signed_changes_for_members_only() {
    let server = Server::start_team().await;
    let [alice, bob, carol, dave] = server.register_members(["alice", "bob", "carol", "dave"]).await;
    let erin = server.register("erin").await;
    let group = alice.create_group("logged", &["bob"]).await;
    let g = &group.group_id;
    alice.change_ok(g, add(&["carol"])).await;
    alice.change_ok(g, set_role("bob", Role::Admin)).await;
    bob.change_ok(g, remove("carol")).await;
    let last = alice.change_ok(g, add(&["dave"])).await;

    let log = bob.group_log(g).await;
    assert_eq!(log.group, last);
    let authors: Vec<(u64, String)> =
        log.changes.iter().map(parse_change).map(|c| (c.seq, c.author.to_string())).collect();
    let expected = [(1, "alice"), (2, "alice"), (3, "alice"), (4, "bob"), (5, "alice")];
    assert_eq!(authors, expected.map(|(seq, author)| (seq, author.to_owned())));
    assert_eq!(parse_change(&log.changes[0]).prev, None);
    assert_chained(&log.changes);

    // Pages, for the newest member too.
    for (after, limit, range, more) in
        [(0, 2, 0..2, true), (2, 2, 2..4, true), (4, 2, 4..5, false), (5, 2, 5..5, false)]
    {
        let page = log_page(&dave, g, after, limit).await;
        assert_eq!(page.changes, log.changes[range], "after {after}, limit {limit}");
        assert_eq!((page.more, &page.group), (more, &last));
    }
    let all: GroupLogPage = dave.get(&format!("/v1/groups/{g}/changes")).await.json().await.unwrap();
    assert_eq!((all.changes, all.more), (log.changes.clone(), false));
    for query in ["limit=0", "limit=501", "after=-1", "after=x"] {
        error_body(dave.get(&format!("/v1/groups/{g}/changes?{query}")).await, 400).await;
    }
    // Members only: not a removed member, not a stranger; no log of a group that does not exist.
    assert_error(carol.group_log_page(g, 0, 10).await, 403, "not_member").await;
    assert_error(erin.group_log_page(g, 0, 10).await, 403, "not_member").await;
    assert_error(alice.group_log_page(&GroupId::parse("NoSuchGroup").unwrap(), 0, 10).await, 404, "not_found").await;

    // Every event carries its entry of the log, exactly.
    let signed: Vec<SignedGroupChange> = take_events(&alice).await.into_iter().map(|e| e.signed.unwrap()).collect();
    assert_eq!(signed, log.changes);
    let to_dave = take_events(&dave).await;
    assert_eq!(to_dave.len(), 1);
    assert_eq!(to_dave[0].signed.as_ref(), Some(&log.changes[4]));
}

/// A group made before changes were signed has no log. Its first signed change (`adopt`) must
/// state exactly the name and members the server holds, and is taken once; changes then chain on
/// it.
#[tokio::test]
async fn a_group_from_before_signing_is_adopted_once_with_its_exact_members() {
    let server = Server::start_team().await;
    let [alice, bob, carol, dave] = server.register_members(["alice", "bob", "carol", "dave"]).await;
    // As the release before signed changes left it: rows at version 3, and no log.
    database(&server)
        .execute_batch(
            "INSERT INTO groups (group_id, name, version, created_ts) VALUES ('old-group', 'old times', 3, 1);
             INSERT INTO group_members VALUES
                 ('old-group', 'alice', 'owner'), ('old-group', 'bob', 'admin'), ('old-group', 'carol', 'member');
             INSERT INTO group_membership_periods (group_id, user_id, from_seq, to_seq)
                 SELECT group_id, user_id, 1, NULL FROM group_members WHERE group_id = 'old-group';",
        )
        .unwrap();
    let g = GroupId::parse("old-group").unwrap();
    let log = bob.group_log(&g).await;
    assert!(log.changes.is_empty());
    let old = log.group;
    assert_eq!((old.version, old.members.len()), (3, 3));
    assert_eq!(bob.next_change(&g).await, (4, None));

    let adopt =
        |name: &str, members: &[GroupMember]| GroupAction::Adopt { name: name.into(), members: members.to_vec() };
    let member = |user: &str, role| GroupMember { user_id: uid(user), role };
    // Nothing but an adopt comes first.
    assert_error(alice.change(&g, add(&["dave"])).await, 409, "conflict").await;
    // Not the server's list: someone left out, someone added, another role, another name.
    let other_roles = [member("alice", Role::Owner), member("bob", Role::Member), member("carol", Role::Member)];
    let with_dave = [old.members.clone(), vec![member("dave", Role::Member)]].concat();
    for action in [
        adopt("old times", &old.members[..2]),
        adopt("old times", &with_dave),
        adopt("old times", &other_roles),
        adopt("new times", &old.members),
    ] {
        assert_error(bob.change(&g, action).await, 409, "conflict").await;
    }
    // The exact list, but not as the first entry at the next version, or by a non-member.
    let exact = adopt("old times", &old.members);
    let resp = bob.post_change(&g, &bob.sign_change(&g, 4, Some(entry_hash(&log_free_entry())), exact.clone())).await;
    assert_error(resp, 409, "conflict").await;
    let resp = bob.post_change(&g, &bob.sign_change(&g, 5, None, exact.clone())).await;
    assert_error(resp, 409, "stale_version").await;
    assert_error(dave.post_change(&g, &dave.sign_change(&g, 4, None, exact.clone())).await, 403, "not_member").await;
    assert_no_entries(&[&alice, &bob, &carol, &dave]).await;
    assert!(bob.group_log(&g).await.changes.is_empty());

    // A plain member signs it: the group is at the next version, its log starts there, and every
    // member is told.
    let signed = carol.sign_change(&g, 4, None, exact.clone());
    let resp = carol.post_change(&g, &signed).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let adopted: GroupInfo = resp.json().await.unwrap();
    assert_eq!(adopted, GroupInfo { version: 4, ..old.clone() });
    let ev = one_event_each(&[&alice, &bob, &carol]).await;
    assert_eq!((ev.change, ev.actor.as_str(), &ev.group), (MembershipChange::Created, "carol", &adopted));
    assert_eq!(ev.signed.as_ref(), Some(&signed));
    assert_eq!(alice.group_log(&g).await.changes, vec![signed.clone()]);

    // Once: not after it, not in its place.
    assert_error(bob.change(&g, exact.clone()).await, 409, "conflict").await;
    assert_error(bob.post_change(&g, &bob.sign_change(&g, 4, None, exact)).await, 409, "stale_version").await;
    // Changes chain on it.
    assert_eq!(alice.change_ok(&g, add(&["dave"])).await.version, 5);
    let log = dave.group_log(&g).await;
    assert_eq!(log.changes.len(), 2);
    assert_chained(&log.changes);
}

/// A sender that names the members it computed from the log has its `member_devices` checked
/// against those members' devices only: a member the server lists that no member added is not the
/// sender's to know about. The server still routes to its own list: that member gets the
/// ciphertext, and never the key.
#[tokio::test]
async fn a_group_send_naming_its_members_is_checked_against_their_devices_only() {
    let server = Server::start_team().await;
    let a1 = server.register_member("alice").await;
    let a2 = server.login_keyed("alice").await;
    let b1 = server.register_keyed("bob").await;
    let mallory = server.register_keyed("mallory").await;
    let group = a1.create_group("named", &["bob"]).await;
    // The server lists mallory too, unsigned (written into its database directly).
    database(&server)
        .execute("INSERT INTO group_members VALUES (?1, 'mallory', 'member')", [group.group_id.as_str()])
        .unwrap();
    let path = format!("/v1/groups/{}/messages", group.group_id);
    let send = |id: &str, devices: &[DeviceAddress], members: Option<&[&str]>| json!({"message_id": id, "ciphertext": "ct", "member_devices": devices, "members": members.map(users)});

    // Without `members`, mallory's device counts.
    let known = [a2.addr(), b1.addr()];
    let err = assert_error(a1.post(&path, &send("msg-0001", &known, None)).await, 409, "devices_changed").await;
    assert_eq!(err.devices.unwrap().missing, vec![mallory.addr()]);
    // Naming alice and bob, it does not; the message still reaches her.
    let resp = a1.post(&path, &send("msg-0001", &known, Some(&["alice", "bob"]))).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert!(mallory.inbox_all().await.iter().any(|e| e.message_id.as_str() == "msg-0001"));
    // The named members' devices are still checked, the sender's own included.
    let b2 = server.login_keyed("bob").await;
    let err =
        assert_error(a1.post(&path, &send("msg-0002", &known, Some(&["alice", "bob"]))).await, 409, "devices_changed")
            .await;
    assert_eq!(err.devices.unwrap().missing, vec![b2.addr()]);
    let err = assert_error(
        a1.post(&path, &send("msg-0002", &[b1.addr(), b2.addr()], Some(&["alice", "bob"]))).await,
        409,
        "devices_changed",
    )
    .await;
    assert_eq!(err.devices.unwrap().missing, vec![a2.addr()]);
    let all = [a2.addr(), b1.addr(), b2.addr()];
    assert_eq!(a1.post(&path, &send("msg-0002", &all, Some(&["alice", "bob"]))).await.status(), 200);
}

/// On a server as shipped (`--group-adds invite`), only people who have written to an admin can
/// be added by them; anyone else is invited, reads the group's changes but none of its messages,
/// and joins or declines with a change they sign themselves.
#[tokio::test]
async fn strangers_are_invited_and_answer_for_themselves() {
    let server = Server::start().await;
    let [alice, bob, carol, dave] = server.register_members(["alice", "bob", "carol", "dave"]).await;
    let erin = server.register_member("erin").await;

    // Nobody has written to alice: adding bob is refused, naming him.
    let create = |members: &[&str], invited: &[&str]| GroupAction::Create {
        name: "team".into(),
        members: users(members),
        invited: users(invited),
    };
    let resp = alice.create_group_with(create(&["bob", "carol"], &[])).await;
    let body = assert_error(resp, 403, "invitation_required").await;
    assert_eq!(body.users, Some(vec![uid("bob"), uid("carol")]));
    // Bob writes to alice; now he can be added, and carol and dave are invited.
    bob.send_direct(&random_mid(), &[(alice.addr(), "hello".into())]).await;
    let resp = alice.create_group_with(create(&["bob"], &["carol", "dave"])).await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap_or_default());
    let group: GroupInfo = resp.json().await.unwrap();
    let g = group.group_id.clone();
    assert_eq!(group.members.len(), 2);
    assert_eq!(group.invited, vec![uid("carol"), uid("dave")]);

    // The invited learn of it, list the group, read its changes — and get none of its messages.
    let created = carol.inbox_all().await;
    assert!(created.iter().any(|e| matches!(&e.body, EntryBody::Membership(m) if m.group_id == g)));
    let listed: sotto_proto::GroupList = carol.get("/v1/groups").await.json().await.unwrap();
    assert_eq!(listed.groups.iter().map(|x| &x.group_id).collect::<Vec<_>>(), [&g]);
    assert_eq!(carol.group_log(&g).await.changes.len(), 1);
    assert_error(group_send(&carol, &group, "invitee-message", "ct").await, 403, "not_member").await;
    assert_error(carol.get(&format!("/v1/groups/{g}/history")).await, 403, "not_member").await;
    let resp = group_send(&alice, &group, "members-only", "ct").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    assert!(!carol.inbox_all().await.iter().any(|e| matches!(&e.body, EntryBody::Group { .. })));
    // Nor may they act in the group, and nobody else answers for them.
    assert_error(carol.change(&g, GroupAction::Invite { users: vec![uid("erin")] }).await, 403, "not_member").await;
    let (seq, prev) = alice.next_change(&g).await;
    let uninvited = erin.sign_change(&g, seq, prev, GroupAction::Join);
    assert_error(erin.post_change(&g, &uninvited).await, 403, "not_member").await;
    assert_error(bob.change(&g, GroupAction::Join).await, 403, "not_invited").await;
    // An invited stranger cannot be added over their head either.
    let body =
        assert_error(alice.change(&g, GroupAction::Add { users: vec![uid("dave")] }).await, 403, "invitation_required")
            .await;
    assert_eq!(body.users, Some(vec![uid("dave")]));

    // Carol joins: a member from now on, with messages from now on.
    let after = carol.change_ok(&g, GroupAction::Join).await;
    assert!(after.members.iter().any(|m| m.user_id == uid("carol") && m.role == Role::Member));
    assert_eq!(after.invited, vec![uid("dave")]);
    let resp = group_send(&alice, &after, "after-carol-joined", "ct").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    let got = carol.inbox_all().await;
    let messages: Vec<&str> =
        got.iter().filter(|e| matches!(e.body, EntryBody::Group { .. })).map(|e| e.message_id.as_str()).collect();
    assert_eq!(messages, ["after-carol-joined"]);
    // Dave declines: no longer invited, and the group is no longer his to read.
    let after = dave.change_ok(&g, GroupAction::Decline).await;
    assert!(after.invited.is_empty() && !after.members.iter().any(|m| m.user_id == uid("dave")));
    assert_error(dave.get(&format!("/v1/groups/{g}/changes")).await, 403, "not_member").await;
    let listed: sotto_proto::GroupList = dave.get("/v1/groups").await.json().await.unwrap();
    assert!(listed.groups.is_empty());
    // An admin withdraws an invitation; the event says so.
    alice.change_ok(&g, GroupAction::Invite { users: vec![uid("erin")] }).await;
    let after = alice.change_ok(&g, GroupAction::Remove { user: uid("erin") }).await;
    assert!(after.invited.is_empty());
    let withdrawn = erin.inbox_all().await.into_iter().rev().find_map(|e| match e.body {
        EntryBody::Membership(m) => Some(m.change),
        _ => None,
    });
    assert_eq!(withdrawn, Some(MembershipChange::InvitationWithdrawn));
}
