//! One worker: a thread pinned to one CPU, running its own single-threaded tokio-uring
//! runtime, accepting on its own listener and serving every connection it accepts.
//! Nothing here is shared with other workers except the read-mostly `Config`, the
//! stats block (each worker writes only its own) and the shutdown signal.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, OwnedFd};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::net::SocketFlags;
use slab::Slab;
use tokio::sync::{mpsc, watch, Notify};

use super::conn;
use super::fds::{FdPressure, ACCEPT_PAUSE};
use super::session::Live;
use super::stats::{Shared, WorkerStats};
use super::stream::Stream;
use crate::buf::Stock;
use crate::config::{Config, Listen};
use crate::http::HttpDate;
use crate::session::{Millis, NodeId, SessionId};
use std::time::Instant;

/// What a worker thread reports to the supervisor when it ends.
#[derive(Debug, Clone, Copy)]
pub struct WorkerExit {
    pub index: usize,
    /// It ended by a panic or failed to start, not by a requested shutdown.
    pub died: bool,
}

/// The per-core state every connection task of this worker holds an `Rc` to.
pub struct Worker {
    pub index: usize,
    pub cfg: Arc<Config>,
    pub shared: Arc<Shared>,
    /// Open connections, so shutdown can reach them.
    conns: RefCell<Slab<Rc<ConnHandle>>>,
    shutting_down: Cell<bool>,
    drained: Notify,
    date: Cell<HttpDate>,
    pub fault_injection: bool,
    kill: Notify,
    /// This core's buffer pool: PTY output, framed once, shared by every client.
    pub pool: crate::buf::Pool,
    pub spawner: crate::pty::Spawner,
    /// Sessions owned by this worker, by id.
    sessions: RefCell<std::collections::HashMap<String, Rc<Live>>>,
    pub node: Option<NodeId>,
    pub rng: ring::rand::SystemRandom,
    /// This core's rate limits (`--rate-limit`, failed logins): per core, no locks.
    pub limits: RefCell<Limits>,
    /// The origin of this worker's `Millis` clock.
    epoch: Instant,
    /// WebSocket read buffers between reads: a connection holds one only while bytes
    /// are arriving or a frame is half read, so idle clients cost none.
    read_bufs: RefCell<Stock<Vec<u8>>>,
    /// Open connections this worker accepts: `--max-connections`, lowered at startup to
    /// what the open-file limit can hold (see `fds::conn_budget`).
    max_conns: usize,
    /// What the accept loop does when the process is out of descriptors.
    fds: FdPressure,
}

/// Clients a worker's `--rate-limit` tracks; the least recently seen are forgotten
/// first (a client forgotten starts with a full bucket: the bound costs precision, never
/// memory).
const RATE_LIMIT_CLIENTS: usize = 65_536;

/// A worker's rate-limit buckets.
#[derive(Default)]
pub struct Limits {
    /// `--rate-limit`: requests per client.
    pub requests: crate::auth::Limiter,
}

/// Size of a WebSocket read buffer: the decoder streams payloads, so it need not hold a
/// message; 16 KiB keeps a paste to a few reads.
pub const READ_BUF: usize = 16 * 1024;
/// Read buffers a worker keeps for reuse: enough for the connections that read at once.
const KEEP_READ_BUFS: usize = 64;

impl Worker {
    /// Milliseconds on this worker's monotonic clock (the sessions' time).
    /// Milliseconds since the worker started, for the rate limits.
    pub fn now_ms(&self) -> u64 {
        self.now().0
    }

    pub fn now(&self) -> Millis {
        Millis(self.epoch.elapsed().as_millis() as u64)
    }

    /// The `Instant` of a `Millis` value.
    pub fn instant_at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// An empty read buffer of [`READ_BUF`] bytes' capacity.
    pub fn read_buf(&self) -> Vec<u8> {
        self.read_bufs.borrow_mut().take().unwrap_or_else(|| Vec::with_capacity(READ_BUF))
    }

    /// Frees the read buffers no connection has taken since the last trim.
    fn trim_read_bufs(&self) -> usize {
        self.read_bufs.borrow_mut().trim().count()
    }

