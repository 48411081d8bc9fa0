use super::*;

fn limits() -> Limits {
    Limits::default()
}

/// Parses `input` with default limits and a 64-header array.
fn parse_all(input: &[u8], limits: &Limits) -> Result<Option<Summary>, HttpError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    match parse(input, &mut headers, limits)? {
        Parse::Partial => Ok(None),
        Parse::Complete(r) => Ok(Some(Summary {
            method: r.method,
            path: r.path.to_owned(),
            query: r.query.map(str::to_owned),
            content_length: r.content_length,
            keep_alive: r.keep_alive,
            expect_continue: r.expect_continue,
            head_len: r.head_len,
        })),
    }
}

#[derive(Debug, PartialEq)]
struct Summary {
    method: Method,
    path: String,
    query: Option<String>,
    content_length: u64,
    keep_alive: bool,
    expect_continue: bool,
    head_len: usize,
}

fn s(method: Method, path: &str, query: Option<&str>, cl: u64, ka: bool, ec: bool, n: usize) -> Summary {
    Summary {
        method,
        path: path.into(),
        query: query.map(Into::into),
        content_length: cl,
        keep_alive: ka,
        expect_continue: ec,
        head_len: n,
    }
}

type Expected = fn(usize) -> Summary;

const VALID: &[(&str, Expected)] = &[
    ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", |n| s(Method::Get, "/", None, 0, true, false, n)),
    ("GET /health?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n", |n| {
        s(Method::Get, "/health", Some("x=1&y"), 0, true, false, n)
    }),
    ("HEAD /metrics HTTP/1.0\r\n\r\n", |n| s(Method::Head, "/metrics", None, 0, false, false, n)),
    ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", |n| s(Method::Get, "/", None, 0, true, false, n)),
    ("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", |n| s(Method::Get, "/", None, 0, false, false, n)),
    ("POST /api HTTP/1.1\r\nContent-Length: 12\r\n\r\n", |n| {
        s(Method::Post, "/api", None, 12, true, false, n)
    }),
    ("POST /api HTTP/1.1\r\ncontent-length: 0\r\nExpect: 100-Continue\r\n\r\n", |n| {
        s(Method::Post, "/api", None, 0, true, true, n)
    }),
    ("DELETE /x HTTP/1.1\r\n\r\n", |n| s(Method::Delete, "/x", None, 0, true, false, n)),
    ("BREW /pot HTTP/1.1\r\n\r\n", |n| s(Method::Other, "/pot", None, 0, true, false, n)),
    ("OPTIONS * HTTP/1.1\r\n\r\n", |n| s(Method::Options, "*", None, 0, true, false, n)),
    // httparse accepts bare LF line endings (RFC 9112 §2.2 allows it).
    ("GET / HTTP/1.1\nHost: a\n\n", |n| s(Method::Get, "/", None, 0, true, false, n)),
];

#[test]
fn valid_heads_parse_whole_and_split_at_every_byte() {
    for (input, expected) in VALID {
        let bytes = input.as_bytes();
        let want = expected(bytes.len());
        assert_eq!(parse_all(bytes, &limits()), Ok(Some(want)), "{input:?}");
        for cut in 0..bytes.len() {
            assert_eq!(parse_all(&bytes[..cut], &limits()), Ok(None), "{input:?} cut at {cut}");
        }
    }
}

#[test]
fn pipelined_requests_parse_one_after_another() {
    let two =
        b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\n\r\n";
    let first = parse_all(two, &limits()).unwrap().unwrap();
    assert_eq!(first.path, "/a");
    let rest = &two[first.head_len..];
    let second = parse_all(rest, &limits()).unwrap().unwrap();
    assert_eq!((second.path.as_str(), second.content_length), ("/b", 3));
    let rest = &rest[second.head_len + 3..];
    assert_eq!(parse_all(rest, &limits()).unwrap().unwrap().path, "/c");
}

