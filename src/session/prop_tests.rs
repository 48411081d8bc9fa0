//! Property-style: random pushes, attaches, polls, acks, inputs, resizes, detaches
//! and ticks from a seeded PRNG, with the invariants checked after every step.
//!
//! Every payload a fake writer receives is checked against the model of all output
//! at the writer's position, and every gap must start there (`tests::Writer`): so a
//! client gets every byte exactly once or an explicit gap. Besides: memory within the
//! limit; pushes only while `should_read_pty` (as the runtime does), and then the
//! driver is never evicted from under itself and stays within its window; without a
//! driver, reading is never held back; after the exit, everyone gets everything, then
//! the exit.

use super::tests::{Fixture, Writer, T0};
use super::*;

/// xorshift64*: small, seeded, good enough to drive a state machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A writer plus what the harness knows about it.
struct Client {
    w: Writer,
    acked: Option<u64>,
    /// Its cursor was retained when it last became the driver: from then on, as long
    /// as it stays the driver, it must never be evicted from under itself.
    protected: bool,
}

struct Run {
    f: Fixture,
    rng: Rng,
    clients: Vec<Client>,
    now: Millis,
    capacity: usize,
    driver: Option<ClientId>,
}

impl Run {
    fn push(&mut self) {
        if !self.f.session.should_read_pty() {
            return;
        }
        // Reading is allowed only while every governing client is within its window.
        let (end, window) = (self.f.session.end_offset(), self.f.session.config().window as u64);
        for c in self.clients.iter().filter(|c| self.governs(c)) {
            assert!(end - c.acked.unwrap_or(c.w.next) < window, "read with a full window");
        }
        let len = match self.rng.below(10) {
            0..=3 => 1 + self.rng.below(3) as usize,
            4..=6 => 1 + self.rng.below(self.capacity as u64 / 4) as usize,
            _ => 1 + self.rng.below(self.capacity as u64) as usize,
        };
        self.f.push_pattern(len, len);
    }

    fn attach(&mut self) {
        let end = self.f.session.end_offset();
        let writable = self.rng.chance(60);
        let since = match self.rng.below(4) {
            0 => None,
            1 => Some(end),
            _ => Some(self.rng.below(end + 2)),
        };
        match self.f.session.attach(self.now, writable, since) {
            Ok((id, hello)) => {
                let w = Writer::for_attach(id, hello, self.f.session.config().dialect);
                self.clients.push(Client { w, acked: None, protected: false });
            }
            Err(e) => {
                assert_eq!(e, SessionError::SinceInFuture);
                assert!(since.unwrap() > end);
            }
        }
    }

    fn governs(&self, c: &Client) -> bool {
        match self.f.session.config().dialect {
            Dialect::Native => Some(c.w.id) == self.f.session.driver(),
            Dialect::Ttyd => true,
        }
    }

    fn pick(&mut self) -> Option<usize> {
        (!self.clients.is_empty()).then(|| self.rng.below(self.clients.len() as u64) as usize)
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..=39 => self.push(),
            40..=44 => self.attach(),
            45..=69 => {
                if let Some(i) = self.pick() {
                    let c = &mut self.clients[i];
                    let gaps = c.w.gaps.len();
                    if self.rng.chance(50) {
                        c.w.poll(&mut self.f.session, &self.f.output);
                    } else {
                        c.w.drain(&mut self.f.session, &self.f.output);
                    }
                    // Skipped bytes count as acknowledged.
                    if let (Some(acked), Some(&(_, to))) = (c.acked, c.w.gaps[gaps..].last()) {
                        c.acked = Some(acked.max(to));
                    }
                }
            }
            70..=79 => {
                if let Some(i) = self.pick() {
                    let c = &mut self.clients[i];
                    let offset = self.rng.below(c.w.next + 2);
                    match self.f.session.ack(c.w.id, offset, self.now) {
                        Ok(()) => c.acked = Some(c.acked.map_or(offset, |a| a.max(offset))),
                        Err(e) => assert_eq!((e, offset > c.w.next), (SessionError::AckBeyondSent, true)),
                    }
                }
            }
            80..=86 => {
                if let Some(i) = self.pick() {
                    let id = self.clients[i].w.id;
                    match self.f.session.input(id, b"k", self.now) {
                        Ok(_) | Err(SessionError::NotWritable) => {}
                        Err(e) => panic!("{e}"),
                    }
                    let n = self.f.session.pending_input().len();
                    self.f.session.input_written(n);
                }
            }
            87..=89 => {
                if let Some(i) = self.pick() {
                    let size =
                        WinSize::new(1 + self.rng.below(300) as u16, 1 + self.rng.below(100) as u16).unwrap();
                    let _ = self.f.session.resize(self.clients[i].w.id, size, self.now);
                }
            }
            90..=92 => {
                if let Some(i) = self.pick() {
                    let c = self.clients.swap_remove(i);
                    self.f.session.detach(c.w.id, self.now);
                }
            }
            _ => {
                self.now = Millis(self.now.0 + self.rng.below(4_000));
                self.f.session.tick(self.now);
            }
        }
        self.check();
    }

    fn check(&mut self) {
        self.f.check_memory();
        let session = &self.f.session;
        let start = session.scrollback().start();
        let driver = session.driver();
        if driver != self.driver {
            for c in &mut self.clients {
                c.protected = Some(c.w.id) == driver && c.w.next >= start;
            }
            self.driver = driver;
        }
        let native = session.config().dialect == Dialect::Native;
        if native && driver.is_none() {
            assert!(session.should_read_pty(), "no driver, nothing holds the PTY back");
        }
        for c in &self.clients {
            if c.protected || !native {
                assert!(c.w.next >= start, "a governing client's unsent bytes were evicted");
            }
        }
    }
}

fn run(seed: u64, dialect: Dialect) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let capacity = 32 + rng.below(480) as usize;
    let bufs = 4 + rng.below(40) as usize;
    let pool_mem = super::tests::pool(capacity).mem_size();
    let window = (1 + rng.below(bufs as u64 * capacity as u64)) as usize;
    let config = SessionConfig { dialect, scrollback: bufs * pool_mem, window, ..SessionConfig::default() };
    let f = Fixture::new(capacity, config);
    let mut run = Run { f, rng, clients: Vec::new(), now: T0, capacity, driver: None };
    for _ in 0..3_000 {
        run.step();
    }
    run.f.session.exited(ExitStatus::code(0), run.now);
    for c in &mut run.clients {
        c.w.drain(&mut run.f.session, &run.f.output);
        assert_eq!(c.w.next, run.f.output.len() as u64);
        assert_eq!(c.w.exit, Some(ExitStatus::code(0)));
    }
}

#[test]
fn random_native_sessions_keep_their_invariants() {
    for seed in 0..24 {
        run(seed, Dialect::Native);
    }
}

#[test]
fn random_ttyd_sessions_keep_their_invariants() {
    for seed in 100..112 {
        run(seed, Dialect::Ttyd);
    }
}
