//! Output and scrollback: every PTY byte gets its offset and is framed once, in
//! place; the framed buffers themselves are the scrollback, accounted by the memory
//! they hold.
//!
//! # Framing once
//!
//! The runtime reads the PTY into a pool [`BufMut`] (data after [`HEADROOM`] bytes)
//! and hands it to [`Scrollback::push`], which prepends the WebSocket binary-frame
//! header (for a ttyd session: `'0'`, then the header for `len + 1`), freezes it and
//! queues it as a *chunk*: the frozen frame, the offset of its first terminal byte,
//! how many terminal bytes it holds and how long its head is. Every client is sent
//! that same `Buf` (an `Rc` clone); a client that starts in the middle of a chunk is
//! sent a fresh small head plus a `view` of the chunk's tail ([`Head`]).
//!
//! # Small reads: the merge buffer
//!
//! A keystroke echo is a 1-byte read in a 16 KiB buffer: kept as is, 64 echoes fill a
//! 1 MiB scrollback. So small pushes are also *copied* into an open, unfrozen
//! **merge buffer**, while the original is still what clients are sent, at once and
//! without a copy. For a new or quiet terminal the merge buffer is allocated on its
//! own: it starts at [`MIN_MERGE`] bytes and doubles (its bytes moved) up to a pool
//! buffer's capacity, so a terminal that printed a prompt holds a few hundred bytes
//! from its first output on, not a 16 KiB buffer. A busy terminal (a whole buffer of
//! output since it was new or quiet) takes pool buffers, which are reused without an
//! allocation:
//!
//! ```text
//!  sealed chunks (frozen)     | merge buffer (unfrozen copy of S..end)
//!  [c0][c1][c2]...[ck]        | [ e c h o e s . . . ..........spare ]
//!  oldest               S     |  S              R              end
//!                             |                 [o1][o2]  fresh originals of R..end
//! ```
//!
//! - A push of at most a quarter of a buffer opens the merge buffer (if none is
//!   open) and is copied into it. While it is open, every push that fits (once the
//!   merge buffer has grown to a pool buffer's size, if need be) is copied
//!   (so a large read between two echoes does not cut it short); one that does not
//!   fit **seals** it first. Larger pushes with no merge buffer open stay zero-copy:
//!   they hold at least a quarter of their buffer.
//! - The originals of the copied pushes (the **fresh** chunks) stay only until every
//!   client's cursor is past them (checked on each push: `retire`); then the merge
//!   buffer alone holds those bytes and the originals go back to the pool.
//! - **Sealing** frames the merge buffer in place and freezes it into one sealed
//!   chunk covering `S..end`; the remaining fresh originals are dropped. It happens
//!   when the merge buffer is full, when more than [`MAX_FRESH`] originals are
//!   waiting (a viewer that is not keeping up must not pin one buffer per echo),
//!   under memory pressure, and when a client needs a byte of `S..R` (an attach
//!   with `since`, or a replay), which only the merge buffer holds.
//! - An early seal leaves a small sealed chunk; so does a read that was not merged.
//!   A merge buffer opened right after a chunk of at most half a buffer **absorbs**
//!   it (copies its bytes first and starts at its offset); the chunk is still served
//!   until the merge buffer is sealed and replaces it. So a slow viewer costs copies
//!   (at most half a buffer per early seal), not memory.
//!
//! Clients hold offsets, not chunk indices, so none of this is visible to them: a
//! cursor inside a chunk that was merged is served from the sealed merge buffer with
//! a fresh head. Only small reads and what follows them into an open merge buffer
//! are copied, once (again when absorbed). A sealed merge buffer is full to within a
//! quarter buffer, or followed by a push that did not fit in it (so the two hold
//! more than one buffer of data), or was sealed early (a slow viewer, an attach):
//! then the next merge buffer absorbs it while it is the last chunk, until it holds
//! more than half a buffer.
//!
//! # Memory
//!
//! Charged per buffer held ([`Buf::mem_size`]): sealed chunks, fresh originals and
//! the merge buffer. After every push the oldest sealed chunks are evicted (or the
//! merge buffer sealed) until the total is at most the limit; the limit is at least
//! [`MIN_BUFS`] buffers, so the newest data always fits and is never evicted by its
//! own push. [`Scrollback::shrink_to`] applies a lower limit once (a per-core budget).
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use super::Outgoing;
use crate::buf::{Buf, BufMut, Pool, HEADROOM};
use crate::ws::{FrameHeader, OpCode};

