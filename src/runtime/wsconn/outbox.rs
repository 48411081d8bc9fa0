//! The queue between a WebSocket connection's reader and its writer (see `ws`), for the
//! endpoints not yet driven by `ws::Connection` (native sessions, ttyd's `/ws`): what the
//! reader has to send (pongs, the close, ttyd's first messages) waits here for the
//! writer.
//!
//! The rules are the pure `ws::connection::Outbox`'s (bounded by memory, at most
//! `PONG_BACKLOG` pongs then only the latest, nothing after the close); this wraps it to
//! be shared by the reader and writer futures of one task, with the wake-ups between
//! them: the writer is woken when something is queued, the reader when the queue falls
//! under its bound.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use tokio::sync::Notify;

use crate::ws::connection::Ending;
pub(super) use crate::ws::connection::Out;
use crate::ws::connection::{Outbox as Queue, OUTBOX_LIMIT};
use crate::ws::{CloseCode, Event};

/// Why a client's message is refused: the close code and reason the connection ends with.
pub(super) type Refusal = (CloseCode, &'static str);

/// The queue between a connection's reader and its writer.
pub(super) struct Outbox {
    queue: RefCell<Queue>,
    /// Wakes the writer: something was queued.
    pub(super) more: Notify,
    /// Wakes the reader: the outbox fell under its limit.
    room: Notify,
    /// The reader has stopped: the writer ends once the queue is empty.
    pub(super) reader_done: Cell<bool>,
    /// The close frame has been written.
    pub(super) close_sent: Cell<bool>,
    pub(super) last_rx: Cell<Instant>,
}

impl Outbox {
    pub(super) fn new() -> Outbox {
        Outbox {
            // Grown on use: a session client's outbox carries only pongs and the close.
            queue: RefCell::new(Queue::default()),
            more: Notify::new(),
            room: Notify::new(),
            reader_done: Cell::new(false),
            close_sent: Cell::new(false),
            last_rx: Cell::new(Instant::now()),
        }
    }

    pub(super) fn push(&self, out: Out) {
        self.queue.borrow_mut().push(out);
        self.more.notify_one();
    }

    pub(super) fn close(&self, code: Option<CloseCode>, reason: &str, ours: bool) {
        self.queue.borrow_mut().close(code, reason, ours);
        self.more.notify_one();
    }

    /// A close frame is queued or sent: nothing else may be queued.
    pub(super) fn closing(&self) -> bool {
        self.queue.borrow().is_closing()
    }

    /// The next item to write. It is still held until handed back to
    /// [`written`](Self::written): the reader waits for the write, not just the pop.
    pub(super) fn pop(&self) -> Option<Out> {
        self.queue.borrow_mut().pop()
    }

    /// Gives back a popped item once written (or abandoned): its memory is released,
    /// its buffer kept for reuse. `Some(ours)` if it was the close frame.
    pub(super) fn written(&self, out: Out) -> Option<bool> {
        let mut queue = self.queue.borrow_mut();
        let ours = queue.written(out);
        if queue.held() <= OUTBOX_LIMIT {
            self.room.notify_one();
        }
        ours
    }

    /// Whether the reader should wait for the writer before reading more.
    pub(super) fn full(&self) -> bool {
        self.queue.borrow().full()
    }

    /// Waits until the outbox has room for more of the peer's traffic (or is closing).
    pub(super) async fn room(&self) {
        while self.full() {
            self.room.notified().await;
        }
    }

    /// Answers a control event as every endpoint does (RFC 6455 §5.5): a ping gets a
    /// pong (one for the latest, see `ws::connection::Outbox`), a pong needs nothing
    /// (any byte received counts as life), a close is echoed with its code and we close
    /// TCP first. `Some` once the peer has closed; data events are the caller's.
    pub(super) fn answer_control(&self, event: &Event<'_>) -> Option<Ending> {
        match event {
            Event::Ping(payload) => {
                self.queue.borrow_mut().pong(payload);
                self.more.notify_one();
            }
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
        self.queue.borrow_mut().spare_buffer()
    }
}
