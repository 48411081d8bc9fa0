//! The command line: one scenario, its bounds (sessions, rate, duration, cycles), the
//! target (a URL, or `--raw` for a local PTY with no server) and the outputs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Load generator and measurement harness for ringtty (and the raw-PTY baseline).
///
/// Start the server with `--allow-any-command -W` (the scenarios create their sessions
/// with `POST /api/sessions` and a command of their own), pass its pid with `--pid` to
/// sample its RSS, CPU time, threads, fds, PTYs and children from /proc, and compare
/// with `--raw`: the same child on a local PTY with the same termios, no server. With
/// authentication on (ringtty's default), give the token: `--token-file FILE`, or the
/// server's printed `Login:` URL as `--url`. Against `ringtty -S` (HTTPS, WSS) add `--tls
/// --ca-file CA.pem`, or give an `https://` URL.
///
/// Every run is bounded: --sessions connections (or --cycles), --duration, and a
/// per-operation --timeout. Progress goes to stderr, the table to stdout, and
/// --json FILE writes the machine-readable report (perf/README.md documents it).
#[derive(Debug, Parser)]
#[command(name = "ringtty-bench", version, about, long_about, max_term_width = 100)]
pub struct Args {
    /// What to measure.
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// The server's base URL (http:// or https://; loopback or an address you name). The
    /// server's `Login:` URL works as it is: its `?token=` is the token, and the query is
    /// dropped.
    #[arg(long, default_value = "http://127.0.0.1:7681")]
    pub url: String,

    /// Speak TLS to the server (HTTPS, WSS), as `ringtty -S` serves; implied by an
    /// `https://` --url. Needs --ca-file: the server's certificate is always verified,
    /// for the URL's host.
    #[arg(long, conflicts_with = "raw")]
    pub tls: bool,

    /// The CA certificate(s), PEM, that the server's certificate must chain to (the only
    /// roots trusted; required with --tls).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// With --tls: every connection does a full handshake. By default the harness keeps
    /// the server's session tickets and resumes with them, as a browser does (the
    /// `handshake` scenario measures both kinds either way).
    #[arg(long)]
    pub no_resumption: bool,

    /// A file holding the token (JWT) for a server with authentication on, e.g. the
    /// output of `ringtty token --auth-secret-file KEY > FILE`; whitespace around it is
    /// ignored. Sent as `Authorization: Bearer` on every request and WebSocket upgrade,
    /// and as ttyd's `AuthToken`.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,

    /// The token itself (visible in `ps`: prefer --token-file or the Login URL).
    #[arg(long, value_name = "JWT")]
    pub token: Option<String>,

    /// The server's pid, sampled from /proc before, during (every second) and after.
    #[arg(long)]
    pub pid: Option<u32>,

    /// Concurrent sessions (echo, throughput, connect, stability, idle, upgrade), parallel
    /// workers (churn, handshake) or keep-alive clients (api).
    #[arg(long, default_value_t = 1)]
    pub sessions: usize,

    /// echo: keystrokes per second per session (default 10); stability: pings per
    /// second per session (default 1); api: rounds per second per client (default: as
    /// fast as the server answers); upgrade: numbered lines per second per session
    /// (default 100).
    #[arg(long)]
    pub rate: Option<f64>,

    /// How long to measure (echo, stability) or stay idle (idle); the upper bound of a
    /// throughput, churn or api run; upgrade: how long to wait for the upgrade once ready.
    /// Accepts `500ms`, `10s`, `2m`, or plain seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// throughput: extra read-only viewers attached to every session (fan-out).
    #[arg(long, default_value_t = 0)]
    pub viewers: usize,

    /// churn: create/attach/detach/destroy cycles in total; api: rounds in total;
    /// handshake: connections per kind (full, resumed); fleet: list calls per kind
    /// (fleet-wide and local).
    #[arg(long, default_value_t = 100)]
    pub cycles: usize,

    /// throughput: bytes each session's generator feeds to base64 (K/M/G suffixes,
    /// binary); the terminal output is about 4/3 of it.
    #[arg(long, default_value = "16M", value_parser = parse_bytes)]
    pub bytes: u64,

