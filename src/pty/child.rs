//! A spawned child: its pidfd, its non-blocking reap, its signals, and the reaper thread
//! that collects the children dropped before they were reaped and sweeps the sessions
//! being ended (`sweep.rs`).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, WaitIdStatus};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::sweep::Target;

/// How a child ended: exactly one of the two is `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code (`exit(3)` → 3), when it exited by itself.
    pub code: Option<i32>,
    /// The signal number that ended it (`SIGTERM` → 15).
    pub signal: Option<i32>,
}

impl ExitStatus {
    fn from_wait(s: &WaitIdStatus) -> Self {
        ExitStatus { code: s.exit_status(), signal: s.terminating_signal() }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(sig)) => write!(f, "killed by signal {sig}"),
            (None, None) => f.write_str("ended"),
        }
    }
}

/// A child process of this server, leader of its own session and process group, with
/// the PTY slave as its controlling terminal.
///
/// Its fd (`AsFd`/`AsRawFd`) is the pidfd: it becomes readable when the child exits,
/// and then [`Child::try_reap`] collects the status; [`Child::into_async_fd`] registers
/// it with the reactor.
///
/// Dropping a `Child` that is not reaped yet never blocks: it SIGKILLs the child and its
/// process group and hands the pid to the reaper thread, which collects it. To end a
/// session gracefully, use [`signal_session`] first and reap.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    /// Refers to `pid` for the child's whole life; open (and CLOEXEC) as long as `self`.
    pidfd: OwnedFd,
    /// `Some` once reaped. From then on `pid` may name another process: nothing may be
    /// sent to `pid` or its process group any more.
    status: Option<ExitStatus>,
    reaper: mpsc::Sender<Reap>,
    /// Whose it is: ours, taken over, or given away (a live upgrade). One field, the
    /// size of the sender it holds: every idle session's task keeps a `Child`.
    owner: Owner,
}

/// Whose a [`Child`] is, across live upgrades.
#[derive(Debug)]
enum Owner {
    /// Started by this process: waited for with `waitid`. The sender keeps the spawner
    /// thread that started the child alive while the child may run: the child's
    /// parent-death signal (SIGKILL, `clone.rs`) fires when that thread ends, not when
    /// the process does.
    Ours(#[allow(dead_code)] Option<mpsc::Sender<()>>),
    /// Taken over from another ringtty process: not our child, so it cannot be waited
    /// for; its end is seen on the pidfd and its status read from it.
    Adopted,
    /// Handed over to another process: dropping it leaves it running.
    Disowned,
}

impl Child {
    pub(super) fn new(
        pid: Pid,
        pidfd: OwnedFd,
        reaper: mpsc::Sender<Reap>,
        spawner: Option<mpsc::Sender<()>>,
    ) -> Self {
        Child { pid, pidfd, status: None, reaper, owner: Owner::Ours(spawner) }
    }

    /// A process another ringtty started and handed over (a live upgrade): its pid and
    /// a pidfd for it. It is not our child: it is reaped by whoever its parent is now
    /// (init, or a subreaper), and [`Child::try_reap`] reads its status from the pidfd.
    pub(super) fn adopt(pid: Pid, pidfd: OwnedFd, reaper: mpsc::Sender<Reap>) -> Child {
        Child { pid, pidfd, status: None, reaper, owner: Owner::Adopted }
    }

    /// A copy of the pidfd, to hand the child over to another process.
    pub fn pidfd_dup(&self) -> io::Result<OwnedFd> {
        Ok(rustix::io::fcntl_dupfd_cloexec(&self.pidfd, 3)?)
    }

    /// The child now belongs to another process (a live upgrade): dropping this
    /// handle neither signals nor waits for it.
    pub fn disown(mut self) {
        self.owner = Owner::Disowned;
    }

