//! A connection's TLS session (rustls's `UnbufferedServerConnection` and the buffers we
//! keep for it) and the non-blocking moves between it and the socket. Nothing here waits: the transport waits for readiness (or
//! the ring's receive) and calls these.

use std::io::{self, IoSlice, Read};
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    AppDataRecord, ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
    WriteTraffic,
};

/// How much ciphertext one read asks for.
const READ: usize = 8 * 1024;

/// How much plaintext one `write` encrypts at most (four full records).
const WRITE_MAX: usize = 64 * 1024;

/// Frames shorter than this are gathered into one record with their neighbours.
const GATHER: usize = 1024;

/// One connection's TLS state: keys and sequence numbers, and, only while they are
/// non-empty, the ciphertext received and not yet decrypted (part of a record), the
/// plaintext decrypted and not yet read, and the ciphertext not yet sent. rustls's
/// unbuffered API: the buffers are ours, so an idle session holds none of them (the
/// buffered API keeps a 4 KiB receive buffer per connection for its life).
/// `Send`: it crosses cores in a `Parcel`.
pub struct TlsSession(Box<State>);

struct State {
    conn: UnbufferedServerConnection,
    incoming: Vec<u8>,
    plain: Vec<u8>,
    plain_at: usize,
    outgoing: Vec<u8>,
    out_at: usize,
    /// The peer sent close_notify: after the plaintext, the end.
    peer_closed: bool,
    /// The session failed (an alert was sent or received): rustls is not asked again.
    failed: Option<rustls::Error>,
}

/// What the received records held once decrypted.
pub(super) struct Decrypted {
    /// Plaintext bytes waiting to be read.
    pub plaintext: usize,
    /// The peer sent close_notify: after the plaintext, the end.
    pub closed: bool,
}

