//! Live upgrade (issue 16, `--handover`): a second process started with the same
//! socket takes over listeners and sessions from the first; the client of a session in
//! full flow sees "going away" (1001), reconnects with `since` and gets every byte once,
//! in order.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringtty::auth::Mode;
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use crate::auth::*;
use crate::common::*;

type Ws = tungstenite::WebSocket<TcpStream>;

/// A live upgrade reads terminals by readiness (`--handover` refuses `--io uring`).
fn uring_run() -> bool {
    std::env::var("RINGTTY_TEST_IO").is_ok_and(|io| io == "uring")
}

fn attach(addr: &str, id: &str, token: &str, since: Option<u64>) -> Option<(Ws, Value)> {
    let since = since.map(|s| format!("&since={s}")).unwrap_or_default();
    let url = format!("ws://{addr}/api/sessions/{id}/ws?token={token}{since}");
    let stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let (mut ws, _) = tungstenite::client(url, stream).ok()?;
    let hello = match ws.read().ok()? {
        Message::Text(t) => serde_json::from_str::<Value>(&t).ok()?,
        _ => return None,
    };
    Some((ws, hello))
}

/// Reads a session to its end as a driving client that acknowledges what it got,
/// reconnecting with `since` whenever the server goes away. Returns the output, the
/// exit message, and the longest time it could not reach the session.
fn read_to_exit(addr: &str, id: &str, token: &str, upgrade: impl FnOnce(u64)) -> (Vec<u8>, Value, Duration) {
    let mut upgrade = Some(upgrade);
    let mut out = Vec::new();
    let mut offset = None;
    let mut worst = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(120);
    'connect: loop {
        let lost = Instant::now();
        let (mut ws, hello) = loop {
            if let Some(c) = attach(addr, id, token, offset) {
                break c;
            }
            assert!(lost.elapsed() < Duration::from_secs(15), "the session was unreachable for 15 s");
            std::thread::sleep(Duration::from_millis(10));
        };
        if offset.is_some() {
            worst = worst.max(lost.elapsed());
        }
        assert_eq!(hello["type"], "hello", "{hello}");
        let mut at = hello["offset"].as_u64().unwrap();
        if let Some(o) = offset {
            assert_eq!(at, o, "resumed where it was");
        }
        // Driving: the command waits for a line, then runs; output is acknowledged.
        ws.send(Message::text(json!({"type": "resize", "cols": 80, "rows": 24}).to_string())).unwrap();
        if offset.is_none() {
            ws.send(Message::binary(b"\n".to_vec())).unwrap();
        }
        let mut acked = at;
        loop {
            assert!(Instant::now() < deadline, "the command did not finish in time");
            match ws.read() {
                Ok(Message::Binary(b)) => {
                    out.extend_from_slice(&b);
                    at += b.len() as u64;
                    offset = Some(at);
                    if at - acked >= 64 * 1024 {
                        ws.send(Message::text(json!({"type": "ack", "offset": at}).to_string())).unwrap();
                        acked = at;
                    }
                    if out.len() > 1_000_000 {
                        if let Some(up) = upgrade.take() {
                            up(at);
                        }
                    }
                }
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    match v["type"].as_str() {
                        Some("exit") => return (out, v, worst),
                        Some("gap") => panic!("output was skipped: {v}"),
                        _ => {}
                    }
                }
                Ok(Message::Close(Some(f))) => {
                    assert_eq!(f.code, CloseCode::Away, "{f:?}");
                    continue 'connect;
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    continue 'connect
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[test]
fn a_live_upgrade_mid_stream_loses_no_byte_and_repeats_none() {
    if uring_run() {
        return;
    }
    let dir = temp_dir("handover");
    let secret = private_file(&dir, "secret", SECRET);
    let socket = dir.join("handover.sock");
    let (secret, socket) = (secret.to_str().unwrap().to_owned(), socket.to_str().unwrap().to_owned());
    let common =
        ["--auth-secret-file", &secret, "--handover", &socket, "-W", "--allow-any-command", "--threads", "2"];
    let mut old = Server::start(&[&common[..], &["-p", "0", "-i", "127.0.0.1"]].concat());
    let port = old.addr.rsplit(':').next().unwrap().to_owned();
    let token = mint("alice", Mode::Rw, None, false);
    let body = r#"{"command": ["sh", "-c", "read x; seq 1 1000000; exit 3"]}"#;
    let r = send(&old, "POST", "/api/sessions", &bearer(&token), body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // Another session, idle, with output: it must come across too.
    let idle = send(
        &old,
        "POST",
        "/api/sessions",
        &bearer(&token),
        r#"{"command": ["sh", "-c", "echo idle-marker; exec cat"], "name": "idle", "keep": true}"#,
    );
    let idle_id = idle.json()["id"].as_str().unwrap().to_owned();

    let addr = old.addr.clone();
    let mut new: Option<Server> = None;
    let (out, exit, unreachable) = read_to_exit(&addr, &id, &token, |at| {
        eprintln!("upgrading at offset {at}");
        new = Some(Server::start(&[&common[..], &["-p", &port, "-i", "127.0.0.1"]].concat()));
    });
    let new = new.expect("the upgrade ran");
    let status = old.wait(Duration::from_secs(10));
    assert!(status.success(), "the old process: {status:?}\n{}", old.stderr());
    assert!(old.stderr().contains("handed to pid"), "{}", old.stderr());
    assert!(new.stderr().contains("took over 2 listeners and 2 sessions"), "{}", new.stderr());
    eprintln!("the session was unreachable for {unreachable:?}; exit: {exit}");

    // Every line once, in order.
    let text = String::from_utf8_lossy(&out);
    let numbers: Vec<u32> = text.split("\r\n").filter_map(|l| l.parse().ok()).collect();
    assert_eq!(numbers.len(), 1_000_000, "lines received");
    assert!(numbers.iter().enumerate().all(|(i, &n)| n == i as u32 + 1), "in order, each once");
    // The status of a command the new process did not start (read from its pidfd).
    assert!(exit["code"] == json!(3) || exit["code"].is_null(), "{exit}");

    // The idle session came across with its output and still runs.
    let v = send(&new, "GET", &format!("/api/sessions/{idle_id}"), &bearer(&token), "").json();
    assert_eq!(v["status"], "running", "{v}");
    // With its name, keep and last output time (issue 17).
    assert_eq!((v["name"].as_str(), v["keep"].as_bool()), (Some("idle"), Some(true)), "{v}");
    assert!(v["last_output"].is_u64(), "{v}");
    let (mut ws, hello) = attach(&new.addr, &idle_id, &token, Some(0)).expect("attach after the upgrade");
    assert_eq!(hello["type"], "hello");
    ws.send(Message::binary(b"typed-after-upgrade\n".to_vec())).unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).matches("typed-after-upgrade").count().ge(&2) {
        if let Message::Binary(b) = ws.read().unwrap() {
            seen.extend_from_slice(&b);
        }
    }
    assert!(String::from_utf8_lossy(&seen).contains("idle-marker"), "its scrollback came across");

    // A second upgrade hands over what the first one adopted.
    drop(ws);
    let mut new = new;
    let third = Server::start(&[&common[..], &["-p", &port, "-i", "127.0.0.1"]].concat());
    assert!(new.wait(Duration::from_secs(10)).success(), "{}", new.stderr());
    let (mut ws, _) =
        attach(&third.addr, &idle_id, &token, Some(0)).expect("attach after the second upgrade");
    ws.send(Message::binary(b"typed-after-second\n".to_vec())).unwrap();
    let mut seen = Vec::new();
    while String::from_utf8_lossy(&seen).matches("typed-after-second").count() < 2 {
        if let Message::Binary(b) = ws.read().unwrap() {
            seen.extend_from_slice(&b);
        }
    }
    assert!(String::from_utf8_lossy(&seen).contains("typed-after-upgrade"), "and kept its scrollback again");
    // The exited session came across twice too, with its output.
    let v = send(&third, "GET", &format!("/api/sessions/{id}"), &bearer(&token), "").json();
    assert_eq!(v["status"], "exited", "{v}");
}

#[test]
fn a_handover_to_another_shape_is_refused_and_the_server_serves_on() {
    if uring_run() {
        return;
    }
    let dir = temp_dir("handover-refused");
    let secret = private_file(&dir, "secret", SECRET);
    let socket = dir.join("handover.sock");
    let (secret, socket) = (secret.to_str().unwrap().to_owned(), socket.to_str().unwrap().to_owned());
    let old = Server::start(&["--auth-secret-file", &secret, "--handover", &socket, "--threads", "2", "cat"]);
    let token = mint("alice", Mode::Rw, None, false);
    let id =
        send(&old, "POST", "/api/sessions", &bearer(&token), "{}").json()["id"].as_str().unwrap().to_owned();
    // Another worker count: its ids name other cores.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringtty"))
        .args(["--auth-secret-file", &secret, "--handover", &socket, "--threads", "1", "-p", "0", "cat"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--threads 2"), "{err}");
    // Nothing moved.
    let v = send(&old, "GET", &format!("/api/sessions/{id}"), &bearer(&token), "").json();
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!(get(&old, "/health").status, 200, "not draining");
}
