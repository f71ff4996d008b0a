//! Test harness: runs the real `sotto-server` binary (through `sotto_testkit`: a free loopback
//! port, a temporary data directory, its log) and talks to it over HTTP and WebSocket like a
//! client would.
//!
//! Every helper panics with a readable message on failure (these are tests).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sotto_proto::{
    AccessClaims, ClientFrame, ConfirmDevicesRequest, DeviceAddress, DeviceConfirmation, DeviceId, DeviceKeys,
    DevicePayload, ErrorBody, GroupAction, GroupChange, GroupId, GroupInfo, GroupLogPage, InboxEntry, InboxPage,
    KeyCounts, KeyId, MessageId, SendDirectRequest, SendReceipt, ServerFrame, Session, SignedGroupChange, SignedKey,
    UploadKeysRequest, UserId, UserIdentity,
};
pub use sotto_testkit::Launch;
use sotto_testkit::ServerProcess;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The password every helper-registered account uses.
pub const PASSWORD: &str = "correct horse battery staple";
/// How long any single wait in a test may take (the CI machine is slow).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `sotto-server` (the binary cargo built for these tests, started by
/// `sotto_testkit`) and an HTTP client for it. Killed (SIGKILL) when dropped.
pub struct Server {
    pub process: ServerProcess,
    pub http: reqwest::Client,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().expect("build reqwest client")
}

impl Server {
    /// Starts a server with default flags over a new temporary data directory.
    pub async fn start() -> Server {
        Self::start_with(Launch::new()).await
    }

    /// Starts a server where group admins add anyone directly (`--group-adds direct`, a team
    /// server): for tests of the group rules, signatures and fan-out, which consent to being
    /// added (invitations, tested on their own) would only lengthen.
    pub async fn start_team() -> Server {
        Self::start_with(Launch::new().args(["--group-adds", "direct"])).await
    }

    /// Starts a server with extra flags or another `RUST_LOG`.
    pub async fn start_with(launch: Launch) -> Server {
        let process = launch.binary(env!("CARGO_BIN_EXE_sotto-server")).start().await;
        Server { process, http: http_client() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.process.url(), path)
    }

    pub fn ws_url(&self) -> String {
        self.process.ws_url()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.process.data_dir()
    }

    /// Everything the server wrote to stderr so far (every run).
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    /// Starts the process again on the same port and data directory: clients carry on.
    pub async fn restart(&mut self) {
        self.process.restart().await;
    }

    /// Sends SIGTERM (the process keeps running until it exits by itself).
    pub fn sigterm(&self) {
        self.process.sigterm().expect("SIGTERM");
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(limit).await.expect("the server is running")
    }

    // ---- accounts ----

    pub async fn register(&self, user: &str) -> Client {
        self.register_with(user, PASSWORD).await
    }

    /// Registers each of `users`, in order: `let [alice, bob] = server.register_all(["alice", "bob"]).await;`
    pub async fn register_all<const N: usize>(&self, users: [&str; N]) -> [Client; N] {
        let mut clients = Vec::with_capacity(N);
        for user in users {
            clients.push(self.register(user).await);
        }
        clients.try_into().unwrap_or_else(|_| unreachable!("one client per user"))
    }

    /// Registers each of `users`, in order, with published identity keys.
    pub async fn register_keyed_all<const N: usize>(&self, users: [&str; N]) -> [Client; N] {
        let mut clients = Vec::with_capacity(N);
        for user in users {
            clients.push(self.register_keyed(user).await);
        }
        clients.try_into().unwrap_or_else(|_| unreachable!("one client per user"))
    }

    pub async fn register_with(&self, user: &str, password: &str) -> Client {
        let resp = self
            .http
            .post(self.url("/v1/accounts"))
            .json(&serde_json::json!({"user_id": user, "password": password}))
            .send()
            .await
            .expect("register request");
        assert_eq!(resp.status(), 201, "register {user}: {}", resp.text().await.unwrap_or_default());
        let session: Session = resp.json().await.expect("session json");
        self.client(session, password)
    }

    pub async fn login(&self, user: &str) -> Client {
        self.login_with(user, PASSWORD).await
    }