impl TlsSession {
    pub(super) fn new(config: Arc<rustls::ServerConfig>) -> io::Result<TlsSession> {
        let conn = UnbufferedServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsSession(Box::new(State {
            conn,
            incoming: Vec::new(),
            plain: Vec::new(),
            plain_at: 0,
            outgoing: Vec::new(),
            out_at: 0,
            peer_closed: false,
            failed: None,
        })))
    }

    pub(super) fn handshaking(&self) -> bool {
        self.0.conn.is_handshaking()
    }

    pub(super) fn client_user(&self, from: crate::tls::CertName) -> Option<String> {
        let cert = self.0.conn.peer_certificates()?.first()?;
        crate::tls::identity::user_of(cert, from)
    }

    /// The capacity of the session's buffers: 0 when idle (nothing half-received,
    /// unread or unsent).
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        self.0.incoming.capacity() + self.0.plain.capacity() + self.0.outgoing.capacity()
    }

    pub(super) fn pending_out(&self) -> bool {
        self.0.out_at < self.0.outgoing.len()
    }

    /// Takes ciphertext from `rd` (one read), `Ok(0)` at its end.
    pub(super) fn feed(&mut self, rd: &mut dyn Read) -> io::Result<usize> {
        let incoming = &mut self.0.incoming;
        let at = incoming.len();
        incoming.resize(at + READ, 0);
        let res = rd.read(&mut incoming[at..]);
        incoming.truncate(at + *res.as_ref().unwrap_or(&0));
        if incoming.is_empty() {
            *incoming = Vec::new();
        }
        res
    }

    /// Decrypts and handles what was fed (the handshake's messages are queued to send).
    /// An error (a bad record, a failed handshake) ends the session; the alert that says
    /// so is sent if the socket takes it now.
    pub(super) fn decrypt(&mut self, fd: BorrowedFd<'_>) -> io::Result<Decrypted> {
        if let Some(e) = &self.0.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
        }
        if let Err(e) = self.0.process(|_, _| Ok(())) {
            self.0.encode_alert();
            let _ = self.flush(fd);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        let s = &*self.0;
        Ok(Decrypted { plaintext: s.plain.len() - s.plain_at, closed: s.peer_closed })
    }

    /// Moves up to `max` bytes of decrypted plaintext to the end of `buf`.
    pub(super) fn read_plain(&mut self, buf: &mut Vec<u8>, max: usize) -> usize {
        let s = &mut *self.0;
        let n = max.min(s.plain.len() - s.plain_at);
        buf.extend_from_slice(&s.plain[s.plain_at..s.plain_at + n]);
        s.plain_at += n;
        if s.plain_at == s.plain.len() {
            s.plain = Vec::new();
            s.plain_at = 0;
        }
        n
    }

    /// Sends pending ciphertext first (`WouldBlock` if not all of it goes), then
    /// encrypts up to 64 KiB of `frames` and sends what the socket takes of that.
    /// Returns the plaintext bytes taken; `WouldBlock` if it took none of non-empty
    /// `frames` (the handshake is not over).
    pub(super) fn write(&mut self, fd: BorrowedFd<'_>, frames: &[IoSlice<'_>]) -> io::Result<usize> {
        self.flush(fd)?;
        if frames.iter().all(|f| f.is_empty()) {
            return Ok(0);
        }
        // Large frames are encrypted from where they are (rustls copies each record
        // once into its own buffer, then into `outgoing`); small ones, such as a frame's
        // head and an echoed byte, are gathered first so that they share one record.
        let taken = self.0.process(|wt, out| {
            let mut small: Vec<u8> = Vec::new();
            let mut taken = 0;
            for f in frames {
                let f = &f[..f.len().min(WRITE_MAX - taken)];
                if f.len() < GATHER {
                    small.extend_from_slice(f);
                } else {
                    if !small.is_empty() {
                        encrypt_into(out, sealed_len(small.len()), |o| wt.encrypt(&small, o))?;
                        small.clear();
                    }
                    encrypt_into(out, sealed_len(f.len()), |o| wt.encrypt(f, o))?;
                }
                taken += f.len();
                if taken == WRITE_MAX {
                    break;
                }
            }
            if !small.is_empty() {
                encrypt_into(out, sealed_len(small.len()), |o| wt.encrypt(&small, o))?;
            }
            Ok(taken)
        });
        let n = match taken {
            Ok(Some(n)) => n,
            Ok(None) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        match self.flush(fd) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok(n)
    }

    /// Queues close_notify and sends it with whatever is pending, if the socket takes it.
    pub(super) fn close_notify(&mut self, fd: BorrowedFd<'_>) {
        let _ = self.0.process(|wt, out| encrypt_into(out, 64, |o| wt.queue_close_notify(o)));
        let _ = self.flush(fd);
    }

    /// Sends pending ciphertext until none is left (`Ok`) or the socket is full.
    fn flush(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let s = &mut *self.0;
        while s.out_at < s.outgoing.len() {
            s.out_at += rustix::io::write(fd, &s.outgoing[s.out_at..])?;
        }
        s.outgoing = Vec::new();
        s.out_at = 0;
        Ok(())
    }
}

