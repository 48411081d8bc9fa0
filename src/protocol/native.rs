//! The native protocol's control messages (SPEC §4): JSON in WebSocket text frames.
//! Binary frames are terminal bytes both ways and never come here.
//!
//! ```text
//! client -> server   {"type":"resize","cols":C,"rows":R}
//!                    {"type":"ack","offset":N}
//! server -> client   {"type":"hello","id":"...","offset":N,"cols":C,"rows":R,"writable":B}
//!                    {"type":"resize","cols":C,"rows":R}
//!                    {"type":"gap","from":A,"to":B}
//!                    {"type":"role","driver":B,"offset":N}
//!                    {"type":"exit","code":N}   or   {"type":"exit","signal":N}
//!                    {"type":"session","name":S|null,"keep":B}
//! ```

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{check_object, encode_frame_with, write_json, ProtocolError, WinSize};
use crate::ws::OpCode;

/// A control message from a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMsg {
    /// The client's terminal has this size (applied only for a writable client).
    Resize(WinSize),
    /// Every byte before `offset` is rendered (cumulative; flow control, §4).
    Ack {
        /// The offset of the first byte not yet rendered.
        offset: u64,
    },
}

/// Every field any message may carry, so that one pass of serde_json reads any of
/// them without buffering (an internally tagged enum would buffer the whole object
/// into an allocated tree first). `type` borrows unless it contains escapes.
#[derive(Deserialize)]
struct RawClient<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    cols: Option<u16>,
    rows: Option<u16>,
    offset: Option<u64>,
}

impl ClientMsg {
    /// Parses one text message. Total on any bytes; see the module docs of
    /// [`protocol`](super) for which error (and close code) each failure gets.
    pub fn parse(input: &[u8]) -> Result<ClientMsg, ProtocolError> {
        check_object(input)?;
        let raw: RawClient<'_> = serde_json::from_slice(input).map_err(|_| ProtocolError::Malformed)?;
        match &*raw.kind {
            "resize" => {
                let (Some(cols), Some(rows)) = (raw.cols, raw.rows) else {
                    return Err(ProtocolError::Malformed);
                };
                WinSize::new(cols, rows).map(ClientMsg::Resize).ok_or(ProtocolError::BadSize)
            }
            "ack" => raw.offset.map(|offset| ClientMsg::Ack { offset }).ok_or(ProtocolError::Malformed),
            _ => Err(ProtocolError::UnknownType),
        }
    }

    /// Appends the JSON of this message to `out` (for clients: tests, the harness).
    pub fn encode(&self, out: &mut Vec<u8>) {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        enum Wire {
            Resize { cols: u16, rows: u16 },
            Ack { offset: u64 },
        }
        let wire = match *self {
            ClientMsg::Resize(WinSize { cols, rows }) => Wire::Resize { cols, rows },
            ClientMsg::Ack { offset } => Wire::Ack { offset },
        };
        write_json(out, &wire);
    }
}

/// A control message from the server. Encoding borrows; nothing is allocated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMsg<'a> {
    /// The first message on a connection.
    Hello {
        /// The session's ID.
        id: Cow<'a, str>,
        /// The offset of the next output byte this client will receive.
        offset: u64,
        /// The terminal's size now.
        cols: u16,
        /// The terminal's size now.
        rows: u16,
        /// Whether this client may type and resize.
        writable: bool,
    },
    /// The terminal was resized (by the driver).
    Resize {
        /// New columns.
        cols: u16,
        /// New rows.
        rows: u16,
    },
    /// From output offset `offset` on, this client is the driver (`driver`) or not:
    /// only the driver's terminal answers queries in the output. A client attaches
    /// as a viewer.
    Role {
        /// Whether it is the driver.
        driver: bool,
        /// The offset of the first output byte the role applies to.
        offset: u64,
    },
    /// The bytes `from..to` will never be sent to this client; output resumes at `to`.
    Gap {
        /// The first byte skipped.
        from: u64,
        /// The next byte sent.
        to: u64,
    },
    /// The command ended: with an exit code, or killed by a signal. Close 1000 follows.
    Exit {
        /// The exit code, if it exited.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        /// The signal number, if a signal killed it.
        #[serde(skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
    /// The session was renamed or its keep changed (`PATCH /api/sessions/{id}`).
    Session {
        /// Its name now (`null`: none).
        name: Option<Cow<'a, str>>,
        /// Whether it is kept (lives on without clients).
        keep: bool,
    },
}

#[derive(Deserialize)]
struct RawServer<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    offset: Option<u64>,
    cols: Option<u16>,
    rows: Option<u16>,
    writable: Option<bool>,
    driver: Option<bool>,
    from: Option<u64>,
    to: Option<u64>,
    code: Option<i32>,
    signal: Option<i32>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    keep: Option<bool>,
}

impl ServerMsg<'_> {
    /// Appends the JSON of this message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_json(out, self);
    }

    /// Appends a complete WebSocket text frame carrying this message to `out`: what
    /// a writer sends as is.
    pub fn encode_frame(&self, out: &mut Vec<u8>) {
        encode_frame_with(out, OpCode::Text, |out| self.encode(out));
    }
}

impl<'a> ServerMsg<'a> {
    /// Parses a server message (for clients: tests, the benchmark harness). Total on
    /// any input, with the same errors as [`ClientMsg::parse`].
    pub fn parse(input: &'a [u8]) -> Result<ServerMsg<'a>, ProtocolError> {
        use ProtocolError::Malformed;
        check_object(input)?;
        let raw: RawServer<'a> = serde_json::from_slice(input).map_err(|_| Malformed)?;
        let msg = match &*raw.kind {
            "hello" => match (raw.id, raw.offset, raw.cols, raw.rows, raw.writable) {
                (Some(id), Some(offset), Some(cols), Some(rows), Some(writable)) => {
                    ServerMsg::Hello { id, offset, cols, rows, writable }
                }
                _ => return Err(Malformed),
            },
            "resize" => {
                let (Some(cols), Some(rows)) = (raw.cols, raw.rows) else { return Err(Malformed) };
                ServerMsg::Resize { cols, rows }
            }
            "role" => {
                let (Some(driver), Some(offset)) = (raw.driver, raw.offset) else { return Err(Malformed) };
                ServerMsg::Role { driver, offset }
            }
            "gap" => {
                let (Some(from), Some(to)) = (raw.from, raw.to) else { return Err(Malformed) };
                ServerMsg::Gap { from, to }
            }
            "exit" if raw.code.is_some() != raw.signal.is_some() => {
                ServerMsg::Exit { code: raw.code, signal: raw.signal }
            }
            "exit" => return Err(Malformed),
            "session" => {
                let Some(keep) = raw.keep else { return Err(Malformed) };
                ServerMsg::Session { name: raw.name, keep }
            }
            _ => return Err(ProtocolError::UnknownType),
        };
        Ok(msg)
    }
}
