//! A provided buffer ring (`IORING_REGISTER_PBUF_RING`, Linux ≥ 5.19): a group of
//! equal buffers the kernel picks from only when data arrives, so an armed but idle
//! receive pins no memory.
//!
//! # Who owns a buffer
//!
//! Each buffer id is, at every moment, in exactly one of two places:
//! - **in the ring**: the kernel may write into it at any time, until a completion
//!   names its id. Rust never reads or writes it then.
//! - **out**: a completion gave it to us (`take`). It is ours to read, frame and
//!   share, until `give_back` puts it in the ring again.
//!
//! `take` of an id that is not in the ring, and `give_back` of one that is not out,
//! are refused (`OwnershipError`), not trusted: a double hand-back would let the kernel
//! write into bytes a viewer is still sending. Dropping the ring with buffers in it is
//! safe only once the kernel can no longer write: the ring unregisters its group first,
//! which the kernel completes synchronously, so no later completion names them.
//!
//! # Layout
//!
//! The ring (entries × 16 bytes) and the buffers are one page-aligned allocation each.
//! Every buffer is `headroom + capacity` bytes; the kernel is given only the `capacity`
//! bytes after the headroom, so a frame's head can be written in front of the data in
//! place (the same layout as the pool's buffers, `buf::HEADROOM`).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

const PAGE: usize = 4096;

/// A buffer id handed back or taken in the wrong state (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnershipError {
    /// The id is not one of this ring's.
    Unknown(u16),
    /// `take` of an id the kernel does not hold (taken twice, or never given).
    NotInRing(u16),
    /// `give_back` of an id that is already in the ring.
    AlreadyInRing(u16),
}

impl fmt::Display for OwnershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnershipError::Unknown(id) => write!(f, "buffer id {id} is not in this group"),
            OwnershipError::NotInRing(id) => write!(f, "buffer id {id} was not given to the kernel"),
            OwnershipError::AlreadyInRing(id) => write!(f, "buffer id {id} is already in the ring"),
        }
    }
}

impl std::error::Error for OwnershipError {}

