//! permessage-deflate (`--compress`, RFC 7692) over real sockets: negotiated only with
//! the flag (the echo endpoint only with `--compress=all`), terminal output that
//! round-trips through an independent inflater (flate2's streaming decoder, fresh per
//! message: `server_no_context_takeover`), compressed input, and the failures: a
//! decompression bomb (1009), data that is not DEFLATE (1007), RSV1 without the
//! extension (1002).
//!
//! tungstenite (the other tests' client) has no permessage-deflate, so the client here
//! is raw: frames parsed by ringtty's own client-side decoder (itself checked against
//! tungstenite), payloads compressed and inflated by flate2.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use flate2::{Compress, Compression, FlushCompress};
use ringtty::ws::{encode_frame, Decoder, Event, OpCode, Role};

use crate::common::*;

const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// A client offering permessage-deflate; `ext` is the 101's answer.
struct Client {
    s: TcpStream,
    ext: Option<String>,
    decoder: Decoder,
    buf: Vec<u8>,
    filled: usize,
}

impl Client {
    fn open(server: &Server, path: &str, protocol: Option<&str>) -> Client {
        let mut s = server.connect();
        let proto = protocol.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{proto}\
             Sec-WebSocket-Extensions: {OFFER}\r\n\r\n"
        );
        s.write_all(with_auth(server, &head).as_bytes()).unwrap();
        let r = read_response(&mut s, true).expect("101");
        assert_eq!(r.status, 101, "{:?}", r.body);
        let ext = r.header("sec-websocket-extensions").map(str::to_owned);
        let decoder = Decoder::new(Role::Client, u64::MAX);
        let decoder = if ext.is_some() { decoder.with_deflate() } else { decoder };
        Client { s, ext, decoder, buf: vec![0; 1 << 16], filled: 0 }
    }

    /// Sends a masked data frame; `compressed`: the payload is deflated, RSV1 set.
    fn send(&mut self, opcode: OpCode, payload: &[u8], compressed: bool) {
        let mut out = Vec::new();
        if compressed {
            let data = deflate(payload);
            encode_frame(&mut out, true, opcode, Some([9, 8, 7, 6]), &data);
            out[0] |= 0x40; // RSV1
        } else {
            encode_frame(&mut out, true, opcode, Some([9, 8, 7, 6]), payload);
        }
        self.s.write_all(&out).unwrap();
    }

    /// The next whole message: (opcode's kind is text, was compressed, payload inflated),
    /// or `Err(close code)` at the close.
    fn next(&mut self) -> Result<(bool, bool, Vec<u8>), Option<u16>> {
        let mut msg: Option<(bool, bool, Vec<u8>)> = None;
        loop {
            let mut start = 0;
            loop {
                let d = self.decoder.decode(&mut self.buf[start..self.filled]).expect("a valid server frame");
                start += d.consumed;
                match d.event {
                    Some(Event::Data { kind, payload, first, last, compressed }) => {
                        if first {
                            msg = Some((kind == ringtty::ws::MessageKind::Text, compressed, Vec::new()));
                        }
                        let m = msg.as_mut().unwrap();
                        m.2.extend_from_slice(payload);
                        if last {
                            self.buf.copy_within(start..self.filled, 0);
                            self.filled -= start;
                            let (text, compressed, data) = msg.take().unwrap();
                            let data = if compressed { inflate(&data) } else { data };
                            return Ok((text, compressed, data));
                        }
                    }
                    Some(Event::Close { code, .. }) => return Err(code.map(|c| c.as_u16())),
                    Some(_) => {}
                    None => break,
                }
            }
            self.buf.copy_within(start..self.filled, 0);
            self.filled -= start;
            if self.filled == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.s.read(&mut self.buf[self.filled..]).expect("read");
            if n == 0 {
                return Err(None);
            }
            self.filled += n;
        }
    }

    /// Reads until the close; its code.
    fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Err(code) = self.next() {
                return code;
            }
        }
    }
}

