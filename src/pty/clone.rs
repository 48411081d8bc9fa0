//! Starting a process the way `posix_spawn` does — `clone(CLONE_VM | CLONE_VFORK)` — with
//! the steps posix_spawn lacks (controlling terminal, rlimits, affinity).
//!
//! Why not fork (std's `Command` with `pre_exec` must fork): fork copies the server's
//! page tables and takes a reference on every resident page while holding its memory-map
//! lock for writing. Measured here with 2 GiB resident: ~80 ms per spawn, and a worker
//! thread that page-faults in that window stalls ~90 ms; afterwards every page the
//! server writes takes a copy-on-write fault. ringtty's scrollback is gigabytes at scale,
//! so fork's cost would land on every worker. A `CLONE_VM` child shares the parent's
//! memory and costs the same at any size; `CLONE_VFORK` suspends the calling (spawner)
//! thread — only it — until the child has exec'd or exited, and `CLONE_PIDFD` returns the
//! pidfd atomically.
//!
//! The price is what the child may do: it runs on a small stack of its own, in the
//! parent's memory, with the calling thread's TLS. So it makes raw syscalls only,
//! allocates nothing, takes no lock, cannot panic (no indexing, no arithmetic, no
//! unwrap), and reads only the [`Plan`] the parent prepared. Signals are blocked around
//! the clone so that no handler of the server ever runs in the child.

use std::ffi::{c_char, c_int, c_void, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::process::{Pid, WaitId, WaitIdOptions};

use super::spawn::{ChildDefaults, SpawnRequest};

/// The child's stack. Its frames are a few hundred bytes; there is no guard page, so
/// this is generous on purpose.
const CHILD_STACK: usize = 64 * 1024;

/// Linux's `_NSIG` (x86_64, aarch64, riscv64): signals are 1..=64.
const LAST_SIGNAL: i32 = 64;

/// The kernel's `sigset_t` size, which `rt_sigaction`/`rt_sigprocmask` insist on.
const KERNEL_SIGSET_SIZE: usize = 8;

/// execvp's search path when the environment has no `PATH`.
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// The step of the child's preparation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(super) enum Step {
    Signals = 1,
    ParentDeath,
    Session,
    Terminal,
    Directory,
    Limits,
    Affinity,
    Descriptors,
    Exec,
}

impl Step {
    const ALL: [Step; 9] = [
        Step::Signals,
        Step::ParentDeath,
        Step::Session,
        Step::Terminal,
        Step::Directory,
        Step::Limits,
        Step::Affinity,
        Step::Descriptors,
        Step::Exec,
    ];

    /// What the child was doing, for an error message.
    pub(super) fn doing(self) -> &'static str {
        match self {
            Step::Signals => "resetting signals",
            Step::ParentDeath => "arming the parent-death signal (the server is exiting)",
            Step::Session => "starting a session (setsid)",
            Step::Terminal => "taking the terminal (TIOCSCTTY)",
            Step::Directory => "changing directory",
            Step::Limits => "restoring resource limits",
            Step::Affinity => "restoring CPU affinity",
            Step::Descriptors => "closing descriptors on exec",
            Step::Exec => "exec",
        }
    }
}

pub(super) enum StartError {
    /// An argument or variable holds a NUL byte: nothing was started.
    Invalid(io::Error),
    /// clone failed (process limit, memory): nothing was started.
    Clone(io::Error),
    /// The child failed at `step` and has been reaped.
    Child(Step, io::Error),
}

/// Everything the child reads, prepared by the parent. The pointers point into the
/// `CString`s owned alongside them.
struct Plan<'a> {
    /// The paths to try, in `PATH` order (one if the program names a path).
    candidates: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    _strings: (Vec<CString>, Vec<CString>),
    cwd: Option<CString>,
    /// Never 0, 1 or 2: dup2 onto itself would keep its CLOEXEC flag.
    slave: BorrowedFd<'a>,
    defaults: &'a ChildDefaults,
    /// The server's pid: the child's parent as long as the server lives.
    server: Pid,
    /// Written by a failing child: the `Step` and the errno.
    failed_step: AtomicI32,
    failed_errno: AtomicI32,
}

