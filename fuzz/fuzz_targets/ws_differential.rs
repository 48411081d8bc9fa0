//! Our frame parser and decoder against tungstenite's on the same bytes.
//!
//! Two levels: `FrameHeader::decode` against `tungstenite::protocol::frame::
//! FrameHeader::parse` at every offset of the input's first 64 bytes, and our
//! `Decoder` (server role) against a tungstenite server `WebSocket` reading the whole
//! input: the same messages, and both failing on the same frame.
//!
//! Allowed differences, each a place where we are stricter or earlier than
//! tungstenite, never more lenient:
//!
//! 1. RFC 6455 §5.2 reserved opcodes ("If an unknown opcode is received, the receiving
//!    endpoint MUST _Fail the WebSocket Connection_"): we fail on the first byte;
//!    tungstenite once the whole header is there (until then it says "incomplete").
//! 2. §5.2 "the minimal number of bytes MUST be used to encode the length": we fail a
//!    non-minimal length (1002), as browsers do; tungstenite accepts it.
//! 3. §5.2 64-bit length "(the most significant bit MUST be 0)": we fail it (1002);
//!    tungstenite accepts it in the header (and then refuses it as too large).
//! 4. §5.1 masking, §5.2 RSV bits, §5.4 fragmentation order, §5.5 control frame
//!    length and FIN, §10.4 message size: we check them on the frame header, before
//!    taking any payload (fail fast, nothing buffered); tungstenite reads the whole
//!    frame first. So where the input ends inside the offending frame, tungstenite is
//!    still waiting (it reports EOF) while we have failed; and when one frame breaks
//!    several rules, the two may name different ones. We require the same messages
//!    before the failure, and tungstenite either failing or waiting.
//! 5. §8.1 UTF-8: both fail fast; we also validate a text frame's payload as it
//!    arrives, so for a frame cut short by the end of input we may fail where
//!    tungstenite waits (as in 4).
//! 6. §7.4 close codes: we fail the connection (1002) on a code that may not be sent
//!    (0-999, 1004-1006, 1015, unassigned 1016-2999, >= 5000), as Autobahn 7.9.x
//!    expects; tungstenite delivers the Close with the code replaced by 1002 "Protocol
//!    violation". For 1014 (Bad Gateway, registered with IANA after RFC 6455)
//!    tungstenite does the same replacement while we deliver 1014.

#![no_main]

use std::io::{self, Cursor, Read, Write};

use libfuzzer_sys::fuzz_target;
use ringtty::ws::{Decoder, Event, FrameHeader, MessageKind, Role, Status, WsError};
use ringtty_fuzz::{frames_from_spec, Bytes};
use tungstenite::protocol::frame::{CloseFrame, FrameHeader as TFrameHeader};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use tungstenite::{error::ProtocolError, Error, Message};

/// The size limit on both sides (tungstenite's frame and message limits).
const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes(data);
    let input =
        if bytes.byte() & 1 == 0 { frames_from_spec(&mut bytes, Role::Server) } else { bytes.0.to_vec() };
    for offset in 0..input.len().min(64) {
        compare_headers(&input[offset..]);
    }
    compare_messages(&input);
});

fn compare_headers(input: &[u8]) {
    let ours = FrameHeader::decode(input);
    let mut cursor = Cursor::new(input);
    let theirs = TFrameHeader::parse(&mut cursor);
    let their_len = cursor.position() as usize;
    match (ours, theirs) {
        (Ok(Status::Complete((h, len))), Ok(Some((t, payload_len)))) => {
            assert_eq!(len, their_len, "header length");
            assert_eq!(h.payload_len, payload_len);
            assert_eq!(h.fin, t.is_final);
            assert_eq!(h.rsv, u8::from(t.rsv1) << 2 | u8::from(t.rsv2) << 1 | u8::from(t.rsv3));
            assert_eq!(h.opcode.as_u8(), u8::from(t.opcode));
            assert_eq!(h.mask, t.mask);
        }
        (Ok(Status::Partial), Ok(None)) => {}
        // Difference 1.
        (Err(WsError::ReservedOpcode), Ok(None) | Err(Error::Protocol(ProtocolError::InvalidOpcode(_)))) => {}
        // Difference 2: tungstenite takes the non-minimal length as given.
        (Err(WsError::NonMinimalLength), Ok(None)) => {}
        (Err(WsError::NonMinimalLength), Ok(Some((_, len)))) => assert!(len <= 0xFFFF),
        // Difference 3.
        (Err(WsError::LengthTooLarge), Ok(None)) => {}
        (Err(WsError::LengthTooLarge), Ok(Some((_, len)))) => assert!(len >> 63 == 1),
        (ours, theirs) => panic!("header: ours {ours:?}, tungstenite {theirs:?}"),
    }
}

