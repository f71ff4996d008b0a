//! The client engine's side: what the server (or whoever runs it) and a backup file can hand a
//! device. Every input goes through `sotto_core::fuzzing`, which drives the engine's own code.
//!
//! Properties: nothing panics; a frame or payload the engine can parse never makes the receive
//! batch fail (a failed batch is never acknowledged, so sync would fetch it and fail again
//! forever: one hostile entry would stop the device receiving); a backup file or key backup is
//! read or refused with an error; a recovery key that parses gives back text that parses to
//! itself.

use sotto_core::fuzzing::{self, BackupReader, Receiver, Sender};
use sotto_proto::ServerFrame;

use crate::Violation;

/// The backup passphrase every backup input is encrypted with.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// One engine set up for fuzzing: a receiving device with its senders, an empty database for
/// backups, and the recovery key of its key backup. Inputs share it: what one input stores stays
/// for the next (as on a real device).
pub struct Engine {
    pub receiver: Receiver,
    backups: BackupReader,
    recovery: String,
}

fn engine_error(what: &str) -> impl Fn(sotto_core::Error) -> Violation + '_ {
    move |e| {
        let code: &'static str = e.code().into();
        Violation(format!("{what} failed: {e} ({code})"))
    }
}

impl Engine {
    pub fn new() -> Result<Engine, Violation> {
        Ok(Engine {
            receiver: Receiver::new().map_err(engine_error("setting up the receiving device"))?,
            backups: BackupReader::new().map_err(engine_error("setting up the backup database"))?,
            recovery: fuzzing::recovery_key().map_err(engine_error("making a recovery key"))?.to_string(),
        })
    }

    /// The recovery key (text) of this engine's key backups.
    pub fn recovery_key(&self) -> &str {
        &self.recovery
    }

    /// A WebSocket text frame from the server, read as the socket reads it; an inbox entry goes
    /// through the receive path. Returns the new messages stored.
    pub fn frame(&mut self, bytes: &[u8]) -> Result<usize, Violation> {
        let Ok(ServerFrame::Entry { entry }) = serde_json::from_slice::<ServerFrame>(bytes) else { return Ok(0) };
        self.receiver.receive(std::slice::from_ref(&entry)).map_err(engine_error("receiving an inbox entry"))
    }

    /// An Olm message whose plaintext is `payload`, from `from`, through the receive path.
    pub fn olm_payload(&mut self, from: Sender, payload: &[u8]) -> Result<usize, Violation> {
        let entry = self.receiver.olm_entry(from, payload).map_err(engine_error("encrypting an Olm payload"))?;
        self.receiver.receive(std::slice::from_ref(&entry)).map_err(engine_error("receiving an Olm payload"))
    }

    /// An Olm message from `from` whose plaintext is a well-addressed envelope around `content`
    /// (raw JSON bytes, spliced in as they are: they may go on with more fields).
    pub fn olm_content(&mut self, from: Sender, content: &[u8]) -> Result<usize, Violation> {
        let payload = splice(&self.receiver.olm_plaintext_with(from, &MARK.into()), content)?;
        self.olm_payload(from, &payload)
    }

    /// A Megolm message in the group whose plaintext is `payload`, through the receive path.
    pub fn megolm_payload(&mut self, payload: &[u8]) -> Result<usize, Violation> {
        let entry = self.receiver.megolm_entry(payload).map_err(engine_error("encrypting a Megolm payload"))?;
        self.receiver.receive(std::slice::from_ref(&entry)).map_err(engine_error("receiving a Megolm payload"))
    }

    /// A Megolm message whose plaintext is a well-addressed envelope around `content` (raw JSON
    /// bytes, which may go on with `,"state":...`).
    pub fn megolm_content(&mut self, content: &[u8]) -> Result<usize, Violation> {
        let payload = splice(&self.receiver.group_plaintext_with(&MARK.into(), None), content)?;
        self.megolm_payload(&payload)
    }

    /// A change to group `group` (one of a few) whose action is `action` (raw JSON bytes,
    /// which may go on with more fields), numbered and chained as the receiver's next one and
    /// signed by the contact's confirmed device, in a membership event through the receive path:
    /// the checks and the rules run on it, and it is applied if they hold.
    pub fn group_change(&mut self, group: u8, action: &[u8]) -> Result<usize, Violation> {
        let group = self.receiver.group_id(group).map_err(engine_error("naming a group"))?;
        let change = splice(&self.receiver.next_group_change(&group, &MARK.into()).and_then(|c| to_json(&c)), action)?;
        self.group_change_text(&group, &change)
    }

    /// A membership event whose change is `change` (any bytes), signed by the contact's device.
    pub fn group_change_text(&mut self, group: &sotto_proto::GroupId, change: &[u8]) -> Result<usize, Violation> {
        let Ok(change) = String::from_utf8(change.to_vec()) else { return Ok(0) };
        let entry = self.receiver.group_change_entry(group, change).map_err(engine_error("signing a group change"))?;
        self.receiver.receive(std::slice::from_ref(&entry)).map_err(engine_error("receiving a group change"))
    }