/// One page-aligned, zeroed allocation, freed on drop.
struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Region {
    fn new(len: usize) -> io::Result<Region> {
        let len = len.max(1).next_multiple_of(PAGE);
        let layout =
            Layout::from_size_align(len, PAGE).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout has a non-zero size (at least one page).
        let ptr = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(Region { ptr, layout })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.layout.size() == 0 {
            return; // `leaked()`: owns nothing
        }
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// A registered group of provided buffers. See the module docs.
pub struct BufRing {
    ring: Region,
    bufs: Region,
    entries: u16,
    bgid: u16,
    headroom: usize,
    capacity: u32,
    /// Our copy of the ring's tail: entries added since the last `publish` are not seen
    /// by the kernel yet.
    tail: u16,
    /// For each id, whether the kernel holds it (see the module docs).
    in_ring: Vec<bool>,
    registered: bool,
}

impl BufRing {
    /// Allocates `entries` buffers (a power of two, at most 32,768) of `headroom +
    /// capacity` bytes, registers them with `submitter`'s ring as group `bgid`, and
    /// gives every one to the kernel.
    pub fn new(
        submitter: &Submitter<'_>,
        bgid: u16,
        entries: u16,
        headroom: usize,
        capacity: u32,
    ) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32_768 || capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer ring has a power-of-two number of entries, at most 32768, of at least one byte",
            ));
        }
        let ring = Region::new(usize::from(entries) * std::mem::size_of::<BufRingEntry>())?;
        let stride = headroom + capacity as usize;
        let bufs = Region::new(usize::from(entries) * stride)?;
        let mut this = BufRing {
            ring,
            bufs,
            entries,
            bgid,
            headroom,
            capacity,
            tail: 0,
            in_ring: vec![false; usize::from(entries)],
            registered: false,
        };
        // SAFETY: the ring memory is page-aligned, `entries` entries long, and lives in
        // `self.ring` until `Drop` unregisters the group (before freeing it).
        unsafe { submitter.register_buf_ring_with_flags(this.ring.ptr.as_ptr() as u64, entries, bgid, 0)? };
        this.registered = true;
        for id in 0..entries {
            this.push(id);
        }
        this.publish();
        Ok(this)
    }

    /// The group id to name in a submission (`buf_group`).
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// How many bytes the kernel may write into one buffer.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// How many buffers the kernel holds now.
    pub fn available(&self) -> usize {
        self.in_ring.iter().filter(|&&k| k).count()
    }

    /// Takes buffer `id` out of the ring after a completion named it with `len` bytes
    /// (the completion's result): returns those bytes, ours until `give_back`.
    pub fn take(&mut self, id: u16, len: usize) -> Result<&mut [u8], OwnershipError> {
        let held = self.in_ring.get_mut(usize::from(id)).ok_or(OwnershipError::Unknown(id))?;
        if !*held {
            return Err(OwnershipError::NotInRing(id));
        }
        *held = false;
        let len = len.min(self.capacity as usize);
        let start = self.buf_start(id) + self.headroom;
        // SAFETY: the buffer is in bounds of `bufs`; the completion that named it means
        // the kernel is done with it and will not write into it until it is given back
        // (it is out of the ring now), and `&mut self` keeps this the only reference.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.bufs.ptr.as_ptr().add(start), len) })
    }

    /// The first `len` bytes of buffer `id` while it is out of the ring (taken).
    pub fn filled(&self, id: u16, len: usize) -> Result<&[u8], OwnershipError> {
        match self.in_ring.get(usize::from(id)) {
            None => Err(OwnershipError::Unknown(id)),
            Some(true) => Err(OwnershipError::NotInRing(id)),
            Some(false) => {
                let start = self.buf_start(id) + self.headroom;
                let len = len.min(self.capacity as usize);
                // SAFETY: in bounds of `bufs`; the buffer is out of the ring, so the
                // kernel does not write into it; only `&mut self` methods write to it.
                Ok(unsafe { std::slice::from_raw_parts(self.bufs.ptr.as_ptr().add(start), len) })
            }
        }
    }

    /// The whole buffer `id`, headroom included, while it is out of the ring (to write
    /// a frame's head in front of its data).
    pub fn with_headroom(&mut self, id: u16) -> Result<&mut [u8], OwnershipError> {
        match self.in_ring.get(usize::from(id)) {
            None => Err(OwnershipError::Unknown(id)),
            Some(true) => Err(OwnershipError::NotInRing(id)),
            Some(false) => {
                let start = self.buf_start(id);
                let len = self.headroom + self.capacity as usize;
                // SAFETY: in bounds of `bufs`; the buffer is out of the ring, so the
                // kernel does not write into it, and `&mut self` makes this reference
                // the only one.
                Ok(unsafe { std::slice::from_raw_parts_mut(self.bufs.ptr.as_ptr().add(start), len) })
            }
        }
    }

    /// Gives buffer `id` back to the kernel; it sees it after the next `publish`.
    pub fn give_back(&mut self, id: u16) -> Result<(), OwnershipError> {
        match self.in_ring.get(usize::from(id)) {
            None => Err(OwnershipError::Unknown(id)),
            Some(true) => Err(OwnershipError::AlreadyInRing(id)),
            Some(false) => {
                self.push(id);
                Ok(())
            }
        }
    }

    /// Makes every buffer given back since the last call visible to the kernel (one
    /// release store of the tail, however many were added).
    pub fn publish(&mut self) {
        // SAFETY: the tail field lives inside the ring memory (entry 0's reserved
        // field), valid while `self.ring` is; the kernel reads it concurrently, hence
        // the atomic store with release ordering after the entries were written.
        let tail = unsafe { &*(BufRingEntry::tail(self.ring.ptr.as_ptr().cast()) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    fn buf_start(&self, id: u16) -> usize {
        usize::from(id) * (self.headroom + self.capacity as usize)
    }

    /// Writes entry `tail & mask` for buffer `id` and advances our tail.
    fn push(&mut self, id: u16) {
        let slot = usize::from(self.tail & (self.entries - 1));
        let addr = self.bufs.ptr.as_ptr() as usize + self.buf_start(id) + self.headroom;
        // SAFETY: `slot` < entries, so the entry is inside the ring memory; the kernel
        // does not read entries past the published tail, and this one is past it until
        // `publish`. The write goes through a raw pointer: no reference to memory the
        // kernel shares is formed.
        let entry = unsafe { &mut *self.ring.ptr.as_ptr().cast::<BufRingEntry>().add(slot) };
        entry.set_addr(addr as u64);
        entry.set_len(self.capacity);
        entry.set_bid(id);
        self.in_ring[usize::from(id)] = true;
        self.tail = self.tail.wrapping_add(1);
    }

    /// Unregisters the group: after it the kernel takes no buffer from it. Called by
    /// `Drop` too; explicit when the ring's submitter is about to go.
    pub fn unregister(&mut self, submitter: &Submitter<'_>) -> io::Result<()> {
        if self.registered {
            submitter.unregister_buf_ring(self.bgid)?;
            self.registered = false;
        }
        Ok(())
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // The owner must unregister first (it holds the submitter); if it did not, the
        // memory is leaked rather than freed under the kernel's feet.
        if self.registered {
            error!("buffer ring {} dropped while registered: its memory is leaked", self.bgid);
            std::mem::forget(std::mem::replace(&mut self.ring, Region::leaked()));
            std::mem::forget(std::mem::replace(&mut self.bufs, Region::leaked()));
        }
    }
}

impl Region {
    /// A placeholder that owns nothing (its drop frees nothing): what a leaked region
    /// is replaced with.
    fn leaked() -> Region {
        Region { ptr: NonNull::dangling(), layout: Layout::new::<()>() }
    }
}
