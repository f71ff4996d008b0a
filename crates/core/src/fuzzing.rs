//! Entry points for the fuzz targets (`crates/fuzz`, and `fuzz/` for libFuzzer): the engine's own
//! decoding of what arrives from the server and from files, reachable without a server, a
//! keychain or a profile directory. Only with the `fuzzing` feature, which nothing but
//! `sotto-fuzz` enables. Not an API.
//!
//! Invariant: everything here calls the code the engine runs — the receive path's batch step
//! (`process_batch`, which decrypts, checks and stores inbox entries), the Olm and Megolm
//! decryption behind it, the backup file reader (`open_backup` + `load_records`) and the key
//! backup's `open` and import — never a copy of it. What this module adds is only the set-up a
//! server would otherwise have brought about: devices pinned, Olm sessions started, a group key
//! shared, the contact's identity pinned (so changes the contact signs to a group are checked all
//! the way and applied).

use std::path::PathBuf;

use sotto_proto::{
    DeviceAddress, DeviceId, EntryBody, GroupId, GroupInfo, GroupMember, InboxEntry, MembershipChange, MembershipEvent,
    MessageId, QueryKeysResponse, Role, SignedGroupChange, UserDevices, UserId,
};
use tempfile::TempDir;
use zeroize::Zeroizing;

use crate::backup::{self, Owner};
use crate::client::{Source, learn_name_key, process_batch, reconcile, retry_sessions};
use crate::crypto::Machine;
use crate::crypto::cross_signing::CrossSigningSecrets;
use crate::crypto::payload::OlmContent;
use crate::key_backup::blob::{self, BackupKey, Kdf};
use crate::key_backup::recovery::RecoveryKey;
use crate::profile::ProfileKey;
use crate::progress::{CancellationToken, Progress};
use crate::store::{DeviceRecord, OpenMode, Store};
use crate::{Error, Result};

/// The user whose device receives ([`Receiver`]).
pub const RECEIVER_USER: &str = "bob";
/// The receiving device.
pub const RECEIVER_DEVICE: &str = "BOB1";
/// The other user, a contact with one device.
pub const CONTACT_USER: &str = "alice";
/// The contact's device.
pub const CONTACT_DEVICE: &str = "ALICE1";
/// Another device of the receiving user, which that user confirmed (it may hand over keys and
/// history).
pub const OWN_DEVICE: &str = "BOB2";
/// The group the contact shares a Megolm session with the receiver in.
pub const GROUP: &str = "fuzzgroup";
/// How many groups the contact makes changes to ([`GROUP`] and `fuzzgroup1`...): a few, so
/// that changes build on each other.
pub const GROUPS: u8 = 4;

/// One device: its crypto machine and its own SQLCipher database in a temporary directory.
struct Party {
    machine: Machine,
    store: Store,
    key: ProfileKey,
    path: PathBuf,
    _dir: TempDir,
}

impl Party {
    fn new(user: &str, device: &str) -> Result<Party> {
        let dir = tempfile::tempdir()?;
        let key = ProfileKey::generate()?;
        let path = dir.path().join("sotto.db");
        let store = Store::open(&path, &key, OpenMode::Create)?;
        let machine = Machine::create(address(user, device)?, key.pickle_key()?);
        machine.save_account(&store.db())?;
        Ok(Party { machine, store, key, path, _dir: dir })
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
}

fn address(user: &str, device: &str) -> Result<DeviceAddress> {
    let invalid = |e: sotto_proto::InvalidId| Error::InvalidInput(e.to_string());
    Ok(DeviceAddress {
        user_id: UserId::parse(user).map_err(invalid)?,
        device_id: DeviceId::parse(device).map_err(invalid)?,
    })
}

/// Who sends an entry to the [`Receiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// [`CONTACT_USER`]'s device.
    Contact,
    /// [`OWN_DEVICE`], a confirmed device of the receiving user.
    OwnDevice,
}

