//! The WebSocket layer over real sockets, through the `--ws-echo` endpoint, with
//! tungstenite as the independent peer and hand-built frames for the error paths.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringtty::ws::{encode_frame, OpCode};
use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::{Message, WebSocket};

use crate::common::*;

fn echo_server(extra: &[&str]) -> Server {
    let mut args = vec!["--ws-echo", "/echo", "--threads", "2", "-P", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn connect(server: &Server) -> WebSocket<TcpStream> {
    let stream = server.connect();
    let (ws, resp) = tungstenite::client(server.ws_request("/echo"), stream).expect("handshake");
    assert_eq!(resp.status(), 101);
    ws
}

#[test]
fn messages_of_every_kind_and_size_echo_back() {
    let server = echo_server(&[]);
    let mut ws = connect(&server);
    let sizes = [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000, 1 << 20];
    for &n in &sizes {
        let text: String = "é".repeat(n / 2) + &"x".repeat(n % 2);
        let binary: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
        for msg in [Message::text(text.clone()), Message::binary(binary.clone())] {
            ws.send(msg.clone()).unwrap();
            assert_eq!(ws.read().unwrap(), msg, "size {n}");
        }
    }
    ws.close(None).unwrap();
}

#[test]
fn ping_gets_pong_and_close_is_echoed() {
    let server = echo_server(&[]);
    let mut ws = connect(&server);
    ws.send(Message::Ping(b"are you there".to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"are you there".to_vec().into()));
    ws.close(Some(tungstenite::protocol::CloseFrame { code: TCloseCode::Normal, reason: "bye".into() }))
        .unwrap();
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, TCloseCode::Normal),
        other => panic!("expected the close echoed, got {other:?}"),
    }
}

/// A raw client: handshake by hand, then frames built with our client-side encoder.
struct Raw {
    s: TcpStream,
}

