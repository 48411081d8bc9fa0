//! Listening sockets: one `SO_REUSEPORT` TCP listener per worker (the kernel spreads
//! connections over them), or one unix socket shared by all workers.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::net::{self, sockopt, AddressFamily, SocketFlags, SocketType};

use crate::config::{Config, Listen};

const BACKLOG: i32 = 4096;

/// The listeners for all workers, bound before any worker starts so that a bind error is
/// a startup error and `-p 0` can be printed.
pub struct Listeners {
    pub fds: Vec<OwnedFd>,
    /// What the workers listen on, for the startup line (`http://127.0.0.1:PORT/`, `https://` with TLS, or the path).
    pub display: String,
}

pub fn bind(config: &Config) -> Result<Listeners, String> {
    match &config.listen {
        Listen::Tcp(addr) => bind_tcp(*addr, config.threads.get(), config.tls.is_some()),
        Listen::Unix { path, owner } => bind_unix(path, *owner, config.threads.get()),
    }
}

fn bind_tcp(addr: SocketAddr, workers: usize, tls: bool) -> Result<Listeners, String> {
    let mut fds = Vec::with_capacity(workers);
    let mut addr = addr;
    for _ in 0..workers {
        let fd = tcp_listener(addr).map_err(|e| bind_error(&addr.to_string(), &e))?;
        // With -p 0 the first bind picks the port; the others join it.
        if addr.port() == 0 {
            let local = net::getsockname(&fd).map_err(|e| format!("cannot read the bound port: {e}"))?;
            let local =
                SocketAddr::try_from(local).map_err(|_| "bound socket has no IP address".to_owned())?;
            addr.set_port(local.port());
        }
        fds.push(fd);
    }
    let scheme = if tls { "https" } else { "http" };
    let display = match addr {
        SocketAddr::V4(a) => format!("{scheme}://{a}/"),
        SocketAddr::V6(a) => format!("{scheme}://[{}]:{}/", a.ip(), a.port()),
    };
    Ok(Listeners { fds, display })
}

fn tcp_listener(addr: SocketAddr) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let fd =
        net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `-6 -i ::` serves IPv4 too, as ttyd does.
        sockopt::set_ipv6_v6only(&fd, false)?;
    }
    net::bind(&fd, &addr)?;
    net::listen(&fd, BACKLOG)?;
    Ok(fd)
}

fn bind_unix(path: &Path, owner: Option<(u32, Option<u32>)>, workers: usize) -> Result<Listeners, String> {
    let shown = path.display().to_string();
    remove_stale_socket(path)?;
    let fd = net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| bind_error(&shown, &e.into()))?;
    bind_private(&fd, path, owner)?;
    net::listen(&fd, BACKLOG).map_err(|e| bind_error(&shown, &e.into()))?;
    // Every worker accepts on the same socket; each gets its own duplicate descriptor.
    let mut fds = Vec::with_capacity(workers);
    for _ in 1..workers {
        fds.push(
            fd.as_fd().try_clone_to_owned().map_err(|e| format!("cannot duplicate the unix socket: {e}"))?,
        );
    }
    fds.push(fd);
    Ok(Listeners { fds, display: format!("unix:{shown}") })
}

/// Who may connect to the unix socket: its owner, plus its group with `-U`. Whoever can
/// connect gets a shell, so never the umask's choice.
fn socket_mode(owner: Option<(u32, Option<u32>)>) -> rustix::fs::Mode {
    rustix::fs::Mode::from_raw_mode(if owner.is_some() { 0o660 } else { 0o600 })
}

/// A fresh 0700 directory in `parent`. Never one that exists already: a name someone else
/// planted (a symlink) must not lead the bind, or the cleanup, anywhere else.
fn private_dir(parent: &Path) -> rustix::io::Result<std::path::PathBuf> {
    let mode = rustix::fs::Mode::from_raw_mode(0o700);
    let mut attempt = 0;
    loop {
        // Short: the staged path must fit in a socket address (108 bytes) too.
        let dir = parent.join(format!(".rt-{}-{attempt}", std::process::id()));
        match rustix::fs::mkdir(&dir, mode) {
            Err(rustix::io::Errno::EXIST) if attempt < 64 => attempt += 1,
            result => return result.map(|()| dir),
        }
    }
}

/// Binds `fd` at `path` so that the socket file never exists there with a wider mode or
/// another owner than its final ones. bind(2) creates the file with the umask's mode, and
/// the umask is process-wide (setting it would race with every other thread creating
/// files). So the socket is bound inside a fresh 0700 directory beside `path`, where
/// nobody else can reach it, given its mode and owner there, then renamed into place
/// (a bound socket keeps working under its new name).
fn bind_private(fd: &OwnedFd, path: &Path, owner: Option<(u32, Option<u32>)>) -> Result<(), String> {
    let shown = path.display().to_string();
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = private_dir(parent).map_err(|e| bind_error(&shown, &e.into()))?;
    let staged = dir.join("s");
    let result = (|| {
        let addr = net::SocketAddrUnix::new(&staged).map_err(|e| bind_error(&shown, &e.into()))?;
        net::bind(fd, &addr).map_err(|e| bind_error(&shown, &e.into()))?;
        rustix::fs::chmod(&staged, socket_mode(owner))
            .map_err(|e| format!("cannot set the mode of {shown}: {e}"))?;
        if let Some((uid, gid)) = owner {
            let (uid, gid) = (rustix::fs::Uid::from_raw(uid), gid.map(rustix::fs::Gid::from_raw));
            rustix::fs::chown(&staged, Some(uid), gid)
                .map_err(|e| format!("cannot chown {shown} for -U ({e}); run as root or drop -U"))?;
        }
        // NOREPLACE: a server that bound `path` meanwhile keeps it.
        let (cwd, flags) = (rustix::fs::CWD, rustix::fs::RenameFlags::NOREPLACE);
        rustix::fs::renameat_with(cwd, &staged, cwd, path, flags).map_err(|e| bind_error(&shown, &e.into()))
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&dir);
    result
}

/// A socket file left by a previous run is removed only if nothing answers on it.
fn remove_stale_socket(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    let shown = path.display();
    if !meta.file_type().is_socket() {
        return Err(format!("{shown} exists and is not a socket; remove it or choose another -i path"));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!("{shown} is in use by another server; stop it or choose another -i path"));
    }
    std::fs::remove_file(path).map_err(|e| format!("cannot remove stale socket {shown}: {e}"))
}

fn bind_error(what: &str, e: &io::Error) -> String {
    let fix = match e.kind() {
        io::ErrorKind::AddrInUse => "another process uses it; choose another -p, or -p 0 for any free port",
        io::ErrorKind::AddrNotAvailable => "no interface has that address; check -i",
        io::ErrorKind::PermissionDenied => {
            "ports below 1024 need root or CAP_NET_BIND_SERVICE; choose -p 7681"
        }
        _ => "check -i and -p",
    };
    format!("cannot listen on {what}: {e}; {fix}")
}
