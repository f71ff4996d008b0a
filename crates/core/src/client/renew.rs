//! Renewing Olm sessions. A device restored from a backup holds Olm sessions that may be behind
//! the copy it kept using after the backup was taken; sending with them would reuse message keys
//! its peers have already seen, and peers replying over them would use ratchet keys the restored
//! device never had. So restored sessions only decrypt, and the device starts a new session with
//! every peer device and carries it in a `session_renewed` message that peers process silently:
//! their newest session with this device, the one they send with, is then the new one. The same
//! happens, at most once per hour per device, when an Olm message from a device does not
//! decrypt.

use std::collections::{BTreeMap, BTreeSet};

use sotto_proto::routes;
use sotto_proto::{ErrorCode, MessageId, SendDirectRequest, UserId};

use super::Client;
use crate::crypto::CryptoError;
use crate::crypto::payload::OlmContent;
use crate::store::{DeviceRecord, Devices, now_ms};
use crate::{Error, Result};

/// A device gets new sessions because of undecryptable messages at most this often (1 hour).
pub const RENEW_EVERY_MS: i64 = 60 * 60 * 1000;
/// Attempts after the server said the recipient's devices changed.
const DEVICE_CHANGE_RETRIES: usize = 3;

/// Which of the devices given to [`Client::renew_sessions`] get new sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Renew {
    /// Every one: this device's keys or sessions changed (a restore, a key reset).
    All,
    /// Those not renewed within [`RENEW_EVERY_MS`] (messages from them did not decrypt).
    UnlessRecent,
}

impl Client {
    /// Start new Olm sessions with `devices` and send each a `session_renewed` message; with
    /// [`Renew::UnlessRecent`], a device renewed within [`RENEW_EVERY_MS`] is skipped. Returns
    /// how many devices were renewed. Their old sessions are kept for decrypting only, from the
    /// start: if the message cannot be sent now, the next message to them starts the new session
    /// instead.
    pub(crate) async fn renew_sessions(&self, devices: &[DeviceRecord], which: Renew) -> Result<usize> {
        let now = now_ms();
        let own = self.inner.own.clone();
        let due: Vec<DeviceRecord> = self.transact(|_, db| {
            let mut due = Vec::new();
            for d in devices {
                if d.user_id == own.user_id && d.device_id == own.device_id {
                    continue;
                }
                let recent = db.renewed_ts(&d.curve25519)?.is_some_and(|ts| now.saturating_sub(ts) < RENEW_EVERY_MS);
                if recent && which == Renew::UnlessRecent {
                    continue;
                }
                db.set_receive_only(Some(&d.curve25519))?;
                db.set_renewed(&d.curve25519, now)?;
                due.push(d.clone());
            }
            Ok(due)
        })?;
        let users: BTreeSet<UserId> = due.iter().map(|d| d.user_id.clone()).collect();
        for user in &users {
            self.send_olm(user, &OlmContent::SessionRenewed).await?;
        }
        Ok(due.len())
    }

    /// [`Client::renew_sessions`] for devices whose messages did not decrypt; failures are only
    /// logged (the next message to them starts a new session anyway).
    pub(crate) async fn renew_after_failures(&self, devices: BTreeMap<String, DeviceRecord>) {
        if devices.is_empty() {
            return;
        }
        let devices: Vec<DeviceRecord> = devices.into_values().collect();
        match self.renew_sessions(&devices, Renew::UnlessRecent).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(devices = n, "started new sessions with devices whose messages did not decrypt"),
            Err(e) => tracing::warn!(error = %e, "could not start new sessions"),
        }
    }

    /// One silent Olm message (`content`: a renewal, a re-send request or a re-sent text) to
    /// every device of `user` (and this account's other devices, which the server requires of any
    /// direct send). Devices with a session that may send reuse it; the others get a new one.
    pub(crate) async fn send_olm(&self, user: &UserId, content: &OlmContent) -> Result<()> {
        let own_user = self.inner.own.user_id.clone();
        let users: Vec<UserId> = if user == &own_user { vec![own_user] } else { vec![user.clone(), own_user] };
        for _ in 0..DEVICE_CHANGE_RETRIES {
            let targets = self.read(|db| {
                let mut all = Vec::new();
                for u in &users {
                    all.extend(db.devices_of(u, Devices::Active)?);
                }
                Ok(all)
            })?;
            if targets.is_empty() {
                return Ok(());
            }
            if let Some(d) = self.ensure_olm_sessions(&targets).await?.first() {
                return Err(Error::NoDevices(format!("{} (device {} has no usable keys)", d.user_id, d.device_id)));
            }
            let payloads = self.encrypt_for(&targets, content)?;
            let message_id =
                MessageId::parse(uuid::Uuid::new_v4().simple().to_string()).map_err(CryptoError::GeneratedId)?;
            let req = SendDirectRequest { message_id, payloads };
            match self.call::<routes::SendDirect>(&(), &req).await {
                Ok(_) => return Ok(()),
                Err(Error::Server { code: ErrorCode::DevicesChanged, .. }) => {
                    self.refresh_devices(&users).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::KeptChanging("the recipients' devices"))
    }
}
