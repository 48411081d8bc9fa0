//! A live terminal session on a worker: the pure [`Session`] state plus what it drives —
//! the PTY master (readiness from the worker's reactor), the child (its pidfd), and the
//! wake-ups of every attached client's writer.
//!
//! Tasks per session, all on the owning worker:
//! - **output**: waits until the PTY is readable *and* `should_read_pty`, then takes pool
//!   buffers and reads until EAGAIN (no buffer is held while the terminal is idle), hands
//!   each buffer to the session (framed once, shared by every client) and wakes writers;
//! - **input**: drains the session's bounded input queue into the PTY, short writes and
//!   EAGAIN included;
//! - **child**: waits on the pidfd, reaps, applies kill requests (configured signal, then
//!   SIGKILL after the grace);
//! - **timers**: runs `Session::tick` at `next_deadline` and acts on what it returns.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use slab::Slab;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use super::worker::Worker;
use crate::buf::BufMut;
use crate::protocol::WinSize;
use crate::pty::{self, ReadOutcome};
use crate::session::{Actions, ClientId, ExitStatus, Millis, Session, SessionId, Status};

/// After the child exits, how long to wait for the PTY's EIO while a background
/// process keeps the terminal open, before the session ends anyway.
const EXIT_DRAIN: Duration = Duration::from_millis(500);

/// What the API shows about a session besides its state.
#[derive(Debug, Clone)]
pub struct Meta {
    pub name: Option<String>,
    pub command: Vec<String>,
    pub pid: i32,
    pub tty: String,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
}

pub struct Live {
    pub id: SessionId,
    pub meta: Meta,
    pub state: RefCell<Session>,
    master: AsyncFd<OwnedFd>,
    /// One waker per attached client's writer, keyed like the session's clients.
    writers: RefCell<Slab<(ClientId, Rc<Notify>)>>,
    /// Flow may have changed (ack, detach, demotion, pool buffer freed): re-check.
    flow: Notify,
    /// Input was queued for the PTY.
    input: Notify,
    /// Input was drained from the queue: readers blocked on a full queue retry.
    pub input_drained: Notify,
    /// A deadline may have moved.
    timers: Notify,
    /// Kill requests for the child task: the signal to send.
    kill: Cell<Option<Signal>>,
    kill_now: Notify,
    eio: Cell<bool>,
    eio_seen: Notify,
    removed: Cell<bool>,
    pub removed_notify: Notify,
}

impl Live {
    /// Wakes every client's writer (new output, exit, resize).
    pub fn wake_writers(&self) {
        for (_, (_, n)) in self.writers.borrow().iter() {
            n.notify_one();
        }
    }

    pub fn add_writer(&self, client: ClientId) -> (usize, Rc<Notify>) {
        let n = Rc::new(Notify::new());
        (self.writers.borrow_mut().insert((client, n.clone())), n)
    }

    pub fn remove_writer(&self, key: usize) {
        self.writers.borrow_mut().try_remove(key);
    }

    /// After any call that may resume reading (ack, detach, input drained).
    pub fn flow_changed(&self) {
        self.flow.notify_one();
        self.timers.notify_one();
    }

    pub fn input_queued(&self) {
        self.input.notify_one();
    }

    pub fn is_removed(&self) -> bool {
        self.removed.get()
    }

    /// Applies a size to the PTY (the kernel signals the foreground group).
    pub fn apply_size(&self, size: WinSize) {
        let _ = pty::resize(self.master.get_ref(), size.cols, size.rows);
        self.wake_writers();
    }

    /// SIGWINCH without a size change, so full-screen programs redraw after a gap.
    pub fn nudge(&self) {
        let _ = pty::nudge(self.master.get_ref());
    }

    /// `DELETE`: starts termination (or removes an exited session).
    pub fn terminate(&self, w: &Worker) {
        let actions = self.state.borrow_mut().kill(w.now());
        self.apply(w, actions);
        self.timers.notify_one();
    }

    pub fn apply(&self, w: &Worker, actions: Actions) {
        if actions.contains(Actions::KILL) {
            let sig = pty::signal_from_raw(w.cfg.terminal.signal).unwrap_or(Signal::HUP);
            self.kill.set(Some(sig));
            self.kill_now.notify_one();
        }
        if actions.contains(Actions::FORCE_KILL) {
            self.kill.set(Some(Signal::KILL));
            self.kill_now.notify_one();
        }
        if actions.contains(Actions::DEMOTE_DRIVER) {
            self.flow.notify_one();
        }
        if actions.contains(Actions::REMOVE) {
            w.remove_session(&self.id);
            self.removed.set(true);
            self.removed_notify.notify_waiters();
            self.wake_writers();
            self.flow.notify_one();
            self.input.notify_one();
            self.kill_now.notify_one();
            self.timers.notify_one();
        }
    }
}