/// Starts `req` with the slave as its terminal. Blocks the calling thread until the
/// child has exec'd or failed; a failed child is reaped before this returns.
pub(super) fn start(
    req: &SpawnRequest,
    slave: BorrowedFd<'_>,
    defaults: &ChildDefaults,
) -> Result<(Pid, OwnedFd), StartError> {
    let plan = Plan::new(req, slave, defaults).map_err(StartError::Invalid)?;
    let mut stack = vec![0u8; CHILD_STACK];
    let end = stack.as_mut_ptr().wrapping_add(stack.len());
    let top = end.wrapping_sub(end as usize % 16).cast::<c_void>();
    let mut pidfd: c_int = -1;
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    let old_mask = set_signal_mask(!0);
    // SAFETY: `child_main` only reads `plan` (and stores to its two atomics, through a
    // shared reference), and `plan` outlives the child's use of it: with CLONE_VFORK
    // this thread (and so `plan` and `stack`) is suspended until the child has exec'd
    // or exited. `top` is the 16-byte aligned top of `stack`, which nothing
    // else uses. The kernel writes the pidfd (CLONE_PIDFD) into `pidfd`.
    let pid =
        unsafe { libc::clone(child_main, top, flags, (&raw const plan).cast_mut().cast(), &raw mut pidfd) };
    let clone_error = io::Error::last_os_error();
    set_signal_mask(old_mask);
    drop(stack);
    if pid < 0 {
        return Err(StartError::Clone(clone_error));
    }
    // SAFETY: clone succeeded, so the kernel created `pidfd` (CLOEXEC) for this call;
    // nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let pid = Pid::from_raw(pid).expect("clone returns a positive pid in the parent");
    let step = plan.failed_step.load(Ordering::Relaxed);
    let Some(&step) = Step::ALL.iter().find(|&&s| s as i32 == step) else {
        return Ok((pid, pidfd));
    };
    // It exits (127) right after recording why: this wait is short.
    while let Err(rustix::io::Errno::INTR) =
        rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED)
    {}
    Err(StartError::Child(step, io::Error::from_raw_os_error(plan.failed_errno.load(Ordering::Relaxed))))
}

impl<'a> Plan<'a> {
    fn new(req: &SpawnRequest, slave: BorrowedFd<'a>, defaults: &'a ChildDefaults) -> io::Result<Self> {
        debug_assert!(slave.as_raw_fd() > 2);
        let argv_strings: Vec<CString> =
            req.argv.iter().map(|a| cstring(a.as_bytes())).collect::<io::Result<_>>()?;
        let env_strings: Vec<CString> = req
            .env
            .iter()
            .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect::<io::Result<_>>()?;
        let program = req.argv.first().map_or(&[][..], |p| p.as_bytes());
        let path =
            req.env.iter().rev().find(|(k, _)| k == "PATH").map_or(DEFAULT_PATH, |(_, v)| v.as_bytes());
        Ok(Plan {
            candidates: candidates(program, path)?,
            argv: null_terminated(&argv_strings),
            envp: null_terminated(&env_strings),
            _strings: (argv_strings, env_strings),
            cwd: req.cwd.as_deref().map(|d| cstring(d.as_os_str().as_bytes())).transpose()?,
            slave,
            defaults,
            server: rustix::process::getpid(),
            failed_step: AtomicI32::new(0),
            failed_errno: AtomicI32::new(0),
        })
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "an argument or variable contains a NUL byte")
    })
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect()
}

/// execvp's search: a program with a `/` is a path; otherwise each `PATH` entry in
/// order (an empty entry is the working directory). Resolved in the child's directory,
/// since exec runs after chdir.
fn candidates(program: &[u8], path: &[u8]) -> io::Result<Vec<CString>> {
    if program.is_empty() {
        return Ok(Vec::new());
    }
    if program.contains(&b'/') {
        return Ok(vec![cstring(program)?]);
    }
    path.split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { Path::new(".") } else { Path::new(OsStr::from_bytes(dir)) };
            cstring(dir.join(OsStr::from_bytes(program)).as_os_str().as_bytes())
        })
        .collect()
}

/// Sets this thread's signal mask with the raw syscall (glibc's wrappers refuse to
/// block its internal signals, which must not run a handler in the child either) and
/// returns the previous one.
fn set_signal_mask(mask: u64) -> u64 {
    let mut old: u64 = 0;
    // SAFETY: rt_sigprocmask reads and writes kernel sigsets of the size passed, from and
    // to valid u64s; it cannot fail with these arguments.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const mask,
            &raw mut old,
            KERNEL_SIGSET_SIZE,
        )
    };
    old
}

/// The child: prepares, execs, or records why not and exits 127.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `Plan`, alive and unchanged while the parent is
    // suspended (CLONE_VFORK); the child only reads it, plus the two atomics.
    let plan = unsafe { &*arg.cast::<Plan<'_>>() };
    let (step, errno) = match prepare(plan) {
        Ok(()) => (Step::Exec, exec(plan)),
        Err(failure) => failure,
    };
    plan.failed_errno.store(errno, Ordering::Relaxed);
    plan.failed_step.store(step as i32, Ordering::Relaxed);
    // SAFETY: _exit ends this child process only, without running anything of the
    // parent's (no atexit handlers, no stdio flush); async-signal-safe.
    unsafe { libc::_exit(127) }
}

