//! This user's identity on this device: making it (the first device of an account, or the
//! first start of a profile from before identities), publishing it, confirming this device with
//! it, and taking it from the key backup (the recovery key) so a new device confirms itself.
//! Confirming another device of the user interactively is in [`super::link`].

use sotto_proto::routes;
use sotto_proto::{ConfirmDevicesRequest, ErrorCode, QueryKeysRequest, ResetIdentityRequest, UserDevices};
use zeroize::Zeroizing;

use super::Client;
use crate::backup::Record;
use crate::crypto::cross_signing::{CrossSigningSecrets, verify_confirmation};
use crate::store::{StoredSecrets, now_ms};
use crate::{Error, Result};

/// The state of this device's identity that [`Client::ensure_identity`] last settled.
const META_IDENTITY_SETTLED: &str = "identity_settled";

impl Client {
    /// This user's directory entry, fresh.
    pub(super) async fn own_entry(&self) -> Result<UserDevices> {
        let own = &self.inner.own;
        let body = QueryKeysRequest { user_ids: vec![own.user_id.clone()] };
        let listed = self.call::<routes::QueryKeys>(&(), &body).await?;
        listed
            .users
            .into_iter()
            .find(|u| u.user_id == own.user_id)
            .ok_or_else(|| Error::UnknownUser(own.user_id.to_string()))
    }

    /// Make sure this user has a published identity and that this device is confirmed by it,
    /// when this device holds the user's cross-signing keys; make them when the user has none
    /// yet (a new account, or a profile from before identities). A device signed in to an
    /// account that has an identity waits to be confirmed (by another of the user's devices,
    /// or with the recovery key) and meanwhile is given no keys.
    ///
    /// Runs at every sync and connection: once settled for this device's keys and identity it
    /// asks the server nothing until either changes (a key reset, identity keys taken in).
    pub(crate) async fn ensure_identity(&self) -> Result<()> {
        if self.read(|db| db.meta(META_IDENTITY_SETTLED))? == Some(self.identity_state()?) {
            return Ok(());
        }
        let own = self.inner.own.clone();
        let listed = self.own_entry().await?;
        let stored = self.read(|db| db.cross_signing())?;
        let secrets = stored.as_ref().map(CrossSigningSecrets::from_stored).transpose()?;
        let secrets = match (secrets, &listed.identity) {
            (Some(secrets), Some(identity)) if secrets.matches(identity) => secrets,
            (Some(_), Some(_)) => {
                // The server lists another identity than the one this device holds: whoever
                // pinned ours keeps it; nothing is confirmed with the other one.
                tracing::warn!("the server lists another identity for this user than the one this device holds");
                return Ok(());
            }
            (None, Some(_)) => return self.settle_identity(),
            (held, None) => {
                // Kept before it is published: a crash in between publishes it at the next start.
                let secrets = held.unwrap_or_else(CrossSigningSecrets::generate);
                self.read(|db| db.save_cross_signing(&secrets.to_stored()))?;
                match self.call::<routes::PutIdentity>(&(), &secrets.identity(&own.user_id)).await {
                    Ok(()) => tracing::info!("user identity made and published"),
                    // Another device of this user published one first: this one waits to be
                    // confirmed by it.
                    Err(e) if e.server_code() == Some(ErrorCode::Conflict) => {
                        self.read(|db| db.delete_cross_signing())?;
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
                secrets
            }
        };
        let keys = self.transact(|m, _| Ok(m.device_keys()))?;
        let identity = secrets.identity(&own.user_id);
        self.read(|db| {
            if db.pinned_identity(&own.user_id)?.is_none_or(|(pinned, _)| pinned != identity) {
                db.pin_identity(&identity, now_ms())?;
            }
            Ok(())
        })?;
        let confirmed = listed.confirmations.iter().any(|c| {
            c.device_id == own.device_id
                && listed.devices.contains(&keys)
                && verify_confirmation(&identity, &keys, &c.signature)
        });
        if !confirmed {
            let body = ConfirmDevicesRequest { confirmations: vec![secrets.confirm(&keys)] };
            self.call::<routes::ConfirmDevices>(&(), &body).await?;
            tracing::info!("this device confirmed with the user's identity");
        }
        self.settle_identity()
    }

    /// What [`Client::ensure_identity`] settled for: the master key this device holds and its
    /// own Ed25519 key, or that it holds none (and waits to be confirmed).
    fn identity_state(&self) -> Result<String> {
        match self.read(|db| db.cross_signing())? {
            Some(stored) => {
                let master = CrossSigningSecrets::from_stored(&stored)?.master_key();
                let ed25519 = self.transact(|m, _| Ok(m.ed25519()))?;
                Ok(format!("{master}|{ed25519}"))
            }
            None => Ok("waiting".into()),
        }
    }

    fn settle_identity(&self) -> Result<()> {
        let state = self.identity_state()?;
        self.read(|db| db.set_meta(META_IDENTITY_SETTLED, &state))
    }

    /// Whether this device holds the user's identity: it was confirmed (or made the identity)
    /// and can confirm the user's other devices. A device that does not is given no keys by
    /// anyone until it is confirmed (no network; for a banner).
    pub fn this_device_confirmed(&self) -> Result<bool> {
        Ok(self.read(|db| db.cross_signing())?.is_some())
    }

    /// Start over with a new identity, when no device that holds the user's identity is left and
    /// there is no recovery key: the account `password` is checked again. Every device of the
    /// user must then be confirmed again (this one is, at once), and contacts see that the
    /// identity key changed. A retry after a lost answer offers the same new identity.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn reset_identity(&self, password: &str) -> Result<()> {
        let own = self.inner.own.clone();
        let listed = self.own_entry().await?;
        let held = self.read(|db| db.cross_signing())?;
        let held = held.as_ref().map(CrossSigningSecrets::from_stored).transpose()?;
        let secrets = match held {
            Some(secrets) if listed.identity.as_ref().is_some_and(|i| secrets.matches(i)) => {
                return Err(Error::InvalidInput(
                    "This device holds your identity already; confirm your other devices from it instead of starting over."
                        .into(),
                ));
            }
            // Held but not listed: an earlier reset whose answer was lost, or one the server
            // refused. Offer the same keys again.
            Some(secrets) => secrets,
            None => {
                let secrets = CrossSigningSecrets::generate();
                self.read(|db| db.save_cross_signing(&secrets.to_stored()))?;
                secrets
            }
        };
        let body = ResetIdentityRequest { password: password.to_owned(), identity: secrets.identity(&own.user_id) };
        match self.call::<routes::ResetIdentity>(&(), &body).await {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                self.read(|db| db.delete_cross_signing())?;
                return Err(e);
            }
        }
        tracing::info!("started over with a new identity");
        // Pin the new identity for this user here (the old one is gone for good).
        self.read(|db| db.pin_identity(&secrets.identity(&own.user_id), now_ms()))?;
        self.ensure_identity().await?;
        self.refresh_devices(std::slice::from_ref(&own.user_id)).await?;
        Ok(())
    }

