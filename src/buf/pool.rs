//! The pool itself: configuration, the slab of slots, leasing and recycling, stats.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::mem;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::handle::{Buf, BufMut};
use super::stock::Stock;

/// Bytes kept free in front of the data of every buffer, for prepends only.
///
/// 10 is the largest header of a server-to-client WebSocket frame (RFC 6455 §5.2:
/// 2 bytes + an 8-byte extended length; the server never masks), +1 for ttyd's
/// one-byte message-type prefix (`'0'` output), which goes in front of the payload
/// and so is prepended *before* the header. No padding for alignment: the payload
/// is bytes that only the kernel copies, and nothing reads it in wider words.
pub const HEADROOM: usize = MAX_FRAME_HEADER + 1;

/// The largest server WebSocket frame header (RFC 6455 §5.2), in bytes.
pub const MAX_FRAME_HEADER: usize = 10;

/// Default data capacity of a buffer: headroom and data together fill exactly
/// 16 KiB, so each buffer is one 16 KiB allocation. (16 KiB of data + 11 would fall
/// into the allocator's next size class, 20 KiB with mimalloc: 25 % wasted per
/// buffer. A PTY read returns at most ~4 KiB anyway: the tty layer's buffer.)
pub const DEFAULT_CAPACITY: usize = 16 * 1024 - HEADROOM;

/// Default bound on buffers per pool: 64 MiB per core at the default size.
pub const DEFAULT_MAX_BUFS: usize = 4096;

/// Default number of buffers that only [`Pool::try_alloc_reserved`] may take.
pub const DEFAULT_RESERVE: usize = 64;

/// How big a buffer may be: io_uring takes lengths as `u32` (tokio-uring casts).
const MAX_MEM: usize = u32::MAX as usize;

/// A buffer's index in its pool's slab: stable from allocation until trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(usize);

impl BufId {
    /// The id of every [`Pool::alloc_exact`] buffer: it has no slab entry.
    pub const UNPOOLED: BufId = BufId(usize::MAX);

    /// The slab index, for logs and debugging.
    pub fn index(self) -> usize {
        self.0
    }
}

/// How a [`Pool`] is sized; checked by [`Pool::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Data bytes per buffer, after the [`HEADROOM`].
    pub capacity: usize,
    /// Most buffers the pool will ever hold (in use + free): memory is bounded by
    /// `max_bufs * mem_size`.
    pub max_bufs: usize,
    /// Buffers kept back for [`Pool::try_alloc_reserved`]; `< max_bufs`.
    pub reserve: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig { capacity: DEFAULT_CAPACITY, max_bufs: DEFAULT_MAX_BUFS, reserve: DEFAULT_RESERVE }
    }
}

/// Why a [`PoolConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `capacity` is 0.
    ZeroCapacity,
    /// `capacity + HEADROOM` does not fit an io_uring length (`u32`).
    CapacityTooLarge,
    /// `max_bufs` is 0.
    ZeroBuffers,
    /// `reserve >= max_bufs`: `try_alloc` could never succeed.
    ReserveTooLarge,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroCapacity => "buffer capacity must be at least 1 byte",
            ConfigError::CapacityTooLarge => "buffer capacity must be below 4 GiB",
            ConfigError::ZeroBuffers => "the pool must allow at least one buffer",
            ConfigError::ReserveTooLarge => "the reserve must be smaller than the pool",
        })
    }
}

impl std::error::Error for ConfigError {}

/// A snapshot of a pool's accounting, from [`Pool::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Buffers lent out: held by a handle.
    pub in_use: usize,
    /// Buffers allocated and idle, ready for reuse.
    pub free: usize,
    /// `in_use + free`: buffers whose memory the pool accounts for.
    pub allocated: usize,
    /// The most buffers ever in use at once.
    pub high_water: usize,
    /// Memory held, `allocated * mem_size` (not payload bytes).
    pub bytes_held: usize,
    /// Times [`Pool::try_alloc`] returned `None` (backpressure).
    pub alloc_failures: u64,
    /// Times [`Pool::try_alloc_reserved`] returned `None`: the reserve is too small
    /// for the reads that were decided on. Should stay 0.
    pub reserve_failures: u64,
    /// Buffers obtained from the allocator (growth); every other allocation reused one.
    pub fresh_allocs: u64,
    /// Buffers given back to the allocator by [`Pool::trim`].
    pub trimmed: u64,
}

/// A per-core pool of fixed-size buffers with headroom. Cloning shares the pool.
///
/// `!Send`: one pool per worker thread. See the [module docs](super) for the contract.
#[derive(Clone)]
pub struct Pool {
    inner: Rc<PoolInner>,
}

