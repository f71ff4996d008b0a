//! Confirming a new device of this user by comparing a short authentication string (SAS).
//!
//! A device signed in with the password gets no keys until the user confirms it. From a device
//! that holds the user's identity ("the old device"), [`Client::start_device_confirmation`]
//! starts a verification with the new one over to-device Olm messages; the new device accepts it
//! by itself (accepting decides nothing). Both then show the same seven emoji — unless someone
//! is in between — and the person confirms on both that they match. Each device then sends MACs
//! of its keys under the shared secret: the old device's cover its device key and the user's
//! master key, the new device's its device key. When both check out, the old device signs the
//! new one with the self-signing key, publishes that, and sends it the user's private identity
//! keys, so the new device can confirm the next one itself.
//!
//! The steps (`crypto::payload::OlmContent::Sas*`): the initiator sends `SasStart`; the other
//! device answers `SasAccept` with a commitment to its ephemeral key; the initiator sends its
//! key, then the other its own (checked against the commitment, so neither can choose its key
//! after seeing the other's); `SasMac` from each once its person confirmed; `IdentityKeys` from
//! the old device last. `SasCancel` stops it from either side. A verification lives in memory
//! only, for [`VERIFICATION_TIMEOUT`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use sotto_proto::routes;
use sotto_proto::{ConfirmDevicesRequest, DeviceAddress, DeviceId, DeviceKeys, SendDirectRequest, UserId};
use vodozemac::Curve25519PublicKey;
use vodozemac::sas::{EstablishedSas, Sas};
use zeroize::Zeroizing;

use super::Client;
use super::receive::{HANDED_OVER_HISTORY_BYTES, MAX_HANDED_OVER_MESSAGES};
use super::send::new_message_id;
use crate::ConversationId;
use crate::crypto::cross_signing::CrossSigningSecrets;
use crate::crypto::payload::{HistoryMessage, HistoryReaction, MessageRef, OlmContent};
use crate::crypto::sas::{self, Parties, ShortAuthString};
use crate::events::ClientEvent;
use crate::store::MessageKind;
use crate::store::{DeviceRecord, Devices, StoredSecrets};
use crate::{Error, Result};

