//! The few libc calls that rustix does not cover. Every `unsafe` block in this file has
//! the kernel or libc as its only reason.

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
        // SAFETY: plain syscall wrappers with integer arguments.
        if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 || unsafe { libc::setgid(gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some(uid) = uid {
        // SAFETY: as above.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `shutdown(fd, SHUT_RDWR)`, ignoring errors (the socket may already be gone). Used on
/// a socket owned by a tokio-uring stream, which exposes only its raw fd.
pub fn shutdown(fd: std::os::fd::RawFd) {
    // SAFETY: shutdown takes an integer fd; a stale fd yields EBADF/ENOTSOCK, ignored.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

/// `shutdown(fd, SHUT_WR)`: send FIN but keep reading.
pub fn shutdown_write(fd: std::os::fd::RawFd) {
    // SAFETY: as above.
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
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

/// A non-blocking `writev(2)` on a socket owned by a tokio-uring stream (which exposes
/// only its raw fd). The caller guarantees `fd` is open for the call.
pub fn writev(fd: std::os::fd::RawFd, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: IoSlice is ABI-compatible with iovec (std guarantees it on Unix) and the
    // slices outlive the call; the count fits an int (callers pass at most 64).
    let n = unsafe { libc::writev(fd, bufs.as_ptr().cast(), bufs.len() as libc::c_int) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A CLOEXEC duplicate of a descriptor owned by a tokio-uring stream (which exposes only
/// its raw fd), to hand the socket to another core. The caller guarantees `fd` is open.
pub fn dup(fd: std::os::fd::RawFd) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: the caller's stream owns `fd` for the duration of this call.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    Ok(rustix::io::fcntl_dupfd_cloexec(borrowed, 0)?)
}
