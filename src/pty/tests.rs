//! Real PTYs, real children. Each test drives a session the way the runtime does:
//! readiness from the reactor, `read_into` until EIO, then the pidfd and `try_reap`.
//!
//! Tests that count process-wide things (fds, PTYs, zombies) take `LEAK_CHECK` for
//! writing; every other test holds it for reading, so the counts are exact.

use std::ffi::OsString;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use rustix::process::{Resource, Rlimit};
use rustix::thread::CpuSet;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::pty::*;

static LEAK_CHECK: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    LEAK_CHECK.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    LEAK_CHECK.write().unwrap_or_else(|e| e.into_inner())
}

/// Every test's bound: a hung child fails the test instead of hanging the run.
const DEADLINE: Duration = Duration::from_secs(20);

fn run<F: Future>(f: F) -> F::Output {
    crate::rt::start(async { tokio::time::timeout(DEADLINE, f).await.expect("test deadline") })
}

fn spawner() -> Spawner {
    Spawner::new(SpawnerConfig::new(ChildDefaults::capture().unwrap())).unwrap()
}

const RULES: EnvRules<'static> = EnvRules { term: "xterm-256color", remove: &[], extra: &[] };

fn request(argv: &[&str]) -> SpawnRequest {
    SpawnRequest {
        argv: argv.iter().map(OsString::from).collect(),
        cwd: None,
        env: child_env(std::env::vars_os(), &RULES),
        cols: 80,
        rows: 24,
    }
}

fn master_fd(master: OwnedFd) -> AsyncFd<OwnedFd> {
    // SAFETY: an OwnedFd is open for its whole life and always reports the same fd.
    unsafe { AsyncFd::register_with_interest(master, Interest::READABLE | Interest::WRITABLE) }.unwrap()
}

/// Reads until `done` says the output so far is enough, or until EIO (then `true`).
async fn read_until(master: &AsyncFd<OwnedFd>, out: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) -> bool {
    let mut buf = [0u8; 4096];
    while !done(out) {
        let mut ready = master.readable().await.unwrap();
        match read_into(ready.get_inner(), &mut buf).unwrap() {
            ReadOutcome::Data(n) => out.extend_from_slice(&buf[..n]),
            ReadOutcome::WouldBlock => ready.clear_ready(),
            ReadOutcome::Closed => return true,
        }
    }
    false
}

async fn read_to_eio(master: &AsyncFd<OwnedFd>) -> Vec<u8> {
    let mut out = Vec::new();
    assert!(read_until(master, &mut out, |_| false).await);
    out
}

/// Waits for the pidfd, then reaps: the runtime's exit path.
async fn wait_exit(child: Child) -> ExitStatus {
    let mut child = child.into_async_fd().unwrap();
    loop {
        let mut ready = child.readable_mut().await.unwrap();
        if let Some(status) = ready.get_inner_mut().try_reap().unwrap() {
            return status;
        }
        ready.clear_ready();
    }
}

/// Runs `argv` to its end: all its output, then its status.
async fn output_of(spawner: &Spawner, req: SpawnRequest) -> (String, ExitStatus) {
    let Spawned { master, child, .. } = spawner.spawn(req).await.unwrap();
    let master = master_fd(master);
    let out = read_to_eio(&master).await;
    (String::from_utf8(out).unwrap(), wait_exit(child).await)
}

fn exited(code: i32) -> ExitStatus {
    ExitStatus { code: Some(code), signal: None }
}

#[test]
fn echo_output_is_read_until_eio_then_exit_0_is_reaped() {
    let _g = shared();
    let s = spawner();
    let (out, status) = run(output_of(&s, request(&["echo", "hello"])));
    assert_eq!(out, "hello\r\n");
    assert_eq!(status, exited(0));
}

#[test]
fn exit_code_and_signal_are_reported() {
    let _g = shared();
    let s = spawner();
    run(async {
        assert_eq!(output_of(&s, request(&["sh", "-c", "exit 3"])).await.1, exited(3));
        let (_, killed) = output_of(&s, request(&["sh", "-c", "kill -TERM $$"])).await;
        assert_eq!(killed, ExitStatus { code: None, signal: Some(libc::SIGTERM) });
        assert_eq!(killed.to_string(), "killed by signal 15");
    });
}

