//! permessage-deflate (RFC 7692), sans-IO: the negotiation ([`negotiate`]), the
//! per-core compressor and decompressor ([`Codec`]) and a connection's assembly of a
//! compressed message ([`Inflating`]).
//!
//! Both directions start every message afresh: we always answer
//! `server_no_context_takeover` and `client_no_context_takeover`, so no connection
//! keeps an LZ77 window between messages. That is what lets one [`Codec`] per worker
//! core (reset before each message) serve every connection of the core: an idle
//! connection holds no compression state at all, and the core's is a constant
//! ([`Codec::MAX_MEMORY`]).
//!
//! The wire rules the decoder keeps (RSV1 only on the first frame of a data message,
//! and only once negotiated) are in `decoder.rs`; the runtime asks for a message's
//! inflation when its last chunk arrives, and compresses what it sends.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::error::WsError;
use super::frame::{FrameHeader, OpCode};
use super::utf8::Utf8Validator;

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const EXTENSION: &str = "permessage-deflate";
/// What every message's compressed data ends with before the sender strips it, and what
/// the receiver appends back (§7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Messages shorter than this are sent as they are: a keystroke's echo does not shrink,
/// and compressing it costs more than it saves.
pub const MIN_COMPRESS: usize = 128;
/// The compression level: zlib's fastest. Terminal output (listings, logs) is highly
/// repetitive; level 1 keeps most of the gain for a fraction of level 6's CPU
/// (docs/PERFORMANCE.md).
const LEVEL: u32 = 1;
/// The window our compressor uses when the client limits it (`server_max_window_bits`
/// below 15): zlib's smallest raw-deflate window, 512 bytes, which satisfies any limit
/// from 9 up. A limit of 8 cannot be met (zlib has no 256-byte raw window): such an
/// offer is declined.
const SMALL_WINDOW: u8 = 9;

/// An accepted permessage-deflate offer: what the `101` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Deflate {
    /// The `server_max_window_bits` the offer asked for (answered with the same value),
    /// `None` when it did not (we may then use the full 32 KiB window).
    server_max_window_bits: Option<u8>,
}

impl Deflate {
    /// The window (its base-2 logarithm) our compressor uses on this connection.
    pub const fn window_bits(self) -> u8 {
        match self.server_max_window_bits {
            Some(bits) if bits < 15 => SMALL_WINDOW,
            _ => 15,
        }
    }

    /// The `Sec-WebSocket-Extensions` value of the response: both directions reset
    /// their context after every message (RFC 7692 §7.1.1.1 lets a server answer
    /// `server_no_context_takeover` whatever was offered, §7.1.1.2
    /// `client_no_context_takeover`), and the server's window limit when one was asked.
    pub fn write_response_value(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        if let Some(bits) = self.server_max_window_bits {
            out.extend_from_slice(b"; server_max_window_bits=");
            if bits >= 10 {
                out.push(b'1');
            }
            out.push(b'0' + bits % 10);
        }
    }
}

/// The first acceptable permessage-deflate offer in one `Sec-WebSocket-Extensions`
/// value (a list of offers, RFC 6455 §9.1), or `None`.
///
/// RFC 7692 §5: a server declines an offer with a parameter it does not know, an invalid
/// value, or a repeated parameter, and takes the next; so does an offer it cannot honour
/// (`server_max_window_bits=8`, below). An element that does not parse as RFC 6455's
/// `extension` grammar is declined the same way: extensions are optional, and a bad one
/// is no reason to refuse the connection. Other extensions are ignored.
pub fn negotiate(value: &[u8]) -> Option<Deflate> {
    split_outside_quotes(value, b',').find_map(offer)
}

/// One element of the list, if it is an acceptable permessage-deflate offer.
fn offer(element: &[u8]) -> Option<Deflate> {
    let mut parts = split_outside_quotes(element, b';');
    let name = trim(parts.next()?);
    if !name.eq_ignore_ascii_case(EXTENSION.as_bytes()) {
        return None;
    }
    let (mut server_nct, mut client_nct) = (false, false);
    let mut server_bits: Option<u8> = None;
    let mut client_bits: Option<Option<u8>> = None;
    for param in parts {
        let (key, value) = match param.iter().position(|&b| b == b'=') {
            Some(i) => (trim(&param[..i]), Some(param_value(trim(&param[i + 1..]))?)),
            None => (trim(param), None),
        };
        if !is_token(key) {
            return None;
        }
        // A repeated parameter, or one with a value it may not have, declines.
        let fresh = match (&key.to_ascii_lowercase()[..], value) {
            (b"server_no_context_takeover", None) => !std::mem::replace(&mut server_nct, true),
            (b"client_no_context_takeover", None) => !std::mem::replace(&mut client_nct, true),
            (b"server_max_window_bits", Some(v)) => server_bits.replace(window_bits(v)?).is_none(),
            (b"client_max_window_bits", None) => client_bits.replace(None).is_none(),
            (b"client_max_window_bits", Some(v)) => client_bits.replace(Some(window_bits(v)?)).is_none(),
            _ => false,
        };
        if !fresh {
            return None;
        }
    }
    // Our compressor has no 256-byte window: an offer that needs one is declined.
    if server_bits == Some(8) {
        return None;
    }
    // `client_max_window_bits` (with or without a value) needs nothing of us: our
    // decompressor's 32 KiB window reads any client window. It is not answered.
    Some(Deflate { server_max_window_bits: server_bits })
}

