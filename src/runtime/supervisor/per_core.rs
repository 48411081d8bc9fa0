//! One worker thread: pinned to one CPU, running its own single-threaded runtime
//! (`crate::rt`), accepting on its own listener and serving every connection it accepts (and
//! every connection another core hands it), until shutdown, then draining.

use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustix::net::SocketFlags;
use tokio::sync::{mpsc, watch};

use crate::config::{Config, Listen};
use crate::runtime::api;
use crate::runtime::httpconn;
use crate::runtime::transport::{Kind, Transport};
use crate::runtime::worker::fds::ACCEPT_PAUSE;
use crate::runtime::worker::{CrossCore, Shared, Worker};

/// What a worker thread reports to the supervisor when it ends.
#[derive(Debug, Clone, Copy)]
pub struct WorkerExit {
    pub index: usize,
    /// It ended by a panic or failed to start, not by a requested shutdown.
    pub died: bool,
}

/// What a worker thread starts with.
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
    /// Sessions a live upgrade brought from the previous process, for this core.
    pub adopt: Vec<crate::runtime::worker::handover::Export>,
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
    let rt = match crate::rt::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            error!("worker {}: cannot create its runtime: {e}", p.index);
            return;
        }
    };
    let worker = Rc::new(Worker::new(p.index, p.cfg, p.shared, p.spawner, p.max_conns, p.fault_injection));
    debug!("worker {} running on CPU {}", p.index, p.cpu);
    let adopt = p.adopt;
    guard.clean = rt.block_on(async move {
        // Taken over before the first accept: a client reconnecting finds its session.
        for e in adopt {
            let id = e.handed.id.clone();
            match crate::runtime::pty_task::adopt(&worker, e.handed, &e.bytes, e.fds) {
                Ok(()) => debug!("worker {}: session {id} taken over", worker.index),
                Err(e) => error!("worker {}: a session could not be taken over: {e}", worker.index),
            }
        }
        serve(worker, p.listener, p.shutdown, p.inbox).await
    });
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
    let ring_task = w.ring.clone().map(|ring| {
        crate::rt::spawn(async move {
            if let Err(e) = ring.run().await {
                error!("io_uring ring: {e}");
            }
        })
    });
    let mut trim = tokio::time::interval(POOL_TRIM_EVERY);
    trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Out of descriptors, accepting stops until this instant or until a connection of
    // this worker closes, whichever comes first: the listener stays readable meanwhile,
    // and polling it would spin while the connections that could free a descriptor
    // never get to run.
    let mut paused: Option<tokio::time::Instant> = None;
    // A live upgrade handed the listener to the next process: no more accepts here.
    let mut accepting = true;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,

            _ = trim.tick() => {
                // Give memory back after a burst, but not so eagerly that a busy core
                // churns through the allocator: only what a whole interval left unused.
                let (pooled, read) = (w.pool.trim(), w.trim_read_bufs());
                if let Some(ring) = &w.ring {
                    ring.trim();
                }
                if pooled + read > 0 {
                    debug!("worker {}: returned {pooled} idle pool buffers and {read} read buffers", w.index);
                }
                // Every tick, not only after a trim: what connections and quiet sessions
                // freed is returned only by a call on this thread, and an idle worker
                // makes none.
                crate::sys::release_free_memory();
            }
            _ = w.kill_requested().notified() => panic!("fault injection: worker {} killed", w.index),
            Some(msg) = inbox.recv() => match msg {
                CrossCore::Handover { reply } if accepting => {
                    accepting = false;
                    // From now on nothing here is the sessions' any more: responses close
                    // their connections, and a request that still comes in (on a kept-alive
                    // connection) is told to retry, so that it reaches the next process,
                    // never that its session does not exist. WebSockets close with their
                    // sessions' handover ("server upgrading"), the rest at the shutdown
                    // that follows.
                    w.begin_handover();
                    let listener = rustix::io::fcntl_dupfd_cloexec(listener.get_ref(), 3)
                        .map_err(|e| error!("worker {}: cannot copy its listener for the next process: {e}", w.index))
                        .ok();
                    let w = w.clone();
                    crate::rt::spawn(async move {
                        let exports = hand_over(&w).await;
                        let _ = reply.send((listener, exports));
                    });
                }
                msg => handle_cross_core(&w, msg),
            },
            _ = tokio::time::sleep_until(paused.unwrap_or_else(tokio::time::Instant::now)), if paused.is_some() => {
                paused = None;
            }
            _ = w.fds().freed.notified(), if paused.is_some() => paused = None,
            ready = listener.readable(), if paused.is_none() && accepting => match ready {
                Ok(mut guard) => match accept_batch(&w, guard.get_inner()) {
                    Accepted::All => guard.clear_ready(),
                    // Every other task on the core runs before the next batch: a storm
                    // of connections must not starve the ones already open.
                    Accepted::Batch => {
                        drop(guard);
                        tokio::task::yield_now().await;
                    }
                    Accepted::OutOfFds => {
                        w.fds().shed(w.index, guard.get_inner(), |sock| reject_at_capacity(&w, sock));
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
    // Every session has ended: the ring's reads are cancelled, and its task returns
    // once the kernel holds none (then no buffer can be written into any more).
    if let (Some(ring), Some(task)) = (w.ring.as_ref(), ring_task) {
        ring.close();
        let _ = task.await;
    }
    true
}

/// A live upgrade on this core: every native session's task exports it (ttyd's end
/// with their connection). Returns the exports once all are in, or what came within
/// five seconds.
async fn hand_over(w: &Rc<Worker>) -> Vec<crate::runtime::worker::handover::Export> {
    let sessions: Vec<_> = w
        .sessions_unordered()
        .into_iter()
        .filter(|l| l.state.borrow().config().dialect == crate::session::Dialect::Native)
        .collect();
    for live in &sessions {
        live.hand_over();
    }
    let all = async {
        while w.handover.exports.borrow().len() < sessions.len() {
            w.handover.added.notified().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), all).await.is_err() {
        error!("worker {}: not every session could be handed over in 5 s", w.index);
    }
    std::mem::take(&mut *w.handover.exports.borrow_mut())
}

fn handle_cross_core(w: &Rc<Worker>, msg: CrossCore) {
    match msg {
        CrossCore::Handover { reply } => {
            // Only while accepting (see `serve`): a second request finds nothing to hand.
            let _ = reply.send((None, Vec::new()));
        }
        CrossCore::Adopt { parcel, principal } => match parcel.unpack(w.ring.as_ref()) {
            Ok((transport, buffered)) => {
                crate::rt::spawn(httpconn::serve_with(w.clone(), transport, buffered, Some(principal)));
            }
            Err(e) => error!("worker {}: cannot watch a connection handed over: {e}", w.index),
        },
        CrossCore::List { reply, principal } => {
            let _ = reply.send(api::visible(w, &principal));
        }
        CrossCore::Owner { id, reply } => {
            let _ = reply.send(w.session(&id).map(|l| l.meta.owner.clone()));
        }
        CrossCore::Kill { target, before_ms, reply } => {
            let _ = reply.send(api::fleet::kill_here(w, &target, before_ms));
        }
        CrossCore::Call { ask, reply } => {
            let _ = reply.send(api::fleet::call_here(w, &ask));
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
    if w.at_capacity() {
        reject_at_capacity(w, sock);
        return;
    }
    if let Listen::Tcp(_) = w.cfg.listen {
        // Keystrokes and echoes are tiny; never hold them back for coalescing.
        let _ = rustix::net::sockopt::set_tcp_nodelay(&sock, true);
    }
    let kind = match w.cfg.listen {
        Listen::Tcp(_) => Kind::Tcp,
        Listen::Unix { .. } => Kind::Unix,
    };
    let transport = Transport::new(sock, kind, w.ring.as_ref()).and_then(|t| {
        if let Some(tls) = &w.cfg.tls {
            t.start_tls(tls.config())?;
        }
        Ok(t)
    });
    match transport {
        Ok(transport) => drop(crate::rt::spawn(httpconn::serve_with(w.clone(), transport, Vec::new(), None))),
        // The socket is closed with the error.
        Err(e) => error!("worker {}: cannot watch a connection: {e}", w.index),
    }
}

/// A worker at its connection limit answers 503 straight from the accept loop, without
/// spending a task or a buffer on the connection.
fn reject_at_capacity(w: &Worker, sock: OwnedFd) {
    if w.cfg.tls.is_some() {
        // A plaintext answer means nothing to a TLS client, and a handshake is what the
        // limit saves; the client sees the connection close.
        return;
    }
    const BODY: &[u8] = br#"{"error":"server at capacity; retry later"}"#;
    let mut out = Vec::with_capacity(256);
    crate::http::Head {
        status: 503,
        content_type: "application/json",
        content_length: BODY.len(),
        keep_alive: false,
        extra: &[("Retry-After", "1")],
        hsts: false, // never with TLS: returned above
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
    httpconn::refused_at_capacity(w, &sock, out.len(), matches!(w.cfg.listen, Listen::Tcp(_)));
}

/// Graceful shutdown of this worker: idle connections close now, busy ones after their
/// current response, and whatever is left when the grace period ends is cut.
async fn drain(w: &Rc<Worker>) {
    w.begin_shutdown();
    for live in w.sessions() {
        live.signal_for_shutdown(w);
    }
    w.close_connections(false);
    // Connections finish their exchange and commands react to their signal (their
    // output still reaches attached clients) within the grace period.
    let grace = w.cfg.shutdown_timeout;
    let quiet = || w.open_conns() == 0 && w.running_sessions() == 0;
    let waited = tokio::time::timeout(grace, async {
        while !quiet() {
            w.until_something_ends().await;
        }
    })
    .await;
    if waited.is_err() {
        let (left, running) = (w.open_conns(), w.running_sessions());
        warn!(
            "worker {}: cutting {left} connections and killing {running} commands still running after {grace:?}",
            w.index
        );
        w.close_connections(true);
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while w.open_conns() > 0 {
                w.until_something_ends().await;
            }
        })
        .await;
    }
    debug!("worker {} stopped", w.index);
}
