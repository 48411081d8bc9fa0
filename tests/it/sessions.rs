//! Terminal sessions over real PTYs and real sockets: REST, the native WebSocket
//! protocol (SPEC §4), replay and resume, flow control, lifecycle.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use crate::common::*;

pub(crate) fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--threads", "2", "-W", "--allow-any-command", "-P", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn post(server: &Server, path: &str, body: &Value) -> Response {
    let body = body.to_string();
    request(
        server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

pub(crate) fn create(server: &Server, command: &[&str]) -> String {
    let r = post(server, "/api/sessions", &json!({ "command": command, "cols": 80, "rows": 24 }));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

pub(crate) fn attach(server: &Server, id: &str, query: &str) -> WebSocket<TcpStream> {
    let stream = server.connect();
    let req = server.ws_request(&format!("/api/sessions/{id}/ws{query}"));
    tungstenite::client(req, stream).expect("attach").0
}

/// What a client saw until the session's exit and close.
#[derive(Default, Debug)]
struct Seen {
    hello: Option<Value>,
    output: Vec<u8>,
    gaps: Vec<(u64, u64)>,
    exit: Option<Value>,
    close: Option<u16>,
}

fn read_until_exit(ws: &mut WebSocket<TcpStream>) -> Seen {
    let mut seen = Seen::default();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                match v["type"].as_str().unwrap() {
                    "hello" => seen.hello = Some(v),
                    "gap" => seen.gaps.push((v["from"].as_u64().unwrap(), v["to"].as_u64().unwrap())),
                    "exit" => seen.exit = Some(v),
                    "resize" | "role" => {}
                    other => panic!("unexpected message {other}"),
                }
            }
            Ok(Message::Binary(b)) => seen.output.extend_from_slice(&b),
            Ok(Message::Close(frame)) => {
                seen.close = frame.map(|f| u16::from(f.code));
                let _ = ws.read();
                return seen;
            }
            Ok(_) => {}
            Err(e) => panic!("connection failed before the exit: {e}; seen so far {seen:?}"),
        }
    }
}

/// Reads output until `needle` appears (or the deadline).
fn read_until(ws: &mut WebSocket<TcpStream>, needle: &str) -> Vec<u8> {
    let until = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    while !String::from_utf8_lossy(&out).contains(needle) {
        assert!(Instant::now() < until, "never saw {needle:?}; got {:?}", String::from_utf8_lossy(&out));
        if let Message::Binary(b) = ws.read().unwrap() {
            out.extend_from_slice(&b);
        }
    }
    out
}

