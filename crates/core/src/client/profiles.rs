//! Profiles: a display name and a picture per person, end-to-end encrypted as Signal does it.
//!
//! Each user has one profile key (see [`crate::crypto::profile_key`]), shared by their devices.
//! The profile is sealed under it and kept by the server as ciphertext; the key itself goes,
//! over the encrypted channel, to the people this user talks with: inside the messages of a
//! conversation until one of them went (again after someone joins a group; this user's other
//! devices get it with their copies), and alone to every conversation when the profile
//! changes (with the new version, which tells them to read it again). A key is taken
//! only from a device its user confirmed, only as that user's own, and only if it is newer (the
//! larger on a tie), so all devices settle on the same one. A card older than the one held is
//! refused, so a server cannot roll a profile back; a picture must be a small JPEG.
//!
//! The same key seals typing notices (see [`Client::send_typing`]).

use sotto_proto::routes;
use sotto_proto::{ErrorCode, GroupId, PutProfileRequest, UserId};

use super::Client;
use super::receipts::{QueuedProfileKey, QueuedSend};
use super::receive::Processed;
use crate::crypto::payload::ProfileKeyShare;
use crate::crypto::profile_key::{self, ProfileCard};
use crate::events::ClientEvent;
use crate::store::{ContactProfile, Db, now_ms};
use crate::{ConversationId, Error, Result};

/// A change to this user's profile.
#[derive(Default)]
pub struct ProfileChange {
    /// The new display name (`Some("")`: none); `None` keeps it.
    pub name: Option<String>,
    /// The new picture; `None` keeps it.
    pub avatar: Option<AvatarChange>,
}

/// A new profile picture, or none.
pub enum AvatarChange {
    /// An image file's bytes (JPEG, PNG, GIF or WebP): its middle square is kept, 256 pixels a
    /// side.
    Image(Vec<u8>),
    Remove,
}

/// A display name as it is kept: trimmed, `None` when empty, refused when too long or holding
/// control characters.
fn clean_name(name: &str) -> Result<Option<String>> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    let max = sotto_proto::limits::MAX_DISPLAY_NAME_CHARS;
    if name.chars().count() > max {
        return Err(Error::InvalidInput(format!("A name is at most {max} characters.")));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidInput("A name cannot hold line breaks or control characters.".into()));
    }
    Ok(Some(name.to_owned()))
}

/// Make sure this user has a profile key (a new one, version now, if not), in the caller's
/// transaction; returns its version. (It reaches this user's other devices with the copies of
/// the messages that give it.)
fn own_key(db: &Db<'_>, own: &UserId, now: i64) -> Result<u64> {
    if let Some(held) = db.profile_key(own.as_str())? {
        return Ok(held.version);
    }
    let key = profile_key::new_profile_key()?;
    let version = u64::try_from(now).unwrap_or(1).max(1);
    db.offer_profile_key(own.as_str(), &key, version)?;
    // Nothing published yet: nothing to read.
    db.no_profile_card(own.as_str())?;
    Ok(version)
}

/// Queue this user's profile key, alone, for `conversation_id` unless it went there at
/// `version` already, in the caller's transaction (a change of profile). Returns whether it
/// was queued.
fn share(db: &Db<'_>, conversation_id: &ConversationId, version: u64, now: i64) -> Result<bool> {
    if db.profile_shared(conversation_id)?.is_some_and(|shared| shared >= version) {
        return Ok(false);
    }
    let json = serde_json::to_string(&QueuedSend::ProfileKey { profile_key: QueuedProfileKey {} })
        .map_err(Error::encode("a profile key"))?;
    let id = super::send::new_message_id()?;
    db.enqueue_action(id.as_str(), conversation_id, &json, now)?;
    db.set_profile_shared(conversation_id, version)?;
    Ok(true)
}

/// The profile key a message to `conversation_id` gives, if the conversation has not had it
/// (made now if this user has none yet). Recorded as given once the message went ([`given`]).
pub(crate) fn to_give(db: &Db<'_>, own: &UserId, conversation_id: &ConversationId) -> Result<Option<ProfileKeyShare>> {
    let version = own_key(db, own, now_ms())?;
    if db.profile_shared(conversation_id)?.is_some_and(|shared| shared >= version) {
        return Ok(None);
    }
    Ok(db.profile_key(own.as_str())?.map(|held| ProfileKeyShare { key: held.key.to_string(), version: held.version }))
}

