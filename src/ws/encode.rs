//! Encoding whole frames: server control frames built on the stack (Close, Ping,
//! Pong), and a general frame encoder into a `Vec` (which can mask, for the client
//! side of tests and the benchmark harness).
//!
//! Data frames of PTY output are not built here: they are framed in place with
//! [`write_header_in_headroom`](super::write_header_in_headroom).

use super::close::CloseCode;
use super::frame::{FrameHeader, OpCode};
use super::mask::apply_mask;

/// §5.5: "All control frames MUST have a payload length of 125 bytes or less".
const MAX_CONTROL_PAYLOAD: usize = 125;

/// A complete unmasked (server-to-client) control frame, on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlFrame {
    /// A 2-byte header, then the payload.
    bytes: [u8; 2 + MAX_CONTROL_PAYLOAD],
    /// The frame's length: 2 + payload length.
    len: u8,
}

impl ControlFrame {
    /// The longest Close reason: 125 bytes of payload less the 2-byte code.
    pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

    /// A Close frame with `code` and `reason`, or with no body when `code` is `None`
    /// (then `reason` is ignored: §5.5.1 puts a reason only after a code). A reason
    /// longer than [`Self::MAX_CLOSE_REASON`] bytes is cut at the last character
    /// boundary that fits.
    ///
    /// To answer a received Close, echo its code (§5.5.1: "the endpoint typically
    /// echos the status code it received").
    pub fn close(code: Option<CloseCode>, reason: &str) -> Self {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let Some(code) = code else {
            return ControlFrame::new(OpCode::Close, &[]);
        };
        let mut end = reason.len().min(Self::MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        payload[..2].copy_from_slice(&code.as_u16().to_be_bytes());
        payload[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
        ControlFrame::new(OpCode::Close, &payload[..2 + end])
    }

    /// A Ping with `payload` (cut to 125 bytes).
    pub fn ping(payload: &[u8]) -> Self {
        ControlFrame::new(OpCode::Ping, payload)
    }

    /// The Pong that answers a Ping with `ping_payload`. §5.5.3: "A Pong frame sent in
    /// response to a Ping frame must have identical "Application data" as found in
    /// the message body of the Ping frame being replied to." A payload from the
    /// [`Decoder`](super::Decoder) is at most 125 bytes; a longer one is cut to 125.
    pub fn pong(ping_payload: &[u8]) -> Self {
        ControlFrame::new(OpCode::Pong, ping_payload)
    }

    fn new(opcode: OpCode, payload: &[u8]) -> Self {
        let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        let mut bytes = [0u8; 2 + MAX_CONTROL_PAYLOAD];
        bytes[0] = 0x80 | opcode.as_u8();
        // Fits the 7-bit length: at most 125.
        bytes[1] = payload.len() as u8;
        bytes[2..2 + payload.len()].copy_from_slice(payload);
        ControlFrame { bytes, len: 2 + payload.len() as u8 }
    }

    /// The whole frame, ready to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The frame's payload alone (e.g. to mask it as a client with [`encode_frame`]).
    pub fn payload(&self) -> &[u8] {
        &self.bytes[2..usize::from(self.len)]
    }
}

/// Appends one complete frame to `out`: FIN as given, no RSV bits, and the payload
/// masked with `mask` when given (a client's frame, §5.3) or as-is when not (a
/// server's). This copies the payload; PTY output is framed in place instead.
pub fn encode_frame(out: &mut Vec<u8>, fin: bool, opcode: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) {
    let header = FrameHeader { fin, rsv: 0, opcode, mask, payload_len: payload.len() as u64 };
    let mut bytes = [0u8; FrameHeader::MAX_LEN];
    let header_len = header.encode(&mut bytes);
    out.reserve(header_len + payload.len());
    out.extend_from_slice(&bytes[..header_len]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = mask {
        apply_mask(&mut out[start..], mask, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_frame_layout() {
        let frame = ControlFrame::close(Some(CloseCode::NORMAL), "bye");
        assert_eq!(frame.as_bytes(), b"\x88\x05\x03\xe8bye");
        assert_eq!(frame.payload(), b"\x03\xe8bye");
        assert_eq!(ControlFrame::close(None, "ignored").as_bytes(), b"\x88\x00");
    }

    #[test]
    fn close_reason_is_cut_at_a_char_boundary() {
        // (reason, expected reason bytes kept)
        let ascii = "a".repeat(200);
        let euro = "€".repeat(50); // 3 bytes each: 41 fit in 123
        let mixed = format!("{}é", "a".repeat(122)); // é would end at 124
        let table: [(&str, usize); 5] = [("", 0), ("short", 5), (&ascii, 123), (&euro, 123), (&mixed, 122)];
        for (reason, kept) in table {
            let frame = ControlFrame::close(Some(CloseCode::GOING_AWAY), reason);
            let payload = frame.payload();
            assert_eq!(payload.len(), 2 + kept, "{reason}");
            assert_eq!(&payload[2..], &reason.as_bytes()[..kept]);
            assert!(std::str::from_utf8(&payload[2..]).is_ok());
            assert_eq!(usize::from(frame.as_bytes()[1]), payload.len());
        }
    }

    #[test]
    fn pong_echoes_the_ping_payload() {
        for len in [0usize, 1, 124, 125] {
            let payload: Vec<u8> = (0..len as u8).collect();
            let pong = ControlFrame::pong(&payload);
            assert_eq!(pong.as_bytes()[0], 0x8A);
            assert_eq!(usize::from(pong.as_bytes()[1]), len);
            assert_eq!(pong.payload(), &payload[..]);
            let ping = ControlFrame::ping(&payload);
            assert_eq!(ping.as_bytes()[0], 0x89);
            assert_eq!(ping.payload(), &payload[..]);
        }
        assert_eq!(ControlFrame::pong(&[7; 200]).payload(), &[7; 125][..]);
    }

    #[test]
    fn encode_frame_masks_for_clients_only() {
        let mut out = Vec::new();
        encode_frame(&mut out, true, OpCode::Text, None, b"Hello");
        assert_eq!(out, b"\x81\x05Hello");
        out.clear();
        // RFC 6455 §5.7: "A single-frame masked text message".
        encode_frame(&mut out, true, OpCode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), b"Hello");
        assert_eq!(out, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        out.clear();
        // §5.7: "A fragmented unmasked text message".
        encode_frame(&mut out, false, OpCode::Text, None, b"Hel");
        encode_frame(&mut out, true, OpCode::Continuation, None, b"lo");
        assert_eq!(out, b"\x01\x03Hel\x80\x02lo");
    }
}
