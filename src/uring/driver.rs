//! A worker's own io_uring ring, beside tokio-uring's: multishot reads into one
//! provided buffer group, driven from the worker's event loop.
//!
//! # How it is driven
//!
//! One task per worker runs [`Ring::run`]. The ring's file descriptor is registered
//! with the worker's reactor: it is readable when completions are waiting, and the task
//! reaps them all and wakes their owners. Operations queue their submissions and wake
//! the same task, which submits everything queued in one `io_uring_enter`. The
//! runtime runs woken tasks in order, so every task that ran before it in this turn of
//! the loop has queued its work by then: one system call per turn, not one per
//! operation.
//!
//! # Buffers
//!
//! The buffers are the worker's pool's ([`Pool::lend`]): the ring keeps up to its
//! target lent to the kernel, topping up from the pool at every round of the driving
//! task. A completion's buffer comes out as a [`BufMut`] holding the bytes the kernel
//! wrote, framed, frozen and shared like any pool buffer, and its last handle gives it
//! back to the pool. The pool's bound is the ring's: a worker whose buffers are all
//! in scrollbacks and queues stops lending, as it stops allocating, and the runtime's
//! reclaim applies to both. A read that meets an empty ring (`ENOBUFS`: the kernel
//! ended it, nothing was lost) is armed again by the ring itself, at the first round
//! that has buffers again, right after they are lent and before anything else is
//! submitted: a connection that floods the ring between two rounds cannot keep the
//! others from their next buffer, since their reads are in the kernel before its own
//! owner has even run.
//!
//! # Flow control: an owner that stops taking
//!
//! An owner holds a read back (a terminal whose clients are behind, a connection whose
//! input waits for room) simply by not asking for more. The kernel goes on filling
//! buffers for it until the read holds more than [`HELD_MAX`] completions its owner
//! has not taken (a socket: [`HELD_MAX_SOCKET`]); then the ring cancels it (`IORING_OP_ASYNC_CANCEL`): no more buffers go to
//! it and the bytes wait in the file or the socket. Once the owner has taken all it
//! holds, the next ask arms it again. A short hold costs nothing; a long one, one
//! cancellation and one new submission; and nothing is lost either way.
//!
//! # Cancellation and shutdown
//!
//! [`MultiRead::stop`] ends a read keeping every byte: it is cancelled, and what
//! arrived before the cancellation landed is still given, in order, before the end
//! (a connection handed to another core takes those bytes with it).
//! Dropping a `MultiRead` cancels it too, but completions that still arrive for it give
//! their buffers straight back, unread: drop a read only when nothing more is wanted
//! from its file. Its entry is freed at its last completion (the one without
//! `IORING_CQE_F_MORE`). [`Ring::close`] cancels everything and `run` returns only
//! once no operation is left: the kernel can no longer write into a buffer, and the
//! buffer ring is unregistered before its memory is freed.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use slab::Slab;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use super::BufRing;
use crate::buf::{BufMut, Pool, RingSlot};

/// The `user_data` of cancellations: their own completions are not an operation's.
const CANCEL: u64 = u64::MAX;

/// How many completions a read of a file (a terminal) may hold that its owner has not
/// taken, beyond the one that woke it, before the ring cancels it (see the module
/// docs): the kernel's lead on a terminal whose clients are behind.
pub const HELD_MAX: usize = 4;

/// The same for a socket: one. A connection that is not read (its input waits for room,
/// or its peer does not read what it asked for) holds two pool buffers at most; the
/// rest waits in the socket, where the epoll path leaves it too.
pub const HELD_MAX_SOCKET: usize = 1;

/// What a multishot read reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `IORING_OP_READ_MULTISHOT`: a PTY master (any pollable non-blocking file).
    File,
    /// `IORING_OP_RECV` multishot: a socket.
    Socket,
}

/// One completion of an operation, as the kernel posted it, with the buffer it
/// named (ours from then on).
struct Completion {
    result: i32,
    buf: Option<RingSlot>,
    more: bool,
}

