//! End-to-end test harness: the real `sotto-server` binary on a free loopback port over a
//! temporary data directory (started by `sotto_testkit`), engine clients with real SQLCipher
//! profiles, the real `sotto` CLI, and a raw "tap" device that reads its inbox over HTTP (to get ciphertexts as the server
//! delivers them).
//!
//! The binaries are taken from the cargo target directory this test was built into; build them
//! first (`cargo build -p sotto-server -p sotto-cli`; `scripts/test.sh` does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sotto_core::{
    Client, ClientEvent, ConversationId, KeyChange, KeyOptions, ShortAuthString, SignIn, VerificationState,
};
use sotto_proto::routes;
use sotto_proto::{DeviceKeys, InboxEntry, InboxPage, KeyId, Session, SignedKey, UploadKeysRequest};
use sotto_testkit::{Launch, ServerProcess};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

/// A binary from this build's target directory (`target/debug/<name>`), or the path in
/// `SOTTO_<NAME>_BIN` (see [`sotto_testkit::locate`]).
pub fn binary(name: &str) -> PathBuf {
    sotto_testkit::locate(name, None)
        .unwrap_or_else(|e| panic!("{e}\n(build it with `cargo build -p sotto-server -p sotto-cli`)"))
}

pub fn free_port() -> u16 {
    sotto_testkit::free_port().unwrap()
}

/// The real `sotto-server` (started by [`sotto_testkit`]) with rate limits off: the tests fire
/// bursts a real client would spread out. Killed (SIGKILL) when dropped.
pub struct Server {
    process: ServerProcess,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(&[]).await
    }

    /// A server whose access tokens live 1 s and get no clock-skew leeway, so every token expires
    /// within 1 to 2 s of being issued (see [`wait_for_tokens_to_expire`]).
    pub async fn start_with_short_tokens() -> Server {
        Self::start_with(&["--access-token-ttl", "1", "--token-leeway-secs", "0"]).await
    }

    /// Start with extra command-line flags. Group admins add anyone directly (`--group-adds
    /// direct`, a team server) unless `args` say otherwise: the tests of everything else need
    /// groups of people who never wrote to each other; invitations have their own tests
    /// ([`Server::start_as_shipped`]).
    pub async fn start_with(args: &[&str]) -> Server {
        let team: &[&str] = if args.contains(&"--group-adds") { &[] } else { &["--group-adds", "direct"] };
        let launch = Launch::new()
            .binary(binary("sotto-server"))
            .no_rate_limit()
            .args(team.iter().copied())
            .args(args.iter().copied());
        Server { process: launch.start().await }
    }

    /// A node on the PostgreSQL database `url` (several may share one). `key_from`: another
    /// node whose token signing key this one uses (the nodes of one installation share it).
    pub async fn start_on_postgres(url: &str, key_from: Option<&Server>) -> Server {
        let launch = Launch::new()
            .binary(binary("sotto-server"))
            .no_rate_limit()
            .args(["--group-adds", "direct"])
            .env("SOTTO_DATABASE_URL", url);
        let mut server = Server { process: launch.start().await };
        if let Some(other) = key_from {
            server.kill9();
            let key = "jwt-signing-key.pem";
            std::fs::copy(other.data_dir().join(key), server.data_dir().join(key)).unwrap();
            server.restart().await;
        }
        server
    }

    /// A server that serves HTTPS itself with the certificate and key in these PEM files
    /// (read again at each restart); [`Server::url`] is then `https://127.0.0.1:<port>`.
    pub async fn start_tls(cert: &Path, key: &Path) -> Server {
        let launch = Launch::new()
            .binary(binary("sotto-server"))
            .no_rate_limit()
            .args(["--group-adds", "direct"])
            .tls(cert, key);
        Server { process: launch.start().await }
    }

    /// A server with the default group rule: people who never wrote to an admin are invited,
    /// not added.
    pub async fn start_as_shipped() -> Server {
        Self::start_with(&["--group-adds", "invite"]).await
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        self.process.url()
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// Stop the process (SIGKILL); the data directory stays.
    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    /// Start it again on the same port and data directory.
    pub async fn restart(&mut self) {
        self.process.restart().await;
    }

    pub fn data_dir(&self) -> PathBuf {
        self.process.data_dir()
    }

    /// Set an environment variable for the next [`Server::restart`].
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.process.set_env(key, value);
    }

    pub fn logs(&self) -> String {
        self.process.logs()
    }
}

