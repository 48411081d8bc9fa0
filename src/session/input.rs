//! The bounded queue of input waiting for the PTY.
//!
//! Clients' input (and `POST .../input`) goes into this queue; the runtime drains it
//! into the PTY master with non-blocking writes, which may be short (the line
//! discipline's input buffer is 4 KiB) or fail with EAGAIN while the child is not
//! reading. Meanwhile the runtime keeps reading the clients' sockets, so an `ack` or
//! a `resize` sent after a paste is handled at once instead of waiting behind it.
//!
//! # When it is full
//!
//! A message is queued whole or not at all. When it does not fit, `push` refuses it
//! and marks the queue *stalled*: the runtime keeps that message (in the buffer it
//! was read into), **stops reading that client's socket**, and retries when the PTY
//! has taken enough (`space() >= len`, checked after each drain). That is
//! backpressure through TCP to the pasting client, with a bounded amount of memory
//! per session: at most the bound, or one message larger than the bound, which is
//! accepted when the queue is empty so that no message can wait forever.
//!
//! Input and output backpressure together could deadlock through the child (it
//! blocks writing output because the driver's window is full; the driver's acks are
//! in the socket behind a paste we do not read; the paste waits for the child to
//! read). So while the queue is stalled, the session suspends the driver's window
//! (`Session::should_read_pty`): output keeps flowing and the child keeps running.
#![forbid(unsafe_code)]

use std::collections::VecDeque;

/// Default bound: four of the 64 KiB messages clients send input in (SPEC §4).
pub const DEFAULT_INPUT_QUEUE: usize = 256 * 1024;

/// Above this capacity an emptied queue gives its memory back (pastes are rare;
/// most sessions never queue more than a few bytes).
const KEEP_CAPACITY: usize = 16 * 1024;

/// `push` refused a message: it does not fit now. Nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputFull;

/// A bounded FIFO of bytes for the PTY.
#[derive(Debug)]
pub struct InputQueue {
    bytes: VecDeque<u8>,
    /// At most `u32::MAX` (a larger bound is as good as none): every session keeps one.
    bound: u32,
    /// A push was refused and the PTY has taken nothing since.
    stalled: bool,
}

impl InputQueue {
    /// An empty queue holding at most `bound` bytes (at least 1). Allocates nothing
    /// until input is queued.
    pub fn new(bound: usize) -> InputQueue {
        let bound = u32::try_from(bound).unwrap_or(u32::MAX).max(1);
        InputQueue { bytes: VecDeque::new(), bound, stalled: false }
    }

    /// Queues all of `data`, or nothing: `InputFull` if it does not fit in
    /// [`space`](Self::space) (a message larger than the bound fits an empty queue).
    pub fn push(&mut self, data: &[u8]) -> Result<(), InputFull> {
        if data.len() > self.space() && !self.bytes.is_empty() {
            self.stalled = true;
            return Err(InputFull);
        }
        self.bytes.extend(data);
        Ok(())
    }

    /// The bytes to write to the PTY next (contiguous; may be only part of the queue).
    pub fn front(&self) -> &[u8] {
        self.bytes.as_slices().0
    }

    /// The PTY took `n` bytes of [`front`](Self::front).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.bytes.len());
        self.bytes.drain(..n);
        // Progress: a refused message may fit now, the runtime retries (and a
        // refusal marks the queue stalled again).
        self.stalled &= n == 0;
        if self.bytes.is_empty() && self.bytes.capacity() > KEEP_CAPACITY {
            self.bytes = VecDeque::new();
        }
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes a message may have to be queued now.
    pub fn space(&self) -> usize {
        (self.bound as usize).saturating_sub(self.bytes.len())
    }

    /// A push was refused and a client's socket is not being read: see the module docs.
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }
}
