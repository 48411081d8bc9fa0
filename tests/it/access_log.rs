//! `--access-log FILE|-` (issue 12, item 9): one JSON line per request and per WebSocket
//! end, never a credential, reopened on SIGHUP, and on stdout after the `Listening on`
//! line.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use crate::common::*;

/// A fresh directory for one test's log files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringtty-access-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// Waits (the logger flushes at least once a second) until a line satisfies `want`.
fn wait_for(path: &Path, what: &str, want: impl Fn(&Value) -> bool) -> Vec<Value> {
    let until = Instant::now() + DEADLINE;
    loop {
        let all = lines(path);
        if all.iter().any(&want) {
            return all;
        }
        assert!(Instant::now() < until, "no line for {what} in {all:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn find<'a>(all: &'a [Value], what: &str, want: impl Fn(&Value) -> bool) -> &'a Value {
    all.iter().find(|v| want(v)).unwrap_or_else(|| panic!("no line for {what} in {all:#?}"))
}

/// Every place a credential can travel, all carrying the server's real token.
fn secrets(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\nCookie: ringtty_token={token}\r\n")
}

#[test]
fn every_kind_of_request_gets_its_line_and_no_secret_is_written() {
    let dir = temp_dir("kinds");
    let log = dir.join("access.log");
    let server = Server::start(&[
        "--threads",
        "2",
        "-W",
        "--allow-any-command",
        "-P",
        "0",
        "--access-log",
        log.to_str().unwrap(),
    ]);
    let secret = server.token.clone().unwrap();
    let both = secrets(&secret);
    let r = request(
        &server,
        &format!("GET /health?token={secret} HTTP/1.1\r\nHost: 127.0.0.1\r\n{both}Connection: close\r\n\r\n"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(get(&server, "/no-such-page").status, 404);
    let r = request(&server, "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 421);
    let body = r#"{"command":["cat"]}"#;
    let create = format!(
        "POST /api/sessions?password=SECRET HTTP/1.1\r\nHost: 127.0.0.1\r\n{both}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let r = request(&server, &create);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();

    // A session attach with the credentials a browser could send, closed by the client.
    let mut req =
        format!("ws://{}/api/sessions/{id}/ws?token={secret}", server.addr).into_client_request().unwrap();
    req.headers_mut().insert("Authorization", format!("Bearer {secret}").parse().unwrap());
    req.headers_mut().insert("Cookie", format!("ringtty_token={secret}").parse().unwrap());
    let (mut ws, _) = tungstenite::client(req, server.connect()).expect("attach");
    ws.send(Message::binary(&b"typed\n"[..])).unwrap();
    let normal = tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    ws.close(Some(normal)).unwrap();
    while ws.read().is_ok() {}

    let all = wait_for(&log, "the WebSocket's end", |v| v["event"] == "ws_end");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("SECRET"), "a secret reached the log:\n{text}");
    // Not even a piece of the token: its signature is the part that must stay secret.
    let signature = secret.rsplit('.').next().unwrap();
    assert!(!text.contains(signature) && !text.contains(&secret), "the token reached the log:\n{text}");
    for v in &all {
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{v}");
        assert!(v["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
        // Every line but the refused one names the token's user.
        let refused = v["status"] == 421;
        assert_eq!(v["user"].as_str(), (!refused).then_some("owner"), "{v}");
        assert!(v["duration_ms"].as_f64().unwrap() >= 0.0, "{v}");
    }
    let health = find(&all, "/health", |v| v["path"] == "/health");
    assert_eq!((health["method"].as_str(), health["status"].as_u64()), (Some("GET"), Some(200)));
    assert_eq!(health["query"], true);
    assert!(health["bytes_out"].as_u64().unwrap() > 0);
    let missing = find(&all, "the 404", |v| v["path"] == "/no-such-page");
    assert_eq!((missing["status"].as_u64(), missing["query"].as_bool()), (Some(404), Some(false)));
    find(&all, "the 421", |v| v["status"] == 421 && v["path"] == "/");
    let post = find(&all, "the POST", |v| v["method"] == "POST");
    assert_eq!((post["path"].as_str(), post["status"].as_u64()), (Some("/api/sessions"), Some(201)));
    assert_eq!(post["bytes_in"].as_u64(), Some(create.len() as u64));
    let upgrade = find(&all, "the upgrade", |v| v["event"] == "request" && v["status"] == 101);
    assert_eq!(upgrade["path"].as_str(), Some(format!("/api/sessions/{id}/ws").as_str()));
    assert_eq!((upgrade["session"].as_str(), upgrade["query"].as_bool()), (Some(id.as_str()), Some(true)));
    let end = find(&all, "the WebSocket's end", |v| v["event"] == "ws_end");
    assert_eq!((end["status"].as_u64(), end["close"].as_u64()), (Some(101), Some(1000)));
    assert_eq!((end["closed_by"].as_str(), end["session"].as_str()), (Some("client"), Some(id.as_str())));
    // The client's frames (the input, its close) and ours (hello, the echo, the close).
    assert!(end["bytes_in"].as_u64().unwrap() >= 6 + 6 + 2, "{end}");
    assert!(end["bytes_out"].as_u64().unwrap() > 0, "{end}");

    let metrics = String::from_utf8(get(&server, "/metrics").body).unwrap();
    let total = |name: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    assert_eq!(
        total("ringtty_requests_denied_total{worker=\"0\",reason=\"host\"}")
            + total("ringtty_requests_denied_total{worker=\"1\",reason=\"host\"}"),
        1,
        "{metrics}"
    );
    assert!(metrics.contains("ringtty_access_log_dropped_total{worker=\"0\"} 0"), "{metrics}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_ttyd_connection_logs_its_session_and_how_it_ended() {
    let dir = temp_dir("ttyd");
    let log = dir.join("access.log");
    let server = Server::start(&["-P", "0", "--access-log", log.to_str().unwrap(), "sh", "-c", "exit 3"]);
    let mut req = server.ws_request("/ws");
    req.headers_mut().insert("Sec-WebSocket-Protocol", "tty".parse().unwrap());
    let (mut ws, _) = tungstenite::client(req, server.connect()).expect("upgrade /ws");
    ws.send(Message::binary(&br#"{"AuthToken":"","columns":80,"rows":24}"#[..])).unwrap();
    while ws.read().is_ok() {}
    let all = wait_for(&log, "the ttyd end", |v| v["event"] == "ws_end");
    let end = find(&all, "the ttyd end", |v| v["event"] == "ws_end");
    assert_eq!(end["path"], "/ws");
    // ttyd has no exit message: a failed command closes with 1011, the server first.
    assert_eq!((end["close"].as_u64(), end["closed_by"].as_str()), (Some(1011), Some("server")), "{end}");
    assert!(end["session"].is_string(), "{end}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sighup_reopens_the_file_at_its_path_after_a_rotation() {
    let dir = temp_dir("rotate");
    let log = dir.join("access.log");
    let rotated = dir.join("access.log.1");
    let server = Server::start(&["--access-log", log.to_str().unwrap()]);
    // The supervisor says when SIGHUP is caught; before, it would end the server.
    let until = Instant::now() + DEADLINE;
    while !server.stderr().contains("SIGHUP reopens") {
        assert!(Instant::now() < until, "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(get(&server, "/before").status, 404);
    wait_for(&log, "/before", |v| v["path"] == "/before");
    std::fs::rename(&log, &rotated).unwrap();
    server.signal(libc::SIGHUP);
    // Requests until one lands in a new file at the original path (the reopen happens
    // on the logger thread, within a second).
    let until = Instant::now() + DEADLINE;
    while !lines(&log).iter().any(|v| v["path"] == "/after") {
        assert!(Instant::now() < until, "no new file at {}; stderr: {}", log.display(), server.stderr());
        assert_eq!(get(&server, "/after").status, 404);
        std::thread::sleep(Duration::from_millis(50));
    }
    let old = lines(&rotated);
    assert!(old.iter().any(|v| v["path"] == "/before"), "{old:#?}");
    assert!(!lines(&log).iter().any(|v| v["path"] == "/before"));
    assert_eq!(get(&server, "/health").status, 200, "the server lives on after SIGHUP");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dash_writes_lines_to_stdout_after_the_listening_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringtty"))
        .args(["-p", "0", "--access-log", "-", "-d", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(DEADLINE).expect("a first line");
    let addr = first.strip_prefix("Listening on http://").expect(&first).trim_end_matches('/').to_owned();
    // Then the login URL, once; the access log follows.
    let login = rx.recv_timeout(DEADLINE).expect("the login line");
    assert!(login.starts_with(&format!("Login: http://{addr}/?token=")), "{login}");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
    let line = rx.recv_timeout(DEADLINE).expect("an access-log line on stdout");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!((v["path"].as_str(), v["status"].as_u64()), (Some("/health"), Some(200)));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_log_that_cannot_be_opened_is_a_one_line_startup_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringtty"))
        .args(["-p", "0", "--access-log", "/nonexistent-ringtty-dir/access.log"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ringtty: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("--access-log /nonexistent-ringtty-dir/access.log"), "{stderr}");
    assert!(errors[0].contains("create its directory"), "{stderr}");
    // Never announced as listening.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Listening"));
}

#[test]
fn pipelined_requests_and_a_100_continue_get_one_line_each_with_their_own_bytes() {
    let dir = temp_dir("pipeline");
    let log = dir.join("access.log");
    let server = Server::start(&["--threads", "1", "--access-log", log.to_str().unwrap()]);
    let mut s = server.connect();
    // Three requests in one write: their responses go out together, each counted alone.
    let three = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n\
                 GET /one HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n\
                 HEAD /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    s.write_all(with_auth(&server, three).as_bytes()).unwrap();
    let sizes: Vec<u64> = [false, false, true]
        .iter()
        .map(|&head| {
            let r = read_response(&mut s, head).unwrap();
            let head_len: usize = r.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
            (r.status.to_string().len() + 9 + head_len + 2 + r.body.len()) as u64
        })
        .collect();
    // A body sent only after the `100 Continue`.
    s.write_all(with_auth(&server, "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").as_bytes())
        .unwrap();
    let mut interim = [0u8; 25];
    std::io::Read::read_exact(&mut s, &mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"{}").unwrap();
    let post = read_response(&mut s, false).unwrap();
    let all = wait_for(&log, "the POST", |v| v["method"] == "POST");
    let by_path = |p: &str| find(&all, p, |v| v["path"] == p).clone();
    let statuses = ["/health", "/one", "/api/config"].map(|p| by_path(p)["status"].as_u64().unwrap());
    assert_eq!(statuses, [200, 404, 200]);
    // Each response's own size, reason phrase included (the client parsed it out).
    for (p, size) in ["/health", "/one", "/api/config"].iter().zip(&sizes) {
        let out = by_path(p)["bytes_out"].as_u64().unwrap();
        assert!(out >= *size && out < size + 40, "{p}: {out} vs {size}");
    }
    let logged = by_path("/api/sessions");
    assert_eq!(logged["status"].as_u64(), Some(u64::from(post.status)));
    assert!(logged["bytes_out"].as_u64().unwrap() > 25, "the 100 Continue and the answer: {logged}");
    let _ = std::fs::remove_dir_all(&dir);
}
