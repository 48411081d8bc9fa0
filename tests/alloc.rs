//! Steady-state allocation check: a counting global allocator counts every heap
//! allocation made by the server's threads (the client's thread is excluded) while
//! WebSocket frames are echoed. After warm-up there must be none per frame.
//!
//! Its own test binary without the libtest harness, so that the only threads besides
//! the client are ringtty's workers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use ringtty::config::Config;
use tungstenite::Message;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static EXCLUDED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    !EXCLUDED.try_with(Cell::get).unwrap_or(true)
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches
// only an atomic and a const-initialised thread-local (`try_with`: no allocation, no
// panic), so the allocator never unwinds or re-enters itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn echo_round_trips(ws: &mut tungstenite::WebSocket<std::net::TcpStream>, n: usize, payload: &[u8]) {
    for _ in 0..n {
        ws.send(Message::binary(payload.to_vec())).unwrap();
        match ws.read().unwrap() {
            Message::Binary(b) => assert_eq!(b.len(), payload.len()),
            m => panic!("unexpected {m:?}"),
        }
    }
}

/// Auth is on: a token signed with this run's key, as the printed login URL carries.
fn token_for(config: &Config) -> String {
    let claims = ringtty::auth::Claims {
        sub: Some("alloc".into()),
        mode: ringtty::auth::Mode::Rw,
        sid: None,
        admin: false,
        exp: u64::MAX / 2,
        nbf: None,
        iat: None,
        jti: None,
    };
    ringtty::auth::sign(&claims, &config.auth_key)
}

fn main() {
    EXCLUDED.with(|e| e.set(true));
    let args = ["ringtty", "--threads", "2", "-p", "0", "--ws-echo", "/echo", "-P", "0", "-d", "warn"];
    let config = Config::parse_from(args).unwrap().unwrap();
    let token = token_for(&config);
    let server = ringtty::runtime::start(config).expect("server starts");
    let addr = server.display.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut clients: Vec<_> = (0..2)
        .map(|_| {
            let stream = std::net::TcpStream::connect(&addr).unwrap();
            stream.set_nodelay(true).unwrap();
            tungstenite::client(format!("ws://{addr}/echo?token={token}"), stream).unwrap().0
        })
        .collect();
    let payloads: [&[u8]; 3] = [b"k", &[7u8; 100], &[9u8; 4000]];
    // Warm-up: buffers, queues and slabs reach their working size.
    for ws in &mut clients {
        for p in payloads {
            echo_round_trips(ws, 2_000, p);
        }
    }
    // The counter does see the server: starting it and opening connections allocate.
    let before = ALLOCATIONS.load(Relaxed);
    assert!(before > 0, "the counting allocator saw no server allocation at all");
    let mut frames = 0;
    for ws in &mut clients {
        for p in payloads {
            echo_round_trips(ws, 5_000, p);
            frames += 5_000;
        }
    }
    let during = ALLOCATIONS.load(Relaxed) - before;
    println!("alloc: {frames} echoed frames, {during} server allocations in steady state");
    // A handful may come from the runtime's own bookkeeping (e.g. a timer wheel level
    // growing once); per frame there must be none.
    assert!(during <= 8, "{during} allocations for {frames} frames: the echo path allocates per frame");
    drop(server);
    session_output_frames();
    http_requests();
    println!("test result: ok. 3 passed; 0 failed");
}

