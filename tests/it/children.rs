//! Processes a session's command leaves behind: a background job in its own process
//! group that ignores SIGHUP, and a command that ignores SIGHUP when the server itself
//! is killed. None may outlive its session.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use tungstenite::Message;

use crate::common::*;

/// A shell with job control (`set -m`) starts a job in its own process group that
/// ignores SIGHUP, prints the job's pid, and waits on `cat`.
const ESCAPEE: &str = r#"set -m; (trap "" HUP; exec sleep 1000) & echo "job=$!."; exec cat"#;

fn create(server: &Server, command: &[&str]) -> serde_json::Value {
    let body = json!({ "command": command }).to_string();
    let r = request(
        server,
        &format!(
            "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Starts the escapee in a session and returns the session's id and the job's pid,
/// once the job runs in its own group of the session, ignoring SIGHUP.
fn start_escapee(server: &Server) -> (String, i32) {
    let id = create(server, &["sh", "-c", ESCAPEE])["id"].as_str().unwrap().to_owned();
    let req = server.ws_request(&format!("/api/sessions/{id}/ws"));
    let mut ws = tungstenite::client(req, server.connect()).expect("attach").0;
    let until = Instant::now() + DEADLINE;
    let mut out = String::new();
    let pid = loop {
        assert!(Instant::now() < until, "no job pid in {out:?}");
        if let Message::Binary(b) = ws.read().unwrap() {
            out.push_str(&String::from_utf8_lossy(&b));
        }
        let job = out.split_once("job=").and_then(|(_, rest)| rest.split_once('.'));
        if let Some(pid) = job.and_then(|(pid, _)| pid.parse::<i32>().ok()) {
            break pid;
        }
    };
    // The setup the test is about: own process group, same session, SIGHUP ignored.
    let until = Instant::now() + DEADLINE;
    while !ignores_hup(pid) {
        assert!(Instant::now() < until, "the job never ignored SIGHUP");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (pgrp, sid) = group_and_session(pid).expect("the job runs");
    assert!(pgrp == pid && sid != pid, "job {pid}: group {pgrp}, session {sid}");
    (id, pid)
}

/// (process group, session) of a live, non-zombie process.
fn group_and_session(pid: i32) -> Option<(i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if fields[0] == "Z" {
        return None;
    }
    Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
}

fn ignores_hup(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let ignored = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).map(str::trim);
    ignored.and_then(|m| u64::from_str_radix(m, 16).ok()).is_some_and(|m| m & (1 << (libc::SIGHUP - 1)) != 0)
}

/// Waits until `pid` is gone (or a zombie nobody reaped yet: it runs no more).
fn wait_gone(pid: i32, what: &str, server: &Server) {
    let until = Instant::now() + DEADLINE;
    while group_and_session(pid).is_some() {
        if Instant::now() >= until {
            // SAFETY: kill(2) on a pid this test started (indirectly); cleanup only.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{what}: process {pid} still runs; {}", server.stderr());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn delete_kills_a_background_job_that_ignores_sighup() {
    let server = Server::start(&["--threads", "1", "--allow-any-command", "--kill-grace", "1s"]);
    let (id, job) = start_escapee(&server);
    let mut s: TcpStream = server.connect();
    s.write_all(
        with_auth(&server, &format!("DELETE /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_response(&mut s, false).map(|r| r.status), Some(202));
    wait_gone(job, "after DELETE", &server);
}

#[test]
fn shutdown_kills_a_background_job_that_ignores_sighup() {
    let mut server = Server::start(&["--threads", "1", "--allow-any-command"]);
    let (_, job) = start_escapee(&server);
    server.signal(libc::SIGTERM);
    assert!(server.wait(DEADLINE).success(), "{}", server.stderr());
    wait_gone(job, "after shutdown", &server);
}

#[test]
fn a_command_that_ignores_sighup_dies_with_a_killed_server() {
    let mut server = Server::start(&["--threads", "1", "--allow-any-command"]);
    let script = r#"trap "" HUP; exec sleep 1000"#;
    let pid = create(&server, &["sh", "-c", script])["pid"].as_i64().unwrap() as i32;
    let until = Instant::now() + DEADLINE;
    while !ignores_hup(pid)
        || !std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("sleep"))
    {
        assert!(Instant::now() < until, "the command never ignored SIGHUP");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.signal(libc::SIGKILL);
    server.wait(DEADLINE);
    wait_gone(pid, "after SIGKILL of the server", &server);
}
