//! permessage-deflate (RFC 7692) on arbitrary input: no panic anywhere.
//! - Negotiation: any `Sec-WebSocket-Extensions` value gives the same answer twice, and
//!   an accepted one writes a response value that negotiates to the same parameters.
//! - Inflation of arbitrary "compressed" bytes under a small limit: never more than the
//!   limit held or returned, a 1009 when over it; the codec works for the next message
//!   whatever the last one was.
//! - Round trip: anything compressed (in any split into two parts, either window, after
//!   another message on the same codec) inflates back to itself, and compression never
//!   makes a frame bigger (it declines).
//! - The decoder with deflate on: RSV1 only on a data message's first frame.
//!
//! Input: a selector byte, then the bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::ws::deflate::{negotiate, Codec, Inflating};
use ringtty::ws::{Decoder, Event, FrameHeader, OpCode, Role, Status, WsError};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    match sel % 4 {
        0 => {
            let answer = negotiate(rest);
            assert_eq!(answer, negotiate(rest));
            if let Some(d) = answer {
                let mut value = Vec::new();
                d.write_response_value(&mut value);
                assert_eq!(negotiate(&value), Some(d), "{}", String::from_utf8_lossy(&value));
            }
        }
        1 => {
            let mut codec = Codec::new();
            let max = usize::from(sel) * 64;
            let mut out = Vec::new();
            match codec.inflate(rest, &mut out, max) {
                Ok(()) => assert!(out.len() <= max),
                Err(e) => assert!(matches!(e, WsError::MessageTooBig | WsError::InvalidDeflate)),
            }
            assert!(out.capacity() <= (max + 1).max(4096) * 2);
            // The same codec inflates a known message next.
            codec.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100).unwrap();
            assert_eq!(out, b"Hello");
            let mut inflating = Inflating::default();
            let text = sel & 0x10 != 0;
            let _ = inflating.push(&mut codec, text, rest, (true, true), max);
        }
        2 => {
            let mut codec = Codec::new();
            let offer: &[u8] = if sel & 0x10 != 0 {
                b"permessage-deflate; server_max_window_bits=10"
            } else {
                b"permessage-deflate"
            };
            let deflate = negotiate(offer).unwrap();
            let split = usize::from(sel).min(rest.len());
            // The codec is shared by messages: one (maybe declined) goes first.
            let mut first = Vec::new();
            codec.compress_frame(deflate, OpCode::Text, &[&rest[split..]], &mut first);
            let mut frame = b"x".to_vec();
            if codec.compress_frame(deflate, OpCode::Binary, &[&rest[..split], &rest[split..]], &mut frame) {
                let Ok(Status::Complete((header, len))) = FrameHeader::decode(&frame[1..]) else {
                    panic!("no header")
                };
                assert_eq!(header.rsv, 0b100);
                assert!(header.fin);
                assert_eq!(1 + len as u64 + header.payload_len, frame.len() as u64);
                assert!(frame.len() - 1 <= rest.len() + len, "compression made it bigger");
                let mut back = Vec::new();
                codec.inflate(&frame[1 + len..], &mut back, rest.len()).unwrap();
                assert_eq!(back, rest);
            } else {
                assert_eq!(frame, b"x");
            }
        }
        _ => {
            let mut decoder = Decoder::new(Role::Client, 1 << 16).with_deflate();
            let mut buf = rest.to_vec();
            let mut at = 0;
            let mut first_of_compressed = None;
            while let Ok(d) = decoder.decode(&mut buf[at..]) {
                at += d.consumed;
                match d.event {
                    Some(Event::Data { first, compressed, .. }) => {
                        if first {
                            first_of_compressed = Some(compressed);
                        }
                        assert_eq!(Some(compressed), first_of_compressed, "one flag per message");
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        }
    }
});
