//! The pure session state: a terminal's output (offsets, scrollback), its clients
//! (cursors, the driver, flow control), its input queue and its lifecycle.
//!
//! # What a session owns
//!
//! Everything about one PTY session except the PTY and the sockets: the
//! [`Scrollback`] of framed pool buffers, one cursor per client, which client is the
//! driver, the terminal size, the bounded [`InputQueue`], status and timers, and
//! counters ([`Metrics`]). The runtime owns the PTY fd, the child, the sockets and
//! the clock, and drives this state machine.
//!
//! It must never do IO, read a clock (time comes in as [`Millis`]), spawn, or touch
//! an fd; it allocates nothing per frame (its queues grow to their working size and
//! stay there; `poll_send` fills the caller's `Vec`).
//!
//! # Invariants
//!
//! - **Offsets are monotonic**: output byte *n* of the session has offset *n*,
//!   forever; `end_offset()` only grows.
//! - **Every client gets every byte exactly once, or an explicit gap**: a client is a
//!   cursor (an offset); each [`Outgoing`] item it is given starts at its cursor and
//!   moves it to the item's end; a cursor only jumps forward through an
//!   [`Outgoing::Gap`] naming the skipped range.
//! - **Scrollback memory ≤ limit** (`--scrollback`, raised to at least four
//!   buffers) after every push, counted per buffer held ([`Buf::mem_size`]), however
//!   small the reads (see [`output`] for the merging of small reads). One slow viewer
//!   holds at most [`MAX_FRESH`](output::MAX_FRESH) extra buffers, within that limit.
//! - **The driver never loses output**: while it has a full window unacked, or the
//!   next read could evict bytes it has not been sent, `should_read_pty` is false.
//!   Viewers never hold the PTY back: one that falls a whole scrollback behind gets
//!   a gap and jumps to the present.
//! - **Pure**: `#![forbid(unsafe_code)]`, no IO, no clock, no spawning.
//!
//! # How the runtime drives it
//!
//! - **PTY readable**: `if session.should_read_pty()` → `pool.try_alloc()` → read
//!   into it until EAGAIN or full → `session.push_output(buf, clock)` → wake every client's
//!   writer. Check `should_read_pty` again before each buffer.
//! - **Writer of a client** (loop): `session.poll_send(client, &mut batch)`; empty →
//!   wait for a wake; else write the items in order ([`Outgoing`] says how) with one
//!   `writev`, then repeat. After [`Outgoing::Exit`], send close 1000 and stop.
//! - **Socket input**: parse ([`protocol`](crate::protocol)) → `session.input` /
//!   `resize` (apply a returned size to the PTY) / `ack` / `set_paused`; an error's
//!   [`SessionError::close_code`] says whether to close. Then drain the input queue
//!   into the PTY: `pending_input()` → write → `input_written(n)`.
//! - **Attach**: `session.attach(now, writable, since)` → send the [`Hello`] → start
//!   the writer. **Disconnect**: `session.detach(client, now)` → act on the actions.
//! - **Child exited and PTY EIO**: `session.exited(status, now)`, wake the writers.
//! - **Timers**: `session.tick(now)` at `session.next_deadline()` → act on the
//!   [`Actions`]. After any call, re-check `should_read_pty` (an ack, a detach, a
//!   demotion can resume reading).
//! - **A sink** (a recording, metrics): `session.set_tap(Box::new(sink), now)`; it is
//!   then told every output byte once, with its offset and time, and every input,
//!   resize and the exit, by the calls above ([`tap`]). None by default, at no cost.
#![forbid(unsafe_code)]

pub mod cast;
mod clients;
pub mod id;
mod input;
pub mod label;
mod lifecycle;
pub mod output;
pub mod preview;
pub mod tap;

#[cfg(test)]
mod cast_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod role_tests;
#[cfg(test)]
mod tap_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use slab::Slab;

use crate::buf::{Buf, BufMut, Pool};
use crate::protocol::{ServerMsg, WinSize};
use crate::ws::CloseCode;