#[test]
fn start_failures_are_clear_errors() {
    let _g = shared();
    let s = spawner();
    let fail = |argv: &[&str], cwd: Option<&str>| {
        let req = SpawnRequest { cwd: cwd.map(Into::into), ..request(argv) };
        let err = run(s.spawn(req)).unwrap_err();
        (err.to_string(), err.blame())
    };
    let not_executable = std::env::temp_dir().join(format!("ringtty-not-executable-{}", std::process::id()));
    std::fs::write(&not_executable, "echo hi\n").unwrap();
    let not_executable = not_executable.to_str().unwrap();
    let denied = format!("cannot start `{not_executable}`: Permission denied");
    let table: &[(&[&str], Option<&str>, &str, Blame)] = &[
        (
            &["ringtty-no-such-command"],
            None,
            "cannot start `ringtty-no-such-command`: No such file or directory",
            Blame::Request,
        ),
        (&[not_executable], None, &denied, Blame::Request),
        (
            &["true"],
            Some("/nonexistent"),
            "cannot use `/nonexistent` as working directory: No such file or directory",
            Blame::Request,
        ),
        (
            &["true"],
            Some("/etc/hostname"),
            "cannot use `/etc/hostname` as working directory: Not a directory",
            Blame::Request,
        ),
        (&[], None, "no command to run", Blame::Request),
    ];
    for &(argv, cwd, message, blame) in table {
        assert_eq!(fail(argv, cwd), (message.to_owned(), blame), "{argv:?} in {cwd:?}");
    }
    std::fs::remove_file(not_executable).unwrap();
}

