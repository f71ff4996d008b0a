//! The client engine against what a server (or whoever runs it) can send a device, and against
//! damaged backup files: real frames, payloads and backups with edits, and arbitrary bytes.
//! Every input goes through the engine's own receive path and readers (`sotto_core::fuzzing`).
//! Cases per property: `PROPTEST_CASES` (default 256).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::cell::RefCell;

use proptest::prelude::*;
use sotto_core::fuzzing::Sender;
use sotto_fuzz::engine::{self, Engine};
use sotto_fuzz::seeds;

/// One engine per test thread (setting one up makes three devices and their databases), with
/// the seeds made from it.
struct Fixture {
    engine: Engine,
    frames: Vec<Vec<u8>>,
    backup: Vec<u8>,
    olm: Vec<(Sender, Vec<u8>)>,
    key_backups: Vec<Vec<u8>>,
}

thread_local! {
    static FIXTURE: RefCell<Fixture> = RefCell::new({
        let mut engine = Engine::new().unwrap();
        // The Megolm session's group, made by the contact with the receiver in it: group
        // messages naming its changes are compared with them.
        engine.group_change(0, &seeds::group_actions()[0]).unwrap();
        let frames = seeds::frames(&mut engine).unwrap();
        let backup = seeds::backup_plaintext(&mut engine).unwrap();
        let olm = seeds::olm_contents(&backup);
        let key_backups = seeds::key_backup_plaintexts(&backup);
        Fixture { engine, frames, backup, olm, key_backups }
    });
}

fn with<T>(f: impl FnOnce(&mut Fixture) -> T) -> T {
    FIXTURE.with(|fixture| f(&mut fixture.borrow_mut()))
}

