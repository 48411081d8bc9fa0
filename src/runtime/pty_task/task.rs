//! A live terminal session on a worker: the pure [`Session`] state plus what it drives —
//! the PTY master (readiness from the worker's reactor), the child (its pidfd), and the
//! wake-ups of every attached client's writer.
//!
//! One task per session, on the owning worker, waiting on readiness only (so `select!`
//! drops nothing that matters) for whichever of these applies now:
//! - **output**: the PTY is readable *and* `should_read_pty`: take pool buffers and read
//!   until EAGAIN (no buffer is held while the terminal is idle), hand each buffer to the
//!   session (framed once, shared by every client) and wake the writers;
//! - **input**: what did not fit in the PTY at once is retried every millisecond (the
//!   master is watched for readability only: see `start`);
//! - **child**: the pidfd is readable: reap; kill requests (configured signal, then
//!   SIGKILL after the grace) are applied as they come;
//! - **timers**: `Session::tick` at `next_deadline`, acting on what it returns; and
//!   [`QUIET`] after the last output, `Session::compact` (an idle terminal keeps its
//!   screenful in an exact-size buffer, not in pool buffers);
//! - a **wake** from a client (ack, detach, input, delete) re-evaluates all of the above.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use rustix::process::Signal;
use slab::Slab;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use crate::buf::BufMut;
use crate::pty::{self, ReadOutcome};
use crate::runtime::worker::{write_input, yield_to_core, Live, Master, Meta, Worker};
use crate::session::{ExitStatus, Millis, Session, SessionId, Status};

/// After the child exits, how long to wait for the PTY's EIO while a background
/// process keeps the terminal open, before the session ends anyway.
const EXIT_DRAIN: Duration = Duration::from_millis(500);

/// Most buffers one readiness event reads before the session task yields (256 KiB):
/// a flooding terminal must not keep its core from everything else.
const DRAIN_BATCH: usize = 16;

/// How often input that did not fit in the PTY is retried. The terminal's input queue
/// is full only while its program is not reading (a paste into a busy shell): then a
/// millisecond's delay is invisible, and no wake-up is spent per keystroke on write
/// readiness.
const INPUT_RETRY: Duration = Duration::from_millis(1);

/// How long a terminal must be silent before its scrollback's tail is compacted.
const QUIET: Duration = Duration::from_secs(2);

/// Starts a session's tasks on this worker. `spawned` comes from the spawner.
pub fn launch(
    w: &Rc<Worker>,
    id: SessionId,
    session: Session,
    spawned: pty::Spawned,
    meta: Meta,
) -> std::io::Result<Rc<Live>> {
    launch_parts(w, id, session, Some((spawned.master, spawned.child)), meta)
}

/// [`launch`] from parts: a terminal and its child, or none for a session whose
/// command has ended (one taken over by a live upgrade).
pub(super) fn launch_parts(
    w: &Rc<Worker>,
    id: SessionId,
    session: Session,
    terminal: Option<(OwnedFd, pty::Child)>,
    meta: Meta,
) -> std::io::Result<Rc<Live>> {
    let (master, child) = match terminal {
        Some((master, child)) => {
            // On failure the child is dropped with the error: killed and reaped off the
            // loop. Readable only: a PTY master reports EPOLLOUT whenever the child
            // reads its input, so with write interest every keystroke would wake the
            // worker a second time. Input that does not fit is retried on a timer
            // instead (see INPUT_RETRY).
            let master = match w.ring {
                Some(_) => Master::Plain(master),
                None => Master::Watched(crate::sys::async_fd(master, Interest::READABLE)?),
            };
            (Some(Rc::new(master)), Some(child.into_async_fd()?))
        }
        None => (None, None),
    };
    let live = Rc::new(Live {
        id,
        meta,
        state: RefCell::new(session),
        master: RefCell::new(master),
        writers: RefCell::new(Slab::new()),
        wake: Notify::new(),
        input_drained: Notify::new(),
        kill: Cell::new(None),
        terminating: Cell::new(false),
        removed: Cell::new(false),
        failed: Cell::new(false),
        panic_requested: Cell::new(false),
        handed_over: Cell::new(false),
    });
    crate::rt::spawn(contained(w.clone(), live.clone(), child));
    Ok(live)
}