/// A merge buffer's first size: it doubles from there to a pool buffer.
pub const MIN_MERGE: usize = 512;

/// Memory a buffer being filled holds (what it holds once frozen, `Buf::mem_size`).
fn buf_mem(buf: &BufMut) -> usize {
    buf.mem_size()
}

/// Most fresh originals kept waiting for slow clients before the merge buffer is
/// sealed early.
pub const MAX_FRESH: usize = 4;

/// The smallest scrollback limit, in buffers: a smaller `--scrollback` is raised.
pub const MIN_BUFS: usize = 4;

/// How long a new client's replay may skip to reach a line start.
pub const LINE_CUT_SCAN: usize = 4 * 1024;

/// The bytes in front of a payload: the frame header, then ttyd's `'0'` if any.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Head {
    bytes: [u8; HEADROOM],
    /// `2..=11`.
    len: u8,
}

impl Head {
    /// The head for `terminal_bytes` of output: a final binary frame of that many
    /// bytes (+1 for the `prefix`), then the prefix.
    pub fn new(terminal_bytes: usize, prefix: Option<u8>) -> Head {
        let prefix_len = usize::from(prefix.is_some());
        let payload_len = (terminal_bytes + prefix_len) as u64;
        let header = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len };
        let mut encoded = [0; FrameHeader::MAX_LEN];
        let n = header.encode(&mut encoded);
        let mut bytes = [0; HEADROOM];
        bytes[..n].copy_from_slice(&encoded[..n]);
        if let Some(prefix) = prefix {
            bytes[n] = prefix;
        }
        Head { bytes, len: (n + prefix_len) as u8 }
    }

    /// The bytes to send in front of the payload.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// One framed buffer of the scrollback.
#[derive(Debug)]
struct Chunk {
    /// Head, then `len` terminal bytes.
    frame: Buf,
    /// Offset of the first terminal byte.
    start: u64,
    len: usize,
    head: u8,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// The terminal bytes from `offset` (inside this chunk) on.
    fn bytes_from(&self, offset: u64) -> &[u8] {
        let skip = (offset - self.start) as usize;
        self.frame.get(usize::from(self.head) + skip..).unwrap_or_default()
    }

    /// What to send a client whose cursor is `offset` (inside this chunk).
    fn item(&self, offset: u64, prefix: Option<u8>) -> Option<Outgoing> {
        let skip = (offset - self.start) as usize;
        if skip == 0 {
            return Some(Outgoing::Frame(self.frame.clone()));
        }
        let head = Head::new(self.len - skip, prefix);
        let payload = self.frame.view(usize::from(self.head) + skip..)?;
        Some(Outgoing::Partial { head, payload })
    }
}

/// The chunk of `chunks` (sorted, contiguous) that holds `offset`. Live clients
/// read the newest chunk: that is tried before a binary search.
fn find(chunks: &VecDeque<Chunk>, offset: u64) -> Option<&Chunk> {
    let last = chunks.back()?;
    if last.start <= offset {
        return (offset < last.end()).then_some(last);
    }
    let i = chunks.partition_point(|c| c.end() <= offset);
    chunks.get(i).filter(|c| c.start <= offset)
}

/// The unfrozen copy of `start..end` (see the module docs).
#[derive(Debug)]
struct MergeBuf {
    buf: BufMut,
    start: u64,
}

/// Counters (plain, cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrollStats {
    /// Bytes copied into merge buffers.
    pub merged_bytes: u64,
    /// Merge buffers sealed.
    pub seals: u64,
    /// Chunks evicted.
    pub evicted: u64,
    /// Quiet tails copied into exact-size buffers ([`Scrollback::compact`]).
    pub compactions: u64,
    /// Merge buffers moved into one twice their size.
    pub merge_grows: u64,
}