#[test]
fn output_exit_code_and_close_1000() {
    let server = server(&[]);
    let id = create(&server, &["sh", "-c", "echo hi; exit 3"]);
    let mut ws = attach(&server, &id, "");
    let seen = read_until_exit(&mut ws);
    let hello = seen.hello.unwrap();
    assert_eq!(hello["id"], id.as_str());
    assert_eq!(hello["writable"], true);
    assert_eq!(String::from_utf8_lossy(&seen.output), "hi\r\n");
    assert_eq!(seen.exit.unwrap(), json!({"type": "exit", "code": 3}));
    assert_eq!(seen.close, Some(1000));
    let info = get(&server, &format!("/api/sessions/{id}")).json();
    assert_eq!((info["status"].as_str(), info["exit_code"].as_i64()), (Some("exited"), Some(3)));
    // Deleting an exited session removes it.
    let r = request(
        &server,
        &format!("DELETE /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("removed")));
    assert_eq!(get(&server, &format!("/api/sessions/{id}")).status, 404);
}

#[test]
fn echo_through_cat_and_resize_seen_by_stty() {
    let server = server(&[]);
    let id = create(&server, &["sh"]);
    let mut ws = attach(&server, &id, "");
    ws.send(Message::text(r#"{"type":"resize","cols":123,"rows":45}"#)).unwrap();
    ws.send(Message::binary(b"stty size; echo done-$((40+2))\n".to_vec())).unwrap();
    let out = read_until(&mut ws, "done-42");
    assert!(String::from_utf8_lossy(&out).contains("45 123"), "{}", String::from_utf8_lossy(&out));
    let r = post(&server, &format!("/api/sessions/{id}/resize"), &json!({"cols": 90, "rows": 30}));
    assert_eq!(r.status, 200);
    let r = post(&server, &format!("/api/sessions/{id}/input"), &json!({"data": "stty size; exit 7\n"}));
    assert_eq!(r.status, 200);
    let seen = read_until_exit(&mut ws);
    assert!(String::from_utf8_lossy(&seen.output).contains("30 90"));
    assert_eq!(seen.exit.unwrap()["code"], 7);
}

#[test]
fn a_command_that_cannot_start_is_a_clear_error() {
    let server = server(&[]);
    let r = post(&server, "/api/sessions", &json!({ "command": ["/nonexistent/prog"] }));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("cannot start"), "{}", r.json());
}

#[test]
fn every_byte_of_short_lived_commands_arrives() {
    let server = server(&["--max-sessions", "200"]);
    for round in 0..100 {
        // 100,000 bytes of 'A' with no newline, and the command exits at once.
        let id = create(&server, &["sh", "-c", "head -c 75000 /dev/zero | base64 -w0"]);
        let mut ws = attach(&server, &id, "");
        let seen = read_until_exit(&mut ws);
        assert_eq!(seen.output.len(), 100_000, "round {round}");
        assert!(seen.output.iter().all(|&b| b == b'A'), "round {round}");
        assert!(seen.gaps.is_empty());
        assert_eq!(seen.exit.unwrap()["code"], 0);
        let _ = request(
            &server,
            &format!("DELETE /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        );
    }
}

#[test]
fn viewers_get_identical_bytes_and_resume_with_since() {
    let server = server(&[]);
    let id = create(&server, &["sh", "-c", "for i in $(seq 1 2000); do echo line-$i; done; sleep 0.3"]);
    let mut a = attach(&server, &id, "");
    let mut b = attach(&server, &id, "");
    let seen_a = read_until_exit(&mut a);
    let seen_b = read_until_exit(&mut b);
    assert_eq!(seen_a.output, seen_b.output);
    assert!(String::from_utf8_lossy(&seen_a.output).contains("line-2000\r\n"));
    // Resume mid-stream: exactly the bytes from that offset.
    let total = seen_a.output.len() as u64;
    for since in [0, 1, 17, total / 2, total - 1, total] {
        let mut c = attach(&server, &id, &format!("?since={since}"));
        let seen = read_until_exit(&mut c);
        assert_eq!(seen.hello.unwrap()["offset"], since);
        assert_eq!(seen.output, seen_a.output[since as usize..], "since {since}");
    }
    // A since in the future is refused with 1008.
    let mut d = attach(&server, &id, &format!("?since={}", total + 1));
    match d.read() {
        Ok(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1008),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_old_since_gets_a_gap_first() {
    let server = server(&["--scrollback", "64K", "--window", "64K"]);
    // 400 KB of output: far more than the scrollback.
    let id = create(&server, &["sh", "-c", "head -c 300000 /dev/zero | base64 -w0; sleep 0.5"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut ws = attach(&server, &id, "?since=0");
    let seen = read_until_exit(&mut ws);
    let (from, to) = seen.gaps[0];
    assert_eq!(from, 0);
    assert_eq!(to + seen.output.len() as u64, 400_000, "the gap and the bytes cover the output exactly");
}

#[test]
fn a_driver_that_stops_acking_blocks_the_child_and_a_viewer_keeps_receiving() {
    let server = server(&["--scrollback", "1M", "--window", "256K"]);
    // The child writes 3 MB of numbered lines, then a marker.
    let id = create(&server, &["sh", "-c", "seq 1 400000; echo END-MARK"]);
    let mut driver = attach(&server, &id, "");
    // Opt in to flow control and become the driver (a resize makes it the driver).
    driver.send(Message::text(r#"{"type":"ack","offset":0}"#)).unwrap();
    driver.send(Message::text(r#"{"type":"resize","cols":80,"rows":24}"#)).unwrap();
    // Let the window fill without acking: the child must block.
    std::thread::sleep(Duration::from_millis(500));
    let stalled = get(&server, &format!("/api/sessions/{id}")).json()["offset"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let still = get(&server, &format!("/api/sessions/{id}")).json()["offset"].as_u64().unwrap();
    assert_eq!(stalled, still, "output stopped while the driver's window is full");
    assert!(still < 3_000_000, "the child is blocked, not finished ({still})");
    // A viewer attached meanwhile receives what exists.
    let mut viewer = attach(&server, &id, "");
    // Now the driver acks as it reads: everything arrives intact.
    let mut received = Vec::new();
    loop {
        match driver.read().unwrap() {
            Message::Binary(b) => {
                received.extend_from_slice(&b);
                driver
                    .send(Message::text(format!(r#"{{"type":"ack","offset":{}}}"#, received.len())))
                    .unwrap();
            }
            Message::Text(t) if t.contains("\"exit\"") => break,
            _ => {}
        }
    }
    let text = String::from_utf8(received).unwrap().replace("\r\n", "\n");
    let expected: String = (1..=400_000).map(|i| format!("{i}\n")).collect::<String>() + "END-MARK\n";
    assert!(text == expected, "driver's bytes differ (len {} vs {})", text.len(), expected.len());
    let seen = read_until_exit(&mut viewer);
    let viewer_text = String::from_utf8_lossy(&seen.output).replace("\r\n", "\n");
    assert!(viewer_text.ends_with("END-MARK\n"), "the viewer kept receiving to the end");
}

#[test]
fn a_big_paste_into_cat_while_output_flows_does_not_deadlock() {
    let server = server(&[]);
    let id = create(&server, &["cat"]);
    let mut ws = attach(&server, &id, "");
    let line = "x".repeat(199) + "\n";
    let paste = line.repeat(5_000); // 1 MB
    for chunk in paste.as_bytes().chunks(64 * 1024) {
        ws.send(Message::binary(chunk.to_vec())).unwrap();
    }
    ws.send(Message::binary(b"PASTE-END\n".to_vec())).unwrap();
    let until = Instant::now() + DEADLINE * 3;
    let mut got = 0usize;
    let mut tail = Vec::new();
    loop {
        assert!(Instant::now() < until, "paste stalled after {got} bytes");
        if let Message::Binary(b) = ws.read().unwrap() {
            got += b.len();
            tail.extend_from_slice(&b);
            if tail.len() > 64 {
                tail.drain(..tail.len() - 64);
            }
            // cat's output (after the terminal's own echo) ends the paste.
            if got > 2 * paste.len() && String::from_utf8_lossy(&tail).contains("PASTE-END") {
                break;
            }
        }
    }
}

/// Input that finds the terminal's queue full waits, the socket unread meanwhile: none
/// of it is dropped, and the wait is not the client's silence (server pings every
/// 300 ms; the terminal reads nothing for 2 s).
#[test]
fn input_waiting_for_a_busy_terminal_is_kept_and_its_client_not_taken_for_dead() {
    let server = Server::start(&["--threads", "1", "-W", "--allow-any-command", "-P", "300ms"]);
    let total = 1_000_000;
    // `R` once the terminal is raw: input sent before would meet the cooked line
    // discipline, which drops what exceeds its 4 KiB line (the kernel's, not ours).
    let script = format!("stty raw -echo; printf R; sleep 2; head -c {total} | wc -c");
    let id = create(&server, &["sh", "-c", &script]);
    let mut ws = attach(&server, &id, "");
    read_until(&mut ws, "R");
    for chunk in vec![b'x'; total].chunks(64 * 1024) {
        ws.send(Message::binary(chunk.to_vec())).unwrap();
    }
    let seen = read_until_exit(&mut ws);
    assert_eq!(String::from_utf8_lossy(&seen.output).trim(), total.to_string());
    assert_eq!(seen.exit.unwrap()["code"], 0);
}

#[test]
fn state_changing_requests_from_another_site_are_refused() {
    let server = server(&[]);
    let body = r#"{"command":["true"]}"#;
    let r = request(
        &server,
        &format!(
            "POST /api/sessions HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\nContent-Length: {}\r\n\r\n{body}",
            server.addr,
            body.len()
        ),
    );
    assert_eq!(r.status, 403);
    let id = create(&server, &["sleep", "30"]);
    let r = request(
        &server,
        &format!(
            "DELETE /api/sessions/{id} HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\n\r\n",
            server.addr
        ),
    );
    assert_eq!(r.status, 403);
    assert_eq!(get(&server, &format!("/api/sessions/{id}")).json()["status"], "running");
}

#[test]
fn delete_signals_the_session_and_it_reports_the_signal() {
    let server = server(&["--kill-grace", "300ms"]);
    let id = create(&server, &["sleep", "60"]);
    let mut ws = attach(&server, &id, "");
    let r = request(
        &server,
        &format!("DELETE /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(r.status, 202);
    let seen = read_until_exit(&mut ws);
    assert_eq!(seen.exit.unwrap()["signal"], libc::SIGHUP);
    // A command that ignores the signal is killed after the grace.
    let id = create(&server, &["sh", "-c", "trap '' HUP; sleep 60"]);
    let mut ws = attach(&server, &id, "");
    std::thread::sleep(Duration::from_millis(200));
    let _ = request(
        &server,
        &format!("DELETE /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    );
    let seen = read_until_exit(&mut ws);
    assert_eq!(seen.exit.unwrap()["signal"], libc::SIGKILL);
}

#[test]
fn read_only_servers_refuse_input() {
    let server = Server::start(&["--threads", "1", "--allow-any-command", "-P", "0"]);
    let id = create(&server, &["cat"]);
    let r = post(&server, &format!("/api/sessions/{id}/input"), &json!({"data": "x"}));
    assert_eq!(r.status, 403);
    let mut ws = attach(&server, &id, "");
    match ws.read().unwrap() {
        Message::Text(t) => assert!(t.contains("\"writable\":false"), "{t}"),
        m => panic!("{m:?}"),
    }
    // Keystrokes from a read-only client are dropped, the connection stays.
    ws.send(Message::binary(b"typed\n".to_vec())).unwrap();
    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
    loop {
        match ws.read().unwrap() {
            Message::Pong(_) => break,
            Message::Binary(b) => panic!("a read-only client's input reached the terminal: {b:?}"),
            _ => {}
        }
    }
}

#[test]
fn create_list_get_and_errors() {
    let server = server(&["--command", "greet=echo hello"]);
    let r = post(&server, "/api/sessions", &json!({"command": ["greet"], "name": "g"}));
    assert_eq!(r.status, 201);
    let list = get(&server, "/api/sessions?limit=10").json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["sessions"][0]["name"], "g");
    assert_eq!(get(&server, "/api/sessions/nope").status, 404);
    assert_eq!(post(&server, "/api/sessions", &json!({"bogus": 1})).status, 400);
    assert_eq!(get(&server, "/api/sessions?limit=0").status, 400);
    // Without --allow-any-command only COMMAND and named commands run.
    let strict = Server::start(&["--threads", "1", "-P", "0", "--command", "greet=echo hello", "sh"]);
    assert_eq!(post(&strict, "/api/sessions", &json!({"command": ["rm", "-rf", "/tmp/x"]})).status, 403);
    assert_eq!(post(&strict, "/api/sessions", &json!({"command": ["greet"]})).status, 201);
    assert_eq!(post(&strict, "/api/sessions", &json!({})).status, 201);
    assert_eq!(post(&strict, "/api/sessions", &json!({"env": {"A": "b"}})).status, 403);
}

#[test]
fn max_sessions_answers_503() {
    let server = server(&["--max-sessions", "2"]);
    create(&server, &["sleep", "30"]);
    create(&server, &["sleep", "30"]);
    let r = post(&server, "/api/sessions", &json!({"command": ["sleep", "30"]}));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
}

/// Children of `pid`, and how many of them are zombies.
pub fn children(pid: u32) -> (usize, usize) {
    let mut all = 0;
    let mut zombies = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            all += 1;
            zombies += usize::from(fields[0] == "Z");
        }
    }
    (all, zombies)
}

#[test]
fn a_thousand_create_attach_destroy_cycles_leak_nothing() {
    let server = server(&["--exited-ttl", "0", "--kill-grace", "1s", "--max-sessions", "64"]);
    let _ = get(&server, "/health");
    std::thread::sleep(Duration::from_millis(200));
    let baseline_fds = server.fd_count();
    for round in 0..1000 {
        let id = create(&server, &["cat"]);
        let mut ws = attach(&server, &id, "");
        assert!(matches!(ws.read().unwrap(), Message::Text(_)), "hello, round {round}");
        let r = request(
            &server,
            &format!("DELETE /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(r.status, 202);
        let seen = read_until_exit(&mut ws);
        assert_eq!(seen.exit.unwrap()["signal"], libc::SIGHUP, "round {round}");
    }
    let until = Instant::now() + DEADLINE;
    loop {
        let (kids, zombies) = children(server.pid());
        let fds = server.fd_count();
        let sessions = get(&server, "/api/sessions").json()["total"].as_u64().unwrap();
        if kids == 0 && zombies == 0 && fds == baseline_fds && sessions == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "after 1000 cycles: {kids} children ({zombies} zombies), {fds} fds (baseline {baseline_fds}), {sessions} sessions"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn detach_timeout_ends_an_abandoned_session() {
    let server = server(&["--detach-timeout", "300ms", "--exited-ttl", "0", "-d", "debug"]);
    let id = create(&server, &["sleep", "60"]);
    let ws = attach(&server, &id, "");
    drop(ws);
    let until = Instant::now() + DEADLINE;
    while get(&server, &format!("/api/sessions/{id}")).status != 404 {
        assert!(Instant::now() < until, "the abandoned session was never ended: {}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn once_exits_when_its_session_ends() {
    let mut server = server(&["-o", "--exited-ttl", "0"]);
    let id = create(&server, &["sh", "-c", "sleep 0.3; echo bye"]);
    let mut ws = attach(&server, &id, "");
    let seen = read_until_exit(&mut ws);
    assert_eq!(seen.exit.unwrap()["code"], 0);
    drop(ws);
    assert!(server.wait(DEADLINE).success(), "{}", server.stderr());
}

#[test]
fn max_clients_refuses_the_extra_client_with_1013() {
    let server = server(&["-m", "1"]);
    let id = create(&server, &["sleep", "30"]);
    let mut first = attach(&server, &id, "");
    assert!(matches!(first.read().unwrap(), Message::Text(_)));
    let mut second = attach(&server, &id, "");
    match second.read() {
        Ok(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1013),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exit_no_conn_waits_for_the_detach_window_then_exits() {
    let mut server = server(&["-q", "--detach-timeout", "300ms", "--exited-ttl", "0"]);
    let id = create(&server, &["sleep", "60"]);
    let mut ws = attach(&server, &id, "");
    assert!(matches!(ws.read().unwrap(), Message::Text(_)));
    drop(ws);
    // The session is killed when its detach window ends; then nothing is left: exit.
    assert!(server.wait(DEADLINE).success(), "{}", server.stderr());
}

#[test]
fn sessions_on_both_workers_are_reached_from_any_connection() {
    let server = server(&[]);
    let ids: Vec<String> = (0..16).map(|_| create(&server, &["cat"])).collect();
    let list = get(&server, "/api/sessions?limit=1000").json();
    assert_eq!(list["total"], 16);
    let owners: std::collections::BTreeSet<u64> =
        list["sessions"].as_array().unwrap().iter().map(|s| s["worker"].as_u64().unwrap()).collect();
    assert_eq!(owners.len(), 2, "sessions were created on both workers: {owners:?}");
    // Every session answers from every connection, whichever worker accepted it: the
    // connection is moved to the owner (pipelined requests included).
    for id in &ids {
        let mut s = server.connect();
        let two = format!("GET /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        s.write_all(with_auth(&server, &two).as_bytes()).unwrap();
        for _ in 0..2 {
            let r = read_response(&mut s, false).unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["id"], id.as_str());
        }
        let mut ws = attach(&server, id, "");
        ws.send(Message::binary(format!("ping-{id}\n").into_bytes())).unwrap();
        read_until(&mut ws, &format!("ping-{id}"));
    }
}

#[test]
fn node_ids_prefix_sessions_and_metrics_count_them() {
    let server = server(&["--node-id", "n7"]);
    let id = create(&server, &["sh", "-c", "echo metrics-test; sleep 0.2"]);
    assert!(id.starts_with("n7."), "{id}");
    let mut ws = attach(&server, &id, "");
    let seen = read_until_exit(&mut ws);
    assert!(String::from_utf8_lossy(&seen.output).contains("metrics-test"));
    // Another node's id, or a malformed one, is simply unknown here.
    assert_eq!(get(&server, &format!("/api/sessions/n8.{}", &id[3..])).status, 404);
    let metrics = String::from_utf8(get(&server, "/metrics").body).unwrap();
    let total = |name: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(total("ringtty_sessions_created_total"), 1, "{metrics}");
    assert_eq!(total("ringtty_sessions_exited_total"), 1, "{metrics}");
    assert!(total("ringtty_pty_output_bytes_total") >= "metrics-test\r\n".len() as u64, "{metrics}");
    assert!(metrics.contains("# TYPE ringtty_gaps_total counter"));
    assert!(metrics.contains("# TYPE ringtty_pty_pauses_total counter"));
}

#[test]
fn an_exited_session_stays_listed_but_holds_no_pty() {
    let server = server(&[]);
    let _ = get(&server, "/health");
    std::thread::sleep(Duration::from_millis(200));
    let baseline = server.fd_count();
    let ids: Vec<String> = (0..20).map(|_| create(&server, &["sh", "-c", "echo done"])).collect();
    let until = Instant::now() + DEADLINE;
    loop {
        let list = get(&server, "/api/sessions").json();
        let exited = list["sessions"].as_array().unwrap().iter().filter(|s| s["status"] == "exited").count();
        if exited == ids.len() && server.fd_count() == baseline {
            break;
        }
        assert!(Instant::now() < until, "{exited} exited; fds {} vs baseline {baseline}", server.fd_count());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The output is still there for a late client.
    let mut ws = attach(&server, &ids[0], "");
    let seen = read_until_exit(&mut ws);
    assert_eq!(String::from_utf8_lossy(&seen.output), "done\r\n");
}

#[test]
fn head_on_an_api_error_sends_no_body_and_keeps_the_pipeline_framed() {
    let server = server(&[]);
    let mut s = server.connect();
    s.write_all(with_auth(&server, "HEAD /api/sessions/nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
    let head = read_response(&mut s, true).unwrap();
    assert_eq!(head.status, 404);
    assert!(head.header("content-length").unwrap().parse::<usize>().unwrap() > 0);
    // The next response starts right after the head: no error body was sent for HEAD.
    let next = read_response(&mut s, false).unwrap();
    assert_eq!(next.status, 200);
    assert_eq!(next.json()["status"], "ok");
}

#[test]
fn a_client_that_never_acks_still_gets_a_whole_flood() {
    let server = server(&[]);
    let id = create(&server, &["sh", "-c", "read _; head -c 12000000 /dev/zero | base64 -w 0"]);
    let mut ws = attach(&server, &id, "");
    // Input makes it the driver: the window applies, counted from what it was sent.
    ws.send(Message::binary(b"\n".to_vec())).unwrap();
    // Whether taking output wakes the reader is checked where it is decided, without a
    // clock (session::tests::driver_without_acks_is_held_by_its_unsent_backlog); here,
    // end to end, every byte arrives.
    let seen = read_until_exit(&mut ws);
    assert_eq!(seen.output.len(), 16_000_000 + 2, "the echoed newline, then the flood");
    assert!(seen.gaps.is_empty());
}

#[test]
fn full_scrollbacks_give_way_to_the_core_budget_so_every_terminal_is_read() {
    // 4 MiB per worker = 256 pool buffers (64 of them the reserve). Sixteen sessions
    // with ~600 KB of output each would keep ~37 buffers apiece: far more than a core
    // has. Without the budget the pools run dry and the later terminals are never read.
    let server = server(&["--core-memory", "4M"]);
    let ids: Vec<String> = (0..16)
        .map(|_| create(&server, &["sh", "-c", "head -c 450000 /dev/zero | base64; exec cat"]))
        .collect();
    let offset = |id: &str| get(&server, &format!("/api/sessions/{id}")).json()["offset"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = 450_000 / 57 * 78 + 78; // base64 lines of 76 characters + CR LF
    loop {
        let offsets: Vec<u64> = ids.iter().map(|id| offset(id)).collect();
        if offsets.iter().all(|&o| o >= expected as u64 - 78) {
            break;
        }
        assert!(Instant::now() < deadline, "output stopped being read: offsets {offsets:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A new terminal on a full core still gets read, and its clients see it.
    let id = create(&server, &["sh", "-c", "echo hello-budget; exec cat"]);
    let mut ws = attach(&server, &id, "");
    let mut output = Vec::new();
    while !String::from_utf8_lossy(&output).contains("hello-budget") {
        if let Message::Binary(b) = ws.read().unwrap() {
            output.extend_from_slice(&b);
        }
    }
    let metrics = String::from_utf8(get(&server, "/metrics").body).unwrap();
    let reclaimed: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("ringtty_scrollback_reclaimed_bytes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(reclaimed > 0, "the budget never had to act:\n{metrics}");
}
