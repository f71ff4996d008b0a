//! The crypto layer without a server: two or three machines with their own real (SQLCipher)
//! stores exchange ciphertexts directly.

use sotto_proto::{ClaimedKey, DeviceAddress, DeviceId, GroupId, UserId};
use tempfile::TempDir;

use super::payload::{GroupContent, GroupPlaintext, OlmContent, PAYLOAD_VERSION};
use super::*;
use crate::profile::ProfileKey;
use crate::store::{DeviceRecord, OpenMode, Store};
use crate::{Error, ErrorCode};

struct Party {
    machine: Machine,
    store: Store,
    _dir: TempDir,
}

impl Party {
    fn new(user: &str, device: &str) -> Party {
        let dir = tempfile::tempdir().unwrap();
        let key = ProfileKey::generate().unwrap();
        let store = Store::open(&dir.path().join("sotto.db"), &key, OpenMode::Create).unwrap();
        let own = DeviceAddress { user_id: UserId::parse(user).unwrap(), device_id: DeviceId::parse(device).unwrap() };
        let machine = Machine::create(own, key.pickle_key().unwrap());
        machine.save_account(&store.db()).unwrap();
        Party { machine, store, _dir: dir }
    }

    fn record(&self) -> DeviceRecord {
        DeviceRecord {
            user_id: self.machine.own().user_id.clone(),
            device_id: self.machine.own().device_id.clone(),
            curve25519: self.machine.curve25519(),
            ed25519: self.machine.ed25519(),
            first_seen: 0,
            active: true,
            confirmed: true,
        }
    }

    /// One signed one-time key, as the directory would hand it out.
    fn claim(&mut self) -> ClaimedKey {
        let upload = self.machine.keys_to_upload(0, false).unwrap().unwrap();
        self.machine.mark_published();
        let key = upload.one_time_keys.into_iter().next().unwrap();
        ClaimedKey { user_id: self.record().user_id, device_id: self.record().device_id, key, fallback: false }
    }

    fn olm_to(&self, to: &Party, body: &str) -> String {
        let content =
            OlmContent::Text { to: to.record().user_id, body: body.into(), ts: 1, reply_to: None, profile_key: None };
        self.machine.encrypt_olm(&self.store.db(), &to.record(), &content).unwrap()
    }

    fn olm_from(&mut self, from: &DeviceRecord, ciphertext: &str) -> Result<String, Undecryptable> {
        let Party { machine, store, .. } = self;
        let plain = store.transaction(|db| machine.decrypt_olm(db, from, ciphertext)).unwrap()?;
        match plain.content {
            OlmContent::Text { body, .. } => Ok(body),
            _ => panic!("expected text"),
        }
    }
}

