//! One HTTP/1.1 connection: read heads into a bounded buffer, answer pipelined requests
//! in order, keep alive, and close on error, timeout or shutdown.
//!
//! Reads wait for readiness first and take the buffer only then (see `Transport`), so a
//! keep-alive connection between requests holds no buffer and a timed-out read loses
//! nothing. Closing a connection starts with `shutdown(2)`, so the peer and any write
//! still waiting on the stream see the end at once. An upgraded connection continues in
//! a task of its own, sized for the WebSocket (see `serve_with`).

mod admission;
mod conn_log;
mod dispatch;

use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::timeout;

use crate::auth::{self, Principal};
use crate::http::{self, HttpError, Parse};
use crate::runtime::access_log::Peer;
use crate::runtime::api::{self, error_into};
use crate::runtime::record::{Recording, READ_CHUNK};
use crate::runtime::transport::{Kind, Transport};
use crate::runtime::worker::{ConnHandle, CrossCore, Worker};
use crate::runtime::wsconn::{self, Ending, WsConfig};
use admission::{head_facts, peer_ip};
pub use conn_log::refused_at_capacity;
use conn_log::ConnLog;
use dispatch::{dispatch, Call, Next, Upgrade, ECHO_MAX_MESSAGE, SESSION_MAX_MESSAGE};

/// Why the connection loop stops.
enum Exit {
    /// Close at once (EOF, IO error, idle timeout, shutdown).
    Now,
    /// An error response was queued: send it, then close without resetting the
    /// connection under the client's unread request bytes.
    Linger,
    /// The `101` is queued: the connection is a WebSocket from here on.
    Upgrade(Upgrade, Option<crate::ws::Deflate>),
}

/// The longest we keep reading (and discarding) after an error response.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;
/// Responses are flushed once this much is queued, even mid-pipeline.
const FLUSH_AT: usize = 64 * 1024;

/// Serves a connection. When another core handed it over, `buffered` holds the bytes
/// it had read (the next request first) and `carried` what its admission point decided
/// for that request.
pub async fn serve_with(
    w: Rc<Worker>,
    stream: Transport,
    buffered: Vec<u8>,
    carried: Option<Option<Principal>>,
) {
    let stream = Rc::new(stream);
    let (slot, handle) = w.register(&stream);
    let log = w.shared.access_log.as_ref().map(|_| {
        let peer = Peer::of(stream.peer_addr(), stream.kind() == Kind::Tcp);
        Box::new(ConnLog::new(peer))
    });
    // An adopted connection's first bytes were read on the core that handed it over.
    stream.tally.rx.set(buffered.len() as u64);
    let mut conn = Conn {
        log,
        carried,
        peer: std::cell::Cell::new(None),
        moved: false,
        // Allocated by the first read, once the socket is readable.
        buf: buffered,
        out: Vec::new(),
        body: Vec::new(),
        w,
        stream,
        slot,
        handle,
        upgrade: None,
    };
    let exit = loop {
        match conn.request().await {
            Ok(true) => continue,
            Ok(false) => break Exit::Now,
            Err(Exit::Upgrade(endpoint, deflate)) => {
                conn.upgrade = Some((endpoint, deflate));
                // A task of its own, sized for the WebSocket alone: this one's future is
                // as large as its largest HTTP request, and would be kept for the
                // connection's whole life. A block, not an async fn: it uses `conn` in
                // place, where an async fn would keep a second copy of its arguments.
                crate::rt::spawn(async move {
                    let exit = conn.upgraded().await;
                    conn.close(exit).await;
                    if let Some(log) = conn.log.as_deref_mut() {
                        log.ws_end(&conn.w, &conn.stream.tally);
                    }
                });
                return;
            }
            Err(e) => break e,
        }
    };
    conn.close(exit).await;
}

struct Conn {
    /// The admission of the first request, decided by the core that handed the
    /// connection over.
    carried: Option<Option<Principal>>,
    /// The peer's address, looked up once when first needed (`Some(None)`: a unix
    /// socket, or unknown).
    peer: std::cell::Cell<Option<Option<IpAddr>>>,
    /// Handed to another core: its socket lives on there.
    moved: bool,
    w: Rc<Worker>,
    stream: Rc<Transport>,
    slot: usize,
    handle: Rc<ConnHandle>,
    /// Request heads and whatever follows them (bodies, pipelined requests).
    buf: Vec<u8>,
    /// Responses not yet written.
    out: Vec<u8>,
    /// A body that did not fit in `buf`.
    body: Vec<u8>,
    /// The access log's state for this connection; `None` when the log is off.
    log: Option<Box<ConnLog>>,
    /// The endpoint an upgrade asked for, until `upgraded` takes it. A field, not an
    /// argument: the WebSocket task keeps it once, where an `async fn` argument and the
    /// spawned block's capture of it kept it three times (96 bytes each), and that task
    /// lives as long as its client (2,992 bytes, down to mimalloc's 3,072-byte class).
    upgrade: Option<(Upgrade, Option<crate::ws::Deflate>)>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Ends the socket for the peer and for any task still holding the stream, not
        // only when the last reference goes. Not for a moved connection: the socket
        // lives on in another core's duplicate descriptor.
        if !self.moved {
            self.stream.shutdown();
        }
        self.w.unregister(self.slot, std::thread::panicking());
    }
}