/// A window-bits value: a decimal integer from 8 to 15 without leading zeroes
/// (§7.1.2.1, §7.1.2.2).
fn window_bits(value: &[u8]) -> Option<u8> {
    match value {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// A parameter's value, a token or a quoted-string (RFC 6455 §9.1; RFC 7692 §7.1 says
/// a quoted value must also be a valid token once unquoted). `None` if it is neither.
fn param_value(raw: &[u8]) -> Option<&[u8]> {
    let value = match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => raw,
    };
    is_token(value).then_some(value)
}

/// RFC 9110 §5.6.2 `token`: one or more tchars.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Splits on `sep` where it is not inside a quoted-string (a backslash escapes the next
/// character inside quotes).
fn split_outside_quotes(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &c) in s.iter().enumerate() {
            match c {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                c if c == sep && !quoted => {
                    rest = s.get(i + 1..);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

fn trim(value: &[u8]) -> &[u8] {
    value.trim_ascii()
}

/// One worker core's compressor and decompressor, shared by all its connections and
/// reset before every message. Each is made on first use.
#[derive(Default)]
pub struct Codec {
    inflater: Option<Decompress>,
    /// The compressor with the full window, and the one with [`SMALL_WINDOW`].
    deflater: Option<Compress>,
    small_deflater: Option<Compress>,
}

impl Codec {
    /// The most a core's codec holds once all three parts exist, from zlib's own memory
    /// formulas (deflate: `(1 << (windowBits + 2)) + (1 << (memLevel + 9))`, memLevel 8;
    /// inflate: `1 << windowBits` plus its ~7 KiB state): 256 KiB + 130 KiB + 39 KiB,
    /// rounded up.
    pub const MAX_MEMORY: usize = 448 * 1024;

    /// A codec with nothing allocated yet.
    pub const fn new() -> Codec {
        Codec { inflater: None, deflater: None, small_deflater: None }
    }

    /// Inflates one whole message's compressed payload (the tail appended here) into
    /// `out` (cleared first). More than `max` bytes of output fail with
    /// [`WsError::MessageTooBig`] (1009) before more is produced: a small message that
    /// inflates to gigabytes costs `max` bytes, not the gigabytes. Data that is not
    /// DEFLATE fails with [`WsError::InvalidDeflate`].
    pub fn inflate(&mut self, compressed: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(), WsError> {
        let inflater = self.inflater.get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        inflater.reset(false);
        out.clear();
        let result = inflate_into(inflater, compressed, out, max);
        // Whatever happened, the next message starts from a clean state.
        inflater.reset(false);
        result
    }

    /// Appends `payload` (the concatenation of `parts`) as one compressed frame (FIN,
    /// RSV1, `opcode`) to `out`, with the window of `deflate`. `false`, with `out` as it
    /// was, when compression would not make the frame smaller: send it as it is.
    pub fn compress_frame(
        &mut self,
        deflate: Deflate,
        opcode: OpCode,
        parts: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> bool {
        let bits = deflate.window_bits();
        let slot = if bits == 15 { &mut self.deflater } else { &mut self.small_deflater };
        let deflater =
            slot.get_or_insert_with(|| Compress::new_with_window_bits(Compression::new(LEVEL), false, bits));
        let base = out.len();
        let len: usize = parts.iter().map(|p| p.len()).sum();
        out.resize(base + FrameHeader::MAX_SERVER_LEN, 0);
        let body = base + FrameHeader::MAX_SERVER_LEN;
        let ok = deflate_into(deflater, parts, out);
        if ok {
            deflater.reset();
        } else {
            // A stream zlib gave up on is not reused.
            *slot = None;
        }
        // §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
        let compressed = out.len().saturating_sub(body);
        if !ok || !out.ends_with(&TAIL) || compressed - TAIL.len() >= len {
            out.truncate(base);
            return false;
        }
        out.truncate(out.len() - TAIL.len());
        let header =
            FrameHeader { fin: true, rsv: 0b100, opcode, mask: None, payload_len: (out.len() - body) as u64 };
        let mut bytes = [0u8; FrameHeader::MAX_LEN];
        let n = header.encode(&mut bytes);
        out.copy_within(body.., base + n);
        out.truncate(out.len() - (FrameHeader::MAX_SERVER_LEN - n));
        out[base..base + n].copy_from_slice(&bytes[..n]);
        true
    }
}

/// Runs `parts` then a sync flush through `deflater` into `out`, always to the end of
/// the flush: zlib-rs's reset after a stream stopped midway left state behind that
/// corrupted the next message (found by Autobahn 12.2), so incompressible data is
/// compressed whole and only then found not worth sending. `false` if zlib failed.
fn deflate_into(deflater: &mut Compress, parts: &[&[u8]], out: &mut Vec<u8>) -> bool {
    let flushes = parts.iter().map(|p| (*p, FlushCompress::None));
    for (part, flush) in flushes.chain(std::iter::once((&[][..], FlushCompress::Sync))) {
        let mut at = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve((part.len() - at) / 2 + 256);
            }
            let before = deflater.total_in();
            if deflater.compress_vec(&part[at..], out, flush).is_err() {
                return false;
            }
            at += (deflater.total_in() - before) as usize;
            // Done once the part is all in and zlib stopped with room to spare (it
            // had nothing more to write; for the flush, the flush is complete).
            if at == part.len() && out.len() < out.capacity() {
                break;
            }
        }
    }
    true
}

fn inflate_into(
    inflater: &mut Decompress,
    compressed: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(), WsError> {
    for part in [compressed, &TAIL[..]] {
        let mut at = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() > max {
                    return Err(WsError::MessageTooBig);
                }
                // Grow by doubling, never past one byte over the limit (to see it).
                let want = (out.capacity() * 2).max(4096).min(max.saturating_add(1));
                out.reserve_exact(want.saturating_sub(out.len()).max(1));
            }
            let (in_before, out_before) = (inflater.total_in(), out.len());
            let status = inflater
                .decompress_vec(&part[at..], out, FlushDecompress::Sync)
                .map_err(|_| WsError::InvalidDeflate)?;
            at += (inflater.total_in() - in_before) as usize;
            if out.len() > max {
                return Err(WsError::MessageTooBig);
            }
            if status == Status::StreamEnd {
                // A final block (BFINAL) ended the message; nothing follows it.
                return Ok(());
            }
            // Done with this part once it is all in, or inflate can use no more of it,
            // with output room to spare (a full output may just need more room).
            let progress = inflater.total_in() != in_before || out.len() != out_before;
            if out.len() < out.capacity() && (at == part.len() || !progress) {
                break;
            }
        }
    }
    Ok(())
}

/// A connection's compressed message being received: its chunks are collected until the
/// last, then inflated whole by the core's [`Codec`]. Holds nothing between messages
/// once [`release`](Self::release)d.
#[derive(Default, Debug)]
pub struct Inflating {
    compressed: Vec<u8>,
    out: Vec<u8>,
}

impl Inflating {
    /// Adds a chunk of a compressed message (`Event::Data` with `compressed`). On the
    /// last chunk, the whole message inflated (checked UTF-8 for text: §8.1 applies to
    /// the inflated data); `None` until then.
    pub fn push(
        &mut self,
        codec: &mut Codec,
        text: bool,
        chunk: &[u8],
        (first, last): (bool, bool),
        max: usize,
    ) -> Result<Option<&[u8]>, WsError> {
        if first {
            self.compressed.clear();
        }
        if !last {
            self.compressed.extend_from_slice(chunk);
            return Ok(None);
        }
        let whole = if first {
            chunk
        } else {
            self.compressed.extend_from_slice(chunk);
            &self.compressed[..]
        };
        codec.inflate(whole, &mut self.out, max)?;
        if text {
            let mut utf8 = Utf8Validator::new();
            utf8.feed(&self.out).map_err(|_| WsError::InvalidUtf8)?;
            utf8.finish().map_err(|_| WsError::InvalidUtf8)?;
        }
        Ok(Some(&self.out))
    }

    /// Gives up the buffers after a message: an idle connection holds none.
    pub fn release(&mut self) {
        *self = Inflating::default();
    }
}

#[cfg(test)]
#[path = "deflate_tests.rs"]
mod tests;