struct PoolInner {
    capacity: usize,
    max_bufs: usize,
    reserve: usize,
    state: RefCell<State>,
}

struct State {
    /// One entry per allocated buffer, keyed by its [`BufId`]. The entry holds the
    /// slot (`Some`) exactly while the buffer is free; while lent out it is `None`
    /// and the handles own the slot, so the id cannot be handed out twice.
    slots: Slab<Option<Rc<Slot>>>,
    /// Ids of the free buffers, trimmed by use.
    free: Stock<BufId>,
    /// Invariant: `in_use + free.len() == slots.len() <= max_bufs`.
    in_use: usize,
    high_water: usize,
    alloc_failures: u64,
    reserve_failures: u64,
    fresh_allocs: u64,
    trimmed: u64,
    /// Tasks waiting in [`Pool::poll_available`].
    waiters: Vec<Waker>,
}

/// One buffer's memory and identity. Shared by its handles through an `Rc`.
pub(super) struct Slot {
    id: BufId,
    /// Weak: a free slot sits inside its pool, so a strong link would be a cycle.
    pool: Weak<PoolInner>,
    /// `HEADROOM + capacity` bytes, zeroed once at allocation. The heap block never
    /// moves or changes size; it is freed only with the slot, i.e. after the last
    /// `Rc<Slot>` (every handle, every in-flight op) is gone.
    mem: Box<[u8]>,
}

/// A pool buffer lent to the kernel (an io_uring provided buffer ring), outside any
/// handle: it counts as in use, and while the ring holds it the kernel may write into
/// its data area. It becomes a [`BufMut`] once a completion says how much was written
/// ([`RingSlot::filled`]); framed, frozen and shared like any buffer, it comes back to
/// the pool when its last handle drops, or when the `RingSlot` itself is dropped.
pub struct RingSlot(Option<Rc<Slot>>);

impl RingSlot {
    /// The data area (after the headroom) for the kernel to write into.
    pub fn data_area(&mut self) -> &mut [u8] {
        match self.0.as_mut().and_then(Rc::get_mut) {
            Some(slot) => &mut slot.mem[HEADROOM..],
            // A RingSlot is made from a fresh lease and never cloned: unreachable, but
            // an empty area lends the kernel nothing rather than panicking.
            None => &mut [],
        }
    }

    /// The kernel wrote `len` bytes into the data area: they are the content of the
    /// returned buffer (at most its capacity).
    pub fn filled(mut self, len: usize) -> BufMut {
        let slot = self.0.take().expect("a RingSlot holds its slot until filled or dropped");
        let end = (HEADROOM + len).min(slot.mem.len());
        BufMut::with_content(Lease(slot), end)
    }
}

impl Drop for RingSlot {
    fn drop(&mut self) {
        // Back to the pool, as a handle's drop would.
        if let Some(slot) = self.0.take() {
            drop(Lease(slot));
        }
    }
}

/// A counted claim on a slot. Handles ([`BufMut`], [`Buf`](super::Buf)) hold one;
/// the last to drop gives the slot back to its pool (or frees it if the pool is gone).
#[derive(Clone)]
pub(super) struct Lease(Rc<Slot>);

impl Lease {
    pub(super) fn id(&self) -> BufId {
        self.0.id
    }

    pub(super) fn mem(&self) -> &[u8] {
        &self.0.mem
    }

    /// Writable memory. Only a [`BufMut`] calls this, and its lease is the only
    /// one: a `BufMut` is never cloned, and freezing gives the lease away.
    pub(super) fn mem_mut(&mut self) -> &mut [u8] {
        let slot = Rc::get_mut(&mut self.0).expect("a BufMut's lease is unique");
        &mut slot.mem
    }

    /// The memory this buffer costs, whatever its payload.
    pub(super) fn mem_size(&self) -> usize {
        mem_size(self.0.mem.len())
    }

    pub(super) fn same_slot(&self, other: &Lease) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if Rc::strong_count(&self.0) != 1 {
            return;
        }
        // The last claim: the slot goes back to the pool while we still hold it.
        // If the pool is gone, our `Rc` frees the slot when this drop returns.
        let Some(pool) = self.0.pool.upgrade() else {
            return;
        };
        let woken = pool.give_back(Rc::clone(&self.0));
        woken.into_iter().for_each(Waker::wake);
    }
}

/// Memory cost of one buffer with `mem_len` bytes: its block plus the `Rc<Slot>`
/// (two counts and the slot). Allocator rounding is not counted.
fn mem_size(mem_len: usize) -> usize {
    mem_len + mem::size_of::<Slot>() + 2 * mem::size_of::<usize>()
}