#[test]
fn errors_map_to_statuses() {
    let table: &[(&[u8], HttpError, u16)] = &[
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            HttpError::DuplicateLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            HttpError::DuplicateLength,
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", HttpError::DuplicateHost, 400),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n", HttpError::DuplicateHost, 400),
        (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", HttpError::BadLength, 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n", HttpError::BadLength, 400),
        (b"GET / HTTP/1.1\r\nContent-Length: \r\n\r\n", HttpError::BadLength, 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", HttpError::BadLength, 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", HttpError::TransferEncoding, 501),
        (b"GET / HTTP/1.1\r\nExpect: something\r\n\r\n", HttpError::ExpectationFailed, 417),
        (b"GET / HTTP/2.0\r\n\r\n", HttpError::VersionNotSupported, 505),
        (b"VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", HttpError::MethodTooLong, 501),
        (b"GET http://evil/ HTTP/1.1\r\n\r\n", HttpError::BadTarget, 400),
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", HttpError::Malformed, 400),
        (b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", HttpError::Malformed, 400),
        (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", HttpError::Malformed, 400),
    ];
    for (input, err, status) in table {
        assert_eq!(parse_all(input, &limits()), Err(*err), "{:?}", String::from_utf8_lossy(input));
        assert_eq!(err.status(), *status);
        assert!(!err.reason().is_empty());
    }
}

#[test]
fn limits_are_enforced_before_growth() {
    let small = Limits { max_head_bytes: 256, max_headers: 4, max_uri_bytes: 64, max_body_bytes: 10 };
    // Too many headers: 431 as soon as the fifth header is seen.
    let many = b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n";
    assert_eq!(parse_all(many, &small), Err(HttpError::TooManyHeaders));
    // A head that keeps growing past the limit without finishing: 431.
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.resize(256, b'a');
    assert_eq!(parse_all(&big, &small), Err(HttpError::HeadTooLarge));
    // ...but one byte under the limit is still only partial.
    assert_eq!(parse_all(&big[..255], &small), Ok(None));
    // A complete head over the limit: 431 too.
    let mut complete = b"GET / HTTP/1.1\r\nX: ".to_vec();
    complete.resize(300, b'a');
    complete.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_all(&complete, &small), Err(HttpError::HeadTooLarge));
    // A long URI: 414, complete or not.
    let mut uri = b"GET /".to_vec();
    uri.resize(100, b'u');
    assert_eq!(parse_all(&uri, &small), Err(HttpError::UriTooLong));
    uri.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    assert_eq!(parse_all(&uri, &small), Err(HttpError::UriTooLong));
}

/// Found by the `http_request` fuzz target: a request line made long by its method, not
/// its target, was refused as 414 while partial but accepted once complete. Every prefix
/// of a head must be judged as the whole head is.
#[test]
fn a_long_request_line_is_judged_the_same_partial_or_complete() {
    let small = Limits { max_head_bytes: 2048, max_headers: 4, max_uri_bytes: 64, max_body_bytes: 10 };
    let judge = |head: &[u8]| {
        let whole = parse_all(head, &small);
        for cut in 0..head.len() {
            let prefix = parse_all(&head[..cut], &small);
            match &whole {
                Ok(_) => assert_eq!(prefix, Ok(None), "prefix {cut} of an accepted head"),
                Err(e) => {
                    assert!(prefix == Ok(None) || prefix == Err(*e), "prefix {cut}: {prefix:?} vs {e:?}")
                }
            }
        }
        whole
    };
    // A method longer than any served: 501 as soon as it is longer, complete or not.
    let mut method = vec![b'P'; MAX_METHOD_BYTES + 1];
    method.extend_from_slice(b" / HTTP/1.1\r\n\r\n");
    assert_eq!(judge(&method), Err(HttpError::MethodTooLong));
    assert_eq!(parse_all(&method[..MAX_METHOD_BYTES + 1], &small), Err(HttpError::MethodTooLong));
    // The longest method served, with a target at the limit, is accepted.
    let mut line = vec![b'P'; MAX_METHOD_BYTES];
    line.push(b' ');
    line.push(b'/');
    line.resize(line.len() + 63, b'u');
    line.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    assert!(matches!(judge(&line), Ok(Some(Summary { method: Method::Other, .. }))));
    // Empty lines before the request line do not count against either limit.
    let mut lead = b"\r\n\r\n".to_vec();
    lead.extend_from_slice(&line);
    assert!(matches!(judge(&lead), Ok(Some(_))));
    // One byte more of target: 414, complete or not.
    let mut long = line.clone();
    long.insert(MAX_METHOD_BYTES + 2, b'u');
    assert_eq!(judge(&long), Err(HttpError::UriTooLong));
}

