//! The server side of the opening handshake (RFC 6455 §4.2): checking an upgrade
//! request, negotiating the subprotocol and computing `Sec-WebSocket-Accept`.
//!
//! It knows no HTTP type: the caller passes the method and the headers as
//! `(name, value)` pairs, whatever parsed them. It does not check what is HTTP's or
//! policy's business: the HTTP version (§4.1: 1.1 or higher), `Host`, `Origin`
//! (§10.2), authentication, or the path.

use ring::digest;

use super::deflate::{self, Deflate};

/// §1.3: the GUID concatenated to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why an upgrade request is refused; the wire reaction is [`status`](Self::status)
/// with [`response_headers`](Self::response_headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpgradeError {
    /// Not a GET (§4.1: "The method of the request MUST be GET").
    MethodNotAllowed,
    /// No `Upgrade` header with the token `websocket`.
    NotWebSocket,
    /// No `Connection` header with the token `Upgrade`.
    ConnectionNotUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` missing.
    MissingKey,
    /// `Sec-WebSocket-Key` is not the base64 encoding of 16 bytes.
    InvalidKey,
    /// `Sec-WebSocket-Key` or `Sec-WebSocket-Version` given more than once (§11.3.1,
    /// §11.3.5: "MUST NOT appear more than once in an HTTP request").
    DuplicateHeader,
}

impl UpgradeError {
    /// The HTTP status to answer with: 405, 426 or 400.
    pub const fn status(self) -> u16 {
        match self {
            UpgradeError::MethodNotAllowed => 405,
            UpgradeError::UnsupportedVersion => 426,
            UpgradeError::NotWebSocket
            | UpgradeError::ConnectionNotUpgrade
            | UpgradeError::MissingKey
            | UpgradeError::InvalidKey
            | UpgradeError::DuplicateHeader => 400,
        }
    }

    /// A short fixed description, fit for an error body or a log line.
    pub const fn reason(self) -> &'static str {
        match self {
            UpgradeError::MethodNotAllowed => "WebSocket upgrade requires GET",
            UpgradeError::NotWebSocket => "missing Upgrade: websocket",
            UpgradeError::ConnectionNotUpgrade => "missing Connection: Upgrade",
            UpgradeError::UnsupportedVersion => "unsupported WebSocket version (need 13)",
            UpgradeError::MissingKey => "missing Sec-WebSocket-Key",
            UpgradeError::InvalidKey => "invalid Sec-WebSocket-Key",
            UpgradeError::DuplicateHeader => "repeated WebSocket handshake header",
        }
    }

    /// Headers the error response must carry: `Allow` for 405; for 426, the
    /// versions we speak (§4.2.2: "send an appropriate HTTP error code (such as 426
    /// Upgrade Required) and a |Sec-WebSocket-Version| header field indicating the
    /// version(s) the server is capable of understanding") and the `Upgrade` header
    /// RFC 9110 §15.5.22 requires of a 426.
    pub const fn response_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            UpgradeError::MethodNotAllowed => &[("Allow", "GET")],
            UpgradeError::UnsupportedVersion => {
                &[("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket"), ("Connection", "Upgrade")]
            }
            _ => &[],
        }
    }
}

impl std::fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for UpgradeError {}

/// An accepted upgrade: what the `101 Switching Protocols` response says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake<'p> {
    accept: [u8; 28],
    protocol: Option<&'p str>,
    deflate: Option<Deflate>,
}

impl<'p> Handshake<'p> {
    /// The `Sec-WebSocket-Accept` value.
    pub fn accept(&self) -> &str {
        // Always ASCII: written from the base64 alphabet by `accept_key`.
        std::str::from_utf8(&self.accept).unwrap_or_default()
    }

    /// The chosen subprotocol (one of the server's), if any.
    pub const fn protocol(&self) -> Option<&'p str> {
        self.protocol
    }

    /// permessage-deflate, if it was offered, allowed and accepted.
    pub const fn deflate(&self) -> Option<Deflate> {
        self.deflate
    }

    /// Appends the complete `101 Switching Protocols` response head (status line,
    /// headers and the empty line) to `out` (§4.2.2 /response/).
    pub fn write_response(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\n\
              Upgrade: websocket\r\n\
              Connection: Upgrade\r\n\
              Sec-WebSocket-Accept: ",
        );
        out.extend_from_slice(&self.accept);
        out.extend_from_slice(b"\r\n");
        if let Some(protocol) = self.protocol {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(protocol.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(deflate) = self.deflate {
            out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
            deflate.write_response_value(out);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Checks a WebSocket upgrade request (§4.2.1) and negotiates its subprotocol.
///
/// `headers` are the request's `(name, value)` pairs (names in any case, repeated
/// names allowed); `protocols` are the subprotocols the endpoint speaks, in order of
/// preference. The chosen protocol is the most preferred of ours that the client
/// offered in any of its `Sec-WebSocket-Protocol` headers; `None` if the client
/// offered none of them (or none at all): the client decides whether to go on
/// without one. Extensions are not negotiated: `Sec-WebSocket-Extensions` is ignored
/// (see [`accept_upgrade_with`]).
pub fn accept_upgrade<'h, 'p, I>(
    method: &str,
    headers: I,
    protocols: &[&'p str],
) -> Result<Handshake<'p>, UpgradeError>
where
    I: IntoIterator<Item = (&'h str, &'h [u8])>,
{
    accept_upgrade_with(method, headers, protocols, false)
}

/// [`accept_upgrade`], and with `compress` also permessage-deflate (RFC 7692): the
/// first acceptable offer of the `Sec-WebSocket-Extensions` headers, in order
/// ([`deflate::negotiate`]). Offers are never a reason to refuse the upgrade: without
/// `compress`, or with no acceptable offer, the connection goes on uncompressed.
pub fn accept_upgrade_with<'h, 'p, I>(
    method: &str,
    headers: I,
    protocols: &[&'p str],
    compress: bool,
) -> Result<Handshake<'p>, UpgradeError>
where
    I: IntoIterator<Item = (&'h str, &'h [u8])>,
{
    if method != "GET" {
        return Err(UpgradeError::MethodNotAllowed);
    }
    let mut upgrade = false;
    let mut connection = false;
    let mut version: Option<&[u8]> = None;
    let mut key: Option<&[u8]> = None;
    let mut duplicate = false;
    let mut chosen: Option<usize> = None;
    let mut deflate: Option<Deflate> = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("upgrade") {
            // §4.2.1: "An |Upgrade| header field containing the value "websocket",
            // treated as an ASCII case-insensitive value."
            upgrade |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"websocket"));
        } else if name.eq_ignore_ascii_case("connection") {
            // §4.2.1: "A |Connection| header field that includes the token
            // "Upgrade", treated as an ASCII case-insensitive value."
            connection |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            duplicate |= version.replace(trim(value)).is_some();
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            duplicate |= key.replace(trim(value)).is_some();
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            for offered in tokens(value) {
                let ours = protocols.iter().position(|p| p.as_bytes() == offered);
                chosen = match (chosen, ours) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        } else if compress && deflate.is_none() && name.eq_ignore_ascii_case("sec-websocket-extensions") {
            deflate = deflate::negotiate(value);
        }
    }
    if !upgrade {
        return Err(UpgradeError::NotWebSocket);
    }
    if !connection {
        return Err(UpgradeError::ConnectionNotUpgrade);
    }
    if duplicate {
        return Err(UpgradeError::DuplicateHeader);
    }
    // §4.2.1: "A |Sec-WebSocket-Version| header field, with a value of 13."
    if version != Some(b"13") {
        return Err(UpgradeError::UnsupportedVersion);
    }
    // §4.2.1: "A |Sec-WebSocket-Key| header field with a base64-encoded (see Section
    // 4 of [RFC4648]) value that, when decoded, is 16 bytes in length."
    let key = key.ok_or(UpgradeError::MissingKey)?;
    if decode_key(key).is_none() {
        return Err(UpgradeError::InvalidKey);
    }
    Ok(Handshake {
        accept: accept_key(key),
        protocol: chosen.and_then(|i| protocols.get(i).copied()),
        deflate,
    })
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2 item 5.4): the base64
/// of the SHA-1 of the key (as sent, not decoded) followed by the GUID. Also what a
/// client checks the server's answer against.
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha1 = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha1.update(key);
    sha1.update(GUID);
    let digest = sha1.finish();
    let mut hash = [0u8; 20];
    hash.copy_from_slice(digest.as_ref());
    base64_20(&hash)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 (RFC 4648 §4, padded) of 20 bytes: 6 full groups and one of 2 bytes.
fn base64_20(input: &[u8; 20]) -> [u8; 28] {
    let mut out = [b'='; 28];
    for (group, chars) in input.chunks(3).zip(out.chunks_exact_mut(4)) {
        let b = [group[0], group.get(1).copied().unwrap_or(0), group.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let used = group.len() + 1;
        for (i, c) in chars.iter_mut().enumerate().take(used) {
            *c = BASE64[(n >> (18 - 6 * i)) as usize & 0x3F];
        }
    }
    out
}

/// The 16 bytes a `Sec-WebSocket-Key` encodes, if it is the canonical base64 of
/// exactly 16 bytes: 22 characters then `==`, the last character's 4 unused bits 0
/// (RFC 4648 §3.5 lets a decoder reject non-zero pad bits; no encoder makes them).
fn decode_key(key: &[u8]) -> Option<[u8; 16]> {
    let (chars, b"==") = key.split_at_checked(22)? else {
        return None;
    };
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = [0u8; 16];
    let mut len = 0;
    for &c in chars {
        bits = bits << 6 | u32::from(base64_value(c)?);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            *out.get_mut(len)? = (bits >> nbits) as u8;
            len += 1;
        }
    }
    // 22 characters carry 132 bits: 16 bytes and 4 pad bits, which must be zero.
    (len == 16 && bits & 0x0F == 0).then_some(out)
}

fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The elements of a comma-separated header list (RFC 9110 §5.6.1), trimmed of
/// optional whitespace, empty elements skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

/// `value` without leading and trailing optional whitespace (SP, HTAB).
fn trim(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

#[cfg(test)]
#[path = "upgrade_tests.rs"]
mod tests;
