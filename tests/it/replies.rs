//! What the server says back: error bodies in its own words and the headers every
//! response carries (docs/SECURITY.md; issue 11, item 12).

use crate::common::*;

fn post_sessions(server: &Server, body: &str) -> Response {
    request(
        server,
        &format!(
            "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn error_bodies_never_echo_request_bytes() {
    let server = Server::start(&["--allow-any-command", "-P", "0", "cat"]);
    let cases = [
        r#"{"zzz<script>":1}"#,
        r#"{"command":"<script>"}"#,
        r#"{"command":["cat"],"cols":"<script>"}"#,
        r#"{"command":["cat"] <script>"#,
        r#"{"command":["/nonexistent/<script>"]}"#,
        r#"{"command":["cat"],"cwd":"/nonexistent/<script>"}"#,
    ];
    for body in cases {
        let r = post_sessions(&server, body);
        assert!(r.status == 400, "{body}: {}", r.status);
        let reason = r.json()["error"].as_str().unwrap().to_owned();
        assert!(!reason.contains("script") && !reason.contains("zzz"), "{body}: {reason}");
    }
    let r = post_sessions(&server, r#"{"bogus":1}"#);
    assert!(r.json()["error"].as_str().unwrap().contains("optional fields command"), "{:?}", r.json());
}

#[test]
fn every_response_carries_nosniff_and_no_referrer() {
    let server = Server::start(&["--allow-any-command", "-P", "0", "cat"]);
    let responses = [
        get(&server, "/health"),
        get(&server, "/metrics"),
        get(&server, "/api/sessions"),
        get(&server, "/api/sessions/nope"),
        get(&server, "/no/such/page"),
        post_sessions(&server, "{"),
        request(&server, "GET /health HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
    ];
    for r in responses {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{} {:?}", r.status, r.headers);
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{} {:?}", r.status, r.headers);
    }
}
