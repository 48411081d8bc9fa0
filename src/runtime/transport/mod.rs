//! The socket a connection owns, and everything done to it: reads into the caller's
//! buffer, vectored writes of shared frames, readiness waits, shutdown, its peer's
//! address, and a hand-off to another core ([`Parcel`]) carrying its state and the
//! bytes already read. Nothing above this file sees a file descriptor.
//!
//! Today there is one implementation, a plain byte stream (TCP or unix), read by
//! readiness and `read(2)`. The seam is drawn so that the next two fit behind the same
//! methods without their callers changing:
//! - **io_uring reads into kernel-selected pool buffers** (multishot receive): `read`
//!   and `read_into` still hand bytes to the caller's buffer and still return `Ok(0)` at
//!   end of stream; only how the bytes arrive differs.
//! - **TLS** (rustls): `read*` return plaintext, `try_writev` takes plaintext frames and
//!   reports how much of them it has taken, `writable` waits until ciphertext can move,
//!   `shutdown` sends close_notify first, and a `Parcel` carries the TLS session.

use std::cell::Cell;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio_uring::buf::BoundedBuf;

/// What went through a connection's socket, kept on its `Transport` whether or not the
/// log is on (two counters and a code: cheaper than a branch on every read).
#[derive(Default)]
pub struct Tally {
    pub rx: Cell<u64>,
    pub tx: Cell<u64>,
    /// The close frame the server wrote: its code (1005 without one) and whether it
    /// answered the peer's.
    close: Cell<Option<(u16, bool)>>,
}

impl Tally {
    /// Notes a close frame written to the peer, from its payload (RFC 6455 §5.5.1: the
    /// code is the payload's first two bytes, if any).
    pub fn close_written(&self, payload: &[u8], ours: bool) {
        let code = match payload {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => 1005,
        };
        self.close.set(Some((code, !ours)));
    }

    /// The close frame written, if any: its code and whether it answered the peer's.
    pub fn close(&self) -> Option<(u16, bool)> {
        self.close.get()
    }
}

/// A connection's socket, TCP or unix; both are plain byte streams to us.
///
/// Reads are readiness-based: wait until the reactor says the socket is readable, only
/// then find a buffer, and `read(2)` into it. So an idle connection holds no read buffer
/// (an io_uring read would pin one per connection until data came), a read can be
/// abandoned (timeouts, `select!`) without losing data, and a keystroke costs one
/// `epoll_wait` wake-up and one `read(2)`. Session output goes out with non-blocking
/// `writev(2)`s, waiting for writability when the socket is full; other writes (HTTP
/// responses, control frames) are io_uring writes.
pub struct Transport {
    /// Read readiness from the worker's reactor. Declared before `io`, so it is dropped
    /// (deregistered) before `io` closes the descriptor.
    ready: AsyncFd<crate::sys::StreamFd>,
    io: Io,
    /// Bytes through the socket and the close frame sent, for the access log.
    pub tally: Tally,
}

enum Io {
    Tcp(tokio_uring::net::TcpStream),
    Unix(tokio_uring::net::UnixStream),
}

impl Transport {
    /// Wraps an accepted non-blocking socket.
    pub fn new(sock: OwnedFd, kind: Kind) -> std::io::Result<Transport> {
        let io = if kind == Kind::Tcp {
            Io::Tcp(tokio_uring::net::TcpStream::from_std(sock.into()))
        } else {
            Io::Unix(tokio_uring::net::UnixStream::from_std(sock.into()))
        };
        let fd = match &io {
            Io::Tcp(s) => s.as_raw_fd(),
            Io::Unix(s) => s.as_raw_fd(),
        };
        // SAFETY: `io` owns `fd` and closes it only when dropped, after `ready`.
        let ready = unsafe { crate::sys::register_stream_fd(fd) }?;
        Ok(Transport { ready, io, tally: Tally::default() })
    }

    /// Waits until the socket is readable, then makes sure `buf` has room for `room`
    /// more bytes and reads at most that many. `Ok(0)` is end of stream. Cancel-safe:
    /// nothing is read until the read itself, which does not wait.
    pub async fn read(&self, buf: &mut Vec<u8>, room: usize) -> std::io::Result<usize> {
        self.read_into(buf, room, Vec::new).await
    }