impl Pool {
    /// A pool sized by `config`. Allocates nothing until the first buffer is asked for.
    pub fn new(config: PoolConfig) -> Result<Pool, ConfigError> {
        let PoolConfig { capacity, max_bufs, reserve } = config;
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if capacity > MAX_MEM - HEADROOM {
            return Err(ConfigError::CapacityTooLarge);
        }
        if max_bufs == 0 {
            return Err(ConfigError::ZeroBuffers);
        }
        if reserve >= max_bufs {
            return Err(ConfigError::ReserveTooLarge);
        }
        let state = State {
            slots: Slab::new(),
            free: Stock::default(),
            in_use: 0,
            high_water: 0,
            alloc_failures: 0,
            reserve_failures: 0,
            fresh_allocs: 0,
            trimmed: 0,
            waiters: Vec::new(),
        };
        let inner = PoolInner { capacity, max_bufs, reserve, state: RefCell::new(state) };
        Ok(Pool { inner: Rc::new(inner) })
    }

    /// A buffer, or `None` when only the reserve is left: backpressure, stop
    /// reading until buffers come back ([`Pool::poll_available`]). Never grows
    /// the pool past its bound.
    #[must_use]
    pub fn try_alloc(&self) -> Option<BufMut> {
        self.lease(self.unreserved(), false).map(BufMut::new)
    }

    /// A buffer that may come out of the reserve: only for a read that has already
    /// been decided on and must not fail for want of memory (e.g. a completed socket
    /// read whose frame continues, the last output of an exiting child). `None`
    /// only when the whole pool is in use, counted in `reserve_failures`.
    #[must_use]
    pub fn try_alloc_reserved(&self) -> Option<BufMut> {
        self.lease(self.inner.max_bufs, true).map(BufMut::new)
    }

    /// A buffer to lend to the kernel (an io_uring provided buffer ring), or `None`
    /// when only the reserve is left, like [`Pool::try_alloc`]: the ring's buffers are
    /// the pool's, under the same bound.
    #[must_use]
    pub fn lend(&self) -> Option<RingSlot> {
        self.take_slot(self.unreserved(), false).map(|slot| RingSlot(Some(slot)))
    }

    fn lease(&self, limit: usize, reserved: bool) -> Option<Lease> {
        self.take_slot(limit, reserved).map(Lease)
    }

    /// A slot counted as in use, for a lease or a ring: its holder gives it back.
    fn take_slot(&self, limit: usize, reserved: bool) -> Option<Rc<Slot>> {
        let mut st = self.inner.state.borrow_mut();
        if st.in_use >= limit {
            if reserved {
                st.reserve_failures += 1;
            } else {
                st.alloc_failures += 1;
            }
            return None;
        }
        // A free id names a free slot (`give_back` stores both); were it ever not
        // so, a fresh slot serves rather than a panic.
        let slot = match st.free.take().and_then(|id| st.slots[id.0].take()) {
            Some(slot) => slot,
            None => self.fresh_slot(&mut st),
        };
        st.in_use += 1;
        st.high_water = st.high_water.max(st.in_use);
        debug_assert_eq!(st.in_use + st.free.len(), st.slots.len());
        debug_assert!(st.slots.len() <= self.inner.max_bufs);
        Some(slot)
    }

    /// A buffer of exactly `capacity` data bytes (after the [`HEADROOM`]) that is not
    /// the pool's: it is freed, not given back, when its last handle drops, and counts
    /// against no bound. For compacting a quiet session's small tail of scrollback,
    /// which would otherwise pin a whole pool buffer while the terminal is idle. The
    /// scrollback charges it its real size ([`Buf::mem_size`](super::Buf::mem_size)).
    pub fn alloc_exact(&self, capacity: usize) -> BufMut {
        let slot = Rc::new(Slot {
            id: BufId::UNPOOLED,
            pool: Weak::new(),
            mem: vec![0; HEADROOM + capacity].into_boxed_slice(),
        });
        BufMut::new(Lease(slot))
    }

    /// A frozen exact-size buffer holding `head` then `bytes`: a frame copied out of
    /// a buffer that cannot take its head in place. It cannot fail (the buffer is made
    /// to fit), so the output path needs no `expect`.
    pub fn exact_framed(&self, head: &[u8], bytes: &[u8]) -> Buf {
        let room = HEADROOM.max(head.len());
        let mut mem = vec![0; room + bytes.len()].into_boxed_slice();
        mem[room - head.len()..room].copy_from_slice(head);
        mem[room..].copy_from_slice(bytes);
        let end = mem.len();
        let slot = Rc::new(Slot { id: BufId::UNPOOLED, pool: Weak::new(), mem });
        Buf::from_parts(Lease(slot), room - head.len(), end)
    }