/// Everything before exec. Raw syscalls only (rustix's linux_raw backend, or
/// `libc::syscall`); see the module docs for what else is forbidden here.
fn prepare(plan: &Plan<'_>) -> Result<(), (Step, i32)> {
    let at = |step: Step| move |e: rustix::io::Errno| (step, e.raw_os_error());
    reset_signals().map_err(|e| (Step::Signals, e))?;
    // SIGKILL when the server dies, however it dies (a SIGKILL gives it no chance to end
    // its sessions, and a command that ignores SIGHUP would outlive the terminal's
    // hangup). It fires when the *thread* that cloned the child ends, which is why the
    // spawner threads outlive their children (`spawner.rs`). The server may have died
    // before the signal was armed: then the child's parent is another process already.
    // Not with `--handover` (`ChildDefaults::parent_death`): the next process takes
    // the children over.
    if plan.defaults.parent_death {
        let kill = Some(rustix::process::Signal::KILL);
        rustix::process::set_parent_process_death_signal(kill).map_err(at(Step::ParentDeath))?;
        if rustix::process::getppid() != Some(plan.server) {
            return Err((Step::ParentDeath, libc::ESRCH));
        }
    }
    // A new session without a terminal, then the slave as its controlling terminal:
    // the child leads its session and its foreground process group.
    rustix::process::setsid().map_err(at(Step::Session))?;
    rustix::stdio::dup2_stdin(plan.slave).map_err(at(Step::Terminal))?;
    rustix::stdio::dup2_stdout(plan.slave).map_err(at(Step::Terminal))?;
    rustix::stdio::dup2_stderr(plan.slave).map_err(at(Step::Terminal))?;
    rustix::process::ioctl_tiocsctty(rustix::stdio::stdin()).map_err(at(Step::Terminal))?;
    if let Some(dir) = &plan.cwd {
        rustix::process::chdir(dir.as_c_str()).map_err(at(Step::Directory))?;
    }
    for &(resource, limit) in &plan.defaults.rlimits {
        rustix::process::setrlimit(resource, limit).map_err(at(Step::Limits))?;
    }
    // The spawning thread may be pinned to one CPU; the child must float.
    rustix::thread::sched_setaffinity(None, &plan.defaults.cpus).map_err(at(Step::Affinity))?;
    // Belt and braces for "no fd without CLOEXEC": whatever another module opened
    // without it does not reach the child (Linux 5.11+).
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors.
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) } != 0 {
        return Err((Step::Descriptors, errno()));
    }
    Ok(())
}

/// Default dispositions for every signal (exec keeps an ignored signal ignored, and the
/// server ignores SIGPIPE), then an empty mask (the parent blocked everything around
/// the clone, and exec keeps a mask). Raw syscalls: glibc refuses to touch its internal
/// signals (32, 33), yet an ignored 32 is inherited through exec like any other —
/// `cargo` starts its children that way.
fn reset_signals() -> Result<(), i32> {
    // All zeros is `struct sigaction { SIG_DFL, no flags, no restorer, empty mask }` in
    // every architecture's field order; 32 bytes covers the largest of them.
    let default = [0u64; 4];
    for signal in (1..=LAST_SIGNAL).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP) {
        // SAFETY: rt_sigaction reads a `struct sigaction` from `default` (zeroed, large
        // enough) and writes no old action.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                KERNEL_SIGSET_SIZE,
            )
        };
        if r != 0 {
            return Err(errno());
        }
    }
    set_signal_mask(0);
    Ok(())
}

/// Tries every candidate like execvp; returns the errno to report if none exec'd.
fn exec(plan: &Plan<'_>) -> i32 {
    let (mut denied, mut last) = (false, libc::ENOENT);
    for path in &plan.candidates {
        // SAFETY: a NUL-terminated path, and NULL-terminated argv/envp arrays pointing
        // into CStrings that the suspended parent keeps alive.
        unsafe { libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr()) };
        match errno() {
            libc::EACCES => denied = true,
            e @ (libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT) => last = e,
            e => return e,
        }
    }
    if denied {
        libc::EACCES
    } else {
        last
    }
}

/// The errno of the last failed libc call (a thread-local read, no allocation).
fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::candidates;

    #[test]
    fn program_lookup_follows_execvp() {
        let table: &[(&str, &str, &[&str])] = &[
            ("sh", "/usr/local/bin:/usr/bin", &["/usr/local/bin/sh", "/usr/bin/sh"]),
            ("sh", "/bin", &["/bin/sh"]),
            ("sh", ":/bin:", &["./sh", "/bin/sh", "./sh"]),
            ("./run", "/bin", &["./run"]),
            ("/usr/bin/env", "/bin", &["/usr/bin/env"]),
            ("dir/tool", "/bin", &["dir/tool"]),
            ("", "/bin", &[]),
        ];
        for &(program, path, expected) in table {
            let got: Vec<String> = candidates(program.as_bytes(), path.as_bytes())
                .unwrap()
                .into_iter()
                .map(|c| c.into_string().unwrap())
                .collect();
            assert_eq!(got, expected, "{program:?} in PATH={path:?}");
        }
        assert!(candidates(b"sh", b"/b\0in").is_err(), "a NUL byte cannot reach exec");
    }
}
