//! The one read/write loop of every WebSocket connection: drives a sans-IO
//! [`ws::Connection`](crate::ws::Connection) over a connection's socket, in the
//! connection's one task, for an [`Endpoint`] (echo, a native session client, ttyd's).
//! Every WebSocket rule (the close handshake, pings and dead peers, the send queue's
//! bound, when to read, when to yield, when to give up) is the machine's; every
//! endpoint rule (what a message means, what to send) is the endpoint's. This file only
//! does what they ask: reads when the machine wants to read and the endpoint is not
//! holding its input, writes what they hand out, and sleeps until the next deadline,
//! the socket's readiness, the endpoint's wake-ups or the server's shutdown.
//!
//! All socket IO is readiness-based and non-blocking, so one `select!` waits for any of
//! them and nothing is lost when another wins: a read takes its buffer (the worker's,
//! lent only once the socket is readable, so an idle client holds none) and reads
//! within one poll; a write that found the socket full resumes at the offset it reached.
//!
//! Two kinds of output go out, never interleaved within a frame: the machine's frames
//! ([`Connection::poll_transmit`]: replies, pongs, pings, the close) first, then, while
//! the machine has nothing and [`Connection::may_send`], the endpoint's [`Frames`]
//! (a session's shared pool buffers, never copied, up to 32 of them per `writev(2)`).
//! The close is always last: once it is queued, the endpoint is not asked for more.
//!
//! It waits on nothing but the one `select!`, and holds a read buffer only while bytes
//! are in it: not while idle, nor while the endpoint holds input that waits for room
//! with nothing more read (the socket is not read meanwhile).

use std::io::IoSlice;
use std::time::Duration;

use tokio::sync::Notify;

use super::compress::with_codec;
use crate::buf::Buf;
use crate::runtime::transport::Transport;
use crate::runtime::worker::{yield_to_core, ConnHandle, Worker, READ_BUF};
use crate::session::Head;
use crate::ws::connection::{Config, Connection, Ending, Out};
use crate::ws::deflate::{Inflating, MIN_COMPRESS};
use crate::ws::{CloseCode, Decoder, Deflate, Event, FrameHeader, MessageKind, OpCode, Status};

/// How long an ending connection may take to send the encrypted frames the socket had no
/// room for (TLS), its close among them, before it is closed anyway.
const LAST_FLUSH: Duration = Duration::from_secs(2);

/// Limits of one WebSocket endpoint.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    pub max_message: u64,
    /// Server pings (`-P`); `None` disables pings and dead-peer detection.
    pub ping_interval: Option<Duration>,
    /// permessage-deflate, as negotiated in the `101` (`--compress`).
    pub deflate: Option<Deflate>,
}

/// A chunk of a data message from the peer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chunk<'a> {
    pub(super) kind: MessageKind,
    pub(super) payload: &'a [u8],
    /// The message's first chunk.
    pub(super) first: bool,
    /// The message's last chunk.
    pub(super) last: bool,
}

/// What the driver does after an endpoint took a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Go on decoding and reading.
    Go,
    /// The endpoint kept what it could not take yet (input waiting for room): nothing
    /// more is decoded or read until [`Endpoint::retry`] says `Go`, called whenever
    /// [`Endpoint::held_wake`] fires.
    Hold,
    /// The endpoint is done (ttyd's first message has arrived): [`Driver::run`]
    /// returns, and the connection goes on with the next endpoint, bytes read and
    /// frames queued kept.
    Stop,
}

