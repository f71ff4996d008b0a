//! WebSocket frames on `GET /v1/ws` (JSON text frames).
//!
//! On connect the server first subscribes the device to new entries, then replays every
//! unacknowledged entry in order, then sends `synced`; from then on new entries are pushed as they
//! are stored. The client acks cumulatively after it has committed entries locally.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, GroupId, InboxEntry, UserId};

/// Where an ephemeral event goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EphemeralTarget {
    User { user_id: UserId },
    Group { group_id: GroupId },
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Every entry with `seq <= up_to` is committed by the client and may be deleted.
    Ack { up_to: u64 },
    /// An online-only event (typing, ...), relayed to the target's connected devices and never
    /// stored. `body` is opaque to the server.
    Ephemeral { to: EphemeralTarget, body: String },
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// One inbox entry.
    Entry { entry: InboxEntry },
    /// The replay after connecting has caught up: every entry stored before now was sent.
    Synced { up_to: u64 },
    /// An ephemeral event from another device.
    Ephemeral {
        from_user: UserId,
        from_device: DeviceId,
        #[serde(default)]
        group_id: Option<GroupId>,
        body: String,
    },
    /// The server refused a frame; the connection stays open unless the error says otherwise.
    Error { code: crate::ErrorCode, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_snapshot() {
        let f: ClientFrame = serde_json::from_str(r#"{"type":"ack","up_to":3}"#).unwrap();
        assert_eq!(f, ClientFrame::Ack { up_to: 3 });
        let f: ClientFrame =
            serde_json::from_str(r#"{"type":"ephemeral","to":{"type":"group","group_id":"g1"},"body":"t"}"#).unwrap();
        assert!(matches!(f, ClientFrame::Ephemeral { to: EphemeralTarget::Group { .. }, .. }));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ack","up_to":3,"x":1}"#).is_err());
        assert_eq!(serde_json::to_string(&ServerFrame::Synced { up_to: 9 }).unwrap(), r#"{"type":"synced","up_to":9}"#);
    }
}
