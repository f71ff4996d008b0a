//! Why talking to the server failed, keeping the underlying error as the `source`: the connection
//! ([`NetworkError`], the engine's `Error::Offline`) or an answer outside the protocol
//! ([`ProtocolError`], `Error::Protocol`). Neither ever holds a URL's query, a header or a token.

use reqwest::StatusCode;
use tokio_tungstenite::tungstenite;

/// The server could not be reached, or the connection broke; what was being sent stays queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// An HTTP request got no (complete) answer. The error holds no URL (see [`NetworkError::http`]).
    #[error("{}", describe(.0))]
    Http(#[source] reqwest::Error),
    /// The HTTP client could not be set up (its TLS backend failed to load).
    #[error("the HTTP client could not start")]
    Client(#[source] reqwest::Error),
    /// The live connection (WebSocket) failed to open or broke.
    #[error("the live connection broke")]
    Socket(#[source] Box<tungstenite::Error>),
    /// The server, or a proxy in front of it, answered with a failure and no error body.
    #[error("the server answered {0}")]
    Status(StatusCode),
}

impl NetworkError {
    /// An HTTP failure, with the URL (and its query) taken out of the error.
    pub(crate) fn http(e: reqwest::Error) -> Self {
        NetworkError::Http(e.without_url())
    }

    pub(crate) fn socket(e: tungstenite::Error) -> Self {
        NetworkError::Socket(Box::new(e))
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused or host unreachable".into()
    } else if e.is_timeout() {
        "the request timed out".into()
    } else {
        e.to_string()
    }
}

/// The server's answer is not what the protocol says.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An answer larger than any the protocol has.
    #[error("{route} answered with more than {limit_mib} MiB")]
    TooLarge { route: &'static str, limit_mib: usize },
    /// An answer that is not the route's documented answer type.
    #[error("{route} answered with something other than its documented answer")]
    Answer {
        route: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A failure status without the protocol's `{code, message}` body.
    #[error("the server answered {0} without an error body")]
    NoErrorBody(StatusCode),
    /// The access token cannot be sent as a header (the server issued something that is not one).
    #[error("the access token is not a valid header")]
    TokenHeader,
    /// The server took a part of a file and says it holds another amount than it should.
    #[error("the server says it holds {answered} bytes of the file, not {expected}")]
    BlobOffset { expected: u64, answered: u64 },
    /// A request body or frame to send could not be encoded.
    #[error("a request or frame could not be encoded")]
    Encode(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::error::Error as _;

    use super::*;

    #[tokio::test]
    async fn a_refused_connection_says_so_and_keeps_its_source_without_the_url() {
        // A port nothing listens on: bind one, learn it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = reqwest::get(format!("http://127.0.0.1:{port}/v1/inbox?after=7")).await.unwrap_err();
        let e = crate::Error::Offline(NetworkError::http(e));
        assert_eq!(e.to_string(), "The server cannot be reached: connection refused or host unreachable");
        let source = e.source().unwrap();
        assert!(source.downcast_ref::<NetworkError>().is_some());
        let mut chain = String::new();
        let mut next = Some(source);
        while let Some(s) = next {
            chain.push_str(&format!("{s} / "));
            next = s.source();
        }
        assert!(!chain.contains("after=7") && !chain.contains("127.0.0.1"), "{chain}");
    }

    #[test]
    fn a_bad_answer_names_its_route_and_keeps_the_json_error() {
        let source = serde_json::from_str::<u32>("{").unwrap_err();
        let e = crate::Error::Protocol(ProtocolError::Answer { route: "/v1/groups", source });
        assert!(e.to_string().contains("/v1/groups"), "{e}");
        assert!(e.source().and_then(|s| s.source()).unwrap().downcast_ref::<serde_json::Error>().is_some());
    }
}