/// A session's output: offsets, framed chunks, the merge buffer, memory accounting.
///
/// Invariants: `sealed` then the merge buffer cover `start()..end` without gaps;
/// they overlap only by the chunk a merge buffer absorbed (the last sealed one, a
/// prefix of the merge buffer's range, served from `sealed` until the merge buffer
/// replaces it). `fresh` is non-empty only while the merge buffer is open and covers
/// a suffix `R..end` of its range. `mem` is the `mem_size` of every buffer held.
#[derive(Debug)]
pub struct Scrollback {
    pool: Pool,
    prefix: Option<u8>,
    sealed: VecDeque<Chunk>,
    fresh: VecDeque<Chunk>,
    merge: Option<MergeBuf>,
    end: u64,
    mem: usize,
    limit: usize,
    /// Merge buffers start small (and grow) while the terminal is new or has been
    /// quiet; once it has filled a whole buffer since, they come from the pool, whose
    /// buffers are reused without an allocation (a busy terminal's steady state).
    small_merges: bool,
    stats: ScrollStats,
}

impl Scrollback {
    /// An empty scrollback of at most `limit` bytes of memory (raised to
    /// [`MIN_BUFS`] buffers), framing for ttyd when `prefix` is `Some(b'0')`.
    pub fn new(pool: Pool, prefix: Option<u8>, limit: usize) -> Scrollback {
        let limit = limit.max(MIN_BUFS * pool.mem_size());
        Scrollback {
            pool,
            prefix,
            sealed: VecDeque::new(),
            fresh: VecDeque::new(),
            merge: None,
            end: 0,
            mem: 0,
            limit,
            small_merges: true,
            stats: ScrollStats::default(),
        }
    }

    /// The largest push that opens a merge buffer: a quarter of a pool buffer.
    fn small_max(&self) -> usize {
        self.pool.capacity() / 4
    }

    /// Frames `buf` in place and appends it. `buf` should have its whole headroom
    /// (fresh from the pool; data read or appended, nothing prepended): one that
    /// cannot take the frame's head is copied into an exact-size buffer instead, so
    /// output is never dropped. `min_cursor` is the smallest cursor of any client (or
    /// `end()` with none): what may be retired.
    pub fn push(&mut self, buf: BufMut, min_cursor: u64) {
        self.push_tapped(buf, min_cursor, |_, _| {})
    }

    /// [`push`](Self::push), handing `tapped` the offset and the terminal bytes of
    /// the push once it is in (not for an empty buffer): the session's output tap.
    pub fn push_tapped(&mut self, mut buf: BufMut, min_cursor: u64, tapped: impl FnOnce(u64, &[u8])) {
        let len = buf.len();
        if len == 0 {
            return;
        }
        self.retire(min_cursor);
        let head = Head::new(len, self.prefix);
        let frame = match buf.prepend(head.as_slice()) {
            Ok(()) => buf.freeze(),
            Err(_) => self.pool.exact_framed(head.as_slice(), &buf),
        };
        let chunk = Chunk { frame, start: self.end, len, head: head.len };
        tapped(chunk.start, chunk.bytes_from(chunk.start));
        let merged = self.merge_copy(chunk.bytes_from(chunk.start));
        self.end += len as u64;
        self.mem += chunk.frame.mem_size();
        if merged {
            self.fresh.push_back(chunk);
            if self.fresh.len() > MAX_FRESH {
                self.seal();
            }
        } else {
            self.sealed.push_back(chunk);
        }
        self.shrink_to(self.limit);
    }

    /// Copies `bytes` (the push about to be appended at `end`) into the merge buffer,
    /// opening or sealing it as the module docs say. `false`: not copied.
    fn merge_copy(&mut self, bytes: &[u8]) -> bool {
        match self.merge.as_ref().map(|m| bytes.len() <= m.buf.remaining()) {
            Some(true) => {}
            Some(false) if self.grow_merge(bytes.len()) => {}
            Some(false) => {
                self.seal();
                return self.open_merge(bytes);
            }
            None => return self.open_merge(bytes),
        }
        let Some(merge) = self.merge.as_mut() else { return false };
        merge.buf.extend_from_slice(bytes);
        self.stats.merged_bytes += bytes.len() as u64;
        true
    }

