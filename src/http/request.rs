//! Request-head parsing: bytes in a caller-owned buffer -> a borrowed [`Request`].
//!
//! The parser never allocates and never consumes anything on `Partial`. Every limit is
//! checked against the bytes already buffered, before the caller grows anything.

use std::borrow::Cow;

use super::{HttpError, Limits};

/// The methods ringtty routes; anything else is kept as [`Method::Other`] so the router
/// can answer 405 with an `Allow` header rather than 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// A parsed request head. Everything borrows the connection's read buffer.
#[derive(Debug)]
pub struct Request<'b> {
    pub method: Method,
    /// The raw method token (for the access log when `method` is `Other`).
    pub method_str: &'b str,
    /// Path without the query string, exactly as sent (percent-encoding untouched).
    pub path: &'b str,
    /// The query string without `?`, if any.
    pub query: Option<&'b str>,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    pub headers: &'b [httparse::Header<'b>],
    /// Declared body length; 0 when no `Content-Length` was sent.
    pub content_length: u64,
    /// Whether the connection may serve another request after this one
    /// (RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with `keep-alive`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// Length of the head in bytes, including the final CRLF CRLF.
    pub head_len: usize,
}

impl<'b> Request<'b> {
    /// The first header with this name (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }

    /// The value of a header that must appear at most once: `Err(Repeated)` when it
    /// appears twice or more (which line would be the proxy's and which the client's?).
    pub fn single_header(&self, name: &str) -> Result<Option<&'b [u8]>, Repeated> {
        let mut lines = self.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
        let first = lines.next().map(|h| h.value);
        match lines.next() {
            Some(_) => Err(Repeated),
            None => Ok(first),
        }
    }

    /// Every field line of a list header (RFC 9110 §5.6.1) as one value. RFC 9110 §5.3:
    /// "A recipient MAY combine multiple field lines within a field section that have the
    /// same field name into one field line, without changing the semantics of the
    /// message, by appending each subsequent field line value to the initial field line
    /// value in order, separated by a comma". A proxy may append its own line rather than
    /// extend the client's (HAProxy's `option forwardfor` does), so [`Request::header`]
    /// would read the client's line alone. Borrowed when one line has an element (no
    /// allocation: the common case); lines without one (empty) are skipped, and `None`
    /// when none is left.
    pub fn header_list(&self, name: &str) -> Option<Cow<'b, [u8]>> {
        let mut lines = self
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.trim_ascii())
            .filter(|v| !v.is_empty());
        let first = lines.next()?;
        let Some(second) = lines.next() else { return Some(Cow::Borrowed(first)) };
        // Bounded by the head's size, which the parser has already checked.
        let mut joined = first.to_vec();
        for line in std::iter::once(second).chain(lines) {
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(line);
        }
        Some(Cow::Owned(joined))
    }

    /// Iterates `(name, value)` over all headers, for consumers (like the WebSocket
    /// upgrade) that are decoupled from this type.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        self.headers.iter().map(|h| (h.name, h.value))
    }
}

/// A header that must appear once appeared more often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// The outcome of feeding buffered bytes to the parser.
#[derive(Debug)]
pub enum Parse<'b> {
    /// More bytes are needed; nothing was consumed.
    Partial,
    Complete(Request<'b>),
}

/// Parses one request head from the start of `buf` into `headers` (caller-owned storage;
/// its length is the header-count limit).
pub fn parse<'b>(
    buf: &'b [u8],
    headers: &'b mut [httparse::Header<'b>],
    limits: &Limits,
) -> Result<Parse<'b>, HttpError> {
    let mut req = httparse::Request::new(headers);
    let status = match req.parse(buf) {
        Ok(status) => status,
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(HttpError::VersionNotSupported),
        Err(_) => return Err(HttpError::Malformed),
    };
    // The request line is checked on the raw bytes whether or not the head is complete,
    // so a head that is refused when complete is refused as soon as its prefix shows it,
    // and one that is accepted is never refused early.
    check_request_line(buf, limits)?;
    let head_len = match status {
        httparse::Status::Partial => return partial(buf, limits),
        httparse::Status::Complete(n) => n,
    };
    if head_len > limits.max_head_bytes {
        return Err(HttpError::HeadTooLarge);
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Malformed);
    };
    // RFC 9112 §3.2: a server answers origin-form targets; absolute-form is for proxies.
    let origin_form = target.starts_with('/') || (method == "OPTIONS" && target == "*");
    if !origin_form {
        return Err(HttpError::BadTarget);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let headers = req.headers;
    let facts = HeadFacts::scan(headers, minor_version)?;
    Ok(Parse::Complete(Request {
        method: Method::parse(method),
        method_str: method,
        path,
        query,
        minor_version,
        headers,
        content_length: facts.content_length.unwrap_or(0),
        keep_alive: facts.keep_alive,
        expect_continue: facts.expect_continue,
        head_len,
    }))
}

