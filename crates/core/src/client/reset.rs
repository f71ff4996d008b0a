//! Key reset: this device takes a new identity (a fresh Olm account: new Curve25519 and Ed25519
//! keys) under the same device id, as the seed's key rotation does, for when the old keys may be
//! known to someone else. Contacts who pinned the old keys are told through the directory, never
//! by a message alone: this device starts new Olm sessions with every device it knows, and a
//! receiver whose pinned key differs from the one a message names looks the sender up again,
//! which records the change and shows the key-change notice.
//!
//! What goes and what stays: every Olm session (opened with the old keys) and every outbound
//! Megolm session (the next group send starts and shares a new one) go. History, inbound Megolm
//! sessions (old group messages stay readable, and so do new ones from senders whose sessions we
//! already hold) and messages kept as undecryptable stay. The inbox is read first, while the old
//! keys can still decrypt what already arrived.
//!
//! Invariant: the server and this device never disagree silently about the identity. The new
//! account is stored as "pending" before the server sees its keys, and becomes the device's
//! account, in one transaction, only once the server has answered that it took them. When that
//! answer is lost, the pending identity is offered again by a retry (the server accepts the same
//! keys twice), or settled the next time the device comes online: adopted if the directory lists
//! its keys, dropped if it does not.

use serde::Serialize;
use sotto_proto::ResetDeviceKeysRequest;
use sotto_proto::routes;

use super::renew::Renew;
use super::{Client, Fallback, META_KEYS_PUBLISHED, META_PENDING_IDENTITY};
use crate::Result;

/// What a key reset did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyReset {
    /// The device's new Ed25519 key (what safety numbers are made of).
    pub ed25519: String,
    /// The device's new Curve25519 identity key.
    pub curve25519: String,
    /// Devices (contacts' and this account's other ones) that were sent a first message from the
    /// new keys, so they learn of the change now rather than the next time they hear from us.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub notified_devices: usize,
}

impl Client {
    /// Give this device a new identity (see the module docs). `password` is the account password,
    /// which the server checks again: a wrong one is `invalid_credentials` and changes nothing, an
    /// account without one (external sign-in) is `no_password`. Going offline midway is `offline`,
    /// and the reset is settled by a retry or the next time the device is online.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn reset_keys(&self, password: &str) -> Result<KeyReset> {
        let _resetting = self.inner.reset_lock.lock().await;
        // What already waits for this device was encrypted to the old keys: read it while they
        // can. (The background service reads it as it arrives.)
        if !self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
            self.fetch_inbox().await?;
        }
        // A reset whose answer was lost offers the same keys again.
        let pending = self.transact(|m, db| match db.meta(META_PENDING_IDENTITY)? {
            Some(pending) => Ok(pending),
            None => {
                let pending = m.new_identity();
                db.set_meta(META_PENDING_IDENTITY, &pending)?;
                Ok(pending)
            }
        })?;
        let keys = self.transact(|m, _| m.identity_keys(&pending))?;
        let body = ResetDeviceKeysRequest { password: password.to_owned(), keys };
        match self.call::<routes::ResetDeviceKeys>(&(), &body).await {
            Ok(_) => {}
            // The server may or may not have taken the keys: keep them for the retry.
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                self.transact(|_, db| db.delete_meta(META_PENDING_IDENTITY))?;
                return Err(e);
            }
        }
        self.adopt_identity(&pending).await
    }

    /// Settle a key reset whose answer never arrived (the process stopped, or the network broke):
    /// adopt the pending identity if the directory lists its keys for this device, else drop it.
    pub(crate) async fn finish_interrupted_reset(&self) -> Result<()> {
        if self.read(|db| db.meta(META_PENDING_IDENTITY))?.is_none() {
            return Ok(());
        }
        let _resetting = self.inner.reset_lock.lock().await;
        let Some(pending) = self.read(|db| db.meta(META_PENDING_IDENTITY))? else { return Ok(()) };
        let keys = self.transact(|m, _| m.identity_keys(&pending))?;
        let taken = self.own_entry().await?.devices.contains(&keys);
        if taken {
            tracing::info!("the server took the keys of an interrupted reset; adopting them");
            self.adopt_identity(&pending).await?;
        } else {
            tracing::info!("the server never took the keys of an interrupted reset; they were dropped");
            self.transact(|_, db| db.delete_meta(META_PENDING_IDENTITY))?;
        }
        Ok(())
    }

    /// The server lists the pending identity: make it this device's, drop what belonged to the old
    /// one, publish one-time keys, and start new sessions with every known device.
    async fn adopt_identity(&self, pending: &str) -> Result<KeyReset> {
        let keys = self.transact(|m, db| {
            m.adopt_identity(db, pending)?;
            db.discard_identity_sessions()?;
            db.delete_meta(META_PENDING_IDENTITY)?;
            db.set_meta(META_KEYS_PUBLISHED, "1")?;
            Ok(m.device_keys())
        })?;
        tracing::info!("this device has a new identity");
        // The server dropped the old identity's one-time and fallback keys; until these are up,
        // contacts cannot open sessions with us (our own first messages to them still go out).
        if let Err(e) = self.upload_keys(Fallback::Keep).await {
            tracing::warn!(error = %e, "could not publish one-time keys for the new identity; the next sync retries");
        }
        // The server dropped this device's confirmation with its old keys: confirm the new ones
        // (when this device holds the user's identity) before telling anyone.
        if let Err(e) = self.ensure_identity().await {
            tracing::warn!(error = %e, "could not confirm the new keys yet; the next sync retries");
        }
        let devices = self.read(|db| db.active_devices())?;
        let notified = match self.renew_sessions(&devices, Renew::All).await {
            Ok(n) => n,
            Err(e) => {
                // They learn of it with the next message we send them instead.
                tracing::warn!(error = %e, "could not tell every device about the new keys yet");
                0
            }
        };
        Ok(KeyReset { ed25519: keys.ed25519, curve25519: keys.curve25519, notified_devices: notified })
    }
}
