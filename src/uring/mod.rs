//! io_uring beyond what tokio-uring offers (issue 14): provided buffer rings, and what
//! this kernel supports of the multishot operations that read into them. This is the
//! one module with io_uring submission code; every `unsafe` block in it says why it is
//! sound.
//!
//! # What the kernel supports, found out by the tests below (Linux 6.18)
//!
//! - **Sockets**: multishot receive (`IORING_OP_RECV` with `IORING_RECV_MULTISHOT`,
//!   Linux 6.0) into a provided buffer ring: one submission stays armed and completes
//!   once per arrival, each completion naming the buffer the kernel picked.
//! - **PTY masters**: `recv` is for sockets only (a tty gives `ENOTSOCK`); multishot
//!   *read* (`IORING_OP_READ_MULTISHOT`, Linux 6.7) works on a non-blocking master with
//!   a provided buffer ring: the same one-submission, one-completion-per-arrival shape.
//!   Multishot poll (`IORING_POLL_ADD_MULTI`) also works on a master, but only says
//!   "readable", so a `read(2)` still follows; multishot read needs neither the poll
//!   nor the read.
//! - **Out of buffers**: when the ring is empty, the multishot operation ends with
//!   `-ENOBUFS` and without `IORING_CQE_F_MORE`; the bytes stay in the socket or the
//!   terminal, nothing is lost. Give buffers back and arm it again.
//!
//! [`Support`] probes the opcodes at startup; a kernel without them keeps the epoll path.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod buf_ring;
#[allow(unsafe_code)]
pub mod driver;

#[cfg(test)]
mod tests;

pub use buf_ring::{BufRing, OwnershipError};
pub use driver::{MultiRead, Ring};

use io_uring::{opcode, IoUring, Probe};

/// Which of the operations the io_uring data path needs this kernel has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// `IORING_OP_READ_MULTISHOT` (Linux 6.7): PTY output into provided buffers.
    pub read_multishot: bool,
    /// `IORING_OP_RECV` with multishot (Linux 6.0; the opcode itself is older, so this
    /// follows from `IORING_OP_SEND_ZC`, added in the same release).
    pub recv_multishot: bool,
    /// `IORING_OP_SEND_ZC` (Linux 6.0): zero-copy sends for large fan-out frames.
    pub send_zc: bool,
}

impl Support {
    /// Probes `ring`'s kernel (`IORING_REGISTER_PROBE`).
    pub fn probe(ring: &IoUring) -> std::io::Result<Support> {
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        let send_zc = probe.is_supported(opcode::SendZc::CODE);
        Ok(Support {
            read_multishot: probe.is_supported(opcode::ReadMulti::CODE),
            recv_multishot: send_zc && probe.is_supported(opcode::RecvMulti::CODE),
            send_zc,
        })
    }

    /// Probes the running kernel with a small ring of its own.
    pub fn of_this_kernel() -> std::io::Result<Support> {
        Support::probe(&IoUring::new(2)?)
    }

    /// Everything the io_uring data path needs.
    pub fn data_path(&self) -> bool {
        self.read_multishot && self.recv_multishot
    }
}
