//! `ringtty hash-password`: its line verifies with the credential-file parser, from a
//! pipe and from a terminal (where the password is never echoed).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ringtty::auth::Credentials;

use crate::common::DEADLINE;

fn hash_password(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringtty"));
    cmd.arg("hash-password").args(args).env_remove("USER");
    cmd
}

fn piped(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = hash_password(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may refuse its arguments and exit before reading: a broken pipe here
    // is its answer, which the output shows.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn a_piped_password_makes_a_line_that_verifies() {
    let out = piped(&["--user", "alice", "--iterations", "10000"], b"correct horse:battery\nignored\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.starts_with("alice:$pbkdf2-sha256$10000$"), "{stdout}");
    let creds = Credentials::parse(&stdout).unwrap();
    assert!(creds.verify("alice", b"correct horse:battery"));
    assert!(!creds.verify("alice", b"correct horse:battery\n"));
    assert!(!creds.verify("alice", b"ignored"));
    // The same password again gets another salt.
    let again = piped(&["--user", "alice", "--iterations", "10000"], b"correct horse:battery\n");
    assert_ne!(String::from_utf8(again.stdout).unwrap(), stdout);
}

#[test]
fn the_default_is_600000_iterations() {
    let out = piped(&["--user", "bob"], b"pw\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("bob:$pbkdf2-sha256$600000$"));
}

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_2() {
    for (args, stdin, needle) in [
        (&["--iterations", "10000"][..], &b"pw\n"[..], "--user"),
        (&["--user", "a b"], b"pw\n", "--user"),
        (&["--user", "a", "--iterations", "9999"], b"pw\n", "--iterations"),
        (&["--user", "a", "--iterations", "10000"], b"", "no password"),
        (&["--user", "a", "--iterations", "10000"], b"\n", "empty"),
        (&["--user", "a", "--iterations", "10000"], &[b'x'; 2000], "longer than"),
    ] {
        let out = piped(args, stdin);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("ringtty hash-password: ") && stderr.contains(needle), "{stderr}");
    }
}

/// A pseudo-terminal for the child's stdin: (our end, the child's end).
fn pty() -> (std::fs::File, std::fs::File) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
    (std::fs::File::from(master), slave)
}

#[test]
fn from_a_terminal_the_password_is_asked_twice_and_never_echoed() {
    for (second, ok) in [("s3cret pw", true), ("s3cret pX", false)] {
        let (mut master, slave) = pty();
        // Held open so that what the terminal echoed stays readable after the child exits.
        let keep = slave.try_clone().unwrap();
        let mut child = hash_password(&["--user", "eve", "--iterations", "10000"])
            .stdin(Stdio::from(slave))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read stderr on a thread; each prompt shows only once echo is off.
        let mut stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        let mut seen = String::new();
        for (prompt, answer) in [("Password: ", "s3cret pw"), ("Again: ", second)] {
            while !seen.contains(prompt) {
                seen += &rx.recv_timeout(DEADLINE).expect("the prompt comes");
            }
            master.write_all(format!("{answer}\n").as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        // All the terminal showed: newlines (ECHONL), never the password.
        std::thread::sleep(Duration::from_millis(50));
        let echoed = read_available(&mut master);
        assert!(!echoed.contains("s3cret"), "echoed {echoed:?}");
        assert!(echoed.contains('\n'), "the Enter key is echoed: {echoed:?}");
        let modes = rustix::termios::tcgetattr(&keep).unwrap().local_modes;
        assert!(modes.contains(rustix::termios::LocalModes::ECHO), "echo is back on");
        let stdout = String::from_utf8(out.stdout).unwrap();
        if ok {
            assert!(out.status.success());
            assert!(Credentials::parse(&stdout).unwrap().verify("eve", b"s3cret pw"));
        } else {
            assert_eq!(out.status.code(), Some(2));
            assert!(stdout.is_empty());
            while let Ok(more) = rx.recv_timeout(Duration::from_millis(500)) {
                seen += &more;
            }
            assert!(seen.contains("differ"), "{seen}");
        }
    }
}

/// What the terminal has for us now, without blocking.
fn read_available(master: &mut std::fs::File) -> String {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    fcntl_setfl(&*master, fcntl_getfl(&*master).unwrap() | OFlags::NONBLOCK).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n @ 1..) = master.read(&mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}
