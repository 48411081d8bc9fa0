//! `ringtty hash-password [--user NAME] [--iterations N]`: reads a password on stdin and
//! prints one `--credential-file` line. From a terminal the password is asked twice
//! with echo off; from a pipe the first line is the password.

use std::ffi::OsString;
use std::io::{BufRead, Read, Write};
use std::num::NonZeroU32;
use std::os::fd::AsFd;
use std::process::ExitCode;

use clap::Parser;
use rustix::termios::{self, LocalModes, OptionalActions};

use crate::auth::{hash_line, iterations_ok, user_ok, DEFAULT_ITERATIONS};

/// Longer input is refused rather than hashed: no one types 1 KiB, and HMAC hashes a
/// long key first anyway.
const PASSWORD_MAX: usize = 1024;

#[derive(Debug, Parser)]
#[command(
    name = "ringtty hash-password",
    about = "Read a password on stdin and print a line for --credential-file",
    after_help = "From a terminal the password is asked twice without echo; from a pipe the first line \
                  is the password (printf '%s\\n' \"$PW\" | ringtty hash-password --user alice)."
)]
struct HashArgs {
    /// User name (A-Z a-z 0-9 . _ - @) [default: $USER]
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// PBKDF2-HMAC-SHA256 iterations, 10000 to 10000000
    #[arg(long, default_value_t = DEFAULT_ITERATIONS.get(), value_name = "N")]
    iterations: u32,
}

/// `args` are the words after `hash-password`.
pub fn hash_password(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let argv = std::iter::once(OsString::from("ringtty hash-password")).chain(args);
    let parsed = match HashArgs::try_parse_from(argv) {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(parsed) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("ringtty hash-password: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(a: HashArgs) -> Result<String, String> {
    let user = a.user.or_else(|| std::env::var("USER").ok()).unwrap_or_default();
    if !user_ok(&user) {
        return Err("give --user NAME with 1-64 characters from A-Z a-z 0-9 . _ - @".into());
    }
    let iterations = NonZeroU32::new(a.iterations)
        .filter(|n| iterations_ok(n.get()))
        .ok_or("--iterations: give a number from 10000 to 10000000 (default 600000)")?;
    let password = read_password()?;
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| "cannot read random bytes for the salt")?;
    Ok(hash_line(&user, &password, &salt, iterations))
}

fn read_password() -> Result<Vec<u8>, String> {
    let stdin = std::io::stdin();
    let password = if termios::isatty(stdin.as_fd()) {
        let first = prompt("Password: ")?;
        if prompt("Again: ")? != first {
            return Err("the two passwords differ; nothing was written".into());
        }
        first
    } else {
        read_line(&mut stdin.lock())?
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    if password.len() > PASSWORD_MAX {
        return Err(format!("the password is longer than {PASSWORD_MAX} bytes"));
    }
    Ok(password)
}

/// Asks on stderr and reads one line from the terminal with echo off. Echo goes off
/// before the question shows, so whoever answers it is never echoed.
fn prompt(question: &str) -> Result<Vec<u8>, String> {
    let stdin = std::io::stdin();
    let _quiet = EchoOff::new(stdin.as_fd())?;
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    read_line(&mut stdin.lock())
}

/// One line without its `\n` (and a `\r` before it); at most a little more than
/// [`PASSWORD_MAX`] bytes are read, so a huge pipe is refused, not buffered.
fn read_line(input: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    let mut limited = input.by_ref().take(PASSWORD_MAX as u64 + 2);
    limited.read_until(b'\n', &mut line).map_err(|e| format!("cannot read the password ({e})"))?;
    if line.is_empty() {
        return Err("no password on stdin".into());
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(line)
}

/// Terminal echo off until dropped. An interrupt (Ctrl-C) while it is off leaves the
/// terminal without echo, as with most such prompts; `stty echo` restores it.
struct EchoOff<'fd> {
    fd: std::os::fd::BorrowedFd<'fd>,
    saved: termios::Termios,
}

impl<'fd> EchoOff<'fd> {
    fn new(fd: std::os::fd::BorrowedFd<'fd>) -> Result<EchoOff<'fd>, String> {
        let saved =
            termios::tcgetattr(fd).map_err(|e| format!("cannot read the terminal's settings ({e})"))?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        // The Enter key still moves to the next line.
        quiet.local_modes.insert(LocalModes::ECHONL);
        termios::tcsetattr(fd, OptionalActions::Flush, &quiet)
            .map_err(|e| format!("cannot turn the terminal's echo off ({e})"))?;
        Ok(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_loses_its_end_and_nothing_else() {
        for (input, line) in [
            (&b"pw\n"[..], &b"pw"[..]),
            (b"pw\r\n", b"pw"),
            (b"pw", b"pw"),
            (b" p w \nrest\n", b" p w "),
            (b"\n", b""),
        ] {
            assert_eq!(read_line(&mut &input[..]).unwrap(), line);
        }
        assert!(read_line(&mut &b""[..]).is_err());
        let long = vec![b'x'; 5000];
        assert_eq!(read_line(&mut &long[..]).unwrap().len(), PASSWORD_MAX + 2);
    }
}
