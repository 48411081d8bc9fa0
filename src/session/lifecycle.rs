//! A session's life: running or exited, and the timers that end it (detach
//! timeout, kill grace, exited TTL, driver demotion), driven by `Session::tick`.
//!
//! A *kept* session (`"keep": true`, `--keep-sessions`) has no detach timeout: with no
//! client it lives on until it is killed or its command exits (then the exited TTL
//! applies as to any other). Turning keep off with no client attached starts the detach
//! timer afresh, so the session gets the whole timeout for a client to come back.
//!
//! Time comes in as [`Millis`], a monotonic timestamp the runtime reads from its
//! clock; nothing here reads one. Every timer is a deadline compared with `now`, so a
//! late tick acts late but never skips an action, and each action is returned once.
#![forbid(unsafe_code)]

use std::fmt;
use std::ops::BitOr;
use std::time::Duration;

/// A monotonic timestamp in milliseconds (e.g. since the worker started).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// `self + d`, saturating (a `Duration` of years is "never").
    pub fn after(self, d: Duration) -> Millis {
        Millis(self.0.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
}

/// How the command ended, as `waitid` reports it: exactly one of the two is `Some`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExitStatus {
    /// The exit code, if it exited.
    pub code: Option<i32>,
    /// The signal number, if a signal killed it.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// Exited with `code`.
    pub const fn code(code: i32) -> ExitStatus {
        ExitStatus { code: Some(code), signal: None }
    }

    /// Killed by `signal`.
    pub const fn signal(signal: i32) -> ExitStatus {
        ExitStatus { code: None, signal: Some(signal) }
    }
}

/// Whether the command still runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The child runs (it may have been sent a signal: [`Session::kill`](super::Session::kill)).
    Running,
    /// The child has exited and the PTY reported EIO (all output was read).
    Exited {
        /// How it ended.
        status: ExitStatus,
        /// When the runtime reported it.
        at: Millis,
    },
}

/// What the runtime must do after a call (a small bitset; several may be set).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions(u8);

impl Actions {
    /// Nothing to do.
    pub const NONE: Actions = Actions(0);
    /// Send the configured signal (`-s`, default SIGHUP) to the child's process group
    /// and the terminal's foreground group.
    pub const KILL: Actions = Actions(1);
    /// The kill grace has passed and the child still runs: SIGKILL the same groups.
    pub const FORCE_KILL: Actions = Actions(2);
    /// Forget the session: close any remaining client, drop it (and its scrollback).
    pub const REMOVE: Actions = Actions(4);
    /// The driver was demoted to viewer: `should_read_pty` may be true again, wake
    /// the PTY reader.
    pub const DEMOTE_DRIVER: Actions = Actions(8);

    /// Whether every action of `other` is in `self`.
    pub const fn contains(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether there is nothing to do.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Actions {
    type Output = Actions;
    fn bitor(self, rhs: Actions) -> Actions {
        Actions(self.0 | rhs.0)
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Actions::KILL, "KILL"),
            (Actions::FORCE_KILL, "FORCE_KILL"),
            (Actions::REMOVE, "REMOVE"),
            (Actions::DEMOTE_DRIVER, "DEMOTE_DRIVER"),
        ];
        let mut set = f.debug_set();
        for (action, name) in names {
            if self.contains(action) && !action.is_empty() {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// The timer settings of a session (from `--detach-timeout`, `--exited-ttl`,
/// `--kill-grace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// How long a session without clients lives; `0` = killed on its last detach.
    pub detach_timeout: Duration,
    /// How long an exited session stays listed (after its last client left).
    pub exited_ttl: Duration,
    /// Between the configured signal and SIGKILL.
    pub kill_grace: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            detach_timeout: Duration::from_secs(60),
            exited_ttl: Duration::from_secs(300),
            kill_grace: Duration::from_secs(5),
        }
    }
}

/// With `--detach-timeout 0` a session is killed on its last detach; one never
/// attached (created by `POST /api/sessions`) gets this long for its first attach
/// instead of being killed by the next tick.
pub const FIRST_ATTACH_GRACE: Duration = Duration::from_secs(10);

/// The lifecycle state machine.
#[derive(Debug)]
pub(super) struct Lifecycle {
    pub(super) created: Millis,
    pub(super) status: Status,
    /// When the client count last dropped to 0; `None` while never attached.
    last_detach: Option<Millis>,
    /// When KILL was returned; `None` before.
    kill_sent: Option<Millis>,
    force_kill_sent: bool,
    removed: bool,
    /// Kept: no detach timeout.
    keep: bool,
}

impl Lifecycle {
    /// The timers are the session's (`SessionConfig::timers`), passed to the methods
    /// that need them rather than kept twice in every session.
    pub(super) fn new(now: Millis) -> Lifecycle {
        Lifecycle {
            created: now,
            status: Status::Running,
            last_detach: None,
            kill_sent: None,
            force_kill_sent: false,
            removed: false,
            keep: false,
        }
    }

