#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::buf::{
    Buf, BufError, ConfigError, Pool, PoolConfig, PoolStats, Stock, DEFAULT_CAPACITY, HEADROOM,
    MAX_FRAME_HEADER,
};

fn pool(capacity: usize, max_bufs: usize, reserve: usize) -> Pool {
    Pool::new(PoolConfig { capacity, max_bufs, reserve }).expect("valid config")
}

fn frozen(pool: &Pool, bytes: &[u8]) -> Buf {
    let mut b = pool.try_alloc().expect("a buffer");
    assert_eq!(b.extend_from_slice(bytes), bytes.len());
    b.freeze()
}

#[test]
fn config_is_validated() {
    let ok = PoolConfig { capacity: 1, max_bufs: 1, reserve: 0 };
    let cases = [
        (ok, None),
        (PoolConfig::default(), None),
        (PoolConfig { capacity: 0, ..ok }, Some(ConfigError::ZeroCapacity)),
        (PoolConfig { capacity: u32::MAX as usize - HEADROOM, ..ok }, None),
        (
            PoolConfig { capacity: u32::MAX as usize - HEADROOM + 1, ..ok },
            Some(ConfigError::CapacityTooLarge),
        ),
        (PoolConfig { max_bufs: 0, ..ok }, Some(ConfigError::ZeroBuffers)),
        (PoolConfig { reserve: 1, ..ok }, Some(ConfigError::ReserveTooLarge)),
        (PoolConfig { max_bufs: 3, reserve: 2, ..ok }, None),
    ];
    for (config, want) in cases {
        assert_eq!(Pool::new(config).err(), want, "{config:?}");
    }
}

#[test]
fn default_buffer_is_one_16k_block() {
    let p = Pool::new(PoolConfig::default()).unwrap();
    assert_eq!(HEADROOM, MAX_FRAME_HEADER + 1);
    assert_eq!(HEADROOM + p.capacity(), 16 * 1024);
    assert_eq!(p.capacity(), DEFAULT_CAPACITY);
    assert!(p.mem_size() >= 16 * 1024 && p.mem_size() < 16 * 1024 + 128);
    let b = p.try_alloc().unwrap();
    assert_eq!((b.len(), b.capacity(), b.headroom()), (0, DEFAULT_CAPACITY, HEADROOM));
    assert_eq!(b.freeze().mem_size(), p.mem_size());
}

#[test]
fn empty_pool_is_backpressure_not_growth() {
    let p = pool(64, 8, 2);
    let held: Vec<_> = (0..6).map(|_| p.try_alloc().expect("below the reserve")).collect();
    assert!(p.try_alloc().is_none());
    assert!(p.try_alloc().is_none());
    let s = p.stats();
    assert_eq!((s.in_use, s.allocated, s.free), (6, 6, 0));
    assert_eq!((s.alloc_failures, s.reserve_failures), (2, 0));
    drop(held);
}

#[test]
fn reserve_only_through_reserved_path() {
    let p = pool(64, 8, 2);
    let mut held: Vec<_> = (0..6).map(|_| p.try_alloc().unwrap()).collect();
    held.push(p.try_alloc_reserved().expect("reserve 1"));
    assert!(p.try_alloc().is_none(), "plain path never dips into the reserve");
    held.push(p.try_alloc_reserved().expect("reserve 2"));
    assert!(p.try_alloc_reserved().is_none(), "the whole pool is in use");
    let s = p.stats();
    assert_eq!((s.in_use, s.allocated, s.high_water), (8, 8, 8));
    assert_eq!((s.alloc_failures, s.reserve_failures), (1, 1));
    held.truncate(6);
    assert!(p.try_alloc().is_none(), "the reserve is back, nothing else");
    held.pop();
    assert!(p.try_alloc().is_some(), "one free outside the reserve");
}

#[test]
fn reserved_path_uses_free_buffers_first() {
    let p = pool(64, 4, 1);
    drop(p.try_alloc_reserved().unwrap());
    let b = p.try_alloc_reserved().unwrap();
    assert_eq!(p.stats().fresh_allocs, 1);
    drop(b);
}