fn lines(plaintext: &[u8]) -> Vec<Vec<u8>> {
    plaintext.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

// ---------------------------------------------------------------------------------------------
// The seeds themselves: each reaches what it is for, so the edits below start from deep inside.

#[test]
fn the_seeds_reach_the_engine() {
    with(|f| {
        // Real ciphertexts: the two one-to-one texts and the group text are new messages.
        let stored: usize = f.frames[..3].to_vec().iter().map(|frame| f.engine.frame(frame).unwrap()).sum();
        assert_eq!(stored, 3);
        // Every kind of Olm content decrypts and is handled; the texts and the history are stored.
        for (from, content) in f.olm.clone() {
            f.engine.olm_content(from, &content).unwrap();
        }
        let text = f.olm[0].1.clone();
        assert_eq!(f.engine.olm_content(Sender::Contact, &text).unwrap(), 1, "a text from the contact is stored");
        for content in seeds::megolm_contents() {
            assert_eq!(f.engine.megolm_content(&content).unwrap(), 1, "a group text is stored");
        }
        // Signed changes are checked to the contact's pinned identity and applied, in order.
        let group = f.engine.receiver.group_id(1).unwrap();
        let members = |f: &mut Fixture| {
            let local = f.engine.receiver.group(&group).unwrap().expect("the group is known");
            (local.version, local.member_ids().iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        let actions = seeds::group_actions();
        f.engine.group_change(1, &actions[0]).unwrap();
        assert_eq!(members(f), (1, vec!["alice".to_owned(), "bob".to_owned()]));
        f.engine.group_change(1, &actions[1]).unwrap();
        assert_eq!(members(f).1, ["alice", "bob", "carol.w", "dave"]);
        for action in &actions[2..5] {
            f.engine.group_change(1, action).unwrap();
        }
        assert_eq!(members(f), (5, vec!["alice".to_owned(), "bob".to_owned(), "carol.w".to_owned()]));
        // A change that breaks the rules (the contact is no longer the owner) is refused.
        f.engine.group_change(1, &actions[6]).unwrap();
        assert_eq!(members(f).0, 5);
        // The group of the Megolm session was made in the fixture: a message naming another
        // change at its number (a fork, which is warned of) is still stored.
        let forked = br#"{"type":"text","body":"hi","ts":5},"state":{"seq":1,"hash":"not-it"}"#;
        assert_eq!(f.engine.megolm_content(forked).unwrap(), 1);
        // The real backup restores, every record of it.
        let read = f.engine.backup_plaintext(&f.backup.clone()).unwrap().expect("the real backup restores");
        assert_eq!(read.records as usize, lines(&f.backup).len() - 2, "header and trailer are not records");
        assert!(read.has_account && read.messages >= 3);
        // The key backup made of its group sessions restores them.
        let sessions = f.engine.key_backup_plaintext(&f.key_backups[0].clone()).unwrap();
        assert_eq!(sessions, Some(0), "the receiver holds these sessions already: nothing new, but opened");
        assert_eq!(f.engine.key_backup_plaintext(b"{\"sessions\":[]}").unwrap(), Some(0));
        assert_eq!(f.engine.key_backup_plaintext(b"not json").unwrap(), None);
        // The directory's answer: the contact as pinned changes nothing; without its device,
        // the device is gone (a key change).
        let answers = seeds::directory_answers(&f.engine).unwrap();
        for answer in &answers {
            assert_eq!(f.engine.directory(answer).unwrap(), 0, "the contact is pinned with these keys");
        }
        let mut gone: serde_json::Value = serde_json::from_slice(&answers[0]).unwrap();
        gone["users"][0]["devices"] = serde_json::json!([]);
        assert!(f.engine.directory(&serde_json::to_vec(&gone).unwrap()).unwrap() >= 1, "a removed device is a change");
        // The recovery key reads back.
        let key = f.engine.recovery_key().to_owned();
        assert_eq!(engine::recovery_key_text(key.as_bytes()), Ok(true));
        assert_eq!(engine::recovery_key_text(key.replace(' ', "").as_bytes()), Ok(true));
    });
}

#[test]
fn a_damaged_backup_is_refused_never_half_restored() {
    with(|f| {
        let backup = f.backup.clone();
        let lines = lines(&backup);
        // Cut anywhere (here: at every line end but the last, and inside lines).
        let mut cut = 0;
        for line in &lines[..lines.len() - 1] {
            cut += line.len();
            assert_eq!(f.engine.backup_plaintext(&backup[..cut]).unwrap(), None, "cut after {cut} bytes");
            assert_eq!(f.engine.backup_plaintext(&backup[..cut - 1]).unwrap(), None, "cut at {}", cut - 1);
        }
        // A record left out, or given twice.
        for i in 1..lines.len() - 1 {
            let mut without = lines.clone();
            without.remove(i);
            assert_eq!(f.engine.backup_plaintext(&without.concat()).unwrap(), None, "without record {i}");
            let mut twice = lines.clone();
            twice.insert(i, lines[i].clone());
            assert_eq!(f.engine.backup_plaintext(&twice.concat()).unwrap(), None, "record {i} twice");
        }
    });
}

/// A key of 44 base64 characters (33 bytes) where an Ed25519 key goes made vodozemac 0.11 panic:
/// found by the `backup` libFuzzer target in a backup's `identity` record. The same check reads
/// the identities and device keys of every directory answer, so a server could make any client
/// panic (inside its state lock: every later call failed as poisoned). In a group change it is
/// refused.
#[test]
fn a_key_of_33_bytes_is_refused_not_a_panic() {
    let long = "A".repeat(44);
    with(|f| {
        let answer = serde_json::to_vec(&serde_json::json!({"users": [f.engine.receiver.contact_directory_entry()]}));
        let mut answer: serde_json::Value = serde_json::from_slice(&answer.unwrap()).unwrap();
        for field in ["master_key", "self_signing_key", "user_signing_key"] {
            let mut edited = answer.clone();
            edited["users"][0]["identity"][field] = long.clone().into();
            f.engine.directory(&serde_json::to_vec(&edited).unwrap()).unwrap();
        }
        answer["users"][0]["devices"][0]["ed25519"] = long.clone().into();
        f.engine.directory(&serde_json::to_vec(&answer).unwrap()).unwrap();

        let group = f.engine.receiver.group_id(2).unwrap();
        let mut change = f.engine.receiver.next_group_change(&group, &serde_json::json!({"type": "leave"})).unwrap();
        change["ed25519"] = long.clone().into();
        f.engine.group_change_text(&group, change.to_string().as_bytes()).unwrap();

        let lines = lines(&f.backup);
        let identity = lines.iter().position(|l| l.starts_with(br#"{"type":"identity""#)).expect("an identity record");
        for field in ["master_key", "self_signing_key", "user_signing_key"] {
            let mut record: serde_json::Value = serde_json::from_slice(&lines[identity]).unwrap();
            record[field] = long.clone().into();
            let mut edited = lines.clone();
            edited[identity] = [serde_json::to_vec(&record).unwrap(), b"\n".to_vec()].concat();
            assert_eq!(f.engine.backup_plaintext(&edited.concat()).unwrap(), None, "{field} of 33 bytes");
        }
    });
}

proptest! {
    #[test]
    fn edited_frames_are_received_or_skipped(pick in any::<usize>(), edits in common::edits()) {
        with(|f| {
            let frame = common::mutate(&f.frames[pick % f.frames.len()], &edits);
            f.engine.frame(&frame).map(|_| ())
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn arbitrary_frames_are_received_or_skipped(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        with(|f| f.engine.frame(&bytes).map(|_| ())).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn edited_olm_payloads_are_received(pick in any::<usize>(), edits in common::edits()) {
        with(|f| {
            let (from, content) = f.olm[pick % f.olm.len()].clone();
            f.engine.olm_content(from, &common::mutate(&content, &edits)).map(|_| ())
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn arbitrary_olm_plaintexts_are_received(own in any::<bool>(), bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let from = if own { Sender::OwnDevice } else { Sender::Contact };
        with(|f| {
            f.engine.olm_payload(from, &bytes)?;
            f.engine.olm_content(from, &bytes)
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn edited_megolm_payloads_are_received(pick in any::<usize>(), edits in common::edits()) {
        let contents = seeds::megolm_contents();
        let content = common::mutate_prefix(&contents[pick % contents.len()], &edits);
        with(|f| f.engine.megolm_content(&content).map(|_| ())).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn arbitrary_megolm_plaintexts_are_received(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        with(|f| {
            f.engine.megolm_payload(&bytes)?;
            f.engine.megolm_content(&bytes)
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn edited_group_changes_are_received(group in any::<u8>(), pick in any::<usize>(), edits in common::edits()) {
        let actions = seeds::group_actions();
        let action = common::mutate(&actions[pick % actions.len()], &edits);
        with(|f| f.engine.group_change(group, &action).map(|_| ())).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn arbitrary_group_changes_are_received(group in any::<u8>(), json in common::json(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        with(|f| {
            f.engine.group_change(group, &serde_json::to_vec(&json).unwrap())?;
            f.engine.group_change(group, &bytes)?;
            let id = f.engine.receiver.group_id(group).unwrap();
            f.engine.group_change_text(&id, &bytes)
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn edited_directory_answers_are_taken_in(pick in any::<bool>(), edits in common::edits()) {
        with(|f| {
            let answers = seeds::directory_answers(&f.engine)?;
            let answer = common::mutate(&answers[usize::from(pick)], &edits);
            f.engine.directory(&answer).map(|_| ())
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn arbitrary_directory_answers_are_taken_in(json in common::json(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        with(|f| {
            f.engine.directory(&serde_json::to_vec(&json).unwrap())?;
            f.engine.directory(&bytes)
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn edited_backups_restore_or_are_refused(
        line in any::<usize>(),
        edits in common::edits(),
        drop_line in proptest::option::of(any::<usize>()),
    ) {
        with(|f| {
            let mut lines = lines(&f.backup);
            let i = line % lines.len();
            let edited = common::mutate(lines[i].strip_suffix(b"\n").unwrap_or(&lines[i]), &edits);
            lines[i] = [edited.as_slice(), b"\n"].concat();
            if let Some(d) = drop_line {
                lines.remove(d % lines.len());
            }
            f.engine.backup_plaintext(&lines.concat()).map(|_| ())
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn arbitrary_backup_contents_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        with(|f| f.engine.backup_plaintext(&bytes).map(|_| ())).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn a_backup_file_with_any_byte_changed_is_refused(at in any::<usize>(), xor in 1u8..) {
        let read = with(|f| {
            let mut file = sotto_core::fuzzing::encrypt_backup(&f.backup, engine::PASSPHRASE).unwrap();
            let i = at % file.len();
            file[i] ^= xor;
            f.engine.backup_file(&file)
        }).map_err(|v| TestCaseError::fail(v.0))?;
        prop_assert!(read.is_none(), "a changed byte went unnoticed");
    }

    #[test]
    fn edited_key_backups_restore_or_are_refused(pick in any::<usize>(), edits in common::edits()) {
        with(|f| {
            let contents = common::mutate(&f.key_backups[pick % f.key_backups.len()], &edits);
            f.engine.key_backup_plaintext(&contents).map(|_| ())
        }).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn arbitrary_key_backup_blobs_are_refused(json in common::json(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        with(|f| {
            f.engine.key_backup_blob(&serde_json::to_vec(&json).unwrap())?;
            f.engine.key_backup_blob(&bytes)?;
            f.engine.key_backup_plaintext(&bytes)
        }).map(|_| ()).map_err(|v| TestCaseError::fail(v.0))?;
    }

    #[test]
    fn typed_recovery_keys_are_read_or_refused(edit_at in any::<usize>(), c in any::<char>(), text in ".{0,80}") {
        let key = with(|f| f.engine.recovery_key().to_owned());
        let mut typed: Vec<char> = key.chars().collect();
        let i = edit_at % typed.len();
        typed[i] = c;
        let typed: String = typed.into_iter().collect();
        engine::recovery_key_text(typed.as_bytes()).map_err(|v| TestCaseError::fail(v.0))?;
        engine::recovery_key_text(text.as_bytes()).map_err(|v| TestCaseError::fail(v.0))?;
    }
}