/// Starts a session's tasks on this worker. `spawned` comes from the spawner.
pub fn start(w: &Rc<Worker>, id: SessionId, session: Session, spawned: pty::Spawned, meta: Meta) -> Rc<Live> {
    let master = crate::sys::async_fd(spawned.master, Interest::READABLE | Interest::WRITABLE);
    let master = match master {
        Ok(m) => m,
        Err(e) => panic!("cannot register a PTY master with the reactor: {e}"),
    };
    let live = Rc::new(Live {
        id,
        meta,
        state: RefCell::new(session),
        master,
        writers: RefCell::new(Slab::new()),
        flow: Notify::new(),
        input: Notify::new(),
        input_drained: Notify::new(),
        timers: Notify::new(),
        kill: Cell::new(None),
        kill_now: Notify::new(),
        eio: Cell::new(false),
        eio_seen: Notify::new(),
        removed: Cell::new(false),
        removed_notify: Notify::new(),
    });
    tokio_uring::spawn(output_task(w.clone(), live.clone()));
    tokio_uring::spawn(input_task(w.clone(), live.clone()));
    tokio_uring::spawn(child_task(w.clone(), live.clone(), spawned.child));
    tokio_uring::spawn(timer_task(w.clone(), live.clone()));
    live
}

/// PTY → pool buffers → session → writers.
async fn output_task(w: Rc<Worker>, live: Rc<Live>) {
    let mut held = false;
    loop {
        if live.removed.get() || live.eio.get() {
            return;
        }
        if !live.state.borrow().should_read_pty() {
            if !held && live.state.borrow().status() == Status::Running {
                w.stats().pty_paused();
            }
            held = true;
            live.flow.notified().await;
            continue;
        }
        held = false;
        let Ok(mut ready) = live.master.readable().await else { return };
        if !live.state.borrow().should_read_pty() {
            continue;
        }
        // A buffer is taken only now that there is something to read.
        let Some(buf) = w.pool.try_alloc() else {
            w.wait_for_buffer().await;
            continue;
        };
        match drain(&w, &live, buf) {
            Drained::WouldBlock => ready.clear_ready(),
            Drained::Held => {}
            Drained::Eio => {
                live.eio.set(true);
                live.eio_seen.notify_one();
                return;
            }
        }
    }
}

enum Drained {
    /// The PTY is empty for now.
    WouldBlock,
    /// Reading stopped because flow control or the pool says so.
    Held,
    /// The terminal is closed: all output has been read.
    Eio,
}

/// Reads until EAGAIN, EIO, or the session/pool says stop; every filled buffer goes to
/// the session at once, so a busy terminal streams in full buffers and a keystroke
/// echo goes out immediately.
fn drain(w: &Worker, live: &Live, mut buf: BufMut) -> Drained {
    let outcome = loop {
        let n = match pty::read_into(live.master.get_ref(), buf.spare_mut()) {
            Ok(ReadOutcome::Data(n)) => n,
            Ok(ReadOutcome::WouldBlock) => break Drained::WouldBlock,
            Ok(ReadOutcome::Closed) | Err(_) => break Drained::Eio,
        };
        let len = buf.len() + n;
        let _ = buf.set_len(len);
        if buf.remaining() > 0 {
            continue;
        }
        push(w, live, buf);
        if !live.state.borrow().should_read_pty() {
            return Drained::Held;
        }
        match w.pool.try_alloc() {
            Some(next) => buf = next,
            None => return Drained::Held,
        }
    };
    if !buf.is_empty() {
        push(w, live, buf);
    }
    outcome
}

fn push(w: &Worker, live: &Live, buf: BufMut) {
    let n = buf.len();
    if live.state.borrow_mut().push_output(buf).is_err() {
        error!("session {}: an output buffer without headroom was dropped ({n} bytes)", live.id.as_str());
    }
    w.stats().output(n);
    live.wake_writers();
}