/// A new self-signed certificate for `localhost` and `127.0.0.1`, written as `<name>.pem` and
/// `<name>.key` in `dir` (for [`Server::start_tls`]): the paths and its fingerprint.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf, sotto_core::Fingerprint) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    write_pair(dir, name, &certified.cert.pem(), &certified.signing_key.serialize_pem(), certified.cert.der())
}

/// Writes a certificate and its key as `<name>.pem` and `<name>.key` in `dir`.
pub fn write_pair(
    dir: &Path,
    name: &str,
    cert_pem: &str,
    key_pem: &str,
    der: &[u8],
) -> (PathBuf, PathBuf, sotto_core::Fingerprint) {
    let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    (cert, key, sotto_core::Fingerprint::of(der))
}

/// A raw sign-in (`Register` or `Login`) over HTTP, for the devices the harness plays by hand.
async fn sign_in<E: routes::Endpoint>(http: &reqwest::Client, server: &Server, body: serde_json::Value) -> Session {
    assert_eq!(E::METHOD, routes::Method::Post, "{}", E::PATH);
    ok_json(http.post(format!("{}{}", server.url(), E::PATH)).json(&body)).await
}

/// Send a request the harness makes by hand; it must succeed, and its answer is JSON.
async fn ok_json<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().error_for_status().unwrap().json().await.unwrap()
}