    /// Takes back a read buffer (kept if it is an ordinary one and there is room).
    pub fn give_read_buf(&self, mut buf: Vec<u8>) {
        let mut kept = self.read_bufs.borrow_mut();
        if buf.capacity() == READ_BUF && kept.len() < KEEP_READ_BUFS {
            buf.clear();
            kept.give(buf);
        }
    }

    /// Waits until the pool can lend a buffer again.
    pub async fn wait_for_buffer(&self) {
        std::future::poll_fn(|cx| self.pool.poll_available(cx)).await
    }

    /// Sessions whose command has not ended yet.
    pub fn running_sessions(&self) -> usize {
        let running = |l: &&Rc<Live>| l.state.borrow().status() == crate::session::Status::Running;
        self.sessions.borrow().values().filter(running).count()
    }

    /// Wakes a graceful shutdown waiting for connections and commands to end.
    pub fn something_ended(&self) {
        if self.shutting_down.get() {
            self.drained.notify_one();
        }
    }

    pub fn session(&self, id: &str) -> Option<Rc<Live>> {
        self.sessions.borrow().get(id).cloned()
    }

    pub fn sessions(&self) -> Vec<Rc<Live>> {
        let mut all: Vec<_> = self.sessions.borrow().values().cloned().collect();
        all.sort_by_key(|l| (l.meta.created_unix, l.id.as_str().to_owned()));
        all
    }

    /// This worker's sessions in no particular order (no sort, no id copies): for
    /// passes that look at every session, like the scrollback budget's.
    pub fn sessions_unordered(&self) -> Vec<Rc<Live>> {
        self.sessions.borrow().values().cloned().collect()
    }

    pub fn add_session(&self, live: Rc<Live>) {
        self.stats().session_created();
        self.shared.running.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.sessions.borrow_mut().insert(live.id.as_str().to_owned(), live);
    }

    pub fn remove_session(&self, id: &SessionId) {
        if self.sessions.borrow_mut().remove(id.as_str()).is_some() {
            self.stats().session_removed();
            self.stop_if_once("the session was removed");
        }
    }

    /// `-q`: stop once no session has a client or a pending detach window (no client is
    /// attached anywhere and no command is still running).
    pub fn stop_if_no_conn(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.cfg.terminal.exit_no_conn
            && self.shared.clients.load(Relaxed) == 0
            && self.shared.running.load(Relaxed) == 0
        {
            info!("-q/--exit-no-conn: no client and no running session left; stopping");
            self.shared.stop.notify_one();
        }
    }

    /// `-o`: the server serves one session and stops once it has ended and its last
    /// client has seen the end (or it was removed).
    pub fn stop_if_once(&self, why: &str) {
        if self.cfg.terminal.once {
            info!("-o/--once: {why}; stopping");
            self.shared.stop.notify_one();
        }
    }

