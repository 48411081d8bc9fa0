//! The kernel facts the module docs state, checked on this kernel, and the buffer
//! ring's ownership rules.
#![allow(unsafe_code)]

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use rustix::pty::OpenptFlags;

use super::{BufRing, OwnershipError, Support};

const BGID: u16 = 7;

/// A PTY pair: the master non-blocking (as the server opens it), the slave raw so
/// that bytes pass unchanged.
fn pty_pair() -> (OwnedFd, OwnedFd) {
    let flags = OpenptFlags::RDWR
        | OpenptFlags::NOCTTY
        | OpenptFlags::CLOEXEC
        | OpenptFlags::from_bits_retain(rustix::fs::OFlags::NONBLOCK.bits());
    let master = rustix::pty::openpt(flags).unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .unwrap();
    let mut t = rustix::termios::tcgetattr(&slave).unwrap();
    t.make_raw();
    rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t).unwrap();
    (master, slave)
}

/// Buffers for the low-level tests: `n` vectors of `len` bytes, lent to `ring`.
struct TestBufs {
    ring: BufRing,
    mem: Vec<Vec<u8>>,
}

impl TestBufs {
    fn new(uring: &IoUring, n: u16, len: usize) -> TestBufs {
        let mut this = TestBufs {
            ring: BufRing::new(&uring.submitter(), BGID, n).unwrap(),
            mem: vec![vec![0; len]; n.into()],
        };
        for id in 0..n {
            this.give(id);
        }
        this.ring.publish();
        this
    }

    fn give(&mut self, id: u16) {
        let area = &mut self.mem[usize::from(id)];
        // SAFETY: the vector is neither touched nor freed until a completion names `id`
        // (`take`) or the group is unregistered (`done`, before `self.mem` drops).
        unsafe { self.ring.give(id, area.as_mut_ptr(), area.len() as u32) }.unwrap();
    }

    /// A completion named `id` with `len` bytes: they are ours.
    fn take(&mut self, id: u16, len: usize) -> Vec<u8> {
        self.ring.take(id).unwrap();
        self.mem[usize::from(id)][..len].to_vec()
    }

    fn done(mut self, uring: &IoUring) {
        self.ring.unregister(&uring.submitter()).unwrap();
    }
}

fn submit(ring: &mut IoUring, entry: squeue::Entry) {
    // SAFETY: the entries built in these tests point at no memory of ours (buffers come
    // from the registered ring, which outlives every operation on it).
    unsafe { ring.submission().push(&entry) }.unwrap();
    ring.submit().unwrap();
}

/// The next completion, waiting for one.
fn next(ring: &mut IoUring) -> cqueue::Entry {
    loop {
        if let Some(c) = ring.completion().next() {
            return c;
        }
        ring.submit_and_wait(1).unwrap();
    }
}

fn read_multi(fd: &OwnedFd) -> squeue::Entry {
    opcode::ReadMulti::new(types::Fd(fd.as_raw_fd()), 0, BGID).build().user_data(1)
}

/// Collects what completions carry until `want` bytes arrived; gives each buffer back
/// at once. Returns the bytes and whether the operation is still armed.
fn collect(ring: &mut IoUring, bufs: &mut TestBufs, want: usize) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    while got.len() < want {
        let c = next(ring);
        assert!(c.result() > 0, "completion result {}", c.result());
        let id = cqueue::buffer_select(c.flags()).expect("a buffer id");
        got.extend_from_slice(&bufs.take(id, c.result() as usize));
        bufs.give(id);
        bufs.ring.publish();
        if !cqueue::more(c.flags()) {
            return (got, false);
        }
    }
    (got, true)
}

#[test]
fn this_kernel_has_the_data_path_operations() {
    let ring = IoUring::new(8).unwrap();
    let s = Support::probe(&ring).unwrap();
    assert!(s.data_path(), "{s:?}: the io_uring data path needs Linux 6.7");
}

