//! Who is calling: access tokens (EdDSA JWTs), refresh tokens, and the
//! [`Authenticated`] extractor every protected route takes.
//!
//! Invariants: passwords and refresh tokens are stored only as hashes (argon2id and SHA-256); the
//! signing key lives in the data directory with mode 0600 and never leaves the process; a token of
//! a deleted device stops working at once, even before it expires.

use std::path::Path;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sha2::{Digest, Sha256};
use sotto_proto::{AccessClaims, DeviceAddress, DeviceId, ErrorCode, Jwk, Jwks, UserId};

use crate::clock::Clock;
use crate::config::DEFAULT_TOKEN_LEEWAY_SECS;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const SIGNING_KEY_FILE: &str = "jwt-signing-key.pem";
/// The key before the last rotation: its tokens are still accepted (until they expire) and its
/// public half is still in the JWKS, but nothing is signed with it. See [`TokenIssuer::verify`].
pub const PREVIOUS_KEY_FILE: &str = "jwt-previous-signing-key.pem";

/// A verifying key with its `kid` (the first 8 bytes of the SHA-256 of the public key, base64url).
struct VerifyingKey {
    kid: String,
    decoding: DecodingKey,
    public_x: String,
}

impl VerifyingKey {
    fn of(key: &SigningKey) -> VerifyingKey {
        let public = key.verifying_key().to_bytes();
        let digest = Sha256::digest(public);
        VerifyingKey {
            kid: URL_SAFE_NO_PAD.encode(digest.get(..8).unwrap_or(&digest[..])),
            decoding: DecodingKey::from_ed_der(&public),
            public_x: URL_SAFE_NO_PAD.encode(public),
        }
    }

    fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: self.public_x.clone(),
            kid: self.kid.clone(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
        }
    }
}

/// Signs and verifies access tokens with the server's Ed25519 key.
pub struct TokenIssuer {
    issuer: String,
    encoding: EncodingKey,
    /// The key tokens are signed with.
    current: VerifyingKey,
    /// The key before the last rotation, still accepted.
    previous: Option<VerifyingKey>,
    ttl: Duration,
    /// Clock skew tolerated past a token's `exp`, in seconds.
    leeway_secs: u64,
    /// The time `iat`, `exp` and the revocation horizon are read from.
    clock: Clock,
    /// Tokens whose signature already verified, with their device and expiry: a token is an
    /// immutable string, so its signature needs checking once, not on every request.
    verified: std::sync::Mutex<std::collections::HashMap<String, (DeviceAddress, u64, u64)>>,
    /// Devices signed in again (restored from a backup) or signed out after a refresh token
    /// replay, with the first `iat` (seconds) their access tokens may have: every token issued
    /// before has a smaller one. Tokens issued for such a device carry at least that `iat` (up
    /// to one second ahead of the clock), so an earlier token and a later one never coincide.
    /// The store keeps the same times (`devices.tokens_since`), read back at start
    /// ([`TokenIssuer::load_revocations`]); here they are kept for one token lifetime, after
    /// which the earlier tokens have expired anyway.
    revoked: std::sync::Mutex<std::collections::HashMap<DeviceAddress, u64>>,
    /// The other nodes, when there are any (revocations go to them).
    pub bus: crate::bus::BusSlot,
    /// Keys for the bus between nodes, derived from the signing key and the previous one (see
    /// [`TokenIssuer::bus_keys`]).
    bus_keys: Vec<[u8; 32]>,
}

/// The key that authenticates the bus's events, derived from a token signing key (HKDF-SHA256):
/// a node that has the signing key has it, and nothing the database holds gives it.
fn bus_key(key: &SigningKey) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(b"sotto bus"), key.as_bytes()).expand(b"notifications v1", &mut out).ok()?;
    Some(out)
}

/// Verified tokens remembered; past this the memory starts over.
const MAX_VERIFIED_TOKENS: usize = 50_000;
/// Clock skew tolerated on the `exp` of an external issuer's tokens (another machine's clock),
/// in seconds.
const EXTERNAL_LEEWAY_SECS: u64 = DEFAULT_TOKEN_LEEWAY_SECS;

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.current.kid)
            .field("previous_kid", &self.previous.as_ref().map(|k| &k.kid))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or write the signing key at {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the signing key at {path} is not a valid Ed25519 PKCS#8 PEM key")]
    Invalid { path: String },
}

