//! A WebSocket connection on a worker, after the `101`: the connection's own task reads
//! and feeds the sans-IO decoder; a writer task owns every send (replies, pongs, pings,
//! the close frame). They meet in an [`Outbox`], which is bounded: a peer that sends
//! faster than it reads stops being read.
//!
//! Reads are never raced in `select!` (a dropped tokio-uring read loses its data): the
//! writer ends a connection by `shutdown(2)`, which completes the reader's pending read.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::time::timeout;
use tokio_uring::buf::BoundedBuf;

use super::conn::Stream;
use super::worker::{ConnHandle, Worker};
use crate::ws::{self, CloseCode, ControlFrame, Decoder, Event, MessageKind, OpCode, Role};

/// Socket read buffer per WebSocket connection.
const READ_BUF: usize = 64 * 1024;
/// Headroom kept in front of an assembled message for its frame header.
const HEADROOM: usize = ws::FrameHeader::MAX_SERVER_LEN;
/// The reader waits while more than this is queued for the writer.
const OUTBOX_LIMIT: usize = 1024 * 1024;
/// Message buffers larger than this are not kept for reuse.
const KEEP_SPARE_UP_TO: usize = 1024 * 1024;
/// How long a server-initiated close waits for the peer's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// A write that makes no progress for this long means the peer is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Limits of one WebSocket endpoint.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    pub max_message: u64,
    /// Server pings (`-P`); `None` disables pings and dead-peer detection.
    pub ping_interval: Option<Duration>,
}

/// How the WebSocket ended, for the connection's final close.
pub enum Ending {
    /// Close handshake done or the peer is gone: close the socket now.
    Done,
    /// We failed the connection (protocol error): linger so our close frame arrives.
    Failed,
}

/// A frame waiting for the writer.
enum Out {
    /// A frame assembled in a `Vec`: its bytes from `start` on.
    Frame {
        buf: Vec<u8>,
        start: usize,
    },
    Control(ControlFrame),
    /// The last frame: nothing is sent after it. `ours` if we initiated the close.
    Close {
        frame: ControlFrame,
        ours: bool,
    },
}

impl Out {
    fn len(&self) -> usize {
        match self {
            Out::Frame { buf, start } => buf.len() - start,
            Out::Control(f) | Out::Close { frame: f, .. } => f.as_bytes().len(),
        }
    }
}

/// The queue between a connection's reader and its writer.
struct Outbox {
    queue: RefCell<VecDeque<Out>>,
    queued: Cell<usize>,
    /// Wakes the writer: something was queued.
    more: Notify,
    /// Wakes the reader: the queue fell under its limit.
    room: Notify,
    /// A close frame is queued or sent: nothing else may be queued.
    closing: Cell<bool>,
    /// The reader has stopped: the writer ends once the queue is empty.
    reader_done: Cell<bool>,
    /// The close frame has been written.
    close_sent: Cell<bool>,
    last_rx: Cell<Instant>,
    /// Message buffers the writer has sent, for the reader to reuse.
    spare: RefCell<Vec<Vec<u8>>>,
}

impl Outbox {
    fn push(&self, out: Out) {
        if self.closing.get() {
            return;
        }
        if matches!(out, Out::Close { .. }) {
            self.closing.set(true);
        }
        self.queued.set(self.queued.get() + out.len());
        self.queue.borrow_mut().push_back(out);
        self.more.notify_one();
    }

    fn close(&self, code: Option<CloseCode>, reason: &str, ours: bool) {
        self.push(Out::Close { frame: ControlFrame::close(code, reason), ours });
    }

    fn pop(&self) -> Option<Out> {
        let out = self.queue.borrow_mut().pop_front()?;
        self.queued.set(self.queued.get() - out.len());
        if self.queued.get() <= OUTBOX_LIMIT {
            self.room.notify_one();
        }
        Some(out)
    }

    fn spare_buffer(&self) -> Vec<u8> {
        self.spare.borrow_mut().pop().unwrap_or_default()
    }

    fn recycle(&self, mut buf: Vec<u8>) {
        if buf.capacity() <= KEEP_SPARE_UP_TO {
            buf.clear();
            self.spare.borrow_mut().push(buf);
        }
    }
}

/// Serves the echo endpoint: every message comes back as one frame of the same type.
/// `leftover` holds bytes that arrived behind the upgrade request.
pub async fn serve_echo(
    w: &Rc<Worker>,
    stream: &Rc<Stream>,
    handle: &Rc<ConnHandle>,
    leftover: &[u8],
    cfg: WsConfig,
) -> Ending {
    let outbox = Rc::new(Outbox {
        queue: RefCell::new(VecDeque::with_capacity(8)),
        queued: Cell::new(0),
        more: Notify::new(),
        room: Notify::new(),
        closing: Cell::new(false),
        reader_done: Cell::new(false),
        close_sent: Cell::new(false),
        last_rx: Cell::new(Instant::now()),
        spare: RefCell::new(Vec::with_capacity(2)),
    });
    let writer =
        tokio_uring::spawn(write_loop(w.clone(), stream.clone(), handle.clone(), outbox.clone(), cfg));
    let ending = read_loop(w, stream, &outbox, leftover, cfg).await;
    outbox.reader_done.set(true);
    outbox.more.notify_one();
    let mut writer = writer;
    if outbox.close_sent.get() {
        // Our close went out and the peer answered (or left): the writer is only
        // guarding the wait for that answer.
        writer.abort();
    } else if timeout(CLOSE_WAIT + WRITE_TIMEOUT, &mut writer).await.is_err() {
        // It sends what is queued, the close frame last, unless the peer stopped reading.
        writer.abort();
    }
    ending
}