#[test]
fn program_is_looked_up_in_the_childs_path() {
    let _g = shared();
    let s = spawner();
    let dir = std::env::temp_dir().join(format!("ringtty-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("true"), "not a program").unwrap(); // not executable: skipped
    let with_path = |path: &str, argv: &[&str]| {
        let env = vec![("PATH".into(), path.into())];
        run(async {
            match s.spawn(SpawnRequest { env, ..request(argv) }).await {
                Ok(spawned) => {
                    read_to_eio(&master_fd(spawned.master)).await;
                    Ok(wait_exit(spawned.child).await)
                }
                Err(e) => Err(e.to_string()),
            }
        })
    };
    let first = format!("{}:/usr/bin:/bin", dir.display());
    assert_eq!(with_path(&first, &["true"]), Ok(exited(0)), "EACCES on the first entry, found later");
    let only = dir.display().to_string();
    assert_eq!(with_path(&only, &["true"]), Err("cannot start `true`: Permission denied".into()));
    assert_eq!(
        with_path("/nonexistent", &["true"]),
        Err("cannot start `true`: No such file or directory".into())
    );
    let nul = with_path("/usr/bin", &["echo", "a\0b"]).unwrap_err();
    assert_eq!(nul, "cannot start `echo`: an argument or variable contains a NUL byte");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn master_is_nonblocking_cloexec_and_the_line_is_cooked_utf8() {
    use rustix::fs::OFlags;
    use rustix::io::FdFlags;
    let _g = shared();
    let s = spawner();
    let spawned = run(s.spawn(request(&["stty", "-a"]))).unwrap();
    assert!(rustix::fs::fcntl_getfl(&spawned.master).unwrap().contains(OFlags::NONBLOCK));
    assert!(rustix::io::fcntl_getfd(&spawned.master).unwrap().contains(FdFlags::CLOEXEC));
    assert!(rustix::io::fcntl_getfd(&spawned.child).unwrap().contains(FdFlags::CLOEXEC), "the pidfd");
    let (out, _) =
        run(async { (read_to_eio(&master_fd(spawned.master)).await, wait_exit(spawned.child).await) });
    let out = String::from_utf8(out).unwrap();
    let flags: Vec<&str> = out.split_whitespace().collect();
    for flag in ["iutf8", "icanon", "echo", "isig", "icrnl", "opost", "onlcr", "cs8"] {
        assert!(flags.contains(&flag), "{flag} missing in {out}");
    }
}

#[test]
fn cwd_is_the_requested_directory() {
    let _g = shared();
    let s = spawner();
    let req = SpawnRequest { cwd: Some("/usr/share".into()), ..request(&["pwd"]) };
    assert_eq!(run(output_of(&s, req)).0, "/usr/share\r\n");
}

#[test]
fn initial_size_and_resize_reach_the_child() {
    let _g = shared();
    let s = spawner();
    run(async {
        let req = SpawnRequest { cols: 100, rows: 30, ..request(&["stty", "size"]) };
        assert_eq!(output_of(&s, req).await.0, "30 100\r\n");

        let script = "trap 'stty size; exit 7' WINCH; echo ready; while :; do sleep 0.05; done";
        let Spawned { master, child, .. } = s.spawn(request(&["sh", "-c", script])).await.unwrap();
        let master = master_fd(master);
        let mut out = Vec::new();
        read_until(&master, &mut out, |o| o.ends_with(b"ready\r\n")).await;
        resize(master.get_ref(), 132, 43).unwrap();
        assert_eq!(size(master.get_ref()).unwrap(), (132, 43));
        out.extend(read_to_eio(&master).await);
        assert_eq!(String::from_utf8(out).unwrap(), "ready\r\n43 132\r\n");
        assert_eq!(wait_exit(child).await, exited(7));
        assert!(resize(master.get_ref(), 0, 10).is_err());
    });
}

#[test]
fn nudge_sends_sigwinch_without_a_size_change() {
    let _g = shared();
    let s = spawner();
    run(async {
        let script = "trap 'echo winch; exit 5' WINCH; echo ready; while :; do sleep 0.05; done";
        let Spawned { master, child, .. } = s.spawn(request(&["sh", "-c", script])).await.unwrap();
        let master = master_fd(master);
        let mut out = Vec::new();
        read_until(&master, &mut out, |o| o.ends_with(b"ready\r\n")).await;
        nudge(master.get_ref()).unwrap();
        out.extend(read_to_eio(&master).await);
        assert_eq!(String::from_utf8(out).unwrap(), "ready\r\nwinch\r\n");
        assert_eq!(size(master.get_ref()).unwrap(), (80, 24));
        assert_eq!(wait_exit(child).await, exited(5));
    });
}

#[test]
fn environment_follows_the_rules() {
    let _g = shared();
    let s = spawner();
    let parent =
        [("PATH", "/usr/bin:/bin"), ("HOME", "/root"), ("RINGTTY_SECRET", "hunter2"), ("DB_PASSWORD", "x")];
    let extra = [("RINGTTY_USER".into(), "alice".into()), ("TTYD_USER".into(), "alice".into())];
    let rules = EnvRules { remove: &["DB_PASSWORD"], extra: &extra, ..RULES };
    let req = SpawnRequest { env: child_env(parent, &rules), ..request(&["env"]) };
    let (out, _) = run(output_of(&s, req));
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    let expected = [
        "COLORTERM=truecolor",
        "HOME=/root",
        "LANG=C.UTF-8",
        "PATH=/usr/bin:/bin",
        "RINGTTY_USER=alice",
        "TERM=xterm-256color",
        "TTYD_USER=alice",
    ];
    assert_eq!(lines, expected);
}

/// The line `name:\t...` of a /proc status file.
fn status_field<'a>(status: &'a str, name: &str) -> &'a str {
    let line = status.lines().find(|l| l.starts_with(&format!("{name}:"))).unwrap();
    line[name.len() + 1..].trim()
}

fn thread_cpus() -> String {
    status_field(&std::fs::read_to_string("/proc/thread-self/status").unwrap(), "Cpus_allowed_list")
        .to_owned()
}

/// Sets this thread's mask and the process's dispositions the way a server (or its
/// parent) might: a pinned thread, signals blocked, SIGUSR1 ignored, and libc's internal
/// signal 32 ignored too — `cargo` starts its children that way, and glibc's own
/// `sigaction` cannot undo it.
fn make_hostile_thread() {
    let mut one = CpuSet::new();
    one.set(0);
    rustix::thread::sched_setaffinity(None, &one).unwrap();
    // SAFETY: plain libc calls on local, initialized signal sets and a zeroed (valid,
    // SIG_DFL) sigaction whose handler is then set to SIG_IGN; the raw rt_sigaction
    // reads a kernel `struct sigaction` (handler first, 32 bytes at most) from a local
    // array of that size and writes no old action.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()), 0);
        let mut ignore: libc::sigaction = std::mem::zeroed();
        ignore.sa_sigaction = libc::SIG_IGN;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &ignore, std::ptr::null_mut()), 0);
        // The kernel's struct sigaction starts with the handler: SIG_IGN, the rest zero.
        let ignore_raw = [libc::SIG_IGN as u64, 0, 0, 0];
        let r = libc::syscall(
            libc::SYS_rt_sigaction,
            32,
            ignore_raw.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8usize,
        );
        assert_eq!(r, 0);
    }
}

