//! The effectful half of ringtty: startup checks, listeners, the pinned worker threads
//! and the supervisor that turns signals and worker deaths into a bounded shutdown.
//!
//! The main thread is the supervisor. It binds every listener first (so `-p 0` can be
//! printed and bind errors are startup errors), starts one worker per CPU, then waits
//! for SIGTERM/SIGINT or a worker's death. Workers never share per-connection state.

mod listen;
mod per_core;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use super::access_log;
use super::api::auth;
use super::worker::{fds, Shared};
use crate::config::{Config, Listen};
use per_core::{WorkerExit, WorkerParams};

/// How long `/health` reports a dead worker (503 "degraded") before the process exits,
/// so that a load balancer's health check can see it and drain.
const DEGRADED_WINDOW: Duration = Duration::from_secs(1);

/// Runs the server until it is told to stop. `Err` is a one-line startup error.
pub fn run(mut cfg: Config) -> Result<ExitCode, String> {
    crate::log::set_level(cfg.log_level);
    info!(
        "ringtty {} starting: {} workers on CPUs {:?}",
        env!("CARGO_PKG_VERSION"),
        cfg.threads,
        worker_cpus(&cfg)
    );
    for note in &cfg.notes {
        info!("note: {note}");
    }
    if cfg.terminal.command.is_empty() {
        info!("no COMMAND: sessions can start only named commands (--command) or, with --allow-any-command, any");
    }
    let why = resolve_io(&mut cfg)?;
    info!("io: {why}");
    // Children get the limits and CPUs the server started with, not the raised limit or
    // a worker's pinning: record them first.
    let mut defaults =
        crate::pty::ChildDefaults::capture().map_err(|e| format!("cannot read the process limits: {e}"))?;
    // A live upgrade hands the children over: the old process's end must not kill them.
    defaults.parent_death = cfg.handover.is_none();
    info!("open-file limit: {}", raise_nofile_limit());
    for warning in capacity_warnings(&cfg).into_iter().chain(exposure_warning(&cfg)) {
        warn!("{warning}");
    }
    let max_conns = connection_cap(&cfg);
    let mut takeover = match &cfg.handover {
        Some(path) => super::handover::take(path, &cfg)?,
        None => None,
    };
    let listeners = match takeover.as_mut() {
        Some(t) => {
            let fds = std::mem::take(&mut t.listeners);
            let display = super::handover::display(&fds, &cfg);
            info!("handover: took over {} listeners and {} sessions", fds.len(), t.session_count());
            listen::Listeners { fds, display }
        }
        None => listen::bind(&cfg)?,
    };
    if cfg.uid.is_some() || cfg.gid.is_some() {
        crate::sys::drop_privileges(cfg.uid, cfg.gid)
            .map_err(|e| format!("cannot switch to -u/-g ids: {e}; run as root or drop -u/-g"))?;
        info!("running as uid {:?} gid {:?}", cfg.uid, cfg.gid);
    }
    let access_log = open_access_log(&cfg)?;
    info!("listening on {}", listeners.display);
    // The first line on stdout (`--access-log -` follows it): scripts and tests read the
    // address (and the port of -p 0).
    println!("Listening on {}", listeners.display);
    // Jupyter's model: with tokens the only way in and a key nobody else has, the one
    // who started the server gets a link that signs the browser in (then the cookie).
    if let Some(token) = auth::startup_token(&cfg) {
        match cfg.listen {
            Listen::Tcp(_) => println!("Login: {}?token={token}", listeners.display),
            Listen::Unix { .. } => println!("Login token: {token}"),
        }
    }
    let adopt = takeover.as_mut().map(|t| std::mem::take(&mut t.sessions)).unwrap_or_default();
    let mut server = start_workers(Arc::new(cfg), listeners, defaults, max_conns, access_log, adopt)?;
    if let Some(t) = takeover {
        t.done();
    }
    if let Some(path) = &server.cfg.handover {
        server.handover = Some(super::handover::bind(path)?);
        info!("live upgrade: start the next ringtty with --handover {}", path.display());
    }
    Ok(server.wait())
}