/// A message to `conversation_id` went: it gave the profile key held now.
pub(crate) fn given(db: &Db<'_>, own: &UserId, conversation_id: &ConversationId) -> Result<()> {
    if let Some(held) = db.profile_key(own.as_str())?
        && db.profile_shared(conversation_id)?.is_none_or(|shared| shared < held.version)
    {
        db.set_profile_shared(conversation_id, held.version)?;
    }
    Ok(())
}

/// Every profile key this device holds, as records for another device of this user (the
/// names and pictures it reads itself).
pub(crate) fn key_records(db: &Db<'_>) -> Result<Vec<crate::backup::Record>> {
    Ok(db
        .profile_keys()?
        .into_iter()
        .map(|(user_id, held)| crate::backup::Record::Profile {
            user_id,
            key: held.key.to_string(),
            key_version: i64::try_from(held.version).unwrap_or(i64::MAX),
            card_version: 0,
            name: None,
            avatar: None,
        })
        .collect())
}

/// A message from `sender` arrived, perhaps with their profile key (see [`receive`]).
pub(crate) fn receive_with(
    db: &Db<'_>,
    own: &UserId,
    sender: &UserId,
    confirmed: bool,
    share: Option<&ProfileKeyShare>,
    out: &mut Processed,
) -> Result<()> {
    match share {
        Some(share) => receive(db, own, sender, confirmed, &share.key, share.version, out),
        None => Ok(()),
    }
}

/// A profile key arrived from `sender` (`confirmed`: a device its user confirmed).
pub(crate) fn receive(
    db: &Db<'_>,
    own: &UserId,
    sender: &UserId,
    confirmed: bool,
    key: &str,
    version: u64,
    out: &mut Processed,
) -> Result<()> {
    if !confirmed {
        tracing::info!(%sender, "a profile key from a device its user has not confirmed was ignored");
        return Ok(());
    }
    if !profile_key::is_profile_key(key) || version == 0 {
        tracing::warn!(%sender, "a malformed profile key was ignored");
        return Ok(());
    }
    if db.offer_profile_key(sender.as_str(), key, version)? {
        out.profiles_changed = true;
        if sender == own {
            // Another device of this user gave a newer key: it goes to every conversation again.
            db.conn().execute("DELETE FROM profile_shares", [])?;
        }
    }
    Ok(())
}

