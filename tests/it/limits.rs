//! Resource limits under pressure: the open-file limit, slow request bodies, the session
//! limit, and who may connect to a unix socket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use crate::common::*;

/// `POST` of a JSON body on an open keep-alive connection.
fn post_on(server: &Server, s: &mut TcpStream, path: &str, body: &Value) -> Response {
    let body = body.to_string();
    let head = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(with_auth(server, &format!("{head}{body}")).as_bytes()).unwrap();
    read_response(s, false).expect("a response")
}

fn send_on(server: &Server, s: &mut TcpStream, method: &str, path: &str) -> Response {
    s.write_all(
        with_auth(server, &format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).as_bytes(),
    )
    .unwrap();
    read_response(s, false).expect("a response")
}

fn attach(server: &Server, id: &str) -> WebSocket<TcpStream> {
    tungstenite::client(server.ws_request(&format!("/api/sessions/{id}/ws")), server.connect())
        .expect("attach")
        .0
}

/// Types `line` and reads the terminal until it echoes back.
fn echoes(ws: &mut WebSocket<TcpStream>, line: &str) {
    ws.send(Message::binary(format!("{line}\n").into_bytes())).unwrap();
    let until = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    while !String::from_utf8_lossy(&out).contains(line) {
        assert!(Instant::now() < until, "no echo of {line:?}; got {:?}", String::from_utf8_lossy(&out));
        match ws.read() {
            Ok(Message::Binary(b)) => out.extend_from_slice(&b),
            Ok(_) => {}
            Err(e) => panic!("no echo of {line:?}: {e}"),
        }
    }
}

/// Sets the open-file limit, soft and hard (the server raises its soft limit to the hard).
fn nofile(limit: u64) -> impl FnMut() -> std::io::Result<()> + Send + Sync + 'static {
    move || {
        let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
        // SAFETY: setrlimit reads a valid rlimit; async-signal-safe.
        match unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    }
}

#[test]
fn out_of_descriptors_the_server_sheds_the_surplus_and_keeps_serving() {
    let args = ["--threads", "1", "-W", "--allow-any-command", "-P", "0", "--max-sessions", "1000"];
    let server = Server::start_with(&args, &[], nofile(128));
    let mut http = server.connect();
    let id = post_on(&server, &mut http, "/api/sessions", &json!({"command": ["cat"]})).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ws = attach(&server, &id);
    echoes(&mut ws, "before");
    let baseline = server.fd_count();
    // Sessions take the descriptors the connection cap cannot know about, until none is left.
    let mut sessions = Vec::new();
    for _ in 0..200 {
        let r = post_on(&server, &mut http, "/api/sessions", &json!({"command": ["sleep", "1000"]}));
        if r.status != 201 {
            assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
            break;
        }
        sessions.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    assert!(!sessions.is_empty() && sessions.len() < 200, "{} sessions", sessions.len());
    // The surplus: every one is answered (503, or served if a descriptor came free).
    let mut surplus: Vec<TcpStream> = (0..40).map(|_| server.connect()).collect();
    for s in &mut surplus {
        s.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .unwrap();
    }
    let until = Instant::now() + DEADLINE;
    for (i, s) in surplus.iter_mut().enumerate() {
        let left = until.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).unwrap();
        let r = read_response(s, false);
        let status = r.as_ref().map(|r| r.status);
        assert!(matches!(status, Some(200 | 503)), "surplus connection {i}: {status:?}; {}", server.stderr());
    }
    // Meanwhile the attached session echoes and /health answers.
    echoes(&mut ws, "during");
    assert_eq!(send_on(&server, &mut http, "GET", "/health").status, 200);
    drop(surplus);
    for id in &sessions {
        assert_eq!(send_on(&server, &mut http, "DELETE", &format!("/api/sessions/{id}")).status, 202);
    }
    let until = Instant::now() + Duration::from_secs(20);
    while server.fd_count() > baseline {
        assert!(Instant::now() < until, "{} fds, baseline {baseline}", server.fd_count());
        std::thread::sleep(Duration::from_millis(50));
    }
    echoes(&mut ws, "after");
    let log = server.stderr();
    // Reported once per 10 s, not once per failed accept.
    let reports = log.matches("out of file descriptors").count();
    assert!((1..=3).contains(&reports), "{reports} reports: {log}");
    assert!(log.contains("connections: at most"), "the startup cap is logged: {log}");
}