#[derive(Debug, PartialEq)]
enum End {
    /// The input ended (inside a frame or between frames).
    Eof,
    /// A Close was received (and is the last message).
    Closed,
    Failed,
}

fn ours(input: &[u8]) -> (Vec<Message>, End, Option<WsError>) {
    let mut input = input.to_vec();
    let mut decoder = Decoder::new(Role::Server, MAX as u64);
    let mut messages = Vec::new();
    let mut data = Vec::new();
    let mut start = 0;
    loop {
        let decoded = match decoder.decode(&mut input[start..]) {
            Ok(decoded) => decoded,
            Err(e) => return (messages, End::Failed, Some(e)),
        };
        start += decoded.consumed;
        let Some(event) = decoded.event else {
            return (messages, End::Eof, None);
        };
        match event {
            Event::Data { kind, payload, first, last, .. } => {
                if first {
                    data.clear();
                }
                data.extend_from_slice(payload);
                if last {
                    let bytes = tungstenite::Bytes::from(std::mem::take(&mut data));
                    messages.push(match kind {
                        MessageKind::Text => {
                            Message::Text(bytes.try_into().expect("we delivered invalid UTF-8"))
                        }
                        MessageKind::Binary => Message::Binary(bytes),
                    });
                }
            }
            Event::Ping(p) => messages.push(Message::Ping(p.to_vec().into())),
            Event::Pong(p) => messages.push(Message::Pong(p.to_vec().into())),
            Event::Close { code, reason } => {
                messages.push(Message::Close(
                    code.map(|code| CloseFrame { code: code.as_u16().into(), reason: reason.into() }),
                ));
                return (messages, End::Closed, None);
            }
        }
    }
}

/// An in-memory stream: reads the input, swallows tungstenite's replies.
struct Pipe(Cursor<Vec<u8>>);

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn theirs(input: &[u8]) -> (Vec<Message>, End) {
    let config = WebSocketConfig::default().max_message_size(Some(MAX)).max_frame_size(Some(MAX));
    let mut socket =
        WebSocket::from_raw_socket(Pipe(Cursor::new(input.to_vec())), TRole::Server, Some(config));
    let mut messages = Vec::new();
    loop {
        match socket.read() {
            Ok(message) => {
                let closed = matches!(message, Message::Close(_));
                messages.push(message);
                if closed {
                    return (messages, End::Closed);
                }
            }
            Err(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => return (messages, End::Eof),
            Err(_) => return (messages, End::Failed),
        }
    }
}

fn compare_messages(input: &[u8]) {
    let (ours, our_end, error) = ours(input);
    let (mut theirs, their_end) = theirs(input);
    // Difference 6, 1014: tungstenite replaces the code we deliver.
    let same_len = ours.len() == theirs.len();
    if let (Some(Message::Close(Some(o))), Some(Message::Close(Some(t)))) = (ours.last(), theirs.last_mut()) {
        if u16::from(o.code) == 1014 && u16::from(t.code) == 1002 && same_len {
            *t = o.clone();
        }
    }
    match error {
        // Rules tungstenite does not have (differences 2, 3, 6): it may go on.
        Some(WsError::NonMinimalLength | WsError::LengthTooLarge | WsError::InvalidCloseCode) => {
            assert!(theirs.starts_with(&ours), "ours {ours:?}\ntheirs {theirs:?}");
        }
        // Shared rules: the same messages, then tungstenite fails or waits (4, 5).
        Some(_) => {
            assert_eq!(ours, theirs, "before {error:?}");
            assert_ne!(their_end, End::Closed, "tungstenite accepted what failed: {error:?}");
        }
        None => {
            assert_eq!(ours, theirs);
            assert_eq!(our_end, their_end, "ours {ours:?}");
        }
    }
}
