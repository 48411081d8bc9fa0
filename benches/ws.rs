//! Micro-benchmarks of the WebSocket codec's hot paths.
//!
//! `cargo bench --bench ws` (add `-- --warm-up-time 1 --measurement-time 2` for a
//! quick run). Unmasking and UTF-8 validation should run near memory speed.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringtty::ws::{
    accept_key, apply_mask, encode_frame, write_header_in_headroom, Decoder, Event, FrameHeader, OpCode,
    Role, Status, Utf8Validator,
};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn handshake(c: &mut Criterion) {
    c.bench_function("ws/accept_key", |b| b.iter(|| accept_key(black_box(b"dGhlIHNhbXBsZSBub25jZQ=="))));
}

fn frame_header(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws/frame_header");
    for len in [5u64, 1000, 100_000] {
        let header =
            FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some(MASK), payload_len: len };
        let mut bytes = [0u8; FrameHeader::MAX_LEN];
        let n = header.encode(&mut bytes);
        group.bench_with_input(BenchmarkId::new("encode", len), &header, |b, h| {
            b.iter(|| {
                let mut out = [0u8; FrameHeader::MAX_LEN];
                black_box(h.encode(&mut out));
                out
            })
        });
        group.bench_with_input(BenchmarkId::new("decode", len), &bytes[..n], |b, bytes| {
            b.iter(|| match FrameHeader::decode(black_box(bytes)) {
                Ok(Status::Complete(decoded)) => decoded,
                _ => unreachable!(),
            })
        });
    }
    let mut buf = vec![0u8; FrameHeader::MAX_SERVER_LEN + 16 * 1024];
    group.bench_function("headroom/16KiB", |b| {
        b.iter(|| {
            write_header_in_headroom(black_box(&mut buf), FrameHeader::MAX_SERVER_LEN, true, OpCode::Binary)
        })
    });
    group.finish();
}

fn unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws/unmask");
    for (name, len) in [("1B", 1usize), ("125B", 125), ("16KiB", 16 << 10), ("1MiB", 1 << 20)] {
        let mut buf = vec![0x5au8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            b.iter(|| apply_mask(black_box(&mut buf), MASK, 1));
        });
    }
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws/utf8");
    let ascii = "the quick brown fox jumps over the lazy dog\n".repeat(400);
    let multibyte = "κόσμε €uro 中文 𝄞 ".repeat(700);
    for (name, text) in [("ascii/16KiB", &ascii), ("multibyte/16KiB", &multibyte)] {
        let bytes = &text.as_bytes()[..16 << 10];
        // Cut at a char boundary (or not: the validator carries the partial code point).
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                v.feed(black_box(bytes)).is_ok()
            })
        });
        group.bench_function(format!("{name}/in-4KiB-chunks"), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                bytes.chunks(4096).all(|c| v.feed(black_box(c)).is_ok())
            })
        });
    }
    group.finish();
}

fn decoder(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws/decoder");
    for (name, opcode, payload) in [
        ("binary/16KiB", OpCode::Binary, vec![0xa5u8; 16 << 10]),
        ("text/16KiB", OpCode::Text, vec![b'a'; 16 << 10]),
        ("binary/1B", OpCode::Binary, vec![b'x']),
    ] {
        let mut wire = Vec::new();
        encode_frame(&mut wire, true, opcode, Some(MASK), &payload);
        let mut buf = wire.clone();
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                // The buffer is unmasked in place: restore the wire bytes each time,
                // as a read would (the copy is part of the measurement).
                buf.copy_from_slice(&wire);
                let mut decoder = Decoder::new(Role::Server, 1 << 20);
                let decoded = decoder.decode(black_box(&mut buf)).ok()?;
                match decoded.event {
                    Some(Event::Data { payload, .. }) => Some(payload.len()),
                    _ => None,
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, handshake, frame_header, unmask, utf8, decoder);
criterion_main!(benches);