    pub async fn login_with(&self, user: &str, password: &str) -> Client {
        let resp = self
            .http
            .post(self.url("/v1/sessions"))
            .json(&serde_json::json!({"user_id": user, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(resp.status(), 200, "login {user}: {}", resp.text().await.unwrap_or_default());
        let session: Session = resp.json().await.expect("session json");
        self.client(session, password)
    }

    /// Registers `user` and publishes its device's identity keys.
    pub async fn register_keyed(&self, user: &str) -> Client {
        let mut c = self.register(user).await;
        c.upload_keys().await;
        c
    }

    /// Signs `user` in on a new device with published identity keys.
    pub async fn login_keyed(&self, user: &str) -> Client {
        let mut c = self.login(user).await;
        c.upload_keys().await;
        c
    }

    /// Registers `user` ready to sign group changes: identity keys, a published identity, and
    /// the device confirmed by it.
    pub async fn register_member(&self, user: &str) -> Client {
        let mut c = self.register_keyed(user).await;
        c.publish_identity().await;
        c
    }

    /// [`Server::register_member`] for each of `users`, in order.
    pub async fn register_members<const N: usize>(&self, users: [&str; N]) -> [Client; N] {
        let mut clients = Vec::with_capacity(N);
        for user in users {
            clients.push(self.register_member(user).await);
        }
        clients.try_into().unwrap_or_else(|_| unreachable!("one client per user"))
    }

    /// Signs `first`'s user in on a new device with identity keys, confirmed with the user's
    /// self-signing key (as `first` would after comparing emoji with it).
    pub async fn login_member(&self, first: &Client) -> Client {
        let mut c = self.login_keyed(first.user().as_str()).await;
        c.confirm_with(first.cross_signing().clone()).await;
        c
    }

    pub fn client(&self, session: Session, password: &str) -> Client {
        Client {
            base: self.process.url().to_owned(),
            ws_url: self.ws_url(),
            http: self.http.clone(),
            session,
            password: password.to_owned(),
            signing: None,
            keys: None,
            cross_signing: None,
        }
    }

    /// A request without any token.
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// Mints an access token with the server's own signing key (read from the data directory).
    pub fn mint_token(&self, claims: &AccessClaims) -> String {
        let pem = std::fs::read_to_string(self.data_dir().join("jwt-signing-key.pem")).expect("read signing key");
        let key = SigningKey::from_pkcs8_pem(&pem).expect("parse signing key");
        sign_token(&key, claims)
    }
}

/// Signs `claims` as an EdDSA JWT with `key`, naming it in `kid` as the server names its keys
/// (the first 8 bytes of the SHA-256 of the public key, base64url).
pub fn sign_token(key: &SigningKey, claims: &impl Serialize) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.verifying_key().to_bytes());
    sign_token_as(key, &URL_SAFE_NO_PAD.encode(&digest[..8]), claims)
}

/// Signs `claims` as an EdDSA JWT with `key`, whatever `kid` says.
pub fn sign_token_as(key: &SigningKey, kid: &str, claims: &impl Serialize) -> String {
    let der = key.to_pkcs8_der().expect("pkcs8 der");
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &encoding).expect("sign token")
}

pub fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut out);
    out
}

pub fn uid(s: &str) -> UserId {
    UserId::parse(s).expect("valid user id")
}

pub fn did(s: &str) -> DeviceId {
    DeviceId::parse(s).expect("valid device id")
}

pub fn mid(s: &str) -> MessageId {
    MessageId::parse(s).expect("valid message id")
}

/// A fresh random message id.
pub fn random_mid() -> MessageId {
    mid(&format!("m-{}", hex(&random_bytes::<12>())))
}

/// A fresh random group id.
pub fn random_gid() -> GroupId {
    GroupId::parse(format!("g-{}", hex(&random_bytes::<12>()))).expect("valid group id")
}

pub fn unix_millis() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    u64::try_from(since.as_millis()).expect("milliseconds fit")
}

/// The hash of a group log entry, as the next entry's `prev` names it.
pub fn entry_hash(signed: &SignedGroupChange) -> String {
    b64(&Sha256::digest(signed.hash_input()))
}

