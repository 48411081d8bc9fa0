//! A session across a live upgrade, exported by its own task in the old process (so
//! that nothing is read from its terminal after the export). The new process adopts
//! it with the same id, output offsets and retained bytes (`start::adopt`); the socket
//! between the two is `runtime::handover`'s.

use std::sync::atomic::Ordering::Relaxed;

use tokio::io::unix::AsyncFd;

use crate::pty;
use crate::runtime::worker::handover::{Export, Handed, WireExit};
use crate::runtime::worker::{Live, Worker};
use crate::session::Status;

pub(super) fn wire(code: Option<i32>, signal: Option<i32>) -> WireExit {
    WireExit { code, signal }
}

/// Called by the session's task when it finds the session handed over: describes it,
/// duplicates its terminal and pidfd for the next process, lets go of its command
/// (not signalled, not waited for), removes it here and puts the export in the
/// worker's outbox. `reaped` is the command's status if the task had reaped it.
pub(super) fn export(
    w: &Worker,
    live: &Live,
    child: Option<AsyncFd<pty::Child>>,
    reaped: Option<pty::ExitStatus>,
) {
    let state = live.state.borrow();
    let (start, bytes) = state.scrollback().export();
    let size = state.size();
    let (name, keep) = (state.name().map(str::to_owned), state.keep());
    // On the epoch's clock: the next process has another monotonic one.
    let last_output_ms = state.last_output().map(|at| {
        let ago = w.now().0.saturating_sub(at.0);
        crate::runtime::worker::unix_now_ms().saturating_sub(ago)
    });
    let (running, mut exited) = match state.status() {
        Status::Running => (true, None),
        Status::Exited { status, .. } => (false, Some(wire(status.code, status.signal))),
    };
    drop(state);
    // Its recording goes on in the next process (`record::Recorder::reopen`): the tap
    // ends here without a marker, and what it has pending is written before the export.
    if let Some(recorder) = &w.shared.recorder {
        if let Some(rec) = recorder.hand_over(live.id.as_str()) {
            drop(live.state.borrow_mut().take_tap());
            recorder.wait_written(&rec);
        }
    }
    let mut fds = Vec::new();
    if running {
        let master = live.master.borrow().as_ref().map(|m| rustix::io::fcntl_dupfd_cloexec(m.get_ref(), 3));
        let pidfd = child.as_ref().map(|c| c.get_ref().pidfd_dup());
        match (master, pidfd) {
            (Some(Ok(m)), Some(Ok(p))) => fds = vec![m, p],
            _ => {
                error!("session {}: cannot duplicate its terminal for the next process", live.id.as_str());
                exited = Some(wire(None, None));
            }
        }
    }
    // The command now belongs to the next process: dropping our handle must not end it.
    if let Some(c) = child {
        c.into_inner().disown();
    }
    live.master.borrow_mut().take();
    if running {
        w.shared.running.fetch_sub(1, Relaxed);
        w.shared.sessions.fetch_sub(1, Relaxed);
    }
    w.remove_session(&live.id);
    live.removed.set(true);
    live.wake_writers();
    live.input_drained.notify_waiters();
    w.something_ended();
    let m = &live.meta;
    let handed = Handed {
        id: live.id.as_str().to_owned(),
        name,
        command: m.command.clone(),
        owner: m.owner.clone(),
        created_ms: m.created_ms,
        pid: m.pid,
        tty: m.tty.clone(),
        cols: size.cols,
        rows: size.rows,
        keep,
        last_output_ms,
        start,
        len: bytes.len() as u64,
        exited,
        reaped: reaped.filter(|_| running).map(|s| wire(s.code, s.signal)),
    };
    w.handover.exports.borrow_mut().push(Export { handed, bytes, fds });
    w.handover.added.notify_one();
}