    /// [`read`](Self::read), replacing a `buf` without capacity by `fresh()` once the
    /// socket is readable (a buffer from the worker's stock).
    pub async fn read_into(
        &self,
        buf: &mut Vec<u8>,
        room: usize,
        fresh: impl Fn() -> Vec<u8>,
    ) -> std::io::Result<usize> {
        debug_assert!(room > 0);
        loop {
            let mut guard = self.ready.readable().await?;
            if buf.capacity() == 0 {
                *buf = fresh();
            }
            if buf.capacity() - buf.len() < room {
                buf.reserve_exact(room);
            }
            match crate::sys::read_spare(guard.get_inner(), buf, room) {
                Ok(n) => {
                    // A short read emptied the socket: wait for the next edge rather than
                    // spend a read(2) on EAGAIN (tokio's own streams do the same).
                    if n > 0 && n < room {
                        guard.clear_ready();
                    }
                    self.tally.rx.set(self.tally.rx.get() + n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until a write may make progress after one returned `WouldBlock`.
    pub async fn writable(&self) -> std::io::Result<()> {
        let mut guard = self.ready.writable().await?;
        // The write that follows finds out whether there is room; if not, the next
        // edge (the kernel freeing send buffer space) sets readiness again.
        guard.clear_ready();
        Ok(())
    }

    pub async fn write_all<T: BoundedBuf>(&self, buf: T) -> tokio_uring::BufResult<(), T> {
        let n = buf.bytes_init() as u64;
        let (res, buf) = match &self.io {
            Io::Tcp(s) => s.write_all(buf).await,
            Io::Unix(s) => s.write_all(buf).await,
        };
        if res.is_ok() {
            self.tally.tx.set(self.tally.tx.get() + n);
        }
        (res, buf)
    }

    /// Writes what it can of `frames` without waiting (one `writev(2)`); `WouldBlock`
    /// when the socket is full (then [`writable`](Self::writable)).
    pub fn try_writev(&self, frames: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let n = crate::sys::writev(self.fd(), frames)?;
        self.tally.tx.set(self.tally.tx.get() + n as u64);
        Ok(n)
    }

    /// Ends the connection both ways (errors ignored): whatever waits on it wakes up
    /// with end of stream or an error.
    pub fn shutdown(&self) {
        crate::sys::shutdown(self.fd());
    }

    /// Ends our side of the connection (errors ignored): the peer reads end of stream
    /// once it has read everything written before, and may still send.
    pub fn shutdown_write(&self) {
        crate::sys::shutdown_write(self.fd());
    }

    /// Which kind of socket this is.
    pub fn kind(&self) -> Kind {
        match self.io {
            Io::Tcp(_) => Kind::Tcp,
            Io::Unix(_) => Kind::Unix,
        }
    }

    /// The peer's address (TCP only; `None` for a unix socket or a peer already gone).
    /// One `getpeername(2)` per call: callers that need it more than once keep it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self.io {
            Io::Tcp(_) => crate::sys::peer_addr(self.fd()),
            Io::Unix(_) => None,
        }
    }

    /// Packs the connection for another core: a duplicate of the socket (this
    /// `Transport`, dropped by the caller, closes its own), its kind, and `buffered`,
    /// the bytes read but not yet used.
    pub fn pack(&self, buffered: Vec<u8>) -> std::io::Result<Parcel> {
        let sock = crate::sys::dup(self.fd())?;
        Ok(Parcel { sock, kind: self.kind(), buffered })
    }

    /// The socket, for the calls above.
    fn fd(&self) -> BorrowedFd<'_> {
        self.ready.get_ref().as_fd()
    }
}

/// What kind of socket a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Unix,
}

/// A connection on its way to another core: the socket, its state (today its kind;
/// with TLS, the session), and the bytes read but not yet used. `Send`, so it can
/// cross threads; it is a connection again only on the core that unpacks it.
pub struct Parcel {
    sock: OwnedFd,
    kind: Kind,
    buffered: Vec<u8>,
}

impl Parcel {
    /// The connection again, on this core, with the bytes it had read.
    pub fn unpack(self) -> std::io::Result<(Transport, Vec<u8>)> {
        Ok((Transport::new(self.sock, self.kind)?, self.buffered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn pair() -> (Transport, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        (Transport::new(OwnedFd::from(ours), Kind::Unix).unwrap(), peer)
    }

    /// A hand-off keeps the bytes read and the connection: what the peer sends next
    /// reaches the unpacked transport, what it writes reaches the peer, and its
    /// shutdown is the peer's end of stream.
    #[test]
    fn a_packed_connection_unpacks_with_its_bytes_and_its_socket() {
        tokio_uring::start(async {
            let (t, mut peer) = pair();
            assert_eq!(t.kind(), Kind::Unix);
            assert_eq!(t.peer_addr(), None, "a unix socket has no address to log");
            peer.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            let mut buf = Vec::new();
            let n = t.read(&mut buf, 64).await.unwrap();
            assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n");
            assert_eq!(t.tally.rx.get(), n as u64);

            let parcel = t.pack(buf.clone()).unwrap();
            drop(t); // the sending core's descriptor closes; the socket lives on
            let (t, buffered) = parcel.unpack().unwrap();
            assert_eq!(buffered, buf);
            peer.write_all(b"Host: x\r\n").unwrap();
            let mut more = Vec::new();
            let n = t.read(&mut more, 64).await.unwrap();
            assert_eq!(&more[..n], b"Host: x\r\n");

            let n = t.try_writev(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")]).unwrap();
            assert_eq!((n, t.tally.tx.get()), (4, 4));
            let mut got = [0u8; 4];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"abcd");

            t.shutdown();
            let mut rest = Vec::new();
            assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0, "the peer sees the end");
        });
    }

    #[test]
    fn a_full_socket_would_block_and_then_becomes_writable() {
        tokio_uring::start(async {
            let (t, mut peer) = pair();
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            loop {
                match t.try_writev(&[IoSlice::new(&chunk)]) {
                    Ok(n) => sent += n,
                    Err(e) => {
                        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
                        break;
                    }
                }
            }
            assert!(sent > 0);
            let mut sink = vec![0u8; sent];
            peer.read_exact(&mut sink).unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(5), t.writable()).await.unwrap().unwrap();
            assert!(t.try_writev(&[IoSlice::new(b"y")]).is_ok());
        });
    }

    #[test]
    fn a_close_frame_payload_gives_its_code_or_1005() {
        let tally = Tally::default();
        tally.close_written(&[0x03, 0xe8, b'b', b'y', b'e'], false);
        assert_eq!(tally.close.get(), Some((1000, true)));
        tally.close_written(&[], true);
        assert_eq!(tally.close.get(), Some((1005, false)));
    }
}
