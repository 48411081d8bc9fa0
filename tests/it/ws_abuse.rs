//! WebSocket peers that misbehave on every endpoint (native, ttyd's `/ws`, echo): ping
//! floods from clients that never read, messages over the limit in fragments, a
//! read-only client's resize. The server must free what they held and stay bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringtty::ws::{encode_frame, OpCode};
use serde_json::{json, Value};

use crate::common::*;

/// Upgrades a fresh connection to a WebSocket on `path` by hand (`tty` offered for
/// ttyd's endpoint) and returns the raw socket.
fn upgrade(server: &Server, path: &str) -> TcpStream {
    let mut s = server.connect();
    let protocol = if path.starts_with("/ws") { "Sec-WebSocket-Protocol: tty\r\n" } else { "" };
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{protocol}\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(with_auth(server, &head).as_bytes()).unwrap();
    let r = read_response(&mut s, true).expect("101");
    assert_eq!(r.status, 101, "{path}");
    s
}

fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, fin, opcode, Some([1, 2, 3, 4]), payload);
    out
}

/// `count` masked pings carrying `payload`, back to back.
fn pings(count: usize, payload: &[u8]) -> Vec<u8> {
    frame(true, OpCode::Ping, payload).repeat(count)
}

/// Sends pings and never reads, until `enough` bytes are out, or the server has stopped
/// reading (no write makes progress for 2 s), or `stop` is set. Returns the bytes sent.
fn flood(s: &mut TcpStream, batch: &[u8], enough: usize, stop: &AtomicBool) -> usize {
    s.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
    let (mut sent, mut stalls) = (0, 0);
    while sent < enough && stalls < 4 && !stop.load(Relaxed) {
        match s.write(batch) {
            Ok(n) => (sent, stalls) = (sent + n, 0),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                stalls += 1
            }
            Err(_) => break,
        }
    }
    sent
}