struct Op {
    /// What it reads, for arming it again.
    fd: RawFd,
    source: Source,
    done: VecDeque<Completion>,
    waker: Option<Waker>,
    /// Its `MultiRead` was dropped: buffers go straight back, the entry goes at the
    /// last completion.
    orphan: bool,
    /// The kernel holds the operation (submitted, last completion not seen).
    armed: bool,
    /// Cancelled by the ring: its owner had not taken `held_max()` completions.
    capped: bool,
    /// Ended by the kernel for want of a buffer: in `Inner::starved`, armed again by
    /// the ring once it has buffers.
    starved: bool,
    /// Ended by the kernel (cancelled for holding too much, out of buffers while
    /// holding some, or by itself) with completions its owner has not taken: armed
    /// again by the owner once it has taken them all.
    needs_arm: bool,
    /// Its owner asked for it to be armed: in `Inner::to_arm`, armed at the ring's
    /// next round, after the reads that ran out of buffers.
    arm_queued: bool,
}

impl Op {
    /// `HELD_MAX` or `HELD_MAX_SOCKET`.
    fn held_max(&self) -> usize {
        match self.source {
            Source::File => HELD_MAX,
            Source::Socket => HELD_MAX_SOCKET,
        }
    }

    fn new(fd: RawFd, source: Source) -> Op {
        Op {
            fd,
            source,
            done: VecDeque::new(),
            waker: None,
            orphan: false,
            armed: false,
            capped: false,
            starved: false,
            needs_arm: false,
            arm_queued: false,
        }
    }
}

struct Inner {
    uring: RefCell<IoUring>,
    bufs: RefCell<BufRing>,
    /// The pool the buffers come from and go back to.
    pool: Pool,
    /// How many buffers to keep lent to the kernel.
    target: usize,
    /// The buffers the kernel holds, by ring id (`None`: a free id).
    lent: RefCell<Vec<Option<RingSlot>>>,
    /// Ring ids not lent.
    free_ids: RefCell<Vec<u16>>,
    ops: RefCell<Slab<Op>>,
    /// Submissions queued since the last `io_uring_enter`.
    queued: Cell<bool>,
    /// Wakes the driving task to submit (or, once closing, to check for the end).
    flush: Notify,
    /// `reap`'s list of completions, kept between rounds (no allocation per wake-up).
    reaped: RefCell<Vec<(u64, Completion)>>,
    /// Reads the kernel ended for want of a buffer, oldest first: armed again by `run`
    /// as soon as buffers are lent.
    starved: RefCell<VecDeque<usize>>,
    /// Reads their owners asked to arm (new, or again after taking what they held),
    /// armed by `run` after the starved ones.
    to_arm: RefCell<VecDeque<usize>>,
    /// Submissions that found the queue full and its submission failing (the
    /// completion queue full): pushed first at the next round, never dropped.
    overflow: RefCell<VecDeque<squeue::Entry>>,
    closing: Cell<bool>,
    /// Reads the kernel ended for want of a buffer (each armed again later).
    out_of_buffers: Cell<u64>,
}

/// A worker's ring: see the module docs. Cheap to clone (one `Rc`).
#[derive(Clone)]
pub struct Ring {
    inner: Rc<Inner>,
}

struct RingFd(RawFd);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Ring {
    /// A ring of `sq_entries` submissions with a buffer group `bgid` of `entries`
    /// ids (a power of two), of which it keeps up to `target` lent to the kernel, taken
    /// from `pool`.
    pub fn new(sq_entries: u32, bgid: u16, entries: u16, target: usize, pool: Pool) -> io::Result<Ring> {
        let uring = IoUring::new(sq_entries)?;
        let bufs = BufRing::new(&uring.submitter(), bgid, entries)?;
        let inner = Rc::new(Inner {
            uring: RefCell::new(uring),
            bufs: RefCell::new(bufs),
            pool,
            target: target.min(usize::from(entries)),
            lent: RefCell::new((0..entries).map(|_| None).collect()),
            free_ids: RefCell::new((0..entries).rev().collect()),
            ops: RefCell::new(Slab::new()),
            queued: Cell::new(false),
            flush: Notify::new(),
            reaped: RefCell::new(Vec::new()),
            starved: RefCell::new(VecDeque::new()),
            to_arm: RefCell::new(VecDeque::new()),
            overflow: RefCell::new(VecDeque::new()),
            closing: Cell::new(false),
            out_of_buffers: Cell::new(0),
        });
        inner.restock();
        Ok(Ring { inner })
    }

