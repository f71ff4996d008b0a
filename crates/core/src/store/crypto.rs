//! Persistence of crypto state: the account, pinned devices, Olm and Megolm sessions, and the
//! Megolm replay table. Pickles arrive here already encrypted with the pickle key.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sotto_proto::{DeviceId, GroupId, UserId, UserIdentity};
use zeroize::Zeroizing;

use super::{Db, StoreError};
use crate::{Error, Result};

/// This user's private cross-signing keys as stored (unpadded base64, inside SQLCipher only),
/// zeroed when dropped. No `Debug`.
pub struct StoredSecrets {
    pub master: Zeroizing<String>,
    pub self_signing: Zeroizing<String>,
    pub user_signing: Zeroizing<String>,
}

/// A device as pinned on first use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRecord {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub curve25519: String,
    pub ed25519: String,
    pub first_seen: i64,
    pub active: bool,
    /// Its user's self-signing key confirmed these keys, checked back to the pinned master key.
    /// Only confirmed devices are given keys.
    pub confirmed: bool,
}

pub struct OutboundGroupRecord {
    pub session_id: String,
    pub pickle: String,
    pub created_ts: i64,
    pub message_count: i64,
    pub shared_with: Vec<String>,
}

/// An inbound session row as the key backup reads it (the pickle still encrypted).
pub struct GroupSessionRow {
    pub session_id: String,
    pub group_id: String,
    pub sender_user: String,
    pub sender_device: String,
    pub sender_curve: String,
    pub pickle: String,
    pub received_ts: i64,
}

pub struct InboundGroupRecord {
    pub group_id: GroupId,
    pub sender_user: UserId,
    pub sender_device: DeviceId,
    pub sender_curve: String,
    pub pickle: String,
}

type DeviceRow = (String, String, String, String, i64, bool, bool);

fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, i64>(5)? != 0, r.get::<_, i64>(6)? != 0))
}

fn to_device(row: DeviceRow) -> Result<DeviceRecord> {
    Ok(DeviceRecord {
        user_id: UserId::parse(row.0).map_err(StoreError::id("devices", "user_id"))?,
        device_id: DeviceId::parse(row.1).map_err(StoreError::id("devices", "device_id"))?,
        curve25519: row.2,
        ed25519: row.3,
        first_seen: row.4,
        active: row.5,
        confirmed: row.6,
    })
}

const DEVICE_COLUMNS: &str = "user_id, device_id, curve25519, ed25519, first_seen, active, confirmed";

/// Which of a user's pinned devices [`Db::devices_of`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    /// Those the directory lists now.
    Active,
    /// Also those it no longer lists (kept pinned, marked inactive).
    IncludingRemoved,
}

/// Which inbound group sessions [`Db::group_sessions_for_backup`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupScope {
    /// Those not in the key backup yet (`backed_up = 0`).
    NotBackedUp,
    /// Every one (the backup is written anew).
    All,
}

