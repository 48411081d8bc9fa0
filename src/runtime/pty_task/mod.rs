//! A session's PTY task and what starts and steers it. One task per session, on the
//! core that owns it ([`task`]); [`start`](start::start) makes a session and its task;
//! the controls (kill, remove) are methods on the worker's `Live`.

mod controls;
mod handover;
mod start;
mod task;

pub use start::{adopt, start, StartError, StartOpts};
pub use task::describe;
