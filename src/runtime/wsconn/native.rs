//! A WebSocket connection on a worker, after the `101`: a reader feeds the sans-IO
//! decoder; a writer owns every send (replies, pongs, pings, the close frame). Both run
//! side by side in the connection's one task ([`side_by_side`]): one future per client,
//! not two tasks. They meet in an [`Outbox`], which is bounded by memory: a peer that
//! sends faster than it reads stops being read.
//!
//! Reads are readiness-based (see `transport::Transport`): an idle client holds no read buffer.
//! The writer ends a connection by `shutdown(2)`, which wakes the reader with EOF; when
//! either side ends, the other ends with it.

use std::borrow::Cow;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::Notify;
use tokio::time::timeout;

use std::sync::atomic::Ordering::Relaxed;

pub(super) use super::outbox::{Out, Outbox, Refusal};
use crate::buf::Buf;
use crate::protocol::ClientMsg;
use crate::runtime::transport::Transport as Stream;
use crate::runtime::worker::{yield_to_core, ConnHandle, Live, Worker, READ_BUF};
use crate::session::{ClientId, Outgoing, SessionError};
use crate::ws::{CloseCode, ControlFrame, Decoder, Event, MessageKind, Role};

// The close wait, the write timeout and the read batch after which a reader yields
// are the connection machine's (and documented there).
pub(super) use crate::ws::connection::WRITE_TIMEOUT;
use crate::ws::connection::{CLOSE_WAIT, READ_BATCH};
/// Input is queued for the PTY in pieces of at most this size (the input queue takes
/// a piece whole or not at all, and a message may be larger than the queue).
const INPUT_PIECE: usize = READ_BUF;

pub use super::driver::WsConfig;
/// How the WebSocket ended, for the connection's final close.
pub use crate::ws::connection::Ending;

/// Serves the echo endpoint: every message comes back as one frame of the same type.
/// `leftover` is the connection's read buffer, holding the bytes that arrived behind the
/// upgrade request.
pub async fn serve_echo(
    w: &Rc<Worker>,
    stream: &Rc<Stream>,
    handle: &Rc<ConnHandle>,
    leftover: Vec<u8>,
    cfg: WsConfig,
) -> Ending {
    super::driver::drive(w, stream, handle, leftover, cfg, |conn, kind, payload, first, last| {
        conn.echo(kind, payload, first, last)
    })
    .await
}

/// Runs a connection's reader and writer in the calling task until the reader ends,
/// then lets the writer send what is queued (the close frame last), bounded; if our
/// close already went out, the writer is only guarding the wait for the peer's answer,
/// which the reader has seen (or the peer left), and is dropped.
///
/// The writer ends first only when the connection is over (a write failed or timed
/// out, a silent peer was hung up on, our close went out and its wait is over): then
/// the reader is dropped wherever it waits — for room in the outbox (which only the
/// writer makes), for the terminal to take input — and the connection ends.
///
/// Both futures are pinned where they were made and only borrowed here: a future
/// passed by value is stored once more in every async fn it passes through, and these
/// are most of an idle connection's memory.
pub(super) async fn side_by_side<R, W>(
    outbox: &Outbox,
    mut reader: Pin<&mut R>,
    mut writer: Pin<&mut W>,
) -> Ending
where
    R: Future<Output = Ending>,
    W: Future<Output = ()>,
{
    let ending = tokio::select! {
        ending = reader.as_mut() => ending,
        () = writer.as_mut() => return Ending::Done,
    };
    outbox.reader_done.set(true);
    outbox.more.notify_one();
    if !outbox.close_sent.get() {
        let _ = timeout(CLOSE_WAIT + WRITE_TIMEOUT, writer).await;
    }
    ending
}

