//! A server's address as people type it ("chat.example.org", "192.168.1.20:8448") made into the
//! base URL the engine talks to, and the check that a Sotto server answers there.
//!
//! Invariant: a [`ServerUrl`] is an absolute `http` or `https` URL with a host, no query, no
//! fragment and no trailing slash, so `format!("{url}/v1/...")` is always a well-formed address.
//! The app's sign-in and restore forms and the CLI's `--server` all go through it.

use std::fmt;
use std::time::Duration;

use crate::network::NetworkError;
use crate::tls::{ServerTrust, Tls};
use crate::{Error, Result};

/// How long [`ServerUrl::check`] waits for an answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(8);

/// A normalized server base URL (see the module invariant).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerUrl(String);

impl ServerUrl {
    /// Normalizes what a person typed: surrounding spaces and trailing slashes go; without a
    /// scheme, `https://` is assumed, except for a local address (`localhost`, an IP address, a
    /// `.local` name), where plain `http://` is usual. Anything that is not then an `http(s)`
    /// URL with a host, without query or fragment, is [`Error::InvalidUrl`].
    pub fn parse(input: &str) -> Result<ServerUrl> {
        let trimmed = input.trim();
        let invalid = || Error::InvalidUrl(trimmed.to_owned());
        if trimmed.is_empty() || trimmed.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            let host = trimmed.split([':', '/']).next().unwrap_or_default();
            let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.ends_with(".local");
            format!("{}://{trimmed}", if local { "http" } else { "https" })
        };
        let parsed = reqwest::Url::parse(&with_scheme).map_err(|_| invalid())?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none_or(str::is_empty)
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(invalid());
        }
        Ok(ServerUrl(with_scheme.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Asks the server's health check: [`Error::Offline`] when nothing answers,
    /// [`Error::NotSotto`] when something answers but not as a Sotto server, and over `https`
    /// the certificate errors of [`crate::tls`] when its certificate does not satisfy `trust`.
    pub async fn check(&self, trust: ServerTrust) -> Result<()> {
        let tls = Tls::new(trust)?;
        let http = crate::api::http_client(&tls, CHECK_TIMEOUT, crate::api::Timeout::Request(CHECK_TIMEOUT))?;
        let resp = http
            .get(format!("{self}{}", sotto_proto::routes::HEALTH_PATH))
            .send()
            .await
            .map_err(|e| tls.explain(&self.0, Error::Offline(NetworkError::http(e))))?;
        let body = resp.text().await.unwrap_or_default();
        if body.trim() != "ok" {
            return Err(Error::NotSotto(self.0.clone()));
        }
        Ok(())
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ServerUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::ErrorCode;

    fn normalized(input: &str) -> String {
        ServerUrl::parse(input).unwrap().to_string()
    }

    #[test]
    fn what_people_type_becomes_a_base_url() {
        assert_eq!(normalized(" chat.example.org/ "), "https://chat.example.org");
        assert_eq!(normalized("chat.example.org:8448"), "https://chat.example.org:8448");
        assert_eq!(normalized("192.168.1.20:8448"), "http://192.168.1.20:8448");
        assert_eq!(normalized("localhost:8448"), "http://localhost:8448");
        assert_eq!(normalized("box.local"), "http://box.local");
        assert_eq!(normalized("http://box.local:8448"), "http://box.local:8448");
        assert_eq!(normalized("http://chat.example.org"), "http://chat.example.org");
        assert_eq!(normalized("https://127.0.0.1:8448//"), "https://127.0.0.1:8448");
        assert_eq!(normalized("https://example.org/sotto/"), "https://example.org/sotto");
        assert_eq!(ServerUrl::parse("localhost:8448").unwrap().as_str(), "http://localhost:8448");
    }

    #[test]
    fn anything_else_is_an_invalid_url() {
        for bad in [
            "",
            "   ",
            "ftp://x.org",
            "https://",
            "two words.org",
            "http://",
            "https://x.org/?a=1",
            "https://x.org/#top",
        ] {
            let err = ServerUrl::parse(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidUrl, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn check_tells_no_answer_from_another_service() {
        // Nothing listens on a port just released: offline.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = ServerUrl::parse(&format!("127.0.0.1:{port}")).unwrap();
        assert_eq!(url.check(ServerTrust::System).await.unwrap_err().code(), ErrorCode::Offline);
        // Something that answers HTTP, but not "ok": not a Sotto server.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = ServerUrl::parse(&listener.local_addr().unwrap().to_string()).unwrap();
        let serve = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            let body = "<html>a router</html>";
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            socket.write_all(reply.as_bytes()).await.unwrap();
        });
        assert_eq!(url.check(ServerTrust::System).await.unwrap_err().code(), ErrorCode::NotSotto);
        serve.await.unwrap();
    }
}