    /// Grows the pool by one slot; the caller has checked the bound (no free
    /// slot, and `in_use < limit <= max_bufs`, so `slots.len() < max_bufs`).
    fn fresh_slot(&self, st: &mut State) -> Rc<Slot> {
        debug_assert!(st.slots.len() < self.inner.max_bufs);
        let entry = st.slots.vacant_entry();
        let slot = Rc::new(Slot {
            id: BufId(entry.key()),
            pool: Rc::downgrade(&self.inner),
            mem: vec![0; HEADROOM + self.inner.capacity].into_boxed_slice(),
        });
        entry.insert(None);
        st.fresh_allocs += 1;
        slot
    }

    /// How many buffers may be in use before only the reserve is left.
    fn unreserved(&self) -> usize {
        self.inner.max_bufs - self.inner.reserve
    }

    /// Whether [`Pool::try_alloc`] (or [`Pool::lend`]) would succeed now.
    pub fn has_room(&self) -> bool {
        self.inner.state.borrow().in_use < self.unreserved()
    }

    /// `Ready` when [`Pool::try_alloc`] would succeed now; otherwise registers the
    /// task, which is woken when a buffer comes back. The pool never waits itself.
    pub fn poll_available(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.inner.state.borrow_mut();
        if st.in_use < self.unreserved() {
            return Poll::Ready(());
        }
        if !st.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            st.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Gives back to the allocator the free buffers that nothing has taken since the
    /// previous trim, and returns how many. A busy core keeps its working set (every
    /// buffer it cycled through); an idle core keeps nothing: a free buffer kept for
    /// nobody would also pin the allocator's page around it, and with it the memory
    /// of every other buffer freed from that page. The pool never trims by itself:
    /// the runtime calls this from a timer (it reads no clock), so a burst does not
    /// turn into allocate/free churn.
    pub fn trim(&self) -> usize {
        let mut st = self.inner.state.borrow_mut();
        let State { slots, free, .. } = &mut *st;
        let mut excess = 0;
        for id in free.trim() {
            let slot = slots.remove(id.0);
            debug_assert!(slot.is_some(), "a free id names a free slot");
            excess += 1;
        }
        st.trimmed += excess as u64;
        excess
    }

    /// The accounting now.
    pub fn stats(&self) -> PoolStats {
        let st = self.inner.state.borrow();
        let allocated = st.slots.len();
        PoolStats {
            in_use: st.in_use,
            free: st.free.len(),
            allocated,
            high_water: st.high_water,
            bytes_held: allocated * self.mem_size(),
            alloc_failures: st.alloc_failures,
            reserve_failures: st.reserve_failures,
            fresh_allocs: st.fresh_allocs,
            trimmed: st.trimmed,
        }
    }

    /// Data bytes per buffer (after the headroom).
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Memory a buffer from [`alloc_exact`](Self::alloc_exact)`(capacity)` costs.
    pub fn exact_mem_size(&self, capacity: usize) -> usize {
        mem_size(HEADROOM + capacity)
    }

    /// Memory one buffer costs, whatever its payload: what scrollback accounting
    /// charges per buffer kept.
    pub fn mem_size(&self) -> usize {
        mem_size(HEADROOM + self.inner.capacity)
    }

    /// The configured bound on buffers.
    pub fn max_bufs(&self) -> usize {
        self.inner.max_bufs
    }

    /// The configured reserve.
    pub fn reserve(&self) -> usize {
        self.inner.reserve
    }
}

impl PoolInner {
    /// Takes back a slot whose last lease is dropping; returns the tasks to wake
    /// (woken by the caller, after the state is no longer borrowed).
    fn give_back(&self, slot: Rc<Slot>) -> Vec<Waker> {
        let mut st = self.state.borrow_mut();
        let id = slot.id;
        let entry = &mut st.slots[id.0];
        debug_assert!(entry.is_none(), "a lent slot is given back once");
        *entry = Some(slot);
        st.free.give(id);
        st.in_use -= 1;
        if st.waiters.is_empty() || st.in_use >= self.max_bufs - self.reserve {
            return Vec::new();
        }
        mem::take(&mut st.waiters)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("capacity", &self.inner.capacity)
            .field("max_bufs", &self.inner.max_bufs)
            .field("reserve", &self.inner.reserve)
            .field("stats", &self.stats())
            .finish()
    }
}
