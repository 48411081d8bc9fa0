//! Base64url without padding (RFC 4648 §5), the encoding of every JWS segment.
//!
//! RFC 7515 §2 defines it "with all trailing '=' characters omitted ... and without the
//! inclusion of any line breaks, whitespace, or other additional characters". The decoder
//! is strict: only the 64 url-safe digits, no `=`, no length that no encoding has
//! (`len % 4 == 1`), and the unused low bits of the last digit must be zero (RFC 4648
//! §3.5's canonical encoding), so that one byte string has exactly one encoding and a
//! flipped bit in a signature's last digit cannot decode to the same signature.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Not a digit: the byte's entry in [`VALUES`].
const INVALID: u8 = 0xff;

/// Each byte's 6-bit value, or [`INVALID`].
const VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Appends the encoding of `input` to `out`.
pub fn encode_into(input: &[u8], out: &mut String) {
    out.reserve(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        // 1 byte -> 2 digits, 2 -> 3, 3 -> 4.
        for k in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * k) & 63) as usize]));
        }
    }
}

/// The number of bytes `len` digits decode to; `None` for a length no encoding has.
pub const fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        rem => Some(len / 4 * 3 + rem.saturating_sub(1)),
    }
}

/// Decodes `input` into the start of `out` and returns the length written; `None` for
/// anything that is not a canonical unpadded encoding, or when `out` is too small.
pub fn decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = decoded_len(input.len())?;
    let out = out.get_mut(..len)?;
    let mut chunks = input.chunks_exact(4);
    let mut outs = out.chunks_exact_mut(3);
    for (chunk, three) in (&mut chunks).zip(&mut outs) {
        let [a, b, c, d] = [chunk[0], chunk[1], chunk[2], chunk[3]].map(|x| VALUES[usize::from(x)]);
        // Digits are below 64 and INVALID is 0xff: one test for all four.
        if (a | b | c | d) >= 64 {
            return None;
        }
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        // Byte by byte: a 3-byte `copy_from_slice` becomes a call to memcpy.
        three[0] = (n >> 16) as u8;
        three[1] = (n >> 8) as u8;
        three[2] = n as u8;
    }
    let written = input.len() / 4 * 3;
    let tail = chunks.remainder();
    if tail.is_empty() {
        return Some(len);
    }
    // 2 digits carry 12 bits for 1 byte, 3 digits 18 bits for 2 bytes: the rest must
    // be zero.
    let n = digits(tail)?;
    let bytes = tail.len() - 1;
    let spare_bits = 6 * tail.len() as u32 - 8 * bytes as u32;
    let value = n >> (24 - 6 * tail.len() as u32);
    if value & ((1 << spare_bits) - 1) != 0 {
        return None;
    }
    let data = value >> spare_bits;
    for (i, byte) in out[written..].iter_mut().enumerate() {
        *byte = (data >> (8 * (bytes - 1 - i))) as u8;
    }
    Some(len)
}

/// Up to 4 digits, big-endian, in the top bits of a 24-bit number.
fn digits(chunk: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for (i, &c) in chunk.iter().enumerate() {
        let v = VALUES[usize::from(c)];
        if v == INVALID {
            return None;
        }
        n |= u32::from(v) << (18 - 6 * i);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(input: &[u8]) -> String {
        let mut s = String::new();
        encode_into(input, &mut s);
        s
    }

    fn dec(input: &str) -> Option<Vec<u8>> {
        let mut out = vec![0; 64];
        let n = decode(input.as_bytes(), &mut out)?;
        out.truncate(n);
        Some(out)
    }

    #[test]
    fn rfc4648_vectors_without_padding() {
        // RFC 4648 §10, padding removed; none of them uses digits 62/63.
        let vectors = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(enc(plain.as_bytes()), encoded);
            assert_eq!(dec(encoded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn url_safe_digits_not_plus_and_slash() {
        assert_eq!(enc(&[0xfb, 0xff, 0xbf]), "-_-_");
        assert_eq!(dec("-_-_"), Some(vec![0xfb, 0xff, 0xbf]));
        assert_eq!(dec("+/+/"), None);
    }

    #[test]
    fn every_length_and_byte_round_trips() {
        let data: Vec<u8> = (0..=255).collect();
        for len in 0..=data.len() {
            for start in [0, data.len() - len] {
                let slice = &data[start..start + len];
                let mut out = vec![0; 256];
                let e = enc(slice);
                assert_eq!(decoded_len(e.len()), Some(len));
                assert_eq!(decode(e.as_bytes(), &mut out), Some(len));
                assert_eq!(&out[..len], slice);
            }
        }
    }

    #[test]
    fn refuses_what_no_canonical_encoding_is() {
        for bad in [
            "Z", "Zg=", "Zg==", "Zh", "Zm9", "Zm9vYh", " Zm9v", "Zm9v ", "Zm9v\n", "Zm.v", "Zm9vY",
            "Zm9vYmF=",
        ] {
            assert_eq!(dec(bad), None, "{bad:?}");
        }
        // Every non-zero value of the spare bits of a 2- and a 3-digit tail.
        // "Zg" is "f": 'g' is 32, its low 4 bits spare. "Zm8" is "fo": '8' is 60, its low 2.
        for spare in 1..16 {
            assert_eq!(decode(&[b'Z', ALPHABET[32 + spare]], &mut [0; 4]), None);
        }
        for spare in 1..4 {
            assert_eq!(decode(&[b'Z', b'm', ALPHABET[60 + spare]], &mut [0; 4]), None);
        }
    }

    #[test]
    fn refuses_an_output_too_small() {
        assert_eq!(decode(b"Zm9vYmFy", &mut [0; 5]), None);
        assert_eq!(decode(b"Zm9vYmFy", &mut [0; 6]), Some(6));
    }
}
