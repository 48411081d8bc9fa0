//! Incremental UTF-8 validation for text messages that arrive in pieces: a code point
//! may be split across reads and across the frames of a fragmented message.
//!
//! It fails as soon as a byte makes the input invalid, not at the end of the message
//! (RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds
//! that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST
//! _Fail the WebSocket Connection_"). The bulk is checked by `std::str::from_utf8`;
//! only a code point split between two chunks goes through the 4-byte carry.

/// The input is not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

/// An incremental UTF-8 validator: [`feed`](Self::feed) chunks, then
/// [`finish`](Self::finish) at the end of the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// The start of a code point cut by the end of the previous chunk.
    carry: [u8; 4],
    /// Bytes used in `carry`: 0 between code points, else 1..=3, and then
    /// `carry[..carry_len]` is a prefix of a valid code point.
    carry_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Utf8Validator { carry: [0; 4], carry_len: 0 }
    }

    /// Validates the next chunk of the message.
    ///
    /// Fails iff the bytes fed so far are not a prefix of any UTF-8 string, so the
    /// chunk holding the first offending byte is the one that fails. After a failure
    /// the state is unspecified until [`reset`](Self::reset).
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidUtf8> {
        if self.carry_len > 0 {
            chunk = self.complete_carry(chunk)?;
            if self.carry_len > 0 {
                // The whole chunk went into a code point that is still incomplete.
                return Ok(());
            }
        }
        match std::str::from_utf8(chunk) {
            Ok(_) => Ok(()),
            // `error_len() == None`: the chunk ends inside a code point whose bytes
            // so far are valid (std checks the second byte's range per lead byte, the
            // rest need only be continuation bytes). Keep them for the next chunk.
            Err(e) if e.error_len().is_none() => {
                let tail = chunk.get(e.valid_up_to()..).unwrap_or_default();
                // std promises 1 to 3 bytes here; anything else is not UTF-8 we know.
                let slot = self.carry.get_mut(..tail.len()).ok_or(InvalidUtf8)?;
                slot.copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Checks that the message does not end inside a code point, and resets the
    /// validator for the next message.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.carry_len == 0;
        self.reset();
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Forgets any partial code point: back to the start of a message.
    pub fn reset(&mut self) {
        *self = Utf8Validator::new();
    }

    /// Completes the carried code point from the front of `chunk` (as far as `chunk`
    /// goes) and returns the rest of `chunk`.
    fn complete_carry<'c>(&mut self, chunk: &'c [u8]) -> Result<&'c [u8], InvalidUtf8> {
        let have = usize::from(self.carry_len);
        let width: usize = match self.carry[0] {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        let take = width.saturating_sub(have).min(chunk.len());
        let (front, rest) = chunk.split_at(take);
        let mut bytes = self.carry;
        bytes[have..have + take].copy_from_slice(front);
        let len = have + take;
        match std::str::from_utf8(&bytes[..len]) {
            Ok(_) => {
                self.carry_len = 0;
                Ok(rest)
            }
            Err(e) if e.error_len().is_none() => {
                self.carry = bytes;
                self.carry_len = len as u8;
                Ok(rest)
            }
            Err(_) => Err(InvalidUtf8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index of the first byte after which `input` can no longer be completed to
    /// UTF-8 (the earliest a validator can fail), or `None` if it is a valid prefix.
    fn first_bad_byte(input: &[u8]) -> Option<usize> {
        (1..=input.len()).find_map(|end| match std::str::from_utf8(&input[..end]) {
            Err(e) if e.error_len().is_some() => Some(end - 1),
            _ => None,
        })
    }

    /// Feeds `chunks` in order; returns the index of the chunk that failed, or
    /// `Ok(finish result)`.
    fn feed_all(chunks: &[&[u8]]) -> Result<bool, usize> {
        let mut v = Utf8Validator::new();
        for (i, c) in chunks.iter().enumerate() {
            if v.feed(c).is_err() {
                return Err(i);
            }
        }
        Ok(v.finish().is_ok())
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut s: Vec<Vec<u8>> = [
            "",
            "hello",
            "κόσμε",
            "€ and 𝄞 and 中文",
            "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let invalid: &[&[u8]] = &[
            b"\x80",
            b"\xbf",
            b"\xc0\x80",
            b"\xc1\xbf",
            b"\xc2",
            b"\xc2\x41",
            b"\xe0\x80\x80",
            b"\xe0\x9f\xbf",
            b"\xed\xa0\x80",
            b"\xed\xbf\xbf",
            b"\xef\xbf",
            b"\xf0\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80",
            b"\xf5\x80\x80\x80",
            b"\xff",
            b"\xfe",
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"abc\xf0\x9d\x84",
            b"abc\xf0\x9d\x84\x9e\xf0\x9d",
            b"\xf0\x9d\x84\x9ezz\xe2\x82",
            b"ok \xe2\x82\xac then \xc3\x28 bad",
        ];
        s.extend(invalid.iter().map(|b| b.to_vec()));
        s
    }

    #[test]
    fn one_shot_agrees_with_std() {
        for input in samples() {
            let std_ok = std::str::from_utf8(&input).is_ok();
            assert_eq!(feed_all(&[&input]) == Ok(true), std_ok, "{input:x?}");
        }
    }

    #[test]
    fn byte_by_byte_fails_at_the_first_bad_byte() {
        for input in samples() {
            let chunks: Vec<&[u8]> = input.chunks(1).collect();
            match first_bad_byte(&input) {
                Some(bad) => assert_eq!(feed_all(&chunks), Err(bad), "{input:x?}"),
                None => assert_eq!(feed_all(&chunks), Ok(std::str::from_utf8(&input).is_ok()), "{input:x?}"),
            }
        }
    }

    #[test]
    fn every_two_and_three_way_split_agrees() {
        for input in samples() {
            let bad = first_bad_byte(&input);
            let valid = std::str::from_utf8(&input).is_ok();
            for a in 0..=input.len() {
                for b in a..=input.len() {
                    let chunks = [&input[..a], &input[a..b], &input[b..]];
                    let got = feed_all(&chunks);
                    match bad {
                        // The failing chunk is the one that holds the bad byte (the
                        // first such chunk when empty chunks sit before it).
                        Some(bad) => {
                            let want = if bad < a {
                                0
                            } else if bad < b {
                                1
                            } else {
                                2
                            };
                            assert_eq!(got, Err(want), "{input:x?} split {a} {b}");
                        }
                        None => assert_eq!(got, Ok(valid), "{input:x?} split {a} {b}"),
                    }
                }
            }
        }
    }

    #[test]
    fn every_code_point_class_split_everywhere() {
        // Every 1-4 byte code point, surrounded by ASCII, split at every byte.
        for c in ['a', '\u{7f}', '\u{80}', 'é', '\u{7ff}', '\u{800}', '€', '\u{ffff}', '𝄞'] {
            let s = format!("x{c}y");
            let bytes = s.as_bytes();
            for a in 0..=bytes.len() {
                assert_eq!(feed_all(&[&bytes[..a], &bytes[a..]]), Ok(true), "{c:?} at {a}");
            }
        }
    }

    #[test]
    fn finish_rejects_a_truncated_code_point_and_resets() {
        let mut v = Utf8Validator::new();
        v.feed(b"ok \xe2\x82").unwrap();
        assert_eq!(v.finish(), Err(InvalidUtf8));
        // The next message starts clean.
        v.feed(b"fine").unwrap();
        assert_eq!(v.finish(), Ok(()));
    }

    #[test]
    fn pseudo_random_bytes_match_std_on_many_splits() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 24) as usize;
            // Mostly plausible UTF-8 bytes, so that both outcomes occur.
            let input: Vec<u8> = (0..len)
                .map(|_| match next() % 6 {
                    0 => b'a',
                    1 => 0x80 | (next() % 0x40) as u8,
                    2 => 0xC2 + (next() % 0x1E) as u8,
                    3 => 0xE0 + (next() % 0x10) as u8,
                    4 => 0xF0 + (next() % 0x05) as u8,
                    _ => next() as u8,
                })
                .collect();
            let bad = first_bad_byte(&input);
            let valid = std::str::from_utf8(&input).is_ok();
            let step = 1 + (next() % 5) as usize;
            let chunks: Vec<&[u8]> = input.chunks(step).collect();
            match bad {
                Some(bad) => assert_eq!(feed_all(&chunks), Err(bad / step), "{input:x?}"),
                None => assert_eq!(feed_all(&chunks), Ok(valid), "{input:x?}"),
            }
        }
    }
}