/// The change a signed entry carries.
pub fn parse_change(signed: &SignedGroupChange) -> GroupChange {
    serde_json::from_str(&signed.change).expect("a group change")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn new_signing_key() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

/// Self-signed identity keys of `addr` (the Curve25519 key is random bytes).
pub fn device_keys(addr: &DeviceAddress, signing: &SigningKey) -> DeviceKeys {
    let mut keys = DeviceKeys {
        user_id: addr.user_id.clone(),
        device_id: addr.device_id.clone(),
        curve25519: b64(&random_bytes::<32>()),
        ed25519: b64(signing.verifying_key().as_bytes()),
        signature: String::new(),
    };
    keys.signature = b64(&signing.sign(&keys.signing_bytes()).to_bytes());
    keys
}

/// A one-time (or fallback) key of `owner`, signed by `signing`.
pub fn signed_key(owner: &DeviceAddress, signing: &SigningKey, key_id: &str) -> SignedKey {
    let mut key = SignedKey {
        key_id: KeyId::parse(key_id).expect("valid key id"),
        key: b64(&random_bytes::<32>()),
        signature: String::new(),
    };
    key.signature = b64(&signing.sign(&key.signing_bytes(owner)).to_bytes());
    key
}

/// A user's cross-signing keys (see `sotto_proto::UserIdentity`), held by the test as a client
/// holds them, so that any device of the user can be confirmed.
#[derive(Clone)]
pub struct CrossSigning {
    pub master: SigningKey,
    pub self_signing: SigningKey,
    pub user_signing: SigningKey,
}

impl CrossSigning {
    pub fn generate() -> CrossSigning {
        CrossSigning { master: new_signing_key(), self_signing: new_signing_key(), user_signing: new_signing_key() }
    }

    /// `user`'s identity made of these keys, signed by the master key.
    pub fn identity(&self, user: &UserId) -> UserIdentity {
        let mut identity = UserIdentity {
            user_id: user.clone(),
            master_key: b64(self.master.verifying_key().as_bytes()),
            self_signing_key: b64(self.self_signing.verifying_key().as_bytes()),
            user_signing_key: b64(self.user_signing.verifying_key().as_bytes()),
            signature: String::new(),
        };
        identity.signature = b64(&self.master.sign(&identity.signing_bytes()).to_bytes());
        identity
    }

    /// The self-signing key's confirmation of a device with `keys`.
    pub fn confirm(&self, keys: &DeviceKeys) -> DeviceConfirmation {
        let signature = b64(&self.self_signing.sign(&DeviceConfirmation::signing_bytes(keys)).to_bytes());
        DeviceConfirmation { device_id: keys.device_id.clone(), signature }
    }
}

/// One signed-in device.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub ws_url: String,
    pub http: reqwest::Client,
    pub session: Session,
    pub password: String,
    /// The device's Ed25519 identity key, once published.
    pub signing: Option<SigningKey>,
    /// The device's published identity keys.
    pub keys: Option<DeviceKeys>,
    /// The user's cross-signing keys, once this device holds them.
    pub cross_signing: Option<CrossSigning>,
}