#[test]
fn dropping_handles_returns_buffers() {
    let p = pool(64, 16, 2);
    let baseline = p.stats();
    assert_eq!(baseline, PoolStats::default());
    let muts: Vec<_> = (0..5).map(|_| p.try_alloc().unwrap()).collect();
    let frames: Vec<_> = (0..5).map(|i| frozen(&p, &[i; 3])).collect();
    let clones = frames.clone();
    assert_eq!(p.stats().in_use, 10);
    drop(muts);
    drop(frames);
    assert_eq!(p.stats().in_use, 5, "the clones still hold their buffers");
    drop(clones);
    let s = p.stats();
    assert_eq!((s.in_use, s.free, s.allocated, s.high_water), (0, 10, 10, 10));
    assert_eq!(s.bytes_held, 10 * p.mem_size());
}

#[test]
fn recycled_buffer_does_not_hit_the_allocator() {
    let p = pool(64, 4, 0);
    let mut b = p.try_alloc().unwrap();
    let (id, ptr) = (b.id(), b.as_ptr());
    b.extend_from_slice(b"old");
    b.prepend(b"hdr").unwrap();
    drop(b);
    for _ in 0..100 {
        let b = p.try_alloc().unwrap();
        assert_eq!((b.id(), b.as_ptr()), (id, ptr), "same slot, same memory");
        assert_eq!((b.len(), b.headroom()), (0, HEADROOM), "positions are reset");
        drop(b.freeze().clone());
    }
    let s = p.stats();
    assert_eq!((s.fresh_allocs, s.allocated, s.in_use), (1, 1, 0));
}

#[test]
fn frame_header_and_ttyd_prefix_fit_exactly() {
    // Every split of the headroom: n bytes then the rest fits; one more never does.
    for n in 0..=HEADROOM {
        let p = pool(32, 1, 0);
        let mut b = p.try_alloc().unwrap();
        b.extend_from_slice(b"data");
        b.prepend(&vec![1; n]).unwrap();
        let rest = HEADROOM - n;
        assert_eq!(b.prepend(&vec![2; rest + 1]), Err(BufError::NoHeadroom));
        assert_eq!((b.headroom(), b.len()), (rest, 4 + n), "a refused prepend changes nothing");
        b.prepend(&vec![2; rest]).unwrap();
        assert_eq!(b.prepend(b"x"), Err(BufError::NoHeadroom));
        assert_eq!(b.prepend(b""), Ok(()));
        assert_eq!(b.len(), HEADROOM + 4);
    }
}

#[test]
fn largest_header_then_prefix_then_freeze() {
    let p = pool(32, 1, 0);
    let mut b = p.try_alloc().unwrap();
    b.extend_from_slice(b"hi");
    let header = [0x82, 127, 0, 0, 0, 0, 0, 0, 0, 2];
    b.prepend(&header).unwrap();
    b.prepend(b"0").unwrap();
    assert_eq!(b.prepend(b"!"), Err(BufError::NoHeadroom));
    assert_eq!(b.capacity(), 32 + HEADROOM, "prepended bytes are content now");
    let frame = b.freeze();
    let want: Vec<u8> = [&b"0"[..], &header, b"hi"].concat();
    assert_eq!(frame.as_slice(), &want[..]);
}

#[test]
fn freeze_and_clone_share_one_allocation() {
    let p = pool(64, 4, 0);
    let mut b = p.try_alloc().unwrap();
    b.extend_from_slice(b"payload");
    let data_ptr = b.as_ptr();
    b.prepend(&[0x82, 7]).unwrap();
    let frame_ptr = b.as_ptr();
    assert_eq!(frame_ptr, data_ptr.wrapping_sub(2));
    let frame = b.freeze();
    let (c1, c2) = (frame.clone(), frame.clone());
    for f in [&frame, &c1, &c2] {
        assert_eq!(f.as_ptr(), frame_ptr);
        assert!(f.same_buffer(&frame));
        assert_eq!(&f[..], b"\x82\x07payload");
    }
    assert_eq!(p.stats().in_use, 1);
    drop((frame, c1));
    assert_eq!(p.stats().in_use, 1);
    drop(c2);
    assert_eq!(p.stats().in_use, 0);
}

