//! Owners (issue 12): a session belongs to the user who made it; another user gets 404
//! for it everywhere, an admin sees everything, `ro` never types, and a share link
//! (`POST /api/tokens`) reaches one session, read-only.

use std::time::{Duration, Instant};

use ringtty::auth::Mode;
use serde_json::{json, Value};
use tungstenite::Message;

use crate::auth::*;
use crate::common::*;

/// Two workers (so calls cross cores), typing allowed, `cat` for ttyd's `/ws`.
fn owners_server(name: &str) -> Server {
    secret_server(name, &["--threads", "2", "-W", "--allow-any-command", "-P", "0", "cat"])
}

fn described(server: &Server, headers: &str, id: &str) -> Value {
    let r = send(server, "GET", &format!("/api/sessions/{id}"), headers, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// The first message of a native attach: `hello`.
fn hello(ws: &mut tungstenite::WebSocket<std::net::TcpStream>) -> Value {
    match ws.read().unwrap() {
        Message::Text(t) => {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["type"], "hello", "{v}");
            v
        }
        m => panic!("expected hello, got {m:?}"),
    }
}

/// Sends keystrokes from a client that may not type, then a ping: the pong comes back
/// and no output does (the keystrokes were dropped, the connection stays).
fn typed_bytes_are_dropped(ws: &mut tungstenite::WebSocket<std::net::TcpStream>) {
    ws.send(Message::binary(b"typed-by-a-viewer\n".to_vec())).unwrap();
    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
    loop {
        match ws.read().unwrap() {
            Message::Pong(_) => break,
            Message::Binary(b) => panic!("a read-only client's input reached the terminal: {b:?}"),
            _ => {}
        }
    }
}

/// The ids listed, in any order, are exactly these.
fn assert_lists(listed: Vec<String>, expected: &[&String]) {
    let mut listed = listed;
    listed.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

fn not_found(r: &Response, what: &str) {
    assert_eq!(r.status, 404, "{what}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({ "error": "no such session" }), "{what}");
}

#[test]
fn another_user_gets_404_for_a_session_everywhere_and_an_admin_sees_all() {
    let server = owners_server("owners");
    let a = bearer(&mint("alice", Mode::Rw, None, false));
    let b = bearer(&mint("bob", Mode::Rw, None, false));
    let admin = bearer(&mint("root", Mode::Rw, None, true));
    // Two of alice's (on both workers, most likely), one of bob's.
    let a1 = create_as(&server, &a, &["cat"]);
    let a2 = create_as(&server, &a, &["cat"]);
    let b1 = create_as(&server, &b, &["cat"]);
    assert_eq!(described(&server, &a, &a1)["owner"], "alice");
    assert_lists(listed(&server, &a), &[&a1, &a2]);
    assert_eq!(listed(&server, &b), [b1.as_str()]);
    assert_lists(listed(&server, &admin), &[&a1, &a2, &b1]);
    let before = described(&server, &a, &a1);
    for id in [&a1, &a2] {
        not_found(&send(&server, "GET", &format!("/api/sessions/{id}"), &b, ""), "GET");
        let r = send(&server, "POST", &format!("/api/sessions/{id}/input"), &b, r#"{"data":"from bob\n"}"#);
        not_found(&r, "input");
        let r = send(&server, "POST", &format!("/api/sessions/{id}/resize"), &b, r#"{"cols":100,"rows":40}"#);
        not_found(&r, "resize");
        not_found(&send(&server, "DELETE", &format!("/api/sessions/{id}"), &b, ""), "DELETE");
        not_found(&upgrade_status(&server, &format!("/api/sessions/{id}/ws"), &b), "attach");
    }
    // The same answer as for a session that does not exist.
    not_found(&send(&server, "GET", "/api/sessions/n0-nonexistent", &b, ""), "GET of nothing");
    // alice's session is as it was: alive, same size, nothing typed into it.
    std::thread::sleep(Duration::from_millis(200));
    let after = described(&server, &a, &a1);
    for field in ["status", "offset", "cols", "rows", "clients"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(after["status"], "running");
    // An admin reaches alice's session; alice reaches bob's not.
    assert_eq!(described(&server, &admin, &a1)["owner"], "alice");
    not_found(&send(&server, "GET", &format!("/api/sessions/{b1}"), &a, ""), "alice on bob's");
    // alice herself types, resizes and ends it.
    let r = send(&server, "POST", &format!("/api/sessions/{a1}/input"), &a, r#"{"data":"from alice\n"}"#);
    assert_eq!(r.status, 200);
    let until = Instant::now() + DEADLINE;
    while described(&server, &a, &a1)["offset"] == before["offset"] {
        assert!(Instant::now() < until, "alice's input never echoed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = send(&server, "POST", &format!("/api/sessions/{a1}/resize"), &a, r#"{"cols":100,"rows":40}"#);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(send(&server, "DELETE", &format!("/api/sessions/{a2}"), &admin, "").status, 202);
}

#[test]
fn a_ttyd_process_belongs_to_the_user_who_opened_it() {
    let server = owners_server("ttyd-owner");
    let a = bearer(&mint("alice", Mode::Rw, None, false));
    let b_token = mint("bob", Mode::Rw, None, false);
    let b = bearer(&b_token);
    let admin = bearer(&mint("root", Mode::Rw, None, true));
    let auth = format!("Bearer {b_token}");
    let mut ws = ws_with(&server, "/ws", &[("Sec-WebSocket-Protocol", "tty"), ("Authorization", &auth)]);
    let init = json!({ "AuthToken": "", "columns": 80, "rows": 24 }).to_string();
    ws.send(Message::binary(init.into_bytes())).unwrap();
    let until = Instant::now() + DEADLINE;
    let id = loop {
        if let Some(id) = listed(&server, &b).pop() {
            break id;
        }
        assert!(Instant::now() < until, "bob's ttyd process is not listed for bob");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(described(&server, &b, &id)["owner"], "bob");
    assert!(listed(&server, &a).is_empty());
    assert_eq!(listed(&server, &admin), [id.as_str()]);
    not_found(&send(&server, "GET", &format!("/api/sessions/{id}"), &a, ""), "alice on bob's ttyd");
    drop(ws);
}

#[test]
fn a_read_only_token_watches_but_never_types_resizes_or_ends() {
    let server = owners_server("read-only");
    let a = bearer(&mint("alice", Mode::Rw, None, false));
    let ro_token = mint("alice", Mode::Ro, None, false);
    let ro = bearer(&ro_token);
    let id = create_as(&server, &a, &["cat"]);
    assert_eq!(listed(&server, &ro), [id.as_str()]);
    let before = described(&server, &ro, &id);
    let r = send(&server, "POST", &format!("/api/sessions/{id}/input"), &ro, r#"{"data":"x\n"}"#);
    assert_eq!(r.status, 403, "input: {}", String::from_utf8_lossy(&r.body));
    let r = send(&server, "POST", &format!("/api/sessions/{id}/resize"), &ro, r#"{"cols":100,"rows":40}"#);
    assert_eq!(r.status, 403, "resize");
    assert_eq!(send(&server, "DELETE", &format!("/api/sessions/{id}"), &ro, "").status, 403, "DELETE");
    // The native attach says so (even with -W), and drops what it types.
    let auth = format!("Bearer {ro_token}");
    let mut ws = ws_with(&server, &format!("/api/sessions/{id}/ws"), &[("Authorization", &auth)]);
    assert_eq!(hello(&mut ws)["writable"], false);
    typed_bytes_are_dropped(&mut ws);
    std::thread::sleep(Duration::from_millis(200));
    let after = described(&server, &a, &id);
    for field in ["status", "offset", "cols", "rows"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    // alice's rw token, on the same server, types.
    let auth = format!("Bearer {}", mint("alice", Mode::Rw, None, false));
    let mut ws = ws_with(&server, &format!("/api/sessions/{id}/ws"), &[("Authorization", &auth)]);
    assert_eq!(hello(&mut ws)["writable"], true);
}

#[test]
fn a_share_link_reaches_one_session_read_only() {
    let server = owners_server("share");
    let a = bearer(&mint("alice", Mode::Rw, None, false));
    let b = bearer(&mint("bob", Mode::Rw, None, false));
    let shared = create_as(&server, &a, &["cat"]);
    let other = create_as(&server, &a, &["cat"]);
    let r = send(&server, "POST", "/api/tokens", &a, &json!({ "session": shared }).to_string());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(v["path"], format!("/?s={shared}&token={token}"));
    assert_eq!((v["mode"].as_str(), v["session"].as_str()), (Some("ro"), Some(shared.as_str())));
    let exp = v["exp"].as_u64().unwrap();
    assert!(exp.abs_diff(now() + 86_400) <= 60, "{exp}");
    let share = bearer(&token);
    let r = send(&server, "GET", "/api/auth", &share, "");
    assert_eq!(r.json()["user"], json!({ "sub": "alice", "mode": "ro", "admin": false, "session": shared }));
    // It lists and reads that one session only.
    assert_eq!(listed(&server, &share), [shared.as_str()]);
    assert_eq!(described(&server, &share, &shared)["id"], shared.as_str());
    not_found(&send(&server, "GET", &format!("/api/sessions/{other}"), &share, ""), "alice's other");
    not_found(&upgrade_status(&server, &format!("/api/sessions/{other}/ws"), &share), "attach other");
    // It creates nothing, shares nothing, types nothing.
    let r = send(&server, "POST", "/api/sessions", &share, r#"{"command":["cat"]}"#);
    assert_eq!(r.status, 403, "create: {}", String::from_utf8_lossy(&r.body));
    let r = send(&server, "POST", "/api/tokens", &share, &json!({ "session": shared }).to_string());
    assert_eq!(r.status, 403, "share: {}", String::from_utf8_lossy(&r.body));
    let r = send(&server, "POST", &format!("/api/sessions/{shared}/input"), &share, r#"{"data":"x"}"#);
    assert_eq!(r.status, 403, "input");
    let before = described(&server, &a, &shared);
    let mut ws = ws_with(&server, &format!("/api/sessions/{shared}/ws?token={token}"), &[]);
    assert_eq!(hello(&mut ws)["writable"], false);
    typed_bytes_are_dropped(&mut ws);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(described(&server, &a, &shared)["offset"], before["offset"]);
    // ttyd's /ws would start a process: not for a one-session token.
    let auth = format!("Bearer {token}");
    let mut ttyd = ws_with(&server, "/ws", &[("Sec-WebSocket-Protocol", "tty"), ("Authorization", &auth)]);
    ttyd.send(Message::binary(br#"{"AuthToken":"","columns":80,"rows":24}"#.to_vec())).unwrap();
    assert_eq!(close_code(&mut ttyd), Some(1008));
    assert_lists(listed(&server, &a), &[&shared, &other]);
    // The link itself: the page swaps the token for the cookie and drops it from the URL.
    let r = send(&server, "GET", v["path"].as_str().unwrap(), "", "");
    assert_eq!(r.status, 200);
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with(&format!("ringtty_token={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age="))
    );
    assert!(String::from_utf8_lossy(&r.body).contains(&format!("url=/?s={shared}\"")));
    // bob cannot share alice's session; the lifetime is bounded.
    let r = send(&server, "POST", "/api/tokens", &b, &json!({ "session": shared }).to_string());
    not_found(&r, "bob shares alice's");
    for ttl in [0u64, 604_801] {
        let r =
            send(&server, "POST", "/api/tokens", &a, &json!({ "session": shared, "ttl": ttl }).to_string());
        assert_eq!(r.status, 400, "ttl {ttl}");
    }
    let r =
        send(&server, "POST", "/api/tokens", &a, &json!({ "session": shared, "ttl": 604_800 }).to_string());
    assert_eq!(r.status, 201);
    // An rw share types into that one session.
    let body = json!({ "session": shared, "mode": "rw", "ttl": 60 }).to_string();
    let r = send(&server, "POST", "/api/tokens", &a, &body);
    assert_eq!((r.status, r.json()["mode"].as_str()), (201, Some("rw")));
    let rw = bearer(r.json()["token"].as_str().unwrap());
    let r = send(&server, "POST", &format!("/api/sessions/{shared}/input"), &rw, r#"{"data":"x\n"}"#);
    assert_eq!(r.status, 200);
    // An ro principal cannot make any share link.
    let ro = bearer(&mint("alice", Mode::Ro, None, false));
    let r = send(&server, "POST", "/api/tokens", &ro, &json!({ "session": shared }).to_string());
    assert_eq!(r.status, 403);
}
