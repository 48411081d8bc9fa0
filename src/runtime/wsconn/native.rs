//! The session endpoints' shared part, on the one WebSocket driver (`ws_driver`): an
//! attached client of a session ([`Attached`]) sends the session's output from its
//! cursor (shared pool buffers, never copied; flow control is the session's) and types
//! the client's input into the terminal's input queue; how the client's messages are
//! read is its protocol's ([`Messages`]: native here, ttyd's in `ttyd`). Also the echo
//! endpoint's entry point and the `-m` client count.
//!
//! Input that finds the terminal's input queue full is never dropped: it is kept (the
//! rest of the message) and the driver stops reading the socket until the queue drains
//! (the connection machine does not count that time as the peer's silence). When the
//! connection ends the client is detached, which may start the session's detach timer
//! or end a ttyd session.

use std::borrow::Cow;
use std::rc::Rc;

use tokio::sync::Notify;

use std::sync::atomic::Ordering::Relaxed;

use super::driver::{Chunk, Driver, Echo, Endpoint, Flow, Frames};
use crate::protocol::ClientMsg;
use crate::runtime::transport::Transport;
use crate::runtime::worker::{ConnHandle, Live, Worker, READ_BUF};
use crate::session::{ClientId, Outgoing, SessionError};
use crate::ws::connection::Connection;
use crate::ws::{CloseCode, MessageKind};

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
    stream: &Rc<Transport>,
    handle: &Rc<ConnHandle>,
    leftover: Vec<u8>,
    cfg: WsConfig,
) -> Ending {
    let mut driver = Driver::new(w, stream, handle, leftover, cfg);
    driver.run(&mut Echo(cfg.deflate)).await.unwrap_or(Ending::Done)
}

/// Serves a native-protocol client of a session (SPEC §4): `hello` first, then the
/// session's output from its cursor (shared frames, never copied), `gap`/`resize`/`exit`
/// control messages; binary frames from the client are input, text frames are JSON
/// control messages (`resize`, `ack`). `may_write`: the principal's mode allows typing.
#[allow(clippy::too_many_arguments)]
pub async fn serve_session(
    w: &Rc<Worker>,
    stream: &Rc<Transport>,
    handle: &Rc<ConnHandle>,
    leftover: Vec<u8>,
    cfg: WsConfig,
    live: Rc<Live>,
    (since, may_write): (Option<u64>, bool),
) -> Ending {
    let mut driver = Driver::new(w, stream, handle, leftover, cfg);
    let Some(slot) = ClientSlot::claim(w) else {
        return driver.refuse(CloseCode::TRY_AGAIN_LATER, "too many clients (-m)").await;
    };
    // Typing needs both the server's -W and a principal that may write (`ro` never).
    let writable = w.cfg.terminal.writable && may_write;
    let attached = live.state.borrow_mut().attach(w.now(), writable, since);
    let (client, hello) = match attached {
        Ok(a) => a,
        Err(e) => {
            let code = e.close_code().unwrap_or(CloseCode::POLICY_VIOLATION);
            return driver.refuse(code, &e.to_string()).await;
        }
    };
    w.stats().client_attached();
    live.flow_changed();
    let mut hello_frame = driver.conn.spare_buffer();
    hello.msg().encode_frame(&mut hello_frame);
    driver.conn.send_frame(hello_frame, 0);
    let messages = Native { writable: hello.writable, control: Vec::new(), pending: Vec::new() };
    let ending = serve_attached(&mut driver, &live, client, messages).await;
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

/// Serves an attached client of a session on `driver` (what is queued on its machine
/// first, then the session's output from the client's cursor) with `messages` reading
/// the client's messages, until the connection ends; then detaches the client (which
/// may start the session's detach timer, or kill a ttyd session's process).
pub(super) async fn serve_attached(
    driver: &mut Driver<'_>,
    live: &Live,
    client: ClientId,
    messages: impl Messages,
) -> Ending {
    let w = driver.worker();
    let (key, wake) = live.add_writer(client);
    let ttyd = live.state.borrow().config().dialect == crate::session::Dialect::Ttyd;
    let deflate = driver.deflate();
    let client_state = Client {
        w,
        live,
        id: client,
        wake,
        ttyd,
        deflate,
        batch: Vec::new(),
        held: Vec::new(),
        holding: false,
    };
    let mut ep = Attached { client: client_state, messages };
    // An attached client never stops on its own: only the connection's end returns.
    let ending = driver.run(&mut ep).await.unwrap_or(Ending::Done);
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

pub(super) type Refusal = (CloseCode, &'static str);

/// How a session client's protocol reads its messages (native, ttyd): each chunk of the
/// peer's data is typed, acted on, or collected; a refusal fails the connection.
pub(super) trait Messages {
    fn handle(&mut self, client: &mut Client<'_>, chunk: Chunk<'_>) -> Result<Flow, Refusal>;
}

/// A session's client, as a driver endpoint: its output, its input, its protocol.
struct Attached<'a, M> {
    client: Client<'a>,
    messages: M,
}

impl<M: Messages> Endpoint for Attached<'_, M> {
    fn handle_data(&mut self, conn: &mut Connection, chunk: Chunk<'_>, now: u64) -> Flow {
        let result = self.messages.handle(&mut self.client, chunk);
        self.client.flow(conn, result, now)
    }

    fn retry(&mut self, conn: &mut Connection, now: u64) -> Flow {
        let result = self.client.retry_input();
        self.client.flow(conn, result, now)
    }

    fn held_wake(&self) -> Option<&Notify> {
        Some(&self.client.live.input_drained)
    }

    fn poll_output(&mut self, conn: &mut Connection, frames: &mut Frames) {
        self.client.poll_output(conn, frames);
    }

    fn output_wake(&self) -> Option<&Notify> {
        Some(&self.client.wake)
    }
}

/// An attached client of a session: what its endpoint needs of the session.
pub(super) struct Client<'a> {
    pub(super) w: &'a Worker,
    pub(super) live: &'a Live,
    pub(super) id: ClientId,
    /// Woken when the session has something for this client (output, exit, resize).
    wake: Rc<Notify>,
    /// ttyd's dialect: no control messages, the exit said by the close code.
    ttyd: bool,
    /// permessage-deflate: output goes compressed (a new frame per message) instead of
    /// as the shared frames.
    deflate: Option<crate::ws::Deflate>,
    /// The items taken from the session, reused (no allocation once grown).
    batch: Vec<Outgoing>,
    /// Input waiting for room in the terminal's input queue (`holding`: some is, maybe
    /// an empty message, which still makes its sender the driver).
    held: Vec<u8>,
    holding: bool,
}