/// A device that receives, as sync makes it: entries go through the real receive path into its
/// real (SQLCipher) database. It knows two senders (pinned and confirmed, with Olm sessions from
/// both) and holds the contact's Megolm session for [`GROUP`].
pub struct Receiver {
    me: Party,
    contact: Party,
    /// The contact's identity, pinned by the receiver: it confirmed the contact's device.
    contact_identity: CrossSigningSecrets,
    own_device: Party,
    group: GroupId,
    next: u64,
}

impl Receiver {
    pub fn new() -> Result<Receiver> {
        let mut me = Party::new(RECEIVER_USER, RECEIVER_DEVICE)?;
        let contact = Party::new(CONTACT_USER, CONTACT_DEVICE)?;
        let own_device = Party::new(RECEIVER_USER, OWN_DEVICE)?;
        let group = GroupId::parse(GROUP).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let upload = me.machine.keys_to_upload(0, false)?.ok_or(Error::InvalidInput("no one-time keys".into()))?;
        me.machine.mark_published();
        me.machine.save_account(&me.store.db())?;
        let me_record = me.record();
        for (sender, key) in [&contact, &own_device].into_iter().zip(upload.one_time_keys) {
            me.store.db().upsert_device(&sender.record())?;
            let claimed = sotto_proto::ClaimedKey {
                user_id: me_record.user_id.clone(),
                device_id: me_record.device_id.clone(),
                key,
                fallback: false,
            };
            sender.machine.start_olm_session(&sender.store.db(), &me_record, &claimed)?;
        }
        let contact_identity = CrossSigningSecrets::generate();
        me.store.db().pin_identity(&contact_identity.identity(&contact.machine.own().user_id), 0)?;
        let mut receiver = Receiver { me, contact, contact_identity, own_device, group, next: 0 };
        // The first message over each session opens it on the receiving side.
        for from in [Sender::Contact, Sender::OwnDevice] {
            let plaintext = receiver.olm_plaintext(from, &OlmContent::SessionRenewed)?;
            let entry = receiver.olm_entry(from, &plaintext)?;
            receiver.receive(std::slice::from_ref(&entry))?;
        }
        // The contact shares its group session, as a group send does.
        let contact = &receiver.contact;
        let (record, _) = contact.machine.outbound_group(&contact.store.db(), &receiver.group, &[me_record])?;
        let room_key = contact.machine.room_key(&contact.store.db(), &receiver.group, &record)?;
        let plaintext = receiver.olm_plaintext(Sender::Contact, &room_key)?;
        let entry = receiver.olm_entry(Sender::Contact, &plaintext)?;
        receiver.receive(std::slice::from_ref(&entry))?;
        Ok(receiver)
    }

    fn party(&self, from: Sender) -> &Party {
        match from {
            Sender::Contact => &self.contact,
            Sender::OwnDevice => &self.own_device,
        }
    }

    /// Process `entries` as one batch of the receive path (decrypt, check, store, index, in one
    /// committed transaction) and return how many new messages were stored. An error means the
    /// batch would never be acknowledged: sync would fetch it again and fail again.
    pub fn receive(&mut self, entries: &[InboxEntry]) -> Result<usize> {
        let Party { machine, store, .. } = &mut self.me;
        let own = machine.own().clone();
        let result = store.transaction(|db| process_batch(machine, db, &own, entries, Source::HandedOver));
        if result.is_err() {
            // As the client does after a failed transaction: the account matches the database again.
            machine.reload(&store.db())?;
        }
        Ok(result?.messages)
    }

    /// An inbox entry from `from` carrying `body`, with a fresh message id, as the server
    /// delivers it.
    pub fn entry(&mut self, from: Sender, body: EntryBody) -> Result<InboxEntry> {
        self.next += 1;
        let sender = self.party(from).machine.own().clone();
        Ok(InboxEntry {
            seq: self.next,
            message_id: MessageId::parse(format!("fuzz-{:012}", self.next))
                .map_err(|e| Error::InvalidInput(e.to_string()))?,
            sender_user: sender.user_id,
            sender_device: Some(sender.device_id),
            server_ts: 1_767_225_600_000 + self.next,
            body,
        })
    }

