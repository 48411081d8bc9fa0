//! The scenarios, and what they share: creating, attaching and deleting sessions like a
//! browser would, running many of them at once with a bound, and the raw-PTY twin.

pub mod api;
pub mod burst;
pub mod churn;
pub mod connect;
pub mod echo;
pub mod fleet;
pub mod handshake;
pub mod idle;
pub mod link;
pub mod relay;
pub mod stability;
pub mod throughput;
pub mod upgrade;

use std::future::Future;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Duration;

use ringtty::pty::{self, ChildDefaults, EnvRules, SpawnRequest, Spawned, Spawner, SpawnerConfig};
use tokio::io::unix::AsyncFd;
use tokio::sync::Semaphore;

use crate::cli::Protocol;
use crate::client::{control, Msg, Ws};
use crate::http::{create_body, HttpConn};
use crate::Ctx;
use link::Link;
use ringtty::protocol::ServerMsg;
use ringtty::ws::CloseCode;

/// `POST /api/sessions` on a fresh connection, retrying while the server answers 503
/// (its spawn queue is full) until `--timeout`. Returns the id, or why not.
pub async fn create(ctx: &Ctx, argv: &[&str]) -> Result<String, String> {
    let mut conn = HttpConn::connect(&ctx.target).await.map_err(|e| format!("create: connect: {e}"))?;
    create_on(ctx, &mut conn, argv).await
}

