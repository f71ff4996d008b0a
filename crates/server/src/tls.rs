//! HTTPS served by the server itself (rustls, `ring` provider), for installs without a reverse
//! proxy in front: a certificate chain and key from PEM files (`--tls-cert`, `--tls-key`), or a
//! self-signed certificate the server makes and keeps in its data directory (the desktop app's
//! "let other computers connect", where clients pin its fingerprint on first use).
//!
//! Only HTTP/1.1 is offered (ALPN): the accept loop serves HTTP/1.1, with WebSocket upgrades.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up; each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {source}")]
    Certificate {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the TLS certificate file {0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("cannot read the TLS key {path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the TLS key does not go with the certificate, or is of a kind not supported: {0}")]
    Mismatch(#[source] rustls::Error),
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[source] rcgen::Error),
    #[error("cannot keep the self-signed certificate in {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The certificate the server presents, and the acceptor that presents it.
#[derive(Clone)]
pub struct TlsIdentity {
    pub acceptor: TlsAcceptor,
    /// The leaf certificate (DER): clients pin its SHA-256.
    pub certificate: CertificateDer<'static>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// From PEM files: `cert` holds the chain (leaf first), `key` its private key (PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsIdentity, TlsError> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsError::Certificate { path: cert.to_owned(), source })?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key { path: key.to_owned(), source })?;
        Self::new(chain, key).map_err(|e| match e {
            TlsError::NoCertificate(_) => TlsError::NoCertificate(cert.to_owned()),
            other => other,
        })
    }

    fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<TlsIdentity, TlsError> {
        let certificate = chain.first().cloned().ok_or_else(|| TlsError::NoCertificate(PathBuf::new()))?;
        let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Mismatch)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(TlsError::Mismatch)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity { acceptor: TlsAcceptor::from(Arc::new(config)), certificate })
    }

    /// The self-signed certificate kept in `dir` (`cert.pem`, `key.pem`), made on first use
    /// for `names` (host names and IP addresses; clients pin it, so the names only matter to
    /// other tools). The key file is written 0600, in a directory of mode 0700.
    pub fn self_signed(dir: &Path, names: &[String]) -> Result<TlsIdentity, TlsError> {
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        if cert_path.exists() && key_path.exists() {
            return Self::from_pem_files(&cert_path, &key_path);
        }
        let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(TlsError::Generate)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "Sotto server");
        // Pinned, not checked against a date by Sotto's clients; other tools see ten years.
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let key = rcgen::KeyPair::generate().map_err(TlsError::Generate)?;
        let cert = params.self_signed(&key).map_err(TlsError::Generate)?;
        let store = |path: &Path, source| TlsError::Store { path: path.to_owned(), source };
        crate::private::create_dir(dir).map_err(|e| store(dir, e))?;
        // The key first: a certificate without its key would be read back as an error.
        crate::private::write_file(&key_path, key.serialize_pem().as_bytes()).map_err(|e| store(&key_path, e))?;
        crate::private::write_file(&cert_path, cert.pem().as_bytes()).map_err(|e| store(&cert_path, e))?;
        tracing::info!(dir = %dir.display(), "made a self-signed TLS certificate");
        Self::from_pem_files(&cert_path, &key_path)
    }
}
