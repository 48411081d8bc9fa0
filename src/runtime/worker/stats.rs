//! Per-worker counters, read by any worker for `/health` and `/metrics` without a
//! cross-core round trip. Each worker is the only writer of its own `WorkerStats`, so
//! updates are a relaxed load and store (no locked read-modify-write), and each worker's
//! block sits on its own cache lines.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Status codes are counted in a flat table indexed by `status - 100`.
const STATUS_SLOTS: usize = 500;

#[repr(align(128))]
pub struct WorkerStats {
    pub cpu: usize,
    alive: AtomicBool,
    connections: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    panics: AtomicU64,
    session_panics: AtomicU64,
    statuses: Box<[AtomicU64]>,
    sessions: AtomicU64,
    sessions_created: AtomicU64,
    sessions_exited: AtomicU64,
    spawn_failures: AtomicU64,
    session_clients: AtomicU64,
    output_bytes: AtomicU64,
    input_bytes: AtomicU64,
    gaps: AtomicU64,
    pty_pauses: AtomicU64,
    reclaimed: AtomicU64,
    denied_host: AtomicU64,
    denied_origin: AtomicU64,
    auth_failures: AtomicU64,
    login_redirects: AtomicU64,
    rate_limited: AtomicU64,
    /// Connections closed at accept: peers outside `--allow-ip`.
    refused_peers: AtomicU64,
    access_log_dropped: AtomicU64,
}

impl WorkerStats {
    fn new(cpu: usize) -> WorkerStats {
        WorkerStats {
            cpu,
            alive: AtomicBool::new(true),
            connections: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            session_panics: AtomicU64::new(0),
            statuses: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            sessions: AtomicU64::new(0),
            sessions_created: AtomicU64::new(0),
            sessions_exited: AtomicU64::new(0),
            spawn_failures: AtomicU64::new(0),
            session_clients: AtomicU64::new(0),
            output_bytes: AtomicU64::new(0),
            input_bytes: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            pty_pauses: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
            denied_host: AtomicU64::new(0),
            denied_origin: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            login_redirects: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            refused_peers: AtomicU64::new(0),
            access_log_dropped: AtomicU64::new(0),
        }
    }