/// The receive side shared by every WebSocket endpoint: the read buffer, the decoder,
/// and the reads. The buffer is the worker's while nothing is half read: an idle client
/// holds none.
pub(super) struct Reader<'a> {
    w: &'a Worker,
    stream: &'a Stream,
    outbox: &'a Outbox,
    buf: Vec<u8>,
    /// Decoded up to here.
    start: usize,
    decoder: Decoder,
    /// Bytes read in full reads since the reader last let other tasks run or found the
    /// socket empty.
    unyielded: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(
        w: &'a Worker,
        stream: &'a Stream,
        outbox: &'a Outbox,
        leftover: Vec<u8>,
        cfg: WsConfig,
    ) -> Reader<'a> {
        // The connection's HTTP read buffer, holding what arrived behind the upgrade
        // request, is read first; `fill` trades it for one of the worker's once empty.
        Reader {
            w,
            stream,
            outbox,
            buf: leftover,
            start: 0,
            decoder: Decoder::new(Role::Server, cfg.max_message),
            unyielded: 0,
        }
    }

    pub(super) fn outbox(&self) -> &'a Outbox {
        self.outbox
    }

    /// The next event from what is buffered; `None` when more bytes are needed. On a
    /// protocol error our close (with its code) is queued and the error returned.
    pub(super) fn next_event(&mut self) -> Result<Option<Event<'_>>, Ending> {
        match self.decoder.decode(&mut self.buf[self.start..]) {
            Ok(decoded) => {
                self.start += decoded.consumed;
                Ok(decoded.event)
            }
            Err(e) => {
                self.outbox.close(Some(e.close_code()), e.reason(), true);
                Err(Ending::Failed)
            }
        }
    }

    /// Reads more, once the writer has room (a peer that does not read its replies is
    /// not read either). `Err` when the peer is gone.
    pub(super) async fn fill(&mut self) -> Result<(), Ending> {
        self.buf.drain(..self.start);
        self.start = 0;
        self.outbox.room().await;
        if self.unyielded >= READ_BATCH {
            // A read finds bytes waiting without ever yielding while the peer keeps
            // sending: let the rest of the core run between batches.
            self.unyielded = 0;
            yield_to_core().await;
        }
        if self.buf.is_empty() {
            self.w.give_read_buf(std::mem::take(&mut self.buf));
        }
        let spare = self.buf.capacity() - self.buf.len();
        let room = if spare >= Decoder::MIN_BUFFER { spare } else { READ_BUF };
        // Only once the socket is readable does the reader take a buffer.
        let w = self.w;
        let res = self.stream.read_into(&mut self.buf, room, || w.read_buf()).await;
        match res {
            Ok(0) | Err(_) => Err(Ending::Done),
            Ok(n) => {
                // A short read emptied the socket: the next one waits for the peer.
                self.unyielded = if n < room { 0 } else { self.unyielded + n };
                self.outbox.last_rx.set(Instant::now());
                self.w.stats().bytes_in(n);
                Ok(())
            }
        }
    }
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Serves a native-protocol client of a session (SPEC §4): `hello` first, then the
/// session's output from its cursor (shared frames, never copied), `gap`/`resize`/`exit`
/// control messages; binary frames from the client are input, text frames are JSON
/// control messages (`resize`, `ack`). `may_write`: the principal's mode allows typing.
#[allow(clippy::too_many_arguments)]
pub async fn serve_session(
    w: &Rc<Worker>,
    stream: &Rc<Stream>,
    handle: &Rc<ConnHandle>,
    leftover: Vec<u8>,
    cfg: WsConfig,
    live: Rc<Live>,
    (since, may_write): (Option<u64>, bool),
) -> Ending {
    let Some(slot) = ClientSlot::claim(w) else {
        return refuse(w, stream, CloseCode::TRY_AGAIN_LATER, "too many clients (-m)").await;
    };
    // Typing needs both the server's -W and a principal that may write (`ro` never).
    let writable = w.cfg.terminal.writable && may_write;
    let attached = live.state.borrow_mut().attach(w.now(), writable, since);
    let (client, hello) = match attached {
        Ok(a) => a,
        Err(e) => {
            let code = e.close_code().unwrap_or(CloseCode::POLICY_VIOLATION);
            return refuse(w, stream, code, &e.to_string()).await;
        }
    };
    w.stats().client_attached();
    live.flow_changed();
    let outbox = Outbox::new();
    let mut hello_frame = outbox.spare_buffer();
    hello.msg().encode_frame(&mut hello_frame);
    outbox.push(Out::Frame { buf: hello_frame, start: 0 });
    let writable = hello.writable;
    let reader = pin!(session_reader(w, stream, &outbox, leftover, cfg, &live, (client, writable)));
    let ending = serve_attached(w, stream, handle, &outbox, cfg, &live, client, reader).await;
    drop(slot);
    ending
}

