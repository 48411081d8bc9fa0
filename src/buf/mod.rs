//! The per-core buffer pool: fixed-size buffers with headroom, for zero-copy
//! PTY → WebSocket frames.
//!
//! # What it owns
//!
//! A [`Pool`] owns the memory of every buffer it has allocated, up to
//! [`PoolConfig::max_bufs`], each `HEADROOM + capacity` bytes. It lends buffers
//! out as handles and takes them back when the last handle drops. One pool per
//! worker thread: handles are `Rc`-based (no atomics) and `!Send`. The pool does
//! no IO, reads no clock and spawns nothing.
//!
//! ```text
//!            headroom (11)       data capacity (16 KiB - 11 by default)
//! fresh:    [ . . . . . . . . . . . |                                       ]
//!                                   ^ start = end
//! read n:   [ . . . . . . . . . . . | n bytes of PTY output | spare         ]
//! prepend:  [ . . . . . . . . 0 h h | n bytes of PTY output | spare         ]
//!                             ^ start: ttyd prefix, then the frame header
//! freeze:   Buf = start..end, cloned to every viewer and the scrollback
//! ```
//!
//! - [`BufMut`] — exclusively owned, writable. Content (`len`), spare capacity
//!   after it ([`BufMut::spare_mut`] for a plain `read(2)`), and [`HEADROOM`]
//!   bytes in front that only [`BufMut::prepend`] claims.
//! - [`Buf`] — frozen by [`BufMut::freeze`]: read-only, `Clone` is an `Rc`
//!   increment, no copy and no allocation. [`Buf::view`] narrows it to a `Buf`
//!   (`None` out of bounds, never a panic), so whole frames and tails mix in one
//!   `writev` vector.
//!
//! # Invariants
//!
//! - A buffer is never reused while any handle refers to it: every handle holds an
//!   `Rc` to the buffer's slot, and the pool gets a slot back only when its last
//!   `Rc` drops.
//! - A buffer's address never changes while it is allocated: each slot owns a boxed
//!   slice (allocated on first use, zeroed once, then reused), and growing the slab
//!   moves only the pointers to slots, never the memory.
//! - The headroom only shrinks, by prepends (or back to full by
//!   [`BufMut::clear`], which only an exclusive owner can call).
//! - A frozen buffer is immutable: no code path writes through a [`Buf`].
//! - The pool never grows past `max_bufs`: running out is backpressure
//!   ([`Pool::try_alloc`] returns `None`), never growth.
//!
//! # Storage
//!
//! A `slab::Slab` of slots, keyed by [`BufId`]. A slot is an `Rc` holding the id,
//! a weak link to the pool and the boxed slice. A free slot sits in its slab entry;
//! a lent one is owned by its handles (the entry is empty meanwhile, so the id
//! cannot be lent twice), and the last handle to drop puts it back. Allocation pops
//! the most recently freed id (warm memory); only when none is free does the pool
//! allocate a new slot (two allocations: the `Rc` and the block, zeroed). So
//! alloc → drop → alloc reuses both and never calls the allocator, and freezing
//! moves the `Rc` from the `BufMut` into the `Buf`: no allocation per frame either.
//!
//! Why slots behind an `Rc` rather than handles holding a slab index and a raw
//! pointer, or big chunks carved into buffers: with an `Rc` per slot the refcount
//! and the memory travel together, every access is safe code (`Rc::get_mut` proves
//! a `BufMut` exclusive), a clone touches no shared table, and the module has no
//! `unsafe` at all. Chunks would save one
//! allocation per buffer but could never be trimmed while any buffer in them lived.
//!
//! # Reserve
//!
//! [`Pool::try_alloc`] fails once only [`PoolConfig::reserve`] buffers are left;
//! [`Pool::try_alloc_reserved`] may take those too. Use the plain form to *start*
//! something that can wait (read a PTY, start a socket read) and the reserved
//! form only to *finish* something already decided that cannot be put off without
//! losing data (e.g. a completed socket read whose frame continues, the final drain
//! of an exiting child's PTY). Size the reserve for the number of such reads that can
//! be outstanding at once on the core; `PoolStats::reserve_failures` says if it was
//! too small. [`Pool::poll_available`] wakes a task when `try_alloc` can succeed
//! again.
//!
//! # Memory
//!
//! A buffer costs [`Pool::mem_size`] (= [`Buf::mem_size`]) whatever its payload:
//! that is what scrollback is charged per buffer it keeps. Freed buffers go back
//! to the pool, not the allocator; [`Pool::trim`] releases free buffers beyond a
//! low-water mark (least recently used first). The pool never trims by itself: the
//! runtime calls it from a timer, so bursts do not become allocate/free churn.
//! Idle memory is bounded by `max_bufs * mem_size` in any case.
//! [`Pool::alloc_exact`] makes a buffer of an exact size outside the pool (freed, not
//! pooled, when its last handle drops): a quiet session's small tail of scrollback
//! moves into one so that no pool buffer stays pinned by an idle terminal.
//!
//! # How the sessions layer uses it
//!
//! 1. PTY readable: `pool.try_alloc()`; `None` means stop reading the PTY (the
//!    child blocks) until [`Pool::poll_available`] is ready.
//! 2. Non-blocking `read(fd, buf.spare_mut())` then `buf.set_len(buf.len() + n)`,
//!    repeated until `EAGAIN` or [`BufMut::remaining`] is 0. A tiny read may be
//!    merged into the previous, not yet frozen, buffer with
//!    [`BufMut::extend_from_slice`] (or copied into a fresh one), so a 1-byte echo
//!    does not pin a 16 KiB buffer in the scrollback.
//! 3. For ttyd, `buf.prepend(b"0")` first (the prefix is part of the frame's payload);
//!    then `buf.prepend(&header)`, the encoded WebSocket header for `buf.len()` bytes.
//! 4. `let frame = buf.freeze();` then `frame.clone()` into each viewer's send queue
//!    and into the scrollback; a writer passes them to `writev(2)` as slices.
//!    After a short `writev`, send `frame.view(n..)`.
//!
//! # Buffers lent to the kernel
//!
//! An io_uring provided buffer ring (`uring::Ring`) lends the pool's buffers to the
//! kernel: [`Pool::lend`] takes one under the same bound as [`Pool::try_alloc`] (the
//! ring's buffers are the pool's), a [`RingSlot`] holds it while the kernel may write
//! into it, a completion makes it a [`BufMut`] with the bytes read
//! ([`RingSlot::filled`]), framed, frozen and shared like any buffer, and its last
//! handle gives it back to the pool, from which the ring takes buffers again. So the
//! scrollback's pressure on the pool (reclaim) covers the ring too. The module still
//! has no `unsafe`: it hands out the data area as `&mut [u8]`; lending that memory to
//! the kernel is the ring's unsafe code.
//!
//! # What callers must never do
//!
//! - Keep raw pointers to buffer memory beyond the handle that produced them, or
//!   read a buffer past its `len` (the spare holds stale bytes of earlier uses).
//! - Treat `None` from `try_alloc` as an error to retry in a loop: it is the
//!   signal to stop reading.

#![forbid(unsafe_code)]

mod handle;
mod pool;
mod stock;

#[cfg(test)]
mod tests;

pub use handle::{Buf, BufError, BufMut};
pub use pool::{
    BufId, ConfigError, Pool, PoolConfig, PoolStats, RingSlot, DEFAULT_CAPACITY, DEFAULT_MAX_BUFS,
    DEFAULT_RESERVE, HEADROOM, MAX_FRAME_HEADER,
};
pub use stock::Stock;