/// A client's compressor: fresh per message, trailing 00 00 ff ff stripped.
fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    loop {
        let before = z.total_in() as usize;
        z.compress_vec(&payload[before..], &mut out, FlushCompress::Sync).unwrap();
        if z.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity() + 64);
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// An independent inflater (flate2's streaming decoder), fresh per message.
fn inflate(data: &[u8]) -> Vec<u8> {
    let mut all = data.to_vec();
    all.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::new();
    // The stream has no end (no final block): reading stops with an "unexpected EOF"
    // after everything was inflated.
    let _ = flate2::read::DeflateDecoder::new(&all[..]).read_to_end(&mut out);
    out
}

fn session(server: &Server) -> String {
    crate::sessions::create(server, &["cat"])
}

const ANSWER: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

#[test]
fn negotiated_only_with_the_flag_and_the_echo_only_with_all() {
    let cases: [(&[&str], bool, bool); 3] =
        [(&[], false, false), (&["--compress"], true, false), (&["--compress=all"], true, true)];
    for (flags, terminals, on_echo) in cases {
        let mut args = vec!["--ws-echo", "/echo", "--allow-any-command"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["-W", "cat"]);
        let server = Server::start(&args);
        let id = session(&server);
        let native = Client::open(&server, &format!("/api/sessions/{id}/ws"), Some("ringtty.v1"));
        assert_eq!(native.ext.as_deref(), terminals.then_some(ANSWER), "{flags:?} native");
        let ttyd = Client::open(&server, "/ws", Some("tty"));
        assert_eq!(ttyd.ext.as_deref(), terminals.then_some(ANSWER), "{flags:?} ttyd");
        let echo = Client::open(&server, "/echo", None);
        assert_eq!(echo.ext.as_deref(), on_echo.then_some(ANSWER), "{flags:?} echo");
    }
}