impl TokenIssuer {
    /// Loads the signing key from `data_dir`, creating it on first start, and the previous one if
    /// it is there ([`PREVIOUS_KEY_FILE`]). Tokens are read against
    /// the system clock with [`DEFAULT_TOKEN_LEEWAY_SECS`] of skew unless set otherwise
    /// ([`TokenIssuer::with_leeway`], [`TokenIssuer::with_clock`]).
    pub fn load_or_create(data_dir: &Path, issuer: String, ttl: Duration) -> Result<Self, KeyFileError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let shown = path.display().to_string();
        crate::private::tighten_file(&path).map_err(|source| KeyFileError::Io { path: shown.clone(), source })?;
        let key = match std::fs::read_to_string(&path) {
            Ok(pem) => SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyFileError::Invalid { path: shown.clone() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SigningKey::generate(&mut rand_core::OsRng);
                let pem = key
                    .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                    .map_err(|_| KeyFileError::Invalid { path: shown.clone() })?;
                match write_private_file(&path, pem.as_bytes()) {
                    Ok(()) => {
                        tracing::info!(path = %shown, "created a new token signing key");
                        key
                    }
                    // Another node on the same data directory made it first: use that one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let pem = std::fs::read_to_string(&path)
                            .map_err(|source| KeyFileError::Io { path: shown.clone(), source })?;
                        SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyFileError::Invalid { path: shown.clone() })?
                    }
                    Err(source) => return Err(KeyFileError::Io { path: shown.clone(), source }),
                }
            }
            Err(source) => return Err(KeyFileError::Io { path: shown, source }),
        };
        let der = key.to_pkcs8_der().map_err(|_| KeyFileError::Invalid { path: shown.clone() })?;
        let previous_path = data_dir.join(PREVIOUS_KEY_FILE);
        let previous_shown = previous_path.display().to_string();
        crate::private::tighten_file(&previous_path)
            .map_err(|source| KeyFileError::Io { path: previous_shown.clone(), source })?;
        let previous = match std::fs::read_to_string(&previous_path) {
            Ok(pem) => Some(
                SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyFileError::Invalid { path: previous_shown.clone() })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(KeyFileError::Io { path: previous_shown, source }),
        };
        let previous_key = previous.filter(|p| p.verifying_key() != key.verifying_key());
        let bus_keys = std::iter::once(&key).chain(previous_key.as_ref()).filter_map(bus_key).collect();
        let previous = previous_key.as_ref().map(VerifyingKey::of);
        let current = VerifyingKey::of(&key);
        if let Some(previous) = &previous {
            tracing::info!(kid = %current.kid, previous_kid = %previous.kid, "tokens of the previous signing key are still accepted");
        }
        Ok(TokenIssuer {
            issuer,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            previous,
            current,
            ttl,
            leeway_secs: DEFAULT_TOKEN_LEEWAY_SECS,
            clock: Clock::system(),
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
            revoked: std::sync::Mutex::new(std::collections::HashMap::new()),
            bus: crate::bus::BusSlot::new(),
            bus_keys,
        })
    }

    /// The keys that authenticate the events nodes send each other on the bus: one derived from
    /// the signing key, then one from the previous key if there is one. A node seals what it
    /// sends with each and accepts what carries a seal of any, so nodes accept each other's
    /// events exactly when they share a key, as they accept each other's tokens — a rotation
    /// rolling over the nodes included. Whoever can only reach the database has none.
    pub fn bus_keys(&self) -> &[[u8; 32]] {
        &self.bus_keys
    }

    /// Accept a token up to `leeway` (whole seconds) past its `exp`: the skew allowed between
    /// this server's clock and its clients'.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = leeway.as_secs();
        self
    }

    /// Read the time from `clock` (tests move a manual one).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, device: &DeviceAddress) -> AppResult<String> {
        let now = self.clock.unix_secs();
        let since = self.revoked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(device).copied();
        let iat = since.map_or(now, |since| since.max(now));
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: device.user_id.to_string(),
            dev: device.device_id.to_string(),
            iat,
            exp: iat + self.ttl.as_secs(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.current.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| AppError::internal(format!("signing a token: {e}")))
    }

    /// The `iat` from which a device's tokens count when every earlier one is revoked now:
    /// tokens issued in this very second are earlier ones, so the next token starts a second on.
    pub fn revocation_point(&self) -> u64 {
        self.clock.unix_secs() + 1
    }

    /// The oldest `iat` a token that has not expired can have: revocations before it no longer
    /// matter.
    pub fn revocation_horizon(&self) -> u64 {
        self.clock.unix_secs().saturating_sub(self.ttl.as_secs().saturating_add(self.leeway_secs))
    }

    /// Refuse every access token of `device` issued before `since` (seconds; see
    /// [`TokenIssuer::revocation_point`]); tokens issued from then on work. Other nodes are told.
    pub fn revoke_before(&self, device: &DeviceAddress, since: u64) {
        self.record_revocation(device, since);
        crate::bus::publish(&self.bus, crate::bus::BusEvent::Revoked { device: device.clone(), since });
    }

    /// [`TokenIssuer::revoke_before`] here only (from the store, or another node).
    pub fn record_revocation(&self, device: &DeviceAddress, since: u64) {
        let horizon = self.revocation_horizon();
        let mut revoked = self.revoked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        revoked.retain(|_, at| *at >= horizon);
        let at = revoked.entry(device.clone()).or_insert(since);
        *at = (*at).max(since);
    }

    /// Take the revocations the store kept (at start, so a restart brings no token back).
    pub fn load_revocations(&self, revocations: Vec<(DeviceAddress, u64)>) {
        for (device, since) in revocations {
            self.record_revocation(&device, since);
        }
    }

    fn check_not_revoked(&self, device: &DeviceAddress, iat: u64) -> AppResult<()> {
        let revoked = self.revoked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match revoked.get(device) {
            Some(since) if iat < *since => {
                Err(AppError::unauthorized("This device was signed in again elsewhere; sign in again."))
            }
            _ => Ok(()),
        }
    }

    /// Verifies signature, issuer and expiry; returns the device the token names.
    pub fn verify(&self, token: &str) -> AppResult<DeviceAddress> {
        let now = self.clock.unix_secs();
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match verified.get(token) {
            Some((device, iat, exp)) if !self.expired(*exp, now) => {
                let (device, iat) = (device.clone(), *iat);
                drop(verified);
                self.check_not_revoked(&device, iat)?;
                return Ok(device);
            }
            Some(_) => {
                verified.remove(token);
            }
            None => {}
        }
        drop(verified);
        let (device, iat, exp) = self.verify_signed(token)?;
        if self.expired(exp, now) {
            return Err(token_expired());
        }
        self.check_not_revoked(&device, iat)?;
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= MAX_VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(token.to_owned(), (device.clone(), iat, exp));
        Ok(device)
    }

    /// Whether a token with this `exp` is refused at `now` (both in seconds).
    fn expired(&self, exp: u64, now: u64) -> bool {
        now > exp.saturating_add(self.leeway_secs)
    }

    /// Verifies signature and issuer; the caller checks `exp` against [`Self::clock`] (the
    /// library would read the system clock). The key is the one the token's `kid` names: this
    /// server's, or the previous one. A token of a key this server does not have (one rotated
    /// out, or another node's while a rotation rolls over the nodes) is answered like an expired
    /// one: the client refreshes (refresh tokens are kept in the database, not signed) and goes
    /// on with a token of the current key, rather than being signed out. That grants nothing:
    /// refreshing needs the refresh token. Any other token (another issuer's) is invalid.
    fn verify_signed(&self, token: &str) -> AppResult<(DeviceAddress, u64, u64)> {
        let invalid = || AppError::unauthorized("The access token is not valid.");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let kid = header.kid.ok_or_else(invalid)?;
        let Some(key) = std::iter::once(&self.current).chain(&self.previous).find(|k| k.kid == kid) else {
            // Only a token that says it is this server's (unverified: it only picks the answer).
            return Err(if self.claims_our_issuer(token) {
                AppError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::TokenExpired,
                    "The access token was signed with a key this server no longer uses; refresh it.",
                )
            } else {
                invalid()
            });
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation).map_err(|_| invalid())?;
        let user_id =
            UserId::parse(data.claims.sub).map_err(|_| AppError::unauthorized("The access token is not valid."))?;
        let device_id =
            DeviceId::parse(data.claims.dev).map_err(|_| AppError::unauthorized("The access token is not valid."))?;
        Ok((DeviceAddress { user_id, device_id }, data.claims.iat, data.claims.exp))
    }

    /// Whether `token`'s claims (not verified) name this server as their issuer.
    fn claims_our_issuer(&self, token: &str) -> bool {
        #[derive(serde::Deserialize)]
        struct Issuer {
            iss: String,
        }
        token
            .split('.')
            .nth(1)
            .and_then(|claims| URL_SAFE_NO_PAD.decode(claims).ok())
            .and_then(|json| serde_json::from_slice::<Issuer>(&json).ok())
            .is_some_and(|claims| claims.iss == self.issuer)
    }

    /// The current key, then the previous one if there is one.
    pub fn jwks(&self) -> Jwks {
        Jwks { keys: std::iter::once(&self.current).chain(&self.previous).map(VerifyingKey::jwk).collect() }
    }
}

