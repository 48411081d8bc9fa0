//! The buffer pool's hot paths: what one PTY read costs before any IO.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ringtty::buf::{Pool, PoolConfig, DEFAULT_CAPACITY};

fn alloc_drop(c: &mut Criterion) {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    c.bench_function("buf/alloc_drop", |b| b.iter(|| black_box(pool.try_alloc())));
    // What the pool saves: a fresh zeroed block of the same size from the allocator.
    c.bench_function("buf/baseline_vec_zeroed_alloc_drop", |b| {
        b.iter(|| black_box(vec![0u8; DEFAULT_CAPACITY]))
    });
}

/// One output frame's life: read (64 bytes), header + ttyd prefix, freeze, fan out
/// to a viewer and the scrollback, then everyone drops it.
fn frame_fan_out(c: &mut Criterion) {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let payload = [b'x'; 64];
    c.bench_function("buf/alloc_prepend_freeze_clone2_drop", |b| {
        b.iter(|| {
            let mut buf = pool.try_alloc().unwrap();
            buf.extend_from_slice(black_box(&payload));
            buf.prepend(&[0x82, 64]).unwrap();
            buf.prepend(b"0").unwrap();
            let frame = buf.freeze();
            let viewer = frame.clone();
            let scrollback = frame.clone();
            black_box((&frame, &viewer, &scrollback));
        })
    });
}

criterion_group!(benches, alloc_drop, frame_fan_out);
criterion_main!(benches);