/// PTY output of a session on each worker, each fanned out to two viewers: after
/// warm-up, no server allocation per forwarded frame on either core.
fn session_output_frames() {
    use std::io::{Read, Write};
    let args = ["ringtty", "--threads", "2", "-p", "0", "-W", "--allow-any-command", "-P", "0", "-d", "warn"];
    let config = Config::parse_from(args).unwrap().unwrap();
    let token = token_for(&config);
    let server = ringtty::runtime::start(config).expect("server starts");
    let addr = server.display.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let body = r#"{"command":["sh","-c","while :; do echo 0123456789abcdefghijklmnopqrstuvwxyz; done"]}"#;
    // A session is owned by the worker that accepted its creation: create until each
    // worker owns one (the kernel spreads connections; the others are deleted).
    let mut ids: [Option<String>; 2] = [None, None];
    for _ in 0..64 {
        if ids.iter().all(Option::is_some) {
            break;
        }
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        let json = &reply[reply.find("\r\n\r\n").unwrap() + 4..];
        let v = serde_json::from_str::<serde_json::Value>(json).unwrap();
        let (id, worker) = (v["id"].as_str().unwrap().to_owned(), v["worker"].as_u64().unwrap() as usize);
        if ids[worker].is_none() {
            ids[worker] = Some(id);
        } else {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(s, "DELETE /api/sessions/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
                .unwrap();
            let _ = s.read_to_string(&mut String::new());
        }
    }
    let ids: Vec<String> = ids.into_iter().map(|id| id.expect("a session on each worker")).collect();
    let mut viewers: Vec<_> = ids
        .iter()
        .flat_map(|id| [id, id])
        .map(|id| {
            let stream = std::net::TcpStream::connect(&addr).unwrap();
            tungstenite::client(format!("ws://{addr}/api/sessions/{id}/ws?token={token}"), stream).unwrap().0
        })
        .collect();
    let mut frames = [0usize; 4];
    let mut bytes = [0usize; 4];
    let mut read_frames =
        |viewers: &mut Vec<tungstenite::WebSocket<std::net::TcpStream>>, n: usize, at_least: usize| {
            let target = frames.map(|f| f + n);
            let enough = bytes.map(|b| b + at_least);
            while (0..4).any(|i| frames[i] < target[i] || bytes[i] < enough[i]) {
                for (i, ws) in viewers.iter_mut().enumerate() {
                    if frames[i] < target[i] || bytes[i] < enough[i] {
                        if let Message::Binary(b) = ws.read().unwrap() {
                            frames[i] += 1;
                            bytes[i] += b.len();
                        }
                    }
                }
            }
        };
    // Warm-up: until each scrollback is full (4x the default 1 MiB through every viewer),
    // so the pools have grown to what this load keeps in use.
    read_frames(&mut viewers, 3_000, 4 << 20);
    let before = ALLOCATIONS.load(Relaxed);
    read_frames(&mut viewers, 10_000, 0);
    let during = ALLOCATIONS.load(Relaxed) - before;
    println!("alloc: 2 sessions (one per worker) x 2 viewers x 10000 output frames, {during} server allocations in steady state");
    // Not zero: a pool still grows to a new high-water mark when a viewer falls a little
    // further behind than in warm-up (a 16 KiB buffer and its slot each time; runs show
    // 8-24 allocations, all such pairs, per 40,000 frames). Per frame would be tens of
    // thousands.
    assert!(
        during <= 64,
        "{during} allocations for 40,000 forwarded frames: the output path allocates per frame"
    );
}

/// Keep-alive HTTP requests, with the access log off and on: the log adds no allocation
/// per request (its record travels inline, short paths included), on the workers or on
/// the logger thread (it formats into a reused buffer). The HTTP path itself allocates per request (an idle
/// keep-alive connection gives its buffers up; io_uring operations), so the check is
/// the difference.
fn http_requests() {
    use std::io::{Read, Write};
    let dir = std::env::temp_dir().join(format!("ringtty-alloc-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join("access.log");
    let mut counts = [0u64; 2];
    for with_log in [false, true] {
        let mut args = vec!["ringtty", "--threads", "1", "-p", "0", "-d", "warn"];
        if with_log {
            args.extend(["--access-log", log.to_str().unwrap()]);
        }
        let config = Config::parse_from(args).unwrap().unwrap();
        let token = token_for(&config);
        let server = ringtty::runtime::start(config).expect("server starts");
        let addr = server.display.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_nodelay(true).unwrap();
        let req =
            format!("GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n");
        let req = req.as_bytes();
        let mut buf = vec![0u8; 64 * 1024];
        let mut round_trips = |n: usize| {
            for _ in 0..n {
                s.write_all(req).unwrap();
                // The response is small and comes in one read; its end is the JSON's.
                let mut got = 0;
                while !buf[..got].ends_with(b"}") {
                    got += s.read(&mut buf[got..]).unwrap();
                }
            }
        };
        round_trips(2_000);
        // Let the logger thread catch up before counting.
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        let before = ALLOCATIONS.load(Relaxed);
        let n = 5_000;
        round_trips(n);
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        let during = ALLOCATIONS.load(Relaxed) - before;
        println!(
            "alloc: {n} keep-alive requests, access log {}: {during} server allocations",
            if with_log { "on" } else { "off" }
        );
        counts[usize::from(with_log)] = during;
        drop(server);
    }
    let [off, on] = counts;
    assert!(on <= off + 64, "the access log costs {} allocations for 5000 requests", on.saturating_sub(off));
    let _ = std::fs::remove_dir_all(&dir);
}
