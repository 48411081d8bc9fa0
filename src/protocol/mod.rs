//! The control-message formats of ringtty's two WebSocket protocols, with
//! `serde_json`: the native one (SPEC §4, [`native`]) and ttyd's (SPEC §5, [`ttyd`]).
//!
//! # What it owns
//!
//! The bytes of every message that is not PTY output: parsing what clients send
//! (borrowing from the caller's buffer, bounded in size, total on any input) and
//! encoding what the server sends (into a caller's `Vec<u8>`, which is reused, so no
//! allocation once it has grown). PTY output itself is never built here: the session
//! frames it in place in its pool buffer (`session::Scrollback`).
//!
//! It must never do IO, read a clock or keep state: which message may come when (the
//! ttyd init first, acks only after output) is the runtime's and the session's.
//!
//! # Errors and close codes
//!
//! One error type, [`ProtocolError`], whose [`close_code`](ProtocolError::close_code)
//! is the wire reaction. The decision for the native protocol:
//!
//! | input | error | close |
//! |---|---|---|
//! | longer than [`MAX_CONTROL_LEN`] | `TooLong` | 1009 |
//! | not JSON, not an object, a field of the wrong type, a field missing, trailing bytes | `Malformed` | 1002 |
//! | `cols`/`rows` outside `1..=`[`MAX_DIMENSION`] | `BadSize` | 1002 |
//! | well-formed JSON whose `type` we do not know | `UnknownType` | 1003 |
//!
//! Malformed JSON in a text frame is a *protocol* error (1002), not 1007: 1007 means
//! "invalid UTF-8 in a text message", which the WebSocket decoder has already
//! rejected before a parser here sees the bytes; JSON that does not parse is a
//! client breaking our protocol. An unknown `type` gets 1003 ("a type of data the
//! endpoint cannot accept") instead, so that a client speaking a newer version of the
//! protocol can tell "you sent garbage" from "I do not know that message". Unknown
//! *fields* of a known type are ignored, for the same forward compatibility.
#![forbid(unsafe_code)]

pub mod native;
pub mod ttyd;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ws::{CloseCode, FrameHeader, OpCode};

pub use native::{ClientMsg, ServerMsg};
pub use ttyd::{TtydClientMsg, TtydInit, TtydServerMsg, TtydSize};

/// The longest control message accepted (native JSON, ttyd's init and resize): the
/// longest legitimate one is ttyd's init with a JWT in it, well under 8 KiB. Checked
/// before any parsing, so a parser never looks at more than this.
pub const MAX_CONTROL_LEN: usize = 8 * 1024;

/// The largest terminal dimension accepted (columns or rows). Wide enough for any
/// screen (an 8K display in a 5-pixel font is 1536 columns), small enough that a
/// hostile resize cannot make the child allocate a 65535 × 65535 screen.
pub const MAX_DIMENSION: u16 = 4096;

/// A terminal size, `1..=MAX_DIMENSION` in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WinSize {
    /// Columns (characters per line).
    pub cols: u16,
    /// Rows (lines).
    pub rows: u16,
}

impl WinSize {
    /// The size ringtty gives a terminal nobody has sized yet (as ttyd and xterm).
    pub const DEFAULT: WinSize = WinSize { cols: 80, rows: 24 };

    /// A size, if both dimensions are in `1..=MAX_DIMENSION`.
    pub const fn new(cols: u16, rows: u16) -> Option<WinSize> {
        if cols == 0 || rows == 0 || cols > MAX_DIMENSION || rows > MAX_DIMENSION {
            return None;
        }
        Some(WinSize { cols, rows })
    }
}

impl Default for WinSize {
    fn default() -> Self {
        WinSize::DEFAULT
    }
}

/// Why a client's control message was refused. Nothing in it comes from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Longer than [`MAX_CONTROL_LEN`].
    TooLong,
    /// Not the JSON we expect: syntax, types, missing fields, trailing bytes.
    Malformed,
    /// A terminal size outside `1..=MAX_DIMENSION`.
    BadSize,
    /// Well-formed, but a `type` this server does not know.
    UnknownType,
}

impl ProtocolError {
    /// How the connection is closed for it (see the module docs for the reasons).
    pub const fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::TooLong => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::Malformed | ProtocolError::BadSize => CloseCode::PROTOCOL_ERROR,
            ProtocolError::UnknownType => CloseCode::UNSUPPORTED_DATA,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolError::TooLong => "control message too long",
            ProtocolError::Malformed => "malformed control message",
            ProtocolError::BadSize => "terminal size out of range",
            ProtocolError::UnknownType => "unknown control message type",
        })
    }
}

impl std::error::Error for ProtocolError {}

/// Refuses input over [`MAX_CONTROL_LEN`] before a parser touches it, and anything
/// but a JSON object (serde's derived structs would also read `[1, 2]` as fields).
fn check_object(input: &[u8]) -> Result<(), ProtocolError> {
    if input.len() > MAX_CONTROL_LEN {
        return Err(ProtocolError::TooLong);
    }
    if input.trim_ascii_start().first() != Some(&b'{') {
        return Err(ProtocolError::Malformed);
    }
    // JSON is UTF-8 (RFC 8259 §8.1). serde_json checks the strings it reads, but skips
    // the ones it ignores (an unknown field's value) without looking: a message with
    // invalid bytes there would parse. A ttyd message comes in a binary frame, which
    // the codec does not check.
    if std::str::from_utf8(input).is_err() {
        return Err(ProtocolError::Malformed);
    }
    Ok(())
}

/// Appends a whole unmasked, final WebSocket frame to `out`: `write` appends the
/// payload, then the header goes in front of it. No allocation once `out` has grown
/// to the size of the messages sent; the payload is moved back by at most 8 bytes
/// (it was written after room for the longest header).
fn encode_frame_with(out: &mut Vec<u8>, opcode: OpCode, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.resize(start + FrameHeader::MAX_SERVER_LEN, 0);
    write(out);
    let payload_start = start + FrameHeader::MAX_SERVER_LEN;
    let payload_len = (out.len() - payload_start) as u64;
    let header = FrameHeader { fin: true, rsv: 0, opcode, mask: None, payload_len };
    let mut bytes = [0u8; FrameHeader::MAX_LEN];
    let header_len = header.encode(&mut bytes);
    let header_start = payload_start - header_len;
    out[header_start..payload_start].copy_from_slice(&bytes[..header_len]);
    let end = out.len();
    out.copy_within(header_start..end, start);
    out.truncate(end - (header_start - start));
}

/// Appends `value` as JSON. Serialising our message types cannot fail (string keys,
/// no maps, no custom `Serialize`), and writing to a `Vec` cannot either.
fn write_json<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    let written = serde_json::to_writer(&mut *out, value);
    debug_assert!(written.is_ok(), "serialising a control message to a Vec failed");
}
