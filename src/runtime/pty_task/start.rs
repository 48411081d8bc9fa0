//! Starting a session: a place under `--max-sessions`, the child spawned off the loop,
//! an id, the session's state and its task. Its error is its own ([`StartError`]);
//! each endpoint answers it in its own terms.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use ring::rand::SecureRandom;

use crate::protocol::WinSize;
use crate::pty::{self, Blame, EnvRules, SpawnRequest};
use crate::runtime::worker::handover::Handed;
use crate::runtime::worker::{Live, Meta, Worker};
use crate::session::{Dialect, ExitStatus, Session, SessionConfig, SessionId, Timers};

/// How to start a session, besides its command.
pub struct StartOpts {
    pub name: Option<String>,
    pub cwd: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub size: WinSize,
    /// A ttyd session lives exactly as long as its one connection (ttyd's semantics).
    pub dialect: Dialect,
    /// While the spawner's queue is full (a storm of starts), wait for room until then
    /// instead of failing at once (REST callers get 503 and retry; a ttyd client has no
    /// retry in its protocol).
    pub spawn_deadline: Option<std::time::Instant>,
    /// The user who starts it (`None` with `--no-auth`): only they (and admins) reach it.
    pub owner: Option<String>,
    /// `"record": true`: recorded into `--record-dir` (with `--record`, every session is).
    pub record: bool,
}

/// Why a session could not be started. Each endpoint answers it in its own terms: the
/// REST API as a status (`start_failed`), ttyd's `/ws` as a close code.
/// `Display` is the message for the client: it never echoes request bytes.
#[derive(Debug)]
pub enum StartError {
    /// Every place under `--max-sessions` is taken.
    AtCapacity { max: usize },
    /// The node is draining (`POST /api/admin/drain`, SIGUSR2): new sessions go to
    /// another node.
    Draining,
    /// The spawner's queue is full: too many sessions are starting at once.
    SpawnerBusy,
    /// The child could not be started.
    Spawn(pty::SpawnError),
    /// The system's random source failed: no id for the session.
    NoRandomness,
    /// No session id could be formed for this worker (its core index is beyond what an
    /// id can name).
    NoId,
    /// The new terminal could not be registered with the worker's reactor.
    Watch(std::io::Error),
    /// Its recording could not be created (`--record`, `--record-dir`).
    Record(String),
}

impl StartError {
    /// Whose the failure is: the request's, the server's capacity, or its setup.
    pub fn blame(&self) -> Blame {
        match self {
            StartError::AtCapacity { .. } | StartError::SpawnerBusy | StartError::Draining => Blame::Capacity,
            StartError::Spawn(e) => e.blame(),
            StartError::NoRandomness | StartError::NoId | StartError::Watch(_) | StartError::Record(_) => {
                Blame::Server
            }
        }
    }
}

