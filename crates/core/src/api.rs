//! The HTTP side of the protocol: one call over the route table of `sotto_proto::routes` (typed
//! path, query, body and answer), the
//! server's `{code, message}` errors turned into [`Error::Server`]. Tokens are passed in; the
//! engine owns refreshing them.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use sotto_proto::ErrorBody;
use sotto_proto::routes::{self, Endpoint};

use crate::network::{NetworkError, ProtocolError};
use crate::{Error, Result};

/// The largest answer read from the server: a backup blob (16 MiB) in base64, with room.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).finish_non_exhaustive()
    }
}

impl Api {
    /// `server` is the server's base URL, such as `http://127.0.0.1:8448`.
    pub fn new(server: &str) -> Result<Self> {
        let base = server.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| {
            Error::InvalidInput(format!("{server:?} is not a server address such as https://chat.example.org"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::InvalidInput("The server address must start with http:// or https://.".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .user_agent(concat!("sotto/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Offline(NetworkError::Client(e)))?;
        Ok(Self { http, base })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The WebSocket URL of the server.
    pub fn ws_url(&self) -> String {
        let rest = self.base.strip_prefix("https://").map(|r| format!("wss://{r}"));
        rest.unwrap_or_else(|| self.base.replacen("http://", "ws://", 1)) + routes::Connect::PATH
    }

    /// Call the route `E`: its path filled with `params`, `query` as its query string, `body` as
    /// its JSON body (`()` sends none). An empty answer (204) reads as JSON `null`, which is what
    /// `()` answers are; any other type then fails as a protocol error.
    pub async fn call<E: Endpoint>(
        &self,
        params: &E::Params,
        query: &E::Query,
        token: Option<&str>,
        body: &E::Request,
    ) -> Result<E::Response> {
        self.call_as::<E, E::Response>(params, query, token, body).await
    }

    /// Like [`Api::call`], reading the answer as `T`: a more tolerant view of `E::Response` (the
    /// inbox is read entry by entry, so one entry this version cannot read does not lose the page).
    pub async fn call_as<E: Endpoint, T: DeserializeOwned>(
        &self,
        params: &E::Params,
        query: &E::Query,
        token: Option<&str>,
        body: &E::Request,
    ) -> Result<T> {
        let path = routes::path::<E>(params);
        let method = match E::METHOD {
            routes::Method::Get => Method::GET,
            routes::Method::Post => Method::POST,
            routes::Method::Put => Method::PUT,
            routes::Method::Delete => Method::DELETE,
        };
        let mut req = self.http.request(method, format!("{}{path}", self.base)).query(query);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        // `()` serializes as `null`: no body. No request type of the protocol is ever `null`.
        let body = serde_json::to_vec(body).map_err(|e| Error::InvalidInput(e.to_string()))?;
        if body != b"null" {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let mut resp = req.send().await.map_err(|e| Error::Offline(NetworkError::http(e)))?;
        let status = resp.status();
        // Read at most MAX_RESPONSE_BYTES: a broken or hostile server must not exhaust memory.
        if resp.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(too_large::<E>());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| Error::Offline(NetworkError::http(e)))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large::<E>());
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            let answer: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(answer)
                .map_err(|source| Error::Protocol(ProtocolError::Answer { route: E::PATH, source }));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(Error::Server {
                status: status.as_u16(),
                code: body.code,
                message: body.message,
                devices: body.devices,
            }),
            Err(_) if status.is_server_error() || status == StatusCode::BAD_GATEWAY => {
                Err(Error::Offline(NetworkError::Status(status)))
            }
            Err(_) => Err(Error::Protocol(ProtocolError::NoErrorBody(status))),
        }
    }
}

fn too_large<E: Endpoint>() -> Error {
    Error::Protocol(ProtocolError::TooLarge { route: E::PATH, limit_mib: MAX_RESPONSE_BYTES >> 20 })
}