/// A place under `-m/--max-clients` (counted in any case, for `-q`); given back, with
/// the `-q` check, when dropped.
pub(super) struct ClientSlot<'w>(&'w Worker);

impl<'w> ClientSlot<'w> {
    pub(super) fn claim(w: &'w Worker) -> Option<ClientSlot<'w>> {
        let max_clients = w.cfg.terminal.max_clients;
        if w.shared.clients.fetch_add(1, Relaxed) >= max_clients && max_clients > 0 {
            w.shared.clients.fetch_sub(1, Relaxed);
            return None;
        }
        Some(ClientSlot(w))
    }
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        self.0.shared.clients.fetch_sub(1, Relaxed);
        self.0.stop_if_no_conn();
    }
}

/// Serves an attached client of a session: the endpoint's `reader` and the session
/// writer (what is queued in `outbox` first, then the session's output from the
/// client's cursor) side by side; then detaches the client (which may start the
/// session's detach timer, or kill a ttyd session's process).
#[allow(clippy::too_many_arguments)]
pub(super) async fn serve_attached(
    w: &Worker,
    stream: &Stream,
    handle: &ConnHandle,
    outbox: &Outbox,
    cfg: WsConfig,
    live: &Live,
    client: ClientId,
    reader: Pin<&mut impl Future<Output = Ending>>,
) -> Ending {
    let (key, wake) = live.add_writer(client);
    let writer = pin!(session_writer(w, stream, handle, outbox, cfg, live, client, &wake));
    let ending = side_by_side(outbox, reader, writer).await;
    live.remove_writer(key);
    detach(w, live, client);
    ending
}

fn detach(w: &Worker, live: &Live, client: ClientId) {
    let actions = live.state.borrow_mut().detach(client, w.now());
    live.apply(w, actions);
    live.flow_changed();
    let ended = live.state.borrow().status() != crate::session::Status::Running;
    if ended && live.state.borrow().client_count() == 0 {
        w.stop_if_once("the session ended and its last client left");
    }
    w.stats().client_detached();
}

/// Closes a just-upgraded connection with `code` before any session traffic.
pub(super) async fn refuse(w: &Worker, stream: &Stream, code: CloseCode, reason: &str) -> Ending {
    let frame = ControlFrame::close(Some(code), reason);
    stream.tally.close_written(frame.payload(), true);
    let _ = timeout(WRITE_TIMEOUT, stream.write_all(frame.as_bytes().to_vec())).await;
    w.stats().bytes_out(frame.as_bytes().len());
    Ending::Failed
}

async fn session_reader(
    w: &Worker,
    stream: &Stream,
    outbox: &Outbox,
    leftover: Vec<u8>,
    cfg: WsConfig,
    live: &Live,
    (client, writable): (ClientId, bool),
) -> Ending {
    let mut reader = Reader::new(w, stream, outbox, leftover, cfg);
    let mut control: Vec<u8> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let event = match reader.next_event() {
            Ok(Some(event)) => event,
            Ok(None) => match reader.fill().await {
                Ok(()) => continue,
                Err(ending) => return ending,
            },
            Err(ending) => return ending,
        };
        let result = match event {
            Event::Data { kind: MessageKind::Binary, payload, first, last } => {
                match whole_input(&mut pending, payload, first, last, writable) {
                    Some(message) => input(w, live, client, &message).await,
                    None => Ok(()),
                }
            }
            Event::Data { kind: MessageKind::Text, payload, first, last } => {
                if first {
                    control.clear();
                }
                if control.len() + payload.len() > crate::protocol::MAX_CONTROL_LEN {
                    Err((CloseCode::MESSAGE_TOO_BIG, "control message too long"))
                } else {
                    control.extend_from_slice(payload);
                    if last {
                        control_message(w, live, client, &control)
                    } else {
                        Ok(())
                    }
                }
            }
            other => match outbox.answer_control(&other) {
                Some(ending) => return ending,
                None => Ok(()),
            },
        };
        if let Err(refusal) = result {
            return outbox.fail(refusal);
        }
    }
}

