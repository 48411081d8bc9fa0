//! The decoder on arbitrary input with arbitrary chunking: the events (merged into
//! messages) and the error are the same whether the input comes whole, in the
//! fuzzer's read sizes through a small buffer, or byte by byte; `consumed <= len`
//! always; errors are sticky; nothing panics.
//!
//! Input: a config byte (role, size limit, raw or structured input), three read sizes
//! and a buffer size, then either raw bytes or a frame description for
//! `frames_from_spec` (which reaches fragmentation, UTF-8 and close-code logic).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::ws::{Decoder, Role};
use ringtty_fuzz::{drive, frames_from_spec, normalize, Bytes};

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes(data);
    let config = bytes.byte();
    let role = if config & 1 == 0 { Role::Server } else { Role::Client };
    let max = match (config >> 1) & 3 {
        0 => 16,
        1 => 1000,
        2 => 1 << 20,
        _ => u64::MAX,
    };
    let reads = [
        usize::from(bytes.byte()) + 1,
        usize::from(bytes.byte()) % 7 + 1,
        usize::from(bytes.byte()) * 37 + 1,
    ];
    let cap = Decoder::MIN_BUFFER + usize::from(bytes.byte()) * 3;
    let input = if config & 8 == 0 { frames_from_spec(&mut bytes, role) } else { bytes.0.to_vec() };

    let whole_cap = input.len().max(Decoder::MIN_BUFFER);
    let whole = drive(&mut Decoder::new(role, max), &input, &[whole_cap], whole_cap);
    let failed = whole.error.is_some();
    let expected = normalize(&whole.events, failed);
    if !failed {
        // Only an incomplete header or control frame is ever left over.
        assert!(whole.left < Decoder::MIN_BUFFER, "left {}", whole.left);
    }

    let chunked = drive(&mut Decoder::new(role, max), &input, &reads, cap);
    assert_eq!(whole.error, chunked.error);
    assert_eq!(expected, normalize(&chunked.events, failed));
    assert_eq!(whole.left, chunked.left);

    if input.len() <= 2048 {
        let bytewise = drive(&mut Decoder::new(role, max), &input, &[1], Decoder::MIN_BUFFER);
        assert_eq!(whole.error, bytewise.error);
        assert_eq!(expected, normalize(&bytewise.events, failed));
        assert_eq!(whole.left, bytewise.left);
    }
});