/// How long a verification may take from start to end.
pub const VERIFICATION_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A verification as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VerificationView {
    pub id: String,
    /// The other device.
    pub user_id: String,
    pub device_id: String,
    /// This device started it.
    pub we_started: bool,
    pub state: VerificationState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VerificationState {
    /// Another person asks to verify each other: accept ([`Client::accept_verification`]) or
    /// cancel.
    Requested,
    /// Waiting for the other device (to answer, or to send what comes next).
    Waiting,
    /// Both devices show this: the person compares and confirms (or cancels) on both.
    Compare {
        sas: ShortAuthString,
        /// The person confirmed the match on this device; waiting for the other.
        confirmed_here: bool,
    },
    /// Both confirmed and the keys checked out. Between two devices of this user,
    /// `device_confirmed`: the new device is now confirmed by the user's identity (and, on the
    /// new device, this device holds it now). With a contact: they are marked verified (their
    /// identity, as pinned here, is theirs); `device_confirmed` is false.
    Done { device_confirmed: bool },
    /// Stopped: `reason` is `mismatch` (the person said the emoji differ), `cancelled` (by a
    /// person), `keys` (the keys did not check out: someone may be in between), `timeout`,
    /// `unconfirmed` or `unexpected` (a step out of order).
    Cancelled { reason: String },
}

enum Phase {
    /// Another person's device asked to verify; waiting for this person to accept.
    Requested,
    /// We sent the start; waiting for the accept.
    Started(Sas),
    /// We accepted (committing to our key); waiting for the initiator's key.
    Accepted(Sas),
    /// We sent our key; waiting for theirs, which must match `commitment`.
    AwaitingKey {
        sas: Sas,
        commitment: String,
    },
    Compare {
        sas: EstablishedSas,
        shown: ShortAuthString,
    },
    /// Both MACs checked out; the new device waits for the identity keys.
    Verified,
    Done {
        device_confirmed: bool,
    },
    Cancelled(String),
}

pub(super) struct Verification {
    /// The other device (for a contact, the first of `candidates` to accept).
    peer: DeviceRecord,
    /// A contact verification goes to each of the contact's confirmed devices; the first that
    /// accepts is the peer, the others are told to stop.
    candidates: Vec<DeviceRecord>,
    we_started: bool,
    phase: Phase,
    started: Instant,
    confirmed_here: bool,
    their_mac: Option<(BTreeMap<String, String>, String)>,
    /// Identity keys that arrived before the MACs were checked.
    pending_keys: Option<StoredSecrets>,
    /// On the confirming device: the person chose to copy their one-to-one conversations too.
    send_history: bool,
}

impl Verification {
    fn new(peer: DeviceRecord, we_started: bool, phase: Phase) -> Self {
        Verification {
            peer,
            candidates: Vec::new(),
            we_started,
            phase,
            started: Instant::now(),
            confirmed_here: false,
            their_mac: None,
            pending_keys: None,
            send_history: false,
        }
    }

    fn view(&self, id: &str) -> VerificationView {
        let state = match &self.phase {
            _ if self.expired() => VerificationState::Cancelled { reason: "timeout".into() },
            // Verified: the keys are on their way from the other device.
            Phase::Requested => VerificationState::Requested,
            Phase::Started(_) | Phase::Accepted(_) | Phase::AwaitingKey { .. } | Phase::Verified => {
                VerificationState::Waiting
            }
            Phase::Compare { shown, .. } => {
                VerificationState::Compare { sas: shown.clone(), confirmed_here: self.confirmed_here }
            }
            Phase::Done { device_confirmed } => VerificationState::Done { device_confirmed: *device_confirmed },
            Phase::Cancelled(reason) => VerificationState::Cancelled { reason: reason.clone() },
        };
        VerificationView {
            id: id.to_owned(),
            user_id: self.peer.user_id.to_string(),
            device_id: self.peer.device_id.to_string(),
            we_started: self.we_started,
            state,
        }
    }

    fn expired(&self) -> bool {
        !matches!(self.phase, Phase::Done { .. } | Phase::Cancelled(_)) && self.started.elapsed() > VERIFICATION_TIMEOUT
    }

    fn finished(&self) -> bool {
        matches!(self.phase, Phase::Done { .. } | Phase::Cancelled(_)) || self.expired()
    }

    fn from(&self, sender: &DeviceRecord) -> bool {
        let same = |d: &DeviceRecord| {
            d.user_id == sender.user_id && d.device_id == sender.device_id && d.curve25519 == sender.curve25519
        };
        same(&self.peer) || (matches!(self.phase, Phase::Started(_)) && self.candidates.iter().any(same))
    }
}

fn address(d: &DeviceRecord) -> DeviceAddress {
    DeviceAddress { user_id: d.user_id.clone(), device_id: d.device_id.clone() }
}

/// What to do after the verifications' lock is released.
enum Next {
    Nothing,
    Send(Box<(DeviceRecord, OlmContent)>),
    /// Check the MACs (both sides confirmed).
    Finish,
}

impl Client {
    /// Start confirming `device_id`, another device of this user, from this device (which must
    /// hold the user's identity). Returns the verification; its progress comes as
    /// [`ClientEvent::Verification`] events and from [`Client::verifications`].
    #[tracing::instrument(skip_all, err(level = "debug"))]
    ///
    /// With `history`, once the device is confirmed this one also copies its one-to-one
    /// conversations to it (group history comes from the server either way).
    pub async fn start_device_confirmation(&self, device_id: &DeviceId, history: bool) -> Result<VerificationView> {
        let own = self.inner.own.clone();
        if device_id == &own.device_id {
            return Err(Error::InvalidInput("This is the device you are using; confirm another one.".into()));
        }
        if self.read(|db| db.cross_signing())?.is_none() {
            return Err(Error::NotConfirmed);
        }
        self.refresh_devices(std::slice::from_ref(&own.user_id)).await?;
        let peer = self
            .read(|db| db.devices_of(&own.user_id, Devices::Active))?
            .into_iter()
            .find(|d| &d.device_id == device_id)
            .ok_or_else(|| Error::InvalidInput(format!("Your account has no device {device_id} with keys.")))?;
        let id = new_message_id()?.to_string();
        let verification =
            Verification { send_history: history, ..Verification::new(peer.clone(), true, Phase::Started(Sas::new())) };
        let view = verification.view(&id);
        self.verifications()?.insert(id.clone(), verification);
        self.send_to_device(&peer, &OlmContent::SasStart { txn: id.clone() }).await?;
        self.emit(ClientEvent::Verification { verification: view.clone() });
        Ok(view)
    }

    /// Start verifying `user` (a contact) by comparing emoji: a request goes to each of their
    /// confirmed devices, and the first where they accept goes on. When both confirm that the
    /// emoji match, they are marked verified here.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn start_contact_verification(&self, user: &sotto_proto::UserId) -> Result<VerificationView> {
        if user == &self.inner.own.user_id {
            return Err(Error::InvalidInput("To confirm your own devices, use Devices.".into()));
        }
        self.refresh_devices(std::slice::from_ref(user)).await?;
        if self.is_held(user)? {
            return Err(Error::IdentityChangedHeld(user.to_string()));
        }
        let candidates: Vec<DeviceRecord> =
            self.read(|db| db.devices_of(user, Devices::Active))?.into_iter().filter(|d| d.confirmed).collect();
        let Some(first) = candidates.first().cloned() else { return Err(Error::NoConfirmedDevice(user.to_string())) };
        let id = new_message_id()?.to_string();
        let verification = Verification {
            candidates: candidates.clone(),
            ..Verification::new(first, true, Phase::Started(Sas::new()))
        };
        let view = verification.view(&id);
        self.verifications()?.insert(id.clone(), verification);
        let mut reached = 0;
        for device in &candidates {
            match self.send_to_device(device, &OlmContent::SasStart { txn: id.clone() }).await {
                Ok(()) => reached += 1,
                Err(e) => tracing::warn!(error = %e, "a verification request did not reach a device"),
            }
        }
        if reached == 0 {
            self.set_phase(&id, Phase::Cancelled("unreachable".into()))?;
            return Err(Error::NoConfirmedDevice(user.to_string()));
        }
        self.emit(ClientEvent::Verification { verification: view.clone() });
        Ok(view)
    }

    /// Accept another person's request to verify each other (see
    /// [`Client::start_contact_verification`]).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn accept_verification(&self, id: &str) -> Result<VerificationView> {
        let (peer, accept) = {
            let mut list = self.verifications()?;
            let v = list.get_mut(id).filter(|v| !v.finished()).ok_or(Error::NoVerification)?;
            if !matches!(v.phase, Phase::Requested) {
                return Err(Error::NoVerification);
            }
            let sas = Sas::new();
            let commitment = sas::commitment(&sas.public_key(), id);
            v.phase = Phase::Accepted(sas);
            (v.peer.clone(), OlmContent::SasAccept { txn: id.to_owned(), commitment })
        };
        self.send_to_device(&peer, &accept).await?;
        self.emit_verification(id);
        self.view_of(id)
    }

    /// The verifications of this session (running and finished), newest last.
    pub fn verification_list(&self) -> Result<Vec<VerificationView>> {
        let list = self.verifications()?;
        let mut views: Vec<(Instant, VerificationView)> = list.iter().map(|(id, v)| (v.started, v.view(id))).collect();
        views.sort_by_key(|(started, _)| *started);
        Ok(views.into_iter().map(|(_, v)| v).collect())
    }

    /// The person confirmed on this device that both show the same emoji.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn confirm_verification(&self, id: &str) -> Result<VerificationView> {
        let own = self.inner.own.clone();
        let our_keys = self.our_mac_keys()?;
        let (peer, content, both) = {
            let mut list = self.verifications()?;
            let v = list.get_mut(id).filter(|v| !v.finished()).ok_or(Error::NoVerification)?;
            let Phase::Compare { sas, .. } = &v.phase else { return Err(Error::NoVerification) };
            let (macs, keys) = sas::macs(sas, id, &own, &address(&v.peer), &our_keys);
            v.confirmed_here = true;
            (v.peer.clone(), OlmContent::SasMac { txn: id.to_owned(), macs, keys }, v.their_mac.is_some())
        };
        self.send_to_device(&peer, &content).await?;
        if both {
            self.finish_verification(id).await;
        }
        self.emit_verification(id);
        self.view_of(id)
    }

    /// Stop a verification: the person said the emoji differ (`mismatch`) or gave up.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn cancel_verification(&self, id: &str, mismatch: bool) -> Result<VerificationView> {
        let reason = if mismatch { "mismatch" } else { "cancelled" };
        let peer = {
            let mut list = self.verifications()?;
            let v = list.get_mut(id).ok_or(Error::NoVerification)?;
            if v.finished() {
                return Ok(v.view(id));
            }
            v.phase = Phase::Cancelled(reason.into());
            v.peer.clone()
        };
        self.emit_verification(id);
        if let Err(e) =
            self.send_to_device(&peer, &OlmContent::SasCancel { txn: id.into(), reason: reason.into() }).await
        {
            tracing::warn!(error = %e, "could not tell the other device that the verification stopped");
        }
        self.view_of(id)
    }

    /// A verification message from `sender` (after the batch that carried it was committed).
    pub(super) async fn on_verification(&self, sender: DeviceRecord, content: OlmContent) {
        if let Err(e) = self.handle_verification(sender, content).await {
            tracing::warn!(error = %e, "a verification step failed");
        }
    }

    async fn handle_verification(&self, sender: DeviceRecord, content: OlmContent) -> Result<()> {
        let own = self.inner.own.clone();
        let (id, next) = match content {
            OlmContent::SasStart { txn } => {
                // Another person asking: this person decides. Only from a device its user
                // confirmed (anything else could be the server's).
                if sender.user_id != own.user_id {
                    if !sender.confirmed || self.is_held(&sender.user_id)? {
                        return self.send_to_device(&sender, &cancel(&txn, "unconfirmed")).await;
                    }
                    let verification = Verification::new(sender.clone(), false, Phase::Requested);
                    {
                        let mut list = self.verifications()?;
                        if list.contains_key(&txn) {
                            return Ok(());
                        }
                        list.insert(txn.clone(), verification);
                    }
                    self.emit_verification(&txn);
                    return Ok(());
                }
                // This user's other device: accepting decides nothing (comparing does).
                let sas = Sas::new();
                let commitment = sas::commitment(&sas.public_key(), &txn);
                let verification = Verification::new(sender.clone(), false, Phase::Accepted(sas));
                {
                    let mut list = self.verifications()?;
                    if list.contains_key(&txn) {
                        return Ok(());
                    }
                    list.insert(txn.clone(), verification);
                }
                let accept = OlmContent::SasAccept { txn: txn.clone(), commitment };
                (txn, Next::Send(Box::new((sender, accept))))
            }
            OlmContent::SasAccept { txn, commitment } => {
                let mut others = Vec::new();
                let next = self.step(&txn, &sender, |v| match std::mem::replace(&mut v.phase, Phase::Verified) {
                    Phase::Started(sas) if v.we_started => {
                        // The first of a contact's devices to accept goes on; the rest stop.
                        if !v.candidates.is_empty() {
                            v.peer = sender.clone();
                            others = std::mem::take(&mut v.candidates);
                            others.retain(|d| d.device_id != sender.device_id);
                        }
                        let key = sas.public_key().to_base64();
                        v.phase = Phase::AwaitingKey { sas, commitment };
                        Next::Send(Box::new((v.peer.clone(), OlmContent::SasKey { txn: txn.clone(), key })))
                    }
                    _ => unexpected(v, &txn),
                })?;
                for other in others {
                    if let Err(e) = self.send_to_device(&other, &cancel(&txn, "accepted_elsewhere")).await {
                        tracing::debug!(error = %e, "could not tell a device that another one answered");
                    }
                }
                (txn, next)
            }
            OlmContent::SasKey { txn, key } => {
                let their_key = Curve25519PublicKey::from_base64(&key).ok();
                let next = self.step(&txn, &sender, |v| {
                    let Some(their_key) = their_key else {
                        v.phase = Phase::Cancelled("keys".into());
                        return Next::Send(Box::new((v.peer.clone(), cancel(&txn, "keys"))));
                    };
                    match std::mem::replace(&mut v.phase, Phase::Verified) {
                        Phase::AwaitingKey { sas, commitment } if sas::commitment(&their_key, &txn) == commitment => {
                            let our_key = sas.public_key();
                            establish(v, &txn, &own, sas, our_key, their_key, Next::Nothing)
                        }
                        Phase::AwaitingKey { .. } => {
                            v.phase = Phase::Cancelled("keys".into());
                            Next::Send(Box::new((v.peer.clone(), cancel(&txn, "keys"))))
                        }
                        Phase::Accepted(sas) => {
                            let our_key = sas.public_key();
                            let reply = OlmContent::SasKey { txn: txn.clone(), key: our_key.to_base64() };
                            establish(
                                v,
                                &txn,
                                &own,
                                sas,
                                our_key,
                                their_key,
                                Next::Send(Box::new((v.peer.clone(), reply))),
                            )
                        }
                        _ => unexpected(v, &txn),
                    }
                })?;
                (txn, next)
            }
            OlmContent::SasMac { txn, macs, keys } => {
                let next = self.step(&txn, &sender, |v| {
                    if !matches!(v.phase, Phase::Compare { .. }) {
                        return unexpected(v, &txn);
                    }
                    v.their_mac = Some((macs, keys));
                    if v.confirmed_here { Next::Finish } else { Next::Nothing }
                })?;
                (txn, next)
            }
            OlmContent::SasCancel { txn, reason } => {
                let next = self.step(&txn, &sender, |v| {
                    if !v.finished() {
                        v.phase = Phase::Cancelled(reason.chars().take(32).collect());
                    }
                    Next::Nothing
                })?;
                (txn, next)
            }
            OlmContent::IdentityKeys { txn, master, self_signing, user_signing } => {
                let stored = StoredSecrets {
                    master: Zeroizing::new(master),
                    self_signing: Zeroizing::new(self_signing),
                    user_signing: Zeroizing::new(user_signing),
                };
                let verified = {
                    let mut list = self.verifications()?;
                    let Some(v) = list.get_mut(&txn).filter(|v| v.from(&sender) && !v.we_started) else {
                        return Ok(());
                    };
                    match v.phase {
                        Phase::Verified => true,
                        Phase::Compare { .. } => {
                            v.pending_keys = Some(stored);
                            return Ok(());
                        }
                        _ => return Ok(()),
                    }
                };
                if verified {
                    self.adopt_linked_identity(&txn, stored).await?;
                }
                self.emit_verification(&txn);
                return Ok(());
            }
            _ => return Ok(()),
        };
        match next {
            Next::Nothing => {}
            Next::Send(message) => self.send_to_device(&message.0, &message.1).await?,
            Next::Finish => self.finish_verification(&id).await,
        }
        self.emit_verification(&id);
        Ok(())
    }

    /// Run `f` on the verification `id` if `sender` is its peer and it is still running.
    fn step(&self, id: &str, sender: &DeviceRecord, f: impl FnOnce(&mut Verification) -> Next) -> Result<Next> {
        let mut list = self.verifications()?;
        match list.get_mut(id) {
            Some(v) if v.from(sender) && !v.finished() => Ok(f(v)),
            _ => Ok(Next::Nothing),
        }
    }

    /// Both people confirmed: check the other device's MACs, then (on the device that holds the
    /// identity) confirm the other device and hand it the identity keys.
    async fn finish_verification(&self, id: &str) {
        if let Err(e) = self.try_finish(id).await {
            tracing::warn!(error = %e, "a verification could not be finished");
            if let Ok(mut list) = self.verifications()
                && let Some(v) = list.get_mut(id)
                && !v.finished()
            {
                v.phase = Phase::Cancelled("failed".into());
            }
        }
    }

    async fn try_finish(&self, id: &str) -> Result<()> {
        let own = self.inner.own.clone();
        let pinned = self.read(|db| db.pinned_identity(&own.user_id))?.map(|(identity, _)| identity);
        let held = self.read(|db| db.cross_signing())?;
        let peer_user = self.verifications()?.get(id).map(|v| v.peer.user_id.clone());
        let their_master = match &peer_user {
            Some(user) if user != &own.user_id => {
                self.read(|db| db.pinned_identity(user))?.map(|(identity, _)| identity.master_key)
            }
            _ => None,
        };
        let mut contact = None;
        let (peer, ok, pending) = {
            let mut list = self.verifications()?;
            let Some(v) = list.get_mut(id) else { return Ok(()) };
            let (Phase::Compare { sas, .. }, Some((macs, keys))) = (&v.phase, &v.their_mac) else { return Ok(()) };
            // What the other device must vouch for: its own device key, and its user's master
            // key: a contact's always, as pinned here; for this user, if it names one (it must
            // then be the one pinned here).
            let mut expected = BTreeMap::from([(format!("ed25519:{}", v.peer.device_id), v.peer.ed25519.clone())]);
            if v.peer.user_id != own.user_id {
                let master_id = format!("master:{}", v.peer.user_id);
                expected.insert(master_id, their_master.clone().unwrap_or_default());
                let ok =
                    sas::verify_macs(sas, id, &address(&v.peer), &own, macs, keys, &expected) && their_master.is_some();
                v.phase = if ok { Phase::Done { device_confirmed: false } } else { Phase::Cancelled("keys".into()) };
                contact = Some(ok);
                (v.peer.clone(), ok, None)
            } else {
                let master_id = format!("master:{}", own.user_id);
                match (&pinned, macs.contains_key(&master_id)) {
                    (Some(identity), true) => {
                        expected.insert(master_id, identity.master_key.clone());
                    }
                    (None, true) => {
                        expected.insert(master_id, String::new());
                    }
                    _ => {}
                }
                let ok = sas::verify_macs(sas, id, &address(&v.peer), &own, macs, keys, &expected);
                // A device without the identity learns that the master key is really the user's
                // only from the other device's MAC: it must be there.
                let ok = ok && (held.is_some() || expected.len() == 2);
                v.phase = if ok { Phase::Verified } else { Phase::Cancelled("keys".into()) };
                (v.peer.clone(), ok, v.pending_keys.take())
            }
        };
        if !ok {
            tracing::warn!("a verification's keys did not check out");
            return self.send_to_device(&peer, &cancel(id, "keys")).await;
        }
        if contact.is_some() {
            // The contact's identity, as pinned here, is theirs: mark them verified (at the
            // safety number of these two identities).
            let number = self.safety_number(&peer.user_id).await?;
            self.set_verified(&peer.user_id, Some(&number)).await?;
            tracing::info!("contact verified by comparing emoji");
            return Ok(());
        }
        match held {
            Some(stored) => self.confirm_linked_device(id, &peer, &stored).await,
            None => match pending {
                Some(keys) => self.adopt_linked_identity(id, keys).await,
                None => Ok(()),
            },
        }
    }

    /// On the device that holds the identity: sign the verified device, publish that, and send
    /// it the identity keys.
    async fn confirm_linked_device(&self, id: &str, peer: &DeviceRecord, stored: &StoredSecrets) -> Result<()> {
        let secrets = CrossSigningSecrets::from_stored(stored)?;
        let keys = DeviceKeys {
            user_id: peer.user_id.clone(),
            device_id: peer.device_id.clone(),
            curve25519: peer.curve25519.clone(),
            ed25519: peer.ed25519.clone(),
            signature: String::new(),
        };
        let body = ConfirmDevicesRequest { confirmations: vec![secrets.confirm(&keys)] };
        self.call::<routes::ConfirmDevices>(&(), &body).await?;
        self.refresh_devices(std::slice::from_ref(&peer.user_id)).await?;
        let confirmed = self
            .read(|db| db.devices_of(&peer.user_id, Devices::Active))?
            .into_iter()
            .find(|d| d.device_id == peer.device_id && d.confirmed && d.curve25519 == peer.curve25519)
            .ok_or_else(|| Error::KeptChanging("the device's keys"))?;
        let content = OlmContent::IdentityKeys {
            txn: id.to_owned(),
            master: stored.master.to_string(),
            self_signing: stored.self_signing.to_string(),
            user_signing: stored.user_signing.to_string(),
        };
        self.send_to_device(&confirmed, &content).await?;
        self.set_phase(id, Phase::Done { device_confirmed: true })?;
        tracing::info!(device = %peer.device_id, "device confirmed");
        // The group keys this device holds, so the new one reads the groups' past messages.
        if let Err(e) = self.hand_over_group_keys(&confirmed).await {
            tracing::warn!(error = %e, "could not hand the group keys over to the new device");
        }
        let history = self.verifications()?.get(id).is_some_and(|v| v.send_history);
        if history && let Err(e) = self.hand_over_history(&confirmed).await {
            tracing::warn!(error = %e, "could not copy the conversations to the new device");
        }
        Ok(())
    }

    /// Copy every one-to-one text and file message this device holds to `device` (another of this user's,
    /// confirmed), oldest first per conversation, in chunks.
    async fn hand_over_history(&self, device: &DeviceRecord) -> Result<()> {
        let conversations = self.read(|db| db.conversations())?;
        let mut chunk: Vec<HistoryMessage> = Vec::new();
        let mut bytes = 0;
        let mut total = 0;
        for conversation in conversations {
            let ConversationId::Direct(peer) = &conversation.id else { continue };
            let mut after = 0;
            loop {
                let page = self.read(|db| db.messages_after(&conversation.id, after, 500))?;
                let Some(newest) = page.last() else { break };
                after = newest.id;
                for m in page.into_iter().filter(|m| matches!(m.kind, MessageKind::Text | MessageKind::File)) {
                    let Ok(sender_user) = UserId::parse(m.sender_user.as_str()) else { continue };
                    // A file goes with what opens it (the new device fetches it from the server);
                    // one that was never uploaded has nothing to fetch and stays behind.
                    let file = match m.kind {
                        // A tombstone goes as one: no file, no text.
                        _ if m.deleted => None,
                        MessageKind::File => match self.read(|db| super::files::outgoing_content(db, &m)) {
                            Ok(file) => Some(Box::new(file)),
                            Err(_) => continue,
                        },
                        _ => None,
                    };
                    let thumbnail = file.as_ref().and_then(|f| f.preview.as_ref()).map_or(0, |p| p.thumbnail.len());
                    let size = m.body.len() + thumbnail * 4 / 3 + 768;
                    // Sent before it would grow past the budget (a message alone may fill it).
                    if !chunk.is_empty() && bytes + size > HANDED_OVER_HISTORY_BYTES {
                        total += chunk.len();
                        let messages = std::mem::take(&mut chunk);
                        bytes = 0;
                        self.send_to_device(device, &OlmContent::History { messages }).await?;
                    }
                    bytes += size;
                    let (edited_ts, deleted_ts) = self.read(|db| db.action_times(m.id))?;
                    let reply_to = m.reply_to.as_ref().and_then(|q| {
                        Some(MessageRef {
                            sender: UserId::parse(&q.sender_user).ok()?,
                            message_id: q.message_id.clone(),
                        })
                    });
                    let reactions = m
                        .reactions
                        .iter()
                        .map(|r| HistoryReaction {
                            emoji: r.emoji.clone(),
                            users: r.users.iter().filter_map(|u| UserId::parse(u).ok()).collect(),
                        })
                        .collect();
                    chunk.push(HistoryMessage {
                        file,
                        reply_to,
                        edited_ts,
                        deleted_ts,
                        reactions,
                        peer: peer.clone(),
                        message_id: m.message_id,
                        sender_user,
                        sender_device: m.sender_device,
                        body: m.body,
                        outgoing: m.outgoing,
                        ts: m.ts,
                        server_ts: m.server_ts,
                    });
                    if chunk.len() >= MAX_HANDED_OVER_MESSAGES || bytes >= HANDED_OVER_HISTORY_BYTES {
                        total += chunk.len();
                        let messages = std::mem::take(&mut chunk);
                        bytes = 0;
                        self.send_to_device(device, &OlmContent::History { messages }).await?;
                    }
                }
            }
        }
        if !chunk.is_empty() {
            total += chunk.len();
            self.send_to_device(device, &OlmContent::History { messages: chunk }).await?;
        }
        tracing::info!(messages = total, "one-to-one history copied to the new device");
        Ok(())
    }

    /// Send every group key this device holds to `device` (another of this user's, confirmed),
    /// in chunks, and the profile keys of the people it knows.
    async fn hand_over_group_keys(&self, device: &DeviceRecord) -> Result<()> {
        let (sessions, name_keys) = self.transact(|m, db| {
            m.keep_own_outbound_keys(db)?;
            let mut small = crate::backup::name_key_records(db)?;
            small.extend(super::profiles::key_records(db)?);
            Ok((m.export_group_sessions(db, crate::store::BackupScope::All)?, small))
        })?;
        let total = sessions.len();
        // The groups' name keys (and people's profile keys) go after the sessions, so the names
        // open once the groups are read.
        let mut records = sessions.into_iter().map(|(record, _)| record).chain(name_keys).peekable();
        while records.peek().is_some() {
            let chunk: Vec<crate::backup::Record> =
                records.by_ref().take(super::receive::MAX_HANDED_OVER_SESSIONS).collect();
            self.send_to_device(device, &OlmContent::GroupKeys { sessions: chunk }).await?;
        }
        tracing::info!(sessions = total, "group keys handed over");
        Ok(())
    }

    /// On the new device: keep the identity keys the old device sent, if they are the master
    /// key its MAC vouched for, and confirm this device with them.
    async fn adopt_linked_identity(&self, id: &str, stored: StoredSecrets) -> Result<()> {
        let own = self.inner.own.clone();
        let secrets = CrossSigningSecrets::from_stored(&stored)?;
        let pinned = self.read(|db| db.pinned_identity(&own.user_id))?.map(|(identity, _)| identity);
        if !pinned.as_ref().is_some_and(|identity| secrets.matches(identity)) {
            self.set_phase(id, Phase::Cancelled("keys".into()))?;
            return Err(Error::Crypto(crate::CryptoError::CrossSigningMismatch));
        }
        self.read(|db| db.save_cross_signing(&stored))?;
        self.ensure_identity().await?;
        self.refresh_devices(std::slice::from_ref(&own.user_id)).await?;
        self.set_phase(id, Phase::Done { device_confirmed: true })?;
        tracing::info!("this device was confirmed and holds the user's identity keys");
        Ok(())
    }

    /// The keys this device vouches for in its MAC: its device key, and the user's master key
    /// as pinned here.
    fn our_mac_keys(&self) -> Result<BTreeMap<String, String>> {
        let own = &self.inner.own;
        let ed25519 = self.transact(|m, _| Ok(m.ed25519()))?;
        let mut keys = BTreeMap::from([(format!("ed25519:{}", own.device_id), ed25519)]);
        if let Some((identity, _)) = self.read(|db| db.pinned_identity(&own.user_id))? {
            keys.insert(format!("master:{}", own.user_id), identity.master_key);
        }
        Ok(keys)
    }

    fn set_phase(&self, id: &str, phase: Phase) -> Result<()> {
        if let Some(v) = self.verifications()?.get_mut(id) {
            v.phase = phase;
        }
        Ok(())
    }

    fn view_of(&self, id: &str) -> Result<VerificationView> {
        self.verifications()?.get(id).map(|v| v.view(id)).ok_or(Error::NoVerification)
    }

    fn emit_verification(&self, id: &str) {
        if let Ok(view) = self.view_of(id) {
            self.emit(ClientEvent::Verification { verification: view });
        }
    }

    fn verifications(&self) -> Result<std::sync::MutexGuard<'_, std::collections::HashMap<String, Verification>>> {
        self.inner.verifications.lock().map_err(|_| Error::Poisoned)
    }

    /// Send `content` to one device over Olm (starting a session if needed), outside any
    /// conversation. A device its user has not confirmed gets only what is not secret.
    pub(crate) async fn send_to_device(&self, device: &DeviceRecord, content: &OlmContent) -> Result<()> {
        if let Some(d) = self.ensure_olm_sessions(std::slice::from_ref(device)).await?.first() {
            return Err(Error::NoDevices(format!("{} (device {} has no usable keys)", d.user_id, d.device_id)));
        }
        let payloads = self.encrypt_for(std::slice::from_ref(device), content)?;
        let body = SendDirectRequest { message_id: new_message_id()?, payloads };
        self.call::<routes::SendToDevice>(&(), &body).await?;
        Ok(())
    }
}