/// Terminal input arrives as chunks of a message; it is typed once the message is
/// whole, so that a message over the limit (all its fragments together, checked by the
/// decoder on each fragment's header) is refused with nothing of it typed, whether or
/// not the terminal is reading. `Some` with the whole message on its last chunk; a
/// message in one chunk (the usual case) is not copied. Nothing is collected for a
/// client that may not type (its input is dropped anyway), and the buffer is given up
/// after each message: an idle client holds none.
pub(super) fn whole_input<'a>(
    pending: &mut Vec<u8>,
    chunk: &'a [u8],
    first: bool,
    last: bool,
    writable: bool,
) -> Option<Cow<'a, [u8]>> {
    if !writable {
        return None;
    }
    if first && last {
        return Some(Cow::Borrowed(chunk));
    }
    if first {
        pending.clear();
    }
    pending.extend_from_slice(chunk);
    last.then(|| Cow::Owned(std::mem::take(pending)))
}

/// Terminal input from a client: queued for the PTY in pieces; a full queue is waited
/// out (the socket is not read meanwhile), a read-only client's keystrokes are dropped.
pub(super) async fn input(w: &Worker, live: &Live, client: ClientId, data: &[u8]) -> Result<(), Refusal> {
    if data.is_empty() {
        // Still input: it makes its sender the driver.
        return input_piece(w, live, client, data).await;
    }
    for piece in data.chunks(INPUT_PIECE) {
        input_piece(w, live, client, piece).await?;
    }
    Ok(())
}

async fn input_piece(w: &Worker, live: &Live, client: ClientId, data: &[u8]) -> Result<(), Refusal> {
    loop {
        let queued = live.changing_driver(|s| s.input(client, data, w.now()));
        match queued {
            Ok(size) => {
                if let Some(size) = size {
                    live.apply_size(size);
                }
                w.stats().input(data.len());
                live.input_queued();
                return Ok(());
            }
            Err(SessionError::InputFull) => {
                // Register for the drain before asking for it, so it cannot be missed.
                let drained = live.input_drained.notified();
                tokio::pin!(drained);
                drained.as_mut().enable();
                live.input_queued();
                drained.await;
                if live.is_removed() {
                    return Err((CloseCode::GOING_AWAY, "session ended"));
                }
                if live.state.borrow().status() != crate::session::Status::Running {
                    // The command has ended: its terminal takes no more input.
                    return Ok(());
                }
            }
            Err(e) => {
                return match e.close_code() {
                    Some(code) => Err((code, "input refused")),
                    None => Ok(()),
                }
            }
        }
    }
}

fn control_message(w: &Worker, live: &Live, client: ClientId, msg: &[u8]) -> Result<(), Refusal> {
    let parsed = ClientMsg::parse(msg).map_err(|e| (e.close_code(), "invalid control message"))?;
    let now = w.now();
    let result = match parsed {
        ClientMsg::Resize(size) => live.changing_driver(|s| s.resize(client, size, now)).map(|applied| {
            if let Some(size) = applied {
                live.apply_size(size);
            }
        }),
        ClientMsg::Ack { offset } => live.state.borrow_mut().ack(client, offset, now),
    };
    live.flow_changed();
    match result {
        Ok(()) => Ok(()),
        Err(e) => match e.close_code() {
            Some(code) => Err((code, "ack beyond the output sent")),
            None => Ok(()),
        },
    }
}

