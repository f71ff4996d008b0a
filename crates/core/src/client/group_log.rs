//! Signed group state: this device computes every group's members from the group's signed
//! changes (see `sotto_proto::groups`), never from the server's word. Each change is checked —
//! signed by a device its author confirmed, back to the author's pinned master key; made by a
//! member allowed to make it; following the change before it (number and hash) — then applied.
//! What fails is refused and shown as a warning line in the group, and so is a member list from
//! the server that differs from the computed one. Group keys go only to the computed members.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sotto_proto::routes;
use sotto_proto::{
    Applied, ErrorCode, GroupAction, GroupChange, GroupId, GroupInfo, GroupLogQuery, MembershipChange, Roster,
    RuleViolation, SignedGroupChange, UserId, apply_action, is_sealed_name,
};

use super::Client;
use crate::ConversationId;
use crate::crypto::cross_signing::CrossSigningSecrets;
use crate::crypto::group_change::{entry_hash, verify_change};
use crate::crypto::group_name::open_name;
use crate::events::{ClientEvent, GroupWarning};
use crate::store::{Db, LocalGroup, Message, MessageKind, MessageStatus, NewMessage, VerifiedChange, now_ms};
use crate::{Error, Result};

/// How many pages of changes one catch-up reads at most (100 changes each).
const MAX_LOG_PAGES: usize = 50;
/// How often a group is compared with the server's member list when only messages arrive.
const RECHECK_EVERY: Duration = Duration::from_secs(60);
/// How often a change is signed again when another change landed first.
const CHANGE_ATTEMPTS: usize = 5;

/// What checking one signed change gave.
pub(crate) enum Verdict {
    /// Checked and applied.
    Applied { change: Box<GroupChange>, applied: Applied },
    /// Applied before (a redelivery), or older than what this device started from.
    Known,
    /// Cannot be checked yet: changes before it are missing here, or its author's identity is
    /// not pinned yet. Read the group's log (which looks the authors up first).
    Gap,
    /// Refused, with the reason in words.
    Refused(String),
}

/// Check `signed` against group `group_id` as this device has it, and apply it if it holds.
pub(crate) fn apply_signed(
    db: &Db<'_>,
    me: &UserId,
    group_id: &GroupId,
    signed: &SignedGroupChange,
) -> Result<Verdict> {
    let Ok(change) = serde_json::from_str::<GroupChange>(&signed.change) else {
        return Ok(Verdict::Refused("it is not a group change this version can read".into()));
    };
    if change.group_id != *group_id {
        return Ok(Verdict::Refused("it was made for another group".into()));
    }
    if change.seq == 0 || i64::try_from(change.seq).is_err() {
        return Ok(Verdict::Refused("its number is not valid".into()));
    }
    let local = db.group(group_id)?;
    let head = db.group_head(group_id)?;
    let hash = entry_hash(signed);
    match &head {
        Some((seq, _)) if change.seq <= *seq => {
            return Ok(match db.group_change_hash(group_id, change.seq)? {
                Some(known) if known != hash => Verdict::Refused(format!(
                    "it differs from change {} that you already have: the server may be showing members different versions of the group",
                    change.seq
                )),
                _ => Verdict::Known,
            });
        }
        Some((seq, head_hash)) if change.seq == seq + 1 => {
            if change.prev.as_deref() != Some(head_hash.as_str()) {
                return Ok(Verdict::Refused(format!(
                    "it does not follow change {seq} as you have it: the server may have reordered or replaced changes"
                )));
            }
        }
        Some(_) => return Ok(Verdict::Gap),
        None => {
            let genesis = change.prev.is_none()
                && match change.action {
                    GroupAction::Create { .. } => change.seq == 1,
                    GroupAction::Adopt { .. } => true,
                    _ => false,
                };
            if !genesis {
                return Ok(Verdict::Gap);
            }
        }
    }
    let Some((identity, _)) = db.pinned_identity(&change.author)? else {
        return Ok(Verdict::Gap);
    };
    if !verify_change(signed, &change, &identity) {
        return Ok(Verdict::Refused(format!(
            "it is not signed by a device {} confirmed with the identity you know for them",
            change.author
        )));
    }
    let current = head.as_ref().and(local.as_ref()).map(|g| Roster { members: &g.members, invited: &g.invited });
    let applied = match apply_action(current, &change.author, &change.action) {
        Ok(applied) => applied,
        Err(violation) => return Ok(Verdict::Refused(violation.to_string())),
    };
    // A sealed name shows opened once this device has its key, and as its members until then.
    let sealed = applied.name.as_deref().filter(|n| is_sealed_name(n));
    let name = match (&applied.name, sealed) {
        (_, Some(sealed)) => db
            .group_name_key(group_id)?
            .and_then(|key| open_name(&key, group_id, sealed))
            .unwrap_or_else(|| stand_in_name(me, &applied.members)),
        (Some(plain), None) => plain.clone(),
        (None, None) => local.map(|g| g.name).unwrap_or_else(|| stand_in_name(me, &applied.members)),
    };
    db.apply_group_change(
        &VerifiedChange {
            group_id,
            seq: change.seq,
            hash: &hash,
            signed,
            name: &name,
            sealed_name: sealed,
            members: &applied.members,
            invited: &applied.invited,
        },
        me,
    )?;
    db.ensure_conversation(&ConversationId::Group(group_id.clone()), &name)?;
    if matches!(applied.change, MembershipChange::Added | MembershipChange::Joined) {
        // Someone new: they get this user's profile key with the next send.
        super::profiles::reshare_in(db, group_id)?;
    }
    Ok(Verdict::Applied { change: Box::new(change), applied })
}