/// An integrator's own backend whose Ed25519-signed JWTs may be exchanged for a Sotto session
/// (`POST /v1/sessions/external`), as in the seed's JWT flow: the backend vouches for the user id
/// in `sub`; Sotto then issues its own tokens for a new device.
#[derive(Clone)]
pub struct ExternalIssuer {
    pub issuer: String,
    decoding: DecodingKey,
    /// Each token must carry a `jti` and signs in once ([`ExternalIssuer::single_use`]).
    pub single_use: bool,
}

/// What a verified external token says.
#[derive(Debug, Clone)]
pub struct ExternalToken {
    pub user_id: UserId,
    /// The token's id, if it has one (required when the issuer is single-use).
    pub jti: Option<String>,
    /// Its expiry, Unix seconds.
    pub exp: u64,
}

/// The longest `jti` taken (the store keeps each until its token expires).
pub const MAX_JTI_CHARS: usize = 256;

impl std::fmt::Debug for ExternalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIssuer").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// Claims Sotto reads from an external token.
#[derive(Debug, serde::Deserialize)]
struct ExternalClaims {
    sub: String,
    exp: u64,
    #[serde(default)]
    jti: Option<String>,
}

impl ExternalIssuer {
    /// `pem` is the issuer's Ed25519 public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub fn from_pem(issuer: String, pem: &str) -> Result<Self, KeyFileError> {
        use ed25519_dalek::pkcs8::DecodePublicKey;
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map_err(|_| KeyFileError::Invalid { path: "the external issuer's public key".into() })?;
        Ok(ExternalIssuer { issuer, decoding: DecodingKey::from_ed_der(key.as_bytes()), single_use: false })
    }

    /// Require a `jti` in every token and accept each one once (until it expires): a copied
    /// token cannot sign in a second device.
    pub fn single_use(mut self) -> Self {
        self.single_use = true;
        self
    }

    /// Verifies signature, issuer and expiry (against `clock`, with
    /// [`DEFAULT_TOKEN_LEEWAY_SECS`] of skew), and a `jti` when single-use; returns the user id
    /// the issuer vouches for, with the token's id and expiry. Spending the `jti` is the
    /// caller's (it needs the store).
    pub fn verify(&self, token: &str, clock: &Clock) -> AppResult<ExternalToken> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<ExternalClaims>(token, &self.decoding, &validation)
            .map_err(|_| AppError::unauthorized("The external token is not valid for this server."))?;
        if clock.unix_secs() > data.claims.exp.saturating_add(EXTERNAL_LEEWAY_SECS) {
            return Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::TokenExpired,
                "The external token has expired.",
            ));
        }
        let user_id = UserId::parse(data.claims.sub)
            .map_err(|e| AppError::invalid_input(format!("The external token's `sub` is an {e}.")))?;
        let jti = data.claims.jti.filter(|j| !j.is_empty());
        if let Some(jti) = &jti
            && jti.chars().count() > MAX_JTI_CHARS
        {
            return Err(AppError::invalid_input(format!(
                "The external token's `jti` is longer than {MAX_JTI_CHARS} characters."
            )));
        }
        if self.single_use && jti.is_none() {
            return Err(AppError::unauthorized(
                "This server accepts each external token once, so the token must carry a `jti` claim.",
            ));
        }
        Ok(ExternalToken { user_id, jti, exp: data.claims.exp.saturating_add(EXTERNAL_LEEWAY_SECS) })
    }
}

