use super::*;
use crate::ws::{Decoder, Event, MessageKind, Role};

fn answer(value: &str) -> Option<String> {
    negotiate(value.as_bytes()).map(|d| {
        let mut out = Vec::new();
        d.write_response_value(&mut out);
        String::from_utf8(out).unwrap()
    })
}

const PLAIN: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

#[test]
fn a_plain_offer_is_answered_with_no_context_takeover_both_ways() {
    assert_eq!(answer("permessage-deflate").as_deref(), Some(PLAIN));
    // What Chromium and Firefox send.
    assert_eq!(answer("permessage-deflate; client_max_window_bits").as_deref(), Some(PLAIN));
    assert_eq!(answer("  PerMessage-Deflate ;client_no_context_takeover ").as_deref(), Some(PLAIN));
    assert_eq!(
        answer("permessage-deflate; server_no_context_takeover; client_no_context_takeover").as_deref(),
        Some(PLAIN)
    );
    assert_eq!(negotiate(b"permessage-deflate").unwrap().window_bits(), 15);
}

#[test]
fn server_max_window_bits_is_answered_and_honoured() {
    let d = negotiate(b"permessage-deflate; server_max_window_bits=10").unwrap();
    assert_eq!(d.window_bits(), 9, "a limit below 15 is met with the 512-byte window");
    assert_eq!(
        answer("permessage-deflate; server_max_window_bits=10").unwrap(),
        format!("{PLAIN}; server_max_window_bits=10")
    );
    assert_eq!(
        answer("permessage-deflate; server_max_window_bits=\"9\"").unwrap(),
        format!("{PLAIN}; server_max_window_bits=9")
    );
    let d = negotiate(b"permessage-deflate; server_max_window_bits=15").unwrap();
    assert_eq!(d.window_bits(), 15);
    // 8 cannot be met (no 256-byte raw window): that offer is declined, the next taken.
    assert_eq!(answer("permessage-deflate; server_max_window_bits=8"), None);
    assert_eq!(
        answer("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=12")
            .unwrap(),
        format!("{PLAIN}; server_max_window_bits=12")
    );
}

#[test]
fn client_max_window_bits_takes_any_valid_value_and_is_not_answered() {
    for v in ["8", "9", "12", "15", "\"15\""] {
        assert_eq!(
            answer(&format!("permessage-deflate; client_max_window_bits={v}")).as_deref(),
            Some(PLAIN),
            "{v}"
        );
    }
}

#[test]
fn invalid_offers_are_declined_and_the_next_is_taken() {
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1 0",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; mystery",
        "permessage-deflate; =10",
        "permessage-deflate;;",
        "x-webkit-deflate-frame",
        "deflate",
        "",
        ",,,",
    ] {
        assert_eq!(answer(bad), None, "{bad:?}");
        let two = format!("{bad}, permessage-deflate; client_max_window_bits");
        assert_eq!(answer(&two).as_deref(), Some(PLAIN), "{two:?}");
    }
    // An unterminated quote swallows the rest of the list: nothing is accepted.
    assert_eq!(answer("permessage-deflate; x=\"unterminated, permessage-deflate"), None);
    // A comma inside a quoted value does not split the list.
    assert_eq!(answer("foo; a=\"x,permessage-deflate\""), None);
    assert_eq!(answer("foo; a=\"x,y\", permessage-deflate").as_deref(), Some(PLAIN));
}

