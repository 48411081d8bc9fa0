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

/// The send queue of one connection (the rules above); [`Connection`](super::Connection)
/// holds it.
#[derive(Default)]
pub struct Outbox {
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
    pub fn push(&mut self, out: Out) {
        if self.closing {
            return;
        }
        if matches!(out, Out::Close { .. }) {
            self.closing = true;
        }
        self.held += mem(&out);
        self.queue.push_back(Queued::Out(out));
    }

    /// Queues the close frame: `ours` if we initiate the handshake.
    pub fn close(&mut self, code: Option<CloseCode>, reason: &str, ours: bool) {
        self.push(Out::Close { frame: Box::new(ControlFrame::close(code, reason)), ours });
    }

    /// A close frame is queued or written: nothing more will be.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Answers a ping: a pong of its own while the backlog has room, else the last
    /// waiting pong now answers this ping.
    pub fn pong(&mut self, payload: &[u8]) {
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

    /// Nothing is queued (items being written may still be held).
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The next item to write. It is still held until handed back to
    /// [`written`](Self::written): reading waits for the write, not just the pop.
    pub fn pop(&mut self) -> Option<Out> {
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
    pub fn written(&mut self, out: Out) -> Option<bool> {
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

    /// Whether reading should wait for writes first (never once closing).
    pub fn full(&self) -> bool {
        self.held > OUTBOX_LIMIT && !self.closing
    }

    /// An empty buffer for the next message: a spare one if there is one. It leaves
    /// the outbox's account (it is the caller's until queued).
    pub fn spare_buffer(&mut self) -> Vec<u8> {
        let buf = self.spare.pop().unwrap_or_default();
        self.held = self.held.saturating_sub(buf.capacity());
        buf
    }

    /// The memory held now.
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Out {
        Out::Frame { buf: vec![7; len], start: 0 }
    }

    fn drain(outbox: &mut Outbox) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        while let Some(out) = outbox.pop() {
            sent.push(out.bytes().to_vec());
            outbox.written(out);
        }
        sent
    }

    fn pong(payload: &[u8]) -> Vec<u8> {
        ControlFrame::pong(payload).as_bytes().to_vec()
    }

    #[test]
    fn a_burst_of_pings_gets_every_pong_and_a_flood_only_the_latest() {
        let mut outbox = Outbox::default();
        for i in 0..PONG_BACKLOG as u32 - 1 {
            outbox.pong(&i.to_be_bytes());
        }
        let backlog = outbox.held();
        for i in 0..100_000u32 {
            outbox.pong(&(1000 + i).to_be_bytes());
        }
        assert_eq!(outbox.held(), backlog + PONG_MEM, "a flood grew it");
        outbox.pong(b"last");
        let mut want: Vec<Vec<u8>> = (0..PONG_BACKLOG as u32 - 1).map(|i| pong(&i.to_be_bytes())).collect();
        want.push(pong(b"last"));
        assert_eq!(drain(&mut outbox), want);
        assert_eq!(outbox.held(), 0);
        // With the backlog sent, every ping gets its own pong again.
        outbox.pong(b"a");
        outbox.pong(b"b");
        assert_eq!(drain(&mut outbox), [pong(b"a"), pong(b"b")]);
    }

    #[test]
    fn the_latest_pong_keeps_the_place_of_the_first_ping_it_answers() {
        let mut outbox = Outbox::default();
        for _ in 0..PONG_BACKLOG - 1 {
            outbox.pong(b"early");
        }
        outbox.push(frame(3));
        outbox.pong(b"a");
        outbox.push(frame(4));
        outbox.pong(b"b");
        let sent = drain(&mut outbox);
        assert_eq!(sent[PONG_BACKLOG - 1..], [vec![7; 3], pong(b"b"), vec![7; 4]]);
    }

    #[test]
    fn memory_counts_until_written_not_until_popped() {
        let mut outbox = Outbox::default();
        outbox.push(frame(OUTBOX_LIMIT));
        assert!(outbox.full());
        let out = outbox.pop().unwrap();
        assert!(outbox.full(), "a frame being written is still held");
        outbox.written(out);
        assert!(!outbox.full());
        assert_eq!(outbox.held(), 0, "a buffer over the spare size is not kept");
    }

    #[test]
    fn bounded_by_memory_not_wire_bytes() {
        // Empty frames: no wire bytes to speak of, but each is a slot and a buffer.
        let mut outbox = Outbox::default();
        let mut pushed = 0;
        while !outbox.full() {
            outbox.push(Out::Frame { buf: Vec::with_capacity(16), start: 0 });
            pushed += 1;
        }
        assert!(pushed <= OUTBOX_LIMIT / (size_of::<Queued>() + 16) + 1, "{pushed}");
    }

    #[test]
    fn spares_are_kept_within_the_limit_and_handed_out_uncounted() {
        let mut outbox = Outbox::default();
        for _ in 0..64 {
            outbox.push(frame(KEEP_SPARE_UP_TO));
        }
        drain(&mut outbox);
        // The spares alone never stop reading.
        assert!(!outbox.full());
        assert!(outbox.held() <= OUTBOX_LIMIT && outbox.held() > 0);
        let buf = outbox.spare_buffer();
        assert!(buf.is_empty() && buf.capacity() >= KEEP_SPARE_UP_TO);
        while outbox.spare_buffer().capacity() > 0 {}
        assert_eq!(outbox.held(), 0);
    }

    #[test]
    fn nothing_is_queued_after_the_close() {
        let mut outbox = Outbox::default();
        outbox.close(Some(CloseCode::NORMAL), "", true);
        outbox.pong(b"late");
        outbox.push(frame(1));
        let out = outbox.pop().unwrap();
        assert_eq!(outbox.written(out), Some(true));
        assert!(outbox.pop().is_none());
    }
}