/// A non-loopback bind without authentication is allowed only with `--no-auth`; it is
/// still worth a line in the log of every start, so nobody forgets the door is open.
fn exposure_warning(cfg: &Config) -> Option<String> {
    let Listen::Tcp(addr) = cfg.listen else { return None };
    (cfg.no_auth && !addr.ip().is_loopback()).then(|| {
        format!(
            "--no-auth on {}: anyone who can reach this address gets a terminal{}",
            addr.ip(),
            if cfg.terminal.writable { " they can type into" } else { " (read-only: no -W)" }
        )
    })
}

/// Starts a server in this process (binds, starts the workers) without the startup
/// checks' logging or the `Listening on` line; [`Server::wait`] supervises it. For
/// embedding and for in-process tests; `run` is the command-line path.
pub fn start(mut cfg: Config) -> Result<Server, String> {
    crate::log::set_level(cfg.log_level);
    resolve_io(&mut cfg)?;
    let defaults =
        crate::pty::ChildDefaults::capture().map_err(|e| format!("cannot read the process limits: {e}"))?;
    let max_conns = connection_cap(&cfg);
    let listeners = listen::bind(&cfg)?;
    let access_log = open_access_log(&cfg)?;
    start_workers(Arc::new(cfg), listeners, defaults, max_conns, access_log, Vec::new())
}

/// Opens `--access-log` and starts its thread. After the privileges were dropped: a
/// file the server could open but not reopen after a rotation is a startup error, not a
/// surprise at the first SIGHUP.
fn open_access_log(cfg: &Config) -> Result<Option<(access_log::Logger, access_log::Sink)>, String> {
    cfg.access_log.as_ref().map(access_log::start).transpose()
}

/// A running server: its workers, and what the supervisor needs to stop them.
pub struct Server {
    /// `http://ADDR:PORT/` or `unix:PATH`.
    pub display: String,
    cfg: Arc<Config>,
    shutdown: watch::Sender<bool>,
    exits: mpsc::UnboundedReceiver<WorkerExit>,
    running: usize,
    shared: Arc<Shared>,
    /// For a last wait on the signals to the ended sessions' processes before exiting.
    spawner: crate::pty::Spawner,
    /// The access log's thread, when `--access-log` is given.
    access_log: Option<access_log::Logger>,
    /// `--handover`: where the next process asks to take over.
    handover: Option<std::os::unix::net::UnixListener>,
    /// This process handed its sessions and listeners over: its files are the next one's.
    handed_over: bool,
}

