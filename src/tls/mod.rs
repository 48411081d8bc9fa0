//! The server's TLS settings (`-S -C -K -A`): the certificate chain and key, the CA that
//! client certificates must chain to, and the rustls configuration built from them,
//! which SIGHUP rebuilds (new handshakes use it; open connections keep theirs).
//!
//! rustls with its `ring` provider (the design card's crypto, no OpenSSL): TLS 1.3 and
//! 1.2 only (rustls offers nothing older), ALPN `http/1.1`, session resumption by
//! tickets under a key that rotates (rustls's `Ticketer`: a new key every 6 hours, the
//! previous one still accepted), and, with a CA, a client certificate required and
//! verified against it. The connections themselves live in the transport
//! (`runtime::transport`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

pub mod identity;
#[cfg(test)]
mod tests;

pub use identity::CertName;

/// The files TLS is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// `-C`: the certificate chain, PEM, the server's own first.
    pub cert: PathBuf,
    /// `-K`: its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// `-A`: client certificates are required and must chain to these, PEM.
    pub ca: Option<PathBuf>,
    /// `--ssl-user`: which name of a verified client certificate is its user.
    pub user: CertName,
}

/// The settings in force: the files, and the configuration new handshakes get.
pub struct Tls {
    files: Files,
    current: RwLock<Arc<ServerConfig>>,
    /// Kept across reloads, so tickets issued before one still resume after it.
    ticketer: Arc<dyn rustls::server::ProducesTickets>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the files and builds the configuration; the error is one line naming the
    /// file and what is wrong with it.
    pub fn load(files: Files) -> Result<Tls, String> {
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| format!("TLS: cannot make a session ticket key: {e}"))?;
        let config = build(&files, &ticketer)?;
        Ok(Tls { files, current: RwLock::new(config), ticketer })
    }

    /// The configuration for a new connection.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the files again (SIGHUP). On success new handshakes use them; on failure
    /// the configuration in force is kept, and the error says why.
    pub fn reload(&self) -> Result<(), String> {
        let config = build(&self.files, &self.ticketer)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// Whether client certificates are required (`-A`).
    pub fn requires_client_certs(&self) -> bool {
        self.files.ca.is_some()
    }

    pub fn files(&self) -> &Files {
        &self.files
    }
}

fn build(
    files: &Files,
    ticketer: &Arc<dyn rustls::server::ProducesTickets>,
) -> Result<Arc<ServerConfig>, String> {
    let chain = certs(&files.cert, "-C/--ssl-cert")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        format!(
            "-K/--ssl-key {}: {}; give a PEM private key (PKCS#8, PKCS#1 or SEC1)",
            files.key.display(),
            pem_error(e)
        )
    })?;
    // rustls 0.23.48 deprecates its `ring` provider for lacking post-quantum key
    // exchange (only its aws-lc-rs provider has it). The design card's crypto is ring,
    // shared with the token code, and aws-lc-rs would add a C/CMake build; X25519 and
    // the NIST curves stay. Revisit if ring gains ML-KEM.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &files.ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs(ca, "-A/--ssl-ca")? {
                roots.add(cert).map_err(|e| format!("-A/--ssl-ca {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("-A/--ssl-ca {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "-C/-K {} and {}: {e}; give the certificate chain and the private key that belongs to it",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ticketer = ticketer.clone();
    // rustls's default of buffered plaintext before the handshake ends (64 KiB) is kept
    // per connection only while it is used; the transport bounds what it queues itself.
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file, at least one.
fn certs(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{flag} {}: {}", path.display(), pem_error(e)))?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} {}: no certificate in it; give a PEM file of certificates",
            path.display()
        ));
    }
    Ok(certs)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "nothing of that kind in it".into(),
        e => format!("not a valid PEM file ({e:?})"),
    }
}