impl From<pty::SpawnError> for StartError {
    fn from(e: pty::SpawnError) -> StartError {
        match e {
            pty::SpawnError::Busy => StartError::SpawnerBusy,
            e => StartError::Spawn(e),
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::AtCapacity { max } => write!(f, "at capacity: {max} sessions (--max-sessions)"),
            StartError::Draining => f.write_str("this node is draining: it starts no new sessions"),
            StartError::SpawnerBusy => pty::SpawnError::Busy.fmt(f),
            // Without the program and directory names, which came from the request.
            StartError::Spawn(e) => f.write_str(&e.reason()),
            StartError::NoRandomness => f.write_str("no randomness for a session id"),
            StartError::NoId => f.write_str("cannot form a session id"),
            StartError::Watch(e) => write!(f, "cannot watch the new terminal: {e}"),
            StartError::Record(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for StartError {}

/// Takes a place under `--max-sessions`, spawns the child (off this worker's loop) and
/// registers the session; on failure the place is given back.
pub async fn start(w: &Rc<Worker>, argv: Vec<OsString>, opts: StartOpts) -> Result<Rc<Live>, StartError> {
    if w.shared.drain.draining() {
        return Err(StartError::Draining);
    }
    let max = w.cfg.sessions.max_sessions;
    if w.shared.sessions.fetch_add(1, Relaxed) >= max {
        w.shared.sessions.fetch_sub(1, Relaxed);
        return Err(StartError::AtCapacity { max });
    }
    let started = spawn_session(w, argv, opts).await;
    if started.is_err() {
        w.shared.sessions.fetch_sub(1, Relaxed);
        w.stats().spawn_failed();
    }
    started
}

async fn spawn_session(w: &Rc<Worker>, argv: Vec<OsString>, b: StartOpts) -> Result<Rc<Live>, StartError> {
    let size = b.size;
    let mut extra: Vec<(OsString, OsString)> =
        b.env.unwrap_or_default().into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    // Who started it, for the child (ttyd's -H sets TTYD_USER the same way).
    if let Some(owner) = b.owner.as_deref().filter(|o| !o.is_empty()) {
        extra.push(("RINGTTY_USER".into(), owner.into()));
        extra.push(("TTYD_USER".into(), owner.into()));
    }
    let env = pty::child_env(
        std::env::vars_os(),
        &EnvRules { term: &w.cfg.terminal.term, remove: &[], extra: &extra },
    );
    let cwd = b.cwd.map(Into::into).or_else(|| w.cfg.terminal.cwd.clone());
    let command: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut req = SpawnRequest { argv, cwd, env, cols: size.cols, rows: size.rows };
    let mut random = [0u8; crate::session::id::RANDOM_BYTES];
    w.rng.fill(&mut random).map_err(|_| StartError::NoRandomness)?;
    let id = SessionId::new(w.node.as_ref(), w.index, random).map_err(|_| StartError::NoId)?;
    // Created before the command runs: a session that must be recorded and cannot be
    // does not run at all.
    let cast = recording(w, id, b.record, b.name.as_deref(), &command)?;
    let spawned = loop {
        let waiting = b.spawn_deadline.is_some_and(|d| std::time::Instant::now() < d);
        let again = waiting.then(|| req.clone());
        match (w.spawner.spawn(req).await, again) {
            (Err(pty::SpawnError::Busy), Some(retry)) => {
                req = retry;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            (result, _) => break result,
        }
    };
    let spawned = match spawned {
        Ok(s) => s,
        Err(e) => {
            if let Some(cast) = cast {
                cast.abandon();
            }
            return Err(e.into());
        }
    };
    let s = &w.cfg.sessions;
    let timers = match b.dialect {
        Dialect::Native => {
            Timers { detach_timeout: s.detach_timeout, exited_ttl: s.exited_ttl, kill_grace: s.kill_grace }
        }
        // ttyd: the process ends with its connection, and nothing is kept after it.
        Dialect::Ttyd => Timers {
            detach_timeout: std::time::Duration::ZERO,
            exited_ttl: std::time::Duration::ZERO,
            kill_grace: s.kill_grace,
        },
    };
    let config = SessionConfig {
        dialect: b.dialect,
        scrollback: s.scrollback,
        window: s.window,
        timers,
        ..SessionConfig::default()
    };
    let mut state = Session::new(id, w.pool.clone(), config, size, w.now());
    state.rename(b.name.map(String::into_boxed_str));
    // The session's output tap (`session::tap`): its recording, if it has one.
    if let Some(cast) = cast {
        state.set_tap(Box::new(cast), w.now());
    }
    let created_ms = crate::runtime::worker::unix_now_ms();
    let meta = Meta {
        command,
        pid: spawned.child.pid().as_raw_nonzero().get(),
        tty: spawned.tty.clone(),
        created_ms,
        owner: b.owner,
    };
    let live = super::task::launch(w, id, state, spawned, meta).map_err(StartError::Watch)?;
    w.add_session(live.clone());
    info!("session {} started: {:?} (pid {})", id.as_str(), live.meta.command, live.meta.pid);
    Ok(live)
}

/// The recording of a new session, if it is recorded (`--record`, or `"record": true`
/// with `--record-dir`).
fn recording(
    w: &Worker,
    id: SessionId,
    asked: bool,
    name: Option<&str>,
    command: &[String],
) -> Result<Option<crate::runtime::record::CastTap>, StartError> {
    let Some(recorder) = w.shared.recorder.as_ref().filter(|r| r.wants(asked)) else { return Ok(None) };
    let title = name.map(str::to_owned).unwrap_or_else(|| command.join(" "));
    let now = crate::runtime::worker::unix_now_ms();
    recorder.create(id.as_str(), &w.cfg.terminal.term, Some(title), now).map(Some).map_err(StartError::Record)
}

/// Adopts a session another process handed over, on this worker (its id names this
/// core). `fds` are its terminal's master and its command's pidfd (none for an ended
/// session).
pub fn adopt(w: &Rc<Worker>, h: Handed, bytes: &[u8], fds: Vec<OwnedFd>) -> Result<(), String> {
    let id = SessionId::parse(&h.id, w.node.as_ref())
        .map_err(|e| format!("session {}: not an id of this node ({e}): is --node-id the same?", h.id))?;
    if id.core() != w.index {
        return Err(format!("session {} belongs to core {}, not {}", h.id, id.core(), w.index));
    }
    let size = WinSize::new(h.cols, h.rows).unwrap_or(WinSize::DEFAULT);
    let s = &w.cfg.sessions;
    let config = SessionConfig {
        dialect: Dialect::Native,
        scrollback: s.scrollback,
        window: s.window,
        timers: Timers {
            detach_timeout: s.detach_timeout,
            exited_ttl: s.exited_ttl,
            kill_grace: s.kill_grace,
        },
        ..SessionConfig::default()
    };
    let mut fds = fds.into_iter();
    let terminal = match (h.exited, fds.next(), fds.next()) {
        (None, Some(master), Some(pidfd)) => {
            let child = w.spawner.adopt(rustix::process::Pid::from_raw(h.pid).ok_or("a pid of 0")?, pidfd);
            Some((master, child))
        }
        _ => None,
    };
    // Without its terminal a session can only be shown as ended.
    let exited = match (&terminal, h.exited) {
        (None, e) => Some(e.unwrap_or(super::handover::wire(None, None))),
        (Some(_), _) => None,
    }
    .map(|e| ExitStatus { code: e.code, signal: e.signal });
    let mut state = Session::resumed(id, w.pool.clone(), config, size, w.now(), (h.start, bytes), exited);
    // Its recording, if it had one, goes on (see `record::Recorder::reopen`).
    let cast = w.shared.recorder.as_ref().and_then(|r| r.reopen(&h.id, h.created_ms, exited.is_none()));
    if let Some(cast) = cast {
        state.set_tap(Box::new(cast), w.now());
    }
    state.rename(h.name.map(String::into_boxed_str));
    state.set_keep(h.keep, w.now());
    if let Some(ms) = h.last_output_ms {
        // Its time on this process's clock: as long ago as it was then.
        let ago = crate::runtime::worker::unix_now_ms().saturating_sub(ms);
        state.output_seen(crate::session::Millis(w.now().0.saturating_sub(ago)));
    }
    let meta = Meta { command: h.command, pid: h.pid, tty: h.tty, created_ms: h.created_ms, owner: h.owner };
    let running = terminal.is_some();
    let live = super::task::launch_parts(w, id, state, terminal, meta)
        .map_err(|e| format!("session {}: cannot watch its terminal: {e}", h.id))?;
    w.add_session(live);
    if running {
        // Its place under --max-sessions (`start` takes it for a new session).
        w.shared.sessions.fetch_add(1, Relaxed);
    } else {
        // `add_session` counted it as running.
        w.shared.running.fetch_sub(1, Relaxed);
    }
    Ok(())
}
