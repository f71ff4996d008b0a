//! Every HTTP route of the API as a type: its method, its path template, and the types of its
//! path parameters, query, body and answer (as ruma does for Matrix). The server's router, its
//! OpenAPI document and the client's HTTP calls all take these, so no other code spells a route
//! and a client call cannot disagree with the server about a body or an answer type.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use std::borrow::Cow;

use crate::{
    AckRequest, Backup, BackupVersion, BlobId, BlobUpload, ChangePasswordRequest, ClaimKeysRequest, ClaimKeysResponse,
    ConfirmDevicesRequest, CreateBlobRequest, CreatedBlob, DeleteDeviceRequest, DeviceId, DeviceKeys, DeviceList,
    ExternalLoginRequest, GroupHistoryPage, GroupId, GroupInfo, GroupList, GroupLogPage, GroupLogQuery, InboxPage,
    Jwks, KeyCounts, LoginRequest, PutBackupRequest, PutProfileRequest, QueryKeysRequest, QueryKeysResponse,
    RefreshRequest, RegisterRequest, ResetDeviceKeysRequest, ResetIdentityRequest, SealedProfile, SendDirectRequest,
    SendGroupRequest, SendReceipt, Session, SignedGroupChange, UploadKeysRequest, UserId, UserIdentity, UserSignature,
};

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One route. `()` stands for "none" in every associated type: no path parameters, no query, no
/// body, or an empty (204) answer (read from JSON `null`).
pub trait Endpoint {
    const METHOD: Method;
    /// The path with `{name}` segments, as axum and OpenAPI write it.
    const PATH: &'static str;
    /// Whether the route needs an access token.
    const AUTHENTICATED: bool = true;
    /// What fills the `{name}` segments, in order.
    type Params: PathParams;
    /// The query string.
    type Query: Serialize;
    /// The JSON body.
    type Request: Serialize;
    /// The JSON answer of a success.
    type Response: DeserializeOwned;
}

/// The values of a path's `{name}` segments, in order.
pub trait PathParams {
    fn segments(&self) -> Vec<Cow<'_, str>>;
}

impl PathParams for () {
    fn segments(&self) -> Vec<Cow<'_, str>> {
        Vec::new()
    }
}

impl PathParams for BlobId {
    fn segments(&self) -> Vec<Cow<'_, str>> {
        vec![self.as_str().into()]
    }
}

/// The path parameters of a part upload: `/v1/blobs/{blob_id}/parts/{offset}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPart {
    pub blob_id: BlobId,
    /// Where the part starts in the blob (the upload's committed offset).
    pub offset: u64,
}

impl PathParams for BlobPart {
    fn segments(&self) -> Vec<Cow<'_, str>> {
        vec![self.blob_id.as_str().into(), self.offset.to_string().into()]
    }
}

impl PathParams for DeviceId {
    fn segments(&self) -> Vec<Cow<'_, str>> {
        vec![self.as_str().into()]
    }
}

impl PathParams for UserId {
    fn segments(&self) -> Vec<Cow<'_, str>> {
        vec![self.as_str().into()]
    }
}

impl PathParams for GroupId {
    fn segments(&self) -> Vec<Cow<'_, str>> {
        vec![self.as_str().into()]
    }
}

/// A route as data, for tests and documentation that walk all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub authenticated: bool,
}

