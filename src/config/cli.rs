//! The raw command line. ttyd's options keep ttyd's letters, names and meaning so that a
//! ttyd command line runs unchanged; everything after COMMAND belongs to COMMAND.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser};

#[derive(Debug, Parser)]
#[command(
    name = "ringtty",
    version,
    about = "Serve terminals to web browsers: COMMAND runs in a PTY, browsers and WebSocket \
             clients drive it.",
    disable_help_flag = true,
    disable_version_flag = true,
    trailing_var_arg = true,
    after_help = "Options after COMMAND belong to COMMAND. Durations take a unit: 500ms, 10s, 5m, 1h \
                  (a bare number is seconds). `ringtty hash-password` prints a --credential-file line."
)]
pub struct Args {
    /// Port to listen on (0 = any free port; the chosen port is printed)
    #[arg(short = 'p', long, default_value_t = 7681, value_name = "PORT")]
    pub port: u16,

    /// Address (127.0.0.1, ::1, 0.0.0.0), interface name (eth0), or a unix socket path
    /// ending in .sock or .socket to listen on [default: 127.0.0.1, or ::1 with -6]
    #[arg(short = 'i', long, value_name = "ADDR|IFACE|PATH")]
    pub interface: Option<String>,

    /// Owner of the unix socket file (user or user:group, names or ids)
    #[arg(short = 'U', long = "socket-owner", value_name = "USER[:GROUP]")]
    pub socket_owner: Option<String>,

    /// Prefer IPv6: the default address becomes ::1 and interfaces resolve to IPv6
    #[arg(short = '6', long)]
    pub ipv6: bool,

    /// Worker threads, each pinned to one CPU [default: the CPUs this process may use]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Base path when served behind a reverse proxy (e.g. /mounted/here)
    #[arg(short = 'b', long = "base-path", value_name = "PATH")]
    pub base_path: Option<String>,

    /// Turn authentication off: whoever reaches the port gets a terminal (on by default:
    /// a token printed at startup, passwords, or an auth proxy)
    #[arg(long = "no-auth")]
    pub no_auth: bool,

    /// Clients may type into the terminal (read-only by default)
    #[arg(short = 'W', long)]
    pub writable: bool,

    /// Working directory of the command
    #[arg(short = 'w', long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// TERM for the command
    #[arg(short = 'T', long = "terminal-type", default_value = "xterm-256color", value_name = "TERM")]
    pub terminal_type: String,

    /// Signal sent to the command when a session is closed (name or number)
    #[arg(short = 's', long, default_value = "SIGHUP", value_name = "SIGNAL")]
    pub signal: String,

    /// Let clients append command-line arguments in the URL (?arg=foo&arg=bar)
    #[arg(short = 'a', long = "url-arg")]
    pub url_arg: bool,

    /// Option passed to the web client (KEY=VALUE, repeatable)
    #[arg(short = 't', long = "client-option", value_name = "KEY=VALUE")]
    pub client_option: Vec<String>,

    /// Maximum WebSocket clients across all sessions (0 = no limit)
    #[arg(short = 'm', long = "max-clients", default_value_t = 0, value_name = "N")]
    pub max_clients: usize,

    /// Serve one session and exit when it ends
    #[arg(short = 'o', long)]
    pub once: bool,

    /// Exit when no session has a client
    #[arg(short = 'q', long = "exit-no-conn")]
    pub exit_no_conn: bool,

    /// Accepted for ttyd compatibility: the origin check is always on
    #[arg(short = 'O', long = "check-origin")]
    pub check_origin: bool,

    /// Custom index.html to serve at /
    #[arg(short = 'I', long, value_name = "FILE")]
    pub index: Option<PathBuf>,

    /// WebSocket ping interval
    #[arg(short = 'P', long = "ping-interval", default_value = "5s", value_name = "DUR")]
    pub ping_interval: String,

    /// Accepted for ttyd compatibility and ignored: PTY reads use the buffer pool's size
    #[arg(short = 'f', long = "srv-buf-size", value_name = "BYTES")]
    pub srv_buf_size: Option<usize>,