impl Client {
    pub fn user(&self) -> &UserId {
        &self.session.user_id
    }
    pub fn device(&self) -> &DeviceId {
        &self.session.device_id
    }
    pub fn addr(&self) -> DeviceAddress {
        DeviceAddress { user_id: self.session.user_id.clone(), device_id: self.session.device_id.clone() }
    }
    pub fn token(&self) -> &str {
        &self.session.access_token
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with this device's bearer token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(self.token())
    }
    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().await.expect("GET")
    }
    pub async fn post<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Response {
        self.req(Method::POST, path).json(body).send().await.expect("POST")
    }
    pub async fn put<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Response {
        self.req(Method::PUT, path).json(body).send().await.expect("PUT")
    }
    pub async fn delete(&self, path: &str) -> Response {
        self.req(Method::DELETE, path).send().await.expect("DELETE")
    }
    pub async fn delete_json<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Response {
        self.req(Method::DELETE, path).json(body).send().await.expect("DELETE")
    }

    /// Publishes new identity keys for this device (204 expected) and keeps the signing key.
    pub async fn upload_keys(&mut self) -> DeviceKeys {
        let signing = new_signing_key();
        let keys = device_keys(&self.addr(), &signing);
        let resp = self.put("/v1/keys/device", &keys).await;
        assert_eq!(resp.status(), 204, "upload device keys: {}", resp.text().await.unwrap_or_default());
        self.signing = Some(signing);
        self.keys = Some(keys.clone());
        keys
    }

    pub fn signing(&self) -> &SigningKey {
        self.signing.as_ref().expect("the device has no identity key yet")
    }

    pub fn keys(&self) -> &DeviceKeys {
        self.keys.as_ref().expect("the device has no identity keys yet")
    }

    pub fn cross_signing(&self) -> &CrossSigning {
        self.cross_signing.as_ref().expect("the device holds no cross-signing keys")
    }

    /// Makes the user's identity (204 expected) and confirms this device with it, as a user's
    /// first device does.
    pub async fn publish_identity(&mut self) -> UserIdentity {
        let cross_signing = CrossSigning::generate();
        let identity = cross_signing.identity(self.user());
        let resp = self.put("/v1/keys/identity", &identity).await;
        assert_eq!(resp.status(), 204, "publish identity: {}", resp.text().await.unwrap_or_default());
        self.confirm_with(cross_signing).await;
        identity
    }

    /// Takes the user's cross-signing keys and publishes this device's confirmation (204).
    pub async fn confirm_with(&mut self, cross_signing: CrossSigning) {
        let req = ConfirmDevicesRequest { confirmations: vec![cross_signing.confirm(self.keys())] };
        let resp = self.post("/v1/keys/confirmations", &req).await;
        assert_eq!(resp.status(), 204, "confirm device: {}", resp.text().await.unwrap_or_default());
        self.cross_signing = Some(cross_signing);
    }

    // ---- groups ----

    /// A change by this device, with its keys and confirmation, made now.
    pub fn group_change(&self, group_id: &GroupId, seq: u64, prev: Option<String>, action: GroupAction) -> GroupChange {
        let keys = self.keys();
        GroupChange {
            group_id: group_id.clone(),
            seq,
            prev,
            author: self.user().clone(),
            device_id: self.device().clone(),
            curve25519: keys.curve25519.clone(),
            ed25519: keys.ed25519.clone(),
            confirmation: self.cross_signing().confirm(keys).signature,
            ts: unix_millis(),
            action,
        }
    }

    /// `change` (JSON, as given) signed by this device's key.
    pub fn sign_json(&self, change: String) -> SignedGroupChange {
        let signature = b64(&self.signing().sign(&SignedGroupChange::signing_bytes(&change)).to_bytes());
        SignedGroupChange { change, signature }
    }

    pub fn sign_group_change(&self, change: &GroupChange) -> SignedGroupChange {
        self.sign_json(serde_json::to_string(change).expect("encode change"))
    }

    /// A change by this device at `seq` after `prev`, signed.
    pub fn sign_change(
        &self,
        group_id: &GroupId,
        seq: u64,
        prev: Option<String>,
        action: GroupAction,
    ) -> SignedGroupChange {
        self.sign_group_change(&self.group_change(group_id, seq, prev, action))
    }

    /// `POST /v1/groups` with a signed `action` (normally a `create`) for a new random group id.
    pub async fn create_group_with(&self, action: GroupAction) -> Response {
        self.post("/v1/groups", &self.sign_change(&random_gid(), 1, None, action)).await
    }

    /// Creates a group that must be created (201).
    pub async fn create_group(&self, name: &str, members: &[&str]) -> GroupInfo {
        let action = GroupAction::Create {
            name: name.into(),
            members: members.iter().map(|u| uid(u)).collect(),
            invited: vec![],
        };
        let resp = self.create_group_with(action).await;
        assert_eq!(resp.status(), 201, "create group: {}", resp.text().await.unwrap_or_default());
        resp.json().await.expect("group info")
    }

    /// `GET /v1/groups/{group_id}/changes?after=..&limit=..`.
    pub async fn group_log_page(&self, group_id: &GroupId, after: u64, limit: u32) -> Response {
        self.get(&format!("/v1/groups/{group_id}/changes?after={after}&limit={limit}")).await
    }

    /// The group's whole log (following `more`), with the member list of its last page.
    pub async fn group_log(&self, group_id: &GroupId) -> GroupLogPage {
        let mut changes = Vec::new();
        loop {
            let after = changes.last().map_or(0, |last| parse_change(last).seq);
            let resp = self.group_log_page(group_id, after, 500).await;
            assert_eq!(resp.status(), 200, "group log: {}", resp.text().await.unwrap_or_default());
            let page: GroupLogPage = resp.json().await.expect("group log page");
            changes.extend(page.changes);
            if !page.more {
                return GroupLogPage { changes, more: false, group: page.group };
            }
        }
    }

    /// Where this member's next change to the group goes, as read from its log: the seq and the
    /// hash of the last entry. A group without a log (from before changes were signed) is at its
    /// version, with no entry before.
    pub async fn next_change(&self, group_id: &GroupId) -> (u64, Option<String>) {
        let log = self.group_log(group_id).await;
        match log.changes.last() {
            Some(last) => (parse_change(last).seq + 1, Some(entry_hash(last))),
            None => (log.group.version + 1, None),
        }
    }

    /// `POST /v1/groups/{group_id}/changes` with `signed`.
    pub async fn post_change(&self, group_id: &GroupId, signed: &SignedGroupChange) -> Response {
        self.post(&format!("/v1/groups/{group_id}/changes"), signed).await
    }

    /// Signs `action` at the head of the group's log, as read now, and sends it.
    pub async fn change(&self, group_id: &GroupId, action: GroupAction) -> Response {
        let (seq, prev) = self.next_change(group_id).await;
        self.post_change(group_id, &self.sign_change(group_id, seq, prev, action)).await
    }

    /// [`Client::change`] that must be accepted (200); the group after it.
    pub async fn change_ok(&self, group_id: &GroupId, action: GroupAction) -> GroupInfo {
        let resp = self.change(group_id, action).await;
        assert_eq!(resp.status(), 200, "group change: {}", resp.text().await.unwrap_or_default());
        resp.json().await.expect("group info")
    }

    /// Uploads one-time keys with the given ids (and optionally a fallback key); expects 200.
    pub async fn upload_otks(&self, ids: &[String], fallback: Option<&str>) -> KeyCounts {
        let owner = self.addr();
        let req = UploadKeysRequest {
            one_time_keys: ids.iter().map(|id| signed_key(&owner, self.signing(), id)).collect(),
            fallback_key: fallback.map(|id| signed_key(&owner, self.signing(), id)),
        };
        let resp = self.post("/v1/keys/one-time", &req).await;
        assert_eq!(resp.status(), 200, "upload one-time keys: {}", resp.text().await.unwrap_or_default());
        resp.json().await.expect("key counts")
    }

    pub async fn key_counts(&self) -> KeyCounts {
        let resp = self.get("/v1/keys/count").await;
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("key counts")
    }

    /// `POST /v1/messages` with one payload per device.
    pub async fn send_direct_raw(&self, message_id: &MessageId, payloads: &[(DeviceAddress, String)]) -> Response {
        let req = SendDirectRequest {
            message_id: message_id.clone(),
            payloads: payloads
                .iter()
                .map(|(d, c)| DevicePayload {
                    user_id: d.user_id.clone(),
                    device_id: d.device_id.clone(),
                    ciphertext: c.clone(),
                })
                .collect(),
        };
        self.post("/v1/messages", &req).await
    }

    /// A direct send that must succeed.
    pub async fn send_direct(&self, message_id: &MessageId, payloads: &[(DeviceAddress, String)]) -> SendReceipt {
        let resp = self.send_direct_raw(message_id, payloads).await;
        assert_eq!(resp.status(), 200, "send: {}", resp.text().await.unwrap_or_default());
        resp.json().await.expect("receipt")
    }

    pub async fn inbox(&self, after: u64, limit: u32) -> InboxPage {
        let resp = self.get(&format!("/v1/inbox?after={after}&limit={limit}")).await;
        assert_eq!(resp.status(), 200, "inbox: {}", resp.text().await.unwrap_or_default());
        resp.json().await.expect("inbox page")
    }

    /// Every entry currently in the inbox (following `more`).
    pub async fn inbox_all(&self) -> Vec<InboxEntry> {
        let mut out: Vec<InboxEntry> = Vec::new();
        loop {
            let after = out.last().map_or(0, |e| e.seq);
            let page = self.inbox(after, 500).await;
            out.extend(page.entries);
            if !page.more {
                return out;
            }
        }
    }

    pub async fn ack(&self, up_to: u64) {
        let resp = self.post("/v1/inbox/ack", &serde_json::json!({ "up_to": up_to })).await;
        assert_eq!(resp.status(), 204, "ack: {}", resp.text().await.unwrap_or_default());
    }

    /// Opens this device's WebSocket (the handshake must succeed).
    pub async fn ws(&self) -> Ws {
        self.try_ws().await.expect("websocket handshake")
    }

    pub async fn try_ws(&self) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        ws_connect(&self.ws_url, Some(self.token())).await
    }
}

