use super::*;

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    let argv = std::iter::once("ringtty").chain(args.iter().copied());
    Config::parse_from(argv).expect("clap accepts the syntax")
}

#[test]
fn defaults_are_safe() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.listen, Listen::Tcp("127.0.0.1:7681".parse().unwrap()));
    assert!(!c.terminal.writable);
    assert_eq!(c.terminal.term, "xterm-256color");
    assert_eq!(c.terminal.signal, libc::SIGHUP);
    assert_eq!(c.terminal.ping_interval, Duration::from_secs(5));
    assert_eq!(c.threads.get(), c.cpus.len());
    assert_eq!(c.base_path, "");
}

#[test]
fn options_after_command_belong_to_command() {
    let c = parse(&["-p", "0", "-W", "bash", "-p", "--login", "-c", "x"]).unwrap();
    assert_eq!(c.listen, Listen::Tcp("127.0.0.1:0".parse().unwrap()));
    assert!(c.terminal.writable);
    let cmd: Vec<&str> = c.terminal.command.iter().map(|s| s.to_str().unwrap()).collect();
    assert_eq!(cmd, ["bash", "-p", "--login", "-c", "x"]);
}

#[test]
fn ttyd_command_lines_parse() {
    let c = parse(&[
        "-p",
        "8080",
        "-i",
        "lo",
        "-W",
        "-m",
        "3",
        "-o",
        "-q",
        "-w",
        "/tmp",
        "-T",
        "xterm",
        "-s",
        "SIGTERM",
        "-a",
        "-t",
        "fontSize=16",
        "-t",
        "theme={\"a\":1}",
        "-O",
        "-P",
        "10",
        "-b",
        "/tty/",
        "-6",
        "-d",
        "7",
        "-f",
        "4096",
        "top",
    ])
    .unwrap();
    assert!(matches!(c.listen, Listen::Tcp(a) if a.port() == 8080 && a.ip().is_loopback()));
    assert_eq!(c.terminal.max_clients, 3);
    assert!(c.terminal.once && c.terminal.exit_no_conn && c.terminal.url_arg);
    assert_eq!(c.terminal.signal, libc::SIGTERM);
    assert_eq!(c.terminal.client_options[1], ("theme".into(), "{\"a\":1}".into()));
    assert_eq!(c.terminal.ping_interval, Duration::from_secs(10));
    assert_eq!(c.base_path, "/tty");
    assert_eq!(c.log_level, Level::Info);
    assert_eq!(c.notes.len(), 1);
}

#[test]
fn unix_sockets_and_ipv6() {
    let c = parse(&["-i", "/run/ringtty.sock", "-U", "0:0"]).unwrap();
    assert_eq!(c.listen, Listen::Unix { path: "/run/ringtty.sock".into(), owner: Some((0, Some(0))) });
    let c = parse(&["-i", "/tmp/x.socket", "-U", "root"]).unwrap();
    assert_eq!(c.listen, Listen::Unix { path: "/tmp/x.socket".into(), owner: Some((0, None)) });
    let c = parse(&["-6"]).unwrap();
    assert_eq!(c.listen, Listen::Tcp("[::1]:7681".parse().unwrap()));
    let c = parse(&["-i", "::1", "-p", "9"]).unwrap();
    assert_eq!(c.listen, Listen::Tcp("[::1]:9".parse().unwrap()));
}

