//! Live upgrade (`--handover PATH`): a new ringtty process takes over from the running
//! one on the same host without dropping a terminal. The running process listens on
//! the unix socket PATH; a process started with the same option connects to it at
//! startup and, instead of binding, receives:
//!
//! ```text
//!  new ── {"protocol":1,"threads":N,"node":…} ─────────────────────────▶ old
//!         old: no new sessions; every worker stops accepting (its listener
//!         stays open: connections wait in its queue) and every session's task
//!         exports it (nothing is read from its terminal after) and lets go of
//!         its command; its clients close with 1001 "going away"
//!  new ◀── listeners frame: N listener fds (SCM_RIGHTS) ──────────────────── old
//!  new ◀── session frame × M: description, retained output, master + pidfd ─ old
//!  new ◀── end frame ─────────────────────────────────────────────────────── old
//!  new ── "ok" ──────────────────────────────────────────────────────────▶ old exits
//!  new: adopts each session on the core its id names (same offsets, same bytes),
//!       accepts on the listeners, binds PATH for the next upgrade
//! ```
//!
//! Clients reconnect with `since` and get every byte they missed: output the command
//! wrote meanwhile waited in the terminal. The commands are not the new process's
//! children: their end is seen on their pidfd and their status read from it
//! (`pty::Child::adopt`). With `--handover` children get no parent-death signal (the
//! old process's end would kill them).

mod wire;

use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Listen};
use crate::runtime::worker::handover::{Export, Handed};
use crate::runtime::worker::{unix_now_ms, CrossCore, Shared};

/// The handover protocol's version; a process refuses another.
const PROTOCOL: u32 = 1;

/// What the new process asks.
#[derive(Debug, Serialize, Deserialize)]
struct Ask {
    protocol: u32,
    version: String,
    pid: u32,
    threads: usize,
    node: Option<String>,
}

/// The frames the old process sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Frame {
    /// The handover is refused; nothing was changed.
    Refused { reason: String },
    /// Listener descriptors (this frame's), in worker order; `last` on the final one.
    Listeners { count: usize, last: bool },
    /// One session; its output (`session.len` bytes) follows, then its fds.
    Session { session: Handed, fds: usize },
    /// Everything was sent.
    End { sessions: usize },
}

/// What a new process took over.
pub struct Takeover {
    stream: UnixStream,
    /// One listener per worker, in worker order.
    pub listeners: Vec<OwnedFd>,
    /// The sessions, by the core their id names.
    pub sessions: Vec<Vec<Export>>,
}

impl Takeover {
    /// Tells the old process it may go.
    pub fn done(mut self) {
        use std::io::Write;
        let _ = self.stream.write_all(b"ok\n");
    }

    pub fn session_count(&self) -> usize {
        self.sessions.iter().map(Vec::len).sum()
    }
}

