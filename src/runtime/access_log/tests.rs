use super::line::write_time;
use super::*;

/// A complete record (shared with the connection's log tests).
pub(in crate::runtime) fn record() -> Record {
    Record {
        event: Event::Request,
        unix_ms: 1_796_607_063_123,
        peer: Peer::Ip("127.0.0.1:40000".parse().unwrap()),
        user: None,
        method: Some(Method::new("GET")),
        path: Some("/api/sessions".into()),
        query: false,
        status: Some(200),
        bytes_in: 78,
        bytes_out: 1234,
        duration_us: 412,
        session: None,
    }
}

/// The record's line, as written.
pub(in crate::runtime) fn line(r: &Record) -> String {
    let mut out = Vec::new();
    r.write_json(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn a_request_line_is_one_json_object_with_every_field() {
    assert_eq!(
        line(&record()),
        "{\"time\":\"2026-12-07T01:31:03.123Z\",\"event\":\"request\",\"peer\":\"127.0.0.1:40000\",\
         \"user\":null,\"method\":\"GET\",\"path\":\"/api/sessions\",\"query\":false,\"status\":200,\
         \"bytes_in\":78,\"bytes_out\":1234,\"duration_ms\":0.412,\"session\":null}\n"
    );
}

#[test]
fn a_websocket_end_line_has_its_close_code_and_who_closed() {
    let id = crate::session::SessionId::new(None, 1, [7; crate::session::id::RANDOM_BYTES]).unwrap();
    let table = [
        (Event::WsEnd { close: Some(1000), by_peer: true }, "1000", "\"client\""),
        (Event::WsEnd { close: Some(1001), by_peer: false }, "1001", "\"server\""),
        (Event::WsEnd { close: None, by_peer: false }, "null", "null"),
    ];
    for (event, close, by) in table {
        let r = Record {
            event,
            status: Some(101),
            session: Some(id),
            peer: Peer::Unix,
            duration_us: 61_000_007,
            ..record()
        };
        let v: serde_json::Value = serde_json::from_str(&line(&r)).unwrap();
        assert_eq!(v["event"], "ws_end");
        assert_eq!(v["status"], 101);
        assert_eq!(v["close"].to_string(), close);
        assert_eq!(v["closed_by"].to_string(), by);
        assert_eq!(v["peer"], "unix");
        assert_eq!(v["session"], id.as_str());
        assert_eq!(v["duration_ms"].as_f64(), Some(61_000.007));
    }
}

#[test]
fn unknown_fields_are_null_and_ipv6_peers_are_bracketed() {
    let r = Record {
        method: None,
        path: None,
        status: None,
        peer: Peer::Ip("[::1]:5".parse().unwrap()),
        user: Some("alice".into()),
        ..record()
    };
    let v: serde_json::Value = serde_json::from_str(&line(&r)).unwrap();
    assert!(v["method"].is_null() && v["path"].is_null() && v["status"].is_null());
    assert_eq!(v["peer"], "[::1]:5");
    assert_eq!(v["user"], "alice");
    let r = Record { peer: Peer::Unknown, ..record() };
    assert!(serde_json::from_str::<serde_json::Value>(&line(&r)).unwrap()["peer"].is_null());
}

#[test]
fn client_strings_are_escaped_and_cannot_forge_a_line() {
    let r = Record {
        path: Some("/a\"b\\c\n{\"event\":\"forged\"}\u{1}é".into()),
        method: Some(Method::new("M\"X")),
        ..record()
    };
    let text = line(&r);
    assert_eq!(text.matches('\n').count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["path"], "/a\"b\\c\n{\"event\":\"forged\"}\u{1}é");
    assert_eq!(v["method"], "M\"X");
    assert_eq!(v["event"], "request");
}

#[test]
fn times_are_rfc3339_utc_with_milliseconds() {
    let table = [
        (0, "1970-01-01T00:00:00.000Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_709_251_199_001, "2024-02-29T23:59:59.001Z"),
        (1_796_607_063_123, "2026-12-07T01:31:03.123Z"),
        (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
    ];
    for (ms, want) in table {
        let mut out = Vec::new();
        write_time(&mut out, ms);
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}

#[test]
fn paths_are_kept_whole_inline_or_on_the_heap() {
    for len in [0, 1, INLINE_PATH_FOR_TESTS - 1, INLINE_PATH_FOR_TESTS, INLINE_PATH_FOR_TESTS + 1, 8192] {
        let s: String = "/é".repeat(len).chars().take(len).collect();
        let p = Path::from(s.as_str());
        assert_eq!(p.as_str(), s);
        assert_eq!(matches!(p, Path::Heap(_)), s.len() > INLINE_PATH_FOR_TESTS, "{len}");
    }
}

const INLINE_PATH_FOR_TESTS: usize = 96;

#[test]
fn long_methods_are_cut_to_the_parsers_limit() {
    let m = Method::new("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    assert_eq!(m.as_str(), "ABCDEFGHIJKLMNOP");
    assert_eq!(Method::new("GET").as_str(), "GET");
}
