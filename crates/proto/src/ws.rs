//! WebSocket frames on `GET /v1/ws` (JSON text frames).
//!
//! On connect the server first subscribes the device to new entries, then replays every
//! unacknowledged entry in order, then sends `synced`; from then on new entries are pushed as they
//! are stored. The client acks cumulatively after it has committed entries locally.
//!
//! A client may also send messages over the socket (`send`), which spares an HTTP request per
//! message: each send gets the same checks, idempotency and answer as its HTTP route, and is
//! answered by one `sent` or `send_failed` frame naming its message id, once it is stored. The
//! sends of one frame are stored one after the other, in the frame's order; sends in different
//! frames may be stored in any order (as concurrent HTTP requests may).

use serde::{Deserialize, Serialize};

use crate::{
    DeviceId, ErrorBody, GroupId, InboxEntry, MessageId, SendDirectRequest, SendGroupRequest, SendReceipt, UserId,
};

/// Where an ephemeral event goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EphemeralTarget {
    User { user_id: UserId },
    Group { group_id: GroupId },
}

/// One message sent over the socket: the body of its HTTP route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SocketSend {
    /// What `POST /v1/messages` takes.
    Direct { request: SendDirectRequest },
    /// What `POST /v1/groups/{group_id}/messages` takes.
    Group { group_id: GroupId, request: SendGroupRequest },
}

impl SocketSend {
    pub fn message_id(&self) -> &MessageId {
        match self {
            SocketSend::Direct { request } => &request.message_id,
            SocketSend::Group { request, .. } => &request.message_id,
        }
    }
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
    /// Messages to store and deliver, at most [`crate::limits::MAX_SOCKET_SENDS`] per frame, each
    /// answered by a `sent` or `send_failed` frame.
    Send { sends: Vec<SocketSend> },
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
    /// A send over the socket was stored (or had been: `receipt.duplicate`).
    Sent { receipt: SendReceipt },
    /// A send over the socket was refused, with what its HTTP route would have answered.
    SendFailed {
        message_id: MessageId,
        /// The HTTP status the route would have answered with.
        status: u16,
        error: ErrorBody,
        /// With `rate_limited` and `server_busy`: seconds after which a retry may succeed (what
        /// HTTP sends as `Retry-After`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
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