#[test]
fn errors_are_one_line_with_a_fix() {
    let table: &[(&[&str], &str)] = &[
        (&["--no-auth", "-c", "a:b"], "contradict"),
        (&["--no-auth", "--auth-secret-file", "/x"], "contradict"),
        (&["-H", "X-User"], "--trusted-proxy"),
        (&["-H", "X User", "--trusted-proxy", "127.0.0.1"], "header name"),
        (&["-c", "a"], "-c: give USER:PASSWORD"),
        (&["-i", "no-such-iface0"], "interface"),
        (&["-U", "root"], "unix socket"),
        (&["-i", "/x.sock", "-U", "no-such-user-xyz"], "unknown user"),
        (&["-s", "SIGNOPE"], "signal name"),
        (&["-t", "novalue"], "KEY=VALUE"),
        (&["-b", "relative"], "base path"),
        (&["-P", "soon"], "duration"),
        (&["-d", "loud"], "bitmask"),
        (&["--threads", "0"], "1 to 1024"),
        (&["--max-connections", "0"], "at least 1"),
        (&["--credential-file", "/nonexistent/users"], "--credential-file /nonexistent/users"),
        (&["--rate-limit", "fast"], "--rate-limit fast"),
        (&["-S"], "-S/--ssl needs -C/--ssl-cert FILE"),
        (&["-S", "-C", "/nonexistent/c.pem", "-K", "/nonexistent/k.pem"], "-C/--ssl-cert /nonexistent/c.pem"),
        (&["-A", "/x.pem"], "without -S"),
    ];
    for (args, needle) in table {
        let e = parse(args).expect_err(&format!("{args:?} must be refused"));
        assert!(e.0.contains(needle), "{args:?}: {e}");
        assert!(!e.0.contains('\n'), "{args:?}: one line: {e}");
    }
    // Auth is on by default, so any address may be bound; --no-auth off loopback too,
    // as asked explicitly (the startup log warns).
    let c = parse(&["-i", "0.0.0.0"]).unwrap();
    assert!(c.admission.auth.is_some() && !c.no_auth);
    let c = parse(&["-i", "0.0.0.0", "--no-auth"]).unwrap();
    assert!(c.admission.auth.is_none());
    let c = parse(&["-c", "a:b", "-H", "X-Forwarded-User", "--trusted-proxy", "10.0.0.0/8"]).unwrap();
    let auth = c.admission.auth.unwrap();
    assert!(auth.basic.is_some() && auth.header.as_deref() == Some("x-forwarded-user"));
}

#[test]
fn syntax_errors_help_and_version_go_through_clap() {
    for args in [&["--bogus"][..], &["-p", "notaport"], &["-h"], &["--version"], &["-v"]] {
        let argv = std::iter::once("ringtty").chain(args.iter().copied());
        assert!(Config::parse_from(argv).is_err(), "{args:?}");
    }
}

#[test]
fn durations() {
    let table = [
        ("10", Some(10_000)),
        ("10s", Some(10_000)),
        ("500ms", Some(500)),
        ("1.5s", Some(1_500)),
        ("5m", Some(300_000)),
        ("1h", Some(3_600_000)),
        ("0", Some(0)),
        ("", None),
        ("10x", None),
        ("-1s", None),
        ("s", None),
    ];
    for (s, want) in table {
        assert_eq!(parse_duration(s).map(|d| d.as_millis() as u64), want, "{s:?}");
    }
}

#[test]
fn session_options() {
    let c = parse(&[
        "--command",
        "top=htop -d 5",
        "--command",
        "sh=sh",
        "--allow-any-command",
        "--max-sessions",
        "10",
        "--detach-timeout",
        "0",
        "--exited-ttl",
        "1m",
        "--kill-grace",
        "2s",
        "--keep-sessions",
        "--scrollback",
        "2M",
        "--window",
        "256K",
        "--node-id",
        "n1",
        "--allow-origin",
        "https://IDE.example.com/,*",
    ])
    .unwrap();
    let s = &c.sessions;
    assert_eq!(s.named_commands[0].0, "top");
    assert_eq!(s.named_commands[0].1, vec![OsString::from("/bin/sh"), "-c".into(), "htop -d 5".into()]);
    assert!(s.allow_any_command);
    assert_eq!((s.max_sessions, s.scrollback, s.window), (10, 2 << 20, 256 << 10));
    assert_eq!(s.detach_timeout, Duration::ZERO);
    assert!(s.keep_sessions);
    assert!(!parse(&[]).unwrap().sessions.keep_sessions);
    assert_eq!(s.node_id.as_deref(), Some("n1"));
    assert_eq!(c.admission.allow_origins, vec!["https://ide.example.com".to_owned(), "*".to_owned()]);
    let table: &[(&[&str], &str)] = &[
        (&["--window", "2M"], "up to the scrollback"),
        (&["--window", "0"], "up to the scrollback"),
        (&["--scrollback", "1K"], "at least 64K"),
        (&["--scrollback", "lots"], "size"),
        (&["--command", "noequals"], "NAME=CMDLINE"),
        (&["--command", "a=x", "--command", "a=y"], "twice"),
        (&["--node-id", "a/b"], "node-id"),
        (&["--allow-origin", "example.com"], "scheme://"),
        (&["--allow-host", "https://term.example.com"], "--allow-host"),
        (&["--allow-host", "a/b"], "--allow-host"),
        (&["--max-sessions", "0"], "at least 1"),
        (&["--core-memory", "1M"], "at least 4M"),
        (&["--core-memory", "many"], "size"),
    ];
    for (args, needle) in table {
        let e = parse(args).expect_err(&format!("{args:?}"));
        assert!(e.0.contains(needle), "{args:?}: {e}");
    }
}

