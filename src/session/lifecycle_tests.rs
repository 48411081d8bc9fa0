//! Timers with a fake clock: detach timeout, kill grace, exited TTL.

use std::time::Duration;

use super::tests::{Fixture, T0};
use super::*;

fn at(ms: u64) -> Millis {
    Millis(T0.0 + ms)
}

fn fixture(detach: u64, ttl: u64, grace: u64) -> Fixture {
    let timers = Timers {
        detach_timeout: Duration::from_millis(detach),
        exited_ttl: Duration::from_millis(ttl),
        kill_grace: Duration::from_millis(grace),
    };
    Fixture::new(256, SessionConfig { timers, ..SessionConfig::default() })
}

/// Ticks at each time of `times` and returns the actions of each.
fn ticks(session: &mut Session, times: &[u64]) -> Vec<Actions> {
    times.iter().map(|&t| session.tick(at(t))).collect()
}

const N: Actions = Actions::NONE;

#[test]
fn never_attached_session_is_killed_after_the_detach_timeout_from_creation() {
    let mut f = fixture(60_000, 300_000, 5_000);
    assert_eq!(f.session.next_deadline(), Some(at(60_000)));
    assert_eq!(ticks(&mut f.session, &[0, 59_999]), [N, N]);
    assert_eq!(f.session.tick(at(60_000)), Actions::KILL);
    // Then SIGKILL after the grace, once.
    assert_eq!(f.session.next_deadline(), Some(at(65_000)));
    assert_eq!(ticks(&mut f.session, &[60_001, 64_999]), [N, N]);
    assert_eq!(ticks(&mut f.session, &[65_000, 65_001, 1_000_000]), [Actions::FORCE_KILL, N, N]);
    assert_eq!(f.session.next_deadline(), None);
}

#[test]
fn detach_timer_counts_from_the_last_detach() {
    let mut f = fixture(60_000, 300_000, 5_000);
    let (a, _) = f.session.attach(at(10_000), true, None).unwrap();
    let (b, _) = f.session.attach(at(10_000), true, None).unwrap();
    assert_eq!(f.session.next_deadline(), None);
    assert_eq!(f.session.tick(at(100_000)), N, "clients attached: no timer");
    assert_eq!(f.session.detach(a, at(100_000)), N);
    assert_eq!(f.session.detach(b, at(120_000)), N);
    assert_eq!(f.session.next_deadline(), Some(at(180_000)));
    assert_eq!(f.session.tick(at(179_999)), N);
    // A reattach within the timeout keeps it alive.
    let (c, _) = f.session.attach(at(179_999), true, None).unwrap();
    assert_eq!(f.session.tick(at(500_000)), N);
    assert_eq!(f.session.detach(c, at(500_000)), N);
    assert_eq!(f.session.tick(at(560_000)), Actions::KILL);
}

#[test]
fn detach_timeout_zero_kills_on_last_detach() {
    let mut f = fixture(0, 0, 1_000);
    // Never attached: a first-attach grace instead of an immediate kill.
    assert_eq!(f.session.next_deadline(), Some(T0.after(FIRST_ATTACH_GRACE)));
    assert_eq!(f.session.tick(at(1)), N);
    let (a, _) = f.session.attach(at(5), true, None).unwrap();
    let (b, _) = f.session.attach(at(5), false, None).unwrap();
    assert_eq!(f.session.detach(a, at(10)), N);
    assert_eq!(f.session.detach(b, at(11)), Actions::KILL);
    assert_eq!(f.session.tick(at(1_011)), Actions::FORCE_KILL);
}

#[test]
fn exited_session_is_removed_after_the_ttl_once_its_clients_are_gone() {
    let mut f = fixture(60_000, 300_000, 5_000);
    let mut w = f.attach(true, None);
    f.push(b"bye\r\n");
    f.session.exited(ExitStatus::code(0), at(1_000));
    assert_eq!(f.session.status(), Status::Exited { status: ExitStatus::code(0), at: at(1_000) });
    assert_eq!(f.session.next_deadline(), None, "a client is still draining");
    assert_eq!(f.session.tick(at(400_000)), N);
    w.drain(&mut f.session, &f.output);
    assert_eq!(w.exit, Some(ExitStatus::code(0)));
    // The TTL has passed: removed as soon as the last client leaves.
    assert_eq!(f.session.detach(w.id, at(400_000)), Actions::REMOVE);
    assert_eq!(f.session.tick(at(500_000)), N, "once");

    let mut f = fixture(60_000, 300_000, 5_000);
    f.session.exited(ExitStatus::signal(15), at(1_000));
    assert_eq!(f.session.next_deadline(), Some(at(301_000)));
    assert_eq!(ticks(&mut f.session, &[300_999, 301_000, 301_001]), [N, Actions::REMOVE, N]);
}

