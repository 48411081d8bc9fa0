use super::line::write_time;
use super::*;
use crate::http::{parse, Limits, Parse};

fn record() -> Record {
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

fn line(r: &Record) -> String {
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

/// The redaction: what a request carries besides its method and path never reaches
/// the record, whatever the route.
#[test]
fn query_strings_and_credentials_never_reach_a_line() {
    let raw = "GET /api/sessions/AAq3Zk1b9XWvXk2mM7sUu/ws?token=SECRET&password=SECRET HTTP/1.1\r\n\
               Host: 127.0.0.1\r\nAuthorization: Bearer SECRET\r\nCookie: ringtty_token=SECRET\r\n\
               X-Api-Key: SECRET\r\n\r\n";
    for raw in [raw.to_owned(), raw.replace("/api/sessions/AAq3Zk1b9XWvXk2mM7sUu/ws", "/")] {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let Ok(Parse::Complete(req)) = parse(raw.as_bytes(), &mut headers, &Limits::default()) else {
            panic!("parses");
        };
        let mut log = ConnLog::new(Peer::Unix);
        log.head(&req, None);
        let pending = log.req.take().unwrap();
        let r = Record {
            method: pending.method,
            path: pending.path,
            query: pending.query,
            bytes_in: pending.bytes_in,
            ..record()
        };
        let text = line(&r);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains("token") && !text.contains('?'), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["query"], true);
        assert_eq!(v["bytes_in"], raw.len() as u64);
    }
}

#[test]
fn the_status_is_read_from_the_queued_response_past_interim_ones() {
    let table: [(&[u8], Option<u16>); 7] = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Some(200)),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", Some(101)),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413 Payload Too Large\r\n\r\n", Some(413)),
        (b"HTTP/1.1 100 Continue\r\n\r\n", None),
        (b"HTTP/1.1 2", None),
        (b"", None),
        (b"HTTP/1.1 abc ", None),
    ];
    for (bytes, want) in table {
        assert_eq!(status_of(bytes), want, "{}", String::from_utf8_lossy(bytes));
    }
}

#[test]
fn a_close_frame_payload_gives_its_code_or_1005() {
    let tally = Tally::default();
    tally.close_written(&[0x03, 0xe8, b'b', b'y', b'e'], false);
    assert_eq!(tally.close.get(), Some((1000, true)));
    tally.close_written(&[], true);
    assert_eq!(tally.close.get(), Some((1005, false)));
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