    /// An entry whose Olm ciphertext, from `from` over its session with the receiver, decrypts to
    /// exactly `plaintext` (any bytes: the receiver parses them).
    pub fn olm_entry(&mut self, from: Sender, plaintext: &[u8]) -> Result<InboxEntry> {
        let me = self.me.record();
        let party = self.party(from);
        let ciphertext = party.machine.seal_olm(&party.store.db(), &me, plaintext)?;
        self.entry(from, EntryBody::Direct { ciphertext })
    }

    /// An entry whose Megolm ciphertext, from the contact in [`GROUP`], decrypts to exactly
    /// `plaintext`.
    pub fn megolm_entry(&mut self, plaintext: &[u8]) -> Result<InboxEntry> {
        let Party { machine, store, .. } = &mut self.contact;
        let ciphertext = machine
            .seal_group(&store.db(), &self.group, None, plaintext)?
            .ok_or(Error::InvalidInput("the contact has no group session".into()))?;
        let group_id = self.group.clone();
        self.entry(Sender::Contact, EntryBody::Group { group_id, ciphertext })
    }

    /// The JSON of an Olm plaintext from `from` to the receiver (addresses and keys that pass the
    /// receiver's checks) around `content`.
    pub fn olm_plaintext_with(&self, from: Sender, content: &serde_json::Value) -> Result<Vec<u8>> {
        let sender = self.party(from);
        let json = serde_json::json!({
            "v": crate::crypto::payload::PAYLOAD_VERSION,
            "sender": sender.machine.own(),
            "sender_ed25519": sender.machine.ed25519(),
            "recipient": self.me.machine.own(),
            "recipient_ed25519": self.me.machine.ed25519(),
            "content": content,
        });
        serde_json::to_vec(&json).map_err(Error::encode("a fuzzing plaintext"))
    }

    fn olm_plaintext(&self, from: Sender, content: &OlmContent) -> Result<Vec<u8>> {
        let content = serde_json::to_value(content).map_err(Error::encode("a fuzzing plaintext"))?;
        self.olm_plaintext_with(from, &content)
    }