#[test]
fn child_gets_default_signals_limits_and_affinity_even_from_a_pinned_thread() {
    let _g = shared();
    let nofile = rustix::process::getrlimit(Resource::Nofile);
    let last_cpu = rustix::thread::sched_getaffinity(None).unwrap();
    let last_cpu = (0..CpuSet::MAX_CPU).rev().find(|&c| last_cpu.is_set(c)).unwrap();
    // A dedicated thread: its mask and pinning die with it.
    std::thread::spawn(move || {
        let all = ChildDefaults::capture().unwrap();
        let all_cpus = thread_cpus();
        let mut only_last = CpuSet::new();
        only_last.set(last_cpu);
        let lowered = vec![(Resource::Nofile, Rlimit { current: Some(777), maximum: nofile.maximum })];
        make_hostile_thread();
        assert_eq!(thread_cpus(), "0");
        for (defaults, cpus, open_files) in [
            (all.clone(), all_cpus.clone(), nofile.current),
            (
                ChildDefaults { rlimits: lowered, cpus: only_last, parent_death: true },
                last_cpu.to_string(),
                Some(777),
            ),
        ] {
            let s = Spawner::new(SpawnerConfig::new(defaults)).unwrap();
            let req = request(&["cat", "/proc/self/status", "/proc/self/limits"]);
            let Spawned { master, child, .. } = s.spawn_blocking(&req).unwrap();
            let (out, status) =
                run(async { (read_to_eio(&master_fd(master)).await, wait_exit(child).await) });
            let out = String::from_utf8(out).unwrap();
            assert_eq!(status, exited(0));
            assert_eq!(status_field(&out, "SigIgn"), "0000000000000000");
            assert_eq!(status_field(&out, "SigBlk"), "0000000000000000");
            assert_eq!(status_field(&out, "Cpus_allowed_list"), cpus);
            let limit = out.lines().find(|l| l.starts_with("Max open files")).unwrap();
            let soft = limit.split_whitespace().nth(3).unwrap();
            assert_eq!(soft, open_files.map_or("unlimited".into(), |n| n.to_string()), "{limit}");
        }
    })
    .join()
    .unwrap();
}

#[test]
fn child_inherits_only_the_terminal() {
    let _g = shared();
    let s = spawner();
    // A descriptor someone opened without CLOEXEC must not reach the child either.
    let leaked = rustix::io::dup(rustix::stdio::stdin()).unwrap();
    assert!(!rustix::io::fcntl_getfd(&leaked).unwrap().contains(rustix::io::FdFlags::CLOEXEC));
    let spawned = run(s.spawn(request(&["ls", "-l", "/proc/self/fd"]))).unwrap();
    let tty = spawned.tty.clone();
    let (out, status) =
        run(async { (read_to_eio(&master_fd(spawned.master)).await, wait_exit(spawned.child).await) });
    drop(leaked);
    assert_eq!(status, exited(0));
    let out = String::from_utf8(out).unwrap();
    let mut fds: Vec<(u32, &str)> = out
        .lines()
        .filter_map(|l| l.split_once(" -> "))
        .map(|(l, target)| (l.rsplit(' ').next().unwrap().parse().unwrap(), target))
        .collect();
    fds.sort_unstable();
    let (stdio, rest) = fds.split_at(3);
    assert_eq!(stdio, [(0, tty.as_str()), (1, tty.as_str()), (2, tty.as_str())], "{out}");
    // ls's own directory handle, nothing else.
    assert!(matches!(rest, [(_, dir)] if dir.starts_with("/proc/") && dir.ends_with("/fd")), "{out}");
}