/// Input queue → PTY.
async fn input_task(_w: Rc<Worker>, live: Rc<Live>) {
    loop {
        if live.removed.get() {
            return;
        }
        let pending = live.state.borrow().pending_input().len();
        if pending == 0 {
            live.input.notified().await;
            continue;
        }
        let written = {
            let state = live.state.borrow();
            pty::write_some(live.master.get_ref(), state.pending_input())
        };
        match written {
            Ok(n) => {
                live.state.borrow_mut().input_written(n);
                live.input_drained.notify_waiters();
                live.flow_changed();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let Ok(mut ready) = live.master.writable().await else { return };
                ready.clear_ready();
            }
            Err(_) => {
                // The terminal is gone; what is queued can never be written.
                let n = live.state.borrow().pending_input().len();
                live.state.borrow_mut().input_written(n);
                live.input_drained.notify_waiters();
                live.input.notified().await;
            }
        }
    }
}

/// Waits for the child's exit (pidfd), applies kill requests, and ends the session once
/// the output is complete.
async fn child_task(w: Rc<Worker>, live: Rc<Live>, child: pty::Child) {
    let Ok(mut child) = child.into_async_fd() else {
        error!("session {}: cannot watch the child's pidfd", live.id.as_str());
        return;
    };
    let status = loop {
        tokio::select! {
            ready = child.readable_mut() => {
                let Ok(mut guard) = ready else { return };
                match guard.get_inner_mut().try_reap() {
                    Ok(Some(status)) => break status,
                    Ok(None) => guard.clear_ready(),
                    Err(_) => return,
                }
            }
            _ = live.kill_now.notified() => {
                if let Some(sig) = live.kill.take() {
                    let _ = pty::signal_session(child.get_ref(), live.master.get_ref().as_fd(), sig);
                }
                if live.removed.get() {
                    let _ = pty::signal_session(child.get_ref(), live.master.get_ref().as_fd(), Signal::KILL);
                }
            }
        }
    };
    // Remaining output is delivered before the exit: wait for EIO, bounded when a
    // background process keeps the terminal open and nothing holds reading back.
    let drained_at = Instant::now() + EXIT_DRAIN;
    while !live.eio.get() && !live.removed.get() {
        let held = !live.state.borrow().should_read_pty();
        let wait = if held {
            Duration::from_secs(3600)
        } else {
            drained_at.saturating_duration_since(Instant::now())
        };
        if !held && wait.is_zero() {
            break;
        }
        let _ = tokio::time::timeout(wait.min(Duration::from_millis(100)), live.eio_seen.notified()).await;
    }
    let status = ExitStatus { code: status.code, signal: status.signal };
    live.state.borrow_mut().exited(status, w.now());
    w.stats().exited();
    w.shared.running.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    if live.state.borrow().client_count() == 0 {
        w.stop_if_once("the session ended");
    }
    w.stop_if_no_conn();
    live.wake_writers();
    live.timers.notify_one();
    live.flow.notify_one();
}

/// Runs `Session::tick` at its deadlines.
async fn timer_task(w: Rc<Worker>, live: Rc<Live>) {
    loop {
        if live.removed.get() {
            return;
        }
        let deadline = live.state.borrow().next_deadline();
        let wake = async {
            match deadline {
                Some(Millis(at)) => tokio::time::sleep_until(w.instant_at(at).into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake => {
                let actions = live.state.borrow_mut().tick(w.now());
                live.apply(&w, actions);
                live.flow.notify_one();
            }
            _ = live.timers.notified() => {}
        }
    }
}

/// A read-only summary for the API.
pub fn describe(live: &Live, w: &Worker, out: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    let s = live.state.borrow();
    let (status, code, signal) = match s.status() {
        Status::Running => ("running", None, None),
        Status::Exited { status, .. } => ("exited", status.code, status.signal),
    };
    let size = s.size();
    out.insert("id".into(), json!(live.id.as_str()));
    out.insert("name".into(), json!(live.meta.name));
    out.insert("command".into(), json!(live.meta.command));
    out.insert("pid".into(), json!(live.meta.pid));
    out.insert("tty".into(), json!(live.meta.tty));
    out.insert("status".into(), json!(status));
    out.insert("exit_code".into(), json!(code));
    out.insert("exit_signal".into(), json!(signal));
    out.insert("created".into(), json!(live.meta.created_unix));
    out.insert("cols".into(), json!(size.cols));
    out.insert("rows".into(), json!(size.rows));
    out.insert("clients".into(), json!(s.client_count()));
    out.insert("offset".into(), json!(s.end_offset()));
    out.insert("worker".into(), json!(w.index));
}