    /// burst: bytes of base64 each child prints per burst (K/M/G suffixes).
    #[arg(long, default_value = "64K", value_parser = parse_bytes)]
    pub burst_bytes: u64,

    /// Replace the scenario's child with `sh -c CMD` (throughput: the generator).
    #[arg(long)]
    pub command: Option<String>,

    /// Sessions being created at once (the server's spawn queue holds 64).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,

    /// Send an ack once this many output bytes are unacknowledged (a browser acks
    /// what it rendered; the server's default window is 1 MiB).
    #[arg(long, default_value_t = 64 * 1024)]
    pub ack_bytes: u64,

    /// Upper bound of any single step (create, upgrade, first byte, drain).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// The same child on a local PTY (same termios), no server: the physical baseline.
    #[arg(long)]
    pub raw: bool,

    /// With --raw: reach each PTY through a minimal relay (one thread, epoll, a
    /// socketpair per terminal, no framing): the floor for any server in the middle.
    #[arg(long, requires = "raw")]
    pub relay: bool,

    /// The WebSocket protocol: ringtty's native one (sessions by REST, acks), or ttyd's
    /// `tty` protocol on `/ws` (one process per connection; start the server with
    /// `-W -a env` so the harness's command line arrives as URL arguments).
    #[arg(long, value_enum, default_value_t = Protocol::Native)]
    pub protocol: Protocol,

    /// fleet: the fleet's other nodes, comma-separated base URLs (--url is node 1, where
    /// the kill switch and revocations are called; naming it here again is fine).
    #[arg(long, value_name = "URL,...", value_delimiter = ',')]
    pub nodes: Vec<String>,

    /// fleet: the nodes' --auth-secret-file, to mint the tokens of the users whose
    /// sessions are killed and of the tokens revoked (each with its own jti). The
    /// token given by --token-file must be an admin's.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// fleet: sessions (child `cat`) created on every node and listed.
    #[arg(long, default_value_t = 100)]
    pub sessions_per_node: usize,

    /// fleet: sessions per node of the user the kill switch ends, in every round
    /// (at most 1000: one page of a node's list).
    #[arg(long, default_value_t = 100)]
    pub kill_sessions: usize,

    /// fleet: kill-switch rounds.
    #[arg(long, default_value_t = 3)]
    pub kill_rounds: usize,

    /// fleet: tokens revoked, one after the other, each polled on every node until
    /// refused.
    #[arg(long, default_value_t = 20)]
    pub revocations: usize,

    /// fleet: the pause between two polls of a node's list while the kill switch
    /// propagates (0: back to back); with a poll's round trip, the resolution of the
    /// kill timings. Revocations are probed back to back.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    pub poll: Duration,

    /// upgrade: created (holding the client count) once every client reads its session
    /// and the reference is measured: the new process may be started.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,