#[test]
fn terminal_output_and_input_round_trip_compressed() {
    // A listing-like output, then whatever is typed comes back.
    let script = "i=0; while [ $i -lt 3000 ]; do echo \"drwxr-xr-x 2 root root 4096 Jan  1 00:00 /usr/share/dir-$i\"; \
                  i=$((i+1)); done; echo LISTED; exec cat";
    let server = Server::start(&["--compress", "-W", "sh", "-c", script]);
    let mut c = Client::open(&server, "/ws", Some("tty"));
    assert_eq!(c.ext.as_deref(), Some(ANSWER));
    // The first message compressed too: the server inflates it.
    c.send(OpCode::Binary, br#"{"AuthToken":"","columns":200,"rows":50}"#, true);
    let until = Instant::now() + DEADLINE;
    let (mut out, mut compressed, mut wire) = (Vec::new(), 0, 0);
    while !String::from_utf8_lossy(&out).contains("LISTED") {
        assert!(Instant::now() < until, "no LISTED");
        let (_, was, data) = c.next().expect("output");
        compressed += usize::from(was);
        wire += data.len();
        if data.first() == Some(&b'0') {
            out.extend_from_slice(&data[1..]);
        }
    }
    let text = String::from_utf8_lossy(&out).replace("\r\n", "\n");
    for i in [0, 1, 1500, 2999] {
        assert!(text.contains(&format!("/usr/share/dir-{i}\n")), "line {i} missing");
    }
    assert!(compressed > 0, "no output message was compressed ({wire} bytes)");
    // Typed input, compressed (a big one) and plain (a keystroke's worth).
    let line = format!("0{}\n", "typed-in-compressed ".repeat(50));
    c.send(OpCode::Binary, line.as_bytes(), true);
    c.send(OpCode::Binary, b"0plain\n", false);
    let until = Instant::now() + DEADLINE;
    let mut echoed = Vec::new();
    // The terminal echoes both lines, then cat prints them (in either interleaving).
    while String::from_utf8_lossy(&echoed).matches("plain\r\n").count() < 2 {
        assert!(Instant::now() < until, "input not echoed: {:?}", String::from_utf8_lossy(&echoed));
        let (_, _, data) =
            c.next().unwrap_or_else(|e| panic!("echo: {e:?}; {:?}", String::from_utf8_lossy(&echoed)));
        echoed.extend_from_slice(data.get(1..).unwrap_or_default());
    }
    assert!(String::from_utf8_lossy(&echoed).contains(&"typed-in-compressed ".repeat(50)));
}

#[test]
fn native_sessions_send_compressed_output_a_client_inflates() {
    let server = Server::start(&["--compress", "--allow-any-command", "-W", "cat"]);
    let id = session(&server);
    let mut c = Client::open(&server, &format!("/api/sessions/{id}/ws"), Some("ringtty.v1"));
    assert_eq!(c.ext.as_deref(), Some(ANSWER));
    let (text, _, hello) = c.next().expect("hello");
    assert!(
        text && String::from_utf8_lossy(&hello).contains("\"hello\""),
        "{:?}",
        String::from_utf8_lossy(&hello)
    );
    let big = "0123456789abcdef".repeat(64);
    c.send(OpCode::Binary, format!("{big}\n").as_bytes(), true);
    let until = Instant::now() + DEADLINE;
    let (mut out, mut compressed) = (Vec::new(), false);
    while String::from_utf8_lossy(&out).matches(&big).count() < 2 {
        assert!(Instant::now() < until, "output: {:?}", String::from_utf8_lossy(&out));
        let (text, was, data) = c.next().expect("output");
        if !text {
            compressed |= was;
            out.extend_from_slice(&data);
        }
    }
    assert!(compressed, "the echoed kilobyte went uncompressed");
}

#[test]
fn a_decompression_bomb_closes_with_1009_and_bad_data_with_1007() {
    let server = Server::start(&["--compress=all", "--ws-echo", "/echo", "-W", "cat"]);
    // The echo endpoint's limit is 16 MiB: 17 MiB of zeros deflate to ~17 KiB.
    let mut c = Client::open(&server, "/echo", None);
    c.send(OpCode::Binary, &vec![0u8; 17 << 20], true);
    assert_eq!(c.close_code(), Some(1009));
    // A session's is 1 MiB.
    let mut c = Client::open(&server, "/ws", Some("tty"));
    c.send(OpCode::Binary, br#"{"AuthToken":"","columns":80,"rows":24}"#, false);
    let mut bomb = vec![b'0'];
    bomb.resize(2 << 20, b'x');
    c.send(OpCode::Binary, &bomb, true);
    assert_eq!(c.close_code(), Some(1009));
    // Not DEFLATE (block type 3 is reserved).
    let mut c = Client::open(&server, "/echo", None);
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, OpCode::Binary, Some([1, 2, 3, 4]), &[0xff, 0xff, 0xff]);
    frame[0] |= 0x40;
    c.s.write_all(&frame).unwrap();
    assert_eq!(c.close_code(), Some(1007));
    // Compressed text that inflates to invalid UTF-8.
    let mut c = Client::open(&server, "/echo", None);
    c.send(OpCode::Text, &[b'a', 0xff, b'b'], true);
    assert_eq!(c.close_code(), Some(1007));
    // Echoes of big and small messages, compressed or not, come back intact.
    let mut c = Client::open(&server, "/echo", None);
    for (len, compressed) in [(5, true), (5, false), (5000, true), (5000, false), (0, true)] {
        let msg: Vec<u8> = (0..len).map(|i| b"abcabcabd"[i % 9]).collect();
        c.send(OpCode::Text, &msg, compressed);
        let (text, was, data) = c.next().expect("echo");
        assert!(text);
        assert_eq!(data, msg, "{len} {compressed}");
        if compressed {
            // A compressed message arrives whole: its echo is compressed above the
            // threshold (a plain one may be echoed as it arrives, in pieces).
            assert_eq!(was, len >= 128, "compressed only above the threshold");
        }
    }
}

#[test]
fn rsv1_without_the_extension_is_a_protocol_error() {
    let server = Server::start(&["--ws-echo", "/echo", "-W", "cat"]);
    let mut c = Client::open(&server, "/echo", None);
    assert_eq!(c.ext, None, "not negotiated without --compress=all");
    c.send(OpCode::Binary, b"hello hello hello", true);
    assert_eq!(c.close_code(), Some(1002));
    // Negotiated, RSV1 on a control frame is still one.
    let server = Server::start(&["--compress=all", "--ws-echo", "/echo", "-W", "cat"]);
    let mut c = Client::open(&server, "/echo", None);
    let mut ping = Vec::new();
    encode_frame(&mut ping, true, OpCode::Ping, Some([1, 2, 3, 4]), b"");
    ping[0] |= 0x40;
    c.s.write_all(&ping).unwrap();
    assert_eq!(c.close_code(), Some(1002));
}
