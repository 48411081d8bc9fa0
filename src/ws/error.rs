//! The one error type of the WebSocket codec: every way a peer's bytes can fail the
//! connection (RFC 6455 §7.1.7), each with the close code to answer it with.

use std::fmt;

use super::close::CloseCode;

/// Why the peer's input fails the WebSocket connection.
///
/// The wire reaction is [`WsError::close_code`]: send a Close frame with that code,
/// then stop reading (RFC 6455 §7.1.7 "_Fail the WebSocket Connection_").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WsError {
    /// RSV1-3 set, but no extension was negotiated (§5.2); or, with permessage-deflate,
    /// RSV2/RSV3, or RSV1 on a control or continuation frame (RFC 7692 §6).
    ReservedBits,
    /// Opcode 0x3-0x7 or 0xB-0xF (§5.2).
    ReservedOpcode,
    /// A payload length not encoded in the minimal number of bytes (§5.2).
    NonMinimalLength,
    /// A 64-bit payload length with its most significant bit set (§5.2).
    LengthTooLarge,
    /// A client frame without a mask, read by a server (§5.1).
    UnmaskedFrame,
    /// A server frame with a mask, read by a client (§5.1).
    MaskedFrame,
    /// A control frame with a payload over 125 bytes (§5.5).
    ControlFrameTooLong,
    /// A control frame without FIN (§5.5).
    FragmentedControlFrame,
    /// A continuation frame with no fragmented message in progress (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (§5.4).
    ExpectedContinuation,
    /// A text message, or a close reason, that is not UTF-8 (§5.6, §8.1).
    InvalidUtf8,
    /// A Close frame with a 1-byte payload (§5.5.1: a body starts with a 2-byte code).
    InvalidCloseFrame,
    /// A Close frame with a status code that may not be sent (§7.4).
    InvalidCloseCode,
    /// A message whose total length (all fragments) exceeds the configured maximum
    /// (§10.4); with permessage-deflate, also its inflated length.
    MessageTooBig,
    /// A compressed message (permessage-deflate) whose data is not DEFLATE: 1007, a
    /// payload that is not what its frame says (RFC 7692 §4 only says to fail the
    /// connection).
    InvalidDeflate,
}

impl WsError {
    /// The status code of the Close frame that answers this error.
    pub const fn close_code(self) -> CloseCode {
        match self {
            WsError::InvalidUtf8 | WsError::InvalidDeflate => CloseCode::INVALID_PAYLOAD,
            WsError::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            WsError::ReservedBits
            | WsError::ReservedOpcode
            | WsError::NonMinimalLength
            | WsError::LengthTooLarge
            | WsError::UnmaskedFrame
            | WsError::MaskedFrame
            | WsError::ControlFrameTooLong
            | WsError::FragmentedControlFrame
            | WsError::UnexpectedContinuation
            | WsError::ExpectedContinuation
            | WsError::InvalidCloseFrame
            | WsError::InvalidCloseCode => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short fixed description, fit for a log line or a Close frame's reason.
    pub const fn reason(self) -> &'static str {
        match self {
            WsError::ReservedBits => "reserved bits set",
            WsError::ReservedOpcode => "reserved opcode",
            WsError::NonMinimalLength => "non-minimal payload length",
            WsError::LengthTooLarge => "payload length too large",
            WsError::UnmaskedFrame => "unmasked client frame",
            WsError::MaskedFrame => "masked server frame",
            WsError::ControlFrameTooLong => "control frame too long",
            WsError::FragmentedControlFrame => "fragmented control frame",
            WsError::UnexpectedContinuation => "unexpected continuation frame",
            WsError::ExpectedContinuation => "expected continuation frame",
            WsError::InvalidUtf8 => "invalid UTF-8",
            WsError::InvalidCloseFrame => "invalid close frame",
            WsError::InvalidCloseCode => "invalid close code",
            WsError::MessageTooBig => "message too big",
            WsError::InvalidDeflate => "invalid compressed data",
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for WsError {}
