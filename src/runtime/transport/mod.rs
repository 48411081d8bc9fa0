//! The socket a connection owns, and everything done to it: reads into the caller's
//! buffer, vectored writes of shared frames, readiness waits, shutdown, its peer's
//! address, and a hand-off to another core ([`Parcel`]) carrying its state and the
//! bytes already read. Nothing above this file sees a file descriptor.
//!
//! A plain byte stream (TCP or unix) is read one of two ways, the worker's `--io`:
//! - **epoll**: by readiness and `read(2)` into the caller's buffer;
//! - **uring**: by one multishot receive, armed for the connection's whole life, into
//!   buffers the kernel picks from the worker's ring only when bytes arrive (an idle
//!   connection holds none); `read` and `read_into` copy them to the caller's buffer,
//!   exactly as `read(2)` would have. A connection that is not read from holds at
//!   most two such buffers (`uring::driver::HELD_MAX_SOCKET`), the rest waits in the
//!   socket.
//!
//! With `-S`, a connection is a TLS session (rustls, [`tls`]) behind the same methods,
//! so no caller changes: `read*` return plaintext (the handshake runs inside the first
//! reads), `try_writev` takes plaintext frames and reports how much of them it has
//! taken, encrypted (the ciphertext that could not go out yet waits in the session:
//! [`pending_out`](Transport::pending_out), flushed by the next `try_writev`),
//! `writable` waits until ciphertext can move, `shutdown` sends close_notify first, and
//! a `Parcel` carries the session to another core: no renegotiation.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;

use crate::buf::BufMut;
use crate::uring::{MultiRead, Ring};

mod tls;
pub use tls::TlsSession;

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
/// Either way (module docs) an idle connection holds no read buffer: by readiness, a
/// buffer is found only once the socket is readable; by the ring, the kernel picks one
/// only when bytes arrive. A read can be abandoned (timeouts, `select!`) without losing
/// data. Session output goes out with non-blocking `writev(2)`s, and HTTP responses
/// with `write(2)`s, waiting for writability when the socket is full.
pub struct Transport {
    /// With the worker's ring: the socket's multishot receive. Declared before `ready`,
    /// so it is cancelled before the descriptor closes.
    recv: Option<Box<RefCell<Recv>>>,
    /// With `-S`: the connection's TLS session, which every read and write goes
    /// through (taken out only by [`pack`](Self::pack)).
    tls: RefCell<Option<TlsSession>>,
    /// The socket, registered with the worker's reactor for write readiness, and for
    /// read readiness unless it is received by the ring.
    ready: AsyncFd<OwnedFd>,
    kind: Kind,
    /// Bytes through the socket and the close frame sent, for the access log.
    pub tally: Tally,
}

/// A socket's multishot receive, and the buffer it gave last, until read to its end.
struct Recv {
    read: MultiRead,
    rest: Option<(BufMut, usize)>,
}

