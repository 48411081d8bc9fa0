//! Output, replay, fan-out and flow control, with a fake clock and a fake writer
//! that decodes every frame it is handed.

use super::*;
use crate::buf::{PoolConfig, DEFAULT_CAPACITY};
use crate::ws::{FrameHeader, OpCode, Status as WsStatus};

pub(super) const T0: Millis = Millis(1_000);

pub(super) fn pool(capacity: usize) -> Pool {
    Pool::new(PoolConfig { capacity, max_bufs: 1 << 16, reserve: 0 }).unwrap()
}

pub(super) fn id() -> SessionId {
    SessionId::new(None, 3, [7; id::RANDOM_BYTES]).unwrap()
}

/// A session and the model of its output: every byte ever pushed.
pub(super) struct Fixture {
    pub pool: Pool,
    pub session: Session,
    pub output: Vec<u8>,
}

impl Fixture {
    pub fn new(capacity: usize, config: SessionConfig) -> Fixture {
        let pool = pool(capacity);
        let session = Session::new(id(), pool.clone(), config, WinSize::DEFAULT, T0);
        Fixture { pool, session, output: Vec::new() }
    }

    pub fn native(capacity: usize, scrollback: usize) -> Fixture {
        // The window is clamped to the scrollback.
        Fixture::new(capacity, SessionConfig { scrollback, window: usize::MAX, ..SessionConfig::default() })
    }

    /// Pushes `bytes` as one PTY read.
    pub fn push(&mut self, bytes: &[u8]) {
        let mut buf = self.pool.try_alloc().unwrap();
        assert_eq!(buf.extend_from_slice(bytes), bytes.len());
        self.session.push_output(buf, || T0);
        self.output.extend_from_slice(bytes);
        self.check_memory();
    }

    /// Pushes `n` bytes of a recognisable pattern, in reads of at most `read` bytes.
    pub fn push_pattern(&mut self, n: usize, read: usize) {
        let mut left = n;
        while left > 0 {
            let len = left.min(read);
            let start = self.output.len();
            let bytes: Vec<u8> = (start..start + len).map(pattern_byte).collect();
            self.push(&bytes);
            left -= len;
        }
    }

    pub fn check_memory(&self) {
        let sb = self.session.scrollback();
        assert!(sb.mem() <= sb.limit(), "scrollback holds {} > limit {}", sb.mem(), sb.limit());
        assert_eq!(sb.mem(), sb.mem_recount());
        assert_eq!(sb.end(), self.output.len() as u64);
    }

    pub fn attach(&mut self, writable: bool, since: Option<u64>) -> Writer {
        let (id, hello) = self.session.attach(T0, writable, since).unwrap();
        Writer::for_attach(id, hello, self.session.config().dialect)
    }
}

/// Bytes with newlines every 61 bytes, varied enough to catch misplaced copies.
pub(super) fn pattern_byte(i: usize) -> u8 {
    if i % 61 == 60 {
        b'\n'
    } else {
        b' ' + (i * 7 % 89) as u8
    }
}

/// A fake writer: what a client would have received, decoded and checked.
#[derive(Debug)]
pub(super) struct Writer {
    pub id: ClientId,
    pub hello: Hello,
    ttyd: bool,
    /// The offset of the next byte expected.
    pub next: u64,
    pub bytes: u64,
    pub items: Vec<Kind>,
    pub gaps: Vec<(u64, u64)>,
    pub resizes: Vec<WinSize>,
    /// `Role` messages: (driver, offset).
    pub roles: Vec<(bool, u64)>,
    /// `Label` messages: (name, keep).
    pub labels: Vec<(Option<String>, bool)>,
    pub exit: Option<ExitStatus>,
    batch: Vec<Outgoing>,
}

/// What kind of item was received, to check orderings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Frame,
    Partial,
    Gap,
    Resize,
    Role,
    Label,
    Exit,
}

impl Writer {
    pub fn for_attach(id: ClientId, hello: Hello, dialect: Dialect) -> Writer {
        Writer {
            id,
            hello,
            ttyd: dialect == Dialect::Ttyd,
            next: hello.offset,
            bytes: 0,
            items: Vec::new(),
            gaps: Vec::new(),
            resizes: Vec::new(),
            roles: Vec::new(),
            labels: Vec::new(),
            exit: None,
            batch: Vec::new(),
        }
    }

    /// One `poll_send`, every item checked against `output`. Returns the items.
    pub fn poll(&mut self, session: &mut Session, output: &[u8]) -> usize {
        session.poll_send(self.id, &mut self.batch);
        assert!(self.batch.len() <= MAX_BATCH);
        let batch = std::mem::take(&mut self.batch);
        for item in &batch {
            assert!(self.exit.is_none(), "{item:?} after exit");
            self.receive(item, output);
        }
        let n = batch.len();
        self.batch = batch;
        n
    }