    /// Opens a merge buffer for `bytes` (small only). If the chunk just before holds
    /// at most half a buffer (a merge buffer sealed early, a read not merged),
    /// the new buffer absorbs a copy of it, and replaces it when sealed: early seals
    /// do not leave a trail of nearly empty buffers.
    fn open_merge(&mut self, bytes: &[u8]) -> bool {
        let small_max = self.small_max();
        if bytes.len() > small_max {
            return false;
        }
        let absorbed = self.sealed.back().filter(|c| c.end() == self.end && c.len <= 2 * small_max);
        let absorbed = absorbed.map_or(&[][..], |c| c.bytes_from(c.start));
        // It starts small and grows (`grow_merge`): a terminal that printed a prompt
        // holds a few hundred bytes, not a pool buffer, from its first output on.
        let Some(mut buf) = self.merge_buffer(absorbed.len() + bytes.len()) else { return false };
        // Half and a quarter of the capacity: they fit a buffer of this pool.
        if buf.headroom() < HEADROOM || buf.remaining() < absorbed.len() + bytes.len() {
            return false;
        }
        buf.extend_from_slice(absorbed);
        buf.extend_from_slice(bytes);
        let start = self.end - absorbed.len() as u64;
        self.stats.merged_bytes += (absorbed.len() + bytes.len()) as u64;
        self.mem += buf_mem(&buf);
        self.merge = Some(MergeBuf { buf, start });
        true
    }

    /// A merge buffer for at least `need` bytes. For a new or quiet terminal, a power of
    /// two from [`MIN_MERGE`] allocated on its own (it grows as output comes); at a pool
    /// buffer's size, or for a busy terminal, a pool buffer if one is spare (a merge
    /// buffer only saves memory: it never takes the pool's last ones), else one of that
    /// size on its own, so merging goes on when the pool is short.
    fn merge_buffer(&self, need: usize) -> Option<BufMut> {
        let full = self.pool.capacity();
        if need > full {
            return None;
        }
        let small = need.max(MIN_MERGE).next_power_of_two();
        if self.small_merges && small < full {
            return Some(self.pool.alloc_exact(small));
        }
        let pooled = self.pool.try_alloc().filter(|b| b.headroom() >= HEADROOM && b.remaining() >= need);
        Some(pooled.unwrap_or_else(|| self.pool.alloc_exact(full)))
    }

    /// Makes room for `more` bytes in a merge buffer smaller than a pool buffer, by
    /// moving its bytes into one twice its size (or the pool's). `false`: it is full
    /// size already (or no bigger buffer is to be had): seal it instead.
    fn grow_merge(&mut self, more: usize) -> bool {
        let Some(merge) = self.merge.as_ref() else { return false };
        if merge.buf.capacity() >= self.pool.capacity() {
            return false;
        }
        let need = merge.buf.len() + more;
        let want = (2 * merge.buf.capacity()).min(self.pool.capacity()).max(need);
        if want >= self.pool.capacity() {
            // A whole buffer of output since it was new or quiet: a busy terminal.
            self.small_merges = false;
        }
        let Some(mut bigger) = self.merge_buffer(want) else { return false };
        bigger.extend_from_slice(merge.buf.as_slice());
        let Some(merge) = self.merge.as_mut() else { return false };
        let old = std::mem::replace(&mut merge.buf, bigger);
        self.mem = self.mem - buf_mem(&old) + buf_mem(&merge.buf);
        self.stats.merge_grows += 1;
        true
    }

    /// Frames and freezes the merge buffer into a sealed chunk; drops the fresh
    /// originals it covers. No-op with no merge buffer.
    fn seal(&mut self) {
        let Some(MergeBuf { mut buf, start }) = self.merge.take() else { return };
        let len = buf.len();
        let head = Head::new(len, self.prefix);
        // A merge buffer keeps its whole headroom until here (nothing else prepends),
        // so the head goes in place; were it not so, the frame is copied whole.
        let merged_mem = buf_mem(&buf);
        let frame = match buf.prepend(head.as_slice()) {
            Ok(()) => buf.freeze(),
            Err(_) => self.pool.exact_framed(head.as_slice(), buf.as_slice()),
        };
        self.mem = self.mem - merged_mem + frame.mem_size();
        for chunk in self.fresh.drain(..) {
            self.mem -= chunk.frame.mem_size();
        }
        // The chunk it absorbed, if that is still here.
        while self.sealed.back().is_some_and(|c| c.start >= start) {
            if let Some(chunk) = self.sealed.pop_back() {
                self.mem -= chunk.frame.mem_size();
            }
        }
        self.sealed.push_back(Chunk { frame, start, len, head: head.len });
        self.stats.seals += 1;
    }

