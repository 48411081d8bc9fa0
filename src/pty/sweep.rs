//! Signalling every process of a terminal session, wherever it went.
//!
//! Signalling the child's process group and the terminal's foreground group misses a
//! shell's background jobs: with job control each runs in a process group of its own,
//! and one that ignores SIGHUP outlives the shell. What they all keep is the session
//! id, the child's pid (it called `setsid`). So the sweep reads every `/proc/PID/stat`
//! and signals each process whose session is one of those asked for. Only a process
//! that starts a session of its own (`setsid`, a daemon) leaves; that is what a session
//! is for, and nothing short of a cgroup could follow it.
//!
//! Why a session id names the right processes: the kernel frees a pid number only once
//! no process uses it as a process id, a process group or a session id, so while any
//! process of the session lives, no other session can get that number. It runs on the
//! reaper thread (a walk of `/proc` costs a few microseconds per process: never on a
//! worker), and each match is signalled through a pidfd opened before its session is
//! read again, so a pid reused between the two reads is never signalled.

use std::os::fd::OwnedFd;

use rustix::process::{Pid, PidfdFlags, Signal};

/// One session to signal: every process whose session id is `sid`, except those in the
/// process groups that were `signalled` already (each process gets the signal once).
#[derive(Debug, Clone, Copy)]
pub(super) struct Target {
    pub sid: Pid,
    pub signal: Signal,
    pub signalled: [Option<Pid>; 2],
}

/// Signals every process of the `targets`' sessions, in one walk of `/proc`; a process
/// that several targets want (the configured signal, then SIGKILL, queued together)
/// gets each of their signals, in order. Returns how many signals were sent.
pub(super) fn sweep(targets: &[Target]) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let mut sent = 0;
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Some(pid) = Pid::from_raw(pid) else { continue };
        let Some(ids) = ids_of(pid).filter(|&ids| wanted(targets, ids).next().is_some()) else { continue };
        // The pidfd pins the process: if its ids are unchanged once the pidfd is open,
        // the pidfd is the process that was matched.
        let Ok(pidfd) = rustix::process::pidfd_open(pid, PidfdFlags::empty()) else { continue };
        if ids_of(pid) != Some(ids) {
            continue;
        }
        sent += wanted(targets, ids).filter(|&signal| send(&pidfd, signal)).count();
    }
    sent
}

/// The signals the targets want sent to a process with these ids.
fn wanted(targets: &[Target], ids: Ids) -> impl Iterator<Item = Signal> + '_ {
    let wants = move |t: &&Target| t.sid == ids.sid && !t.signalled.contains(&Some(ids.pgrp));
    targets.iter().filter(wants).map(|t| t.signal)
}

fn send(pidfd: &OwnedFd, signal: Signal) -> bool {
    rustix::process::pidfd_send_signal(pidfd, signal).is_ok()
}

/// A process's group and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ids {
    pgrp: Pid,
    sid: Pid,
}

fn ids_of(pid: Pid) -> Option<Ids> {
    let stat = std::fs::read(format!("/proc/{}/stat", pid.as_raw_nonzero())).ok()?;
    ids_in_stat(&stat)
}

/// The process group and session in `/proc/PID/stat` (its fifth and sixth fields; the
/// command name, second, is in parentheses and may hold anything, so the fields are
/// counted after the last `)`).
fn ids_in_stat(stat: &[u8]) -> Option<Ids> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // state, ppid, pgrp, session
    let mut fields = rest.split_ascii_whitespace().skip(2);
    // Only positive ids name a process of this namespace (`Pid::from_raw` panics on a
    // negative one).
    let mut next = || fields.next()?.parse::<i32>().ok().filter(|&n| n > 0).and_then(Pid::from_raw);
    Some(Ids { pgrp: next()?, sid: next()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(pgrp: i32, sid: i32) -> Option<Ids> {
        Some(Ids { pgrp: Pid::from_raw(pgrp)?, sid: Pid::from_raw(sid)? })
    }

    #[test]
    fn group_and_session_are_the_fifth_and_sixth_fields_whatever_the_command_name() {
        assert_eq!(ids_in_stat(b"42 (sleep) S 1 42 40 0 -1 4194560"), ids(42, 40));
        assert_eq!(ids_in_stat(b"42 (a) b) S) R 1 43 41 0"), ids(43, 41));
        assert_eq!(ids_in_stat(b"42 (x) Z 1 0 0 0"), None);
        assert_eq!(ids_in_stat(b"42 (x"), None);
        assert_eq!(ids_in_stat(b""), None);
        // A group or session led from outside this pid namespace reads as 0 (a
        // container's test runner): no process of ours, so no ids.
        assert_eq!(ids_in_stat(b"42 (x) S 1 0 7 0"), None);
        assert_eq!(ids_in_stat(b"42 (x) S 1 7 0 0"), None);
        assert_eq!(ids_in_stat(b"42 (x) S 1 -1 7 0"), None);
        // The real file of a process in a session of its own (as every child is).
        let mut child = std::process::Command::new("setsid")
            .args(["sh", "-c", "read x"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut seen = ids_of(pid);
        while seen != Some(Ids { pgrp: pid, sid: pid }) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
            seen = ids_of(pid);
        }
        drop(child.stdin.take());
        child.wait().unwrap();
        assert_eq!(seen, Some(Ids { pgrp: pid, sid: pid }));
    }

    #[test]
    fn a_process_in_a_group_already_signalled_is_skipped() {
        let pid = |n| Pid::from_raw(n).unwrap();
        let hup = Target { sid: pid(10), signal: Signal::HUP, signalled: [Some(pid(10)), Some(pid(12))] };
        let kill = Target { sid: pid(20), signal: Signal::KILL, signalled: [None, None] };
        let later = Target { sid: pid(10), signal: Signal::KILL, signalled: [None, None] };
        let targets = [hup, kill];
        let signals =
            |targets: &[Target], pgrp, sid| wanted(targets, ids(pgrp, sid).unwrap()).collect::<Vec<_>>();
        assert_eq!(signals(&targets, 10, 10), [], "the child's group");
        assert_eq!(signals(&targets, 12, 10), [], "the foreground group");
        assert_eq!(signals(&targets, 11, 10), [Signal::HUP], "a background job");
        assert_eq!(signals(&targets, 20, 20), [Signal::KILL]);
        assert_eq!(signals(&targets, 11, 30), [], "another session");
        // The configured signal and the KILL after the exit, swept together: both.
        assert_eq!(signals(&[hup, later], 11, 10), [Signal::HUP, Signal::KILL]);
        assert_eq!(signals(&[hup, later], 10, 10), [Signal::KILL]);
    }
}