#[test]
fn multishot_read_on_a_pty_master_fills_provided_buffers_and_stays_armed() {
    let (master, slave) = pty_pair();
    let mut ring = IoUring::new(8).unwrap();
    let mut bufs = TestBufs::new(&ring, 4, 256);
    submit(&mut ring, read_multi(&master));
    for round in 0..10u8 {
        let msg = [b'a' + round; 100];
        rustix::io::write(&slave, &msg).unwrap();
        let (got, armed) = collect(&mut ring, &mut bufs, msg.len());
        assert_eq!(got, msg);
        assert!(armed, "one submission serves every arrival");
    }
    assert_eq!(bufs.ring.available(), 4, "every buffer is back in the ring");
    drop(slave);
    bufs.done(&ring);
}

#[test]
fn multishot_receive_on_a_socket_fills_provided_buffers_and_a_pty_refuses_it() {
    let (mut peer, sock) = UnixStream::pair().unwrap();
    let sock = OwnedFd::from(sock);
    let mut ring = IoUring::new(8).unwrap();
    let mut bufs = TestBufs::new(&ring, 4, 256);
    submit(&mut ring, opcode::RecvMulti::new(types::Fd(sock.as_raw_fd()), BGID).build().user_data(2));
    for round in 0..10u8 {
        let msg = [b'A' + round; 300];
        peer.write_all(&msg).unwrap();
        let (got, armed) = collect(&mut ring, &mut bufs, msg.len());
        assert_eq!(got, msg);
        assert!(armed);
    }
    // The end of the stream ends the operation: result 0, not armed any more.
    drop(peer);
    let c = next(&mut ring);
    assert_eq!((c.result(), cqueue::more(c.flags())), (0, false));
    // A terminal is no socket: receive is refused at once.
    let (master, _slave) = pty_pair();
    submit(&mut ring, opcode::RecvMulti::new(types::Fd(master.as_raw_fd()), BGID).build().user_data(3));
    let c = next(&mut ring);
    assert_eq!(c.result(), -libc::ENOTSOCK);
    bufs.done(&ring);
}

#[test]
fn multishot_poll_on_a_pty_master_only_says_readable() {
    let (master, slave) = pty_pair();
    let mut ring = IoUring::new(8).unwrap();
    let poll = opcode::PollAdd::new(types::Fd(master.as_raw_fd()), libc::POLLIN as u32).multi(true);
    submit(&mut ring, poll.build().user_data(4));
    for _ in 0..3 {
        rustix::io::write(&slave, b"x").unwrap();
        let c = next(&mut ring);
        assert!(c.result() & libc::POLLIN as i32 != 0 && cqueue::more(c.flags()));
        // The bytes are still there: a read(2) must follow.
        let mut b = [0u8; 8];
        assert_eq!(rustix::io::read(&master, &mut b).unwrap(), 1);
    }
}

#[test]
fn out_of_buffers_ends_the_read_with_enobufs_and_no_byte_is_lost() {
    let (master, slave) = pty_pair();
    let mut ring = IoUring::new(8).unwrap();
    // Two buffers of 16 bytes for 100 bytes of output.
    let mut bufs = TestBufs::new(&ring, 2, 16);
    let msg: Vec<u8> = (0..100u8).collect();
    rustix::io::write(&slave, &msg).unwrap();
    submit(&mut ring, read_multi(&master));
    let mut got = Vec::new();
    let mut held = Vec::new();
    let mut enobufs = 0;
    while got.len() < msg.len() {
        let c = next(&mut ring);
        if c.result() == -libc::ENOBUFS {
            assert!(!cqueue::more(c.flags()), "ENOBUFS ends the multishot read");
            enobufs += 1;
            // Buffers come back (a viewer was sent them); arm the read again.
            for id in held.drain(..) {
                bufs.give(id);
            }
            bufs.ring.publish();
            submit(&mut ring, read_multi(&master));
            continue;
        }
        assert!(c.result() > 0, "result {}", c.result());
        let id = cqueue::buffer_select(c.flags()).unwrap();
        got.extend_from_slice(&bufs.take(id, c.result() as usize));
        held.push(id); // kept, as a viewer that has not been sent it yet would
    }
    assert_eq!(got, msg, "every byte, in order");
    assert!(enobufs >= 3, "100 bytes in 16-byte buffers, two at a time: {enobufs} ENOBUFS");
    bufs.done(&ring);
}