/// Writes `bytes` to a new file at `path`, owner-only, whole or not at all: the bytes go to a
/// temporary file that is then linked at `path`, so a node reading `path` never sees it half
/// written, and `AlreadyExists` says another process made it first.
fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(std::io::Error::other)?;
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{:016x}.tmp", u64::from_le_bytes(random)));
    let temporary = std::path::PathBuf::from(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    linked
}

fn token_expired() -> AppError {
    AppError::new(StatusCode::UNAUTHORIZED, ErrorCode::TokenExpired, "The access token has expired; refresh it.")
}

pub use crate::passwords::NO_PASSWORD;

/// A new random refresh token (256 bits, base64url) and the hash the store keeps.
pub fn new_refresh_token() -> AppResult<(String, Vec<u8>)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::internal(format!("random source: {e}")))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    Ok((token, hash))
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A random id of `len` characters from `[A-Za-z0-9]` (device and group ids).
pub fn random_id(len: usize) -> AppResult<String> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| AppError::internal(format!("random source: {e}")))?;
        // Bytes >= 248 (= 4 * 62) are skipped so every character is equally likely.
        for c in buf.iter().filter(|&&b| b < 248).filter_map(|&b| ALPHABET.get(usize::from(b % 62))) {
            if out.len() < len {
                out.push(char::from(*c));
            }
        }
    }
    Ok(out)
}