impl Client {
    /// Change this user's name and/or picture: sealed under the profile key, stored on the
    /// server, and announced to every conversation (and this user's other devices), which read
    /// it again. Needs the server.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn set_profile(&self, change: ProfileChange) -> Result<ContactProfile> {
        let own = self.user_id().clone();
        let name = change.name.as_deref().map(clean_name).transpose()?;
        let avatar = match change.avatar {
            None => None,
            Some(AvatarChange::Remove) => Some(None),
            Some(AvatarChange::Image(bytes)) => {
                let made = tokio::task::spawn_blocking(move || crate::preview::avatar_of(&bytes))
                    .await
                    .map_err(|_| Error::InvalidInput("The picture could not be read.".into()))?;
                Some(Some(made.map_err(|e| Error::InvalidInput(format!("The picture can't be used: {e}.")))?))
            }
        };
        let now = now_ms();
        let (key, card) = self.transact(|_, db| {
            let held_version = own_key(db, &own, now)?;
            let held = db.profile_key(own.as_str())?.ok_or(crate::StoreError::Missing("profile key just made"))?;
            let current = db.contact_profile(own.as_str())?;
            let name = match name {
                Some(name) => name,
                None => current.as_ref().and_then(|p| p.name.clone()),
            };
            let avatar = match avatar {
                Some(avatar) => avatar,
                None => db.avatar(own.as_str())?,
            };
            let version = u64::try_from(now).unwrap_or(0).max(held_version + 1);
            let card = ProfileCard { version, name, avatar: avatar.map(vodozemac::base64_encode) };
            Ok((held.key, card))
        })?;
        let sealed = profile_key::seal_profile(&key, &own, &card)?;
        self.call::<routes::PutProfile>(&(), &PutProfileRequest { ciphertext: sealed }).await?;
        let profile = self.transact(|_, db| {
            db.offer_profile_key(own.as_str(), &key, card.version)?;
            let avatar = card.avatar.as_deref().map(vodozemac::base64_decode).transpose().ok().flatten();
            db.store_profile_card(own.as_str(), card.version, card.name.as_deref(), avatar.as_deref())?;
            // Everyone this user talks with, and their own other devices, learn of it.
            share(db, &ConversationId::Direct(own.clone()), card.version, now)?;
            for conversation in db.conversations()? {
                let to = &conversation.id;
                let wanted = match to {
                    ConversationId::Direct(user) => user != &own,
                    ConversationId::Group(group) => db.group(group)?.is_some_and(|g| g.joined),
                };
                if wanted {
                    share(db, to, card.version, now)?;
                }
            }
            db.contact_profile(own.as_str())?.ok_or(crate::StoreError::Missing("profile just stored").into())
        })?;
        self.emit(ClientEvent::ProfileChanged { profile: profile.clone() });
        if self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
            self.inner.outbox_wake.notify_one();
        } else {
            self.flush_outbox().await;
        }
        Ok(profile)
    }

    /// What is known of `user`'s profile (this user's own included).
    pub fn profile(&self, user: &UserId) -> Result<Option<ContactProfile>> {
        self.read(|db| db.contact_profile(user.as_str()))
    }

    /// Every profile with a name or a picture.
    pub fn profiles(&self) -> Result<Vec<ContactProfile>> {
        self.read(|db| db.contact_profiles())
    }

    /// `user`'s picture (a JPEG of at most 256×256 pixels), if they have one.
    pub fn avatar(&self, user: &UserId) -> Result<Option<Vec<u8>>> {
        self.read(|db| db.avatar(user.as_str()))
    }

    /// Read the profiles whose keys are newer than what is held. Failures are kept for later
    /// (a few times); returns how many changed.
    pub async fn read_profiles(&self) -> usize {
        let pending = match self.read(|db| db.profiles_to_read()) {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the profiles to read");
                return 0;
            }
        };
        let mut changed = 0;
        for (user, held) in pending {
            let Ok(user_id) = UserId::parse(&user) else { continue };
            match self.read_profile(&user_id, &held.key).await {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) => tracing::info!(error = %e, user = %user_id, "could not read a profile"),
            }
        }
        changed
    }

    async fn read_profile(&self, user: &UserId, key: &str) -> Result<bool> {
        let sealed = match self.call::<routes::GetProfile>(user, &()).await {
            Ok(sealed) => sealed,
            Err(e) if e.server_code() == Some(ErrorCode::NotFound) => {
                self.read(|db| db.no_profile_card(user.as_str()))?;
                return Ok(false);
            }
            Err(e) => {
                self.read(|db| db.failed_profile_read(user.as_str()))?;
                return Err(e);
            }
        };
        let card = profile_key::open_profile(key, user, &sealed.ciphertext);
        let avatar = card.as_ref().map(|c| c.avatar.as_deref().map(vodozemac::base64_decode).transpose());
        let (card, avatar) = match (card, avatar) {
            (Some(card), Some(Ok(avatar)))
                if avatar.as_deref().is_none_or(|a| crate::preview::check_avatar(a).is_ok())
                    && card.name.as_deref().is_none_or(|n| clean_name(n).ok().flatten().as_deref() == Some(n)) =>
            {
                (card, avatar)
            }
            _ => {
                tracing::warn!(%user, "a profile that does not open with its key, or holds a bad name or picture, was refused");
                self.read(|db| db.failed_profile_read(user.as_str()))?;
                return Ok(false);
            }
        };
        let stored = self.read(|db| {
            if !db.store_profile_card(user.as_str(), card.version, card.name.as_deref(), avatar.as_deref())? {
                return Ok(None);
            }
            db.contact_profile(user.as_str())
        })?;
        match stored {
            Some(profile) => {
                self.emit(ClientEvent::ProfileChanged { profile });
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Someone new is in `group`: this user's profile key goes to the group again with the next
/// send, in the caller's transaction.
pub(crate) fn reshare_in(db: &Db<'_>, group: &GroupId) -> Result<()> {
    db.forget_profile_shared(&ConversationId::Group(group.clone()))
}