/// What a group is called while its sealed name cannot be opened here yet: its other members.
fn stand_in_name(me: &UserId, members: &[sotto_proto::GroupMember]) -> String {
    let others: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).filter(|u| *u != me.as_str()).collect();
    match others.as_slice() {
        [] => "Group".to_owned(),
        [a] => format!("Group with {a}"),
        [a, b] => format!("Group with {a} and {b}"),
        [a, b, rest @ ..] => format!("Group with {a}, {b} and {} more", rest.len()),
    }
}

/// The group's name, if this device can read it (a sealed one it has no key for: `None`).
fn readable_name(db: &Db<'_>, group: &GroupId) -> Result<Option<String>> {
    match db.group_sealed_name(group)? {
        Some(sealed) => Ok(db.group_name_key(group)?.and_then(|key| open_name(&key, group, &sealed))),
        None => Ok(db.group(group)?.map(|g| g.name)),
    }
}

/// Keep `key` as the key of group `group`'s sealed name if it opens it (or, for a group not
/// known here yet, if none is kept), and show the name. Returns the name when it is new here.
pub(crate) fn learn_name_key(db: &Db<'_>, group: &GroupId, key: &str) -> Result<Option<String>> {
    let Some(sealed) = db.group_sealed_name(group)? else {
        if db.group_name_key(group)?.is_none() {
            db.save_group_name_key(group, key)?;
        }
        return Ok(None);
    };
    let Some(name) = open_name(key, group, &sealed) else {
        tracing::warn!(group = %group, "a group name key that does not open the group's name was ignored");
        return Ok(None);
    };
    let known = db.group_name_key(group)?.is_some_and(|held| open_name(&held, group, &sealed).is_some());
    if known {
        return Ok(None);
    }
    db.save_group_name_key(group, key)?;
    db.set_group_name(group, &name)?;
    db.ensure_conversation(&ConversationId::Group(group.clone()), &name)?;
    Ok(Some(name))
}

/// The line a change or a warning leaves in the group's conversation.
pub(crate) struct Line {
    pub message: Message,
    /// For an applied change: the event the app hears.
    pub change: Option<ClientEvent>,
}

/// Write the line for `verdict` (nothing for one known or waiting). A change's line shows its
/// author's time and is ordered by the server's (`server_ts`, from the inbox) or, read from the
/// log, by the author's; a warning's by `now`.
pub(crate) fn record(
    db: &Db<'_>,
    me: &UserId,
    group_id: &GroupId,
    verdict: &Verdict,
    server_ts: Option<i64>,
    now: i64,
) -> Result<Option<Line>> {
    match verdict {
        Verdict::Applied { change, applied } => {
            let body = change_line(me, change, applied, readable_name(db, group_id)?.as_deref());
            let id = format!("change-{}-{}", group_id, change.seq);
            let kind = (matches!(change.action, GroupAction::Adopt { .. })).then_some(GroupWarning::ListAdopted);
            let shown = i64::try_from(change.ts).ok().filter(|ts| *ts > 0).or(server_ts).unwrap_or(now);
            let times = (shown, server_ts.unwrap_or(shown));
            let Some(message) = system_line(db, group_id, &id, &change.author, &body, kind, times)? else {
                return Ok(None);
            };
            let event = ClientEvent::MembershipChanged {
                group_id: group_id.to_string(),
                change: applied.change,
                actor: change.author.to_string(),
                users: applied.users.iter().map(ToString::to_string).collect(),
            };
            Ok(Some(Line { message, change: Some(event) }))
        }
        Verdict::Refused(reason) => {
            let body = format!(
                "A change to this group was refused: {reason}. The members shown are those the members' own changes make."
            );
            warn(db, group_id, GroupWarning::ChangeRefused, &body, now)
        }
        Verdict::Known | Verdict::Gap => Ok(None),
    }
}