#[allow(clippy::too_many_arguments)]
async fn session_writer(
    w: &Worker,
    stream: &Stream,
    handle: &ConnHandle,
    outbox: &Outbox,
    cfg: WsConfig,
    live: &Live,
    client: ClientId,
    wake: &Notify,
) {
    let ttyd = live.state.borrow().config().dialect == crate::session::Dialect::Ttyd;
    let mut ticker = ping_ticker(cfg);
    // Grown on use, not up front: most clients of idle sessions never batch much.
    let mut batch: Vec<Outgoing> = Vec::new();
    let mut iov: Vec<Buf> = Vec::new();
    let mut scratch: Vec<u8> = Vec::new();
    loop {
        // Control frames (hello, pongs, the close) go first.
        if let Some(out) = outbox.pop() {
            match send_out(w, stream, handle, outbox, out).await {
                Sent::More => continue,
                Sent::Stop => return,
            }
        }
        if outbox.reader_done.get() {
            // The peer is gone or closed: nothing more is worth sending.
            return;
        }
        if outbox.closing() {
            outbox.more.notified().await;
            continue;
        }
        batch.clear();
        if live.state.borrow_mut().poll_send(client, &mut batch) {
            live.flow_changed();
        }
        if batch.is_empty() {
            if live.is_failed() {
                outbox.close(Some(CloseCode::INTERNAL_ERROR), "session failed", true);
                continue;
            }
            if live.is_removed() {
                outbox.close(Some(CloseCode::NORMAL), "session removed", true);
                continue;
            }
            tokio::select! {
                _ = outbox.more.notified() => {}
                _ = wake.notified() => {}
                _ = handle.close.notified() => outbox.close(Some(CloseCode::GOING_AWAY), "server shutting down", true),
                _ = tick(&mut ticker) => {
                    if !ping_or_hang_up(outbox, handle, cfg) {
                        return;
                    }
                }
            }
            continue;
        }
        for item in batch.drain(..) {
            let sent = match item {
                Outgoing::Frame(frame) => {
                    iov.push(frame);
                    Ok(())
                }
                Outgoing::Partial { head, payload } => {
                    let flushed = flush(w, stream, &mut iov).await;
                    iov.push(payload);
                    match flushed {
                        Ok(()) => write_bytes(w, stream, head.as_slice()).await,
                        Err(e) => Err(e),
                    }
                }
                other => {
                    let flushed = flush(w, stream, &mut iov).await;
                    if let Outgoing::Gap { .. } = other {
                        w.stats().gap();
                        live.nudge();
                    }
                    if let Outgoing::Exit(status) = other {
                        // ttyd has no exit message: the close code says how it ended.
                        let code = match ttyd {
                            true if status.code != Some(0) => CloseCode::INTERNAL_ERROR,
                            _ => CloseCode::NORMAL,
                        };
                        outbox.close(Some(code), "", true);
                    }
                    scratch.clear();
                    if let (Some(msg), false) = (other.control_msg(), ttyd) {
                        msg.encode_frame(&mut scratch);
                    }
                    match flushed {
                        Ok(()) => write_bytes(w, stream, &scratch).await,
                        Err(e) => Err(e),
                    }
                }
            };
            if sent.is_err() {
                handle.shutdown();
                return;
            }
        }
        if flush(w, stream, &mut iov).await.is_err() {
            handle.shutdown();
            return;
        }
    }
}

fn ping_ticker(cfg: WsConfig) -> Option<tokio::time::Interval> {
    cfg.ping_interval.map(|p| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    })
}

/// Queues a ping, or hangs up on a peer silent for two intervals. `false`: hung up.
fn ping_or_hang_up(outbox: &Outbox, handle: &ConnHandle, cfg: WsConfig) -> bool {
    let interval = cfg.ping_interval.unwrap_or_default();
    if outbox.last_rx.get().elapsed() > 2 * interval {
        handle.shutdown();
        return false;
    }
    outbox.push(Out::Control(Box::new(ControlFrame::ping(b""))));
    true
}

enum Sent {
    More,
    Stop,
}

/// Writes one outbox item; after a close frame, decides how the connection ends.
async fn send_out(w: &Worker, stream: &Stream, handle: &ConnHandle, outbox: &Outbox, out: Out) -> Sent {
    let sent = write_bytes(w, stream, out.bytes()).await;
    note_close(stream, &out);
    // Message buffers go back to the reader for reuse: nothing is allocated per frame.
    let close = outbox.written(out);
    if sent.is_err() {
        handle.shutdown();
        return Sent::Stop;
    }
    let Some(ours) = close else { return Sent::More };
    outbox.close_sent.set(true);
    if ours && !outbox.reader_done.get() {
        tokio::time::sleep(CLOSE_WAIT).await;
        handle.shutdown();
    }
    Sent::Stop
}

/// Notes a close frame for the access log once it was (or failed to be) written.
pub(super) fn note_close(stream: &Stream, out: &Out) {
    if let Out::Close { frame, ours } = out {
        stream.tally.close_written(frame.payload(), *ours);
    }
}

