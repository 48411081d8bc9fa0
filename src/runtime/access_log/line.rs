//! One access-log line: what a worker hands over ([`Record`]) and its JSON form, made
//! on the logger thread. Pure formatting: no IO, no clock (the time comes in the
//! record).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::http::MAX_METHOD_BYTES;
use crate::session::SessionId;

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Ip(SocketAddr),
    /// A unix-socket client (it has no address worth logging).
    Unix,
    /// `getpeername` failed (the peer is already gone).
    Unknown,
}

impl Peer {
    /// The peer of a connection: its address for TCP (`None`: `getpeername(2)` failed,
    /// the peer is already gone), shown as IPv4 if IPv4-mapped (a dual-stack bind).
    pub fn of(addr: Option<SocketAddr>, tcp: bool) -> Peer {
        if !tcp {
            return Peer::Unix;
        }
        addr.map_or(Peer::Unknown, |a| Peer::Ip(SocketAddr::new(a.ip().to_canonical(), a.port())))
    }
}

/// An HTTP method token, inline (the parser refuses longer ones).
#[derive(Debug, Clone, Copy)]
pub struct Method {
    bytes: [u8; MAX_METHOD_BYTES],
    len: u8,
}

impl Method {
    pub fn new(token: &str) -> Method {
        let mut bytes = [0; MAX_METHOD_BYTES];
        // A char boundary is not needed: the parser admits only ASCII token characters,
        // and the line is written with lossy UTF-8 anyway.
        let len = token.len().min(MAX_METHOD_BYTES);
        bytes[..len].copy_from_slice(&token.as_bytes()[..len]);
        Method { bytes, len: len as u8 }
    }

    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes[..usize::from(self.len)])
    }
}

/// The longest path a record holds inline: `/api/sessions/ID/ws` with a node prefix and
/// a short base path fits, so a typical request's record allocates nothing.
const INLINE_PATH: usize = 96;

/// A request's path: inline when short (most are), else on the heap.
#[derive(Debug, Clone)]
pub enum Path {
    Inline { bytes: [u8; INLINE_PATH], len: u8 },
    Heap(Box<str>),
}

impl From<&str> for Path {
    fn from(s: &str) -> Path {
        if s.len() > INLINE_PATH {
            return Path::Heap(s.into());
        }
        let mut bytes = [0; INLINE_PATH];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Path::Inline { bytes, len: s.len() as u8 }
    }
}

impl Path {
    pub fn as_str(&self) -> &str {
        match self {
            // Whole UTF-8 copied from a `&str`: never fails.
            Path::Inline { bytes, len } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or(""),
            Path::Heap(s) => s,
        }
    }
}

/// What a line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An HTTP request and its response (a `101` for an upgrade).
    Request,
    /// The end of a WebSocket connection: the code of the close frame the server sent
    /// (1005 if it carried none; `None` if it sent none: the peer vanished or the
    /// connection was cut) and whether the peer closed first.
    WsEnd { close: Option<u16>, by_peer: bool },
}

/// One access-log line, as handed from a worker to the logger thread (about 300 bytes,
/// no allocation unless the path is longer than 96 bytes).
#[derive(Debug, Clone)]
pub struct Record {
    pub event: Event,
    /// When the response was written (or the connection ended), in ms since the epoch.
    pub unix_ms: u64,
    pub peer: Peer,
    /// The authenticated user. Always `None` until authentication lands (issue 12):
    /// the admission point's principal fills it in `ConnLog::head`.
    pub user: Option<Arc<str>>,
    /// `None` when the request head never parsed (e.g. a 400 or a 408).
    pub method: Option<Method>,
    /// The path without its query string (percent-encoding as sent).
    pub path: Option<Path>,
    /// Whether the request had a query string. Its content is never logged: it may carry
    /// `?token=`.
    pub query: bool,
    /// `None` when no response was sent (the client left before it).
    pub status: Option<u16>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_us: u64,
    pub session: Option<SessionId>,
}

impl Record {
    /// Appends the JSON line (with its `\n`). Every string is JSON-escaped: paths and
    /// methods are client input, and must not be able to forge a line.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":\"");
        write_time(out, self.unix_ms);
        let event = match self.event {
            Event::Request => "request",
            Event::WsEnd { .. } => "ws_end",
        };
        let _ = write!(out, "\",\"event\":\"{event}\",\"peer\":");
        match self.peer {
            Peer::Ip(addr) => {
                let _ = write!(out, "\"{addr}\"");
            }
            Peer::Unix => out.extend_from_slice(b"\"unix\""),
            Peer::Unknown => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"user\":");
        json_str(out, self.user.as_deref());
        out.extend_from_slice(b",\"method\":");
        json_str(out, self.method.as_ref().map(Method::as_str).as_deref());
        out.extend_from_slice(b",\"path\":");
        json_str(out, self.path.as_ref().map(Path::as_str));
        let _ = write!(out, ",\"query\":{},\"status\":", self.query);
        json_num(out, self.status);
        if let Event::WsEnd { close, by_peer } = self.event {
            out.extend_from_slice(b",\"close\":");
            json_num(out, close);
            let by = if close.is_none() {
                "null"
            } else if by_peer {
                "\"client\""
            } else {
                "\"server\""
            };
            let _ = write!(out, ",\"closed_by\":{by}");
        }
        let (ms, us) = (self.duration_us / 1000, self.duration_us % 1000);
        let _ = write!(
            out,
            ",\"bytes_in\":{},\"bytes_out\":{},\"duration_ms\":{ms}.{us:03},\"session\":",
            self.bytes_in, self.bytes_out
        );
        json_str(out, self.session.as_ref().map(SessionId::as_str));
        out.extend_from_slice(b"}\n");
    }
}

fn json_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        // Writing to a Vec cannot fail.
        Some(s) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn json_num(out: &mut Vec<u8>, n: Option<u16>) {
    match n {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// RFC 3339 in UTC with milliseconds: `2026-12-07T01:31:03.123Z`.
pub(super) fn write_time(out: &mut Vec<u8>, unix_ms: u64) {
    let secs = unix_ms / 1000;
    let (year, month, day) = crate::http::civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        unix_ms % 1000
    );
}