async fn read_loop(w: &Worker, stream: &Stream, outbox: &Outbox, leftover: &[u8], cfg: WsConfig) -> Ending {
    let mut buf = Vec::with_capacity(READ_BUF.max(leftover.len()));
    buf.extend_from_slice(leftover);
    let mut decoder = Decoder::new(Role::Server, cfg.max_message);
    let mut msg = outbox.spare_buffer();
    loop {
        let mut start = 0;
        loop {
            let decoded = match decoder.decode(&mut buf[start..]) {
                Ok(d) => d,
                Err(e) => {
                    outbox.close(Some(e.close_code()), e.reason(), true);
                    return Ending::Failed;
                }
            };
            start += decoded.consumed;
            let Some(event) = decoded.event else { break };
            match event {
                Event::Data { kind, payload, first, last } => {
                    if first {
                        msg.clear();
                        msg.resize(HEADROOM, 0);
                    }
                    msg.extend_from_slice(payload);
                    if last {
                        let opcode = match kind {
                            MessageKind::Text => OpCode::Text,
                            MessageKind::Binary => OpCode::Binary,
                        };
                        // HEADROOM always fits the header: the frame is built in place.
                        let frame_start = ws::write_header_in_headroom(&mut msg, HEADROOM, true, opcode)
                            .unwrap_or_default();
                        let full = std::mem::replace(&mut msg, outbox.spare_buffer());
                        outbox.push(Out::Frame { buf: full, start: frame_start });
                    }
                }
                Event::Ping(payload) => outbox.push(Out::Control(ControlFrame::pong(payload))),
                Event::Pong(_) => {}
                Event::Close { code, .. } => {
                    // §5.5.1: answer with a close, echoing the code; we close TCP first.
                    outbox.close(code, "", false);
                    return Ending::Done;
                }
            }
        }
        buf.drain(..start);
        while outbox.queued.get() > OUTBOX_LIMIT && !outbox.closing.get() {
            outbox.room.notified().await;
        }
        let len = buf.len();
        let (res, slice) = stream.read(buf.slice(len..READ_BUF.max(len + 1))).await;
        buf = slice.into_inner();
        match res {
            Ok(0) | Err(_) => return Ending::Done,
            Ok(n) => {
                outbox.last_rx.set(Instant::now());
                w.stats().bytes_in(n);
            }
        }
    }
}

async fn write_loop(
    w: Rc<Worker>,
    stream: Rc<Stream>,
    handle: Rc<ConnHandle>,
    outbox: Rc<Outbox>,
    cfg: WsConfig,
) {
    let mut ticker = cfg.ping_interval.map(|p| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut control = Vec::with_capacity(2 + 125);
    loop {
        let Some(out) = outbox.pop() else {
            if outbox.reader_done.get() {
                return;
            }
            tokio::select! {
                _ = outbox.more.notified() => {}
                _ = handle.close.notified() => outbox.close(Some(CloseCode::GOING_AWAY), "server shutting down", true),
                _ = tick(&mut ticker) => {
                    let interval = cfg.ping_interval.unwrap_or_default();
                    if outbox.last_rx.get().elapsed() > 2 * interval {
                        // Nothing heard for two intervals, pongs included: hang up.
                        crate::sys::shutdown(handle.fd);
                        return;
                    }
                    outbox.push(Out::Control(ControlFrame::ping(b"")));
                }
            }
            continue;
        };
        // Control frames go through the writer's own small buffer; message buffers go
        // back to the reader for reuse. Either way nothing is allocated per frame.
        let (buf, start, from_reader, close) = match out {
            Out::Frame { buf, start } => (buf, start, true, None),
            Out::Control(f) => (refill(&mut control, &f), 0, false, None),
            Out::Close { frame, ours } => (refill(&mut control, &frame), 0, false, Some(ours)),
        };
        let n = buf.len() - start;
        let Ok((res, slice)) = timeout(WRITE_TIMEOUT, stream.write_all(buf.slice(start..))).await else {
            crate::sys::shutdown(handle.fd);
            return;
        };
        let buf = slice.into_inner();
        if res.is_err() {
            crate::sys::shutdown(handle.fd);
            return;
        }
        w.stats().bytes_out(n);
        if from_reader {
            outbox.recycle(buf);
        } else {
            control = buf;
        }
        let Some(ours) = close else { continue };
        outbox.close_sent.set(true);
        if ours && !outbox.reader_done.get() {
            // We closed first and the reader waits for the peer's close: bound the wait.
            tokio::time::sleep(CLOSE_WAIT).await;
            crate::sys::shutdown(handle.fd);
        }
        return;
    }
}

fn refill(control: &mut Vec<u8>, frame: &ControlFrame) -> Vec<u8> {
    let mut buf = std::mem::take(control);
    buf.clear();
    buf.extend_from_slice(frame.as_bytes());
    buf
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