#[test]
fn delete_kills_once_then_force_kills_and_removes_an_exited_session() {
    let mut f = fixture(60_000, 300_000, 2_000);
    let (a, _) = f.session.attach(at(0), true, None).unwrap();
    assert_eq!(f.session.kill(at(100)), Actions::KILL);
    assert_eq!(f.session.kill(at(200)), N);
    assert_eq!(f.session.tick(at(2_099)), N);
    assert_eq!(f.session.tick(at(2_100)), Actions::FORCE_KILL);
    f.session.exited(ExitStatus::signal(9), at(2_200));
    assert_eq!(f.session.tick(at(10_000_000)), N, "a client is attached");
    assert_eq!(f.session.kill(at(2_300)), Actions::REMOVE);
    assert_eq!(f.session.kill(at(2_300)), N);
    assert_eq!(f.session.detach(a, at(2_400)), N, "removed once");
}

#[test]
fn actions_are_a_bitset() {
    let both = Actions::KILL | Actions::DEMOTE_DRIVER;
    assert!(both.contains(Actions::KILL) && both.contains(Actions::DEMOTE_DRIVER));
    assert!(!both.contains(Actions::REMOVE));
    assert!(Actions::NONE.is_empty() && !both.is_empty());
    assert_eq!(format!("{both:?}"), "{KILL, DEMOTE_DRIVER}");
    assert_eq!(Millis(u64::MAX - 1).after(Duration::from_secs(1)), Millis(u64::MAX));
}

#[test]
fn a_kept_session_has_no_detach_timeout() {
    let mut f = fixture(60_000, 300_000, 5_000);
    f.session.set_keep(true, at(0));
    assert!(f.session.keep());
    // Never attached: no timer.
    assert_eq!(f.session.next_deadline(), None);
    assert_eq!(f.session.tick(at(10_000_000)), N);
    // Attached, then left: still none.
    let (a, _) = f.session.attach(at(10_000_000), true, None).unwrap();
    assert_eq!(f.session.detach(a, at(10_000_001)), N);
    assert_eq!(f.session.next_deadline(), None);
    assert_eq!(f.session.tick(at(99_000_000)), N);
    // DELETE still kills it, and the kill grace still applies.
    assert_eq!(f.session.kill(at(99_000_000)), Actions::KILL);
    assert_eq!(f.session.tick(at(99_005_000)), Actions::FORCE_KILL);
}

#[test]
fn a_kept_session_that_exits_is_removed_after_the_exited_ttl() {
    let mut f = fixture(60_000, 300_000, 5_000);
    f.session.set_keep(true, at(0));
    f.session.exited(ExitStatus::code(0), at(1_000));
    assert_eq!(f.session.next_deadline(), Some(at(301_000)));
    assert_eq!(ticks(&mut f.session, &[300_999, 301_000]), [N, Actions::REMOVE]);
}

#[test]
fn unkeeping_starts_the_detach_timer_afresh() {
    let mut f = fixture(60_000, 300_000, 5_000);
    f.session.set_keep(true, at(0));
    let (a, _) = f.session.attach(at(1_000), true, None).unwrap();
    assert_eq!(f.session.detach(a, at(2_000)), N);
    // Long after the last detach: the whole timeout from the moment keep went off.
    f.session.set_keep(false, at(1_000_000));
    assert!(!f.session.keep());
    assert_eq!(f.session.next_deadline(), Some(at(1_060_000)));
    assert_eq!(f.session.tick(at(1_059_999)), N);
    assert_eq!(f.session.tick(at(1_060_000)), Actions::KILL);

    // With clients attached, unkeeping changes nothing until the last one leaves.
    let mut f = fixture(60_000, 300_000, 5_000);
    f.session.set_keep(true, at(0));
    let (a, _) = f.session.attach(at(0), true, None).unwrap();
    f.session.set_keep(false, at(500_000));
    assert_eq!(f.session.next_deadline(), None);
    assert_eq!(f.session.detach(a, at(600_000)), N);
    assert_eq!(f.session.next_deadline(), Some(at(660_000)));
    // Keep again before the timer ran out: none.
    f.session.set_keep(true, at(610_000));
    assert_eq!(f.session.next_deadline(), None);
}

#[test]
fn keep_and_rename_are_told_to_native_clients_before_more_output() {
    let mut f = fixture(60_000, 300_000, 5_000);
    let mut w = f.attach(true, None);
    f.push(b"one");
    w.drain(&mut f.session, &f.output);
    assert!(w.labels.is_empty(), "nothing at attach");
    f.session.rename(Some("build".into()));
    f.session.set_keep(true, at(1));
    f.session.set_keep(true, at(2));
    f.push(b"two");
    w.drain(&mut f.session, &f.output);
    // One message with the latest of both, however many changes came before the writer ran.
    assert_eq!(w.labels, [(Some("build".to_owned()), true)]);
    assert_eq!(f.session.name(), Some("build"));
    f.session.rename(None);
    w.drain(&mut f.session, &f.output);
    assert_eq!(w.labels[1], (None, true));
    assert_eq!(w.next, 6);
}