    /// The JSON of a Megolm plaintext from the contact in [`GROUP`] around `content` (and the
    /// sender's group head `state`, if any).
    pub fn group_plaintext_with(
        &self,
        content: &serde_json::Value,
        state: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>> {
        let mut json = serde_json::json!({
            "v": crate::crypto::payload::PAYLOAD_VERSION,
            "group_id": self.group,
            "sender": self.contact.machine.own(),
            "content": content,
        });
        if let (Some(state), Some(object)) = (state, json.as_object_mut()) {
            object.insert("state".into(), state.clone());
        }
        serde_json::to_vec(&json).map_err(Error::encode("a fuzzing plaintext"))
    }

    /// Group `n` of the [`GROUPS`] the contact changes ([`GROUP`] is the first).
    pub fn group_id(&self, n: u8) -> Result<GroupId> {
        match n % GROUPS {
            0 => Ok(self.group.clone()),
            n => GroupId::parse(format!("{GROUP}{n}")).map_err(|e| Error::InvalidInput(e.to_string())),
        }
    }

    /// The next change to `group` as the receiver has it (number and previous hash; the first
    /// when it has none), authored by the contact's device with its confirmation, as JSON with
    /// `action` for its action.
    pub fn next_group_change(&self, group: &GroupId, action: &serde_json::Value) -> Result<serde_json::Value> {
        let head = self.me.store.db().group_head(group)?;
        let keys = self.contact.machine.device_keys();
        Ok(serde_json::json!({
            "group_id": group,
            "seq": head.as_ref().map_or(1, |(seq, _)| seq + 1),
            "prev": head.map(|(_, hash)| hash),
            "author": keys.user_id,
            "device_id": keys.device_id,
            "curve25519": keys.curve25519,
            "ed25519": keys.ed25519,
            "confirmation": self.contact_identity.confirm(&keys).signature,
            "ts": 1_767_225_600_000_u64 + self.next,
            "action": action,
        }))
    }

    /// A membership event for `group` carrying `change` (any text) signed by the contact's
    /// device, and the server's own description of the group, as the server delivers it.
    pub fn group_change_entry(&mut self, group: &GroupId, change: String) -> Result<InboxEntry> {
        let signed: SignedGroupChange = self.contact.machine.sign_group_change_json(change);
        let contact = self.contact.machine.own().user_id.clone();
        let me = self.me.machine.own().user_id.clone();
        let event = MembershipEvent {
            group_id: group.clone(),
            change: MembershipChange::Added,
            actor: contact.clone(),
            users: vec![me.clone()],
            group: GroupInfo {
                group_id: group.clone(),
                name: "Fuzzing".into(),
                version: self.next,
                created_ts: 1_767_225_600_000,
                members: vec![
                    GroupMember { user_id: contact, role: Role::Owner },
                    GroupMember { user_id: me, role: Role::Member },
                ],
                invited: Vec::new(),
            },
            signed: Some(signed),
        };
        self.entry(Sender::Contact, EntryBody::Membership(Box::new(event)))
    }

    /// Take in an answer of the directory (`POST /v1/keys/query`) as a device refresh does:
    /// each user's identity and devices checked against what is pinned, in one committed
    /// transaction. Returns the number of events (key changes) it made.
    pub fn directory_answer(&mut self, answer: &QueryKeysResponse) -> Result<usize> {
        let Party { machine, store, .. } = &mut self.me;
        let own = machine.own().clone();
        let now = crate::store::now_ms();
        store.transaction(|db| {
            let mut events = 0;
            for user in &answer.users {
                events += reconcile(db, &own, user, false, now)?.len();
            }
            Ok(events)
        })
    }

    /// The contact's directory entry as the server lists it: its identity, its device with its
    /// keys and the identity's confirmation of them.
    pub fn contact_directory_entry(&self) -> UserDevices {
        let keys = self.contact.machine.device_keys();
        UserDevices {
            user_id: keys.user_id.clone(),
            identity: Some(self.contact_identity.identity(&keys.user_id)),
            confirmations: vec![self.contact_identity.confirm(&keys)],
            devices: vec![keys],
            verified_by_you: None,
        }
    }

    /// `group` as the receiver verified it from its signed changes, if it knows it.
    pub fn group(&self, group: &GroupId) -> Result<Option<crate::LocalGroup>> {
        self.me.store.db().group(group)
    }

    /// The receiver's database as a backup file (the real export), encrypted with `passphrase`
    /// at the export's work factor: a valid backup to mutate.
    pub fn export_backup(&self, passphrase: &str) -> Result<Vec<u8>> {
        let mut conn = Store::open_reader(&self.me.path, &self.me.key)?;
        let own = self.me.machine.own();
        let owner =
            Owner { user_id: own.user_id.as_str(), device_id: own.device_id.as_str(), server: "https://sotto.test" };
        let pickle_key = self.me.key.pickle_key()?;
        let files = self.me.path.with_file_name("files");
        let (_, file) = backup::write_backup(
            &mut conn,
            &pickle_key,
            &files,
            &owner,
            Vec::new(),
            passphrase,
            &Progress::unobserved(),
            &CancellationToken::new(),
        )?;
        Ok(file)
    }

    /// Open a key backup blob of [`RECEIVER_USER`] with the recovery key `recovery` (its text),
    /// as a restore does, and import what it holds into the receiver. Returns the number of
    /// group sessions imported.
    pub fn restore_key_backup(&mut self, recovery: &str, blob_text: &str) -> Result<usize> {
        blob::read_kdf(blob_text)?;
        let key = BackupKey::derive(&RecoveryKey::parse(recovery)?)?;
        let contents = blob::open(&key, &self.me.machine.own().user_id.clone(), blob_text)?;
        let Party { machine, store, .. } = &mut self.me;
        let result = store.transaction(|db| {
            for record in contents.name_keys() {
                if let crate::backup::Record::GroupNameKey { group_id, key } = record
                    && let Ok(group) = GroupId::parse(group_id.as_str())
                {
                    learn_name_key(db, &group, key)?;
                }
            }
            let mut imported = Vec::new();
            for record in contents.into_records() {
                if let Some(session_id) = machine.import_group_session(db, &record)? {
                    imported.push(session_id);
                }
            }
            retry_sessions(machine, db, &imported)?;
            Ok(imported.len())
        });
        if result.is_err() {
            machine.reload(&store.db())?;
        }
        result
    }
}

/// The recovery key of the fuzzed key backups, as its text: the same in every run, so a saved
/// input (a blob sealed under it) means the same thing next time.
pub fn recovery_key() -> Result<Zeroizing<String>> {
    Ok(RecoveryKey::from_bytes(&[0x5a; 32])?.to_text())
}

/// Parse a recovery key's text (as typed by a person) and give its canonical text back.
pub fn parse_recovery_key(text: &str) -> Result<Zeroizing<String>> {
    Ok(RecoveryKey::parse(text)?.to_text())
}

/// A key backup blob for [`RECEIVER_USER`] whose ciphertext, under `recovery`, decrypts to
/// exactly `plaintext` (the contents' JSON: any bytes here).
pub fn seal_key_backup(recovery: &str, plaintext: &[u8]) -> Result<String> {
    let key = BackupKey::derive(&RecoveryKey::parse(recovery)?)?;
    let user = UserId::parse(RECEIVER_USER).map_err(|e| Error::InvalidInput(e.to_string()))?;
    blob::seal_plaintext(&key, &Kdf::RecoveryKey, &user, plaintext)
}

/// Encrypt `plaintext` (a backup's JSON Lines) as a backup file with `passphrase`, at the
/// cheapest scrypt work factor so a fuzzer can afford one per input. The reader accepts any
/// work factor up to its maximum.
pub fn encrypt_backup(plaintext: &[u8], passphrase: &str) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let mut recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    recipient.set_work_factor(1);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(crate::CryptoError::BackupFile)?;
    let mut out = Vec::new();
    let mut stream = encryptor.wrap_output(&mut out)?;
    stream.write_all(plaintext)?;
    stream.finish()?;
    Ok(out)
}