#[test]
fn slave_is_the_controlling_terminal_of_a_new_session() {
    let _g = shared();
    let s = spawner();
    run(async {
        let script = "tty; cat /proc/$$/stat; read line";
        let Spawned { master, child, tty } = s.spawn(request(&["sh", "-c", script])).await.unwrap();
        let master = master_fd(master);
        let mut out = Vec::new();
        read_until(&master, &mut out, |o| o.windows(2).filter(|w| w == b"\r\n").count() == 2).await;
        let out = String::from_utf8(out).unwrap();
        let (tty_line, stat) = out.split_once("\r\n").unwrap();
        assert_eq!(tty_line, tty);
        // Fields after "(comm)": state ppid pgrp session tty_nr tpgid ...
        let fields: Vec<i64> = stat
            .rsplit_once(") ")
            .unwrap()
            .1
            .split_whitespace()
            .skip(1)
            .take(5)
            .map(|f| f.parse().unwrap())
            .collect();
        let pid = i64::from(child.pid().as_raw_nonzero().get());
        assert_eq!(fields[0], i64::from(rustix::process::getpid().as_raw_nonzero().get()), "ppid");
        assert_eq!([fields[1], fields[2], fields[4]], [pid, pid, pid], "pgrp, session, foreground group");
        assert_ne!(fields[3], 0, "tty_nr");
        assert_eq!(foreground_pgrp(master.get_ref()).unwrap(), Some(child.pid()));
        write_some(master.get_ref(), b"\n").unwrap();
        read_to_eio(&master).await;
        assert_eq!(wait_exit(child).await, exited(0));
        assert_eq!(foreground_pgrp(master.get_ref()).unwrap(), None);
    });
}

#[test]
fn input_is_echoed_and_cat_answers() {
    let _g = shared();
    let s = spawner();
    run(async {
        let Spawned { master, child, .. } = s.spawn(request(&["cat"])).await.unwrap();
        let master = master_fd(master);
        assert_eq!(write_some(master.get_ref(), b"abc\n").unwrap(), 4);
        let mut out = Vec::new();
        read_until(&master, &mut out, |o| o.len() >= 10).await;
        assert_eq!(out, b"abc\r\nabc\r\n", "the terminal's echo, then cat's copy");
        write_some(master.get_ref(), b"\x04").unwrap(); // ^D at a line start: EOF
        read_to_eio(&master).await;
        assert_eq!(wait_exit(child).await, exited(0));
    });
}

#[test]
fn a_mebibyte_through_cat_with_short_writes_does_not_deadlock() {
    let _g = shared();
    let s = spawner();
    const LINE: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_\n";
    let input: Vec<u8> = LINE.iter().copied().cycle().take(1 << 20).collect();
    let expected = input.len();
    let (output, would_block, status) = run(async {
        // Without echo: the kernel drops echoes when the master's reader falls behind
        // (n_tty discards from a full echo buffer), while cat's output is never lost.
        let script = "stty -echo; echo ready; exec cat";
        let Spawned { master, child, .. } = s.spawn(request(&["sh", "-c", script])).await.unwrap();
        let master = master_fd(master);
        read_until(&master, &mut Vec::new(), |o| o.ends_with(b"ready\r\n")).await;
        let (mut sent, mut would_block, mut output) = (0, 0, 0usize);
        let mut buf = vec![0u8; 16 * 1024];
        // Every line back before the EOF (^D) is sent: what is counted does not depend
        // on how the kernel drains the terminal as cat exits.
        while output < expected {
            tokio::select! {
                ready = master.readable() => {
                    let mut ready = ready.unwrap();
                    match read_into(ready.get_inner(), &mut buf).unwrap() {
                        ReadOutcome::Data(n) => output += buf[..n].iter().filter(|&&b| b != b'\r').count(),
                        ReadOutcome::WouldBlock => ready.clear_ready(),
                        ReadOutcome::Closed => panic!("cat ended after {output} of {expected} bytes"),
                    }
                }
                ready = master.writable(), if sent < input.len() => {
                    let mut ready = ready.unwrap();
                    match write_some(ready.get_inner(), &input[sent..]) {
                        Ok(n) => sent += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            would_block += 1;
                            ready.clear_ready();
                        }
                        Err(e) => panic!("write: {e}"),
                    }
                }
            }
        }
        assert_eq!(write_some(master.get_ref(), b"\x04").unwrap(), 1);
        let rest = read_to_eio(&master).await;
        (output + rest.len(), would_block, wait_exit(child).await)
    });
    assert_eq!(status, exited(0));
    assert_eq!(output, expected, "every line back from cat (CRs not counted), and nothing more");
    assert!(would_block > 0, "a 1 MiB write must have met a full PTY queue");
}