    /// Write the report as JSON to this file (`-` for stdout, replacing the table).
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// How the harness talks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// `POST /api/sessions` + `GET /api/sessions/{id}/ws` (SPEC §4).
    Native,
    /// ttyd's protocol: `GET /ws?arg=...` with subprotocol `tty` (SPEC §5).
    Tty,
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Keystroke → echo latency: --sessions sessions each typing --rate keys/s for
    /// --duration into `stty raw -echo; exec cat` (every byte comes back once, through
    /// the child, as a shell's line editor echoes). p50/p95/p99/p99.9/max and errors.
    Echo,
    /// Output throughput: --sessions sessions each printing `head -c --bytes /dev/zero |
    /// base64` as fast as the server forwards it, to one driver that acks and --viewers
    /// viewers; MB/s delivered and server CPU-seconds per GB (--pid).
    Throughput,
    /// Connect storm: --sessions creators at once (at most --concurrency creating),
    /// each POST /api/sessions (child `sh -c 'echo x; exec cat'`) → WebSocket attach →
    /// first output byte; latencies, sessions/s, server memory per session (--pid).
    Connect,
    /// REST API latency: --sessions keep-alive clients each doing rounds of POST
    /// /api/sessions (child `cat`), GET the session, GET the list, DELETE, for --cycles
    /// rounds in all or --duration, as fast as answered or at --rate rounds/s per client.
    Api,
    /// Connection stability: --sessions attached sessions, each sending a WebSocket ping
    /// every second (--rate pings/s) for --duration; pong rate and latency, disconnects.
    Stability,
    /// Idle sessions: --sessions sessions attached and silent for --duration; server RSS
    /// and fds per session and its idle CPU (--pid); then the echo latency of a sample of
    /// 10 of them (10 keys/s for 2 s), to show idle sessions cost nothing to the rest.
    Idle,
    /// Leak check: --cycles create → attach → first byte → detach → DELETE → exited →
    /// removed, by --sessions workers; server RSS, fds, PTYs, threads, children and
    /// zombies before and after (--pid), and a verdict.
    Churn,
    /// Output spikes: --sessions idle sessions all triggered at once, --rate times a
    /// second (default 1) for --duration; each child answers with --burst-bytes of
    /// base64; latency from the trigger to the burst's last byte, MB/s, gaps.
    Burst,
    /// Connection setup rate: --cycles new connections by --sessions workers, each
    /// TCP connect (+ TLS handshake) → `GET /health` (`Connection: close`) → the server's
    /// close; with TLS once with full handshakes and once resuming session tickets.
    /// Handshakes/s and server CPU per handshake (--pid).
    Handshake,
    /// The fleet (--nats): --url and --nodes each holding --sessions-per-node sessions;
    /// the fleet-wide list (`?scope=fleet`) against one node's own, --cycles calls each;
    /// the kill switch, from the call to each session of the user on every node leaving
    /// `running`; a revocation, from the call to each node answering 401.
    Fleet,
    /// Live upgrade (--handover): --sessions sessions each printing a numbered line
    /// --rate times a second, a client each; the close -> `hello` time of every client
    /// reconnecting with `since`, alone and all at once (the reference), then when the
    /// server closes them with 1001 for the new process (started by someone else once
    /// --ready-file exists); every line checked, once and in order.
    Upgrade,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Echo => "echo",
            Scenario::Throughput => "throughput",
            Scenario::Connect => "connect",
            Scenario::Churn => "churn",
            Scenario::Api => "api",
            Scenario::Stability => "stability",
            Scenario::Idle => "idle",
            Scenario::Burst => "burst",
            Scenario::Handshake => "handshake",
            Scenario::Fleet => "fleet",
            Scenario::Upgrade => "upgrade",
        }
    }
}

/// `250ms`, `10s`, `2m`, `1h`, or a plain number of seconds (fractions allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration (e.g. 500ms, 10s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit `{unit}` in `{s}` (use ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

/// `4096`, `64K`, `16M`, `1G` (binary multiples; an optional trailing `i`/`B`).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches(['B', 'b']).trim_end_matches('i');
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a byte count (e.g. 64K, 16M)"))?;
    let mult = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        _ => return Err(format!("unknown unit `{unit}` in `{s}` (use K, M, G)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn token_options_are_exclusive() {
        let parse = |extra: &[&str]| Args::try_parse_from(["ringtty-bench", "echo"].iter().chain(extra));
        let a = parse(&["--token-file", "/t"]).unwrap();
        assert_eq!((a.token_file.as_deref(), a.token), (Some(std::path::Path::new("/t")), None));
        assert_eq!(parse(&["--token", "a.b.c"]).unwrap().token.as_deref(), Some("a.b.c"));
        let both = parse(&["--token", "a.b.c", "--token-file", "/t"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn tls_is_not_raw() {
        let parse = |extra: &[&str]| Args::try_parse_from(["ringtty-bench", "echo"].iter().chain(extra));
        assert!(parse(&["--tls", "--ca-file", "/ca.pem"]).unwrap().tls);
        let both = parse(&["--tls", "--raw"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("64K"), Ok(65536));
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert!(parse_bytes("1T").is_err());
    }
}