    /// Polls until there is nothing more.
    pub fn drain(&mut self, session: &mut Session, output: &[u8]) {
        while self.poll(session, output) > 0 {}
    }

    fn receive(&mut self, item: &Outgoing, output: &[u8]) {
        match item {
            Outgoing::Frame(frame) => {
                let (header, header_len) = decode(frame);
                assert_eq!(header.payload_len as usize, frame.len() - header_len);
                self.items.push(Kind::Frame);
                self.payload(&frame[header_len..], output);
            }
            Outgoing::Partial { head, payload } => {
                let (header, header_len) = decode(head.as_slice());
                assert_eq!(header_len + usize::from(self.ttyd), head.as_slice().len());
                assert_eq!(header.payload_len as usize, payload.len() + usize::from(self.ttyd));
                if self.ttyd {
                    assert_eq!(head.as_slice().last(), Some(&b'0'));
                }
                self.items.push(Kind::Partial);
                self.payload_bytes(payload, output);
            }
            Outgoing::Gap { from, to } if self.items.is_empty() && *to == self.next => {
                // Attached with a `since` older than the scrollback: hello.offset is `to`.
                assert!(from < to);
                self.gaps.push((*from, *to));
                self.items.push(Kind::Gap);
            }
            Outgoing::Gap { from, to } => {
                assert_eq!(*from, self.next, "a gap starts where the stream is");
                assert!(to > from);
                self.next = *to;
                self.gaps.push((*from, *to));
                self.items.push(Kind::Gap);
            }
            Outgoing::Resize(size) => {
                self.resizes.push(*size);
                self.items.push(Kind::Resize);
            }
            Outgoing::Role { driver, offset } => {
                assert!(!self.ttyd, "a ttyd client has no role");
                assert!(*offset >= self.next, "a role at {offset} told after byte {}", self.next);
                let told = self.roles.last().is_some_and(|(d, _)| *d);
                assert_ne!(*driver, told, "roles alternate, starting with the driver");
                self.roles.push((*driver, *offset));
                self.items.push(Kind::Role);
            }
            Outgoing::Label { name, keep } => {
                assert!(!self.ttyd, "a ttyd client has no session message");
                self.labels.push((name.as_deref().map(str::to_owned), *keep));
                self.items.push(Kind::Label);
            }
            Outgoing::Exit(status) => {
                assert_eq!(self.next, output.len() as u64, "exit after all output");
                self.exit = Some(*status);
                self.items.push(Kind::Exit);
            }
        }
    }

    fn payload(&mut self, payload: &[u8], output: &[u8]) {
        let payload = if self.ttyd {
            assert_eq!(payload.first(), Some(&b'0'), "ttyd output prefix");
            &payload[1..]
        } else {
            payload
        };
        self.payload_bytes(payload, output);
    }

    fn payload_bytes(&mut self, payload: &[u8], output: &[u8]) {
        assert!(!payload.is_empty(), "no empty frames");
        let start = self.next as usize;
        assert_eq!(payload, &output[start..start + payload.len()], "bytes at offset {start}");
        self.next += payload.len() as u64;
        self.bytes += payload.len() as u64;
    }
}

fn decode(bytes: &[u8]) -> (FrameHeader, usize) {
    let Ok(WsStatus::Complete((header, len))) = FrameHeader::decode(bytes) else {
        panic!("undecodable frame header {:?}", &bytes[..bytes.len().min(10)]);
    };
    assert!(header.fin && header.rsv == 0 && header.mask.is_none());
    assert_eq!(header.opcode, OpCode::Binary);
    (header, len)
}

#[test]
fn offsets_across_many_pushes() {
    let mut f = Fixture::native(200, 1 << 20);
    let mut w = f.attach(false, None);
    for len in [1, 2, 3, 124, 125, 126, 127, 199, 200, 1, 50, 51, 49, 200, 7] {
        f.push_pattern(len, len);
        w.drain(&mut f.session, &f.output);
        assert_eq!(w.next, f.output.len() as u64);
    }
    assert_eq!(f.session.end_offset(), f.output.len() as u64);
    assert_eq!(f.session.scrollback().start(), 0);
    assert_eq!(f.session.metrics().bytes_out, f.output.len() as u64);
    assert_eq!(f.session.metrics().bytes_sent, f.output.len() as u64);
}

