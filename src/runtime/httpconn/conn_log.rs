//! What one HTTP connection writes to the access log: a line per request, made when
//! its response is queued and sent once it is written, and a line per WebSocket's end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::http::Request;
use crate::runtime::access_log::{Event, Method, Path, Peer, Record};
use crate::runtime::transport::Tally;
use crate::runtime::worker::Worker;
use crate::session::SessionId;

/// The request being served on a connection, until its line is made.
#[derive(Debug, Clone)]
struct Pending {
    started: Instant,
    method: Option<Method>,
    path: Option<Path>,
    query: bool,
    session: Option<SessionId>,
    user: Option<Arc<str>>,
    bytes_in: u64,
}

/// One connection's access-log state, held only while the log is on.
///
/// A request's response is queued in the connection's output and written later,
/// possibly with the next pipelined ones: its line is made when it is queued and sent
/// once it is written, so the duration runs to the write. `mark` is where this
/// request's response starts in the output; a flush before the request ends (a
/// `100 Continue`, a full pipeline) carries what it wrote in `carried`.
pub struct ConnLog {
    peer: Peer,
    req: Option<Pending>,
    began: Instant,
    mark: usize,
    carried: usize,
    status: Option<u16>,
    /// Lines of responses queued but not yet written, oldest first.
    queued: Vec<(Record, Instant)>,
    /// The upgrade request of a WebSocket, and the tally when its frames began.
    ws: Option<(Pending, u64, u64)>,
}

impl ConnLog {
    pub fn new(peer: Peer) -> ConnLog {
        ConnLog {
            peer,
            req: None,
            began: Instant::now(),
            mark: 0,
            carried: 0,
            status: None,
            queued: Vec::new(),
            ws: None,
        }
    }

    /// A new request may begin: the output holds `out_len` bytes of earlier responses.
    pub fn begin(&mut self, out_len: usize) {
        self.req = None;
        self.began = Instant::now();
        (self.mark, self.carried, self.status) = (out_len, 0, None);
    }

    /// The request's head is complete and parsed.
    pub fn head(&mut self, req: &Request<'_>, session: Option<SessionId>) {
        self.req = Some(Pending {
            started: Instant::now(),
            method: Some(Method::new(req.method_str)),
            path: Some(req.path.into()),
            query: req.query.is_some(),
            session,
            // Set by `user` once admission has decided.
            user: None,
            bytes_in: (req.head_len as u64).saturating_add(req.content_length),
        });
    }

    /// The admitted principal's user (none for an open route asked anonymously, or with
    /// `--no-auth`).
    pub fn user(&mut self, p: Option<&crate::auth::Principal>) {
        let user = p.filter(|p| p.via != crate::auth::Via::NoAuth).map(|p| p.user.clone());
        if let Some(req) = self.req.as_mut() {
            req.user = user;
        }
    }

    /// The output is about to be written: what this request queued so far is carried.
    pub fn flushing(&mut self, out: &[u8]) {
        let fresh = out.get(self.mark..).unwrap_or_default();
        if self.status.is_none() {
            self.status = status_of(fresh);
        }
        self.carried += fresh.len();
        self.mark = 0;
    }

    /// The request is over: its line waits for the write of its response (or goes now,
    /// if that was written already or there is none). Nothing for a connection that
    /// ended between requests or moved to another core (which logs the request).
    pub fn end(&mut self, w: &Worker, out: &[u8], unparsed: usize, moved: bool) {
        let fresh = out.get(self.mark..).unwrap_or_default();
        let status = self.status.or_else(|| status_of(fresh));
        let bytes_out = (self.carried + fresh.len()) as u64;
        let req = self.req.take();
        if moved || (req.is_none() && bytes_out == 0) {
            return;
        }
        let req = req.unwrap_or(Pending {
            started: self.began,
            method: None,
            path: None,
            query: false,
            session: None,
            user: None,
            bytes_in: unparsed as u64,
        });
        if status == Some(101) {
            // The WebSocket's end line repeats the request's.
            self.ws = Some((req.clone(), 0, 0));
        }
        let record = Record {
            event: Event::Request,
            unix_ms: 0,
            peer: self.peer,
            user: req.user,
            method: req.method,
            path: req.path,
            query: req.query,
            status,
            bytes_in: req.bytes_in,
            bytes_out,
            duration_us: 0,
            session: req.session,
        };
        if out.len() <= self.mark {
            // Nothing of it waits in the output (written already, or there is none);
            // earlier responses may still wait, and keep their lines until written.
            finish_and_send(w, record, req.started, Instant::now(), unix_ms_now());
        } else {
            self.queued.push((record, req.started));
        }
    }

