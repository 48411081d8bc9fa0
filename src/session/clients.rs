//! Clients: attach and detach, the cursor each one is, what its writer sends next
//! (`poll_send`), acks, input, resize, pause.
//!
//! # Cursors, gaps and jumps
//!
//! A client is an offset into the output (its cursor: the next byte it will be
//! given) plus flags. Its writer asks `poll_send`, which hands out the chunk holding
//! the cursor (whole, or its tail with a fresh head) and moves the cursor past it.
//!
//! - Attach without `since`: from the oldest retained byte, or just after the first
//!   `\n` within 4 KiB of it (a replay starts on a line) if older output was evicted.
//! - Attach with `since` in `oldest..=end`: exactly there. Older than the
//!   scrollback: `Gap { from: since, to: oldest }` first, then from the oldest byte.
//!   Beyond `end`: refused (`SinceInFuture`, close 1008).
//! - A client whose cursor has been evicted (it fell a whole scrollback behind) is
//!   given `Gap { from: cursor, to: end }` and continues from the present: replaying
//!   a stale megabyte would only keep it behind. For its window, skipped bytes
//!   count as acknowledged.
//!
//! # The driver and flow control
//!
//! The driver is the writable client that most recently sent input or a resize; it
//! owns the size (when another writable client types, the size becomes that
//! client's last requested size). Only the driver can hold PTY reading back
//! (`Session::should_read_pty`): when its unacknowledged output reaches the window —
//! counted from its last ack once it has opted in by acking, else from its cursor
//! (its socket's own backpressure) — or when the next read could evict bytes it has
//! not been sent. A driver that holds reading back for 10 s without a word is demoted
//! to viewer (`tick`). In a ttyd session the client governs in the same way, plus
//! pause/resume, whether it is writable or not, and is never demoted.
//!
//! # Telling a client its role
//!
//! Only the driver's page answers the terminal queries in the output (SPEC §4: a
//! terminal answers once). A client attaches as a viewer; when it becomes or stops
//! being the driver, it is told [`Outgoing::Role`] with the output offset at which
//! that happened (the end of the output then, so never behind its cursor), before
//! any output from that offset on. Its page answers the queries in the bytes from
//! there on, and only those: replayed output lies before any such offset. If the
//! role changes hands more than once before a client's writer runs, it is told
//! the first loss and the latest gain only: a query in between may go unanswered,
//! none is answered twice.
#![forbid(unsafe_code)]

use super::{Dialect, Hello, Millis, Outgoing, Session, SessionError, MAX_BATCH};
use crate::protocol::WinSize;

/// A client of one session. Stale IDs (of a detached client) name nothing, even
/// after their slot is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientId {
    key: u32,
    generation: u32,
}

impl ClientId {
    pub(super) fn new(key: usize, generation: u32) -> ClientId {
        ClientId { key: key as u32, generation }
    }
}

/// One attached client.
#[derive(Debug)]
pub(super) struct Client {
    pub(super) generation: u32,
    /// The next offset to hand to its writer. Only grows.
    pub(super) cursor: u64,
    /// Its latest ack, once it has opted in. Invariant: `<= cursor`.
    pub(super) acked: Option<u64>,
    pub(super) writable: bool,
    /// ttyd's pause.
    pub(super) paused: bool,
    /// Its last ack, input or resize.
    pub(super) last_heard: Millis,
    /// The size it last asked for.
    requested: Option<WinSize>,
    /// The size it was last told (hello or a resize message).
    size_seen: WinSize,
    /// A gap to send before anything else (attach with an old `since`).
    gap: Option<(u64, u64)>,
    exit_sent: bool,
    /// Whether it was last told it is the driver ([`Outgoing::Role`]; no at attach).
    told_driver: bool,
    /// The offset at which it last became the driver.
    driver_from: u64,
    /// The offset at which it first stopped being the driver since it was told it is.
    driver_until: Option<u64>,
    /// The session was renamed or its keep changed since it was last told
    /// ([`Outgoing::Label`]; native clients only).
    label_news: bool,
}