fn start_workers(
    cfg: Arc<Config>,
    listeners: listen::Listeners,
    defaults: crate::pty::ChildDefaults,
    max_conns: usize,
    access_log: Option<(access_log::Logger, access_log::Sink)>,
    mut adopt: Vec<Vec<super::worker::handover::Export>>,
) -> Result<Server, String> {
    adopt.reverse();
    let site = crate::web::Site::new(cfg.terminal.index.as_deref(), cfg.allow_embedding)?;
    let spawner = crate::pty::Spawner::new(crate::pty::SpawnerConfig::new(defaults))
        .map_err(|e| format!("cannot start the spawner threads: {e}"))?;
    let cpus = worker_cpus(&cfg);
    let (inboxes, mut inbox_rx): (Vec<_>, Vec<_>) = cpus.iter().map(|_| mpsc::unbounded_channel()).unzip();
    inbox_rx.reverse();
    let (logger, sink) = access_log.unzip();
    let (fleet_link, fleet_asks) = match &cfg.fleet {
        Some(f) => {
            let (asks, rx) = mpsc::unbounded_channel();
            let link = super::worker::FleetLink {
                node: f.node.clone(),
                asks,
                connected: Default::default(),
                peers: Default::default(),
            };
            (Some(link), Some(rx))
        }
        None => (None, None),
    };
    let recorder = cfg.record.as_ref().map(super::record::start).transpose()?;
    let shared =
        Arc::new(Shared::new(cpus.iter().copied(), inboxes.into(), &cfg, site, sink, fleet_link, recorder));
    if let (Some(f), Some(asks)) = (&cfg.fleet, fleet_asks) {
        super::fleet::start(f.clone(), shared.clone(), asks)
            .map_err(|e| format!("cannot start the fleet's control thread: {e}"))?;
    }
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (exit_tx, exits) = mpsc::unbounded_channel();
    let fault_injection = std::env::var_os("RINGTTY_FAULT_INJECTION").is_some_and(|v| v == "1");
    if fault_injection {
        warn!(
            "RINGTTY_FAULT_INJECTION=1: /debug/panic, /debug/panic-session/ID and /debug/panic-worker are enabled \
             (tests only)"
        );
    }
    let mut running = 0;
    for (index, (listener, cpu)) in listeners.fds.into_iter().zip(cpus).enumerate() {
        let params = WorkerParams {
            index,
            cpu,
            cfg: cfg.clone(),
            shared: shared.clone(),
            listener,
            shutdown: shutdown_rx.clone(),
            exits: exit_tx.clone(),
            fault_injection,
            spawner: spawner.clone(),
            inbox: inbox_rx.pop().expect("one inbox per worker"),
            max_conns,
            adopt: adopt.pop().unwrap_or_default(),
        };
        if let Err(e) = per_core::spawn(params) {
            let _ = shutdown.send(true);
            return Err(format!("cannot start worker {index}: {e}"));
        }
        running += 1;
    }
    Ok(Server {
        display: listeners.display,
        cfg,
        shutdown,
        exits,
        running,
        shared,
        spawner,
        access_log: logger,
        handover: None,
        handed_over: false,
    })
}

impl Server {
    /// Supervises until SIGTERM/SIGINT or a worker's death, then shuts down within a
    /// bounded time. Returns the process's exit status.
    pub fn wait(mut self) -> ExitCode {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                error!("cannot start the supervisor runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let unix_socket = match &self.cfg.listen {
            Listen::Unix { path, .. } => Some(path.clone()),
            Listen::Tcp(_) => None,
        };
        let spawner = self.spawner.clone();
        let logger = self.access_log.take();
        let handover_path = self.cfg.handover.clone();
        let shared = self.shared.clone();
        let (code, handed_over) = rt.block_on(self.supervise(logger.as_ref()));
        if let Some(logger) = logger {
            logger.finish(Duration::from_secs(1));
        }
        // What the recordings have pending reaches the disk.
        if let Some(recorder) = &shared.recorder {
            recorder.finish(Duration::from_secs(2));
        }
        // The sessions' commands are gone; what else ran in their terminal sessions is
        // being killed by the reaper thread, which dies with the process.
        spawner.flush(Duration::from_secs(1));
        // After a handover the socket files are the next process's.
        if !handed_over {
            for path in unix_socket.into_iter().chain(handover_path) {
                let _ = std::fs::remove_file(path);
            }
        }
        code
    }

    /// Rereads `--credential-file` (SIGHUP): new logins see the new users at once; a
    /// file that does not load is reported and the users already loaded are kept.
    fn reread_credentials(&self) {
        let Some(path) = &self.cfg.access.credential_file else { return };
        match crate::config::credential_file(path) {
            Ok(users) => {
                info!("SIGHUP: {} users read from {}", users.len(), path.display());
                self.shared.set_credentials(users);
            }
            Err(e) => error!("SIGHUP: keeping the users already loaded: {e}"),
        }
    }

    /// Rereads the TLS certificate, key and CA (SIGHUP): new handshakes use them, open
    /// connections keep their sessions; files that do not load are reported and the
    /// ones in force kept.
    fn reload_tls(&self) {
        let Some(tls) = &self.cfg.tls else { return };
        match tls.reload() {
            Ok(()) => info!("SIGHUP: TLS certificate reloaded from {}", tls.files().cert.display()),
            Err(e) => error!("SIGHUP: keeping the TLS certificate in force: {e}"),
        }
    }

