//! Frames on the handover socket: a 4-byte little-endian length, a JSON header of that
//! length, then `data` bytes (the header says how many). The descriptors a frame
//! carries (`SCM_RIGHTS`) ride on the `sendmsg` of its length and header, so the
//! receiver's `recvmsg` of a frame's first bytes is where they arrive; no other read
//! ever reaches into the next frame. Blocking sockets: both processes do nothing else
//! meanwhile.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The most descriptors one frame carries (below the kernel's `SCM_MAX_FD`, 253).
pub const MAX_FDS: usize = 200;
/// The largest header: descriptions are small; anything bigger is a wrong peer.
const MAX_HEADER: usize = 1 << 20;

/// Sends one frame: `header`, then `data`, with `fds`.
pub fn send(s: &UnixStream, header: &impl Serialize, data: &[u8], fds: &[OwnedFd]) -> std::io::Result<()> {
    assert!(fds.len() <= MAX_FDS, "at most {MAX_FDS} descriptors per frame");
    let json = serde_json::to_vec(header)?;
    let len = (json.len() as u32).to_le_bytes();
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !borrowed.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&borrowed)) {
        return Err(std::io::Error::other("too many descriptors for one frame"));
    }
    let total = len.len() + json.len();
    let mut sent = rustix::net::sendmsg(
        s,
        &[IoSlice::new(&len), IoSlice::new(&json)],
        &mut control,
        rustix::net::SendFlags::empty(),
    )?;
    // The rest of a partial send goes without descriptors (they went with the first byte).
    let whole: Vec<u8> = len.iter().chain(&json).copied().collect();
    while sent < total {
        sent += (&*s).write(&whole[sent..])?;
    }
    (&*s).write_all(data)
}

/// Receives one frame's header and descriptors (its data is read by [`read_data`]).
pub fn recv<H: DeserializeOwned>(s: &UnixStream) -> std::io::Result<(H, Vec<OwnedFd>)> {
    let mut len = [0u8; 4];
    let mut got = 0;
    let mut fds = Vec::new();
    while got < len.len() {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [IoSliceMut::new(&mut len[got..])];
        let msg = rustix::net::recvmsg(s, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)?;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = m {
                fds.extend(received);
            }
        }
        if msg.bytes == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += msg.bytes;
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_HEADER {
        return Err(std::io::Error::other(format!("a frame header of {len} bytes: not a ringtty handover")));
    }
    let mut json = vec![0; len];
    (&*s).read_exact(&mut json)?;
    let header = serde_json::from_slice(&json)?;
    Ok((header, fds))
}

/// A frame's `len` data bytes.
pub fn read_data(s: &UnixStream, len: u64) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    Read::take(s, len).read_to_end(&mut data)?;
    if data.len() as u64 != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(data)
}