/// `E`'s path with its parameters filled in. Ids are validated to characters that need no
/// escaping in a path segment.
pub fn path<E: Endpoint>(params: &E::Params) -> String {
    let mut values = params.segments().into_iter();
    let mut out = String::with_capacity(E::PATH.len() + 32);
    let mut rest = E::PATH;
    while let Some((before, name_and_tail)) = rest.split_once('{') {
        out.push_str(before);
        let (_, tail) = name_and_tail.split_once('}').unwrap_or(("", name_and_tail));
        out.push_str(values.next().as_deref().unwrap_or_default());
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Operational routes outside the API (plain `GET`s, no token): the health check (the process
/// runs)...
pub const HEALTH_PATH: &str = "/healthz";
/// ...the readiness check (the database answers: send traffic here)...
pub const READY_PATH: &str = "/readyz";
/// ...the Prometheus metrics...
pub const METRICS_PATH: &str = "/metrics";
/// ...and the OpenAPI document.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The query of `GET /v1/inbox`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Return entries after this sequence number (default 0: from the oldest unacknowledged).
    #[serde(default)]
    pub after: u64,
    /// At most this many entries (1 to 500, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The query of `GET /v1/groups/{group_id}/history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only messages older than this `seq` (default: from the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// At most this many messages (1 to 500, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

macro_rules! endpoints {
    ($(
        $(#[$doc:meta])*
        $name:ident: $method:ident $path:literal $(, public = $public:literal)?
            { params: $params:ty, query: $query:ty, request: $request:ty, response: $response:ty }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl Endpoint for $name {
                const METHOD: Method = Method::$method;
                const PATH: &'static str = $path;
                $(const AUTHENTICATED: bool = !$public;)?
                type Params = $params;
                type Query = $query;
                type Request = $request;
                type Response = $response;
            }
        )*

        /// Every route, in the order above.
        pub const ROUTES: &[Route] = &[$(Route {
            method: Method::$method,
            path: $path,
            authenticated: <$name as Endpoint>::AUTHENTICATED,
        }),*];
    };
}

endpoints! {
    /// Create an account and sign its first device in.
    Register: Post "/v1/accounts", public = true
        { params: (), query: (), request: RegisterRequest, response: Session }
    /// Sign in a device with a password.
    Login: Post "/v1/sessions", public = true
        { params: (), query: (), request: LoginRequest, response: Session }
    /// Sign in with a token of a trusted external issuer.
    LoginExternal: Post "/v1/sessions/external", public = true
        { params: (), query: (), request: ExternalLoginRequest, response: Session }
    /// Trade a refresh token for a new pair.
    Refresh: Post "/v1/sessions/refresh", public = true
        { params: (), query: (), request: RefreshRequest, response: Session }
    /// Sign this device out.
    Logout: Delete "/v1/sessions/current"
        { params: (), query: (), request: (), response: () }
    /// Change the account's password.
    ChangePassword: Put "/v1/account/password"
        { params: (), query: (), request: ChangePasswordRequest, response: () }
    /// The account's devices.
    ListDevices: Get "/v1/devices"
        { params: (), query: (), request: (), response: DeviceList }
    /// Remove one of the account's devices.
    DeleteDevice: Delete "/v1/devices/{device_id}"
        { params: DeviceId, query: (), request: DeleteDeviceRequest, response: () }
    /// The server's token-signing keys.
    GetJwks: Get "/v1/jwks.json", public = true
        { params: (), query: (), request: (), response: Jwks }
    /// Upload this device's identity keys (once).
    PutDeviceKeys: Put "/v1/keys/device"
        { params: (), query: (), request: DeviceKeys, response: () }
    /// Give this device new identity keys (needs the password).
    ResetDeviceKeys: Post "/v1/keys/device/reset"
        { params: (), query: (), request: ResetDeviceKeysRequest, response: () }
    /// Upload one-time and fallback keys.
    UploadOneTimeKeys: Post "/v1/keys/one-time"
        { params: (), query: (), request: UploadKeysRequest, response: KeyCounts }
    /// How many one-time keys the server holds for this device.
    CountKeys: Get "/v1/keys/count"
        { params: (), query: (), request: (), response: KeyCounts }
    /// Publish the user's cross-signing identity (once; the first device does it).
    PutIdentity: Put "/v1/keys/identity"
        { params: (), query: (), request: UserIdentity, response: () }
    /// Replace the user's identity (needs the password); drops every device confirmation.
    ResetIdentity: Post "/v1/keys/identity/reset"
        { params: (), query: (), request: ResetIdentityRequest, response: () }
    /// Publish confirmations of the user's devices, signed with the self-signing key.
    ConfirmDevices: Post "/v1/keys/confirmations"
        { params: (), query: (), request: ConfirmDevicesRequest, response: () }
    /// Publish that this user verified another (a user-signing signature of their master key).
    PutUserSignature: Put "/v1/keys/signatures"
        { params: (), query: (), request: UserSignature, response: () }
    /// Withdraw this user's signature of another user (no longer verified).
    DeleteUserSignature: Delete "/v1/keys/signatures/{user_id}"
        { params: UserId, query: (), request: (), response: () }
    /// Users' devices and keys.
    QueryKeys: Post "/v1/keys/query"
        { params: (), query: (), request: QueryKeysRequest, response: QueryKeysResponse }
    /// Claim one-time keys to open sessions.
    ClaimKeys: Post "/v1/keys/claim"
        { params: (), query: (), request: ClaimKeysRequest, response: ClaimKeysResponse }
    /// Send a one-to-one message (a ciphertext per device).
    SendDirect: Post "/v1/messages"
        { params: (), query: (), request: SendDirectRequest, response: SendReceipt }
    /// Send to chosen devices (verification, key sharing): no coverage of a user's devices.
    SendToDevice: Post "/v1/to-device"
        { params: (), query: (), request: SendDirectRequest, response: SendReceipt }
    /// Read the inbox over HTTP.
    FetchInbox: Get "/v1/inbox"
        { params: (), query: InboxQuery, request: (), response: InboxPage }
    /// Acknowledge the inbox up to a sequence number.
    AckInbox: Post "/v1/inbox/ack"
        { params: (), query: (), request: AckRequest, response: () }
    /// The WebSocket (an upgrade, not a JSON route).
    Connect: Get "/v1/ws"
        { params: (), query: (), request: (), response: () }
    /// Create a group (a signed `create` change).
    CreateGroup: Post "/v1/groups"
        { params: (), query: (), request: SignedGroupChange, response: GroupInfo }
    /// The caller's groups.
    ListGroups: Get "/v1/groups"
        { params: (), query: (), request: (), response: GroupList }
    /// One group's members and roles, as the server holds them.
    GetGroup: Get "/v1/groups/{group_id}"
        { params: GroupId, query: (), request: (), response: GroupInfo }
    /// Change a group: add, remove, leave, a role, dismiss (a signed change).
    ChangeGroup: Post "/v1/groups/{group_id}/changes"
        { params: GroupId, query: (), request: SignedGroupChange, response: GroupInfo }
    /// The group's signed changes, oldest first, with the server's member list.
    GroupLog: Get "/v1/groups/{group_id}/changes"
        { params: GroupId, query: GroupLogQuery, request: (), response: GroupLogPage }
    /// Send a group message (one ciphertext for all member devices).
    SendGroup: Post "/v1/groups/{group_id}/messages"
        { params: GroupId, query: (), request: SendGroupRequest, response: SendReceipt }
    /// Messages sent while the caller was a member, newest first.
    GroupHistory: Get "/v1/groups/{group_id}/history"
        { params: GroupId, query: HistoryQuery, request: (), response: GroupHistoryPage }
    /// The account's backup slot.
    GetBackup: Get "/v1/backup"
        { params: (), query: (), request: (), response: Backup }
    /// Replace the backup slot (optimistic concurrency on its version).
    PutBackup: Put "/v1/backup"
        { params: (), query: (), request: PutBackupRequest, response: BackupVersion }
    /// Replace this user's sealed profile (name and picture, encrypted under the profile key).
    PutProfile: Put "/v1/profile"
        { params: (), query: (), request: PutProfileRequest, response: () }
    /// A user's sealed profile, for someone who shares a conversation with them (or themselves).
    GetProfile: Get "/v1/users/{user_id}/profile"
        { params: UserId, query: (), request: (), response: SealedProfile }
    /// Reserve a blob (an encrypted attachment) of a given size for the listed recipients.
    CreateBlob: Post "/v1/blobs"
        { params: (), query: (), request: CreateBlobRequest, response: CreatedBlob }
    /// Upload one part of a blob. The body is the part's raw bytes
    /// (`Content-Type: application/octet-stream`, with a `Content-Length`), not JSON: the one
    /// request body of the API that is not a JSON object. It starts at the committed offset.
    PutBlobPart: Put "/v1/blobs/{blob_id}/parts/{offset}"
        { params: BlobPart, query: (), request: (), response: BlobUpload }
    /// Where an upload stands (to resume it).
    BlobUploadState: Get "/v1/blobs/{blob_id}/upload"
        { params: BlobId, query: (), request: (), response: BlobUpload }
    /// Finish an upload once every byte is there (idempotent).
    CompleteBlob: Post "/v1/blobs/{blob_id}/complete"
        { params: BlobId, query: (), request: (), response: BlobUpload }
    /// Download a complete blob. The answer is its raw bytes (`application/octet-stream`), not
    /// JSON; one `Range: bytes=a-b` or `bytes=a-` is honoured (206, `Content-Range`).
    GetBlob: Get "/v1/blobs/{blob_id}"
        { params: BlobId, query: (), request: (), response: () }
    /// Delete a blob (its uploader only).
    DeleteBlob: Delete "/v1/blobs/{blob_id}"
        { params: BlobId, query: (), request: (), response: () }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_in_order() {
        let g = GroupId::parse("g1").unwrap();
        let u = UserId::parse("alice").unwrap();
        assert_eq!(path::<DeleteUserSignature>(&u), "/v1/keys/signatures/alice");
        assert_eq!(path::<ChangeGroup>(&g), "/v1/groups/g1/changes");
        assert_eq!(path::<GroupHistory>(&g), "/v1/groups/g1/history");
        assert_eq!(path::<ListGroups>(&()), "/v1/groups");
        let blob_id = BlobId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(
            path::<PutBlobPart>(&BlobPart { blob_id, offset: 65536 }),
            "/v1/blobs/AAAAAAAAAAAAAAAAAAAAAA/parts/65536"
        );
    }

    #[test]
    fn every_template_has_as_many_parameters_as_its_type_fills() {
        fn check<E: Endpoint>(params: E::Params) {
            assert_eq!(E::PATH.matches('{').count(), params.segments().len(), "{}", E::PATH);
            assert!(!path::<E>(&params).contains(['{', '}']), "{}", E::PATH);
        }
        let g = || GroupId::parse("g1").unwrap();
        let u = || UserId::parse("bob").unwrap();
        check::<DeleteDevice>(DeviceId::parse("d1").unwrap());
        check::<GetGroup>(g());
        check::<ChangeGroup>(g());
        check::<GroupLog>(g());
        check::<SendGroup>(g());
        check::<GroupHistory>(g());
        check::<DeleteUserSignature>(u());
        check::<GetProfile>(u());
        let b = || BlobId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        check::<PutBlobPart>(BlobPart { blob_id: b(), offset: 65536 });
        check::<BlobUploadState>(b());
        check::<CompleteBlob>(b());
        check::<GetBlob>(b());
        check::<DeleteBlob>(b());
        let without: usize = ROUTES.iter().filter(|r| !r.path.contains('{')).count();
        assert_eq!(without + 13, ROUTES.len(), "a route with parameters is not checked above");
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(seen.insert(route), "{route:?} twice");
            assert!(route.path.starts_with("/v1/"), "{route:?}");
        }
    }

    /// The wire API's routes, written out: a change here is a change of the protocol.
    #[test]
    fn routes_snapshot() {
        let listed: Vec<String> = ROUTES
            .iter()
            .map(|r| format!("{} {}{}", r.method.as_str(), r.path, if r.authenticated { "" } else { " (public)" }))
            .collect();
        assert_eq!(
            listed,
            [
                "POST /v1/accounts (public)",
                "POST /v1/sessions (public)",
                "POST /v1/sessions/external (public)",
                "POST /v1/sessions/refresh (public)",
                "DELETE /v1/sessions/current",
                "PUT /v1/account/password",
                "GET /v1/devices",
                "DELETE /v1/devices/{device_id}",
                "GET /v1/jwks.json (public)",
                "PUT /v1/keys/device",
                "POST /v1/keys/device/reset",
                "POST /v1/keys/one-time",
                "GET /v1/keys/count",
                "PUT /v1/keys/identity",
                "POST /v1/keys/identity/reset",
                "POST /v1/keys/confirmations",
                "PUT /v1/keys/signatures",
                "DELETE /v1/keys/signatures/{user_id}",
                "POST /v1/keys/query",
                "POST /v1/keys/claim",
                "POST /v1/messages",
                "POST /v1/to-device",
                "GET /v1/inbox",
                "POST /v1/inbox/ack",
                "GET /v1/ws",
                "POST /v1/groups",
                "GET /v1/groups",
                "GET /v1/groups/{group_id}",
                "POST /v1/groups/{group_id}/changes",
                "GET /v1/groups/{group_id}/changes",
                "POST /v1/groups/{group_id}/messages",
                "GET /v1/groups/{group_id}/history",
                "GET /v1/backup",
                "PUT /v1/backup",
                "PUT /v1/profile",
                "GET /v1/users/{user_id}/profile",
                "POST /v1/blobs",
                "PUT /v1/blobs/{blob_id}/parts/{offset}",
                "GET /v1/blobs/{blob_id}/upload",
                "POST /v1/blobs/{blob_id}/complete",
                "GET /v1/blobs/{blob_id}",
                "DELETE /v1/blobs/{blob_id}",
            ]
        );
    }

    #[test]
    fn queries_leave_out_what_is_not_set() {
        let q = serde_json::to_string(&HistoryQuery { before: None, limit: Some(5) }).unwrap();
        assert_eq!(q, r#"{"limit":5}"#);
    }
}