#[test]
fn olm_messages_decrypt_out_of_order_once_and_only_from_their_sender() {
    let alice = Party::new("alice", "A1");
    let mut bob = Party::new("bob", "B1");
    let claimed = bob.claim();
    alice.machine.start_olm_session(&alice.store.db(), &bob.record(), &claimed).unwrap();
    let m: Vec<String> = (1..=4).map(|i| alice.olm_to(&bob, &format!("m{i}"))).collect();
    let from = alice.record();
    assert_eq!(bob.olm_from(&from, &m[0]).unwrap(), "m1");
    assert_eq!(bob.olm_from(&from, &m[3]).unwrap(), "m4");
    assert_eq!(bob.olm_from(&from, &m[1]).unwrap(), "m2");
    assert_eq!(bob.olm_from(&from, &m[2]).unwrap(), "m3");
    // A replayed ciphertext does not decrypt a second time.
    assert_eq!(bob.olm_from(&from, &m[1]), Err(Undecryptable::Replayed));
    // The pinned device must be the sender: another device's keys do not match.
    let mallory = Party::new("mallory", "M1");
    assert_eq!(bob.olm_from(&mallory.record(), &m[0]), Err(Undecryptable::SenderMismatch));
    let impostor = DeviceRecord { ed25519: mallory.machine.ed25519(), ..alice.record() };
    let fresh = alice.olm_to(&bob, "fresh");
    assert_eq!(bob.olm_from(&impostor, &fresh), Err(Undecryptable::SenderMismatch));
    let fresh = alice.olm_to(&bob, "fresh");
    // Garbage is malformed, a flipped byte is not decryptable; neither is a crash.
    assert_eq!(bob.olm_from(&from, "not json"), Err(Undecryptable::Malformed));
    let mut envelope: serde_json::Value = serde_json::from_str(&fresh).unwrap();
    let body = envelope["body"].as_str().unwrap().replacen('A', "B", 1).replacen('a', "b", 1);
    envelope["body"] = body.into();
    assert!(bob.olm_from(&from, &envelope.to_string()).is_err());
    // The session is intact after all of that.
    let later = alice.olm_to(&bob, "later");
    assert_eq!(bob.olm_from(&from, &later).unwrap(), "later");
    // And bob answers over the same session.
    let mut alice = alice;
    let reply = bob.olm_to(&alice, "reply");
    assert_eq!(alice.olm_from(&bob.record(), &reply).unwrap(), "reply");
}

#[test]
fn a_replayed_message_built_on_the_fallback_key_does_not_reset_the_session() {
    let alice = Party::new("alice", "A1");
    let mut bob = Party::new("bob", "B1");
    // Bob has no one-time keys left: the directory hands out his fallback key.
    let upload = bob.machine.keys_to_upload(0, false).unwrap().unwrap();
    bob.machine.mark_published();
    let fallback = upload.fallback_key.unwrap();
    let claimed =
        ClaimedKey { user_id: bob.record().user_id, device_id: bob.record().device_id, key: fallback, fallback: true };
    alice.machine.start_olm_session(&alice.store.db(), &bob.record(), &claimed).unwrap();
    let first = alice.olm_to(&bob, "first");
    let from = alice.record();
    assert_eq!(bob.olm_from(&from, &first).unwrap(), "first");
    // The server replays it: refused, and the session in use is untouched.
    assert_eq!(bob.olm_from(&from, &first), Err(Undecryptable::Replayed));
    let mut alice = alice;
    let reply = bob.olm_to(&alice, "reply");
    assert_eq!(alice.olm_from(&bob.record(), &reply).unwrap(), "reply");
    assert_eq!(bob.olm_from(&from, &first), Err(Undecryptable::Replayed));
    let next = alice.olm_to(&bob, "next");
    assert_eq!(bob.olm_from(&from, &next).unwrap(), "next");
    let reply = bob.olm_to(&alice, "reply 2");
    assert_eq!(alice.olm_from(&bob.record(), &reply).unwrap(), "reply 2");
}

#[test]
fn a_claimed_key_with_a_bad_signature_is_refused() {
    let alice = Party::new("alice", "A1");
    let mut bob = Party::new("bob", "B1");
    let mut claimed = bob.claim();
    claimed.key.key = Party::new("eve", "E1").machine.curve25519();
    let err = alice.machine.start_olm_session(&alice.store.db(), &bob.record(), &claimed).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Crypto);
    assert!(matches!(&err, Error::Crypto(CryptoError::BadSignature(user)) if user.as_str() == "bob"), "{err:?}");
    assert!(!alice.machine.has_olm_session(&alice.store.db(), &bob.record().curve25519).unwrap());
}

#[test]
fn a_malformed_directory_key_keeps_the_parse_error_as_its_source() {
    use std::error::Error as _;
    let alice = Party::new("alice", "A1");
    let mut bob = Party::new("bob", "B1");
    let claimed = bob.claim();
    let mut record = bob.record();
    record.curve25519 = "not a key".into();
    let err = alice.machine.start_olm_session(&alice.store.db(), &record, &claimed).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Crypto);
    assert_eq!(err.to_string(), "Encryption failed: a directory identity key of bob is malformed");
    let source = err.source().and_then(|crypto| crypto.source()).unwrap();
    assert!(source.downcast_ref::<vodozemac::KeyError>().is_some(), "{source:?}");
}