    pub fn stats(&self) -> &WorkerStats {
        &self.shared.workers[self.index]
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// The `Date` header value, reformatted at most once per second.
    pub fn date(&self) -> HttpDate {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let cached = self.date.get();
        if cached.unix_secs() == now {
            return cached;
        }
        let fresh = HttpDate::from_unix(now);
        self.date.set(fresh);
        fresh
    }

    pub fn register(&self, stream: &Rc<Stream>) -> (usize, Rc<ConnHandle>) {
        self.stats().conn_opened();
        let stream = Rc::downgrade(stream);
        let handle = Rc::new(ConnHandle { stream, idle: Cell::new(true), close: Notify::new() });
        (self.conns.borrow_mut().insert(handle.clone()), handle)
    }

    pub fn unregister(&self, slot: usize, panicked: bool) {
        self.conns.borrow_mut().try_remove(slot);
        // A descriptor was freed: an accept loop paused for want of one may try again.
        self.fds.freed.notify_waiters();
        self.stats().conn_closed();
        if panicked {
            self.stats().conn_panicked();
        }
        self.something_ended();
    }

    /// Test hooks, enabled only by `RINGTTY_FAULT_INJECTION=1` in the environment: they
    /// prove that a panic in one connection, in one session's task
    /// (`/debug/panic-session/ID`, for a session of this worker), or of a whole worker,
    /// is contained.
    pub fn inject_fault(&self, path: &str) {
        match path {
            "/debug/panic" => panic!("fault injection: panic in a connection handler"),
            "/debug/panic-worker" => self.kill.notify_one(),
            _ => {
                let id = path.strip_prefix("/debug/panic-session/");
                if let Some(live) = id.and_then(|id| self.session(id)) {
                    live.inject_panic();
                }
            }
        }
    }

    /// Starts closing connections: idle HTTP ones at once (their pending read ends),
    /// WebSockets by their own close handshake (1001), or every socket if `all`.
    fn close_connections(&self, all: bool) {
        for (_, c) in self.conns.borrow().iter() {
            if all || c.idle.get() {
                c.shutdown();
            } else {
                c.close.notify_one();
            }
        }
    }
}

/// What the worker knows about one of its connections.
pub struct ConnHandle {
    /// The socket. The connection holds it (strongly) until it unregisters, so it is
    /// there for as long as the handle is registered; a weak link keeps the registry
    /// from holding a socket open.
    stream: Weak<Stream>,
    /// Between HTTP requests, with nothing buffered: safe to close at any moment.
    pub idle: Cell<bool>,
    /// Notified when the server shuts down (a WebSocket answers with close 1001).
    pub close: Notify,
}

impl ConnHandle {
    /// Ends the socket both ways (`shutdown(2)`, errors ignored): whatever waits on it
    /// wakes up with end of stream or an error.
    pub fn shutdown(&self) {
        if let Some(stream) = self.stream.upgrade() {
            crate::sys::shutdown(stream.as_fd());
        }
    }
}

/// Work handed from one core to another (SPEC §1: cross-core work goes by message).
pub enum CrossCore {
    /// A connection whose next request is for a session this core owns: its socket
    /// (a duplicate descriptor; the sender closed its own) and the bytes it has already
    /// read, starting with that request's head.
    /// `principal` is what the admission point on the first core decided for that
    /// request (`None`: an open route asked without a credential): it is not decided
    /// twice.
    Adopt { fd: OwnedFd, buffered: Vec<u8>, principal: Option<crate::auth::Principal> },
    /// Describe this core's sessions that `principal` reaches, for a listing.
    List { reply: tokio::sync::oneshot::Sender<Vec<serde_json::Value>>, principal: crate::auth::Principal },
    /// Whether session `id` lives here, and its owner (for a share link).
    Owner { id: String, reply: tokio::sync::oneshot::Sender<Option<Option<String>>> },
}

pub struct WorkerParams {
    pub index: usize,
    pub cpu: usize,
    pub cfg: Arc<Config>,
    pub shared: Arc<Shared>,
    pub listener: OwnedFd,
    pub shutdown: watch::Receiver<bool>,
    pub exits: mpsc::UnboundedSender<WorkerExit>,
    pub fault_injection: bool,
    pub spawner: crate::pty::Spawner,
    pub inbox: mpsc::UnboundedReceiver<CrossCore>,
    /// Open connections this worker accepts (see `fds::conn_budget`).
    pub max_conns: usize,
}

/// Buffers per session that the pool's bound must leave room for: a session that has
/// printed anything keeps its newest output in a buffer (its merge buffer, and briefly
/// the original of a small read), whatever its scrollback limit.
const BUFS_PER_IDLE_SESSION: usize = 3;

/// The worker's pool: the default bound (64 MiB of 16 KiB buffers), raised so that this
/// core's share of `--max-sessions` can each hold their newest output. Without it a
/// worker with a few thousand idle sessions runs out of buffers and new sessions wait
/// for one forever, showing nothing. Buffers are allocated on demand and trimmed, so the
/// bound is a ceiling, not a reservation.
fn pool_config(cfg: &Config, workers: usize) -> crate::buf::PoolConfig {
    let default = crate::buf::PoolConfig::default();
    if let Some(bytes) = cfg.sessions.core_memory {
        // Validated: at least 4 MiB, i.e. well over twice the reserve.
        let per_buf = crate::buf::HEADROOM + default.capacity;
        return crate::buf::PoolConfig { max_bufs: (bytes / per_buf).max(2 * default.reserve), ..default };
    }
    let per_core = cfg.sessions.max_sessions.div_ceil(workers.max(1));
    let needed = per_core.saturating_mul(BUFS_PER_IDLE_SESSION).saturating_add(default.reserve);
    crate::buf::PoolConfig { max_bufs: default.max_bufs.max(needed), ..default }
}

fn node_id(cfg: &Config) -> Option<NodeId> {
    // Validated by the config already; a name the session layer refuses is dropped.
    cfg.sessions.node_id.as_deref().and_then(|n| NodeId::new(n).ok())
}

/// Starts the worker thread.
pub fn spawn(p: WorkerParams) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("worker-{}", p.index)).spawn(move || run(p))
}