use clients::Client;
pub use clients::ClientId;
pub use id::{IdError, NodeId, SessionId};
pub use input::{InputFull, InputQueue, DEFAULT_INPUT_QUEUE};
pub use lifecycle::{Actions, ExitStatus, Millis, Status, Timers, FIRST_ATTACH_GRACE};
pub use output::{Head, ScrollStats, Scrollback, MIN_BUFS};
pub use tap::Tap;

/// A driver silent this long with a full window is demoted to viewer (SPEC §4).
pub const DEMOTE_AFTER: Duration = Duration::from_secs(10);

/// Default `--scrollback` and `--window`: 1 MiB.
pub const DEFAULT_SCROLLBACK: usize = 1 << 20;

/// Most items one `poll_send` returns: one `writev` of up to 512 KiB of frames.
pub const MAX_BATCH: usize = 32;

/// Which protocol a session's clients speak, fixed at creation: it decides the
/// framing of every output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SPEC §4: output in plain binary frames; gaps, resizes and exit as JSON.
    Native,
    /// SPEC §5: output as `'0'` + bytes. One process per connection: its client
    /// governs the flow (pause/resume and its socket), whether writable or not, and
    /// may resize; no gap, resize or exit message exists (`Exit` is only the signal
    /// to close: 1000 for code 0, else 1011, as ttyd).
    Ttyd,
}

/// A session's settings (from the command line; ttyd sessions usually get
/// `detach_timeout` and `exited_ttl` 0: ttyd kills on disconnect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Framing and client semantics.
    pub dialect: Dialect,
    /// `--scrollback`: memory held by the scrollback, bytes.
    pub scrollback: usize,
    /// `--window`: unacknowledged output bytes the driver may have (≤ scrollback).
    pub window: usize,
    /// `--detach-timeout`, `--exited-ttl`, `--kill-grace`.
    pub timers: Timers,
    /// Bound of the input queue, bytes.
    pub input_queue: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            dialect: Dialect::Native,
            scrollback: DEFAULT_SCROLLBACK,
            window: DEFAULT_SCROLLBACK,
            timers: Timers::default(),
            input_queue: DEFAULT_INPUT_QUEUE,
        }
    }
}

/// What a client's writer sends next, in order.
#[derive(Clone, Debug)]
pub enum Outgoing {
    /// A whole framed chunk of output: send the bytes as they are (shared, zero-copy).
    Frame(Buf),
    /// Output starting mid-chunk: send `head` (frame header, and ttyd's `'0'`), then
    /// `payload` (a view of the chunk's tail).
    Partial {
        /// The frame header for `payload` (and the ttyd prefix).
        head: Head,
        /// The terminal bytes.
        payload: Buf,
    },
    /// Output `from..to` is skipped: send `{"type":"gap","from","to"}` (and nudge the
    /// PTY size so that full-screen programs redraw). A ttyd client has no such
    /// message (send nothing); it governs the flow, so it gets a gap only after
    /// `shrink_scrollback`.
    Gap {
        /// First byte skipped.
        from: u64,
        /// Next byte sent.
        to: u64,
    },
    /// The size changed: send `{"type":"resize","cols","rows"}`. Native only.
    Resize(WinSize),
    /// The client became the driver (`driver`) or stopped being it, as of output
    /// offset `offset` (never behind its cursor): send
    /// `{"type":"role","driver","offset"}`. Native only.
    Role {
        /// Whether it is the driver from `offset` on.
        driver: bool,
        /// Where the change happened in the output.
        offset: u64,
    },
    /// All output was sent and the command ended: send `{"type":"exit",...}` (native),
    /// then close (1000; ttyd: 1000 for code 0, else 1011). Nothing follows.
    Exit(ExitStatus),
    /// The session was renamed or its keep changed: send
    /// `{"type":"session","name","keep"}`. Native only.
    Label {
        /// Its name now.
        name: Option<Box<str>>,
        /// Whether it is kept.
        keep: bool,
    },
}