#[test]
fn a_buffer_is_either_the_kernels_or_ours() {
    let ring = IoUring::new(8).unwrap();
    let mut bufs = BufRing::new(&ring.submitter(), BGID, 2).unwrap();
    let mut mem = [0u8; 16];
    // Nothing given yet: nothing to take.
    assert_eq!(bufs.take(0), Err(OwnershipError::NotInRing(0)));
    // SAFETY: `mem` outlives the group (unregistered below) and is not touched while
    // given.
    unsafe { bufs.give(0, mem.as_mut_ptr(), 16) }.unwrap();
    // SAFETY: refused before the memory is used.
    assert_eq!(unsafe { bufs.give(0, mem.as_mut_ptr(), 16) }, Err(OwnershipError::AlreadyInRing(0)));
    // SAFETY: as above.
    assert_eq!(unsafe { bufs.give(9, mem.as_mut_ptr(), 16) }, Err(OwnershipError::Unknown(9)));
    assert_eq!(bufs.available(), 1);
    bufs.take(0).unwrap();
    assert_eq!(bufs.take(0), Err(OwnershipError::NotInRing(0)), "taken twice");
    assert_eq!(bufs.available(), 0);
    bufs.unregister(&ring.submitter()).unwrap();
}

#[test]
fn a_ring_takes_only_a_power_of_two_of_entries() {
    let ring = IoUring::new(8).unwrap();
    for entries in [0, 3, 100] {
        assert!(BufRing::new(&ring.submitter(), BGID, entries).is_err(), "{entries}");
    }
}

/// Runs `f` on a worker-like runtime with a ring of `buffers` × 64 bytes, driven by
/// its task, then closes the ring and checks nothing is left with the kernel.
fn with_ring<F, Fut>(buffers: u16, f: F)
where
    F: FnOnce(super::Ring, crate::buf::Pool) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    with_ring_of(32, buffers, usize::from(buffers), f)
}

/// [`with_ring`] with a submission queue of `sq` entries and a pool of `pool_bufs`
/// buffers to lend (one more is its reserve).
fn with_ring_of<F, Fut>(sq: u32, buffers: u16, pool_bufs: usize, f: F)
where
    F: FnOnce(super::Ring, crate::buf::Pool) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    crate::rt::start(async {
        let config = crate::buf::PoolConfig { capacity: 64, max_bufs: pool_bufs + 1, reserve: 1 };
        let pool = crate::buf::Pool::new(config).unwrap();
        let ring = super::Ring::new(sq, BGID, buffers, usize::from(buffers), pool.clone()).unwrap();
        let driver = crate::rt::spawn({
            let ring = ring.clone();
            async move { ring.run().await }
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), f(ring.clone(), pool.clone()))
            .await
            .expect("test deadline");
        ring.close();
        driver.await.unwrap().unwrap();
        assert_eq!(ring.operations(), 0, "no operation left with the kernel");
        assert_eq!(ring.buffers_available(), usize::from(buffers), "every buffer lent again");
        assert_eq!(pool.stats().in_use, usize::from(buffers), "and only those out of the pool");
    });
}