/// Reports the thread's end to the supervisor however it ends, unwinding included.
struct ExitGuard {
    index: usize,
    shared: Arc<Shared>,
    exits: mpsc::UnboundedSender<WorkerExit>,
    clean: bool,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let died = !self.clean || std::thread::panicking();
        if died {
            self.shared.workers[self.index].set_dead();
        }
        let _ = self.exits.send(WorkerExit { index: self.index, died });
    }
}

fn run(p: WorkerParams) {
    let mut guard =
        ExitGuard { index: p.index, shared: p.shared.clone(), exits: p.exits.clone(), clean: false };
    let mut set = rustix::thread::CpuSet::new();
    set.set(p.cpu);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        warn!("cannot pin worker {} to CPU {}: {e}; it will float", p.index, p.cpu);
    }
    let rt = match tokio_uring::Runtime::new(tokio_uring::builder().entries(1024)) {
        Ok(rt) => rt,
        Err(e) => {
            error!("worker {}: cannot create its io_uring runtime: {e}", p.index);
            return;
        }
    };
    let node = node_id(&p.cfg);
    let pool =
        crate::buf::Pool::new(pool_config(&p.cfg, p.shared.workers.len())).expect("the pool config is valid");
    let requests = match p.cfg.access.rate_limit {
        Some(limit) => {
            crate::auth::Limiter::default().with(crate::auth::LimitKind::Request, limit, RATE_LIMIT_CLIENTS)
        }
        None => crate::auth::Limiter::default(),
    };
    let limits = Limits { requests };
    let worker = Rc::new(Worker {
        index: p.index,
        cfg: p.cfg,
        shared: p.shared,
        conns: RefCell::new(Slab::new()),
        shutting_down: Cell::new(false),
        drained: Notify::new(),
        date: Cell::new(HttpDate::from_unix(0)),
        fault_injection: p.fault_injection,
        kill: Notify::new(),
        pool,
        spawner: p.spawner,
        sessions: RefCell::new(std::collections::HashMap::new()),
        node,
        rng: ring::rand::SystemRandom::new(),
        limits: RefCell::new(limits),
        epoch: Instant::now(),
        read_bufs: RefCell::new(Stock::default()),
        max_conns: p.max_conns,
        fds: FdPressure::new(),
    });
    debug!("worker {} running on CPU {}", p.index, p.cpu);
    guard.clean = rt.block_on(serve(worker, p.listener, p.shutdown, p.inbox));
}