impl Outgoing {
    /// The control message to send for a `Gap`, `Resize`, `Role` or `Exit` (native).
    pub fn control_msg(&self) -> Option<ServerMsg<'static>> {
        match *self {
            Outgoing::Gap { from, to } => Some(ServerMsg::Gap { from, to }),
            Outgoing::Resize(WinSize { cols, rows }) => Some(ServerMsg::Resize { cols, rows }),
            Outgoing::Role { driver, offset } => Some(ServerMsg::Role { driver, offset }),
            Outgoing::Exit(ExitStatus { code, signal }) => Some(ServerMsg::Exit { code, signal }),
            Outgoing::Label { ref name, keep } => {
                Some(ServerMsg::Session { name: name.as_deref().map(|n| n.to_owned().into()), keep })
            }
            Outgoing::Frame(_) | Outgoing::Partial { .. } => None,
        }
    }
}

/// What `attach` tells a new client: its first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The session.
    pub id: SessionId,
    /// The offset of the next output byte it will be sent (after a gap, if any).
    pub offset: u64,
    /// The terminal size now.
    pub size: WinSize,
    /// Whether it may type and resize.
    pub writable: bool,
}

impl Hello {
    /// `{"type":"hello",...}`.
    pub fn msg(&self) -> ServerMsg<'_> {
        let WinSize { cols, rows } = self.size;
        let (id, offset, writable) = (self.id.as_str().into(), self.offset, self.writable);
        ServerMsg::Hello { id, offset, cols, rows, writable }
    }
}

/// Why a session refused a client's request. Small, `Copy`, no input in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The `ClientId` is not attached (a runtime bug).
    UnknownClient,
    /// `since` is beyond the output so far.
    SinceInFuture,
    /// An ack beyond what was sent to the client.
    AckBeyondSent,
    /// Input or resize from a read-only client.
    NotWritable,
    /// The input queue cannot take the message now (see [`InputQueue`]).
    InputFull,
}

impl SessionError {
    /// How to close the connection, or `None`: not a reason to close (a read-only
    /// client's keystrokes are dropped, as ttyd does; `InputFull` is backpressure:
    /// keep the message, stop reading the socket, retry after the queue drains).
    pub const fn close_code(self) -> Option<CloseCode> {
        match self {
            SessionError::UnknownClient => Some(CloseCode::INTERNAL_ERROR),
            SessionError::SinceInFuture => Some(CloseCode::POLICY_VIOLATION),
            SessionError::AckBeyondSent => Some(CloseCode::PROTOCOL_ERROR),
            SessionError::NotWritable | SessionError::InputFull => None,
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionError::UnknownClient => "no such client",
            SessionError::SinceInFuture => "offset beyond the output",
            SessionError::AckBeyondSent => "ack beyond the output sent",
            SessionError::NotWritable => "read-only client",
            SessionError::InputFull => "input queue full",
        })
    }
}

impl std::error::Error for SessionError {}

/// Counters, plain and cumulative except `clients`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// PTY output bytes pushed (= `end_offset`).
    pub bytes_out: u64,
    /// Output bytes handed to client writers, all clients together.
    pub bytes_sent: u64,
    /// Input bytes queued for the PTY.
    pub bytes_in: u64,
    /// Gaps given to clients (attach with an old `since`, or a viewer left behind).
    pub gaps: u64,
    /// Times `should_read_pty` went from true to false.
    pub pty_pauses: u64,
    /// Drivers demoted for a full window and 10 s of silence.
    pub demotions: u64,
    /// Clients attached now.
    pub clients: usize,
    /// Clients ever attached.
    pub attaches: u64,
    /// Scrollback: bytes copied by small-read merging, seals, evicted chunks.
    pub scroll: ScrollStats,
}

/// The cumulative counters of [`Metrics`] that only the session knows (a session keeps
/// these 48 bytes, not the whole `Metrics`).
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    bytes_sent: u64,
    bytes_in: u64,
    gaps: u64,
    pty_pauses: u64,
    demotions: u64,
    attaches: u64,
}

