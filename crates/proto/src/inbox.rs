//! Sending messages and reading a device's inbox.
//!
//! Every device has an inbox: a queue with a monotonic sequence number per entry. Entries stay
//! until the device acknowledges them cumulatively (`ack up_to = seq`); delivery is at least once
//! and clients drop duplicates by `(sender, message_id)`.

use serde::{Deserialize, Serialize};

use crate::{DeviceAddress, DeviceId, GroupId, MembershipEvent, MessageId, UserId};

/// One ciphertext for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DevicePayload {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub ciphertext: String,
}

/// `POST /v1/messages`: a message encrypted separately for each device.
///
/// The payloads must cover exactly every current device (with published keys) of every user they
/// name, plus every other device of the sender; otherwise the send is refused with
/// `devices_changed` and nothing is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendDirectRequest {
    pub message_id: MessageId,
    pub payloads: Vec<DevicePayload>,
}

/// `POST /v1/groups/{group_id}/messages`: one ciphertext for every member device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendGroupRequest {
    pub message_id: MessageId,
    pub ciphertext: String,
    /// The members' devices (other than the sending one) the sender knew of when it shared the
    /// key this ciphertext is encrypted with. When given and the members have other devices
    /// now, the server answers `devices_changed` (listing the difference) and delivers nothing,
    /// so the sender shares its key with a member's new device before that device gets messages
    /// it cannot read. Omitted: no check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_devices: Option<Vec<DeviceAddress>>,
    /// The members as the sender computed them from the group's signed changes. When given, the
    /// `member_devices` check covers these users only: a member the server lists that no member
    /// added is not the sender's to know about (it gets the ciphertext, never the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<UserId>>,
}

/// The server stored the message durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendReceipt {
    pub message_id: MessageId,
    /// When the server first stored it, milliseconds since the Unix epoch.
    pub server_ts: u64,
    /// True when this message id had been sent before; nothing was delivered again.
    pub duplicate: bool,
}

/// What an inbox entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryBody {
    /// A message encrypted for this device alone (Olm).
    Direct { ciphertext: String },
    /// A message for a group, the same ciphertext for every member device (Megolm).
    Group { group_id: GroupId, ciphertext: String },
    /// A membership change: the signed change, and the server's description of it. Not
    /// encrypted: the server knows membership (it routes by it), but cannot make a change.
    Membership(Box<MembershipEvent>),
}

/// One entry of a device's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxEntry {
    /// Position in this device's inbox; strictly increasing.
    pub seq: u64,
    pub message_id: MessageId,
    pub sender_user: UserId,
    /// The sending device; absent for membership events made by the server on a user's behalf.
    #[serde(default)]
    pub sender_device: Option<DeviceId>,
    /// Milliseconds since the Unix epoch.
    pub server_ts: u64,
    pub body: EntryBody,
}

/// `GET /v1/inbox?after=SEQ&limit=N`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxPage {
    pub entries: Vec<InboxEntry>,
    /// More entries follow the last one returned.
    pub more: bool,
}

/// `POST /v1/inbox/ack`: every entry with `seq <= up_to` is done and may be deleted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub up_to: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_wire_snapshot() {
        let entry = InboxEntry {
            seq: 7,
            message_id: MessageId::parse("msg-00000001").unwrap(),
            sender_user: UserId::parse("bob").unwrap(),
            sender_device: Some(DeviceId::parse("D1").unwrap()),
            server_ts: 1,
            body: EntryBody::Direct { ciphertext: "c".into() },
        };
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"seq":7,"message_id":"msg-00000001","sender_user":"bob","sender_device":"D1","server_ts":1,"body":{"type":"direct","ciphertext":"c"}}"#
        );
        let back: InboxEntry = serde_json::from_str(&serde_json::to_string(&entry).unwrap()).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let err = serde_json::from_str::<AckRequest>(r#"{"up_to":1,"upto":2}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"));
    }
}