/// Accepts until shutdown, then drains. Returns whether it ended cleanly.
async fn serve(
    w: Rc<Worker>,
    listener: OwnedFd,
    mut shutdown: watch::Receiver<bool>,
    mut inbox: mpsc::UnboundedReceiver<CrossCore>,
) -> bool {
    let listener = match crate::sys::async_fd(listener, tokio::io::Interest::READABLE) {
        Ok(l) => l,
        Err(e) => {
            error!("worker {}: cannot watch its listener: {e}", w.index);
            return false;
        }
    };
    let mut trim = tokio::time::interval(POOL_TRIM_EVERY);
    trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Out of descriptors, accepting stops until this instant or until a connection of
    // this worker closes, whichever comes first: the listener stays readable meanwhile,
    // and polling it would spin while the connections that could free a descriptor
    // never get to run.
    let mut paused: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = trim.tick() => {
                // Give memory back after a burst, but not so eagerly that a busy core
                // churns through the allocator: only what a whole interval left unused.
                let (pooled, read) = (w.pool.trim(), w.trim_read_bufs());
                if pooled + read > 0 {
                    debug!("worker {}: returned {pooled} idle pool buffers and {read} read buffers", w.index);
                }
                // Every tick, not only after a trim: what connections and quiet sessions
                // freed is returned only by a call on this thread, and an idle worker
                // makes none.
                crate::sys::release_free_memory();
            }
            _ = w.kill.notified() => panic!("fault injection: worker {} killed", w.index),
            Some(msg) = inbox.recv() => handle_cross_core(&w, msg),
            _ = tokio::time::sleep_until(paused.unwrap_or_else(tokio::time::Instant::now)), if paused.is_some() => {
                paused = None;
            }
            _ = w.fds.freed.notified(), if paused.is_some() => paused = None,
            ready = listener.readable(), if paused.is_none() => match ready {
                Ok(mut guard) => match accept_batch(&w, guard.get_inner()) {
                    Accepted::All => guard.clear_ready(),
                    // Every other task on the core runs before the next batch: a storm
                    // of connections must not starve the ones already open.
                    Accepted::Batch => {
                        drop(guard);
                        tokio::task::yield_now().await;
                    }
                    Accepted::OutOfFds => {
                        w.fds.shed(&w, guard.get_inner());
                        paused = Some(tokio::time::Instant::now() + ACCEPT_PAUSE);
                    }
                },
                Err(e) => {
                    error!("worker {}: listener failed: {e}", w.index);
                    return false;
                }
            },
        }
    }
    drop(listener);
    drain(&w).await;
    true
}

fn handle_cross_core(w: &Rc<Worker>, msg: CrossCore) {
    match msg {
        CrossCore::Adopt { fd, buffered, principal } => {
            if let Some(stream) = stream_of(w, fd) {
                tokio_uring::spawn(conn::serve_with(w.clone(), stream, buffered, Some(principal)));
            }
        }
        CrossCore::List { reply, principal } => {
            let _ = reply.send(super::api::visible(w, &principal));
        }
        CrossCore::Owner { id, reply } => {
            let _ = reply.send(w.session(&id).map(|l| l.meta.owner.clone()));
        }
    }
}

/// How often a worker returns the pool and read buffers a whole interval left unused.
const POOL_TRIM_EVERY: Duration = Duration::from_secs(10);

/// How many connections one readiness event may accept before other tasks run.
const ACCEPT_BATCH: usize = 64;

/// What one accept batch ended with.
enum Accepted {
    /// The listener reported it is empty.
    All,
    /// [`ACCEPT_BATCH`] connections (or an error): more may be pending.
    Batch,
    /// The process (or the system) is out of descriptors.
    OutOfFds,
}

/// Accepts what is pending, up to a batch.
fn accept_batch(w: &Rc<Worker>, listener: &OwnedFd) -> Accepted {
    for _ in 0..ACCEPT_BATCH {
        match accept_one(w, listener) {
            Ok(Some(sock)) => admit(w, sock),
            Ok(None) => w.stats().peer_refused(),
            Err(rustix::io::Errno::AGAIN) => return Accepted::All,
            Err(rustix::io::Errno::CONNABORTED | rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE | rustix::io::Errno::NOBUFS) => {
                return Accepted::OutOfFds
            }
            Err(e) => {
                error!("worker {}: accept failed: {e}", w.index);
                return Accepted::Batch;
            }
        }
    }
    Accepted::Batch
}

/// Accepts one connection. `Ok(None)`: a peer outside `--allow-ip`, closed at once,
/// before a byte is read or written (the address comes with the accept itself, and only
/// when the list is set).
fn accept_one(w: &Worker, listener: &OwnedFd) -> rustix::io::Result<Option<OwnedFd>> {
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let Some(allowed) = &w.cfg.allow_ip else {
        return rustix::net::accept_with(listener, flags).map(Some);
    };
    let (sock, peer) = rustix::net::acceptfrom_with(listener, flags)?;
    let ip = peer.and_then(|a| std::net::SocketAddr::try_from(a).ok()).map(|a| a.ip());
    Ok(ip.is_some_and(|ip| allowed.contains(ip)).then_some(sock))
}