#[test]
fn a_pty_read_through_the_workers_ring_gets_every_byte_even_out_of_buffers() {
    with_ring(4, |ring, _| async move {
        let (master, slave) = pty_pair();
        let mut read = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        let msg: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
        let mut got = Vec::new();
        let mut held = std::collections::VecDeque::new();
        for (i, chunk) in msg.chunks(500).enumerate() {
            rustix::io::write(&slave, chunk).unwrap();
            while got.len() < (i + 1) * 500 {
                let filled = read.next().await.unwrap().expect("data");
                got.extend_from_slice(filled.as_slice());
                // Hold up to all four buffers (a slow viewer): the kernel runs out,
                // ends the read with ENOBUFS, and it is armed again once one is back.
                held.push_back(filled);
                if held.len() == 4 {
                    held.clear();
                }
            }
        }
        assert_eq!(got, msg);
        assert!(ring.out_of_buffers() > 0, "the read ran out of buffers and was armed again");
        drop(held);
        // Every slave closed: the read ends with EIO, as read(2) does.
        drop(slave);
        let end = read.next().await;
        assert_eq!(end.err().and_then(|e| e.raw_os_error()), Some(libc::EIO));
    });
}

#[test]
fn dropping_a_read_cancels_it_and_its_buffers_come_back() {
    with_ring(8, |ring, _| async move {
        let (master, slave) = pty_pair();
        let read = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        rustix::io::write(&slave, &[b'x'; 300]).unwrap();
        // Let the kernel fill buffers and the driver reap them.
        for _ in 0..20 {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        drop(read);
        // Until its cancellation completes, the dropped read may still take what
        // arrives (and give it back unread): a terminal's reader is dropped only when
        // nothing more is wanted from it. Once it is gone, a new read starts clean.
        while ring.operations() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let mut again = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        rustix::io::write(&slave, b"after").unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"after") {
            got.extend_from_slice(again.next().await.unwrap().unwrap().as_slice());
        }
        drop(again);
        drop(slave);
    });
}

#[test]
fn closing_the_ring_with_reads_armed_waits_for_their_last_completion() {
    with_ring(4, |ring, _| async move {
        let (master, _slave) = pty_pair();
        // Armed, never read from: `with_ring` closes the ring under it.
        let read = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        tokio::task::yield_now().await;
        std::mem::forget(read); // as if its task were gone without dropping it
    });
}

/// Reads until `want` bytes came, returning them.
async fn read_n(read: &mut super::MultiRead, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        got.extend_from_slice(read.next().await.unwrap().expect("data").as_slice());
    }
    got
}

