//! Per-client rate limits (`--rate-limit N/PERIOD`): token buckets, one table per worker
//! and per kind of event (requests, session creations, failed logins), so the hot path
//! takes no lock: a worker only ever touches its own table.
//!
//! Each bucket holds N tokens and regains N per PERIOD. It is kept as one number, its
//! *theoretical arrival time* (the generic cell rate algorithm of ITU-T I.371, which
//! is a token bucket written differently): an event at `now` is admitted when
//! `max(tat, now) + T - now <= N*T`, with `T = PERIOD / N`, and then moves `tat` on by
//! `T`. A bucket whose `tat` has passed is full again, the same as no bucket at all.
//!
//! Clients are IPv4 addresses and IPv6 /64 networks: one IPv6 host usually holds a
//! whole /64 (RFC 4291 §2.5.1 interface identifiers, SLAAC privacy addresses), so
//! counting single IPv6 addresses would give each host 2^64 buckets. IPv4-mapped IPv6
//! peers count as their IPv4 address.
//!
//! Memory is bounded: a table tracks at most `max_tracked` clients. When it is full, a
//! new client takes the slot of one picked by the CLOCK (second-chance) algorithm, an
//! O(1)-amortised approximation of least-recently-used that costs a hit no more than
//! setting a bit (an ordered map by last use would re-sort on every request). A slot is
//! taken at once when its bucket is full again (nothing is lost), else when it has not
//! been used since the hand last passed. A client starts without its second chance, so
//! a flood of one-time addresses replaces itself rather than the clients that return.
//! Evicting a bucket that was not full forgives its debt: size the table above the
//! number of clients expected within one PERIOD.
//!
//! Pure: time comes in as `now_ms` (milliseconds on any monotonic clock); no IO.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// `--rate-limit N/PERIOD`: N events at once, N more every PERIOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// N: the bucket's size, and the tokens regained per period.
    pub burst: NonZeroU32,
    /// PERIOD in seconds.
    pub period_s: NonZeroU32,
}

/// Why a `--rate-limit` value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitError {
    /// Not `N/PERIOD`.
    Syntax,
    /// N is not from 1 to [`RateLimit::MAX_BURST`].
    BadCount,
    /// PERIOD is not `s`, `m`, `h`, `d` with an optional count (`10s`), up to one day.
    BadPeriod,
}

impl RateLimitError {
    pub const fn message(self) -> &'static str {
        match self {
            Self::Syntax => "give N/PERIOD, e.g. 10/s, 600/m or 100/10s",
            Self::BadCount => "N must be a number from 1 to 1000000",
            Self::BadPeriod => "PERIOD is s, m, h or d, optionally after a count (10s, 5m), at most 1d",
        }
    }
}

impl RateLimit {
    pub const MAX_BURST: u32 = 1_000_000;
    const MAX_PERIOD_S: u32 = 86_400;

    /// `10/s`, `600/m`, `100/10s`, `1000/1h`, `5000/d`.
    pub fn parse(text: &str) -> Result<RateLimit, RateLimitError> {
        let (count, period) = text.split_once('/').ok_or(RateLimitError::Syntax)?;
        let burst = digits(count)
            .filter(|&n| n <= u64::from(Self::MAX_BURST))
            .and_then(|n| NonZeroU32::new(n as u32))
            .ok_or(RateLimitError::BadCount)?;
        let unit_at = period.find(|c: char| !c.is_ascii_digit()).ok_or(RateLimitError::BadPeriod)?;
        let (times, unit) = period.split_at(unit_at);
        let times = if times.is_empty() { Some(1) } else { digits(times) };
        let unit: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(RateLimitError::BadPeriod),
        };
        let period_s = times
            .and_then(|t| t.checked_mul(unit))
            .filter(|&s| s <= u64::from(Self::MAX_PERIOD_S))
            .and_then(|s| NonZeroU32::new(s as u32))
            .ok_or(RateLimitError::BadPeriod)?;
        Ok(RateLimit { burst, period_s })
    }

    /// T: microseconds per token (at least 1: N ≤ 10^6 and PERIOD ≥ 1 s).
    fn interval_us(self) -> u64 {
        (u64::from(self.period_s.get()) * 1_000_000 / u64::from(self.burst.get())).max(1)
    }
}

/// Plain decimal digits, at most 9 of them (no sign, no overflow).
fn digits(s: &str) -> Option<u64> {
    let ok = (1..=9).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

/// A refusal: the client may try again after this many whole seconds (≥ 1), the value
/// of a 429's `Retry-After` (RFC 9110 §10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    fn from_us(us: u64) -> RetryAfter {
        RetryAfter(us.div_ceil(1_000_000).max(1))
    }
}