    /// Accepted for ttyd compatibility and ignored: a server has no browser to open
    #[arg(short = 'B', long)]
    pub browser: bool,

    /// User id to run as after binding (requires root)
    #[arg(short = 'u', long, value_name = "UID")]
    pub uid: Option<u32>,

    /// Group id to run as after binding (requires root)
    #[arg(short = 'g', long, value_name = "GID")]
    pub gid: Option<u32>,

    /// A user and password (ttyd's basic auth): `Authorization: Basic`, ttyd's AuthToken
    /// and the login page accept them; prefer --credential-file (this shows in `ps`)
    #[arg(short = 'c', long, value_name = "USER:PASS")]
    pub credential: Option<String>,

    /// Trust an auth proxy's header naming the user (only from --trusted-proxy peers);
    /// the child gets it as RINGTTY_USER and TTYD_USER
    #[arg(short = 'H', long = "auth-header", value_name = "NAME")]
    pub auth_header: Option<String>,

    /// Users with PBKDF2 password hashes, one user:$pbkdf2-sha256$... per line, made by
    /// `ringtty hash-password` (the login page checks them; SIGHUP rereads the file)
    #[arg(long = "credential-file", value_name = "FILE")]
    pub credential_file: Option<PathBuf>,

    /// Peers allowed to connect: CIDR ranges or addresses, comma-separated; others are
    /// closed at accept, before a byte is read
    #[arg(long = "allow-ip", value_name = "CIDR,...")]
    pub allow_ip: Option<String>,

    /// Proxies whose X-Forwarded-For and -H header are believed: CIDR ranges or addresses
    #[arg(long = "trusted-proxy", value_name = "CIDR,...")]
    pub trusted_proxy: Option<String>,

    /// Requests per client IP (IPv6 per /64): N at once, N more per PERIOD, e.g. 10/s,
    /// 600/m, 100/10s; over it, 429 with Retry-After
    #[arg(long = "rate-limit", value_name = "N/PERIOD")]
    pub rate_limit: Option<String>,

    /// Serve HTTPS and WSS (TLS 1.2 and 1.3) with -C and -K; SIGHUP rereads the files
    #[arg(short = 'S', long)]
    pub ssl: bool,
    /// With -S: the certificate chain, PEM, the server's certificate first
    #[arg(short = 'C', long = "ssl-cert", value_name = "FILE")]
    pub ssl_cert: Option<PathBuf>,
    /// With -S: the certificate's private key, PEM
    #[arg(short = 'K', long = "ssl-key", value_name = "FILE")]
    pub ssl_key: Option<PathBuf>,
    /// With -S: require client certificates signed by these CAs (PEM)
    #[arg(short = 'A', long = "ssl-ca", value_name = "FILE")]
    pub ssl_ca: Option<PathBuf>,
    /// With -A: the name of a verified client certificate that is its user when the
    /// request brings no token: cn (subject common name), dns or uri (first such
    /// subject alternative name) [default: cn]
    #[arg(long = "ssl-user", value_name = "cn|dns|uri")]
    pub ssl_user: Option<String>,

    /// HMAC key for tokens: a file of at least 32 bytes that only its owner may read or
    /// write (one trailing newline is not part of the key) [default: a random key per
    /// start]
    #[arg(long = "auth-secret-file", value_name = "FILE")]
    pub auth_secret_file: Option<PathBuf>,

    /// Host names accepted besides the bound address, localhost and loopback addresses
    /// (comma-separated; the DNS-rebinding defence; * = any, when a proxy checks Host)
    #[arg(long = "allow-host", value_name = "NAME,...", value_delimiter = ',')]
    pub allow_host: Vec<String>,

    /// Origins accepted besides the server's own (comma-separated; * = any)
    #[arg(long = "allow-origin", value_name = "ORIGIN,...", value_delimiter = ',')]
    pub allow_origin: Vec<String>,

    /// A named command that POST /api/sessions may start (NAME=CMDLINE, repeatable;
    /// CMDLINE runs with /bin/sh -c)
    #[arg(long = "command", value_name = "NAME=CMDLINE")]
    pub named_command: Vec<String>,

