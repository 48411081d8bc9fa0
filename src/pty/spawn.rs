//! Starting a child on a fresh PTY: the blocking start that only the spawner's threads
//! run, what the child gets instead of the server's settings, and the errors a user sees.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::mpsc;

use rustix::process::{Resource, Rlimit};
use rustix::thread::CpuSet;

use super::child::Reap;
use super::clone::{self, StartError, Step};
use super::{open, Child};

/// What to run, where, and on what terminal size.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    /// `argv[0]` is the program; without a `/` it is looked up in `env`'s `PATH`.
    pub argv: Vec<OsString>,
    /// Working directory; the server's own when `None`.
    pub cwd: Option<PathBuf>,
    /// The complete environment, usually from [`super::child_env`].
    pub env: Vec<(OsString, OsString)>,
    pub cols: u16,
    pub rows: u16,
}

/// A running child on its PTY.
#[derive(Debug)]
pub struct Spawned {
    /// The PTY master: `O_NONBLOCK | O_CLOEXEC`. The server holds the only copy (the
    /// slave copies used for the spawn are closed), so its EIO means the child and
    /// every process that inherited the terminal are gone.
    pub master: OwnedFd,
    pub child: Child,
    /// The slave's name (`/dev/pts/N`), for listings and logs.
    pub tty: String,
}

/// The process-wide settings a child gets instead of the server's: ringtty raises
/// `RLIMIT_NOFILE` and pins its workers, and neither may leak into a user's shell.
#[derive(Clone)]
pub struct ChildDefaults {
    /// Set in the child, in this order (`setrlimit`).
    pub rlimits: Vec<(Resource, Rlimit)>,
    /// The child's CPU affinity (`sched_setaffinity`).
    pub cpus: CpuSet,
    /// The child is SIGKILLed when the server dies (its parent-death signal). Off with
    /// `--handover`: a live upgrade hands the children to the next process, and the
    /// old one's end must not kill them (a crash then leaves each terminal's hangup,
    /// SIGHUP, to end them).
    pub parent_death: bool,
}

/// Every resource `ChildDefaults::capture` records.
const RESOURCES: [Resource; 16] = [
    Resource::Cpu,
    Resource::Fsize,
    Resource::Data,
    Resource::Stack,
    Resource::Core,
    Resource::Rss,
    Resource::Nproc,
    Resource::Nofile,
    Resource::Memlock,
    Resource::As,
    Resource::Locks,
    Resource::Sigpending,
    Resource::Msgqueue,
    Resource::Nice,
    Resource::Rtprio,
    Resource::Rttime,
];

impl ChildDefaults {
    /// The process's current rlimits and the calling thread's CPU affinity. Call it on
    /// the main thread at startup, before the server raises `RLIMIT_NOFILE` or pins a
    /// thread. Restoring a limit to its captured value is always permitted, as long as
    /// the server never lowers a hard limit below it afterwards.
    pub fn capture() -> io::Result<Self> {
        let rlimits = RESOURCES.iter().map(|&r| (r, rustix::process::getrlimit(r))).collect();
        Ok(ChildDefaults { rlimits, cpus: rustix::thread::sched_getaffinity(None)?, parent_death: true })
    }
}

impl fmt::Debug for ChildDefaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&c| self.cpus.is_set(c)).collect();
        f.debug_struct("ChildDefaults").field("rlimits", &self.rlimits).field("cpus", &cpus).finish()
    }
}

/// Why a session's child could not be started. `Display` is a message for the user.
#[derive(Debug)]
pub enum SpawnError {
    /// The request had an empty `argv`.
    NoCommand,
    /// The spawner's queue is full: too many sessions are starting at once.
    Busy,
    /// The spawner's threads are gone (shut down, or panicked).
    Stopped,
    /// No PTY could be opened (`kernel.pty.max`, the fd limit).
    Pty(io::Error),
    /// The working directory is missing or not a directory.
    Cwd { dir: PathBuf, error: io::Error },
    /// The program could not be started: not found, not executable, a NUL byte in an
    /// argument, no processes left, ...
    Start { program: OsString, error: io::Error },
    /// The child failed while preparing its session (it has been reaped): `doing` says
    /// at what, e.g. "restoring resource limits".
    Setup { doing: &'static str, error: io::Error },
}

/// Whose a failure to start is, for the caller to answer by (the runtime turns it into
/// an HTTP status or a close code; this module knows neither).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The request's: a command or directory that cannot be used. Retrying will not help.
    Request,
    /// The server's capacity: processes, memory, descriptors, PTYs, spawner threads.
    /// Retrying later may help.
    Capacity,
    /// The server's setup or state: it cannot start sessions as configured.
    Server,
}

