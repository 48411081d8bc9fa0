//! A session on this core, as every task sees it: the pure [`Session`] state, the PTY
//! master, and the wake-ups of the session's task and of every attached client's
//! writer. The task that moves bytes between the PTY and this state, and the controls
//! that steer it (kill, remove), are `pty_task`'s.

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::rc::Rc;

use rustix::process::Signal;
use slab::Slab;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use crate::protocol::WinSize;
use crate::pty;
use crate::session::{ClientId, Session, SessionId};

/// What the API shows about a session besides its state (its name and keep, which
/// change, are the session's: `Session::name`, `Session::keep`).
#[derive(Debug, Clone)]
pub struct Meta {
    pub command: Vec<String>,
    pub pid: i32,
    pub tty: String,
    /// Milliseconds since the Unix epoch (the list shows seconds; the kill switch ends
    /// what was created before its call, to the millisecond).
    pub created_ms: u64,
    /// The user who started it (`None` with `--no-auth`).
    pub owner: Option<String>,
}

/// A session's PTY master: watched by the reactor when it is read by readiness
/// (`--io epoll`), plain when the worker's io_uring ring reads it (a registration would
/// cost a reactor event per output that nobody waits for).
pub enum Master {
    Watched(AsyncFd<OwnedFd>),
    Plain(OwnedFd),
}

impl Master {
    pub fn get_ref(&self) -> &OwnedFd {
        match self {
            Master::Watched(fd) => fd.get_ref(),
            Master::Plain(fd) => fd,
        }
    }

    /// Its readiness, when it is read by readiness.
    pub fn watched(&self) -> Option<&AsyncFd<OwnedFd>> {
        match self {
            Master::Watched(fd) => Some(fd),
            Master::Plain(_) => None,
        }
    }
}

pub struct Live {
    pub id: SessionId,
    pub meta: Meta,
    pub state: RefCell<Session>,
    /// The PTY master; closed (taken) once the command has ended and its output is read,
    /// so an exited session kept for `--exited-ttl` holds no PTY.
    pub(in crate::runtime) master: RefCell<Option<Rc<Master>>>,
    /// One waker per attached client's writer, keyed like the session's clients.
    pub(in crate::runtime) writers: RefCell<Slab<(ClientId, Rc<Notify>)>>,
    /// Something the session task waits on may have changed (an ack, a detach, input,
    /// a kill request, a removal): it re-evaluates everything.
    pub(in crate::runtime) wake: Notify,
    /// Input was drained from the queue: clients whose input found it full retry.
    pub input_drained: Notify,
    /// A kill request for the session task: the signal to send.
    pub(in crate::runtime) kill: Cell<Option<Signal>>,
    /// The session is being ended (DELETE, detach timeout, shutdown): once its command
    /// has exited, whatever else of its terminal session still runs is SIGKILLed.
    pub(in crate::runtime) terminating: Cell<bool>,
    pub(in crate::runtime) removed: Cell<bool>,
    /// Its task panicked (or gave up on an error): the session was ended and removed,
    /// and its clients are closed with 1011 (see `fail`).
    pub(in crate::runtime) failed: Cell<bool>,
    /// Fault injection (tests only): the session task panics when it next wakes.
    pub(in crate::runtime) panic_requested: Cell<bool>,
    /// A live upgrade takes it to the next process: its task exports it and ends
    /// without touching the command; its clients close with 1001 and reconnect there.
    pub(in crate::runtime) handed_over: Cell<bool>,
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
        let mut writers = self.writers.borrow_mut();
        // Room for the one client most sessions have (a first insert reserves four).
        if writers.capacity() == 0 {
            writers.reserve_exact(1);
        }
        (writers.insert((client, n.clone())), n)
    }

    pub fn remove_writer(&self, key: usize) {
        self.writers.borrow_mut().try_remove(key);
    }

    /// Runs `f` (input or a resize) on the session; if it changed the driver, wakes
    /// every writer: the old and the new driver are told (`Outgoing::Role`).
    pub fn changing_driver<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        let mut state = self.state.borrow_mut();
        let before = state.driver();
        let result = f(&mut state);
        let changed = state.driver() != before;
        drop(state);
        if changed {
            self.wake_writers();
        }
        result
    }

    /// After any call that may resume reading or move a deadline (ack, detach, resize).
    pub fn flow_changed(&self) {
        self.wake.notify_one();
    }

    /// Input was queued. The terminal almost always has room: it is written now, from
    /// the client's task (a keystroke reaches the child without waiting for the session
    /// task's turn); whatever does not fit is left to the session task, woken anyway so
    /// that it re-evaluates flow control.
    pub fn input_queued(&self) {
        let master = self.master.borrow().clone();
        if let Some(master) = master {
            if !self.state.borrow().pending_input().is_empty() {
                write_input(self, master.get_ref());
            }
        }
        self.wake.notify_one();
    }

    pub fn is_removed(&self) -> bool {
        self.removed.get()
    }

    /// Handed over to the next process (a live upgrade).
    pub fn is_handed_over(&self) -> bool {
        self.handed_over.get()
    }

    /// Starts handing it over: its task exports it when it next runs.
    pub fn hand_over(&self) {
        self.handed_over.set(true);
        self.wake.notify_one();
    }

    /// Its task panicked or gave up (it is removed too): clients close with 1011.
    pub fn is_failed(&self) -> bool {
        self.failed.get()
    }

    /// Fault injection (`RINGTTY_FAULT_INJECTION=1` only): makes the session's task
    /// panic, to prove that the panic is contained.
    pub fn inject_panic(&self) {
        self.panic_requested.set(true);
        self.wake.notify_one();
    }

    /// Applies a size to the PTY (the kernel signals the foreground group).
    pub fn apply_size(&self, size: WinSize) {
        if let Some(master) = self.master.borrow().as_ref() {
            let _ = pty::resize(master.get_ref(), size.cols, size.rows);
        }
        self.wake_writers();
    }

    /// SIGWINCH without a size change, so full-screen programs redraw after a gap.
    pub fn nudge(&self) {
        if let Some(master) = self.master.borrow().as_ref() {
            let _ = pty::nudge(master.get_ref());
        }
    }
}

/// Writes queued input into the PTY; true once the PTY would block.
pub fn write_input(live: &Live, master: &OwnedFd) -> bool {
    let written = {
        let state = live.state.borrow();
        pty::write_some(master, state.pending_input())
    };
    match written {
        Ok(n) => {
            live.state.borrow_mut().input_written(n);
            live.input_drained.notify_waiters();
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
        Err(_) => {
            // The terminal is gone; what is queued can never be written.
            let n = live.state.borrow().pending_input().len();
            live.state.borrow_mut().input_written(n);
            live.input_drained.notify_waiters();
            false
        }
    }
}
