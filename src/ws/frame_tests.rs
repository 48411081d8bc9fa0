use super::*;

const LENGTHS: &[u64] = &[0, 1, 125, 126, 127, 65535, 65536, 1 << 32, (1 << 63) - 1];

const OPCODES: &[OpCode] =
    &[OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong];

fn encode(h: &FrameHeader) -> Vec<u8> {
    let mut out = [0u8; FrameHeader::MAX_LEN];
    let n = h.encode(&mut out);
    out[..n].to_vec()
}

#[test]
fn length_encodings_at_every_boundary() {
    // (payload length, expected unmasked encoding after the first byte)
    let table: &[(u64, &[u8])] = &[
        (0, &[0]),
        (125, &[125]),
        (126, &[126, 0, 126]),
        (127, &[126, 0, 127]),
        (65535, &[126, 0xff, 0xff]),
        (65536, &[127, 0, 0, 0, 0, 0, 1, 0, 0]),
        (1 << 32, &[127, 0, 0, 0, 1, 0, 0, 0, 0]),
        ((1 << 63) - 1, &[127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ];
    for &(len, tail) in table {
        let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: len };
        let bytes = encode(&h);
        assert_eq!(bytes[0], 0x82);
        assert_eq!(&bytes[1..], tail, "len {len}");
        assert_eq!(h.encoded_len(), bytes.len());
        assert_eq!(server_header_len(len), bytes.len());
        assert_eq!(FrameHeader::decode(&bytes), Ok(Status::Complete((h, bytes.len()))));
    }
}

#[test]
fn round_trip_every_field_combination() {
    for &payload_len in LENGTHS {
        for &opcode in OPCODES {
            for mask in [None, Some([1, 2, 3, 4]), Some([0xff, 0, 0x80, 0x7f])] {
                for rsv in 0..8 {
                    for fin in [false, true] {
                        let h = FrameHeader { fin, rsv, opcode, mask, payload_len };
                        let bytes = encode(&h);
                        assert_eq!(bytes.len(), h.encoded_len());
                        assert_eq!(FrameHeader::decode(&bytes), Ok(Status::Complete((h, bytes.len()))));
                        // Trailing payload bytes are not the header's business.
                        let mut longer = bytes.clone();
                        longer.extend_from_slice(&[0xAA; 20]);
                        assert_eq!(FrameHeader::decode(&longer), Ok(Status::Complete((h, bytes.len()))));
                        // Every strict prefix is Partial (the opcode is valid).
                        for cut in 0..bytes.len() {
                            assert_eq!(
                                FrameHeader::decode(&bytes[..cut]),
                                Ok(Status::Partial),
                                "{h:?} cut at {cut}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn reserved_opcodes_fail_on_the_first_byte() {
    for bits in (0x3..=0x7).chain(0xB..=0xF) {
        assert_eq!(OpCode::from_bits(bits), None);
        for first in [bits, 0x80 | bits, 0xF0 | bits] {
            assert_eq!(FrameHeader::decode(&[first]), Err(WsError::ReservedOpcode));
            assert_eq!(FrameHeader::decode(&[first, 0x85, 1, 2, 3, 4]), Err(WsError::ReservedOpcode));
        }
    }
}

#[test]
fn opcode_bits_round_trip() {
    for &op in OPCODES {
        assert_eq!(OpCode::from_bits(op.as_u8()), Some(op));
        assert_eq!(op.is_control(), op.as_u8() >= 8);
    }
}

#[test]
fn non_minimal_lengths_are_rejected() {
    let table: &[&[u8]] = &[
        &[0x82, 126, 0, 0],
        &[0x82, 126, 0, 124],
        &[0x82, 126, 0, 125],
        &[0x82, 0xFE, 0, 125, 1, 2, 3, 4],
        &[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 125],
        &[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
    ];
    for bytes in table {
        assert_eq!(FrameHeader::decode(bytes), Err(WsError::NonMinimalLength), "{bytes:x?}");
    }
    // The smallest of each form are accepted.
    assert!(matches!(FrameHeader::decode(&[0x82, 126, 0, 126]), Ok(Status::Complete(_))));
    assert!(matches!(FrameHeader::decode(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]), Ok(Status::Complete(_))));
}

#[test]
fn length_with_most_significant_bit_is_rejected() {
    for top in [0x80u8, 0xff] {
        let bytes = [0x82, 127, top, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::decode(&bytes), Err(WsError::LengthTooLarge));
    }
}

#[test]
fn headroom_framing_at_every_length_boundary() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut buf = vec![0xEE; FrameHeader::MAX_SERVER_LEN];
        buf.extend_from_slice(&payload);
        let start =
            write_header_in_headroom(&mut buf, FrameHeader::MAX_SERVER_LEN, true, OpCode::Binary).unwrap();
        assert_eq!(FrameHeader::MAX_SERVER_LEN - start, server_header_len(len as u64));
        let frame = &buf[start..];
        let Ok(Status::Complete((h, hlen))) = FrameHeader::decode(frame) else {
            panic!("len {len}: bad header");
        };
        assert_eq!(
            h,
            FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: len as u64 }
        );
        assert_eq!(&frame[hlen..], &payload[..]);
    }
}

#[test]
fn headroom_exactly_the_header_len_suffices() {
    let mut buf = vec![0u8; 2 + 5];
    assert_eq!(write_header_in_headroom(&mut buf, 2, false, OpCode::Text), Ok(0));
    assert_eq!(&buf[..2], &[0x01, 5]);
}

#[test]
fn headroom_too_small_is_an_error_not_a_panic() {
    let mut buf = vec![0u8; 1 + 5];
    assert_eq!(write_header_in_headroom(&mut buf, 1, true, OpCode::Text), Err(HeadroomTooSmall));
    let mut buf = vec![0u8; 3 + 200];
    assert_eq!(write_header_in_headroom(&mut buf, 3, true, OpCode::Binary), Err(HeadroomTooSmall));
    assert_eq!(write_header_in_headroom(&mut buf, 204, true, OpCode::Binary), Err(HeadroomTooSmall));
}
