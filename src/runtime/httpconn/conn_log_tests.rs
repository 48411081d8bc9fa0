use super::*;
use crate::http::{parse, Limits, Parse};
use crate::runtime::access_log::tests::{line, record};

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