#[test]
fn signal_session_reaches_the_child_and_the_foreground_job() {
    let _g = shared();
    let s = spawner();
    run(async {
        // With job control on, the shell runs `sleep` in its own foreground group.
        let script = "set -m; echo ready; sleep 1000; echo survived";
        let Spawned { master, child, .. } = s.spawn(request(&["sh", "-c", script])).await.unwrap();
        let master = master_fd(master);
        let mut out = Vec::new();
        read_until(&master, &mut out, |o| o.ends_with(b"ready\r\n")).await;
        let deadline = Instant::now() + DEADLINE;
        while foreground_pgrp(master.get_ref()).unwrap() == Some(child.pid()) {
            assert!(Instant::now() < deadline, "sleep never became the foreground job");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        signal_session(&child, master.get_ref(), signal_from_raw(libc::SIGTERM).unwrap()).unwrap();
        read_to_eio(&master).await;
        assert_eq!(wait_exit(child).await.signal, Some(libc::SIGTERM));
    });
}

#[test]
fn signal_numbers_from_the_configuration() {
    assert_eq!(signal_from_raw(libc::SIGHUP).map(|s| s.as_raw()), Some(libc::SIGHUP));
    assert_eq!(signal_from_raw(libc::SIGRTMIN()).map(|s| s.as_raw()), Some(libc::SIGRTMIN()));
    assert!(signal_from_raw(0).is_none());
    assert!(signal_from_raw(32).is_none(), "reserved by libc");
    assert!(signal_from_raw(65).is_none());
}

#[test]
fn a_full_queue_says_busy() {
    let _g = shared();
    let cfg = SpawnerConfig {
        threads: 1.try_into().unwrap(),
        queue: 1,
        ..SpawnerConfig::new(ChildDefaults::capture().unwrap())
    };
    let s = Spawner::new(cfg).unwrap();
    let results = run(async {
        let pending: Vec<_> = (0..50).map(|_| s.spawn(request(&["true"]))).collect();
        let mut results = Vec::new();
        for p in pending {
            results.push(match p.await {
                Ok(spawned) => {
                    read_to_eio(&master_fd(spawned.master)).await;
                    Ok(wait_exit(spawned.child).await)
                }
                Err(e) => Err(e.to_string()),
            });
        }
        results
    });
    assert!(results.iter().any(|r| r == &Err("too many sessions are starting at once; retry".into())));
    assert!(results.iter().all(|r| r == &Ok(exited(0)) || r.is_err()));
}

/// The counts that must return to their baseline.
#[derive(Debug, PartialEq)]
struct Counts {
    fds: usize,
    zombies: usize,
    ptys: usize,
}

fn counts() -> Counts {
    let me = rustix::process::getpid().as_raw_nonzero().get().to_string();
    let zombies = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            let mut after = stat.rsplit_once(") ").map_or("", |s| s.1).split_whitespace();
            after.next() == Some("Z") && after.next() == Some(me.as_str())
        })
        .count();
    let ptys = std::fs::read_to_string("/proc/sys/kernel/pty/nr").unwrap().trim().parse().unwrap();
    Counts { fds: std::fs::read_dir("/proc/self/fd").unwrap().count(), zombies, ptys }
}

impl Counts {
    /// Back to `baseline`: `kernel.pty.nr` is system-wide, so PTYs of other processes may
    /// come and go; it may end lower than it started, never higher.
    fn back_to(&self, baseline: &Counts) -> bool {
        self.fds == baseline.fds && self.zombies == 0 && self.ptys <= baseline.ptys
    }
}

