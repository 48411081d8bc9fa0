//! One core's state: the [`Worker`] every task on that core holds an `Rc` to — its
//! sessions ([`Live`]), its open connections ([`ConnHandle`]), its buffer pool, clock,
//! rate limits and stats — and the messages cores send each other ([`CrossCore`]).
//! Nothing here is shared with other workers except the read-mostly `Config`, the
//! stats block (each worker writes only its own) and the shutdown signal. The loop that
//! runs a worker is `supervisor::per_core`'s.

mod conns;
mod cross_core;
pub mod fds;
mod fleet_link;
pub mod handover;
mod live;
mod stats;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use slab::Slab;
use tokio::sync::Notify;

pub use conns::ConnHandle;
pub use cross_core::CrossCore;
use fds::FdPressure;
pub use fleet_link::FleetLink;
pub use live::{write_input, Live, Master, Meta};
pub use stats::{Shared, WorkerStats};

use super::transport::Transport;
use crate::buf::Stock;
use crate::config::Config;
use crate::http::HttpDate;
use crate::session::{Millis, NodeId, SessionId};

/// Seconds since the Unix epoch (token times).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch.
pub fn unix_now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Lets every other task on this core run, and the reactor be polled, before going on:
/// tokio's `yield_now` defers the task's wake-up until the scheduler has polled its
/// driver, so a core with a busy task still takes in new readiness (and the worker's
/// ring task its completions) in between.
pub async fn yield_to_core() {
    tokio::task::yield_now().await;
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
    /// With `--io uring`: this core's own io_uring ring, reading terminals into buffers
    /// it lends the kernel from `pool` (its task is started by the accept loop).
    pub ring: Option<crate::uring::Ring>,
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
    /// A live upgrade in progress: the sessions' exports (`pty_task::handover`).
    pub handover: handover::Outbox,
    /// This core's sessions and listener went to the next process (a live upgrade).
    handing_over: Cell<bool>,
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

/// Submission queue entries of a worker's own ring: a multishot read per terminal is
/// submitted once, so this bounds only what one loop turn queues (more is submitted
/// as the queue fills).
const RING_SQ: u32 = 256;
/// Buffer ids in a worker's buffer group, and how many pool buffers it keeps lent to
/// the kernel. Lent buffers are the pool's memory whether or not output comes: 32 of
/// 16 KiB is 512 KiB per worker; a burst on more terminals than that meets ENOBUFS,
/// and each read is armed again once the ring is topped up at the next loop turn.
const RING_IDS: u16 = 256;
const RING_LENT: usize = 32;

impl Worker {
    /// The state of worker `index` (pinned to its CPU by the caller), accepting at most
    /// `max_conns` connections.
    pub fn new(
        index: usize,
        cfg: Arc<Config>,
        shared: Arc<Shared>,
        spawner: crate::pty::Spawner,
        max_conns: usize,
        fault_injection: bool,
    ) -> Worker {
        let pool =
            crate::buf::Pool::new(pool_config(&cfg, shared.workers.len())).expect("the pool config is valid");
        let requests = match cfg.access.rate_limit {
            Some(limit) => crate::auth::Limiter::default().with(
                crate::auth::LimitKind::Request,
                limit,
                RATE_LIMIT_CLIENTS,
            ),
            None => crate::auth::Limiter::default(),
        };
        let ring = (cfg.io == crate::config::Io::Uring)
            .then(|| crate::uring::Ring::new(RING_SQ, 0, RING_IDS, RING_LENT, pool.clone()))
            .and_then(|made| {
                made.map_err(|e| {
                    error!(
                        "worker {index}: no io_uring ring of its own ({e}): reading terminals by readiness"
                    )
                })
                .ok()
            });
        Worker {
            index,
            node: node_id(&cfg),
            ring,
            cfg,
            shared,
            conns: RefCell::new(Slab::new()),
            shutting_down: Cell::new(false),
            drained: Notify::new(),
            date: Cell::new(HttpDate::from_unix(0)),
            fault_injection,
            kill: Notify::new(),
            pool,
            spawner,
            sessions: RefCell::new(std::collections::HashMap::new()),
            rng: ring::rand::SystemRandom::new(),
            limits: RefCell::new(Limits { requests }),
            epoch: Instant::now(),
            read_bufs: RefCell::new(Stock::default()),
            max_conns,
            fds: FdPressure::new(),
            handover: Default::default(),
            handing_over: Cell::new(false),
        }
    }

    /// Notified by the fault injection that kills the whole worker (tests only).
    pub fn kill_requested(&self) -> &Notify {
        &self.kill
    }

    /// This worker's state for running out of file descriptors.
    pub fn fds(&self) -> &FdPressure {
        &self.fds
    }

    /// Open connections of this worker.
    pub fn open_conns(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Whether a new connection would exceed `--max-connections` (as lowered to fit the
    /// open-file limit).
    pub fn at_capacity(&self) -> bool {
        self.open_conns() >= self.max_conns
    }

    /// Graceful shutdown has begun: from now on every connection or command that ends
    /// wakes [`until_something_ends`](Self::until_something_ends).
    pub fn begin_shutdown(&self) {
        self.shutting_down.set(true);
    }

    /// A live upgrade takes this core's sessions: responses close their connections
    /// (as in a shutdown) and requests are told to retry, to reach the next process.
    pub fn begin_handover(&self) {
        self.handing_over.set(true);
        self.begin_shutdown();
    }

    pub fn handing_over(&self) -> bool {
        self.handing_over.get()
    }

    /// Waits until a connection closes or a command ends during shutdown.
    pub async fn until_something_ends(&self) {
        self.drained.notified().await;
    }

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
    pub fn trim_read_bufs(&self) -> usize {
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
        all.sort_by_key(|l| (l.meta.created_ms, l.id.as_str().to_owned()));
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

    /// `Strict-Transport-Security` for every response, with TLS. Not on a loopback
    /// listener: a browser would apply it to every port of `localhost` for a year,
    /// breaking the developer's other plain-HTTP servers there.
    pub fn hsts(&self) -> bool {
        matches!(self.cfg.listen, crate::config::Listen::Tcp(addr) if self.cfg.tls.is_some() && !addr.ip().is_loopback())
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

    pub fn register(&self, stream: &Rc<Transport>) -> (usize, Rc<ConnHandle>) {
        self.stats().conn_opened();
        let handle = Rc::new(ConnHandle::new(Rc::downgrade(stream)));
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
    pub fn close_connections(&self, all: bool) {
        for (_, c) in self.conns.borrow().iter() {
            if all || c.idle.get() {
                c.shutdown();
            } else {
                c.close.notify_one();
            }
        }
    }
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
