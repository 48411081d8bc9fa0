//! A connection's socket (TCP or unix) as the worker reads and writes it: readiness
//! first, then a buffer; and what went through it, for the access log.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio_uring::buf::BoundedBuf;

use super::access_log::Tally;

/// A connection's socket, TCP or unix; both are plain byte streams to us.
///
/// Reads are readiness-based: wait until the reactor says the socket is readable, only
/// then find a buffer, and `read(2)` into it. So an idle connection holds no read buffer
/// (an io_uring read would pin one per connection until data came), a read can be
/// abandoned (timeouts, `select!`) without losing data, and a keystroke costs one
/// `epoll_wait` wake-up and one `read(2)`. Session output goes out with non-blocking
/// `writev(2)`s, waiting for writability when the socket is full; other writes (HTTP
/// responses, control frames) are io_uring writes.
pub struct Stream {
    /// Read readiness from the worker's reactor. Declared before `io`, so it is dropped
    /// (deregistered) before `io` closes the descriptor.
    ready: AsyncFd<crate::sys::StreamFd>,
    io: Io,
    /// Bytes through the socket and the close frame sent, for the access log.
    pub(super) tally: Tally,
}

enum Io {
    Tcp(tokio_uring::net::TcpStream),
    Unix(tokio_uring::net::UnixStream),
}

impl Stream {
    /// Wraps an accepted (or adopted) non-blocking socket.
    pub(super) fn new(sock: OwnedFd, tcp: bool) -> std::io::Result<Stream> {
        let io = if tcp {
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
        Ok(Stream { ready, io, tally: Tally::default() })
    }

    /// Waits until the socket is readable, then makes sure `buf` has room for `room`
    /// more bytes and reads at most that many. `Ok(0)` is end of stream. Cancel-safe:
    /// nothing is read until the read itself, which does not wait.
    pub(super) async fn read(&self, buf: &mut Vec<u8>, room: usize) -> std::io::Result<usize> {
        self.read_into(buf, room, Vec::new).await
    }

    /// [`read`](Self::read), replacing a `buf` without capacity by `fresh()` once the
    /// socket is readable (a buffer from the worker's stock).
    pub(super) async fn read_into(
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
    pub(super) async fn writable(&self) -> std::io::Result<()> {
        let mut guard = self.ready.writable().await?;
        // The write that follows finds out whether there is room; if not, the next
        // edge (the kernel freeing send buffer space) sets readiness again.
        guard.clear_ready();
        Ok(())
    }

    pub(super) async fn write_all<T: BoundedBuf>(&self, buf: T) -> tokio_uring::BufResult<(), T> {
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
}

/// The socket, lent for a call (`shutdown`, a non-blocking `writev`, `getpeername`,
/// a duplicate for another core); open for as long as the `Stream` is.
impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ready.get_ref().as_fd()
    }
}