fn group_plaintext(group: &GroupId, sender: &DeviceAddress, body: &str) -> GroupPlaintext {
    GroupPlaintext {
        v: PAYLOAD_VERSION,
        group_id: group.clone(),
        sender: sender.clone(),
        content: GroupContent::Text { body: body.into(), ts: 1, reply_to: None, profile_key: None },
        state: None,
    }
}

#[test]
fn megolm_rotates_after_100_messages_and_on_removal_and_rejects_replays() {
    let mut alice = Party::new("alice", "A1");
    let alice_own = alice.machine.own().clone();
    let mut bob = Party::new("bob", "B1");
    let carol = Party::new("carol", "C1");
    let group = GroupId::parse("g1").unwrap();
    let db = alice.store.db();

    let (first, needs) = alice.machine.outbound_group(&db, &group, &[bob.record()]).unwrap();
    assert_eq!(needs, vec![bob.record()]);
    alice.machine.mark_shared(&db, &group, &first.session_id, &[bob.record()]).unwrap();
    // Adding carol keeps the session; only carol needs its key.
    let (same, needs) = alice.machine.outbound_group(&db, &group, &[bob.record(), carol.record()]).unwrap();
    assert_eq!(same.session_id, first.session_id);
    assert_eq!(needs, vec![carol.record()]);
    alice.machine.mark_shared(&db, &group, &first.session_id, &[carol.record()]).unwrap();

    // Bob gets the key (as over Olm) and decrypts; a replay under another id is rejected.
    let OlmContent::RoomKey { session_id, session_key, .. } = alice.machine.room_key(&db, &group, &same).unwrap()
    else {
        panic!("room key");
    };
    let alice_rec = alice.record();
    // Bob has pinned alice's and carol's devices (as the directory lists them).
    bob.store.db().upsert_device(&alice_rec).unwrap();
    bob.store.db().upsert_device(&carol.record()).unwrap();
    let Party { machine: bob_m, store: bob_s, .. } = &mut bob;
    bob_s
        .transaction(|db| bob_m.receive_room_key(db, &alice_rec, &group, &session_id, &session_key).map(|_| ()))
        .unwrap();
    let c1 =
        alice.machine.encrypt_group(&db, &group, None, &group_plaintext(&group, &alice_own, "one")).unwrap().unwrap();
    let sender = alice.machine.own().clone();
    let mut decrypt = |id: &str, c: &str| {
        bob_s
            .transaction(|db| bob_m.decrypt_group(db, &group, &sender, Some(&alice_rec), id, c))
            .unwrap()
            .map(|d| (d.duplicate, d.session_id))
    };
    assert_eq!(decrypt("m1", &c1), Ok((false, first.session_id.clone())));
    assert_eq!(decrypt("m1", &c1), Ok((true, first.session_id.clone())), "the same message again is a duplicate");
    assert_eq!(decrypt("m2", &c1), Err(Undecryptable::Replayed));
    // From someone else's name, the same ciphertext is refused.
    let other = DeviceAddress { user_id: UserId::parse("carol").unwrap(), device_id: DeviceId::parse("C1").unwrap() };
    let wrong =
        bob_s.transaction(|db| bob_m.decrypt_group(db, &group, &other, Some(&carol.record()), "m3", &c1)).unwrap();
    assert_eq!(wrong.err(), Some(Undecryptable::MissingRoomKey), "carol has no session of that id");
    let wrong_group = GroupId::parse("g2").unwrap();
    let wrong =
        bob_s.transaction(|db| bob_m.decrypt_group(db, &wrong_group, &sender, Some(&alice_rec), "m4", &c1)).unwrap();
    assert_eq!(wrong.err(), Some(Undecryptable::SenderMismatch));

    // 100 messages in total, then a new session.
    for i in 1..ROTATE_AFTER_MESSAGES {
        alice.machine.encrypt_group(&db, &group, None, &group_plaintext(&group, &alice_own, &format!("{i}"))).unwrap();
    }
    let (rotated, needs) = alice.machine.outbound_group(&db, &group, &[bob.record(), carol.record()]).unwrap();
    assert_ne!(rotated.session_id, first.session_id);
    assert_eq!(needs.len(), 2, "a new session is shared with everyone");
    alice.machine.mark_shared(&db, &group, &rotated.session_id, &needs).unwrap();

    // Carol removed: the next send uses a session carol never gets.
    let (after_removal, needs) = alice.machine.outbound_group(&db, &group, &[bob.record()]).unwrap();
    assert_ne!(after_removal.session_id, rotated.session_id);
    assert_eq!(needs, vec![bob.record()]);

    // A message of an unknown session waits for its key.
    let c2 =
        alice.machine.encrypt_group(&db, &group, None, &group_plaintext(&group, &alice_own, "new")).unwrap().unwrap();
    let missing = bob
        .store
        .transaction(|db| bob.machine.decrypt_group(db, &group, &sender, Some(&alice_rec), "m9", &c2))
        .unwrap();
    assert_eq!(missing.err(), Some(Undecryptable::MissingRoomKey));
    assert_eq!(Machine::group_session_id(&c2), Some(after_removal.session_id.clone()));
    // A sender that shared one session never encrypts with another that replaced it meanwhile.
    let stale =
        alice.machine.encrypt_group(&db, &group, Some(&first.session_id), &group_plaintext(&group, &alice_own, "x"));
    assert!(stale.unwrap().is_none());
    db.discard_outbound_group(&group).unwrap();
    let gone = alice.machine.encrypt_group(
        &db,
        &group,
        Some(&after_removal.session_id),
        &group_plaintext(&group, &alice_own, "x"),
    );
    assert!(gone.unwrap().is_none());
}

