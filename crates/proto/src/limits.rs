//! Limits both sides agree on. The server enforces them; a client can check before sending.

/// Largest JSON body the server accepts on ordinary routes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest backup blob (the backup route has its own, larger, body limit).
pub const MAX_BACKUP_BYTES: usize = 16 * 1024 * 1024;
/// Largest sealed profile (a display name and a small picture, encrypted, in base64).
pub const MAX_PROFILE_BYTES: usize = 160 * 1024;
/// Length of a display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Largest profile picture, in bytes (the engine makes one of 256×256 pixels, well below).
pub const MAX_AVATAR_BYTES: usize = 96 * 1024;
/// Largest part of a blob upload (`part_size` in the answer to `POST /v1/blobs`).
pub const MAX_BLOB_PART_BYTES: u64 = 4 * 1024 * 1024;
/// Recipients of one blob (as many as a group has members).
pub const MAX_BLOB_RECIPIENTS: usize = MAX_GROUP_MEMBERS;
/// Largest WebSocket frame a client may send. Sends larger than this go over HTTP (whose body
/// may be larger): a socket's read buffer keeps the size of the largest frame it read for as long
/// as the socket lives, so this bounds what one idle socket can pin on the server.
pub const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024;
/// Sends in one `send` frame on the WebSocket.
pub const MAX_SOCKET_SENDS: usize = 64;
/// Largest ciphertext of one message to one device, or of one group message.
pub const MAX_CIPHERTEXT_BYTES: usize = 256 * 1024;
/// Largest opaque body of an ephemeral event (typing and the like).
pub const MAX_EPHEMERAL_BYTES: usize = 2 * 1024;
/// Users per key query.
pub const MAX_QUERY_USERS: usize = 100;
/// Devices per key claim.
pub const MAX_CLAIM_DEVICES: usize = 1000;
/// Device confirmations per upload.
pub const MAX_CONFIRMATIONS: usize = 100;
/// One-time keys per upload.
pub const MAX_ONE_TIME_KEYS_PER_UPLOAD: usize = 100;
/// Unclaimed one-time keys the server holds for one device; an upload that would pass it is
/// refused. Each is a row that lives until claimed, so without a cap a device could fill the
/// server's disk 100 keys at a time. Clients keep far fewer (the engine tops up to 50).
pub const MAX_UNCLAIMED_ONE_TIME_KEYS: usize = 100;
/// Device payloads in one direct send.
pub const MAX_DIRECT_PAYLOADS: usize = 1000;
/// Members of one group.
pub const MAX_GROUP_MEMBERS: usize = 5000;
/// Length of a group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 128;
/// The longest sealed (encrypted) group name: a name of 128 characters of up to 4 bytes each,
/// its nonce and tag, in base64, with the prefix.
pub const MAX_SEALED_GROUP_NAME_CHARS: usize = 1024;
/// Length of a device display name, in characters.
pub const MAX_DEVICE_NAME_CHARS: usize = 64;
/// Password length bounds, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Inbox entries per HTTP page.
pub const MAX_INBOX_PAGE: u32 = 500;
/// Group history messages per page.
pub const MAX_HISTORY_PAGE: u32 = 500;
