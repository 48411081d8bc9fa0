//! What a live upgrade moves from one process to the next, per session: a description
//! (JSON on the handover socket), its retained output, and its descriptors. Built by
//! the session's own task (`pty_task`), so that no output is read after it; sent and
//! received by `runtime::handover`.

use std::cell::RefCell;
use std::os::fd::OwnedFd;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// How a command ended, as it crosses the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireExit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// One session, described.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handed {
    pub id: String,
    pub name: Option<String>,
    pub command: Vec<String>,
    pub owner: Option<String>,
    pub created_ms: u64,
    pub pid: i32,
    pub tty: String,
    pub cols: u16,
    pub rows: u16,
    /// Kept: no detach timeout (from an older process: not kept).
    #[serde(default)]
    pub keep: bool,
    /// When it last wrote output, in milliseconds since the epoch, if it has.
    #[serde(default)]
    pub last_output_ms: Option<u64>,
    /// The offset of the first retained byte; `len` bytes follow the description.
    pub start: u64,
    pub len: u64,
    /// The session had ended (its status kept for `--exited-ttl`): no descriptors.
    pub exited: Option<WireExit>,
    /// Its command had exited and been reaped, but its output was still being read:
    /// the terminal's master comes, and a pidfd that tells the status again.
    pub reaped: Option<WireExit>,
}

/// One session and what comes with it: its output bytes, and for a session whose
/// terminal is open the PTY master then the child's pidfd.
#[derive(Debug)]
pub struct Export {
    pub handed: Handed,
    pub bytes: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

/// A core's hand-over in progress: its sessions' tasks put their exports here.
#[derive(Default)]
pub struct Outbox {
    pub exports: RefCell<Vec<Export>>,
    pub added: Notify,
}