    pub(super) fn keep(&self) -> bool {
        self.keep
    }

    /// Keeps the session (no detach timeout) or stops keeping it: then the detach timer
    /// starts at `now`, as if its last client had just left.
    pub(super) fn set_keep(&mut self, keep: bool, now: Millis) {
        if self.keep && !keep {
            self.last_detach = Some(now);
        }
        self.keep = keep;
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self.status, Status::Running)
    }

    pub(super) fn last_client_left(&mut self, now: Millis) {
        self.last_detach = Some(now);
    }

    pub(super) fn exited(&mut self, status: ExitStatus, now: Millis) {
        if self.is_running() {
            self.status = Status::Exited { status, at: now };
        }
    }

    /// `DELETE`: the signal now (once), or forgetting an exited session.
    pub(super) fn kill(&mut self, now: Millis) -> Actions {
        match self.status {
            Status::Running if self.kill_sent.is_none() => {
                self.kill_sent = Some(now);
                Actions::KILL
            }
            Status::Running => Actions::NONE,
            Status::Exited { .. } if !self.removed => {
                self.removed = true;
                Actions::REMOVE
            }
            Status::Exited { .. } => Actions::NONE,
        }
    }

    /// The actions due at `now` for a session with `clients` clients.
    pub(super) fn tick(&mut self, now: Millis, clients: usize, timers: &Timers) -> Actions {
        let Some(deadline) = self.deadline(clients, timers) else {
            return Actions::NONE;
        };
        if now < deadline {
            return Actions::NONE;
        }
        match self.status {
            Status::Exited { .. } => {
                self.removed = true;
                Actions::REMOVE
            }
            Status::Running if self.kill_sent.is_some() => {
                self.force_kill_sent = true;
                Actions::FORCE_KILL
            }
            Status::Running => {
                self.kill_sent = Some(now);
                Actions::KILL
            }
        }
    }

    /// When `tick` will next return something (with `clients` clients), if ever.
    pub(super) fn deadline(&self, clients: usize, timers: &Timers) -> Option<Millis> {
        match self.status {
            Status::Exited { at, .. } if clients == 0 && !self.removed => Some(at.after(timers.exited_ttl)),
            Status::Exited { .. } => None,
            Status::Running => match self.kill_sent {
                Some(sent) if !self.force_kill_sent => Some(sent.after(timers.kill_grace)),
                Some(_) => None,
                None if clients > 0 || self.keep => None,
                None => Some(self.detach_deadline(timers)),
            },
        }
    }

    fn detach_deadline(&self, timers: &Timers) -> Millis {
        match self.last_detach {
            Some(at) => at.after(timers.detach_timeout),
            None if timers.detach_timeout.is_zero() => self.created.after(FIRST_ATTACH_GRACE),
            None => self.created.after(timers.detach_timeout),
        }
    }
}
