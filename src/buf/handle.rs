//! The two handles: [`BufMut`] (exclusive, writable) and [`Buf`] (frozen, shared).
#![forbid(unsafe_code)]

use std::fmt;
use std::ops::{Bound, Deref, DerefMut, RangeBounds};

use super::pool::{BufId, Lease, HEADROOM};

/// Why a [`BufMut`] refused a write. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufError {
    /// [`BufMut::prepend`]: more bytes than the headroom left.
    NoHeadroom,
    /// [`BufMut::set_len`]: more bytes than the capacity.
    NoCapacity,
}

impl fmt::Display for BufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BufError::NoHeadroom => "not enough headroom to prepend",
            BufError::NoCapacity => "length beyond the buffer's capacity",
        })
    }
}

impl std::error::Error for BufError {}

/// An exclusively owned pool buffer being filled.
///
/// Like a `Vec<u8>` over `mem[start..]`: `len` bytes of content, then spare
/// capacity; in front of `start`, [`headroom`](Self::headroom) bytes that only
/// [`prepend`](Self::prepend) can claim. Freshly allocated (and after
/// [`clear`](Self::clear)) the content is empty and the headroom is [`HEADROOM`].
pub struct BufMut {
    /// Unique: never cloned; [`freeze`](Self::freeze) gives it away.
    lease: Lease,
    /// Invariant: `start <= HEADROOM`. Only prepends lower it (and `clear` resets it).
    start: usize,
    /// Invariant: `start <= end <= mem.len()`.
    end: usize,
}

impl BufMut {
    pub(super) fn new(lease: Lease) -> BufMut {
        debug_assert!(lease.mem().len() >= HEADROOM);
        BufMut { lease, start: HEADROOM, end: HEADROOM }
    }

    /// A buffer whose content (from the headroom on) was written from outside, up to
    /// `end` (at most the memory's length).
    pub(super) fn with_content(lease: Lease, end: usize) -> BufMut {
        debug_assert!(lease.mem().len() >= HEADROOM && end >= HEADROOM && end <= lease.mem().len());
        BufMut { lease, start: HEADROOM, end }
    }

    fn check(&self) {
        debug_assert!(self.start <= HEADROOM);
        debug_assert!(self.start <= self.end && self.end <= self.lease.mem().len());
    }

    /// Content bytes (prepended bytes included).
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// No content.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Most content this buffer can hold now: grows by what is prepended.
    pub fn capacity(&self) -> usize {
        self.lease.mem().len() - self.start
    }

    /// Spare bytes after the content: `capacity() - len()`.
    pub fn remaining(&self) -> usize {
        self.lease.mem().len() - self.end
    }

    /// Bytes still free in front of the content for [`prepend`](Self::prepend).
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// The content.
    pub fn as_slice(&self) -> &[u8] {
        &self.lease.mem()[self.start..self.end]
    }