fn cancel(txn: &str, reason: &str) -> OlmContent {
    OlmContent::SasCancel { txn: txn.to_owned(), reason: reason.to_owned() }
}

/// A step out of order: stop, and tell the other device.
fn unexpected(v: &mut Verification, txn: &str) -> Next {
    v.phase = Phase::Cancelled("unexpected".into());
    Next::Send(Box::new((v.peer.clone(), cancel(txn, "unexpected"))))
}

/// Both keys are known: derive the shared secret and what to show.
fn establish(
    v: &mut Verification,
    txn: &str,
    own: &DeviceAddress,
    sas: Sas,
    our_key: Curve25519PublicKey,
    their_key: Curve25519PublicKey,
    then: Next,
) -> Next {
    let Ok(established) = sas.diffie_hellman(their_key) else {
        v.phase = Phase::Cancelled("keys".into());
        return Next::Send(Box::new((v.peer.clone(), cancel(txn, "keys"))));
    };
    let peer = address(&v.peer);
    let parties = if v.we_started {
        Parties { txn, initiator: own, initiator_key: &our_key, acceptor: &peer, acceptor_key: &their_key }
    } else {
        Parties { txn, initiator: &peer, initiator_key: &their_key, acceptor: own, acceptor_key: &our_key }
    };
    let shown = sas::short_auth_string(&established, &parties);
    v.phase = Phase::Compare { sas: established, shown };
    then
}