/// At startup with `--handover PATH`: takes over from the process listening there, if
/// one is (`Ok(None)`: none is, start afresh). A stale socket (no process) is removed.
pub fn take(path: &Path, cfg: &Config) -> Result<Option<Takeover>, String> {
    let shown = path.display();
    let stream = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            // Left by a process that is gone: nothing to take over.
            let _ = std::fs::remove_file(path);
            return Ok(None);
        }
        Err(e) => return Err(format!("--handover {shown}: cannot reach the running ringtty ({e})")),
    };
    let fail = |what: &str, e: std::io::Error| format!("--handover {shown}: {what} ({e})");
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| fail("socket", e))?;
    stream.set_write_timeout(Some(Duration::from_secs(5))).map_err(|e| fail("socket", e))?;
    let ask = Ask {
        protocol: PROTOCOL,
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        threads: cfg.threads.get(),
        node: cfg.sessions.node_id.clone(),
    };
    let mut line = serde_json::to_vec(&ask).map_err(|e| fail("request", e.into()))?;
    line.push(b'\n');
    std::io::Write::write_all(&mut &stream, &line).map_err(|e| fail("cannot ask for the handover", e))?;
    let mut listeners = Vec::new();
    let mut sessions: Vec<Vec<Export>> = (0..cfg.threads.get()).map(|_| Vec::new()).collect();
    loop {
        let (frame, fds): (Frame, Vec<OwnedFd>) =
            wire::recv(&stream).map_err(|e| fail("the running ringtty stopped mid-handover", e))?;
        match frame {
            Frame::Refused { reason } => {
                return Err(format!("--handover {shown}: the running ringtty refused: {reason}"))
            }
            Frame::Listeners { count, last } => {
                if fds.len() != count {
                    return Err(format!("--handover {shown}: {} listeners came of {count}", fds.len()));
                }
                listeners.extend(fds);
                if last && listeners.len() != cfg.threads.get() {
                    return Err(format!(
                        "--handover {shown}: {} listeners for {} workers",
                        listeners.len(),
                        cfg.threads.get()
                    ));
                }
            }
            Frame::Session { session, fds: count } => {
                let bytes =
                    wire::read_data(&stream, session.len).map_err(|e| fail("a session's output", e))?;
                if fds.len() != count {
                    return Err(format!("--handover {shown}: session {}: descriptors missing", session.id));
                }
                let node = cfg.sessions.node_id.as_deref().and_then(|n| crate::session::NodeId::new(n).ok());
                let core = crate::session::SessionId::parse(&session.id, node.as_ref())
                    .map(|id| id.core())
                    .map_err(|e| format!("--handover {shown}: session {}: {e}", session.id))?;
                let Some(slot) = sessions.get_mut(core) else {
                    return Err(format!("--handover {shown}: session {} is on core {core}", session.id));
                };
                slot.push(Export { handed: session, bytes, fds });
            }
            Frame::End { sessions: n } => {
                let got: usize = sessions.iter().map(Vec::len).sum();
                if got != n || listeners.len() != cfg.threads.get() {
                    return Err(format!(
                        "--handover {shown}: {got} of {n} sessions, {} listeners",
                        listeners.len()
                    ));
                }
                break;
            }
        }
    }
    check_listeners(&listeners, cfg).map_err(|e| format!("--handover {shown}: {e}"))?;
    Ok(Some(Takeover { stream, listeners, sessions }))
}

/// The listeners taken over serve what this process is configured for.
fn check_listeners(listeners: &[OwnedFd], cfg: &Config) -> Result<(), String> {
    let Some(first) = listeners.first() else { return Err("no listener came".into()) };
    let local = rustix::net::getsockname(first).map_err(|e| format!("a listener taken over: {e}"))?;
    match (&cfg.listen, std::net::SocketAddr::try_from(local)) {
        (Listen::Tcp(want), Ok(got)) => {
            let same = (want.ip() == got.ip() || want.ip().is_unspecified() && got.ip().is_unspecified())
                && (want.port() == got.port() || want.port() == 0);
            match same {
                true => Ok(()),
                false => Err(format!("the running ringtty listens on {got}, this one is set for {want}")),
            }
        }
        (Listen::Unix { .. }, Err(_)) => Ok(()),
        (_, got) => Err(format!("the running ringtty listens elsewhere ({got:?})")),
    }
}

/// The startup line's address of listeners taken over.
pub fn display(listeners: &[OwnedFd], cfg: &Config) -> String {
    let tcp = listeners
        .first()
        .and_then(|l| rustix::net::getsockname(l).ok())
        .and_then(|a| std::net::SocketAddr::try_from(a).ok());
    match (&cfg.listen, tcp) {
        (Listen::Unix { path, .. }, _) => format!("unix:{}", path.display()),
        (_, Some(addr)) => {
            let scheme = if cfg.tls.is_some() { "https" } else { "http" };
            match addr {
                std::net::SocketAddr::V4(a) => format!("{scheme}://{a}/"),
                std::net::SocketAddr::V6(a) => format!("{scheme}://[{}]:{}/", a.ip(), a.port()),
            }
        }
        (Listen::Tcp(addr), None) => format!("http://{addr}/"),
    }
}

/// Listens on PATH for the next upgrade (the previous process's socket, if any, is
/// replaced): mode 0600, and only the same user (or root) is served (`offer`).
pub fn bind(path: &Path) -> Result<UnixListener, String> {
    let shown = path.display();
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).map_err(|e| format!("--handover {shown}: cannot listen ({e})"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("--handover {shown}: cannot set its mode to 0600 ({e})"))?;
    listener.set_nonblocking(true).map_err(|e| format!("--handover {shown}: {e}"))?;
    Ok(listener)
}

/// Why a handover did not happen.
pub enum Failed {
    /// Refused before anything moved: this process serves on.
    Refused(String),
    /// It failed after the sessions were exported: they are lost with this process.
    Lost(String),
}