    /// The output was written (or the write failed): the waiting lines go.
    pub fn written(&mut self, w: &Worker) {
        if self.queued.is_empty() {
            return;
        }
        let (now, unix_ms) = (Instant::now(), unix_ms_now());
        for (record, started) in self.queued.drain(..) {
            finish_and_send(w, record, started, now, unix_ms);
        }
    }

    /// The `101` is written: from here the socket carries WebSocket frames, the first
    /// `leftover` bytes of which were read with the upgrade request.
    pub fn upgraded(&mut self, tally: &Tally, leftover: usize) {
        if let Some(ws) = &mut self.ws {
            (ws.1, ws.2) = (tally.rx.get().saturating_sub(leftover as u64), tally.tx.get());
        }
    }

    /// The session a WebSocket serves, when the request's path did not name it (ttyd).
    pub fn ws_session(&mut self, id: Option<SessionId>) {
        if let (Some(ws), Some(id)) = (&mut self.ws, id) {
            ws.0.session = Some(id);
        }
    }

    /// The WebSocket connection is over: its line, counting its frames and its life
    /// from the upgrade request's head.
    pub fn ws_end(&mut self, w: &Worker, tally: &Tally) {
        let Some((req, rx, tx)) = self.ws.take() else { return };
        let (close, by_peer) = match tally.close() {
            Some((code, by_peer)) => (Some(code), by_peer),
            None => (None, false),
        };
        send(
            w,
            Record {
                event: Event::WsEnd { close, by_peer },
                unix_ms: unix_ms_now(),
                peer: self.peer,
                user: req.user,
                method: req.method,
                path: req.path,
                query: req.query,
                status: Some(101),
                bytes_in: tally.rx.get().saturating_sub(rx),
                bytes_out: tally.tx.get().saturating_sub(tx),
                duration_us: req.started.elapsed().as_micros() as u64,
                session: req.session,
            },
        );
    }
}

/// The 503 a worker at capacity sends from its accept loop: a line without a request.
pub fn refused_at_capacity(w: &Worker, sock: &std::os::fd::OwnedFd, bytes_out: usize, tcp: bool) {
    if w.shared.access_log.is_none() {
        return;
    }
    let peer = if tcp {
        rustix::net::getpeername(sock)
            .ok()
            .flatten()
            .and_then(|a| SocketAddr::try_from(a).ok())
            .map_or(Peer::Unknown, |a| Peer::Ip(SocketAddr::new(a.ip().to_canonical(), a.port())))
    } else {
        Peer::Unix
    };
    let record = Record {
        event: Event::Request,
        unix_ms: unix_ms_now(),
        peer,
        user: None,
        method: None,
        path: None,
        query: false,
        status: Some(503),
        bytes_in: 0,
        bytes_out: bytes_out as u64,
        duration_us: 0,
        session: None,
    };
    send(w, record);
}

/// Stamps a request's line with the time its response was written, and sends it.
fn finish_and_send(w: &Worker, mut record: Record, started: Instant, now: Instant, unix_ms: u64) {
    record.unix_ms = unix_ms;
    record.duration_us = now.saturating_duration_since(started).as_micros() as u64;
    send(w, record);
}

fn send(w: &Worker, record: Record) {
    let Some(sink) = &w.shared.access_log else { return };
    if !sink.try_send(record) {
        w.stats().access_log_dropped();
    }
}

fn unix_ms_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The status of the first final response in `bytes` (responses this server queued,
/// each starting with `HTTP/1.1 NNN `); interim `1xx` other than `101` are skipped.
fn status_of(mut bytes: &[u8]) -> Option<u16> {
    loop {
        let code = bytes.get(9..12)?;
        let status = std::str::from_utf8(code).ok()?.parse::<u16>().ok()?;
        if status >= 200 || status == 101 {
            return Some(status);
        }
        // An interim response is a head alone: skip to the next one.
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        bytes = &bytes[end + 4..];
    }
}

#[cfg(test)]
#[path = "conn_log_tests.rs"]
mod tests;