    /// Take the user's cross-signing keys from a key backup (a `cross_signing` record) when this
    /// device has none and they are the identity the user has now; then confirm this device
    /// with them. Returns whether this device holds the user's identity afterwards. Keys of an
    /// identity the user replaced since are left alone.
    pub(crate) async fn adopt_backed_up_identity(&self, record: &Record) -> Result<bool> {
        let Record::CrossSigning { master, self_signing, user_signing } = record else { return Ok(false) };
        if self.read(|db| db.cross_signing())?.is_some() {
            return Ok(true);
        }
        let stored = StoredSecrets {
            master: Zeroizing::new(master.clone()),
            self_signing: Zeroizing::new(self_signing.clone()),
            user_signing: Zeroizing::new(user_signing.clone()),
        };
        let secrets = CrossSigningSecrets::from_stored(&stored)?;
        let listed = self.own_entry().await?;
        let current = listed.identity.as_ref().is_some_and(|identity| secrets.matches(identity));
        let pinned = self.read(|db| db.pinned_identity(&self.inner.own.user_id))?;
        // A device that already pinned its user's identity takes only keys of that identity.
        if !current || pinned.is_some_and(|(pinned, _)| pinned.master_key != secrets.master_key()) {
            tracing::warn!("the key backup holds identity keys the user no longer has; not used");
            return Ok(false);
        }
        self.read(|db| db.save_cross_signing(&stored))?;
        tracing::info!("identity keys restored from the key backup");
        self.ensure_identity().await?;
        self.refresh_devices(std::slice::from_ref(&self.inner.own.user_id)).await?;
        Ok(true)
    }
}