#[test]
fn a_body_dripped_a_byte_at_a_time_is_cut_at_the_body_deadline() {
    let server = Server::start(&["--http-body-timeout", "1s"]);
    let mut s = server.connect();
    s.write_all(
        with_auth(&server, "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
            .as_bytes(),
    )
    .unwrap();
    // A byte every 200 ms: each read comes well within any per-read timeout, the whole
    // body would take 20 s.
    let mut drip = s.try_clone().unwrap();
    std::thread::spawn(move || {
        for _ in 0..99 {
            std::thread::sleep(Duration::from_millis(200));
            if drip.write_all(b" ").is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let r = read_response(&mut s, false).expect("a response before the body is complete");
    assert_eq!(r.status, 408, "{}", String::from_utf8_lossy(&r.body));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(closed_by_peer(&mut s));
}

#[test]
fn exited_and_deleted_sessions_free_their_place_under_max_sessions() {
    let server = Server::start(&["--threads", "2", "--allow-any-command", "--max-sessions", "2"]);
    let mut http = server.connect();
    let mut create =
        |command: &[&str]| post_on(&server, &mut http, "/api/sessions", &json!({ "command": command }));
    let short = create(&["sh", "-c", "exit 0"]);
    assert_eq!(short.status, 201);
    let long = create(&["sleep", "1000"]);
    assert_eq!(long.status, 201);
    let status = |id: &str| get(&server, &format!("/api/sessions/{id}")).json()["status"].clone();
    let wait_exited = |id: &str| {
        let until = Instant::now() + DEADLINE;
        while status(id) != "exited" {
            assert!(Instant::now() < until, "session {id} never exited");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let short_id = short.json()["id"].as_str().unwrap().to_owned();
    wait_exited(&short_id);
    // The exited session is still listed (for --exited-ttl) but holds no place.
    let third = create(&["sleep", "1000"]);
    assert_eq!(third.status, 201, "{}", String::from_utf8_lossy(&third.body));
    assert_eq!(create(&["sleep", "1000"]).status, 503);
    let long_id = long.json()["id"].as_str().unwrap().to_owned();
    let r = request(
        &server,
        &format!("DELETE /api/sessions/{long_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(r.status, 202);
    wait_exited(&long_id);
    assert_eq!(create(&["sleep", "1000"]).status, 201);
}

/// Runs the server on a unix socket under umask 000 and returns the socket's mode.
fn socket_mode_under_umask_000(extra: &[&str]) -> u32 {
    let dir = std::env::temp_dir().join(format!("ringtty-mode-{}-{}", std::process::id(), extra.len()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.sock");
    let mut args = vec!["-i", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let server = Server::start_with(&args, &[], || {
        // SAFETY: umask only sets the process's file mode mask.
        unsafe { libc::umask(0) };
        Ok(())
    });
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    // It serves, and nothing of the private bind is left beside it.
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, false).map(|r| r.status), Some(200));
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(entries, [std::ffi::OsString::from("x.sock")]);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    mode
}

#[test]
fn a_unix_socket_is_for_its_owner_whatever_the_umask() {
    assert_eq!(socket_mode_under_umask_000(&[]), 0o600);
    // SAFETY: getuid/getgid cannot fail.
    let owner = unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) };
    assert_eq!(socket_mode_under_umask_000(&["-U", &owner]), 0o660);
}

/// A TCP connection to `addr` from the local address `from` (a loopback alias).
fn connect_from(from: std::net::IpAddr, addr: &str) -> std::net::TcpStream {
    use rustix::net::{AddressFamily, SocketType};
    let sock = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    rustix::net::bind(&sock, &std::net::SocketAddr::new(from, 0)).unwrap();
    let to: std::net::SocketAddr = addr.parse().unwrap();
    rustix::net::connect(&sock, &to).unwrap();
    let s = std::net::TcpStream::from(sock);
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

#[test]
fn a_peer_outside_allow_ip_is_closed_before_a_byte_is_read() {
    let server = Server::start(&["--threads", "1", "--allow-ip", "127.0.0.1/32", "-P", "0"]);
    let mut outsider = connect_from("127.0.0.2".parse().unwrap(), &server.addr);
    // Whatever it sends, it gets nothing back: no status line, only the end.
    let _ =
        outsider.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes());
    let mut got = Vec::new();
    let _ = outsider.read_to_end(&mut got);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    let mut insider = connect_from("127.0.0.1".parse().unwrap(), &server.addr);
    insider
        .write_all(with_auth(&server, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    let r = read_response(&mut insider, false).unwrap();
    assert_eq!(r.status, 200);
    let metrics = String::from_utf8(r.body).unwrap();
    assert!(metrics.contains("ringtty_peers_refused_total{worker=\"0\"} 1"), "{metrics}");
}
