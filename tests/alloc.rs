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

// SAFETY: every call is forwarded unchanged to the system allocator; we only count.
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

fn main() {
    EXCLUDED.with(|e| e.set(true));
    let args = ["ringtty", "--threads", "2", "-p", "0", "--ws-echo", "/echo", "-P", "0", "-d", "warn"];
    let config = Config::parse_from(args).unwrap().unwrap();
    let server = ringtty::runtime::start(config).expect("server starts");
    let addr = server.display.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut clients: Vec<_> = (0..2)
        .map(|_| {
            let stream = std::net::TcpStream::connect(&addr).unwrap();
            stream.set_nodelay(true).unwrap();
            tungstenite::client(format!("ws://{addr}/echo"), stream).unwrap().0
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
    println!("test result: ok. 1 passed; 0 failed");
    drop(server);
}