    async fn supervise(mut self, logger: Option<&access_log::Logger>) -> (ExitCode, bool) {
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            error!("cannot install SIGTERM/SIGINT handlers");
            return (ExitCode::FAILURE, false);
        };
        let handover = match self.handover.take().map(tokio::net::UnixListener::from_std).transpose() {
            Ok(h) => h,
            Err(e) => {
                error!("--handover: cannot watch its socket ({e}); live upgrades are off");
                None
            }
        };
        // SIGHUP reopens the access log (logrotate), rereads --credential-file and the
        // TLS files. Caught only when there is something to do: otherwise it keeps its
        // default action (the server ends, as before).
        let reopens = self.cfg.access_log.as_ref().is_some_and(access_log::Logger::reopens);
        let rereads = self.cfg.access.credential_file.is_some() || self.cfg.tls.is_some();
        let mut hup = match reopens || rereads {
            true => {
                Some(signal(SignalKind::hangup()).map_err(|e| error!("cannot install a SIGHUP handler: {e}")))
            }
            false => None,
        }
        .and_then(Result::ok);
        if hup.is_some() {
            info!(
                "SIGHUP reopens the access log and rereads the credential file and TLS files (those given)"
            );
        }
        // SIGUSR2 drains the node, as POST /api/admin/drain does.
        let mut usr2 = signal(SignalKind::user_defined2())
            .map_err(|e| error!("cannot install a SIGUSR2 handler (drain): {e}"))
            .ok();
        let mut failed = false;
        loop {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM: shutting down"),
                _ = int.recv() => info!("SIGINT: shutting down"),
                _ = next_signal(&mut usr2) => {
                    if self.shared.drain.start(super::worker::unix_now_ms()) {
                        info!("SIGUSR2: draining: no new sessions; stopping when the last one has ended{}",
                            self.cfg.drain_timeout.map_or(String::new(), |t| format!(" or after {t:?}")));
                    }
                    continue;
                }
                why = drained(&self.shared, self.cfg.drain_timeout) => info!("{why}: shutting down"),
                conn = next_handover(handover.as_ref()) => {
                    match super::handover::offer(conn, &self.shared, &self.cfg).await {
                        Ok(_) => {
                            self.handed_over = true;
                            info!("handover done: this process stops");
                        }
                        Err(super::handover::Failed::Refused(why)) => {
                            warn!("handover refused: {why}; serving on");
                            continue;
                        }
                        Err(super::handover::Failed::Lost(why)) => {
                            error!("handover failed after the sessions were exported: {why}; they are lost, stopping");
                            failed = true;
                        }
                    }
                }
                _ = self.shared.stop.notified() => info!("stopping as asked (-o/-q)"),
                exit = self.exits.recv() => {
                    self.running -= 1;
                    failed |= report(exit);
                    tokio::time::sleep(DEGRADED_WINDOW).await;
                }
                _ = next_signal(&mut hup) => {
                    if let Some(logger) = logger {
                        info!("SIGHUP: reopening the access log");
                        logger.reopen();
                    }
                    self.reread_credentials();
                    self.reload_tls();
                    continue;
                }
            }
            break;
        }
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::sleep(self.cfg.shutdown_timeout + Duration::from_secs(2));
        tokio::pin!(deadline);
        while self.running > 0 {
            tokio::select! {
                exit = self.exits.recv() => {
                    if exit.is_none() { break; }
                    self.running -= 1;
                    failed |= report(exit);
                }
                _ = &mut deadline => {
                    warn!("{} workers did not stop in time; exiting anyway", self.running);
                    break;
                }
                _ = term.recv() => { warn!("second signal: exiting now"); break; }
                _ = int.recv() => { warn!("second signal: exiting now"); break; }
            }
        }
        info!("stopped");
        let code = if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        (code, self.handed_over)
    }
}