/// In the running process: a connection on the handover socket. Checks who asks and
/// what, then hands everything over; `Ok(sessions)` once sent (this process then
/// stops).
pub async fn offer(
    conn: tokio::net::UnixStream,
    shared: &Arc<Shared>,
    cfg: &Config,
) -> Result<usize, Failed> {
    let cred = conn.peer_cred().map_err(|e| Failed::Refused(format!("cannot tell who connected ({e})")))?;
    let me = rustix::process::geteuid().as_raw();
    if cred.uid() != me && cred.uid() != 0 {
        return Err(Failed::Refused(format!("uid {} is not this server's user", cred.uid())));
    }
    let socket = |e: std::io::Error| Failed::Refused(format!("socket: {e}"));
    let stream = conn.into_std().map_err(socket)?;
    stream.set_nonblocking(false).map_err(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(socket)?;
    let ask = read_line(&stream).map_err(|e| Failed::Refused(format!("no request: {e}")))?;
    let ask: Ask = serde_json::from_slice(&ask)
        .map_err(|e| Failed::Refused(format!("not a ringtty handover request ({e})")))?;
    let refuse = |reason: String| {
        let _ = wire::send(&stream, &Frame::Refused { reason: reason.clone() }, &[], &[]);
        Err(Failed::Refused(format!("pid {}: {reason}", ask.pid)))
    };
    if ask.protocol != PROTOCOL {
        return refuse(format!("handover protocol {} here, {} asked", PROTOCOL, ask.protocol));
    }
    if ask.threads != shared.workers.len() {
        return refuse(format!(
            "{} workers here, {} asked: sessions belong to their core; start it with --threads {}",
            shared.workers.len(),
            ask.threads,
            shared.workers.len()
        ));
    }
    if ask.node != cfg.sessions.node_id {
        return refuse(format!(
            "--node-id {:?} here, {:?} asked: session ids name their node",
            cfg.sessions.node_id, ask.node
        ));
    }
    info!("handover: pid {} (ringtty {}) takes over", ask.pid, ask.version);
    let started = std::time::Instant::now();
    // From here on the sessions go: no new ones start, no connection is accepted.
    shared.drain.start(unix_now_ms());
    let mut replies = Vec::new();
    for inbox in shared.inboxes.iter() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = inbox.send(CrossCore::Handover { reply: tx });
        replies.push(rx);
    }
    let mut listeners = Vec::new();
    let mut exports = Vec::new();
    for (core, rx) in replies.into_iter().enumerate() {
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok((Some(listener), e))) => {
                listeners.push(listener);
                exports.extend(e);
            }
            _ => return Err(Failed::Lost(format!("worker {core} did not hand over"))),
        }
    }
    let exported = started.elapsed();
    let n = exports.len();
    let send = || -> std::io::Result<()> {
        let chunks: Vec<&[OwnedFd]> = listeners.chunks(wire::MAX_FDS).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let frame = Frame::Listeners { count: chunk.len(), last: i + 1 == chunks.len() };
            wire::send(&stream, &frame, &[], chunk)?;
        }
        for e in &exports {
            let frame = Frame::Session { session: e.handed.clone(), fds: e.fds.len() };
            wire::send(&stream, &frame, &e.bytes, &e.fds)?;
        }
        wire::send(&stream, &Frame::End { sessions: n }, &[], &[])
    };
    let lost = |e: std::io::Error| Failed::Lost(format!("sending to pid {} failed ({e})", ask.pid));
    stream.set_write_timeout(Some(Duration::from_secs(30))).map_err(lost)?;
    send().map_err(lost)?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    match read_line(&stream) {
        Ok(ok) if ok == b"ok" => {}
        _ => warn!("handover: pid {} did not confirm; it has the sessions' descriptors", ask.pid),
    }
    info!(
        "handover: {n} sessions and {} listeners handed to pid {} in {:?} (exported in {exported:?})",
        listeners.len(),
        ask.pid,
        started.elapsed()
    );
    Ok(n)
}

/// One line (without its `\n`), at most 64 KiB.
fn read_line(s: &UnixStream) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 * 1024 {
        if (&*s).read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            return Ok(line);
        }
        line.push(byte[0]);
    }
    Err(std::io::Error::other("line too long"))
}
