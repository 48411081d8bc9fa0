//! A server's WebSocket connection after the `101`, as a sans-IO state machine (in the
//! manner of tungstenite's `WebSocketContext` and quinn-proto's `Connection`): the
//! runtime reads and writes the socket and reads the clock; this decides everything
//! else.
//!
//! It owns the rules every endpoint shares: the close handshake both ways (a peer's
//! close is echoed once with its code; after our close, the peer's data is ignored
//! until its close or [`CLOSE_WAIT`]), liveness (`-P`: a ping every interval, and a
//! peer that has sent nothing for two intervals is hung up on), the send queue bounded
//! by memory (see [`Out`] and the `outbox` module: pongs beyond [`PONG_BACKLOG`] answer
//! only the latest ping, and the peer is not read while the queue is over
//! [`OUTBOX_LIMIT`]), the decoder's limits (a message over the maximum, all fragments
//! together, fails with 1009; bad UTF-8 with 1007), the yield after every
//! [`READ_BATCH`] bytes of reads that found the socket full, and the endpoint's part
//! in reading and sending: an endpoint that cannot take more input yet (a terminal's
//! full input queue) pauses reading, and the pause is not counted as the peer's
//! silence ([`pause_reading`](Connection::pause_reading)); an endpoint's own frames
//! (a session's shared output, written by the driver beside this queue) go out only
//! while [`may_send`](Connection::may_send), so nothing follows the close.
//!
//! It must never do IO, read a clock or spawn: time comes in as milliseconds on the
//! caller's monotonic clock (`now`), bytes come in as slices of the caller's read
//! buffer, frames go out through [`poll_transmit`](Connection::poll_transmit) and
//! come back through [`handle_written`](Connection::handle_written).
//!
//! A driver, in outline:
//!
//! ```text
//! loop {
//!     while let Some(event) = conn.handle_read(&mut buf[start..], now) { .. }  // data
//!     while let Some(out) = conn.poll_transmit() { write(out); conn.handle_written(out, now) }
//!     if conn.may_send() { write the endpoint's frames }
//!     if let Some(ending) = conn.ending() { return ending }
//!     wait for: readable if conn.wants_read(), writable if a write is pending,
//!               conn.poll_timeout() -> conn.handle_timeout(now)
//! }
//! ```

use std::time::Duration;

use super::decoder::{Decoder, Event, MessageKind, Role};
use super::encode::ControlFrame;
use super::frame::{write_header_in_headroom, FrameHeader, OpCode};
pub use super::outbox::{Out, Outbox, OUTBOX_LIMIT, PONG_BACKLOG};
use super::CloseCode;

/// How long our close waits for the peer's close before the connection is hung up.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// A write that makes no progress for this long means the peer is gone.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// After this many bytes of reads that never found the socket empty, the driver lets
/// the other tasks on its core run ([`Connection::poll_yield`]): a peer that never
/// stops sending (a ping flood) cannot keep the core.
pub const READ_BATCH: usize = 64 * 1024;
/// Headroom kept in front of an assembled message for its frame header.
const HEADROOM: usize = FrameHeader::MAX_SERVER_LEN;

/// The limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The largest message, all fragments together (over it: close 1009).
    pub max_message: u64,
    /// Server pings (`-P`); `None` disables pings and dead-peer detection.
    pub ping_interval: Option<Duration>,
    /// permessage-deflate was negotiated: the decoder accepts RSV1 on a message's first
    /// frame and marks its chunks `compressed` (the runtime inflates them).
    pub deflate: bool,
}

/// How the connection ended, for what the runtime does with the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Close handshake done or the peer is gone: close the socket now.
    Done,
    /// We failed the connection (protocol error): linger so our close frame arrives.
    Failed,
}

/// Which side sent the first close of the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// We did (protocol error, shutdown, the endpoint's reason).
    Us,
    /// The peer did; we echoed it.
    Peer,
}

/// The result of one [`Connection::handle_read`]: how much of the input was used, and
/// at most one event for the endpoint.
#[derive(Debug)]
pub struct Read<'a> {
    /// Bytes from the front of the input used; the caller drops them.
    pub consumed: usize,
    /// The next event. Control frames are answered already (a ping's pong is queued,
    /// a close is echoed); only data is the endpoint's to act on. `None` with nothing
    /// consumed: more bytes are needed, or reading is over
    /// ([`Connection::is_read_closed`]); `None` with bytes consumed: call again (data
    /// that arrived after our close was skipped).
    pub event: Option<Event<'a>>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One WebSocket connection, server side.
