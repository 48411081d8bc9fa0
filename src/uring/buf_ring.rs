//! A provided buffer ring (`IORING_REGISTER_PBUF_RING`, Linux ≥ 5.19): the kernel
//! picks a buffer from the group only when data arrives, so an armed but idle receive
//! pins no memory.
//!
//! # Who owns a buffer
//!
//! The ring holds entries (address, length, id), not memory: the buffers belong to
//! their owner (the worker's [`Ring`](super::Ring) keeps them as pool slots). Each id
//! is, at every moment, in exactly one of two places:
//! - **given** (`give`): the kernel may write into its memory at any time, until a
//!   completion names the id. Its owner must neither touch nor free that memory.
//! - **taken** (`take`, after a completion named it): the owner's again, to read,
//!   frame and share, until it is given again.
//!
//! A `take` of an id not given and a `give` of one already given are refused
//! (`OwnershipError`), not trusted: a double hand-back would let the kernel write into
//! bytes a viewer is still sending. Unregistering the group (which the kernel does
//! synchronously) ends the kernel's claim on every given buffer.

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
    entries: u16,
    bgid: u16,
    /// Our copy of the ring's tail: entries added since the last `publish` are not seen
    /// by the kernel yet.
    tail: u16,
    /// For each id, whether the kernel holds it (see the module docs).
    in_ring: Vec<bool>,
    /// How many entries of `in_ring` are true (asked on every round of a reading
    /// session's task: not counted each time).
    given: usize,
    registered: bool,
}

impl BufRing {
    /// Registers a ring of `entries` entries (a power of two, at most 32,768) with
    /// `submitter`'s ring as group `bgid`; ids `0..entries` are then the owner's to
    /// `give`.
    pub fn new(submitter: &Submitter<'_>, bgid: u16, entries: u16) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32_768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer ring has a power-of-two number of entries, at most 32768",
            ));
        }
        let ring = Region::new(usize::from(entries) * std::mem::size_of::<BufRingEntry>())?;
        let mut this = BufRing {
            ring,
            entries,
            bgid,
            tail: 0,
            in_ring: vec![false; usize::from(entries)],
            given: 0,
            registered: false,
        };
        // SAFETY: the ring memory is page-aligned, `entries` entries long, and lives in
        // `self.ring` until the group is unregistered (`Drop` leaks it otherwise).
        unsafe { submitter.register_buf_ring_with_flags(this.ring.ptr.as_ptr() as u64, entries, bgid, 0)? };
        this.registered = true;
        Ok(this)
    }

    /// The group id to name in a submission (`buf_group`).
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// How many buffers the kernel holds now.
    pub fn available(&self) -> usize {
        self.given
    }

    /// A completion named `id`: the buffer is the owner's again.
    pub fn take(&mut self, id: u16) -> Result<(), OwnershipError> {
        let held = self.in_ring.get_mut(usize::from(id)).ok_or(OwnershipError::Unknown(id))?;
        if !*held {
            return Err(OwnershipError::NotInRing(id));
        }
        *held = false;
        self.given -= 1;
        Ok(())
    }

    /// Lends the `len` bytes at `area` to the kernel as buffer `id`; it sees them after
    /// the next `publish`.
    ///
    /// # Safety
    ///
    /// The memory must stay allocated, and nothing may read or write it, until a
    /// completion names `id` (then `take`) or the group is unregistered.
    pub unsafe fn give(&mut self, id: u16, area: *mut u8, len: u32) -> Result<(), OwnershipError> {
        match self.in_ring.get(usize::from(id)) {
            None => Err(OwnershipError::Unknown(id)),
            Some(true) => Err(OwnershipError::AlreadyInRing(id)),
            Some(false) => {
                let slot = usize::from(self.tail & (self.entries - 1));
                // SAFETY: `slot` < entries, so the entry is inside the ring memory. At
                // most `entries` ids exist and each is in the ring at most once, so the
                // kernel has consumed whatever this slot held; it reads no entry past
                // the published tail, and this one is past it until `publish`.
                let entry = unsafe { &mut *self.ring.ptr.as_ptr().cast::<BufRingEntry>().add(slot) };
                entry.set_addr(area as u64);
                entry.set_len(len);
                entry.set_bid(id);
                self.in_ring[usize::from(id)] = true;
                self.given += 1;
                self.tail = self.tail.wrapping_add(1);
                Ok(())
            }
        }
    }

    /// Makes every buffer given since the last call visible to the kernel (one
    /// release store of the tail, however many were added).
    pub fn publish(&mut self) {
        // SAFETY: the tail field lives inside the ring memory (entry 0's reserved
        // field), valid while `self.ring` is; the kernel reads it concurrently, hence
        // the atomic store with release ordering after the entries were written.
        let tail = unsafe { &*(BufRingEntry::tail(self.ring.ptr.as_ptr().cast()) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
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