impl SpawnError {
    /// Whose the failure is: the request's, the server's capacity, or its setup.
    pub fn blame(&self) -> Blame {
        match self {
            SpawnError::NoCommand | SpawnError::Cwd { .. } => Blame::Request,
            SpawnError::Start { error, .. } if !is_capacity(error) => Blame::Request,
            SpawnError::Start { .. } | SpawnError::Busy | SpawnError::Pty(_) => Blame::Capacity,
            SpawnError::Stopped | SpawnError::Setup { .. } => Blame::Server,
        }
    }
}

impl SpawnError {
    /// The message for a client: [`Display`](fmt::Display) without the program and
    /// directory names, which came from the request (errors never echo request bytes).
    pub fn reason(&self) -> String {
        match self {
            SpawnError::Cwd { error, .. } => format!("cannot use the working directory: {}", Reason(error)),
            SpawnError::Start { error, .. } => format!("cannot start the command: {}", Reason(error)),
            other => other.to_string(),
        }
    }
}

/// clone's EAGAIN (process limit) and ENOMEM, EMFILE/ENFILE: the server is out of room.
fn is_capacity(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE))
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::NoCommand => f.write_str("no command to run"),
            SpawnError::Busy => f.write_str("too many sessions are starting at once; retry"),
            SpawnError::Stopped => f.write_str("the server is not starting sessions any more"),
            SpawnError::Pty(e) => write!(f, "cannot open a terminal: {}", Reason(e)),
            SpawnError::Cwd { dir, error } => {
                write!(f, "cannot use `{}` as working directory: {}", dir.display(), Reason(error))
            }
            SpawnError::Start { program, error } => {
                write!(f, "cannot start `{}`: {}", program.to_string_lossy(), Reason(error))
            }
            SpawnError::Setup { doing, error } => {
                write!(f, "cannot prepare the terminal session ({doing}): {}", Reason(error))
            }
        }
    }
}

impl std::error::Error for SpawnError {}

/// An `io::Error` as a user reads it: "No such file or directory", without std's
/// " (os error 2)".
struct Reason<'a>(&'a io::Error);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        let Some(code) = self.0.raw_os_error() else {
            return f.write_str(&text);
        };
        f.write_str(text.strip_suffix(&format!(" (os error {code})")).unwrap_or(&text))
    }
}

/// Opens a PTY and starts `req` on it. Blocks until the child has exec'd (or failed to):
/// never call it on a worker. The child is SIGKILLed when the calling thread ends (its
/// parent-death signal); `thread` is what keeps a spawner thread alive for it.
pub(super) fn spawn_blocking(
    req: &SpawnRequest,
    defaults: &ChildDefaults,
    reaper: &mpsc::Sender<Reap>,
    thread: Option<&mpsc::Sender<()>>,
) -> Result<Spawned, SpawnError> {
    let Some(program) = req.argv.first() else {
        return Err(SpawnError::NoCommand);
    };
    // A 0 size would make programs divide by zero.
    let (cols, rows) = (req.cols.max(1), req.rows.max(1));
    let open::PtyPair { master, slave, name } = open::open(cols, rows).map_err(SpawnError::Pty)?;
    let slave = above_stdio(slave).map_err(SpawnError::Pty)?;
    let started = clone::start(req, slave.as_fd(), defaults);
    // The master reports EIO only once every slave descriptor is closed: the server's
    // copy goes now, whatever happened.
    drop(slave);
    match started {
        Ok((pid, pidfd)) => {
            let child = Child::new(pid, pidfd, reaper.clone(), thread.cloned());
            Ok(Spawned { master, child, tty: name })
        }
        Err(StartError::Invalid(error) | StartError::Clone(error) | StartError::Child(Step::Exec, error)) => {
            Err(SpawnError::Start { program: program.clone(), error })
        }
        Err(StartError::Child(Step::Directory, error)) => {
            Err(SpawnError::Cwd { dir: req.cwd.clone().unwrap_or_default(), error })
        }
        Err(StartError::Child(step, error)) => Err(SpawnError::Setup { doing: step.doing(), error }),
    }
}

/// The slave, on a descriptor above 2: the child's dup2 of a descriptor onto itself
/// would keep its CLOEXEC flag (a server started with a closed stdin hands out 0).
fn above_stdio(slave: OwnedFd) -> io::Result<OwnedFd> {
    if slave.as_raw_fd() > 2 {
        return Ok(slave);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&slave, 3)?)
}
