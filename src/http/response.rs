//! Response heads, written into the connection's output buffer.

use super::HttpDate;

/// The interim response for `Expect: 100-continue` (RFC 9110 §15.2.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

const SERVER: &str = concat!("ringtty/", env!("CARGO_PKG_VERSION"));

/// One response head. The body (if any) is appended by the caller after `write`.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub content_length: usize,
    /// `false` adds `Connection: close`.
    pub keep_alive: bool,
    /// Further header fields, written as given.
    pub extra: &'a [(&'a str, &'a str)],
    /// `Strict-Transport-Security` (served over TLS: browsers that saw it refuse plain
    /// HTTP to this host for a year).
    pub hsts: bool,
}

impl Head<'_> {
    /// Appends the status line and header fields, ending with the empty line.
    pub fn write(&self, date: &HttpDate, out: &mut Vec<u8>) {
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason_phrase(self.status).as_bytes());
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(SERVER.as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
        out.extend_from_slice(date.as_bytes());
        // On every response, errors and JSON included: no browser may guess another
        // type than the one declared (a JSON error rendered as HTML), and no URL of
        // ours (session ids, `?token=` later) leaks to another site in `Referer`.
        out.extend_from_slice(b"\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer");
        if !self.content_type.is_empty() {
            out.extend_from_slice(b"\r\nContent-Type: ");
            out.extend_from_slice(self.content_type.as_bytes());
        }
        // A 304 has no body and says nothing of its length (RFC 9110 §15.4.5, §8.6).
        if self.status != 304 {
            out.extend_from_slice(b"\r\nContent-Length: ");
            push_decimal(out, self.content_length as u64);
        }
        if !self.keep_alive {
            out.extend_from_slice(b"\r\nConnection: close");
        }
        if self.hsts {
            out.extend_from_slice(b"\r\nStrict-Transport-Security: max-age=31536000");
        }
        for (name, value) in self.extra {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
    }
}

/// Appends `{"error":"<reason>"}` to `out`.
pub fn json_error(reason: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"error\":");
    push_json_string(out, reason);
    out.push(b'}');
}

/// Appends `s` as a JSON string literal (RFC 8259 §7).
pub(crate) fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
