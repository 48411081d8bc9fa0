//! The queue between a WebSocket connection's reader and its writer (see `ws`): what the
//! reader has to send (echoed frames, pongs, the close) waits here for the writer.
//!
//! It is bounded by the **memory** it holds, not by wire bytes: a 2-byte pong is a slot
//! and a boxed frame, an echoed frame is its whole buffer. An item counts from the
//! moment it is queued until the writer has written it (a frame being written is still
//! held), and the buffers kept for reuse count too. The reader reads no more while the
//! outbox holds more than [`OUTBOX_LIMIT`]: a peer that sends faster than it reads stops
//! being read.
//!
//! Every ping is answered while few pongs wait ([`PONG_BACKLOG`]); beyond that, the
//! last waiting pong answers the latest ping instead (RFC 6455 §5.5.3: an endpoint "MAY
//! elect to send a Pong frame for only the most recently processed Ping frame"), so a
//! ping flood from a peer that does not read holds a few pongs, not one per ping.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::mem::size_of;
use std::time::Instant;

use tokio::sync::Notify;

use super::ws::{Ending, Refusal};
use crate::ws::{CloseCode, ControlFrame, Event};

/// The reader waits while the outbox holds more than this many bytes of memory.
pub(super) const OUTBOX_LIMIT: usize = 1024 * 1024;
/// Message buffers with more capacity than this are not kept for reuse.
const KEEP_SPARE_UP_TO: usize = 64 * 1024;
/// An emptied queue keeps at most this many slots' worth of capacity.
const KEEP_SLOTS: usize = 16;
/// Pongs that may wait in the queue, the last of them answering the latest ping. More
/// than a conformance suite's burst of pings (Autobahn 2.10 sends ten and checks every
/// answer, "not required by the Spec"), a few KiB of memory.
pub(super) const PONG_BACKLOG: usize = 16;

/// A frame waiting for the writer.
pub(super) enum Out {
    /// A frame assembled in a `Vec`: its bytes from `start` on.
    Frame { buf: Vec<u8>, start: usize },
    /// Boxed, like the close frame: a control frame is 129 bytes inline, and every
    /// connection's queue would carry that per slot for its whole life.
    Control(Box<ControlFrame>),
    /// A waiting pong; [`Outbox::pop`] hands it out as `Control`.
    Pong(Box<ControlFrame>),
    /// Where the pong for the latest ping goes once the backlog is full; its payload
    /// changes with every ping until it is popped (handed out as `Control`).
    LatestPong,
    /// The last frame: nothing is sent after it. `ours` if we initiated the close.
    Close { frame: Box<ControlFrame>, ours: bool },
}

impl Out {
    /// The frame's bytes on the wire.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Out::Frame { buf, start } => &buf[*start..],
            Out::Control(f) | Out::Pong(f) | Out::Close { frame: f, .. } => f.as_bytes(),
            Out::LatestPong => &[],
        }
    }

    /// The memory this item holds: its queue slot and what it owns. `LatestPong`
    /// stands for the boxed pong it becomes, so popping it changes nothing.
    fn mem(&self) -> usize {
        size_of::<Out>()
            + match self {
                Out::Frame { buf, .. } => buf.capacity(),
                Out::Control(_) | Out::Pong(_) | Out::LatestPong | Out::Close { .. } => {
                    size_of::<ControlFrame>()
                }
            }
    }
}

/// The queue between a connection's reader and its writer.
pub(super) struct Outbox {
    queue: RefCell<VecDeque<Out>>,
    /// Memory held: queued items, the one being written, and `spare`.
    held: Cell<usize>,
    /// Pongs queued (`Pong` and `LatestPong`), not yet popped.
    pongs: Cell<usize>,
    /// The answer to the latest ping, while `LatestPong` is queued.
    latest_pong: RefCell<Option<Box<ControlFrame>>>,
    /// Wakes the writer: something was queued.
    pub(super) more: Notify,
    /// Wakes the reader: the outbox fell under its limit.
    room: Notify,
    /// A close frame is queued or sent: nothing else may be queued.
    pub(super) closing: Cell<bool>,
    /// The reader has stopped: the writer ends once the queue is empty.
    pub(super) reader_done: Cell<bool>,
    /// The close frame has been written.
    pub(super) close_sent: Cell<bool>,
    pub(super) last_rx: Cell<Instant>,
    /// Message buffers the writer has sent, for the reader to reuse.
    spare: RefCell<Vec<Vec<u8>>>,
}

