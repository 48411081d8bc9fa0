//! The frame header (RFC 6455 §5.2): decoding from a byte slice, encoding into a fixed
//! array, and writing a server header into the headroom in front of a payload that is
//! already in its buffer (so the payload is never copied to be framed).
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-------+-+-------------+-------------------------------+
//!  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//!  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//!  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//!  | |1|2|3|       |K|             |                               |
//!  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//!  |     Extended payload length continued, if payload len == 127  |
//!  + - - - - - - - - - - - - - - - +-------------------------------+
//!  |                               |Masking-key, if MASK set to 1  |
//!  +-------------------------------+-------------------------------+
//! ```

use super::error::WsError;

/// A frame opcode (RFC 6455 §5.2). The reserved opcodes 0x3-0x7 and 0xB-0xF have no
/// variant: "If an unknown opcode is received, the receiving endpoint MUST _Fail the
/// WebSocket Connection_", so they never get past [`FrameHeader::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: the next fragment of a message (§5.4).
    Continuation = 0x0,
    /// 0x1: the first frame of a text message.
    Text = 0x1,
    /// 0x2: the first frame of a binary message.
    Binary = 0x2,
    /// 0x8: connection close (§5.5.1).
    Close = 0x8,
    /// 0x9: ping (§5.5.2).
    Ping = 0x9,
    /// 0xA: pong (§5.5.3).
    Pong = 0xA,
}

impl OpCode {
    /// The opcode of the low four bits of `bits`, or `None` if it is reserved.
    pub const fn from_bits(bits: u8) -> Option<OpCode> {
        match bits & 0x0F {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// The 4-bit value on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// §5.5: "Control frames are identified by opcodes where the most significant bit
    /// of the opcode is 1."
    pub const fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

/// The outcome of parsing input that may be incomplete: `Partial` consumed nothing
/// (call again with more bytes), `Complete` carries the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// More input is needed; nothing was consumed.
    Partial,
    /// A complete value.
    Complete(T),
}

/// A decoded frame header (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1-3 as the low three bits (RSV1 = 0b100). Non-zero only with an extension:
    /// ringtty negotiates only permessage-deflate (RSV1 on a compressed message's first
    /// frame); the decoder rejects every other non-zero value.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame (§5.3).
    pub mask: Option<[u8; 4]>,
    /// The payload length; always below 2^63 (§5.2).
    pub payload_len: u64,
}

impl FrameHeader {
    /// The longest header: 2 bytes, a 64-bit length and a masking key.
    pub const MAX_LEN: usize = 14;
    /// The longest unmasked (server-to-client) header: the headroom a buffer needs in
    /// front of a payload to be framed in place by [`write_header_in_headroom`].
    pub const MAX_SERVER_LEN: usize = 10;

    /// Decodes a header from the front of `input`: `Complete((header, header_len))`,
    /// `Partial` if `input` ends before the header does (nothing consumed), or an
    /// error as soon as the bytes present make the header invalid.
    ///
    /// Validity here is only what the header alone says; the rules that depend on the
    /// role and on the message in progress (RSV bits, masking, control frame limits,
    /// fragmentation) are the [`Decoder`](super::Decoder)'s.
    pub fn decode(input: &[u8]) -> Result<Status<(FrameHeader, usize)>, WsError> {
        let Some(&first) = input.first() else {
            return Ok(Status::Partial);
        };
        // §5.2 Opcode: "If an unknown opcode is received, the receiving endpoint MUST
        // _Fail the WebSocket Connection_." Checked on the first byte: fail fast.
        let opcode = OpCode::from_bits(first).ok_or(WsError::ReservedOpcode)?;
        let Some(&second) = input.get(1) else {
            return Ok(Status::Partial);
        };
        let Some((payload_len, mut len)) = decode_length(input, second & 0x7F)? else {
            return Ok(Status::Partial);
        };
        let mask = if second & 0x80 != 0 {
            let Some(&[a, b, c, d]) = input.get(len..len + 4) else {
                return Ok(Status::Partial);
            };
            len += 4;
            Some([a, b, c, d])
        } else {
            None
        };
        let header =
            FrameHeader { fin: first & 0x80 != 0, rsv: (first >> 4) & 0x07, opcode, mask, payload_len };
        Ok(Status::Complete((header, len)))
    }