/// The session's task with a panic in it contained, like a connection's: the task's
/// state is dropped at once (its child with it: killed and reaped, see `pty::Child`),
/// then the session fails (`fail`). The worker and its other sessions go on. A task
/// that gave up on an error (a readiness or reap error) before the session was removed
/// fails it the same way, instead of leaving it "running".
///
/// It and `run` return `async` blocks rather than being `async fn`s: an `async fn`
/// keeps each argument twice in its state (the argument, and the local it is bound
/// to), and every idle session keeps this state (see `catch_unwind`).
#[allow(clippy::manual_async_fn)]
fn contained(
    w: Rc<Worker>,
    live: Rc<Live>,
    child: Option<AsyncFd<pty::Child>>,
) -> impl std::future::Future<Output = ()> {
    async move {
        let outcome = {
            // Pinned here, once (see `catch_unwind`), and dropped at the end of this block.
            let task = std::pin::pin!(run(w.clone(), live.clone(), child));
            catch_unwind(task).await
        };
        // The panic hook has logged the panic; its payload says nothing more.
        match outcome {
            Err(()) => fail(&w, &live, true),
            Ok(()) if !live.is_removed() => fail(&w, &live, false),
            Ok(()) => {}
        }
    }
}

/// Polls `task` to its end; `Err` once a poll panicked (the caller drops the task then,
/// out of the unwinding, so its destructors run like any other's).
///
/// It takes the task pinned by the caller: an `async fn` taking the future by value
/// keeps it twice in its own state (the argument, and the pinned local it is moved
/// into), which doubled every session task's memory (1,864 bytes instead of 872 in a
/// debug build; the task's allocation 2,048 bytes in release).
///
/// `AssertUnwindSafe`: after a panic only `fail` looks at what the task shared (the
/// `Live`): it reads the session's status and ends it; a `RefCell` borrow the task held
/// was released while unwinding.
fn catch_unwind<F: std::future::Future>(
    mut task: std::pin::Pin<&mut F>,
) -> impl std::future::Future<Output = Result<F::Output, ()>> + '_ {
    use std::panic::AssertUnwindSafe;
    use std::task::Poll;
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    })
}

