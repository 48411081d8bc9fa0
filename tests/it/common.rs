//! Shared helpers for integration tests: start the real `ringtty` binary on port 0, talk
//! raw HTTP to it, and count its descriptors. Every wait has a deadline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`, or the unix socket path.
    pub addr: String,
    /// The token of the `Login:` line (an admin who may type), when the server printed
    /// one: every helper below sends it unless a test says otherwise.
    pub token: Option<String>,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_with(args, env, || Ok(()))
    }

    /// Starts the server with `setup` run in its process before exec (limits, umask).
    pub fn start_with(
        args: &[&str],
        env: &[(&str, &str)],
        setup: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringtty"));
        // SAFETY: the tests' setup closures make async-signal-safe calls only
        // (setrlimit, umask).
        unsafe { std::os::unix::process::CommandExt::pre_exec(&mut cmd, setup) };
        if !args.iter().any(|a| *a == "-p" || *a == "-i") {
            cmd.args(["-p", "0"]);
        }
        // CI runs the suite once per IO path (.ci/run): `RINGTTY_TEST_IO=uring`.
        if let Ok(io) = std::env::var("RINGTTY_TEST_IO") {
            cmd.args(["--io", &io]);
        }
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ringtty");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Auth is on by default: the server prints a login line unless the arguments
        // give another way in (or turn auth off).
        let login_line = !gives_another_way_in(args);
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            let mut line = String::new();
            let _ = out.read_line(&mut line);
            let mut login = String::new();
            if login_line {
                let _ = out.read_line(&mut login);
            }
            let _ = tx.send((line, login));
            // Keep reading (and dropping) what follows, so the server never writes
            // into a closed pipe.
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        let (line, login) = rx.recv_timeout(DEADLINE).unwrap_or_default();
        let token = login
            .trim()
            .strip_prefix("Login: ")
            .and_then(|url| url.split_once("?token="))
            .map(|(_, t)| t.to_owned())
            .or_else(|| login.trim().strip_prefix("Login token: ").map(str::to_owned));
        let addr = line.trim().strip_prefix("Listening on ").map(|a| {
            a.trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/')
                .trim_start_matches("unix:")
                .to_owned()
        });
        let Some(addr) = addr else {
            let _ = child.kill();
            panic!("no listening line; stderr: {}", stderr.lock().unwrap());
        };
        if login_line {
            assert!(token.is_some(), "no Login line after {line:?}: {login:?}");
        }
        Server { child, addr, token, stderr }
    }

    /// `Authorization: Bearer TOKEN\r\n`, or nothing when the server has no token.
    pub fn auth(&self) -> String {
        self.token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default()
    }

    /// A WebSocket handshake request for `path` (tungstenite), with the token.
    pub fn ws_request(&self, path: &str) -> tungstenite::handshake::client::Request {
        use tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}{path}", self.addr).into_client_request().unwrap();
        if let Some(t) = &self.token {
            req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        req
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid() as i32, sig) };
    }

    /// Waits for the process to exit, failing the test after the deadline.
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < until, "ringtty did not exit within {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// Whether the server's options turn auth off or give a way in besides the printed
/// token (then it prints no `Login:` line). Options end at `--`; `-c` there is a
/// credential only as `USER:PASS` (after a shell, it is the shell's).
fn gives_another_way_in(args: &[&str]) -> bool {
    let options = args.iter().position(|a| *a == "--").map_or(args, |end| &args[..end]);
    let other_way =
        ["--no-auth", "--auth-secret-file", "--credential", "-H", "--auth-header", "--credential-file"];
    options.iter().enumerate().any(|(i, a)| {
        other_way.contains(a)
            || (*a == "-c"
                && options.get(i + 1).is_some_and(|v| v.contains(':') && !v.contains(' '))
                && !options.get(i.wrapping_sub(1)).is_some_and(|prev| prev.ends_with("sh")))
    })
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads one response from `r`. `head_only` for HEAD requests (no body despite length).
pub fn read_response(r: &mut impl Read, head_only: bool) -> Option<Response> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match r.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(": ").map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; if head_only { 0 } else { len }];
    r.read_exact(&mut body).ok()?;
    Some(Response { status, headers, body })
}

/// One request on a fresh connection, as the server's owner: the token goes in after
/// the request line unless the request carries a credential of its own.
pub fn request(server: &Server, raw: &str) -> Response {
    request_anon(server, &with_auth(server, raw))
}

/// `raw` (one request or a pipelined batch) with the server's token added to every
/// request's head (after its request line), unless `raw` carries a credential of its
/// own (`Authorization` or `Cookie`).
pub fn with_auth(server: &Server, raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    if lower.contains("\r\nauthorization:") || lower.contains("\r\ncookie:") {
        return raw.to_owned();
    }
    let auth = server.auth();
    raw.replace(" HTTP/1.1\r\n", &format!(" HTTP/1.1\r\n{auth}"))
        .replace(" HTTP/1.0\r\n", &format!(" HTTP/1.0\r\n{auth}"))
}

/// One request on a fresh connection, exactly as given (no credential added).
pub fn request_anon(server: &Server, raw: &str) -> Response {
    let mut s = server.connect();
    s.write_all(raw.as_bytes()).unwrap();
    read_response(&mut s, raw.starts_with("HEAD ")).expect("a response")
}

pub fn get(server: &Server, path: &str) -> Response {
    request(server, &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
}

/// True when the peer closed: read returns 0 (or a reset) before the deadline.
pub fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}
