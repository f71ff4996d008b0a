//! Extractors that turn every bad input into an [`AppError`] of the one JSON shape.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, MissingJsonContentType};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use sotto_proto::ErrorCode;

use crate::error::AppError;

/// `axum::Json`, but a rejection becomes `{code: "invalid_json", ...}` (or 413/415), and the
/// body must be a JSON object: serde reads a struct from an array too (`["alice", "password"]`
/// as a login), so without this check every route would also take its fields by position, a
/// second request shape nobody documents, tests or validates with the field names in mind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        // What `axum::Json` does, with the top level checked between reading and parsing.
        if !json_content_type(req.headers()) {
            return Err(JsonRejection::from(MissingJsonContentType::default()).into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(JsonRejection::from)?;
        if let Some(kind) = top_level_not_object(&bytes) {
            return Err(AppError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                format!("The body must be a JSON object (`{{...}}`), not {kind}."),
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Json(value))
    }
}

/// `application/json` or `application/<anything>+json`, parameters allowed: what `axum::Json`
/// accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == "application" && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        })
}

/// What the top level of a valid JSON `body` is when it is not an object (JSON's first
/// non-whitespace byte says it); `None` for an object, and for a body that is not valid JSON,
/// which the parser then refuses with its own words.
fn top_level_not_object(body: &[u8]) -> Option<&'static str> {
    let first = body.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    if *first == b'{' || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return None;
    }
    Some(match first {
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    })
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// The one exception to the JSON-object rule: a raw binary body (`Content-Type:
/// application/octet-stream`) with a declared `Content-Length`, read as a stream (never whole in
/// memory). Only the blob part upload (`PUT /v1/blobs/{blob_id}/parts/{offset}`) takes it: an
/// encrypted attachment is bytes, and base64 in JSON would cost a third more and a copy in memory.
/// Every other route reads [`Json`]. A wrong content type is `unsupported_media_type` (415); a
/// missing length `invalid_input` (411), a length over `MAX` `payload_too_large` (413).
pub struct OctetStream<const MAX: u64> {
    /// The declared `Content-Length`.
    pub len: u64,
    pub body: axum::body::Body,
}

impl<const MAX: u64, S: Send + Sync> FromRequest<S> for OctetStream<MAX> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, AppError> {
        let octets = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<mime::Mime>().ok())
            .is_some_and(|mime| mime.essence_str() == mime::APPLICATION_OCTET_STREAM.essence_str());
        if !octets {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "Send the part's bytes with `Content-Type: application/octet-stream`.",
            ));
        }
        let len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .ok_or_else(|| {
                AppError::new(
                    StatusCode::LENGTH_REQUIRED,
                    ErrorCode::InvalidInput,
                    "Send the part with a `Content-Length`.",
                )
            })?;
        if len > MAX {
            return Err(crate::error::too_large());
        }
        Ok(OctetStream { len, body: req.into_body() })
    }
}

/// `axum::extract::Path` with the same error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` with the same error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

/// The client's address: the TCP peer, or, when the peer is one of the configured trusted
/// proxies (`--trusted-proxy`), the address that proxy reports in `X-Forwarded-For` (or
/// `Forwarded: for=`). Without trusted proxies those headers are ignored: anyone can send them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

impl axum::extract::FromRequestParts<crate::state::AppState> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, AppError> {
        let axum::extract::ConnectInfo(peer) = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .copied()
            .ok_or_else(|| AppError::internal("the connection's peer address is missing"))?;
        Ok(ClientAddr(client_address(peer.ip(), &parts.headers, &state.trusted_proxies)))
    }
}

/// The client address of a request from `peer` with `headers` (see [`ClientAddr`]). The
/// forwarding headers are read from the right, the hop nearest this server first: proxies
/// append, so entries left of the first untrusted hop could have been written by the client
/// itself. If the chain is all trusted proxies, the leftmost is the client; an entry that is not
/// an address ends the walk at the last trusted hop seen.
pub fn client_address(peer: std::net::IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_for(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = hop else { break };
        client = *ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// The addresses a request was forwarded for, oldest first: `X-Forwarded-For` when present,
/// else the `for=` of `Forwarded` (RFC 7239). An entry that is not an IP address (`unknown`, an
/// obfuscated name, garbage) is `None`.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<std::net::IpAddr>> {
    let xff: Vec<Option<std::net::IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().map_or(vec![None], |v| v.split(',').map(parse_node).collect()))
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all(header::FORWARDED)
        .iter()
        .flat_map(|value| {
            value.to_str().map_or(vec![None], |v| {
                v.split(',')
                    .map(|element| {
                        element
                            .split(';')
                            .filter_map(|pair| pair.split_once('='))
                            .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                            .and_then(|(_, node)| parse_node(node))
                    })
                    .collect()
            })
        })
        .collect()
}

/// One node of a forwarding header: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `"[2001:db8::1]:4711"`.
fn parse_node(node: &str) -> Option<std::net::IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).and_then(|ip| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_address(ip("192.0.2.7"), &h, &trusted), ip("192.0.2.7"), "the peer is not a trusted proxy");
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_entries_on_the_left_do_not_count() {
        let trusted = ["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.9")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Two proxies: the client is the first untrusted hop from the right.
        let h = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Several header lines are one list, in order.
        let h = headers(&[("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(client_address(ip("127.0.0.1"), &HeaderMap::new(), &trusted), ip("127.0.0.1"));
        // Garbage ends the walk at the last trusted hop.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, not-an-ip")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_for_is_read_when_there_is_no_x_forwarded_for() {
        let trusted = ["::1/128".parse().unwrap()];
        let h = headers(&[("forwarded", r#"for=198.51.100.1;proto=https, for="[2001:db8:cafe::17]:4711";by=x"#)]);
        assert_eq!(client_address(ip("::1"), &h, &trusted), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=192.0.2.60:8080")]);
        assert_eq!(client_address(ip("::1"), &h, &trusted), ip("192.0.2.60"));
    }
}