/// What a WebSocket endpoint does with a connection; the driver calls it and the
/// machine does the rest. Everything but [`handle_data`](Self::handle_data) is
/// optional.
pub(super) trait Endpoint {
    /// A chunk of the peer's data. To answer, queue frames on `conn`; to refuse, fail
    /// it ([`Connection::fail`]).
    fn handle_data(&mut self, conn: &mut Connection, chunk: Chunk<'_>, now: u64) -> Flow;

    /// Tries again what [`Flow::Hold`] kept, after [`held_wake`](Self::held_wake).
    fn retry(&mut self, _conn: &mut Connection, _now: u64) -> Flow {
        Flow::Go
    }

    /// Fires when what is held may go on.
    fn held_wake(&self) -> Option<&Notify> {
        None
    }

    /// Adds the endpoint's next output to `frames`, asked whenever the machine has
    /// nothing to send and the connection may send data. It may queue our close on
    /// `conn` instead (the session ended).
    fn poll_output(&mut self, _conn: &mut Connection, _frames: &mut Frames) {}

    /// Fires when [`poll_output`](Self::poll_output) may have more.
    fn output_wake(&self) -> Option<&Notify> {
        None
    }

    /// The endpoint's own deadline, on the worker's clock.
    fn poll_timeout(&self) -> Option<u64> {
        None
    }

    /// The endpoint's deadline has passed.
    fn handle_timeout(&mut self, _conn: &mut Connection, _now: u64) {}
}

/// The echo endpoint: every message comes back as one frame of the same type; with
/// permessage-deflate, a whole message (a compressed one arrives inflated, whole) over
/// [`MIN_COMPRESS`] bytes goes back compressed.
pub(super) struct Echo(pub(super) Option<Deflate>);

impl Endpoint for Echo {
    fn handle_data(&mut self, conn: &mut Connection, c: Chunk<'_>, _now: u64) -> Flow {
        if let (Some(deflate), true, true) = (self.0, c.first && c.last, c.payload.len() >= MIN_COMPRESS) {
            let opcode = match c.kind {
                MessageKind::Text => OpCode::Text,
                MessageKind::Binary => OpCode::Binary,
            };
            let mut buf = conn.spare_buffer();
            if with_codec(|codec| codec.compress_frame(deflate, opcode, &[c.payload], &mut buf)) {
                conn.send_frame(buf, 0);
                return Flow::Go;
            }
        }
        conn.echo(c.kind, c.payload, c.first, c.last);
        Flow::Go
    }
}

/// An endpoint with nothing to say: the connection only finishes what is queued (a
/// refusal's close).
pub(super) struct Closing;

impl Endpoint for Closing {
    fn handle_data(&mut self, _conn: &mut Connection, _chunk: Chunk<'_>, _now: u64) -> Flow {
        Flow::Go
    }
}

/// An endpoint's output: whole frames in order, written with vectored writes.
/// Grown on use: most clients of idle sessions never batch much; kept once grown (no
/// allocation per frame).
#[derive(Default)]
pub(super) struct Frames {
    segs: Vec<Seg>,
    /// Bytes of the first segment already written.
    sent: usize,
    /// The bytes the endpoint encoded (frames, heads), one after another;
    /// `Seg::Bytes` says how long each piece is. Emptied (capacity kept) whenever
    /// everything is written.
    messages: Vec<u8>,
    /// Where the first `Seg::Bytes` still queued starts in `messages`.
    message_at: usize,
}

/// Kept as small as a `Buf` (a client's batch of them stays allocated): encoded
/// bytes are a length into `Frames::messages`, not a buffer of their own, and there
/// are two variants only (a `Buf`'s pointer has room for one more).
enum Seg {
    /// Shared output (a whole frame, or a payload behind its head): never copied.
    Shared(Buf),
    /// Encoded bytes (a frame, a head), this many, next in `Frames::messages`.
    Bytes(usize),
}

const _: () = assert!(size_of::<Seg>() == size_of::<Buf>());

impl Frames {
    /// Makes room for `n` more segments, exactly: a client's queue keeps its largest
    /// batch's size for its life, not the next power of two.
    pub(super) fn reserve(&mut self, n: usize) {
        self.segs.reserve_exact(n);
    }

    /// Queues a shared buffer (a whole frame, or the payload behind a [`head`](Self::head)).
    pub(super) fn shared(&mut self, buf: Buf) {
        self.segs.push(Seg::Shared(buf));
    }