#[test]
fn header_lookup_is_case_insensitive() {
    let input = b"GET / HTTP/1.1\r\nOrigin: http://a\r\nX-Y: 1\r\n\r\n";
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let Ok(Parse::Complete(req)) = parse(input, &mut headers, &limits()) else {
        panic!("not complete");
    };
    assert_eq!(req.header("origin"), Some(&b"http://a"[..]));
    assert_eq!(req.header("x-y"), Some(&b"1"[..]));
    assert_eq!(req.header("missing"), None);
    assert_eq!(req.header_pairs().count(), 2);
}

/// `X-Forwarded-For` as the client sent it (forged), then as a proxy appended it on a
/// line of its own (HAProxy's `option forwardfor`).
const TWO_XFF_LINES: &[u8] =
    b"GET / HTTP/1.1\r\nX-Forwarded-For: 127.0.0.1\r\nHost: a\r\nx-forwarded-for: 203.0.113.9\r\n\r\n";

#[test]
fn a_list_header_of_several_lines_is_one_list_in_order() {
    let table: &[(&[u8], Option<&str>)] = &[
        (TWO_XFF_LINES, Some("127.0.0.1, 203.0.113.9")),
        (b"GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n", Some("203.0.113.9")),
        (
            b"GET / HTTP/1.1\r\nX-Forwarded-For: a, b\r\nX-Forwarded-For: c\r\nX-Forwarded-For: d, e\r\n\r\n",
            Some("a, b, c, d, e"),
        ),
        // An empty line holds no element (RFC 9110 §5.6.1): it adds no empty one.
        (
            b"GET / HTTP/1.1\r\nX-Forwarded-For:\r\nX-Forwarded-For: c\r\nX-Forwarded-For:  \r\n\r\n",
            Some("c"),
        ),
        (b"GET / HTTP/1.1\r\nX-Forwarded-For:\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", None),
    ];
    for &(input, want) in table {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let Ok(Parse::Complete(req)) = parse(input, &mut headers, &limits()) else {
            panic!("not complete: {:?}", String::from_utf8_lossy(input));
        };
        let got = req.header_list("x-forwarded-for");
        assert_eq!(got.as_deref(), want.map(str::as_bytes), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn a_list_header_of_one_line_is_borrowed_not_copied() {
    let input = b"GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.9\r\nHost: a\r\n\r\n";
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let Ok(Parse::Complete(req)) = parse(input, &mut headers, &limits()) else {
        panic!("not complete");
    };
    let Some(std::borrow::Cow::Borrowed(value)) = req.header_list("X-FORWARDED-FOR") else {
        panic!("one line: want the value as it is in the buffer");
    };
    assert_eq!(value, b"198.51.100.1, 203.0.113.9");
}

#[test]
fn header_reads_the_first_line_only_and_header_list_them_all() {
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let Ok(Parse::Complete(req)) = parse(TWO_XFF_LINES, &mut headers, &limits()) else {
        panic!("not complete");
    };
    // Why X-Forwarded-For must not be read with `header`: its first line is the client's.
    assert_eq!(req.header("x-forwarded-for"), Some(&b"127.0.0.1"[..]));
    assert_eq!(req.header_list("x-forwarded-for").as_deref(), Some(&b"127.0.0.1, 203.0.113.9"[..]));
}

#[test]
fn token_lists() {
    let got: Vec<&[u8]> = tokens(b" keep-alive ,, Upgrade,close ").collect();
    assert_eq!(got, vec![&b"keep-alive"[..], b"Upgrade", b"close"]);
}

#[test]
fn routes() {
    use Route::*;
    let table: &[(Method, &str, &str, Route)] = &[
        (Method::Get, "/health", "", Health),
        (Method::Head, "/health", "", Health),
        (Method::Post, "/health", "", MethodNotAllowed("GET, HEAD")),
        (Method::Get, "/metrics", "", Metrics),
        (Method::Get, "/nope", "", Page("/nope")),
        (Method::Post, "/nope", "", NotFound),
        (Method::Get, "/", "", Page("/")),
        (Method::Head, "/sessions", "", Page("/sessions")),
        (Method::Post, "/", "", MethodNotAllowed("GET, HEAD")),
        (Method::Get, "/assets/index-1a2b.js", "", Page("/assets/index-1a2b.js")),
        (Method::Get, "/api", "", NotFound),
        (Method::Get, "/api/nope", "", NotFound),
        (Method::Get, "/api/config", "", Config),
        (Method::Get, "/api/fleet", "", Fleet),
        (Method::Post, "/api/fleet", "", MethodNotAllowed("GET, HEAD")),
        (Method::Post, "/api/admin/drain", "", Admin(AdminRoute::Drain)),
        (Method::Delete, "/api/admin/drain", "", Admin(AdminRoute::Drain)),
        (Method::Get, "/api/admin/drain", "", Admin(AdminRoute::Drain)),
        (Method::Put, "/api/admin/drain", "", MethodNotAllowed("GET, HEAD, POST, DELETE")),
        (Method::Post, "/api/admin/kill", "", Admin(AdminRoute::Kill)),
        (Method::Get, "/api/admin/kill", "", MethodNotAllowed("POST")),
        (Method::Post, "/api/admin/revoke", "", Admin(AdminRoute::Revoke)),
        (Method::Get, "/api/admin/revoke", "", Admin(AdminRoute::Revoke)),
        (Method::Get, "/api/admin", "", NotFound),
        (Method::Get, "/token", "", Token),
        (Method::Get, "/ws", "", Ttyd),
        (Method::Post, "/ws", "", MethodNotAllowed("GET")),
        (Method::Get, "/base/health", "/base", Health),
        (Method::Get, "/health", "/base", NotFound),
        (Method::Get, "/basehealth", "/base", NotFound),
        (Method::Get, "/base", "/base", AddSlash),
        (Method::Get, "/base/", "/base", Page("/")),
        (Method::Get, "/base/ws", "/base", Ttyd),
        (Method::Get, "/echo", "", WsEcho),
        (Method::Post, "/echo", "", MethodNotAllowed("GET")),
        (Method::Get, "/base/echo", "/base", WsEcho),
        (Method::Get, "/login", "", Page("/login")),
        (Method::Post, "/login", "", Login),
        (Method::Delete, "/login", "", MethodNotAllowed("GET, HEAD, POST")),
        (Method::Post, "/base/login", "/base", Login),
        (Method::Post, "/logout", "", Logout),
        (Method::Get, "/logout", "", MethodNotAllowed("POST")),
        (Method::Get, "/api/auth", "", AuthInfo),
        (Method::Post, "/api/auth", "", MethodNotAllowed("GET, HEAD")),
        (Method::Post, "/api/tokens", "", Tokens),
        (Method::Get, "/api/tokens", "", MethodNotAllowed("POST")),
    ];
    for (m, path, base, want) in table {
        assert_eq!(route(*m, path, base, Some("/echo")), *want, "{m:?} {path} under {base:?}");
    }
    // Without --ws-echo, /echo is just a path the web UI does not have (404 there).
    assert_eq!(route(Method::Get, "/echo", "", None), Page("/echo"));
    let sessions: &[(Method, &str, Route)] = &[
        (Method::Get, "/api/sessions", Sessions),
        (Method::Post, "/api/sessions", Sessions),
        (Method::Delete, "/api/sessions", MethodNotAllowed("GET, HEAD, POST")),
        (Method::Get, "/api/sessions/abc", Session("abc", SessionPart::Itself)),
        (Method::Delete, "/api/sessions/abc", Session("abc", SessionPart::Itself)),
        (Method::Patch, "/api/sessions/abc", Session("abc", SessionPart::Itself)),
        (Method::Post, "/api/sessions/abc", MethodNotAllowed("GET, HEAD, PATCH, DELETE")),
        (Method::Patch, "/api/sessions/abc/input", MethodNotAllowed("POST")),
        (Method::Patch, "/api/sessions", MethodNotAllowed("GET, HEAD, POST")),
        (Method::Post, "/api/sessions/abc/input", Session("abc", SessionPart::Input)),
        (Method::Get, "/api/sessions/abc/input", MethodNotAllowed("POST")),
        (Method::Post, "/api/sessions/abc/resize", Session("abc", SessionPart::Resize)),
        (Method::Get, "/api/sessions/abc/ws", Session("abc", SessionPart::Ws)),
        (Method::Get, "/api/sessions/abc/cast", Session("abc", SessionPart::Cast)),
        (Method::Head, "/api/sessions/abc/cast", Session("abc", SessionPart::Cast)),
        (Method::Post, "/api/sessions/abc/cast", MethodNotAllowed("GET, HEAD")),
        (Method::Get, "/play", Page("/play")),
        (Method::Post, "/play", MethodNotAllowed("GET, HEAD")),
        (Method::Get, "/api/sessions/abc/other", NotFound),
        (Method::Get, "/api/sessions//ws", NotFound),
    ];
    for (m, path, want) in sessions {
        assert_eq!(route(*m, path, "", None), *want, "{m:?} {path}");
    }
}

#[test]
fn response_head_has_the_standard_fields() {
    let mut out = Vec::new();
    let date = HttpDate::from_unix(784_111_777);
    Head {
        status: 404,
        content_type: "application/json",
        content_length: 17,
        keep_alive: false,
        extra: &[("Allow", "GET")],
        hsts: false,
    }
    .write(&date, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\nServer: ringtty/"), "{text}");
    assert!(text.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), "{text}");
    assert!(text.contains("\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\nAllow: GET\r\n\r\n"), "{text}");
    // On everything, not only on pages (docs/SECURITY.md).
    assert!(
        text.contains("\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"),
        "{text}"
    );
    assert!(!text.contains("Strict-Transport-Security"), "only over TLS: {text}");
}

#[test]
fn json_errors_escape() {
    let mut out = Vec::new();
    json_error("a \"b\" \\ \n", &mut out);
    assert_eq!(out, br#"{"error":"a \"b\" \\ \u000a"}"#);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["error"], "a \"b\" \\ \n");
}

#[test]
fn dates() {
    let table: &[(u64, &str)] = &[
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_795_000_000, "Wed, 18 Nov 2026 11:06:40 GMT"),
        (4_102_444_799, "Thu, 31 Dec 2099 23:59:59 GMT"),
    ];
    for (secs, want) in table {
        assert_eq!(format!("{:?}", HttpDate::from_unix(*secs)), *want);
    }
}

#[test]
fn query_values_are_form_decoded() {
    let q = "arg=a%20b&x=1&arg=c+d&arg=%zz%4&arg=%C3%A9&arg=";
    let got: Vec<Vec<u8>> = super::query_values(q, "arg").collect();
    let want: Vec<&[u8]> = vec![b"a b", b"c d", b"%zz%4", "é".as_bytes(), b""];
    assert_eq!(got, want);
    assert_eq!(super::query_values("x=1", "arg").count(), 0);
}

#[test]
fn a_304_has_no_content_length_and_a_301_its_reason() {
    let date = HttpDate::from_unix(784_111_777);
    let mut out = Vec::new();
    Head {
        status: 304,
        content_type: "",
        content_length: 0,
        keep_alive: true,
        extra: &[("ETag", "\"x\"")],
        hsts: true,
    }
    .write(&date, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{text}");
    assert!(!text.contains("Content-Length"), "{text}");
    assert!(text.contains("\r\nStrict-Transport-Security: max-age=31536000\r\nETag: \"x\"\r\n"), "{text}");
    assert_eq!(reason_phrase(301), "Moved Permanently");
    assert_eq!(reason_phrase(307), "Temporary Redirect");
    assert_eq!(reason_phrase(504), "Gateway Timeout");
    assert_eq!(reason_phrase(303), "See Other");
    assert_eq!(reason_phrase(421), "Misdirected Request");
    // Every status the server sends has its phrase.
    for status in [100, 101, 200, 201, 202, 204, 301, 303, 304, 400, 401, 403, 404, 405, 408, 409, 413] {
        assert_ne!(reason_phrase(status), "Unknown", "{status}");
    }
    for status in [414, 417, 421, 426, 429, 431, 500, 501, 503, 505] {
        assert_ne!(reason_phrase(status), "Unknown", "{status}");
    }
}

#[test]
fn a_header_that_must_be_single_is_refused_twice() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-User: alice\r\nx-user: mallory\r\nX-One: 1\r\n\r\n";
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let Ok(Parse::Complete(req)) = parse(raw, &mut headers, &Limits::default()) else { panic!() };
    assert_eq!(req.single_header("x-user"), Err(super::request::Repeated));
    assert_eq!(req.single_header("x-one"), Ok(Some(&b"1"[..])));
    assert_eq!(req.single_header("x-none"), Ok(None));
}
