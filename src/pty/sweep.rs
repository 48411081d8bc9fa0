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

/// Signals every process whose session id is one of `targets` with that target's
/// signal, in one walk of `/proc`. Returns how many were signalled.
pub(super) fn sweep(targets: &[(Pid, Signal)]) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let mut signalled = 0;
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Some(pid) = Pid::from_raw(pid) else { continue };
        let Some(signal) = session_of(pid).and_then(|sid| signal_for(targets, sid)) else { continue };
        // The pidfd pins the process: if its session still matches after it is open,
        // the pidfd is the process that was matched.
        let Ok(pidfd) = rustix::process::pidfd_open(pid, PidfdFlags::empty()) else { continue };
        if session_of(pid).and_then(|sid| signal_for(targets, sid)) == Some(signal) && send(&pidfd, signal) {
            signalled += 1;
        }
    }
    signalled
}

fn signal_for(targets: &[(Pid, Signal)], sid: Pid) -> Option<Signal> {
    targets.iter().find(|(s, _)| *s == sid).map(|&(_, signal)| signal)
}

fn send(pidfd: &OwnedFd, signal: Signal) -> bool {
    rustix::process::pidfd_send_signal(pidfd, signal).is_ok()
}

/// The session id in `/proc/PID/stat` (its sixth field; the command name, second, is
/// in parentheses and may hold anything, so the fields are counted after the last `)`).
fn session_of(pid: Pid) -> Option<Pid> {
    let stat = std::fs::read(format!("/proc/{}/stat", pid.as_raw_nonzero())).ok()?;
    session_in_stat(&stat)
}

fn session_in_stat(stat: &[u8]) -> Option<Pid> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // state, ppid, pgrp, session
    let sid = rest.split_ascii_whitespace().nth(3)?.parse::<i32>().ok()?;
    Pid::from_raw(sid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_the_sixth_field_whatever_the_command_name() {
        let pid = |n| Pid::from_raw(n);
        assert_eq!(session_in_stat(b"42 (sleep) S 1 42 40 0 -1 4194560"), pid(40));
        assert_eq!(session_in_stat(b"42 (a) b) S) R 1 42 41 0"), pid(41));
        assert_eq!(session_in_stat(b"42 (x) Z 1 0 0 0"), None);
        assert_eq!(session_in_stat(b"42 (x"), None);
        assert_eq!(session_in_stat(b""), None);
        let own = session_of(rustix::process::getpid());
        assert_eq!(own, rustix::process::getsid(None).ok());
    }
}
