//! The message decoder: a sans-IO state machine that turns the peer's bytes into
//! events, enforcing every receive-side rule of RFC 6455 §5 (framing), §7.4 (close
//! codes), §8.1 (UTF-8) and §10.4 (size limits).
//!
//! The caller owns the read buffer and feeds it as `&mut [u8]`: the decoder unmasks
//! payloads in place and hands them back as slices of that buffer, so nothing is
//! copied or allocated per frame. Data payloads are streamed: a frame's payload is
//! delivered in as many chunks as it arrives in, and the buffer can be much smaller
//! than a message. Control frames are delivered whole (they are at most 125 bytes).

use super::close::CloseCode;
use super::error::WsError;
use super::frame::{FrameHeader, OpCode, Status};
use super::mask::apply_mask;
use super::utf8::Utf8Validator;

/// Which end of the connection the decoder reads for: it decides the masking rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads frames from a client: every frame must be masked.
    Server,
    /// Reads frames from a server: no frame may be masked (tests, the harness).
    Client,
}

/// The type of a data message (§5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A text message: its payload is UTF-8 (validated by the decoder).
    Text,
    /// A binary message.
    Binary,
}

/// What the decoder made of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The next piece of a data message's payload, unmasked. The message is the
    /// concatenation of its chunks from the one with `first` to the one with `last`.
    /// A chunk may be empty (an empty message or an empty fragment). A text chunk may
    /// end inside a code point; the message as a whole is valid UTF-8.
    Data {
        /// Text or binary, as given by the message's first frame.
        kind: MessageKind,
        /// The payload bytes of this chunk.
        payload: &'a [u8],
        /// This is the first chunk of the message.
        first: bool,
        /// This chunk ends the message.
        last: bool,
        /// The message is compressed (permessage-deflate: RSV1 on its first frame): the
        /// chunks are DEFLATE data, to be inflated once the message is whole, and text
        /// is checked for UTF-8 only then. Always `false` unless
        /// [`Decoder::with_deflate`].
        compressed: bool,
    },
    /// A Ping with its payload (at most 125 bytes): answer with a Pong carrying the
    /// same payload (§5.5.2).
    Ping(&'a [u8]),
    /// A Pong with its payload.
    Pong(&'a [u8]),
    /// A Close, with its validated status code (if any) and reason. The peer will send
    /// no more frames: the decoder discards anything after this (§5.5.1).
    Close {
        /// The status code; `None` when the Close had no body.
        code: Option<CloseCode>,
        /// The reason, UTF-8; empty when absent.
        reason: &'a str,
    },
}

/// The result of one [`Decoder::decode`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// How many bytes from the front of the input were used; the caller drops them.
    pub consumed: usize,
    /// The event, or `None` when the decoder needs more input than it was given (all
    /// that could be used was: the rest of the input is an incomplete frame header or
    /// control frame, kept for the next call).
    pub event: Option<Event<'a>>,
}

impl Decoded<'_> {
    const fn need_more(consumed: usize) -> Self {
        Decoded { consumed, event: None }
    }
}

/// The data frame whose payload is being delivered.
#[derive(Clone, Copy, Debug)]
struct DataFrame {
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes not yet delivered.
    remaining: u64,
    /// Position in the payload modulo 4, for the mask (§5.3).
    mask_offset: usize,
}

/// The data message in progress, from its first frame to the chunk that ends it.
#[derive(Clone, Copy, Debug)]
struct Message {
    kind: MessageKind,
    /// The payload length of all its frames so far, counted as each frame's header
    /// is read (so the limit holds before any of the payload is accepted).
    len: u64,
    /// No chunk of this message has been delivered yet.
    first_pending: bool,
    /// RSV1 was set on its first frame (permessage-deflate).
    compressed: bool,
}

enum Control {
    Close,
    Ping,
    Pong,
}

/// The receive side of a WebSocket connection.
///
/// # Feeding it
///
/// Read into a buffer, then call [`decode`](Self::decode) on the unconsumed bytes
/// until it returns no event; then keep the unconsumed tail (move it to the front)
/// and read more:
///
/// ```
/// # use ringtty::ws::{Decoder, Role, WsError};
/// # fn handle(_: ringtty::ws::Event<'_>) {}
/// # fn run(decoder: &mut Decoder, buf: &mut [u8], filled: usize) -> Result<usize, WsError> {
/// let mut start = 0;
/// loop {
///     let decoded = decoder.decode(&mut buf[start..filled])?;
///     start += decoded.consumed;
///     let Some(event) = decoded.event else { break };
///     handle(event);
/// }
/// buf.copy_within(start..filled, 0);
/// Ok(filled - start) // bytes kept at the front of buf
/// # }
/// ```
///
/// A control frame is only delivered whole, and is left unconsumed until it is, so
/// the buffer must hold at least [`Decoder::MIN_BUFFER`] bytes. On an error, send a
/// Close with [`WsError::close_code`] and stop reading; the decoder keeps returning
/// the same error.
#[derive(Clone, Debug)]
pub struct Decoder {
    role: Role,
    max_message_len: u64,
    frame: Option<DataFrame>,
    /// `Some` while a message is in progress; always `Some` when `frame` is.
    message: Option<Message>,
    utf8: Utf8Validator,
    closed: bool,
    failed: Option<WsError>,
    /// permessage-deflate was negotiated: RSV1 may mark a message compressed.
    deflate: bool,
}

