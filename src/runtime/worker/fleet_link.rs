//! What every worker shares about draining and the fleet: the drain flag, the revoked
//! tokens, and (with `--nats`) the fleet control thread's inbox and its view of the
//! other nodes. Read on the request path with one relaxed load while nothing is
//! revoked; locked only by the admin's calls, the control thread, and `/api/fleet`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use crate::auth::Principal;
use crate::fleet::{Ask, Peers, Revocation, Revocations};

/// Drain: the node takes no new sessions; the supervisor stops it once the last
/// running session has ended, or at `--drain-timeout`.
#[derive(Default)]
pub struct Drain {
    on: AtomicBool,
    /// Milliseconds since the epoch when it started (0: not draining).
    since_ms: AtomicU64,
    /// Wakes the supervisor when draining starts or stops, and when a session ends
    /// while draining.
    pub changed: tokio::sync::Notify,
}

impl Drain {
    pub fn draining(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// Starts draining; returns whether it was not already.
    pub fn start(&self, now_ms: u64) -> bool {
        let started = !self.on.swap(true, Relaxed);
        if started {
            self.since_ms.store(now_ms, Relaxed);
            self.changed.notify_one();
        }
        started
    }

    /// Stops draining (the admin changed their mind); returns whether it was draining.
    pub fn stop(&self) -> bool {
        let stopped = self.on.swap(false, Relaxed);
        if stopped {
            self.since_ms.store(0, Relaxed);
            self.changed.notify_one();
        }
        stopped
    }

    /// When draining started (ms since the epoch), if it is on.
    pub fn since_ms(&self) -> Option<u64> {
        self.draining().then(|| self.since_ms.load(Relaxed))
    }
}

/// The revoked tokens and users every admission checks.
#[derive(Default)]
pub struct Revoked {
    set: RwLock<Revocations>,
    /// Whether the set may hold anything: while it is false a check is one load.
    any: AtomicBool,
}

impl Revoked {
    /// Whether `p` is refused at `now` (seconds since the epoch).
    pub fn refuses(&self, p: &Principal, now: u64) -> bool {
        self.any.load(Relaxed) && self.set.read().unwrap_or_else(|e| e.into_inner()).refuses(p, now)
    }

    /// Adds entries; returns how many changed the set.
    pub fn add(&self, entries: &[Revocation], now: u64) -> usize {
        let mut set = self.set.write().unwrap_or_else(|e| e.into_inner());
        let changed = entries.iter().filter(|e| set.add(e, now)).count();
        self.any.store(!set.is_empty(), Relaxed);
        changed
    }

    /// Drops what has ended.
    pub fn prune(&self, now: u64) {
        let mut set = self.set.write().unwrap_or_else(|e| e.into_inner());
        set.prune(now);
        self.any.store(!set.is_empty(), Relaxed);
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.set.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn entries(&self) -> Vec<Revocation> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).entries()
    }
}

/// With `--nats`: how workers reach the fleet's control thread, and what it knows.
pub struct FleetLink {
    /// This node's name (`--node-id`).
    pub node: String,
    /// The control thread's inbox.
    pub asks: tokio::sync::mpsc::UnboundedSender<Ask>,
    /// Whether the control thread is connected to NATS now.
    pub connected: AtomicBool,
    /// The other nodes, by their heartbeats (written by the control thread).
    pub peers: Mutex<Peers>,
}

impl FleetLink {
    /// Where clients reach `node` directly, from its last heartbeat.
    pub fn url_of(&self, node: &str) -> Option<String> {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let url = peers.alive(now).find(|p| p.beat.node == node).and_then(|p| p.beat.url.clone());
        url
    }
}
