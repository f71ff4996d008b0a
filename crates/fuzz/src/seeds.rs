//! Valid inputs to start from: the committed wire snapshots, real ciphertexts and payloads of
//! every kind the engine receives, and a real backup file's contents. The property tests mutate
//! them; `sotto-fuzz-seeds` writes them out as the libFuzzer targets' starting corpora.

use serde_json::{Value, json};
use sotto_core::fuzzing::{self, CONTACT_USER, RECEIVER_USER, Sender};
use sotto_proto::{InboxEntry, ServerFrame};

use crate::Violation;
use crate::engine::{Engine, PASSPHRASE};

/// Where the wire snapshots are (`crates/proto/tests/snapshots`).
pub const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/snapshots");

fn io(what: &str) -> impl Fn(std::io::Error) -> Violation + '_ {
    move |e| Violation(format!("{what}: {e}"))
}

fn json_bytes(value: &impl serde::Serialize) -> Result<Vec<u8>, Violation> {
    serde_json::to_vec(value).map_err(|e| Violation(format!("encoding a seed: {e}")))
}

/// The types whose snapshot is the list of all their values.
const LISTED: &[&str] = &["ErrorCode", "MembershipChange", "Role"];

/// Every committed wire snapshot: (type name, its JSON), sorted by file name.
pub fn wire() -> Result<Vec<(String, Vec<u8>)>, Violation> {
    let mut files: Vec<_> = std::fs::read_dir(SNAPSHOTS)
        .map_err(io(SNAPSHOTS))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io(SNAPSHOTS))?;
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let Some(file) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".snap")) else {
            continue;
        };
        let name = file.split('-').next().unwrap_or(file).to_owned();
        let text = std::fs::read_to_string(&path).map_err(io(file))?;
        // A snapshot file is a `---`-fenced header, then the JSON.
        let json = text.splitn(3, "---\n").nth(2).ok_or_else(|| Violation(format!("{file}: no snapshot header")))?;
        // The snapshots of the unit enums pin the whole list of their values (every code, every
        // role): each element is one value on the wire.
        if LISTED.contains(&name.as_str())
            && let Ok(serde_json::Value::Array(codes)) = serde_json::from_str(json)
        {
            for code in codes {
                out.push((name.clone(), json_bytes(&code)?));
            }
            continue;
        }
        out.push((name, json.trim().as_bytes().to_vec()));
    }
    Ok(out)
}

fn frame(entry: InboxEntry) -> Result<Vec<u8>, Violation> {
    json_bytes(&ServerFrame::Entry { entry })
}