impl Conn {
    /// Serves one request. `Ok(true)`: keep the connection for another. With the
    /// access log on, its line is made around it (see `access_log::ConnLog`).
    async fn request(&mut self) -> Result<bool, Exit> {
        let Some(log) = self.log.as_deref_mut() else { return self.serve_request().await };
        log.begin(self.out.len());
        let result = self.serve_request().await;
        if let Some(log) = self.log.as_deref_mut() {
            log.end(&self.w, &self.out, self.buf.len(), self.moved);
        }
        result
    }

    /// [`request`](Self::request) itself.
    ///
    /// The parsed head (an array of [`MAX_HEADERS`] borrowed headers, 4 KiB) is never
    /// held across an `.await`: the head is parsed once for what the reads need and
    /// again, synchronously, to dispatch. Parsing is cheap; a task that keeps 4 KiB per
    /// idle or upgraded connection is not.
    async fn serve_request(&mut self) -> Result<bool, Exit> {
        self.fill_head().await?;
        let limits = &self.w.cfg.http;
        let carried = self.carried.take();
        let (stream, cache) = (&self.stream, &self.peer);
        let peer = || peer_ip(stream, cache);
        // With -A, the handshake verified a client certificate: the user it names.
        let client_cert = self.w.cfg.tls.as_ref().filter(|t| t.requires_client_certs());
        let client_cert = client_cert.and_then(|t| stream.client_user(t.files().user));
        let Some(head) =
            head_facts(&self.w, &self.buf, self.log.as_deref_mut(), carried, peer, client_cert.as_deref())
        else {
            // fill_head returned only once this parse completes.
            self.error(HttpError::Malformed.status(), HttpError::Malformed.reason(), &[]);
            return Err(Exit::Linger);
        };
        // Before anything else, and before the request moves to another core: one
        // admission point (the Host and origin checks), so no route can skip it.
        let principal = match head.admitted {
            Ok(p) => p,
            Err(refusal) => {
                self.w.stats().request_denied(refusal);
                let location = head.login.as_deref().unwrap_or_default();
                let extra: &[(&str, &str)] = match refusal {
                    auth::Refusal::Login => &[("Location", location), ("Cache-Control", "no-store")],
                    auth::Refusal::Unauthorized(_) => &[("WWW-Authenticate", "Bearer")],
                    _ => &[],
                };
                self.error(refusal.status(), refusal.reason(), extra);
                return Err(Exit::Linger);
            }
        };
        if let Some(log) = self.log.as_deref_mut() {
            log.user(principal.as_ref());
        }
        if let Err(retry) = self.rate_limited(head.client) {
            self.w.stats().rate_limited();
            let secs = retry.0.to_string();
            let reason = format!("rate limited (--rate-limit): retry in {secs} s");
            self.error(429, &reason, &[("Retry-After", &secs)]);
            return Err(Exit::Linger);
        }
        if let Some(core) = head.owner {
            return Err(self.move_to(core, principal).await);
        }
        if head.content_length > limits.max_body_bytes {
            let e = HttpError::BodyTooLarge;
            error_into(&self.w, &mut self.out, e.status(), e.reason(), &[]);
            return Err(Exit::Linger);
        }
        let cl = head.content_length as usize;
        let buffered = self.buf.len() - head.len;
        let in_buf = cl <= buffered;
        if !in_buf {
            if head.expect_continue {
                self.out.extend_from_slice(http::CONTINUE);
                self.flush().await?;
            }
            self.body.clear();
            self.body.extend_from_slice(&self.buf[head.len..]);
            let partial = std::mem::take(&mut self.body);
            self.body = read_body(&self.w, &self.stream, partial, cl, &mut self.out).await?;
        }
        let body = if in_buf { &self.buf[head.len..head.len + cl] } else { &self.body[..] };
        let (next, keep_alive) = {
            let limits = &self.w.cfg.http;
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let n = limits.max_headers.min(MAX_HEADERS);
            let Ok(Parse::Complete(req)) = http::parse(&self.buf, &mut headers[..n], limits) else {
                // Not reached: the same bytes parsed a moment ago.
                let e = HttpError::Malformed;
                error_into(&self.w, &mut self.out, e.status(), e.reason(), &[]);
                return Err(Exit::Linger);
            };
            let keep_alive = req.keep_alive && !self.w.shutting_down();
            let call = Call { req: &req, body, keep_alive, principal, client: head.client };
            (dispatch(&self.w, call, &mut self.out), keep_alive)
        };
        let consumed = head.len + cl.min(buffered);
        self.buf.drain(..consumed);
        match next {
            Next::Respond => {}
            Next::Upgrade(endpoint, deflate) => return Err(Exit::Upgrade(endpoint, deflate)),
            Next::Create(body, p) => {
                let reply = api::create(&self.w, &body, &p).await;
                api::write(&self.w, reply, keep_alive, false, &mut self.out);
            }
            Next::List(query, head_only, p) => {
                let reply = api::list(&self.w, query.as_deref(), &p).await;
                api::write(&self.w, reply, keep_alive, head_only, &mut self.out);
            }
            Next::Login(body, client) => {
                let login = api::auth::login(&self.w, &body, client).await;
                let reply = match login.cookie {
                    Some(cookie) => {
                        login.reply.with("Set-Cookie", cookie).with("Cache-Control", "no-store".into())
                    }
                    None => login.reply,
                };
                api::write(&self.w, reply, keep_alive, false, &mut self.out);
            }
            Next::Share(body, p) => {
                let reply = api::auth::share(&self.w, &p, &body).await;
                api::write(&self.w, reply, keep_alive, false, &mut self.out);
            }
            Next::Fleet(call, head_only) => {
                let reply = api::fleet::run(&self.w, call).await;
                api::write(&self.w, reply, keep_alive, head_only, &mut self.out);
            }
            Next::Cast(rec, head_only) => self.download(rec, keep_alive, head_only).await?,
        }
        if self.body.capacity() > 64 * 1024 {
            self.body = Vec::new();
        }
        if !keep_alive {
            return Ok(false);
        }
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(true)
    }

