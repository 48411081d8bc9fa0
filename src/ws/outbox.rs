//! The frames a connection has to send (echoed messages, pongs, pings, the close), in
//! order, for [`Connection`](super::Connection)'s `poll_transmit`.
//!
//! It is bounded by the **memory** it holds, not by wire bytes: a 2-byte pong is a slot
//! and a boxed frame, an echoed frame is its whole buffer. An item counts from the
//! moment it is queued until it is handed back as written (a frame being written is
//! still held), and the buffers kept for reuse count too. The connection reads no more
//! while the outbox holds more than [`OUTBOX_LIMIT`]: a peer that sends faster than it
//! reads stops being read.
//!
//! Every ping is answered while few pongs wait ([`PONG_BACKLOG`]); beyond that, the
//! last waiting pong answers the latest ping instead (RFC 6455 §5.5.3: an endpoint "MAY
//! elect to send a Pong frame for only the most recently processed Ping frame"), so a
//! ping flood from a peer that does not read holds a few pongs, not one per ping.

use std::collections::VecDeque;
use std::mem::size_of;

use super::encode::ControlFrame;
use super::CloseCode;

/// The connection stops reading while the outbox holds more than this many bytes.
pub const OUTBOX_LIMIT: usize = 1024 * 1024;
/// Message buffers with more capacity than this are not kept for reuse.
const KEEP_SPARE_UP_TO: usize = 64 * 1024;
/// An emptied queue keeps at most this many slots' worth of capacity.
const KEEP_SLOTS: usize = 16;
/// Pongs that may wait in the queue, the last of them answering the latest ping. More
/// than a conformance suite's burst of pings (Autobahn 2.10 sends ten and checks every
/// answer, "not required by the Spec"), a few KiB of memory.
pub const PONG_BACKLOG: usize = 16;

/// A frame to write, from [`Connection::poll_transmit`](super::Connection::poll_transmit).
#[derive(Debug)]
pub enum Out {
    /// A frame assembled in a `Vec`: its bytes from `start` on.
    Frame {
        /// The buffer; bytes before `start` are unused headroom.
        buf: Vec<u8>,
        /// Where the frame starts.
        start: usize,
    },
    /// A control frame (ping, pong). Boxed, like the close: a control frame is 129
    /// bytes inline, and every queue slot would carry that for the connection's life.
    Control(Box<ControlFrame>),
    /// The last frame: nothing is sent after it. `ours` if we initiated the close.
    Close {
        /// The close frame.
        frame: Box<ControlFrame>,
        /// We sent the first close of the handshake (the peer's answers it).
        ours: bool,
    },
}

impl Out {
    /// The frame's bytes on the wire.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Out::Frame { buf, start } => buf.get(*start..).unwrap_or_default(),
            Out::Control(f) | Out::Close { frame: f, .. } => f.as_bytes(),
        }
    }
}

/// An item in the queue.
enum Queued {
    Out(Out),
    /// A waiting pong; handed out as [`Out::Control`].
    Pong(Box<ControlFrame>),
    /// Where the pong for the latest ping goes once the backlog is full; its payload
    /// changes with every ping until it is popped.
    LatestPong,
}

/// The memory an item holds: its queue slot and what it owns. A popped item counts the
/// same as when it was queued (`LatestPong` stands for the boxed pong it becomes).
fn mem(out: &Out) -> usize {
    size_of::<Queued>()
        + match out {
            Out::Frame { buf, .. } => buf.capacity(),
            Out::Control(_) | Out::Close { .. } => size_of::<ControlFrame>(),
        }
}

const PONG_MEM: usize = size_of::<Queued>() + size_of::<ControlFrame>();

/// The send queue of one connection.
#[derive(Default)]
pub(super) struct Outbox {
    queue: VecDeque<Queued>,
    /// Memory held: queued items, the ones being written, and `spare`.
    held: usize,
    /// Pongs queued (`Pong` and `LatestPong`), not yet popped.
    pongs: usize,
    /// The answer to the latest ping, while `LatestPong` is queued.
    latest_pong: Option<Box<ControlFrame>>,
    /// A close frame is queued or sent: nothing else may be queued.
    closing: bool,
    /// Message buffers already written, for the next messages.
    spare: Vec<Vec<u8>>,
}