/// Waits until the server refuses, as expired, every access token it issued so far (for a
/// server started by [`Server::start_with_short_tokens`]). The server's clock decides, not a
/// guessed sleep: with no leeway it accepts a token until its whole-second `exp` has passed, so
/// a 1 s token lives 1 to 2 s (with the default 5 s of skew it would live 6 to 7 s). A token
/// issued now to a throwaway account is polled until it is refused with `token_expired`; every
/// earlier token expires no later.
pub async fn wait_for_tokens_to_expire(server: &Server) {
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let user = format!("expiry-probe-{}", PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let http = reqwest::Client::new();
    let session =
        sign_in::<routes::Register>(&http, server, serde_json::json!({ "user_id": user, "password": PASSWORD })).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp =
            http.get(format!("{}/v1/devices", server.url())).bearer_auth(&session.access_token).send().await.unwrap();
        if resp.status() != 200 {
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!((status.as_u16(), body["code"].as_str()), (401, Some("token_expired")), "{body}");
            return;
        }
        assert!(Instant::now() < deadline, "a token of a server with a short lifetime did not expire in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many token refreshes the server granted so far (its request metrics).
pub async fn refreshes(server: &Server) -> u64 {
    counter(server, r#"sotto_http_requests_total{method="POST",route="/v1/sessions/refresh",status="200"}"#).await
}

/// A counter of the server's metrics, by its name and labels as `/metrics` shows them (0 when
/// it has not counted anything yet).
pub async fn counter(server: &Server, series: &str) -> u64 {
    let metrics = reqwest::get(format!("{}/metrics", server.url())).await.unwrap().text().await.unwrap();
    let prefix = format!("{series} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |n| n.trim().parse().unwrap())
}

/// A temporary directory for profiles.
pub fn profiles() -> TempDir {
    tempfile::Builder::new().prefix("sotto-e2e-profiles-").tempdir().unwrap()
}

/// Key options for test profiles: the real keychain (the test script runs a Secret Service).
pub fn keychain() -> KeyOptions {
    KeyOptions::default()
}

pub async fn register(server: &Server, dir: &Path, user: &str) -> Client {
    register_at(server.url(), dir, user).await
}

/// [`register`] on the server at `url` (a proxy in front of servers, say).
pub async fn register_at(url: &str, dir: &Path, user: &str) -> Client {
    let sign_in = SignIn {
        server: url,
        trust: sotto_core::ServerTrust::System,
        user_id: user,
        password: PASSWORD,
        device_name: Some("test"),
    };
    match Client::register(dir, sign_in, keychain()).await {
        Ok(client) => client,
        Err(e) => panic!("register {user}: [{}] {e}", e.code()),
    }
}

/// Registers each of `users` (password [`PASSWORD`]), in order, each in its own profile
/// `<dirs>/<user>`: `let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;`
pub async fn register_all<const N: usize>(server: &Server, dirs: &Path, users: [&str; N]) -> [Client; N] {
    let mut clients = Vec::with_capacity(N);
    for user in users {
        clients.push(register(server, &dirs.join(user), user).await);
    }
    clients.try_into().unwrap_or_else(|_| unreachable!("one client per user"))
}

pub async fn login(server: &Server, dir: &Path, user: &str) -> Client {
    let sign_in = SignIn {
        server: server.url(),
        trust: sotto_core::ServerTrust::System,
        user_id: user,
        password: PASSWORD,
        device_name: Some("second"),
    };
    match Client::login(dir, sign_in, keychain()).await {
        Ok(client) => client,
        Err(e) => panic!("login {user}: [{}] {e}", e.code()),
    }
}

/// Signs `user` in on a new device and confirms it from `old` (one of theirs that holds the
/// identity) by comparing emoji, as a person would: see [`link_device`].
pub async fn login_linked(server: &Server, dir: &Path, old: &Client) -> Client {
    let new = login(server, dir, old.user_id().as_str()).await;
    link_device(old, &new).await;
    new
}

/// Confirms `new` from `old` (two devices of one user) through the real verification: start on
/// the old device, each step delivered by a sync, both people confirm that the emoji match.
/// Returns what both showed.
pub async fn link_device(old: &Client, new: &Client) -> ShortAuthString {
    link(old, new, false).await
}

/// [`link_device`], copying the old device's one-to-one conversations to the new one.
pub async fn link_device_with_history(old: &Client, new: &Client) -> ShortAuthString {
    link(old, new, true).await
}

async fn link(old: &Client, new: &Client, history: bool) -> ShortAuthString {
    let id = old.start_device_confirmation(new.device_id(), history).await.unwrap().id;
    // start -> accept -> key -> key: one sync each.
    for client in [new, old, new, old] {
        client.sync().await.unwrap();
    }
    let shown = |client: &Client| -> ShortAuthString {
        let view = client.verification_list().unwrap().into_iter().find(|v| v.id == id).expect("the verification");
        match view.state {
            VerificationState::Compare { sas, confirmed_here: false } => sas,
            other => panic!("{} shows {other:?}", client.device_id()),
        }
    };
    let sas = shown(old);
    assert_eq!(sas, shown(new), "both devices show the same emoji");
    old.confirm_verification(&id).await.unwrap();
    new.confirm_verification(&id).await.unwrap();
    // The old device checks the new one's MACs, confirms it and sends the identity keys.
    old.sync().await.unwrap();
    new.sync().await.unwrap();
    for client in [old, new] {
        let view = client.verification_list().unwrap().into_iter().find(|v| v.id == id).unwrap();
        assert_eq!(view.state, VerificationState::Done { device_confirmed: true }, "on {}", client.device_id());
    }
    sas
}

/// Start the client's background service and wait until it is connected and caught up.
pub async fn start_online(client: &Client) {
    let mut state = client.connection_state();
    client.start();
    tokio::time::timeout(Duration::from_secs(20), state.wait_for(|s| *s == sotto_core::ConnectionState::Online))
        .await
        .expect("online within 20 s")
        .expect("the client is alive");
}

/// Poll `check` until it returns `Some`, for up to 20 s.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The key changes reported among the events received so far: whose, which, and whether the
/// contact had been verified until then.
pub fn key_changes(events: &mut tokio::sync::broadcast::Receiver<ClientEvent>) -> Vec<(String, KeyChange, bool)> {
    let mut changes = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let ClientEvent::ContactKeyChanged { user_id, change, was_verified, .. } = event {
            changes.push((user_id, change, was_verified));
        }
    }
    changes
}

/// Text bodies of a conversation, oldest first.
pub fn bodies(client: &Client, conversation_id: &ConversationId) -> Vec<String> {
    client
        .messages(conversation_id, None, 1000)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == sotto_core::MessageKind::Text)
        .map(|m| m.body)
        .collect()
}

/// A raw device that signs in over HTTP, publishes real (vodozemac) keys so senders include it,
/// and reads its inbox: a way to get ciphertexts exactly as the server delivers them.
pub struct Tap {
    pub session: Session,
    http: reqwest::Client,
    url: String,
}

impl Tap {
    pub async fn login(server: &Server, user: &str) -> Tap {
        let http = reqwest::Client::new();
        let body = serde_json::json!({ "user_id": user, "password": PASSWORD, "device_name": "tap" });
        let session = sign_in::<routes::Login>(&http, server, body).await;
        let mut account = vodozemac::olm::Account::new();
        let mut keys = DeviceKeys {
            user_id: session.user_id.clone(),
            device_id: session.device_id.clone(),
            curve25519: account.curve25519_key().to_base64(),
            ed25519: account.ed25519_key().to_base64(),
            signature: String::new(),
        };
        keys.signature = account.sign(keys.signing_bytes()).to_base64();
        let tap = Tap { session, http, url: server.url().to_owned() };
        tap.call(reqwest::Method::PUT, "/v1/keys/device", &keys).await;
        account.generate_one_time_keys(20);
        account.generate_fallback_key();
        let owner = sotto_proto::DeviceAddress {
            user_id: tap.session.user_id.clone(),
            device_id: tap.session.device_id.clone(),
        };
        let sign = |id: vodozemac::KeyId, key: vodozemac::Curve25519PublicKey| {
            let mut k = SignedKey {
                key_id: KeyId::parse(id.to_base64()).unwrap(),
                key: key.to_base64(),
                signature: String::new(),
            };
            k.signature = account.sign(k.signing_bytes(&owner)).to_base64();
            k
        };
        let upload = UploadKeysRequest {
            one_time_keys: account.one_time_keys().into_iter().map(|(i, k)| sign(i, k)).collect(),
            fallback_key: account.fallback_key().into_iter().next().map(|(i, k)| sign(i, k)),
        };
        tap.call(reqwest::Method::POST, "/v1/keys/one-time", &upload).await;
        tap
    }

    async fn call<B: serde::Serialize>(&self, method: reqwest::Method, path: &str, body: &B) {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.session.access_token)
            .json(body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    /// `GET path` with this device's token: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response =
            self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.session.access_token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// `POST path` with this device's token and a JSON body: the status and the JSON answer.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.session.access_token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Open this device's WebSocket and send `frames` (JSON) on it as they are, then close it
    /// (a modified client's frames).
    pub async fn send_frames(&self, frames: &[serde_json::Value]) {
        use futures_util::SinkExt as _;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let url = format!("{}/v1/ws", self.url.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        let bearer = format!("Bearer {}", self.session.access_token).parse().unwrap();
        request.headers_mut().insert("Authorization", bearer);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        for frame in frames {
            socket.send(tokio_tungstenite::tungstenite::Message::text(frame.to_string())).await.unwrap();
        }
        socket.close(None).await.unwrap();
    }

    /// Every entry waiting in this device's inbox (not acknowledged).
    pub async fn inbox(&self) -> Vec<InboxEntry> {
        let request =
            self.http.get(format!("{}/v1/inbox?after=0&limit=500", self.url)).bearer_auth(&self.session.access_token);
        let page: InboxPage = ok_json(request).await;
        page.entries
    }
}

/// Renumber entries with sequence numbers far above anything a real inbox reached, so a client
/// processes them as new deliveries.
pub fn as_new_deliveries(entries: &[InboxEntry], first_seq: u64) -> Vec<InboxEntry> {
    entries.iter().enumerate().map(|(i, e)| InboxEntry { seq: first_seq + i as u64, ..e.clone() }).collect()
}

/// `len` bytes that are easy to find again (`files_containing`) and differ along the file:
/// `<tag>-<counter> ` repeated.
pub fn tagged_bytes(len: usize, tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("{tag}-{i:012} ").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Every file under `dir` (recursively) whose bytes contain one of `needles`.
pub fn files_containing(dir: &Path, needles: &[&str]) -> Vec<(PathBuf, String)> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                for needle in needles {
                    if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                        hits.push((path.clone(), (*needle).to_owned()));
                    }
                }
            }
        }
    }
    hits
}

/// A fingerprint of every file under `dir` (path, length, SHA-256), to prove nothing changed.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, usize, [u8; 32])> {
    use sha2::Digest as _;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes.len(), sha2::Sha256::digest(&bytes).into()));
            }
        }
    }
    out.sort();
    out
}