/// One terminal session's state. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    id: SessionId,
    config: SessionConfig,
    scrollback: Scrollback,
    clients: Slab<Client>,
    /// Bumped on every attach so that a stale `ClientId` never names a new client.
    generation: u32,
    /// Native: the slab key of the driver.
    driver: Option<usize>,
    size: WinSize,
    /// The offset at which the latest resize happened (clients learn it there).
    resized_at: u64,
    input: InputQueue,
    life: lifecycle::Lifecycle,
    /// The counters kept here (the rest of [`Metrics`] is read off the scrollback).
    metrics: Counters,
    /// `should_read_pty` as of the last mutation, to count pauses.
    reading: bool,
    /// Since when (as first seen by `tick`) the driver holds the PTY back.
    held_since: Option<Millis>,
    /// The output tap's sink, if any ([`tap`]).
    tap: tap::TapSlot,
    /// Its name, if it has one ([`label::check_name`] is the caller's).
    name: Option<Box<str>>,
    /// When the runtime last noted output ([`Session::output_seen`]); `Millis(0)`: never
    /// (a plain `Millis` rather than an `Option`: 8 bytes less in every session).
    last_output: Millis,
}

impl Session {
    /// A running session created at `now`, framing output in buffers of `pool` (the
    /// core's pool: `push_output` takes buffers from it, the merge buffer too).
    pub fn new(id: SessionId, pool: Pool, config: SessionConfig, size: WinSize, now: Millis) -> Session {
        let prefix = (config.dialect == Dialect::Ttyd).then_some(crate::protocol::ttyd::OUTPUT);
        let scrollback = Scrollback::new(pool, prefix, config.scrollback);
        let scrollback_limit = scrollback.limit();
        let config = SessionConfig {
            window: config.window.clamp(1, scrollback_limit),
            scrollback: scrollback_limit,
            ..config
        };
        Session {
            id,
            config,
            scrollback,
            clients: Slab::new(),
            generation: 0,
            driver: None,
            size,
            resized_at: 0,
            input: InputQueue::new(config.input_queue),
            life: lifecycle::Lifecycle::new(now),
            metrics: Counters::default(),
            reading: true,
            held_since: None,
            tap: tap::TapSlot::default(),
            name: None,
            last_output: Millis(0),
        }
    }

    /// A session taken over from another ringtty process (a live upgrade): its
    /// retained output `bytes` start at offset `start`, so clients resume where they
    /// were with `since`; `exited` is its status if its command had already ended.
    #[allow(clippy::too_many_arguments)]
    pub fn resumed(
        id: SessionId,
        pool: Pool,
        config: SessionConfig,
        size: WinSize,
        now: Millis,
        (start, bytes): (u64, &[u8]),
        exited: Option<ExitStatus>,
    ) -> Session {
        let mut s = Session::new(id, pool.clone(), config, size, now);
        let prefix = (config.dialect == Dialect::Ttyd).then_some(crate::protocol::ttyd::OUTPUT);
        s.scrollback = Scrollback::resumed(pool, prefix, s.config.scrollback, start, bytes);
        s.resized_at = s.scrollback.end();
        if let Some(status) = exited {
            s.exited(status, now);
        }
        s
    }

    /// Appends PTY output read into `buf` (from this session's pool, with its whole
    /// headroom: data read or appended, nothing prepended): frames it once, adds it to
    /// the scrollback, passes it to the tap with the time `now()`. Wake every client's
    /// writer after. A buffer without its headroom is copied, not dropped (see
    /// [`Scrollback::push`]). `now` is called only when a tap is attached: without
    /// one, output does not cost a clock read per read.
    pub fn push_output(&mut self, buf: BufMut, now: impl FnOnce() -> Millis) {
        let min_cursor = self.clients.iter().map(|(_, c)| c.cursor).min().unwrap_or(u64::MAX);
        let tap = &mut self.tap;
        self.scrollback.push_tapped(buf, min_cursor, |offset, bytes| {
            if let Some(tap) = tap.get() {
                tap.on_output(offset, bytes, now());
            }
        });
        self.note_flow();
    }

    /// Attaches `tap` at `now` (it is told the offset and size now, then every event:
    /// see [`tap`]); returns the one it replaces.
    pub fn set_tap(&mut self, mut tap: Box<dyn Tap>, now: Millis) -> Option<Box<dyn Tap>> {
        tap.on_attach(self.scrollback.end(), self.size, now);
        self.tap.set(tap)
    }

