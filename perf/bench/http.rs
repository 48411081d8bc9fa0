//! A minimal HTTP/1.1 client for the REST API: keep-alive connections (plain or TLS, see
//! `conn.rs`), requests with a JSON body, responses with `Content-Length` (which is all
//! ringtty sends).

use std::io;
use std::net::SocketAddr;

use serde_json::Value;

use crate::conn::{Stream, TlsClient};

/// Where the server is, and the token it wants.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header (`127.0.0.1:7681`).
    pub host: String,
    /// The base URL as given, without a query (what reports name; never the token);
    /// `https://` when the harness speaks TLS.
    pub url: String,
    /// The URL's host without its port: the name the server's certificate is checked for.
    pub hostname: String,
    /// `--tls` (or an `https://` URL): every connection does a TLS handshake first.
    pub tls: Option<TlsClient>,
    /// The token (JWT), when the server has authentication on.
    pub token: Option<String>,
    /// `Authorization: Bearer JWT\r\n`, or empty: a header line of every request and
    /// WebSocket upgrade.
    pub auth_header: String,
}

impl Target {
    /// `http://HOST:PORT[/]` or `https://...` (no query: see `token::resolve`); HOST an
    /// IP address or a name resolved once. TLS is set up by [`Target::use_tls`].
    pub fn new(url: &str, token: Option<String>) -> Result<Target, String> {
        let mut t = Target::parse(url)?;
        t.auth_header = token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        t.token = token;
        Ok(t)
    }

    /// Whether the URL says `https://`.
    pub fn is_https(url: &str) -> bool {
        url.starts_with("https://")
    }

    /// Speaks TLS from now on, trusting `ca_file` for the URL's host; the URL in reports
    /// becomes `https://`.
    pub fn use_tls(&mut self, ca_file: &std::path::Path, resume: bool) -> Result<(), String> {
        self.tls = Some(TlsClient::new(ca_file, &self.hostname, resume)?);
        if let Some(rest) = self.url.strip_prefix("http://") {
            self.url = format!("https://{rest}");
        }
        Ok(())
    }

    fn parse(url: &str) -> Result<Target, String> {
        let (rest, default_port) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (rest, 80),
            (_, Some(rest)) => (rest, 443),
            _ => return Err(format!("`{url}`: only http:// and https:// URLs")),
        };
        let host = rest.trim_end_matches('/');
        if host.contains('/') {
            return Err(format!("`{url}`: give the server's root URL (no path)"));
        }
        let port = host.rsplit_once(':').filter(|(h, p)| p.parse::<u16>().is_ok() && !h.is_empty());
        let (hostname, with_port) = match port {
            // `[::1]:7681`, `localhost:7681`; not the last group of a bare IPv6 address.
            Some((h, _)) if !h.contains(':') || h.ends_with(']') => (h.to_string(), host.to_string()),
            _ => (host.to_string(), format!("{host}:{default_port}")),
        };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&with_port)
            .map_err(|e| format!("`{url}`: {e}"))?
            .next()
            .ok_or_else(|| format!("`{url}`: no address"))?;
        Ok(Target {
            addr,
            host: host.to_string(),
            url: url.to_string(),
            hostname,
            tls: None,
            token: None,
            auth_header: String::new(),
        })
    }
}

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// One keep-alive connection.
pub struct HttpConn {
    stream: Stream,
    host: String,
    auth_header: String,
    buf: Vec<u8>,
}

impl HttpConn {
    /// TCP connect and, with TLS, the handshake: both are part of a request on a new
    /// connection, and of its timing.
    pub async fn connect(t: &Target) -> io::Result<HttpConn> {
        let stream = Stream::connect(t).await?;
        let (host, auth_header) = (t.host.clone(), t.auth_header.clone());
        Ok(HttpConn { stream, host, auth_header, buf: Vec::with_capacity(4096) })
    }

    /// One request, and its response. A 401 is noted (`token::note_refusal`): it ends
    /// the run.
    pub async fn request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Response> {
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n{}", self.host, self.auth_header).into_bytes();
        if let Some(b) = body {
            req.extend_from_slice(
                format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()).as_bytes(),
            );
        }
        req.extend_from_slice(b"\r\n");
        if let Some(b) = body {
            req.extend_from_slice(b);
        }
        self.stream.write_all(&req).await?;
        let resp = self.read_response().await?;
        if resp.status == 401 {
            crate::token::note_refusal();
        }
        Ok(resp)
    }

    async fn read_response(&mut self) -> io::Result<Response> {
        loop {
            if let Some((status, head_len, body_len)) = parse_head(&self.buf)? {
                while self.buf.len() < head_len + body_len {
                    self.fill().await?;
                }
                let body = self.buf[head_len..head_len + body_len].to_vec();
                self.buf.drain(..head_len + body_len);
                return Ok(Response { status, body });
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read_some(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// `Some((status, head length, body length))` once the head is complete.
fn parse_head(buf: &[u8]) -> io::Result<Option<(u16, usize, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    let len = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .unwrap_or(0);
    Ok(Some((resp.code.unwrap_or(0), head_len, len)))
}

/// The JSON body of `POST /api/sessions` for a command.
pub fn create_body(argv: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "command": argv, "cols": 80, "rows": 24 })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::new("https://127.0.0.1:7681/", None).unwrap();
        assert_eq!(
            (t.hostname.as_str(), t.host.as_str(), t.addr.port()),
            ("127.0.0.1", "127.0.0.1:7681", 7681)
        );
        assert!(Target::is_https(&t.url));
        let t = Target::new("https://localhost", None).unwrap();
        assert_eq!((t.hostname.as_str(), t.addr.port()), ("localhost", 443));
        let t = Target::new("http://[::1]:7681", None).unwrap();
        assert_eq!((t.hostname.as_str(), t.addr.port()), ("[::1]", 7681));
        assert!(Target::new("ftp://127.0.0.1", None).is_err());
        assert!(Target::new("http://127.0.0.1:7681/x", None).is_err());
    }

    #[test]
    fn tls_needs_a_readable_ca() {
        let mut t = Target::new("http://127.0.0.1:7681", None).unwrap();
        let err = t.use_tls(std::path::Path::new("/nonexistent/ca.pem"), true).unwrap_err();
        assert!(err.starts_with("--ca-file /nonexistent/ca.pem: "), "{err}");
        assert!(t.tls.is_none() && t.url.starts_with("http://"));
    }
}