/// Who a bucket belongs to: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(u32),
    V6Net(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> ClientKey {
        match super::cidr::canonical(ip) {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => ClientKey::V6Net((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Debug, Clone)]
struct Slot<K> {
    key: K,
    /// When the bucket is full again, in microseconds.
    tat_us: u64,
    /// Used since the clock hand last passed (the second chance).
    referenced: bool,
}

/// One kind of event's buckets, for one worker. `K` is [`ClientKey`] for per-client
/// limits; any small key works (e.g. a keyed hash of a user name for failed logins per
/// user).
#[derive(Debug, Clone)]
pub struct Buckets<K = ClientKey> {
    interval_us: u64,
    /// N*T: how far ahead of `now` a bucket's `tat` may run.
    tolerance_us: u64,
    max_tracked: usize,
    /// Keys are peer addresses: std's randomly keyed SipHash keeps a peer from
    /// choosing addresses that collide.
    index: HashMap<K, usize>,
    slots: Vec<Slot<K>>,
    hand: usize,
}

impl<K: Copy + Eq + Hash> Buckets<K> {
    /// `max_tracked` is at least 1.
    pub fn new(limit: RateLimit, max_tracked: usize) -> Buckets<K> {
        let interval_us = limit.interval_us();
        Buckets {
            interval_us,
            tolerance_us: interval_us * u64::from(limit.burst.get()),
            max_tracked: max_tracked.max(1),
            index: HashMap::new(),
            slots: Vec::new(),
            hand: 0,
        }
    }

    /// Takes a token from `key`'s bucket, or says how long until there is one.
    pub fn check_key(&mut self, key: K, now_ms: u64) -> Result<(), RetryAfter> {
        let now = now_ms.saturating_mul(1000);
        let Some(&i) = self.index.get(&key) else {
            // A new bucket is full, and N ≥ 1: the first event always passes.
            self.insert(key, now.saturating_add(self.interval_us), now);
            return Ok(());
        };
        let (interval, tolerance) = (self.interval_us, self.tolerance_us);
        let slot = &mut self.slots[i];
        slot.referenced = true;
        let next = slot.tat_us.max(now).saturating_add(interval);
        if next - now > tolerance {
            return Err(RetryAfter::from_us(next - tolerance - now));
        }
        slot.tat_us = next;
        Ok(())
    }

    /// Whether [`check_key`](Self::check_key) would pass, without taking a token: for
    /// failed logins, asked before the password is checked and charged only on failure.
    pub fn peek_key(&self, key: K, now_ms: u64) -> Result<(), RetryAfter> {
        let now = now_ms.saturating_mul(1000);
        let Some(&i) = self.index.get(&key) else { return Ok(()) };
        let next = self.slots[i].tat_us.max(now).saturating_add(self.interval_us);
        if next - now > self.tolerance_us {
            return Err(RetryAfter::from_us(next - self.tolerance_us - now));
        }
        Ok(())
    }

    /// How many clients are tracked (≤ `max_tracked`).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn insert(&mut self, key: K, tat_us: u64, now: u64) {
        let slot = Slot { key, tat_us, referenced: false };
        if self.slots.len() < self.max_tracked {
            self.index.insert(key, self.slots.len());
            self.slots.push(slot);
            return;
        }
        let victim = self.victim(now);
        self.index.remove(&self.slots[victim].key);
        self.slots[victim] = slot;
        self.index.insert(key, victim);
    }

    /// The CLOCK hand: the first slot that is full again or has used its second chance.
    /// Ends within two turns (the first clears every bit); each bit it clears was set
    /// by one hit, hence O(1) amortised.
    fn victim(&mut self, now: u64) -> usize {
        loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[i];
            if slot.tat_us <= now || !slot.referenced {
                return i;
            }
            slot.referenced = false;
        }
    }
}

impl Buckets<ClientKey> {
    /// [`check_key`](Self::check_key) for a peer address (IPv6 by /64).
    pub fn check(&mut self, ip: IpAddr, now_ms: u64) -> Result<(), RetryAfter> {
        self.check_key(ClientKey::from(ip), now_ms)
    }

    pub fn peek(&self, ip: IpAddr, now_ms: u64) -> Result<(), RetryAfter> {
        self.peek_key(ClientKey::from(ip), now_ms)
    }
}

/// What is counted; each kind has its own buckets and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Every HTTP request and WebSocket upgrade.
    Request = 0,
    /// `POST /api/sessions` and sessions started by a WebSocket.
    SessionCreate = 1,
    /// A login refused for a wrong user or password.
    FailedLogin = 2,
}

/// A worker's per-client limits; a kind without a limit always passes.
#[derive(Debug, Clone, Default)]
pub struct Limiter {
    kinds: [Option<Buckets>; 3],
}

impl Limiter {
    /// Limits `kind` to `limit`, tracking at most `max_tracked` clients for it.
    pub fn with(mut self, kind: LimitKind, limit: RateLimit, max_tracked: usize) -> Limiter {
        self.kinds[kind as usize] = Some(Buckets::new(limit, max_tracked));
        self
    }

    pub fn check(&mut self, kind: LimitKind, ip: IpAddr, now_ms: u64) -> Result<(), RetryAfter> {
        self.kinds[kind as usize].as_mut().map_or(Ok(()), |b| b.check(ip, now_ms))
    }

    pub fn peek(&self, kind: LimitKind, ip: IpAddr, now_ms: u64) -> Result<(), RetryAfter> {
        self.kinds[kind as usize].as_ref().map_or(Ok(()), |b| b.peek(ip, now_ms))
    }
}

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod tests;
