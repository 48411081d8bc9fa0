//! PTYs and the children that run on them: open, spawn, read/write, resize, signal, reap.
//!
//! What it owns: every PTY master fd, every child process and its pidfd, the spawner
//! threads that start children, and the reaper thread that collects children dropped unreaped
//! and signals every process of a session being ended (`sweep.rs`).
//!
//! How the runtime drives a session (one worker, no blocking anywhere):
//!
//! ```text
//! spawner.spawn(req).await            -> Spawned { master, child, tty }
//! AsyncFd(master) readable            -> read_into(master, buf) until WouldBlock
//!                                        (then clear readiness), Data(n) each time
//!                 ...                 -> Closed (EIO): the output is complete
//! AsyncFd(child) readable (pidfd)     -> child.try_reap() -> Some(ExitStatus)
//! input                               -> write_some(master, ..): short, or WouldBlock
//! resize / DELETE                     -> resize(master, ..) / signal_session(..)
//! pidfd readable while ending it      -> sweep_session(child, KILL): the rest of its session
//! ```
//!
//! What must never happen here:
//! - a blocking call on a worker thread. Starting a child runs on the spawner's threads
//!   ([`Spawner::spawn`]); the worker-facing calls ([`read_into`], [`write_some`],
//!   [`resize`], [`foreground_pgrp`], [`signal_session`], [`Child::try_reap`], and
//!   dropping a [`Child`]) are non-blocking syscalls;
//! - a fork: it would copy the server's page tables and stall every worker (`clone.rs`);
//! - an fd without CLOEXEC (every fd is an `OwnedFd` opened CLOEXEC, and the child marks
//!   every fd above 2 CLOEXEC before exec anyway), or a slave copy kept by the server
//!   after the spawn (the master would never report EIO);
//! - a zombie: a `Child` is reaped by the runtime through `try_reap`, or, when dropped
//!   before that, killed and handed to the reaper thread;
//! - a signal to a process group after its leader was reaped (its id may be reused).
//!
//! Where the unsafe is, and why: `clone.rs` — the vfork-style start (`clone` with
//! `CLONE_VM | CLONE_VFORK | CLONE_PIDFD`, which std does not offer with the steps a
//! terminal session needs), the child's code between clone and exec (async-signal-safe
//! raw syscalls only: `rt_sigaction`, `rt_sigprocmask`, `close_range`, `execve`, plus
//! rustix's), and adopting the pidfd the kernel returns; `child.rs` — registering the
//! pidfd with the reactor, and a `Signal` for a real-time signal number. Each block
//! says why it is sound.

mod child;
mod clone;
mod env;
mod io;
mod open;
mod spawn;
mod spawner;
mod sweep;

pub use child::{signal_from_raw, signal_session, sweep_session, Child, ExitStatus};
pub use env::{child_env, EnvRules};
pub use io::{foreground_pgrp, nudge, read_into, resize, size, write_some, ReadOutcome};
pub use spawn::{Blame, ChildDefaults, SpawnError, SpawnRequest, Spawned};
pub use spawner::{Spawner, SpawnerConfig};

#[cfg(test)]
mod tests;