    /// The encoded length of this header: 2, 4 or 10 bytes, plus 4 with a mask.
    pub const fn encoded_len(&self) -> usize {
        let mask = if self.mask.is_some() { 4 } else { 0 };
        unmasked_len(self.payload_len) + mask
    }

    /// Encodes this header into `out` and returns its length. The encoding is the
    /// canonical one (minimal length bytes, §5.2), which is the only one
    /// [`decode`](Self::decode) accepts: `decode(encode(h)) == h`.
    ///
    /// `rsv` is truncated to its three bits; `payload_len` must be below 2^63.
    pub fn encode(&self, out: &mut [u8; FrameHeader::MAX_LEN]) -> usize {
        debug_assert!(self.payload_len >> 63 == 0, "payload length >= 2^63");
        out[0] = u8::from(self.fin) << 7 | (self.rsv & 0x07) << 4 | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len;
        let mut end = match unmasked_len(len) {
            2 => {
                out[1] = mask_bit | len as u8;
                2
            }
            4 => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            _ => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(mask) = self.mask {
            out[end..end + 4].copy_from_slice(&mask);
            end += 4;
        }
        end
    }
}

/// Decodes the payload length whose 7-bit field is `len7`: `Ok(None)` if the extended
/// length is not all in `input` yet, else the length and the header length so far.
///
/// §5.2: "If 126, the following 2 bytes interpreted as a 16-bit unsigned integer are
/// the payload length. If 127, the following 8 bytes interpreted as a 64-bit unsigned
/// integer (the most significant bit MUST be 0) are the payload length. [...] Note
/// that in all cases, the minimal number of bytes MUST be used to encode the length,
/// for example, the length of a 124-byte-long string can't be encoded as the sequence
/// 126, 0, 124."
///
/// We enforce the minimal encoding on receipt (as Chromium and Firefox do, and
/// tungstenite does not): a peer that breaks a MUST of the framing is broken or
/// probing, and a canonical encoding makes a header round-trip byte for byte.
fn decode_length(input: &[u8], len7: u8) -> Result<Option<(u64, usize)>, WsError> {
    match len7 {
        126 => {
            let Some(&[hi, lo]) = input.get(2..4) else {
                return Ok(None);
            };
            let len = u16::from_be_bytes([hi, lo]);
            if len < 126 {
                return Err(WsError::NonMinimalLength);
            }
            Ok(Some((u64::from(len), 4)))
        }
        127 => {
            let Some(bytes) = input.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(bytes);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 {
                return Err(WsError::LengthTooLarge);
            }
            if len <= 0xFFFF {
                return Err(WsError::NonMinimalLength);
            }
            Ok(Some((len, 10)))
        }
        short => Ok(Some((u64::from(short), 2))),
    }
}

/// The length of an unmasked header for a payload of `payload_len` bytes.
const fn unmasked_len(payload_len: u64) -> usize {
    match payload_len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// The length of the (unmasked) header a server writes in front of a payload of
/// `payload_len` bytes: 2, 4 or 10.
pub const fn server_header_len(payload_len: u64) -> usize {
    unmasked_len(payload_len)
}

/// The headroom in front of the payload is too small for its frame header (or the
/// payload start is past the end of the buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadroomTooSmall;

/// Frames the payload `buf[payload_start..]` in place: writes the unmasked server
/// header (FIN, `opcode`, no RSV, the payload's length) into the bytes just before
/// `payload_start` and returns where the frame starts. The frame is then
/// `buf[start..]`; the payload is not moved or copied.
///
/// [`FrameHeader::MAX_SERVER_LEN`] (10) bytes of headroom always suffice; a payload
/// under 126 bytes needs 2, under 64 KiB 4 ([`server_header_len`]).
pub fn write_header_in_headroom(
    buf: &mut [u8],
    payload_start: usize,
    fin: bool,
    opcode: OpCode,
) -> Result<usize, HeadroomTooSmall> {
    let payload_len = buf.len().checked_sub(payload_start).ok_or(HeadroomTooSmall)?;
    let header = FrameHeader { fin, rsv: 0, opcode, mask: None, payload_len: payload_len as u64 };
    let mut bytes = [0u8; FrameHeader::MAX_LEN];
    let len = header.encode(&mut bytes);
    let start = payload_start.checked_sub(len).ok_or(HeadroomTooSmall)?;
    buf[start..payload_start].copy_from_slice(&bytes[..len]);
    Ok(start)
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