/// WebSocket frames: entries with real Olm and Megolm ciphertexts for the receiver, and the
/// server frames and inbox entries of the wire snapshots.
pub fn frames(engine: &mut Engine) -> Result<Vec<Vec<u8>>, Violation> {
    let text = json!({"type": "text", "to": RECEIVER_USER, "body": "hello", "ts": 1_767_225_600_000_i64});
    let mut out = Vec::new();
    for from in [Sender::Contact, Sender::OwnDevice] {
        let plaintext = engine.receiver.olm_plaintext_with(from, &text).map_err(|e| Violation(e.to_string()))?;
        out.push(frame(engine.receiver.olm_entry(from, &plaintext).map_err(|e| Violation(e.to_string()))?)?);
    }
    let group_text = json!({"type": "text", "body": "hello all", "ts": 1_767_225_600_000_i64});
    let plaintext = engine.receiver.group_plaintext_with(&group_text, None).map_err(|e| Violation(e.to_string()))?;
    out.push(frame(engine.receiver.megolm_entry(&plaintext).map_err(|e| Violation(e.to_string()))?)?);
    for (name, json) in wire()? {
        match name.as_str() {
            "ServerFrame" => out.push(json),
            "InboxEntry" => {
                let entry: InboxEntry =
                    serde_json::from_slice(&json).map_err(|e| Violation(format!("InboxEntry snapshot: {e}")))?;
                out.push(frame(entry)?);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The records of a backup's contents of the given types (`inbound_group_session`, ...).
fn records(plaintext: &[u8], types: &[&str]) -> Vec<Value> {
    plaintext
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .filter(|v| v.get("type").and_then(Value::as_str).is_some_and(|t| types.contains(&t)))
        .collect()
}

/// The content of every kind of Olm message, as JSON, with who sends it (the keys and history
/// hand-overs come from the receiver's own other device, which alone may send them).
pub fn olm_contents(backup_plaintext: &[u8]) -> Vec<(Sender, Vec<u8>)> {
    let group = fuzzing::GROUP;
    let sessions = records(backup_plaintext, &["inbound_group_session", "group_name_key"]);
    let contents = [
        (Sender::Contact, json!({"type": "text", "to": RECEIVER_USER, "body": "hi", "ts": 5})),
        (Sender::OwnDevice, json!({"type": "text", "to": CONTACT_USER, "body": "sent from my phone", "ts": 6})),
        (
            Sender::Contact,
            json!({"type": "room_key", "group_id": group, "session_id": "S", "session_key": "AAAA", "name_key": "K"}),
        ),
        (Sender::Contact, json!({"type": "session_renewed"})),
        (Sender::Contact, json!({"type": "resend_request", "message_ids": ["fuzz-000000000001", "m2"]})),
        (
            Sender::Contact,
            json!({"type": "resent", "to": RECEIVER_USER, "body": "again", "ts": 7, "original": "fuzz-000000000001"}),
        ),
        (Sender::Contact, json!({"type": "withheld", "to": RECEIVER_USER})),
        (Sender::Contact, json!({"type": "room_key_withheld", "group_id": group, "session_id": "S"})),
        (Sender::Contact, json!({"type": "sas_start", "txn": "t1"})),
        (Sender::Contact, json!({"type": "sas_accept", "txn": "t1", "commitment": "c"})),
        (Sender::Contact, json!({"type": "sas_key", "txn": "t1", "key": "k"})),
        (Sender::Contact, json!({"type": "sas_mac", "txn": "t1", "macs": {"ed25519:ALICE1": "m"}, "keys": "k"})),
        (Sender::Contact, json!({"type": "sas_cancel", "txn": "t1", "reason": "user"})),
        (
            Sender::OwnDevice,
            json!({"type": "identity_keys", "txn": "t1", "master": "a", "self_signing": "b", "user_signing": "c"}),
        ),
        (Sender::OwnDevice, json!({"type": "group_keys", "sessions": sessions})),
        (
            Sender::OwnDevice,
            json!({"type": "history", "messages": [{
                "peer": CONTACT_USER, "message_id": "h-000000000001", "sender_user": CONTACT_USER,
                "sender_device": "ALICE1", "body": "earlier", "outgoing": false, "ts": 3, "server_ts": 4
            }]}),
        ),
    ];
    contents.into_iter().map(|(from, content)| (from, content.to_string().into_bytes())).collect()
}

/// Group actions (the JSON of a change's `action`) of every kind, in an order that makes sense
/// for one group: created by the contact with the receiver in it, changed, left.
pub fn group_actions() -> Vec<Vec<u8>> {
    [
        json!({"type": "create", "name": "Climbing", "members": [RECEIVER_USER]}),
        json!({"type": "add", "users": ["carol.w", "dave"]}),
        json!({"type": "set_role", "user": RECEIVER_USER, "role": "admin"}),
        json!({"type": "remove", "user": "dave"}),
        json!({"type": "set_role", "user": "carol.w", "role": "owner"}),
        json!({"type": "leave"}),
        json!({"type": "dismiss"}),
        json!({"type": "adopt", "name": "Old", "members": [
            {"user_id": CONTACT_USER, "role": "owner"}, {"user_id": RECEIVER_USER, "role": "member"}
        ]}),
        json!({"type": "create", "name": "sealed:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "members": []}),
        // Invitations (after the sequence above, which the tests follow by position).
        json!({"type": "create", "name": "Choir", "members": [], "invited": [RECEIVER_USER]}),
        json!({"type": "invite", "users": ["erin"]}),
        json!({"type": "join"}),
        json!({"type": "decline"}),
        json!({"type": "remove", "user": "erin"}),
    ]
    .iter()
    .map(|action| action.to_string().into_bytes())
    .collect()
}

/// Answers of the directory: the contact as the server lists it (identity, device,
/// confirmation), and with an unknown user beside it.
pub fn directory_answers(engine: &Engine) -> Result<Vec<Vec<u8>>, Violation> {
    let entry = engine.receiver.contact_directory_entry();
    Ok(vec![
        json_bytes(&sotto_proto::QueryKeysResponse { users: vec![entry.clone()], unknown_users: vec![] })?,
        json_bytes(&json!({"users": [entry], "unknown_users": ["carol.w"]}))?,
    ])
}

/// The content of a group message, alone and followed by the sender's group head.
pub fn megolm_contents() -> Vec<Vec<u8>> {
    vec![
        br#"{"type":"text","body":"hello all","ts":5}"#.to_vec(),
        br#"{"type":"text","body":"hello all","ts":5},"state":{"seq":3,"hash":"H"}"#.to_vec(),
    ]
}

/// The receiver's database as a real backup file (a few messages received first), decrypted:
/// its JSON Lines. Takes a second or two (the export's scrypt work factor, twice).
pub fn backup_plaintext(engine: &mut Engine) -> Result<Vec<u8>, Violation> {
    for frame in frames(engine)? {
        engine.frame(&frame)?;
    }
    let file = engine.receiver.export_backup(PASSPHRASE).map_err(|e| Violation(format!("exporting: {e}")))?;
    fuzzing::decrypt_backup(&file, PASSPHRASE).map_err(|e| Violation(format!("decrypting the export: {e}")))
}

/// Key backup contents (the JSON inside the blob) made of a backup's group session records.
pub fn key_backup_plaintexts(backup_plaintext: &[u8]) -> Vec<Vec<u8>> {
    let sessions = records(backup_plaintext, &["inbound_group_session"]);
    let name_keys = records(backup_plaintext, &["group_name_key"]);
    let cross_signing = records(backup_plaintext, &["cross_signing"]).into_iter().next();
    vec![
        json!({"sessions": sessions, "cross_signing": cross_signing, "name_keys": name_keys}).to_string().into_bytes(),
        json!({"sessions": []}).to_string().into_bytes(),
    ]
}