impl Decoder {
    /// The smallest read buffer that can always make progress: the longest control
    /// frame (a 2-byte header, a 4-byte mask and 125 bytes of payload).
    pub const MIN_BUFFER: usize = 2 + 4 + 125;

    /// A decoder for the given role that fails any message whose payload (all
    /// fragments together) exceeds `max_message_len` bytes with
    /// [`WsError::MessageTooBig`] (1009).
    pub const fn new(role: Role, max_message_len: u64) -> Self {
        Decoder {
            role,
            max_message_len,
            frame: None,
            message: None,
            utf8: Utf8Validator::new(),
            closed: false,
            failed: None,
            deflate: false,
        }
    }

    /// The same decoder for a connection that negotiated permessage-deflate (RFC 7692
    /// §6): RSV1 on the first frame of a data message marks it compressed; RSV1
    /// anywhere else, and RSV2/RSV3, still fail it (1002).
    pub const fn with_deflate(mut self) -> Self {
        self.deflate = true;
        self
    }

    /// The payload bytes of the current data frame not delivered yet, as its header
    /// declared them (0 between frames): how much more of the message is on its way
    /// for sure, to size a buffer once rather than grow it.
    pub const fn frame_remaining(&self) -> u64 {
        match self.frame {
            Some(frame) => frame.remaining,
            None => 0,
        }
    }

    /// Whether a Close frame has been received (everything after it is discarded).
    pub const fn is_closed(&self) -> bool {
        self.closed
    }