    /// Reads until `buf` holds a complete request head, answering errors and timeouts.
    async fn fill_head(&mut self) -> Result<(), Exit> {
        let mut deadline: Option<Instant> = None;
        loop {
            let parsed = {
                let limits = &self.w.cfg.http;
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let n = limits.max_headers.min(MAX_HEADERS);
                http::parse(&self.buf, &mut headers[..n], limits).map(|p| matches!(p, Parse::Complete(_)))
            };
            match parsed {
                Ok(true) => {
                    self.set_idle(false);
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => {
                    self.error(e.status(), e.reason(), &[]);
                    return Err(Exit::Linger);
                }
            }
            // Answers to pipelined requests go out before we wait for more.
            self.flush().await?;
            let idle = self.buf.is_empty();
            self.set_idle(idle);
            if idle {
                // A keep-alive connection between requests holds no buffers.
                self.buf = Vec::new();
                self.out = Vec::new();
            }
            if idle && self.w.shutting_down() {
                return Err(Exit::Now);
            }
            // A TLS handshake is part of the first request: under the head's deadline.
            let wait = if idle && !self.stream.handshaking() {
                self.w.cfg.idle_timeout
            } else {
                let d = *deadline.get_or_insert_with(|| Instant::now() + self.w.cfg.head_timeout);
                d.saturating_duration_since(Instant::now())
            };
            match self.read_more(wait).await {
                Ok(0) => return Err(Exit::Now),
                Ok(_) => {
                    if idle {
                        deadline = Some(Instant::now() + self.w.cfg.head_timeout);
                    }
                }
                Err(None) if !idle => {
                    let e = HttpError::HeadTimeout;
                    self.error(e.status(), e.reason(), &[]);
                    return Err(Exit::Linger);
                }
                Err(_) => return Err(Exit::Now),
            }
        }
    }

    /// One read into `buf`, up to the head limit. `Err(None)` is a timeout.
    async fn read_more(&mut self, wait: Duration) -> Result<usize, Option<std::io::Error>> {
        let room = self.w.cfg.http.max_head_bytes.saturating_sub(self.buf.len());
        debug_assert!(room > 0, "parse refuses a full head buffer");
        let Ok(res) = timeout(wait, self.stream.read(&mut self.buf, room.max(1))).await else {
            return Err(None);
        };
        let n = res.map_err(Some)?;
        self.w.stats().bytes_in(n);
        Ok(n)
    }

    /// Hands the connection to `core` with everything read so far (the current request
    /// first): a session and all its clients live on the core that owns it.
    async fn move_to(&mut self, core: usize, principal: Option<Principal>) -> Exit {
        // Answers to earlier pipelined requests go out first, in order.
        if self.flush().await.is_err() {
            return Exit::Now;
        }
        let buffered = std::mem::take(&mut self.buf);
        let Ok(parcel) = self.stream.pack(buffered).await else {
            error_into(
                &self.w,
                &mut self.out,
                503,
                "cannot hand the connection to its session's worker",
                &[],
            );
            return Exit::Linger;
        };
        if self.w.shared.inboxes[core].send(CrossCore::Adopt { parcel, principal }).is_err() {
            error_into(&self.w, &mut self.out, 503, "the session's worker is gone", &[]);
            return Exit::Linger;
        }
        self.moved = true;
        Exit::Now
    }

    /// Serves the connection as a WebSocket (`self.upgrade`) after its `101` was queued.
    /// The bytes behind the upgrade request are already the first WebSocket frames.
    async fn upgraded(&mut self) -> Exit {
        self.set_idle(false);
        if self.flush().await.is_err() {
            return Exit::Now;
        }
        let leftover = std::mem::take(&mut self.buf);
        if let Some(log) = self.log.as_deref_mut() {
            log.upgraded(&self.stream.tally, leftover.len());
        }
        self.out = Vec::new();
        let Some((endpoint, deflate)) = self.upgrade.take() else { return Exit::Now };
        let ending = match endpoint {
            Upgrade::Echo => {
                let cfg = WsConfig {
                    max_message: ECHO_MAX_MESSAGE,
                    ping_interval: self.w.cfg.ping_interval(),
                    deflate,
                };
                wsconn::serve_echo(&self.w, &self.stream, &self.handle, leftover, cfg).await
            }
            Upgrade::Ttyd(argv, principal) => {
                let cfg = WsConfig {
                    max_message: SESSION_MAX_MESSAGE,
                    ping_interval: self.w.cfg.ping_interval(),
                    deflate,
                };
                // Boxed (once per connection): its wait for the first message and the
                // spawn make it the largest endpoint, and every connection's future
                // would be as large.
                let sid = std::cell::Cell::new(None);
                let ending = Box::pin(wsconn::serve_ttyd(
                    &self.w,
                    &self.stream,
                    &self.handle,
                    leftover,
                    cfg,
                    (argv, principal),
                    &sid,
                ))
                .await;
                if let Some(log) = self.log.as_deref_mut() {
                    log.ws_session(sid.get());
                }
                ending
            }
            Upgrade::Session(live, since, principal) => {
                let cfg = WsConfig {
                    max_message: SESSION_MAX_MESSAGE,
                    ping_interval: self.w.cfg.ping_interval(),
                    deflate,
                };
                let writable = principal.may_write();
                wsconn::serve_session(
                    &self.w,
                    &self.stream,
                    &self.handle,
                    leftover,
                    cfg,
                    live,
                    (since, writable),
                )
                .await
            }
        };
        match ending {
            Ending::Done => Exit::Now,
            Ending::Failed => Exit::Linger,
        }
    }

    /// `--rate-limit`: takes a token from the client's bucket on this core.
    fn rate_limited(&self, client: Option<IpAddr>) -> Result<(), auth::RetryAfter> {
        let Some(ip) = client else { return Ok(()) };
        let now = self.w.now_ms();
        self.w.limits.borrow_mut().requests.check(auth::LimitKind::Request, ip, now)
    }

    fn set_idle(&self, idle: bool) {
        self.handle.idle.set(idle);
    }

    fn error(&mut self, status: u16, reason: &str, extra: &[(&str, &str)]) {
        error_into(&self.w, &mut self.out, status, reason, extra);
    }

    /// Sends what is queued, then lingers if the exit asks for it.
    async fn close(&mut self, exit: Exit) {
        if self.flush().await.is_ok() {
            if let Exit::Linger = exit {
                self.linger().await;
            }
        }
    }

    /// Streams a recording (`GET /api/sessions/{id}/cast`): the head with the length the
    /// writer thread reports once it has written what was pending, then the file in
    /// chunks it reads (`runtime::record`), each sent before the next is asked for. A
    /// download holds one chunk of memory, and the worker never reads the disk itself.
    async fn download(&mut self, rec: Arc<Recording>, keep_alive: bool, head_only: bool) -> Result<(), Exit> {
        let w = self.w.clone();
        let Some(recorder) = w.shared.recorder.as_ref() else { return Err(Exit::Now) };
        let Ok(len) = recorder.sync(&rec).await else {
            error_into(
                &w,
                &mut self.out,
                503,
                "the recording's writer has stopped (the server is stopping)",
                &[],
            );
            return Err(Exit::Linger);
        };
        api::cast::head(&w, &rec, len, keep_alive, &mut self.out);
        if head_only {
            return Ok(());
        }
        let mut sent = 0u64;
        while sent < len {
            let want = usize::try_from(len - sent).unwrap_or(READ_CHUNK).min(READ_CHUNK);
            // The length was promised: a read that fails or comes back short ends the
            // connection (the client sees a truncated body, not a wrong one).
            let chunk = match recorder.read(&rec, sent, want).await {
                Ok(Ok(chunk)) if !chunk.is_empty() => chunk,
                Ok(Err(e)) => {
                    warn!("recording {}: cannot read it for a download: {e}", rec.file_name());
                    return Err(Exit::Now);
                }
                _ => return Err(Exit::Now),
            };
            sent += chunk.len() as u64;
            self.out.extend_from_slice(&chunk);
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Exit> {
        let Some(log) = self.log.as_deref_mut() else {
            return write_out(&self.w, &self.stream, &mut self.out).await;
        };
        log.flushing(&self.out);
        let written = write_out(&self.w, &self.stream, &mut self.out).await;
        if let Some(log) = self.log.as_deref_mut() {
            log.written(&self.w);
        }
        written
    }

    /// After an error response: stop sending, read and discard what the client is still
    /// sending for a bounded time, so the response is not destroyed by a reset.
    async fn linger(&mut self) {
        self.stream.shutdown_write();
        let until = Instant::now() + LINGER;
        let mut discarded = 0;
        let mut scratch = std::mem::take(&mut self.buf);
        while discarded < LINGER_BYTES {
            scratch.clear();
            let wait = until.saturating_duration_since(Instant::now());
            let Ok(Ok(n)) = timeout(wait, self.stream.read(&mut scratch, 16 * 1024)).await else { return };
            if n == 0 {
                return;
            }
            discarded += n;
        }
    }
}

/// The header array's size; `Limits::max_headers` may lower it, never raise it.
const MAX_HEADERS: usize = 128;

async fn write_out(w: &Worker, stream: &Transport, out: &mut Vec<u8>) -> Result<(), Exit> {
    if out.is_empty() {
        return Ok(());
    }
    let n = out.len();
    stream.write_all(out).await.map_err(|_| Exit::Now)?;
    w.stats().bytes_out(n);
    out.clear();
    Ok(())
}

/// Reads the rest of a body that did not fit in the head buffer. `body` already holds
/// what was buffered; the reads never go past `len`, so no pipelined bytes land here.
///
/// The whole body has `--http-body-timeout` from now (a total, so a byte now and then
/// cannot keep it open; then 408), and the buffer grows with what arrives, never
/// reserved from `Content-Length` (a client that declares 1 MiB and sends a byte holds
/// 16 KiB, not 1 MiB).
async fn read_body(
    w: &Worker,
    stream: &Transport,
    mut body: Vec<u8>,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<Vec<u8>, Exit> {
    let until = Instant::now() + w.cfg.body_timeout;
    while body.len() < len {
        let room = body_read_room(body.len(), len);
        let wait = until.saturating_duration_since(Instant::now());
        let Ok(res) = timeout(wait, stream.read(&mut body, room)).await else {
            let e = HttpError::BodyTimeout;
            error_into(w, out, e.status(), e.reason(), &[]);
            return Err(Exit::Linger);
        };
        match res {
            Ok(0) | Err(_) => return Err(Exit::Now),
            Ok(n) => w.stats().bytes_in(n),
        }
    }
    Ok(body)
}

/// The smallest step a body buffer grows by (a read buffer's size).
const BODY_CHUNK: usize = 16 * 1024;

/// How much the next read of a body may take, and so how much room it makes: what is
/// missing, but no more than the body already holds (at least [`BODY_CHUNK`]). The
/// buffer doubles as bytes arrive: never more than twice what was received plus a
/// chunk, nor larger than the body.
fn body_read_room(have: usize, len: usize) -> usize {
    len.saturating_sub(have).min(have.max(BODY_CHUNK))
}

#[cfg(test)]
mod body_tests;