/// Waits until `done` holds (the kernel and the ring's task work on their own time);
/// `with_ring`'s deadline fails a test that waits for what never comes.
async fn until(done: impl Fn() -> bool) {
    while !done() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Lets the kernel and the ring's task run, for checking that something did *not*
/// happen.
async fn settle() {
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[test]
fn a_read_not_asked_for_more_holds_a_few_buffers_then_the_rest_waits_in_the_file() {
    with_ring(16, |ring, _| async move {
        let (master, slave) = pty_pair();
        let mut read = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        rustix::io::write(&slave, &[b'a'; 100]).unwrap();
        assert_eq!(read_n(&mut read, 100).await, [b'a'; 100]);
        // Not asked: each write is a completion the owner does not take, until the
        // ring cancels the read at more than HELD_MAX of them.
        let mut sent = Vec::new();
        for round in 0..3 * super::driver::HELD_MAX as u8 {
            rustix::io::write(&slave, &[round; 50]).unwrap();
            sent.extend_from_slice(&[round; 50]);
            settle().await;
        }
        until(|| ring.operations() == 0).await; // the cancellation landed
        let held = 16 - ring.buffers_available();
        assert!(
            (super::driver::HELD_MAX + 1..=super::driver::HELD_MAX + 2).contains(&held),
            "{held} buffers held for an owner that stopped taking"
        );
        assert_eq!(read_n(&mut read, sent.len()).await, sent, "every byte, in order, once asked again");
        // Stopping and taking again in quick turns loses nothing either.
        for round in 0..20u8 {
            rustix::io::write(&slave, &[round; 50]).unwrap();
            if round % 2 == 0 {
                settle().await;
            }
            assert_eq!(read_n(&mut read, 50).await, [round; 50]);
        }
        drop(read);
        drop(slave);
    });
}

#[test]
fn a_stopped_read_gives_what_it_received_then_ends_leaving_the_rest_in_the_socket() {
    with_ring(8, |ring, _| async move {
        let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut read = ring.recv_multishot(std::os::fd::AsFd::as_fd(&ours)).unwrap();
        std::io::Write::write_all(&mut peer, b"first").unwrap();
        assert_eq!(read_n(&mut read, 5).await, b"first");
        std::io::Write::write_all(&mut peer, b"second").unwrap();
        settle().await;
        read.stop();
        let mut got = Vec::new();
        while let Some(buf) = read.next().await.unwrap() {
            got.extend_from_slice(buf.as_slice());
        }
        assert_eq!(got, b"second", "received before the stop: given, then the end");
        std::io::Write::write_all(&mut peer, b"third").unwrap();
        drop(read);
        until(|| ring.operations() == 0).await;
        let mut rest = [0u8; 5];
        assert_eq!(rustix::io::read(&ours, &mut rest).unwrap(), 5);
        assert_eq!(&rest, b"third", "after the stop, the socket keeps what comes");
    });
}

#[test]
fn a_read_buffer_is_framed_and_shared_in_place_and_lent_again_after_its_last_handle() {
    with_ring(2, |ring, _| async move {
        let (master, slave) = pty_pair();
        let mut read = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        rustix::io::write(&slave, b"output").unwrap();
        let mut buf = read.next().await.unwrap().unwrap();
        assert_eq!(buf.as_slice(), b"output");
        // Pool-shaped: the whole headroom is in front of the data, for a frame's head.
        assert_eq!(buf.headroom(), crate::buf::HEADROOM);
        buf.prepend(&[0x82, 6]).unwrap();
        let frame = buf.freeze();
        let (viewer, scrollback) = (frame.clone(), frame);
        assert_eq!(viewer.as_slice(), b"\x82\x06output");
        until(|| ring.buffers_available() == 1).await; // out while a handle lives
        settle().await;
        assert_eq!(ring.buffers_available(), 1, "out while a handle lives");
        drop(viewer);
        settle().await;
        assert_eq!(ring.buffers_available(), 1, "the scrollback still holds it");
        drop(scrollback);
        until(|| ring.buffers_available() == 2).await; // lent to the kernel again
                                                       // And it is filled again.
        rustix::io::write(&slave, b"again").unwrap();
        let mut got = Vec::new();
        while got.len() < 5 {
            got.extend_from_slice(read.next().await.unwrap().unwrap().as_slice());
        }
        assert_eq!(got, b"again");
        drop(read);
        drop(slave);
    });
}

#[test]
fn the_rings_buffers_are_the_pools_under_its_bound() {
    with_ring(4, |ring, pool| async move {
        // All four lendable buffers are lent: the pool has none left to allocate.
        assert_eq!(ring.buffers_available(), 4);
        assert!(pool.try_alloc().is_none(), "the ring's buffers count against the pool");
        let (master, slave) = pty_pair();
        let mut read = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        rustix::io::write(&slave, b"x").unwrap();
        let buf = read.next().await.unwrap().unwrap();
        settle().await;
        // Out in a handle: still the pool's, and the ring cannot replace it.
        assert_eq!((ring.buffers_available(), pool.stats().in_use), (3, 4));
        drop(buf);
        until(|| ring.buffers_available() == 4).await; // back to the pool, lent again
        assert_eq!(pool.stats().in_use, 4);
        drop(read);
        drop(slave);
    });
}

#[test]
fn try_next_gives_what_was_already_read_and_never_waits() {
    with_ring(8, |ring, _| async move {
        let (master, slave) = pty_pair();
        let mut read = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        assert!(read.try_next().is_none(), "nothing read yet: no wait, no data");
        for piece in [&b"one "[..], b"two ", b"three"] {
            rustix::io::write(&slave, piece).unwrap();
            settle().await; // each its own completion
        }
        let mut got = read.next().await.unwrap().unwrap().as_slice().to_vec();
        while let Some(more) = read.try_next() {
            got.extend_from_slice(more.unwrap().unwrap().as_slice());
        }
        assert_eq!(got, b"one two three");
        assert!(read.try_next().is_none());
        // try_next registered no waker, yet next still wakes on new output.
        rustix::io::write(&slave, b"!").unwrap();
        assert_eq!(read.next().await.unwrap().unwrap().as_slice(), b"!");
        drop(read);
        drop(slave);
    });
}

/// Issue 14's fairness: a socket whose peer floods faster than the ring is restocked
/// takes the whole ring at every arm; another connection's receive, ended for want of
/// a buffer meanwhile, is armed again by the ring as soon as buffers are lent, before
/// the flood's own owner can arm its read again, so it gets its bytes.
#[test]
fn a_connection_gets_its_bytes_while_another_floods_the_ring() {
    with_ring_of(32, 8, 64, |ring, _| async move {
        let pair = || {
            let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
            ours.set_nonblocking(true).unwrap();
            (ours, peer)
        };
        let ((a, mut flood), (b, mut peer_b)) = (pair(), pair());
        let read_a = ring.recv_multishot(std::os::fd::AsFd::as_fd(&a)).unwrap();
        let mut read_b = ring.recv_multishot(std::os::fd::AsFd::as_fd(&b)).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let chunk = [7u8; 4096];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::io::Write::write_all(&mut flood, &chunk);
                }
            }
        });
        // A's owner takes everything as fast as it comes (and so arms its read again
        // as soon as it ran dry), like a connection decoding a ping flood.
        let consumer = crate::rt::spawn(async move {
            let mut read_a = read_a;
            let mut taken = 0usize;
            while let Ok(Some(buf)) = read_a.next().await {
                taken += buf.as_slice().len();
            }
            taken
        });
        settle().await;
        std::io::Write::write_all(&mut peer_b, b"mine").unwrap();
        assert_eq!(read_n(&mut read_b, 4).await, b"mine", "B got its bytes during A's flood");
        assert!(ring.out_of_buffers() > 0, "the flood did run the ring dry");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(b);
        rustix::net::shutdown(&a, rustix::net::Shutdown::Read).unwrap();
        consumer.abort();
        writer.join().unwrap();
    });
}

