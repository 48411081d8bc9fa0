//! File descriptors as a resource: how many connections the open-file limit can hold
//! (decided once at startup), and what a worker does when the process runs out anyway.
//!
//! Out of descriptors, `accept` fails (EMFILE) while the listener stays readable: a
//! worker that keeps polling it spins, and one that sleeps starves its own connections,
//! whose closing is what would free descriptors. So the worker answers what is pending
//! with 503, through a descriptor it keeps in reserve for exactly this, then stops
//! accepting for a moment (or until one of its connections closes), logging the
//! condition once per interval rather than per failure.

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::net::SocketFlags;
use tokio::sync::Notify;

/// How long a worker stops accepting after running out of descriptors (unless one of
/// its connections closes first).
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// At most one log line per interval about running out of descriptors.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Most pending connections answered 503 per pause.
const SHED_BATCH: usize = 64;

/// A worker's state for running out of descriptors.
pub struct FdPressure {
    /// An open `/dev/null`, closed to make room for one `accept` whose connection is
    /// answered 503 and closed at once: without it the surplus would wait in the backlog
    /// with no answer. Reopened after each use (another thread may take the slot first;
    /// then the surplus waits for the next round).
    reserve: RefCell<Option<OwnedFd>>,
    /// A connection of this worker closed: a paused accept loop may try again.
    pub freed: Notify,
    /// When the condition was last logged, and connections answered 503 since.
    logged: Cell<Option<Instant>>,
    shed_since: Cell<u64>,
}

impl FdPressure {
    pub fn new() -> FdPressure {
        FdPressure {
            reserve: RefCell::new(open_reserve()),
            freed: Notify::new(),
            logged: Cell::new(None),
            shed_since: Cell::new(0),
        }
    }

    /// `accept` just failed for want of descriptors: answers what is pending on
    /// `listener` with 503 through the reserve descriptor, and logs (once per interval).
    /// `reject` answers and closes one connection.
    pub fn shed(&self, worker: usize, listener: &OwnedFd, mut reject: impl FnMut(OwnedFd)) {
        let mut shed = 0;
        while shed < SHED_BATCH {
            let Some(reserve) = self.reserve.borrow_mut().take() else { break };
            drop(reserve);
            let accepted = rustix::net::accept_with(listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK);
            let sock = accepted.ok();
            let got = sock.is_some();
            if let Some(sock) = sock {
                reject(sock);
                shed += 1;
            }
            *self.reserve.borrow_mut() = open_reserve();
            if !got {
                break;
            }
        }
        self.shed_since.set(self.shed_since.get() + shed as u64);
        self.log(worker);
    }

    fn log(&self, worker: usize) {
        let now = Instant::now();
        if self.logged.get().is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
            return;
        }
        self.logged.set(Some(now));
        let shed = self.shed_since.replace(0);
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let limit = limit.map_or("unlimited".to_owned(), |n| n.to_string());
        error!(
            "worker {worker}: out of file descriptors (open-file limit {limit}): accepting paused, \
             {shed} new connections answered 503 since the last report; raise the limit \
             (ulimit -n, LimitNOFILE=) or lower --max-connections or --max-sessions"
        );
    }
}

fn open_reserve() -> Option<OwnedFd> {
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
    rustix::fs::open("/dev/null", flags, rustix::fs::Mode::empty()).ok()
}

/// Descriptors the server needs besides connections and sessions: stdio, the log, the
/// spawner's and reaper's transient ones (a PTY pair being set up, `/proc` reads)...
const FIXED_FDS: u64 = 64;
/// ...and per worker: its io_uring, its reactor's epoll and event descriptors, its
/// listener, its reserve descriptor, a connection being handed to another core.
const FDS_PER_WORKER: u64 = 16;
/// What a session holds besides its clients' connections: the PTY master and the
/// child's pidfd.
pub const FDS_PER_SESSION: u64 = 2;

/// How many connections each worker may hold so that, with every session of
/// `--max-sessions` open, the process stays below its open-file limit `nofile` (`None`:
/// unlimited), and why, for the startup log. `configured` is `--max-connections`.
pub fn conn_budget(
    nofile: Option<u64>,
    workers: usize,
    max_sessions: usize,
    configured: usize,
) -> (usize, String) {
    let Some(nofile) = nofile else {
        return (configured, "the open-file limit is unlimited".to_owned());
    };
    let workers_u = workers.max(1) as u64;
    let fixed = FIXED_FDS + FDS_PER_WORKER * workers_u;
    let sessions = FDS_PER_SESSION * max_sessions as u64;
    let free = nofile.saturating_sub(fixed);
    let (total, why) = if free >= sessions + workers_u {
        let why = format!(
            "open-file limit {nofile}, less {fixed} for the server and {FDS_PER_SESSION} per session \
             (PTY master, pidfd) for --max-sessions {max_sessions}"
        );
        (free - sessions, why)
    } else {
        // The limit cannot hold the configured sessions (the startup checks say what to
        // raise): a session's two descriptors and its client's connection share the rest.
        let why = format!(
            "open-file limit {nofile} is too low for --max-sessions {max_sessions}: a third of the \
             {free} left after the server's {fixed}"
        );
        (free / (FDS_PER_SESSION + 1), why)
    };
    let per_worker = usize::try_from(total / workers_u).unwrap_or(usize::MAX).clamp(1, configured.max(1));
    (per_worker, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_below_the_open_file_limit() {
        // (limit, workers, sessions, --max-connections) -> per worker
        let table: &[(Option<u64>, usize, usize, usize, usize)] = &[
            (None, 2, 1024, 16384, 16384),
            // 1M descriptors hold the default 16,384 per worker.
            (Some(1 << 20), 2, 1024, 16384, 16384),
            // 20,000: 64 + 32 fixed, 2,048 for sessions, the rest split over 2 workers.
            (Some(20000), 2, 1024, 16384, (20000 - 96 - 2048) / 2),
            // 1,024 (a common default) with 1,024 sessions: a third of what is left.
            (Some(1024), 2, 1024, 16384, (1024 - 96) / 3 / 2),
            (Some(256), 1, 10, 16384, 256 - 80 - 20),
            // Never 0, never above --max-connections.
            (Some(10), 4, 1024, 16384, 1),
            (Some(1 << 20), 1, 1, 100, 100),
        ];
        for &(limit, workers, sessions, configured, expected) in table {
            let (got, why) = conn_budget(limit, workers, sessions, configured);
            assert_eq!(got, expected, "{limit:?} {workers} {sessions} {configured}: {why}");
            // Sessions, connections and the server's own descriptors fit in the limit
            // whenever the limit can hold the sessions at all.
            if let Some(limit) = limit {
                let need = FIXED_FDS + FDS_PER_WORKER * workers as u64 + FDS_PER_SESSION * sessions as u64;
                if need < limit {
                    assert!(need + (got * workers) as u64 <= limit, "{limit} {got}");
                }
            }
        }
    }
}