#[test]
fn allow_host_and_allow_origin_names_pass_the_host_check() {
    let c =
        parse(&["--allow-host", "term.example.com,10.1.2.3", "--allow-origin", "https://ide.example.com"])
            .unwrap();
    for ok in ["term.example.com", "10.1.2.3:7681", "ide.example.com", "localhost", "127.0.0.1"] {
        assert_eq!(c.admission.hosts.check(Some(ok.as_bytes())), Ok(()), "{ok}");
    }
    assert!(c.admission.hosts.check(Some(b"evil.example")).is_err());
}

#[test]
fn byte_sizes() {
    for (s, want) in [
        ("1048576", Some(1 << 20)),
        ("512K", Some(512 << 10)),
        ("1M", Some(1 << 20)),
        ("1MiB", Some(1 << 20)),
        ("2g", Some(2 << 30)),
        ("1T", None),
        ("", None),
        ("-1", None),
    ] {
        assert_eq!(parse_bytes(s), want, "{s:?}");
    }
}

#[test]
fn the_default_window_follows_a_smaller_scrollback() {
    let c = parse(&["--scrollback", "256K", "bash"]).unwrap();
    assert_eq!((c.sessions.scrollback, c.sessions.window), (256 << 10, 256 << 10));
    let c = parse(&["bash"]).unwrap();
    assert_eq!(c.sessions.window, 1 << 20);
}

