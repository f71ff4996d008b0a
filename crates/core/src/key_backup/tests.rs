use sotto_proto::UserId;

use super::blob::{self, BackupKey, Contents, Kdf};
use super::recovery::{Argon2Params, RecoveryKey};
use crate::Error;
use crate::backup::Record;

fn session(id: &str, curve: &str, first_index: u32) -> Record {
    Record::InboundGroupSession {
        session_id: id.into(),
        group_id: "G1".into(),
        sender_user: "bob".into(),
        sender_device: "B1".into(),
        sender_curve: curve.into(),
        first_index,
        session_key: format!("key-{id}-{first_index}"),
        received_ts: 1,
    }
}

fn ids(contents: Contents) -> Vec<(String, u32)> {
    contents
        .into_records()
        .filter_map(|r| match r {
            Record::InboundGroupSession { session_id, first_index, .. } => Some((session_id, first_index)),
            _ => None,
        })
        .collect()
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

#[test]
fn recovery_key_text_round_trips_and_catches_typos() {
    let key = RecoveryKey::generate().unwrap();
    let text = key.to_text();
    assert!(text.split(' ').all(|g| !g.is_empty() && g.len() <= 4), "{}", text.as_str());
    let back = RecoveryKey::parse(&text).unwrap();
    assert_eq!(back.as_bytes(), key.as_bytes());
    // Spaces and line breaks do not matter.
    let compact: String = text.chars().filter(|c| *c != ' ').collect();
    assert_eq!(
        RecoveryKey::parse(&format!("  {}\n{} ", &compact[..10], &compact[10..])).unwrap().as_bytes(),
        key.as_bytes()
    );
    // One character changed, one missing, one extra, or something else entirely: caught.
    let mut typo: Vec<char> = compact.chars().collect();
    typo[7] = if typo[7] == 'a' { 'b' } else { 'a' };
    let typo: String = typo.into_iter().collect();
    for bad in [typo.as_str(), &compact[1..], &format!("{compact}1"), "", "hello world", "0OIl"] {
        assert!(matches!(RecoveryKey::parse(bad), Err(Error::RecoveryKeyInvalid)), "{bad:?} was accepted");
    }
    // Two keys differ.
    assert_ne!(RecoveryKey::generate().unwrap().to_text().as_str(), text.as_str());
}

#[test]
fn passphrase_derivation_depends_on_salt_and_passphrase() {
    let params = Argon2Params { salt: vodozemac::base64_encode([7u8; 16]), m_kib: 1024, t: 1, p: 1 };
    let a = RecoveryKey::from_passphrase("correct horse battery", &params).unwrap();
    let b = RecoveryKey::from_passphrase("correct horse battery", &params).unwrap();
    assert_eq!(a.as_bytes(), b.as_bytes());
    let other = RecoveryKey::from_passphrase("correct horse battery!", &params).unwrap();
    assert_ne!(a.as_bytes(), other.as_bytes());
    let salted = Argon2Params { salt: vodozemac::base64_encode([8u8; 16]), ..params.clone() };
    assert_ne!(RecoveryKey::from_passphrase("correct horse battery", &salted).unwrap().as_bytes(), a.as_bytes());
    // A header asking for absurd work is refused before any work.
    let greedy = Argon2Params { m_kib: 16 * 1024 * 1024, ..params };
    assert!(matches!(RecoveryKey::from_passphrase("x", &greedy), Err(Error::KeyBackupDamaged(_))));
}

#[test]
fn merge_keeps_every_session_and_the_furthest_reaching_copy() {
    let mut contents = Contents::default();
    assert_eq!(contents.merge([session("s1", "c1", 5), session("s2", "c1", 0)]), 2);
    // The same session from another sender key is another entry; a later copy does not replace
    // an earlier one; an earlier one does.
    assert_eq!(contents.merge([session("s1", "c2", 0), session("s1", "c1", 9), session("s2", "c1", 0)]), 1);
    assert_eq!(contents.merge([session("s1", "c1", 2)]), 1);
    assert_eq!(contents.len(), 3);
    assert_eq!(ids(contents), [("s1".to_owned(), 2), ("s1".to_owned(), 0), ("s2".to_owned(), 0)]);
}

#[test]
fn sealed_blob_opens_only_with_its_key_and_owner() {
    let recovery = RecoveryKey::generate().unwrap();
    let key = BackupKey::derive(&recovery).unwrap();
    let mut contents = Contents::default();
    contents.merge([session("s1", "c1", 0), session("s2", "c1", 3)]);
    let blob = blob::seal(&key, &Kdf::RecoveryKey, &alice(), &contents).unwrap();
    assert!(!blob.contains("key-s1"), "the session keys are encrypted");
    assert!(matches!(blob::read_kdf(&blob).unwrap(), Kdf::RecoveryKey));
    assert_eq!(ids(blob::open(&key, &alice(), &blob).unwrap()), [("s1".to_owned(), 0), ("s2".to_owned(), 3)]);

    // Another key: told apart from damage.
    let other = BackupKey::derive(&RecoveryKey::generate().unwrap()).unwrap();
    assert!(matches!(blob::open(&other, &alice(), &blob), Err(Error::WrongRecoveryKey)));
    // Another user's slot (the server swapping blobs): the associated data does not match.
    assert!(matches!(blob::open(&key, &UserId::parse("mallory").unwrap(), &blob), Err(Error::KeyBackupDamaged(_))));

    // An altered ciphertext or header.
    let mut envelope: serde_json::Value = serde_json::from_str(&blob).unwrap();
    let ct = envelope["ciphertext"].as_str().unwrap().to_owned();
    let flipped = match ct.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &ct[1..]),
    };
    envelope["ciphertext"] = flipped.into();
    assert!(matches!(blob::open(&key, &alice(), &envelope.to_string()), Err(Error::KeyBackupDamaged(_))));
    let mut relabelled: serde_json::Value = serde_json::from_str(&blob).unwrap();
    relabelled["kdf"] =
        serde_json::json!({"type": "argon2id", "salt": "AAAAAAAAAAAAAAAAAAAAAA", "m_kib": 8, "t": 1, "p": 1});
    assert!(matches!(blob::open(&key, &alice(), &relabelled.to_string()), Err(Error::KeyBackupDamaged(_))));

    // A newer format, or something else entirely.
    let mut newer: serde_json::Value = serde_json::from_str(&blob).unwrap();
    newer["version"] = 2.into();
    assert!(matches!(blob::read_kdf(&newer.to_string()), Err(Error::KeyBackupTooNew { found: 2, known: 1 })));
    assert!(matches!(blob::read_kdf("not json"), Err(Error::KeyBackupDamaged(_))));
    assert!(matches!(blob::read_kdf(r#"{"format":"other","version":1}"#), Err(Error::KeyBackupDamaged(_))));
}

#[test]
fn a_backup_larger_than_the_slot_is_refused() {
    let key = BackupKey::derive(&RecoveryKey::generate().unwrap()).unwrap();
    let mut contents = Contents::default();
    let big = "k".repeat(1024 * 1024);
    contents.merge((0..13).map(|i| match session(&format!("s{i}"), "c", 0) {
        Record::InboundGroupSession {
            session_id,
            group_id,
            sender_user,
            sender_device,
            sender_curve,
            first_index,
            received_ts,
            ..
        } => Record::InboundGroupSession {
            session_id,
            group_id,
            sender_user,
            sender_device,
            sender_curve,
            first_index,
            session_key: big.clone(),
            received_ts,
        },
        other => other,
    }));
    assert!(matches!(
        blob::seal(&key, &Kdf::RecoveryKey, &alice(), &contents),
        Err(Error::KeyBackupTooLarge { sessions: 13, .. })
    ));
}
