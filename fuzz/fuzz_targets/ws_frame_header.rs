//! The frame header codec: decode -> encode -> decode round-trips byte for byte (the
//! decoder accepts only the canonical encoding); the header length is at most the
//! input; a prefix of a complete header is Partial, a prefix of an invalid one is
//! Partial or the same error, and bytes after a header change nothing. Framing in
//! headroom produces a header that decodes to what was asked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::ws::{server_header_len, write_header_in_headroom, FrameHeader, Status};

fuzz_target!(|data: &[u8]| {
    let decoded = FrameHeader::decode(data);
    let mut longer = data.to_vec();
    longer.extend_from_slice(&[0xA5; FrameHeader::MAX_LEN]);
    match decoded {
        Ok(Status::Complete((header, len))) => {
            assert!((2..=FrameHeader::MAX_LEN).contains(&len) && len <= data.len());
            assert_eq!(len, header.encoded_len());
            assert!(header.rsv < 8 && header.payload_len >> 63 == 0);
            let mut out = [0u8; FrameHeader::MAX_LEN];
            let n = header.encode(&mut out);
            assert_eq!(&out[..n], &data[..len], "not byte-exact");
            assert_eq!(FrameHeader::decode(&out[..n]), Ok(Status::Complete((header, len))));
            assert_eq!(FrameHeader::decode(&longer), Ok(Status::Complete((header, len))));
            for cut in 0..len {
                assert_eq!(FrameHeader::decode(&data[..cut]), Ok(Status::Partial));
            }
            check_headroom(&header);
        }
        Ok(Status::Partial) => {
            assert!(data.len() < FrameHeader::MAX_LEN);
            for cut in 0..data.len() {
                assert_eq!(FrameHeader::decode(&data[..cut]), Ok(Status::Partial));
            }
        }
        Err(error) => {
            assert_eq!(error.close_code().as_u16(), 1002);
            assert_eq!(FrameHeader::decode(&longer), Err(error));
            for cut in 0..data.len().min(FrameHeader::MAX_LEN) {
                let prefix = FrameHeader::decode(&data[..cut]);
                assert!(prefix == Ok(Status::Partial) || prefix == Err(error));
            }
        }
    }
});

/// Frames a payload of the header's length (capped) in headroom and decodes it back.
fn check_headroom(header: &FrameHeader) {
    let len = header.payload_len.min(70_000) as usize;
    let headroom = FrameHeader::MAX_SERVER_LEN;
    let mut buf = vec![0x5A; headroom + len];
    let start = write_header_in_headroom(&mut buf, headroom, header.fin, header.opcode)
        .expect("10 bytes of headroom always suffice");
    assert_eq!(headroom - start, server_header_len(len as u64));
    let want =
        FrameHeader { fin: header.fin, rsv: 0, opcode: header.opcode, mask: None, payload_len: len as u64 };
    assert_eq!(FrameHeader::decode(&buf[start..]), Ok(Status::Complete((want, headroom - start))));
    assert!(buf[headroom..].iter().all(|&b| b == 0x5A), "payload touched");
    // Too little headroom is an error, never a panic.
    let short = server_header_len(len as u64) - 1;
    let mut buf = vec![0u8; short + len];
    assert!(write_header_in_headroom(&mut buf, short, true, header.opcode).is_err());
}