    // Single-writer updates: only the owning worker calls these.
    fn bump(c: &AtomicU64, n: u64) {
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }
    pub fn conn_opened(&self) {
        Self::bump(&self.accepted, 1);
        Self::bump(&self.connections, 1);
    }
    pub fn conn_closed(&self) {
        self.connections.store(self.connections.load(Relaxed).saturating_sub(1), Relaxed);
    }
    pub fn conn_rejected(&self) {
        Self::bump(&self.rejected, 1);
    }
    pub fn conn_panicked(&self) {
        Self::bump(&self.panics, 1);
    }
    pub fn session_panicked(&self) {
        Self::bump(&self.session_panics, 1);
    }
    pub fn bytes_in(&self, n: usize) {
        Self::bump(&self.bytes_in, n as u64);
    }
    pub fn bytes_out(&self, n: usize) {
        Self::bump(&self.bytes_out, n as u64);
    }
    pub fn response(&self, status: u16) {
        if let Some(slot) = usize::from(status).checked_sub(100).and_then(|i| self.statuses.get(i)) {
            Self::bump(slot, 1);
        }
    }
    pub fn session_created(&self) {
        Self::bump(&self.sessions_created, 1);
        Self::bump(&self.sessions, 1);
    }
    pub fn session_removed(&self) {
        self.sessions.store(self.sessions.load(Relaxed).saturating_sub(1), Relaxed);
    }
    pub fn spawn_failed(&self) {
        Self::bump(&self.spawn_failures, 1);
    }
    pub fn exited(&self) {
        Self::bump(&self.sessions_exited, 1);
    }
    pub fn client_attached(&self) {
        Self::bump(&self.session_clients, 1);
    }
    pub fn client_detached(&self) {
        self.session_clients.store(self.session_clients.load(Relaxed).saturating_sub(1), Relaxed);
    }
    pub fn output(&self, n: usize) {
        Self::bump(&self.output_bytes, n as u64);
    }
    pub fn input(&self, n: usize) {
        Self::bump(&self.input_bytes, n as u64);
    }
    pub fn gap(&self) {
        Self::bump(&self.gaps, 1);
    }
    pub fn pty_paused(&self) {
        Self::bump(&self.pty_pauses, 1);
    }
    pub fn reclaimed(&self, bytes: usize) {
        Self::bump(&self.reclaimed, bytes as u64);
    }
    /// A request refused by the admission point (`auth::admit`).
    pub fn request_denied(&self, refusal: crate::auth::Refusal) {
        match refusal {
            crate::auth::Refusal::Host(_) => Self::bump(&self.denied_host, 1),
            crate::auth::Refusal::Origin => Self::bump(&self.denied_origin, 1),
            crate::auth::Refusal::Unauthorized(_) => Self::bump(&self.auth_failures, 1),
            crate::auth::Refusal::Login => Self::bump(&self.login_redirects, 1),
        }
    }
    /// A credential refused after admission: ttyd's init message, a failed login.
    pub fn auth_failed(&self) {
        Self::bump(&self.auth_failures, 1);
    }
    /// A request answered 429 by `--rate-limit` or the failed-login limit.
    pub fn rate_limited(&self) {
        Self::bump(&self.rate_limited, 1);
    }
    /// A connection closed at accept: its peer is outside `--allow-ip`.
    pub fn peer_refused(&self) {
        Self::bump(&self.refused_peers, 1);
    }
    /// An access-log line dropped because the logger thread's channel was full.
    pub fn access_log_dropped(&self) {
        Self::bump(&self.access_log_dropped, 1);
    }
    /// Called by the worker thread's exit guard (from any unwinding path).
    pub fn set_dead(&self) {
        self.alive.store(false, Relaxed);
    }
    pub fn alive(&self) -> bool {
        self.alive.load(Relaxed)
    }
    pub fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }
}

/// What all workers share: their counters and the start time. Read-only after startup
/// apart from the atomics.
pub struct Shared {
    pub workers: Box<[WorkerStats]>,
    pub started: Instant,
    /// Sessions starting or running on all workers, against `--max-sessions`: taken
    /// before the spawn, given back when the command has ended (an exited session kept
    /// for `--exited-ttl` holds no PTY and no process, so it takes no place).
    pub sessions: std::sync::atomic::AtomicUsize,
    /// Sessions whose command still runs, on all workers (for `-q`).
    pub running: std::sync::atomic::AtomicUsize,
    /// WebSocket clients on all workers, against `-m`.
    pub clients: std::sync::atomic::AtomicUsize,
    /// A worker asks the supervisor to stop the server (`-o`, `-q`).
    pub stop: tokio::sync::Notify,
    /// Each worker's inbox, for work that belongs to its core.
    pub inboxes: Box<[tokio::sync::mpsc::UnboundedSender<super::cross_core::CrossCore>]>,
    /// ttyd's preferences message body (`-t` options), built once.
    pub ttyd_preferences: String,
    /// The `GET /api/config` body, built once.
    pub config_json: String,
    /// The web UI's pages and assets (or the `-I` page).
    pub site: crate::web::Site,
    /// The access log's channel, when `--access-log` is given.
    pub access_log: Option<crate::runtime::access_log::Sink>,
    /// `--credential-file`'s users: read at startup, reread on SIGHUP (a lock taken
    /// only by a password login and a reload, never by a request otherwise).
    credentials: std::sync::RwLock<Option<std::sync::Arc<crate::auth::Credentials>>>,
    /// Failed-login budgets, one for the whole server (a guesser gets the same budget
    /// whichever core accepts it); locked only by a login, never by other requests.
    pub login_limits: std::sync::Mutex<crate::auth::LoginLimits>,
    /// Password checks running on their threads (`api::auth`: bounded).
    pub password_checks: std::sync::atomic::AtomicUsize,
    /// Drain (`POST /api/admin/drain`, SIGUSR2).
    pub drain: super::fleet_link::Drain,
    /// Revoked tokens and users (`POST /api/admin/revoke`; fleet-wide with `--nats`).
    pub revoked: super::fleet_link::Revoked,
    /// With `--nats`: the fleet's control thread and its view of the other nodes.
    pub fleet: Option<super::fleet_link::FleetLink>,
    /// With `--record` or `--record-dir`: the recordings and their writer thread.
    pub recorder: Option<crate::runtime::record::Recorder>,
}