pub async fn create_on(ctx: &Ctx, conn: &mut HttpConn, argv: &[&str]) -> Result<String, String> {
    let body = create_body(argv);
    let deadline = tokio::time::Instant::now() + ctx.args.timeout;
    loop {
        let resp = conn
            .request("POST", "/api/sessions", Some(&body))
            .await
            .map_err(|e| format!("create: {}", e.kind()))?;
        if resp.status == 201 {
            let id = resp.json().and_then(|v| Some(v.get("id")?.as_str()?.to_string()));
            return id.ok_or_else(|| "create: no id in the answer".to_string());
        }
        if resp.status != 503 || tokio::time::Instant::now() >= deadline {
            let why =
                resp.json().and_then(|v| Some(v.get("error")?.as_str()?.to_string())).unwrap_or_default();
            return Err(format!("create: HTTP {} {why}", resp.status));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `DELETE /api/sessions/{id}`: the status.
pub async fn delete_on(conn: &mut HttpConn, id: &str) -> Result<u16, String> {
    let resp = conn
        .request("DELETE", &format!("/api/sessions/{id}"), None)
        .await
        .map_err(|e| format!("delete: {e}"))?;
    Ok(resp.status)
}

/// Deletes a session that a failed step left behind (best effort).
pub async fn discard(ctx: &Ctx, id: &str) {
    if let Ok(mut conn) = HttpConn::connect(&ctx.target).await {
        let _ = delete_on(&mut conn, id).await;
    }
}

/// Removes every id (best effort, bounded concurrency): DELETE, wait until the session
/// has exited, DELETE again (an exited session stays listed for --exited-ttl, holding
/// its scrollback). Returns how many are gone. The scenario's cleanup.
pub async fn delete_all(ctx: &Rc<Ctx>, ids: Vec<String>) -> usize {
    let ids = Rc::new(ids);
    let n = ids.len();
    let results = bounded(n, ctx.args.concurrency, |i| {
        let (ctx, ids) = (ctx.clone(), ids.clone());
        async move {
            let mut conn = HttpConn::connect(&ctx.target).await.ok()?;
            remove(&ctx, &mut conn, &ids[i]).await.ok()
        }
    })
    .await;
    results.iter().filter(|r| r.is_some()).count()
}

/// DELETE, wait (up to --timeout) for `exited`, DELETE again; Ok once GET says 404.
pub async fn remove(ctx: &Ctx, conn: &mut HttpConn, id: &str) -> Result<(), String> {
    let path = format!("/api/sessions/{id}");
    let first = delete_on(conn, id).await?;
    // 404: already gone; 200: it had exited and is now removed; 202: terminating.
    if first == 404 || first == 200 {
        return Ok(());
    }
    if first != 202 {
        return Err(format!("delete: HTTP {first}"));
    }
    let deadline = tokio::time::Instant::now() + ctx.args.timeout;
    loop {
        let resp = conn.request("GET", &path, None).await.map_err(|e| format!("get: {e}"))?;
        if resp.status == 404 {
            return Ok(());
        }
        let status = resp.json().and_then(|v| Some(v.get("status")?.as_str()?.to_string()));
        if status.as_deref() == Some("exited") {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err("delete: still running after --timeout".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let second = delete_on(conn, id).await?;
    if ![200, 202, 404].contains(&second) {
        return Err(format!("remove: HTTP {second}"));
    }
    let gone = conn.request("GET", &path, None).await.map_err(|e| format!("get: {e}"))?;
    if gone.status != 404 {
        return Err(format!("removed session still listed: HTTP {}", gone.status));
    }
    Ok(())
}

/// An attached native client: the socket, and the output offsets it has seen and acked.
pub struct Attached {
    pub ws: Ws,
    /// Offset of the next output byte.
    pub offset: u64,
    pub acked: u64,
    pub ack_every: u64,
    /// Output read together with `hello`, handed out by the first `recv`.
    pub pending: Vec<u8>,
}

impl Attached {
    /// Counts output; acks (like a browser that rendered it) once `ack_every` bytes wait.
    pub async fn account(&mut self, n: usize) -> std::io::Result<()> {
        self.offset += n as u64;
        if self.offset - self.acked >= self.ack_every {
            self.acked = self.offset;
            self.ws.send_ack(self.offset).await?;
        }
        Ok(())
    }
}

/// Opens `GET /api/sessions/{id}/ws`, waits for `hello`, and opts in to flow control with
/// a first ack, as ringtty's web page does.
pub async fn attach(ctx: &Ctx, id: &str) -> Result<Attached, String> {
    let path = format!("/api/sessions/{id}/ws");
    let mut ws =
        Ws::connect(&ctx.target, &path, Some("ringtty.v1")).await.map_err(|e| format!("attach: {e}"))?;
    let mut hello = None;
    let mut early = 0u64;
    // Output that came in the same read as hello, after it.
    let mut pending = Vec::new();
    while hello.is_none() {
        let mut closed = None;
        let open = ws
            .read(|m| match m {
                Msg::Text(t) => {
                    if let Some(ServerMsg::Hello { offset, .. }) = control(t) {
                        hello = Some(offset);
                    }
                }
                Msg::Output(b) if hello.is_some() => pending.extend_from_slice(b),
                Msg::Output(b) => early += b.len() as u64,
                Msg::Closed(code) => closed = Some(code),
                Msg::Pong(_) => {}
            })
            .await
            .map_err(|e| format!("attach: {e}"))?;
        if !open || closed.is_some() {
            return Err(format!("attach: closed before hello ({:?})", closed.flatten()));
        }
    }
    let offset = hello.unwrap_or(0);
    if early > 0 {
        return Err("attach: output before hello".into());
    }
    ws.send_ack(offset).await.map_err(|e| format!("attach: ack: {e}"))?;
    Ok(Attached { ws, offset, acked: offset, ack_every: ctx.args.ack_bytes, pending })
}

/// ttyd's protocol: `GET /ws?arg=A&arg=B...` (the server runs its COMMAND with these
/// arguments appended: start it as `ringtty -W -a env` or `ttyd -W -a env`), the first
/// message with the size, then output as it comes. No session id: the process ends
/// with the connection.
pub async fn attach_tty(ctx: &Ctx, argv: &[&str]) -> Result<Attached, String> {
    let mut path = String::from("/ws");
    for (i, arg) in argv.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str("arg=");
        percent_encode(arg, &mut path);
    }
    let mut ws = Ws::connect_tty(&ctx.target, &path, 80, 24).await.map_err(|e| format!("/ws: {e}"))?;
    // The server sends the window title once the process runs (ttyd too): wait for it,
    // so that a setup is complete (and bounded by --concurrency) when this returns.
    let (mut titled, mut closed, mut pending) = (false, None, Vec::new());
    while !titled {
        let open = ws
            .read(|m| match m {
                Msg::Text(_) => titled = true,
                Msg::Output(b) => pending.extend_from_slice(b),
                Msg::Closed(code) => closed = Some(code),
                Msg::Pong(_) => {}
            })
            .await
            .map_err(|e| format!("/ws: {e}"))?;
        if !titled && (closed.is_some() || !open) {
            // ttyd closes with 1008 (policy violation) when the init message's
            // `AuthToken` is refused, and the harness always sends its init at once.
            if closed == Some(Some(CloseCode::POLICY_VIOLATION.as_u16())) {
                crate::token::note_refusal();
            }
            return Err(format!("/ws: closed before the process started (close {:?})", closed.flatten()));
        }
    }
    Ok(Attached { ws, offset: 0, acked: 0, ack_every: u64::MAX, pending })
}

/// Everything but unreserved characters as `%XX` (RFC 3986 §2.3).
fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A session running `argv`, attached: created by REST and attached natively, or (tty)
/// a `/ws` connection. The id, when there is a session to delete afterwards.
pub async fn open_attached(ctx: &Ctx, argv: &[&str]) -> Result<(Attached, Option<String>), String> {
    if ctx.args.protocol == Protocol::Tty {
        return Ok((attach_tty(ctx, argv).await?, None));
    }
    let id = create(ctx, argv).await?;
    match attach(ctx, &id).await {
        Ok(a) => Ok((a, Some(id))),
        Err(e) => {
            discard(ctx, &id).await;
            Err(e)
        }
    }
}

/// Refuses a scenario that needs the native protocol (REST, several clients of a session).
pub fn native_only(ctx: &Ctx, what: &str) -> Result<(), String> {
    match ctx.args.protocol {
        Protocol::Native => Ok(()),
        Protocol::Tty => Err(format!("{what} needs the native protocol (ttyd's has no {what})")),
    }
}

/// Runs `f(0..n)` as local tasks, at most `limit` at once; results in index order.
pub async fn bounded<T, F, Fut>(n: usize, limit: usize, f: F) -> Vec<T>
where
    T: 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + 'static,
{
    let sem = std::sync::Arc::new(Semaphore::new(limit.max(1)));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await;
        let fut = f(i);
        handles.push(tokio::task::spawn_local(async move {
            let out = fut.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(n);
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

/// `sh -c SCRIPT` as an argv.
pub fn sh(script: &str) -> [&str; 3] {
    ["sh", "-c", script]
}

/// The raw baseline: ringtty's own spawner (same PTY settings as the server's).
pub fn raw_spawner() -> Result<Spawner, String> {
    let defaults = ChildDefaults::capture().map_err(|e| format!("raw: {e}"))?;
    Spawner::new(SpawnerConfig::new(defaults)).map_err(|e| format!("raw: spawner: {e}"))
}

pub fn raw_request(argv: &[&str]) -> SpawnRequest {
    let rules = EnvRules { term: "xterm-256color", remove: &[], extra: &[] };
    SpawnRequest {
        argv: argv.iter().map(Into::into).collect(),
        cwd: None,
        env: pty::child_env(std::env::vars_os(), &rules),
        cols: 80,
        rows: 24,
    }
}

/// Spawns `argv` for the raw baseline, waiting (up to `timeout`) while the spawner is
/// busy, as the server waits for its spawner: at high concurrency the baseline must
/// queue, not fail.
pub async fn raw_spawn(sp: &Spawner, argv: &[&str], timeout: std::time::Duration) -> Result<Spawned, String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match sp.spawn(raw_request(argv)).await {
            Err(ringtty::pty::SpawnError::Busy) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            result => return result.map_err(|e| format!("spawn: {e}")),
        }
    }
}

/// `--relay`: raw PTYs are reached through [`relay::interpose`].
pub static RELAYED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A spawned child with its master registered for readiness.
pub struct RawPty {
    pub master: AsyncFd<OwnedFd>,
    /// Kept so that the child is reaped (or killed and reaped) when this is dropped.
    pub _child: pty::Child,
}

impl RawPty {
    pub fn new(s: Spawned) -> Result<RawPty, String> {
        let interest = tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE;
        let fd = if RELAYED.load(std::sync::atomic::Ordering::Relaxed) {
            relay::interpose(s.master)?
        } else {
            s.master
        };
        let master = ringtty::sys::async_fd(fd, interest).map_err(|e| format!("raw: {e}"))?;
        Ok(RawPty { master, _child: s.child })
    }

    /// Reads what is there (waiting for readiness first); `Ok(None)` at EIO.
    pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        loop {
            let mut guard = self.master.readable().await?;
            match pty::read_into(self.master.get_ref(), buf)? {
                pty::ReadOutcome::Data(n) => return Ok(Some(n)),
                pty::ReadOutcome::Closed => return Ok(None),
                pty::ReadOutcome::WouldBlock => guard.clear_ready(),
            }
        }
    }

    /// Writes all of `data` (waiting for writability when the input queue is full).
    pub async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.master.writable().await?;
            match pty::write_some(self.master.get_ref(), data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A terminal running `argv`: a session created and attached on the server, or with
/// `spawner` (`--raw`) a local PTY. Returns the session id when there is one.
pub async fn open(
    ctx: &Ctx,
    spawner: Option<&Spawner>,
    argv: &[&str],
) -> Result<(Link, Option<String>), String> {
    if let Some(sp) = spawner {
        let spawned = raw_spawn(sp, argv, ctx.args.timeout).await?;
        return Ok((Link::Raw(RawPty::new(spawned)?), None));
    }
    let (a, id) = open_attached(ctx, argv).await?;
    Ok((Link::Native(Box::new(a)), id))
}

/// Opens `n` terminals running `sh -c SCRIPT` (at most --concurrency at once) and waits
/// until each has printed `ready` (its child is set up) — the setup every open-loop
/// scenario does before its clock starts. Failures go into `report`; `Err` when none
/// could be set up (whatever was created is removed first).
pub async fn open_ready(
    ctx: &Rc<Ctx>,
    script: &Rc<String>,
    ready: &'static [u8],
    report: &mut crate::report::Report,
) -> Result<(Vec<Option<Link>>, Vec<String>), String> {
    let spawner = Rc::new(maybe_spawner(ctx)?);
    let opened = bounded(ctx.args.sessions, ctx.args.concurrency, |_| {
        let (ctx, spawner, script) = (ctx.clone(), spawner.clone(), script.clone());
        async move {
            let (mut link, id) = open(&ctx, spawner.as_ref().as_ref(), &sh(&script)).await?;
            link.wait_for(ready, ctx.args.timeout).await.map(|()| (link, id))
        }
    })
    .await;
    let (mut links, mut ids) = (Vec::new(), Vec::new());
    for o in opened {
        match o {
            Ok((link, id)) => {
                links.push(Some(link));
                ids.extend(id);
            }
            Err(e) => report.errors.add(format!("setup: {e}")),
        }
    }
    if links.is_empty() {
        delete_all(ctx, ids).await;
        return Err(format!("no session could be set up: {:?}", report.to_json()["errors_by_kind"]));
    }
    Ok((links, ids))
}

/// The end of a scenario: detaches every terminal, then removes the sessions.
pub async fn close_all(ctx: &Rc<Ctx>, links: Vec<Link>, ids: Vec<String>) {
    for link in links {
        link.close().await;
    }
    delete_all(ctx, ids).await;
}

/// The spawner for `--raw`, or `None` against a server.
pub fn maybe_spawner(ctx: &Ctx) -> Result<Option<Spawner>, String> {
    RELAYED.store(ctx.args.raw && ctx.args.relay, std::sync::atomic::Ordering::Relaxed);
    ctx.args.raw.then(raw_spawner).transpose()
}

/// `native`, `tty` or `raw pty`, and what was measured.
pub fn mode(ctx: &Ctx) -> (&'static str, String) {
    match (ctx.args.raw, ctx.args.protocol) {
        (true, _) if ctx.args.relay => {
            ("raw pty + relay", "local PTY behind a one-thread epoll relay".to_string())
        }
        (true, _) => ("raw pty", "local PTY, no server".to_string()),
        (false, Protocol::Native) => ("native", ctx.target.url.clone()),
        (false, Protocol::Tty) => ("tty", format!("{}/ws", ctx.target.url.trim_end_matches('/'))),
    }
}