#[test]
fn trimming_frees_the_queues_of_reads_that_hold_nothing_and_reads_go_on() {
    with_ring(4, |ring, _| async move {
        let (master, slave) = pty_pair();
        let mut read = ring.read_multishot(std::os::fd::AsFd::as_fd(&master)).unwrap();
        rustix::io::write(&slave, b"before").unwrap();
        assert_eq!(read_n(&mut read, 6).await, b"before");
        assert_eq!(ring.trim(), 1, "its queue, allocated by the first completion, is freed");
        assert_eq!(ring.trim(), 0, "nothing left to free");
        rustix::io::write(&slave, b"after").unwrap();
        assert_eq!(read_n(&mut read, 5).await, b"after");
        drop(read);
        drop(slave);
    });
}

/// More reads armed in one round than the submission queue holds: the queue is
/// submitted to make room, and every read is armed and delivers.
#[test]
fn more_reads_armed_at_once_than_the_submission_queue_holds_all_deliver() {
    with_ring_of(2, 16, 16, |ring, _| async move {
        let pairs: Vec<_> = (0..6).map(|_| pty_pair()).collect();
        let mut reads: Vec<_> =
            pairs.iter().map(|(m, _)| ring.read_multishot(std::os::fd::AsFd::as_fd(m)).unwrap()).collect();
        for (i, (_, slave)) in pairs.iter().enumerate() {
            rustix::io::write(slave, format!("t{i}").as_bytes()).unwrap();
        }
        for (i, read) in reads.iter_mut().enumerate() {
            assert_eq!(read_n(read, 2).await, format!("t{i}").as_bytes());
        }
        drop(reads);
        drop(pairs);
    });
}