    /// Queues a frame header (2 to 11 bytes) for the shared payload that follows.
    pub(super) fn head(&mut self, head: &Head) {
        self.message(|buf| buf.extend_from_slice(head.as_slice()));
    }

    /// Queues, compressed, the one frame `head` (a frame header and maybe ttyd's prefix,
    /// or a whole frame with `payload` empty) and `payload` make, if it is a final,
    /// uncompressed data frame of at least [`MIN_COMPRESS`] bytes that compression makes
    /// smaller. `false` (nothing queued): send it as it is.
    pub(super) fn compressed(&mut self, deflate: Deflate, head: &[u8], payload: &[u8]) -> bool {
        let Ok(Status::Complete((header, len))) = FrameHeader::decode(head) else { return false };
        let prefix = head.get(len..).unwrap_or_default();
        let whole = (prefix.len() + payload.len()) as u64 == header.payload_len;
        if !whole || !header.fin || header.rsv != 0 || header.opcode.is_control() {
            return false;
        }
        if (header.payload_len as usize) < MIN_COMPRESS {
            return false;
        }
        let before = self.messages.len();
        if !with_codec(|c| c.compress_frame(deflate, header.opcode, &[prefix, payload], &mut self.messages)) {
            return false;
        }
        self.segs.push(Seg::Bytes(self.messages.len() - before));
        true
    }

    /// Queues a frame that `encode` appends to a buffer.
    pub(super) fn message(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let before = self.messages.len();
        encode(&mut self.messages);
        let len = self.messages.len() - before;
        if len > 0 {
            self.segs.push(Seg::Bytes(len));
        }
    }

    fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// The queued segments' bytes, in order.
    fn bytes(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = self.message_at;
        self.segs.iter().map(move |seg| match seg {
            Seg::Shared(buf) => buf.as_slice(),
            Seg::Bytes(len) => {
                let bytes = self.messages.get(at..at + len).unwrap_or_default();
                at += len;
                bytes
            }
        })
    }

    /// One non-blocking `writev(2)` of up to `MAX_IOV` segments (one syscall, nothing
    /// allocated).
    fn write(&self, stream: &Transport) -> std::io::Result<usize> {
        const MAX_IOV: usize = crate::session::MAX_BATCH;
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let count = self.segs.len().min(MAX_IOV);
        for (i, (slice, bytes)) in slices.iter_mut().zip(self.bytes()).enumerate() {
            let skip = if i == 0 { self.sent } else { 0 };
            *slice = IoSlice::new(bytes.get(skip..).unwrap_or_default());
        }
        stream.try_writev(&slices[..count])
    }

    /// Drops the first `n` written bytes: whole segments leave the queue, a segment
    /// written in part is resumed later.
    fn advance(&mut self, n: usize) {
        let mut n = n + self.sent;
        let (mut whole, mut message_bytes) = (0, 0);
        for (seg, bytes) in self.segs.iter().zip(self.bytes()) {
            if bytes.len() > n {
                break;
            }
            n -= bytes.len();
            whole += 1;
            if let Seg::Bytes(len) = seg {
                message_bytes += len;
            }
        }
        self.segs.drain(..whole);
        self.message_at += message_bytes;
        self.sent = n;
        if self.segs.is_empty() {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.segs.clear();
        self.sent = 0;
        self.messages.clear();
        self.message_at = 0;
    }
}

/// A frame from the machine being written and how much of it is out.
struct Writing {
    out: Out,
    sent: usize,
}

/// What woke the driver.
enum Wake {
    Read(std::io::Result<usize>),
    Writable(std::io::Result<()>),
    Timer,
    Shutdown,
    Output,
    Room,
}

/// A WebSocket connection being served: the machine, the socket, the read buffer and
/// what is being written. It outlives one [`run`](Self::run) when an endpoint hands
/// over to the next (ttyd: the first message, then the session).
pub(super) struct Driver<'a> {
    w: &'a Worker,
    stream: &'a Transport,
    handle: &'a ConnHandle,
    /// The machine; endpoints act on it between runs (a refusal's close).
    pub(super) conn: Connection,
    buf: Vec<u8>,
    /// Decoded up to here.
    start: usize,
    writing: Option<Writing>,
    frames: Frames,
    /// permessage-deflate, if negotiated.
    deflate: Option<Deflate>,
    /// The compressed message being received (empty between messages).
    inflating: Inflating,
    max_message: usize,
}

impl<'a> Driver<'a> {
    /// A connection just upgraded; `leftover` is the connection's read buffer, holding
    /// the bytes that arrived behind the upgrade request.
    pub(super) fn new(
        w: &'a Worker,
        stream: &'a Transport,
        handle: &'a ConnHandle,
        leftover: Vec<u8>,
        cfg: WsConfig,
    ) -> Driver<'a> {
        let machine_cfg = Config {
            max_message: cfg.max_message,
            ping_interval: cfg.ping_interval,
            deflate: cfg.deflate.is_some(),
        };
        Driver {
            w,
            stream,
            handle,
            conn: Connection::new(machine_cfg, w.now().0),
            buf: leftover,
            start: 0,
            writing: None,
            frames: Frames::default(),
            deflate: cfg.deflate,
            inflating: Inflating::default(),
            max_message: usize::try_from(cfg.max_message).unwrap_or(usize::MAX),
        }
    }

