//! One connection to the server, plain TCP or TLS (`--tls`, an `https://` URL): what the
//! HTTP client (`http.rs`) and the WebSocket client (`client.rs`) read and write.
//!
//! TLS is rustls with its `ring` provider, as the server's, through `tokio-rustls`, the
//! adapter rustls maintains for tokio: it does the handshake and drives the record layer
//! over the same non-blocking `TcpStream` (no thread, no second runtime). The two clients
//! only ever need "read what is there" (cancel-safe, so a read may race timers) and
//! "write all of this", which [`Stream`] gives for both kinds; tokio-rustls's reads keep
//! what they decrypted inside the connection when cancelled, and its writes are flushed
//! before `write_all` returns (a record is not on the wire until then).
//!
//! The server's certificate is always verified, against `--ca-file` only (no system
//! roots: a benchmark talks to a server it started), for the host of the URL.

use std::future::poll_fn;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use rustls::client::Resumption;
use rustls::crypto::ring::kx_group;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CipherSuite, ClientConfig, HandshakeKind, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::http::Target;

/// Which handshake a new TLS connection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The run's default: resume with a session ticket when one is kept (as a browser
    /// does), unless `--no-resumption`.
    Default,
    /// Always a full handshake (a client seen for the first time).
    Full,
    /// Resume with a kept ticket when there is one (a returning client).
    Resumed,
}

/// What the handshakes negotiated, from the first one that completed.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `TLSv1_3` or `TLSv1_2`.
    pub version: String,
    pub cipher: String,
    /// The key exchange group (`X25519`), when the handshake had one.
    pub kx: Option<String>,
}

/// The client side of TLS: the configurations and the name to verify.
#[derive(Clone)]
pub struct TlsClient {
    /// Keeps up to 256 session tickets (rustls's in-memory store) and resumes with them.
    resuming: TlsConnector,
    /// Keeps none: every handshake is a full one.
    full: TlsConnector,
    /// `Handshake::Default` resumes (false with `--no-resumption`).
    resume_by_default: bool,
    /// The URL's host: the name (or IP address) the certificate must be for.
    server_name: ServerName<'static>,
    facts: Arc<OnceLock<Facts>>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .field("resume_by_default", &self.resume_by_default)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Trusts the CA certificates in `ca_file` (PEM) for `host` (a DNS name or an IP
    /// address, as in the URL). The error is one line naming the option.
    pub fn new(ca_file: &Path, host: &str, resume_by_default: bool) -> Result<TlsClient, String> {
        let shown = ca_file.display();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| format!("--ca-file {shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("--ca-file {shown}: no PEM certificate in it"));
        }
        let mut roots = RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| format!("--ca-file {shown}: {e}"))?;
        }
        let name = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|e| format!("`{host}` is not a name a certificate can be for: {e}"))?;
        // The server's provider (src/tls/mod.rs says more): ring, which rustls 0.23.48
        // deprecated for lacking post-quantum key exchange (only aws-lc-rs has it); the
        // harness builds the crypto the server builds, and no other.
        #[allow(deprecated)]
        let mut provider = rustls::crypto::ring::default_provider();
        // In a browser's order rather than ring's (which puts P-384 and AES-256 first): a
        // server chooses by the client's preference, and what it costs per handshake and
        // per byte depends on that choice. Browsers offer X25519 first (and X25519MLKEM768,
        // which ring lacks) and the AES-128-GCM suites first.
        provider.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
        provider.cipher_suites.sort_by_key(|s| {
            !matches!(
                s.suite(),
                CipherSuite::TLS13_AES_128_GCM_SHA256
                    | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                    | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            )
        });
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // What a browser offers for HTTP/1.1 and WebSocket; the server selects it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut full = config.clone();
        full.resumption = Resumption::disabled();
        Ok(TlsClient {
            resuming: TlsConnector::from(Arc::new(config)),
            full: TlsConnector::from(Arc::new(full)),
            resume_by_default,
            server_name,
            facts: Arc::default(),
        })
    }

    /// What the first completed handshake negotiated.
    pub fn facts(&self) -> Option<&Facts> {
        self.facts.get()
    }

    /// Whether connections resume by default (the report's `tls_resumption`).
    pub fn resumes(&self) -> bool {
        self.resume_by_default
    }

    /// The handshake over `tcp`.
    pub async fn handshake(&self, tcp: TcpStream, kind: Handshake) -> io::Result<TlsStream<TcpStream>> {
        let resume = match kind {
            Handshake::Default => self.resume_by_default,
            Handshake::Full => false,
            Handshake::Resumed => true,
        };
        let connector = if resume { &self.resuming } else { &self.full };
        let tls = connector.connect(self.server_name.clone(), tcp).await?;
        if self.facts.get().is_none() {
            let conn = tls.get_ref().1;
            let facts = Facts {
                version: conn.protocol_version().map_or_else(|| "?".into(), |v| format!("{v:?}")),
                cipher: conn
                    .negotiated_cipher_suite()
                    .map_or_else(|| "?".into(), |s| format!("{:?}", s.suite())),
                kx: conn.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name())),
            };
            let _ = self.facts.set(facts);
        }
        Ok(tls)
    }
}