/// Write a warning line unless it is the same as the group's last one.
pub(crate) fn warn(db: &Db<'_>, group_id: &GroupId, kind: GroupWarning, body: &str, ts: i64) -> Result<Option<Line>> {
    tracing::warn!(group = %group_id, warning = <&str>::from(kind), "{body}");
    if db.group(group_id)?.is_none() || !db.replace_group_warning(group_id, body)? {
        return Ok(None);
    }
    let id = format!("warning-{}-{}-{}", group_id, <&str>::from(kind), now_ms());
    let server = UserId::parse("server").map_err(|e| Error::InvalidInput(e.to_string()))?;
    Ok(system_line(db, group_id, &id, &server, body, Some(kind), (ts, ts))?
        .map(|message| Line { message, change: None }))
}

fn system_line(
    db: &Db<'_>,
    group_id: &GroupId,
    message_id: &str,
    sender: &UserId,
    body: &str,
    warning: Option<GroupWarning>,
    (ts, server_ts): (i64, i64),
) -> Result<Option<Message>> {
    let conversation_id = ConversationId::Group(group_id.clone());
    let title = db.group(group_id)?.map(|g| g.name).unwrap_or_else(|| group_id.to_string());
    db.ensure_conversation(&conversation_id, &title)?;
    db.insert_message(&NewMessage {
        conversation_id: &conversation_id,
        message_id,
        sender_user: sender.as_str(),
        sender_device: None,
        kind: MessageKind::System,
        body,
        status: MessageStatus::System,
        reason: warning.map(Into::into),
        outgoing: false,
        ts,
        server_ts: Some(server_ts),
    })
}

/// A change in words.
fn change_line(me: &UserId, change: &GroupChange, applied: &Applied, group_name: Option<&str>) -> String {
    let name = |u: &UserId| if u == me { "You".to_owned() } else { u.to_string() };
    let list = |users: &[UserId]| {
        let names: Vec<String> = users.iter().map(|u| if u == me { "you".to_owned() } else { u.to_string() }).collect();
        names.join(", ")
    };
    let actor = name(&change.author);
    match (&change.action, applied.change) {
        (GroupAction::Create { invited, .. }, _) if invited.contains(me) => match group_name {
            Some(group_name) => format!("{actor} invited you to the group \"{group_name}\"."),
            None => format!("{actor} invited you to the group."),
        },
        (GroupAction::Create { invited, .. }, _) => {
            let created = match group_name {
                Some(group_name) => format!("{actor} created the group \"{group_name}\""),
                None => format!("{actor} created the group"),
            };
            if invited.is_empty() { format!("{created}.") } else { format!("{created} and invited {}.", list(invited)) }
        }
        (GroupAction::Adopt { members, .. }, _) => {
            let users: Vec<UserId> = members.iter().map(|m| m.user_id.clone()).collect();
            format!(
                "{actor} signed this group's member list ({}). The group is older than signed member lists; from now on every change is signed by the member who makes it.",
                list(&users)
            )
        }
        (GroupAction::SetRole { user, role }, _) => {
            format!(
                "{actor} made {} {} of the group.",
                list(std::slice::from_ref(user)),
                match role {
                    sotto_proto::Role::Owner => "the owner",
                    sotto_proto::Role::Admin => "an admin",
                    sotto_proto::Role::Member => "a member (not an admin)",
                }
            )
        }
        (GroupAction::Rename { .. }, _) => match group_name {
            Some(group_name) => format!("{actor} renamed the group to \"{group_name}\"."),
            None => format!("{actor} renamed the group."),
        },
        (_, MembershipChange::Added) => format!("{actor} added {}.", list(&applied.users)),
        (_, MembershipChange::Removed) => format!("{actor} removed {}.", list(&applied.users)),
        (_, MembershipChange::Left) => format!("{actor} left the group."),
        (_, MembershipChange::Dismissed) => format!("{actor} dismissed the group."),
        (_, MembershipChange::Invited) if applied.users.contains(me) => format!("{actor} invited you to the group."),
        (_, MembershipChange::Invited) => format!("{actor} invited {}.", list(&applied.users)),
        (_, MembershipChange::Joined) => format!("{actor} joined the group."),
        (_, MembershipChange::Declined) => format!("{actor} declined the invitation."),
        (_, MembershipChange::InvitationWithdrawn) => {
            format!("{actor} withdrew the invitation of {}.", list(&applied.users))
        }
        (_, MembershipChange::Created | MembershipChange::RoleChanged | MembershipChange::Renamed) => {
            format!("{actor} changed the group.")
        }
    }
}