    /// Buffers the kernel holds now.
    pub fn buffers_available(&self) -> usize {
        self.inner.bufs.borrow().available()
    }

    /// The ring has no buffer lent and the pool none to lend: reads wait until the
    /// runtime frees some (scrollback reclaim, clients catching up).
    pub fn starved(&self) -> bool {
        self.buffers_available() == 0 && !self.inner.pool.has_room()
    }

    /// Operations the kernel holds (armed, or cancelled and not yet completed).
    pub fn operations(&self) -> usize {
        self.inner.armed()
    }

    /// Frees the completion queues of reads that hold nothing (an idle terminal or
    /// connection keeps no allocation for them); the worker calls it on its trim tick.
    /// Returns how many it freed.
    pub fn trim(&self) -> usize {
        let mut freed = 0;
        for (_, op) in self.inner.ops.borrow_mut().iter_mut() {
            if op.done.is_empty() && op.done.capacity() > 0 {
                op.done = VecDeque::new();
                freed += 1;
            }
        }
        self.inner.reaped.borrow_mut().shrink_to(64);
        freed
    }

    /// How many times a read met an empty buffer ring (`ENOBUFS`) and waited for a
    /// buffer to come back: a ring too small for its terminals' output.
    pub fn out_of_buffers(&self) -> u64 {
        self.inner.out_of_buffers.get()
    }

    /// Arms a multishot read of `fd` (a PTY master, or any pollable non-blocking file)
    /// into the ring's buffers. The fd must stay open until the `MultiRead` is dropped.
    pub fn read_multishot(&self, fd: BorrowedFd<'_>) -> io::Result<MultiRead> {
        self.multishot(fd, Source::File)
    }

    /// Arms a multishot receive of the socket `fd` into the ring's buffers. The fd
    /// must stay open until the `MultiRead` is dropped.
    pub fn recv_multishot(&self, fd: BorrowedFd<'_>) -> io::Result<MultiRead> {
        self.multishot(fd, Source::Socket)
    }