    /// The content, writable (e.g. to unmask a frame in place).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let (start, end) = (self.start, self.end);
        &mut self.lease.mem_mut()[start..end]
    }

    /// The spare capacity after the content, for a plain `read(2)`: read into it,
    /// then `set_len(len() + n)`. It is initialised memory (zeroed when the buffer
    /// was first allocated, stale bytes of an earlier use after that), so no
    /// `MaybeUninit` is involved.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let end = self.end;
        &mut self.lease.mem_mut()[end..]
    }

    /// Sets the content length: to commit bytes read into
    /// [`spare_mut`](Self::spare_mut), or to truncate. Refused beyond `capacity()`.
    pub fn set_len(&mut self, len: usize) -> Result<(), BufError> {
        if len > self.capacity() {
            return Err(BufError::NoCapacity);
        }
        self.end = self.start + len;
        self.check();
        Ok(())
    }

    /// Appends as much of `bytes` as fits and returns how much that was (merging
    /// small reads into one buffer).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.remaining());
        let end = self.end;
        self.lease.mem_mut()[end..end + n].copy_from_slice(&bytes[..n]);
        self.end = end + n;
        self.check();
        n
    }

    /// Writes `bytes` into the headroom, immediately in front of the content: the
    /// frame header first, then ttyd's prefix in front of it. All or nothing.
    pub fn prepend(&mut self, bytes: &[u8]) -> Result<(), BufError> {
        let Some(start) = self.start.checked_sub(bytes.len()) else {
            return Err(BufError::NoHeadroom);
        };
        self.lease.mem_mut()[start..self.start].copy_from_slice(bytes);
        self.start = start;
        self.check();
        Ok(())
    }

    /// Back to the freshly allocated state: no content, full headroom. (The buffer is
    /// exclusively owned, so no one can see the bytes this forgets.)
    pub fn clear(&mut self) {
        self.start = HEADROOM;
        self.end = HEADROOM;
    }

    /// The buffer's index in its pool.
    /// Memory this buffer holds, as [`Buf::mem_size`] will say once it is frozen.
    pub fn mem_size(&self) -> usize {
        self.lease.mem_size()
    }

    pub fn id(&self) -> BufId {
        self.lease.id()
    }

    /// Freezes the content into a shareable, read-only [`Buf`]. Costs nothing: the
    /// same memory, no copy, no allocation.
    #[must_use]
    pub fn freeze(self) -> Buf {
        self.check();
        Buf { lease: self.lease, start: self.start, end: self.end }
    }
}

impl Deref for BufMut {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for BufMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl fmt::Debug for BufMut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufMut")
            .field("id", &self.id())
            .field("len", &self.len())
            .field("headroom", &self.headroom())
            .finish()
    }
}

/// A frozen pool buffer: read-only, shared. `Clone` is an `Rc` increment; every
/// clone sees the same memory, which is never written again and goes back to the
/// pool when the last clone is dropped.
///
/// A `Buf` is a view `start..end` of its buffer: [`view`](Self::view) narrows it.
#[derive(Clone)]
pub struct Buf {
    lease: Lease,
    /// Invariant: `start <= end <= mem.len()`; fixed for this handle.
    start: usize,
    end: usize,
}

impl Buf {
    /// A frozen view of `lease`'s bytes `start..end`.
    pub(super) fn from_parts(lease: Lease, start: usize, end: usize) -> Buf {
        debug_assert!(start <= end && end <= lease.mem().len());
        Buf { lease, start, end }
    }

    /// The bytes of this view (after a freeze: prepended bytes and data).
    pub fn as_slice(&self) -> &[u8] {
        &self.lease.mem()[self.start..self.end]
    }

    /// Bytes in this view.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// An empty view.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// A narrower view of the same memory (indices relative to this view), e.g. the
    /// unsent tail after a short write, or a replay that starts mid-buffer. `None` if
    /// the range is out of bounds. It keeps the whole buffer alive.
    #[must_use]
    pub fn view(&self, range: impl RangeBounds<usize>) -> Option<Buf> {
        let from = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1)?,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.len(),
        };
        if from > to || to > self.len() {
            return None;
        }
        let (start, end) = (self.start + from, self.start + to);
        Some(Buf { lease: self.lease.clone(), start, end })
    }

    /// Memory this buffer holds, whatever the view's length: what scrollback is
    /// charged for keeping it. The same for every buffer of a pool
    /// ([`Pool::mem_size`](super::Pool::mem_size)).
    pub fn mem_size(&self) -> usize {
        self.lease.mem_size()
    }

    /// Whether both are views of the same buffer.
    pub fn same_buffer(&self, other: &Buf) -> bool {
        self.lease.same_slot(&other.lease)
    }

    /// The buffer's index in its pool.
    pub fn id(&self) -> BufId {
        self.lease.id()
    }
}

impl Deref for Buf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Buf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Buf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buf").field("id", &self.id()).field("len", &self.len()).finish()
    }
}