impl Client {
    /// The offset from which its window counts.
    pub(super) fn floor(&self) -> u64 {
        self.acked.unwrap_or(self.cursor).min(self.cursor)
    }
}

impl Session {
    fn key(&self, client: ClientId) -> Result<usize, SessionError> {
        let key = client.key as usize;
        match self.clients.get(key) {
            Some(c) if c.generation == client.generation => Ok(key),
            _ => Err(SessionError::UnknownClient),
        }
    }

    /// Attaches a client at `now` (see the module docs for where it starts). Send
    /// the returned [`Hello`] first, then what `poll_send` gives.
    pub fn attach(
        &mut self,
        now: Millis,
        writable: bool,
        since: Option<u64>,
    ) -> Result<(ClientId, Hello), SessionError> {
        let (start, end) = (self.scrollback.start(), self.scrollback.end());
        let (cursor, gap) = match since {
            Some(since) if since > end => return Err(SessionError::SinceInFuture),
            Some(since) if since < start => (start, Some((since, start))),
            Some(since) => (since, None),
            None if start == 0 => (0, None),
            None => (self.scrollback.line_start(start), None),
        };
        self.generation = self.generation.wrapping_add(1);
        let client = Client {
            generation: self.generation,
            cursor,
            acked: None,
            writable,
            paused: false,
            last_heard: now,
            requested: None,
            size_seen: self.size,
            gap,
            exit_sent: false,
            told_driver: false,
            driver_from: 0,
            driver_until: None,
            label_news: false,
        };
        // Most sessions have one client: room for one, not the four a first insert
        // reserves (104 bytes each). A second client grows it as usual.
        if self.clients.capacity() == 0 {
            self.clients.reserve_exact(1);
        }
        let key = self.clients.insert(client);
        self.metrics.attaches += 1;
        self.note_flow();
        let hello = Hello { id: self.id, offset: cursor, size: self.size, writable };
        Ok((ClientId::new(key, self.generation), hello))
    }

    /// Detaches a client (its connection closed). When the last one leaves, the
    /// detach timer starts; the returned actions are `tick(now)`'s (with
    /// `--detach-timeout 0`, `KILL` right away).
    pub fn detach(&mut self, client: ClientId, now: Millis) -> super::Actions {
        let Ok(key) = self.key(client) else {
            return super::Actions::NONE;
        };
        self.clients.remove(key);
        if self.driver == Some(key) {
            self.driver = None;
        }
        if self.clients.is_empty() {
            self.life.last_client_left(now);
        }
        self.tick(now)
    }

    /// Fills `batch` (cleared first; reuse it: no allocation once it has grown) with
    /// up to [`MAX_BATCH`] items for `client`'s writer, in order, and moves its
    /// cursor past them. Empty: nothing to send until the next push, resize or exit.
    ///
    /// Returns `true` when taking this output lets the PTY be read again: a client
    /// without acks is held back by what it has not taken yet, so the runtime must
    /// then wake whatever waits to read the PTY.
    pub fn poll_send(&mut self, client: ClientId, batch: &mut Vec<Outgoing>) -> bool {
        batch.clear();
        let Ok(key) = self.key(client) else { return false };
        let exited = match self.life.status {
            super::Status::Exited { status, .. } => Some(status),
            super::Status::Running => None,
        };
        let end = self.scrollback.end();
        let native = self.config.dialect == Dialect::Native;
        let is_driver = self.driver == Some(key);
        let c = &mut self.clients[key];
        while batch.len() < MAX_BATCH && !c.exit_sent {
            if let Some((from, to)) = c.gap.take() {
                batch.push(Outgoing::Gap { from, to });
                self.metrics.gaps += 1;
            } else if let Some(role) = role_news(c, is_driver) {
                batch.push(role);
            } else if std::mem::take(&mut c.label_news) {
                batch.push(Outgoing::Label { name: self.name.clone(), keep: self.life.keep() });
            } else if native && c.size_seen != self.size && c.cursor >= self.resized_at {
                c.size_seen = self.size;
                batch.push(Outgoing::Resize(self.size));
            } else if c.cursor >= end {
                if let Some(status) = exited {
                    c.exit_sent = true;
                    batch.push(Outgoing::Exit(status));
                }
                break;
            } else if c.cursor < self.scrollback.start() {
                // Fell a whole scrollback behind: jump to the present.
                batch.push(Outgoing::Gap { from: c.cursor, to: end });
                c.acked = c.acked.map(|_| end);
                c.cursor = end;
                self.metrics.gaps += 1;
            } else {
                let Some((item, next)) = self.scrollback.item_at(c.cursor) else {
                    debug_assert!(false, "no chunk at a retained offset");
                    break;
                };
                self.metrics.bytes_sent += next - c.cursor;
                c.cursor = next;
                batch.push(item);
            }
        }
        if !batch.is_empty() {
            let clients = &self.clients;
            self.scrollback.retire_sent(|| clients.iter().map(|(_, c)| c.cursor).min().unwrap_or(u64::MAX));
        }
        self.note_flow()
    }

