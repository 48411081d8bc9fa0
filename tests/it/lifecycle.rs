//! Startup, shutdown and failure containment of the whole process.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

fn run_and_fail(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringtty")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn startup_errors_are_one_line_and_nonzero() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let table: &[(&[&str], &str)] = &[
        (&["--bogus"], "--help"),
        (&["-p", "99999"], "--help"),
        (&["--no-auth", "-c", "a:b"], "contradict"),
        (&["-H", "X-User"], "--trusted-proxy"),
        (&["-p", &port], "choose another -p"),
        (&["-s", "NOPE"], "signal"),
    ];
    for (args, needle) in table {
        let (code, stderr) = run_and_fail(args);
        assert_ne!(code, 0, "{args:?}");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ringtty: ")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_version_exit_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringtty")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--port", "--interface", "--writable", "--threads", "--base-path", "--no-auth", "COMMAND"] {
        assert!(help.contains(flag), "--help mentions {flag}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ringtty")).arg("-v").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn sigterm_closes_idle_connections_finishes_busy_ones_and_exits_zero() {
    // One worker: the idle connection's close proves the busy one's worker is draining.
    let mut server = Server::start(&["--threads", "1"]);
    let mut idle = server.connect();
    idle.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
    assert_eq!(read_response(&mut idle, false).unwrap().status, 200);
    // A request in progress: its head is half sent.
    let mut busy = server.connect();
    busy.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    assert!(closed_by_peer(&mut idle), "idle keep-alive connection closed at once");
    busy.write_all(b"X-Rest: 1\r\n\r\n").unwrap();
    let r = read_response(&mut busy, false).expect("the busy request is answered");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    let status = server.wait(DEADLINE);
    assert!(status.success(), "{status:?}: {}", server.stderr());
    assert!(std::net::TcpStream::connect(&server.addr).is_err(), "no longer accepting");
}

#[test]
fn sigint_with_a_stuck_client_still_exits_in_bounded_time() {
    let mut server = Server::start(&["--shutdown-timeout", "300ms"]);
    let mut stuck = server.connect();
    stuck.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGINT);
    assert!(server.wait(DEADLINE).success(), "{}", server.stderr());
}