#[test]
fn frame_headers_at_every_length_boundary() {
    // 125/126 and 65535/65536 payloads need 2, 4 and 10-byte headers.
    for dialect in [Dialect::Native, Dialect::Ttyd] {
        let config =
            SessionConfig { dialect, scrollback: 8 << 20, window: 8 << 20, ..SessionConfig::default() };
        let mut f = Fixture::new(70_000, config);
        let mut w = f.attach(true, None);
        for len in [124, 125, 126, 127, 65_534, 65_535, 65_536, 69_999, 70_000] {
            f.push_pattern(len, len);
            w.drain(&mut f.session, &f.output);
        }
        assert_eq!(w.next, f.output.len() as u64);
        // Mid-chunk starts around the same boundaries.
        for back in [1, 124, 125, 126, 65_534, 65_535, 65_536, 69_999] {
            let since = f.output.len() as u64 - back;
            let mut v = f.attach(false, Some(since));
            v.drain(&mut f.session, &f.output);
            assert_eq!((v.items[0], v.next), (Kind::Partial, f.output.len() as u64), "{dialect:?} {back}");
        }
    }
}

#[test]
fn replay_from_every_since() {
    // Reads of mixed sizes: zero-copy chunks, merged ones, sealed merge buffers.
    for dialect in [Dialect::Native, Dialect::Ttyd] {
        let config = SessionConfig { dialect, scrollback: 1 << 20, ..SessionConfig::default() };
        let mut f = Fixture::new(64, config);
        let sizes = [1, 1, 2, 40, 64, 3, 1, 16, 17, 64, 60, 5, 1, 1, 1, 33];
        for &len in sizes.iter().cycle().take(60) {
            f.push_pattern(len, len);
        }
        let end = f.output.len() as u64;
        for since in 0..=end {
            let mut w = f.attach(false, Some(since));
            assert_eq!(w.hello.offset, since);
            w.drain(&mut f.session, &f.output);
            assert_eq!((w.next, w.bytes), (end, end - since), "since {since}");
            assert!(w.gaps.is_empty());
            assert!(w.items.iter().skip(1).all(|k| *k == Kind::Frame), "only the first item is partial");
            f.session.detach(w.id, T0);
        }
    }
}

#[test]
fn merging_needs_no_pool_buffer_and_a_mid_size_read_is_absorbed() {
    let mut f = Fixture::native(DEFAULT_CAPACITY, 1 << 20);
    let mut w = f.attach(true, None);
    // A read of more than a quarter of a buffer is kept whole, zero-copy.
    let mid = DEFAULT_CAPACITY / 4 + 100;
    f.push_pattern(mid, mid);
    w.drain(&mut f.session, &f.output);
    assert_eq!(f.session.metrics().scroll.merged_bytes, 0);
    // Hold every free pool buffer but one per read: merge buffers are allocated on
    // their own, so echoes are still merged; the first absorbs the mid-size chunk.
    let mut held: Vec<_> = std::iter::from_fn(|| f.pool.try_alloc()).collect();
    for byte in *b"abc" {
        drop(held.pop());
        f.push(&[byte]);
        w.drain(&mut f.session, &f.output);
    }
    assert_eq!(f.session.metrics().scroll.merged_bytes, mid as u64 + 3);
    assert_eq!(
        f.session.scrollback().buffers(),
        2,
        "the mid-size chunk (absorbed, still served) and merge(mid a b c): each original is \
         retired once its one client has been sent it"
    );
    drop(held);
    let mut v = f.attach(false, Some(0));
    v.drain(&mut f.session, &f.output);
    assert_eq!(v.bytes, mid as u64 + 3);
    // Sealing (for an attach inside the merged range) replaces the absorbed chunk.
    let mut m = f.attach(false, Some(mid as u64 + 1));
    m.drain(&mut f.session, &f.output);
    assert_eq!(m.bytes, 2);
    assert_eq!(f.session.scrollback().buffers(), 1, "sealed(mid a b c)");
    f.check_memory();
}

#[test]
fn replay_without_since_starts_on_a_line() {
    // Nothing evicted: everything, from 0.
    let mut f = Fixture::native(256, 0);
    f.push(b"first line\nsecond");
    let mut w = f.attach(false, None);
    assert_eq!(w.hello.offset, 0);
    w.drain(&mut f.session, &f.output);
    assert_eq!(w.next, f.output.len() as u64);

    // Evicted: from just after the first newline past the oldest retained byte.
    f.push_pattern(40_000, 256);
    let start = f.session.scrollback().start();
    assert!(start > 0);
    let mut w = f.attach(false, None);
    let first_newline = f.output[start as usize..].iter().position(|&b| b == b'\n').unwrap();
    assert_eq!(w.hello.offset, start + first_newline as u64 + 1);
    w.drain(&mut f.session, &f.output);
    assert_eq!(w.next, f.output.len() as u64);
    assert!(w.gaps.is_empty());

    // No newline near the start: from the oldest byte.
    let mut f = Fixture::native(256, 0);
    for _ in 0..100 {
        f.push(&[b'x'; 256]);
    }
    let w = f.attach(false, None);
    assert_eq!(w.hello.offset, f.session.scrollback().start());
}