pub struct Connection {
    decoder: Decoder,
    outbox: Outbox,
    /// The ping interval in ms; `None`: no pings.
    ping_every: Option<u64>,
    /// When the next ping is due.
    next_ping: Option<u64>,
    /// When the peer's bytes last arrived (any, pongs included).
    last_rx: u64,
    /// Since when the endpoint has held reading (its input waits for room).
    paused_since: Option<u64>,
    /// Bytes read in full reads since the last yield or a read that emptied the socket.
    unyielded: usize,
    /// Reading is over, and how the connection ends once the queue is written.
    read_done: Option<Ending>,
    /// An item popped by `poll_transmit` is being written.
    in_flight: usize,
    /// Our close frame (first or echoed) has been written.
    close_sent: bool,
    /// Who closed first, once anyone has.
    initiator: Option<Initiator>,
    /// The deadlines: our close's wait for the peer's, the queue's drain after reading
    /// ended, a blocked write's progress.
    close_deadline: Option<u64>,
    drain_deadline: Option<u64>,
    write_deadline: Option<u64>,
    /// The connection is over.
    ending: Option<Ending>,
    /// The message being assembled by [`echo`](Self::echo), headroom in front.
    message: Vec<u8>,
    /// The largest frame a message can make: `HEADROOM + max_message`.
    largest: usize,
}

impl Connection {
    /// A connection that starts (its `101` written) at `now`.
    pub fn new(cfg: Config, now: u64) -> Connection {
        let ping_every = cfg.ping_interval.map(ms).filter(|&p| p > 0);
        let decoder = Decoder::new(Role::Server, cfg.max_message);
        Connection {
            decoder: if cfg.deflate { decoder.with_deflate() } else { decoder },
            outbox: Outbox::default(),
            ping_every,
            next_ping: ping_every.map(|p| now.saturating_add(p)),
            last_rx: now,
            paused_since: None,
            unyielded: 0,
            read_done: None,
            in_flight: 0,
            close_sent: false,
            initiator: None,
            close_deadline: None,
            drain_deadline: None,
            write_deadline: None,
            ending: None,
            message: Vec::new(),
            largest: HEADROOM.saturating_add(usize::try_from(cfg.max_message).unwrap_or(usize::MAX)),
        }
    }

    // ---- input ----

    /// A `read(2)` of at most `room` bytes returned `n > 0` at `now`: the peer is alive.
    /// A read that did not fill `room` emptied the socket, and resets the yield count.
    pub fn handle_bytes_in(&mut self, n: usize, room: usize, now: u64) {
        self.last_rx = now;
        self.unyielded = if n < room { 0 } else { self.unyielded.saturating_add(n) };
    }

    /// The peer's end of the stream (a read returned 0 or failed): nothing more will
    /// be read; what is queued is still written (the peer may only have half closed).
    pub fn handle_eof(&mut self, now: u64) {
        self.end_reading(Ending::Done, now);
    }