    /// permessage-deflate, if negotiated.
    pub(super) fn deflate(&self) -> Option<Deflate> {
        self.deflate
    }

    /// The worker the connection is on.
    pub(super) fn worker(&self) -> &'a Worker {
        self.w
    }

    /// Fails the connection (our close with `code`, no more reading) and finishes it.
    pub(super) async fn refuse(&mut self, code: CloseCode, reason: &str) -> Ending {
        self.conn.fail(code, reason, self.w.now().0);
        self.finish().await
    }

    /// Runs the connection until it ends, with nothing more to say.
    pub(super) async fn finish(&mut self) -> Ending {
        self.run(&mut Closing).await.unwrap_or(Ending::Failed)
    }

    /// Serves `ep` until the connection ends (`Some`), or `ep` stops ([`Flow::Stop`]:
    /// `None`, the connection goes on with the next endpoint).
    pub(super) async fn run(&mut self, ep: &mut impl Endpoint) -> Option<Ending> {
        let mut timer = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
        loop {
            let now = self.w.now().0;
            if self.decode(ep, now) == Flow::Stop {
                return None;
            }
            self.write_ready(ep, now);
            if let Some(ending) = self.conn.ending() {
                // TLS: the last frames (the close) may still wait encrypted for room.
                if self.stream.pending_out() {
                    let _ = tokio::time::timeout(LAST_FLUSH, self.stream.write_all(&[])).await;
                }
                return Some(ending);
            }
            let reading = self.conn.wants_read();
            let mut room = 0;
            if reading {
                if self.conn.poll_yield() {
                    // Reads found bytes waiting without ever yielding while the peer
                    // keeps sending: let the rest of the core run between batches.
                    yield_to_core().await;
                    continue;
                }
                room = self.make_room();
            }
            let deadline = [self.conn.poll_timeout(), ep.poll_timeout()].into_iter().flatten().min();
            if let Some(ms) = deadline {
                timer.as_mut().reset(tokio::time::Instant::from_std(self.w.instant_at(ms)));
            }
            let writing = self.writing.is_some() || !self.frames.is_empty() || self.stream.pending_out();
            let output = ep.output_wake().filter(|_| !writing && self.conn.may_send());
            let held = ep.held_wake().filter(|_| self.conn.is_read_paused());
            let (w, stream) = (self.w, self.stream);
            let wake = tokio::select! {
                res = stream.read_into(&mut self.buf, room, || w.read_buf()), if reading => Wake::Read(res),
                res = stream.writable(), if writing => Wake::Writable(res),
                () = timer.as_mut(), if deadline.is_some() => Wake::Timer,
                () = self.handle.close.notified() => Wake::Shutdown,
                () = notified(output), if output.is_some() => Wake::Output,
                () = notified(held), if held.is_some() => Wake::Room,
            };
            let now = self.w.now().0;
            match wake {
                Wake::Read(Ok(0) | Err(_)) => self.conn.handle_eof(now),
                Wake::Read(Ok(n)) => {
                    self.conn.handle_bytes_in(n, room, now);
                    self.w.stats().bytes_in(n);
                }
                Wake::Writable(Ok(())) | Wake::Output => {}
                Wake::Writable(Err(_)) => self.write_failed(),
                Wake::Timer => {
                    self.conn.handle_timeout(now);
                    if ep.poll_timeout().is_some_and(|at| at <= now) {
                        ep.handle_timeout(&mut self.conn, now);
                    }
                }
                Wake::Shutdown => self.conn.close(CloseCode::GOING_AWAY, "server shutting down"),
                Wake::Room => match ep.retry(&mut self.conn, now) {
                    Flow::Go => self.conn.resume_reading(now),
                    Flow::Hold => {}
                    Flow::Stop => return None,
                },
            }
        }
    }

    /// Hands the endpoint every event in what is buffered, until more bytes are needed,
    /// reading is over, or the endpoint holds or stops.
    fn decode(&mut self, ep: &mut impl Endpoint, now: u64) -> Flow {
        while !self.conn.is_read_paused() {
            let read = self.conn.handle_read(&mut self.buf[self.start..], now);
            self.start += read.consumed;
            let (chunk, inflated) = match read.event {
                Some(Event::Data { kind, payload, first, last, compressed: false }) => {
                    (Chunk { kind, payload, first, last }, false)
                }
                // A compressed message goes to the endpoint whole, once inflated.
                Some(Event::Data { kind, payload, first, last, compressed: true }) => {
                    let (inflating, max) = (&mut self.inflating, self.max_message);
                    let text = kind == MessageKind::Text;
                    match with_codec(|codec| inflating.push(codec, text, payload, (first, last), max)) {
                        Ok(Some(message)) => {
                            (Chunk { kind, payload: message, first: true, last: true }, true)
                        }
                        Ok(None) => continue,
                        Err(e) => {
                            self.inflating.release();
                            self.conn.fail(e.close_code(), e.reason(), now);
                            continue;
                        }
                    }
                }
                // Control frames are the machine's, answered already; data after our
                // close was skipped.
                Some(_) => continue,
                None if read.consumed > 0 => continue,
                None => break,
            };
            let flow = ep.handle_data(&mut self.conn, chunk, now);
            if inflated {
                // Taken by the endpoint (or copied, if held): an idle connection keeps
                // no message buffers.
                self.inflating.release();
            }
            match flow {
                Flow::Go => {}
                Flow::Hold => {
                    self.conn.pause_reading(now);
                    if self.start == self.buf.len() {
                        self.make_room();
                    }
                }
                Flow::Stop => return Flow::Stop,
            }
        }
        Flow::Go
    }

    /// Drops what is decoded; gives the buffer back to the worker when nothing is left
    /// in it (an idle client holds none). The room for the next read (a buffer is
    /// taken only once the socket is readable).
    fn make_room(&mut self) -> usize {
        self.buf.drain(..self.start);
        self.start = 0;
        if self.buf.is_empty() {
            self.w.give_read_buf(std::mem::take(&mut self.buf));
        }
        let spare = self.buf.capacity() - self.buf.len();
        if spare >= Decoder::MIN_BUFFER {
            spare
        } else {
            READ_BUF
        }
    }

    /// Writes what the machine and then the endpoint hand out until the socket is full:
    /// non-blocking `writev(2)`s, each frame resumed where the last write left it.
    fn write_ready(&mut self, ep: &mut impl Endpoint, now: u64) {
        loop {
            if self.writing.is_none() && self.frames.is_empty() && !self.next_output(ep) {
                // Nothing new to write: encrypted frames the socket did not take yet (TLS)
                // still have to go.
                if self.stream.pending_out() {
                    match self.stream.try_writev(&[]) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            self.conn.handle_write_blocked(now)
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => self.write_failed(),
                    }
                }
                return;
            }
            let written = match &self.writing {
                Some(current) => match current.out.bytes().get(current.sent..).unwrap_or_default() {
                    [] => Ok(0),
                    rest => self.stream.try_writev(&[IoSlice::new(rest)]),
                },
                None => self.frames.write(self.stream),
            };
            match written {
                Ok(n) => {
                    self.w.stats().bytes_out(n);
                    self.advance(n, now);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.conn.handle_write_blocked(now);
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return self.write_failed(),
            }
        }
    }

    /// Takes the next thing to write: the machine's next frame, else the endpoint's
    /// output (or the close it queued instead). `false`: nothing to write.
    fn next_output(&mut self, ep: &mut impl Endpoint) -> bool {
        if let Some(out) = self.conn.poll_transmit() {
            self.writing = Some(Writing { out, sent: 0 });
            return true;
        }
        if !self.conn.may_send() {
            return false;
        }
        ep.poll_output(&mut self.conn, &mut self.frames);
        if self.frames.is_empty() {
            self.writing = self.conn.poll_transmit().map(|out| Writing { out, sent: 0 });
        }
        self.writing.is_some() || !self.frames.is_empty()
    }

    /// `n` bytes of what is being written went out.
    fn advance(&mut self, n: usize, now: u64) {
        let Some(current) = self.writing.as_mut() else {
            self.frames.advance(n);
            self.conn.handle_write_progress();
            return;
        };
        current.sent += n;
        if current.sent < current.out.bytes().len() {
            self.conn.handle_write_progress();
        } else if let Some(Writing { out, .. }) = self.writing.take() {
            note_close(self.stream, &out);
            self.conn.handle_written(out, now);
        }
    }

    /// The socket failed: the peer is gone.
    fn write_failed(&mut self) {
        match self.writing.take() {
            Some(Writing { out, .. }) => {
                note_close(self.stream, &out);
                self.conn.handle_write_error(out);
            }
            None => {
                self.frames.clear();
                self.conn.handle_write_failed();
            }
        }
    }
}