    /// Drops the fresh originals every client has been sent (`min_cursor`: the
    /// smallest cursor): the merge buffer holds their bytes, and the originals' pool
    /// buffers go back to the pool as soon as their last send is written, instead of
    /// waiting for the next push or the quiet-time compaction. Cheap when there are
    /// none (no small output lately).
    pub fn retire_sent(&mut self, min_cursor: impl FnOnce() -> u64) {
        if !self.fresh.is_empty() {
            self.retire(min_cursor());
        }
    }

    fn retire(&mut self, min_cursor: u64) {
        while let Some(chunk) = self.fresh.front().filter(|c| c.end() <= min_cursor) {
            self.mem -= chunk.frame.mem_size();
            self.fresh.pop_front();
        }
    }

    /// Evicts the oldest chunks (or seals the merge buffer) until at most `limit`
    /// bytes of memory are held or only the newest data is left; returns the bytes
    /// released. The per-core budget's hook; `push` applies the configured limit.
    pub fn shrink_to(&mut self, limit: usize) -> usize {
        let before = self.mem;
        while self.mem > limit {
            let only_newest = self.sealed.len() == 1 && self.merge.is_none();
            if !self.sealed.is_empty() && !only_newest {
                if let Some(chunk) = self.sealed.pop_front() {
                    self.mem -= chunk.frame.mem_size();
                    self.stats.evicted += 1;
                }
            } else if !self.fresh.is_empty() {
                self.seal();
            } else {
                break;
            }
        }
        before - self.mem
    }

    /// The terminal has gone quiet: gives back the memory that only more output would
    /// have used. Drops the fresh originals every client has been sent (`min_cursor`),
    /// seals the merge buffer, and if the newest chunk then fills at most half a pool
    /// buffer, copies it into a buffer of its exact size: an idle session keeps its
    /// prompt in a few hundred bytes, not a 16 KiB pool buffer. The next small push
    /// absorbs that chunk again (see `open_merge`), so each quiet spell costs one copy
    /// of at most half a buffer. Returns the bytes of memory released.
    pub fn compact(&mut self, min_cursor: u64) -> usize {
        let before = self.mem;
        self.small_merges = true;
        self.retire(min_cursor);
        self.seal();
        let small = 2 * self.small_max();
        // Small, and in a buffer larger than its bytes need (a pool buffer, or a merge
        // buffer that had grown past them).
        let loose = |c: &&mut Chunk| c.len <= small && c.frame.mem_size() > self.pool.exact_mem_size(c.len);
        if let Some(chunk) = self.sealed.back_mut().filter(loose) {
            let head = Head::new(chunk.len, self.prefix);
            let exact = self.pool.exact_framed(head.as_slice(), chunk.bytes_from(chunk.start));
            let old = std::mem::replace(&mut chunk.frame, exact);
            chunk.head = head.len;
            self.mem = self.mem - old.mem_size() + chunk.frame.mem_size();
            self.stats.compactions += 1;
        }
        // The chunk lists too: `fresh` is empty now and `sealed` of a quiet terminal
        // often holds one chunk, but each kept the room of its busiest moment (at least
        // four entries, 192 bytes). The next output grows them again, once per spell.
        self.fresh.shrink_to_fit();
        self.sealed.shrink_to_fit();
        before.saturating_sub(self.mem)
    }

    /// What to send a client whose cursor is `offset` (`start() <= offset < end()`),
    /// and the offset after it; `None` outside that range.
    pub fn item_at(&mut self, offset: u64) -> Option<(Outgoing, u64)> {
        if offset >= self.end || offset < self.start() {
            return None;
        }
        let prefix = self.prefix;
        let serve = |c: &Chunk| c.item(offset, prefix).map(|item| (item, c.end()));
        // Fresh originals first: they are the newest (and what live clients want).
        let in_fresh = self.fresh.front().is_some_and(|c| c.start <= offset);
        let chunk = if in_fresh { find(&self.fresh, offset) } else { find(&self.sealed, offset) };
        if let Some(chunk) = chunk {
            return serve(chunk);
        }
        // Only the merge buffer holds this byte now: seal it to serve from it.
        self.seal();
        find(&self.sealed, offset).and_then(serve)
    }