#[test]
fn addresses_stay_put_while_the_pool_grows() {
    let p = pool(16, 2048, 0);
    let mut first = p.try_alloc().unwrap();
    first.extend_from_slice(b"first");
    let first_ptr = first.as_ptr();
    let frozen_first = frozen(&p, b"frozen");
    let frozen_ptr = frozen_first.as_ptr();
    // Enough to make the slab reallocate many times over.
    let mut many = Vec::new();
    for i in 0..2000u32 {
        let mut b = p.try_alloc().unwrap();
        b.extend_from_slice(&i.to_le_bytes());
        many.push((b.as_ptr(), b));
    }
    assert_eq!((first.as_ptr(), &first[..]), (first_ptr, &b"first"[..]));
    assert_eq!((frozen_first.as_ptr(), &frozen_first[..]), (frozen_ptr, &b"frozen"[..]));
    for (i, (ptr, b)) in many.iter().enumerate() {
        assert_eq!(b.as_ptr(), *ptr);
        assert_eq!(&b[..], &(i as u32).to_le_bytes());
    }
}

#[test]
fn set_len_is_bounded_by_capacity() {
    let p = pool(8, 1, 0);
    let mut b = p.try_alloc().unwrap();
    for len in [0, 1, 7, 8, 3] {
        assert_eq!(b.set_len(len), Ok(()));
        assert_eq!((b.len(), b.remaining()), (len, 8 - len));
    }
    for len in [9, usize::MAX] {
        assert_eq!(b.set_len(len), Err(BufError::NoCapacity));
        assert_eq!(b.len(), 3, "a refused set_len changes nothing");
    }
    b.prepend(b"ab").unwrap();
    assert_eq!(b.capacity(), 10);
    assert_eq!(b.set_len(10), Ok(()));
    assert_eq!(b.set_len(11), Err(BufError::NoCapacity));
}

#[test]
fn extend_from_slice_takes_what_fits() {
    let p = pool(8, 1, 0);
    let mut b = p.try_alloc().unwrap();
    assert_eq!(b.extend_from_slice(b"abcde"), 5);
    assert_eq!(b.extend_from_slice(b"0123456789"), 3);
    assert_eq!(&b[..], b"abcde012");
    assert_eq!(b.extend_from_slice(b"z"), 0);
    assert_eq!(b.extend_from_slice(b""), 0);
    assert_eq!(b.remaining(), 0);
}

#[test]
fn clear_restores_a_fresh_buffer() {
    let p = pool(8, 1, 0);
    let mut b = p.try_alloc().unwrap();
    b.extend_from_slice(b"abc");
    b.prepend(b"h").unwrap();
    b.clear();
    assert_eq!((b.len(), b.headroom(), b.capacity()), (0, HEADROOM, 8));
}

#[test]
fn views_narrow_and_keep_the_buffer() {
    let p = pool(32, 2, 0);
    let frame = frozen(&p, b"0123456789");
    let cases: [(Option<Buf>, Option<&[u8]>); 8] = [
        (frame.view(..), Some(b"0123456789")),
        (frame.view(3..), Some(b"3456789")),
        (frame.view(..=2), Some(b"012")),
        (frame.view(2..5), Some(b"234")),
        (frame.view(10..), Some(b"")),
        (frame.view(11..), None),
        (frame.view(..11), None),
        (frame.view(std::ops::Range { start: 5, end: 4 }), None),
    ];
    for (i, (view, want)) in cases.into_iter().enumerate() {
        assert_eq!(view.as_deref(), want, "case {i}");
    }
    let tail = frame.view(4..).unwrap().view(2..).unwrap();
    assert_eq!(&tail[..], b"6789");
    assert_eq!(tail.as_ptr(), frame.as_ptr().wrapping_add(6));
    drop(frame);
    assert_eq!(p.stats().in_use, 1, "a view holds its buffer");
    drop(tail);
    assert_eq!(p.stats().in_use, 0);
}