impl Client {
    /// Bring group `group` up to date from its signed changes on the server, and compare the
    /// server's member list with the computed one. A group from before changes were signed gets
    /// its member list signed by this device first. Returns the group as verified here.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub(crate) async fn sync_group_log(&self, group: &GroupId) -> Result<LocalGroup> {
        let me = self.inner.own.user_id.clone();
        for _ in 0..MAX_LOG_PAGES {
            let after = self.read(|db| db.group_head(group))?.map_or(0, |(seq, _)| seq);
            let page =
                match self.call_with_query::<routes::GroupLog>(group, &GroupLogQuery { after, limit: None }, &()).await
                {
                    Err(e) if matches!(e.server_code(), Some(ErrorCode::NotMember | ErrorCode::NotFound)) => {
                        return Err(Error::NotMember);
                    }
                    other => other?,
                };
            self.look_up_authors(&page.changes).await?;
            let now = now_ms();
            let (lines, refused) = self.transact(|_, db| {
                let mut lines = Vec::new();
                let mut refused = false;
                for signed in &page.changes {
                    let verdict = apply_signed(db, &me, group, signed)?;
                    let stop = match &verdict {
                        Verdict::Refused(_) => true,
                        // The server skipped changes, or gave one whose author it does not know.
                        Verdict::Gap => {
                            let body = "Some changes to this group could not be checked: the server did not hand over all of them. The members shown are those the members' own changes make.";
                            lines.extend(warn(db, group, GroupWarning::ChangesWithheld, body, now)?);
                            true
                        }
                        Verdict::Applied { .. } | Verdict::Known => false,
                    };
                    lines.extend(record(db, &me, group, &verdict, None, now)?);
                    if stop {
                        refused = true;
                        break;
                    }
                }
                Ok((lines, refused))
            })?;
            self.emit_lines(lines);
            if page.more && !refused {
                continue;
            }
            let local = self.read(|db| db.group(group))?;
            match local {
                Some(local) if local.signed => {
                    if page.group.version > local.version && !refused {
                        // The server is at a later change than any it handed over.
                        let body = format!(
                            "The server says this group is at change {}, but handed over changes only up to {}. The members shown are those the members' own changes make.",
                            page.group.version, local.version
                        );
                        let lines =
                            self.transact(|_, db| warn(db, group, GroupWarning::ChangesWithheld, &body, now))?;
                        self.emit_lines(lines.into_iter().collect());
                    } else {
                        self.compare_members(&local, &page.group)?;
                    }
                    return Ok(local);
                }
                // No signed change at all: a group from before they were signed.
                _ if page.changes.is_empty() && !refused => {
                    self.transact(|_, db| db.save_unsigned_group(&page.group, &me).map(|_| ()))?;
                    self.adopt(&page.group).await?;
                }
                _ => return Err(Error::NotMember),
            }
        }
        Err(Error::KeptChanging("the group's changes"))
    }

    /// Bring a group up to date when the last check is a while ago (or `force`). Failures are
    /// logged: this runs after messages arrived, and the next send checks again.
    pub(crate) async fn recheck_group(&self, group: &GroupId, force: bool) {
        {
            let Ok(mut checked) = self.inner.groups_checked.lock() else { return };
            let now = Instant::now();
            match checked.get(group) {
                Some(at) if !force && now.duration_since(*at) < RECHECK_EVERY => return,
                _ => checked.insert(group.clone(), now),
            };
        }
        if let Err(e) = self.sync_group_log(group).await {
            tracing::debug!(error = %e, group = %group, "could not check the group's changes");
        }
    }

    /// A member's message named change `seq` of the group: after reading the log, warn when
    /// this device still does not have it (the server holds it back from this device).
    pub(crate) fn expect_change(&self, group: &GroupId, seq: u64, sender: &UserId) {
        let result = self.transact(|_, db| {
            let Some((have, _)) = db.group_head(group)? else { return Ok(None) };
            if have >= seq {
                return Ok(None);
            }
            let body = format!(
                "{sender}'s message refers to change {seq} of this group, but the server has handed over changes only up to {have}: it may be hiding a change from you, such as a removal."
            );
            warn(db, group, GroupWarning::ChangesWithheld, &body, now_ms())
        });
        match result {
            Ok(line) => self.emit_lines(line.into_iter().collect()),
            Err(e) => tracing::warn!(error = %e, "could not check a group's changes"),
        }
    }

    /// Pin the identities of changes' authors not known yet (the directory pins them).
    async fn look_up_authors(&self, changes: &[SignedGroupChange]) -> Result<()> {
        let authors: BTreeSet<UserId> = changes
            .iter()
            .filter_map(|s| serde_json::from_str::<GroupChange>(&s.change).ok().map(|c| c.author))
            .collect();
        let unknown: Vec<UserId> = self.read(|db| {
            let mut unknown = Vec::new();
            for author in authors {
                if db.pinned_identity(&author)?.is_none() {
                    unknown.push(author);
                }
            }
            Ok(unknown)
        })?;
        if !unknown.is_empty() {
            self.refresh_devices(&unknown).await?;
        }
        Ok(())
    }

    /// Warn when the server routes the group's messages to other people than its members.
    pub(crate) fn compare_members(&self, local: &LocalGroup, server: &GroupInfo) -> Result<()> {
        let ours: BTreeSet<&UserId> = local.members.iter().map(|m| &m.user_id).collect();
        let theirs: BTreeSet<&UserId> = server.members.iter().map(|m| &m.user_id).collect();
        let extra: Vec<String> = theirs.difference(&ours).map(ToString::to_string).collect();
        let missing: Vec<String> = ours.difference(&theirs).map(ToString::to_string).collect();
        let group = &local.group_id;
        let lines = self.transact(|_, db| {
            if extra.is_empty() && missing.is_empty() {
                db.clear_group_warning(group)?;
                return Ok(None);
            }
            let mut body =
                String::from("The server's member list for this group differs from the one its members signed.");
            if !extra.is_empty() {
                body.push_str(&format!(
                    " It lists {} though no member added them: they are given no keys and cannot read what is sent.",
                    extra.join(", ")
                ));
            }
            if !missing.is_empty() {
                body.push_str(&format!(
                    " It leaves out {} though no member removed them (their account may have been deleted).",
                    missing.join(", ")
                ));
            }
            warn(db, group, GroupWarning::MembersDisagree, &body, now_ms())
        })?;
        self.emit_lines(lines.into_iter().collect());
        Ok(())
    }

    /// Sign the member list the server holds for a group from before changes were signed.
    async fn adopt(&self, info: &GroupInfo) -> Result<()> {
        let action = GroupAction::Adopt { name: info.name.clone(), members: info.members.clone() };
        let signed = self.sign_change(&info.group_id, info.version + 1, None, action)?;
        match self.call::<routes::ChangeGroup>(&info.group_id, &signed).await {
            Ok(_) => {}
            // Another member signed it first: read theirs.
            Err(e) if matches!(e.server_code(), Some(ErrorCode::StaleVersion | ErrorCode::Conflict)) => return Ok(()),
            Err(e) => return Err(e),
        }
        self.apply_own(&info.group_id, &signed)
    }

    /// Apply a change this device made and the server accepted.
    pub(crate) fn apply_own(&self, group: &GroupId, signed: &SignedGroupChange) -> Result<()> {
        let me = self.inner.own.user_id.clone();
        let lines = self.transact(|_, db| {
            let verdict = apply_signed(db, &me, group, signed)?;
            if let Verdict::Refused(reason) = &verdict {
                tracing::error!(%reason, "this device's own group change does not apply here");
            }
            Ok(record(db, &me, group, &verdict, None, now_ms())?.into_iter().collect::<Vec<_>>())
        })?;
        self.emit_lines(lines);
        Ok(())
    }

    /// A change to `group` by this device, signed: the next after `prev`.
    pub(crate) fn sign_change(
        &self,
        group: &GroupId,
        seq: u64,
        prev: Option<String>,
        action: GroupAction,
    ) -> Result<SignedGroupChange> {
        let own = self.inner.own.clone();
        self.transact(|m, db| {
            let stored = db.cross_signing()?.ok_or(Error::NotConfirmed)?;
            let secrets = CrossSigningSecrets::from_stored(&stored)?;
            let keys = m.device_keys();
            let change = GroupChange {
                group_id: group.clone(),
                seq,
                prev,
                author: own.user_id.clone(),
                device_id: own.device_id.clone(),
                curve25519: keys.curve25519.clone(),
                ed25519: keys.ed25519.clone(),
                confirmation: secrets.confirm(&keys).signature,
                ts: u64::try_from(now_ms()).unwrap_or(0),
                action,
            };
            Ok(m.sign_group_change(&change)?)
        })
    }

    /// Make a change to a group: catch up with its changes, build the action from the group as
    /// it is, sign it as the next change, and post it; when another change landed first, do it
    /// all again (the action may no longer apply, which then says why).
    pub(crate) async fn change_group<F>(&self, group: &GroupId, action: F) -> Result<LocalGroup>
    where
        F: Fn(&LocalGroup) -> Result<GroupAction>,
    {
        let me = self.inner.own.user_id.clone();
        for _ in 0..CHANGE_ATTEMPTS {
            let local = self.sync_group_log(group).await?;
            let action = action(&local)?;
            // The invited answer their invitation; everything else is for members.
            let answering = matches!(action, GroupAction::Join | GroupAction::Decline);
            let may_act = local.joined || (answering && local.is_invited(&me));
            if !may_act {
                return Err(if answering { Error::NotInvited } else { Error::NotMember });
            }
            let roster = Roster { members: &local.members, invited: &local.invited };
            if let Err(violation) = apply_action(Some(roster), &me, &action) {
                return Err(match violation {
                    RuleViolation::NotMember => Error::NotMember,
                    RuleViolation::NotInvited => Error::NotInvited,
                    RuleViolation::NotAdmin | RuleViolation::NotOwner => Error::NotAdmin(violation.sentence()),
                    _ => Error::InvalidInput(violation.sentence()),
                });
            }
            let head = self.read(|db| db.group_head(group))?;
            let (seq, prev) = head.map_or((local.version + 1, None), |(seq, hash)| (seq + 1, Some(hash)));
            let signed = self.sign_change(group, seq, prev, action)?;
            match self.call::<routes::ChangeGroup>(group, &signed).await {
                Ok(_) => {
                    self.apply_own(group, &signed)?;
                    return self.read(|db| db.group(group))?.ok_or(Error::NotMember);
                }
                Err(e) if e.server_code() == Some(ErrorCode::StaleVersion) => {
                    // Another change landed first: the log has it. If it has nothing new, the
                    // server's last change is not this device's: it is not to be built on.
                    let after = self.sync_group_log(group).await?;
                    if after.version == local.version {
                        return Err(self.diverged(group, local.version));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::KeptChanging("the group"))
    }

    /// The server refuses changes after this device's last one but has no later one to give: its
    /// copy of the group's changes differs. Warn in the group, and say so.
    fn diverged(&self, group: &GroupId, seq: u64) -> Error {
        let body = format!(
            "The server's copy of this group's changes differs from yours at change {seq}: it may be showing members different versions of the group. Changes you make are not sent until it is resolved."
        );
        match self.transact(|_, db| warn(db, group, GroupWarning::Forked, &body, now_ms())) {
            Ok(line) => self.emit_lines(line.into_iter().collect()),
            Err(e) => tracing::warn!(error = %e, "could not record a warning"),
        }
        Error::Server {
            status: 409,
            code: ErrorCode::StaleVersion,
            message: "The server's copy of this group's changes differs from this device's; the change was not made."
                .into(),
            devices: None,
            users: None,
        }
    }

    /// Tell the app about lines written (and touch their conversations).
    pub(crate) fn emit_lines(&self, lines: Vec<Line>) {
        for line in lines {
            let conversation_id = line.message.conversation_id.clone();
            if let Err(e) = self.transact(|_, db| db.touch_for(&line.message)) {
                tracing::warn!(error = %e, "could not update a conversation");
            }
            self.emit(ClientEvent::MessageReceived { message: line.message });
            if let Some(event) = line.change {
                self.emit(event);
            }
            if let Ok(Some(conversation)) = self.read(|db| db.conversation(&conversation_id)) {
                self.emit(ClientEvent::ConversationUpdated { conversation });
            }
        }
    }
}