#[test]
fn megolm_sessions_rotate_after_seven_days() {
    let alice = Party::new("alice", "A1");
    let bob = Party::new("bob", "B1");
    let group = GroupId::parse("g1").unwrap();
    let db = alice.store.db();
    let (first, _) = alice.machine.outbound_group(&db, &group, &[bob.record()]).unwrap();
    let mut old = db.outbound_group(&group).unwrap().unwrap();
    old.created_ts -= ROTATE_AFTER_MS;
    db.save_outbound_group(&group, &old).unwrap();
    let (second, _) = alice.machine.outbound_group(&db, &group, &[bob.record()]).unwrap();
    assert_ne!(first.session_id, second.session_id);
}

#[test]
fn one_time_keys_are_signed_by_the_device() {
    let mut bob = Party::new("bob", "B1");
    let upload = bob.machine.keys_to_upload(0, false).unwrap().unwrap();
    assert_eq!(upload.one_time_keys.len() as u64, ONE_TIME_KEY_TARGET);
    assert!(upload.fallback_key.is_some());
    let owner = bob.machine.own().clone();
    for key in upload.one_time_keys.iter().chain(upload.fallback_key.iter()) {
        assert!(verify_signature(&bob.machine.ed25519(), &key.signing_bytes(&owner), &key.signature));
    }
    assert!(verify_device_keys(&bob.machine.device_keys()));
    // Published keys are not offered again; the server's count decides how many are added.
    bob.machine.mark_published();
    assert!(bob.machine.keys_to_upload(ONE_TIME_KEY_TARGET, true).unwrap().is_none());
    let more = bob.machine.keys_to_upload(ONE_TIME_KEY_TARGET - 5, true).unwrap().unwrap();
    assert_eq!(more.one_time_keys.len(), 5);
    assert!(more.fallback_key.is_none());
}

