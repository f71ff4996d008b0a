use std::io::{BufReader, Write};

use super::*;
use crate::progress::{CancellationToken, Progress};

fn encrypt(lines: &str, passphrase: &str, work_factor: u8) -> Vec<u8> {
    let mut recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    recipient.set_work_factor(work_factor);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(lines.as_bytes()).unwrap();
    w.finish().unwrap();
    out
}

const HEADER: &str = r#"{"format":"sotto-backup","version":1,"created_ms":1,"user_id":"alice","device_id":"D1","server":"http://x","counts":{}}"#;

fn open(bytes: &[u8], passphrase: &str) -> Result<()> {
    let (header, mut reader) = open_backup(BufReader::new(bytes), passphrase)?;
    assert_eq!(header.user_id, "alice");
    let mut line = String::new();
    while read_line(&mut reader, &mut line)? {}
    Ok(())
}

#[test]
#[allow(clippy::indexing_slicing)]
fn header_errors_are_typed() {
    let good = encrypt(&format!("{HEADER}\n{{\"type\":\"end\",\"records\":0}}\n"), "pw", 2);
    open(&good, "pw").unwrap();
    assert!(matches!(open(&good, "wrong"), Err(Error::BackupPassphrase)));
    let newer = encrypt(&format!("{}\n", HEADER.replace("\"version\":1", "\"version\":5")), "pw", 2);
    assert!(matches!(open(&newer, "pw"), Err(Error::BackupTooNew { found: 5, known: 4 })));
    // Earlier versions read (version 1, without files, is the HEADER above); 0 never existed.
    let zero = encrypt(&format!("{}\n", HEADER.replace("\"version\":1", "\"version\":0")), "pw", 2);
    assert!(matches!(open(&zero, "pw"), Err(Error::Backup(BackupError::UnknownVersion(0)))));
    let other = encrypt("{\"format\":\"something-else\",\"version\":1}\n", "pw", 2);
    assert!(matches!(open(&other, "pw"), Err(Error::NotABackup)));
    assert!(matches!(open(b"plain text, not age", "pw"), Err(Error::NotABackup)));
    // Cut inside the encrypted payload: the age stream does not authenticate.
    let cut = &good[..good.len() - 5];
    let err = open(cut, "pw").unwrap_err();
    assert!(matches!(err, Error::Backup(BackupError::Stream(_))), "{err:?}");
    assert_eq!(err.code(), sotto_proto::ErrorCode::BackupDamaged);
    // The stream's I/O error is kept as the cause.
    let cause = std::error::Error::source(&err).and_then(std::error::Error::source).unwrap();
    assert!(cause.downcast_ref::<std::io::Error>().is_some(), "{cause:?}");
    // More work than allowed is refused before scrypt runs: the stanza `-> scrypt <salt> 2`
    // edited to ask for a factor of 40 (days of work).
    let text = String::from_utf8_lossy(&good).into_owned();
    let stanza_end = text.find("-> scrypt ").and_then(|start| text[start..].find('\n').map(|n| start + n)).unwrap();
    let mut hostile = good[..stanza_end - 1].to_vec();
    hostile.extend_from_slice(b"40");
    hostile.extend_from_slice(&good[stanza_end..]);
    let started = std::time::Instant::now();
    assert!(matches!(
        open(&hostile, "pw"),
        Err(Error::Backup(BackupError::ExcessiveWork { required: 40, max: MAX_WORK_FACTOR }))
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn the_fixed_work_factor_takes_under_two_seconds() {
    // The documented cost (about 0.5 to 1 s in release builds; scrypt is optimized in debug
    // builds too). A bound that catches a mistaken factor (each step doubles the time).
    let started = std::time::Instant::now();
    let file = encrypt("x\n", "pw", WORK_FACTOR);
    let took = started.elapsed();
    eprintln!("scrypt work factor {WORK_FACTOR}: {took:?}");
    assert!(took < std::time::Duration::from_secs(4), "{took:?}");
    assert!(!file.is_empty());
}

#[test]
fn a_missing_trailer_is_damage() {
    let tx = Progress::unobserved();
    let cancel = CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    let key = crate::profile::ProfileKey::bench_from_bytes([7; 32]);
    let mut store = crate::store::Store::open(&dir.path().join("db"), &key, crate::store::OpenMode::Create).unwrap();
    let pickle_key = [1u8; 32];
    for (body, expect_ok) in [
        (format!("{HEADER}\n{{\"type\":\"known_user\",\"user_id\":\"bob\",\"fetched_ts\":1}}\n"), false),
        (format!("{HEADER}\n{{\"type\":\"end\",\"records\":1}}\n"), false),
        (format!("{HEADER}\n{{\"type\":\"end\",\"records\":0}}\n{{\"type\":\"end\",\"records\":0}}\n"), false),
        (format!("{HEADER}\n{{\"type\":\"end\",\"records\":0}}\n"), true),
    ] {
        let bytes = encrypt(&body, "pw", 2);
        let (header, mut reader) = open_backup(BufReader::new(bytes.as_slice()), "pw").unwrap();
        let result = store.transaction(|db| {
            load_records(&mut reader, &header, db, &pickle_key, &dir.path().join("files"), &tx, &cancel).map(|_| ())
        });
        assert_eq!(result.is_ok(), expect_ok, "{body}: {:?}", result.err());
        if !expect_ok {
            assert!(matches!(result, Err(Error::Backup(_))));
        }
    }
    // Nothing of the failed loads was kept.
    assert_eq!(store.db().user_fetched_ts(&sotto_proto::UserId::parse("bob").unwrap()).unwrap(), None);
}

#[test]
fn conversation_ids_in_records_are_checked() {
    let tx = Progress::unobserved();
    let cancel = CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    let key = crate::profile::ProfileKey::bench_from_bytes([7; 32]);
    let mut store = crate::store::Store::open(&dir.path().join("db"), &key, crate::store::OpenMode::Create).unwrap();
    let conversation = |id: &str| {
        format!(
            "{HEADER}\n{{\"type\":\"conversation\",\"id\":\"{id}\",\"kind\":\"direct\",\"peer\":\"bob\",\"title\":\"bob\",\
             \"last_ts\":0,\"last_preview\":\"\",\"unread\":0}}\n{{\"type\":\"end\",\"records\":1}}\n"
        )
    };
    for (id, expect_ok) in [("bob", false), ("x:bob", false), ("u:Bob", false), ("u:bob", true)] {
        let bytes = encrypt(&conversation(id), "pw", 2);
        let (header, mut reader) = open_backup(BufReader::new(bytes.as_slice()), "pw").unwrap();
        let result = store.transaction(|db| {
            load_records(&mut reader, &header, db, &[1u8; 32], &dir.path().join("files"), &tx, &cancel).map(|_| ())
        });
        assert_eq!(result.is_ok(), expect_ok, "{id}: {:?}", result.err());
        if !expect_ok {
            assert!(matches!(result, Err(Error::Backup(_))), "{id}");
        }
    }
    // The one that loaded reads back as the same text.
    let ids: Vec<String> = store.db().conversations().unwrap().iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids, ["u:bob"]);
}

#[test]
fn pickles_round_trip_through_records() {
    let account = vodozemac::olm::Account::new();
    let record = records::Record::Account { pickle: serde_json::to_value(account.pickle()).unwrap() };
    let line = serde_json::to_string(&record).unwrap();
    assert!(line.starts_with(r#"{"type":"account","pickle":{"#), "{line}");
    let records::Record::Account { pickle } = serde_json::from_str(&line).unwrap() else { panic!("not an account") };
    let back = vodozemac::olm::Account::from_pickle(serde_json::from_value(pickle).unwrap());
    assert_eq!(back.curve25519_key(), account.curve25519_key());
}

#[test]
fn a_kept_file_must_arrive_whole_and_match_its_key() {
    use base64::Engine as _;
    let tx = Progress::unobserved();
    let cancel = CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    let key = crate::profile::ProfileKey::bench_from_bytes([7; 32]);
    let mut store = crate::store::Store::open(&dir.path().join("db"), &key, crate::store::OpenMode::Create).unwrap();
    let mut sealed = Vec::new();
    let file_key = crate::attachment::encrypt(&b"hello file"[..], &mut sealed, |_| {}).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (first, rest) = sealed.split_at(10);
    let mut altered = sealed.clone();
    altered[3] ^= 1;
    let message = "{\"type\":\"conversation\",\"id\":\"u:bob\",\"kind\":\"direct\",\"peer\":\"bob\",\"title\":\"bob\",\"last_ts\":0,\"last_preview\":\"\",\"unread\":0}\n\
         {\"type\":\"message\",\"id\":1,\"conversation_id\":\"u:bob\",\"message_id\":\"m1\",\"sender_user\":\"bob\",\"sender_device\":null,\"kind\":\"file\",\"body\":\"\",\"status\":\"received\",\"reason\":null,\"outgoing\":false,\"ts\":1,\"server_ts\":1}";
    let file = format!(
        "{{\"type\":\"file\",\"message_row\":1,\"name\":\"a.txt\",\"mime\":\"text/plain\",\"size\":10,\"file_key\":{},\"state\":\"local\",\"data\":true}}",
        serde_json::to_string(&file_key).unwrap()
    );
    let data = |bytes: &[u8]| format!("{{\"type\":\"file_data\",\"message_row\":1,\"data\":\"{}\"}}", b64(bytes));
    let end = |n: usize| format!("{{\"type\":\"end\",\"records\":{n}}}");
    for (lines, expect_ok) in [
        (vec![message.to_owned(), file.clone(), data(first), data(rest), end(5)], true),
        // Cut short: the trailer comes before the last piece.
        (vec![message.to_owned(), file.clone(), data(first), end(4)], false),
        // Another record in the middle of a file's pieces.
        (
            vec![
                message.to_owned(),
                file.clone(),
                data(first),
                "{\"type\":\"received_direct\",\"sender_user\":\"bob\",\"message_id\":\"x\"}".to_owned(),
                data(rest),
                end(6),
            ],
            false,
        ),
        // Altered: the checksum in the key does not match.
        (vec![message.to_owned(), file.clone(), data(&altered), end(4)], false),
        // Longer than the key says.
        (vec![message.to_owned(), file.clone(), data(&sealed), data(b"x"), end(5)], false),
    ] {
        let files = tempfile::tempdir().unwrap();
        let body = format!("{HEADER}\n{}\n", lines.join("\n"));
        let bytes = encrypt(&body, "pw", 2);
        let (header, mut reader) = open_backup(BufReader::new(bytes.as_slice()), "pw").unwrap();
        let result = store.transaction(|db| {
            load_records(&mut reader, &header, db, &[1u8; 32], files.path(), &tx, &cancel).map(|_| ())
        });
        assert_eq!(result.is_ok(), expect_ok, "{lines:?}: {:?}", result.err());
        if expect_ok {
            let kept: Vec<_> = std::fs::read_dir(files.path()).unwrap().flatten().map(|e| e.path()).collect();
            assert_eq!(kept.len(), 1);
            assert_eq!(std::fs::read(&kept[0]).unwrap(), sealed);
            let stored = store.db().stored_file(1).unwrap().unwrap();
            assert_eq!(stored.state, crate::store::FileState::Local);
        } else {
            assert!(matches!(result, Err(Error::Backup(_))), "{:?}", result.err());
        }
    }
}
