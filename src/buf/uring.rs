//! tokio-uring's buffer traits for the pool handles: the module's only `unsafe`.
//!
//! The semantics are `Vec<u8>`'s, so tokio-uring behaves as documented for it:
//! a read writes from the *start* of the content (`stable_mut_ptr`) up to the
//! capacity (`bytes_total`) and then raises the length (`set_init`); to append
//! instead, read into `buf.slice(buf.len()..)` (tokio-uring's `BoundedBuf`). A
//! write sends the content: `bytes_init` bytes from `stable_ptr`.

use tokio_uring::buf::{IoBuf, IoBufMut};

use super::handle::{Buf, BufMut};

/// # Safety
///
/// The trait asks that the pointer stay valid and unchanged while the runtime owns
/// the value, even if the value moves. `stable_ptr` points into the slot's boxed
/// slice at `start`, and `bytes_total` stays inside that slice. The box is a heap
/// block that never moves or resizes and is freed only with its slot, after the
/// last `Rc` to the slot is gone; while the runtime owns this handle it owns one
/// such `Rc` (tokio-uring keeps a dropped op's value until its completion arrives).
/// `start` and `end` change only through `&mut self` methods, which nothing calls
/// while the runtime owns the handle. The pool reuses a slot only after its last
/// handle is dropped, so no other buffer aliases this memory.
// SAFETY: see `# Safety` above: a stable heap block kept alive by this handle.
unsafe impl IoBuf for BufMut {
    fn stable_ptr(&self) -> *const u8 {
        self.io_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

/// # Safety
///
/// As for `IoBuf` above. Moreover a `BufMut` holds the only handle to its slot
/// (it is never cloned and `freeze` consumes it), so while the kernel writes
/// through `stable_mut_ptr` no other handle can read or write those bytes.
// SAFETY: see `# Safety` above: the handle is the slot's only one.
unsafe impl IoBufMut for BufMut {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.io_mut_ptr()
    }

    /// # Safety
    ///
    /// The caller (the runtime) guarantees that the `pos` bytes from
    /// `stable_mut_ptr` were written. Even if it were wrong, raising the length
    /// would expose stale bytes, never uninitialised memory (the block is zeroed
    /// at allocation), and `pos` is clamped to the capacity so the handle's
    /// bounds hold whatever the caller says.
    unsafe fn set_init(&mut self, pos: usize) {
        self.io_set_init(pos);
    }
}

/// # Safety
///
/// As for `BufMut`, for the view `start..end` of a frozen buffer. The memory is
/// never written while any `Buf` exists (only a `BufMut` writes, and a frozen
/// buffer never becomes one again), so the kernel reading it races with nothing,
/// however many clones sit in other queues, in the scrollback or in other ops.
// SAFETY: see `# Safety` above: a stable, immutable heap block kept alive by this handle.
unsafe impl IoBuf for Buf {
    fn stable_ptr(&self) -> *const u8 {
        self.io_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}
