//! Group history: the group messages the server keeps (as the same opaque ciphertexts it
//! delivered) so that a member's new device can read what was said before it existed, with the
//! group keys from the member's key backup. The server returns only messages sent while the
//! requesting user was a member.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, MessageId, UserId};

/// One stored group message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupHistoryMessage {
    /// Position in the group's history; strictly increasing in the order the server stored them.
    pub seq: u64,
    pub message_id: MessageId,
    pub sender_user: UserId,
    #[serde(default)]
    pub sender_device: Option<DeviceId>,
    /// Milliseconds since the Unix epoch.
    pub server_ts: u64,
    /// The Megolm ciphertext, exactly as it was delivered.
    pub ciphertext: String,
}

/// `GET /v1/groups/{group_id}/history?before=SEQ&limit=N`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupHistoryPage {
    /// Newest first; pass the last one's `seq` as `before` for the next page.
    pub messages: Vec<GroupHistoryMessage>,
    /// Older messages visible to the caller follow.
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_wire_snapshot() {
        let page = GroupHistoryPage {
            messages: vec![GroupHistoryMessage {
                seq: 3,
                message_id: MessageId::parse("msg-00000001").unwrap(),
                sender_user: UserId::parse("bob").unwrap(),
                sender_device: Some(DeviceId::parse("B1").unwrap()),
                server_ts: 5,
                ciphertext: "c".into(),
            }],
            more: false,
        };
        let json = serde_json::to_string(&page).unwrap();
        assert_eq!(
            json,
            r#"{"messages":[{"seq":3,"message_id":"msg-00000001","sender_user":"bob","sender_device":"B1","server_ts":5,"ciphertext":"c"}],"more":false}"#
        );
        let back: GroupHistoryPage = serde_json::from_str(&json).unwrap();
        assert_eq!(back.messages, page.messages);
    }
}
