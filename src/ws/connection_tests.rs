//! The connection machine with a fake clock (plain milliseconds) and in-memory bytes.

use super::*;
use crate::ws::encode_frame;

const MASK: Option<[u8; 4]> = Some([1, 2, 3, 4]);

fn conn(max_message: u64, ping_ms: Option<u64>) -> Connection {
    Connection::new(
        Config { max_message, ping_interval: ping_ms.map(Duration::from_millis), deflate: false },
        0,
    )
}

/// A masked client frame.
fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, fin, opcode, MASK, payload);
    out
}

fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    frame(true, OpCode::Close, &payload)
}

/// Feeds `bytes` as one read at `now`, as the echo endpoint does; leftover bytes (an
/// incomplete frame) are returned.
fn feed(c: &mut Connection, bytes: &[u8], now: u64) -> Vec<u8> {
    let mut buf = bytes.to_vec();
    c.handle_bytes_in(buf.len(), usize::MAX, now);
    let mut start = 0;
    loop {
        let read = c.handle_read(&mut buf[start..], now);
        start += read.consumed;
        match read.event {
            Some(Event::Data { kind, payload, first, last, .. }) => c.echo(kind, payload, first, last),
            Some(_) => {}
            None if read.consumed > 0 => {}
            None => break,
        }
    }
    buf.split_off(start)
}

/// Writes everything queued at `now`: the frames' bytes.
fn drain(c: &mut Connection, now: u64) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    while let Some(out) = c.poll_transmit() {
        sent.push(out.bytes().to_vec());
        c.handle_written(out, now);
    }
    sent
}

fn server_close(code: CloseCode, reason: &str) -> Vec<u8> {
    ControlFrame::close(Some(code), reason).as_bytes().to_vec()
}

fn pong(payload: &[u8]) -> Vec<u8> {
    ControlFrame::pong(payload).as_bytes().to_vec()
}

#[test]
fn a_peer_close_is_echoed_once_and_the_connection_ends_once_it_is_written() {
    let mut c = conn(1024, None);
    let mut bytes = close_frame(1001, "bye");
    bytes.extend(close_frame(1000, "again"));
    bytes.extend(frame(true, OpCode::Text, b"after"));
    feed(&mut c, &bytes, 5);
    assert!(c.is_read_closed() && !c.wants_read());
    assert_eq!(c.ending(), None, "the echo is not written yet");
    let out = c.poll_transmit().unwrap();
    assert!(matches!(out, Out::Close { ours: false, .. }));
    assert_eq!(out.bytes(), server_close(CloseCode::GOING_AWAY, ""));
    c.handle_written(out, 6);
    assert_eq!(c.ending(), Some(Ending::Done));
    assert_eq!(c.initiator(), Some(Initiator::Peer));
    assert!(c.poll_transmit().is_none());
}

#[test]
fn after_our_close_data_is_ignored_until_the_peer_answers() {
    let mut c = conn(1024, None);
    c.close(CloseCode::GOING_AWAY, "server shutting down");
    assert_eq!(drain(&mut c, 10), [server_close(CloseCode::GOING_AWAY, "server shutting down")]);
    assert_eq!(c.ending(), None, "waiting for the peer's close");
    assert!(c.wants_read());
    let mut bytes = frame(true, OpCode::Text, b"late");
    bytes.extend(frame(true, OpCode::Ping, b"late"));
    feed(&mut c, &bytes, 20);
    assert!(c.poll_transmit().is_none(), "nothing is sent after our close");
    // Data is skipped, not handed to the endpoint, and what follows it is still read.
    let mut bytes = frame(true, OpCode::Binary, b"typed late");
    bytes.extend(close_frame(1001, ""));
    let mut start = 0;
    while start < bytes.len() {
        let read = c.handle_read(&mut bytes[start..], 30);
        assert!(!matches!(read.event, Some(Event::Data { .. })), "data after our close");
        assert!(read.consumed > 0);
        start += read.consumed;
    }
    assert!(c.poll_transmit().is_none(), "the peer's answer is not echoed");
    assert_eq!(c.ending(), Some(Ending::Done));
    assert_eq!(c.initiator(), Some(Initiator::Us));
}

