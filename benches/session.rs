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

/// The dashboard's preview of one session (`Session::preview`, what a list of 1,000
/// sessions computes 1,000 times): a shell whose 1 MiB scrollback ends with colored
/// output and a prompt (found in the first 512 bytes), and the worst case, 4 KiB of
/// output with no visible character (every window up to 4 KiB parsed).
fn preview(c: &mut Criterion) {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut shell = session(&pool);
    let line = b"\x1b[01;34mdrwxr-xr-x\x1b[0m  2 alice alice 4096 Dec  7 12:00 \x1b[01;32msrc\x1b[0m\r\n";
    for _ in 0..20_000 {
        let mut buf = pool.try_alloc().unwrap();
        buf.extend_from_slice(line);
        shell.push_output(buf, || Millis(0));
    }
    let mut buf = pool.try_alloc().unwrap();
    buf.extend_from_slice(
        b"\x1b]0;alice@host: ~/src\x07\x1b[01;32malice@host\x1b[00m:\x1b[01;34m~/src\x1b[00m$ ",
    );
    shell.push_output(buf, || Millis(0));
    c.bench_function("session/preview_shell_prompt", |b| b.iter(|| black_box(shell.preview())));
    let mut blank = session(&pool);
    for _ in 0..128 {
        let mut buf = pool.try_alloc().unwrap();
        buf.extend_from_slice(&b"\x1b[K\r\n\x1b[?25l\x1b[1;1H\x1b[m   \n\n\n\n\n\n\n"[..]);
        blank.push_output(buf, || Millis(0));
    }
    c.bench_function("session/preview_4KiB_blank", |b| b.iter(|| black_box(blank.preview())));
}

criterion_group!(benches, fan_out, ids, preview);
criterion_main!(benches);
