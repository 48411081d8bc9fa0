//! `--raw --relay`: the raw baseline plus one hop through a minimal relay, the floor for
//! any server between a client and a PTY. One thread, one epoll set, level-triggered:
//! bytes are copied between each PTY master and one end of a loopback TCP connection
//! whose other end the harness reads and writes. No framing, no protocol, no buffering beyond one
//! read: what is left over a raw PTY is the cost of the hop itself (two more wake-ups
//! and four more system calls per echo), which ringtty also pays.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::event::epoll;
use rustix::io::Errno;

/// One direction: bytes read from the first fd are written to the second.
type Route = (Arc<OwnedFd>, Arc<OwnedFd>);

/// The relay thread's state: the route of each registered fd, by its epoll token.
struct Relay {
    epoll: OwnedFd,
    routes: Mutex<HashMap<u64, Route>>,
    next: Mutex<u64>,
}

static RELAY: OnceLock<Arc<Relay>> = OnceLock::new();

/// The relay thread's id, once it runs (0 before): its CPU time is the floor's, reported
/// as the server's (`Ctx::sample`).
static TID: AtomicI32 = AtomicI32::new(0);

/// The relay thread's id, if it has started.
pub fn thread_id() -> Option<i32> {
    Some(TID.load(Ordering::Relaxed)).filter(|&t| t != 0)
}

fn relay() -> Result<&'static Arc<Relay>, String> {
    if let Some(r) = RELAY.get() {
        return Ok(r);
    }
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| format!("relay: epoll: {e}"))?;
    let r = Arc::new(Relay { epoll, routes: Mutex::new(HashMap::new()), next: Mutex::new(0) });
    let thread = r.clone();
    std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || run(&thread))
        .map_err(|e| format!("relay: thread: {e}"))?;
    Ok(RELAY.get_or_init(|| r))
}

/// Puts the relay between `master` and the returned socket (non-blocking), which the
/// harness uses as if it were the master. The two are a TCP connection over loopback,
/// as a web terminal's client and server are (a unix socketpair would be cheaper than
/// what any server is offered).
pub fn interpose(master: OwnedFd) -> Result<OwnedFd, String> {
    let r = relay()?;
    let e = |e: std::io::Error| format!("relay: {e}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(e)?;
    let theirs = std::net::TcpStream::connect(listener.local_addr().map_err(e)?).map_err(e)?;
    let (ours, _) = listener.accept().map_err(e)?;
    for s in [&ours, &theirs] {
        s.set_nodelay(true).map_err(e)?;
        s.set_nonblocking(true).map_err(e)?;
    }
    let (master, ours) = (Arc::new(master), Arc::new(OwnedFd::from(ours)));
    let mut next = r.next.lock().unwrap();
    for (from, to) in [(&ours, &master), (&master, &ours)] {
        let token = *next;
        *next += 1;
        r.routes.lock().unwrap().insert(token, (from.clone(), to.clone()));
        epoll::add(&r.epoll, from.as_fd(), epoll::EventData::new_u64(token), epoll::EventFlags::IN)
            .map_err(|e| format!("relay: epoll_ctl: {e}"))?;
    }
    Ok(OwnedFd::from(theirs))
}

fn run(r: &Relay) {
    TID.store(rustix::thread::gettid().as_raw_nonzero().get(), Ordering::Relaxed);
    let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        events.clear();
        if epoll::wait(&r.epoll, rustix::buffer::spare_capacity(&mut events), None).is_err() {
            continue;
        }
        for ev in &events {
            let token = ev.data.u64();
            let Some((from, to)) = r.routes.lock().unwrap().get(&token).cloned() else { continue };
            let n = match rustix::io::read(from.as_fd(), &mut buf) {
                Ok(n) if n > 0 => n,
                Err(Errno::AGAIN | Errno::INTR) => continue,
                // EOF, EIO: this terminal is over; stop watching both directions.
                _ => {
                    let _ = epoll::delete(&r.epoll, from.as_fd());
                    let _ = epoll::delete(&r.epoll, to.as_fd());
                    r.routes
                        .lock()
                        .unwrap()
                        .retain(|_, (f, _)| !Arc::ptr_eq(f, &from) && !Arc::ptr_eq(f, &to));
                    continue;
                }
            };
            let mut data = &buf[..n];
            while !data.is_empty() {
                match rustix::io::write(to.as_fd(), data) {
                    Ok(m) => data = &data[m..],
                    // Echo-sized traffic never fills a queue; if it does, wait for it.
                    Err(Errno::AGAIN | Errno::INTR) => std::thread::yield_now(),
                    Err(_) => break,
                }
            }
        }
    }
}
