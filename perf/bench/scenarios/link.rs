//! One terminal as a scenario sees it, whether it is a session on the server (a native
//! WebSocket client) or a local PTY (`--raw`): send input, receive output.

use std::io;

use ringtty::protocol::ServerMsg;

use super::{Attached, RawPty};
use crate::client::{control, Msg};

/// What one `recv` brought.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recv {
    /// Output bytes.
    pub bytes: usize,
    /// `gap` messages (a viewer fell a whole scrollback behind).
    pub gaps: u64,
    /// The command ended (`exit`, or EIO on a raw PTY).
    pub exited: bool,
    /// The connection is over.
    pub closed: bool,
}

pub enum Link {
    Native(Box<Attached>),
    Raw(RawPty),
}

impl Link {
    /// Waits for output and takes what is there; appends it to `sink` when given.
    /// Cancel-safe (its one await is a read), so it may race timers in `select!`;
    /// afterwards call [`Link::after_recv`] outside the `select!`.
    pub async fn recv(&mut self, buf: &mut [u8], mut sink: Option<&mut Vec<u8>>) -> io::Result<Recv> {
        let mut r = Recv::default();
        match self {
            Link::Native(a) if !a.pending.is_empty() => {
                r.bytes = a.pending.len();
                if let Some(s) = sink {
                    s.append(&mut a.pending);
                }
                a.pending.clear();
            }
            Link::Native(a) => {
                let tty = a.ws.is_tty();
                let open =
                    a.ws.read(|m| match m {
                        Msg::Output(b) => {
                            r.bytes += b.len();
                            if let Some(s) = sink.as_deref_mut() {
                                s.extend_from_slice(b);
                            }
                        }
                        Msg::Text(t) => match control(t) {
                            Some(ServerMsg::Gap { .. }) => r.gaps += 1,
                            Some(ServerMsg::Exit { .. }) => r.exited = true,
                            _ => {}
                        },
                        Msg::Closed(code) => {
                            r.closed = true;
                            // ttyd has no exit message: 1000 (code 0) or 1011 say it.
                            r.exited |= tty && matches!(code, Some(1000 | 1011));
                        }
                        Msg::Pong(_) => {}
                    })
                    .await?;
                r.closed |= !open;
            }
            Link::Raw(p) => match p.read(buf).await? {
                Some(n) => {
                    r.bytes = n;
                    if let Some(s) = sink {
                        s.extend_from_slice(&buf[..n]);
                    }
                }
                None => (r.exited, r.closed) = (true, true),
            },
        }
        Ok(r)
    }

    /// Acks what was received (like a browser that rendered it) and sends pongs owed.
    pub async fn after_recv(&mut self, r: &Recv) -> io::Result<()> {
        match self {
            Link::Native(a) => {
                a.account(r.bytes).await?;
                a.ws.flush().await
            }
            Link::Raw(_) => Ok(()),
        }
    }

    /// Input for the terminal.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Link::Native(a) => a.ws.send_input(bytes).await,
            Link::Raw(p) => p.write_all(bytes).await,
        }
    }

    /// Waits until `marker` has appeared in the output (bounded by `timeout`).
    pub async fn wait_for(&mut self, marker: &[u8], timeout: std::time::Duration) -> Result<(), String> {
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        let wait = async {
            while !seen.windows(marker.len()).any(|w| w == marker) {
                let r =
                    self.recv(&mut buf, Some(&mut seen)).await.map_err(|e| format!("first output: {e}"))?;
                self.after_recv(&r).await.map_err(|e| format!("first output: {e}"))?;
                if r.closed {
                    return Err("first output: closed".to_string());
                }
            }
            Ok(())
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| "first output: timeout".to_string())?
    }

    /// Detaches (a close handshake for a WebSocket; a raw PTY is dropped with its child).
    pub async fn close(self) {
        if let Link::Native(a) = self {
            a.ws.close().await;
        }
    }
}