    /// The name or keep changed: every native client is told, before its next output.
    pub(super) fn label_changed(&mut self) {
        if self.config.dialect == Dialect::Native {
            for (_, c) in self.clients.iter_mut() {
                c.label_news = true;
            }
        }
    }

    /// `{"type":"ack","offset"}`: every byte before `offset` is rendered. Opts the
    /// client in to flow control. Cumulative (an older ack changes nothing); beyond
    /// what it was sent → `AckBeyondSent` (close 1002).
    pub fn ack(&mut self, client: ClientId, offset: u64, now: Millis) -> Result<(), SessionError> {
        let key = self.key(client)?;
        let c = &mut self.clients[key];
        if offset > c.cursor {
            return Err(SessionError::AckBeyondSent);
        }
        c.acked = Some(c.acked.map_or(offset, |acked| acked.max(offset)));
        c.last_heard = now;
        self.note_flow();
        Ok(())
    }

    /// Input from a client: queued for the PTY whole, or `InputFull` (keep it, stop
    /// reading this socket, retry when [`input_space`](Self::input_space) allows).
    /// A writable client becomes the driver; `Some(size)` if that changes the
    /// terminal size (apply it to the PTY). Read-only: `NotWritable`, dropped.
    /// After the exit the bytes are dropped.
    pub fn input(
        &mut self,
        client: ClientId,
        data: &[u8],
        now: Millis,
    ) -> Result<Option<WinSize>, SessionError> {
        let key = self.key(client)?;
        let c = &mut self.clients[key];
        if !c.writable {
            return Err(SessionError::NotWritable);
        }
        c.last_heard = now;
        let resized = match self.config.dialect {
            Dialect::Native => self.make_driver(key, now),
            Dialect::Ttyd => None,
        };
        let queued = self.queue_input(data, now);
        self.note_flow();
        queued.map(|()| resized)
    }

    /// Input from `POST /api/sessions/{id}/input` at `now` (the caller is allowed to
    /// write).
    pub fn api_input(&mut self, data: &[u8], now: Millis) -> Result<(), SessionError> {
        let queued = self.queue_input(data, now);
        self.note_flow();
        queued
    }

    fn queue_input(&mut self, data: &[u8], now: Millis) -> Result<(), SessionError> {
        if !self.life.is_running() {
            return Ok(());
        }
        self.input.push(data).map_err(|_| SessionError::InputFull)?;
        self.metrics.bytes_in += data.len() as u64;
        if let Some(tap) = self.tap.get() {
            tap.on_input(data, now);
        }
        Ok(())
    }

    /// What to write to the PTY next (empty: nothing). After a write of `n` bytes,
    /// call [`input_written`](Self::input_written).
    pub fn pending_input(&self) -> &[u8] {
        self.input.front()
    }

    /// The PTY took `n` bytes of [`pending_input`](Self::pending_input).
    pub fn input_written(&mut self, n: usize) {
        self.input.consume(n);
        self.note_flow();
    }