impl Outbox {
    pub(super) fn new() -> Outbox {
        Outbox {
            // Grown on use: a session client's outbox carries only pongs and the close.
            queue: RefCell::new(VecDeque::new()),
            held: Cell::new(0),
            pongs: Cell::new(0),
            latest_pong: RefCell::new(None),
            more: Notify::new(),
            room: Notify::new(),
            closing: Cell::new(false),
            reader_done: Cell::new(false),
            close_sent: Cell::new(false),
            last_rx: Cell::new(Instant::now()),
            spare: RefCell::new(Vec::new()),
        }
    }

    pub(super) fn push(&self, out: Out) {
        if self.closing.get() {
            return;
        }
        if matches!(out, Out::Close { .. }) {
            self.closing.set(true);
        }
        self.held.set(self.held.get() + out.mem());
        self.queue.borrow_mut().push_back(out);
        self.more.notify_one();
    }

    pub(super) fn close(&self, code: Option<CloseCode>, reason: &str, ours: bool) {
        self.push(Out::Close { frame: Box::new(ControlFrame::close(code, reason)), ours });
    }

    /// Answers a ping: a pong of its own while the backlog has room, else the last
    /// waiting pong now answers this ping.
    fn pong(&self, payload: &[u8]) {
        if self.closing.get() {
            return;
        }
        let mut latest = self.latest_pong.borrow_mut();
        if let Some(frame) = latest.as_mut() {
            **frame = ControlFrame::pong(payload);
            return;
        }
        let pong = Box::new(ControlFrame::pong(payload));
        self.pongs.set(self.pongs.get() + 1);
        if self.pongs.get() < PONG_BACKLOG {
            drop(latest);
            self.push(Out::Pong(pong));
        } else {
            *latest = Some(pong);
            drop(latest);
            self.push(Out::LatestPong);
        }
    }

    /// The next item to write. It is still held until handed back to
    /// [`written`](Self::written): the reader waits for the write, not just the pop.
    pub(super) fn pop(&self) -> Option<Out> {
        let mut queue = self.queue.borrow_mut();
        let out = queue.pop_front()?;
        if queue.is_empty() && queue.capacity() > KEEP_SLOTS {
            queue.shrink_to(KEEP_SLOTS);
        }
        match out {
            Out::Pong(pong) => {
                self.pongs.set(self.pongs.get() - 1);
                Some(Out::Control(pong))
            }
            Out::LatestPong => {
                self.pongs.set(self.pongs.get() - 1);
                // Filled whenever `LatestPong` is queued; an empty pong otherwise.
                let pong = self.latest_pong.borrow_mut().take();
                Some(Out::Control(pong.unwrap_or_else(|| Box::new(ControlFrame::pong(b"")))))
            }
            out => Some(out),
        }
    }

    /// Gives back a popped item once written (or abandoned): its memory is released,
    /// its buffer kept for reuse. `Some(ours)` if it was the close frame.
    pub(super) fn written(&self, out: Out) -> Option<bool> {
        let mut released = out.mem();
        let ours = match out {
            Out::Frame { mut buf, .. } => {
                // Kept only while the spares fit the limit with everything else held, so
                // they never keep the reader waiting: once the queue is empty, what is
                // left (the spares) is under the limit.
                let keep =
                    buf.capacity() <= KEEP_SPARE_UP_TO && self.held.get() - size_of::<Out>() <= OUTBOX_LIMIT;
                if keep {
                    released = size_of::<Out>();
                    buf.clear();
                    self.spare.borrow_mut().push(buf);
                }
                None
            }
            Out::Control(_) | Out::Pong(_) | Out::LatestPong => None,
            Out::Close { ours, .. } => Some(ours),
        };
        self.held.set(self.held.get() - released);
        if self.held.get() <= OUTBOX_LIMIT {
            self.room.notify_one();
        }
        ours
    }

    /// Whether the reader should wait for the writer before reading more.
    pub(super) fn full(&self) -> bool {
        self.held.get() > OUTBOX_LIMIT && !self.closing.get()
    }

    /// Waits until the outbox has room for more of the peer's traffic (or is closing).
    pub(super) async fn room(&self) {
        while self.full() {
            self.room.notified().await;
        }
    }

