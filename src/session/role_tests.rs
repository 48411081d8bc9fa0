//! Telling each client whether it is the driver (`Outgoing::Role`): where, and that a
//! query in the output is answered by one client at most (issue 11).

use super::tests::{Fixture, Writer, T0};
use super::*;

/// Whether `w` answers the output byte at `offset`: it was told it is the driver at
/// or before that byte, and not told otherwise since.
fn answers(w: &Writer, offset: u64) -> bool {
    w.roles.iter().take_while(|(_, at)| *at <= offset).last().is_some_and(|(driver, _)| *driver)
}

#[test]
fn a_page_becomes_the_driver_after_its_replay_and_is_told_where() {
    let mut f = Fixture::native(256, 1 << 20);
    // A query in the output before anyone is attached: the replay.
    f.push(b"\x1b[c\x1b[6n");
    let mut a = f.attach(true, None);
    a.drain(&mut f.session, &f.output);
    assert!(a.roles.is_empty(), "a client attaches as a viewer");
    // The page asks for its size, which makes it the driver: told at the end of the
    // output, so no replayed byte is answered.
    let replayed = f.output.len() as u64;
    f.session.resize(a.id, WinSize { cols: 100, rows: 30 }, T0).unwrap();
    f.push(b"live");
    a.drain(&mut f.session, &f.output);
    assert_eq!(a.roles, [(true, replayed)]);
    assert!(!answers(&a, replayed - 1) && answers(&a, replayed));
    // Told before the output from there on.
    let role = a.items.iter().position(|k| *k == tests::Kind::Role).unwrap();
    assert!(a.items[..role].iter().all(|k| *k == tests::Kind::Frame || *k == tests::Kind::Partial));
    // Staying the driver tells nothing more.
    f.session.input(a.id, b"x", T0).unwrap();
    f.session.resize(a.id, WinSize { cols: 101, rows: 30 }, T0).unwrap();
    a.drain(&mut f.session, &f.output);
    assert_eq!(a.roles.len(), 1);
}

#[test]
fn a_second_tab_that_types_takes_the_answers_from_the_first() {
    let mut f = Fixture::native(256, 1 << 20);
    let mut a = f.attach(true, None);
    f.session.resize(a.id, WinSize::DEFAULT, T0).unwrap();
    f.push(b"prompt$ ");
    a.drain(&mut f.session, &f.output);
    let mut b = f.attach(true, None);
    // The same size as A's: the size says nothing; the role does.
    f.session.resize(b.id, WinSize::DEFAULT, T0).unwrap();
    let b_from = f.output.len() as u64;
    f.push(b"\x1b[c");
    // Each writer runs when woken, as the runtime's do.
    a.drain(&mut f.session, &f.output);
    b.drain(&mut f.session, &f.output);
    f.session.input(a.id, b"ls\r", T0).unwrap();
    let a_again = f.output.len() as u64;
    f.push(b"\x1b[c");
    a.drain(&mut f.session, &f.output);
    b.drain(&mut f.session, &f.output);
    assert_eq!(a.roles, [(true, 0), (false, b_from), (true, a_again)]);
    assert_eq!(b.roles, [(true, b_from), (false, a_again)]);
    for offset in 0..f.output.len() as u64 {
        assert!(answers(&a, offset) != answers(&b, offset), "one answer for byte {offset}");
    }
}

#[test]
fn a_demoted_driver_is_told() {
    let config = SessionConfig { window: 16 * 1024, ..SessionConfig::default() };
    let mut f = Fixture::new(crate::buf::DEFAULT_CAPACITY, config);
    let mut d = f.attach(true, None);
    f.session.input(d.id, b"x", T0).unwrap();
    f.session.ack(d.id, 0, T0).unwrap();
    f.push_pattern(16 * 1024, 4096);
    d.drain(&mut f.session, &f.output);
    assert_eq!(d.roles, [(true, 0)]);
    assert_eq!(f.session.tick(T0), Actions::NONE);
    assert_eq!(f.session.tick(Millis(T0.0 + 10_000)), Actions::DEMOTE_DRIVER);
    let demoted = f.output.len() as u64;
    f.push(b"more");
    d.drain(&mut f.session, &f.output);
    assert_eq!(d.roles, [(true, 0), (false, demoted)]);
}

#[test]
fn read_only_and_ttyd_clients_are_never_told_a_role() {
    let mut f = Fixture::native(256, 1 << 20);
    let mut r = f.attach(false, None);
    let _ = f.session.resize(r.id, WinSize::DEFAULT, T0);
    let _ = f.session.input(r.id, b"x", T0);
    f.push(b"out");
    r.drain(&mut f.session, &f.output);
    assert!(r.roles.is_empty());
    let config = SessionConfig { dialect: Dialect::Ttyd, ..SessionConfig::default() };
    let mut f = Fixture::new(256, config);
    let mut t = f.attach(true, None);
    f.session.resize(t.id, WinSize::DEFAULT, T0).unwrap();
    f.session.input(t.id, b"x", T0).unwrap();
    f.push(b"out");
    t.drain(&mut f.session, &f.output);
    assert!(t.roles.is_empty());
}

#[test]
fn a_role_that_changes_hands_before_a_poll_is_never_answered_twice() {
    let mut f = Fixture::native(256, 1 << 20);
    let mut a = f.attach(true, None);
    let mut b = f.attach(true, None);
    f.session.input(a.id, b"x", T0).unwrap();
    f.push(b"one");
    a.drain(&mut f.session, &f.output);
    // A lags behind: B takes the role and A takes it back before either is polled.
    let b_took = f.output.len() as u64;
    f.session.input(b.id, b"y", T0).unwrap();
    f.push(b"two");
    let a_took = f.output.len() as u64;
    f.session.input(a.id, b"z", T0).unwrap();
    f.push(b"three");
    a.drain(&mut f.session, &f.output);
    b.drain(&mut f.session, &f.output);
    // A learns both of its changes; B, whose turn ended before it heard of it, none:
    // its query (if any) goes unanswered rather than answered twice.
    assert_eq!(a.roles, [(true, 0), (false, b_took), (true, a_took)]);
    assert!(b.roles.is_empty());
    // More changes than a client can hear of: the first loss and the latest gain.
    f.session.input(b.id, b"1", T0).unwrap();
    let lost = f.output.len() as u64;
    f.push(b"four");
    f.session.input(a.id, b"2", T0).unwrap();
    f.push(b"five");
    f.session.input(b.id, b"3", T0).unwrap();
    f.push(b"six");
    let latest = f.output.len() as u64;
    f.session.input(a.id, b"4", T0).unwrap();
    f.push(b"seven");
    a.drain(&mut f.session, &f.output);
    b.drain(&mut f.session, &f.output);
    assert_eq!(&a.roles[3..], [(false, lost), (true, latest)]);
    for offset in 0..f.output.len() as u64 {
        assert!(!(answers(&a, offset) && answers(&b, offset)), "two answers for byte {offset}");
    }
}
