//! Opening a PTY pair: the master for the server, the slave for one child.

use std::io;
use std::os::fd::OwnedFd;

use rustix::fs::OFlags;
use rustix::pty::OpenptFlags;
use rustix::termios::{self, ControlModes, InputModes, LocalModes, OptionalActions, OutputModes, Winsize};

/// A fresh PTY pair, its slave still held by the server until the child has it.
pub(super) struct PtyPair {
    /// `O_NONBLOCK | O_CLOEXEC`, never a controlling terminal of the server.
    pub master: OwnedFd,
    /// `O_CLOEXEC | O_NOCTTY`; dropped by the server right after the spawn, because the
    /// master reports EIO only once every slave descriptor is closed.
    pub slave: OwnedFd,
    /// `/dev/pts/N`, for humans (listings, logs).
    pub name: String,
}

/// Opens a PTY pair with cooked, UTF-8 line settings and the given size.
pub(super) fn open(cols: u16, rows: u16) -> io::Result<PtyPair> {
    // O_NONBLOCK belongs to the master's open file description alone: the child's
    // slave is a different description and stays blocking, as programs expect.
    let flags = OpenptFlags::RDWR
        | OpenptFlags::NOCTTY
        | OpenptFlags::CLOEXEC
        | OpenptFlags::from_bits_retain(OFlags::NONBLOCK.bits());
    let master = rustix::pty::openpt(flags).map_err(|e| match e {
        // rustix reports the kernel's ENOSPC (kernel.pty.max reached) as EAGAIN.
        rustix::io::Errno::AGAIN => io::Error::other("no free pseudo-terminal (raise sysctl kernel.pty.max)"),
        e => e.into(),
    })?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?.to_string_lossy().into_owned();
    // TIOCGPTPEER opens the slave of *this* master without a path lookup, so it cannot
    // race with another devpts instance or a renamed /dev/pts (Linux 4.13+).
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )?;
    termios::tcsetattr(&slave, OptionalActions::Now, &cooked_utf8(termios::tcgetattr(&slave)?))?;
    termios::tcsetwinsize(&master, winsize(cols, rows))?;
    Ok(PtyPair { master, slave, name })
}

/// Sane cooked settings (what `stty sane` and a login terminal use), plus IUTF8 so that
/// the line editor erases whole UTF-8 characters. Starts from the kernel's defaults for a
/// new PTY, which keep the standard control characters (^C, ^Z, DEL for erase, ...).
fn cooked_utf8(mut t: termios::Termios) -> termios::Termios {
    t.input_modes |=
        InputModes::BRKINT | InputModes::ICRNL | InputModes::IXON | InputModes::IMAXBEL | InputModes::IUTF8;
    t.input_modes -= InputModes::INLCR | InputModes::IGNCR | InputModes::IXOFF;
    t.output_modes |= OutputModes::OPOST | OutputModes::ONLCR;
    t.output_modes -= OutputModes::OCRNL | OutputModes::ONLRET;
    t.control_modes |= ControlModes::CREAD | ControlModes::CS8 | ControlModes::HUPCL;
    t.local_modes |= LocalModes::ISIG
        | LocalModes::ICANON
        | LocalModes::IEXTEN
        | LocalModes::ECHO
        | LocalModes::ECHOE
        | LocalModes::ECHOK
        | LocalModes::ECHOCTL
        | LocalModes::ECHOKE;
    t.local_modes -= LocalModes::ECHONL | LocalModes::NOFLSH | LocalModes::TOSTOP | LocalModes::ECHOPRT;
    t
}

pub(super) fn winsize(cols: u16, rows: u16) -> Winsize {
    Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }
}
