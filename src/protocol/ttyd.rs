//! ttyd's protocol (SPEC §5), byte for byte as ttyd 1.7 speaks it (`protocol.c`).
//!
//! Every message is one WebSocket message whose first byte says what it is. ttyd's
//! web client sends them as binary frames (text works too: the bytes are the same)
//! and expects binary frames back (it reads `event.data` as an `ArrayBuffer`).
//!
//! ```text
//! client -> server   {"AuthToken":"...","columns":C,"rows":R}   first message
//!                    '0' input bytes
//!                    '1' {"columns":C,"rows":R}                  resize
//!                    '2'                                         pause output
//!                    '3'                                         resume output
//! server -> client   '0' output bytes     (framed in place by the session)
//!                    '1' window title
//!                    '2' preferences JSON (the -t options)
//! ```
//!
//! Where ttyd is lenient this parser is too: an empty message or an unknown command
//! byte is ignored ([`TtydClientMsg::Ignored`]; ttyd logs "ignored unknown message
//! type"), and a size field that is missing or 0 leaves that dimension as it was.
//! Where ttyd is undefined (it reads whatever `json_object_get_int` makes of a string,
//! a float or a number beyond 65535, and casts it to `uint16_t`) this parser refuses
//! with [`ProtocolError::Malformed`] or [`ProtocolError::BadSize`], close 1002.

use std::borrow::Cow;

use serde::Deserialize;

use super::{check_object, encode_frame_with, write_json, ProtocolError, WinSize, MAX_DIMENSION};
use crate::ws::OpCode;

/// `'0'`: client input, server output.
pub const INPUT: u8 = b'0';
/// `'0'`: server output (the prefix the session writes in front of PTY bytes).
pub const OUTPUT: u8 = b'0';
/// `'1'`: client resize.
pub const RESIZE_TERMINAL: u8 = b'1';
/// `'1'`: server window title.
pub const SET_WINDOW_TITLE: u8 = b'1';
/// `'2'`: client pause.
pub const PAUSE: u8 = b'2';
/// `'2'`: server preferences.
pub const SET_PREFERENCES: u8 = b'2';
/// `'3'`: client resume.
pub const RESUME: u8 = b'3';
/// `'{'`: the client's first message, a JSON object.
pub const JSON_DATA: u8 = b'{';

/// A message from a ttyd client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TtydClientMsg<'a> {
    /// The first message: credentials and the initial size. ttyd ignores a second one.
    Init(TtydInit<'a>),
    /// Bytes for the PTY (ttyd drops them for a read-only server).
    Input(&'a [u8]),
    /// A new terminal size.
    Resize(TtydSize),
    /// Stop sending output (the client's write buffer is above its high-water mark).
    Pause,
    /// Start sending output again.
    Resume,
    /// An empty message or an unknown command byte: ttyd ignores these, and so do we.
    Ignored,
}

/// ttyd's first client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TtydInit<'a> {
    /// `AuthToken`: with `-c`, ttyd's base64 `user:pass` from `GET /token`; with token
    /// auth, a token. Absent when the page has none.
    pub auth_token: Option<Cow<'a, str>>,
    /// `columns` and `rows`.
    pub size: TtydSize,
}

/// A size as ttyd sends it: each dimension may be absent (or 0, which ttyd treats
/// as absent when it spawns), and then keeps its current value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TtydSize {
    /// `columns`, `1..=MAX_DIMENSION`, or `None`.
    pub columns: Option<u16>,
    /// `rows`, `1..=MAX_DIMENSION`, or `None`.
    pub rows: Option<u16>,
}

impl TtydSize {
    /// The size after applying this to `current`.
    pub fn apply(self, current: WinSize) -> WinSize {
        WinSize { cols: self.columns.unwrap_or(current.cols), rows: self.rows.unwrap_or(current.rows) }
    }