    /// The offset after the first `\n` within [`LINE_CUT_SCAN`] bytes from `from`, or
    /// `from` if there is none: where a replay starts so that it starts on a line.
    pub fn line_start(&self, from: u64) -> u64 {
        let (mut pos, mut left) = (from, LINE_CUT_SCAN);
        while left > 0 && pos < self.end {
            let bytes = self.bytes_at(pos);
            if bytes.is_empty() {
                break;
            }
            let bytes = &bytes[..bytes.len().min(left)];
            if let Some(i) = bytes.iter().position(|&b| b == b'\n') {
                return pos + i as u64 + 1;
            }
            pos += bytes.len() as u64;
            left -= bytes.len();
        }
        from
    }

    /// The retained terminal bytes from `offset` to the end of what holds it.
    fn bytes_at(&self, offset: u64) -> &[u8] {
        if let Some(chunk) = find(&self.sealed, offset) {
            return chunk.bytes_from(offset);
        }
        match &self.merge {
            Some(m) if m.start <= offset && offset < self.end => {
                m.buf.get((offset - m.start) as usize..).unwrap_or_default()
            }
            _ => &[],
        }
    }

    /// Appends the last `max` retained terminal bytes (or fewer, if fewer are retained)
    /// to `out`; returns whether older output precedes them (evicted or not taken).
    pub fn tail(&self, max: usize, out: &mut Vec<u8>) -> bool {
        let start = self.start().max(self.end.saturating_sub(max as u64));
        self.copy_from(start, out);
        start > 0
    }

    /// Appends the retained bytes from `pos` (a retained offset) to the end to `out`.
    fn copy_from(&self, mut pos: u64, out: &mut Vec<u8>) {
        while pos < self.end {
            let bytes = self.bytes_at(pos);
            if bytes.is_empty() {
                break;
            }
            out.extend_from_slice(bytes);
            pos += bytes.len() as u64;
        }
    }

    /// Whether the next push could evict bytes a client at `cursor` has not been
    /// sent yet (a push adds at most two buffers, so it evicts at most two chunks).
    pub fn next_push_evicts(&self, cursor: u64) -> bool {
        let room = self.limit.saturating_sub(self.mem);
        room < 2 * self.pool.mem_size() && self.sealed.iter().take(2).any(|c| c.end() > cursor)
    }

    /// Every retained terminal byte, oldest first, and the offset of the first: what a
    /// live upgrade hands the next process (`runtime::handover`).
    pub fn export(&self) -> (u64, Vec<u8>) {
        let start = self.start();
        let mut out = Vec::with_capacity((self.end - start) as usize);
        self.copy_from(start, &mut out);
        (start, out)
    }

    /// An empty scrollback taking up the output of another process's at `start`: the
    /// next byte pushed has that offset, and `bytes` (what it retained) end there.
    /// Returns it with the bytes pushed, in pool buffers, as if read from the PTY.
    pub fn resumed(pool: Pool, prefix: Option<u8>, limit: usize, start: u64, bytes: &[u8]) -> Scrollback {
        let mut s = Scrollback::new(pool, prefix, limit);
        s.end = start;
        for piece in bytes.chunks(s.pool.capacity().max(1)) {
            let mut buf = s.pool.try_alloc().unwrap_or_else(|| s.pool.alloc_exact(piece.len()));
            buf.extend_from_slice(piece);
            s.push(buf, u64::MAX);
        }
        s
    }

    /// The oldest offset retained (`end()` when nothing is).
    pub fn start(&self) -> u64 {
        let merge = self.merge.as_ref().map(|m| m.start);
        self.sealed.front().map(|c| c.start).or(merge).unwrap_or(self.end)
    }

    /// The offset of the next byte of output: bytes pushed since the session started.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Memory held.
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// The memory limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Buffers held: sealed chunks, fresh originals and the merge buffer.
    pub fn buffers(&self) -> usize {
        self.sealed.len() + self.fresh.len() + usize::from(self.merge.is_some())
    }

    /// The memory of every buffer held, counted afresh (tests check `mem` by it).
    #[cfg(test)]
    pub fn mem_recount(&self) -> usize {
        let chunks = self.sealed.iter().chain(&self.fresh).map(|c| c.frame.mem_size()).sum::<usize>();
        chunks + self.merge.as_ref().map_or(0, |m| buf_mem(&m.buf))
    }

    /// Counters.
    pub fn stats(&self) -> ScrollStats {
        self.stats
    }
}