#[test]
fn a_panicking_connection_closes_only_itself() {
    let server = Server::start_with_env(&["--threads", "1"], &[("RINGTTY_FAULT_INJECTION", "1")]);
    let mut other = server.connect();
    let mut victim = server.connect();
    victim
        .write_all(with_auth(&server, "GET /debug/panic HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    assert!(read_response(&mut victim, false).is_none(), "no response from the panicked handler");
    other
        .write_all(with_auth(&server, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    let metrics = String::from_utf8(read_response(&mut other, false).unwrap().body).unwrap();
    assert!(metrics.contains("ringtty_connection_panics_total{worker=\"0\"} 1"), "{metrics}");
    assert!(metrics.contains("ringtty_worker_alive{worker=\"0\"} 1"), "{metrics}");
    assert!(server.stderr().contains("panic: fault injection"), "{}", server.stderr());
}

#[test]
fn a_dead_worker_shows_in_health_and_the_process_exits_nonzero() {
    let mut server = Server::start_with_env(&["--threads", "2"], &[("RINGTTY_FAULT_INJECTION", "1")]);
    let mut s = server.connect();
    s.write_all(with_auth(&server, "GET /debug/panic-worker HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    // New connections land on the surviving worker (the dead one's listener is gone).
    let until = std::time::Instant::now() + DEADLINE;
    let health = loop {
        assert!(std::time::Instant::now() < until, "never saw a degraded /health");
        let Ok(mut c) = std::net::TcpStream::connect(&server.addr) else { continue };
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        let _ = c.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes());
        match read_response(&mut c, false) {
            Some(r) if r.status == 503 => break r.json(),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    assert_eq!(health["status"], "degraded");
    let alive: Vec<bool> =
        health["workers"].as_array().unwrap().iter().map(|w| w["alive"].as_bool().unwrap()).collect();
    assert_eq!(alive.iter().filter(|a| !**a).count(), 1, "{health}");
    let status = server.wait(DEADLINE);
    assert_eq!(status.code(), Some(1), "{}", server.stderr());
}

#[test]
fn startup_says_which_host_limit_to_raise_for_the_capacity() {
    let server = Server::start(&["--max-sessions", "100000"]);
    let until = std::time::Instant::now() + DEADLINE;
    while !server.stderr().contains("kernel.pty.max") {
        assert!(std::time::Instant::now() < until, "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.stderr();
    assert!(log.contains("sysctl -w kernel.pty.max="), "{log}");
    assert!(log.contains("ulimit -n"), "{log}");
}

#[test]
fn shutdown_signals_the_sessions_commands() {
    let mut server = Server::start(&["--threads", "2", "--allow-any-command"]);
    let marker = std::env::temp_dir().join(format!("ringtty-hup-{}", std::process::id()));
    let ready = marker.with_extension("ready");
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_file(&ready);
    // The command says when its trap is set: a SIGHUP before that would kill it unseen.
    let script = format!(
        "trap 'echo got > {}; exit 0' HUP; : > {}; while :; do sleep 0.05; done",
        marker.display(),
        ready.display()
    );
    let body = serde_json::json!({ "command": ["sh", "-c", script] }).to_string();
    let r = request(
        &server,
        &format!(
            "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(r.status, 201);
    let pid = r.json()["pid"].as_i64().unwrap();
    let until = std::time::Instant::now() + DEADLINE;
    while !ready.exists() {
        assert!(std::time::Instant::now() < until, "the command never set its trap");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.signal(libc::SIGTERM);
    assert!(server.wait(DEADLINE).success(), "{}", server.stderr());
    let until = std::time::Instant::now() + DEADLINE;
    // SAFETY: kill(pid, 0) only probes whether the process exists.
    while unsafe { libc::kill(pid as i32, 0) } == 0 {
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "));
        if zombie {
            break;
        }
        assert!(std::time::Instant::now() < until, "the session's command outlived the server");
        std::thread::sleep(Duration::from_millis(20));
    }
    // It got the configured signal (SIGHUP), not just a SIGKILL at the end.
    assert!(marker.exists(), "the command never saw SIGHUP");
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_file(&ready);
}

#[test]
fn a_panicking_session_task_ends_only_its_session_and_reaps_its_child() {
    use crate::sessions::{attach, children, create};
    use tungstenite::Message;
    let args = ["--threads", "1", "-W", "--allow-any-command", "-P", "0", "--max-sessions", "2"];
    let server = Server::start_with_env(&args, &[("RINGTTY_FAULT_INJECTION", "1")]);
    let (victim, other) = (create(&server, &["cat"]), create(&server, &["cat"]));
    let pid = get(&server, &format!("/api/sessions/{victim}")).json()["pid"].as_i64().unwrap();
    let (mut victim_ws, mut other_ws) = (attach(&server, &victim, ""), attach(&server, &other, ""));
    for ws in [&mut victim_ws, &mut other_ws] {
        assert!(matches!(ws.read().unwrap(), Message::Text(_)), "hello");
    }
    get(&server, &format!("/debug/panic-session/{victim}"));
    let close = loop {
        match victim_ws.read().expect("a close before the connection ends") {
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            _ => continue,
        }
    };
    assert_eq!(close, Some(1011), "the failed session's client is told of an internal error");
    // The child was killed and reaped: gone from /proc, not left a zombie.
    let until = std::time::Instant::now() + DEADLINE;
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(std::time::Instant::now() < until, "the panicked session's child {pid} is still there");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(children(server.pid()), (1, 0), "only the other session's child is left, and no zombie");
    // The other session still echoes, on the same worker.
    other_ws.send(Message::binary(b"still-here\n".to_vec())).unwrap();
    let mut echoed = Vec::new();
    while !String::from_utf8_lossy(&echoed).contains("still-here") {
        assert!(std::time::Instant::now() < until, "no echo: {:?}", String::from_utf8_lossy(&echoed));
        if let Message::Binary(b) = other_ws.read().unwrap() {
            echoed.extend_from_slice(&b);
        }
    }
    assert_eq!(get(&server, &format!("/api/sessions/{victim}")).status, 404);
    let list = get(&server, "/api/sessions").json();
    assert_eq!(list["total"], 1, "{list}");
    let metrics = String::from_utf8(get(&server, "/metrics").body).unwrap();
    assert!(metrics.contains("ringtty_session_panics_total{worker=\"0\"} 1"), "{metrics}");
    assert!(metrics.contains("ringtty_worker_alive{worker=\"0\"} 1"), "{metrics}");
    assert!(
        server.stderr().contains("panic: fault injection: panic in a session task"),
        "{}",
        server.stderr()
    );
    // Its place under --max-sessions (2) was given back.
    create(&server, &["cat"]);
}
