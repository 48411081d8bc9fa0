//! One HTTP/1.1 connection: read heads into a bounded buffer, answer pipelined requests
//! in order, keep alive, and close on error, timeout or shutdown.
//!
//! Reads wait for readiness first and take the buffer only then (see `Stream`), so a
//! keep-alive connection between requests holds no buffer and a timed-out read loses
//! nothing. Closing a connection starts with `shutdown(2)`, so the peer and any write
//! still waiting on the stream see the end at once. An upgraded connection continues in
//! a task of its own, sized for the WebSocket (see `serve_with`).

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::time::timeout;

use super::access_log::{ConnLog, Peer};
use super::stream::Stream;
use super::worker::{ConnHandle, Worker};
use super::ws::{Ending, WsConfig};
use crate::auth::{self, Principal};
use crate::http::{self, Head, HttpError, Parse, Request, Route};
use crate::ws;

/// Why the connection loop stops.
enum Exit {
    /// Close at once (EOF, IO error, idle timeout, shutdown).
    Now,
    /// An error response was queued: send it, then close without resetting the
    /// connection under the client's unread request bytes.
    Linger,
    /// The `101` is queued: the connection is a WebSocket from here on.
    Upgrade(Upgrade),
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
    stream: Stream,
    buffered: Vec<u8>,
    carried: Option<Option<Principal>>,
) {
    let stream = Rc::new(stream);
    let (slot, handle) = w.register(&stream);
    let tcp = matches!(w.cfg.listen, crate::config::Listen::Tcp(_));
    let log = w.shared.access_log.as_ref().map(|_| Box::new(ConnLog::new(Peer::of(stream.as_fd(), tcp))));
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
            Err(Exit::Upgrade(endpoint)) => {
                conn.upgrade = Some(endpoint);
                // A task of its own, sized for the WebSocket alone: this one's future is
                // as large as its largest HTTP request, and would be kept for the
                // connection's whole life. A block, not an async fn: it uses `conn` in
                // place, where an async fn would keep a second copy of its arguments.
                tokio_uring::spawn(async move {
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
    stream: Rc<Stream>,
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
    upgrade: Option<Upgrade>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Ends the socket for the peer and for any task still holding the stream, not
        // only when the last reference goes. Not for a moved connection: the socket
        // lives on in another core's duplicate descriptor.
        if !self.moved {
            crate::sys::shutdown(self.stream.as_fd());
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
        let (w, stream, cache) = (&self.w, &self.stream, &self.peer);
        let peer = || peer_ip(w, stream, cache);
        let Some(head) = head_facts(&self.w, &self.buf, self.log.as_deref_mut(), carried, peer) else {
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
            Next::Upgrade(endpoint) => return Err(Exit::Upgrade(endpoint)),
            Next::Create(body, p) => {
                let reply = super::api::create(&self.w, &body, &p).await;
                super::api::write(&self.w, reply, keep_alive, false, &mut self.out);
            }
            Next::List(query, head_only, p) => {
                let reply = super::api::list(&self.w, query.as_deref(), &p).await;
                super::api::write(&self.w, reply, keep_alive, head_only, &mut self.out);
            }
            Next::Login(body, client) => {
                let login = super::auth_api::login(&self.w, &body, client).await;
                let reply = match login.cookie {
                    Some(cookie) => {
                        login.reply.with("Set-Cookie", cookie).with("Cache-Control", "no-store".into())
                    }
                    None => login.reply,
                };
                super::api::write(&self.w, reply, keep_alive, false, &mut self.out);
            }
            Next::Share(body, p) => {
                let reply = super::auth_api::share(&self.w, &p, &body).await;
                super::api::write(&self.w, reply, keep_alive, false, &mut self.out);
            }
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
            let wait = if idle {
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
        let dup = crate::sys::dup(self.stream.as_fd());
        let Ok(fd) = dup else {
            error_into(
                &self.w,
                &mut self.out,
                503,
                "cannot hand the connection to its session's worker",
                &[],
            );
            return Exit::Linger;
        };
        let buffered = std::mem::take(&mut self.buf);
        if self.w.shared.inboxes[core]
            .send(super::worker::CrossCore::Adopt { fd, buffered, principal })
            .is_err()
        {
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
        let Some(endpoint) = self.upgrade.take() else { return Exit::Now };
        let ending = match endpoint {
            Upgrade::Echo => {
                let cfg =
                    WsConfig { max_message: ECHO_MAX_MESSAGE, ping_interval: self.w.cfg.ping_interval() };
                super::ws::serve_echo(&self.w, &self.stream, &self.handle, leftover, cfg).await
            }
            Upgrade::Ttyd(argv, principal) => {
                let cfg =
                    WsConfig { max_message: SESSION_MAX_MESSAGE, ping_interval: self.w.cfg.ping_interval() };
                // Boxed (once per connection): its wait for the first message and the
                // spawn make it the largest endpoint, and every connection's future
                // would be as large.
                let sid = std::cell::Cell::new(None);
                let ending = Box::pin(super::ttyd::serve(
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
                let cfg =
                    WsConfig { max_message: SESSION_MAX_MESSAGE, ping_interval: self.w.cfg.ping_interval() };
                let writable = principal.may_write();
                super::ws::serve_session(
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
        crate::sys::shutdown_write(self.stream.as_fd());
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

/// What `Conn::request` needs from a complete head across its reads.
struct HeadFacts {
    len: usize,
    content_length: u64,
    expect_continue: bool,
    /// The core owning the session the request is about, when it is not this one.
    owner: Option<usize>,
    /// The admission point's verdict (`auth::admit`).
    admitted: Result<Option<Principal>, auth::Refusal>,
    /// Where a page asked without a credential is sent (the login page).
    login: Option<String>,
    /// The client's address: the peer's, or the one a `--trusted-proxy` peer names in
    /// `X-Forwarded-For`. Looked up only when something needs it.
    client: Option<IpAddr>,
}

/// Parses the complete head at the start of `buf`; `None` if it does not parse.
fn head_facts(
    w: &Worker,
    buf: &[u8],
    log: Option<&mut ConnLog>,
    carried: Option<Option<Principal>>,
    peer: impl FnOnce() -> Option<IpAddr>,
) -> Option<HeadFacts> {
    let limits = &w.cfg.http;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let n = limits.max_headers.min(MAX_HEADERS);
    let Ok(Parse::Complete(req)) = http::parse(buf, &mut headers[..n], limits) else {
        return None;
    };
    let route = http::route(req.method, req.path, &w.cfg.base_path, w.cfg.ws_echo.as_deref());
    let kind = match route {
        Route::Ttyd | Route::WsEcho | Route::Session(_, http::SessionPart::Ws) => auth::Kind::Upgrade,
        _ if matches!(req.method, http::Method::Get | http::Method::Head) => auth::Kind::Read,
        _ => auth::Kind::Change,
    };
    let policy = &w.cfg.admission;
    let proxies = policy.auth.as_ref().and_then(|a| a.trusted_proxies.as_ref());
    let header = policy.auth.as_ref().and_then(|a| a.header.as_deref());
    let proxy_user = header.and_then(|h| req.header(h));
    // The peer is looked up only when an option needs it.
    let wants_peer = proxy_user.is_some()
        || proxies.is_some()
        || w.cfg.access.rate_limit.is_some()
        || route == Route::Login;
    let peer = if wants_peer { peer() } else { None };
    let client = peer.map(|p| auth::client_ip(p, req.header("x-forwarded-for"), proxies));
    let ask = auth::Ask {
        kind,
        need: need(w, route),
        host: req.header("host"),
        origin: req.header("origin"),
        peer,
        authorization: req.header("authorization"),
        cookie: req.header("cookie"),
        query: req.query,
        proxy_user,
    };
    let session = session_id(w, route);
    if let Some(log) = log {
        log.head(&req, session);
    }
    let admitted = match carried {
        Some(decided) => Ok(decided),
        None => auth::admit(&ask, policy, super::auth_api::unix_now()),
    };
    let login =
        matches!(admitted, Err(auth::Refusal::Login)).then(|| super::auth_api::login_location(w, &req));
    Some(HeadFacts {
        len: req.head_len,
        content_length: req.content_length,
        expect_continue: req.expect_continue,
        owner: owning_core(w, session),
        admitted,
        login,
        client,
    })
}

/// The peer's address, from one `getpeername(2)` the first time it is needed.
fn peer_ip(w: &Worker, stream: &Stream, cache: &std::cell::Cell<Option<Option<IpAddr>>>) -> Option<IpAddr> {
    if let Some(known) = cache.get() {
        return known;
    }
    let tcp = matches!(w.cfg.listen, crate::config::Listen::Tcp(_));
    let ip = if tcp { crate::sys::peer_addr(stream.as_fd()).map(|a| a.ip().to_canonical()) } else { None };
    cache.set(Some(ip));
    ip
}

/// What each route needs besides the `Host` and origin checks: pages a principal or the
/// login page, the API and WebSockets a principal (ttyd's `/ws` may bring it in its
/// first message), and only the health check, the login page, its assets and the
/// login itself nothing.
fn need(w: &Worker, route: Route<'_>) -> auth::Need {
    use auth::Need;
    match route {
        Route::Health | Route::AuthInfo | Route::Login | Route::Logout | Route::AddSlash => Need::Open,
        Route::MethodNotAllowed(_) | Route::NotFound => Need::Open,
        Route::Page("/login") => Need::Open,
        Route::Page(path) if w.shared.site.is_page(path) => Need::Page,
        Route::Page(_) => Need::Open,
        Route::Ttyd => Need::PrincipalOrInit,
        Route::Metrics | Route::Sessions | Route::Session(..) | Route::WsEcho | Route::Token => {
            Need::Principal
        }
        Route::Config | Route::Tokens => Need::Principal,
    }
}

/// The core that owns the session a request is about, when it is not this one.
fn owning_core(w: &Worker, session: Option<crate::session::SessionId>) -> Option<usize> {
    let core = session?.core();
    (core != w.index && core < w.shared.inboxes.len()).then_some(core)
}

/// The session a request is about (its owner may be another core).
fn session_id(w: &Worker, route: Route<'_>) -> Option<crate::session::SessionId> {
    let Route::Session(id, _) = route else { return None };
    crate::session::SessionId::parse(id, w.node.as_ref()).ok()
}

/// The header array's size; `Limits::max_headers` may lower it, never raise it.
const MAX_HEADERS: usize = 128;

async fn write_out(w: &Worker, stream: &Stream, out: &mut Vec<u8>) -> Result<(), Exit> {
    if out.is_empty() {
        return Ok(());
    }
    let n = out.len();
    let (res, mut buf) = stream.write_all(std::mem::take(out)).await;
    res.map_err(|_| Exit::Now)?;
    w.stats().bytes_out(n);
    buf.clear();
    *out = buf;
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
    stream: &Stream,
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

pub(super) fn error_into(w: &Worker, out: &mut Vec<u8>, status: u16, reason: &str, extra: &[(&str, &str)]) {
    let mut body = Vec::with_capacity(64);
    http::json_error(reason, &mut body);
    respond(w, out, status, "application/json", &body, false, extra, false);
}

#[allow(clippy::too_many_arguments)]
pub(super) fn respond(
    w: &Worker,
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    extra: &[(&str, &str)],
    head_only: bool,
) {
    Head { status, content_type, content_length: body.len(), keep_alive, extra }.write(&w.date(), out);
    if !head_only {
        out.extend_from_slice(body);
    }
    w.stats().response(status);
}

/// The echo endpoint accepts messages of up to 16 MiB (conformance suites send them).
const ECHO_MAX_MESSAGE: u64 = 16 * 1024 * 1024;

/// What the connection does after a response.
enum Next {
    Respond,
    /// A `101` was queued: the connection is now a WebSocket for this endpoint.
    Upgrade(Upgrade),
    /// `POST /api/sessions`: the spawn is awaited (off the loop) before answering.
    Create(Vec<u8>, Principal),
    /// `GET /api/sessions`: the other cores are asked for theirs.
    List(Option<String>, bool, Principal),
    /// `POST /login`: a password check may run on a thread of its own.
    Login(Vec<u8>, Option<IpAddr>),
    /// `POST /api/tokens`: the session's core is asked who owns it.
    Share(Vec<u8>, Principal),
}

enum Upgrade {
    Echo,
    /// The native protocol on a session, resuming at `since` if given.
    Session(Rc<super::session::Live>, Option<u64>, Principal),
    /// ttyd's protocol: a new process running this command line per connection, for
    /// the principal of the upgrade or (if none) of its init message.
    Ttyd(Vec<std::ffi::OsString>, Option<Principal>),
}

/// The largest message a session client may send (SPEC §4: 1 MiB by default).
const SESSION_MAX_MESSAGE: u64 = 1024 * 1024;

/// One admitted request, for [`dispatch`].
struct Call<'r, 'b> {
    req: &'r Request<'b>,
    body: &'r [u8],
    keep_alive: bool,
    /// `None` only on an open route asked without a credential (and ttyd's `/ws`).
    principal: Option<Principal>,
    client: Option<IpAddr>,
}

/// Routes one complete, admitted request and queues its response.
fn dispatch(w: &Rc<Worker>, call: Call<'_, '_>, out: &mut Vec<u8>) -> Next {
    let Call { req, body, keep_alive, principal, client } = call;
    let head_only = req.method == http::Method::Head;
    if w.fault_injection {
        w.inject_fault(req.path);
    }
    let route = http::route(req.method, req.path, &w.cfg.base_path, w.cfg.ws_echo.as_deref());
    match route {
        Route::Health => {
            let now = Instant::now();
            let status = if w.shared.all_alive() { 200 } else { 503 };
            let json = w.shared.health_json(w.index, now);
            respond(w, out, status, "application/json", json.as_bytes(), keep_alive, &NO_STORE, head_only);
            return Next::Respond;
        }
        Route::AuthInfo => {
            super::api::write(w, super::auth_api::info(w, principal.as_ref()), keep_alive, head_only, out);
            return Next::Respond;
        }
        Route::Login => return Next::Login(body.to_vec(), client),
        Route::Logout => {
            super::auth_api::logout(w, keep_alive, out);
            return Next::Respond;
        }
        Route::Ttyd => {
            let argv = match ttyd_command(w, req.query) {
                Ok(argv) => argv,
                Err(reason) => {
                    error_into(w, out, 400, reason, &[]);
                    return Next::Respond;
                }
            };
            return upgrade(w, req, body, out, Upgrade::Ttyd(argv, principal), &[TTYD_PROTOCOL]);
        }
        Route::AddSlash => add_slash(w, req, keep_alive, head_only, out),
        Route::Page(path) => {
            // A page asked with ?token=: swapped for the cookie, and the address cleaned.
            if let Some(p) = principal.as_ref().filter(|p| p.via == auth::Via::Query) {
                if w.shared.site.is_page(path) && !head_only {
                    super::auth_api::swap_page(w, req, p, keep_alive, out);
                    return Next::Respond;
                }
            }
            page(w, req, path, keep_alive, head_only, out);
        }
        Route::MethodNotAllowed(allow) => {
            let mut json = Vec::new();
            http::json_error("method not allowed", &mut json);
            respond(w, out, 405, "application/json", &json, keep_alive, &[("Allow", allow)], head_only);
        }
        Route::NotFound => {
            let mut json = Vec::new();
            http::json_error("not found", &mut json);
            respond(w, out, 404, "application/json", &json, keep_alive, &[], head_only);
        }
        _ => {
            // Every other route needs a principal: admission gave one, or refused.
            let Some(p) = principal else {
                error_into(w, out, 401, auth::UNAUTHORIZED, &[]);
                return Next::Respond;
            };
            return with_principal(w, req, route, (body, keep_alive), p, out);
        }
    }
    Next::Respond
}

/// The routes that act for a principal.
fn with_principal(
    w: &Rc<Worker>,
    req: &Request<'_>,
    route: Route<'_>,
    (body, keep_alive): (&[u8], bool),
    p: Principal,
    out: &mut Vec<u8>,
) -> Next {
    let head_only = req.method == http::Method::Head;
    let changes = req.method != http::Method::Get && req.method != http::Method::Head;
    match route {
        Route::WsEcho => return upgrade(w, req, body, out, Upgrade::Echo, &[]),
        Route::Sessions if changes => return Next::Create(body.to_vec(), p),
        Route::Sessions => return Next::List(req.query.map(str::to_owned), head_only, p),
        Route::Tokens => return Next::Share(body.to_vec(), p),
        Route::Session(id, http::SessionPart::Ws) => return attach(w, req, (id, body), p, out),
        Route::Session(id, part) => {
            let reply = super::api::session_call(w, req, (part, id), body, &p);
            super::api::write(w, reply, keep_alive, head_only, out);
        }
        Route::Metrics => {
            let text = w.shared.metrics_text(Instant::now());
            let ct = "text/plain; version=0.0.4; charset=utf-8";
            respond(w, out, 200, ct, text.as_bytes(), keep_alive, &NO_STORE, head_only);
        }
        Route::Token => {
            // ttyd's page asks for the token it sends in its first message: the
            // caller's own (never a password).
            let token = super::auth_api::ttyd_token(w, req, Some(&p));
            let json = serde_json::json!({ "token": token }).to_string();
            respond(w, out, 200, "application/json", json.as_bytes(), keep_alive, &NO_STORE, head_only);
        }
        Route::Config => {
            let json = w.shared.config_json.as_bytes();
            respond(w, out, 200, "application/json", json, keep_alive, &NO_STORE, head_only);
        }
        _ => error_into(w, out, 404, "not found", &[]),
    }
    Next::Respond
}

/// `GET .../ws`: the native attach, for a principal that reaches the session.
fn attach(
    w: &Rc<Worker>,
    req: &Request<'_>,
    (id, body): (&str, &[u8]),
    p: Principal,
    out: &mut Vec<u8>,
) -> Next {
    let live = match super::api::find(w, id, &p) {
        Ok(live) => live,
        Err(reply) => {
            super::api::write(w, reply, false, false, out);
            return Next::Respond;
        }
    };
    if live.state.borrow().config().dialect == crate::session::Dialect::Ttyd {
        error_into(w, out, 409, "a ttyd (/ws) session has one client: its own connection", &[]);
        return Next::Respond;
    }
    let since = match query_u64(req.query, "since") {
        Ok(s) => s,
        Err(()) => {
            error_into(w, out, 400, "since must be a byte offset", &[]);
            return Next::Respond;
        }
    };
    upgrade(w, req, body, out, Upgrade::Session(live, since, p), &[PROTOCOL])
}

fn add_slash(w: &Worker, req: &Request<'_>, keep_alive: bool, head_only: bool, out: &mut Vec<u8>) {
    let mut location = format!("{}/", w.cfg.base_path);
    if let Some(q) = req.query {
        location.push('?');
        location.push_str(q);
    }
    let mut json = Vec::new();
    http::json_error("moved: the path ends with a slash", &mut json);
    let extra = [("Location", location.as_str())];
    respond(w, out, 301, "application/json", &json, keep_alive, &extra, head_only);
}

fn page(w: &Worker, req: &Request<'_>, path: &str, keep_alive: bool, head_only: bool, out: &mut Vec<u8>) {
    let page = w.shared.site.get(path, req.header("accept-encoding"), req.header("if-none-match"));
    match page {
        Some(p) => {
            let head_only = head_only || p.status == 304;
            respond(w, out, p.status, p.content_type, p.body, keep_alive, &p.headers, head_only);
        }
        None => {
            let mut json = Vec::new();
            http::json_error("not found", &mut json);
            respond(w, out, 404, "application/json", &json, keep_alive, &[], head_only);
        }
    }
}

/// The native protocol's subprotocol name (optional for clients).
const PROTOCOL: &str = "ringtty.v1";
/// ttyd's subprotocol name (its page offers it; echoed when offered).
const TTYD_PROTOCOL: &str = "tty";

/// The command line of a ttyd connection: COMMAND, plus (with `-a`) every `arg` of the
/// query, percent-decoded, as ttyd does.
fn ttyd_command(w: &Worker, query: Option<&str>) -> Result<Vec<std::ffi::OsString>, &'static str> {
    use std::os::unix::ffi::OsStringExt;
    if w.cfg.terminal.command.is_empty() {
        return Err("ringtty was started without a COMMAND: /ws has nothing to run");
    }
    let mut argv = w.cfg.terminal.command.clone();
    if let (true, Some(q)) = (w.cfg.terminal.url_arg, query) {
        argv.extend(http::query_values(q, "arg").map(std::ffi::OsString::from_vec));
    }
    Ok(argv)
}

/// `name=N` from a query string; `Ok(None)` when absent.
fn query_u64(query: Option<&str>, name: &str) -> Result<Option<u64>, ()> {
    let Some(q) = query else { return Ok(None) };
    match q.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name) {
        None => Ok(None),
        Some((_, v)) => v.parse().map(Some).map_err(|_| ()),
    }
}

/// Answers a WebSocket upgrade request: `101` and the endpoint, or an error status.
fn upgrade(
    w: &Worker,
    req: &Request<'_>,
    body: &[u8],
    out: &mut Vec<u8>,
    endpoint: Upgrade,
    protocols: &[&str],
) -> Next {
    if !body.is_empty() {
        error_into(w, out, 400, "a WebSocket upgrade request has no body", &[]);
        return Next::Respond;
    }
    // RFC 6455 §4.1: "the HTTP version MUST be at least 1.1". An HTTP/1.0 upgrade
    // comes from no browser; refusing it keeps one shape of handshake to reason about.
    if req.minor_version < 1 {
        error_into(w, out, 400, "a WebSocket upgrade needs HTTP/1.1", &[]);
        return Next::Respond;
    }
    match ws::accept_upgrade(req.method_str, req.header_pairs(), protocols) {
        Ok(handshake) => {
            handshake.write_response(out);
            w.stats().response(101);
            Next::Upgrade(endpoint)
        }
        Err(e) => {
            error_into(w, out, e.status(), e.reason(), e.response_headers());
            Next::Respond
        }
    }
}

const NO_STORE: [(&str, &str); 1] = [("Cache-Control", "no-store")];

#[cfg(test)]
#[path = "conn_body_tests.rs"]
mod body_tests;