/// After a panic in the session's task (or its early end): nothing drives the session
/// any more, so it ends now. Its terminal is closed (whatever else still holds it gets
/// SIGHUP), its place under `--max-sessions` is given back, and it is removed; its
/// clients send what they have and close with 1011; the next request for it finds no
/// such session.
fn fail(w: &Worker, live: &Live, panicked: bool) {
    let why = if panicked { "panicked" } else { "stopped on an error" };
    error!("session {}: its task {why}; the session is ended and its command killed", live.id.as_str());
    if panicked {
        w.stats().session_panicked();
    }
    live.failed.set(true);
    live.master.borrow_mut().take();
    // `finish` did not run: the session still counts as running.
    if live.state.try_borrow().is_ok_and(|s| s.status() == Status::Running) {
        w.shared.running.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        w.shared.sessions.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    w.remove_session(&live.id);
    live.removed.set(true);
    live.wake_writers();
    live.input_drained.notify_waiters();
    w.something_ended();
    w.stop_if_no_conn();
}

/// Where the child and the terminal stand.
struct ChildState {
    /// The child's exit status, once reaped.
    status: Option<pty::ExitStatus>,
    /// The PTY reported EIO: every holder of the terminal is gone, all output was read.
    eio: bool,
    /// After the exit, when to stop waiting for EIO (a background process may keep the
    /// terminal open) unless reading is held back.
    drain_until: Option<tokio::time::Instant>,
    /// `Session::exited` was called.
    done: bool,
    /// The rest of the terminal session was SIGKILLed after the command's exit.
    swept: bool,
}

impl ChildState {
    /// At the task's start: a session taken over after its command ended starts ended.
    fn new(live: &Live) -> ChildState {
        let ended = live.state.borrow().status() != Status::Running;
        ChildState { status: None, eio: ended, drain_until: None, done: ended, swept: false }
    }
}

/// The session's task: see the module docs. (An `async` block: see `contained`.)
fn run(
    w: Rc<Worker>,
    live: Rc<Live>,
    child: Option<AsyncFd<pty::Child>>,
) -> impl std::future::Future<Output = ()> {
    // Dropped (its pidfd closed) once the command has ended, like the master.
    let mut child = child;
    async move {
        let mut end = ChildState::new(&live);
        let mut held = false;
        let mut want_buffer = false;
        // When to compact: QUIET after the last output, if any came since the last time.
        let mut quiet_at: Option<tokio::time::Instant> = None;
        // With the worker's own ring (`--io uring`): one multishot read for the
        // terminal's whole life, not asked for more while flow control holds output back.
        let mut ring_read = w.ring.as_ref().and_then(|ring| {
            let master = live.master.borrow();
            let fd = master.as_ref()?.get_ref().as_fd();
            ring.read_multishot(fd)
                .map_err(|e| error!("session {}: no multishot read of its terminal ({e})", live.id.as_str()))
                .ok()
                // Boxed: every session's task keeps this slot, 8 bytes while empty.
                .map(Box::new)
        });
        if w.ring.is_some() && ring_read.is_none() {
            // Its master is not watched by the reactor: nothing could read it. The
            // session fails (`contained`), its child killed and reaped.
            return;
        }
        loop {
            if live.panic_requested.take() {
                // Inside a borrow: a panic must not leave the session unusable for `fail`.
                let _state = live.state.borrow_mut();
                panic!("fault injection: panic in a session task");
            }
            if live.handed_over.get() {
                // A live upgrade: everything read so far is in the session; the next
                // process takes the rest from the terminal.
                super::handover::export(&w, &live, child.take(), end.status);
                return;
            }
            let removed = live.removed.get();
            let signal = if removed { Some(Signal::KILL) } else { live.kill.take() };
            if let (Some(sig), Some(master), Some(child)) =
                (signal, live.master.borrow().as_ref(), child.as_ref())
            {
                // Removed while something still runs (it cannot be after a normal end): KILL.
                let _ = pty::signal_session(child.get_ref(), master.get_ref().as_fd(), sig);
            }
            if removed {
                return;
            }
            if let (Some(status), false) = (end.status, end.done) {
                if end.eio || drain_over(&end, &live) {
                    if let (true, false, Some(child)) = (live.terminating.get(), end.swept, child.as_ref()) {
                        // Asked to end after its command had exited (a job kept the terminal
                        // open): whatever is left of the session still holds its id, so the
                        // sweep finds only that.
                        pty::sweep_session(child.get_ref(), Signal::KILL);
                    }
                    finish(&w, &live, status);
                    end.done = true;
                    end.eio = true;
                    // The read names the master's fd: it goes first.
                    ring_read = None;
                    live.master.borrow_mut().take();
                    child = None;
                }
            }
            // A handle for this round; the borrow itself ends here.
            let master_rc = live.master.borrow().clone();
            let master = master_rc.as_deref();
            let reading = !end.eio && live.state.borrow().should_read_pty();
            if !reading && !held && live.state.borrow().status() == Status::Running {
                w.stats().pty_paused();
            }
            held = !reading;
            // Held back, the multishot read is simply not asked for more: the ring
            // cancels it once it holds a few buffers (uring::driver, "Flow control").
            if reading && ring_read.is_some() && w.ring.as_ref().is_some_and(|r| r.starved()) {
                // The pool is at its bound and the ring has no buffer left to lend:
                // scrollback gives some back, as for a read by readiness.
                reclaim(&w);
            }
            let writing = !end.eio && master.is_some() && !live.state.borrow().pending_input().is_empty();
            let deadline: Option<tokio::time::Instant> =
                live.state.borrow().next_deadline().map(|Millis(at)| w.instant_at(at).into());
            // Armed only while the drain time runs: once it is over and reading is held
            // back, a flow change (ack, demotion, detach) wakes the task instead.
            let draining = end.drain_until.filter(|&at| !end.done && at > tokio::time::Instant::now());
            // One timer for everything timed (one `Sleep` in the task, not one per kind);
            // the clock is read for the input retry only when there is input to retry.
            let retry = writing.then(|| tokio::time::Instant::now() + INPUT_RETRY);
            let timer = [deadline, quiet_at, draining, retry].into_iter().flatten().min();
            tokio::select! {
                got = next_output(ring_read.as_deref_mut()), if reading && ring_read.is_some() => {
                    match got {
                        Ok(Some(buf)) => {
                            quiet_at = Some(output_now(&w, &live) + QUIET);
                            if let Some(read) = ring_read.as_deref_mut() {
                                end.eio = push_coalesced(&w, &live, read, buf);
                            }
                        }
                        // EIO: every holder of the terminal is gone, all output was read.
                        Ok(None) | Err(_) => end.eio = true,
                    }
                }
                ready = ready_for(master.and_then(Master::watched), Interest::READABLE), if reading && !want_buffer && ring_read.is_none() => {
                    let Ok(mut ready) = ready else { return };
                    let Some(buf) = w.pool.try_alloc().or_else(|| {
                        reclaim(&w);
                        w.pool.try_alloc()
                    }) else {
                        want_buffer = true;
                        continue;
                    };
                    let before = live.state.borrow().end_offset();
                    let drained = drain(&w, &live, ready.get_inner(), buf);
                    // Readiness without data (the terminal's EIO at the end) is no output.
                    if live.state.borrow().end_offset() != before {
                        quiet_at = Some(output_now(&w, &live) + QUIET);
                    }
                    match drained {
                        Drained::WouldBlock => ready.clear_ready(),
                        Drained::Held => {}
                        Drained::Batch => {
                            // A flood gives the core back now and then: its clients' input
                            // (Ctrl+C, a pause) and every other task on the core run.
                            drop(ready);
                            yield_to_core().await;
                        }
                        Drained::Eio => end.eio = true,
                    }
                }
                _ = w.wait_for_buffer(), if reading && want_buffer => want_buffer = false,
                ready = child_ready(child.as_mut()), if end.status.is_none() => {
                    let Ok(mut guard) = ready else { return };
                    if live.terminating.get() {
                        // The command has exited (its zombie still holds the session's id):
                        // its background jobs, in groups the signal did not reach or
                        // ignoring it, go with it.
                        pty::sweep_session(guard.get_ref().get_ref(), Signal::KILL);
                        end.swept = true;
                    }
                    match guard.get_inner_mut().try_reap() {
                        Ok(Some(status)) => {
                            end.status = Some(status);
                            end.drain_until = Some(tokio::time::Instant::now() + EXIT_DRAIN);
                        }
                        Ok(None) => guard.clear_ready(),
                        Err(_) => return,
                    }
                }
                // Whatever is due: a drain time running out needs nothing but the next round.
                _ = sleep_until(timer), if timer.is_some() => {
                    if let (true, Some(m)) = (writing, master) {
                        write_input(&live, m.get_ref());
                    }
                    let now = tokio::time::Instant::now();
                    if quiet_at.is_some_and(|at| at <= now) {
                        quiet_at = None;
                        live.state.borrow_mut().compact();
                    }
                    if deadline.is_some_and(|at| at <= now) {
                        let actions = live.state.borrow_mut().tick(w.now());
                        live.apply(&w, actions);
                    }
                }
                _ = live.wake.notified() => {}
            }
        }
    }
}

/// Output is being read now: noted in the session (its `last_output`, one clock read
/// per readiness event, not per buffer). Returns the time.
fn output_now(w: &Worker, live: &Live) -> tokio::time::Instant {
    let now = w.now();
    live.state.borrow_mut().output_seen(now);
    w.instant_at(now.0).into()
}

/// A time on the worker's clock as milliseconds since the Unix epoch.
fn unix_ms(w: &Worker, at: Millis) -> u64 {
    let ago = w.now().0.saturating_sub(at.0);
    crate::runtime::worker::unix_now_ms().saturating_sub(ago)
}

/// The pidfd's readiness; pending forever once the child is released.
async fn child_ready(
    child: Option<&mut AsyncFd<pty::Child>>,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyMutGuard<'_, pty::Child>> {
    match child {
        Some(c) => c.readable_mut().await,
        None => std::future::pending().await,
    }
}

/// Readiness of the PTY master; pending forever once it is closed.
async fn ready_for(
    master: Option<&AsyncFd<OwnedFd>>,
    interest: Interest,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>> {
    match master {
        Some(m) => m.ready(interest).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether to stop waiting for EIO after the exit: the drain time is over and nothing
/// holds reading back (flow control may legitimately keep output in the PTY longer).
fn drain_over(end: &ChildState, live: &Live) -> bool {
    let over = end.drain_until.is_some_and(|at| tokio::time::Instant::now() >= at);
    over && live.state.borrow().should_read_pty()
}

/// The command has ended and its output is complete: every client gets the rest, then
/// the exit.
fn finish(w: &Worker, live: &Live, status: pty::ExitStatus) {
    let status = ExitStatus { code: status.code, signal: status.signal };
    live.state.borrow_mut().exited(status, w.now());
    w.stats().exited();
    w.shared.running.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    // Its place under --max-sessions: an exited session holds no PTY and no process.
    w.shared.sessions.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    live.wake_writers();
    // Readers waiting for queue space: the terminal takes no more input.
    live.input_drained.notify_waiters();
    w.something_ended();
    if live.state.borrow().client_count() == 0 {
        w.stop_if_once("the session ended");
    }
    w.stop_if_no_conn();
}

/// The core's scrollback budget. The pool's bound is this core's output memory; when a
/// terminal finds it used up, the largest scrollbacks on the core are halved (oldest
/// output first; a client that had not been sent it gets a gap) until a sixteenth of
/// the pool is freed or every scrollback is down to its minimum. Without this, idle
/// sessions' full scrollbacks would keep every other terminal on the core from being
/// read at all. Returns the bytes of memory released (some may still be on their way
/// out to clients).
fn reclaim(w: &Worker) -> usize {
    let unit = w.pool.mem_size();
    let target = (w.pool.max_bufs() / 16).max(16) * unit;
    let floor = crate::session::MIN_BUFS * unit;
    let sessions = w.sessions_unordered();
    let mut freed = 0;
    while freed < target {
        let largest = sessions.iter().max_by_key(|l| l.state.borrow().scrollback().mem());
        let Some(victim) = largest else { break };
        let mem = victim.state.borrow().scrollback().mem();
        if mem <= floor {
            break;
        }
        let got = victim.state.borrow_mut().shrink_scrollback((mem / 2).max(floor));
        if got == 0 {
            break;
        }
        freed += got;
        victim.wake_writers();
        victim.flow_changed();
    }
    if freed > 0 {
        w.stats().reclaimed(freed);
        debug!("worker {}: reclaimed {freed} bytes of scrollback for the core's budget", w.index);
    }
    freed
}

enum Drained {
    /// The PTY is empty for now.
    WouldBlock,
    /// Reading stopped because flow control or the pool says so.
    Held,
    /// [`DRAIN_BATCH`] buffers were read: more may be waiting.
    Batch,
    /// The terminal is closed: all output has been read.
    Eio,
}

/// Reads until EAGAIN, EIO, or the session/pool says stop; every filled buffer goes to
/// the session at once, so a busy terminal streams in full buffers and a keystroke
/// echo goes out immediately.
fn drain(w: &Worker, live: &Live, master: &OwnedFd, mut buf: BufMut) -> Drained {
    let mut filled = 0;
    let outcome = loop {
        let n = match pty::read_into(master, buf.spare_mut()) {
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
        filled += 1;
        if filled == DRAIN_BATCH {
            return Drained::Batch;
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
    live.state.borrow_mut().push_output(buf, || w.now());
    w.stats().output(n);
    live.wake_writers();
}

/// Pushes `buf` after appending to it the pieces of output already read behind it, as
/// far as they fit: a flood arrives from a multishot read in the pieces the terminal
/// delivers (a few KiB), and the readiness path's drain fills a whole buffer before it
/// is framed; fewer, fuller frames cost every client less. A piece that does not fit
/// starts the next buffer. Stops at flow control. Returns whether the read ended (EIO).
fn push_coalesced(w: &Worker, live: &Live, read: &mut crate::uring::MultiRead, mut buf: BufMut) -> bool {
    let mut ended = false;
    while buf.remaining() > 0 {
        match read.try_next() {
            None => break,
            Some(Ok(Some(next))) if next.len() <= buf.remaining() => {
                buf.extend_from_slice(next.as_slice()); // `next` goes back to the pool
            }
            Some(Ok(Some(next))) => {
                push(w, live, std::mem::replace(&mut buf, next));
                if !live.state.borrow().should_read_pty() {
                    break;
                }
            }
            Some(Ok(None) | Err(_)) => {
                ended = true;
                break;
            }
        }
    }
    push(w, live, buf);
    ended
}

/// The next output of the terminal's multishot read; never ready without one.
fn next_output(
    mut read: Option<&mut crate::uring::MultiRead>,
) -> impl std::future::Future<Output = std::io::Result<Option<BufMut>>> + '_ {
    std::future::poll_fn(move |cx| match read.as_deref_mut() {
        Some(read) => read.poll_next(cx),
        None => std::task::Poll::Pending,
    })
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
    out.insert("name".into(), json!(s.name()));
    out.insert("keep".into(), json!(s.keep()));
    out.insert("command".into(), json!(live.meta.command));
    out.insert("owner".into(), json!(live.meta.owner));
    out.insert("pid".into(), json!(live.meta.pid));
    out.insert("tty".into(), json!(live.meta.tty));
    out.insert("status".into(), json!(status));
    out.insert("exit_code".into(), json!(code));
    out.insert("exit_signal".into(), json!(signal));
    out.insert("created".into(), json!(live.meta.created_ms / 1000));
    out.insert("created_ms".into(), json!(live.meta.created_ms));
    out.insert("last_output".into(), json!(s.last_output().map(|at| unix_ms(w, at))));
    // At most 4 KiB of the scrollback parsed (`session::preview`).
    out.insert("preview".into(), json!(s.preview()));
    out.insert("cols".into(), json!(size.cols));
    out.insert("rows".into(), json!(size.rows));
    out.insert("clients".into(), json!(s.client_count()));
    out.insert("offset".into(), json!(s.end_offset()));
    out.insert("scrollback_bytes".into(), json!(s.scrollback().mem()));
    let m = s.metrics();
    out.insert("pty_pauses".into(), json!(m.pty_pauses));
    out.insert("demotions".into(), json!(m.demotions));
    out.insert("worker".into(), json!(w.index));
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    /// Idle memory (issue 13, item 7): every session keeps an `Rc<Live>` (two counts
    /// and the `Live`), which fits mimalloc's 896-byte size class; 8 bytes more and it
    /// takes 1,024.
    #[test]
    fn a_live_session_fits_the_896_byte_size_class() {
        let rc = 2 * size_of::<usize>() + size_of::<crate::runtime::worker::Live>();
        assert!(rc <= 896, "Rc<Live> is {rc} bytes: a session's state moved up a size class");
    }

    /// The session task holds its state once (see `catch_unwind` and `contained`), and
    /// its allocation fits 1,024 bytes: tokio's task header (32) and trailer (48)
    /// around the scheduler handle, the task id (24 together) and this future, rounded
    /// up to 128 (904 bytes with tokio 1.54; the task was 1,152 bytes before, and 2,048).
    #[test]
    fn the_session_task_holds_its_future_once() {
        fn output_size<A, B, C, R, F: FnOnce(A, B, C) -> R>(_: &F) -> usize {
            size_of::<R>()
        }
        let (task, run) = (output_size(&super::contained), output_size(&super::run));
        assert!(task < run + 128, "the task's future is {task} bytes for a {run}-byte run()");
        assert!(32 + 24 + task + 48 <= 1024, "the session task ({task} bytes) no longer fits 1 KiB");
    }
}