    /// The child's pid, which is also its process group and session id.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The exit status, once [`Child::try_reap`] has collected it.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Non-blocking reap: `waitid(P_PIDFD, WEXITED | WNOHANG)`. `Ok(None)` while the
    /// child runs (or is only stopped). Once it returned a status it keeps returning it.
    pub fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        if matches!(self.owner, Owner::Adopted) {
            self.status = adopted_exit(&self.pidfd)?;
            return Ok(self.status);
        }
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
        loop {
            match rustix::process::waitid(WaitId::PidFd(self.pidfd.as_fd()), options) {
                Ok(None) => return Ok(None),
                Ok(Some(s)) => {
                    self.status = Some(ExitStatus::from_wait(&s));
                    return Ok(self.status);
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Child {
    /// Registers the pidfd with the current tokio reactor (readable = the child has
    /// exited): `child.readable_mut().await`, then `try_reap` on the inner `Child`.
    /// Panics outside a tokio runtime (a tokio-uring runtime is one).
    pub fn into_async_fd(self) -> io::Result<AsyncFd<Child>> {
        // SAFETY: `pidfd` is a private field, open for the `Child`'s whole life and never
        // replaced, and `as_raw_fd` always returns it: the registration's requirements.
        unsafe { AsyncFd::register_with_interest(self, Interest::READABLE) }.map_err(|e| e.into_parts().1)
    }
}

impl AsFd for Child {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

impl AsRawFd for Child {
    fn as_raw_fd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }
}

/// An adopted child's end, from its pidfd: `None` while it runs (the pidfd is not
/// readable). Once it has exited, its status as its new parent reaped it
/// (`PIDFD_GET_INFO`, Linux 6.15), or an unknown status if it is not reaped yet or
/// the kernel is older: the session ends either way.
fn adopted_exit(pidfd: &OwnedFd) -> io::Result<Option<ExitStatus>> {
    let mut poll = [rustix::event::PollFd::new(pidfd, rustix::event::PollFlags::IN)];
    let ready = rustix::event::poll(&mut poll, Some(&rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 }))?;
    if ready == 0 {
        return Ok(None);
    }
    Ok(Some(pidfd_exit_info(pidfd).unwrap_or(ExitStatus { code: None, signal: None })))
}

/// `struct pidfd_info` (linux/pidfd.h) up to `exit_code`: 64 bytes, version 0.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    ids: [u32; 11],
    exit_code: i32,
}

/// The exit status the kernel kept on the pidfd once the process was reaped.
fn pidfd_exit_info(pidfd: &OwnedFd) -> Option<ExitStatus> {
    const PIDFD_INFO_EXIT: u64 = 1 << 3;
    // _IOWR(0xFF, 11, struct pidfd_info): direction 3, size, type 0xFF, number 11.
    const PIDFD_GET_INFO: libc::c_ulong =
        (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;
    let mut info = PidfdInfo { mask: PIDFD_INFO_EXIT, ..PidfdInfo::default() };
    // SAFETY: `pidfd` is an open pidfd; `info` is a properly aligned, writable
    // `struct pidfd_info` of the size the request number encodes, which the kernel
    // fills in (or fails with ENOTTY/EINVAL on kernels without it).
    let rc = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO, &mut info as *mut PidfdInfo) };
    if rc != 0 || info.mask & PIDFD_INFO_EXIT == 0 {
        return None;
    }
    let status = info.exit_code;
    let (code, signal) = match (libc::WIFEXITED(status), libc::WIFSIGNALED(status)) {
        (true, _) => (Some(libc::WEXITSTATUS(status)), None),
        (_, true) => (None, Some(libc::WTERMSIG(status))),
        _ => (None, None),
    };
    Some(ExitStatus { code, signal })
}

impl Drop for Child {
    fn drop(&mut self) {
        if matches!(self.owner, Owner::Disowned) || matches!(self.try_reap(), Ok(Some(_))) {
            return;
        }
        // Not reaped, so the pid (and the process group id, which equals it since
        // setsid) is still this child's: no reuse race. The group kill ends what runs
        // in the foreground of a shell that started nothing else; pidfd_send_signal
        // reaches the child itself; the sweep, queued before the orphan so that the
        // reaper sweeps while the unreaped child still holds its session's id, every
        // other process of its session (background jobs in groups of their own).
        let _ = rustix::process::kill_process_group(self.pid, Signal::KILL);
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, Signal::KILL);
        // The reaper lives while any `Child` holds a sender, so this cannot fail short
        // of a panic in the reaper; then the zombie stays until the server exits.
        sweep_session(self, Signal::KILL);
        if matches!(self.owner, Owner::Ours(_)) {
            let _ = self.reaper.send(Reap::Orphan(self.pid));
        }
    }
}

/// Sends `signal` to the child's process group and to the terminal's foreground process
/// group (a shell's running job lives in its own group), then asks the reaper thread to
/// send it to every other process of the child's session (background jobs in groups of
/// their own; see [`sweep_session`]): each process gets it once. After the child has
/// been reaped its group id may be reused, so only the foreground group is signalled
/// then. A group that is already gone (ESRCH) is not an error.
pub fn signal_session(child: &Child, master: impl AsFd, signal: Signal) -> io::Result<()> {
    let mut result = Ok(());
    let mut signalled = [None, None];
    if child.status.is_none() {
        result = signal_group(child.pid, signal);
        signalled[0] = Some(child.pid);
    }
    match super::foreground_pgrp(master) {
        Ok(Some(fg)) if child.status.is_some() || fg != child.pid => {
            result = result.and(signal_group(fg, signal));
            signalled[1] = Some(fg);
        }
        Ok(_) => {}
        Err(e) => result = result.and(Err(e)),
    }
    let _ = child.reaper.send(Reap::Sweep(Target { sid: child.pid, signal, signalled }));
    result
}

/// Asks the reaper thread to send `signal` to every process whose session id is the
/// child's pid, wherever its process group (the walk of `/proc` is too slow for a
/// worker). Sound while any process of the session lives (see `sweep.rs`); call it
/// before reaping the child where possible, when the child's zombie still holds the id.
pub fn sweep_session(child: &Child, signal: Signal) {
    let _ = child.reaper.send(Reap::Sweep(Target { sid: child.pid, signal, signalled: [None, None] }));
}

fn signal_group(pgid: Pid, signal: Signal) -> io::Result<()> {
    match rustix::process::kill_process_group(pgid, signal) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The [`Signal`] for a signal number from the configuration (`-s`): the named ones
/// (1–31) and the real-time ones libc leaves to applications; `None` for anything else.
pub fn signal_from_raw(number: i32) -> Option<Signal> {
    if let Some(s) = Signal::from_named_raw(number) {
        return Some(s);
    }
    if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&number) {
        // SAFETY: a valid, non-zero signal number, within libc's SIGRTMIN..=SIGRTMAX: the
        // real-time signals libc leaves to applications (glibc keeps the ones below its
        // SIGRTMIN for itself), so sending one is sound. rustix's docs word that range
        // loosely; its own tests build `Signal`s from `libc::SIGRTMIN()` the same way.
        return Some(unsafe { Signal::from_raw_unchecked(number) });
    }
    None
}

/// How often the reaper retries children that were still running when dropped. They
/// were SIGKILLed, so they go within a few milliseconds unless stuck in the kernel.
const REAP_RETRY: Duration = Duration::from_millis(20);

/// Work for the reaper thread.
pub(super) enum Reap {
    /// A child dropped unreaped (and SIGKILLed): collect it.
    Orphan(Pid),
    /// Send a signal to every process of a session (`sweep.rs`).
    Sweep(Target),
    /// Answer once everything queued before is done.
    Flush(mpsc::SyncSender<()>),
}

/// Starts the reaper thread. It ends when every sender (the spawner's and each
/// `Child`'s) is gone and every orphan has been collected.
pub(super) fn start_reaper(cpus: rustix::thread::CpuSet) -> io::Result<mpsc::Sender<Reap>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new().name("pty-reaper".into()).spawn(move || {
        let _ = rustix::thread::sched_setaffinity(None, &cpus);
        reap_orphans(&rx);
    })?;
    Ok(tx)
}