#[test]
fn the_upgrade_answers_the_first_acceptable_offer_only_when_asked() {
    let headers = |ext: &'static str| {
        vec![
            ("Upgrade", &b"websocket"[..]),
            ("Connection", b"Upgrade"),
            ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", b"13"),
            ("Sec-WebSocket-Extensions", ext.as_bytes()),
        ]
    };
    let response = |compress: bool, ext: &'static str| {
        let hs = crate::ws::accept_upgrade_with("GET", headers(ext), &[], compress).unwrap();
        let mut out = Vec::new();
        hs.write_response(&mut out);
        (hs.deflate(), String::from_utf8(out).unwrap())
    };
    let (off, head) = response(false, "permessage-deflate");
    assert_eq!(off, None);
    assert!(!head.contains("Extensions"), "{head}");
    let (on, head) = response(true, "permessage-deflate; client_max_window_bits");
    assert!(on.is_some());
    assert!(head.contains(&format!("\r\nSec-WebSocket-Extensions: {PLAIN}\r\n")), "{head}");
    // A bad offer never refuses the upgrade.
    let (none, head) = response(true, "permessage-deflate; bogus");
    assert_eq!(none, None);
    assert!(head.starts_with("HTTP/1.1 101 ") && !head.contains("Extensions"), "{head}");
    // Several headers: the first acceptable offer, in order.
    let mut hs = headers("permessage-deflate; server_max_window_bits=8");
    hs.push(("Sec-WebSocket-Extensions", b"permessage-deflate; server_max_window_bits=11"));
    hs.push(("Sec-WebSocket-Extensions", b"permessage-deflate"));
    let d = crate::ws::accept_upgrade_with("GET", hs, &[], true).unwrap().deflate().unwrap();
    assert_eq!(d, negotiate(b"permessage-deflate; server_max_window_bits=11").unwrap());
}

/// An independent inflater (flate2's own streaming one, fresh per message): what a
/// client does with our frames.
fn peer_inflate(frame: &[u8]) -> (u8, Vec<u8>) {
    let (header, len) = match FrameHeader::decode(frame).unwrap() {
        crate::ws::Status::Complete(h) => h,
        crate::ws::Status::Partial => panic!("partial frame"),
    };
    assert!(header.fin);
    assert_eq!(header.rsv, 0b100, "RSV1 set");
    assert_eq!(len as u64 + header.payload_len, frame.len() as u64, "one whole frame");
    let mut data = frame[len..].to_vec();
    data.extend_from_slice(&TAIL);
    let mut out = Vec::new();
    let mut z = flate2::read::DeflateDecoder::new(&data[..]);
    let _ = std::io::Read::read_to_end(&mut z, &mut out);
    (header.opcode.as_u8(), out)
}

/// A client's compressor (fresh per message, as `client_no_context_takeover` says).
fn peer_deflate(payload: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() + 64);
    z.compress_vec(payload, &mut out, FlushCompress::Sync).unwrap();
    while out.len() == out.capacity() {
        out.reserve(256);
        z.compress_vec(&[], &mut out, FlushCompress::Sync).unwrap();
    }
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

fn listing(n: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..n {
        s.extend_from_slice(
            format!("-rw-r--r-- 1 root root {:>8} Jan  1 00:00 file-{i}.txt\r\n", i * 37).as_bytes(),
        );
    }
    s
}

#[test]
fn compressed_frames_round_trip_through_an_independent_inflater() {
    let mut codec = Codec::new();
    for bits in ["", "; server_max_window_bits=9", "; server_max_window_bits=15"] {
        let deflate = negotiate(format!("permessage-deflate{bits}").as_bytes()).unwrap();
        for n in [3, 40, 2000, 40_000] {
            let data = listing(n);
            let mut out = b"before".to_vec();
            // Split in two parts (ttyd's prefix, then the payload).
            assert!(codec.compress_frame(deflate, OpCode::Binary, &[&data[..1], &data[1..]], &mut out));
            assert_eq!(&out[..6], b"before", "appended");
            let (opcode, inflated) = peer_inflate(&out[6..]);
            assert_eq!(opcode, OpCode::Binary.as_u8());
            assert_eq!(inflated, data, "{bits} {n}");
            assert!(
                n < 2000 || out.len() - 6 < data.len() / 3,
                "listings compress well: {} of {}",
                out.len(),
                data.len()
            );
            // And through our own inflater.
            let mut back = Vec::new();
            let (_, len) = match FrameHeader::decode(&out[6..]).unwrap() {
                crate::ws::Status::Complete(h) => h,
                crate::ws::Status::Partial => unreachable!(),
            };
            codec.inflate(&out[6 + len..], &mut back, 1 << 24).unwrap();
            assert_eq!(back, data);
        }
    }
}

