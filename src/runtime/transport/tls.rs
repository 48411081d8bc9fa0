//! A connection's TLS session (rustls's `ServerConnection`) and the non-blocking moves
//! between it and the socket. Nothing here waits: the transport waits for readiness (or
//! the ring's receive) and calls these.

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::BorrowedFd;
use std::sync::Arc;

/// One connection's TLS state: keys, what was received and not yet decrypted or read,
/// and ciphertext not yet sent. `Send`: it crosses cores in a `Parcel`.
pub struct TlsSession(Box<rustls::ServerConnection>);

/// What the received records held once decrypted.
pub(super) struct Decrypted {
    /// Plaintext bytes waiting to be read.
    pub plaintext: usize,
    /// The peer sent close_notify: after the plaintext, the end.
    pub closed: bool,
}

impl TlsSession {
    pub(super) fn new(config: Arc<rustls::ServerConfig>) -> io::Result<TlsSession> {
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsSession(Box::new(conn)))
    }

    pub(super) fn handshaking(&self) -> bool {
        self.0.is_handshaking()
    }

    pub(super) fn client_user(&self, from: crate::tls::CertName) -> Option<String> {
        let cert = self.0.peer_certificates()?.first()?;
        crate::tls::identity::user_of(cert, from)
    }

    pub(super) fn pending_out(&self) -> bool {
        self.0.wants_write()
    }

    /// Takes ciphertext from `rd` (one read), `Ok(0)` at its end.
    pub(super) fn feed(&mut self, rd: &mut dyn Read) -> io::Result<usize> {
        self.0.read_tls(rd)
    }

    /// Decrypts and handles what was fed. An error (a bad record, a failed handshake)
    /// ends the session; the alert that says so is sent if the socket takes it now.
    pub(super) fn decrypt(&mut self, fd: BorrowedFd<'_>) -> io::Result<Decrypted> {
        match self.0.process_new_packets() {
            Ok(state) => {
                Ok(Decrypted { plaintext: state.plaintext_bytes_to_read(), closed: state.peer_has_closed() })
            }
            Err(e) => {
                let _ = self.flush(fd);
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }

    /// Moves up to `max` bytes of decrypted plaintext to the end of `buf`.
    pub(super) fn read_plain(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let len = buf.len();
        buf.resize(len + max, 0);
        let res = self.0.reader().read(&mut buf[len..]);
        buf.truncate(len + *res.as_ref().unwrap_or(&0));
        res
    }

    /// Sends pending ciphertext first (`WouldBlock` if not all of it goes), then
    /// encrypts what the session takes of `frames` (up to its buffer limit) and sends
    /// what the socket takes of that. Returns the plaintext bytes taken; `WouldBlock`
    /// if it took none of non-empty `frames`.
    pub(super) fn write(&mut self, fd: BorrowedFd<'_>, frames: &[IoSlice<'_>]) -> io::Result<usize> {
        self.flush(fd)?;
        if frames.iter().all(|f| f.is_empty()) {
            return Ok(0);
        }
        let n = self.0.writer().write_vectored(frames)?;
        match self.flush(fd) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Queues close_notify and sends it with whatever is pending, if the socket takes it.
    pub(super) fn close_notify(&mut self, fd: BorrowedFd<'_>) {
        self.0.send_close_notify();
        let _ = self.flush(fd);
    }

    /// Sends pending ciphertext until none is left (`Ok`) or the socket is full.
    fn flush(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        while self.0.wants_write() {
            self.0.write_tls(&mut Socket(fd, false))?;
        }
        Ok(())
    }
}

/// The socket as rustls's reader and writer: non-blocking calls, `WouldBlock` when
/// there is nothing to read or no room. `short`: the last read returned less than it
/// had room for, so the socket is empty (no need to find that out with another read).
pub(super) struct Socket<'a>(pub BorrowedFd<'a>, pub bool);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = rustix::io::read(self.0, &mut *buf)?;
        self.1 = n < buf.len();
        Ok(n)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::io::write(self.0, buf)?)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::sys::writev(self.0, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
