//! The few libc calls that rustix does not cover, the registration of a socket that a
//! tokio-uring stream owns (it exposes only its raw fd) with the reactor, and safe
//! wrappers for the calls the runtime makes on a socket it borrows ([`BorrowedFd`]).
//! Every `unsafe` block in this file has the kernel, libc or that registration's
//! contract as its only reason.

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{BorrowedFd, OwnedFd};

/// The addresses of network interface `name` (e.g. `eth0`), IPv4 ones first.
pub fn interface_addrs(name: &str) -> io::Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`; freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        if unsafe { CStr::from_ptr(ifa.ifa_name) }.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr whose family field is always readable.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        if family == libc::AF_INET {
            // SAFETY: the family says this sockaddr is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            v4.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
        } else if family == libc::AF_INET6 {
            // SAFETY: the family says this sockaddr is a sockaddr_in6.
            let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
            v6.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    v4.extend(v6);
    Ok(v4)
}

/// Drops the process's group and user ids (ttyd's `-g`/`-u`), group first. glibc applies
/// both to every thread, and ringtty calls this before starting its workers anyway.
pub fn drop_privileges(uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    if let Some(gid) = gid {
        // SAFETY: setgroups with a count of 0 reads nothing through its (null) list;
        // setgid takes an integer.
        if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 || unsafe { libc::setgid(gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some(uid) = uid {
        // SAFETY: setuid takes an integer.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `shutdown(fd, SHUT_RDWR)`, ignoring errors (the peer may already be gone).
pub fn shutdown(fd: BorrowedFd<'_>) {
    let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Both);
}

/// `shutdown(fd, SHUT_WR)`: send FIN but keep reading.
pub fn shutdown_write(fd: BorrowedFd<'_>) {
    let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Write);
}

/// Registers an owned descriptor with the current tokio reactor for readiness.
pub fn async_fd(
    fd: std::os::fd::OwnedFd,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    // SAFETY: an OwnedFd is open for its whole life and always reports the same fd,
    // which is all `register_with_interest` requires.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts().1)
}

/// A non-blocking `read(2)` of at most `room` bytes into the spare capacity of `buf`
/// (which must have that much), extending it by what was read.
pub fn read_spare(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, room: usize) -> io::Result<usize> {
    let len = buf.len();
    let spare = &mut buf.spare_capacity_mut()[..room];
    let (init, _) = rustix::io::read(fd, spare)?;
    let n = init.len();
    // SAFETY: read(2) initialised the first `n` bytes of the spare capacity (`n` is at
    // most `room`, which is within it), so `len + n` bytes of `buf` are initialised.
    unsafe { buf.set_len(len + n) };
    Ok(n)
}

/// A `writev(2)`; on a non-blocking socket, `WouldBlock` when it is full.
pub fn writev(fd: BorrowedFd<'_>, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
    Ok(rustix::io::writev(fd, bufs)?)
}

/// A CLOEXEC duplicate of a socket, to hand it to another core.
pub fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, 0)?)
}

/// The peer address of a TCP socket; `None` if the kernel has none (the peer is gone)
/// or it is not IP.
pub fn peer_addr(fd: BorrowedFd<'_>) -> Option<std::net::SocketAddr> {
    rustix::net::getpeername(fd).ok().flatten().and_then(|a| a.try_into().ok())
}

/// Returns the calling thread's free allocator pages to the OS (`mi_collect`). mimalloc
/// otherwise purges lazily, on a later allocation by the same thread, which an idle
/// worker may not make for hours.
pub fn release_free_memory() {
    // SAFETY: mi_collect has no preconditions; it only touches the calling thread's heap.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