/// The device making an authenticated request. Extracting it verifies the bearer token, checks
/// that the device still exists, and then applies the account's rate limit: a token of a device
/// that is gone (signed out, removed) is refused without spending the account's budget.
#[derive(Debug, Clone)]
pub struct Authenticated(pub DeviceAddress);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let device = state.tokens.verify(token)?;
        if !state.devices.device_exists(&device).await? {
            return Err(AppError::unauthorized("This device has been signed out."));
        }
        state.limits.check_account(&device.user_id)?;
        Ok(Authenticated(device))
    }
}

fn bearer_token(parts: &Parts) -> AppResult<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
        AppError::unauthorized("Sign in first: this route needs `Authorization: Bearer <access token>`.")
    })?;
    let value = value.to_str().map_err(|_| AppError::unauthorized("The Authorization header is not valid."))?;
    // The scheme is case-insensitive (RFC 7235, section 2.1).
    value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::unauthorized("The Authorization header must be `Bearer <access token>`."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_alphanumeric() {
        let id = random_id(20).unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(random_id(20).unwrap(), id);
    }

    use crate::clock::ManualClock;

    fn alice() -> DeviceAddress {
        DeviceAddress { user_id: UserId::parse("alice").unwrap(), device_id: DeviceId::parse("D1").unwrap() }
    }

    /// The error code of a refusal (every token refusal is a client error).
    fn refusal(result: AppResult<DeviceAddress>) -> ErrorCode {
        match result {
            Err(AppError::Client { status: StatusCode::UNAUTHORIZED, code, .. }) => code,
            other => panic!("expected a 401, got {other:?}"),
        }
    }

    /// An issuer over `dir` reading `clock`: another instance over the same key file has no
    /// memory of verified tokens, so it checks the signature and `exp` from scratch.
    fn issuer_at(dir: &Path, clock: &ManualClock, ttl_secs: u64, leeway_secs: u64) -> TokenIssuer {
        TokenIssuer::load_or_create(dir, "test".into(), Duration::from_secs(ttl_secs))
            .unwrap()
            .with_leeway(Duration::from_secs(leeway_secs))
            .with_clock(clock.clock())
    }

    #[test]
    fn a_token_expires_by_the_servers_clock_after_the_leeway() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let issuer = issuer_at(dir.path(), &clock, 60, 5);
        let token = issuer.issue(&alice()).unwrap();
        assert_eq!(issuer.verify(&token).unwrap(), alice());
        // Past `exp` but within the leeway: still accepted, remembered or not.
        clock.advance(Duration::from_secs(65));
        assert_eq!(issuer.verify(&token).unwrap(), alice());
        assert_eq!(issuer_at(dir.path(), &clock, 60, 5).verify(&token).unwrap(), alice());
        // One second more: refused as expired, also by the issuer that had verified it before.
        clock.advance(Duration::from_secs(1));
        assert_eq!(refusal(issuer.verify(&token)), ErrorCode::TokenExpired);
        assert_eq!(refusal(issuer_at(dir.path(), &clock, 60, 5).verify(&token)), ErrorCode::TokenExpired);
        // A token issued now works: expiry is the token's, not the issuer's.
        let fresh = issuer.issue(&alice()).unwrap();
        assert_eq!(issuer.verify(&fresh).unwrap(), alice());
    }

    #[test]
    fn with_no_leeway_a_one_second_token_is_refused_once_its_second_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        // Issued 900 ms into a second: `exp` is the next whole second.
        let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_900));
        let issuer = issuer_at(dir.path(), &clock, 1, 0);
        let token = issuer.issue(&alice()).unwrap();
        clock.advance(Duration::from_millis(1_099));
        assert_eq!(issuer.verify(&token).unwrap(), alice(), "still within its `exp` second");
        clock.advance(Duration::from_millis(1));
        assert_eq!(refusal(issuer.verify(&token)), ErrorCode::TokenExpired);
    }

    #[test]
    fn revocation_is_read_against_the_same_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let issuer = issuer_at(dir.path(), &clock, 60, 0);
        let earlier = issuer.issue(&alice()).unwrap();
        issuer.revoke_before(&alice(), issuer.revocation_point());
        assert_eq!(refusal(issuer.verify(&earlier)), ErrorCode::Unauthorized);
        // A revocation read back from the store (an earlier time) never moves it back.
        issuer.load_revocations(vec![(alice(), 1_600_000_000)]);
        assert_eq!(refusal(issuer.verify(&earlier)), ErrorCode::Unauthorized);
        // The next token is dated a second on, ahead of the clock, and works at once.
        let later = issuer.issue(&alice()).unwrap();
        assert_eq!(issuer.verify(&later).unwrap(), alice());
        // It still expires `ttl` after its own date: accepted up to 61 s from now, not after.
        clock.advance(Duration::from_secs(61));
        assert_eq!(issuer.verify(&later).unwrap(), alice());
        clock.advance(Duration::from_secs(1));
        assert_eq!(refusal(issuer.verify(&later)), ErrorCode::TokenExpired);
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = TokenIssuer::load_or_create(dir.path(), "test".into(), Duration::from_secs(60)).unwrap();
        let device =
            DeviceAddress { user_id: UserId::parse("alice").unwrap(), device_id: DeviceId::parse("D1").unwrap() };
        let token = issuer.issue(&device).unwrap();
        assert_eq!(issuer.verify(&token).unwrap(), device);
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(issuer.verify(&forged).is_err());
        // Same key after a reload; a different data dir means a different key.
        let again = TokenIssuer::load_or_create(dir.path(), "test".into(), Duration::from_secs(60)).unwrap();
        assert_eq!(again.verify(&token).unwrap(), device);
        let other_dir = tempfile::tempdir().unwrap();
        let other = TokenIssuer::load_or_create(other_dir.path(), "test".into(), Duration::from_secs(60)).unwrap();
        assert!(other.verify(&token).is_err());
        // So are the bus's keys: the same after a reload, another with another key.
        assert_eq!(again.bus_keys(), issuer.bus_keys());
        assert_ne!(other.bus_keys(), issuer.bus_keys());
    }

    /// Nodes starting at once on one (shared) data directory without a key: one creates it, the
    /// others read that one, whole, and they all sign with the same key; no temporary file stays.
    #[test]
    fn nodes_starting_together_share_the_key_one_of_them_created() {
        let dir = tempfile::tempdir().unwrap();
        let kids: Vec<String> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        TokenIssuer::load_or_create(dir.path(), "test".into(), Duration::from_secs(60))
                            .unwrap()
                            .current
                            .kid
                    })
                })
                .collect();
            starts.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, [std::ffi::OsString::from(SIGNING_KEY_FILE)]);
    }

    fn signing_key_in(dir: &tempfile::TempDir) -> SigningKey {
        SigningKey::from_pkcs8_pem(&std::fs::read_to_string(dir.path().join(SIGNING_KEY_FILE)).unwrap()).unwrap()
    }

    /// A rotation: the old key moves to the previous key's file and a new one takes its place.
    /// Tokens of either are accepted, new ones are signed with the new key, both are in the
    /// JWKS; a token of a key the server does not have asks for a refresh; a forged signature
    /// under a known `kid` is still invalid.
    #[test]
    fn a_rotated_key_is_still_accepted_and_an_unknown_one_asks_for_a_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let before = TokenIssuer::load_or_create(dir.path(), "test".into(), Duration::from_secs(60)).unwrap();
        let old_token = before.issue(&alice()).unwrap();
        std::fs::rename(dir.path().join(SIGNING_KEY_FILE), dir.path().join(PREVIOUS_KEY_FILE)).unwrap();
        let after = TokenIssuer::load_or_create(dir.path(), "test".into(), Duration::from_secs(60)).unwrap();
        assert_eq!(after.verify(&old_token).unwrap(), alice());
        let new_token = after.issue(&alice()).unwrap();
        assert_eq!(after.verify(&new_token).unwrap(), alice());
        let kids: Vec<String> = after.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, [after.current.kid.clone(), before.current.kid.clone()]);
        assert_ne!(kids[0], kids[1]);
        // A node that has not rotated yet: the new key's token asks for a refresh.
        assert_eq!(refusal(before.verify(&new_token)), ErrorCode::TokenExpired);
        // The bus's keys follow: the new key's, then the old one's, which the node that has not
        // rotated shares; each is 32 bytes derived from its key, never the key itself.
        assert_eq!(before.bus_keys().len(), 1);
        assert_eq!(after.bus_keys(), [bus_key(&signing_key_in(&dir)).unwrap(), before.bus_keys()[0]]);
        assert_ne!(after.bus_keys()[0], before.bus_keys()[0]);
        assert_ne!(after.bus_keys()[0], signing_key_in(&dir).to_bytes());
        // The previous key's file gone: its tokens ask for a refresh too.
        std::fs::remove_file(dir.path().join(PREVIOUS_KEY_FILE)).unwrap();
        let later = TokenIssuer::load_or_create(dir.path(), "test".into(), Duration::from_secs(60)).unwrap();
        assert_eq!(refusal(later.verify(&old_token)), ErrorCode::TokenExpired);
        assert_eq!(later.jwks().keys.len(), 1);
        assert_eq!(later.bus_keys(), &after.bus_keys()[..1]);
        // A known kid with a signature that does not verify, and no kid at all, are invalid.
        let mut forged = new_token.clone();
        forged.pop();
        forged.push(if new_token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(refusal(later.verify(&forged)), ErrorCode::Unauthorized);
        let claims =
            AccessClaims { iss: "test".into(), sub: "alice".into(), dev: "D1".into(), iat: 1, exp: u64::MAX / 2 };
        let key =
            SigningKey::from_pkcs8_pem(&std::fs::read_to_string(dir.path().join(SIGNING_KEY_FILE)).unwrap()).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let no_kid =
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &EncodingKey::from_ed_der(der.as_bytes()))
                .unwrap();
        assert_eq!(refusal(later.verify(&no_kid)), ErrorCode::Unauthorized);
    }
}