#[test]
fn since_older_than_scrollback_gaps_first_and_future_is_refused() {
    let mut f = Fixture::native(256, 0);
    f.push_pattern(20_000, 256);
    let start = f.session.scrollback().start();
    assert!(start > 10);
    let mut w = f.attach(false, Some(3));
    assert_eq!(w.hello.offset, start);
    w.drain(&mut f.session, &f.output);
    assert_eq!(w.items[0], Kind::Gap);
    assert_eq!(w.gaps, [(3, start)]);
    assert_eq!(w.next, f.output.len() as u64);

    let end = f.session.end_offset();
    assert_eq!(f.session.attach(T0, false, Some(end + 1)).unwrap_err(), SessionError::SinceInFuture);
    assert_eq!(SessionError::SinceInFuture.close_code(), Some(CloseCode::POLICY_VIOLATION));
    assert!(f.session.attach(T0, false, Some(end)).is_ok());
}

#[test]
fn viewers_receive_identical_bytes() {
    let mut f = Fixture::native(128, 1 << 20);
    let mut viewers: Vec<Writer> = (0..3).map(|_| f.attach(false, None)).collect();
    for i in 0..200 {
        f.push_pattern(1 + i * 13 % 128, 128);
        // Different polling rhythms; none falls a scrollback behind.
        for (n, v) in viewers.iter_mut().enumerate() {
            if i % (n + 1) == 0 {
                v.poll(&mut f.session, &f.output);
            }
        }
    }
    for v in &mut viewers {
        v.drain(&mut f.session, &f.output);
        assert_eq!((v.next, v.bytes), (f.output.len() as u64, f.output.len() as u64));
        assert!(v.gaps.is_empty());
    }
}

#[test]
fn slow_viewer_gets_a_gap_and_jumps_while_a_fast_one_gets_everything() {
    let mut f = Fixture::native(256, 0);
    let mut slow = f.attach(false, None);
    let mut fast = f.attach(false, None);
    for _ in 0..200 {
        f.push_pattern(256, 256);
        fast.drain(&mut f.session, &f.output);
        assert!(f.session.should_read_pty(), "viewers never stall the PTY");
    }
    assert!(f.session.scrollback().start() > 0);
    slow.drain(&mut f.session, &f.output);
    assert_eq!(slow.gaps, [(0, f.output.len() as u64)]);
    assert_eq!(slow.bytes, 0);
    // After the jump it follows the present.
    f.push(b"now");
    slow.drain(&mut f.session, &f.output);
    fast.drain(&mut f.session, &f.output);
    assert_eq!((slow.bytes, slow.next), (3, f.output.len() as u64));
    assert_eq!(fast.bytes, f.output.len() as u64);
    assert_eq!(f.session.metrics().gaps, 1);
}

