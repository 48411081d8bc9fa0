//! ttyd's protocol on `GET /ws` (SPEC §5), byte for byte: first message JSON, then
//! `'0'` input / `'1'` resize / `'2'` pause / `'3'` resume from the client, `'0'` output,
//! `'1'` title, `'2'` preferences from the server; one process per connection.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use crate::common::*;

fn connect(server: &Server, query: &str) -> WebSocket<TcpStream> {
    let mut req = server.ws_request(&format!("/ws{query}"));
    req.headers_mut().insert("Sec-WebSocket-Protocol", "tty".parse().unwrap());
    let (ws, resp) = tungstenite::client(req, server.connect()).expect("upgrade /ws");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "tty");
    ws
}

fn init(ws: &mut WebSocket<TcpStream>, cols: u16, rows: u16) {
    let msg = format!(r#"{{"AuthToken":"","columns":{cols},"rows":{rows}}}"#);
    ws.send(Message::binary(msg.into_bytes())).unwrap();
}

/// Output (`'0'` messages) until `needle`; other server messages are returned too.
fn output_until(ws: &mut WebSocket<TcpStream>, needle: &str) -> (String, Vec<Vec<u8>>) {
    let until = Instant::now() + DEADLINE;
    let (mut out, mut other) = (Vec::new(), Vec::new());
    while !String::from_utf8_lossy(&out).contains(needle) {
        assert!(Instant::now() < until, "never saw {needle:?}: {:?}", String::from_utf8_lossy(&out));
        match ws.read().expect("read") {
            Message::Binary(b) if b.first() == Some(&b'0') => out.extend_from_slice(&b[1..]),
            Message::Binary(b) => other.push(b.to_vec()),
            m => panic!("unexpected {m:?}"),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), other)
}

fn close_code(ws: &mut WebSocket<TcpStream>) -> Option<u16> {
    let until = Instant::now() + DEADLINE;
    while Instant::now() < until {
        match ws.read() {
            Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
    None
}

fn session_count(server: &Server) -> u64 {
    get(server, "/api/sessions").json()["total"].as_u64().unwrap()
}

#[test]
fn title_preferences_input_resize_and_exit_code() {
    let server = Server::start(&["-W", "-P", "0", "-t", "fontSize=20", "-t", "titleFixed=box", "sh"]);
    let mut ws = connect(&server, "");
    init(&mut ws, 100, 30);
    ws.send(Message::binary(b"0stty size; echo done-$((40+2))\n".to_vec())).unwrap();
    let (out, other) = output_until(&mut ws, "done-42");
    assert!(out.contains("30 100"), "{out}");
    let title = String::from_utf8(other[0].clone()).unwrap();
    assert!(title.starts_with("1sh ("), "{title}");
    // The web UI's config names the same host, for its `COMMAND (HOST)` title.
    let host = get(&server, "/api/config").json()["host"].as_str().unwrap().to_owned();
    assert_eq!(title, format!("1sh ({host})"));
    assert_eq!(other[1], br#"2{"fontSize":20,"titleFixed":"box"}"#);
    // Listed like any session, but not attachable natively: it has one client.
    let list = get(&server, "/api/sessions").json();
    let id = list["sessions"][0]["id"].as_str().unwrap().to_owned();
    let r = request(&server, &format!("GET /api/sessions/{id}/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
    assert_eq!(r.status, 409);
    ws.send(Message::binary(br#"1{"columns":120,"rows":40}"#.to_vec())).unwrap();
    ws.send(Message::binary(b"0stty size; exit 3\n".to_vec())).unwrap();
    let (out, _) = output_until(&mut ws, "40 120");
    assert!(out.contains("40 120"));
    // ttyd closes with 1011 when the command fails, 1000 when it succeeds.
    assert_eq!(close_code(&mut ws), Some(1011));
    let mut ws = connect(&server, "");
    init(&mut ws, 0, 0);
    ws.send(Message::binary(b"0exit 0\n".to_vec())).unwrap();
    assert_eq!(close_code(&mut ws), Some(1000));
}

#[test]
fn the_process_ends_with_its_connection() {
    let server = Server::start(&["-W", "-P", "0", "--", "sh", "-c", "echo up; exec cat"]);
    let mut ws = connect(&server, "");
    init(&mut ws, 80, 24);
    output_until(&mut ws, "up");
    assert_eq!(crate::sessions::children(server.pid()).0, 1);
    drop(ws);
    let until = Instant::now() + DEADLINE;
    while session_count(&server) > 0 || crate::sessions::children(server.pid()).0 > 0 {
        assert!(Instant::now() < until, "the process outlived its connection");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn url_args_with_a_and_read_only_without_w() {
    let server = Server::start(&["-a", "-P", "0", "--", "sh", "-c", "echo \"[$1][$2]\"; exec cat", "sh"]);
    let mut ws = connect(&server, "?arg=hello%20world&arg=a+b&other=x");
    init(&mut ws, 80, 24);
    output_until(&mut ws, "[hello world][a b]");
    // Read-only: input is dropped (nothing comes back from cat), the rest still works.
    ws.send(Message::binary(b"0typed\n".to_vec())).unwrap();
    ws.send(Message::binary(b"2".to_vec())).unwrap();
    ws.send(Message::binary(b"3".to_vec())).unwrap();
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    match ws.read() {
        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a read-only client's input reached the command: {other:?}"),
    }
}

#[test]
fn pause_stops_reading_the_terminal_and_resume_restarts_it() {
    let server = Server::start(&["-P", "0", "--scrollback", "256K", "yes"]);
    let mut ws = connect(&server, "");
    init(&mut ws, 80, 24);
    output_until(&mut ws, "y\r\ny");
    ws.send(Message::binary(b"2".to_vec())).unwrap();
    // What was read before the pause still arrives, then nothing: at most the scrollback
    // plus what the kernel's socket buffers held when the pause was read (loopback
    // autotuning grows them to several MiB while this client reads slowly, as on a
    // loaded CI machine: 4 MiB was seen). `yes` unpaused writes far more than the bound.
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut after_pause = 0usize;
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) => after_pause += b.len(),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            other => panic!("unexpected {other:?}"),
        }
        assert!(after_pause < 32 << 20, "output kept flowing while paused");
    }
    let offset = |s: &Server| get(s, "/api/sessions").json()["sessions"][0]["offset"].as_u64().unwrap();
    let before = offset(&server);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(offset(&server), before, "the terminal was read while paused");
    ws.send(Message::binary(b"3".to_vec())).unwrap();
    ws.get_mut().set_read_timeout(None).unwrap();
    output_until(&mut ws, "y\r\ny");
    assert!(offset(&server) > before);
}

#[test]
fn bad_first_messages_and_the_token_endpoint() {
    let server = Server::start(&["-P", "0", "cat"]);
    // The caller's own token (ttyd's page sends it back as AuthToken), never a password.
    let r = get(&server, "/token");
    assert_eq!((r.status, r.json()), (200, serde_json::json!({ "token": server.token })));
    let mut ws = connect(&server, "");
    ws.send(Message::binary(b"{not json".to_vec())).unwrap();
    assert_eq!(close_code(&mut ws), Some(1002));
    // An empty message is ignored (ttyd 1.7 crashed on one), a size beyond 4096 refused.
    let mut ws = connect(&server, "");
    ws.send(Message::binary(Vec::new())).unwrap();
    ws.send(Message::binary(br#"{"columns":70000,"rows":1}"#.to_vec())).unwrap();
    assert_eq!(close_code(&mut ws), Some(1002));
    assert_eq!(session_count(&server), 0);
}

/// The first message must come within 10 s of the upgrade (`INIT_TIMEOUT`); a client
/// that only pings meanwhile is closed with 1008 all the same, no process started.
#[test]
fn a_client_that_pings_but_never_sends_its_first_message_is_closed_after_the_init_timeout() {
    let server = Server::start(&["-P", "0", "cat"]);
    let mut ws = connect(&server, "");
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let started = Instant::now();
    let code = loop {
        assert!(started.elapsed() < Duration::from_secs(20), "never closed");
        match ws.read() {
            Ok(Message::Close(f)) => break f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                ws.send(Message::Ping(Vec::new().into())).unwrap();
            }
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(code, Some(1008));
    assert!(started.elapsed() >= Duration::from_secs(9), "closed early: {:?}", started.elapsed());
    assert_eq!(session_count(&server), 0);
}

#[test]
fn a_flood_arrives_whole_without_acks() {
    // ttyd clients never ack: the window is counted from what the writer has taken, and
    // taking it must let the terminal be read again.
    let server = Server::start(&["-P", "0", "--", "sh", "-c", "head -c 12000000 /dev/zero | base64 -w 0"]);
    let mut ws = connect(&server, "");
    init(&mut ws, 80, 24);
    let until = Instant::now() + DEADLINE;
    let mut got = 0usize;
    loop {
        assert!(Instant::now() < until, "stalled after {got} bytes");
        match ws.read().expect("read") {
            Message::Binary(b) if b.first() == Some(&b'0') => got += b.len() - 1,
            Message::Close(f) => {
                assert_eq!(f.map(|f| u16::from(f.code)), Some(1000));
                break;
            }
            _ => {}
        }
    }
    assert_eq!(got, 16_000_000);
}

#[test]
fn a_storm_of_connections_waits_for_the_spawner_instead_of_failing() {
    // More starts at once than the spawner queues (64): ttyd's protocol has no retry, so
    // the server waits for room rather than closing with 1013.
    let server = std::sync::Arc::new(Server::start(&["-P", "0", "cat"]));
    let threads: Vec<_> = (0..120)
        .map(|_| {
            let server = server.clone();
            std::thread::spawn(move || {
                let mut ws = connect(&server, "");
                init(&mut ws, 80, 24);
                match ws.read() {
                    Ok(Message::Binary(b)) => b.first() == Some(&b'1'),
                    _ => false,
                }
            })
        })
        .collect();
    let started = threads.into_iter().filter_map(|t| t.join().ok()).filter(|&titled| titled).count();
    assert_eq!(started, 120);
}