impl Raw {
    fn open(server: &Server) -> Raw {
        let mut s = server.connect();
        let head = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        s.write_all(with_auth(server, head).as_bytes()).unwrap();
        let r = read_response(&mut s, true).expect("101");
        assert_eq!(r.status, 101);
        assert_eq!(r.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        Raw { s }
    }

    fn send(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) {
        let mut out = Vec::new();
        encode_frame(&mut out, fin, opcode, Some([1, 2, 3, 4]), payload);
        self.s.write_all(&out).unwrap();
    }

    /// Reads frames until a close frame; returns its code (None: connection ended).
    fn close_code(&mut self) -> Option<u16> {
        let mut all = Vec::new();
        let _ = self.s.read_to_end(&mut all);
        let mut i = 0;
        while i + 2 <= all.len() {
            let (op, len) = (all[i] & 0x0f, (all[i + 1] & 0x7f) as usize);
            let (hdr, len) = match len {
                126 => (4, u16::from_be_bytes([all[i + 2], all[i + 3]]) as usize),
                127 => (10, u64::from_be_bytes(all[i + 2..i + 10].try_into().unwrap()) as usize),
                n => (2, n),
            };
            if op == 8 {
                return Some(u16::from_be_bytes([all[i + hdr], all[i + hdr + 1]]));
            }
            i += hdr + len;
        }
        None
    }
}

#[test]
fn protocol_violations_close_with_the_right_code() {
    let server = echo_server(&[]);
    let mut healthy = connect(&server);
    type Case = (&'static str, fn(&mut Raw), u16);
    let cases: &[Case] = &[
        ("invalid UTF-8", |r| r.send(true, OpCode::Text, b"\xff\xfe"), 1007),
        (
            "UTF-8 split over fragments, invalid",
            |r| {
                r.send(false, OpCode::Text, "é".as_bytes());
                r.send(true, OpCode::Continuation, b"\xc3");
            },
            1007,
        ),
        ("continuation without a message", |r| r.send(true, OpCode::Continuation, b"x"), 1002),
        ("fragmented ping", |r| r.send(false, OpCode::Ping, b""), 1002),
        ("reserved opcode", |r| r.s.write_all(&[0x83, 0x80, 0, 0, 0, 0]).unwrap(), 1002),
        ("RSV bit", |r| r.s.write_all(&[0xc1, 0x80, 0, 0, 0, 0]).unwrap(), 1002),
        ("unmasked frame", |r| r.s.write_all(&[0x81, 0x01, b'a']).unwrap(), 1002),
        ("control frame over 125 bytes", |r| r.send(true, OpCode::Ping, &[0; 126]), 1002),
        (
            "message over 16 MiB",
            |r| r.s.write_all(&[0x82, 0xff, 0, 0, 0, 0, 1, 0, 0, 1, 1, 2, 3, 4]).unwrap(),
            1009,
        ),
        ("close code 1005 on the wire", |r| r.send(true, OpCode::Close, &1005u16.to_be_bytes()), 1002),
        ("close reason not UTF-8", |r| r.send(true, OpCode::Close, &[0x03, 0xe8, 0xff]), 1007),
    ];
    for (name, send, code) in cases {
        let mut raw = Raw::open(&server);
        send(&mut raw);
        assert_eq!(raw.close_code(), Some(*code), "{name}");
        // Every other connection keeps working.
        healthy.send(Message::text(*name)).unwrap();
        assert_eq!(healthy.read().unwrap(), Message::text(*name));
    }
}

#[test]
fn empty_and_fragmented_messages_with_interleaved_control_frames() {
    let server = echo_server(&[]);
    let mut raw = Raw::open(&server);
    raw.send(true, OpCode::Text, b"");
    raw.send(true, OpCode::Binary, b"");
    raw.send(false, OpCode::Text, b"");
    raw.send(false, OpCode::Continuation, "hé".as_bytes());
    raw.send(true, OpCode::Ping, b"p");
    raw.send(true, OpCode::Continuation, b"llo");
    raw.send(true, OpCode::Close, &1000u16.to_be_bytes());
    let mut all = Vec::new();
    raw.s.read_to_end(&mut all).unwrap();
    let want: Vec<u8> = [
        &[0x81, 0x00][..],
        &[0x82, 0x00],
        &[0x8a, 0x01, b'p'],
        &[0x81, 0x06],
        "héllo".as_bytes(),
        &[0x88, 0x02, 0x03, 0xe8],
    ]
    .concat();
    assert_eq!(all, want);
}

#[test]
fn handshake_errors_are_http_errors() {
    let server = echo_server(&[]);
    let base = "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let table: Vec<(String, u16)> = vec![
        (format!("GET /echo HTTP/1.1\r\n{base}{key}Sec-WebSocket-Version: 12\r\n\r\n"), 426),
        (format!("GET /echo HTTP/1.1\r\n{base}Sec-WebSocket-Version: 13\r\n\r\n"), 400),
        (
            format!(
                "GET /echo HTTP/1.1\r\n{base}Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        (format!("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"), 400),
        (format!("POST /echo HTTP/1.1\r\n{base}{key}Sec-WebSocket-Version: 13\r\n\r\n"), 405),
    ];
    for (raw, status) in table {
        let r = request(&server, &raw);
        assert_eq!(r.status, status, "{raw}");
        assert!(r.json()["error"].is_string());
        if status == 426 {
            assert_eq!(r.header("sec-websocket-version"), Some("13"));
        }
    }
}

#[test]
fn upgrades_from_another_site_are_refused() {
    let server = echo_server(&["--allow-origin", "https://ide.example.com"]);
    let head = |origin: &str| {
        format!(
            "GET /echo HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            server.addr
        )
    };
    let refused = request(&server, &head("http://evil.example"));
    assert_eq!(refused.status, 403);
    assert!(refused.json()["error"].as_str().unwrap().contains("origin"));
    assert_eq!(request(&server, &head("null")).status, 403);
    assert_eq!(request(&server, &head(&format!("http://{}", server.addr))).status, 101);
    assert_eq!(request(&server, &head("https://ide.example.com")).status, 101);
}

#[test]
fn a_thousand_concurrent_connections() {
    let server = echo_server(&[]);
    let mut conns: Vec<_> = (0..1000).map(|_| connect(&server)).collect();
    for (i, ws) in conns.iter_mut().enumerate() {
        ws.send(Message::text(format!("hello {i}"))).unwrap();
    }
    for (i, ws) in conns.iter_mut().enumerate() {
        assert_eq!(ws.read().unwrap(), Message::text(format!("hello {i}")));
    }
    let health = get(&server, "/health").json();
    let open: u64 =
        health["workers"].as_array().unwrap().iter().map(|w| w["connections"].as_u64().unwrap()).sum();
    assert!(open >= 1000, "{health}");
}

#[test]
fn shutdown_sends_1001_going_away() {
    let mut server = echo_server(&[]);
    let mut ws = connect(&server);
    ws.send(Message::text("x")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("x"));
    server.signal(libc::SIGTERM);
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, TCloseCode::Away),
        other => panic!("expected close 1001, got {other:?}; server log: {}", server.stderr()),
    }
    // Complete the handshake: the server then finishes its shutdown promptly.
    let _ = ws.read();
    assert!(server.wait(DEADLINE).success());
}

#[test]
fn server_pings_and_hangs_up_on_a_dead_peer() {
    let server = Server::start(&["--ws-echo", "/echo", "-P", "300ms"]);
    // A live tungstenite client answers pings (it queues a pong whenever it reads one).
    let mut ws = connect(&server);
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    // A peer that completes the handshake and then never answers is hung up on.
    let mut dead = Raw::open(&server);
    let dead_peer = std::thread::spawn(move || {
        dead.s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = [0u8; 256];
        let mut pings = 0;
        loop {
            match dead.s.read(&mut buf) {
                Ok(0) | Err(_) => return pings,
                Ok(_) => pings += 1,
            }
        }
    });
    let started = Instant::now();
    let mut live_pings = 0;
    while !dead_peer.is_finished() {
        assert!(started.elapsed() < DEADLINE, "dead peer never hung up");
        match ws.read() {
            Ok(Message::Ping(_)) => live_pings += 1,
            Ok(m) => panic!("unexpected {m:?}"),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("live client dropped: {e}"),
        }
    }
    assert!(dead_peer.join().unwrap() >= 1, "the dead peer was pinged before the hang-up");
    assert!(live_pings >= 1);
    // The live one is still served.
    ws.send(Message::text("still here")).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Ping(_)) => continue,
            Ok(m) => break assert_eq!(m, Message::text("still here")),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn frames_sent_right_behind_the_upgrade_request_are_not_lost() {
    let server = echo_server(&[]);
    let mut s = server.connect();
    let head = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut bytes = with_auth(&server, head).into_bytes();
    encode_frame(&mut bytes, true, OpCode::Text, Some([9, 8, 7, 6]), b"early bird");
    encode_frame(&mut bytes, true, OpCode::Close, Some([1, 2, 3, 4]), &1000u16.to_be_bytes());
    s.write_all(&bytes).unwrap();
    assert_eq!(read_response(&mut s, true).unwrap().status, 101);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    let want = [&[0x81, 10][..], b"early bird", &[0x88, 0x02, 0x03, 0xe8]].concat();
    assert_eq!(rest, want);
}
