//! Recordings (`--record`, `--record-dir`, `"record": true`): the cast a session's owner
//! downloads is asciicast v2 whose output events are exactly what the terminal sent;
//! nobody else gets it; the cap ends it with a marker; the file is the server user's
//! alone.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ringtty::auth::Mode;
use serde_json::{json, Value};
use tungstenite::Message;

use crate::auth::*;
use crate::common::*;

/// A private directory for recordings.
fn cast_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringtty-it-record-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn record_server(name: &str, flags: &[&str]) -> (Server, PathBuf) {
    let dir = cast_dir(name);
    let mut args: Vec<&str> =
        flags.iter().map(|f| if *f == "DIR" { dir.to_str().unwrap() } else { f }).collect();
    args.extend_from_slice(&["--threads", "2", "-W", "--allow-any-command", "-P", "0", "cat"]);
    (secret_server(&format!("record-{name}"), &args), dir)
}

fn create_with(server: &Server, who: &str, body: Value) -> Response {
    send(server, "POST", "/api/sessions", who, &body.to_string())
}

fn created(r: Response) -> String {
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Everything a client attached from the start sees until the exit.
fn output_until_exit(server: &Server, who: &str, id: &str) -> Vec<u8> {
    let stream = server.connect();
    let mut req = server.ws_request(&format!("/api/sessions/{id}/ws?since=0"));
    let token = who.trim().strip_prefix("Authorization: Bearer ").unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut ws = tungstenite::client(req, stream).expect("attach").0;
    let mut out = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) => out.extend_from_slice(&b),
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_ne!(v["type"], "gap", "the test's output must fit the scrollback");
                if v["type"] == "exit" {
                    return out;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("connection failed before the exit: {e}"),
        }
    }
}

/// The cast's header and events.
fn parse_cast(body: &[u8]) -> (Value, Vec<Value>) {
    let text = std::str::from_utf8(body).expect("a cast is UTF-8");
    assert!(text.ends_with('\n'), "{text:?}");
    let mut lines =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")));
    let header = lines.next().expect("a header");
    (header, lines.collect())
}

fn output_of(events: &[Value]) -> String {
    events.iter().filter(|e| e[1] == "o").map(|e| e[2].as_str().unwrap()).collect()
}