#[test]
fn driver_window_stops_and_resumes_pty_reading() {
    let window = 64 * 1024;
    let config = SessionConfig { window, ..SessionConfig::default() };
    let mut f = Fixture::new(DEFAULT_CAPACITY, config);
    let mut d = f.attach(true, None);
    let _viewer = f.attach(false, None);
    f.session.input(d.id, b"x", T0).unwrap();
    assert_eq!(f.session.driver(), Some(d.id));
    f.session.ack(d.id, 0, T0).unwrap();
    while f.session.should_read_pty() {
        f.push_pattern(4096, 4096);
        d.drain(&mut f.session, &f.output);
    }
    assert_eq!(f.session.end_offset(), window as u64);
    assert_eq!(f.session.metrics().pty_pauses, 1);
    f.session.ack(d.id, 4096, T0).unwrap();
    assert!(f.session.should_read_pty());
    assert_eq!(f.session.ack(d.id, d.next + 1, T0), Err(SessionError::AckBeyondSent));
    assert_eq!(SessionError::AckBeyondSent.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    // An older ack changes nothing (cumulative).
    f.session.ack(d.id, 10, T0).unwrap();
    assert!(f.session.should_read_pty());
}

#[test]
fn driver_without_acks_is_held_by_its_unsent_backlog() {
    let window = 32 * 1024;
    let config = SessionConfig { window, ..SessionConfig::default() };
    let mut f = Fixture::new(DEFAULT_CAPACITY, config);
    let d = f.attach(true, None);
    f.session.input(d.id, b"x", T0).unwrap();
    f.push_pattern(window, 8192);
    assert!(!f.session.should_read_pty(), "its socket is not taking the output");
    // Taking the output is what lets the PTY be read again: poll_send says so, so the
    // runtime wakes the reader (there is no ack to do it).
    assert!(f.session.poll_send(d.id, &mut Vec::new()));
    assert!(f.session.should_read_pty());
    assert!(!f.session.poll_send(d.id, &mut Vec::new()), "only the transition is reported");
}

#[test]
fn driver_is_never_evicted_from_under_itself() {
    // A window larger than the scrollback can hold: the memory rule holds it back.
    let config = SessionConfig { scrollback: 1 << 20, window: 1 << 20, ..SessionConfig::default() };
    let mut f = Fixture::new(DEFAULT_CAPACITY, config);
    let mut d = f.attach(true, None);
    f.session.input(d.id, b"x", T0).unwrap();
    f.session.ack(d.id, 0, T0).unwrap();
    while f.session.should_read_pty() {
        f.push_pattern(3000, 3000);
        d.poll(&mut f.session, &f.output);
    }
    d.drain(&mut f.session, &f.output);
    assert!(d.gaps.is_empty());
    assert_eq!(d.next, f.output.len() as u64);
}

#[test]
fn demotion_after_ten_silent_seconds_with_a_full_window() {
    let config = SessionConfig { window: 16 * 1024, ..SessionConfig::default() };
    let mut f = Fixture::new(DEFAULT_CAPACITY, config);
    let mut d = f.attach(true, None);
    f.session.input(d.id, b"x", T0).unwrap();
    f.session.ack(d.id, 0, T0).unwrap();
    f.push_pattern(16 * 1024, 4096);
    d.drain(&mut f.session, &f.output);
    assert!(!f.session.should_read_pty());
    // The first tick after the hold starts its clock (it asks for a tick at once).
    let t1 = Millis(T0.0 + 5_000);
    assert!(f.session.next_deadline().unwrap() <= t1);
    assert_eq!(f.session.tick(t1), Actions::NONE);
    assert_eq!(f.session.next_deadline(), Some(Millis(t1.0 + 10_000)));
    // A word from the driver restarts it.
    let t2 = Millis(t1.0 + 9_000);
    f.session.ack(d.id, 0, t2).unwrap();
    assert_eq!(f.session.tick(Millis(t1.0 + 10_000)), Actions::NONE);
    assert_eq!(f.session.tick(Millis(t2.0 + 9_999)), Actions::NONE);
    assert_eq!(f.session.tick(Millis(t2.0 + 10_000)), Actions::DEMOTE_DRIVER);
    assert_eq!(f.session.driver(), None);
    assert!(f.session.should_read_pty());
    assert_eq!(f.session.metrics().demotions, 1);
    // Typing again makes it the driver again.
    f.session.input(d.id, b"y", t2).unwrap();
    assert_eq!(f.session.driver(), Some(d.id));
}

#[test]
fn resize_rules() {
    let mut f = Fixture::native(256, 0);
    let mut a = f.attach(true, None);
    let mut v = f.attach(false, None);
    let big = WinSize { cols: 200, rows: 50 };
    assert_eq!(f.session.resize(v.id, big, T0), Err(SessionError::NotWritable));
    assert_eq!(SessionError::NotWritable.close_code(), None);
    assert_eq!(f.session.size(), WinSize::DEFAULT);
    assert_eq!(f.session.resize(a.id, big, T0), Ok(Some(big)));
    assert_eq!(f.session.resize(a.id, big, T0), Ok(None));
    assert_eq!(f.session.driver(), Some(a.id));
    f.push(b"after");
    v.drain(&mut f.session, &f.output);
    a.drain(&mut f.session, &f.output);
    assert_eq!(v.resizes, [big]);
    assert!(a.resizes.is_empty(), "the resizer is not told its own size");
    // A second writable client that typed takes the size it asked for.
    let b = f.attach(true, None);
    let small = WinSize { cols: 90, rows: 30 };
    assert_eq!(f.session.resize(b.id, small, T0), Ok(Some(small)));
    assert_eq!(f.session.input(a.id, b"ls\r", T0), Ok(Some(big)));
    assert_eq!(f.session.input(a.id, b"\r", T0), Ok(None));
    assert_eq!(f.session.api_resize(small, T0), Some(small));
}

#[test]
fn small_reads_are_merged_and_memory_stays_bounded() {
    // 100,000 one-byte echoes: without merging, a 1 MiB scrollback of 16 KiB
    // buffers would keep the last 63 bytes.
    for clients in [0, 1, 2] {
        let mut f = Fixture::native(DEFAULT_CAPACITY, 1 << 20);
        let mut writers: Vec<Writer> = (0..clients).map(|_| f.attach(true, None)).collect();
        for i in 0..100_000 {
            f.push(&[pattern_byte(i)]);
            // The second client polls only now and then (it lags by many echoes).
            for (n, w) in writers.iter_mut().enumerate() {
                if n == 0 || i % 1000 == 0 {
                    w.drain(&mut f.session, &f.output);
                }
            }
        }
        let sb = f.session.scrollback();
        assert_eq!(sb.start(), 0, "all 100,000 bytes are retained");
        // 100 KB is 6.1 full buffers. With a viewer lagging by up to 1000 echoes,
        // merge buffers are sealed early, then absorbed until half full.
        // Plus up to MAX_FRESH originals it has not been sent and the merge buffer.
        let most = if clients < 2 { 9 } else { 100_000 / (DEFAULT_CAPACITY / 2) + output::MAX_FRESH + 2 };
        assert!(sb.buffers() <= most, "{} buffers for 100 KB", sb.buffers());
        for since in [0, 1, 50_000, 99_999, 100_000] {
            let mut w = f.attach(false, Some(since));
            w.drain(&mut f.session, &f.output);
            assert_eq!(w.bytes, 100_000 - since);
        }
        for w in &mut writers {
            w.drain(&mut f.session, &f.output);
            assert_eq!((w.bytes, w.gaps.len()), (100_000, 0));
        }
    }
}

#[test]
fn small_reads_keep_the_scrollback_full_of_data_when_evicting() {
    // Small buffers to evict often: echoes mixed with larger reads.
    let mut f = Fixture::native(256, 64 * 1024);
    let mut w = f.attach(true, None);
    for i in 0..50_000 {
        let len = if i % 10 == 9 { 200 } else { 1 + i % 3 };
        f.push_pattern(len, len);
        w.drain(&mut f.session, &f.output);
    }
    let sb = f.session.scrollback();
    let retained = sb.end() - sb.start();
    // At least half of the memory is payload (256-byte buffers cost ~300).
    assert!(retained as usize * 2 >= sb.limit() * 256 / f.pool.mem_size(), "{retained} of {}", sb.limit());
    let mut v = f.attach(false, Some(sb.start()));
    v.drain(&mut f.session, &f.output);
    assert_eq!(v.bytes, retained);
    assert_eq!(w.bytes, f.output.len() as u64);
}

#[test]
fn exit_comes_after_all_output_then_nothing() {
    let mut f = Fixture::native(256, 1 << 20);
    let mut w = f.attach(true, None);
    f.push_pattern(5000, 256);
    w.poll(&mut f.session, &f.output);
    f.session.exited(ExitStatus::code(3), T0);
    assert!(!f.session.should_read_pty());
    w.drain(&mut f.session, &f.output);
    assert_eq!(w.items.last(), Some(&Kind::Exit));
    assert_eq!(w.items.iter().filter(|k| **k == Kind::Exit).count(), 1);
    assert_eq!((w.exit, w.next), (Some(ExitStatus::code(3)), 5000));
    assert_eq!(w.poll(&mut f.session, &f.output), 0);
    // A client attaching after the exit gets the replay, then the exit.
    let mut late = f.attach(false, Some(0));
    late.drain(&mut f.session, &f.output);
    assert_eq!((late.bytes, late.exit), (5000, Some(ExitStatus::code(3))));
    assert_eq!(
        Outgoing::Exit(ExitStatus::signal(9)).control_msg(),
        Some(ServerMsg::Exit { code: None, signal: Some(9) })
    );
}

#[test]
fn ttyd_sessions_prefix_output_and_follow_pause() {
    let config = SessionConfig { dialect: Dialect::Ttyd, window: 1 << 20, ..SessionConfig::default() };
    let mut f = Fixture::new(256, config);
    let mut c = f.attach(false, None);
    f.push(b"hello");
    f.push_pattern(3000, 256);
    c.drain(&mut f.session, &f.output);
    assert_eq!(c.next, f.output.len() as u64);
    let mut mid = f.attach(false, Some(2));
    mid.drain(&mut f.session, &f.output);
    assert_eq!(mid.items[0], Kind::Partial);
    // Pause and resume stop and restart PTY reads; a read-only ttyd client may not
    // resize, a writable one may.
    f.session.set_paused(c.id, true, T0).unwrap();
    assert!(!f.session.should_read_pty());
    f.session.set_paused(c.id, false, T0).unwrap();
    assert!(f.session.should_read_pty());
    let size = WinSize { cols: 100, rows: 40 };
    assert_eq!(f.session.resize(c.id, size, T0), Err(SessionError::NotWritable));
    let writer = f.attach(true, None);
    assert_eq!(f.session.resize(writer.id, size, T0), Ok(Some(size)));
    f.session.detach(writer.id, T0);
    assert!(c.resizes.is_empty() && mid.resizes.is_empty());
    // Its socket's backpressure holds the PTY: it is never left behind.
    f.session.detach(mid.id, T0);
    while f.session.should_read_pty() {
        f.push_pattern(256, 256);
    }
    c.drain(&mut f.session, &f.output);
    assert!(c.gaps.is_empty());
    assert_eq!(c.next, f.output.len() as u64);
}

#[test]
fn input_queue_bounds_and_window_suspension() {
    let config = SessionConfig { window: 8192, input_queue: 100, ..SessionConfig::default() };
    let mut f = Fixture::new(DEFAULT_CAPACITY, config);
    let v = f.attach(false, None);
    let mut d = f.attach(true, None);
    assert_eq!(f.session.input(v.id, b"x", T0), Err(SessionError::NotWritable));
    assert_eq!(f.session.input(d.id, &[b'a'; 60], T0), Ok(None));
    assert_eq!(f.session.input(d.id, &[b'b'; 41], T0), Err(SessionError::InputFull));
    assert_eq!(SessionError::InputFull.close_code(), None);
    assert!(f.session.input_queue().is_stalled());
    assert_eq!(f.session.input_space(), 40);
    // While input is stalled, the driver's full window does not stop the output
    // (its acks may be behind the paste in its socket).
    f.session.ack(d.id, 0, T0).unwrap();
    f.push_pattern(8192, 4096);
    d.drain(&mut f.session, &f.output);
    assert!(f.session.should_read_pty());
    // The PTY takes some (short writes); the runtime retries.
    assert_eq!(f.session.pending_input().len(), 60);
    f.session.input_written(30);
    assert!(!f.session.input_queue().is_stalled());
    assert!(!f.session.should_read_pty(), "window enforced again");
    assert_eq!(f.session.input(d.id, &[b'b'; 41], T0), Ok(None));
    let mut drained = Vec::new();
    while !f.session.pending_input().is_empty() {
        let n = f.session.pending_input().len().min(7);
        drained.extend_from_slice(&f.session.pending_input()[..n]);
        f.session.input_written(n);
    }
    assert_eq!(drained, [&[b'a'; 30][..], &[b'b'; 41]].concat());
    // A message larger than the bound is taken when the queue is empty.
    assert_eq!(f.session.api_input(&[b'c'; 500], T0), Ok(()));
    assert_eq!(f.session.api_input(b"d", T0), Err(SessionError::InputFull));
    assert_eq!(f.session.metrics().bytes_in, 60 + 41 + 500);
}

#[test]
fn stale_client_ids_name_nothing() {
    let mut f = Fixture::native(256, 0);
    let a = f.attach(true, None);
    f.session.detach(a.id, T0);
    let b = f.attach(true, None);
    assert_ne!(a.id, b.id);
    assert_eq!(f.session.ack(a.id, 0, T0), Err(SessionError::UnknownClient));
    assert_eq!(f.session.input(a.id, b"x", T0), Err(SessionError::UnknownClient));
    let mut batch = vec![Outgoing::Gap { from: 0, to: 1 }];
    f.push(b"x");
    f.session.poll_send(a.id, &mut batch);
    assert!(batch.is_empty());
    assert_eq!(f.session.detach(a.id, T0), Actions::NONE);
    assert_eq!(f.session.client_count(), 1);
}

#[test]
fn shrinking_for_a_core_budget() {
    let mut f = Fixture::native(256, 1 << 20);
    let mut v = f.attach(false, None);
    f.push_pattern(50_000, 256);
    let before = f.session.scrollback().mem();
    let freed = f.session.shrink_scrollback(10 * f.pool.mem_size());
    assert_eq!(before - freed, f.session.scrollback().mem());
    assert!(f.session.scrollback().mem() <= 10 * f.pool.mem_size());
    v.drain(&mut f.session, &f.output);
    assert_eq!(v.gaps.len(), 1);
    assert_eq!(v.next, f.output.len() as u64);
}

#[test]
fn a_quiet_terminal_keeps_its_tail_in_an_exact_size_buffer() {
    for dialect in [Dialect::Native, Dialect::Ttyd] {
        let config = SessionConfig { dialect, scrollback: 1 << 20, ..SessionConfig::default() };
        let mut f = Fixture::new(DEFAULT_CAPACITY, config);
        let mut live = f.attach(true, None);
        let mut lagging = f.attach(false, None);
        // A prompt and some echoes: all merged into one pool buffer, plus originals.
        f.push(b"user@host:~$ ");
        for i in 0..20 {
            f.push(&[pattern_byte(i)]);
            live.drain(&mut f.session, &f.output);
        }
        let before = f.session.scrollback().mem();
        let freed = f.session.compact();
        let sb = f.session.scrollback();
        assert_eq!((sb.buffers(), sb.mem(), before - freed), (1, sb.mem_recount(), sb.mem()));
        assert!(sb.mem() < 256, "{} bytes for 33 bytes of output", sb.mem());
        f.check_memory();
        // Only the lagging viewer's queued originals still hold pool buffers.
        lagging.drain(&mut f.session, &f.output);
        f.session.compact();
        assert_eq!(f.pool.stats().in_use, 0, "no pool buffer is held by a quiet session");
        // Typing again absorbs the compacted tail; everyone gets every byte.
        for i in 20..40 {
            f.push(&[pattern_byte(i)]);
            live.drain(&mut f.session, &f.output);
        }
        lagging.drain(&mut f.session, &f.output);
        let mut late = f.attach(false, Some(0));
        late.drain(&mut f.session, &f.output);
        for w in [&live, &lagging, &late] {
            assert_eq!((w.bytes, w.gaps.len()), (f.output.len() as u64, 0));
        }
        assert_eq!(f.session.scrollback().stats().compactions, 1);
    }
}

#[test]
fn compaction_leaves_full_buffers_alone() {
    let mut f = Fixture::native(DEFAULT_CAPACITY, 1 << 20);
    f.push_pattern(3 * DEFAULT_CAPACITY, DEFAULT_CAPACITY);
    let mem = f.session.scrollback().mem();
    assert_eq!(f.session.compact(), 0);
    assert_eq!(f.session.scrollback().mem(), mem);
    let mut v = f.attach(false, Some(0));
    v.drain(&mut f.session, &f.output);
    assert_eq!(v.bytes, f.output.len() as u64);
}

#[test]
fn hello_encodes_as_the_first_message() {
    let mut f = Fixture::native(256, 0);
    f.push(b"abc");
    let w = f.attach(true, Some(1));
    let mut out = Vec::new();
    w.hello.msg().encode(&mut out);
    let want =
        format!(r#"{{"type":"hello","id":"{}","offset":1,"cols":80,"rows":24,"writable":true}}"#, id());
    assert_eq!(String::from_utf8(out).unwrap(), want);
}

#[test]
fn an_echo_s_pool_buffer_is_given_back_once_every_client_was_sent_it() {
    let mut f = Fixture::native(DEFAULT_CAPACITY, 1 << 20);
    let mut fast = f.attach(true, None);
    let mut slow = f.attach(false, None);
    f.push(b"prompt$ ");
    let before = f.pool.stats().in_use;
    fast.drain(&mut f.session, &f.output);
    assert_eq!(f.session.scrollback().buffers(), 2, "merge buffer and the original, which slow still needs");
    slow.drain(&mut f.session, &f.output);
    assert_eq!(f.session.scrollback().buffers(), 1, "only the merge buffer: the original is retired");
    // The writers' sends were dropped by `drain`: the pool buffer is free again.
    assert!(f.pool.stats().in_use < before, "{} -> {}", before, f.pool.stats().in_use);
    f.check_memory();
}

#[test]
fn output_in_a_buffer_without_headroom_is_copied_not_dropped() {
    let mut f = Fixture::native(256, 1 << 20);
    let mut w = f.attach(true, None);
    f.push(b"before ");
    // A buffer that already used its headroom cannot take the frame's head in place.
    let mut buf = f.pool.try_alloc().unwrap();
    buf.extend_from_slice(b"no room in front");
    buf.prepend(&[b'x'; crate::buf::HEADROOM]).unwrap();
    f.session.push_output(buf, || T0);
    f.output.extend_from_slice(&[b'x'; crate::buf::HEADROOM]);
    f.output.extend_from_slice(b"no room in front");
    f.check_memory();
    f.push(b" after");
    w.drain(&mut f.session, &f.output);
    assert_eq!((w.bytes, w.gaps.len()), (f.output.len() as u64, 0));
}

/// A live upgrade: what one process retained, the next takes up at the same offsets,
/// so a client resuming with `since` gets exactly the bytes after its cursor.
#[test]
fn a_resumed_session_keeps_its_offsets_and_bytes() {
    let mut f = Fixture::native(1024, 64 * 1024);
    for i in 0..300u32 {
        f.push(format!("line {i}\n").as_bytes());
    }
    let (start, bytes) = f.session.scrollback().export();
    let end = f.session.end_offset();
    assert_eq!(start + bytes.len() as u64, end);
    assert_eq!(&f.output[start as usize..], &bytes[..], "exactly what was retained");

    let pool = pool(1024);
    let config = SessionConfig { scrollback: 64 * 1024, ..SessionConfig::default() };
    let next = Session::resumed(id(), pool.clone(), config, WinSize::DEFAULT, T0, (start, &bytes), None);
    assert_eq!(next.end_offset(), end);
    assert_eq!(next.scrollback().export(), (start, bytes.clone()));
    assert_eq!(next.status(), Status::Running);
    // A client resuming inside gets exactly the bytes after its cursor, then new output.
    let mut g = Fixture { pool, session: next, output: f.output.clone() };
    let mid = start + 100;
    let mut w = g.attach(false, Some(mid));
    assert_eq!(w.hello.offset, mid);
    g.push(b"after the upgrade\n");
    while w.poll(&mut g.session, &g.output) > 0 {}
    assert_eq!((w.next, w.gaps.len()), (g.output.len() as u64, 0));
    // An exited session stays exited.
    let status = ExitStatus { code: Some(3), signal: None };
    let gone = Session::resumed(id(), f.pool.clone(), config, WinSize::DEFAULT, T0, (end, &[]), Some(status));
    assert!(matches!(gone.status(), Status::Exited { .. }));
    assert_eq!(gone.end_offset(), end);
}