    /// Bytes a message may have to be accepted by `input` now.
    pub fn input_space(&self) -> usize {
        self.input.space()
    }

    /// The input queue (length, stalled).
    pub fn input_queue(&self) -> &super::InputQueue {
        &self.input
    }

    /// A client asks for `size`. Writable clients only, else `NotWritable` (ignore it:
    /// a viewer's window size is its own; a read-only ttyd client's process keeps the
    /// size it started with, as SPEC §6 has it: read-only never types or resizes).
    /// The client becomes the driver. `Some(size)`: apply it to the PTY; every other
    /// client is told with [`Outgoing::Resize`].
    pub fn resize(
        &mut self,
        client: ClientId,
        size: WinSize,
        now: Millis,
    ) -> Result<Option<WinSize>, SessionError> {
        let key = self.key(client)?;
        let native = self.config.dialect == Dialect::Native;
        let c = &mut self.clients[key];
        if !c.writable {
            return Err(SessionError::NotWritable);
        }
        c.last_heard = now;
        c.requested = Some(size);
        c.size_seen = size;
        if native {
            self.set_driver(Some(key));
        }
        let resized = self.set_size(size, now);
        self.note_flow();
        Ok(resized)
    }

    /// `POST /api/sessions/{id}/resize` at `now`. `Some(size)`: apply it to the PTY.
    pub fn api_resize(&mut self, size: WinSize, now: Millis) -> Option<WinSize> {
        self.set_size(size, now)
    }

    /// ttyd's pause (`'2'`) and resume (`'3'`): a paused client holds PTY reading
    /// back (if it governs the flow: any ttyd client, a native driver).
    pub fn set_paused(&mut self, client: ClientId, paused: bool, now: Millis) -> Result<(), SessionError> {
        let key = self.key(client)?;
        let c = &mut self.clients[key];
        c.paused = paused;
        c.last_heard = now;
        self.note_flow();
        Ok(())
    }

    /// Makes `key` the driver; if the driver changed and the new one has asked for
    /// a size, the terminal takes it: `Some(size)`.
    fn make_driver(&mut self, key: usize, now: Millis) -> Option<WinSize> {
        if self.driver == Some(key) {
            return None;
        }
        self.set_driver(Some(key));
        let c = &mut self.clients[key];
        let size = c.requested?;
        c.size_seen = size;
        self.set_size(size, now)
    }

    /// Changes the driver (`None`: there is none), noting for the old and the new
    /// one where their roles changed, for [`Outgoing::Role`].
    pub(super) fn set_driver(&mut self, new: Option<usize>) {
        if self.driver == new {
            return;
        }
        let at = self.scrollback.end();
        if let Some(old) = self.driver.and_then(|key| self.clients.get_mut(key)) {
            if old.told_driver {
                old.driver_until.get_or_insert(at);
            }
        }
        if let Some(c) = new.and_then(|key| self.clients.get_mut(key)) {
            c.driver_from = at;
        }
        self.driver = new;
    }

    fn set_size(&mut self, size: WinSize, now: Millis) -> Option<WinSize> {
        if size == self.size {
            return None;
        }
        self.size = size;
        self.resized_at = self.scrollback.end();
        if let Some(tap) = self.tap.get() {
            tap.on_resize(size, self.resized_at, now);
        }
        Some(size)
    }
}

/// What `c` must be told about its role before any more output, if anything: that
/// it lost it (then, on the next call, that it has it again, if so), or that it is
/// the driver now. Never set in a ttyd session, which has no driver.
fn role_news(c: &mut Client, is_driver: bool) -> Option<Outgoing> {
    if c.told_driver {
        let offset = c.driver_until.take()?;
        c.told_driver = false;
        Some(Outgoing::Role { driver: false, offset })
    } else if is_driver {
        c.told_driver = true;
        Some(Outgoing::Role { driver: true, offset: c.driver_from })
    } else {
        None
    }
}