    /// Let POST /api/sessions run any command and environment (off by default)
    #[arg(long = "allow-any-command")]
    pub allow_any_command: bool,

    /// Maximum sessions (503 beyond it)
    #[arg(long = "max-sessions", default_value_t = 1024, value_name = "N")]
    pub max_sessions: usize,

    /// How long a session without clients lives (0 = kill on disconnect, like ttyd)
    #[arg(long = "detach-timeout", default_value = "60s", value_name = "DUR")]
    pub detach_timeout: String,

    /// How long an exited session stays listed with its status and scrollback
    #[arg(long = "exited-ttl", default_value = "5m", value_name = "DUR")]
    pub exited_ttl: String,

    /// Keep sessions started by POST /api/sessions without a "keep" field: no detach
    /// timeout, they live until killed or --exited-ttl after their command exits (the
    /// terminal page's own session is not kept unless its URL says keep=true)
    #[arg(long = "keep-sessions")]
    pub keep_sessions: bool,

    /// Time between the close signal and SIGKILL when a session is terminated
    #[arg(long = "kill-grace", default_value = "5s", value_name = "DUR")]
    pub kill_grace: String,

    /// Scrollback kept per session, counted as memory held (e.g. 1M, 512K)
    #[arg(long, default_value = "1M", value_name = "BYTES")]
    pub scrollback: String,

    /// Output memory per worker, shared by its sessions' scrollback (the core's budget:
    /// when it is used up the largest scrollbacks give up their oldest output)
    /// [default: 64M, or 48K per session of the worker's share of --max-sessions]
    #[arg(long = "core-memory", value_name = "BYTES")]
    pub core_memory: Option<String>,

    /// Flow-control window of the driving client, at most the scrollback [default: 1M,
    /// or the scrollback if smaller]
    #[arg(long, value_name = "BYTES")]
    pub window: Option<String>,

    /// Prefix of session ids on this node, for routing by a load balancer
    #[arg(long = "node-id", value_name = "NAME")]
    pub node_id: Option<String>,

    /// Live upgrade: a unix socket where this process hands its listeners and sessions
    /// to the next ringtty started with the same option (which takes them over at
    /// startup instead of binding); children then outlive a crash of the server until
    /// their terminal's hangup (docs/FLEET.md)
    #[arg(long = "handover", value_name = "PATH")]
    pub handover: Option<PathBuf>,

    /// Join a fleet over NATS: fleet-wide listing, kill switch, revocation, heartbeats
    /// (comma-separated server URLs; needs --node-id and --auth-secret-file)
    #[arg(long = "nats", value_name = "URL")]
    pub nats: Option<String>,

    /// How long a fleet-wide call waits for the other nodes' answers
    #[arg(long = "fleet-timeout", default_value = "500ms", value_name = "DUR")]
    pub fleet_timeout: String,

    /// This node's own address for clients, for the redirect a request for one of its
    /// sessions gets on another node [default: the bound address, unless 0.0.0.0]
    #[arg(long = "advertise-url", value_name = "URL")]
    pub advertise_url: Option<String>,

    /// How long a draining node (POST /api/admin/drain, SIGUSR2) waits for its sessions
    /// to end before it stops anyway (0: until they end)
    #[arg(long = "drain-timeout", default_value = "1h", value_name = "DUR")]
    pub drain_timeout: String,

    /// Let other sites embed the web UI in a frame (default: X-Frame-Options: DENY)
    #[arg(long = "allow-embedding")]
    pub allow_embedding: bool,

    /// How workers read terminals: epoll (readiness, then read(2)), uring (io_uring
    /// multishot reads into the pool's buffers, Linux 6.7+), or auto: uring where the
    /// kernel has it [default: epoll]
    #[arg(long = "io", value_name = "uring|epoll|auto")]
    pub io: Option<String>,

    /// Serve a WebSocket echo at PATH (for conformance tools such as Autobahn)
    #[arg(long = "ws-echo", value_name = "PATH")]
    pub ws_echo: Option<String>,

