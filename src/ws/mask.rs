//! Payload masking (RFC 6455 §5.3), in place, resumable at any payload offset.

/// XORs `buf` with `mask`, in place, where `buf[0]` is byte number `offset` of the
/// frame's payload; returns the offset of the byte after `buf` (modulo 4), to pass to
/// the call for the next chunk of the same payload.
///
/// §5.3: "Octet i of the transformed data ("transformed-octet-i") is the XOR of octet
/// i of the original data ("original-octet-i") with octet at index i modulo 4 of the
/// masking key ("masking-key-octet-j"): j = i MOD 4". Masking and unmasking are the
/// same operation. Only `offset % 4` matters, so a caller may pass the payload
/// position itself or the value this function returned.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) -> usize {
    let shift = offset % 4;
    // The key as seen from buf[0]; 8 is a multiple of 4, so every 8-byte word of
    // `buf` starts at the same phase of the key.
    let key = [mask[shift], mask[(shift + 1) % 4], mask[(shift + 2) % 4], mask[(shift + 3) % 4]];
    let key8 = [key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]];
    let word_key = u64::from_ne_bytes(key8);

    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word_key).to_ne_bytes());
    }
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
    (shift + buf.len() % 4) % 4
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn naive(buf: &mut [u8], mask: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= mask[(offset + i) % 4];
        }
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn rfc_example_hello() {
        // RFC 6455 §5.7: "A single-frame masked text message".
        let mut payload = *b"\x7f\x9f\x4d\x51\x58";
        apply_mask(&mut payload, MASK, 0);
        assert_eq!(&payload, b"Hello");
    }

    #[test]
    fn matches_naive_for_every_length_and_offset() {
        for len in 0..100 {
            for offset in 0..8 {
                let mut fast = sample(len);
                let mut slow = fast.clone();
                let next = apply_mask(&mut fast, MASK, offset);
                naive(&mut slow, MASK, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
                assert_eq!(next, (offset + len) % 4);
            }
        }
    }

    #[test]
    fn is_an_involution() {
        let original = sample(1000);
        let mut buf = original.clone();
        apply_mask(&mut buf, MASK, 3);
        assert_ne!(buf, original);
        apply_mask(&mut buf, MASK, 3);
        assert_eq!(buf, original);
    }

    #[test]
    fn chunked_equals_one_shot_at_every_split_pair() {
        let original = sample(40);
        let mut expected = original.clone();
        naive(&mut expected, MASK, 0);
        for a in 0..=original.len() {
            for b in a..=original.len() {
                let mut buf = original.clone();
                let (head, rest) = buf.split_at_mut(a);
                let (mid, tail) = rest.split_at_mut(b - a);
                let mut offset = apply_mask(head, MASK, 0);
                offset = apply_mask(mid, MASK, offset);
                apply_mask(tail, MASK, offset);
                assert_eq!(buf, expected, "splits at {a} and {b}");
            }
        }
    }

    #[test]
    fn large_buffers_with_every_offset() {
        for len in [125, 16 * 1024, 65536 + 3] {
            for offset in 0..4 {
                let mut fast = sample(len);
                let mut slow = fast.clone();
                apply_mask(&mut fast, MASK, offset);
                naive(&mut slow, MASK, offset);
                assert_eq!(fast, slow);
            }
        }
    }
}
