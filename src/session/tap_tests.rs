//! The output tap: every event once, in order, with its offset and time, whatever the
//! clients do (replays, resumes, gaps, merging, compaction, eviction).

use std::cell::RefCell;
use std::rc::Rc;

use super::tests::{pattern_byte, Fixture, T0};
use super::*;

/// What the test sink saw.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Attach { offset: u64, size: WinSize, at: u64 },
    Output { offset: u64, bytes: Vec<u8>, at: u64 },
    Input { bytes: Vec<u8>, at: u64 },
    Resize { size: WinSize, offset: u64, at: u64 },
    Exit { status: ExitStatus, offset: u64, at: u64 },
}

/// A sink that records every event; the test keeps a handle on the log.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<Event>>>);

impl Log {
    fn events(&self) -> Vec<Event> {
        self.0.borrow().clone()
    }

    /// Every output byte the tap saw, checking that the offsets are contiguous.
    fn output(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for event in self.0.borrow().iter() {
            if let Event::Output { offset, bytes, .. } = event {
                assert_eq!(*offset, out.len() as u64, "output offsets are contiguous");
                assert!(!bytes.is_empty(), "no empty output event");
                out.extend_from_slice(bytes);
            }
        }
        out
    }

    fn attach(&self, f: &mut Fixture, now: Millis) {
        assert!(f.session.set_tap(Box::new(self.clone()), now).is_none());
    }
}

impl Tap for Log {
    fn on_attach(&mut self, offset: u64, size: WinSize, now: Millis) {
        self.0.borrow_mut().push(Event::Attach { offset, size, at: now.0 });
    }
    fn on_output(&mut self, offset: u64, bytes: &[u8], now: Millis) {
        self.0.borrow_mut().push(Event::Output { offset, bytes: bytes.to_vec(), at: now.0 });
    }
    fn on_input(&mut self, bytes: &[u8], now: Millis) {
        self.0.borrow_mut().push(Event::Input { bytes: bytes.to_vec(), at: now.0 });
    }
    fn on_resize(&mut self, size: WinSize, offset: u64, now: Millis) {
        self.0.borrow_mut().push(Event::Resize { size, offset, at: now.0 });
    }
    fn on_exit(&mut self, status: ExitStatus, offset: u64, now: Millis) {
        self.0.borrow_mut().push(Event::Exit { status, offset, at: now.0 });
    }
}

/// One PTY read of `bytes` at `at` ms.
fn push_at(f: &mut Fixture, bytes: &[u8], at: u64) {
    let mut buf = f.pool.try_alloc().unwrap();
    assert_eq!(buf.extend_from_slice(bytes), bytes.len());
    f.session.push_output(buf, || Millis(at));
    f.output.extend_from_slice(bytes);
}

fn output(offset: u64, bytes: &[u8], at: u64) -> Event {
    Event::Output { offset, bytes: bytes.to_vec(), at }
}

#[test]
fn events_arrive_in_order_with_their_offsets_and_times() {
    let mut f = Fixture::native(256, 1 << 20);
    // Before the tap: not seen, but its offset counts.
    push_at(&mut f, b"boot", 1_001);
    let log = Log::default();
    log.attach(&mut f, Millis(1_002));
    let d = f.attach(true, None);
    push_at(&mut f, b"$ ", 1_010);
    f.session.input(d.id, b"ls\r", Millis(1_020)).unwrap();
    push_at(&mut f, b"ls\r\n", 1_021);
    let big = WinSize { cols: 120, rows: 40 };
    assert_eq!(f.session.resize(d.id, big, Millis(1_030)), Ok(Some(big)));
    // The same size again is not a resize.
    assert_eq!(f.session.resize(d.id, big, Millis(1_031)), Ok(None));
    f.session.api_input(b"x", Millis(1_040)).unwrap();
    let small = WinSize { cols: 80, rows: 24 };
    assert_eq!(f.session.api_resize(small, Millis(1_050)), Some(small));
    push_at(&mut f, b"bye", 1_060);
    f.session.exited(ExitStatus::code(3), Millis(1_070));
    // Exited twice (EIO seen again): told once. Nothing after the exit.
    f.session.exited(ExitStatus::code(3), Millis(1_071));
    assert_eq!(f.session.api_input(b"late", Millis(1_080)), Ok(()));
    assert_eq!(
        log.events(),
        [
            Event::Attach { offset: 4, size: WinSize::DEFAULT, at: 1_002 },
            output(4, b"$ ", 1_010),
            Event::Input { bytes: b"ls\r".to_vec(), at: 1_020 },
            output(6, b"ls\r\n", 1_021),
            Event::Resize { size: big, offset: 10, at: 1_030 },
            Event::Input { bytes: b"x".to_vec(), at: 1_040 },
            Event::Resize { size: small, offset: 10, at: 1_050 },
            output(10, b"bye", 1_060),
            Event::Exit { status: ExitStatus::code(3), offset: 13, at: 1_070 },
        ]
    );
}

