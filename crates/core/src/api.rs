//! The HTTP side of the protocol: one call over the route table of `sotto_proto::routes` (typed
//! path, query, body and answer), the server's `{code, message}` errors turned into
//! [`Error::Server`]. Tokens are passed in; the engine owns refreshing them.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use sotto_proto::ErrorBody;
use sotto_proto::routes::{self, Endpoint};

use crate::network::{NetworkError, ProtocolError};
use crate::tls::{ServerTrust, Tls};
use crate::{Error, Result, ServerUrl};

/// The largest answer read from the server: a backup blob (16 MiB) in base64, with room.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// For blob parts and downloads: no limit on a whole request (a large file takes as long as
    /// it takes), only on each read.
    transfer: reqwest::Client,
    base: String,
    tls: Tls,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).finish_non_exhaustive()
    }
}

impl Api {
    /// `server` is the server's address, such as `http://127.0.0.1:8448`, read as
    /// [`ServerUrl::parse`] reads what people type (the one place server addresses are checked).
    /// Over `https`, the server's certificate must satisfy `trust` ([`crate::tls`]).
    pub fn new(server: &str, trust: ServerTrust) -> Result<Self> {
        let base = ServerUrl::parse(server)?.to_string();
        let tls = Tls::new(trust)?;
        let (connect, limit) = (std::time::Duration::from_secs(10), std::time::Duration::from_secs(60));
        let http = http_client(&tls, connect, Timeout::Request(limit))?;
        let transfer = http_client(&tls, connect, Timeout::EachRead(limit))?;
        Ok(Self { http, transfer, base, tls })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn trust(&self) -> ServerTrust {
        self.tls.trust()
    }

    /// The TLS configuration the WebSocket uses.
    pub(crate) fn tls(&self) -> &Tls {
        &self.tls
    }

    /// The error for a request or socket that failed to connect: the certificate's story when
    /// TLS refused it, otherwise `Offline` with `source`.
    pub(crate) fn offline(&self, source: NetworkError) -> Error {
        self.tls.explain(&self.base, Error::Offline(source))
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
        let body = serde_json::to_vec(body).map_err(|e| Error::Protocol(ProtocolError::Encode(e)))?;
        if body != b"null" {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let resp = req.send().await.map_err(|e| self.offline(NetworkError::http(e)))?;
        let bytes = self.answer::<E>(resp).await?;
        let answer: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(answer)
            .map_err(|source| Error::Protocol(ProtocolError::Answer { route: E::PATH, source }))
    }
}

impl Api {
    /// Upload one part of a blob: `bytes` at `part.offset` (`PutBlobPart`, the API's one raw
    /// request body).
    pub async fn put_blob_part(
        &self,
        token: &str,
        part: &sotto_proto::routes::BlobPart,
        bytes: bytes::Bytes,
    ) -> Result<sotto_proto::BlobUpload> {
        let path = routes::path::<routes::PutBlobPart>(part);
        let resp = self
            .transfer
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| self.offline(NetworkError::http(e)))?;
        let bytes = self.answer::<routes::PutBlobPart>(resp).await?;
        serde_json::from_slice(&bytes)
            .map_err(|source| Error::Protocol(ProtocolError::Answer { route: routes::PutBlobPart::PATH, source }))
    }

    /// Start downloading a blob from byte `from` (`GetBlob` with a `Range`): the answer, whose
    /// body the caller streams. A failure status is the server's error.
    pub async fn get_blob(&self, token: &str, blob_id: &sotto_proto::BlobId, from: u64) -> Result<reqwest::Response> {
        let path = routes::path::<routes::GetBlob>(blob_id);
        let mut req = self.transfer.get(format!("{}{path}", self.base)).bearer_auth(token);
        if from > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let resp = req.send().await.map_err(|e| self.offline(NetworkError::http(e)))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self
            .answer::<routes::GetBlob>(resp)
            .await
            .err()
            .unwrap_or(Error::Protocol(ProtocolError::NoErrorBody(StatusCode::INTERNAL_SERVER_ERROR))))
    }

    /// A JSON answer's bytes (at most [`MAX_RESPONSE_BYTES`]: a broken or hostile server must not
    /// exhaust memory), or the server's error for a failure status (`Offline` for a 5xx without
    /// the protocol's error body, as from a proxy).
    async fn answer<E: Endpoint>(&self, mut resp: reqwest::Response) -> Result<Vec<u8>> {
        let status = resp.status();
        if resp.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(too_large::<E>());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.offline(NetworkError::http(e)))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large::<E>());
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(bytes);
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(Error::Server {
                status: status.as_u16(),
                code: body.code,
                message: body.message,
                devices: body.devices,
                users: body.users,
            }),
            Err(_) if status.is_server_error() => Err(Error::Offline(NetworkError::Status(status))),
            Err(_) => Err(Error::Protocol(ProtocolError::NoErrorBody(status))),
        }
    }
}

/// How long an HTTP exchange may take.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Timeout {
    /// The whole request and answer.
    Request(std::time::Duration),
    /// Each read of the answer (a large file takes as long as it takes).
    EachRead(std::time::Duration),
}

