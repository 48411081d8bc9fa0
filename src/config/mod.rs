//! Raw flags -> a validated, typed [`Config`]. Every error is one line that says what is
//! wrong and how to fix it; `main` prints it and exits non-zero.

pub mod access;
mod cli;
mod secret;
#[cfg(test)]
mod tests;
mod token;

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

pub use access::credential_file;
pub use cli::{Args, TokenArgs};
pub use token::TokenRequest;

use crate::http::Limits;
use crate::log::Level;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// One `SO_REUSEPORT` listener per worker on this address (port 0 = any free port).
    Tcp(SocketAddr),
    /// One listening socket shared by all workers; `owner` is (uid, gid) for `chown`.
    Unix { path: PathBuf, owner: Option<(u32, Option<u32>)> },
}

/// What runs in a terminal and how clients may use it (ttyd's options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// COMMAND and its arguments; empty when none was given.
    pub command: Vec<OsString>,
    pub writable: bool,
    pub cwd: Option<PathBuf>,
    pub term: String,
    /// Signal number sent to a session's child when it is closed.
    pub signal: i32,
    pub url_arg: bool,
    pub client_options: Vec<(String, String)>,
    pub max_clients: usize,
    pub once: bool,
    pub exit_no_conn: bool,
    pub index: Option<PathBuf>,
    pub ping_interval: Duration,
}

/// Session limits and timers (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sessions {
    /// `--command NAME=CMDLINE`: NAME -> argv (`/bin/sh -c CMDLINE`).
    pub named_commands: Vec<(String, Vec<OsString>)>,
    pub allow_any_command: bool,
    pub max_sessions: usize,
    pub detach_timeout: Duration,
    pub exited_ttl: Duration,
    pub kill_grace: Duration,
    /// `--keep-sessions`: a session created without `"keep"` is kept (no detach timeout).
    pub keep_sessions: bool,
    /// Bytes of memory a session's scrollback may hold.
    pub scrollback: usize,
    /// The driver's flow-control window in bytes (≤ scrollback).
    pub window: usize,
    pub node_id: Option<String>,
    /// `--core-memory`: each worker's output buffer budget; `None` sizes it by
    /// `--max-sessions`.
    pub core_memory: Option<usize>,
}

// Not `PartialEq`: the token key cannot be compared (ring keeps it opaque).
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Listen,
    pub threads: NonZeroUsize,
    /// The CPUs this process may run on; worker `i` is pinned to `cpus[i % cpus.len()]`.
    pub cpus: Vec<usize>,
    /// `""` or `/prefix` without a trailing slash.
    pub base_path: String,
    pub log_level: Level,
    pub http: Limits,
    pub head_timeout: Duration,
    /// The whole body's deadline, counted from the end of its head: a total, not a
    /// time between reads, so a byte now and then cannot hold a body's memory open.
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// Open connections per worker.
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
    pub no_auth: bool,
    /// `--allow-ip`: TCP peers outside these ranges are closed at accept, before a byte
    /// is read.
    pub allow_ip: Option<crate::auth::CidrList>,
    /// The key tokens are signed and verified with: from `--auth-secret-file`, else
    /// random for this run (the login URL's token is signed with it).
    pub auth_key: crate::auth::Key,
    /// `--auth-secret-file`, when the key came from one.
    pub auth_secret_file: Option<PathBuf>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub terminal: Terminal,
    pub sessions: Sessions,
    /// The admission point's policy: the `Host` values answered (the bound address,
    /// localhost, loopback addresses, `--allow-host` and the hosts of `--allow-origin`)
    /// and `--allow-origin`, normalized.
    pub admission: crate::auth::Policy,
    /// The WebSocket echo endpoint's path (relative to the base path), if enabled.
    pub ws_echo: Option<String>,
    /// `--compress`: which WebSockets accept permessage-deflate.
    pub compress: Compress,
    /// `--io`: how workers read terminals (default epoll until the io_uring path
    /// measures better: docs/PERFORMANCE.md). `Auto` is resolved at startup.
    pub io: Io,
    /// `-c`, `--credential-file`, `--trusted-proxy`, `--rate-limit`, parsed.
    pub access: access::Access,
    /// `-S`: connections speak TLS with these settings (reloaded on SIGHUP).
    pub tls: Option<std::sync::Arc<crate::tls::Tls>>,
    /// `--allow-embedding`: the web UI may be framed by other sites.
    pub allow_embedding: bool,
    /// `--access-log`: where the access log goes, if anywhere.
    pub access_log: Option<AccessLogTarget>,
    /// `--record`, `--record-dir`, `--record-max`: asciicast recordings, if enabled.
    pub record: Option<Record>,
    /// Notes for the startup log about accepted-but-ignored ttyd options.
    pub notes: Vec<&'static str>,
    /// `--nats`: this node is one of a fleet (docs/FLEET.md).
    pub fleet: Option<Fleet>,
    /// `--handover`: the unix socket of live upgrades (`runtime::handover`).
    pub handover: Option<PathBuf>,
    /// `--drain-timeout`: how long a draining node waits for its sessions to end before
    /// it stops anyway (`None`: until they end).
    pub drain_timeout: Option<Duration>,
}

