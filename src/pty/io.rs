//! Non-blocking IO on a PTY master, for the worker's readiness loop. None of these
//! calls can block: the master is `O_NONBLOCK`, and the ioctls return at once.

use std::io;
use std::os::fd::AsFd;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};

/// What one read from the master found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes (at least one) were read into the front of the buffer.
    Data(usize),
    /// Nothing to read now (EAGAIN): clear the readiness and wait for the next event.
    WouldBlock,
    /// EIO: every slave descriptor is closed — the child and every process that
    /// inherited the terminal are gone — and everything they wrote has been read.
    /// Final: the session's output is complete.
    Closed,
}

/// Reads what the terminal's programs wrote, into `buf` (not empty).
pub fn read_into(master: impl AsFd, buf: &mut [u8]) -> io::Result<ReadOutcome> {
    debug_assert!(!buf.is_empty(), "a zero-length read would look like the end");
    loop {
        return match rustix::io::read(master.as_fd(), &mut *buf) {
            Ok(0) => Ok(ReadOutcome::Closed),
            Ok(n) => Ok(ReadOutcome::Data(n)),
            Err(Errno::AGAIN) => Ok(ReadOutcome::WouldBlock),
            Err(Errno::IO) => Ok(ReadOutcome::Closed),
            Err(Errno::INTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

/// Writes input for the terminal's programs; returns how much the PTY took, which may be
/// less than `data` (its input queue holds about 4 KiB in cooked mode). A full queue is
/// `Err` of kind `WouldBlock` (EAGAIN): keep the rest and wait for writability, while
/// still reading the master — the child may be blocked writing its echo. EIO means the
/// slave side is closed and nobody will read the input.
pub fn write_some(master: impl AsFd, data: &[u8]) -> io::Result<usize> {
    loop {
        return match rustix::io::write(master.as_fd(), data) {
            Err(Errno::INTR) => continue,
            other => other.map_err(io::Error::from),
        };
    }
}

/// Sets the terminal size (TIOCSWINSZ); when it changes, the kernel sends SIGWINCH to
/// the foreground process group. A size of 0 is refused: programs divide by it.
pub fn resize(master: impl AsFd, cols: u16, rows: u16) -> io::Result<()> {
    if cols == 0 || rows == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "terminal size must be at least 1x1"));
    }
    Ok(rustix::termios::tcsetwinsize(master, super::open::winsize(cols, rows))?)
}

/// The terminal's current size as `(cols, rows)`.
pub fn size(master: impl AsFd) -> io::Result<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(master)?;
    Ok((ws.ws_col, ws.ws_row))
}

/// The terminal's foreground process group (`tcgetpgrp` on the master), `None` when
/// there is none (the session leader has exited).
pub fn foreground_pgrp(master: impl AsFd) -> io::Result<Option<Pid>> {
    match rustix::termios::tcgetpgrp(master) {
        Ok(pgrp) => Ok(Some(pgrp)),
        // rustix reports the kernel's "pgrp 0" (no foreground group) as EOPNOTSUPP.
        Err(Errno::OPNOTSUPP) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Sends SIGWINCH to the foreground process group without changing the size (a resize
/// to the same size sends nothing), so full-screen programs redraw — e.g. after a
/// client's `gap` (SPEC §4).
pub fn nudge(master: impl AsFd) -> io::Result<()> {
    let Some(pgrp) = foreground_pgrp(master)? else {
        return Ok(());
    };
    match rustix::process::kill_process_group(pgrp, Signal::WINCH) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
