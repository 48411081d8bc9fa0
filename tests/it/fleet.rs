//! The admin's fleet controls on one node without NATS (issue 16): drain (the API and
//! SIGUSR2), the kill switch, revocation, and the fleet views answering for this node
//! alone. The fleet itself (NATS, HAProxy, three nodes) is `tests/peers/fleet.sh`'s.

use std::time::{Duration, Instant};

use ringtty::auth::Mode;
use serde_json::Value;

use crate::auth::*;
use crate::common::*;

fn fleet_server(name: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--threads", "2", "-W", "--node-id", "n1", "-P", "0"];
    args.extend_from_slice(extra);
    args.push("cat");
    secret_server(name, &args)
}

fn create(server: &Server, token: &str) -> Value {
    let r = send(server, "POST", "/api/sessions", &bearer(token), "{}");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn status_of(server: &Server, admin: &str, id: &str) -> String {
    let r = send(server, "GET", &format!("/api/sessions/{id}"), &bearer(admin), "");
    r.json()["status"].as_str().unwrap_or("gone").to_owned()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn drain_stops_new_sessions_and_the_node_stops_when_the_last_one_ends() {
    let mut server = fleet_server("drain", &[]);
    let admin = mint("root", Mode::Rw, None, true);
    let alice = mint("alice", Mode::Rw, None, false);
    let id = create(&server, &alice)["id"].as_str().unwrap().to_owned();

    let r = send(&server, "POST", "/api/admin/drain", &bearer(&alice), "");
    assert_eq!(r.status, 403, "admins only");
    let r = send(&server, "POST", "/api/admin/drain", &bearer(&admin), "");
    assert_eq!(
        (r.status, &r.json()["draining"], &r.json()["sessions"]),
        (202, &Value::Bool(true), &Value::from(1))
    );
    let health = get(&server, "/health");
    assert_eq!((health.status, health.json()["status"].as_str()), (503, Some("draining")));
    let r = send(&server, "POST", "/api/sessions", &bearer(&alice), "{}");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["error"].as_str().unwrap().contains("draining"));

    // Called off: sessions start again.
    let r = send(&server, "DELETE", "/api/admin/drain", &bearer(&admin), "");
    assert_eq!((r.status, &r.json()["draining"]), (200, &Value::Bool(false)));
    assert_eq!(get(&server, "/health").status, 200);
    let second = create(&server, &alice)["id"].as_str().unwrap().to_owned();

    // Drained again: the existing sessions go on until they end, then the node stops.
    assert_eq!(send(&server, "POST", "/api/admin/drain", &bearer(&admin), "").status, 202);
    assert_eq!(status_of(&server, &admin, &id), "running");
    for s in [&id, &second] {
        assert_eq!(send(&server, "DELETE", &format!("/api/sessions/{s}"), &bearer(&alice), "").status, 202);
    }
    let status = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{status:?}: {}", server.stderr());
    assert!(server.stderr().contains("drained: no session is left"), "{}", server.stderr());
}

#[test]
fn sigusr2_drains_and_the_drain_timeout_ends_what_is_left() {
    let mut server = fleet_server("usr2", &["--drain-timeout", "1s"]);
    let alice = mint("alice", Mode::Rw, None, false);
    create(&server, &alice);
    server.signal(libc::SIGUSR2);
    wait_for("/health to say draining", || get(&server, "/health").status == 503);
    assert_eq!(send(&server, "POST", "/api/sessions", &bearer(&alice), "{}").status, 503);
    let status = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(server.stderr().contains("drain timeout"), "{}", server.stderr());
}

#[test]
fn the_kill_switch_ends_one_users_sessions_or_all() {
    let server = fleet_server("kill", &[]);
    let admin = mint("root", Mode::Rw, None, true);
    let (alice, bob) = (mint("alice", Mode::Rw, None, false), mint("bob", Mode::Rw, None, false));
    // Enough sessions that both workers have some.
    let bobs: Vec<String> =
        (0..4).map(|_| create(&server, &bob)["id"].as_str().unwrap().to_owned()).collect();
    let alices: Vec<String> =
        (0..2).map(|_| create(&server, &alice)["id"].as_str().unwrap().to_owned()).collect();

    let r = send(&server, "POST", "/api/admin/kill", &bearer(&bob), r#"{"all": true}"#);
    assert_eq!(r.status, 403, "admins only");
    for bad in ["", "{}", r#"{"user": ""}"#, r#"{"user": "bob", "all": true}"#, r#"{"who": "bob"}"#] {
        assert_eq!(send(&server, "POST", "/api/admin/kill", &bearer(&admin), bad).status, 400, "{bad}");
    }
    let r = send(&server, "POST", "/api/admin/kill", &bearer(&admin), r#"{"user": "bob"}"#);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!((v["killed"].as_u64(), v["partial"].as_bool()), (Some(4), Some(false)), "{v}");
    for id in &bobs {
        wait_for("bob's sessions to end", || status_of(&server, &admin, id) != "running");
    }
    for id in &alices {
        assert_eq!(status_of(&server, &admin, id), "running", "alice's sessions are untouched");
    }
    let r = send(&server, "POST", "/api/admin/kill", &bearer(&admin), r#"{"all": true}"#);
    assert_eq!(r.json()["killed"].as_u64(), Some(2), "every running session; the exited ones are kept");
    for id in &bobs {
        assert_eq!(status_of(&server, &admin, id), "exited", "an exited session keeps its status");
    }
    for id in &alices {
        wait_for("every session to end", || status_of(&server, &admin, id) != "running");
    }
}

#[test]
fn a_revoked_token_or_user_is_refused_everywhere_on_the_node() {
    let server = fleet_server("revoke", &[]);
    let admin = mint("root", Mode::Rw, None, true);
    let leaked = mint("carol", Mode::Rw, None, false);
    let key = ringtty::auth::Key::new(SECRET.as_bytes());
    let jti = ringtty::auth::verify(leaked.as_bytes(), &key, now()).unwrap().jti.unwrap();
    let id = create(&server, &leaked)["id"].as_str().unwrap().to_owned();
    assert_eq!(send(&server, "GET", "/api/sessions", &bearer(&leaked), "").status, 200);

    let r = send(&server, "POST", "/api/admin/revoke", &bearer(&leaked), &format!(r#"{{"jti": "{jti}"}}"#));
    assert_eq!(r.status, 403, "admins only");
    for bad in ["{}", r#"{"jti": "a", "user": "b"}"#, r#"{"jti": ""}"#, r#"{"jti": "a", "until": 1}"#, "x"] {
        assert_eq!(send(&server, "POST", "/api/admin/revoke", &bearer(&admin), bad).status, 400, "{bad}");
    }
    let r = send(&server, "POST", "/api/admin/revoke", &bearer(&admin), &format!(r#"{{"jti": "{jti}"}}"#));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["partial"], Value::Bool(false));

    let refused = send(&server, "GET", "/api/sessions", &bearer(&leaked), "");
    assert_eq!(refused.status, 401);
    let bad = send(&server, "GET", "/api/sessions", &bearer("x.y.z"), "");
    assert_eq!(refused.body, bad.body, "the same answer as any bad credential");
    let ws = upgrade_status(&server, &format!("/api/sessions/{id}/ws?token={leaked}"), "");
    assert_eq!(ws.status, 401, "the WebSocket too");
    let cookie = format!("Cookie: ringtty_token={leaked}\r\n");
    assert_eq!(send(&server, "GET", "/api/sessions", &cookie, "").status, 401, "and the cookie");
    // Another token of the same user still works (`mint` gives each second its own jti).
    std::thread::sleep(Duration::from_millis(1100));
    let fresh = mint("carol", Mode::Rw, None, false);
    assert_eq!(send(&server, "GET", "/api/sessions", &bearer(&fresh), "").status, 200);

    // By user: every credential of theirs.
    let r = send(&server, "POST", "/api/admin/revoke", &bearer(&admin), r#"{"user": "carol"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(send(&server, "GET", "/api/sessions", &bearer(&fresh), "").status, 401);
    let list = send(&server, "GET", "/api/admin/revoke", &bearer(&admin), "").json();
    let entries = list["revoked"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{list}");
    assert!(entries.iter().any(|e| e["user"] == "carol") && entries.iter().any(|e| e["jti"] == jti.as_str()));
    // The admin still gets in, and the session is still theirs to see.
    assert_eq!(status_of(&server, &admin, &id), "running");
}

#[test]
fn fleet_views_without_nats_answer_for_this_node_alone() {
    let server = fleet_server("views", &[]);
    let alice = mint("alice", Mode::Rw, None, false);
    let id = create(&server, &alice)["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("n1."));
    let v = send(&server, "GET", "/api/sessions?scope=fleet", &bearer(&alice), "").json();
    assert_eq!(v["sessions"][0]["id"].as_str(), Some(id.as_str()));
    assert_eq!(v["sessions"][0]["node"].as_str(), Some("n1"));
    assert_eq!((&v["partial"], &v["nodes"]["replied"][0]), (&Value::Bool(false), &Value::from("n1")), "{v}");
    assert_eq!(send(&server, "GET", "/api/sessions?scope=galaxy", &bearer(&alice), "").status, 400);
    let v = send(&server, "GET", "/api/fleet", &bearer(&alice), "").json();
    assert_eq!((v["nats"].as_str(), v["nodes"][0]["node"].as_str()), (Some("off"), Some("n1")), "{v}");
    // Another node's session is not found here without the fleet's bus.
    let other = format!("n2.{}", &id[3..]);
    assert_eq!(send(&server, "GET", &format!("/api/sessions/{other}"), &bearer(&alice), "").status, 404);
    assert_eq!(send(&server, "DELETE", &format!("/api/sessions/{other}"), &bearer(&alice), "").status, 404);
}
