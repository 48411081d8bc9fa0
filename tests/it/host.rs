//! The `Host` check (issue 11, item 1): a DNS-rebinding page reaches 127.0.0.1 with its
//! own name in `Host` and a matching `Origin`; none of its requests may get through.

use std::io::Write;

use serde_json::Value;

use crate::common::*;

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["-W", "--allow-any-command", "-P", "0"];
    args.extend_from_slice(extra);
    args.push("cat");
    Server::start(&args)
}

/// Creates a session the honest way and returns its id.
fn create(server: &Server) -> String {
    let body = r#"{"command":["cat"]}"#;
    let r = request(
        server,
        &format!(
            "POST /api/sessions HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            server.addr,
            body.len()
        ),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// Every request a rebinding page could make, with `Host` and `Origin` both naming it.
fn rebinding_requests(server: &Server, id: &str, host: &str) -> Vec<String> {
    let port = server.addr.rsplit(':').next().unwrap();
    let h = format!("Host: {host}:{port}\r\nOrigin: http://{host}:{port}\r\n");
    let create = r#"{"command":["sh","-c","touch /tmp/ringtty-rebound"]}"#;
    let input = r#"{"data":"touch /tmp/ringtty-rebound\n"}"#;
    vec![
        format!(
            "POST /api/sessions HTTP/1.1\r\n{h}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{create}",
            create.len()
        ),
        format!("POST /api/sessions/{id}/input HTTP/1.1\r\n{h}Content-Length: {}\r\n\r\n{input}", input.len()),
        format!("DELETE /api/sessions/{id} HTTP/1.1\r\n{h}\r\n"),
        format!("GET /api/sessions HTTP/1.1\r\n{h}\r\n"),
        format!("GET /api/sessions/{id} HTTP/1.1\r\n{h}\r\n"),
        format!("GET /api/sessions/{id}/ws HTTP/1.1\r\n{h}{UPGRADE}\r\n"),
        format!("GET /ws HTTP/1.1\r\n{h}{UPGRADE}Sec-WebSocket-Protocol: tty\r\n\r\n"),
        format!("GET / HTTP/1.1\r\n{h}\r\n"),
        format!("GET /health HTTP/1.1\r\n{h}\r\n"),
    ]
}

#[test]
fn a_dns_rebinding_page_gets_421_on_every_route() {
    let server = server(&["--threads", "2"]);
    let id = create(&server);
    for raw in rebinding_requests(&server, &id, "evil.example") {
        let r = request(&server, &raw);
        let line = raw.lines().next().unwrap();
        assert_eq!(r.status, 421, "{line}: {}", String::from_utf8_lossy(&r.body));
        let reason = r.json()["error"].as_str().unwrap().to_owned();
        assert!(reason.contains("--allow-host") && !reason.contains("evil"), "{reason}");
    }
    // Nothing happened to the session.
    let r = get(&server, &format!("/api/sessions/{id}"));
    assert_eq!((r.status, r.json()["status"].clone()), (200, Value::from("running")));
    assert_eq!(r.json()["offset"].as_u64(), Some(0), "no input reached the shell");
}

#[test]
fn our_own_names_pass_and_allow_host_adds_one() {
    let server = server(&["--allow-host", "term.example.com", "--allow-origin", "https://ide.example.com"]);
    let id = create(&server);
    for host in ["localhost", "127.0.0.1", "127.0.0.2", "term.example.com", "ide.example.com"] {
        for raw in rebinding_requests(&server, &id, host) {
            // Only the reads: the writes would change the session under the next host.
            if !raw.starts_with("GET /api/sessions/") || raw.contains("Upgrade") {
                continue;
            }
            assert_eq!(request(&server, &raw).status, 200, "{host}: {raw}");
        }
    }
    let port = server.addr.rsplit(':').next().unwrap();
    let r = request(&server, &format!("GET /health HTTP/1.1\r\nHost: [::1]:{port}\r\n\r\n"));
    assert_eq!(r.status, 200);
    let r = request(&server, &format!("GET /health HTTP/1.1\r\nHost: other.example.com:{port}\r\n\r\n"));
    assert_eq!(r.status, 421);
}

#[test]
fn no_host_or_two_hosts_is_400_and_an_http_1_0_upgrade_is_refused() {
    let server = server(&[]);
    let id = create(&server);
    let cases = [
        "GET /health HTTP/1.1\r\n\r\n".to_owned(),
        "GET /health HTTP/1.0\r\n\r\n".to_owned(),
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n".to_owned(),
        "GET /health HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n".to_owned(),
        "GET /health HTTP/1.1\r\nHost: localhost/x\r\n\r\n".to_owned(),
        format!("GET /api/sessions/{id}/ws HTTP/1.0\r\nHost: 127.0.0.1\r\n{UPGRADE}\r\n"),
        format!("GET /ws HTTP/1.0\r\nHost: 127.0.0.1\r\n{UPGRADE}Sec-WebSocket-Protocol: tty\r\n\r\n"),
    ];
    for raw in cases {
        let r = request(&server, &raw);
        assert_eq!(r.status, 400, "{raw:?}: {}", String::from_utf8_lossy(&r.body));
        assert!(r.json()["error"].is_string());
    }
}

#[test]
fn an_open_bind_without_auth_is_logged_as_a_warning() {
    let mut server = Server::start(&["-i", "0.0.0.0", "-p", "0", "--no-auth", "-d", "warn"]);
    // Logged before the listening line, but read from the pipe by another thread.
    let until = std::time::Instant::now() + DEADLINE;
    while !server.stderr().contains("--no-auth on 0.0.0.0") && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = server.stderr();
    assert!(log.contains("WARN") && log.contains("--no-auth on 0.0.0.0"), "{log}");
    server.signal(libc::SIGTERM);
    server.wait(DEADLINE);
    let quiet = Server::start(&["-d", "warn"]);
    assert!(!quiet.stderr().contains("--no-auth"), "{}", quiet.stderr());
}

#[test]
fn a_rebinding_page_cannot_pipeline_past_the_check() {
    // The refused request closes the connection: nothing queued behind it is served.
    let server = server(&[]);
    let mut s = server.connect();
    let port = server.addr.rsplit(':').next().unwrap();
    s.write_all(
        format!(
            "GET /api/sessions HTTP/1.1\r\nHost: evil.example:{port}\r\n\r\n\
             GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 421);
    assert!(read_response(&mut s, false).is_none());
}