/// What the web UI needs to know: `GET /api/config`.
fn config_json(cfg: &crate::config::Config, preferences: &str) -> String {
    let options: serde_json::Value = serde_json::from_str(preferences).unwrap_or_default();
    let named: Vec<&str> = cfg.sessions.named_commands.iter().map(|(name, _)| name.as_str()).collect();
    let command: Vec<String> =
        cfg.terminal.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    // The page's title shows `COMMAND (HOST)` as ttyd's does (ttyd's protocol sends the same).
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "host": host,
        "writable": cfg.terminal.writable,
        "command": command,
        "named_commands": named,
        "allow_any_command": cfg.sessions.allow_any_command,
        "keep_sessions": cfg.sessions.keep_sessions,
        "client_options": options,
    })
    .to_string()
}

impl Shared {
    pub fn new(
        cpus: impl Iterator<Item = usize>,
        inboxes: Box<[tokio::sync::mpsc::UnboundedSender<super::cross_core::CrossCore>]>,
        cfg: &crate::config::Config,
        site: crate::web::Site,
        access_log: Option<crate::runtime::access_log::Sink>,
        fleet: Option<super::fleet_link::FleetLink>,
        recorder: Option<crate::runtime::record::Recorder>,
    ) -> Shared {
        let options = cfg.terminal.client_options.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let ttyd_preferences = crate::protocol::ttyd::preferences_json(options);
        Shared {
            config_json: config_json(cfg, &ttyd_preferences),
            ttyd_preferences,
            site,
            access_log,
            inboxes,
            workers: cpus.map(WorkerStats::new).collect(),
            started: Instant::now(),
            sessions: Default::default(),
            running: Default::default(),
            clients: Default::default(),
            stop: tokio::sync::Notify::new(),
            login_limits: Default::default(),
            password_checks: Default::default(),
            drain: Default::default(),
            revoked: Default::default(),
            fleet,
            recorder,
            credentials: std::sync::RwLock::new(cfg.access.credentials.clone().map(std::sync::Arc::new)),
        }
    }

    /// The credential file's users, if the server has one.
    pub fn credentials(&self) -> Option<std::sync::Arc<crate::auth::Credentials>> {
        self.credentials.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the users (a SIGHUP reread the file).
    pub fn set_credentials(&self, users: crate::auth::Credentials) {
        *self.credentials.write().unwrap_or_else(|e| e.into_inner()) = Some(std::sync::Arc::new(users));
    }

    pub fn all_alive(&self) -> bool {
        self.workers.iter().all(WorkerStats::alive)
    }

    /// `/health`'s status: `ok` (200); `degraded` (a worker died) or `draining` (no new
    /// sessions here), both 503 so that a load balancer sends new work elsewhere.
    pub fn health_status(&self) -> &'static str {
        match (self.all_alive(), self.drain.draining()) {
            (false, _) => "degraded",
            (true, true) => "draining",
            (true, false) => "ok",
        }
    }