    /// Compress WebSocket messages (permessage-deflate) for clients that offer it: the
    /// terminals' WebSockets (--compress, same as --compress=terminals), or also the
    /// --ws-echo endpoint (--compress=all) [default: off]
    #[arg(
        long = "compress",
        value_name = "terminals|all",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "terminals"
    )]
    pub compress: Option<String>,

    /// Write one JSON line per HTTP request and per WebSocket connection's end to FILE
    /// (appended; reopened on SIGHUP, for logrotate) or to stdout with -
    #[arg(long = "access-log", value_name = "FILE|-")]
    pub access_log: Option<PathBuf>,

    /// Record every session in asciicast v2 to DIR/<session-id>.cast (output and
    /// resizes, never input; mode 0600); implies --record-dir DIR
    #[arg(long = "record", value_name = "DIR")]
    pub record: Option<PathBuf>,

    /// Where sessions created with "record": true are recorded (POST /api/sessions)
    #[arg(long = "record-dir", value_name = "DIR")]
    pub record_dir: Option<PathBuf>,

    /// Largest recording per session: at this size it ends with a marker saying it was
    /// truncated (e.g. 64M, 512K)
    #[arg(long = "record-max", default_value = "64M", value_name = "BYTES")]
    pub record_max: String,

    /// Open connections per worker; beyond it new connections get 503
    #[arg(long = "max-connections", default_value_t = 16384, value_name = "N")]
    pub max_connections: usize,

    /// Time a client has to send a whole request head (slowloris guard)
    #[arg(long = "http-head-timeout", default_value = "10s", value_name = "DUR")]
    pub http_head_timeout: String,

    /// Time a client has to send a whole request body, from the end of its head
    #[arg(long = "http-body-timeout", default_value = "30s", value_name = "DUR")]
    pub http_body_timeout: String,

    /// Time an idle keep-alive connection is kept open
    #[arg(long = "http-idle-timeout", default_value = "60s", value_name = "DUR")]
    pub http_idle_timeout: String,

    /// Time connections get to finish after SIGTERM/SIGINT before they are cut
    #[arg(long = "shutdown-timeout", default_value = "5s", value_name = "DUR")]
    pub shutdown_timeout: String,

    /// Log level: error, warn, info, debug, or a ttyd/libwebsockets bitmask (7 = info)
    #[arg(short = 'd', long, default_value = "info", value_name = "LEVEL")]
    pub debug: String,

    /// Print the version and exit
    #[arg(short = 'v', long, action = ArgAction::Version)]
    pub version: Option<bool>,

    /// Print this help and exit
    #[arg(short = 'h', long, action = ArgAction::Help)]
    pub help: Option<bool>,

    /// The command to run in each terminal, with its arguments
    #[arg(value_name = "COMMAND", num_args = 0..)]
    pub command: Vec<OsString>,
}

/// `ringtty token ...`: mint one token with the server's secret file (SPEC §6). Only the
/// very first argument names the subcommand; see [`crate::cli_tools::subcommand`].
#[derive(Debug, Parser)]
#[command(
    name = "ringtty token",
    bin_name = "ringtty token",
    about = "Print one token (an HS256 JWT) signed with the server's --auth-secret-file.",
    disable_version_flag = true
)]
pub struct TokenArgs {
    /// The user the token names (claim `sub`)
    #[arg(long, value_name = "USER")]
    pub sub: Option<String>,

    /// ro: watch only; rw: may also type where the server lets clients (-W)
    /// [default: rw, or ro with --session]
    #[arg(long, value_name = "ro|rw")]
    pub mode: Option<String>,

    /// Limit the token to one session, for a share link (claim `sid`)
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,

    /// How long the token is valid (500ms rounds up to 1s)
    #[arg(long, default_value = "1h", value_name = "DUR")]
    pub ttl: String,

    /// The token sees and controls every user's sessions (claim `admin`)
    #[arg(long)]
    pub admin: bool,

    /// The token's id (`jti`), by which an admin can revoke it (POST /api/admin/revoke)
    /// [default: random]
    #[arg(long, value_name = "ID")]
    pub jti: Option<String>,

    /// The server's secret file (required: the same FILE as `ringtty --auth-secret-file`)
    #[arg(long = "auth-secret-file", value_name = "FILE")]
    pub auth_secret_file: Option<PathBuf>,
}