/// Waits for `notify`, forever if there is none.
async fn notified(notify: Option<&Notify>) {
    match notify {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// Notes a close frame for the access log once it was (or failed to be) written.
fn note_close(stream: &Transport, out: &Out) {
    if let Out::Close { frame, ours } = out {
        stream.tally.close_written(frame.payload(), *ours);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::{Pool, PoolConfig};

    fn shared(pool: &Pool, bytes: &[u8]) -> Buf {
        let mut b = pool.try_alloc().expect("a buffer");
        assert_eq!(b.extend_from_slice(bytes), bytes.len());
        b.freeze()
    }

    fn queued(frames: &Frames) -> Vec<u8> {
        let mut all: Vec<u8> = frames.bytes().flatten().copied().collect();
        all.drain(..frames.sent);
        all
    }

    #[test]
    fn frames_go_out_in_order_however_the_writes_split_them() {
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let want = b"HEAD-payload-{gap}-whole-{exit}".to_vec();
        for split in 1..=want.len() {
            let mut frames = Frames::default();
            frames.message(|b| b.extend_from_slice(b"HEAD-"));
            frames.shared(shared(&pool, b"payload-"));
            frames.message(|b| b.extend_from_slice(b"{gap}-"));
            frames.message(|_| {});
            frames.shared(shared(&pool, b"whole-"));
            frames.message(|b| b.extend_from_slice(b"{exit}"));
            assert_eq!(queued(&frames), want);
            let mut out = Vec::new();
            while !frames.is_empty() {
                let n = queued(&frames).len().min(split);
                out.extend_from_slice(&queued(&frames)[..n]);
                frames.advance(n);
                assert_eq!(out.len() + queued(&frames).len(), want.len(), "split {split}");
            }
            assert_eq!(out, want, "split {split}");
            assert!(frames.messages.is_empty() && frames.messages.capacity() > 0, "kept for the next");
        }
    }
}