/// Waits until `done` holds, failing with `what` (and its last value) after the deadline.
fn eventually<T: std::fmt::Debug>(what: &str, mut probe: impl FnMut() -> T, done: impl Fn(&T) -> bool) {
    let until = Instant::now() + DEADLINE;
    loop {
        let value = probe();
        if done(&value) {
            return;
        }
        assert!(Instant::now() < until, "{what}: still {value:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn post(server: &Server, path: &str, body: &Value) -> Response {
    let body = body.to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    request(server, &(head + &body))
}

fn create(server: &Server, command: &[&str]) -> String {
    let r = post(server, "/api/sessions", &json!({ "command": command }));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

/// A baseline of the server's descriptors once it has served a request.
fn fd_baseline(server: &Server) -> usize {
    let _ = get(server, "/health");
    std::thread::sleep(Duration::from_millis(100));
    server.fd_count()
}

/// Reads frames until `needle` shows up in the payloads (unmasked server frames).
fn read_until(s: &mut TcpStream, needle: &str) {
    let until = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        assert!(Instant::now() < until, "never saw {needle:?}");
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed before {needle:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Reads server frames until a close frame; its code (None: the connection ended).
fn close_code(s: &mut TcpStream) -> Option<u16> {
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut all = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let mut i = 0;
        while i + 2 <= all.len() {
            let (op, len) = (all[i] & 0x0f, (all[i + 1] & 0x7f) as usize);
            let (hdr, len) = match len {
                126 if i + 4 <= all.len() => (4, u16::from_be_bytes([all[i + 2], all[i + 3]]) as usize),
                127 if i + 10 <= all.len() => {
                    (10, u64::from_be_bytes(all[i + 2..i + 10].try_into().unwrap()) as usize)
                }
                126 | 127 => break,
                n => (2, n),
            };
            if op == 8 && i + hdr + 2 <= all.len() {
                return Some(u16::from_be_bytes([all[i + hdr], all[i + hdr + 1]]));
            }
            if i + hdr + len > all.len() {
                break;
            }
            i += hdr + len;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// 64 KiB ping payloads' worth: 125-byte pings, so a flood is many bytes, few frames.
fn ping_batch() -> Vec<u8> {
    pings(500, &[b'p'; 125])
}

/// Enough for the server's outbox to fill (it answers every ping) whatever the socket
/// buffers on the way hold.
const FLOOD: usize = 32 << 20;

#[test]
fn a_native_client_flooding_pings_without_reading_is_freed_when_it_closes() {
    let server = Server::start(&[
        "--threads",
        "1",
        "--allow-any-command",
        "-P",
        "0",
        "--detach-timeout",
        "300ms",
        "--exited-ttl",
        "0",
    ]);
    let baseline = fd_baseline(&server);
    let id = create(&server, &["sleep", "60"]);
    let mut s = upgrade(&server, &format!("/api/sessions/{id}/ws"));
    flood(&mut s, &ping_batch(), FLOOD, &AtomicBool::new(false));
    drop(s);
    // Its client leaves the session, whose detach timer then ends it.
    let path = format!("/api/sessions/{id}");
    eventually(
        "the flooding client never left its session",
        || get(&server, &path).json()["clients"].clone(),
        |c| c.as_u64() != Some(1),
    );
    eventually("the abandoned session was never ended", || get(&server, &path).status, |&s| s == 404);
    eventually("descriptors not back to the baseline", || server.fd_count(), |&n| n == baseline);
}

#[test]
fn a_ttyd_client_flooding_pings_without_reading_is_freed_when_it_closes() {
    let server = Server::start(&["--threads", "1", "-P", "0", "--", "sleep", "60"]);
    let baseline = fd_baseline(&server);
    let mut s = upgrade(&server, "/ws");
    s.write_all(&frame(true, OpCode::Binary, br#"{"AuthToken":"","columns":80,"rows":24}"#)).unwrap();
    flood(&mut s, &ping_batch(), FLOOD, &AtomicBool::new(false));
    drop(s);
    // ttyd's semantics: the process dies with its connection.
    let sessions = || get(&server, "/api/sessions").json()["total"].as_u64().unwrap();
    eventually("the flooding client's session outlived it", sessions, |&n| n == 0);
    eventually("its process outlived it", || crate::sessions::children(server.pid()), |&(n, _)| n == 0);
    eventually("descriptors not back to the baseline", || server.fd_count(), |&n| n == baseline);
}

#[test]
fn an_echo_client_flooding_pings_without_reading_is_freed_when_it_closes() {
    let server = Server::start(&["--threads", "1", "--ws-echo", "/echo", "-P", "0"]);
    let baseline = fd_baseline(&server);
    let mut s = upgrade(&server, "/echo");
    flood(&mut s, &ping_batch(), FLOOD, &AtomicBool::new(false));
    drop(s);
    eventually("descriptors not back to the baseline", || server.fd_count(), |&n| n == baseline);
    let open = || get(&server, "/health").json()["workers"][0]["connections"].as_u64().unwrap();
    eventually("the connection is still counted", open, |&n| n <= 1);
}

#[test]
fn a_ping_flood_from_clients_that_never_read_leaves_the_core_responsive_and_memory_bounded() {
    let server = Arc::new(Server::start(&["--threads", "1", "--allow-any-command", "-P", "0"]));
    let id = create(&server, &["sleep", "60"]);
    let before = rss_kib(&server);
    let stop = Arc::new(AtomicBool::new(false));
    let (flooding_tx, flooding) = std::sync::mpsc::channel();
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let mut s = upgrade(&server, &format!("/api/sessions/{id}/ws"));
            let (stop, flooding_tx) = (stop.clone(), flooding_tx.clone());
            std::thread::spawn(move || {
                // Empty pings: the most frames, and pongs, per byte.
                let batch = pings(10_000, b"");
                flood(&mut s, &batch, FLOOD, &stop);
                flooding_tx.send(()).unwrap();
                // Then keep the server busy until the checks are done.
                flood(&mut s, &batch, usize::MAX, &stop);
            })
        })
        .collect();
    for _ in &clients {
        flooding.recv_timeout(4 * DEADLINE).expect("a flooding client stalled");
    }
    // The worker that serves them still answers, and holds no pong per ping.
    let mut health = server.connect();
    health.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    health
        .write_all(
            with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let answered = read_response(&mut health, false);
    let grown_mib = rss_kib(&server).saturating_sub(before) / 1024;
    stop.store(true, Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(answered.map(|r| r.status), Some(200), "/health stalled behind the flood");
    assert!(grown_mib < 32, "two ping floods grew the server by {grown_mib} MiB");
}

#[test]
fn an_echo_client_that_never_reads_holds_about_one_message_and_the_queue() {
    let server = Server::start(&["--threads", "1", "--ws-echo", "/echo", "-P", "0"]);
    let before = rss_kib(&server);
    let mut s = upgrade(&server, "/echo");
    // Messages of the largest size, sent until the server stops reading.
    let message = frame(true, OpCode::Binary, &vec![7u8; 16 << 20]);
    let mut sent = 0;
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let until = Instant::now() + DEADLINE;
    while Instant::now() < until {
        match s.write(&message[sent % message.len()..]) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(sent > message.len(), "the server stopped reading before a whole message: {sent}");
    let grown_mib = rss_kib(&server).saturating_sub(before) / 1024;
    // One 16 MiB message, the 1 MiB queue, and some slack for buffers and the allocator.
    assert!(grown_mib <= 16 + 1 + 4, "a client that never reads made the server hold {grown_mib} MiB");
}

#[test]
fn a_fragmented_native_message_over_the_limit_closes_with_1009_and_types_nothing() {
    let server = Server::start(&["--threads", "1", "-W", "--allow-any-command", "-P", "0"]);
    // A program that reads nothing: its terminal's input fills up.
    let id = create(&server, &["sh", "-c", "stty raw -echo; echo ready; exec sleep 60"]);
    let mut s = upgrade(&server, &format!("/api/sessions/{id}/ws"));
    read_until(&mut s, "ready");
    assert_eq!(send_oversized_message(&mut s, &[]), Some(1009));
    let metrics = String::from_utf8(get(&server, "/metrics").body).unwrap();
    let typed = metrics.lines().find(|l| l.starts_with("ringtty_pty_input_bytes_total")).unwrap();
    assert!(typed.ends_with(" 0"), "part of a refused message was typed: {typed}");
}

#[test]
fn a_fragmented_ttyd_message_over_the_limit_closes_with_1009() {
    let server = Server::start(&[
        "--threads",
        "1",
        "-W",
        "-P",
        "0",
        "--",
        "sh",
        "-c",
        "stty raw -echo; echo ready; exec sleep 60",
    ]);
    let mut s = upgrade(&server, "/ws");
    s.write_all(&frame(true, OpCode::Binary, br#"{"AuthToken":"","columns":80,"rows":24}"#)).unwrap();
    read_until(&mut s, "ready");
    assert_eq!(send_oversized_message(&mut s, b"0"), Some(1009));
}

/// Sends a binary message of `prefix` and 17 fragments of 64 KiB (over the 1 MiB limit)
/// from another thread, the server may stop reading it, and returns the close code seen.
fn send_oversized_message(s: &mut TcpStream, prefix: &[u8]) -> Option<u16> {
    let piece = vec![b'x'; 64 * 1024];
    let mut message = frame(false, OpCode::Binary, prefix);
    for _ in 0..17 {
        message.extend(frame(false, OpCode::Continuation, &piece));
    }
    message.extend(frame(true, OpCode::Continuation, b"!"));
    let mut w = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = w.write_all(&message);
    });
    let code = close_code(s);
    sender.join().unwrap();
    code
}

#[test]
fn a_read_only_ttyd_client_cannot_resize_its_terminal() {
    let server = Server::start(&["--threads", "1", "-P", "0", "--", "sleep", "60"]);
    let mut s = upgrade(&server, "/ws");
    s.write_all(&frame(true, OpCode::Binary, br#"{"AuthToken":"","columns":80,"rows":24}"#)).unwrap();
    read_until(&mut s, "sleep");
    s.write_all(&frame(true, OpCode::Binary, br#"1{"columns":120,"rows":40}"#)).unwrap();
    // Messages are handled in order: once the pong is back, so is the resize.
    s.write_all(&frame(true, OpCode::Ping, b"after-resize")).unwrap();
    read_until(&mut s, "after-resize");
    let session = &get(&server, "/api/sessions").json()["sessions"][0];
    assert_eq!((session["cols"].as_u64(), session["rows"].as_u64()), (Some(80), Some(24)));
}