impl State {
    /// Runs rustls's state machine over what was received until it needs more: records
    /// decrypted into `plain`, handshake messages encoded into `outgoing`. If the session
    /// may then send application data, `write` runs with it and its result is
    /// `Some`; `None` while the handshake waits for the peer.
    /// Any error ends the session: it is kept in `failed`, and rustls is not asked again
    /// (after a fatal alert it must not be given input).
    fn process<R>(
        &mut self,
        write: impl FnOnce(
            &mut WriteTraffic<'_, rustls::server::ServerConnectionData>,
            &mut Vec<u8>,
        ) -> Result<R, rustls::Error>,
    ) -> Result<Option<R>, rustls::Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let res = self.run(write);
        if let Err(e) = &res {
            self.failed = Some(e.clone());
        }
        res
    }

    fn run<R>(
        &mut self,
        write: impl FnOnce(
            &mut WriteTraffic<'_, rustls::server::ServerConnectionData>,
            &mut Vec<u8>,
        ) -> Result<R, rustls::Error>,
    ) -> Result<Option<R>, rustls::Error> {
        let mut write = Some(write);
        loop {
            let State { conn, incoming, plain, outgoing, peer_closed, .. } = self;
            let UnbufferedStatus { mut discard, state } = conn.process_tls_records(incoming);
            let mut again = true;
            let mut result = None;
            match state {
                Err(e) => {
                    drain(incoming, discard);
                    return Err(e);
                }
                Ok(ConnectionState::ReadTraffic(mut records)) => {
                    while let Some(record) = records.next_record() {
                        let AppDataRecord { discard: d, payload } = record?;
                        discard += d;
                        plain.extend_from_slice(payload);
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    let encoded = encrypt_into(outgoing, 256, |o| {
                        data.encode(o).map_err(|e| match e {
                            EncodeError::InsufficientSize(size) => EncryptError::InsufficientSize(size),
                            EncodeError::AlreadyEncoded => EncryptError::EncryptExhausted,
                        })
                    });
                    encoded?;
                }
                // `outgoing` is sent by `flush`, in order, before anything encrypted later.
                Ok(ConnectionState::TransmitTlsData(data)) => data.done(),
                Ok(ConnectionState::PeerClosed) => *peer_closed = true,
                Ok(ConnectionState::Closed) => {
                    *peer_closed = true;
                    again = false;
                }
                Ok(ConnectionState::BlockedHandshake) => again = false,
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    if let Some(write) = write.take() {
                        result = Some(write(&mut traffic, outgoing)?);
                    }
                    again = false;
                }
                // Early data is not enabled (max_early_data_size is 0).
                Ok(_) => return Err(rustls::Error::General("unexpected TLS state".into())),
            }
            drain(incoming, discard);
            if !again {
                return Ok(result);
            }
        }
    }

    /// After an error: encodes the alert rustls queued for the peer, if any. One call
    /// only, with no input: it hands out what is queued before it looks at input again
    /// (which, after a fatal error, rustls must not be given), and every message queued
    /// before the error was encoded when it came.
    fn encode_alert(&mut self) {
        let State { conn, outgoing, .. } = self;
        if let Ok(ConnectionState::EncodeTlsData(mut data)) = conn.process_tls_records(&mut []).state {
            let _ =
                encrypt_into(outgoing, 256, |o| data.encode(o).map_err(|_| EncryptError::EncryptExhausted));
        }
    }
}

/// Room for `len` bytes of application data once sealed: each record of at most 16 KiB
/// gains a header, a content type and a tag (22 bytes in TLS 1.3, 29 in 1.2; 64 kept),
/// so rustls fragments and seals a frame once instead of first saying the room is short.
fn sealed_len(len: usize) -> usize {
    len + (len / (16 * 1024) + 1) * 64
}

/// Appends what `encode` writes to `out`, starting with `hint` bytes of room and growing
/// it to the size rustls asks for.
fn encrypt_into(
    out: &mut Vec<u8>,
    hint: usize,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> Result<(), rustls::Error> {
    let at = out.len();
    let mut need = hint;
    loop {
        out.resize(at + need, 0);
        match encode(&mut out[at..]) {
            Ok(n) => {
                out.truncate(at + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size }))
                if required_size > need =>
            {
                need = required_size;
            }
            Err(e) => {
                out.truncate(at);
                return Err(rustls::Error::General(e.to_string()));
            }
        }
    }
}

/// Drops the first `n` bytes of `buf`; frees it once empty (an idle session holds none).
fn drain(buf: &mut Vec<u8>, n: usize) {
    if n >= buf.len() {
        *buf = Vec::new();
    } else if n > 0 {
        buf.drain(..n);
    }
}

/// The socket as the session's reader: a non-blocking `read(2)`, `WouldBlock` when there
/// is nothing to read. `short`: the last read returned less than it
/// had room for, so the socket is empty (no need to find that out with another read).
pub(super) struct Socket<'a>(pub BorrowedFd<'a>, pub bool);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = rustix::io::read(self.0, &mut *buf)?;
        self.1 = n < buf.len();
        Ok(n)
    }
}