#[test]
fn a_new_identity_is_separate_until_adopted_and_then_the_old_one_is_gone() {
    let mut alice = Party::new("alice", "A1");
    let mut bob = Party::new("bob", "B1");
    let claimed = bob.claim();
    alice.machine.start_olm_session(&alice.store.db(), &bob.record(), &claimed).unwrap();
    let old = alice.record();
    let before = alice.olm_to(&bob, "with the old keys");
    assert_eq!(Machine::olm_sender_key(&before).as_deref(), Some(old.curve25519.as_str()));
    assert_eq!(bob.olm_from(&old, &before).unwrap(), "with the old keys");

    // A pending identity: new keys, self-signed for the same device, and nothing changes yet.
    let pending = alice.machine.new_identity();
    let keys = alice.machine.identity_keys(&pending).unwrap();
    assert!(verify_device_keys(&keys));
    assert_eq!((keys.user_id.as_str(), keys.device_id.as_str()), ("alice", "A1"));
    assert_ne!(keys.curve25519, old.curve25519);
    assert_ne!(keys.ed25519, old.ed25519);
    assert_eq!(alice.machine.identity_keys(&pending).unwrap(), keys, "the same pending identity, the same keys");
    assert_eq!(alice.machine.device_keys().curve25519, old.curve25519);
    assert!(alice.machine.identity_keys("not a pickle").is_err());

    // Adopted (with the old sessions dropped): persisted, so a reload has the new identity.
    {
        let Party { machine, store, .. } = &mut alice;
        store
            .transaction(|db| {
                machine.adopt_identity(db, &pending)?;
                db.discard_identity_sessions()
            })
            .unwrap();
        machine.reload(&store.db()).unwrap();
    }
    assert_eq!(alice.machine.device_keys(), keys);
    let new = alice.record();
    assert!(!alice.machine.has_olm_session(&alice.store.db(), &bob.record().curve25519).unwrap());

    // A new session from the new identity: bob, still pinning the old keys, refuses it (the
    // sender key is the hint to look alice up again); with the new keys pinned it decrypts.
    let claimed = bob.claim();
    alice.machine.start_olm_session(&alice.store.db(), &bob.record(), &claimed).unwrap();
    let after = alice.olm_to(&bob, "with the new keys");
    assert_eq!(Machine::olm_sender_key(&after).as_deref(), Some(new.curve25519.as_str()));
    assert_eq!(bob.olm_from(&old, &after), Err(Undecryptable::SenderMismatch));
    assert_eq!(bob.olm_from(&new, &after).unwrap(), "with the new keys");
    // A message claiming the new key but signed for the old identity's Ed25519 key is refused.
    let mixed = DeviceRecord { ed25519: old.ed25519.clone(), ..new.clone() };
    let again = alice.olm_to(&bob, "again");
    assert_eq!(bob.olm_from(&mixed, &again), Err(Undecryptable::SenderMismatch));
    assert_eq!(Machine::olm_sender_key("not an envelope"), None);
}