/// A connection to the server.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// TCP connect (no Nagle), then the TLS handshake when the target speaks TLS: a new
    /// connection's whole cost, which the scenarios' timings include.
    pub async fn connect(t: &Target) -> io::Result<Stream> {
        Stream::connect_with(t, Handshake::Default).await
    }

    pub async fn connect_with(t: &Target, kind: Handshake) -> io::Result<Stream> {
        let tcp = TcpStream::connect(t.addr).await?;
        tcp.set_nodelay(true)?;
        Stream::over(t, tcp, kind).await
    }

    /// `tcp` as it is, or with the TLS handshake done over it.
    pub async fn over(t: &Target, tcp: TcpStream, kind: Handshake) -> io::Result<Stream> {
        match &t.tls {
            None => Ok(Stream::Plain(tcp)),
            Some(tls) => Ok(Stream::Tls(Box::new(tls.handshake(tcp, kind).await?))),
        }
    }

    pub fn local_port(&self) -> io::Result<u16> {
        let tcp = match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        };
        Ok(tcp.local_addr()?.port())
    }

    /// Whether a TLS handshake resumed a session (false for plain TCP).
    pub fn resumed(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed),
        }
    }

    /// One read of what is there, waiting for it first; 0 at the end. Cancel-safe: plain,
    /// its only await is readiness; TLS, records read but not handed out stay in the
    /// connection. A TLS peer that closes without close_notify ends the stream as a FIN
    /// does (the harness reads responses by their length, so nothing can be truncated
    /// unnoticed).
    pub async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => loop {
                s.readable().await?;
                match s.try_read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            },
            Stream::Tls(s) => {
                let read = poll_fn(|cx| {
                    let mut rb = ReadBuf::new(buf);
                    match Pin::new(&mut **s).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        Poll::Pending => Poll::Pending,
                    }
                })
                .await;
                match read {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                    other => other,
                }
            }
        }
    }

    /// Writes all of `data`, and (TLS) flushes the records out. Not cancel-safe: part of
    /// it may have been written.
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => {
                while !data.is_empty() {
                    s.writable().await?;
                    match s.try_write(data) {
                        Ok(n) => data = &data[n..],
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Stream::Tls(s) => {
                while !data.is_empty() {
                    let n = poll_fn(|cx| Pin::new(&mut **s).poll_write(cx, data)).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    data = &data[n..];
                }
                poll_fn(|cx| Pin::new(&mut **s).poll_flush(cx)).await
            }
        }
    }

    /// TLS: sends close_notify and flushes it (best effort); plain: nothing. Dropping the
    /// stream afterwards closes the socket either way.
    pub async fn close_notify(&mut self) {
        if let Stream::Tls(s) = self {
            s.get_mut().1.send_close_notify();
            let _ = poll_fn(|cx| Pin::new(&mut **s).poll_flush(cx)).await;
        }
    }
}

/// Why a TLS handshake failed, when `e` is rustls's error (a certificate not signed by
/// `--ca-file` or not for the host, a server that does not speak TLS), with a hint.
pub fn tls_failure(e: &io::Error) -> Option<String> {
    let err = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let hint = match err {
        rustls::Error::InvalidCertificate(_) => {
            " (is --ca-file the CA that signed the server's certificate, and is it for the URL's host?)"
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            " (does the server speak TLS, `ringtty -S`?)"
        }
        _ => "",
    };
    Some(format!("{err}{hint}"))
}