#[test]
fn output_passes_once_whatever_the_clients_are_sent() {
    // A small scrollback (gaps, eviction), small and large reads (merging, sealing,
    // absorbing), a slow viewer, replays from every kind of `since`, a compaction.
    let mut f = Fixture::native(256, 0);
    let log = Log::default();
    log.attach(&mut f, T0);
    let mut fast = f.attach(true, None);
    let mut slow = f.attach(false, None);
    for round in 0..40 {
        let read = [1, 3, 17, 64, 200, 256][round % 6];
        f.push_pattern(700, read);
        fast.drain(&mut f.session, &f.output);
        if round % 5 == 4 {
            slow.drain(&mut f.session, &f.output);
            f.session.compact();
        }
        if round % 7 == 0 {
            // A replay from the start (a gap), from the middle, and a resume at the end.
            let end = f.session.end_offset();
            for since in [Some(0), Some(end / 2), Some(end), None] {
                let mut replay = f.attach(false, since);
                replay.drain(&mut f.session, &f.output);
                f.session.detach(replay.id, T0);
            }
        }
    }
    slow.drain(&mut f.session, &f.output);
    assert!(!slow.gaps.is_empty(), "the slow viewer was left behind");
    assert!(f.session.metrics().scroll.seals > 0 && f.session.metrics().scroll.evicted > 0);
    assert_eq!(log.output(), f.output, "every byte once, in order");
    let events = log.events().len();
    // Clients being sent the same output again, or reattaching, are not output.
    for since in [Some(0), None] {
        let mut again = f.attach(false, since);
        again.drain(&mut f.session, &f.output);
    }
    assert_eq!(log.events().len(), events);
}

#[test]
fn ttyd_output_is_tapped_without_its_prefix_and_input_once() {
    let config = SessionConfig { dialect: Dialect::Ttyd, input_queue: 10, ..SessionConfig::default() };
    let mut f = Fixture::new(256, config);
    let log = Log::default();
    log.attach(&mut f, T0);
    let c = f.attach(true, None);
    let viewer = f.attach(false, None);
    let bytes: Vec<u8> = (0..1000).map(pattern_byte).collect();
    push_at(&mut f, &bytes[..1], 1);
    push_at(&mut f, &bytes[1..257], 2);
    assert_eq!(log.output(), &bytes[..257]);
    // Refused (full queue), then accepted: tapped once, when accepted. A read-only
    // client's input is dropped, not tapped.
    f.session.input(c.id, &[b'a'; 8], Millis(3)).unwrap();
    assert_eq!(f.session.input(c.id, b"bcd", Millis(4)), Err(SessionError::InputFull));
    assert_eq!(f.session.input(viewer.id, b"v", Millis(4)), Err(SessionError::NotWritable));
    f.session.input_written(8);
    f.session.input(c.id, b"bcd", Millis(5)).unwrap();
    let inputs: Vec<_> = log.events().into_iter().filter(|e| matches!(e, Event::Input { .. })).collect();
    assert_eq!(
        inputs,
        [Event::Input { bytes: vec![b'a'; 8], at: 3 }, Event::Input { bytes: b"bcd".to_vec(), at: 5 }]
    );
}

#[test]
fn a_new_driver_taking_its_size_is_a_resize_and_a_tap_can_be_replaced_or_taken() {
    let mut f = Fixture::native(256, 1 << 20);
    let first = Log::default();
    first.attach(&mut f, T0);
    let a = f.attach(true, None);
    let b = f.attach(true, None);
    let wide = WinSize { cols: 200, rows: 50 };
    f.session.resize(a.id, wide, Millis(10)).unwrap();
    let tall = WinSize { cols: 80, rows: 60 };
    f.session.resize(b.id, tall, Millis(20)).unwrap();
    push_at(&mut f, b"x", 25);
    // A types: the driver again, its size comes back with it.
    assert_eq!(f.session.input(a.id, b"y", Millis(30)), Ok(Some(wide)));
    let resizes: Vec<_> = first.events().into_iter().filter(|e| matches!(e, Event::Resize { .. })).collect();
    assert_eq!(
        resizes,
        [
            Event::Resize { size: wide, offset: 0, at: 10 },
            Event::Resize { size: tall, offset: 0, at: 20 },
            Event::Resize { size: wide, offset: 1, at: 30 },
        ]
    );
    // Replaced: the old sink sees nothing more; the new one starts at the offset now.
    let second = Log::default();
    assert!(f.session.set_tap(Box::new(second.clone()), Millis(40)).is_some());
    let seen = first.events().len();
    push_at(&mut f, b"z", 41);
    assert_eq!(first.events().len(), seen);
    assert_eq!(second.events(), [Event::Attach { offset: 1, size: wide, at: 40 }, output(1, b"z", 41)]);
    // Taken: nothing is told any more, and the session runs on.
    assert!(f.session.has_tap());
    assert!(f.session.take_tap().is_some());
    assert!(!f.session.has_tap());
    push_at(&mut f, b"after", 50);
    f.session.exited(ExitStatus::code(0), Millis(60));
    assert_eq!(second.events().len(), 2);
}