/// The `sotto` CLI with a profile directory; stdin lines are given per call.
pub struct Cli {
    pub profile: PathBuf,
    pub server: String,
    /// Extra environment (e.g. a broken D-Bus address to simulate a machine without keychain).
    pub env: Vec<(String, String)>,
}

/// What a CLI run produced.
#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        assert!(self.ok, "sotto failed: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
    /// The `[code]` of an error line.
    pub fn error_code(&self) -> String {
        assert!(!self.ok, "expected a failure, got: {}", self.stdout);
        let start = self.stderr.find("error [").unwrap_or_else(|| panic!("no error code in: {}", self.stderr)) + 7;
        self.stderr[start..].split(']').next().unwrap().to_owned()
    }
}

impl Cli {
    pub fn new(server: &Server, profile: PathBuf) -> Cli {
        Cli::at(server.url(), profile)
    }

    /// A profile on the server at `url` (one that is not a [`Server`] of the harness, such as
    /// the app's own).
    pub fn at(url: &str, profile: PathBuf) -> Cli {
        Cli { profile, server: url.to_owned(), env: Vec::new() }
    }

    /// This profile, with `user` registered in it (password [`PASSWORD`], device name "cli").
    pub fn registered(self, user: &str) -> Cli {
        self.run(&["register", user, "--password-stdin", "--device-name", "cli"], &format!("{PASSWORD}\n")).json();
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary("sotto"));
        cmd.arg("--profile").arg(&self.profile).arg("--server").arg(&self.server).args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("SOTTO_") {
                cmd.env_remove(key);
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run to completion with `stdin` as input.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sotto");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub mod desktop;
pub mod window;

/// Every message of every conversation (its first 1,000) that could not be decrypted, with
/// where and why, for assertions that expect none.
pub fn undecryptable(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for c in client.conversations().unwrap() {
        for m in client.messages(&c.id, None, 1000).unwrap() {
            if m.kind == sotto_core::MessageKind::Undecryptable {
                out.push(format!("{} in {}: {:?}", m.message_id, c.id, m.reason));
            }
        }
    }
    out
}

/// A database of its own on the test cluster (`SOTTO_TEST_POSTGRES_URL`, which
/// `scripts/postgres.sh` starts and exports), dropped with this. `url` is its URL.
pub struct PostgresDatabase {
    cluster: tokio_postgres::Config,
    name: String,
    pub url: String,
}

async fn postgres(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

impl PostgresDatabase {
    pub async fn create() -> PostgresDatabase {
        let url = std::env::var("SOTTO_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!("SOTTO_TEST_POSTGRES_URL is not set: start a throwaway cluster with `. scripts/postgres.sh`")
        });
        let cluster: tokio_postgres::Config = url.parse().unwrap();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("sotto_e2e_{}_{nanos}", std::process::id());
        postgres(&cluster).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let (base, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        let url = if query.is_empty() { format!("{server}/{name}") } else { format!("{server}/{name}?{query}") };
        PostgresDatabase { cluster, name, url }
    }

    /// A connection to it (to look at what the server wrote).
    pub async fn client(&self) -> tokio_postgres::Client {
        let mut config = self.cluster.clone();
        config.dbname(&self.name);
        postgres(&config).await
    }

    /// A connection as a role of its own, made for it, with no rights on anything but what
    /// PostgreSQL gives every role (connecting to a database, `NOTIFY`, `LISTEN`), and the
    /// notifications it hears.
    pub async fn stranger(&self) -> (tokio_postgres::Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let role = format!("{}_stranger", self.name);
        self.client().await.batch_execute(&format!("CREATE ROLE {role} LOGIN")).await.unwrap();
        let mut config = self.cluster.clone();
        config.dbname(&self.name).user(&role);
        let (client, mut connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            use futures_util::StreamExt as _;
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let tokio_postgres::AsyncMessage::Notification(n) = message {
                    let _ = tx.send(n.payload().to_owned());
                }
            }
        });
        (client, rx)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (cluster, name) = (self.cluster.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let client = postgres(&cluster).await;
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
                client.batch_execute(&format!("DROP ROLE IF EXISTS {name}_stranger")).await
            })
        })
        .join();
    }
}