/// Sends the queued frames: a non-blocking `writev(2)` of up to `MAX_BATCH` shared
/// buffers first (one syscall, nothing allocated — tokio-uring's writev allocates its
/// iovec array per call); when the socket is full, the first buffer goes through an
/// io_uring write, which waits for room, and the rest follow.
async fn flush(w: &Worker, stream: &Stream, iov: &mut Vec<Buf>) -> std::io::Result<()> {
    const MAX_IOV: usize = crate::session::MAX_BATCH;
    while !iov.is_empty() {
        let written = {
            let mut slices = [std::io::IoSlice::new(&[]); MAX_IOV];
            let count = iov.len().min(MAX_IOV);
            for (slice, buf) in slices.iter_mut().zip(iov.iter()) {
                *slice = std::io::IoSlice::new(buf.as_slice());
            }
            stream.try_writev(&slices[..count])
        };
        match written {
            Ok(n) => {
                w.stats().bytes_out(n);
                advance(iov, n);
            }
            Err(e) => wait_for_room(stream, e).await?,
        }
    }
    Ok(())
}

/// Writes `bytes` whole, as [`flush`] writes buffers: non-blocking, waiting for room
/// when the socket is full (an io_uring write would keep a larger future per client).
pub(super) async fn write_bytes(w: &Worker, stream: &Stream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match stream.try_writev(&[std::io::IoSlice::new(bytes)]) {
            Ok(n) => {
                w.stats().bytes_out(n);
                bytes = &bytes[n..];
            }
            Err(e) => wait_for_room(stream, e).await?,
        }
    }
    Ok(())
}

/// After a failed non-blocking write: a full socket is waited out (readiness, no buffer
/// handed to the kernel and no allocation), at most [`WRITE_TIMEOUT`]; `EINTR` is
/// retried; anything else is the error.
async fn wait_for_room(stream: &Stream, e: std::io::Error) -> std::io::Result<()> {
    match e.kind() {
        std::io::ErrorKind::WouldBlock => match timeout(WRITE_TIMEOUT, stream.writable()).await {
            Ok(ready) => ready,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        },
        std::io::ErrorKind::Interrupted => Ok(()),
        _ => Err(e),
    }
}

/// Drops the first `n` bytes of the queued buffers: whole buffers leave the queue, a
/// buffer written in part becomes a view of its unsent tail (no copy).
fn advance(iov: &mut Vec<Buf>, mut n: usize) {
    let whole = iov
        .iter()
        .take_while(|b| {
            let fits = b.len() <= n;
            if fits {
                n -= b.len();
            }
            fits
        })
        .count();
    iov.drain(..whole);
    if n > 0 {
        if let Some(first) = iov.first_mut() {
            if let Some(tail) = first.view(n..) {
                *first = tail;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_handed_on_whole_and_only_for_a_client_that_may_type() {
        let mut pending = Vec::new();
        assert_eq!(whole_input(&mut pending, b"ab", true, true, true).as_deref(), Some(&b"ab"[..]));
        assert_eq!(pending.capacity(), 0, "a message in one chunk is not copied");
        assert_eq!(whole_input(&mut pending, b"ab", true, false, true), None);
        assert_eq!(whole_input(&mut pending, b"", false, false, true), None);
        assert_eq!(whole_input(&mut pending, b"cd", false, true, true).as_deref(), Some(&b"abcd"[..]));
        assert_eq!(pending.capacity(), 0, "the buffer is given up after the message");
        // A new message drops what a failed one left.
        whole_input(&mut pending, b"stale", true, false, true);
        assert_eq!(whole_input(&mut pending, b"new", true, true, true).as_deref(), Some(&b"new"[..]));
        assert_eq!(whole_input(&mut pending, b"x", true, false, true), None);
        assert_eq!(whole_input(&mut pending, b"y", false, true, true).as_deref(), Some(&b"xy"[..]));
        // Read-only: nothing is kept or handed on.
        assert_eq!(whole_input(&mut pending, b"ab", true, false, false), None);
        assert_eq!(whole_input(&mut pending, b"cd", false, true, false), None);
        assert!(pending.is_empty());
    }
}
