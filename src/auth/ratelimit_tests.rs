use std::net::IpAddr;
use std::num::NonZeroU32;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn limit(text: &str) -> RateLimit {
    RateLimit::parse(text).unwrap()
}

#[test]
fn rate_limits_parse() {
    for (text, burst, period_s) in [
        ("10/s", 10, 1),
        ("600/m", 600, 60),
        ("100/10s", 100, 10),
        ("1000/1h", 1000, 3600),
        ("5/d", 5, 86_400),
        ("1/1s", 1, 1),
        ("1000000/s", 1_000_000, 1),
        ("3/1440m", 3, 86_400),
    ] {
        let expected = RateLimit {
            burst: NonZeroU32::new(burst).unwrap(),
            period_s: NonZeroU32::new(period_s).unwrap(),
        };
        assert_eq!(RateLimit::parse(text), Ok(expected), "{text}");
    }
    use RateLimitError::*;
    for (text, err) in [
        ("", Syntax),
        ("10", Syntax),
        ("10 per s", Syntax),
        ("/s", BadCount),
        ("0/s", BadCount),
        ("-1/s", BadCount),
        ("+1/s", BadCount),
        ("1000001/s", BadCount),
        ("99999999999/s", BadCount),
        ("1.5/s", BadCount),
        ("10/", BadPeriod),
        ("10/10", BadPeriod),
        ("10/0s", BadPeriod),
        ("10/sec", BadPeriod),
        ("10/ s", BadPeriod),
        ("10/S", BadPeriod),
        ("10/ms", BadPeriod),
        ("10/2d", BadPeriod),
        ("10/86401s", BadPeriod),
        ("10/s/s", BadPeriod),
        ("10/999999999999999s", BadPeriod),
    ] {
        assert_eq!(RateLimit::parse(text), Err(err), "{text:?}");
    }
}

#[test]
fn a_burst_passes_then_the_next_waits_for_one_token() {
    let mut b = Buckets::new(limit("10/s"), 100);
    let peer = ip("192.0.2.1");
    for _ in 0..10 {
        assert_eq!(b.check(peer, 5_000), Ok(()));
    }
    // One token comes back every 100 ms; Retry-After is whole seconds, rounded up.
    assert_eq!(b.check(peer, 5_000), Err(RetryAfter(1)));
    assert_eq!(b.check(peer, 5_099), Err(RetryAfter(1)));
    assert_eq!(b.check(peer, 5_100), Ok(()));
    assert_eq!(b.check(peer, 5_100), Err(RetryAfter(1)));
    // Refusals take no token: after a full period the whole burst is back.
    assert_eq!(b.check(peer, 5_100), Err(RetryAfter(1)));
    for _ in 0..10 {
        assert_eq!(b.check(peer, 6_200), Ok(()));
    }
    assert!(b.check(peer, 6_200).is_err());
    // Other clients have their own buckets.
    assert_eq!(b.check(ip("192.0.2.2"), 6_200), Ok(()));
}

#[test]
fn retry_after_says_when_the_next_token_comes() {
    // 2 per minute: one token every 30 s.
    let mut b = Buckets::new(limit("2/m"), 10);
    let peer = ip("198.51.100.7");
    assert!(b.check(peer, 0).is_ok() && b.check(peer, 0).is_ok());
    assert_eq!(b.check(peer, 0), Err(RetryAfter(30)));
    assert_eq!(b.check(peer, 10_000), Err(RetryAfter(20)));
    assert_eq!(b.check(peer, 29_001), Err(RetryAfter(1)));
    assert_eq!(b.check(peer, 30_000), Ok(()));
    assert_eq!(b.check(peer, 30_000), Err(RetryAfter(30)));
    // 1 per day.
    let mut day = Buckets::new(limit("1/d"), 10);
    assert!(day.check(peer, 0).is_ok());
    assert_eq!(day.check(peer, 0), Err(RetryAfter(86_400)));
}

#[test]
fn refill_is_gradual_and_capped_at_the_burst() {
    let mut b = Buckets::new(limit("4/4s"), 10);
    let peer = ip("203.0.113.9");
    for _ in 0..4 {
        assert!(b.check(peer, 0).is_ok());
    }
    // 2.5 s later: two tokens back, not three.
    assert!(b.check(peer, 2_500).is_ok());
    assert!(b.check(peer, 2_500).is_ok());
    assert!(b.check(peer, 2_500).is_err());
    // An hour idle refills to 4, never more.
    for _ in 0..4 {
        assert!(b.check(peer, 3_600_000).is_ok());
    }
    assert!(b.check(peer, 3_600_000).is_err());
}

#[test]
fn peek_takes_no_token() {
    let mut b = Buckets::new(limit("2/s"), 10);
    let peer = ip("192.0.2.1");
    assert_eq!(b.peek(peer, 0), Ok(()));
    assert!(b.is_empty());
    assert!(b.check(peer, 0).is_ok());
    for _ in 0..5 {
        assert_eq!(b.peek(peer, 0), Ok(()));
    }
    assert!(b.check(peer, 0).is_ok());
    assert_eq!(b.peek(peer, 0), Err(RetryAfter(1)));
    assert_eq!(b.peek(peer, 500), Ok(()));
}