impl Client<'_> {
    /// Terminal input: queued for the PTY in pieces; what finds the queue full is
    /// held ([`Flow::Hold`]) until it drains. A read-only client's keystrokes are
    /// dropped by the session.
    pub(super) fn input(&mut self, data: &[u8]) -> Result<Flow, Refusal> {
        if data.is_empty() {
            // Still input: it makes its sender the driver.
            return Ok(if self.input_piece(data)? { Flow::Go } else { self.hold(data) });
        }
        for (i, piece) in data.chunks(INPUT_PIECE).enumerate() {
            if !self.input_piece(piece)? {
                return Ok(self.hold(data.get(i * INPUT_PIECE..).unwrap_or_default()));
            }
        }
        Ok(Flow::Go)
    }

    /// Keeps the rest of a message for [`retry_input`](Self::retry_input).
    fn hold(&mut self, rest: &[u8]) -> Flow {
        self.held.clear();
        self.held.extend_from_slice(rest);
        self.holding = true;
        Flow::Hold
    }

    /// After the input queue drained: types what was held, or as much as fits now.
    fn retry_input(&mut self) -> Result<Flow, Refusal> {
        if !std::mem::take(&mut self.holding) {
            return Ok(Flow::Go);
        }
        // Given up whatever happens: an idle client holds none.
        let held = std::mem::take(&mut self.held);
        if self.live.is_removed() {
            return Err((CloseCode::GOING_AWAY, "session ended"));
        }
        if self.live.state.borrow().status() != crate::session::Status::Running {
            // The command has ended: its terminal takes no more input.
            return Ok(Flow::Go);
        }
        self.input(&held)
    }

    /// Queues one piece: `false` if the input queue is full even after the terminal
    /// took what it could now.
    fn input_piece(&mut self, data: &[u8]) -> Result<bool, Refusal> {
        let (w, live) = (self.w, self.live);
        let mut flushed = false;
        loop {
            match live.changing_driver(|s| s.input(self.id, data, w.now())) {
                Ok(size) => {
                    if let Some(size) = size {
                        live.apply_size(size);
                    }
                    w.stats().input(data.len());
                    live.input_queued();
                    return Ok(true);
                }
                Err(SessionError::InputFull) if !flushed => {
                    // The terminal takes what it can now; the session task the rest.
                    live.input_queued();
                    flushed = true;
                }
                Err(SessionError::InputFull) => return Ok(false),
                Err(e) => {
                    return match e.close_code() {
                        Some(code) => Err((code, "input refused")),
                        None => Ok(true),
                    }
                }
            }
        }
    }

    /// A refusal fails the connection (with nothing more typed).
    fn flow(&mut self, conn: &mut Connection, result: Result<Flow, Refusal>, now: u64) -> Flow {
        match result {
            Ok(flow) => flow,
            Err((code, reason)) => {
                self.holding = false;
                self.held = Vec::new();
                conn.fail(code, reason, now);
                Flow::Go
            }
        }
    }

    /// The session's next output for this client, from its cursor: shared frames, the
    /// control messages of its protocol, and at the end our close (its exit, or the
    /// session failed or was removed).
    fn poll_output(&mut self, conn: &mut Connection, frames: &mut Frames) {
        let live = self.live;
        if live.state.borrow_mut().poll_send(self.id, &mut self.batch) {
            live.flow_changed();
        }
        if self.batch.is_empty() {
            if live.is_failed() {
                conn.close(CloseCode::INTERNAL_ERROR, "session failed");
            } else if live.is_handed_over() {
                // A live upgrade: the session goes on in the next process.
                conn.close(CloseCode::GOING_AWAY, "server upgrading: reconnect with since");
            } else if live.is_removed() {
                conn.close(CloseCode::NORMAL, "session removed");
            }
            return;
        }
        // A partial frame is two segments (its head, its payload).
        let partial = |item: &Outgoing| usize::from(matches!(item, Outgoing::Partial { .. }));
        frames.reserve(self.batch.iter().map(|item| 1 + partial(item)).sum());
        for item in self.batch.drain(..) {
            match item {
                // An uncompressed connection: the shared frames, as they are (one branch).
                Outgoing::Frame(frame) => match self.deflate {
                    Some(d) if frames.compressed(d, frame.as_slice(), &[]) => {}
                    _ => frames.shared(frame),
                },
                Outgoing::Partial { head, payload } => match self.deflate {
                    Some(d) if frames.compressed(d, head.as_slice(), payload.as_slice()) => {}
                    _ => {
                        frames.head(&head);
                        frames.shared(payload);
                    }
                },
                other => {
                    if let Outgoing::Gap { .. } = other {
                        self.w.stats().gap();
                        live.nudge();
                    }
                    if let Outgoing::Exit(status) = other {
                        // ttyd has no exit message: the close code says how it ended.
                        let code = match self.ttyd {
                            true if status.code != Some(0) => CloseCode::INTERNAL_ERROR,
                            _ => CloseCode::NORMAL,
                        };
                        // Sent after the frames before it (the endpoint's go first).
                        conn.close(code, "");
                    }
                    if let (Some(msg), false) = (other.control_msg(), self.ttyd) {
                        frames.message(|buf| msg.encode_frame(buf));
                    }
                }
            }
        }
    }

    /// A control message (`resize`, `ack`) from a native client.
    fn control_message(&mut self, msg: &[u8]) -> Result<(), Refusal> {
        let (w, live, client) = (self.w, self.live, self.id);
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
}

/// The native protocol's messages: binary ones are input, text ones JSON control
/// messages.
struct Native {
    /// The principal and the server allow typing.
    writable: bool,
    /// The control message being collected.
    control: Vec<u8>,
    /// The input message being collected (see [`whole_input`]).
    pending: Vec<u8>,
}

impl Messages for Native {
    fn handle(&mut self, client: &mut Client<'_>, c: Chunk<'_>) -> Result<Flow, Refusal> {
        match c.kind {
            MessageKind::Binary => {
                match whole_input(&mut self.pending, c.payload, c.first, c.last, self.writable) {
                    Some(message) => client.input(&message),
                    None => Ok(Flow::Go),
                }
            }
            MessageKind::Text => {
                if c.first {
                    self.control.clear();
                }
                if self.control.len() + c.payload.len() > crate::protocol::MAX_CONTROL_LEN {
                    return Err((CloseCode::MESSAGE_TOO_BIG, "control message too long"));
                }
                self.control.extend_from_slice(c.payload);
                if c.last {
                    client.control_message(&self.control)?;
                }
                Ok(Flow::Go)
            }
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
