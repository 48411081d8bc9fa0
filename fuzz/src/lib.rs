//! Helpers shared by the WebSocket fuzz targets: a structured frame generator (so the
//! fuzzer reaches message-level logic instead of failing on the first header), a
//! driver that feeds the decoder like the runtime does, and event normalisation.

use ringtty::ws::{CloseCode, Decoder, Event, MessageKind, Role, WsError};

/// Reads fuzzer bytes front to back; yields zeros once exhausted.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Builds a stream of frames from a compact description, mostly valid: per frame a
/// control byte (FIN, opcode, rare RSV and mask flips), a length byte (with the
/// boundary lengths reachable in one byte) and the plain payload, which is masked
/// here as a client would (or not, for `Role::Client` readers).
pub fn frames_from_spec(spec: &mut Bytes<'_>, reader: Role) -> Vec<u8> {
    const OPCODES: [u8; 8] = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA, 0x1, 0xB];
    let mut out = Vec::new();
    while !spec.is_empty() {
        let control = spec.byte();
        let len = match spec.byte() {
            n @ 0..=250 => usize::from(n),
            251 => 125,
            252 => 126,
            253 => 65535,
            254 => 65536,
            _ => usize::from(u16::from_be_bytes([spec.byte(), spec.byte()])) << 4,
        };
        let fin = control & 0x80 != 0;
        let opcode = OPCODES[usize::from(control & 0x07)];
        let rsv = if control & 0x18 == 0x18 { 0b100 } else { 0 };
        let flip_mask = control & 0x60 == 0x60;
        let masked = (reader == Role::Server) != flip_mask;
        let mask = [control, len as u8, 0x5a, 0xa5];
        let payload = spec.take(len);
        let first = u8::from(fin) << 7 | rsv << 4 | opcode;
        let mask_bit = if masked { 0x80 } else { 0 };
        // Headers are encoded by hand (not with `FrameHeader::encode`) so that a bug
        // there cannot hide one in the decoder; lengths beyond the payload present are
        // kept: the stream then ends inside the frame.
        out.push(first);
        match len {
            0..=125 => out.push(mask_bit | len as u8),
            126..=65535 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend_from_slice(&mask);
        }
        let start = out.len();
        out.extend_from_slice(payload);
        if masked {
            for (i, b) in out[start..].iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
    }
    out
}

/// An event with owned data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Data { kind: MessageKind, payload: Vec<u8>, first: bool, last: bool },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

impl From<Event<'_>> for Owned {
    fn from(event: Event<'_>) -> Self {
        match event {
            Event::Data { kind, payload, first, last, .. } => {
                Owned::Data { kind, payload: payload.to_vec(), first, last }
            }
            Event::Ping(p) => {
                assert!(p.len() <= 125);
                Owned::Ping(p.to_vec())
            }
            Event::Pong(p) => {
                assert!(p.len() <= 125);
                Owned::Pong(p.to_vec())
            }
            Event::Close { code, reason } => {
                assert!(reason.len() <= 123);
                assert!(code.is_some() || reason.is_empty());
                if let Some(code) = code {
                    assert_eq!(CloseCode::from_wire(code.as_u16()), Some(code));
                }
                Owned::Close(code.map(CloseCode::as_u16), reason.to_owned())
            }
        }
    }
}

/// Events with data chunks merged into whole messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Norm {
    Message(MessageKind, Vec<u8>),
    /// The delivered part of the message the input ended in (only without an error:
    /// then how much of it was delivered depends on the chunking).
    Unfinished(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// Merges data chunks into messages, asserting the `first`/`last` flags and the
/// UTF-8 of whole text messages.
pub fn normalize(events: &[Owned], failed: bool) -> Vec<Norm> {
    let mut out = Vec::new();
    let mut message: Option<(MessageKind, Vec<u8>)> = None;
    for event in events {
        match event.clone() {
            Owned::Data { kind, payload, first, last } => {
                if first {
                    assert!(message.is_none(), "first chunk inside a message");
                    message = Some((kind, Vec::new()));
                }
                let Some((k, data)) = message.as_mut() else {
                    panic!("chunk outside a message");
                };
                assert_eq!(*k, kind);
                data.extend_from_slice(&payload);
                if last {
                    let Some((k, data)) = message.take() else { unreachable!() };
                    if k == MessageKind::Text {
                        assert!(std::str::from_utf8(&data).is_ok(), "invalid text delivered");
                    }
                    out.push(Norm::Message(k, data));
                }
            }
            Owned::Ping(p) => out.push(Norm::Ping(p)),
            Owned::Pong(p) => out.push(Norm::Pong(p)),
            Owned::Close(c, r) => out.push(Norm::Close(c, r)),
        }
    }
    if let (Some((k, data)), false) = (message, failed) {
        out.push(Norm::Unfinished(k, data));
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<Owned>,
    pub error: Option<WsError>,
    /// Bytes left unconsumed at the end (without an error).
    pub left: usize,
}

/// Feeds `input` like the runtime does: reads of `reads` sizes (cycled, each >= 1)
/// into a buffer of `cap` (>= `Decoder::MIN_BUFFER`) bytes, decoding until no event,
/// then moving the unconsumed tail to the front.
pub fn drive(decoder: &mut Decoder, input: &[u8], reads: &[usize], cap: usize) -> Outcome {
    assert!(cap >= Decoder::MIN_BUFFER && reads.iter().all(|&r| r > 0));
    let mut buf = vec![0u8; cap];
    let mut filled = 0;
    let mut pos = 0;
    let mut events = Vec::new();
    let mut sizes = reads.iter().cycle();
    loop {
        let want = sizes.next().copied().unwrap_or(1);
        let n = want.min(cap - filled).min(input.len() - pos);
        buf[filled..filled + n].copy_from_slice(&input[pos..pos + n]);
        filled += n;
        pos += n;
        let mut start = 0;
        loop {
            match decoder.decode(&mut buf[start..filled]) {
                Err(error) => {
                    // Errors are sticky.
                    assert_eq!(decoder.decode(&mut []), Err(error));
                    return Outcome { events, error: Some(error), left: 0 };
                }
                Ok(decoded) => {
                    assert!(decoded.consumed <= filled - start, "consumed > len");
                    start += decoded.consumed;
                    let Some(event) = decoded.event else { break };
                    events.push(event.into());
                }
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if pos == input.len() {
            return Outcome { events, error: None, left: filled };
        }
        // A buffer of MIN_BUFFER bytes always has room for progress.
        assert!(n > 0 || start > 0, "stuck with a full buffer");
    }
}
