//! TLS for every connection the engine makes (HTTP and the WebSocket), through rustls.
//!
//! A server is trusted in one of two ways ([`ServerTrust`]):
//! - **System**: its certificate chain ends at an authority the operating system trusts, and
//!   names the host (rustls-platform-verifier: the OS verifier on macOS and Windows, the
//!   system's CA bundle with webpki elsewhere). A server behind Caddy or nginx with a public
//!   certificate works with no question asked.
//! - **Pinned**: the person accepted this exact certificate (its SHA-256 [`Fingerprint`]) on
//!   first connect, having compared the fingerprint with the one the server's owner sees —
//!   trust on first use, for a server someone runs on their own computer with a self-signed
//!   certificate. Then only that certificate is accepted, whoever signed it and whatever name
//!   it carries; any other one, even one an authority signed, is refused.
//!
//! A certificate the system does not trust is never accepted silently: the connection fails
//! with [`Error::UntrustedCertificate`] carrying the fingerprint, so the app can ask. A pinned
//! server presenting another certificate fails with [`Error::CertificateChanged`]. The
//! handshake's signatures are always checked against the certificate's key, pinned or not.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// The SHA-256 of a certificate (its DER encoding), as people compare it: 32 bytes in
/// upper-case hexadecimal pairs separated by colons, as browsers and `openssl x509 -fingerprint
/// -sha256` show it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(certificate_der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(certificate_der).into())
    }

    /// Reads a fingerprint as people copy it: 64 hexadecimal digits, in either case, with or
    /// without colons or spaces between pairs, optionally after `SHA256:` or `sha256 `.
    pub fn parse(text: &str) -> Result<Fingerprint> {
        let trimmed = text.trim();
        let without_prefix = ["SHA256:", "SHA256 ", "SHA-256:", "SHA-256 ", "sha256:", "sha256 "]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p))
            .unwrap_or(trimmed);
        let digits: String = without_prefix.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
        let invalid =
            || Error::InvalidInput("That is not a certificate fingerprint (64 hexadecimal digits).".to_owned());
        let bytes = hex::decode(&digits).map_err(|_| invalid())?;
        Ok(Fingerprint(bytes.try_into().map_err(|_| invalid())?))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// How the engine decides that a server's certificate is the server's (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerTrust {
    /// An authority the operating system trusts vouches for it.
    #[default]
    System,
    /// Exactly this certificate, accepted by the person.
    Pinned(Fingerprint),
}

impl ServerTrust {
    pub fn pinned(&self) -> Option<Fingerprint> {
        match self {
            ServerTrust::System => None,
            ServerTrust::Pinned(fingerprint) => Some(*fingerprint),
        }
    }
}

/// Why the last handshake failed on the certificate, kept by the verifier so that the error
/// reqwest or tungstenite returns (a TLS error deep in its sources) can be told to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No trusted authority signed it (self-signed, or a private CA this computer lacks).
    Untrusted(Fingerprint),
    /// The server is pinned to another certificate.
    Changed { expected: Fingerprint, presented: Fingerprint },
    /// An authority signed it, but it is not valid here (expired, another name, revoked...).
    Invalid(&'static str),
}

/// The engine's TLS configuration for one server: the rustls config reqwest and tungstenite
/// use, and what its verifier refused last.
#[derive(Clone)]
pub(crate) struct Tls {
    config: Arc<rustls::ClientConfig>,
    refusal: Arc<Mutex<Option<Refusal>>>,
    /// Read by the verifier at each handshake, so a newly trusted certificate applies to the
    /// next connection without rebuilding the clients.
    trust: Arc<RwLock<ServerTrust>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    pub(crate) fn new(trust: ServerTrust) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let refusal = Arc::new(Mutex::new(None));
        let trust = Arc::new(RwLock::new(trust));
        let verifier = Verifier::new(trust.clone(), provider.clone(), refusal.clone())?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidInput(format!("TLS could not be set up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // reqwest speaks HTTP/2 when the server offers it, and HTTP/1.1 otherwise; the WebSocket
        // is HTTP/1.1 (its own config below).
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls { config: Arc::new(config), refusal, trust })
    }

    pub(crate) fn trust(&self) -> ServerTrust {
        self.trust.read().map(|t| *t).unwrap_or_default()
    }

    /// Trust `trust` from the next handshake on.
    pub(crate) fn set_trust(&self, trust: ServerTrust) {
        if let Ok(mut current) = self.trust.write() {
            *current = trust;
        }
    }

    /// For reqwest (`use_preconfigured_tls`).
    pub(crate) fn http_config(&self) -> rustls::ClientConfig {
        (*self.config).clone()
    }

    /// For the WebSocket: the same verifier, HTTP/1.1 only (the upgrade is an HTTP/1.1 request).
    pub(crate) fn socket_config(&self) -> Arc<rustls::ClientConfig> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// What the verifier refused since the last call, if anything (and forgets it).
    pub(crate) fn take_refusal(&self) -> Option<Refusal> {
        self.refusal.lock().ok().and_then(|mut r| r.take())
    }

