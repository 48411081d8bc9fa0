//! Census of the server's live heap per idle session: a measurement, not a test, so it
//! does nothing unless `RINGTTY_CENSUS=1`. Run it as
//!
//! ```sh
//! RINGTTY_CENSUS=1 cargo test --release --test census -- SESSIONS SECONDS   # 500 25
//! ```
//!
//! A counting global allocator keeps a histogram of the server threads' live blocks by
//! requested size; SESSIONS sessions are created and attached (one WebSocket client
//! each, the idle scenario's child `stty raw -echo; printf R; exec cat`, pings off),
//! left idle SECONDS, and the blocks added per session are printed by size, right
//! after setup and after the idle time. With `CENSUS_TRACE=1` as well, every block
//! allocated during setup and still live at the end is grouped by where it was
//! allocated (a backtrace each: slow, use ~100 sessions).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::Duration;

use ringtty::config::Config;
use tungstenite::Message;

struct Counting;

const BUCKETS: usize = 1 << 17;
static LIVE: [AtomicI64; BUCKETS + 1] = [const { AtomicI64::new(0) }; BUCKETS + 1];

thread_local! {
    static EXCLUDED: Cell<bool> = const { Cell::new(false) };
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// With CENSUS_TRACE set: where every block allocated during setup was allocated.
static TRACING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
type Traces = std::collections::HashMap<usize, (usize, std::backtrace::Backtrace)>;
static TRACES: std::sync::Mutex<Option<Traces>> = std::sync::Mutex::new(None);

fn hook(f: impl FnOnce()) {
    if !TRACING.load(Relaxed) || IN_HOOK.with(Cell::get) {
        return;
    }
    IN_HOOK.with(|h| h.set(true));
    f();
    IN_HOOK.with(|h| h.set(false));
}

fn traced_alloc(ptr: *mut u8, size: usize) {
    hook(|| {
        let bt = std::backtrace::Backtrace::force_capture();
        TRACES.lock().unwrap().get_or_insert_with(Default::default).insert(ptr as usize, (size, bt));
    });
}

fn traced_free(ptr: *mut u8) {
    hook(|| {
        if let Some(t) = TRACES.lock().unwrap().as_mut() {
            t.remove(&(ptr as usize));
        }
    });
}

fn counted() -> bool {
    !EXCLUDED.try_with(Cell::get).unwrap_or(true)
}

fn bucket(size: usize) -> &'static AtomicI64 {
    &LIVE[size.min(BUCKETS)]
}

// SAFETY: forwarded unchanged to the system allocator; counting touches atomics and a
// const-initialised thread-local only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc(layout) };
        if counted() {
            bucket(layout.size()).fetch_add(1, Relaxed);
            traced_alloc(ptr, layout.size());
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            bucket(layout.size()).fetch_sub(1, Relaxed);
            traced_free(ptr);
        }
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            bucket(layout.size()).fetch_sub(1, Relaxed);
            bucket(new_size).fetch_add(1, Relaxed);
            traced_free(ptr);
        }
        // SAFETY: same contract as ours.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if counted() {
            traced_alloc(new, new_size);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> Vec<i64> {
    LIVE.iter().map(|a| a.load(Relaxed)).collect()
}

fn token_for(config: &Config) -> String {
    let claims = ringtty::auth::Claims {
        sub: Some("census".into()),
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
    if std::env::var_os("RINGTTY_CENSUS").is_none() {
        println!("census: a measurement, skipped (RINGTTY_CENSUS=1 to run it; see its docs)");
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(500);
    let idle: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(25);
    let cfg = [
        "ringtty",
        "--threads",
        "2",
        "-p",
        "0",
        "-W",
        "--allow-any-command",
        "--max-sessions",
        "4000",
        "-P",
        "0",
        "-d",
        "warn",
        "cat",
    ];
    let config = Config::parse_from(cfg).unwrap().unwrap();
    let token = token_for(&config);
    let server = ringtty::runtime::start(config).expect("server starts");
    let addr = server.display.trim_start_matches("http://").trim_end_matches('/').to_owned();
    std::thread::sleep(Duration::from_millis(500));
    let before = snapshot();
    TRACING.store(std::env::var_os("CENSUS_TRACE").is_some(), Relaxed);
    let body = r#"{"command":["sh","-c","stty raw -echo; printf R; exec cat"]}"#;
    let mut clients = Vec::new();
    for _ in 0..n {
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
        let id = v["id"].as_str().unwrap().to_owned();
        let stream = std::net::TcpStream::connect(&addr).unwrap();
        let (mut ws, _) =
            tungstenite::client(format!("ws://{addr}/api/sessions/{id}/ws?token={token}"), stream).unwrap();
        // hello, then the output "R".
        loop {
            match ws.read().unwrap() {
                Message::Binary(b) if b.contains(&b'R') => break,
                _ => {}
            }
        }
        clients.push(ws);
    }
    let setup = snapshot();
    std::thread::sleep(Duration::from_secs(idle));
    let after = snapshot();
    TRACING.store(false, Relaxed);
    if let Some(traces) = TRACES.lock().unwrap().take() {
        let mut groups: std::collections::HashMap<(usize, String), usize> = Default::default();
        for (_, (size, bt)) in traces {
            let text = bt.to_string();
            let frames: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("at "))
                .map(|l| l.trim())
                .filter(|l| {
                    !(l.contains("census::")
                        || l.contains("std::backtrace")
                        || l.contains("alloc::")
                        || l.contains("__rust")
                        || l.contains("core::ptr")
                        || l.contains("<census")
                        || l.contains("core::ops"))
                })
                .take(7)
                .collect();
            *groups.entry((size, frames.join("\n      "))).or_default() += 1;
        }
        let mut groups: Vec<_> = groups.into_iter().filter(|(_, c)| *c >= n / 2).collect();
        groups.sort_by_key(|((size, _), c)| std::cmp::Reverse(size * c));
        for ((size, frames), count) in groups {
            println!("{size} B x {count}:\n      {frames}");
        }
    }
    let report = |label: &str, snap: &[i64]| {
        let mut rows: Vec<(usize, i64)> =
            (0..=BUCKETS).map(|s| (s, snap[s] - before[s])).filter(|(_, d)| *d != 0).collect();
        let total_bytes: i64 = rows.iter().map(|(s, d)| *s as i64 * d).sum();
        let total_blocks: i64 = rows.iter().map(|(_, d)| d).sum();
        println!(
            "census {label}: {n} sessions: {:.1} live bytes, {:.2} blocks per session",
            total_bytes as f64 / n as f64,
            total_blocks as f64 / n as f64
        );
        rows.sort_by_key(|(s, d)| -(*s as i64 * d).abs());
        for (size, d) in rows.iter().take(40) {
            println!(
                "  size {size:>6}: {:>+8} blocks ({:+.2}/session) = {:+.1} B/session",
                d,
                *d as f64 / n as f64,
                (*size as i64 * d) as f64 / n as f64
            );
        }
    };
    report("at setup", &setup);
    report("after idle", &after);
    drop(clients);
    drop(server);
}