#[test]
fn our_close_waits_for_the_peer_at_most_close_wait() {
    let mut c = conn(1024, Some(1000));
    c.close(CloseCode::NORMAL, "");
    drain(&mut c, 100);
    let deadline = 100 + CLOSE_WAIT.as_millis() as u64;
    assert_eq!(c.poll_timeout(), Some(deadline), "no more pings after our close");
    c.handle_timeout(deadline - 1);
    assert_eq!(c.ending(), None);
    c.handle_timeout(deadline);
    assert_eq!(c.ending(), Some(Ending::Done));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_peer_close_crossing_ours_ends_the_handshake_with_our_frame_only() {
    let mut c = conn(1024, None);
    c.close(CloseCode::GOING_AWAY, "server shutting down");
    // The peer's close arrives before ours is written: ours answers it.
    feed(&mut c, &close_frame(1000, ""), 1);
    assert_eq!(drain(&mut c, 2), [server_close(CloseCode::GOING_AWAY, "server shutting down")]);
    assert_eq!(c.ending(), Some(Ending::Done));
    assert_eq!(c.initiator(), Some(Initiator::Us));
}

#[test]
fn pings_every_interval_and_a_peer_silent_for_two_is_hung_up_on() {
    let mut c = conn(1024, Some(1000));
    let ping = ControlFrame::ping(b"").as_bytes().to_vec();
    assert_eq!(c.poll_timeout(), Some(1000));
    c.handle_timeout(999);
    assert!(c.poll_transmit().is_none());
    c.handle_timeout(1000);
    assert_eq!(drain(&mut c, 1000), std::slice::from_ref(&ping));
    // Any bytes count as life, a pong or not.
    c.handle_bytes_in(2, 16, 1500);
    for now in [2000, 3000] {
        assert_eq!(c.poll_timeout(), Some(now));
        c.handle_timeout(now);
        assert_eq!(drain(&mut c, now), std::slice::from_ref(&ping), "at {now}");
    }
    // At 4000 the peer has been silent for 2500 ms: more than two intervals.
    c.handle_timeout(4000);
    assert_eq!(c.ending(), Some(Ending::Done));
    assert!(c.poll_transmit().is_none());
}

#[test]
fn a_late_timer_pings_once_and_the_next_ping_counts_from_then() {
    let mut c = conn(1024, Some(1000));
    c.handle_bytes_in(1, 16, 1700);
    c.handle_timeout(1800);
    assert_eq!(drain(&mut c, 1800).len(), 1);
    assert_eq!(c.poll_timeout(), Some(2800));
}

#[test]
fn no_pings_without_an_interval() {
    let mut c = conn(1024, None);
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(u64::MAX);
    assert_eq!(c.ending(), None);
}

#[test]
fn a_ping_flood_holds_the_backlog_of_pongs_and_the_latest() {
    let mut c = conn(1024, None);
    let mut early = Vec::new();
    for i in 0..PONG_BACKLOG as u32 - 1 {
        early.extend(frame(true, OpCode::Ping, &i.to_be_bytes()));
    }
    feed(&mut c, &early, 1);
    let backlog = c.queued_memory();
    let flood: Vec<u8> = (0..10_000u32).flat_map(|i| frame(true, OpCode::Ping, &i.to_be_bytes())).collect();
    feed(&mut c, &flood, 2);
    assert!(c.queued_memory() - backlog < 512, "a flood grew the queue: {}", c.queued_memory());
    assert!(c.wants_read(), "a ping flood never fills the queue");
    feed(&mut c, &frame(true, OpCode::Ping, b"last"), 3);
    let mut want: Vec<Vec<u8>> = (0..PONG_BACKLOG as u32 - 1).map(|i| pong(&i.to_be_bytes())).collect();
    want.push(pong(b"last"));
    assert_eq!(drain(&mut c, 4), want);
    assert_eq!(c.queued_memory(), 0);
    // With the backlog written, every ping gets its own pong again.
    feed(&mut c, &[frame(true, OpCode::Ping, b"a"), frame(true, OpCode::Ping, b"b")].concat(), 5);
    assert_eq!(drain(&mut c, 6), [pong(b"a"), pong(b"b")]);
}

#[test]
fn reading_stops_while_the_queue_is_over_its_bound_until_it_is_written() {
    let mut c = conn(4 << 20, None);
    let message = vec![7u8; OUTBOX_LIMIT];
    feed(&mut c, &frame(true, OpCode::Binary, &message), 1);
    assert!(!c.wants_read(), "{} held", c.queued_memory());
    let out = c.poll_transmit().unwrap();
    assert!(!c.wants_read(), "a frame being written is still held");
    assert!(out.bytes()[10..] == message[..], "echoed whole, behind a 10-byte header");
    c.handle_written(out, 2);
    assert!(c.wants_read());
    assert_eq!(c.queued_memory(), 0, "a buffer over the spare size is not kept");
}

#[test]
fn a_half_closed_peer_still_gets_what_is_queued_then_the_connection_ends() {
    let mut c = conn(1024, Some(1000));
    let rest = feed(&mut c, &[frame(true, OpCode::Text, b"hi"), frame(true, OpCode::Ping, b"p")].concat(), 1);
    assert!(rest.is_empty());
    c.handle_eof(2);
    assert!(c.is_read_closed() && !c.wants_read());
    assert_eq!(c.ending(), None);
    assert_eq!(drain(&mut c, 3), [b"\x81\x02hi".to_vec(), pong(b"p")]);
    assert_eq!(c.ending(), Some(Ending::Done));
    // With nothing queued, the end of the stream ends it at once.
    let mut idle = conn(1024, None);
    idle.handle_eof(1);
    assert_eq!(idle.ending(), Some(Ending::Done));
}

#[test]
fn a_queue_that_cannot_be_written_after_reading_ended_is_given_up() {
    let mut c = conn(1024, None);
    feed(&mut c, &frame(true, OpCode::Binary, b"x"), 0);
    let out = c.poll_transmit().unwrap();
    c.handle_write_blocked(1);
    c.handle_eof(2);
    let drain_by = 2 + (CLOSE_WAIT + WRITE_TIMEOUT).as_millis() as u64;
    assert_eq!(c.poll_timeout(), Some(1 + WRITE_TIMEOUT.as_millis() as u64));
    c.handle_write_progress();
    assert_eq!(c.poll_timeout(), Some(drain_by));
    c.handle_timeout(drain_by);
    assert_eq!(c.ending(), Some(Ending::Done));
    c.handle_write_error(out);
    assert!(c.poll_transmit().is_none());
}

#[test]
fn a_write_that_makes_no_progress_for_the_timeout_hangs_up() {
    let mut c = conn(1024, None);
    feed(&mut c, &frame(true, OpCode::Binary, b"x"), 0);
    let out = c.poll_transmit().unwrap();
    c.handle_write_blocked(10);
    c.handle_timeout(10 + WRITE_TIMEOUT.as_millis() as u64 - 1);
    assert_eq!(c.ending(), None);
    c.handle_timeout(10 + WRITE_TIMEOUT.as_millis() as u64);
    assert_eq!(c.ending(), Some(Ending::Done));
    c.handle_write_error(out);
    assert!(c.poll_transmit().is_none());
}

#[test]
fn a_write_blocked_again_without_progress_keeps_its_first_deadline() {
    let mut c = conn(1024, None);
    feed(&mut c, &frame(true, OpCode::Binary, b"x"), 0);
    let out = c.poll_transmit().unwrap();
    c.handle_write_blocked(10);
    // The peer keeps sending (each read wakes the driver, which tries the write again).
    for now in [1_000, 30_000, 59_000] {
        feed(&mut c, &frame(true, OpCode::Ping, b""), now);
        c.handle_write_blocked(now);
    }
    c.handle_timeout(10 + WRITE_TIMEOUT.as_millis() as u64);
    assert_eq!(c.ending(), Some(Ending::Done));
    c.handle_write_error(out);
    // Progress restarts the clock.
    let mut c = conn(1024, None);
    feed(&mut c, &frame(true, OpCode::Binary, b"x"), 0);
    c.handle_write_blocked(10);
    c.handle_write_progress();
    c.handle_write_blocked(50_000);
    c.handle_timeout(10 + WRITE_TIMEOUT.as_millis() as u64);
    assert_eq!(c.ending(), None);
}

#[test]
fn a_failed_write_ends_the_connection() {
    let mut c = conn(1024, None);
    feed(&mut c, &frame(true, OpCode::Binary, b"x"), 0);
    let out = c.poll_transmit().unwrap();
    c.handle_write_error(out);
    assert_eq!(c.ending(), Some(Ending::Done));
    assert!(!c.wants_read());
}

/// Feeds `bytes` and checks the connection failed with `code`, lingering.
fn fails_with(max_message: u64, bytes: &[u8], code: CloseCode) {
    let mut c = conn(max_message, None);
    feed(&mut c, bytes, 1);
    assert!(c.is_read_closed());
    let sent = drain(&mut c, 2);
    let close = sent.last().expect("a close");
    assert_eq!((close[0], &close[2..4]), (0x88, &code.as_u16().to_be_bytes()[..]), "{sent:?}");
    assert_eq!(c.ending(), Some(Ending::Failed));
    assert_eq!(c.initiator(), Some(Initiator::Us));
}

#[test]
fn a_fragmented_message_over_the_limit_fails_with_1009_and_nothing_is_echoed() {
    let bytes =
        [frame(false, OpCode::Binary, &[1; 60]), frame(true, OpCode::Continuation, &[2; 60])].concat();
    let mut c = conn(100, None);
    feed(&mut c, &bytes, 1);
    let sent = drain(&mut c, 2);
    assert_eq!(sent.len(), 1, "only the close: {sent:?}");
    fails_with(100, &bytes, CloseCode::MESSAGE_TOO_BIG);
    // At the limit it is echoed as one frame.
    let ok = [frame(false, OpCode::Binary, &[1; 50]), frame(true, OpCode::Continuation, &[2; 50])].concat();
    let mut c = conn(100, None);
    feed(&mut c, &ok, 1);
    let sent = drain(&mut c, 2);
    assert_eq!(sent, [[&[0x82, 100][..], &[1; 50], &[2; 50]].concat()]);
}

#[test]
fn invalid_utf8_fails_with_1007() {
    fails_with(1024, &frame(true, OpCode::Text, b"ok \xff"), CloseCode::INVALID_PAYLOAD);
    // In a fragment, and in a close reason.
    let split =
        [frame(false, OpCode::Text, b"ok \xe2\x82"), frame(true, OpCode::Continuation, b"x")].concat();
    fails_with(1024, &split, CloseCode::INVALID_PAYLOAD);
    fails_with(1024, &frame(true, OpCode::Close, b"\x03\xe8\xff"), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn protocol_errors_fail_with_1002() {
    let mut unmasked = Vec::new();
    encode_frame(&mut unmasked, true, OpCode::Text, None, b"hi");
    fails_with(1024, &unmasked, CloseCode::PROTOCOL_ERROR);
    fails_with(1024, &frame(true, OpCode::Continuation, b"x"), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn a_message_split_at_every_point_echoes_as_in_one_read() {
    let bytes = [
        frame(false, OpCode::Text, "héllo ".as_bytes()),
        frame(true, OpCode::Ping, b"p"),
        frame(true, OpCode::Continuation, "wörld".as_bytes()),
    ]
    .concat();
    let mut whole = conn(1024, None);
    feed(&mut whole, &bytes, 0);
    let want = drain(&mut whole, 0);
    assert_eq!(want, [pong(b"p"), [&[0x81, 13][..], "héllo wörld".as_bytes()].concat()]);
    for split in 0..=bytes.len() {
        let mut c = conn(1024, None);
        let rest = feed(&mut c, &bytes[..split], 0);
        let tail = [rest, bytes[split..].to_vec()].concat();
        assert!(feed(&mut c, &tail, 0).is_empty());
        assert_eq!(drain(&mut c, 0), want, "split at {split}");
    }
}

#[test]
fn a_reader_yields_once_per_batch_of_full_reads() {
    let mut c = conn(1024, None);
    for _ in 0..3 {
        c.handle_bytes_in(16 * 1024, 16 * 1024, 0);
    }
    assert!(!c.poll_yield());
    c.handle_bytes_in(16 * 1024, 16 * 1024, 0);
    assert!(c.poll_yield());
    assert!(!c.poll_yield(), "once per batch");
    // A short read emptied the socket: the count starts over.
    for _ in 0..3 {
        c.handle_bytes_in(16 * 1024, 16 * 1024, 0);
    }
    c.handle_bytes_in(10, 16 * 1024, 0);
    c.handle_bytes_in(16 * 1024, 16 * 1024, 0);
    assert!(!c.poll_yield());
}

#[test]
fn a_message_buffer_grows_by_doubling_but_never_past_the_largest_frame() {
    let largest = HEADROOM + 16 * 1024 * 1024;
    let mut msg = vec![0; HEADROOM];
    let chunk = vec![1u8; 16 * 1024];
    while msg.len() < largest {
        let n = chunk.len().min(largest - msg.len());
        reserve(&mut msg, n, largest);
        msg.extend_from_slice(&chunk[..n]);
        assert!(msg.capacity() <= largest, "{} for {}", msg.capacity(), msg.len());
    }
    let mut small = Vec::new();
    for _ in 0..100 {
        reserve(&mut small, 10, largest);
        small.extend_from_slice(b"0123456789");
    }
    assert!(small.capacity() < 2 * small.len());
    let mut frame = vec![0; HEADROOM + 100];
    reserve(&mut frame, 1_000_000, largest);
    assert_eq!(frame.capacity(), HEADROOM + 1_000_100);
}

#[test]
fn an_endpoint_refusal_fails_the_connection_and_nothing_follows_its_close() {
    let mut c = conn(1024, None);
    c.fail(CloseCode::POLICY_VIOLATION, "no", 1);
    c.send_frame(b"x".to_vec(), 0);
    assert_eq!(drain(&mut c, 2), [server_close(CloseCode::POLICY_VIOLATION, "no")]);
    assert_eq!(c.ending(), Some(Ending::Failed));
}

#[test]
fn a_paused_reader_reads_nothing_and_its_pause_is_not_the_peers_silence() {
    let mut c = conn(1024, Some(1000));
    let ping = ControlFrame::ping(b"").as_bytes().to_vec();
    c.handle_bytes_in(2, 16, 500);
    // Input waits for the terminal from 600 on: 100 ms of silence so far.
    c.pause_reading(600);
    assert!(!c.wants_read() && c.is_read_paused());
    for now in [1000, 2000, 3000, 9000] {
        c.handle_timeout(now);
        assert_eq!(c.ending(), None, "hung up at {now} while not reading");
        assert_eq!(drain(&mut c, now), std::slice::from_ref(&ping), "pings go on at {now}");
    }
    c.resume_reading(9500);
    assert!(c.wants_read() && !c.is_read_paused());
    // Silent for 100 ms before the pause and 1500 after it: within two intervals.
    c.handle_timeout(11_000);
    assert_eq!(c.ending(), None);
    drain(&mut c, 11_000);
    // 100 + 2500 ms: more than two intervals.
    c.handle_timeout(12_000);
    assert_eq!(c.ending(), Some(Ending::Done));
}

#[test]
fn an_endpoint_may_send_until_a_close_or_the_end_of_reading() {
    let mut c = conn(1024, None);
    assert!(c.may_send());
    c.close(CloseCode::NORMAL, "");
    assert!(!c.may_send(), "nothing goes after our close");
    let mut c = conn(1024, None);
    feed(&mut c, &close_frame(1000, ""), 0);
    assert!(!c.may_send(), "nor after the peer's");
    let mut c = conn(1024, None);
    c.handle_eof(0);
    assert!(!c.may_send(), "nor once the peer has left");
    let mut c = conn(1024, None);
    c.handle_write_failed();
    assert!(!c.may_send());
    assert_eq!(c.ending(), Some(Ending::Done));
}
