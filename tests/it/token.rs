//! `ringtty token`: the subcommand mints a token the key verifies; its errors are one
//! line and a non-zero exit; a COMMAND named `token` still runs when it is not the first
//! argument.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ringtty::auth::{verify, Key, Mode};

use crate::common::{get, Server, DEADLINE};

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary to completion within the deadline.
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringtty"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringtty");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("ringtty {args:?} did not exit");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Output { code: status.code(), stdout, stderr }
}

/// A secret file private to this test.
fn secret_file(name: &str, contents: &[u8], mode: u32) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ringtty-it-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

const SECRET: &str = "it-secret-0123456789abcdef0123456789abcdef";

#[test]
fn token_prints_one_line_that_the_key_verifies() {
    let path = secret_file("token-ok", format!("{SECRET}\n").as_bytes(), 0o600);
    let file = path.to_str().unwrap();
    let out =
        run(&["token", "--auth-secret-file", file, "--sub", "alice", "--session", "n1.x", "--ttl", "5m"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert!(out.stdout.ends_with('\n') && out.stdout.lines().count() == 1, "{:?}", out.stdout);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = verify(out.stdout.trim_end().as_bytes(), &Key::new(SECRET.as_bytes()), now).unwrap();
    assert_eq!(
        (claims.sub.as_deref(), claims.sid.as_deref(), claims.mode, claims.admin),
        (Some("alice"), Some("n1.x"), Mode::Ro, false)
    );
    let iat = claims.iat.unwrap();
    assert!(iat.abs_diff(now) <= 60 && claims.exp == iat + 300, "{claims:?}");
    // The trailing newline is not part of the key.
    assert!(
        verify(out.stdout.trim_end().as_bytes(), &Key::new(format!("{SECRET}\n").as_bytes()), now).is_err()
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn token_errors_are_one_line_and_exit_non_zero() {
    let good = secret_file("token-good", SECRET.as_bytes(), 0o600);
    let exposed = secret_file("token-exposed", SECRET.as_bytes(), 0o604);
    let short = secret_file("token-short", b"short\n", 0o600);
    let (good, exposed, short) = (good.to_str().unwrap(), exposed.to_str().unwrap(), short.to_str().unwrap());
    let cases: &[(&[&str], &str)] = &[
        (&["token"], "needs --auth-secret-file"),
        (&["token", "--sub", "alice"], "needs --auth-secret-file"),
        (&["token", "--auth-secret-file", exposed], "chmod 600"),
        (&["token", "--auth-secret-file", short], "fewer than 32"),
        (&["token", "--auth-secret-file", "/nonexistent/ringtty-key"], "cannot read it"),
        (&["token", "--auth-secret-file", good, "--mode", "sudo"], "give ro or rw"),
        (&["token", "--auth-secret-file", good, "--ttl", "soon"], "--ttl soon"),
        (&["token", "--auth-secret-file", good, "--bogus"], "ringtty token --help"),
        (&["token", "--auth-secret-file", good, "bash"], "ringtty token --help"),
        // The server refuses the same files at startup.
        (&["-p", "0", "--auth-secret-file", exposed], "chmod 600"),
        (&["-p", "0", "--auth-secret-file", short], "fewer than 32"),
    ];
    for &(args, says) in cases {
        let out = run(args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(
            out.stderr.starts_with("ringtty: ") && out.stderr.lines().count() == 1,
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    for f in [good, exposed, short] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn token_help_succeeds() {
    let out = run(&["token", "--help"]);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.contains("Usage: ringtty token"), "{}", out.stdout);
}

#[test]
fn a_command_named_token_runs_when_not_the_first_argument() {
    for args in [&["--", "token"][..], &["-W", "token", "--sub", "x"]] {
        let server = Server::start(args);
        let config = get(&server, "/api/config").json();
        assert_eq!(config["command"][0], "token", "{args:?}");
    }
}

#[test]
fn the_server_starts_with_a_private_secret_file() {
    let path = secret_file("server-key", SECRET.as_bytes(), 0o400);
    let server = Server::start(&["--auth-secret-file", path.to_str().unwrap()]);
    assert_eq!(get(&server, "/health").status, 200);
    std::fs::remove_file(path).unwrap();
}