/// Returns when a draining node may stop: its last session has ended, or
/// `--drain-timeout` has passed since draining started. Never while not draining.
async fn drained(shared: &Shared, timeout: Option<Duration>) -> &'static str {
    use std::sync::atomic::Ordering::Relaxed;
    loop {
        let Some(since) = shared.drain.since_ms() else {
            shared.drain.changed.notified().await;
            continue;
        };
        if shared.sessions.load(Relaxed) == 0 {
            return "drained: no session is left";
        }
        let left = timeout.map(|t| {
            let end = since + t.as_millis() as u64;
            Duration::from_millis(end.saturating_sub(super::worker::unix_now_ms()))
        });
        if left.is_some_and(|l| l.is_zero()) {
            return "drain timeout (--drain-timeout): ending the sessions left";
        }
        // Sessions end on the workers: look again a few times a second.
        let step = left.map_or(Duration::from_millis(250), |l| l.min(Duration::from_millis(250)));
        tokio::select! {
            _ = tokio::time::sleep(step) => {}
            _ = shared.drain.changed.notified() => {}
        }
    }
}

/// The next connection on the handover socket, or never without one.
async fn next_handover(listener: Option<&tokio::net::UnixListener>) -> tokio::net::UnixStream {
    loop {
        match listener {
            Some(l) => match l.accept().await {
                Ok((conn, _)) => return conn,
                Err(e) => {
                    warn!("--handover: accept failed ({e})");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            None => std::future::pending::<()>().await,
        }
    }
}

/// The next delivery of a caught signal, or never when it is not caught.
async fn next_signal(hup: &mut Option<tokio::signal::unix::Signal>) {
    match hup {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

fn worker_cpus(cfg: &Config) -> Vec<usize> {
    (0..cfg.threads.get()).map(|i| cfg.cpus[i % cfg.cpus.len()]).collect()
}

/// Logs a worker's end; returns whether it makes the process fail.
fn report(exit: Option<WorkerExit>) -> bool {
    match exit {
        Some(WorkerExit { index, died: true }) => {
            error!("worker {index} died; /health reports it and the server is shutting down (exit status 1)");
            true
        }
        Some(_) => false,
        None => true,
    }
}

/// What the configured capacity needs from the host that it does not have, one line
/// each with what to raise (SPEC §7). Each session holds a PTY, a child process and
/// about 3 descriptors (the master, the pidfd, a client socket).
fn capacity_warnings(cfg: &Config) -> Vec<String> {
    use rustix::process::{getrlimit, Resource};
    let sessions = cfg.sessions.max_sessions as u64;
    let read = |path: &str| std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let mut warnings = Vec::new();
    if let (Some(max), Some(used)) = (read("/proc/sys/kernel/pty/max"), read("/proc/sys/kernel/pty/nr")) {
        if max.saturating_sub(used) < sessions {
            warnings.push(format!(
                "--max-sessions {sessions} needs that many PTYs but kernel.pty.max is {max} ({used} in use): \
                 run `sysctl -w kernel.pty.max={}` or lower --max-sessions",
                (used + sessions).next_power_of_two()
            ));
        }
    }
    let fds_needed = 3 * sessions + 64;
    if let Some(nofile) = getrlimit(Resource::Nofile).current {
        if nofile < fds_needed {
            warnings.push(format!(
                "--max-sessions {sessions} needs about {fds_needed} open files but the limit is {nofile}: \
                 raise it (`ulimit -n {fds_needed}`, LimitNOFILE= in systemd) or lower --max-sessions"
            ));
        }
    }
    if let Some(nproc) = getrlimit(Resource::Nproc).current {
        if nproc < sessions + 64 {
            warnings.push(format!(
                "--max-sessions {sessions} needs that many processes but the process limit is {nproc}: \
                 raise it (`ulimit -u`, LimitNPROC= in systemd) or lower --max-sessions"
            ));
        }
    }
    warnings
}

/// Connections per worker: `--max-connections`, lowered so that connections and every
/// session's descriptors fit in the open-file limit (read after it was raised). Past
/// the cap a worker answers 503 from its accept loop instead of running out of
/// descriptors.
fn connection_cap(cfg: &Config) -> usize {
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let workers = cfg.threads.get();
    let (cap, why) = fds::conn_budget(nofile, workers, cfg.sessions.max_sessions, cfg.max_connections);
    if cap < cfg.max_connections {
        info!(
            "connections: at most {cap} per worker, below --max-connections {} ({why})",
            cfg.max_connections
        );
    } else {
        info!("connections: at most {cap} per worker (--max-connections; {why})");
    }
    cap
}

/// Decides `--io auto` (uring where the kernel has multishot reads and receives),
/// refuses `--io uring` where it does not, with the fix; returns what the log says
/// about it. `--io epoll` uses no io_uring at all.
fn resolve_io(cfg: &mut Config) -> Result<String, String> {
    use crate::config::Io;
    if cfg.io == Io::Epoll {
        return Ok("readiness and read(2) (--io epoll)".into());
    }
    if cfg.handover.is_some() {
        // `--io uring` with --handover is refused by the configuration.
        cfg.io = Io::Epoll;
        return Ok(
            "readiness and read(2) (--io auto with --handover: live upgrades read terminals by readiness)"
                .into(),
        );
    }
    let missing = match crate::uring::Support::of_this_kernel() {
        Ok(s) if s.data_path() => None,
        Ok(_) => Some("this kernel has no multishot read into provided buffers (Linux 6.7+)".to_owned()),
        Err(e) => {
            let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
            Some(if disabled.trim() == "2" {
                "io_uring is disabled on this host (kernel.io_uring_disabled=2; \
                 `sysctl -w kernel.io_uring_disabled=0` allows it)"
                    .to_owned()
            } else {
                format!(
                    "io_uring is not available ({e}): check `sysctl kernel.io_uring_disabled` \
                     (0, or 1 with io_uring_group), and in a container allow io_uring_setup, \
                     io_uring_enter and io_uring_register in the seccomp profile"
                )
            })
        }
    };
    match (cfg.io, missing) {
        (_, None) => {
            cfg.io = Io::Uring;
            Ok("io_uring multishot reads into the pool's buffers (--io uring)".into())
        }
        (Io::Uring, Some(why)) => Err(format!("--io uring: {why}; use --io epoll or --io auto")),
        (_, Some(why)) => {
            cfg.io = Io::Epoll;
            Ok(format!("readiness and read(2) (--io epoll: {why})"))
        }
    }
}

/// Raises the open-file soft limit to the hard limit (as root, both to `fs.nr_open`).
/// Returns a line for the startup log.
fn raise_nofile_limit() -> String {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let before = getrlimit(Resource::Nofile);
    let show = |v: Option<u64>| v.map_or("unlimited".to_owned(), |n| n.to_string());
    let cap = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    let root = rustix::process::geteuid().is_root();
    let hard = match before.maximum {
        None => cap,
        Some(m) if root => m.max(cap),
        Some(m) => m,
    };
    let hard_note = match setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: Some(hard) }) {
        Ok(()) => String::new(),
        Err(e) => {
            let soft = before.maximum.map_or(cap, |m| m.min(cap));
            if let Err(e) =
                setrlimit(Resource::Nofile, Rlimit { current: Some(soft), maximum: before.maximum })
            {
                return format!("{} (could not raise it: {e})", show(before.current));
            }
            if root && before.maximum.is_some_and(|m| m < cap) {
                format!("; raising the hard limit failed ({e}): it needs CAP_SYS_RESOURCE")
            } else {
                String::new()
            }
        }
    };
    let after = getrlimit(Resource::Nofile);
    format!(
        "{} (was {}; hard limit {}{hard_note})",
        show(after.current),
        show(before.current),
        show(after.maximum)
    )
}