    /// The error for a connection that failed: the certificate's story when the verifier
    /// refused one, otherwise `otherwise`.
    pub(crate) fn explain(&self, server: &str, otherwise: Error) -> Error {
        match self.take_refusal() {
            Some(Refusal::Untrusted(fingerprint)) => {
                Error::UntrustedCertificate { server: server.to_owned(), fingerprint }
            }
            Some(Refusal::Changed { expected, presented }) => {
                Error::CertificateChanged { server: server.to_owned(), expected, presented }
            }
            Some(Refusal::Invalid(reason)) => Error::InvalidCertificate { server: server.to_owned(), reason },
            None => otherwise,
        }
    }
}

#[derive(Debug)]
struct Verifier {
    trust: Arc<RwLock<ServerTrust>>,
    /// The system's verifier; `None` when the system has no authorities at all (a minimal Linux
    /// without a CA bundle): then only pinned servers can be reached.
    system: Option<Arc<dyn ServerCertVerifier>>,
    /// The algorithms handshake signatures are checked with (pinned servers).
    signatures: rustls::crypto::WebPkiSupportedAlgorithms,
    refusal: Arc<Mutex<Option<Refusal>>>,
}

impl Verifier {
    fn new(
        trust: Arc<RwLock<ServerTrust>>,
        provider: Arc<CryptoProvider>,
        refusal: Arc<Mutex<Option<Refusal>>>,
    ) -> Result<Self> {
        let system: Option<Arc<dyn ServerCertVerifier>> =
            match rustls_platform_verifier::Verifier::new(provider.clone()) {
                Ok(v) => Some(Arc::new(v)),
                Err(e) => {
                    tracing::warn!(error = %e, "no system certificate authorities: only pinned servers can be reached");
                    None
                }
            };
        let signatures = provider.signature_verification_algorithms;
        Ok(Verifier { trust, system, signatures, refusal })
    }

    fn trust(&self) -> ServerTrust {
        self.trust.read().map(|t| *t).unwrap_or_default()
    }

    fn refuse(&self, refusal: Refusal) -> rustls::Error {
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = Some(refusal);
        }
        match refusal {
            Refusal::Untrusted(_) => rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            Refusal::Changed { .. } | Refusal::Invalid(_) => {
                rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
            }
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity);
        match self.trust() {
            ServerTrust::Pinned(expected) if expected == presented => Ok(ServerCertVerified::assertion()),
            ServerTrust::Pinned(expected) => Err(self.refuse(Refusal::Changed { expected, presented })),
            ServerTrust::System => {
                let Some(system) = &self.system else {
                    return Err(self.refuse(Refusal::Untrusted(presented)));
                };
                match system.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
                    Ok(verified) => Ok(verified),
                    Err(rustls::Error::InvalidCertificate(problem)) => Err(self.refuse(match problem {
                        // Nobody the system trusts vouches for it: the person may know better.
                        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                            Refusal::Untrusted(presented)
                        }
                        other => Refusal::Invalid(describe(&other)),
                    })),
                    Err(other) => Err(other),
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match (self.trust(), &self.system) {
            (ServerTrust::System, Some(system)) => system.verify_tls12_signature(message, cert, dss),
            _ => rustls::crypto::verify_tls12_signature(message, cert, dss, &self.signatures),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match (self.trust(), &self.system) {
            (ServerTrust::System, Some(system)) => system.verify_tls13_signature(message, cert, dss),
            _ => rustls::crypto::verify_tls13_signature(message, cert, dss, &self.signatures),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_schemes()
    }
}

/// Words for a certificate an authority signed but that is not valid for this connection.
fn describe(problem: &CertificateError) -> &'static str {
    match problem {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "its certificate has expired",
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "its certificate is not valid yet (check this computer's date and time)"
        }
        CertificateError::Revoked => "its certificate was revoked",
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "its certificate is for another name"
        }
        _ => "its certificate is not valid",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ErrorCode;

    #[test]
    fn fingerprints_read_back_however_people_paste_them() {
        let fingerprint = Fingerprint::of(b"a certificate");
        let shown = fingerprint.to_string();
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert!(shown.chars().all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase()), "{shown}");
        for pasted in [
            shown.clone(),
            shown.to_lowercase(),
            shown.replace(':', ""),
            shown.replace(':', " "),
            format!("SHA256:{shown}"),
            format!("  sha256 {}  ", shown.replace(':', "")),
        ] {
            assert_eq!(Fingerprint::parse(&pasted).unwrap(), fingerprint, "{pasted}");
        }
        for wrong in ["", "AB:CD", &shown[3..], &format!("{shown}:00"), &shown.replace('A', "G")] {
            if wrong != shown {
                assert_eq!(Fingerprint::parse(wrong).unwrap_err().code(), ErrorCode::InvalidInput, "{wrong}");
            }
        }
    }
}
