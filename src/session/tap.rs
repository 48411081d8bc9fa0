//! The output tap: the one place where a session's output, input, resizes and exit
//! pass, each once, in order, with its offset and time, to an optional sink (a
//! recording, metrics).
//!
//! # Where the events come from
//!
//! [`Session`](super::Session) calls the tap from the methods that change those
//! things, so no runtime code has to remember to:
//!
//! - **output**: `push_output(buf, clock)`, with the offset of the read's first byte:
//!   every PTY byte once, before framing. What clients are sent later (live, a replay
//!   on attach with `since`, a resume) comes from the scrollback and is not tapped
//!   again, so the tap sees the session's output exactly once, gaps or not.
//! - **input**: `input` and `api_input`, when the queue accepts the message (a message
//!   refused with `InputFull` and retried is tapped once, when it is accepted; input
//!   after the exit, and a read-only client's, are dropped and not tapped).
//! - **resize**: whenever the terminal size changes (a client's resize, a new driver
//!   taking the size it asked for, `api_resize`), with the output offset at which it
//!   took effect. A request for the current size is not a resize.
//! - **exit**: `exited`, once, after the last output.
//!
//! # Cost
//!
//! With nothing attached a session holds `None` and each event is one branch on it:
//! no allocation, no dynamic call, no clock read (output takes the clock as a
//! closure, called only for a tap). An attached sink is one `Box<dyn Tap>` and one
//! dynamic call per event. It is called while the session is borrowed: it must not
//! reach back into the session (the runtime keeps it in a `RefCell`), and it runs on
//! the core's thread in the output path, so it should only buffer (a recording's
//! file writes belong to a task of its own).
//!
//! # Attaching from the runtime
//!
//! One line where the session exists, e.g. in `runtime/pty_task/start.rs` right after
//! `Session::new`, or on a live session from any handler:
//!
//! ```text
//! live.state.borrow_mut().set_tap(Box::new(sink), w.now());
//! ```
//!
//! and `take_tap()` to detach it (it is dropped with the session otherwise).
#![forbid(unsafe_code)]

use std::fmt;

use super::{ExitStatus, Millis};
use crate::protocol::WinSize;

/// A sink for a session's events. Every method but `on_output` does nothing unless
/// implemented; times are the session's clock ([`Millis`], as given to its methods).
pub trait Tap {
    /// Attached at `now`: the output so far ends at `offset` (the next `on_output`
    /// starts there) and the terminal is `size` (a recording's header).
    fn on_attach(&mut self, offset: u64, size: WinSize, now: Millis) {
        let _ = (offset, size, now);
    }

    /// `bytes` of PTY output, the first at `offset`. Offsets are contiguous: each call
    /// starts where the previous one ended.
    fn on_output(&mut self, offset: u64, bytes: &[u8], now: Millis);

    /// Input accepted for the PTY (a client's keystrokes or paste, or the REST API's).
    fn on_input(&mut self, bytes: &[u8], now: Millis) {
        let _ = (bytes, now);
    }

    /// The terminal size became `size`, as of output offset `offset`.
    fn on_resize(&mut self, size: WinSize, offset: u64, now: Millis) {
        let _ = (size, offset, now);
    }

    /// The command ended; its output ended at `offset`. Nothing follows.
    fn on_exit(&mut self, status: ExitStatus, offset: u64, now: Millis) {
        let _ = (status, offset, now);
    }
}

/// A session's tap slot: empty, or one sink. A thin pointer (to the sink's fat one):
/// every session carries the slot, 8 bytes while empty rather than 16.
#[derive(Default)]
#[allow(clippy::box_collection)]
pub(super) struct TapSlot(Option<Box<Box<dyn Tap>>>);

impl TapSlot {
    pub(super) fn set(&mut self, tap: Box<dyn Tap>) -> Option<Box<dyn Tap>> {
        self.0.replace(Box::new(tap)).map(|old| *old)
    }

    pub(super) fn take(&mut self) -> Option<Box<dyn Tap>> {
        self.0.take().map(|old| *old)
    }

    pub(super) fn is_attached(&self) -> bool {
        self.0.is_some()
    }

    /// The sink, if one is attached: the one branch every event costs.
    #[inline]
    pub(super) fn get(&mut self) -> Option<&mut (dyn Tap + 'static)> {
        self.0.as_deref_mut().map(|tap| &mut **tap)
    }
}

impl fmt::Debug for TapSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "TapSlot(attached)" } else { "TapSlot(none)" })
    }
}