/// `--nats` and what goes with it: how this node takes part in a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// The NATS servers (`nats://[user:pass@]host:port`, comma-separated).
    pub nats: Vec<String>,
    /// This node's name (`--node-id`, required with `--nats`).
    pub node: String,
    /// How long a fleet-wide call waits for the other nodes (`--fleet-timeout`).
    pub timeout: Duration,
    /// Where clients reach this node directly (`--advertise-url`), for the redirect a
    /// request for one of its sessions gets on another node.
    pub advertise: Option<String>,
}

/// Recordings (`--record DIR`, `--record-dir DIR`, `--record-max BYTES`). The
/// directory itself is checked at startup, after privileges are dropped
/// (`runtime::record::start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Where recordings are written, as `<session-id>.cast`.
    pub dir: PathBuf,
    /// `--record`: every session is recorded; else only those created with
    /// `"record": true`.
    pub all: bool,
    /// The largest file per session, in bytes.
    pub max: u64,
}

/// Where `--access-log` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// `-`: standard output, after the `Listening on` line.
    Stdout,
    /// A file, opened for appending (created if missing) and reopened on SIGHUP.
    File(PathBuf),
}

/// A startup error: one line, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

impl Config {
    /// Parses a command line (including the program name). `Err(clap::Error)` covers
    /// `--help`, `--version` and syntax errors, which clap prints itself.
    pub fn parse_from<I, T>(argv: I) -> Result<Result<Config, ConfigError>, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        use clap::Parser;
        Args::try_parse_from(argv).map(Config::from_args)
    }

    pub fn from_args(a: Args) -> Result<Config, ConfigError> {
        let listen = listen(&a)?;
        let tls = tls(&a)?;
        let allow_ip = a.allow_ip.as_deref().map(|l| access::cidrs("--allow-ip", l)).transpose()?;
        if allow_ip.is_some() && matches!(listen, Listen::Unix { .. }) {
            return err("--allow-ip applies to TCP peers; a unix socket's are limited by its mode and -U");
        }
        let cpus = affinity_cpus()?;
        let threads = match a.threads {
            None => NonZeroUsize::new(cpus.len()).unwrap_or(NonZeroUsize::MIN),
            Some(n) if (1..=1024).contains(&n) => NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN),
            Some(n) => return err(format!("--threads {n}: give a number from 1 to 1024")),
        };
        let access = access::access(&a)?;
        let auth = auth_policy(&a, &access)?;
        let Some(log_level) = Level::parse(&a.debug) else {
            return err(format!("-d {}: use error, warn, info, debug or a ttyd bitmask such as 7", a.debug));
        };
        if a.max_connections == 0 {
            return err("--max-connections 0: give at least 1 connection per worker");
        }
        let sessions = sessions(&a)?;
        let mut notes = Vec::new();
        if a.srv_buf_size.is_some() {
            notes.push("-f/--srv-buf-size is ignored: PTY reads use the buffer pool's size");
        }
        if a.browser {
            notes.push("-B/--browser is ignored: a server has no browser to open");
        }
        let allow_origins = a
            .allow_origin
            .iter()
            .map(|o| {
                crate::auth::normalize_origin(o).ok_or_else(|| {
                    ConfigError(format!(
                        "--allow-origin {o}: give origins as scheme://host[:port] (e.g. https://ide.example.com) or *"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fleet = fleet(&a, &listen)?;
        let handover = match &a.handover {
            Some(p) if p.as_os_str().is_empty() || p.as_os_str().len() > 100 => {
                return err(format!("--handover {}: give a unix socket path of at most 100 bytes", p.display()))
            }
            Some(_) if a.io.as_deref() == Some("uring") => {
                return err("--handover with --io uring: a live upgrade needs terminals read by readiness; use --io epoll")
            }
            p => p.clone(),
        };
        let drain_timeout = Some(duration("--drain-timeout", &a.drain_timeout)?).filter(|d| !d.is_zero());
        let record = record(&a)?;
        Ok(Config {
            threads,
            cpus,
            base_path: base_path(a.base_path.as_deref())?,
            log_level,
            http: Limits::default(),
            head_timeout: duration("--http-head-timeout", &a.http_head_timeout)?,
            body_timeout: duration("--http-body-timeout", &a.http_body_timeout)?,
            idle_timeout: duration("--http-idle-timeout", &a.http_idle_timeout)?,
            max_connections: a.max_connections,
            shutdown_timeout: duration("--shutdown-timeout", &a.shutdown_timeout)?,
            no_auth: a.no_auth,
            allow_ip,
            auth_key: auth.as_ref().map_or_else(|| secret::key(None), |a| Ok(a.key.clone()))?,
            auth_secret_file: a.auth_secret_file,
            uid: a.uid,
            gid: a.gid,
            terminal: Terminal {
                signal: signal(&a.signal)?,
                client_options: client_options(&a.client_option)?,
                ping_interval: duration("-P/--ping-interval", &a.ping_interval)?,
                command: a.command,
                writable: a.writable,
                cwd: a.cwd,
                term: a.terminal_type,
                url_arg: a.url_arg,
                max_clients: a.max_clients,
                once: a.once,
                exit_no_conn: a.exit_no_conn,
                index: a.index,
            },
            ws_echo: ws_echo(a.ws_echo.clone())?,
            compress: compress(a.compress.as_deref())?,
            io: io(a.io.as_deref())?,
            tls,
            allow_embedding: a.allow_embedding,
            sessions,
            admission: crate::auth::Policy {
                hosts: hosts(&listen, &a.allow_host, &allow_origins)?,
                allow_origins,
                auth,
            },
            access,
            fleet,
            handover,
            drain_timeout,
            record,
            access_log: access_log(a.access_log)?,
            listen,
            notes,
        })
    }
}

/// The `Host` check's policy (DNS rebinding): see [`crate::auth::HostPolicy`].
fn hosts(
    listen: &Listen,
    allow_host: &[String],
    allow_origins: &[String],
) -> Result<crate::auth::HostPolicy, ConfigError> {
    let bound = match listen {
        Listen::Tcp(addr) => Some(addr.ip()),
        Listen::Unix { .. } => None,
    };
    crate::auth::HostPolicy::new(bound, allow_host, allow_origins).ok_or_else(|| {
        ConfigError(format!(
            "--allow-host {}: give host names or addresses without a scheme or path \
             (e.g. --allow-host term.example.com), or * when a proxy in front checks Host",
            allow_host.join(",")
        ))
    })
}

/// `--record`, `--record-dir` and `--record-max`.
fn record(a: &Args) -> Result<Option<Record>, ConfigError> {
    let max = bytes("--record-max", &a.record_max)? as u64;
    if max < 4096 {
        return err(format!("--record-max {}: give at least 4K", a.record_max));
    }
    let dir = match (&a.record, &a.record_dir) {
        (None, None) => return Ok(None),
        (Some(r), Some(d)) if r != d => {
            return err(format!(
                "--record {} and --record-dir {}: --record DIR records every session into DIR (and is where \
                 opted-in sessions go too): give one directory",
                r.display(),
                d.display()
            ))
        }
        (Some(d), _) | (None, Some(d)) => d,
    };
    Ok(Some(Record { dir: dir.clone(), all: a.record.is_some(), max }))
}

fn access_log(path: Option<PathBuf>) -> Result<Option<AccessLogTarget>, ConfigError> {
    match path {
        None => Ok(None),
        Some(p) if p.as_os_str() == "-" => Ok(Some(AccessLogTarget::Stdout)),
        Some(p) if p.as_os_str().is_empty() => {
            err("--access-log \"\": give a file path (e.g. /var/log/ringtty/access.log) or - for stdout")
        }
        Some(p) => Ok(Some(AccessLogTarget::File(p))),
    }
}

/// Options whose feature this build does not have yet, and that must not be silently
/// ignored because the operator relies on them for safety. (The access options are
/// parsed and checked by [`access::access`], ready for when they are enforced.)
/// The credentials the server takes, or `None` with `--no-auth`. Auth is on unless
/// turned off explicitly; turning it off cannot be combined with an auth option.
fn auth_policy(a: &Args, access: &access::Access) -> Result<Option<crate::auth::Auth>, ConfigError> {
    let given = [
        (a.credential.is_some(), "-c"),
        (a.credential_file.is_some(), "--credential-file"),
        (a.auth_header.is_some(), "-H"),
        (a.auth_secret_file.is_some(), "--auth-secret-file"),
    ];
    if a.no_auth {
        if let Some((_, option)) = given.iter().find(|(on, _)| *on) {
            return err(format!("--no-auth and {option} contradict each other: drop one"));
        }
        return Ok(None);
    }
    let header = match a.auth_header.as_deref() {
        None => None,
        Some(name) if access.trusted_proxies.is_none() => {
            return err(format!(
                "-H {name}: any client could send that header; name the proxy that sets it with \
                 --trusted-proxy CIDR,..."
            ))
        }
        Some(name) if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            return err(format!("-H {name:?}: give a header name (letters, digits and '-')"))
        }
        Some(name) => Some(name.to_ascii_lowercase()),
    };
    Ok(Some(crate::auth::Auth {
        key: secret::key(a.auth_secret_file.as_deref())?,
        basic: access.credential.clone(),
        header,
        trusted_proxies: access.trusted_proxies.clone(),
    }))
}

/// `-S -C -K -A`: the TLS settings, loaded (the files are read now: a bad one stops
/// the start with a one-line error).
fn tls(a: &Args) -> Result<Option<std::sync::Arc<crate::tls::Tls>>, ConfigError> {
    if !a.ssl {
        if a.ssl_cert.is_some() || a.ssl_key.is_some() || a.ssl_ca.is_some() || a.ssl_user.is_some() {
            return err(
                "-C/-K/-A/--ssl-user were given without -S/--ssl: add -S to serve HTTPS and WSS with them",
            );
        }
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (a.ssl_cert.clone(), a.ssl_key.clone()) else {
        return err(
            "-S/--ssl needs -C/--ssl-cert FILE (PEM certificate chain) and -K/--ssl-key FILE (its PEM key)",
        );
    };
    let user = match a.ssl_user.as_deref() {
        None => crate::tls::CertName::Cn,
        Some(_) if a.ssl_ca.is_none() => {
            return err("--ssl-user names the user of a client certificate: it needs -A/--ssl-ca FILE");
        }
        Some(name) => crate::tls::CertName::parse(name)
            .ok_or_else(|| ConfigError(format!("--ssl-user {name:?}: give cn, dns or uri")))?,
    };
    let files = crate::tls::Files { cert, key, ca: a.ssl_ca.clone(), user };
    crate::tls::Tls::load(files).map(|t| Some(std::sync::Arc::new(t))).map_err(ConfigError)
}

fn listen(a: &Args) -> Result<Listen, ConfigError> {
    let unix = a.interface.as_deref().is_some_and(|i| i.ends_with(".sock") || i.ends_with(".socket"));
    if a.socket_owner.is_some() && !unix {
        return err("-U/--socket-owner applies only to a unix socket: give -i a path ending in .sock");
    }
    let Some(iface) = a.interface.as_deref() else {
        let ip = if a.ipv6 { IpAddr::V6(Ipv6Addr::LOCALHOST) } else { IpAddr::V4(Ipv4Addr::LOCALHOST) };
        return Ok(Listen::Tcp(SocketAddr::new(ip, a.port)));
    };
    if unix {
        let owner = a.socket_owner.as_deref().map(owner).transpose()?;
        return Ok(Listen::Unix { path: PathBuf::from(iface), owner });
    }
    if let Ok(ip) = iface.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(Listen::Tcp(SocketAddr::new(ip, a.port)));
    }
    if iface == "localhost" {
        let ip = if a.ipv6 { IpAddr::V6(Ipv6Addr::LOCALHOST) } else { IpAddr::V4(Ipv4Addr::LOCALHOST) };
        return Ok(Listen::Tcp(SocketAddr::new(ip, a.port)));
    }
    let addrs = crate::sys::interface_addrs(iface)
        .or_else(|e| err(format!("-i {iface}: cannot list network interfaces ({e})")))?;
    let pick = addrs.iter().find(|ip| ip.is_ipv6() == a.ipv6).or(addrs.first());
    match pick {
        Some(ip) => Ok(Listen::Tcp(SocketAddr::new(*ip, a.port))),
        None => err(format!(
            "-i {iface}: no such interface with an address; give an address (127.0.0.1), an interface \
             name from `ip addr`, or a unix socket path ending in .sock"
        )),
    }
}

/// The CPUs in this process's affinity mask (taskset, cgroup cpusets).
fn affinity_cpus() -> Result<Vec<usize>, ConfigError> {
    let set = rustix::thread::sched_getaffinity(None)
        .or_else(|e| err(format!("cannot read the CPU affinity mask ({e})")))?;
    let cpus: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU).filter(|&i| set.is_set(i)).collect();
    if cpus.is_empty() {
        return err("the CPU affinity mask is empty; run ringtty with at least one CPU allowed");
    }
    Ok(cpus)
}

fn base_path(raw: Option<&str>) -> Result<String, ConfigError> {
    let Some(raw) = raw else { return Ok(String::new()) };
    let trimmed = raw.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let valid = trimmed.starts_with('/')
        && trimmed.len() <= 128
        && trimmed.bytes().all(|b| b.is_ascii_graphic() && !b"?#%\\".contains(&b));
    if !valid {
        return err(format!(
            "-b {raw}: a base path starts with / and has at most 128 printable characters without ? # % \\ \
             (e.g. -b /mounted/here)"
        ));
    }
    Ok(trimmed.to_owned())
}

fn sessions(a: &Args) -> Result<Sessions, ConfigError> {
    let scrollback = bytes("--scrollback", &a.scrollback)?;
    if scrollback < 64 * 1024 {
        return err(format!("--scrollback {}: give at least 64K", a.scrollback));
    }
    let window = match &a.window {
        None => crate::session::DEFAULT_SCROLLBACK.min(scrollback),
        Some(given) => {
            let window = bytes("--window", given)?;
            if window == 0 || window > scrollback {
                return err(format!(
                    "--window {given}: give a size from 1 up to the scrollback ({})",
                    a.scrollback
                ));
            }
            window
        }
    };
    if a.max_sessions == 0 {
        return err("--max-sessions 0: give at least 1");
    }
    let core_memory = match &a.core_memory {
        None => None,
        Some(given) => {
            let b = bytes("--core-memory", given)?;
            if b < 4 << 20 {
                return err(format!("--core-memory {given}: give at least 4M"));
            }
            Some(b)
        }
    };
    // The id module's own rule: the `.` after a node's name is what makes its prefix
    // exact for a load balancer, so a name never contains one.
    if let Some(node) = &a.node_id {
        if crate::session::NodeId::new(node).is_err() {
            return err(format!("--node-id {node}: use 1-32 characters from A-Z a-z 0-9 _ -"));
        }
    }
    let mut named = Vec::new();
    for spec in &a.named_command {
        let Some((name, cmdline)) =
            spec.split_once('=').filter(|(n, c)| !n.is_empty() && !c.trim().is_empty())
        else {
            return err(format!("--command {spec}: give NAME=CMDLINE (e.g. --command top=htop)"));
        };
        if named.iter().any(|(n, _): &(String, _)| n == name) {
            return err(format!("--command {name}: the name is given twice"));
        }
        named.push((name.to_owned(), vec!["/bin/sh".into(), "-c".into(), cmdline.into()]));
    }
    Ok(Sessions {
        named_commands: named,
        allow_any_command: a.allow_any_command,
        max_sessions: a.max_sessions,
        detach_timeout: duration("--detach-timeout", &a.detach_timeout)?,
        exited_ttl: duration("--exited-ttl", &a.exited_ttl)?,
        kill_grace: duration("--kill-grace", &a.kill_grace)?,
        keep_sessions: a.keep_sessions,
        scrollback,
        window,
        node_id: a.node_id.clone(),
        core_memory,
    })
}

/// `--nats` and its companions; `None` without `--nats` (the companions then refused).
fn fleet(a: &Args, listen: &Listen) -> Result<Option<Fleet>, ConfigError> {
    let Some(urls) = &a.nats else {
        if a.advertise_url.is_some() {
            return err("--advertise-url is this node's address for the fleet: give --nats too");
        }
        return Ok(None);
    };
    let nats: Vec<String> =
        urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
    let valid = |u: &String| {
        let rest = u.split_once("://").map_or(u.as_str(), |(scheme, rest)| match scheme {
            "nats" | "tls" => rest,
            _ => "",
        });
        !rest.is_empty() && !rest.contains(['/', ' '])
    };
    if nats.is_empty() || !nats.iter().all(valid) {
        return err(format!(
            "--nats {urls}: give NATS server URLs, comma-separated (e.g. --nats nats://127.0.0.1:4222)"
        ));
    }
    let Some(node) = a.node_id.clone() else {
        return err("--nats needs --node-id NAME: the fleet routes sessions to their node by that name");
    };
    if a.auth_secret_file.is_none() && !a.no_auth {
        return err(
            "--nats needs --auth-secret-file FILE (the same file on every node): a token must verify on \
             every node of the fleet",
        );
    }
    let timeout = duration("--fleet-timeout", &a.fleet_timeout)?;
    if timeout.is_zero() || timeout > Duration::from_secs(30) {
        return err(format!("--fleet-timeout {}: give a time from 1ms to 30s", a.fleet_timeout));
    }
    let advertise = match &a.advertise_url {
        Some(u) => {
            let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://")).unwrap_or("");
            let host = rest.trim_end_matches('/');
            let ok =
                !host.is_empty() && host.bytes().all(|b| b.is_ascii_graphic() && !b"/?#@\\".contains(&b));
            if !ok || u.len() > 256 {
                return err(format!(
                    "--advertise-url {u}: give http(s)://HOST[:PORT], where clients reach this node (the path is \
                     kept: no path here)"
                ));
            }
            Some(u.trim_end_matches('/').to_owned())
        }
        None => match listen {
            Listen::Tcp(addr) if !addr.ip().is_unspecified() && addr.port() != 0 => {
                let scheme = if a.ssl { "https" } else { "http" };
                Some(format!("{scheme}://{addr}"))
            }
            _ => None,
        },
    };
    Ok(Some(Fleet { nats, node, timeout, advertise }))
}

/// `1048576`, `512K`, `1M`, `1MiB`, `2G` (binary multiples).
pub fn parse_bytes(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().ok()?;
    let mult = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn bytes(flag: &str, s: &str) -> Result<usize, ConfigError> {
    parse_bytes(s).ok_or_else(|| ConfigError(format!("{flag} {s}: give a size such as 65536, 512K or 1M")))
}

/// How workers read terminals (`--io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// io_uring multishot reads into provided buffers taken from the pool.
    Uring,
    /// Readiness from the reactor, then `read(2)`.
    Epoll,
    /// Uring where the kernel has what it needs, else epoll (decided at startup).
    Auto,
}

fn io(arg: Option<&str>) -> Result<Io, ConfigError> {
    match arg.unwrap_or("epoll") {
        "uring" => Ok(Io::Uring),
        "epoll" => Ok(Io::Epoll),
        "auto" => Ok(Io::Auto),
        other => Err(ConfigError(format!("--io {other:?}: use uring, epoll or auto"))),
    }
}

/// Which WebSockets accept permessage-deflate (`--compress`, docs/PROTOCOL.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compress {
    /// None (the default): an offer is not accepted.
    Off,
    /// The terminals' (`/api/sessions/{id}/ws`, ttyd's `/ws`).
    Terminals,
    /// The terminals' and the `--ws-echo` endpoint's.
    All,
}

fn compress(arg: Option<&str>) -> Result<Compress, ConfigError> {
    match arg {
        None => Ok(Compress::Off),
        Some("terminals") => Ok(Compress::Terminals),
        Some("all") => Ok(Compress::All),
        Some(other) => err(format!("--compress={other}: use --compress (the terminals) or --compress=all")),
    }
}

fn ws_echo(path: Option<String>) -> Result<Option<String>, ConfigError> {
    match path {
        Some(p) if !p.starts_with('/') || p.contains(['?', '#']) || p == "/health" || p == "/metrics" => {
            err(format!("--ws-echo {p}: give a free path starting with / (e.g. --ws-echo /echo)"))
        }
        p => Ok(p),
    }
}

impl Config {
    /// The WebSocket ping interval, `None` when `-P 0` disables pings.
    pub fn ping_interval(&self) -> Option<std::time::Duration> {
        Some(self.terminal.ping_interval).filter(|d| !d.is_zero())
    }
}

/// `500ms`, `10s`, `5m`, `1h`, `1d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return None,
    };
    (secs.is_finite() && (0.0..=1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

fn duration(flag: &str, s: &str) -> Result<Duration, ConfigError> {
    parse_duration(s)
        .ok_or_else(|| ConfigError(format!("{flag} {s}: give a duration such as 500ms, 10s, 5m or 1h")))
}

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("TERM", libc::SIGTERM),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("WINCH", libc::SIGWINCH),
];

/// `SIGHUP`, `HUP`, `hup` or `1`.
fn signal(s: &str) -> Result<i32, ConfigError> {
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(n, _)| *n == name) {
        return Ok(*n);
    }
    match s.parse::<i32>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => err(format!("-s {s}: give a signal name (SIGHUP, SIGTERM, ...) or number (1-64)")),
    }
}

fn client_options(raw: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    raw.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => err(format!("-t {kv}: client options are KEY=VALUE (e.g. -t fontSize=16)")),
        })
        .collect()
}

/// `user[:group]`, as names (looked up in /etc/passwd, /etc/group) or numeric ids.
fn owner(spec: &str) -> Result<(u32, Option<u32>), ConfigError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = id_of(user, "/etc/passwd")
        .ok_or_else(|| ConfigError(format!("-U {spec}: unknown user {user:?}; give a user name or id")))?;
    let gid = match group {
        None | Some("") => None,
        Some(g) => Some(id_of(g, "/etc/group").ok_or_else(|| {
            ConfigError(format!("-U {spec}: unknown group {g:?}; give a group name or id"))
        })?),
    };
    Ok((uid, gid))
}

fn id_of(name: &str, db: &str) -> Option<u32> {
    if let Ok(id) = name.parse() {
        return Some(id);
    }
    let text = std::fs::read_to_string(db).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}