impl Db<'_> {
    pub fn devices_of(&self, user: &UserId, which: Devices) -> Result<Vec<DeviceRecord>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?1 {} ORDER BY device_id",
            match which {
                Devices::Active => "AND active = 1",
                Devices::IncludingRemoved => "",
            }
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map([user.as_str()], device_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_device).collect()
    }

    /// Every device the directory lists, of every user this device knows.
    pub fn active_devices(&self) -> Result<Vec<DeviceRecord>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE active = 1 ORDER BY user_id, device_id");
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], device_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_device).collect()
    }

    pub fn device(&self, user: &UserId, device_id: &DeviceId) -> Result<Option<DeviceRecord>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?1 AND device_id = ?2");
        let row = self
            .conn()
            .prepare_cached(&sql)?
            .query_row(params![user.as_str(), device_id.as_str()], device_from_row)
            .optional()?;
        row.map(to_device).transpose()
    }

    /// When this user's device list was last fetched from the directory (ms), if ever.
    pub fn user_fetched_ts(&self, user: &UserId) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT fetched_ts FROM known_users WHERE user_id = ?1")?
            .query_row([user.as_str()], |r| r.get(0))
            .optional()?)
    }

    /// The safety number (digits) this person marked as verified with `user`, if any.
    pub fn verified_number(&self, user: &UserId) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT verified FROM known_users WHERE user_id = ?1")?
            .query_row([user.as_str()], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// Whether sending to `user` is held (their identity changed after they were verified).
    pub fn is_held(&self, user: &UserId) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT held FROM known_users WHERE user_id = ?1")?
            .query_row([user.as_str()], |r| r.get::<_, i64>(0))
            .optional()?
            .is_some_and(|held| held != 0))
    }

    /// Hold (or release) sending to `user`.
    pub fn set_held(&self, user: &UserId, held: bool) -> Result<()> {
        self.conn().execute(
            "INSERT INTO known_users (user_id, fetched_ts, held) VALUES (?1, 0, ?2)
             ON CONFLICT (user_id) DO UPDATE SET held = excluded.held",
            params![user.as_str(), i64::from(held)],
        )?;
        Ok(())
    }

    /// Mark `user` verified at the safety number `digits`, or (None) not verified.
    pub fn set_verified_number(&self, user: &UserId, digits: Option<&str>) -> Result<()> {
        self.conn().execute(
            "INSERT INTO known_users (user_id, fetched_ts, verified) VALUES (?1, 0, ?2)
             ON CONFLICT (user_id) DO UPDATE SET verified = excluded.verified",
            params![user.as_str(), digits],
        )?;
        Ok(())
    }

    pub fn account_pickle(&self) -> Result<Option<(String, i64)>> {
        Ok(self
            .conn()
            .query_row("SELECT pickle, unpublished FROM account WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// The sessions with an identity key that may send: not restored ones ([`Db::set_receive_only`]).
    pub fn olm_sessions_for_sending(&self, curve: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT session_id, pickle FROM olm_sessions WHERE curve25519 = ?1 AND receive_only = 0
             ORDER BY last_used_ts DESC",
        )?;
        let rows = stmt.query_map([curve], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Keep the sessions with `curve` (every session with `None`) for decrypting only: the next
    /// send to that device starts a new session.
    pub fn set_receive_only(&self, curve: Option<&str>) -> Result<()> {
        self.conn().execute("UPDATE olm_sessions SET receive_only = 1 WHERE ?1 IS NULL OR curve25519 = ?1", [curve])?;
        Ok(())
    }

    /// When new sessions were last started with the device of identity key `curve` (ms), if ever.
    pub fn renewed_ts(&self, curve: &str) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT renewed_ts FROM olm_renewals WHERE curve25519 = ?1")?
            .query_row([curve], |r| r.get(0))
            .optional()?)
    }

    pub fn set_renewed(&self, curve: &str, ts: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO olm_renewals (curve25519, renewed_ts) VALUES (?1, ?2)
             ON CONFLICT (curve25519) DO UPDATE SET renewed_ts = excluded.renewed_ts",
            params![curve, ts],
        )?;
        Ok(())
    }

    /// Every session with an identity key, newest first (receive-only ones too: for decrypting).
    pub fn olm_sessions_for(&self, curve: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT session_id, pickle FROM olm_sessions WHERE curve25519 = ?1 ORDER BY last_used_ts DESC",
        )?;
        let rows = stmt.query_map([curve], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn outbound_group(&self, group: &GroupId) -> Result<Option<OutboundGroupRecord>> {
        let row = self
            .conn()
            .prepare_cached(
                "SELECT session_id, pickle, created_ts, message_count, shared_with FROM outbound_group_sessions
                 WHERE group_id = ?1",
            )?
            .query_row([group.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?)))
            .optional()?;
        row.map(|(session_id, pickle, created_ts, message_count, shared)| {
            let shared_with =
                serde_json::from_str(&shared).map_err(StoreError::json("outbound_group_sessions", "shared_with"))?;
            Ok(OutboundGroupRecord { session_id, pickle, created_ts, message_count, shared_with })
        })
        .transpose()
    }

    pub fn inbound_group(&self, session_id: &str, sender_curve: &str) -> Result<Option<InboundGroupRecord>> {
        let row = self
            .conn()
            .prepare_cached(
                "SELECT group_id, sender_user, sender_device, sender_curve, pickle FROM inbound_group_sessions
                 WHERE session_id = ?1 AND sender_curve = ?2",
            )?
            .query_row(params![session_id, sender_curve], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        row.map(|(g, u, d, sender_curve, pickle)| {
            Ok(InboundGroupRecord {
                group_id: GroupId::parse(g).map_err(StoreError::id("inbound_group_sessions", "group_id"))?,
                sender_user: UserId::parse(u).map_err(StoreError::id("inbound_group_sessions", "sender_user"))?,
                sender_device: DeviceId::parse(d).map_err(StoreError::id("inbound_group_sessions", "sender_device"))?,
                sender_curve,
                pickle,
            })
        })
        .transpose()
    }

    pub fn save_account(&self, pickle: &str, unpublished: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO account (id, pickle, unpublished) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET pickle = excluded.pickle, unpublished = excluded.unpublished",
            params![pickle, unpublished],
        )?;
        Ok(())
    }

    pub fn upsert_device(&self, d: &DeviceRecord) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO devices (user_id, device_id, curve25519, ed25519, first_seen, active, confirmed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (user_id, device_id) DO UPDATE SET curve25519 = excluded.curve25519,
                    ed25519 = excluded.ed25519, active = excluded.active, confirmed = excluded.confirmed",
            )?
            .execute(params![
                d.user_id.as_str(),
                d.device_id.as_str(),
                d.curve25519,
                d.ed25519,
                d.first_seen,
                i64::from(d.active),
                i64::from(d.confirmed)
            ])?;
        Ok(())
    }

    /// This user's private cross-signing keys, if this device holds them.
    pub fn cross_signing(&self) -> Result<Option<StoredSecrets>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT master, self_signing, user_signing FROM cross_signing WHERE id = 1")?
            .query_row([], |r| {
                Ok(StoredSecrets {
                    master: Zeroizing::new(r.get(0)?),
                    self_signing: Zeroizing::new(r.get(1)?),
                    user_signing: Zeroizing::new(r.get(2)?),
                })
            })
            .optional()?)
    }

    pub fn save_cross_signing(&self, secrets: &StoredSecrets) -> Result<()> {
        self.conn().execute(
            "INSERT INTO cross_signing (id, master, self_signing, user_signing) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET master = excluded.master, self_signing = excluded.self_signing,
                user_signing = excluded.user_signing",
            params![secrets.master.as_str(), secrets.self_signing.as_str(), secrets.user_signing.as_str()],
        )?;
        Ok(())
    }

    /// Forget this user's private cross-signing keys (another device published its identity
    /// first, so they were never used).
    pub fn delete_cross_signing(&self) -> Result<()> {
        self.conn().execute("DELETE FROM cross_signing", [])?;
        Ok(())
    }

    /// The identity pinned for `user`, with when it was first seen (ms).
    pub fn pinned_identity(&self, user: &UserId) -> Result<Option<(UserIdentity, i64)>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT master_key, self_signing_key, user_signing_key, signature, first_seen
                 FROM identities WHERE user_id = ?1",
            )?
            .query_row([user.as_str()], |r| {
                let identity = UserIdentity {
                    user_id: user.clone(),
                    master_key: r.get(0)?,
                    self_signing_key: r.get(1)?,
                    user_signing_key: r.get(2)?,
                    signature: r.get(3)?,
                };
                Ok((identity, r.get(4)?))
            })
            .optional()?)
    }

    /// Pin `identity` for its user (replacing what was pinned).
    pub fn pin_identity(&self, identity: &UserIdentity, first_seen: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO identities (user_id, master_key, self_signing_key, user_signing_key, signature, first_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (user_id) DO UPDATE SET master_key = excluded.master_key,
                self_signing_key = excluded.self_signing_key, user_signing_key = excluded.user_signing_key,
                signature = excluded.signature, first_seen = excluded.first_seen",
            params![
                identity.user_id.as_str(),
                identity.master_key,
                identity.self_signing_key,
                identity.user_signing_key,
                identity.signature,
                first_seen
            ],
        )?;
        Ok(())
    }

    pub fn set_user_fetched(&self, user: &UserId, ts: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO known_users (user_id, fetched_ts) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET fetched_ts = excluded.fetched_ts",
            params![user.as_str(), ts],
        )?;
        Ok(())
    }

    pub fn save_olm_session(&self, session_id: &str, curve: &str, pickle: &str, now: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO olm_sessions (session_id, curve25519, pickle, created_ts, last_used_ts)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (session_id) DO UPDATE SET pickle = excluded.pickle, last_used_ts = excluded.last_used_ts",
            )?
            .execute(params![session_id, curve, pickle, now])?;
        Ok(())
    }

    /// Store a new Olm session; an existing one with the same id is never replaced.
    pub fn insert_olm_session(&self, session_id: &str, curve: &str, pickle: &str, now: i64) -> Result<()> {
        let n = self
            .conn()
            .prepare_cached(
                "INSERT INTO olm_sessions (session_id, curve25519, pickle, created_ts, last_used_ts)
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (session_id) DO NOTHING",
            )?
            .execute(params![session_id, curve, pickle, now])?;
        if n == 0 {
            return Err(crate::crypto::CryptoError::DuplicateSession.into());
        }
        Ok(())
    }

    /// Forget this device's account and Olm sessions (a backup restored as a new device: the
    /// old device's identity is not carried over).
    pub fn forget_device_identity(&self) -> Result<()> {
        self.conn().execute_batch("DELETE FROM account; DELETE FROM olm_sessions; DELETE FROM olm_renewals;")?;
        Ok(())
    }

    /// Drop what belongs to this device's previous identity (a key reset): every Olm session
    /// (they were opened with the old keys, and whoever holds those must not be able to talk as
    /// this device's peers), renewal times, and outbound Megolm sessions (the next group send
    /// starts and shares a new one). Inbound Megolm sessions stay, so history and messages still
    /// on the way from others remain readable.
    pub fn discard_identity_sessions(&self) -> Result<()> {
        self.conn().execute_batch(
            "DELETE FROM olm_sessions; DELETE FROM olm_renewals; DELETE FROM outbound_group_sessions;",
        )?;
        Ok(())
    }

    pub fn olm_session_exists(&self, session_id: &str) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM olm_sessions WHERE session_id = ?1")?
            .query_row([session_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Record a one-to-one entry as processed; false when it was processed before.
    pub fn mark_direct_received(&self, sender_user: &str, message_id: &str) -> Result<bool> {
        let n = self
            .conn()
            .prepare_cached(
                "INSERT INTO received_direct (sender_user, message_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![sender_user, message_id])?;
        Ok(n > 0)
    }

    pub fn delete_olm_sessions(&self, curve: &str) -> Result<()> {
        self.conn().execute("DELETE FROM olm_sessions WHERE curve25519 = ?1", [curve])?;
        Ok(())
    }

    pub fn save_outbound_group(&self, group: &GroupId, r: &OutboundGroupRecord) -> Result<()> {
        let shared = serde_json::to_string(&r.shared_with).map_err(Error::encode("a group session's devices"))?;
        self.conn()
            .prepare_cached(
                "INSERT INTO outbound_group_sessions (group_id, session_id, pickle, created_ts, message_count, shared_with)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (group_id) DO UPDATE SET session_id = excluded.session_id, pickle = excluded.pickle,
                    created_ts = excluded.created_ts, message_count = excluded.message_count,
                    shared_with = excluded.shared_with",
            )?
            .execute(params![group.as_str(), r.session_id, r.pickle, r.created_ts, r.message_count, shared])?;
        Ok(())
    }

    /// Forget the group's outbound session: the next send starts (and shares) a new one.
    pub fn discard_outbound_group(&self, group: &GroupId) -> Result<()> {
        self.conn().execute("DELETE FROM outbound_group_sessions WHERE group_id = ?1", [group.as_str()])?;
        Ok(())
    }

    /// Store an inbound Megolm session; returns false when it was already known.
    pub fn save_inbound_group(
        &self,
        session_id: &str,
        r: &InboundGroupRecord,
        first_index: u32,
        now: i64,
    ) -> Result<bool> {
        let n = self.conn().execute(
            "INSERT INTO inbound_group_sessions
                (session_id, group_id, sender_user, sender_device, sender_curve, first_index, pickle, received_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (session_id, sender_curve) DO UPDATE SET pickle = excluded.pickle,
                first_index = excluded.first_index, backed_up = 0
             WHERE excluded.first_index < inbound_group_sessions.first_index",
            params![
                session_id,
                r.group_id.as_str(),
                r.sender_user.as_str(),
                r.sender_device.as_str(),
                r.sender_curve,
                i64::from(first_index),
                r.pickle,
                now
            ],
        )?;
        Ok(n > 0)
    }

    /// Inbound Megolm sessions for the key backup: those not in it yet, or all of them.
    pub fn group_sessions_for_backup(&self, scope: BackupScope) -> Result<Vec<GroupSessionRow>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT session_id, group_id, sender_user, sender_device, sender_curve, pickle, received_ts
             FROM inbound_group_sessions WHERE ?1 OR backed_up = 0",
        )?;
        let rows = stmt
            .query_map([scope == BackupScope::All], |r| {
                Ok(GroupSessionRow {
                    session_id: r.get(0)?,
                    group_id: r.get(1)?,
                    sender_user: r.get(2)?,
                    sender_device: r.get(3)?,
                    sender_curve: r.get(4)?,
                    pickle: r.get(5)?,
                    received_ts: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Whether some inbound session is not in the key backup yet.
    pub fn has_sessions_to_back_up(&self) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM inbound_group_sessions WHERE backed_up = 0 LIMIT 1")?
            .query_row([], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Mark sessions as in the key backup, each as far back as `first_index`: a copy stored
    /// meanwhile that reaches further back stays to be uploaded.
    pub fn mark_backed_up(&self, sessions: &[(String, String, u32)]) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(
            "UPDATE inbound_group_sessions SET backed_up = 1
             WHERE session_id = ?1 AND sender_curve = ?2 AND first_index >= ?3",
        )?;
        for (session_id, curve, first_index) in sessions {
            stmt.execute(params![session_id, curve, i64::from(*first_index)])?;
        }
        Ok(())
    }

    /// (inbound sessions, of which in the key backup).
    pub fn key_backup_counts(&self) -> Result<(u64, u64)> {
        let (total, backed_up): (i64, i64) = self.conn().query_row(
            "SELECT count(*), coalesce(sum(backed_up), 0) FROM inbound_group_sessions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((u64::try_from(total).unwrap_or(0), u64::try_from(backed_up).unwrap_or(0)))
    }

    /// The identity key of the device `user`/`device` that shared `session_id`, from the session
    /// itself (it was received over Olm from that device, or restored from this user's backup):
    /// reads messages from devices no longer in the directory.
    pub fn group_session_sender_curve(
        &self,
        session_id: &str,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT sender_curve FROM inbound_group_sessions
                 WHERE session_id = ?1 AND sender_user = ?2 AND sender_device = ?3 LIMIT 1",
            )?
            .query_row(params![session_id, user.as_str(), device.as_str()], |r| r.get(0))
            .optional()?)
    }

    /// Every group this device has an outbound session for, with the session.
    pub fn outbound_groups(&self) -> Result<Vec<(GroupId, OutboundGroupRecord)>> {
        let ids: Vec<String> = self
            .conn()
            .prepare_cached("SELECT group_id FROM outbound_group_sessions")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let group = GroupId::parse(id).map_err(StoreError::id("outbound_group_sessions", "group_id"))?;
            if let Some(record) = self.outbound_group(&group)? {
                out.push((group, record));
            }
        }
        Ok(out)
    }

    /// Record that `(session, index)` decrypted to `message_id`. Returns the message id seen
    /// before at that position, if any (a replay when it differs).
    pub fn check_megolm_index(&self, session_id: &str, index: u32, message_id: &str) -> Result<Option<String>> {
        // The common case (a first sighting) is one statement.
        let inserted = self
            .conn()
            .prepare_cached(
                "INSERT INTO megolm_indices (session_id, message_index, message_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![session_id, i64::from(index), message_id])?;
        if inserted > 0 {
            return Ok(None);
        }
        let seen: String = self
            .conn()
            .prepare_cached("SELECT message_id FROM megolm_indices WHERE session_id = ?1 AND message_index = ?2")?
            .query_row(params![session_id, i64::from(index)], |r| r.get(0))?;
        Ok(Some(seen))
    }
}