/// The engine's HTTP client: its TLS through `tls`, and timeouts.
pub(crate) fn http_client(
    tls: &Tls,
    connect_timeout: std::time::Duration,
    timeout: Timeout,
) -> Result<reqwest::Client> {
    let builder = reqwest::Client::builder().use_preconfigured_tls(tls.http_config()).connect_timeout(connect_timeout);
    match timeout {
        Timeout::Request(limit) => builder.timeout(limit),
        Timeout::EachRead(limit) => builder.read_timeout(limit),
    }
    .user_agent(concat!("sotto/", env!("CARGO_PKG_VERSION")))
    .build()
    .map_err(|e| Error::Offline(NetworkError::Client(e)))
}

fn too_large<E: Endpoint>() -> Error {
    Error::Protocol(ProtocolError::TooLarge { route: E::PATH, limit_mib: MAX_RESPONSE_BYTES >> 20 })
}

#[cfg(test)]
mod tests {
    //! A hostile or broken server, played by a socket that answers every request with bytes
    //! chosen by the test: what the client makes of each answer.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use sotto_proto::routes::{AckInbox, CountKeys, GetGroup};
    use sotto_proto::{AckRequest, ErrorCode, GroupId};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::network::{NetworkError, ProtocolError};

    /// A server that answers one request with `response`, and hands back the request it read.
    async fn answering(response: Vec<u8>) -> (Api, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = Api::new(&format!("http://{}", listener.local_addr().unwrap()), ServerTrust::System).unwrap();
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as much body as Content-Length says.
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                    if body.len() >= length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            socket.write_all(&response).await.unwrap();
            socket.shutdown().await.unwrap();
            String::from_utf8_lossy(&request).to_string()
        });
        (api, served)
    }

    fn http(status: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn a_route_is_called_at_its_method_and_path_with_its_body() {
        let (api, served) = answering(http("204 No Content", "")).await;
        api.call::<AckInbox>(&(), &(), Some("tok"), &AckRequest { up_to: 7 }).await.unwrap();
        let request = served.await.unwrap();
        assert!(request.starts_with("POST /v1/inbox/ack HTTP/1.1\r\n"), "{request}");
        assert!(request.to_ascii_lowercase().contains("content-type: application/json"), "{request}");
        assert!(request.ends_with(r#"{"up_to":7}"#), "{request}");

        let (api, served) = answering(http("200 OK", r#"{"group_id":"g1"}"#)).await;
        let _ = api.call::<GetGroup>(&GroupId::parse("g1").unwrap(), &(), Some("tok"), &()).await;
        let request = served.await.unwrap();
        assert!(request.starts_with("GET /v1/groups/g1 HTTP/1.1\r\n"), "{request}");
        assert!(!request.to_ascii_lowercase().contains("content-type"), "a GET sends no body: {request}");
    }

    #[tokio::test]
    async fn an_answer_that_is_not_the_routes_type_is_a_protocol_error_naming_the_route() {
        for body in [r#"{"one_time_keys":"many"}"#, "[]", "not json", ""] {
            let (api, _) = answering(http("200 OK", body)).await;
            let err = api.call::<CountKeys>(&(), &(), Some("tok"), &()).await.unwrap_err();
            assert!(
                matches!(&err, Error::Protocol(ProtocolError::Answer { route: "/v1/keys/count", .. })),
                "{body:?}: {err:?}"
            );
            assert_eq!(err.code(), ErrorCode::Protocol);
        }
    }

    #[tokio::test]
    async fn an_oversized_answer_is_refused_before_it_is_read() {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            MAX_RESPONSE_BYTES + 1
        );
        let (api, _) = answering(head.into_bytes()).await;
        let err = api.call::<CountKeys>(&(), &(), Some("tok"), &()).await.unwrap_err();
        assert!(matches!(err, Error::Protocol(ProtocolError::TooLarge { route: "/v1/keys/count", .. })), "{err:?}");
    }

    #[tokio::test]
    async fn failures_without_an_error_body_are_offline_or_protocol_errors() {
        let (api, _) = answering(http("502 Bad Gateway", "<html>proxy</html>")).await;
        let err = api.call::<CountKeys>(&(), &(), Some("tok"), &()).await.unwrap_err();
        assert!(matches!(err, Error::Offline(NetworkError::Status(s)) if s.as_u16() == 502), "{err:?}");
        assert!(err.is_transient());

        let (api, _) = answering(http("418 I'm a teapot", "")).await;
        let err = api.call::<CountKeys>(&(), &(), Some("tok"), &()).await.unwrap_err();
        assert!(matches!(err, Error::Protocol(ProtocolError::NoErrorBody(s)) if s.as_u16() == 418), "{err:?}");
    }

    #[tokio::test]
    async fn the_servers_error_body_passes_its_code_through() {
        let body = r#"{"code":"stale_version","message":"m"}"#;
        let (api, _) = answering(http("409 Conflict", body)).await;
        let err = api.call::<CountKeys>(&(), &(), Some("tok"), &()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::StaleVersion);
    }

    #[test]
    fn server_addresses_are_read_as_people_type_them() {
        assert_eq!(Api::new("127.0.0.1:8448/", ServerTrust::System).unwrap().base(), "http://127.0.0.1:8448");
        assert_eq!(Api::new("chat.example.org", ServerTrust::System).unwrap().base(), "https://chat.example.org");
        assert_eq!(Api::new("ftp://chat.example.org", ServerTrust::System).unwrap_err().code(), ErrorCode::InvalidUrl);
    }
}
