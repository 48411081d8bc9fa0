//! Drives a sans-IO [`ws::Connection`](crate::ws::Connection) over a connection's
//! socket: read → machine → write, in the connection's one task. Every rule (the close
//! handshake, pings and dead peers, the send queue's bound, when to read, when to
//! yield, when to give up) is the machine's; this file only does what it asks: reads
//! when it wants to read, writes what it hands out, and sleeps until its next deadline,
//! the socket's readiness or the server's shutdown.
//!
//! All socket IO is readiness-based and non-blocking, so one `select!` waits for any of
//! them and nothing is lost when another wins: a read takes its buffer (the worker's,
//! lent only once the socket is readable, so an idle client holds none) and reads
//! within one poll; a write that found the socket full resumes at the offset it reached.
//!
//! Today it serves the echo endpoint; the native and ttyd endpoints still run the
//! reader/writer pair of `ws.rs` (their input may wait for the terminal).

use std::io::IoSlice;
use std::time::Duration;

use crate::runtime::transport::Transport as Stream;
use crate::runtime::worker::{yield_to_core, ConnHandle, Worker, READ_BUF};
use crate::ws::connection::{Config, Connection, Ending, Out};
use crate::ws::{CloseCode, Decoder, Event, MessageKind};

/// Limits of one WebSocket endpoint.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    pub max_message: u64,
    /// Server pings (`-P`); `None` disables pings and dead-peer detection.
    pub ping_interval: Option<Duration>,
}

/// A frame being written and how much of it is out.
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
}

/// Serves a WebSocket with `on_data` as its endpoint: each data chunk the peer sends
/// (`kind`, payload, first, last) is handed to it with the connection, to answer with
/// [`Connection::send_frame`] or [`Connection::echo`]. `leftover` is the connection's
/// read buffer, holding the bytes that arrived behind the upgrade request.
pub(super) async fn drive<F>(
    w: &Worker,
    stream: &Stream,
    handle: &ConnHandle,
    leftover: Vec<u8>,
    cfg: WsConfig,
    mut on_data: F,
) -> Ending
where
    F: FnMut(&mut Connection, MessageKind, &[u8], bool, bool),
{
    let machine_cfg = Config { max_message: cfg.max_message, ping_interval: cfg.ping_interval };
    let mut conn = Connection::new(machine_cfg, w.now().0);
    let mut buf = leftover;
    // Decoded up to here.
    let mut start = 0;
    let mut writing: Option<Writing> = None;
    let mut timer = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        let now = w.now().0;
        loop {
            let read = conn.handle_read(&mut buf[start..], now);
            start += read.consumed;
            match read.event {
                Some(Event::Data { kind, payload, first, last }) => {
                    on_data(&mut conn, kind, payload, first, last)
                }
                // Control frames are the machine's, answered already.
                Some(_) => {}
                None => break,
            }
        }
        write_ready(w, stream, &mut conn, &mut writing, now);
        if let Some(ending) = conn.ending() {
            return ending;
        }
        let reading = conn.wants_read();
        let mut room = 0;
        if reading {
            if conn.poll_yield() {
                // Reads found bytes waiting without ever yielding while the peer keeps
                // sending: let the rest of the core run between batches.
                yield_to_core().await;
                continue;
            }
            buf.drain(..start);
            start = 0;
            if buf.is_empty() {
                w.give_read_buf(std::mem::take(&mut buf));
            }
            let spare = buf.capacity() - buf.len();
            room = if spare >= Decoder::MIN_BUFFER { spare } else { READ_BUF };
        }
        let deadline = conn.poll_timeout();
        if let Some(ms) = deadline {
            timer.as_mut().reset(tokio::time::Instant::from_std(w.instant_at(ms)));
        }
        let wake = tokio::select! {
            res = stream.read_into(&mut buf, room, || w.read_buf()), if reading => Wake::Read(res),
            res = stream.writable(), if writing.is_some() => Wake::Writable(res),
            () = timer.as_mut(), if deadline.is_some() => Wake::Timer,
            () = handle.close.notified() => Wake::Shutdown,
        };
        let now = w.now().0;
        match wake {
            Wake::Read(Ok(0) | Err(_)) => conn.handle_eof(now),
            Wake::Read(Ok(n)) => {
                conn.handle_bytes_in(n, room, now);
                w.stats().bytes_in(n);
            }
            Wake::Writable(Ok(())) => {}
            Wake::Writable(Err(_)) => {
                if let Some(Writing { out, .. }) = writing.take() {
                    note_close(stream, &out);
                    conn.handle_write_error(out);
                }
            }
            Wake::Timer => conn.handle_timeout(now),
            Wake::Shutdown => conn.close(CloseCode::GOING_AWAY, "server shutting down"),
        }
    }
}

/// Writes what the machine hands out until the socket is full: non-blocking
/// `writev(2)`s, each frame resumed where the last write left it.
fn write_ready(w: &Worker, stream: &Stream, conn: &mut Connection, writing: &mut Option<Writing>, now: u64) {
    loop {
        if writing.is_none() {
            *writing = conn.poll_transmit().map(|out| Writing { out, sent: 0 });
        }
        let Some(current) = writing.as_mut() else { return };
        let rest = current.out.bytes().get(current.sent..).unwrap_or_default();
        let written = match rest.is_empty() {
            true => Ok(0),
            false => stream.try_writev(&[IoSlice::new(rest)]),
        };
        match written {
            Ok(n) => {
                w.stats().bytes_out(n);
                current.sent += n;
                if current.sent < current.out.bytes().len() {
                    conn.handle_write_progress();
                    continue;
                }
                if let Some(Writing { out, .. }) = writing.take() {
                    note_close(stream, &out);
                    conn.handle_written(out, now);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                conn.handle_write_blocked(now);
                return;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                if let Some(Writing { out, .. }) = writing.take() {
                    note_close(stream, &out);
                    conn.handle_write_error(out);
                }
                return;
            }
        }
    }
}

/// Notes a close frame for the access log once it was (or failed to be) written.
fn note_close(stream: &Stream, out: &Out) {
    if let Out::Close { frame, ours } = out {
        stream.tally.close_written(frame.payload(), *ours);
    }
}