#[test]
fn incompressible_data_is_left_for_the_plain_path() {
    let mut codec = Codec::new();
    let deflate = negotiate(b"permessage-deflate").unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let random: Vec<u8> = (0..4000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut out = b"kept".to_vec();
    assert!(!codec.compress_frame(deflate, OpCode::Binary, &[&random], &mut out));
    assert_eq!(out, b"kept", "left as it was");
    // The codec is clean for the next message.
    let data = listing(100);
    assert!(codec.compress_frame(deflate, OpCode::Text, &[&data], &mut out));
    assert_eq!(peer_inflate(&out[4..]), (OpCode::Text.as_u8(), data));
}

#[test]
fn a_client_message_inflates_and_the_codec_resets_between_messages() {
    let mut codec = Codec::new();
    let mut out = Vec::new();
    for n in [0, 1, 50, 3000] {
        let data = listing(n);
        codec.inflate(&peer_deflate(&data), &mut out, 1 << 20).unwrap();
        assert_eq!(out, data);
    }
    // RFC 7692 §7.2.3.1's example: "Hello" compressed.
    codec.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
    // §7.2.3.6: a final block (BFINAL) may end the message: 0xf3 ... 0x00.
    codec.inflate(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
    // An empty message's data may be a single empty stored block's first byte.
    codec.inflate(&[0x00], &mut out, 100).unwrap();
    assert_eq!(out, b"");
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    let mut codec = Codec::new();
    let zeros = vec![0u8; 8 << 20];
    let bomb = peer_deflate(&zeros);
    assert!(bomb.len() < 16 * 1024, "{}", bomb.len());
    let mut out = Vec::new();
    assert_eq!(codec.inflate(&bomb, &mut out, 1 << 20), Err(WsError::MessageTooBig));
    assert!(out.capacity() <= (1 << 20) + 1, "never held more than the limit: {}", out.capacity());
    // Exactly at the limit is fine.
    let exact = peer_deflate(&zeros[..1 << 20]);
    codec.inflate(&exact, &mut out, 1 << 20).unwrap();
    assert_eq!(out.len(), 1 << 20);
}

#[test]
fn data_that_is_not_deflate_fails_with_1007() {
    let mut codec = Codec::new();
    let mut out = Vec::new();
    // Block type 3 is reserved (RFC 1951 §3.2.3).
    assert_eq!(codec.inflate(&[0xff, 0xff, 0xff], &mut out, 100), Err(WsError::InvalidDeflate));
    assert_eq!(WsError::InvalidDeflate.close_code(), crate::ws::CloseCode::INVALID_PAYLOAD);
    // The codec works again for the next message.
    codec.inflate(&peer_deflate(b"again"), &mut out, 100).unwrap();
    assert_eq!(out, b"again");
}

fn frame(rsv: u8, opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [1, 2, 3, 4];
    let header = FrameHeader {
        fin,
        rsv,
        opcode: crate::ws::OpCode::from_bits(opcode).unwrap(),
        mask: Some(mask),
        payload_len: payload.len() as u64,
    };
    let mut bytes = [0u8; FrameHeader::MAX_LEN];
    let n = header.encode(&mut bytes);
    let mut out = bytes[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    crate::ws::apply_mask(&mut out[start..], mask, 0);
    out
}

/// Decodes `input` whole; the messages (their kind, whether compressed, the payload) or
/// the error.
fn decode(deflate: bool, input: &[u8]) -> Result<Vec<(MessageKind, bool, Vec<u8>)>, WsError> {
    let mut decoder = Decoder::new(Role::Server, 1 << 20);
    if deflate {
        decoder = decoder.with_deflate();
    }
    let mut buf = input.to_vec();
    let mut at = 0;
    let mut messages = Vec::new();
    loop {
        let d = decoder.decode(&mut buf[at..])?;
        at += d.consumed;
        match d.event {
            Some(Event::Data { kind, payload, first, compressed, .. }) => {
                if first {
                    messages.push((kind, compressed, Vec::new()));
                }
                messages.last_mut().unwrap().2.extend_from_slice(payload);
            }
            Some(_) => {}
            None => return Ok(messages),
        }
    }
}

#[test]
fn rsv1_marks_a_message_compressed_only_on_its_first_frame_and_only_when_negotiated() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let one = frame(0b100, 0x1, true, &hello);
    assert_eq!(decode(true, &one).unwrap(), [(MessageKind::Text, true, hello.to_vec())]);
    // Not negotiated: 1002.
    assert_eq!(decode(false, &one), Err(WsError::ReservedBits));
    // Fragmented: RSV1 on the first frame only.
    let mut frag = frame(0b100, 0x2, false, &hello[..3]);
    frag.extend(frame(0, 0x0, true, &hello[3..]));
    assert_eq!(decode(true, &frag).unwrap(), [(MessageKind::Binary, true, hello.to_vec())]);
    let mut bad = frame(0b100, 0x2, false, &hello[..3]);
    bad.extend(frame(0b100, 0x0, true, &hello[3..]));
    assert_eq!(decode(true, &bad), Err(WsError::ReservedBits), "RSV1 on a continuation");
    // Control frames, RSV2 and RSV3: never.
    assert_eq!(decode(true, &frame(0b100, 0x9, true, b"")), Err(WsError::ReservedBits));
    assert_eq!(decode(true, &frame(0b100, 0x8, true, b"")), Err(WsError::ReservedBits));
    assert_eq!(decode(true, &frame(0b010, 0x1, true, b"a")), Err(WsError::ReservedBits));
    assert_eq!(decode(true, &frame(0b110, 0x1, true, b"a")), Err(WsError::ReservedBits));
    // Uncompressed messages still pass, and a compressed text message's bytes are not
    // checked for UTF-8 until inflated (its DEFLATE data is not UTF-8).
    assert_eq!(
        decode(true, &frame(0, 0x1, true, b"plain")).unwrap(),
        [(MessageKind::Text, false, b"plain".to_vec())]
    );
    assert_eq!(decode(false, &frame(0, 0x1, true, &[0xff])), Err(WsError::InvalidUtf8));
    assert!(decode(true, &frame(0b100, 0x1, true, &[0xff, 0x00])).is_ok());
}

#[test]
fn inflating_checks_utf8_after_inflation_and_releases_its_buffers() {
    let mut codec = Codec::new();
    let mut inflating = Inflating::default();
    let data = peer_deflate("héllo wörld".as_bytes());
    let (a, b) = data.split_at(3);
    assert_eq!(inflating.push(&mut codec, true, a, (true, false), 100).unwrap(), None);
    let got = inflating.push(&mut codec, true, b, (false, true), 100).unwrap().unwrap();
    assert_eq!(got, "héllo wörld".as_bytes());
    inflating.release();
    assert_eq!((inflating.compressed.capacity(), inflating.out.capacity()), (0, 0));
    let bad = peer_deflate(&[b'a', 0xff, b'b']);
    assert_eq!(inflating.push(&mut codec, true, &bad, (true, true), 100), Err(WsError::InvalidUtf8));
    // Binary is not checked.
    assert_eq!(
        inflating.push(&mut codec, false, &bad, (true, true), 100).unwrap().unwrap(),
        [b'a', 0xff, b'b']
    );
    assert_eq!(inflating.push(&mut codec, false, &bad, (true, true), 2), Err(WsError::MessageTooBig));
}

#[test]
fn declined_messages_leave_the_codec_clean_for_the_next() {
    // Incompressible messages are compressed, found no smaller and sent as they are;
    // the messages after them must still inflate (a compressor stopped midway once
    // corrupted the next message: Autobahn 12.2, a bitmap's slices).
    let mut codec = Codec::new();
    let deflate = negotiate(b"permessage-deflate").unwrap();
    let mut x: u64 = 7;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    };
    let text = listing(400);
    let (mut declined, mut sent) = (0, 0);
    for i in 0..300 {
        // Mixtures: some barely compressible, some not at all, some well.
        let mut data = noise(16384 - (i % 7) * 2000);
        data.extend_from_slice(&text[..(i % 7) * 2000]);
        let mut out = Vec::new();
        if codec.compress_frame(deflate, OpCode::Binary, &[&data], &mut out) {
            assert_eq!(peer_inflate(&out).1, data, "message {i}");
            sent += 1;
        } else {
            declined += 1;
        }
    }
    assert!(declined > 0 && sent > 0, "{declined} declined, {sent} sent");
}