    fn checked(columns: Option<u16>, rows: Option<u16>) -> Result<TtydSize, ProtocolError> {
        let dim = |d: Option<u16>| match d {
            None | Some(0) => Ok(None),
            Some(n) if n <= MAX_DIMENSION => Ok(Some(n)),
            Some(_) => Err(ProtocolError::BadSize),
        };
        Ok(TtydSize { columns: dim(columns)?, rows: dim(rows)? })
    }
}

#[derive(Deserialize)]
struct RawInit<'a> {
    #[serde(rename = "AuthToken", borrow)]
    auth_token: Option<Cow<'a, str>>,
    columns: Option<u16>,
    rows: Option<u16>,
}

#[derive(Deserialize)]
struct RawSize {
    columns: Option<u16>,
    rows: Option<u16>,
}

impl<'a> TtydClientMsg<'a> {
    /// Parses one whole client message. Total on any bytes. Input is not bounded
    /// here (the WebSocket layer's message limit bounds it); the JSON messages are
    /// bounded by [`MAX_CONTROL_LEN`](super::MAX_CONTROL_LEN).
    ///
    /// Stateless: the runtime enforces that `Init` comes first (with auth, ttyd
    /// closes a connection whose first message is anything else) and only once.
    pub fn parse(msg: &'a [u8]) -> Result<TtydClientMsg<'a>, ProtocolError> {
        let Some((&command, rest)) = msg.split_first() else {
            return Ok(TtydClientMsg::Ignored);
        };
        match command {
            INPUT => Ok(TtydClientMsg::Input(rest)),
            RESIZE_TERMINAL => {
                check_object(rest)?;
                let raw: RawSize = serde_json::from_slice(rest).map_err(|_| ProtocolError::Malformed)?;
                TtydSize::checked(raw.columns, raw.rows).map(TtydClientMsg::Resize)
            }
            PAUSE => Ok(TtydClientMsg::Pause),
            RESUME => Ok(TtydClientMsg::Resume),
            // The whole message is the JSON object, its `{` included.
            JSON_DATA => {
                check_object(msg)?;
                let raw: RawInit<'a> = serde_json::from_slice(msg).map_err(|_| ProtocolError::Malformed)?;
                let size = TtydSize::checked(raw.columns, raw.rows)?;
                Ok(TtydClientMsg::Init(TtydInit { auth_token: raw.auth_token, size }))
            }
            _ => Ok(TtydClientMsg::Ignored),
        }
    }
}

/// A message from the server, other than output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtydServerMsg<'a> {
    /// `'1'` + the window title (ttyd sends `"{command} ({hostname})"`).
    Title(&'a str),
    /// `'2'` + the preferences, a JSON object built once by [`preferences_json`].
    Preferences(&'a str),
}

impl TtydServerMsg<'_> {
    /// Appends the message (command byte and body) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (command, body) = match *self {
            TtydServerMsg::Title(title) => (SET_WINDOW_TITLE, title),
            TtydServerMsg::Preferences(json) => (SET_PREFERENCES, json),
        };
        out.push(command);
        out.extend_from_slice(body.as_bytes());
    }

    /// Appends a complete binary WebSocket frame carrying this message to `out`.
    pub fn encode_frame(&self, out: &mut Vec<u8>) {
        encode_frame_with(out, OpCode::Binary, |out| self.encode(out));
    }
}

/// The preferences object from `-t KEY=VALUE` options, as ttyd builds it: a value
/// that parses as JSON is used as that JSON (`fontSize=20` is a number,
/// `disableLeaveAlert=true` a boolean), any other value is a string. A later
/// duplicate key wins. Built once at startup; sent with [`TtydServerMsg::Preferences`].
pub fn preferences_json<'k>(options: impl IntoIterator<Item = (&'k str, &'k str)>) -> String {
    let mut map = serde_json::Map::new();
    for (key, value) in options {
        let value = serde_json::from_str::<serde_json::Value>(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        map.insert(key.to_owned(), value);
    }
    let mut out = Vec::new();
    write_json(&mut out, &map);
    String::from_utf8(out).unwrap_or_default()
}