#[test]
fn ipv6_clients_are_counted_by_64_and_mapped_ipv4_as_ipv4() {
    let mut b = Buckets::new(limit("2/s"), 10);
    assert!(b.check(ip("2001:db8:1:2::1"), 0).is_ok());
    assert!(b.check(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 0).is_ok());
    assert!(b.check(ip("2001:db8:1:2:abcd::9"), 0).is_err(), "same /64");
    assert!(b.check(ip("2001:db8:1:3::1"), 0).is_ok(), "the next /64 is another client");
    assert!(b.check(ip("10.0.0.1"), 0).is_ok());
    assert!(b.check(ip("::ffff:10.0.0.1"), 0).is_ok());
    assert!(b.check(ip("::ffff:10.0.0.1"), 0).is_err(), "the mapped address is the IPv4 client");
    assert!(b.check(ip("10.0.0.2"), 0).is_ok(), "IPv4 is not grouped");
    assert_eq!(ClientKey::from(ip("::ffff:1.2.3.4")), ClientKey::V4(0x0102_0304));
    assert_eq!(ClientKey::from(ip("2001:db8::1")), ClientKey::V6Net(0x2001_0db8_0000_0000));
}

#[test]
fn memory_is_bounded_and_a_flood_of_new_clients_evicts_itself() {
    let max = 64;
    let mut b = Buckets::new(limit("1/h"), max);
    let regular = ip("192.0.2.1");
    assert!(b.check(regular, 0).is_ok());
    assert!(b.check(regular, 0).is_err(), "in debt for an hour");
    for i in 0..10_000u32 {
        let _ = b.check(IpAddr::V4((0x0a00_0000 + i).into()), 1);
        assert!(b.len() <= max);
        if i % 16 == 0 {
            // The regular client keeps coming back, so it keeps its second chance.
            assert!(b.check(regular, 1).is_err(), "its debt is remembered ({i})");
        }
    }
    assert_eq!(b.len(), max);
    assert_eq!(b.index.len(), max);
}

#[test]
fn a_full_bucket_is_evicted_before_one_in_debt() {
    let mut b = Buckets::new(limit("1/s"), 2);
    let (a, c) = (ip("192.0.2.1"), ip("192.0.2.2"));
    assert!(b.check(a, 0).is_ok());
    assert!(b.check(a, 0).is_err()); // referenced, in debt until 1 s
    assert!(b.check(c, 500).is_ok()); // in debt until 1.5 s
    assert!(b.check(c, 600).is_err()); // referenced too
                                       // At 1.2 s, a's bucket is full again: it goes, c's debt stays.
    assert!(b.check(ip("192.0.2.3"), 1_200).is_ok());
    assert!(b.check(c, 1_200).is_err());
    assert_eq!(b.len(), 2);
}

#[test]
fn every_slot_referenced_still_finds_a_victim() {
    let mut b = Buckets::new(limit("1/h"), 8);
    let peers: Vec<IpAddr> = (1..=8u32).map(|i| IpAddr::V4(i.into())).collect();
    for &p in &peers {
        assert!(b.check(p, 0).is_ok());
        assert!(b.check(p, 0).is_err());
    }
    assert!(b.check(ip("10.9.9.9"), 0).is_ok());
    assert_eq!(b.len(), 8);
    assert_eq!(peers.iter().filter(|&&p| b.index.contains_key(&ClientKey::from(p))).count(), 7);
}

#[test]
fn kinds_are_counted_apart_and_an_unset_kind_always_passes() {
    let mut l = Limiter::default().with(LimitKind::FailedLogin, limit("1/m"), 100).with(
        LimitKind::SessionCreate,
        limit("2/m"),
        100,
    );
    let peer = ip("192.0.2.1");
    assert!(l.check(LimitKind::FailedLogin, peer, 0).is_ok());
    assert_eq!(l.check(LimitKind::FailedLogin, peer, 0), Err(RetryAfter(60)));
    assert_eq!(l.peek(LimitKind::FailedLogin, peer, 0), Err(RetryAfter(60)));
    assert!(l.check(LimitKind::SessionCreate, peer, 0).is_ok());
    assert!(l.check(LimitKind::SessionCreate, peer, 0).is_ok());
    assert_eq!(l.check(LimitKind::SessionCreate, peer, 0), Err(RetryAfter(30)));
    for _ in 0..1000 {
        assert!(l.check(LimitKind::Request, peer, 0).is_ok());
    }
}

#[test]
fn a_clock_near_its_end_does_not_overflow() {
    let mut b = Buckets::new(limit("1/s"), 4);
    let peer = ip("192.0.2.1");
    assert!(b.check(peer, u64::MAX).is_ok());
    let _ = b.check(peer, u64::MAX);
    let _ = b.peek(peer, u64::MAX);
    assert!(b.check(peer, 0).is_err(), "a clock that goes back finds the debt");
}