/// What the reaper has to do.
#[derive(Default)]
struct Work {
    /// Orphans not collected yet (still dying).
    pending: Vec<Pid>,
    sweeps: Vec<Target>,
    flushes: Vec<mpsc::SyncSender<()>>,
}

impl Work {
    fn take(&mut self, job: Reap) {
        match job {
            Reap::Orphan(pid) => self.pending.push(pid),
            Reap::Sweep(target) => self.sweeps.push(target),
            Reap::Flush(done) => self.flushes.push(done),
        }
    }

    /// Sweeps first: a dropped child's sweep is queued before its orphan, and must run
    /// while the unreaped child still holds its session's id.
    fn run(&mut self) {
        if !self.sweeps.is_empty() {
            super::sweep::sweep(&self.sweeps);
            self.sweeps.clear();
        }
        self.pending.retain(|&pid| !reaped(pid));
        for done in self.flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

fn reap_orphans(rx: &mpsc::Receiver<Reap>) {
    let mut work = Work::default();
    loop {
        let next = match work.pending.is_empty() {
            true => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            false => rx.recv_timeout(REAP_RETRY),
        };
        match next {
            Ok(job) => work.take(job),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) if work.pending.is_empty() => return,
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(REAP_RETRY),
        }
        // Whatever else is queued joins this round: sessions ended together (a
        // shutdown) cost one walk of /proc.
        while let Ok(job) = rx.try_recv() {
            work.take(job);
        }
        work.run();
    }
}

/// Whether `pid` has been collected (or is not ours to collect any more).
fn reaped(pid: Pid) -> bool {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    match rustix::process::waitid(WaitId::Pid(pid), options) {
        Ok(None) | Err(Errno::INTR) => false,
        Ok(Some(_)) | Err(_) => true,
    }
}