    /// Decodes the next event from the front of `input` (the unconsumed bytes of the
    /// caller's read buffer, unmasked in place) and answers control frames. On a
    /// protocol error our close with its code (1002, 1007, 1009) is queued and reading
    /// ends.
    pub fn handle_read<'a>(&mut self, input: &'a mut [u8], now: u64) -> Read<'a> {
        if self.is_read_closed() {
            return Read { consumed: 0, event: None };
        }
        let decoded = match self.decoder.decode(input) {
            Ok(decoded) => decoded,
            Err(e) => {
                self.fail(e.close_code(), e.reason(), now);
                return Read { consumed: 0, event: None };
            }
        };
        match decoded.event {
            // After our close the endpoint gets no more data: the peer may still be
            // sending (§5.5.1), but what it says is not acted on.
            Some(Event::Data { .. }) if self.outbox.is_closing() => {
                return Read { consumed: decoded.consumed, event: None };
            }
            // Any byte received counts as life: a pong needs nothing more.
            Some(Event::Ping(payload)) => self.outbox.pong(payload),
            Some(Event::Close { code, .. }) => {
                // Echo its code (§5.5.1); after our own close this queues nothing.
                self.initiator.get_or_insert(Initiator::Peer);
                self.outbox.close(code, "", false);
                self.end_reading(Ending::Done, now);
            }
            Some(Event::Pong(_) | Event::Data { .. }) | None => {}
        }
        Read { consumed: decoded.consumed, event: decoded.event }
    }

    /// Whether the driver should read the socket now: reading is not over, and the
    /// queue is within its bound (a peer that does not read its replies is not read
    /// either).
    pub fn wants_read(&self) -> bool {
        self.read_done.is_none()
            && self.ending.is_none()
            && !self.outbox.full()
            && self.paused_since.is_none()
    }

    /// The endpoint cannot take more of the peer's data now (its input waits for room
    /// in the terminal's input queue): nothing is read or decoded until
    /// [`resume_reading`](Self::resume_reading), and the time in between does not count
    /// as the peer's silence (its bytes may be waiting unread in the socket).
    pub fn pause_reading(&mut self, now: u64) {
        self.paused_since.get_or_insert(now);
    }

    /// Reading goes on after [`pause_reading`](Self::pause_reading): the silence clock
    /// resumes where it stood.
    pub fn resume_reading(&mut self, now: u64) {
        if let Some(since) = self.paused_since.take() {
            self.last_rx = self.last_rx.saturating_add(now.saturating_sub(since));
        }
    }

    /// Whether reading is paused by the endpoint.
    pub fn is_read_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Whether reading is over for good (the peer closed or left, or we failed it).
    pub fn is_read_closed(&self) -> bool {
        self.read_done.is_some() || self.ending.is_some()
    }

    /// Whether the driver should let its core run other tasks before the next read;
    /// `true` once per [`READ_BATCH`] bytes of reads that found the socket full.
    pub fn poll_yield(&mut self) -> bool {
        let due = self.unyielded >= READ_BATCH;
        if due {
            self.unyielded = 0;
        }
        due
    }

    /// The rest of the current data frame's payload, declared by its header.
    pub fn frame_remaining(&self) -> u64 {
        self.decoder.frame_remaining()
    }

    // ---- output ----

    /// Queues our close: nothing else is sent after it, and the peer's data is ignored
    /// until its close arrives or [`CLOSE_WAIT`] has passed since ours was written.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        if self.ending.is_some() {
            return;
        }
        if !self.outbox.is_closing() {
            self.initiator.get_or_insert(Initiator::Us);
        }
        self.outbox.close(Some(code), reason, true);
    }

    /// Fails the connection (a protocol error, or the endpoint's refusal): our close
    /// with `code`, and no more reading; the socket lingers for the close to arrive.
    pub fn fail(&mut self, code: CloseCode, reason: &str, now: u64) {
        self.close(code, reason);
        self.end_reading(Ending::Failed, now);
    }

    /// Whether the endpoint may send data of its own now: no close is queued or sent,
    /// and the peer is still there to read it (reading is not over).
    pub fn may_send(&self) -> bool {
        !self.outbox.is_closing() && self.read_done.is_none() && self.ending.is_none()
    }

    /// Queues a frame built in `buf` from `start` on (ignored after a close).
    pub fn send_frame(&mut self, buf: Vec<u8>, start: usize) {
        self.outbox.push(Out::Frame { buf, start });
    }

    /// An empty buffer for a frame: one already written, when there is one.
    pub fn spare_buffer(&mut self) -> Vec<u8> {
        self.outbox.spare_buffer()
    }

    /// The next frame to write. Hand it back to [`handle_written`](Self::handle_written)
    /// once written: its memory counts until then.
    pub fn poll_transmit(&mut self) -> Option<Out> {
        if self.ending.is_some() {
            return None;
        }
        let out = self.outbox.pop()?;
        self.in_flight += 1;
        Some(out)
    }

    /// `out` was written whole at `now`. After the close frame, the connection ends:
    /// at once if reading is over (the peer's close, or its end), else when the peer's
    /// close arrives or at [`CLOSE_WAIT`].
    pub fn handle_written(&mut self, out: Out, now: u64) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.write_deadline = None;
        if self.outbox.written(out).is_some() {
            self.close_sent = true;
            self.next_ping = None;
            match self.read_done {
                Some(ending) => self.end(ending),
                None => self.close_deadline = Some(now.saturating_add(ms(CLOSE_WAIT))),
            }
        }
        self.check_drained();
    }

    /// A write made some progress (not yet the whole frame).
    pub fn handle_write_progress(&mut self) {
        self.write_deadline = None;
    }

    /// A write found the socket full at `now`: it must make progress within
    /// [`WRITE_TIMEOUT`] of the first attempt that found it full (later attempts
    /// without progress, after any wake-up, do not move the deadline).
    pub fn handle_write_blocked(&mut self, now: u64) {
        self.write_deadline.get_or_insert(now.saturating_add(ms(WRITE_TIMEOUT)));
    }

    /// Writing `out` failed: the peer is gone.
    pub fn handle_write_error(&mut self, out: Out) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.outbox.written(out);
        self.end(Ending::Done);
    }

    /// A write of the driver's own (an endpoint's shared frames, not from
    /// [`poll_transmit`](Self::poll_transmit)) failed: the peer is gone.
    pub fn handle_write_failed(&mut self) {
        self.end(Ending::Done);
    }

    // ---- time ----

    /// The earliest time [`handle_timeout`](Self::handle_timeout) has something to do.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.ending.is_some() {
            return None;
        }
        [self.next_ping, self.close_deadline, self.drain_deadline, self.write_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Acts on every deadline passed at `now`: a ping is queued, or a peer silent for
    /// two ping intervals is hung up on; a blocked write, our close's wait, or the
    /// queue's drain after reading ended that ran out ends the connection.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.ending.is_some() {
            return;
        }
        let passed = |deadline: Option<u64>| deadline.is_some_and(|d| d <= now);
        if passed(self.write_deadline) || passed(self.close_deadline) {
            return self.end(Ending::Done);
        }
        if passed(self.drain_deadline) {
            return self.end(self.read_done.unwrap_or(Ending::Done));
        }
        if let (true, Some(every)) = (passed(self.next_ping), self.ping_every) {
            if self.silence(now) > every.saturating_mul(2) {
                return self.end(Ending::Done);
            }
            self.outbox.push(Out::Control(Box::new(ControlFrame::ping(b""))));
            self.next_ping = Some(now.saturating_add(every));
        }
    }

    // ---- state ----

    /// How the connection ended, once it has: the driver stops and closes the socket
    /// (now, or after lingering).
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        self.ending.is_some()
    }

    /// Who sent the first close, if a close was sent or received.
    pub fn initiator(&self) -> Option<Initiator> {
        self.initiator
    }

    /// The memory the send queue holds (queued frames, frames being written, spares).
    pub fn queued_memory(&self) -> usize {
        self.outbox.held()
    }

    // ---- the echo endpoint's message assembly ----

    /// Echo: adds a data chunk to the message being assembled, which goes back as one
    /// frame of its kind once whole. Its buffer grows as the message arrives, by
    /// doubling (never past the largest frame a message can make), with room for the
    /// rest of a frame made at once (not while the queue is over its bound: a peer
    /// that does not read gets no more memory than it sent).
    pub fn echo(&mut self, kind: MessageKind, payload: &[u8], first: bool, last: bool) {
        if first {
            self.message.clear();
            self.message.resize(HEADROOM, 0);
        }
        reserve(&mut self.message, payload.len(), self.largest);
        self.message.extend_from_slice(payload);
        if last {
            let opcode = match kind {
                MessageKind::Text => OpCode::Text,
                MessageKind::Binary => OpCode::Binary,
            };
            // HEADROOM always fits the header: the frame is built in place.
            let start =
                write_header_in_headroom(&mut self.message, HEADROOM, true, opcode).unwrap_or_default();
            let spare = self.outbox.spare_buffer();
            let full = std::mem::replace(&mut self.message, spare);
            self.send_frame(full, start);
        }
        if !self.outbox.full() {
            let rest = usize::try_from(self.decoder.frame_remaining()).unwrap_or(usize::MAX);
            reserve(&mut self.message, rest, self.largest);
        }
    }

    // ---- internals ----

    fn end_reading(&mut self, ending: Ending, now: u64) {
        if self.read_done.is_some() || self.ending.is_some() {
            return;
        }
        self.read_done = Some(ending);
        self.next_ping = None;
        if self.close_sent {
            // Our close is out and the peer has answered or left: nothing is waited for.
            return self.end(ending);
        }
        self.drain_deadline = Some(now.saturating_add(ms(CLOSE_WAIT + WRITE_TIMEOUT)));
        self.check_drained();
    }

    /// Reading is over and everything queued is written: the connection ends.
    fn check_drained(&mut self) {
        if let (Some(ending), true, 0) = (self.read_done, self.outbox.is_empty(), self.in_flight) {
            self.end(ending);
        }
    }

    /// How long the peer has been silent while we were reading.
    fn silence(&self, now: u64) -> u64 {
        self.paused_since.unwrap_or(now).saturating_sub(self.last_rx)
    }

    fn end(&mut self, ending: Ending) {
        self.ending.get_or_insert(ending);
    }
}

/// Makes room for `more` bytes in a message being assembled. Its buffer grows by
/// doubling, as a `Vec` does, but never past `largest` (the largest frame the message
/// can make) unless asked for more: a message of the largest size must not hold twice
/// its size.
fn reserve(msg: &mut Vec<u8>, more: usize, largest: usize) {
    let needed = msg.len().saturating_add(more);
    if needed > msg.capacity() {
        let grown = (msg.capacity() * 2).min(largest).max(needed);
        msg.reserve_exact(grown - msg.len());
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
