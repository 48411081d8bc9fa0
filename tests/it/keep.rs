//! Sessions that last (issue 17, item 2): `keep` (per session, `--keep-sessions`), names,
//! `PATCH /api/sessions/{id}` with its owner checks, the `session` message to attached
//! clients, and the list's order, activity and preview.

use std::time::{Duration, Instant};

use ringtty::auth::Mode;
use serde_json::{json, Value};
use tungstenite::Message;

use crate::auth::*;
use crate::common::*;
use crate::sessions::{attach, server};

fn call(server: &Server, method: &str, path: &str, body: &Value) -> Response {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    send(server, method, path, &server.auth(), &body)
}

fn create_with(server: &Server, body: Value) -> Value {
    let r = call(server, "POST", "/api/sessions", &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn status_of(server: &Server, id: &str) -> u16 {
    get(server, &format!("/api/sessions/{id}")).status
}

/// Waits (up to the deadline) until the session is gone (404).
fn wait_gone(server: &Server, id: &str, what: &str) {
    let until = Instant::now() + DEADLINE;
    while status_of(server, id) != 404 {
        assert!(Instant::now() < until, "{what} was never ended: {}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Attaches a client and leaves at once: the session's last client has gone.
fn visit(server: &Server, id: &str) {
    let mut ws = attach(server, id, "");
    match ws.read().unwrap() {
        Message::Text(t) => assert!(t.contains("\"hello\""), "{t}"),
        m => panic!("expected hello, got {m:?}"),
    }
    drop(ws);
}

#[test]
fn a_kept_session_outlives_the_detach_timeout_and_an_unkept_one_does_not() {
    let server = server(&["--detach-timeout", "300ms", "--exited-ttl", "0"]);
    let kept = create_with(&server, json!({ "command": ["sleep", "60"], "keep": true }));
    let plain = create_with(&server, json!({ "command": ["sleep", "60"] }));
    assert_eq!((kept["keep"].as_bool(), plain["keep"].as_bool()), (Some(true), Some(false)));
    let (kept, plain) = (kept["id"].as_str().unwrap(), plain["id"].as_str().unwrap());
    visit(&server, kept);
    visit(&server, plain);
    // The unkept one ends after its detach timeout; by then the kept one's had passed too.
    wait_gone(&server, plain, "the unkept session");
    let r = get(&server, &format!("/api/sessions/{kept}"));
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("running")));
    // Re-attachable, and still kept after another visit.
    visit(&server, kept);
    assert_eq!(status_of(&server, kept), 200);
    // Keep off: the detach timer starts then, and ends it.
    let r = call(&server, "PATCH", &format!("/api/sessions/{kept}"), &json!({ "keep": false }));
    assert_eq!((r.status, r.json()["keep"].as_bool()), (200, Some(false)));
    wait_gone(&server, kept, "the session no longer kept");

    // A kept session ends when killed, like any other.
    let kept = create_with(&server, json!({ "command": ["sleep", "60"], "keep": true }));
    let kept = kept["id"].as_str().unwrap();
    visit(&server, kept);
    assert_eq!(call(&server, "DELETE", &format!("/api/sessions/{kept}"), &Value::Null).status, 202);
    wait_gone(&server, kept, "the killed kept session");
}

#[test]
fn a_kept_session_whose_command_exits_goes_after_the_exited_ttl() {
    let server = server(&["--detach-timeout", "100ms", "--exited-ttl", "300ms"]);
    let s = create_with(&server, json!({ "command": ["sh", "-c", "sleep 0.3"], "keep": true }));
    let id = s["id"].as_str().unwrap();
    let until = Instant::now() + DEADLINE;
    loop {
        let r = get(&server, &format!("/api/sessions/{id}"));
        if r.status == 404 {
            break;
        }
        assert!(
            Instant::now() < until,
            "the exited kept session stayed: {}",
            String::from_utf8_lossy(&r.body)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn keep_sessions_makes_keep_the_default_for_api_creates() {
    let server = server(&["--keep-sessions", "--detach-timeout", "300ms", "--exited-ttl", "0"]);
    let config = get(&server, "/api/config").json();
    assert_eq!(config["keep_sessions"], true);
    let default = create_with(&server, json!({ "command": ["sleep", "60"] }));
    // The terminal page's own session says `"keep": false` (docs/WEB.md).
    let page = create_with(&server, json!({ "command": ["sleep", "60"], "keep": false }));
    assert_eq!((default["keep"].as_bool(), page["keep"].as_bool()), (Some(true), Some(false)));
    let (default, page) = (default["id"].as_str().unwrap(), page["id"].as_str().unwrap());
    visit(&server, default);
    visit(&server, page);
    wait_gone(&server, page, "the page's unkept session");
    assert_eq!(status_of(&server, default), 200);
}

#[test]
fn patch_renames_and_keeps_for_the_owner_and_admins_only() {
    let server =
        secret_server("keep-patch", &["--threads", "2", "-W", "--allow-any-command", "-P", "0", "cat"]);
    let alice = bearer(&mint("alice", Mode::Rw, None, false));
    let bob = bearer(&mint("bob", Mode::Rw, None, false));
    let ro = bearer(&mint("alice", Mode::Ro, None, false));
    let admin = bearer(&mint("root", Mode::Rw, None, true));
    let id = create_as(&server, &alice, &["cat"]);
    let path = format!("/api/sessions/{id}");
    let patch = |who: &str, body: &str| send(&server, "PATCH", &path, who, body);

    let r = patch(&alice, r#"{"name":"build ✓"}"#);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!((r.json()["name"].as_str(), r.json()["keep"].as_bool()), (Some("build ✓"), Some(false)));
    let r = patch(&alice, r#"{"keep":true}"#);
    assert_eq!((r.json()["name"].as_str(), r.json()["keep"].as_bool()), (Some("build ✓"), Some(true)));
    let v = send(&server, "GET", &path, &alice, "").json();
    assert_eq!((v["name"].as_str(), v["keep"].as_bool()), (Some("build ✓"), Some(true)));
    // Another user: as if it did not exist. A read-only login: 403.
    let r = patch(&bob, r#"{"name":"mine"}"#);
    assert_eq!((r.status, r.json()), (404, json!({ "error": "no such session" })));
    let r = patch(&ro, r#"{"name":"x"}"#);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["error"].as_str().unwrap().contains("read-only"));
    // A share link, even a writable one, is a guest: 403.
    for mode in ["ro", "rw"] {
        let body = json!({ "session": id, "mode": mode, "ttl": 60 }).to_string();
        let token =
            send(&server, "POST", "/api/tokens", &alice, &body).json()["token"].as_str().unwrap().to_owned();
        let r = patch(&bearer(&token), r#"{"keep":false}"#);
        assert_eq!(r.status, 403, "{mode} share: {}", String::from_utf8_lossy(&r.body));
    }
    // An admin may.
    let r = patch(&admin, r#"{"name":null,"keep":false}"#);
    assert_eq!(r.status, 200);
    assert_eq!((r.json()["name"].clone(), r.json()["keep"].as_bool()), (Value::Null, Some(false)));
    // "" is no name too; {} changes nothing.
    assert_eq!(patch(&alice, r#"{"name":"x"}"#).json()["name"], "x");
    assert_eq!(patch(&alice, r#"{}"#).json()["name"], "x");
    assert_eq!(patch(&alice, r#"{"name":""}"#).json()["name"], Value::Null);
    // Bad bodies and names: 400 with a reason that does not repeat them.
    let long = format!(r#"{{"name":"{}"}}"#, "n".repeat(129));
    for body in [
        long.as_str(),
        r#"{"name":"a\u001bb"}"#,
        r#"{"name":"\u202eexe.txt"}"#,
        r#"{"name":5}"#,
        r#"{"keep":"yes"}"#,
        r#"{"nme":"x"}"#,
        "not json",
        "",
    ] {
        let r = patch(&alice, body);
        assert_eq!(r.status, 400, "{body}: {}", String::from_utf8_lossy(&r.body));
        let reason = r.json()["error"].as_str().unwrap().to_owned();
        assert!(!reason.contains("nme") && !reason.contains("yes"), "{reason}");
    }
    // The same rule at create.
    let r = send(&server, "POST", "/api/sessions", &alice, &json!({ "name": "tab\there" }).to_string());
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // 405s name PATCH where it applies.
    let r = send(&server, "POST", &path, &alice, "{}");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD, PATCH, DELETE")));
    let r = send(&server, "PATCH", &format!("{path}/input"), &alice, "{}");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = send(&server, "PATCH", "/api/sessions", &alice, "{}");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD, POST")));
    // From another site: refused like every change.
    let r = send(
        &server,
        "PATCH",
        &path,
        &format!("{alice}Origin: https://evil.example\r\n"),
        r#"{"name":"pwned"}"#,
    );
    assert_eq!(r.status, 403);
    assert_eq!(send(&server, "GET", &path, &alice, "").json()["name"], Value::Null);
}

#[test]
fn attached_clients_are_told_of_a_rename() {
    let server = server(&[]);
    let s = create_with(&server, json!({ "command": ["cat"], "name": "before" }));
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["name"], "before");
    let mut ws = attach(&server, id, "");
    let r = call(&server, "PATCH", &format!("/api/sessions/{id}"), &json!({ "name": "after", "keep": true }));
    assert_eq!(r.status, 200);
    let told = loop {
        match ws.read().expect("the session message before the deadline") {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "session" {
                    break v;
                }
            }
            _ => continue,
        }
    };
    assert_eq!(told, json!({ "type": "session", "name": "after", "keep": true }));
}

#[test]
fn the_list_is_newest_first_with_activity_and_a_preview() {
    let server = server(&[]);
    let script = r#"printf '\033]0;a title\007\033[1;32mgreen\033[0m text\r\n'; printf 'working 10%%\rworking 100%%\n\n'; exec cat"#;
    let mut ids = Vec::new();
    for i in 0..4 {
        let s = create_with(&server, json!({ "command": ["sh", "-c", script], "name": format!("s{i}") }));
        ids.push(s["id"].as_str().unwrap().to_owned());
        // Apart by more than the milliseconds the order is kept in.
        std::thread::sleep(Duration::from_millis(5));
    }
    // Each has written its lines (the list is read until they all show).
    let until = Instant::now() + DEADLINE;
    let list = loop {
        let v = get(&server, "/api/sessions").json();
        let done = v["sessions"].as_array().unwrap().iter().all(|s| s["preview"] == "working 100%");
        if done {
            break v;
        }
        assert!(Instant::now() < until, "no preview: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let sessions = list["sessions"].as_array().unwrap();
    let listed: Vec<&str> = sessions.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    let now_ms = now() * 1000 + 1000;
    for s in sessions {
        let (created, last) = (s["created_ms"].as_u64().unwrap(), s["last_output"].as_u64().unwrap());
        // Both from the server's clock; the last output's converted from its monotonic one.
        assert!(created <= last + 5 && last <= now_ms, "{s}");
        assert_eq!(s["created"].as_u64().unwrap(), created / 1000);
        assert_eq!(s["keep"], false);
    }
    // Pages are slices of the same order.
    let page = |offset: usize| -> Vec<String> {
        let v = get(&server, &format!("/api/sessions?offset={offset}&limit=3")).json();
        v["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
    };
    let both: Vec<String> = page(0).into_iter().chain(page(3)).collect();
    assert_eq!(both, newest_first);
}
