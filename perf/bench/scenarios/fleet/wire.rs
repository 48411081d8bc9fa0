//! The fleet scenario's plumbing: requests bounded by --timeout, tokens on targets,
//! and the probe that may be answered 401 without ending the run.

use std::io;
use std::time::Duration;

use tokio::time::timeout;

use crate::conn::Stream;
use crate::http::{HttpConn, Response, Target};
use crate::Ctx;

/// `--poll`; with 0, only a yield to the other tasks (the other nodes' pollers).
pub(super) async fn pause(d: Duration) {
    match d.is_zero() {
        true => tokio::task::yield_now().await,
        false => tokio::time::sleep(d).await,
    }
}

pub(super) fn with_token(t: &Target, token: &str) -> Target {
    let mut t = t.clone();
    t.auth_header = format!("Authorization: Bearer {token}\r\n");
    t.token = Some(token.to_string());
    t
}

pub(super) async fn connect(t: &Target) -> Result<HttpConn, String> {
    HttpConn::connect(t).await.map_err(|e| format!("{}: {e}", t.url))
}

pub(super) async fn get(ctx: &Ctx, conn: &mut HttpConn, path: &str) -> Result<Response, String> {
    request(ctx, conn, "GET", path, None).await
}

/// One request, bounded by --timeout.
pub(super) async fn request(
    ctx: &Ctx,
    conn: &mut HttpConn,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Response, String> {
    match timeout(ctx.args.timeout, conn.request(method, path, body)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("{method} {path}: {e}")),
        Err(_) => Err(format!("{method} {path}: no answer within --timeout")),
    }
}

/// The start of a body, on one line.
pub(super) fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]);
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(super) fn unix_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// One keep-alive connection asking `GET /api/sessions?limit=1` with a token about to be
/// revoked; only the status matters. Not an `HttpConn`, whose every 401 ends the run:
/// here the 401 is what is measured.
pub(super) struct Probe {
    stream: Stream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Probe {
    pub(super) async fn connect(t: &Target) -> Result<Probe, String> {
        let stream = Stream::connect(t).await.map_err(|e| format!("{}: {e}", t.url))?;
        let request =
            format!("GET /api/sessions?limit=1 HTTP/1.1\r\nHost: {}\r\n{}\r\n", t.host, t.auth_header)
                .into_bytes();
        Ok(Probe { stream, request, buf: Vec::with_capacity(4096) })
    }

    pub(super) async fn status(&mut self) -> io::Result<u16> {
        self.stream.write_all(&self.request).await?;
        loop {
            if let Some((status, len)) = head(&self.buf)? {
                while self.buf.len() < len {
                    self.fill().await?;
                }
                self.buf.drain(..len);
                return Ok(status);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read_some(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// `Some((status, head + body length))` once a response head is complete.
fn head(buf: &[u8]) -> io::Result<Option<(u16, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    let body: usize = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .unwrap_or(0);
    Ok(Some((resp.code.unwrap_or(0), head_len + body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_with_and_without_bodies() {
        let r = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope.HTTP/1.1";
        assert_eq!(head(r).unwrap(), Some((401, r.len() - 8)));
        assert_eq!(head(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
    }
}
