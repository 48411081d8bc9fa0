//! Decoder tests: valid fixtures fed whole, byte by byte and split at every point;
//! every error with its close code; streaming through a small buffer.

use super::*;
use crate::ws::encode::encode_frame;

const MASKS: [[u8; 4]; 3] = [[0x12, 0x34, 0x56, 0x78], [0, 0, 0, 0], [0xff, 0x80, 0x01, 0x7f]];
const MASK: [u8; 4] = MASKS[0];
const MAX: u64 = 1 << 20;

/// An event with owned data, to compare across calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Owned {
    Data { kind: MessageKind, payload: Vec<u8>, first: bool, last: bool },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

impl From<Event<'_>> for Owned {
    fn from(event: Event<'_>) -> Self {
        match event {
            Event::Data { kind, payload, first, last, .. } => {
                Owned::Data { kind, payload: payload.to_vec(), first, last }
            }
            Event::Ping(p) => Owned::Ping(p.to_vec()),
            Event::Pong(p) => Owned::Pong(p.to_vec()),
            Event::Close { code, reason } => Owned::Close(code.map(CloseCode::as_u16), reason.to_owned()),
        }
    }
}

/// Events with data chunks merged into whole messages (what a caller assembles).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Norm {
    Message(MessageKind, Vec<u8>),
    /// The delivered part of a message the input ended in.
    Unfinished(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// Merges chunks, checking the `first`/`last` flags are consistent. An unfinished
/// message is dropped when the decoder failed: its data depends on the chunking.
pub(crate) fn normalize(events: &[Owned], failed: bool) -> Vec<Norm> {
    let mut out = Vec::new();
    let mut message: Option<(MessageKind, Vec<u8>)> = None;
    for event in events {
        match event.clone() {
            Owned::Data { kind, payload, first, last } => {
                if first {
                    assert!(message.is_none(), "first chunk inside a message");
                    message = Some((kind, Vec::new()));
                }
                let Some((k, data)) = message.as_mut() else {
                    panic!("chunk outside a message");
                };
                assert_eq!(*k, kind);
                data.extend_from_slice(&payload);
                if last {
                    let (k, data) = message.take().unwrap();
                    out.push(Norm::Message(k, data));
                }
            }
            Owned::Ping(p) => out.push(Norm::Ping(p)),
            Owned::Pong(p) => out.push(Norm::Pong(p)),
            Owned::Close(c, r) => out.push(Norm::Close(c, r)),
        }
    }
    if let (Some((k, data)), false) = (message, failed) {
        out.push(Norm::Unfinished(k, data));
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub events: Vec<Owned>,
    pub error: Option<WsError>,
    /// Bytes left unconsumed at the end.
    pub left: usize,
}

/// Feeds `input` like the runtime does: reads of `reads` sizes (cycled) into a buffer
/// of `cap` bytes, decoding until no event, then compacting.
pub(crate) fn drive(decoder: &mut Decoder, input: &[u8], reads: &[usize], cap: usize) -> Outcome {
    let mut buf = vec![0u8; cap];
    let mut filled = 0;
    let mut pos = 0;
    let mut events = Vec::new();
    let mut sizes = reads.iter().cycle();
    loop {
        let want = *sizes.next().unwrap();
        let n = want.min(cap - filled).min(input.len() - pos);
        buf[filled..filled + n].copy_from_slice(&input[pos..pos + n]);
        filled += n;
        pos += n;
        let mut start = 0;
        loop {
            match decoder.decode(&mut buf[start..filled]) {
                Err(error) => {
                    return Outcome { events, error: Some(error), left: filled - start + input.len() - pos }
                }
                Ok(decoded) => {
                    assert!(decoded.consumed <= filled - start);
                    start += decoded.consumed;
                    let Some(event) = decoded.event else { break };
                    events.push(event.into());
                }
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if pos == input.len() {
            return Outcome { events, error: None, left: filled };
        }
        assert!(n > 0 || start > 0 || want == 0, "no progress with a full buffer");
    }
}

fn one_shot(role: Role, input: &[u8]) -> Outcome {
    drive(&mut Decoder::new(role, MAX), input, &[input.len().max(1)], input.len().max(1))
}

fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, fin, opcode, Some(MASK), payload);
    out
}

fn raw_header(first: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let header = FrameHeader {
        fin: first & 0x80 != 0,
        rsv: (first >> 4) & 7,
        opcode: OpCode::from_bits(first).unwrap(),
        mask,
        payload_len: len,
    };
    let mut bytes = [0u8; FrameHeader::MAX_LEN];
    let n = header.encode(&mut bytes);
    bytes[..n].to_vec()
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn text(s: &str) -> Norm {
    Norm::Message(MessageKind::Text, s.as_bytes().to_vec())
}

fn binary(b: &[u8]) -> Norm {
    Norm::Message(MessageKind::Binary, b.to_vec())
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Valid client streams and the messages they hold.
fn fixtures() -> Vec<(&'static str, Vec<u8>, Vec<Norm>)> {
    use OpCode::*;
    let euro = "€".as_bytes();
    let mut v = vec![
        ("hello", frame(true, Text, b"Hello"), vec![text("Hello")]),
        ("empty text", frame(true, Text, b""), vec![text("")]),
        ("empty binary", frame(true, Binary, b""), vec![binary(b"")]),
        (
            "empty fragments",
            concat(&[
                frame(false, Text, b""),
                frame(false, Continuation, b""),
                frame(true, Continuation, b""),
            ]),
            vec![text("")],
        ),
        (
            "fragments with control frames between",
            concat(&[
                frame(false, Text, b"Hel"),
                frame(true, Ping, b"p1"),
                frame(false, Continuation, b""),
                frame(true, Pong, b""),
                frame(true, Continuation, b"lo"),
                frame(true, Binary, &[0, 0xff]),
            ]),
            vec![Norm::Ping(b"p1".to_vec()), Norm::Pong(vec![]), text("Hello"), binary(&[0, 0xff])],
        ),
        (
            "code point split across fragments",
            concat(&[
                frame(false, Text, &euro[..1]),
                frame(false, Continuation, &euro[1..2]),
                frame(true, Continuation, &euro[2..]),
            ]),
            vec![text("€")],
        ),
        ("utf-8 text", frame(true, Text, "κόσμε 𝄞 中文".as_bytes()), vec![text("κόσμε 𝄞 中文")]),
        ("ping empty", frame(true, Ping, b""), vec![Norm::Ping(vec![])]),
        ("ping 125", frame(true, Ping, &[9; 125]), vec![Norm::Ping(vec![9; 125])]),
        ("close empty", frame(true, Close, b""), vec![Norm::Close(None, String::new())]),
        (
            "close with reason",
            frame(true, Close, &close_payload(1000, "bye ✓".as_bytes())),
            vec![Norm::Close(Some(1000), "bye ✓".into())],
        ),
        (
            "close 4999, max reason",
            frame(true, Close, &close_payload(4999, &[b'r'; 123])),
            vec![Norm::Close(Some(4999), "r".repeat(123))],
        ),
        (
            "data after close is discarded",
            concat(&[
                frame(true, Binary, b"a"),
                frame(true, Close, &close_payload(1001, b"")),
                frame(true, Binary, b"ignored"),
                vec![0xff, 0xff, 0xff],
            ]),
            vec![binary(b"a"), Norm::Close(Some(1001), String::new())],
        ),
        (
            "unfinished message",
            concat(&[frame(true, Text, b"ok"), frame(false, Binary, b"part")]),
            vec![text("ok"), Norm::Unfinished(MessageKind::Binary, b"part".to_vec())],
        ),
    ];
    for len in [1usize, 125, 126, 127, 65535, 65536, 70000] {
        let payload = sample(len);
        v.push(("binary at a length boundary", frame(true, Binary, &payload), vec![binary(&payload)]));
    }
    v
}

#[test]
fn fixtures_one_shot() {
    for (name, input, expected) in fixtures() {
        let out = one_shot(Role::Server, &input);
        assert_eq!(out.error, None, "{name}");
        assert_eq!(normalize(&out.events, false), expected, "{name}");
    }
}

#[test]
fn fixtures_byte_by_byte_through_the_smallest_buffer() {
    for (name, input, expected) in fixtures() {
        let mut decoder = Decoder::new(Role::Server, MAX);
        let out = drive(&mut decoder, &input, &[1], Decoder::MIN_BUFFER);
        assert_eq!(out.error, None, "{name}");
        assert_eq!(normalize(&out.events, false), expected, "{name}");
    }
}

#[test]
fn fixtures_split_at_every_point() {
    for (name, input, expected) in fixtures() {
        let one = one_shot(Role::Server, &input);
        // Every split of small fixtures; a spread of splits for the large ones.
        let step = (input.len() / 300).max(1);
        for split in (0..=input.len()).step_by(step) {
            let mut decoder = Decoder::new(Role::Server, MAX);
            let rest = input.len() - split;
            let out = drive(&mut decoder, &input, &[split, rest], input.len().max(1));
            assert_eq!(out.error, None, "{name} split at {split}");
            assert_eq!(normalize(&out.events, false), expected, "{name} split at {split}");
            assert_eq!(out.left, one.left, "{name} split at {split}");
        }
    }
}

#[test]
fn fixtures_with_odd_read_sizes_and_buffers() {
    for (name, input, expected) in fixtures() {
        for reads in [&[7usize][..], &[3, 200, 1], &[4096]] {
            for cap in [Decoder::MIN_BUFFER, 1000, 16 * 1024] {
                let mut decoder = Decoder::new(Role::Server, MAX);
                let out = drive(&mut decoder, &input, reads, cap);
                assert_eq!(out.error, None, "{name}");
                assert_eq!(normalize(&out.events, false), expected, "{name} {reads:?} {cap}");
            }
        }
    }
}

#[test]
fn every_mask_offset_with_every_chunking() {
    let payload = sample(11);
    for mask in MASKS {
        let mut input = Vec::new();
        encode_frame(&mut input, true, OpCode::Binary, Some(mask), &payload);
        let header_len = input.len() - payload.len();
        // Cut the payload into three pieces at every pair of points: each piece
        // starts at every mask offset 0..=3.
        for a in 0..=payload.len() {
            for b in a..=payload.len() {
                let reads = [header_len + a, b - a, payload.len() - b];
                let mut decoder = Decoder::new(Role::Server, MAX);
                let out = drive(&mut decoder, &input, &reads, input.len());
                assert_eq!(out.error, None);
                assert_eq!(
                    normalize(&out.events, false),
                    vec![binary(&payload)],
                    "mask {mask:x?} cuts {a} {b}"
                );
            }
        }
    }
}

#[test]
fn chunks_carry_first_and_last_flags() {
    let input = concat(&[frame(false, OpCode::Text, b"ab"), frame(true, OpCode::Continuation, b"cd")]);
    let mut decoder = Decoder::new(Role::Server, MAX);
    let out = drive(&mut decoder, &input, &[7, 1, 100], 200);
    let flags: Vec<(Vec<u8>, bool, bool)> = out
        .events
        .iter()
        .map(|e| match e {
            Owned::Data { kind: MessageKind::Text, payload, first, last } => (payload.clone(), *first, *last),
            other => panic!("{other:?}"),
        })
        .collect();
    // Reads: header (6) + 'a', then 'b', then the rest.
    assert_eq!(
        flags,
        vec![(b"a".to_vec(), true, false), (b"b".to_vec(), false, false), (b"cd".to_vec(), false, true),]
    );
}

#[test]
fn a_data_header_alone_is_consumed_and_its_payload_streams_later() {
    let input = frame(true, OpCode::Binary, b"xyz");
    let mut buf = input.clone();
    let mut decoder = Decoder::new(Role::Server, MAX);
    let d = decoder.decode(&mut buf[..6]).unwrap();
    assert_eq!((d.consumed, d.event), (6, None));
    let d = decoder.decode(&mut buf[6..8]).unwrap();
    assert_eq!(d.consumed, 2);
    assert_eq!(
        d.event,
        Some(Event::Data {
            kind: MessageKind::Binary,
            payload: b"xy",
            first: true,
            last: false,
            compressed: false
        })
    );
}

#[test]
fn control_frames_are_only_delivered_whole() {
    let input = frame(true, OpCode::Ping, &[1; 100]);
    let mut decoder = Decoder::new(Role::Server, MAX);
    for cut in 0..input.len() {
        let mut buf = input[..cut].to_vec();
        let d = decoder.decode(&mut buf).unwrap();
        assert_eq!((d.consumed, d.event), (0, None), "cut {cut}");
    }
    let mut buf = input.clone();
    let d = decoder.decode(&mut buf).unwrap();
    assert_eq!(d.consumed, input.len());
    assert_eq!(d.event, Some(Event::Ping(&[1; 100])));
}

#[test]
fn a_large_message_streams_through_a_small_buffer() {
    let payload = sample(1 << 20);
    let input = concat(&[
        frame(false, OpCode::Binary, &payload[..300_000]),
        frame(true, OpCode::Ping, b"mid"),
        frame(true, OpCode::Continuation, &payload[300_000..]),
    ]);
    let mut decoder = Decoder::new(Role::Server, 1 << 20);
    let out = drive(&mut decoder, &input, &[1000, 4096, 17], 4096);
    assert_eq!(out.error, None);
    assert_eq!(normalize(&out.events, false), vec![Norm::Ping(b"mid".to_vec()), binary(&payload)]);
}

#[test]
fn client_role_reads_unmasked_server_frames() {
    let mut input = Vec::new();
    encode_frame(&mut input, true, OpCode::Text, None, b"hi");
    input.extend_from_slice(crate::ws::ControlFrame::close(Some(CloseCode::NORMAL), "").as_bytes());
    let out = one_shot(Role::Client, &input);
    assert_eq!(out.error, None);
    assert_eq!(normalize(&out.events, false), vec![text("hi"), Norm::Close(Some(1000), String::new())]);
    let masked = frame(true, OpCode::Text, b"hi");
    assert_eq!(one_shot(Role::Client, &masked).error, Some(WsError::MaskedFrame));
}

/// Invalid client streams, the error and its close code.
fn error_fixtures() -> Vec<(String, Vec<u8>, WsError, u16)> {
    use OpCode::*;
    use WsError::*;
    let mut v: Vec<(String, Vec<u8>, WsError, u16)> = vec![
        ("unmasked".into(), vec![0x81, 0x02, b'h', b'i'], UnmaskedFrame, 1002),
        ("rsv1".into(), concat(&[raw_header(0xC1, 0, Some(MASK))]), ReservedBits, 1002),
        ("rsv2".into(), concat(&[raw_header(0xA2, 0, Some(MASK))]), ReservedBits, 1002),
        ("rsv3".into(), concat(&[raw_header(0x99, 0, Some(MASK))]), ReservedBits, 1002),
        (
            "rsv on a continuation".into(),
            concat(&[frame(false, Text, b"a"), raw_header(0x90, 0, Some(MASK))]),
            ReservedBits,
            1002,
        ),
        ("non-minimal 16".into(), vec![0x82, 0xFE, 0, 5, 1, 2, 3, 4], NonMinimalLength, 1002),
        (
            "non-minimal 64".into(),
            vec![0x82, 0xFF, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4],
            NonMinimalLength,
            1002,
        ),
        ("length msb".into(), vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], LengthTooLarge, 1002),
        ("ping 126".into(), raw_header(0x89, 126, Some(MASK)), ControlFrameTooLong, 1002),
        ("close 65536".into(), raw_header(0x88, 65536, Some(MASK)), ControlFrameTooLong, 1002),
        ("fragmented ping".into(), frame(false, Ping, b""), FragmentedControlFrame, 1002),
        ("fragmented close".into(), frame(false, Close, b""), FragmentedControlFrame, 1002),
        ("lone continuation".into(), frame(true, Continuation, b"x"), UnexpectedContinuation, 1002),
        (
            "continuation after a finished message".into(),
            concat(&[frame(true, Text, b"a"), frame(true, Continuation, b"b")]),
            UnexpectedContinuation,
            1002,
        ),
        (
            "text inside a fragmented message".into(),
            concat(&[frame(false, Text, b"a"), frame(true, Text, b"b")]),
            ExpectedContinuation,
            1002,
        ),
        (
            "binary inside a fragmented message after a ping".into(),
            concat(&[frame(false, Binary, b"a"), frame(true, Ping, b""), frame(false, Binary, b"b")]),
            ExpectedContinuation,
            1002,
        ),
        ("invalid utf-8".into(), frame(true, Text, b"ab\xffcd"), InvalidUtf8, 1007),
        ("surrogate".into(), frame(true, Text, b"\xed\xa0\x80"), InvalidUtf8, 1007),
        ("truncated code point".into(), frame(true, Text, b"ab\xe2\x82"), InvalidUtf8, 1007),
        (
            "truncated code point at the end of fragments".into(),
            concat(&[frame(false, Text, b"\xe2"), frame(true, Continuation, b"\x82")]),
            InvalidUtf8,
            1007,
        ),
        (
            "invalid sequence across fragments".into(),
            concat(&[frame(false, Text, b"\xe2\x82"), frame(true, Continuation, b"A")]),
            InvalidUtf8,
            1007,
        ),
        (
            "fail fast: bad first fragment, message never ends".into(),
            concat(&[frame(false, Text, b"ok\xc0\xafmore"), frame(false, Continuation, b"ok")]),
            InvalidUtf8,
            1007,
        ),
        ("close with 1 byte".into(), frame(true, Close, &[3]), InvalidCloseFrame, 1002),
        (
            "close reason not utf-8".into(),
            frame(true, Close, &close_payload(1000, b"\xff")),
            InvalidUtf8,
            1007,
        ),
        ("message too big, one frame".into(), frame(true, Binary, &sample(101)), MessageTooBig, 1009),
        (
            "message too big, fragments".into(),
            concat(&[frame(false, Text, &[b'a'; 60]), frame(true, Continuation, &[b'a'; 41])]),
            MessageTooBig,
            1009,
        ),
        ("message too big, header only".into(), raw_header(0x82, 1 << 40, Some(MASK)), MessageTooBig, 1009),
    ];
    for op in (3..=7).chain(11..=15) {
        v.push((format!("reserved opcode {op}"), vec![0x80 | op, 0x80, 1, 2, 3, 4], ReservedOpcode, 1002));
    }
    for code in [0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        v.push((
            format!("close code {code}"),
            frame(true, Close, &close_payload(code, b"")),
            InvalidCloseCode,
            1002,
        ));
    }
    v
}

#[test]
fn errors_and_their_close_codes() {
    for (name, input, error, code) in error_fixtures() {
        assert_eq!(error.close_code().as_u16(), code, "{name}");
        let mut decoder = Decoder::new(Role::Server, 100);
        let out = drive(&mut decoder, &input, &[input.len()], input.len());
        assert_eq!(out.error, Some(error), "{name}");
        // The error is sticky.
        assert_eq!(decoder.decode(&mut []), Err(error), "{name}");
        // The same error whatever the chunking.
        for reads in [&[1usize][..], &[2, 5], &[3]] {
            let mut decoder = Decoder::new(Role::Server, 100);
            let out = drive(&mut decoder, &input, reads, Decoder::MIN_BUFFER);
            assert_eq!(out.error, Some(error), "{name} reads {reads:?}");
        }
    }
}

#[test]
fn valid_close_codes_are_delivered() {
    for code in
        [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
    {
        let out = one_shot(Role::Server, &frame(true, OpCode::Close, &close_payload(code, b"r")));
        assert_eq!(out.error, None, "{code}");
        assert_eq!(normalize(&out.events, false), vec![Norm::Close(Some(code), "r".into())]);
    }
}

#[test]
fn message_of_exactly_the_limit_is_accepted() {
    let input = concat(&[
        frame(false, OpCode::Binary, &[1; 60]),
        frame(true, OpCode::Ping, &[2; 100]),
        frame(true, OpCode::Continuation, &[1; 40]),
        frame(true, OpCode::Text, &[b'x'; 100]),
    ]);
    let mut decoder = Decoder::new(Role::Server, 100);
    let out = drive(&mut decoder, &input, &[input.len()], input.len());
    assert_eq!(out.error, None);
    assert_eq!(
        normalize(&out.events, false),
        vec![Norm::Ping(vec![2; 100]), binary(&[1; 100]), text(&"x".repeat(100))]
    );
}

#[test]
fn invalid_utf8_fails_as_soon_as_the_bad_byte_arrives() {
    // Autobahn 6.4.x: the frame announces more payload than is ever sent.
    let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";
    let input = frame(true, OpCode::Text, payload);
    let header_len = input.len() - payload.len();
    let bad = 11 + 1; // \xf4\x90: the \x90 is where it stops being UTF-8
    let mut decoder = Decoder::new(Role::Server, MAX);
    let mut head = input[..header_len].to_vec();
    assert_eq!(decoder.decode(&mut head).unwrap().consumed, header_len);
    for (i, byte) in payload.iter().enumerate() {
        let mut one = [*byte ^ MASK[i % 4]];
        let result = decoder.decode(&mut one);
        if i < bad {
            assert!(result.is_ok(), "payload byte {i}");
        } else {
            assert_eq!(result.map(|d| d.consumed), Err(WsError::InvalidUtf8), "byte {i}");
            return;
        }
    }
    panic!("never failed");
}

#[test]
fn too_big_fails_on_the_header_before_any_payload() {
    let header = raw_header(0x82, 101, Some(MASK));
    let mut decoder = Decoder::new(Role::Server, 100);
    let mut buf = header.clone();
    assert_eq!(decoder.decode(&mut buf), Err(WsError::MessageTooBig));
}

#[test]
fn frame_remaining_is_what_the_header_declared_and_not_yet_delivered() {
    let mut d = Decoder::new(Role::Server, MAX);
    let mut wire = Vec::new();
    encode_frame(&mut wire, false, OpCode::Binary, Some(MASK), &[1; 100]);
    encode_frame(&mut wire, true, OpCode::Continuation, Some(MASK), &[2; 10]);
    assert_eq!(d.frame_remaining(), 0);
    // The first frame's header and 30 bytes of its payload.
    let decoded = d.decode(&mut wire[..2 + 4 + 30]).unwrap();
    assert_eq!(decoded.consumed, 36);
    assert_eq!(d.frame_remaining(), 70);
    let decoded = d.decode(&mut wire[36..106]).unwrap();
    assert_eq!(decoded.consumed, 70);
    assert_eq!(d.frame_remaining(), 0, "between frames, even inside a message");
    let decoded = d.decode(&mut wire[106..]).unwrap();
    assert!(matches!(decoded.event, Some(Event::Data { last: true, .. })));
    assert_eq!(d.frame_remaining(), 0);
}