/// The plaintext (JSON Lines) of a backup file.
pub fn decrypt_backup(file: &[u8], passphrase: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut plaintext = Vec::new();
    backup::decrypt(file, passphrase)?.read_to_end(&mut plaintext)?;
    Ok(plaintext)
}

/// Reads backup files into an empty profile database, as a restore does, and then forgets what
/// it read: every file starts from the same empty database.
pub struct BackupReader {
    store: Store,
    pickle_key: Zeroizing<[u8; 32]>,
    _dir: TempDir,
}

/// What [`BackupReader::read`] read from a file that restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupRead {
    pub records: u64,
    pub messages: u64,
    pub has_account: bool,
}

impl BackupReader {
    pub fn new() -> Result<BackupReader> {
        let dir = tempfile::tempdir()?;
        let key = ProfileKey::generate()?;
        let store = Store::open(&dir.path().join("sotto.db"), &key, OpenMode::Create)?;
        Ok(BackupReader { store, pickle_key: key.pickle_key()?, _dir: dir })
    }

    /// Restore `file` with `passphrase`: the header checked first, then every record loaded in
    /// one transaction, which is then rolled back.
    pub fn read(&mut self, file: &[u8], passphrase: &str) -> Result<BackupRead> {
        let (header, mut reader) = backup::open_backup(file, passphrase)?;
        let mut outcome = None;
        let progress = Progress::unobserved();
        let cancel = CancellationToken::new();
        let files = self._dir.path().join("files");
        let rolled_back = self.store.transaction(|db| {
            outcome =
                Some(backup::load_records(&mut reader, &header, db, &self.pickle_key, &files, &progress, &cancel));
            // Never commit: the next file starts from the same empty database.
            Err::<(), _>(Error::Cancelled)
        });
        // Files a record wrote go with the rolled-back rows.
        if let Err(e) = std::fs::remove_dir_all(&files)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(e.into());
        }
        match (outcome, rolled_back) {
            (Some(read), Err(Error::Cancelled)) => {
                read.map(|i| BackupRead { records: i.records, messages: i.messages, has_account: i.has_account })
            }
            (_, Err(e)) => Err(e),
            (_, Ok(())) => Err(Error::Cancelled),
        }
    }
}