    /// Detaches the tap, if any.
    pub fn take_tap(&mut self) -> Option<Box<dyn Tap>> {
        self.tap.take()
    }

    /// Whether a tap is attached.
    pub fn has_tap(&self) -> bool {
        self.tap.is_attached()
    }

    /// The terminal has been quiet for a while: compacts the scrollback's tail (see
    /// [`Scrollback::compact`]); returns the bytes of memory released.
    pub fn compact(&mut self) -> usize {
        let min_cursor = self.clients.iter().map(|(_, c)| c.cursor).min().unwrap_or(u64::MAX);
        let freed = self.scrollback.compact(min_cursor);
        self.note_flow();
        freed
    }

    /// Whether the runtime may read the PTY now (see the module docs). Not while
    /// exited, nor while the governing client (native: the driver; ttyd: the client)
    /// has paused, has a full window (suspended while the input queue is stalled), or
    /// has not been sent bytes that the next read could evict.
    pub fn should_read_pty(&self) -> bool {
        if !self.life.is_running() {
            return false;
        }
        match self.config.dialect {
            Dialect::Native => {
                self.driver.and_then(|d| self.clients.get(d)).is_none_or(|c| !self.holds_back(c))
            }
            Dialect::Ttyd => self.clients.iter().all(|(_, c)| !self.holds_back(c)),
        }
    }

    /// Whether `client`, if it governs the flow, holds PTY reading back.
    fn holds_back(&self, client: &Client) -> bool {
        let end = self.scrollback.end();
        let window_full = end - client.floor() >= self.config.window as u64 && !self.input.is_stalled();
        client.paused || window_full || self.scrollback.next_push_evicts(client.cursor)
    }

    /// Counts a transition of `should_read_pty` to false and forgets a driver's
    /// hold once it is over; called after every mutation.
    /// `true` when reading was held back and no longer is.
    fn note_flow(&mut self) -> bool {
        if self.held_by_driver().is_none() {
            self.held_since = None;
        }
        let reading = self.should_read_pty();
        if self.reading && !reading && self.life.is_running() {
            self.metrics.pty_pauses += 1;
        }
        let resumed = !self.reading && reading;
        self.reading = reading;
        resumed
    }

    /// The child has exited and the PTY reported EIO: all output has been pushed.
    /// Each client is sent what remains, then [`Outgoing::Exit`]. Wake the writers.
    pub fn exited(&mut self, status: ExitStatus, now: Millis) {
        let was_running = self.life.is_running();
        self.life.exited(status, now);
        if let Some(tap) = self.tap.get().filter(|_| was_running) {
            tap.on_exit(status, self.scrollback.end(), now);
        }
        self.note_flow();
    }

    /// `DELETE`: returns `KILL` (once) for a running session, `REMOVE` for an
    /// exited one. `FORCE_KILL` follows from `tick` after the kill grace.
    pub fn kill(&mut self, now: Millis) -> Actions {
        self.life.kill(now)
    }

    /// Timers due at `now`: detach timeout (`KILL`), kill grace (`FORCE_KILL`),
    /// exited TTL with no client left (`REMOVE`), driver demotion (`DEMOTE_DRIVER`).
    pub fn tick(&mut self, now: Millis) -> Actions {
        let mut actions = self.life.tick(now, self.clients.len(), &self.config.timers);
        if let Some(last_heard) = self.held_by_driver().map(|driver| driver.last_heard) {
            let since = *self.held_since.get_or_insert(now);
            if now >= since.max(last_heard).after(DEMOTE_AFTER) {
                self.set_driver(None);
                self.metrics.demotions += 1;
                actions = actions | Actions::DEMOTE_DRIVER;
            }
        }
        self.note_flow();
        actions
    }

