//! The session's hot paths: one PTY read framed once and fanned out, and routing a
//! request by session ID.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ringtty::buf::{Pool, PoolConfig};
use ringtty::protocol::WinSize;
use ringtty::session::{Millis, NodeId, Outgoing, Session, SessionConfig, SessionId};

fn session(pool: &Pool) -> Session {
    let id = SessionId::new(None, 0, [1; 12]).unwrap();
    Session::new(id, pool.clone(), SessionConfig::default(), WinSize::DEFAULT, Millis(0))
}

/// One read of `len` bytes: alloc, fill, `push_output` (frame, scrollback, merge),
/// then `poll_send` for each of two viewers (what their writers would `writev`).
fn push_fan_out(c: &mut Criterion, name: &str, len: usize) {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut session = session(&pool);
    let viewers: Vec<_> = (0..2).map(|_| session.attach(Millis(0), false, None).unwrap().0).collect();
    let payload = vec![b'x'; len];
    let mut batch: Vec<Outgoing> = Vec::with_capacity(64);
    c.bench_function(name, |b| {
        b.iter(|| {
            let mut buf = pool.try_alloc().unwrap();
            buf.extend_from_slice(black_box(&payload));
            session.push_output(buf, || Millis(0));
            for &viewer in &viewers {
                session.poll_send(viewer, &mut batch);
                black_box(&batch);
            }
        })
    });
    batch.clear();
}

fn fan_out(c: &mut Criterion) {
    // An echo (merged into the merge buffer), a line, a full read (zero-copy).
    push_fan_out(c, "session/push_poll_2_viewers_1B", 1);
    push_fan_out(c, "session/push_poll_2_viewers_64B", 64);
    push_fan_out(c, "session/push_poll_2_viewers_16KiB", 16 * 1024 - 11);
}

fn ids(c: &mut Criterion) {
    let node = NodeId::new("web-01").unwrap();
    let id = SessionId::new(Some(&node), 17, [0xA5; 12]).unwrap();
    let text = id.to_string();
    c.bench_function("session/id_parse_route", |b| {
        b.iter(|| SessionId::parse(black_box(&text), Some(&node)).map(|id| id.core()))
    });
    c.bench_function("session/id_new", |b| b.iter(|| SessionId::new(Some(&node), 17, black_box([7; 12]))));
}

criterion_group!(benches, fan_out, ids);
criterion_main!(benches);