/// A secret file in the temp directory, unique to this test process and `name`.
fn secret_file(name: &str, contents: &[u8], mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!("ringtty-test-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

#[test]
fn auth_secret_file_gives_the_key_and_its_absence_a_random_one() {
    let path = secret_file("config-key", b"0123456789abcdef0123456789abcdef\n", 0o600);
    let c = parse(&["--auth-secret-file", path.to_str().unwrap()]).unwrap();
    assert_eq!(c.auth_secret_file.as_deref(), Some(path.as_path()));
    let token =
        crate::auth::sign(&crate::auth::Claims { exp: 100, ..claims() }, &crate::auth::Key::new(SECRET));
    assert!(crate::auth::verify(token.as_bytes(), &c.auth_key, 50).is_ok());
    // Without a file: a key of its own each start.
    let random = parse(&[]).unwrap();
    assert_eq!(random.auth_secret_file, None);
    assert!(crate::auth::verify(token.as_bytes(), &random.auth_key, 50).is_err());
    let other = parse(&[]).unwrap();
    let token = crate::auth::sign(&crate::auth::Claims { exp: 100, ..claims() }, &random.auth_key);
    assert!(crate::auth::verify(token.as_bytes(), &other.auth_key, 50).is_err());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn auth_secret_file_refusals_are_one_line_with_the_fix() {
    let exposed = secret_file("exposed", SECRET, 0o640);
    let short = secret_file("short", b"too short\n", 0o600);
    let missing = std::env::temp_dir().join("ringtty-test-no-such-secret");
    for (path, says) in [(&exposed, "chmod 600"), (&short, "fewer than 32"), (&missing, "cannot read it")] {
        let e = parse(&["--auth-secret-file", path.to_str().unwrap()]).unwrap_err().0;
        assert!(e.contains(says) && !e.contains('\n'), "{e}");
        let e = token(&["--auth-secret-file", path.to_str().unwrap()]).unwrap_err().0;
        assert!(e.contains(says) && !e.contains('\n'), "{e}");
    }
    std::fs::remove_file(exposed).unwrap();
    std::fs::remove_file(short).unwrap();
}

fn claims() -> crate::auth::Claims {
    crate::auth::Claims {
        sub: None,
        mode: crate::auth::Mode::Ro,
        sid: None,
        admin: false,
        exp: 0,
        nbf: None,
        iat: None,
        jti: None,
    }
}

fn token(args: &[&str]) -> Result<TokenRequest, ConfigError> {
    let argv = std::iter::once("token").chain(args.iter().copied());
    TokenRequest::parse_from(argv).expect("clap accepts the syntax")
}

#[test]
fn token_is_a_subcommand_only_as_the_first_argument() {
    let argv = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
    assert_eq!(crate::cli_tools::subcommand(&argv(&["ringtty", "token"])), Some("token"));
    assert_eq!(crate::cli_tools::subcommand(&argv(&["ringtty", "token", "--sub", "a"])), Some("token"));
    assert_eq!(crate::cli_tools::subcommand(&argv(&["ringtty", "hash-password"])), Some("hash-password"));
    for not in [
        &["ringtty"][..],
        &["ringtty", "--", "token"],
        &["ringtty", "-W", "token"],
        &["ringtty", "tokens"],
        &["ringtty", "bash", "token"],
    ] {
        assert_eq!(crate::cli_tools::subcommand(&argv(not)), None, "{not:?}");
    }
    // And then `token` is the COMMAND, as ttyd would run it.
    for args in [&["--", "token"][..], &["-W", "token", "--sub", "x"]] {
        let c = parse(args).unwrap();
        assert_eq!(c.terminal.command.first().and_then(|s| s.to_str()), Some("token"), "{args:?}");
    }
}

#[test]
fn token_requests_and_their_claims() {
    use crate::auth::Mode;
    let path = secret_file("token-key", SECRET, 0o600);
    let file = path.to_str().unwrap();
    /// Arguments, then the claims they give: sub, mode, sid, admin, ttl.
    type Case<'a> = (&'a [&'a str], Option<&'a str>, Mode, Option<&'a str>, bool, u64);
    let cases: &[Case] = &[
        (&[], None, Mode::Rw, None, false, 3600),
        (&["--sub", "alice"], Some("alice"), Mode::Rw, None, false, 3600),
        (&["--mode", "ro", "--ttl", "10m"], None, Mode::Ro, None, false, 600),
        (&["--session", "n1.AAabcdefghijklmnop"], None, Mode::Ro, Some("n1.AAabcdefghijklmnop"), false, 3600),
        (&["--session", "s", "--mode", "rw"], None, Mode::Rw, Some("s"), false, 3600),
        (&["--admin", "--sub", "root", "--ttl", "7d"], Some("root"), Mode::Rw, None, true, 7 * 86_400),
        (&["--ttl", "1500ms"], None, Mode::Rw, None, false, 2),
        (&["--ttl", "90"], None, Mode::Rw, None, false, 90),
    ];
    for &(args, sub, mode, sid, admin, ttl) in cases {
        let argv: Vec<&str> = args.iter().copied().chain(["--auth-secret-file", file]).collect();
        let r = token(&argv).unwrap();
        let c = r.claims(1_000);
        assert_eq!(
            (c.sub.as_deref(), c.mode, c.sid.as_deref(), c.admin),
            (sub, mode, sid, admin),
            "{args:?}"
        );
        assert_eq!(
            (c.iat, c.exp, c.nbf, c.jti.as_deref()),
            (Some(1_000), 1_000 + ttl, None, None),
            "{args:?}"
        );
        let minted = r.mint(1_000);
        assert_eq!(crate::auth::verify(minted.as_bytes(), &crate::auth::Key::new(SECRET), 1_000), Ok(c));
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn token_refusals_are_one_line() {
    let path = secret_file("token-refusals", SECRET, 0o600);
    let file = path.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--mode", "RW"], "--mode RW: give ro or rw"),
        (&["--mode", "admin"], "give ro or rw"),
        (&["--ttl", "0"], "--ttl 0"),
        (&["--ttl", "forever"], "--ttl forever"),
        (&["--sub", ""], "--sub"),
        (&["--sub", "a\nb"], "--sub"),
        (&["--session", ""], "--session"),
        (&["--session", "a b"], "--session"),
        (&["--session", "s", "--admin"], "--admin with --session"),
    ];
    for &(args, says) in cases {
        let argv: Vec<&str> = args.iter().copied().chain(["--auth-secret-file", file]).collect();
        let e = token(&argv).unwrap_err().0;
        assert!(e.contains(says) && !e.contains('\n'), "{args:?}: {e}");
    }
    let e = token(&["--sub", "alice"]).unwrap_err().0;
    assert!(e.contains("needs --auth-secret-file") && !e.contains('\n'), "{e}");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn fleet_options_need_a_node_name_and_a_shared_key() {
    let dir = std::env::temp_dir().join(format!("ringtty-fleet-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, [7u8; 40]).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let s = secret.to_str().unwrap();
    let c = parse(&[
        "--nats",
        "nats://10.0.0.1:4222, nats://10.0.0.2:4222",
        "--node-id",
        "web-01",
        "--auth-secret-file",
        s,
    ])
    .unwrap();
    let f = c.fleet.unwrap();
    assert_eq!(f.nats, ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]);
    assert_eq!((f.node.as_str(), f.timeout), ("web-01", Duration::from_millis(500)));
    assert_eq!(f.advertise.as_deref(), Some("http://127.0.0.1:7681"), "the bound address");
    assert_eq!(c.drain_timeout, Some(Duration::from_secs(3600)));
    let c = parse(&["--nats", "n:4222", "--node-id", "a", "--auth-secret-file", s, "-i", "0.0.0.0"]).unwrap();
    assert_eq!(c.fleet.unwrap().advertise, None, "0.0.0.0 is no address to give clients");
    let c = parse(&[
        "--nats",
        "n:4222",
        "--node-id",
        "a",
        "--auth-secret-file",
        s,
        "--advertise-url",
        "https://a.example.com/",
        "--fleet-timeout",
        "2s",
        "--drain-timeout",
        "0",
    ])
    .unwrap();
    assert_eq!(c.drain_timeout, None, "0: until the sessions end");
    let f = c.fleet.unwrap();
    assert_eq!((f.advertise.as_deref(), f.timeout), (Some("https://a.example.com"), Duration::from_secs(2)));
    assert!(parse(&[]).unwrap().fleet.is_none());
    let table: &[(&[&str], &str)] = &[
        (&["--nats", "nats://n:4222", "--auth-secret-file", s], "--node-id"),
        (&["--nats", "nats://n:4222", "--node-id", "a"], "--auth-secret-file"),
        (&["--nats", "http://n:4222", "--node-id", "a", "--auth-secret-file", s], "--nats"),
        (&["--nats", ",", "--node-id", "a", "--auth-secret-file", s], "--nats"),
        (
            &["--nats", "n:1", "--node-id", "a", "--auth-secret-file", s, "--fleet-timeout", "0"],
            "--fleet-timeout",
        ),
        (
            &["--nats", "n:1", "--node-id", "a", "--auth-secret-file", s, "--advertise-url", "ftp://x"],
            "--advertise-url",
        ),
        (
            &["--nats", "n:1", "--node-id", "a", "--auth-secret-file", s, "--advertise-url", "http://x/base"],
            "no path",
        ),
        (&["--advertise-url", "http://x"], "--nats"),
        (&["--node-id", "web.1"], "--node-id"),
        (&["--drain-timeout", "soon"], "--drain-timeout"),
    ];
    for (args, needle) in table {
        let e = parse(args).unwrap_err().to_string();
        assert!(e.contains(needle), "{args:?}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_flags_parse_and_refuse_what_is_wrong() {
    assert_eq!(parse(&[]).unwrap().record, None);
    let c = parse(&["--record", "/tmp/casts"]).unwrap();
    assert_eq!(c.record, Some(Record { dir: "/tmp/casts".into(), all: true, max: 64 << 20 }));
    let c = parse(&["--record-dir", "/tmp/casts", "--record-max", "1M"]).unwrap();
    assert_eq!(c.record, Some(Record { dir: "/tmp/casts".into(), all: false, max: 1 << 20 }));
    let c = parse(&["--record", "/a", "--record-dir", "/a"]).unwrap();
    assert!(c.record.unwrap().all);
    for (args, says) in [
        (&["--record", "/a", "--record-dir", "/b"][..], "give one directory"),
        (&["--record-max", "lots"][..], "--record-max lots: give a size"),
        (&["--record-max", "1K"][..], "at least 4K"),
    ] {
        let e = parse(args).unwrap_err().0;
        assert!(e.contains(says), "{args:?}: {e}");
    }
}

#[test]
fn compress_is_off_by_default_terminals_alone_and_all_with_equals() {
    use super::Compress;
    assert_eq!(parse(&[]).unwrap().compress, Compress::Off);
    assert_eq!(parse(&["--compress"]).unwrap().compress, Compress::Terminals);
    assert_eq!(parse(&["--compress=terminals"]).unwrap().compress, Compress::Terminals);
    assert_eq!(parse(&["--compress=all"]).unwrap().compress, Compress::All);
    // The value needs `=`: a word after --compress is the COMMAND.
    let c = parse(&["--compress", "bash"]).unwrap();
    assert_eq!((c.compress, c.terminal.command.len()), (Compress::Terminals, 1));
    let e = parse(&["--compress=yes"]).unwrap_err().to_string();
    assert!(e.contains("--compress=yes") && e.contains("--compress=all"), "{e}");
}