    fn multishot(&self, fd: BorrowedFd<'_>, source: Source) -> io::Result<MultiRead> {
        if self.inner.closing.get() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the worker's ring is closing"));
        }
        let key = self.inner.ops.borrow_mut().insert(Op::new(fd.as_raw_fd(), source));
        let mut read = MultiRead { ring: self.clone(), key, ended: false, stopping: false };
        read.arm();
        Ok(read)
    }

    /// Cancels every operation; `run` returns once all have completed.
    pub fn close(&self) {
        self.inner.closing.set(true);
        let keys: Vec<usize> =
            self.inner.ops.borrow().iter().filter(|(_, op)| op.armed).map(|(k, _)| k).collect();
        for key in keys {
            self.inner.push(opcode::AsyncCancel::new(key as u64).build().user_data(CANCEL));
        }
        // Reads waiting for buffers are not armed again: their owners see the end.
        let mut starved: Vec<usize> = self.inner.starved.borrow_mut().drain(..).collect();
        starved.extend(self.inner.to_arm.borrow_mut().drain(..));
        let mut ops = self.inner.ops.borrow_mut();
        for key in starved {
            if let Some(op) = ops.get_mut(key) {
                op.starved = false;
                op.arm_queued = false;
                if let Some(w) = op.waker.take() {
                    w.wake();
                }
            }
        }
        drop(ops);
        self.inner.flush.notify_one();
    }

    /// The driving task: reaps completions when the ring's fd is readable, submits what
    /// was queued when woken. Returns after `close`, once no operation is left, with
    /// the buffer group unregistered.
    pub async fn run(&self) -> io::Result<()> {
        let inner = &self.inner;
        let raw = inner.uring.borrow().as_raw_fd();
        // SAFETY: the ring's fd stays open as long as `inner.uring`, which this `Rc`
        // keeps beyond `fd`'s life (a local of this function): the registration is
        // dropped before the fd could close, and it always names the same fd.
        let fd = unsafe { AsyncFd::register_with_interest(RingFd(raw), Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        loop {
            inner.restock();
            inner.arm_starved();
            inner.arm_requested();
            inner.submit()?;
            if inner.closing.get() && inner.armed() == 0 {
                break;
            }
            tokio::select! {
                ready = fd.readable() => {
                    let mut ready = ready?;
                    inner.reap();
                    ready.clear_ready();
                    // A completion posted between the reap and the clear is not lost:
                    // clear_ready keeps readiness that arrived after the guard was
                    // taken; reaping once more covers the rest.
                    inner.reap();
                }
                _ = inner.flush.notified() => {}
                // Short of the target because the pool was at its bound: a buffer is free.
                _ = poll_fn(|cx| inner.pool.poll_available(cx)), if inner.short() => {}
            }
        }
        let uring = inner.uring.borrow();
        inner.bufs.borrow_mut().unregister(&uring.submitter())
    }
}

impl Inner {
    /// Submits the read `key` (multishot, into the buffer group).
    fn arm(&self, key: usize) {
        let entry = {
            let mut ops = self.ops.borrow_mut();
            let Some(op) = ops.get_mut(key) else { return };
            op.armed = true;
            op.capped = false;
            op.starved = false;
            op.needs_arm = false;
            op.arm_queued = false;
            let bgid = self.bufs.borrow().bgid();
            let fd = types::Fd(op.fd);
            match op.source {
                Source::File => opcode::ReadMulti::new(fd, 0, bgid).build(),
                Source::Socket => opcode::RecvMulti::new(fd, bgid).build(),
            }
        };
        self.push(entry.user_data(key as u64));
    }

    /// Arms again the reads that ran out of buffers, oldest first, while the ring has
    /// buffers (module docs: they go before anything their owners queue).
    fn arm_starved(&self) {
        if !self.closing.get() && self.bufs.borrow().available() > 0 {
            self.arm_listed(&self.starved, |op| op.starved);
        }
    }

    /// Arms the reads their owners asked for since the last round.
    fn arm_requested(&self) {
        self.arm_listed(&self.to_arm, |op| op.arm_queued);
    }

    /// Arms the reads in `list`, in order, that are still `listed` (a read stopped or
    /// dropped meanwhile is skipped); empties the list.
    fn arm_listed(&self, list: &RefCell<VecDeque<usize>>, listed: impl Fn(&Op) -> bool) {
        loop {
            let Some(key) = list.borrow_mut().pop_front() else { break };
            if self.ops.borrow().get(key).is_some_and(|op| listed(op) && !op.orphan) {
                self.arm(key);
            }
        }
    }

    fn armed(&self) -> usize {
        self.ops.borrow().iter().filter(|(_, op)| op.armed).count()
    }

    /// Queues `entry`; the driving task submits it. A full submission queue is
    /// submitted at once to make room; if that fails too (the completion queue is
    /// full), the entry waits in `overflow` for the next round: none is ever dropped.
    fn push(&self, entry: squeue::Entry) {
        if !self.overflow.borrow().is_empty() || !self.try_push(&entry) {
            self.overflow.borrow_mut().push_back(entry);
        }
        self.queued.set(true);
        self.flush.notify_one();
    }

    /// Puts `entry` in the submission queue, submitting once to make room; false if
    /// it is still full.
    fn try_push(&self, entry: &squeue::Entry) -> bool {
        let mut uring = self.uring.borrow_mut();
        // SAFETY: the entries pushed here are multishot reads into the registered
        // buffer group (the kernel writes only into ring buffers, which live as long
        // as the ring: `run` unregisters them only after the last operation completed)
        // and cancellations, which point at no memory.
        if unsafe { uring.submission().push(entry) }.is_ok() {
            return true;
        }
        // SAFETY: as above.
        uring.submit().is_ok() && unsafe { uring.submission().push(entry) }.is_ok()
    }

    fn submit(&self) -> io::Result<()> {
        loop {
            let Some(entry) = self.overflow.borrow_mut().pop_front() else { break };
            if !self.try_push(&entry) {
                self.overflow.borrow_mut().push_front(entry);
                break;
            }
        }
        if self.queued.replace(false) {
            match self.uring.borrow().submit() {
                Ok(_) => {}
                // The completion queue is full: reap, and the next round submits.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    self.queued.set(true);
                    self.flush.notify_one();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes every completion off the queue and hands it to its operation.
    fn reap(&self) {
        let mut done = std::mem::take(&mut *self.reaped.borrow_mut());
        {
            let mut uring = self.uring.borrow_mut();
            let mut bufs = self.bufs.borrow_mut();
            let mut lent = self.lent.borrow_mut();
            let mut free_ids = self.free_ids.borrow_mut();
            loop {
                for c in uring.completion() {
                    let flags = c.flags();
                    // The buffer is ours from its completion on, whoever ends up with it.
                    let buf = cqueue::buffer_select(flags).and_then(|id| match bufs.take(id) {
                        Ok(()) => {
                            free_ids.push(id);
                            lent.get_mut(usize::from(id)).and_then(Option::take)
                        }
                        Err(e) => {
                            error!("io_uring completion: {e}");
                            None
                        }
                    });
                    done.push((
                        c.user_data(),
                        Completion { result: c.result(), buf, more: cqueue::more(flags) },
                    ));
                }
                // More completions than the queue holds came since the last reap: the
                // kernel kept the rest (no drop) and moves them in only on an enter.
                if !uring.submission().cq_overflow() {
                    break;
                }
                if let Err(e) = uring.submit() {
                    error!("io_uring: flushing completions the queue could not hold failed: {e}");
                    break;
                }
            }
        }
        for (user_data, c) in done.drain(..) {
            if user_data == CANCEL {
                continue;
            }
            let key = user_data as usize;
            let mut ops = self.ops.borrow_mut();
            let Some(op) = ops.get_mut(key) else { continue };
            if !c.more {
                op.armed = false;
            }
            if c.result == -libc::ENOBUFS && !c.more && !op.orphan {
                // Ended for want of a buffer, nothing lost: the ring arms it again (or,
                // closing, its owner sees the end).
                drop(c.buf);
                if self.closing.get() {
                    if let Some(w) = op.waker.take() {
                        w.wake();
                    }
                } else if !op.done.is_empty() {
                    // Its owner has not taken what it holds: armed again when it has
                    // (a flood takes no more of the ring than its owner keeps up with).
                    self.out_of_buffers.set(self.out_of_buffers.get() + 1);
                    op.needs_arm = true;
                } else if !op.starved {
                    self.out_of_buffers.set(self.out_of_buffers.get() + 1);
                    op.starved = true;
                    self.starved.borrow_mut().push_back(key);
                }
                continue;
            }
            if op.orphan {
                drop(c.buf); // back to the pool, unread
                if !op.armed {
                    ops.remove(key);
                }
                continue;
            }
            op.done.push_back(c);
            if let Some(w) = op.waker.take() {
                w.wake();
            } else if op.armed && !op.capped && op.done.len() > op.held_max() {
                // Its owner stopped taking: the rest waits in the file (module docs).
                op.capped = true;
                self.push(opcode::AsyncCancel::new(user_data).build().user_data(CANCEL));
            }
        }
        *self.reaped.borrow_mut() = done;
        if self.closing.get() {
            self.flush.notify_one();
        }
    }

    /// Lends buffers from the pool until the target is lent (or the pool is at its
    /// bound), in one tail update.
    fn restock(&self) {
        let mut free_ids = self.free_ids.borrow_mut();
        let mut lent = self.lent.borrow_mut();
        let mut bufs = self.bufs.borrow_mut();
        let mut added = false;
        while lent.len() - free_ids.len() < self.target {
            let Some(id) = free_ids.pop() else { break };
            let Some(mut slot) = self.pool.lend() else {
                free_ids.push(id);
                break;
            };
            let area = slot.data_area();
            let (ptr, len) = (area.as_mut_ptr(), area.len() as u32);
            // SAFETY: the slot is kept in `lent` until a completion names its id, and
            // nothing else reaches its memory meanwhile (it is in no handle: `lend`
            // made it from a free slot, and `lent` hands it out only on that
            // completion). It is freed only with `Inner`, after the group is
            // unregistered or the kernel gave up every operation (`Drop`).
            match unsafe { bufs.give(id, ptr, len) } {
                Ok(()) => {
                    lent[usize::from(id)] = Some(slot);
                    added = true;
                }
                Err(e) => {
                    error!("io_uring buffer: {e}");
                    free_ids.push(id);
                }
            }
        }
        if added {
            bufs.publish();
        }
    }

    /// Fewer buffers lent than the target.
    fn short(&self) -> bool {
        let lent = self.lent.borrow().len() - self.free_ids.borrow().len();
        lent < self.target
    }
}

/// A multishot read: see the module docs.
pub struct MultiRead {
    ring: Ring,
    key: usize,
    /// The end of the file (0) or an error was returned, or `stop` completed: nothing
    /// more comes.
    ended: bool,
    /// `stop` was called: the cancellation's completion ends the read.
    stopping: bool,
}

impl MultiRead {
    /// Asks the ring to arm the read at its next round (after the reads that ran out
    /// of buffers: module docs), unless the ring is closing (then the read has ended).
    fn arm(&mut self) {
        let inner = &self.ring.inner;
        if inner.closing.get() {
            self.ended = true;
            return;
        }
        if let Some(op) = inner.ops.borrow_mut().get_mut(self.key) {
            op.needs_arm = false;
            op.arm_queued = true;
        }
        inner.to_arm.borrow_mut().push_back(self.key);
        inner.flush.notify_one();
    }

    fn set_needs_arm(&self) {
        if let Some(op) = self.ring.inner.ops.borrow_mut().get_mut(self.key) {
            op.needs_arm = true;
        }
    }

    /// Completions received and not taken yet.
    pub fn pending(&self) -> usize {
        self.ring.inner.ops.borrow().get(self.key).map_or(0, |op| op.done.len())
    }

    fn is_armed(&self) -> bool {
        self.ring.inner.ops.borrow().get(self.key).is_some_and(|op| op.armed)
    }

    /// Ends the read without losing a byte: it is cancelled, `next` gives what arrived
    /// before the cancellation landed, then `None`. What was not received stays in
    /// the file or socket for whoever reads it next.
    pub fn stop(&mut self) {
        if self.stopping || self.ended {
            return;
        }
        self.stopping = true;
        if self.is_armed() {
            self.ring.inner.push(opcode::AsyncCancel::new(self.key as u64).build().user_data(CANCEL));
        } else if let Some(op) = self.ring.inner.ops.borrow_mut().get_mut(self.key) {
            op.starved = false; // not armed again (its key is skipped in the lists)
            op.needs_arm = false;
            op.arm_queued = false;
        }
    }

    /// The next buffer of data; `Ok(None)` at the end of the file, after `stop`, or
    /// once the ring is closing. A terminal whose every slave is closed ends with
    /// `EIO`, returned as the error it is.
    pub async fn next(&mut self) -> io::Result<Option<BufMut>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// [`next`](Self::next) as a poll: a session task keeps no future for it (a
    /// `select!` branch of `poll_fn` over this is a few bytes of every idle session).
    ///
    /// It takes part in tokio's cooperative budget, as a readiness read does: an owner
    /// whose data is always there (a flood) still gives the core's other tasks their
    /// turn every so many reads.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<BufMut>>> {
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        let got = self.poll_next_with(Some(cx.waker()));
        if got.is_ready() {
            coop.made_progress();
        }
        got
    }

    /// What `next` would give now, if it would not wait: the completions already
    /// reaped (a flood's pieces, to fill one buffer before it is framed).
    pub fn try_next(&mut self) -> Option<io::Result<Option<BufMut>>> {
        match self.poll_next_with(None) {
            Poll::Ready(got) => Some(got),
            Poll::Pending => None,
        }
    }

    /// `poll_next`, registering `waker` (if any) where it would wait.
    fn poll_next_with(&mut self, waker: Option<&Waker>) -> Poll<io::Result<Option<BufMut>>> {
        loop {
            if self.ended {
                return Poll::Ready(Ok(None));
            }
            let c = {
                let mut ops = self.ring.inner.ops.borrow_mut();
                let op = &mut ops[self.key];
                op.done.pop_front()
            };
            let Some(c) = c else {
                let (armed, starved, needs_arm) = {
                    let ops = self.ring.inner.ops.borrow();
                    let op = &ops[self.key];
                    (op.armed || op.arm_queued, op.starved, op.needs_arm)
                };
                if !armed && !starved && (self.stopping || self.ring.inner.closing.get()) {
                    // Stopped, or the ring closed, and everything received was given.
                    self.ended = true;
                    continue;
                }
                if needs_arm {
                    // Everything it held was taken: arm it again.
                    self.arm();
                    continue;
                }
                if let Some(waker) = waker {
                    self.ring.inner.ops.borrow_mut()[self.key].waker = Some(waker.clone());
                }
                return Poll::Pending;
            };
            if c.result == -libc::ECANCELED {
                // Our cancellation landed: `stop`, the ring's close, or the cap on what
                // an owner that stopped taking may hold.
                if self.ring.inner.closing.get() || self.stopping {
                    self.ended = true;
                } else {
                    self.set_needs_arm();
                }
                continue;
            }
            if c.result < 0 {
                self.ended = true;
                drop(c.buf); // back to the pool
                return Poll::Ready(Err(io::Error::from_raw_os_error(-c.result)));
            }
            let filled = c.buf.map(|slot| slot.filled(c.result.max(0) as usize));
            if c.result == 0 || filled.is_none() {
                // The end of the file (a buffer with it, if any, goes back on drop).
                self.ended = true;
                return Poll::Ready(Ok(None));
            }
            if !c.more && !self.is_armed() {
                // The kernel ended the multishot read by itself (not our cancellation,
                // whose completion comes after): arm it again once this is taken.
                self.set_needs_arm();
            }
            return Poll::Ready(Ok(filled));
        }
    }
}

impl Drop for MultiRead {
    fn drop(&mut self) {
        let inner = &self.ring.inner;
        let mut ops = inner.ops.borrow_mut();
        let Some(op) = ops.get_mut(self.key) else { return };
        // Completions already reaped hold buffers nobody will take: back to the pool.
        op.done.clear();
        if op.armed {
            op.orphan = true;
            drop(ops);
            inner.push(opcode::AsyncCancel::new(self.key as u64).build().user_data(CANCEL));
        } else {
            ops.remove(self.key);
            drop(ops);
        }
    }
}

impl Drop for Inner {
    /// Normally `run` has ended every operation and unregistered the group. If it did
    /// not (its task was dropped first, on a panic), the kernel may still write into
    /// lent buffers: cancel everything and wait for the last completion here, then
    /// unregister, before the buffers' memory is freed with `self`.
    fn drop(&mut self) {
        let uring = self.uring.get_mut();
        let ops = self.ops.get_mut();
        // Reads whose submission never left `overflow` are not the kernel's.
        let unsent: Vec<u64> = self.overflow.get_mut().drain(..).map(|e| e.get_user_data()).collect();
        let mut armed: Vec<usize> = ops
            .iter()
            .filter(|(key, op)| op.armed && !unsent.contains(&(*key as u64)))
            .map(|(k, _)| k)
            .collect();
        for &key in &armed {
            // SAFETY: a cancellation points at no memory.
            let _ = unsafe {
                uring.submission().push(&opcode::AsyncCancel::new(key as u64).build().user_data(CANCEL))
            };
        }
        let mut rounds = 0;
        while !armed.is_empty() && rounds < 1000 {
            if uring.submit_and_wait(1).is_err() {
                break;
            }
            for c in uring.completion() {
                if c.user_data() != CANCEL && !cqueue::more(c.flags()) {
                    armed.retain(|&k| k as u64 != c.user_data());
                }
            }
            rounds += 1;
        }
        if !armed.is_empty() {
            // The kernel did not give them up: leak the buffers rather than free memory
            // it may still write into.
            error!("io_uring: {} reads not cancelled at shutdown; their buffers are leaked", armed.len());
            std::mem::forget(std::mem::take(self.lent.get_mut()));
            return;
        }
        let _ = self.bufs.get_mut().unregister(&uring.submitter());
    }
}