/// On a partial head, decide whether waiting for more bytes could ever succeed.
fn partial(buf: &[u8], limits: &Limits) -> Result<Parse<'static>, HttpError> {
    if buf.len() >= limits.max_head_bytes {
        return Err(HttpError::HeadTooLarge);
    }
    Ok(Parse::Partial)
}

/// The longest method token answered: no method ringtty serves (or any registered
/// in RFC 9110) is longer, so a longer one is refused before its line ends.
pub const MAX_METHOD_BYTES: usize = 16;

/// Refuses a method or target that is already too long in the bytes seen so far: 501 for
/// the method, 414 for the target (not 431 — the head is too large only because of it).
/// Both lengths only grow as bytes arrive, so a prefix is refused only if the whole is.
fn check_request_line(buf: &[u8], limits: &Limits) -> Result<(), HttpError> {
    // httparse skips empty lines before the request line (RFC 9112 §2.2); so does this.
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let line = &buf[start..];
    let token_end = |s: &[u8]| s.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n')).unwrap_or(s.len());
    let method_len = token_end(line);
    if method_len > MAX_METHOD_BYTES {
        return Err(HttpError::MethodTooLong);
    }
    if line.get(method_len) != Some(&b' ') {
        return Ok(());
    }
    let target = &line[method_len + 1..];
    if token_end(target) > limits.max_uri_bytes {
        return Err(HttpError::UriTooLong);
    }
    Ok(())
}

/// What the head says about framing and persistence.
struct HeadFacts {
    content_length: Option<u64>,
    keep_alive: bool,
    expect_continue: bool,
}

impl HeadFacts {
    fn scan(headers: &[httparse::Header<'_>], minor_version: u8) -> Result<HeadFacts, HttpError> {
        let mut facts =
            HeadFacts { content_length: None, keep_alive: minor_version >= 1, expect_continue: false };
        let mut host = false;
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("host") {
                // RFC 9112 §3.2: "a server MUST respond with a 400 (Bad Request) status
                // code to any HTTP/1.1 request message ... that contains more than one
                // Host header field line". Which one would the Host check judge?
                if std::mem::replace(&mut host, true) {
                    return Err(HttpError::DuplicateHost);
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                // RFC 9112 §6.3: duplicate or conflicting lengths are unrecoverable
                // framing errors; we refuse even identical duplicates (smuggling).
                if facts.content_length.is_some() {
                    return Err(HttpError::DuplicateLength);
                }
                facts.content_length = Some(parse_length(h.value)?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(HttpError::TransferEncoding);
            } else if name.eq_ignore_ascii_case("connection") {
                for token in tokens(h.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        facts.keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && minor_version == 0 {
                        facts.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("expect") {
                if !h.value.eq_ignore_ascii_case(b"100-continue") {
                    return Err(HttpError::ExpectationFailed);
                }
                facts.expect_continue = minor_version >= 1;
            }
        }
        Ok(facts)
    }
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6); no sign, no spaces, no list.
fn parse_length(value: &[u8]) -> Result<u64, HttpError> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::BadLength);
    }
    Ok(value.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// Splits a comma-separated header value into trimmed, non-empty tokens.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|t| t.trim_ascii()).filter(|t| !t.is_empty())
}

/// The values of every `name=value` pair named `name` in a query string, decoded as
/// a form (`%XX` and `+` for a space; a malformed escape stays as it is).
pub fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = Vec<u8>> + 'q {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| form_decode(v.as_bytes()))
}

fn form_decode(v: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let escaped = match v.get(i..i + 3) {
            Some(&[b'%', h, l]) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (escaped, v[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    out
}