fn admit(w: &Rc<Worker>, sock: OwnedFd) {
    if w.conns.borrow().len() >= w.max_conns {
        reject_at_capacity(w, sock);
        return;
    }
    if let Listen::Tcp(_) = w.cfg.listen {
        // Keystrokes and echoes are tiny; never hold them back for coalescing.
        let _ = rustix::net::sockopt::set_tcp_nodelay(&sock, true);
    }
    if let Some(stream) = stream_of(w, sock) {
        tokio_uring::spawn(conn::serve_with(w.clone(), stream, Vec::new(), None));
    }
}

/// Wraps an accepted (or adopted) socket; `None` (logged, the socket closed) if the
/// reactor cannot take it.
fn stream_of(w: &Worker, sock: OwnedFd) -> Option<Stream> {
    let tcp = matches!(w.cfg.listen, Listen::Tcp(_));
    match Stream::new(sock, tcp) {
        Ok(stream) => Some(stream),
        Err(e) => {
            error!("worker {}: cannot watch a connection: {e}", w.index);
            None
        }
    }
}

/// A worker at its connection limit answers 503 straight from the accept loop, without
/// spending a task or a buffer on the connection.
pub(super) fn reject_at_capacity(w: &Worker, sock: OwnedFd) {
    const BODY: &[u8] = br#"{"error":"server at capacity; retry later"}"#;
    let mut out = Vec::with_capacity(256);
    crate::http::Head {
        status: 503,
        content_type: "application/json",
        content_length: BODY.len(),
        keep_alive: false,
        extra: &[("Retry-After", "1")],
    }
    .write(&w.date(), &mut out);
    out.extend_from_slice(BODY);
    // Read what already arrived so closing does not reset the connection under it.
    let mut scratch = [0u8; 4096];
    let _ = rustix::io::read(&sock, &mut scratch);
    let _ = rustix::io::write(&sock, &out);
    let _ = rustix::net::shutdown(&sock, rustix::net::Shutdown::Write);
    w.stats().conn_rejected();
    w.stats().response(503);
    super::access_log::refused_at_capacity(w, &sock, out.len(), matches!(w.cfg.listen, Listen::Tcp(_)));
}

/// Graceful shutdown of this worker: idle connections close now, busy ones after their
/// current response, and whatever is left when the grace period ends is cut.
async fn drain(w: &Rc<Worker>) {
    w.shutting_down.set(true);
    for live in w.sessions() {
        live.signal_for_shutdown(w);
    }
    w.close_connections(false);
    // Connections finish their exchange and commands react to their signal (their
    // output still reaches attached clients) within the grace period.
    let grace = w.cfg.shutdown_timeout;
    let quiet = || w.conns.borrow().is_empty() && w.running_sessions() == 0;
    let waited = tokio::time::timeout(grace, async {
        while !quiet() {
            w.drained.notified().await;
        }
    })
    .await;
    if waited.is_err() {
        let (left, running) = (w.conns.borrow().len(), w.running_sessions());
        warn!(
            "worker {}: cutting {left} connections and killing {running} commands still running after {grace:?}",
            w.index
        );
        w.close_connections(true);
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while !w.conns.borrow().is_empty() {
                w.drained.notified().await;
            }
        })
        .await;
    }
    debug!("worker {} stopped", w.index);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        Config::parse_from(std::iter::once("ringtty").chain(args.iter().copied())).unwrap().unwrap()
    }

    #[test]
    fn the_pool_leaves_room_for_every_session_of_the_core() {
        let default = crate::buf::PoolConfig::default();
        assert_eq!(pool_config(&config(&["bash"]), 2).max_bufs, default.max_bufs);
        // 7,000 sessions on 2 cores: 3,500 each, each holding its newest output.
        let big = pool_config(&config(&["--max-sessions", "7000", "bash"]), 2);
        assert!(big.max_bufs >= 3500 * BUFS_PER_IDLE_SESSION + default.reserve, "{big:?}");
        assert!(crate::buf::Pool::new(big).is_ok());
    }
}
