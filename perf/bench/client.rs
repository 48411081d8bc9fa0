//! The WebSocket client: ringtty's own sans-IO codec (client role) over a non-blocking
//! tokio `TcpStream`, plain or TLS (`conn.rs`), one task per connection, no thread per
//! connection. Reads are cancel-safe (one `read` then synchronous decoding), so a
//! connection's task can `select!` between its socket and its timers.

use std::io;

use ringtty::protocol::{ClientMsg, ServerMsg};
use ringtty::ws::{self, Decoder, Event, MessageKind, OpCode, Role};

use crate::conn::Stream;
use crate::http::Target;

/// The key of the handshake (any 16 bytes in base64 will do; the server does not care).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const READ_BUF: usize = 64 * 1024;
/// Largest message accepted from the server.
const MAX_MESSAGE: u64 = 16 << 20;

/// What arrived.
#[derive(Debug)]
pub enum Msg<'a> {
    /// A piece of terminal output (a binary message may come in several pieces).
    Output(&'a [u8]),
    /// A whole text message (a control message).
    Text(&'a [u8]),
    /// A pong, with its payload.
    Pong(&'a [u8]),
    /// The server closed the connection, with its close code.
    Closed(Option<u16>),
}

pub struct Ws {
    stream: Stream,
    decoder: Decoder,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    text: Vec<u8>,
    out: Vec<u8>,
    /// Pongs owed, written before the next message or by `flush`.
    pongs: Vec<u8>,
    mask_state: u32,
    closed: bool,
    /// Frames arrived with the 101: decode them before reading the socket.
    leftover: bool,
    /// ttyd's protocol (SPEC §5): input and output carry a command byte, no acks.
    tty: bool,
    /// tty: the command byte of the binary message being received, once seen.
    tty_cmd: Option<u8>,
}

impl Ws {
    /// Connects (with TLS, the TLS handshake first) and completes the opening handshake
    /// for `path`.
    pub async fn connect(t: &Target, path: &str, protocol: Option<&str>) -> io::Result<Ws> {
        let mut stream = Stream::connect(t).await?;
        let proto = protocol.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{proto}{}\r\n",
            t.host, t.auth_header
        );
        stream.write_all(req.as_bytes()).await?;
        let mut buf = vec![0u8; READ_BUF].into_boxed_slice();
        let mut end = 0;
        let head_len = loop {
            let n = stream.read_some(&mut buf[end..]).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the handshake"));
            }
            end += n;
            if let Some(len) = check_upgrade(&buf[..end])? {
                break len;
            }
            if end == buf.len() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "handshake response too large"));
            }
        };
        let seed = std::process::id() ^ (stream.local_port()? as u32) << 16;
        Ok(Ws {
            stream,
            decoder: Decoder::new(Role::Client, MAX_MESSAGE),
            buf,
            start: head_len,
            end,
            text: Vec::new(),
            out: Vec::with_capacity(256),
            pongs: Vec::new(),
            mask_state: seed | 1,
            closed: false,
            leftover: end > head_len,
            tty: false,
            tty_cmd: None,
        })
    }

    /// Connects to a ttyd-protocol endpoint (`path` with its query), sends the first
    /// message (the token, if any, as `AuthToken`, and the size) and from then on speaks
    /// ttyd's protocol.
    pub async fn connect_tty(t: &Target, path: &str, cols: u16, rows: u16) -> io::Result<Ws> {
        let mut ws = Ws::connect(t, path, Some("tty")).await?;
        ws.tty = true;
        let token = t.token.as_deref().unwrap_or("");
        let init = serde_json::json!({ "AuthToken": token, "columns": cols, "rows": rows }).to_string();
        ws.send(OpCode::Binary, init.as_bytes()).await?;
        Ok(ws)
    }

    fn mask(&mut self) -> [u8; 4] {
        // xorshift32: masks need not be secret here, only present (RFC 6455 §5.3).
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        x.to_le_bytes()
    }

    /// Speaks ttyd's protocol (where a close with 1000 or 1011 is the command's exit).
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Sends one message.
    pub async fn send(&mut self, opcode: OpCode, payload: &[u8]) -> io::Result<()> {
        let mask = self.mask();
        self.out.clear();
        self.out.append(&mut self.pongs);
        ws::encode_frame(&mut self.out, true, opcode, Some(mask), payload);
        self.stream.write_all(&self.out).await
    }

    /// Writes the pongs owed, if any. Not cancel-safe: call it outside `select!`.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.pongs.is_empty() {
            self.stream.write_all(&self.pongs).await?;
            self.pongs.clear();
        }
        Ok(())
    }

    pub async fn send_input(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.tty {
            let mut msg = Vec::with_capacity(1 + bytes.len());
            msg.push(b'0');
            msg.extend_from_slice(bytes);
            return self.send(OpCode::Binary, &msg).await;
        }
        self.send(OpCode::Binary, bytes).await
    }

    pub async fn send_ping(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(OpCode::Ping, payload).await
    }

    /// Acks output (native). ttyd's protocol has no acks (its page pauses and resumes
    /// instead; this client renders instantly, so it never needs to pause).
    pub async fn send_ack(&mut self, offset: u64) -> io::Result<()> {
        if self.tty {
            return Ok(());
        }
        let mut json = Vec::with_capacity(40);
        ClientMsg::Ack { offset }.encode(&mut json);
        self.send(OpCode::Text, &json).await
    }

    /// Starts the closing handshake (best effort) and drops the connection (TLS: after
    /// a close_notify).
    pub async fn close(mut self) {
        let frame = ws::ControlFrame::close(Some(ws::CloseCode::NORMAL), "");
        let mask = self.mask();
        self.out.clear();
        ws::encode_frame(&mut self.out, true, OpCode::Close, Some(mask), frame.payload());
        if self.stream.write_all(&self.out).await.is_ok() {
            self.stream.close_notify().await;
        }
    }

    /// Waits for bytes (cancel-safe: its only await is the socket read), then hands every
    /// complete event to `on`. Pongs for pings are queued for [`Ws::flush`] or the next
    /// send. Returns `Ok(false)` once the connection is over.
    pub async fn read(&mut self, mut on: impl FnMut(Msg<'_>)) -> io::Result<bool> {
        if self.closed {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Bytes left over from the handshake are decoded before the first read.
        if !std::mem::take(&mut self.leftover) {
            let n = self.stream.read_some(&mut self.buf[self.end..]).await?;
            if n == 0 {
                self.closed = true;
                on(Msg::Closed(None));
                return Ok(false);
            }
            self.end += n;
        }
        self.decode_all(&mut on)?;
        Ok(!self.closed)
    }

    fn decode_all(&mut self, on: &mut impl FnMut(Msg<'_>)) -> io::Result<()> {
        let Ws { decoder, buf, start, end, text, pongs, closed, tty, tty_cmd, .. } = self;
        loop {
            let d = decoder
                .decode(&mut buf[*start..*end])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.reason()))?;
            *start += d.consumed;
            let Some(event) = d.event else { break };
            match event {
                Event::Data { kind: MessageKind::Binary, payload, first, last, .. } if *tty => {
                    // '0' + output is streamed; '1' title and '2' preferences are
                    // collected and handed over as text.
                    if first {
                        *tty_cmd = None;
                        text.clear();
                    }
                    let mut data = payload;
                    if tty_cmd.is_none() {
                        if let Some((&c, rest)) = data.split_first() {
                            *tty_cmd = Some(c);
                            data = rest;
                        }
                    }
                    match *tty_cmd {
                        Some(b'0') => on(Msg::Output(data)),
                        _ => {
                            text.extend_from_slice(data);
                            if last {
                                on(Msg::Text(text));
                            }
                        }
                    }
                }
                Event::Data { kind: MessageKind::Binary, payload, .. } => on(Msg::Output(payload)),
                Event::Data { kind: MessageKind::Text, payload, first, last, .. } => {
                    if first {
                        text.clear();
                    }
                    text.extend_from_slice(payload);
                    if last {
                        on(Msg::Text(text));
                    }
                }
                Event::Ping(p) => {
                    let frame = ws::ControlFrame::pong(p);
                    // Masked with a fixed key: pongs are rare.
                    ws::encode_frame(pongs, true, OpCode::Pong, Some([1, 2, 3, 4]), frame.payload());
                }
                Event::Pong(p) => on(Msg::Pong(p)),
                Event::Close { code, .. } => {
                    *closed = true;
                    on(Msg::Closed(code.map(|c| c.as_u16())));
                    break;
                }
            }
        }
        Ok(())
    }
}

/// `Some(head length)` once a complete `101` with the right accept key has arrived.
fn check_upgrade(buf: &[u8]) -> io::Result<Option<usize>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    if resp.code != Some(101) {
        let code = resp.code.unwrap_or(0);
        if code == 401 {
            crate::token::note_refusal();
        }
        return Err(io::Error::other(format!("upgrade refused: HTTP {code}")));
    }
    let expected = ws::accept_key(KEY.as_bytes());
    let ok = resp
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept") && h.value == expected);
    if !ok {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "wrong Sec-WebSocket-Accept"));
    }
    Ok(Some(len))
}

/// The server's control message, parsed.
pub fn control(text: &[u8]) -> Option<ServerMsg<'_>> {
    ServerMsg::parse(text).ok()
}