    /// An answer of the directory (`POST /v1/keys/query`), decoded as the client decodes it
    /// and taken in as a device refresh does. Returns the key changes it made.
    pub fn directory(&mut self, bytes: &[u8]) -> Result<usize, Violation> {
        let Ok(answer) = serde_json::from_slice::<sotto_proto::QueryKeysResponse>(bytes) else { return Ok(0) };
        self.receiver.directory_answer(&answer).map_err(engine_error("taking in a directory answer"))
    }

    /// A backup file, restored into an empty database (then rolled back). `Ok(None)`: refused.
    pub fn backup_file(&mut self, file: &[u8]) -> Result<Option<fuzzing::BackupRead>, Violation> {
        Ok(self.backups.read(file, PASSPHRASE).ok())
    }

    /// A backup file whose decrypted contents are `plaintext` (the JSON Lines), restored.
    pub fn backup_plaintext(&mut self, plaintext: &[u8]) -> Result<Option<fuzzing::BackupRead>, Violation> {
        let file = fuzzing::encrypt_backup(plaintext, PASSPHRASE).map_err(engine_error("encrypting a backup"))?;
        self.backup_file(&file)
    }

    /// A key backup blob as the server's backup slot holds it, restored with the recovery key.
    /// `Ok(None)`: refused.
    pub fn key_backup_blob(&mut self, blob: &[u8]) -> Result<Option<usize>, Violation> {
        let Ok(text) = std::str::from_utf8(blob) else { return Ok(None) };
        Ok(self.receiver.restore_key_backup(&self.recovery, text).ok())
    }

    /// A key backup whose decrypted contents are `plaintext`, restored with the recovery key.
    pub fn key_backup_plaintext(&mut self, plaintext: &[u8]) -> Result<Option<usize>, Violation> {
        let blob = fuzzing::seal_key_backup(&self.recovery, plaintext).map_err(engine_error("sealing a key backup"))?;
        self.key_backup_blob(blob.as_bytes())
    }
}

/// A recovery key as a person types it: refused, or read as a key whose text reads as itself.
pub fn recovery_key_text(bytes: &[u8]) -> Result<bool, Violation> {
    let Ok(text) = std::str::from_utf8(bytes) else { return Ok(false) };
    let Ok(canonical) = fuzzing::parse_recovery_key(text) else { return Ok(false) };
    match fuzzing::parse_recovery_key(&canonical) {
        Ok(again) if again == canonical => Ok(true),
        _ => Err(Violation("a recovery key's own text does not read as the same key".into())),
    }
}

fn to_json(value: &serde_json::Value) -> Result<Vec<u8>, sotto_core::Error> {
    serde_json::to_vec(value).map_err(|e| sotto_core::Error::InvalidInput(e.to_string()))
}

/// The content an envelope is built with, replaced by the bytes to splice in.
const MARK: &str = "sotto-fuzz-content";

/// `envelope` (JSON whose content is [`MARK`]) with `content` in the mark's place.
fn splice(envelope: &Result<Vec<u8>, sotto_core::Error>, content: &[u8]) -> Result<Vec<u8>, Violation> {
    let envelope = envelope.as_ref().map_err(|e| Violation(format!("building an envelope failed: {e}")))?;
    let mark = format!("\"{MARK}\"");
    let at = envelope
        .windows(mark.len())
        .position(|w| w == mark.as_bytes())
        .ok_or_else(|| Violation("an envelope does not hold its content's mark".into()))?;
    let (head, tail) = envelope.split_at(at);
    let tail = tail.get(mark.len()..).unwrap_or_default();
    Ok([head, content, tail].concat())
}

/// The libFuzzer form of the receive path: the first byte picks what the rest is (for a group
/// change, the next byte picks the group).
pub fn receive_tagged(engine: &mut Engine, input: &[u8]) -> Result<usize, Violation> {
    let Some((&tag, rest)) = input.split_first() else { return Ok(0) };
    match tag % 9 {
        0 => engine.frame(rest),
        1 => engine.olm_payload(Sender::Contact, rest),
        2 => engine.olm_content(Sender::Contact, rest),
        3 => engine.olm_content(Sender::OwnDevice, rest),
        4 => engine.megolm_payload(rest),
        5 => engine.megolm_content(rest),
        6 => {
            let Some((&group, action)) = rest.split_first() else { return Ok(0) };
            engine.group_change(group, action)
        }
        8 => engine.directory(rest),
        _ => {
            let Some((&group, change)) = rest.split_first() else { return Ok(0) };
            let group = engine.receiver.group_id(group).map_err(engine_error("naming a group"))?;
            engine.group_change_text(&group, change)
        }
    }
}

/// The libFuzzer form of the backup readers: the first byte picks what the rest is.
pub fn backup_tagged(engine: &mut Engine, input: &[u8]) -> Result<bool, Violation> {
    let Some((&tag, rest)) = input.split_first() else { return Ok(false) };
    Ok(match tag % 5 {
        0 => engine.backup_file(rest)?.is_some(),
        1 => engine.backup_plaintext(rest)?.is_some(),
        2 => engine.key_backup_blob(rest)?.is_some(),
        3 => engine.key_backup_plaintext(rest)?.is_some(),
        _ => recovery_key_text(rest)?,
    })
}