    /// When `tick` next has something to do, if ever (until the next call). While
    /// the driver holds the PTY back this may be in the past once: the tick that
    /// notices the hold starts its 10 s.
    pub fn next_deadline(&self) -> Option<Millis> {
        let demotion = self.held_by_driver().map(|driver| match self.held_since {
            Some(since) => since.max(driver.last_heard).after(DEMOTE_AFTER),
            None => driver.last_heard,
        });
        match (self.life.deadline(self.clients.len(), &self.config.timers), demotion) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The driver, if it holds PTY reading back (native sessions).
    fn held_by_driver(&self) -> Option<&Client> {
        let driver = self.clients.get(self.driver?)?;
        (self.life.is_running() && self.holds_back(driver)).then_some(driver)
    }

    /// Evicts scrollback down to `max_mem` bytes (a per-core budget asks big sessions
    /// to shrink); returns the bytes released. Clients behind get gaps.
    pub fn shrink_scrollback(&mut self, max_mem: usize) -> usize {
        let freed = self.scrollback.shrink_to(max_mem);
        self.note_flow();
        freed
    }

    /// The session's ID.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// Its name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether it is kept: no detach timeout (see [`lifecycle`]).
    pub fn keep(&self) -> bool {
        self.life.keep()
    }

    /// Renames it (`None`: no name); its native clients are told
    /// ([`Outgoing::Label`]). Wake the writers after.
    pub fn rename(&mut self, name: Option<Box<str>>) {
        self.name = name;
        self.label_changed();
    }

    /// Keeps it (no detach timeout) or not (the detach timer then starts at `now` if no
    /// client is attached); its native clients are told. Wake the writers and the
    /// session's task (its next deadline moved) after.
    pub fn set_keep(&mut self, keep: bool, now: Millis) {
        if keep != self.life.keep() {
            self.life.set_keep(keep, now);
            self.label_changed();
        }
    }

    /// The runtime read output at `now` (it notes the time once per batch of reads, not
    /// per buffer: see [`Session::push_output`]).
    pub fn output_seen(&mut self, now: Millis) {
        // 0 means never: output in the clock's very first millisecond counts as at 1.
        self.last_output = now.max(Millis(1));
    }

    /// When output was last noted, if ever (since this process has the session).
    pub fn last_output(&self) -> Option<Millis> {
        (self.last_output != Millis(0)).then_some(self.last_output)
    }

    /// The latest non-blank line of the output's tail as plain text ([`preview`]);
    /// empty if none. Copies and parses windows of the scrollback's end doubling from
    /// 128 bytes to 4 KiB, until one holds a non-blank line.
    pub fn preview(&self) -> String {
        let mut tail = Vec::new();
        let mut want = preview::FIRST_SCAN;
        loop {
            tail.clear();
            let cut = self.scrollback.tail(want, &mut tail);
            let last = !cut || want >= preview::PREVIEW_SCAN;
            if let Some(line) = preview::in_window(&tail, cut, last) {
                return line;
            }
            if last {
                return String::new();
            }
            want *= 2;
        }
    }

    /// Its settings (`scrollback` raised to the smallest limit, `window` clamped to
    /// `1..=scrollback`).
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Running or exited.
    pub fn status(&self) -> Status {
        self.life.status
    }

    /// When it was created.
    pub fn created(&self) -> Millis {
        self.life.created
    }

    /// The terminal size now.
    pub fn size(&self) -> WinSize {
        self.size
    }

    /// The output offset: bytes of output so far.
    pub fn end_offset(&self) -> u64 {
        self.scrollback.end()
    }

    /// The scrollback (offsets, memory held).
    pub fn scrollback(&self) -> &Scrollback {
        &self.scrollback
    }

    /// Clients attached.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// The driver, if any (native sessions).
    pub fn driver(&self) -> Option<ClientId> {
        let key = self.driver?;
        Some(ClientId::new(key, self.clients.get(key)?.generation))
    }

    /// The counters now.
    pub fn metrics(&self) -> Metrics {
        let Counters { bytes_sent, bytes_in, gaps, pty_pauses, demotions, attaches } = self.metrics;
        Metrics {
            bytes_out: self.scrollback.end(),
            bytes_sent,
            bytes_in,
            gaps,
            pty_pauses,
            demotions,
            clients: self.clients.len(),
            attaches,
            scroll: self.scrollback.stats(),
        }
    }
}