    /// The `/health` body, from the point of view of worker `me`.
    pub fn health_json(&self, me: usize, now: Instant) -> String {
        let mut s = String::with_capacity(256);
        let _ = write!(
            s,
            "{{\"status\":\"{}\",\"version\":\"{}\",\"uptime_secs\":{},\"draining\":{},\"sessions\":{},\"clients\":{},\"worker\":{me},\"workers\":[",
            self.health_status(),
            env!("CARGO_PKG_VERSION"),
            now.duration_since(self.started).as_secs(),
            self.drain.draining(),
            self.sessions.load(Relaxed),
            self.clients.load(Relaxed),
        );
        for (i, w) in self.workers.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(
                s,
                "{sep}{{\"id\":{i},\"cpu\":{},\"alive\":{},\"connections\":{}}}",
                w.cpu,
                w.alive(),
                w.connections()
            );
        }
        s.push_str("]}");
        s
    }

    /// The `/metrics` body in Prometheus text format 0.0.4.
    pub fn metrics_text(&self, now: Instant) -> String {
        let mut s = String::with_capacity(2048);
        let _ = writeln!(s, "# HELP ringtty_uptime_seconds Seconds since the server started.");
        let _ = writeln!(s, "# TYPE ringtty_uptime_seconds gauge");
        let _ = writeln!(s, "ringtty_uptime_seconds {}", now.duration_since(self.started).as_secs_f64());
        type Get = fn(&WorkerStats) -> u64;
        let families: [(&str, &str, &str, Get); 19] = [
            ("ringtty_worker_alive", "gauge", "1 while the worker thread runs.", |w| u64::from(w.alive())),
            ("ringtty_connections", "gauge", "Open connections.", |w| w.connections.load(Relaxed)),
            ("ringtty_connections_accepted_total", "counter", "Connections accepted.", |w| {
                w.accepted.load(Relaxed)
            }),
            (
                "ringtty_connections_rejected_total",
                "counter",
                "Connections refused with 503 at capacity.",
                |w| w.rejected.load(Relaxed),
            ),
            (
                "ringtty_connection_panics_total",
                "counter",
                "Connections closed by a panic in their handler.",
                |w| w.panics.load(Relaxed),
            ),
            (
                "ringtty_session_panics_total",
                "counter",
                "Sessions ended by a panic in their task (their command killed).",
                |w| w.session_panics.load(Relaxed),
            ),
            ("ringtty_received_bytes_total", "counter", "Bytes read from clients.", |w| {
                w.bytes_in.load(Relaxed)
            }),
            ("ringtty_sent_bytes_total", "counter", "Bytes written to clients.", |w| {
                w.bytes_out.load(Relaxed)
            }),
            ("ringtty_sessions", "gauge", "Sessions (running or exited, not yet removed).", |w| {
                w.sessions.load(Relaxed)
            }),
            ("ringtty_sessions_created_total", "counter", "Sessions started.", |w| {
                w.sessions_created.load(Relaxed)
            }),
            ("ringtty_sessions_exited_total", "counter", "Sessions whose command ended.", |w| {
                w.sessions_exited.load(Relaxed)
            }),
            ("ringtty_spawn_failures_total", "counter", "Commands that could not start.", |w| {
                w.spawn_failures.load(Relaxed)
            }),
            ("ringtty_session_clients", "gauge", "WebSocket clients attached to sessions.", |w| {
                w.session_clients.load(Relaxed)
            }),
            ("ringtty_pty_output_bytes_total", "counter", "Bytes read from terminals.", |w| {
                w.output_bytes.load(Relaxed)
            }),
            ("ringtty_pty_input_bytes_total", "counter", "Bytes queued for terminals.", |w| {
                w.input_bytes.load(Relaxed)
            }),
            ("ringtty_gaps_total", "counter", "Gaps sent to clients (output they missed).", |w| {
                w.gaps.load(Relaxed)
            }),
            (
                "ringtty_pty_pauses_total",
                "counter",
                "Times a terminal stopped being read (flow control).",
                |w| w.pty_pauses.load(Relaxed),
            ),
            (
                "ringtty_scrollback_reclaimed_bytes_total",
                "counter",
                "Scrollback memory given up to the core's budget (--core-memory).",
                |w| w.reclaimed.load(Relaxed),
            ),
            (
                "ringtty_access_log_dropped_total",
                "counter",
                "Access-log lines dropped because the logger thread could not keep up.",
                |w| w.access_log_dropped.load(Relaxed),
            ),
        ];
        for (name, kind, help, get) in families {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (i, w) in self.workers.iter().enumerate() {
                let _ = writeln!(s, "{name}{{worker=\"{i}\"}} {}", get(w));
            }
        }
        let name = "ringtty_requests_denied_total";
        let _ = writeln!(
            s,
            "# HELP {name} Requests refused by the admission point, by reason.\n# TYPE {name} counter"
        );
        for (i, w) in self.workers.iter().enumerate() {
            let reasons = [
                ("host", &w.denied_host),
                ("origin", &w.denied_origin),
                ("unauthorized", &w.auth_failures),
                ("login", &w.login_redirects),
                ("rate_limited", &w.rate_limited),
            ];
            for (reason, c) in reasons {
                let _ = writeln!(s, "{name}{{worker=\"{i}\",reason=\"{reason}\"}} {}", c.load(Relaxed));
            }
        }
        let name = "ringtty_peers_refused_total";
        let _ = writeln!(
            s,
            "# HELP {name} Connections closed at accept, before a byte was read: peers outside --allow-ip.\n# TYPE {name} counter"
        );
        for (i, w) in self.workers.iter().enumerate() {
            let _ = writeln!(s, "{name}{{worker=\"{i}\"}} {}", w.refused_peers.load(Relaxed));
        }
        for (name, help, pick) in [
            (
                "ringtty_auth_failures_total",
                "Credentials refused: no or bad token, wrong password, a bad ttyd AuthToken.",
                (|w: &WorkerStats| &w.auth_failures) as fn(&WorkerStats) -> &AtomicU64,
            ),
            ("ringtty_rate_limited_total", "Requests answered 429 by a rate limit.", |w: &WorkerStats| {
                &w.rate_limited
            }),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            for (i, w) in self.workers.iter().enumerate() {
                let _ = writeln!(s, "{name}{{worker=\"{i}\"}} {}", pick(w).load(Relaxed));
            }
        }
        let _ = writeln!(
            s,
            "# HELP ringtty_draining 1 while the node takes no new sessions (drain).\n# TYPE ringtty_draining gauge\nringtty_draining {}",
            u8::from(self.drain.draining())
        );
        let _ = writeln!(
            s,
            "# HELP ringtty_revocations Revoked tokens and users this node refuses.\n# TYPE ringtty_revocations gauge\nringtty_revocations {}",
            self.revoked.len()
        );
        if let Some(fleet) = &self.fleet {
            let connected = fleet.connected.load(Relaxed);
            let nodes = fleet.peers.lock().unwrap_or_else(|e| e.into_inner()).names(Instant::now()).len();
            let _ = writeln!(
                s,
                "# HELP ringtty_fleet_connected 1 while the fleet's bus (NATS) is connected.\n# TYPE ringtty_fleet_connected gauge\nringtty_fleet_connected {}\n\
                 # HELP ringtty_fleet_peers Other nodes heard from in the last 3 s.\n# TYPE ringtty_fleet_peers gauge\nringtty_fleet_peers {nodes}",
                u8::from(connected)
            );
        }
        let name = "ringtty_http_responses_total";
        let _ = writeln!(s, "# HELP {name} HTTP responses by status code.\n# TYPE {name} counter");
        for (i, w) in self.workers.iter().enumerate() {
            for (slot, c) in w.statuses.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(s, "{name}{{worker=\"{i}\",status=\"{}\"}} {n}", slot + 100);
                }
            }
        }
        s
    }
}