#[test]
fn trim_releases_the_free_buffers_untouched_since_the_last_trim() {
    let p = pool(16, 8, 0);
    let bufs: Vec<_> = (0..5).map(|_| p.try_alloc().unwrap()).collect();
    let ids: Vec<_> = bufs.iter().map(|b| b.id()).collect();
    drop(bufs); // freed in order: ids[0] is the least recently used
    assert_eq!(p.trim(), 0, "the first trim only marks: every buffer was in use in its interval");
    // Two lent and given back: the working set of this interval.
    drop((p.try_alloc().unwrap(), p.try_alloc().unwrap()));
    assert_eq!(p.trim(), 3, "the three untouched since the last trim go");
    let s = p.stats();
    assert_eq!((s.free, s.allocated, s.trimmed), (2, 2, 3));
    assert_eq!(s.bytes_held, 2 * p.mem_size());
    let (a, b) = (p.try_alloc().unwrap(), p.try_alloc().unwrap());
    assert_eq!((a.id(), b.id()), (ids[3], ids[4]), "the warm ones were kept");
    let _c = p.try_alloc().unwrap();
    assert_eq!(p.stats().fresh_allocs, 6, "growth again after a trim");
    assert_eq!(p.trim(), 0, "buffers in use are never trimmed");
    drop((a, b));
    assert_eq!(p.trim(), 0, "given back in this interval: kept");
    assert_eq!(p.trim(), 2, "idle for a whole interval: released");
    assert_eq!(p.stats().allocated, 1);
}

#[test]
fn buffers_outlive_their_pool() {
    let p = pool(16, 2, 0);
    let frame = frozen(&p, b"still here");
    let mut m = p.try_alloc().unwrap();
    drop(p);
    m.extend_from_slice(b"!");
    assert_eq!(&frame[..], b"still here");
    let f2 = m.freeze();
    drop((frame, f2)); // freed with no pool to return to
}

struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn poll_available_wakes_when_a_buffer_returns() {
    let p = pool(16, 3, 1);
    let count = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(p.poll_available(&mut cx), Poll::Ready(()));
    let a = p.try_alloc().unwrap();
    let b = p.try_alloc().unwrap();
    let r = p.try_alloc_reserved().unwrap();
    assert_eq!(p.poll_available(&mut cx), Poll::Pending);
    assert_eq!(p.poll_available(&mut cx), Poll::Pending, "registered once");
    drop(r); // back into the reserve only: try_alloc would still fail
    assert_eq!(count.0.load(Ordering::Relaxed), 0);
    drop(a.freeze());
    assert_eq!(count.0.load(Ordering::Relaxed), 1);
    assert_eq!(p.poll_available(&mut cx), Poll::Ready(()));
    drop(b);
    assert_eq!(count.0.load(Ordering::Relaxed), 1, "waiters were woken once");
}

#[test]
fn spare_capacity_takes_plain_reads() {
    let (mut tx, mut rx) = StdUnixStream::pair().unwrap();
    let p = pool(16, 1, 0);
    let mut b = p.try_alloc().unwrap();
    assert!(b.spare_mut().iter().all(|&x| x == 0), "zeroed on first use");
    tx.write_all(b"hello ").unwrap();
    let n = rx.read(b.spare_mut()).unwrap();
    b.set_len(b.len() + n).unwrap();
    tx.write_all(b"world, and more").unwrap();
    let n = rx.read(b.spare_mut()).unwrap();
    assert_eq!(n, 10, "a read is bounded by the spare capacity");
    b.set_len(b.len() + n).unwrap();
    assert_eq!(&b[..], b"hello world, and");
    assert!(b.spare_mut().is_empty());
}

#[test]
fn a_stock_keeps_what_an_interval_used() {
    let mut s = Stock::default();
    (0..4).for_each(|i| s.give(i));
    assert_eq!(s.trim().count(), 0, "the first trim only marks");
    assert_eq!(s.take(), Some(3));
    s.give(3);
    assert_eq!(s.trim().collect::<Vec<_>>(), [0, 1, 2], "untouched for a whole interval");
    assert_eq!((s.len(), s.trim().count()), (1, 1), "then the last one, once idle");
    assert!(s.is_empty() && s.take().is_none());
    assert_eq!(s.trim().count(), 0);
}

#[test]
fn an_exact_framed_buffer_holds_the_head_then_the_bytes_whatever_the_head_size() {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let framed = pool.exact_framed(&[0x82, 5], b"hello");
    assert_eq!(framed.as_slice(), b"\x82\x05hello");
    assert_eq!(framed.mem_size(), pool.exact_mem_size(b"\x82\x05hello".len() - 2));
    let big_head = vec![7u8; HEADROOM + 3];
    let framed = pool.exact_framed(&big_head, b"x");
    assert_eq!(&framed.as_slice()[..HEADROOM + 3], &big_head[..]);
    assert_eq!(&framed.as_slice()[HEADROOM + 3..], b"x");
}