    /// Answers a control event as every endpoint does (RFC 6455 §5.5): a ping gets a
    /// pong (one for the latest, see the module docs), a pong needs nothing (any byte
    /// received counts as life), a close is echoed with its code and we close TCP first.
    /// `Some` once the peer has closed; data events are the caller's.
    pub(super) fn answer_control(&self, event: &Event<'_>) -> Option<Ending> {
        match event {
            Event::Ping(payload) => self.pong(payload),
            Event::Close { code, .. } => {
                self.close(*code, "", false);
                return Some(Ending::Done);
            }
            Event::Pong(_) | Event::Data { .. } => {}
        }
        None
    }

    /// Fails the connection: our close with the refusal's code and reason.
    pub(super) fn fail(&self, (code, reason): Refusal) -> Ending {
        self.close(Some(code), reason, true);
        Ending::Failed
    }

    /// An empty buffer for the next message: a spare one if there is one. It leaves
    /// the outbox's account (it is the reader's until queued).
    pub(super) fn spare_buffer(&self) -> Vec<u8> {
        let buf = self.spare.borrow_mut().pop().unwrap_or_default();
        self.held.set(self.held.get() - buf.capacity());
        buf
    }

    /// The memory held now (for tests and bounds).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Out {
        Out::Frame { buf: vec![7; len], start: 0 }
    }

    fn drain(outbox: &Outbox) -> Vec<Vec<u8>> {
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
        let outbox = Outbox::new();
        for i in 0..PONG_BACKLOG as u32 - 1 {
            outbox.answer_control(&Event::Ping(&i.to_be_bytes()));
        }
        let backlog = outbox.held();
        for i in 0..100_000u32 {
            outbox.answer_control(&Event::Ping(&(1000 + i).to_be_bytes()));
        }
        assert_eq!(outbox.held(), backlog + size_of::<Out>() + size_of::<ControlFrame>(), "a flood grew it");
        outbox.answer_control(&Event::Ping(b"last"));
        let mut want: Vec<Vec<u8>> = (0..PONG_BACKLOG as u32 - 1).map(|i| pong(&i.to_be_bytes())).collect();
        want.push(pong(b"last"));
        assert_eq!(drain(&outbox), want);
        assert_eq!(outbox.held(), 0);
        // With the backlog sent, every ping gets its own pong again.
        outbox.answer_control(&Event::Ping(b"a"));
        outbox.answer_control(&Event::Ping(b"b"));
        assert_eq!(drain(&outbox), [pong(b"a"), pong(b"b")]);
    }

    #[test]
    fn the_latest_pong_keeps_the_place_of_the_first_ping_it_answers() {
        let outbox = Outbox::new();
        for _ in 0..PONG_BACKLOG - 1 {
            outbox.answer_control(&Event::Ping(b"early"));
        }
        outbox.push(frame(3));
        outbox.answer_control(&Event::Ping(b"a"));
        outbox.push(frame(4));
        outbox.answer_control(&Event::Ping(b"b"));
        let sent = drain(&outbox);
        assert_eq!(sent[PONG_BACKLOG - 1..], [vec![7; 3], pong(b"b"), vec![7; 4]]);
    }

    #[test]
    fn memory_counts_until_written_not_until_popped() {
        let outbox = Outbox::new();
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
        let outbox = Outbox::new();
        let mut pushed = 0;
        while !outbox.full() {
            outbox.push(Out::Frame { buf: Vec::with_capacity(16), start: 0 });
            pushed += 1;
        }
        assert!(pushed <= OUTBOX_LIMIT / (size_of::<Out>() + 16) + 1, "{pushed}");
    }

    #[test]
    fn spares_are_kept_within_the_limit_and_handed_out_uncounted() {
        let outbox = Outbox::new();
        for _ in 0..64 {
            outbox.push(frame(KEEP_SPARE_UP_TO));
        }
        drain(&outbox);
        // The spares alone never make the reader wait.
        assert!(!outbox.full());
        assert!(outbox.held() <= OUTBOX_LIMIT && outbox.held() > 0);
        let buf = outbox.spare_buffer();
        assert!(buf.is_empty() && buf.capacity() >= KEEP_SPARE_UP_TO);
        while outbox.spare_buffer().capacity() > 0 {}
        assert_eq!(outbox.held(), 0);
    }

    #[test]
    fn nothing_is_queued_after_the_close() {
        let outbox = Outbox::new();
        outbox.close(Some(CloseCode::NORMAL), "", true);
        outbox.answer_control(&Event::Ping(b"late"));
        outbox.push(frame(1));
        let out = outbox.pop().unwrap();
        assert_eq!(outbox.written(out), Some(true));
        assert!(outbox.pop().is_none());
    }
}