fn wait_exited(server: &Server, who: &str, id: &str) -> Value {
    let until = Instant::now() + DEADLINE;
    loop {
        let r = send(server, "GET", &format!("/api/sessions/{id}"), who, "");
        let v = r.json();
        if v["status"] == "exited" {
            return v;
        }
        assert!(Instant::now() < until, "{v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_recorded_sessions_cast_holds_exactly_what_its_terminal_showed() {
    let (server, dir) = record_server("exact", &["--record-dir", "DIR"]);
    let alice = bearer(&mint("alice", Mode::Rw, None, false));
    let bob = bearer(&mint("bob", Mode::Rw, None, false));
    let admin = bearer(&mint("root", Mode::Rw, None, true));
    // Text, escapes, quotes and backslashes, multi-byte characters, thousands of lines.
    let script = r#"sleep 0.3; printf 'h\303\251llo \033[1mbold\033[0m "q" \\ \342\202\254\n'; seq 1 3000; printf 'end \360\237\230\200'"#;
    let body = json!({ "command": ["sh", "-c", script], "cols": 100, "rows": 30, "record": true });
    let id = created(create_with(&server, &alice, body));
    let shown = output_until_exit(&server, &alice, &id);
    wait_exited(&server, &alice, &id);
    let r = send(&server, "GET", &format!("/api/sessions/{id}/cast"), &alice, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/x-asciicast"));
    assert_eq!(r.header("content-disposition"), Some(format!("attachment; filename=\"{id}.cast\"").as_str()));
    let (header, events) = parse_cast(&r.body);
    assert_eq!(
        (header["version"].as_u64(), header["width"].as_u64(), header["height"].as_u64()),
        (Some(2), Some(100), Some(30))
    );
    assert!(header["timestamp"].as_u64().unwrap() > 1_700_000_000, "{header}");
    assert_eq!(header["env"]["TERM"], "xterm-256color");
    assert_eq!(output_of(&events), String::from_utf8(shown).unwrap());
    assert!(events.iter().all(|e| e[1] != "m"), "not truncated");
    let times: Vec<f64> = events.iter().map(|e| e[0].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times never go back: {times:?}");
    assert!(*times.last().unwrap() >= 0.3, "{times:?}");
    // The description says how big it is, once everything was written.
    let described = send(&server, "GET", &format!("/api/sessions/{id}"), &alice, "").json();
    assert_eq!(described["recording"], json!({ "bytes": r.body.len(), "truncated": false }), "{described}");
    // HEAD: the same head, no body.
    let head = send(&server, "HEAD", &format!("/api/sessions/{id}/cast"), &alice, "");
    assert_eq!((head.status, head.header("content-length")), (200, Some(r.body.len().to_string().as_str())));
    // The file: the server user's alone.
    let file = dir.join(format!("{id}.cast"));
    assert_eq!(mode_of(&file), 0o600);
    assert_eq!(std::fs::read(&file).unwrap(), r.body);
    // Another user: as if there were no such session. An admin may download it; a
    // share link to the session may watch it, not take its whole history.
    let theirs = send(&server, "GET", &format!("/api/sessions/{id}/cast"), &bob, "");
    assert_eq!((theirs.status, theirs.json()), (404, json!({ "error": "no such session" })));
    let r2 = send(&server, "GET", &format!("/api/sessions/{id}/cast"), &admin, "");
    assert_eq!((r2.status, &r2.body), (200, &r.body));
    let link = bearer(&mint("alice", Mode::Ro, Some(&id), false));
    let r3 = send(&server, "GET", &format!("/api/sessions/{id}/cast"), &link, "");
    assert_eq!(r3.status, 403, "{}", String::from_utf8_lossy(&r3.body));
    // A share link to another session does not reach it.
    let other = created(create_with(&server, &alice, json!({ "command": ["true"] })));
    let wrong_link = bearer(&mint("alice", Mode::Ro, Some(&other), false));
    let r4 = send(&server, "GET", &format!("/api/sessions/{id}/cast"), &wrong_link, "");
    assert_eq!(r4.status, 404);
}

#[test]
fn a_running_sessions_cast_has_its_output_so_far_and_resizes() {
    let (server, _dir) = record_server("running", &["--record-dir", "DIR"]);
    let alice = bearer(&mint("alice", Mode::Rw, None, false));
    let id = created(create_with(&server, &alice, json!({ "command": ["cat"], "record": true })));
    let input = json!({ "data": "first line\n" }).to_string();
    assert_eq!(send(&server, "POST", &format!("/api/sessions/{id}/input"), &alice, &input).status, 200);
    let resize = json!({ "cols": 120, "rows": 40 }).to_string();
    assert_eq!(send(&server, "POST", &format!("/api/sessions/{id}/resize"), &alice, &resize).status, 200);
    // The echo arrives when it arrives: the download has what was there when asked.
    let until = Instant::now() + DEADLINE;
    let events = loop {
        let r = send(&server, "GET", &format!("/api/sessions/{id}/cast"), &alice, "");
        assert_eq!(r.status, 200);
        let (header, events) = parse_cast(&r.body);
        assert_eq!((header["width"].as_u64(), header["height"].as_u64()), (Some(80), Some(24)));
        if output_of(&events).matches("first line").count() == 2 && events.iter().any(|e| e[1] == "r") {
            break events;
        }
        assert!(Instant::now() < until, "{events:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let resize = events.iter().find(|e| e[1] == "r").unwrap();
    assert_eq!(resize[2], "120x40");
    // Input is not recorded: only the terminal's echo of it (typed once, shown twice:
    // the echo and cat's copy).
    assert!(events.iter().all(|e| e[1] == "o" || e[1] == "r"), "{events:?}");
}

#[test]
fn a_session_that_is_not_recorded_has_no_cast_and_asking_without_a_directory_says_which_flag() {
    let (server, dir) = record_server("unrecorded", &["--record-dir", "DIR"]);
    let alice = bearer(&mint("alice", Mode::Rw, None, false));
    let id = created(create_with(&server, &alice, json!({ "command": ["true"] })));
    let r = send(&server, "GET", &format!("/api/sessions/{id}/cast"), &alice, "");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("not recorded"), "{}", r.json());
    assert_eq!(
        send(&server, "GET", &format!("/api/sessions/{id}"), &alice, "").json()["recording"],
        Value::Null
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no file for it");
    // No such session at all: the same 404 as everywhere.
    let r = send(&server, "GET", "/api/sessions/nope/cast", &alice, "");
    assert_eq!((r.status, r.json()), (404, json!({ "error": "no such session" })));
    drop(server);
    let server = secret_server("record-off", &["--allow-any-command"]);
    let r = create_with(&server, &alice, json!({ "command": ["true"], "record": true }));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("--record-dir"), "{}", r.json());
}

#[test]
fn record_max_ends_the_recording_with_a_marker_and_the_description_says_so() {
    let (server, _dir) = record_server("cap", &["--record", "DIR", "--record-max", "8K"]);
    let alice = bearer(&mint("alice", Mode::Rw, None, false));
    // --record: every session, without asking.
    let id = created(create_with(&server, &alice, json!({ "command": ["seq", "1", "20000"] })));
    let shown = output_until_exit(&server, &alice, &id);
    wait_exited(&server, &alice, &id);
    let r = send(&server, "GET", &format!("/api/sessions/{id}/cast"), &alice, "");
    assert_eq!(r.status, 200);
    assert!(r.body.len() <= 8192, "{} bytes", r.body.len());
    let (_, events) = parse_cast(&r.body);
    let last = events.last().unwrap();
    assert_eq!(last[1], "m", "{last}");
    assert!(last[2].as_str().unwrap().contains("--record-max"), "{last}");
    // What it holds is the start of the output, exactly.
    let recorded = output_of(&events);
    assert!(String::from_utf8(shown).unwrap().starts_with(&recorded));
    assert!(recorded.len() > 4096, "{}", recorded.len());
    let described = send(&server, "GET", &format!("/api/sessions/{id}"), &alice, "").json();
    assert_eq!(described["recording"], json!({ "bytes": r.body.len(), "truncated": true }), "{described}");
}

#[test]
fn a_record_directory_that_is_missing_or_open_to_all_is_a_startup_error() {
    let dir = cast_dir("startup");
    let open = dir.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.join("file");
    std::fs::write(&file, b"").unwrap();
    let missing = dir.join("missing");
    let table: [(&str, &Path, &str); 3] = [
        ("--record", &missing, "mkdir"),
        ("--record-dir", &open, "sticky"),
        ("--record", &file, "not a directory"),
    ];
    for (flag, path, says) in table {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringtty"))
            .args(["-p", "0", flag, path.to_str().unwrap(), "cat"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} {path:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ringtty: ")).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(flag) && lines[0].contains(says), "{stderr}");
    }
}

#[test]
fn a_live_upgrade_goes_on_recording_in_the_same_file() {
    if std::env::var("RINGTTY_TEST_IO").is_ok_and(|io| io == "uring") {
        return; // --handover reads terminals by readiness
    }
    let dir = cast_dir("handover");
    let keys = temp_dir("record-handover");
    let secret = private_file(&keys, "secret", SECRET);
    let socket = keys.join("handover.sock");
    let (secret, socket, casts) = (
        secret.to_str().unwrap().to_owned(),
        socket.to_str().unwrap().to_owned(),
        dir.to_str().unwrap().to_owned(),
    );
    let common = ["--auth-secret-file", &secret, "--handover", &socket, "--record-dir", &casts, "-W"];
    let mut old =
        Server::start(&[&common[..], &["--allow-any-command", "-p", "0", "-i", "127.0.0.1"]].concat());
    let port = old.addr.rsplit(':').next().unwrap().to_owned();
    let alice = bearer(&mint("alice", Mode::Rw, None, false));
    let body =
        json!({ "command": ["sh", "-c", "echo before-upgrade; exec cat"], "record": true, "keep": true });
    let id = created(create_with(&old, &alice, body));
    let cast_of = |server: &Server| {
        let r = send(server, "GET", &format!("/api/sessions/{id}/cast"), &alice, "");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.body
    };
    let until = Instant::now() + DEADLINE;
    while !String::from_utf8_lossy(&cast_of(&old)).contains("before-upgrade") {
        assert!(Instant::now() < until, "no output recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
    let new =
        Server::start(&[&common[..], &["--allow-any-command", "-p", &port, "-i", "127.0.0.1"]].concat());
    assert!(old.wait(Duration::from_secs(10)).success(), "{}", old.stderr());
    let input = json!({ "data": "after-upgrade\n" }).to_string();
    assert_eq!(send(&new, "POST", &format!("/api/sessions/{id}/input"), &alice, &input).status, 200);
    let until = Instant::now() + DEADLINE;
    let (header_lines, events) = loop {
        let body = cast_of(&new);
        let text = String::from_utf8(body.clone()).unwrap();
        let headers = text.lines().filter(|l| l.starts_with('{')).count();
        let (_, events) = parse_cast(&body);
        if output_of(&events).matches("after-upgrade").count() == 2 {
            break (headers, events);
        }
        assert!(Instant::now() < until, "{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(header_lines, 1, "one header: the new process appended");
    assert!(events.iter().all(|e| e[1] != "m"), "no marker at the upgrade: {events:?}");
    assert_eq!(output_of(&events), "before-upgrade\r\nafter-upgrade\r\nafter-upgrade\r\n");
    let times: Vec<f64> = events.iter().map(|e| e[0].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let described = send(&new, "GET", &format!("/api/sessions/{id}"), &alice, "").json();
    assert_eq!(described["recording"]["truncated"], false, "{described}");
    assert_eq!(mode_of(&dir.join(format!("{id}.cast"))), 0o600);
}
