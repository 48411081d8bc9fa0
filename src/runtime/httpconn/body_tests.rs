//! `read_body`'s buffer growth: memory follows the bytes that arrived, not `Content-Length`.

use super::{body_read_room, BODY_CHUNK};

/// The buffer `read_body` grows, read by read, when `arrived` bytes of a `len`-byte
/// body come in `step`-byte reads: the reservation `Stream::read` makes for each.
fn grown(len: usize, arrived: usize, step: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < arrived {
        let room = body_read_room(body.len(), len);
        if body.capacity() - body.len() < room {
            body.reserve_exact(room);
        }
        let n = room.min(step).min(arrived - body.len());
        body.resize(body.len() + n, 0);
    }
    body
}

#[test]
fn a_declared_body_is_not_reserved_before_its_bytes_arrive() {
    const MIB: usize = 1024 * 1024;
    // One byte of a declared 1 MiB body holds one chunk, not the MiB.
    assert!(grown(MIB, 1, 1).capacity() <= BODY_CHUNK + 1);
    for arrived in [1, 100, BODY_CHUNK, BODY_CHUNK + 1, 300_000, MIB - 1, MIB] {
        for step in [1, 1000, BODY_CHUNK, MIB] {
            let cap = grown(MIB, arrived, step).capacity();
            assert!(cap <= 2 * arrived + BODY_CHUNK, "{arrived} in {step}-byte reads: {cap}");
            assert!(cap <= MIB, "never beyond the body: {cap}");
        }
    }
    assert_eq!(body_read_room(MIB - 10, MIB), 10);
    assert_eq!(body_read_room(MIB, MIB), 0);
}