impl Recv {
    /// Hands what was received to `take`, waiting for some: `take` gets the bytes not
    /// taken yet and says how many it took (what it leaves stays here for the next
    /// call); `Ok(0)` at the end. Cancel-safe. Each buffer received spends tokio's
    /// cooperative budget once, in `poll_next`, as each readiness read does: a flood
    /// does not keep the core's other tasks waiting.
    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&[u8]) -> std::io::Result<usize>,
    ) -> Poll<std::io::Result<usize>> {
        if self.rest.is_none() {
            match ready!(self.read.poll_next(cx)) {
                Ok(Some(data)) => self.rest = Some((data, 0)),
                Ok(None) => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let Some((data, at)) = &mut self.rest else { return Poll::Ready(Ok(0)) };
        let n = take(&data.as_slice()[*at..])?;
        *at += n;
        if *at == data.as_slice().len() {
            self.rest = None; // the buffer goes back to the pool, lent again
        }
        Poll::Ready(Ok(n))
    }

    /// Copies at most `room` bytes of what was received into `buf` (`fresh()` if it has
    /// no capacity), waiting for some.
    fn poll_copy(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
        room: usize,
        fresh: &impl Fn() -> Vec<u8>,
    ) -> Poll<std::io::Result<usize>> {
        self.poll_take(cx, |left| {
            let n = left.len().min(room);
            if buf.capacity() == 0 {
                *buf = fresh();
            }
            if buf.capacity() - buf.len() < n {
                buf.reserve_exact(room);
            }
            buf.extend_from_slice(&left[..n]);
            Ok(n)
        })
    }

    /// Hands what was received to the TLS session, waiting for some.
    fn poll_feed(
        &mut self,
        cx: &mut Context<'_>,
        tls: &RefCell<Option<TlsSession>>,
    ) -> Poll<std::io::Result<usize>> {
        self.poll_take(cx, |mut left| match tls.borrow_mut().as_mut() {
            Some(tls) => tls.feed(&mut left),
            None => Ok(0),
        })
    }
}

impl Transport {
    /// Wraps an accepted non-blocking socket; with `ring` (`--io uring`), its reads are
    /// the ring's multishot receive.
    pub fn new(sock: OwnedFd, kind: Kind, ring: Option<&Ring>) -> std::io::Result<Transport> {
        use tokio::io::Interest;
        let interest =
            if ring.is_some() { Interest::WRITABLE } else { Interest::READABLE | Interest::WRITABLE };
        let ready = crate::sys::async_fd(sock, interest)?;
        let recv = match ring {
            Some(ring) => {
                let read = ring.recv_multishot(ready.get_ref().as_fd())?;
                Some(Box::new(RefCell::new(Recv { read, rest: None })))
            }
            None => None,
        };
        Ok(Transport { recv, tls: RefCell::new(None), ready, kind, tally: Tally::default() })
    }

    /// Makes the connection a TLS session under `config` (`-S`): its reads, the first
    /// of which run the handshake, and its writes go through it from now on.
    pub fn start_tls(&self, config: std::sync::Arc<rustls::ServerConfig>) -> std::io::Result<()> {
        *self.tls.borrow_mut() = Some(TlsSession::new(config)?);
        Ok(())
    }

    /// The TLS handshake is not over yet (false without TLS): the connection's first
    /// request is not even possible, so it runs under the head's deadline.
    pub fn handshaking(&self) -> bool {
        self.tls.borrow().as_ref().is_some_and(TlsSession::handshaking)
    }

    /// The user a verified client certificate names (`-A`, `--ssl-user`), if the
    /// session has one.
    pub fn client_user(&self, from: crate::tls::CertName) -> Option<String> {
        self.tls.borrow().as_ref().and_then(|t| t.client_user(from))
    }

    /// Ciphertext waits in the TLS session for room in the socket: wait until
    /// [`writable`](Self::writable), then [`try_writev`](Self::try_writev) (with no
    /// frames, if there are none) sends it first.
    pub fn pending_out(&self) -> bool {
        self.tls.borrow().as_ref().is_some_and(TlsSession::pending_out)
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
        if self.tls.borrow().is_some() {
            let n = self.read_tls(buf, room, &fresh).await?;
            self.tally.rx.set(self.tally.rx.get() + n as u64);
            return Ok(n);
        }
        if let Some(recv) = &self.recv {
            let n = poll_fn(|cx| recv.borrow_mut().poll_copy(cx, buf, room, &fresh)).await?;
            self.tally.rx.set(self.tally.rx.get() + n as u64);
            return Ok(n);
        }
        loop {
            let mut guard = self.ready.readable().await?;
            if buf.capacity() == 0 {
                *buf = fresh();
            }
            if buf.capacity() - buf.len() < room {
                buf.reserve_exact(room);
            }
            match crate::sys::read_spare(guard.get_inner().as_fd(), buf, room) {
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

    /// `read_into` through the TLS session: plaintext already decrypted first; else
    /// the handshake's (or the session's) pending messages are sent, and more
    /// ciphertext is received and decrypted. Cancel-safe: what was received stays in
    /// the session (or in the ring's last buffer) until read.
    async fn read_tls(
        &self,
        buf: &mut Vec<u8>,
        room: usize,
        fresh: &impl Fn() -> Vec<u8>,
    ) -> std::io::Result<usize> {
        loop {
            let pending_out = {
                let mut tls = self.tls.borrow_mut();
                let Some(tls) = tls.as_mut() else { return Ok(0) };
                let got = tls.decrypt(self.fd())?;
                if got.plaintext > 0 {
                    if buf.capacity() == 0 {
                        *buf = fresh();
                    }
                    return Ok(tls.read_plain(buf, room.min(got.plaintext)));
                }
                if got.closed {
                    return Ok(0);
                }
                tls.pending_out()
            };
            if pending_out {
                match self.try_writev(&[]) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        self.writable().await?;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            if self.feed_tls().await? == 0 {
                return Ok(0);
            }
        }
    }

    /// Receives ciphertext into the TLS session: the bytes of one read, `Ok(0)` at the
    /// end of the stream.
    async fn feed_tls(&self) -> std::io::Result<usize> {
        if let Some(recv) = &self.recv {
            return poll_fn(|cx| recv.borrow_mut().poll_feed(cx, &self.tls)).await;
        }
        loop {
            let mut guard = self.ready.readable().await?;
            let mut socket = tls::Socket(guard.get_inner().as_fd(), false);
            let fed = match self.tls.borrow_mut().as_mut() {
                Some(tls) => tls.feed(&mut socket),
                None => Ok(0),
            };
            match fed {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => guard.clear_ready(),
                fed => {
                    // A short read emptied the socket: wait for the next edge (as `read_into`).
                    if matches!(fed, Ok(n) if n > 0) && socket.1 {
                        guard.clear_ready();
                    }
                    return fed;
                }
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

    /// Writes all of `buf`, waiting for room when the socket is full.
    pub async fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
        while !buf.is_empty() {
            match self.try_writev(&[IoSlice::new(buf)]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
        while self.pending_out() {
            match self.try_writev(&[]) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes what it can of `frames` without waiting (one `writev(2)`); `WouldBlock`
    /// when the socket is full (then [`writable`](Self::writable)). With TLS: sends the
    /// ciphertext still pending first (`WouldBlock` if it cannot all go), then encrypts
    /// what the session takes of `frames` and sends what the socket takes of it; `frames`
    /// may be empty, to send what is pending.
    pub fn try_writev(&self, frames: &[IoSlice<'_>]) -> std::io::Result<usize> {
        if let Some(tls) = self.tls.borrow_mut().as_mut() {
            let n = tls.write(self.fd(), frames)?;
            self.tally.tx.set(self.tally.tx.get() + n as u64);
            return Ok(n);
        }
        let n = crate::sys::writev(self.fd(), frames)?;
        self.tally.tx.set(self.tally.tx.get() + n as u64);
        Ok(n)
    }

    /// Ends the connection both ways (errors ignored): whatever waits on it wakes up
    /// with end of stream or an error.
    pub fn shutdown(&self) {
        self.close_notify();
        crate::sys::shutdown(self.fd());
    }

    /// With TLS, tells the peer the session ends (close_notify), if the socket takes it
    /// now; a peer that reads it knows no data was cut off.
    fn close_notify(&self) {
        if let Some(tls) = self.tls.borrow_mut().as_mut() {
            tls.close_notify(self.fd());
        }
    }

    /// Ends our side of the connection (errors ignored): the peer reads end of stream
    /// once it has read everything written before, and may still send.
    pub fn shutdown_write(&self) {
        self.close_notify();
        crate::sys::shutdown_write(self.fd());
    }

    /// Which kind of socket this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The peer's address (TCP only; `None` for a unix socket or a peer already gone).
    /// One `getpeername(2)` per call: callers that need it more than once keep it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self.kind {
            Kind::Tcp => crate::sys::peer_addr(self.fd()),
            Kind::Unix => None,
        }
    }

    /// Packs the connection for another core: a duplicate of the socket (this
    /// `Transport`, dropped by the caller, closes its own), its kind, and `buffered`,
    /// the bytes read but not yet used. A ring's receive is stopped first, and what it
    /// had received goes into `buffered`: no byte is left behind.
    pub async fn pack(&self, mut buffered: Vec<u8>) -> std::io::Result<Parcel> {
        if let Some(recv) = &self.recv {
            recv.borrow_mut().read.stop();
            while self.read_into(&mut buffered, 64 * 1024, Vec::new).await? > 0 {}
        }
        // Ciphertext received but not decrypted (part of a record) stays in the session.
        self.write_all(&[]).await?;
        let sock = crate::sys::dup(self.fd())?;
        let tls = self.tls.borrow_mut().take();
        Ok(Parcel { sock, kind: self.kind(), buffered, tls })
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
    tls: Option<TlsSession>,
}

impl Parcel {
    /// The connection again, on this core (read by its `ring`, if any), with the bytes
    /// it had read and its TLS session.
    pub fn unpack(self, ring: Option<&Ring>) -> std::io::Result<(Transport, Vec<u8>)> {
        let t = Transport::new(self.sock, self.kind, ring)?;
        *t.tls.borrow_mut() = self.tls;
        Ok((t, self.buffered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn pair(ring: Option<&Ring>) -> (Transport, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        (Transport::new(OwnedFd::from(ours), Kind::Unix, ring).unwrap(), peer)
    }

    /// Runs `f` twice: with readiness reads (no ring), then with a worker-like ring
    /// driven by its task, closed afterwards with nothing left with the kernel.
    fn with_each_io<F, Fut>(f: F)
    where
        F: Fn(Option<Ring>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        crate::rt::start(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), f(None)).await.expect("deadline");
            let config = crate::buf::PoolConfig { capacity: 64, max_bufs: 9, reserve: 1 };
            let ring = Ring::new(32, 0, 8, 8, crate::buf::Pool::new(config).unwrap()).unwrap();
            let driver = crate::rt::spawn({
                let ring = ring.clone();
                async move { ring.run().await }
            });
            tokio::time::timeout(std::time::Duration::from_secs(10), f(Some(ring.clone())))
                .await
                .expect("deadline");
            ring.close();
            driver.await.unwrap().unwrap();
            assert_eq!(ring.operations(), 0);
        });
    }

    /// A hand-off keeps the bytes read and the connection: what the peer sends next
    /// reaches the unpacked transport, what it writes reaches the peer, and its
    /// shutdown is the peer's end of stream.
    #[test]
    fn a_packed_connection_unpacks_with_its_bytes_and_its_socket() {
        with_each_io(|ring| async move {
            let ring = ring.as_ref();
            let (t, mut peer) = pair(ring);
            assert_eq!(t.kind(), Kind::Unix);
            assert_eq!(t.peer_addr(), None, "a unix socket has no address to log");
            peer.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            let mut buf = Vec::new();
            let n = t.read(&mut buf, 64).await.unwrap();
            assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n");
            assert_eq!(t.tally.rx.get(), n as u64);

            // Received but not read yet when the connection moves: it moves with it.
            peer.write_all(b"Acc").unwrap();
            if ring.is_some() {
                while t.recv.as_ref().unwrap().borrow().read.pending() == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            let parcel = t.pack(buf.clone()).await.unwrap();
            drop(t); // the sending core's descriptor closes; the socket lives on
            let (t, buffered) = parcel.unpack(ring).unwrap();
            if ring.is_some() {
                assert_eq!(buffered, b"GET / HTTP/1.1\r\nAcc", "what the ring had received moves too");
            } else {
                assert_eq!(buffered, buf);
                let mut acc = Vec::new();
                assert_eq!(t.read(&mut acc, 3).await.unwrap(), 3);
            }
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

    /// What the ring received comes out in pieces of at most the room asked for, in
    /// order; the end of stream is `Ok(0)`, again and again.
    #[test]
    fn reads_take_at_most_their_room_and_end_with_zero() {
        with_each_io(|ring| async move {
            let (t, mut peer) = pair(ring.as_ref());
            peer.write_all(b"0123456789").unwrap();
            drop(peer);
            let mut got = Vec::new();
            loop {
                let before = got.len();
                let n = t.read(&mut got, 4).await.unwrap();
                assert!(n <= 4 && got.len() == before + n);
                if n == 0 {
                    break;
                }
            }
            assert_eq!(got, b"0123456789");
            assert_eq!(t.read(&mut got, 4).await.unwrap(), 0, "the end, again");
        });
    }

    #[test]
    fn a_full_socket_would_block_and_then_becomes_writable() {
        with_each_io(|ring| async move {
            let (t, mut peer) = pair(ring.as_ref());
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

    /// A server configuration with a fresh self-signed certificate for `localhost`, and a
    /// client configuration that trusts it.
    fn tls_configs() -> (std::sync::Arc<rustls::ServerConfig>, std::sync::Arc<rustls::ClientConfig>) {
        use rustls::pki_types::PrivateKeyDer;
        use std::sync::Arc;
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = ck.cert.der().clone();
        let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
        #[allow(deprecated)] // the design's provider; see src/tls/mod.rs
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// Over TLS, each way of reading: the handshake runs inside the first reads, the
    /// client's bytes come out as plaintext, frames go out encrypted, a hand-off to
    /// another core mid-stream keeps the session (no new handshake) and every byte, and
    /// the shutdown is a clean close_notify.
    #[test]
    fn a_tls_session_reads_writes_moves_and_closes_cleanly() {
        with_each_io(|ring| async move {
            let ring = ring.as_ref();
            let (server, client) = tls_configs();
            let (t, peer) = pair(ring);
            t.start_tls(server).unwrap();
            assert!(t.handshaking());
            let (moved_tx, moved_rx) = std::sync::mpsc::channel::<()>();
            let client = std::thread::spawn(move || {
                let conn = rustls::ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
                let mut s = rustls::StreamOwned::new(conn, peer);
                s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
                let mut got = [0u8; 4];
                s.read_exact(&mut got).unwrap();
                assert_eq!(&got, b"abcd");
                s.write_all(b"Acc").unwrap();
                moved_rx.recv().unwrap();
                s.write_all(b"ept").unwrap();
                let mut rest = Vec::new();
                // Ok only after close_notify: a bare end of stream is an error here.
                s.read_to_end(&mut rest).map(|_| rest)
            });
            let mut buf = Vec::new();
            while buf.len() < 16 {
                assert!(t.read(&mut buf, 64).await.unwrap() > 0);
            }
            assert_eq!(buf, b"GET / HTTP/1.1\r\n");
            assert!(!t.handshaking());
            assert_eq!(t.tally.rx.get(), 16, "the tally counts plaintext");
            let buffered = || t.tls.borrow().as_ref().map(TlsSession::buffered);
            let n = t.try_writev(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")]).unwrap();
            assert_eq!(n, 4);
            t.write_all(&[]).await.unwrap();
            assert_eq!(buffered(), Some(0), "all read and sent: the session holds no buffer");
            // Wait until the next bytes were received, so some move with the session.
            let mut acc = Vec::new();
            assert!(t.read(&mut acc, 1).await.unwrap() == 1);
            let parcel = t.pack(acc).await.unwrap();
            drop(t);
            let (t, mut buffered) = parcel.unpack(ring).unwrap();
            moved_tx.send(()).unwrap();
            while buffered.len() < 6 {
                assert!(t.read(&mut buffered, 64).await.unwrap() > 0);
            }
            assert_eq!(buffered, b"Accept");
            t.write_all(b"bye").await.unwrap();
            t.shutdown();
            assert_eq!(client.join().unwrap().unwrap(), b"bye");
        });
    }

    /// A client that does not speak TLS gets an alert and an error, not plaintext.
    #[test]
    fn bytes_that_are_not_tls_end_the_session_with_an_error() {
        with_each_io(|ring| async move {
            let (server, _) = tls_configs();
            let (t, mut peer) = pair(ring.as_ref());
            t.start_tls(server).unwrap();
            peer.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut buf = Vec::new();
            let e = t.read(&mut buf, 64).await.unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            assert!(buf.is_empty());
            let mut alert = [0u8; 7];
            peer.read_exact(&mut alert).unwrap();
            assert_eq!(alert[0], 21, "a TLS alert record");
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
