//! HTTP/1.1 for ringtty: request heads parsed with `httparse` into caller-owned storage,
//! response heads written into caller-owned buffers, and the route table.
//!
//! Pure: no IO, no clock (the `Date` value comes in as an argument), no allocation while
//! parsing. Limits are checked before the caller grows anything. The connection loop that
//! drives this lives in `runtime::httpconn`.
#![forbid(unsafe_code)]

mod date;
mod request;
mod response;
mod route;

pub use date::{civil_from_days, HttpDate};
pub use request::{parse, query_values, tokens, Method, Parse, Request, MAX_METHOD_BYTES};
pub use response::{json_error, reason_phrase, Head, CONTINUE};
pub use route::{route, AdminRoute, Route, SessionPart};

#[cfg(test)]
mod tests;

/// Limits on what a client may make the server buffer. All are checked before growing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus headers (431 beyond it). Also the size of a connection's read buffer.
    pub max_head_bytes: usize,
    /// Number of header fields (431 beyond it).
    pub max_headers: usize,
    /// Request target length (414 beyond it).
    pub max_uri_bytes: usize,
    /// `Content-Length` (413 beyond it).
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Every way a request can be refused at the HTTP layer. Each maps to one status and
/// one fixed reason: nothing from the request is echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    Malformed,
    BadTarget,
    BadLength,
    DuplicateLength,
    DuplicateHost,
    TransferEncoding,
    ExpectationFailed,
    VersionNotSupported,
    HeadTooLarge,
    TooManyHeaders,
    UriTooLong,
    MethodTooLong,
    BodyTooLarge,
    HeadTimeout,
    BodyTimeout,
}

impl HttpError {
    pub fn status(self) -> u16 {
        match self {
            HttpError::Malformed
            | HttpError::BadTarget
            | HttpError::BadLength
            | HttpError::DuplicateLength
            | HttpError::DuplicateHost => 400,
            HttpError::HeadTimeout | HttpError::BodyTimeout => 408,
            HttpError::BodyTooLarge => 413,
            HttpError::UriTooLong => 414,
            HttpError::ExpectationFailed => 417,
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::TransferEncoding | HttpError::MethodTooLong => 501,
            HttpError::VersionNotSupported => 505,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            HttpError::Malformed => "malformed request",
            HttpError::BadTarget => "request target must be an absolute path",
            HttpError::BadLength => "invalid Content-Length",
            HttpError::DuplicateLength => "more than one Content-Length",
            HttpError::DuplicateHost => "more than one Host",
            HttpError::TransferEncoding => "Transfer-Encoding is not supported; send Content-Length",
            HttpError::ExpectationFailed => "only Expect: 100-continue is supported",
            HttpError::VersionNotSupported => "only HTTP/1.0 and HTTP/1.1 are supported",
            HttpError::HeadTooLarge => "request head too large",
            HttpError::TooManyHeaders => "too many header fields",
            HttpError::UriTooLong => "request target too long",
            HttpError::MethodTooLong => "unknown request method (longer than any method served)",
            HttpError::BodyTooLarge => "request body too large",
            HttpError::HeadTimeout => "request head not received in time",
            HttpError::BodyTimeout => "request body not received in time",
        }
    }
}