pub async fn ws_connect(url: &str, token: Option<&str>) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header value"));
    }
    let (stream, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .expect("websocket connect timed out")?;
    Ok(Ws { stream })
}

/// How a WebSocket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEnd {
    /// A close frame with this code (None: a close frame without code).
    Close(Option<u16>),
    /// The stream ended (or failed) without a close frame.
    Dropped(String),
}

/// A device's WebSocket.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// The next data or close message (pings and pongs are skipped); `None` when the stream ends
    /// or fails. Panics after [`TIMEOUT`].
    pub async fn next_msg(&mut self) -> Option<Result<Message, String>> {
        self.next_msg_within(TIMEOUT).await.expect("timed out waiting for a websocket message")
    }

    /// Like [`Ws::next_msg`] but `Err(())` on timeout.
    pub async fn next_msg_within(&mut self, limit: Duration) -> Result<Option<Result<Message, String>>, ()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await.map_err(|_| ())?;
            match next {
                None => return Ok(None),
                Some(Err(e)) => return Ok(Some(Err(e.to_string()))),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(m)) => return Ok(Some(Ok(m))),
            }
        }
    }

    /// The next server frame; panics on anything else (close, end, binary, bad JSON, timeout).
    pub async fn next_frame(&mut self) -> ServerFrame {
        match self.next_msg().await {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str())
                .unwrap_or_else(|e| panic!("not a server frame ({e}): {}", text.as_str())),
            other => panic!("expected a server frame, got {other:?}"),
        }
    }

    /// The next server frame, or `None` if nothing arrives within `limit`.
    pub async fn frame_within(&mut self, limit: Duration) -> Option<ServerFrame> {
        match self.next_msg_within(limit).await {
            Err(()) => None,
            Ok(Some(Ok(Message::Text(text)))) => Some(
                serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("not a server frame ({e}): {}", text.as_str())),
            ),
            Ok(other) => panic!("expected a server frame, got {other:?}"),
        }
    }

    /// The next frame, which must be an inbox entry.
    pub async fn next_entry(&mut self) -> InboxEntry {
        match self.next_frame().await {
            ServerFrame::Entry { entry } => entry,
            other => panic!("expected an entry frame, got {other:?}"),
        }
    }

    /// Reads the replay after connecting: every entry up to the `synced` frame.
    /// Returns the entries and `synced.up_to`.
    pub async fn until_synced(&mut self) -> (Vec<InboxEntry>, u64) {
        let mut entries = Vec::new();
        loop {
            match self.next_frame().await {
                ServerFrame::Entry { entry } => entries.push(entry),
                ServerFrame::Synced { up_to } => return (entries, up_to),
                other => panic!("unexpected frame during replay: {other:?}"),
            }
        }
    }

    pub async fn send_frame(&mut self, frame: &ClientFrame) {
        let text = serde_json::to_string(frame).expect("encode frame");
        self.send_text(text).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.stream.send(Message::text(text)).await.expect("websocket send");
    }

    /// Waits for the socket to end, skipping data frames; returns how it ended.
    pub async fn expect_end(&mut self) -> WsEnd {
        loop {
            match self.next_msg().await {
                None => return WsEnd::Dropped("end of stream".into()),
                Some(Err(e)) => return WsEnd::Dropped(e),
                Some(Ok(Message::Close(frame))) => return WsEnd::Close(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Closes from the client side and waits until the server has seen it (the server handles
    /// frames in order, so every frame sent before is processed once this returns).
    pub async fn close(mut self) {
        let _ = self.stream.send(Message::Close(None)).await;
        loop {
            match self.next_msg().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            }
        }
    }
}

/// Asserts a JSON error response: status, `code`, and a non-empty `message`.
pub async fn assert_error(resp: Response, status: u16, code: &str) -> ErrorBody {
    let (body, text) = error_body(resp, status).await;
    let got = serde_json::to_value(body.code).expect("code");
    assert_eq!(got, serde_json::Value::String(code.into()), "error code; body: {text}");
    body
}

/// Asserts the `{code, message}` shape and the status; returns the body and its raw text.
pub async fn error_body(resp: Response, status: u16) -> (ErrorBody, String) {
    let got_status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = resp.text().await.expect("error body");
    assert_eq!(got_status, status, "status; body: {text}");
    assert!(content_type.starts_with("application/json"), "error content type {content_type:?}; body: {text}");
    let value: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("error body is not JSON ({e}): {text}"));
    let code = value.get("code").and_then(|c| c.as_str());
    let message = value.get("message").and_then(|m| m.as_str());
    assert!(code.is_some_and(|c| !c.is_empty()), "error body without a code: {text}");
    assert!(message.is_some_and(|m| !m.is_empty()), "error body without a message: {text}");
    let body: ErrorBody = serde_json::from_value(value).expect("ErrorBody");
    (body, text)
}

/// The direct ciphertext of an entry (panics for other bodies).
pub fn direct_ciphertext(entry: &InboxEntry) -> &str {
    match &entry.body {
        sotto_proto::EntryBody::Direct { ciphertext } => ciphertext,
        other => panic!("expected a direct entry, got {other:?}"),
    }
}