impl Outbox {
    /// Queues `out`, unless a close is already queued (nothing goes after it).
    pub(super) fn push(&mut self, out: Out) {
        if self.closing {
            return;
        }
        if matches!(out, Out::Close { .. }) {
            self.closing = true;
        }
        self.held += mem(&out);
        self.queue.push_back(Queued::Out(out));
    }

    pub(super) fn close(&mut self, code: Option<CloseCode>, reason: &str, ours: bool) {
        self.push(Out::Close { frame: Box::new(ControlFrame::close(code, reason)), ours });
    }

    pub(super) fn is_closing(&self) -> bool {
        self.closing
    }

    /// Answers a ping: a pong of its own while the backlog has room, else the last
    /// waiting pong now answers this ping.
    pub(super) fn pong(&mut self, payload: &[u8]) {
        if self.closing {
            return;
        }
        if let Some(frame) = self.latest_pong.as_mut() {
            **frame = ControlFrame::pong(payload);
            return;
        }
        let pong = Box::new(ControlFrame::pong(payload));
        self.pongs += 1;
        self.held += PONG_MEM;
        if self.pongs < PONG_BACKLOG {
            self.queue.push_back(Queued::Pong(pong));
        } else {
            self.latest_pong = Some(pong);
            self.queue.push_back(Queued::LatestPong);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The next item to write. It is still held until handed back to
    /// [`written`](Self::written): reading waits for the write, not just the pop.
    pub(super) fn pop(&mut self) -> Option<Out> {
        let queued = self.queue.pop_front()?;
        if self.queue.is_empty() && self.queue.capacity() > KEEP_SLOTS {
            self.queue.shrink_to(KEEP_SLOTS);
        }
        Some(match queued {
            Queued::Out(out) => out,
            Queued::Pong(pong) => {
                self.pongs -= 1;
                Out::Control(pong)
            }
            Queued::LatestPong => {
                self.pongs -= 1;
                // Filled whenever `LatestPong` is queued; an empty pong otherwise.
                let pong = self.latest_pong.take();
                Out::Control(pong.unwrap_or_else(|| Box::new(ControlFrame::pong(b""))))
            }
        })
    }

    /// Takes back a popped item once written (or abandoned): its memory is released,
    /// its buffer kept for reuse. `Some(ours)` if it was the close frame.
    pub(super) fn written(&mut self, out: Out) -> Option<bool> {
        let mut released = mem(&out);
        let ours = match out {
            Out::Frame { mut buf, .. } => {
                // Kept only while the spares fit the limit with everything else held, so
                // they never stop reading: once the queue is empty, what is left (the
                // spares) is under the limit.
                let keep = buf.capacity() <= KEEP_SPARE_UP_TO
                    && self.held.saturating_sub(size_of::<Queued>()) <= OUTBOX_LIMIT;
                if keep {
                    released = size_of::<Queued>();
                    buf.clear();
                    self.spare.push(buf);
                }
                None
            }
            Out::Control(_) => None,
            Out::Close { ours, .. } => Some(ours),
        };
        self.held = self.held.saturating_sub(released);
        ours
    }

    /// Whether reading should wait for writes first.
    pub(super) fn full(&self) -> bool {
        self.held > OUTBOX_LIMIT && !self.closing
    }

    /// An empty buffer for the next message: a spare one if there is one. It leaves
    /// the outbox's account (it is the caller's until queued).
    pub(super) fn spare_buffer(&mut self) -> Vec<u8> {
        let buf = self.spare.pop().unwrap_or_default();
        self.held = self.held.saturating_sub(buf.capacity());
        buf
    }

    /// The memory held now.
    pub(super) fn held(&self) -> usize {
        self.held
    }
}
