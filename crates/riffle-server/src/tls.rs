//! TLS for the edge (rustls with the ring provider) and what a request
//! knows about the connection it arrived on ([`ConnInfo`]).
//!
//! The provider is named explicitly rather than taken from rustls's process
//! default: test builds also link aws-lc-rs (through the AWS SDK), and with
//! two providers compiled in rustls cannot pick one by itself.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The crate's error: what can go wrong setting the edge up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read TLS {what} {path}: {source}")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no PEM {what} found in {path} ({detail})")]
    TlsPem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("the TLS certificate and key do not make a usable server configuration: {0}")]
    TlsConfig(#[from] rustls::Error),
}

/// A server certificate chain and key, ready to accept connections. ALPN
/// offers `h2` then `http/1.1`; the connection is served in whichever the
/// client picked.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("alpn", &["h2", "http/1.1"])
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsSettings, Error> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| Error::TlsFile {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read("certificate", cert)?;
        let key_pem = read("key", key)?;
        Self::build(&cert_pem, &key_pem, cert, key)
    }

    /// Like [`Self::from_pem_files`], from PEM text in memory.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsSettings, Error> {
        Self::build(
            cert_pem,
            key_pem,
            Path::new("<certificate>"),
            Path::new("<key>"),
        )
    }

    fn build(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<TlsSettings, Error> {
        let pem_err = |what, path: &Path, detail: String| Error::TlsPem {
            what,
            path: path.to_path_buf(),
            detail,
        };
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err("certificate", cert_path, e.to_string()))?;
        if chain.is_empty() {
            return Err(pem_err(
                "certificate",
                cert_path,
                "expected -----BEGIN CERTIFICATE-----".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| pem_err("private key", key_path, e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsSettings {
            config: Arc::new(config),
        })
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// The connection a request arrived on, in every request's extensions
/// (`req.extensions().get::<ConnInfo>()`): for `aws:SourceIp`,
/// `aws:SecureTransport`, CloudTrail's `tlsDetails` and the Host check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the client connected to (the interface's address when
    /// listening on a wildcard address).
    pub local: SocketAddr,
    /// `None` on a plaintext connection.
    pub tls: Option<TlsInfo>,
}

/// What the TLS handshake settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The IANA name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// The SNI name the client asked for, if it sent one.
    pub server_name: Option<String>,
}

impl TlsInfo {
    pub(crate) fn of(conn: &rustls::ServerConnection) -> TlsInfo {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => String::new(),
        };
        let cipher_suite = conn
            .negotiated_cipher_suite()
            .map(|s| iana_suite_name(s.suite()))
            .unwrap_or_default();
        TlsInfo {
            version,
            cipher_suite,
            server_name: conn.server_name().map(str::to_string),
        }
    }
}

/// rustls names TLS 1.3 suites `TLS13_*`; IANA (and CloudTrail) `TLS_*`.
pub(crate) fn iana_suite_name(suite: rustls::CipherSuite) -> String {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_string(),
        },
        None => format!("{suite:?}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn suite_names_are_iana() {
        assert_eq!(
            iana_suite_name(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            iana_suite_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        let e = TlsSettings::from_pem(b"not a cert", b"not a key").unwrap_err();
        assert!(e.to_string().contains("certificate"), "{e}");
        let e = TlsSettings::from_pem_files(Path::new("/nonexistent/cert.pem"), Path::new("k"))
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }
}