/// Polls until the counts are back (the reaper and the kernel's PTY release run
/// asynchronously), or returns what they are at the deadline.
async fn settle(baseline: &Counts) -> Counts {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = counts();
        if now.back_to(baseline) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// A spawner whose children cannot restore their limits: `RLIMIT_NOFILE` above
/// `fs.nr_open` is refused even to root.
fn failing_spawner() -> Spawner {
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open").unwrap().trim().parse().unwrap();
    let too_many = Rlimit { current: Some(nr_open + 1), maximum: Some(nr_open + 1) };
    let defaults =
        ChildDefaults { rlimits: vec![(Resource::Nofile, too_many)], ..ChildDefaults::capture().unwrap() };
    Spawner::new(SpawnerConfig::new(defaults)).unwrap()
}

#[test]
fn a_child_that_cannot_prepare_says_at_what() {
    let _g = shared();
    let err = run(failing_spawner().spawn(request(&["true"]))).unwrap_err();
    let message = "cannot prepare the terminal session (restoring resource limits): Operation not permitted";
    assert_eq!((err.to_string().as_str(), err.blame()), (message, Blame::Server));
}

#[test]
fn two_hundred_sessions_leave_no_zombie_fd_or_pty() {
    let _g = exclusive();
    let s = spawner();
    let failing = failing_spawner();
    let (baseline, after, mut latencies) = run(async {
        let baseline = counts();
        assert_eq!(baseline.zombies, 0);
        let mut latencies = Vec::new();
        for i in 0..200 {
            if i % 20 == 7 {
                assert!(s.spawn(request(&["ringtty-no-such-command"])).await.is_err());
                assert!(failing.spawn(request(&["true"])).await.is_err());
            }
            if i % 25 == 3 {
                drop(s.spawn(request(&["sleep", "1000"])).await.unwrap()); // the reaper's job
            }
            if i % 25 == 11 {
                drop(s.spawn(request(&["sleep", "1000"]))); // abandoned: skipped, or killed
            }
            if i % 25 == 17 {
                let spawned = s.spawn(request(&["true"])).await.unwrap();
                read_to_eio(&master_fd(spawned.master)).await;
                drop(spawned.child); // exited but never reaped by the caller
            }
            let started = Instant::now();
            let Spawned { master, child, .. } = s.spawn(request(&["true"])).await.unwrap();
            latencies.push(started.elapsed());
            read_to_eio(&master_fd(master)).await;
            assert_eq!(wait_exit(child).await, exited(0));
            // A short-lived command never loses its output: all of it comes before EIO.
            let (out, status) = output_of(&s, request(&["echo", "hello"])).await;
            assert_eq!((out.as_str(), status), ("hello\r\n", exited(0)), "cycle {i}");
        }
        let after = settle(&baseline).await;
        (baseline, after, latencies)
    });
    assert!(after.back_to(&baseline), "before {baseline:?}, after {after:?}");
    latencies.sort_unstable();
    eprintln!(
        "spawn latency over {} spawns of `true` (Spawner::spawn, request to Spawned): p50 {:?} p95 {:?} max {:?}",
        latencies.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 95),
        latencies.last().unwrap()
    );
}

/// Measurement, not a test (no assertion on time): how a spawn's latency grows with the
/// server's resident memory (fork copies page tables), and what a second spawner thread
/// buys. `cargo test --release -- --ignored --nocapture spawn_costs`
#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn spawn_costs() {
    let _g = exclusive();
    let mut heap: Vec<Vec<u8>> = Vec::new();
    for total_mib in [0usize, 512, 2048] {
        while heap.len() < total_mib / 64 {
            heap.push(vec![1u8; 64 << 20]); // touched: resident, like scrollback
        }
        let s = spawner();
        let mut latencies: Vec<Duration> = (0..100)
            .map(|_| {
                let started = Instant::now();
                let spawned = s.spawn_blocking(&request(&["true"])).unwrap();
                let took = started.elapsed();
                run(async {
                    (read_to_eio(&master_fd(spawned.master)).await, wait_exit(spawned.child).await)
                });
                took
            })
            .collect();
        latencies.sort_unstable();
        eprintln!(
            "resident heap {total_mib:>4} MiB: spawn_blocking(`true`) p50 {:?} p95 {:?}",
            percentile(&latencies, 50),
            percentile(&latencies, 95)
        );
    }
    drop(heap);
    for threads in [1, 2, 4] {
        let cfg = SpawnerConfig {
            threads: threads.try_into().unwrap(),
            queue: 256,
            ..SpawnerConfig::new(ChildDefaults::capture().unwrap())
        };
        let s = Spawner::new(cfg).unwrap();
        let took = run(async {
            let started = Instant::now();
            let pending: Vec<_> = (0..200).map(|_| s.spawn(request(&["true"]))).collect();
            let mut spawned = Vec::new();
            for p in pending {
                spawned.push(p.await.unwrap());
            }
            let took = started.elapsed();
            for sp in spawned {
                read_to_eio(&master_fd(sp.master)).await;
                wait_exit(sp.child).await;
            }
            took
        });
        eprintln!("{threads} spawner threads: 200 concurrent spawns of `true` in {took:?}");
    }
}