/// The key backup's view of the sessions: a device's own outbound session is kept as an inbound
/// copy from index 0, exported keys import on another device of the same user and decrypt the
/// first message, and the backed-up marks follow what was uploaded.
#[test]
fn own_group_sessions_export_and_import_for_the_key_backup() {
    let mut alice = Party::new("alice", "A1");
    let mut alice2 = Party::new("alice", "A2");
    let bob = Party::new("bob", "B1");
    let group = GroupId::parse("g1").unwrap();
    let alice_own = alice.machine.own().clone();
    let db = alice.store.db();
    let (record, _) = alice.machine.outbound_group(&db, &group, &[bob.record()]).unwrap();
    let first =
        alice.machine.encrypt_group(&db, &group, None, &group_plaintext(&group, &alice_own, "first")).unwrap().unwrap();
    alice.machine.encrypt_group(&db, &group, None, &group_plaintext(&group, &alice_own, "second")).unwrap();
    assert!(db.has_sessions_to_back_up().unwrap());
    assert_eq!(db.key_backup_counts().unwrap(), (1, 0));

    let exported = alice.machine.export_group_sessions(&db, BackupScope::NotBackedUp).unwrap();
    assert_eq!(exported.len(), 1);
    let (Record::InboundGroupSession { session_id, first_index, sender_user, sender_curve, .. }, index) = &exported[0]
    else {
        panic!("a group session record");
    };
    assert_eq!((session_id, *first_index, *index), (&record.session_id, 0, 0), "from the very first message");
    assert_eq!((sender_user.as_str(), sender_curve), ("alice", &alice.machine.curve25519()));
    db.mark_backed_up(&[(session_id.clone(), sender_curve.clone(), 0)]).unwrap();
    assert!(!db.has_sessions_to_back_up().unwrap());
    assert!(alice.machine.export_group_sessions(&db, BackupScope::NotBackedUp).unwrap().is_empty());
    assert_eq!(alice.machine.export_group_sessions(&db, BackupScope::All).unwrap().len(), 1);

    // Alice's other device imports it (once: the second time nothing is new) and reads the first
    // message, although it never received the key over Olm.
    let Party { machine: m2, store: s2, .. } = &mut alice2;
    let records: Vec<Record> =
        alice.machine.export_group_sessions(&db, BackupScope::All).unwrap().into_iter().map(|(r, _)| r).collect();
    let imported = s2.transaction(|db| m2.import_group_session(db, &records[0])).unwrap();
    assert_eq!(imported.as_ref(), Some(&record.session_id));
    assert_eq!(s2.transaction(|db| m2.import_group_session(db, &records[0])).unwrap(), None);
    assert_eq!(s2.db().key_backup_counts().unwrap(), (1, 1), "imported keys are already in the backup");
    let alice_rec = alice.record();
    let read =
        s2.transaction(|db| m2.decrypt_group(db, &group, &alice_own, Some(&alice_rec), "m1", &first)).unwrap().unwrap();
    let GroupContent::Text { body, .. } = read.plaintext.content else { panic!("a text") };
    assert_eq!(body, "first");

    // A record whose key does not match its session id is skipped, not stored.
    let Record::InboundGroupSession { group_id, sender_user, sender_device, sender_curve, session_key, .. } =
        &records[0]
    else {
        panic!("a group session record");
    };
    let forged = Record::InboundGroupSession {
        session_id: "someothersession".into(),
        group_id: group_id.clone(),
        sender_user: sender_user.clone(),
        sender_device: sender_device.clone(),
        sender_curve: sender_curve.clone(),
        first_index: 0,
        session_key: session_key.clone(),
        received_ts: 0,
    };
    assert_eq!(s2.transaction(|db| m2.import_group_session(db, &forged)).unwrap(), None);
    assert_eq!(s2.db().key_backup_counts().unwrap(), (1, 1));
}

/// A directory entry or a group change can carry any text as a device's Ed25519 key: 44 base64
/// characters (33 bytes) made vodozemac 0.11 panic (see `cross_signing::tests`).
#[test]
fn a_device_key_of_33_bytes_is_refused_not_a_panic() {
    let alice = Party::new("alice", "A1");
    let keys = alice.machine.device_keys();
    assert!(verify_device_keys(&keys));
    let padded_short = format!("{}==", vodozemac::base64_encode([7u8; 31]));
    for key in [vodozemac::base64_encode([7u8; 33]), vodozemac::base64_encode([7u8; 31]), padded_short] {
        assert!(!verify_signature(&key, &keys.signing_bytes(), &keys.signature));
        assert!(!verify_device_keys(&sotto_proto::DeviceKeys { ed25519: key, ..keys.clone() }));
    }
    // The same key with its padding is still the same key, as before.
    assert!(verify_signature(&format!("{}=", keys.ed25519), &keys.signing_bytes(), &keys.signature));
}