    /// Decodes from the front of `input` (unmasking in place) and returns how much it
    /// consumed and at most one event. See the type's docs for the calling loop.
    pub fn decode<'a>(&mut self, input: &'a mut [u8]) -> Result<Decoded<'a>, WsError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.decode_inner(input);
        if let Err(error) = result {
            self.failed = Some(error);
        }
        result
    }

    fn decode_inner<'a>(&mut self, input: &'a mut [u8]) -> Result<Decoded<'a>, WsError> {
        if self.closed {
            // §5.5.1: after a Close the peer sends no more data frames; whatever
            // follows is not ours to interpret.
            return Ok(Decoded::need_more(input.len()));
        }
        if let Some(frame) = self.frame {
            return self.deliver_payload(frame, input, 0);
        }
        let (header, header_len) = match FrameHeader::decode(input)? {
            Status::Partial => return Ok(Decoded::need_more(0)),
            Status::Complete(decoded) => decoded,
        };
        self.check_header(&header)?;
        let control = match header.opcode {
            OpCode::Continuation | OpCode::Text | OpCode::Binary => {
                let frame = self.start_data_frame(&header)?;
                return self.deliver_payload(frame, input, header_len);
            }
            OpCode::Close => Control::Close,
            OpCode::Ping => Control::Ping,
            OpCode::Pong => Control::Pong,
        };
        // At most 125 (checked above): the whole frame is in a MIN_BUFFER.
        let end = header_len + header.payload_len as usize;
        let Some(payload) = input.get_mut(header_len..end) else {
            return Ok(Decoded::need_more(0));
        };
        if let Some(mask) = header.mask {
            apply_mask(payload, mask, 0);
        }
        let payload: &'a [u8] = payload;
        let event = match control {
            Control::Ping => Event::Ping(payload),
            Control::Pong => Event::Pong(payload),
            Control::Close => {
                let event = close_event(payload)?;
                self.closed = true;
                event
            }
        };
        Ok(Decoded { consumed: end, event: Some(event) })
    }

    /// The rules a header must meet whatever the message state.
    fn check_header(&self, header: &FrameHeader) -> Result<(), WsError> {
        // §5.2: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an extension is
        // negotiated that defines meanings for non-zero values." permessage-deflate
        // defines RSV1 for the first frame of a data message only (RFC 7692 §6: "An
        // endpoint MUST NOT set the "Per-Message Compressed" bit of control frames and
        // non-first fragments of a data message").
        let first_data = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        if header.rsv != 0 && !(header.rsv == 0b100 && self.deflate && first_data) {
            return Err(WsError::ReservedBits);
        }
        // §5.1: "The server MUST close the connection upon receiving a frame that is
        // not masked. [...] A client MUST close a connection if it detects a masked
        // frame."
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(WsError::UnmaskedFrame),
            (Role::Client, true) => return Err(WsError::MaskedFrame),
            _ => {}
        }
        if header.opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125 bytes or
            // less and MUST NOT be fragmented."
            if !header.fin {
                return Err(WsError::FragmentedControlFrame);
            }
            if header.payload_len > 125 {
                return Err(WsError::ControlFrameTooLong);
            }
        }
        Ok(())
    }

    /// Checks a data frame against the message in progress and the size limit, and
    /// makes it the frame being delivered.
    fn start_data_frame(&mut self, header: &FrameHeader) -> Result<DataFrame, WsError> {
        // §5.4: "A fragmented message consists of a single frame with the FIN bit
        // clear and an opcode other than 0, followed by zero or more frames with the
        // FIN bit clear and the opcode set to 0, and terminated by a single frame with
        // the FIN bit set and an opcode of 0." and "The fragments of one message MUST
        // NOT be interleaved between the fragments of another message unless an
        // extension has been negotiated".
        let kind = match (header.opcode, self.message) {
            (OpCode::Continuation, None) => return Err(WsError::UnexpectedContinuation),
            (OpCode::Continuation, Some(_)) => None,
            (_, Some(_)) => return Err(WsError::ExpectedContinuation),
            (OpCode::Text, None) => Some(MessageKind::Text),
            (_, None) => Some(MessageKind::Binary),
        };
        let mut message = match kind {
            Some(kind) => {
                self.utf8.reset();
                let compressed = header.rsv & 0b100 != 0;
                Message { kind, len: 0, first_pending: true, compressed }
            }
            None => self.message.ok_or(WsError::UnexpectedContinuation)?,
        };
        // §10.4: "Implementations that have implementation- and/or platform-specific
        // limitations regarding the frame size or total message size after reassembly
        // from multiple frames MUST protect themselves against exceeding those
        // limits." Checked on the header, before any of the payload is accepted.
        message.len = message.len.saturating_add(header.payload_len);
        if message.len > self.max_message_len {
            return Err(WsError::MessageTooBig);
        }
        self.message = Some(message);
        let frame =
            DataFrame { fin: header.fin, mask: header.mask, remaining: header.payload_len, mask_offset: 0 };
        self.frame = Some(frame);
        Ok(frame)
    }

    /// Delivers the payload bytes of `frame` found in `input[start..]`.
    fn deliver_payload<'a>(
        &mut self,
        mut frame: DataFrame,
        input: &'a mut [u8],
        start: usize,
    ) -> Result<Decoded<'a>, WsError> {
        let available = input.len().saturating_sub(start);
        let take = usize::try_from(frame.remaining).map_or(available, |r| r.min(available));
        if take == 0 && frame.remaining > 0 {
            return Ok(Decoded::need_more(start));
        }
        let Some(chunk) = input.get_mut(start..start + take) else {
            return Ok(Decoded::need_more(start));
        };
        if let Some(mask) = frame.mask {
            frame.mask_offset = apply_mask(chunk, mask, frame.mask_offset);
        }
        let chunk: &'a [u8] = chunk;
        frame.remaining -= take as u64;
        let last = frame.remaining == 0 && frame.fin;
        let Some(mut message) = self.message else {
            return Err(WsError::UnexpectedContinuation);
        };
        if message.kind == MessageKind::Text && !message.compressed {
            // §8.1 (a compressed text message is checked once inflated): fail as soon as the bytes cannot be UTF-8, not at message end.
            self.utf8.feed(chunk).map_err(|_| WsError::InvalidUtf8)?;
            if last {
                self.utf8.finish().map_err(|_| WsError::InvalidUtf8)?;
            }
        }
        let first = message.first_pending;
        message.first_pending = false;
        self.frame = (frame.remaining > 0).then_some(frame);
        self.message = (!last).then_some(message);
        Ok(Decoded {
            consumed: start + take,
            event: Some(Event::Data {
                kind: message.kind,
                payload: chunk,
                first,
                last,
                compressed: message.compressed,
            }),
        })
    }
}

/// The event for a Close frame's (unmasked) payload.
///
/// §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte
/// unsigned integer (in network byte order) representing a status code with value
/// /code/ defined in Section 7.4. Following the 2-byte integer, the body MAY contain
/// UTF-8-encoded data with value /reason/".
fn close_event(payload: &[u8]) -> Result<Event<'_>, WsError> {
    match payload {
        [] => Ok(Event::Close { code: None, reason: "" }),
        [_] => Err(WsError::InvalidCloseFrame),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let code = CloseCode::from_wire(code).ok_or(WsError::InvalidCloseCode)?;
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Event::Close { code: Some(code), reason })
        }
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;
