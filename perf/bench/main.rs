//! `ringtty-bench`: the benchmark harness (SPEC §8, perf/README.md).
//!
//! One single-threaded tokio runtime drives every connection (a task each, non-blocking
//! sockets, ringtty's own WebSocket codec in the client role), so thousands of sessions
//! fit on one core and leave the others to the server. `--raw` runs the same children
//! on local PTYs opened by ringtty's own `pty` module (same termios), with no server.
//! `--tls` (or an `https://` URL) puts TLS under every connection (`conn.rs`).

mod cli;
mod client;
mod conn;
mod http;
mod procfs;
mod report;
mod scenarios;
mod token;

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;

use cli::{Args, Scenario};
use http::Target;
use procfs::Sample;
use report::{Report, ServerStats};

/// Counters shown on the progress line.
#[derive(Default)]
pub struct Progress {
    pub done: Cell<u64>,
    pub bytes: Cell<u64>,
    pub errors: Cell<u64>,
}

impl Progress {
    pub fn add_done(&self, n: u64) {
        self.done.set(self.done.get() + n);
    }
    pub fn add_bytes(&self, n: u64) {
        self.bytes.set(self.bytes.get() + n);
    }
    pub fn add_error(&self) {
        self.errors.set(self.errors.get() + 1);
    }
}

/// What every scenario gets.
pub struct Ctx {
    pub args: Args,
    pub target: Target,
    pub progress: Rc<Progress>,
    peak: Cell<Option<Sample>>,
    before: Cell<Option<Sample>>,
}

impl Ctx {
    /// Samples the server now (None without --pid or if it vanished). With `--raw
    /// --relay` and no `--pid`, the relay thread stands in for the server: its CPU time
    /// only, the floor any server's CPU is compared with.
    pub fn sample(&self) -> Option<Sample> {
        match self.args.pid {
            Some(pid) => Sample::take(pid).ok(),
            None if self.args.raw && self.args.relay => {
                let tid = scenarios::relay::thread_id()?;
                Some(Sample { cpu_s: procfs::thread_cpu_s(tid).ok()?, ..Sample::default() })
            }
            None => None,
        }
    }

    /// Records the baseline sample (and the peak so far).
    pub fn mark_before(&self) {
        let s = self.sample();
        self.before.set(s);
        self.peak.set(s);
    }

    /// before / peak / after, taking the after sample now.
    pub fn server_stats(&self) -> Option<ServerStats> {
        let after = self.sample()?;
        let before = self.before.get()?;
        let peak = self.peak.get().unwrap_or(before).max(after);
        Some(ServerStats { before, after, peak })
    }

    fn observe(&self, s: Sample) {
        self.peak.set(Some(self.peak.get().map_or(s, |p| p.max(s))));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let target = token::resolve(&args.url, args.token.as_deref(), args.token_file.as_deref())
        .and_then(|r| Target::new(&r.url, r.token))
        .and_then(|t| with_tls(&args, t));
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ringtty-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(pid) = args.pid {
        if let Err(e) = Sample::take(pid) {
            eprintln!("ringtty-bench: cannot sample pid {pid} from /proc: {e}");
            return ExitCode::from(2);
        }
    }
    raise_fd_limit();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ringtty-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Rc::new(Ctx {
        args,
        target,
        progress: Rc::default(),
        peak: Cell::new(None),
        before: Cell::new(None),
    });
    let local = tokio::task::LocalSet::new();
    let outcome = local.block_on(&rt, run(ctx.clone()));
    match outcome {
        Ok(report) => emit(&ctx.args, &report),
        Err(_) if token::refused() => {
            let why = if ctx.target.token.is_some() { token::REFUSED_TOKEN } else { token::WANTS_TOKEN };
            eprintln!("ringtty-bench: {why}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("ringtty-bench: {}: {e}", ctx.args.scenario.name());
            ExitCode::FAILURE
        }
    }
}

/// `--tls` or an `https://` URL: TLS, verified against `--ca-file`, which is required
/// (a client that trusts anything would measure a server nobody should run).
fn with_tls(args: &Args, mut t: Target) -> Result<Target, String> {
    if args.raw {
        return Ok(t);
    }
    let wanted = args.tls || Target::is_https(&args.url);
    match (wanted, &args.ca_file) {
        (false, None) => Ok(t),
        (false, Some(_)) => Err("--ca-file is for TLS: add --tls or give an https:// --url".into()),
        (true, None) => Err("TLS (--tls or an https:// URL) needs --ca-file FILE, the PEM CA that signed \
                             the server's certificate: verification is never turned off"
            .into()),
        (true, Some(ca)) => {
            t.use_tls(ca, !args.no_resumption)?;
            Ok(t)
        }
    }
}

/// The scenario, ended early (an `Err` that `main` reads as the server's 401) as soon as
/// the server refuses a request or upgrade for want of a token: every further step would
/// be refused the same way.
async fn run(ctx: Rc<Ctx>) -> Result<Report, String> {
    if !ctx.args.raw {
        preflight(&ctx).await?;
        if token::refused() {
            return Err("HTTP 401".into());
        }
    }
    let started = Instant::now();
    let ticker = tokio::task::spawn_local(progress_lines(ctx.clone(), started));
    let scenario = async {
        match ctx.args.scenario {
            Scenario::Echo => scenarios::echo::run(&ctx).await,
            Scenario::Throughput => scenarios::throughput::run(&ctx).await,
            Scenario::Connect => scenarios::connect::run(&ctx).await,
            Scenario::Churn => scenarios::churn::run(&ctx).await,
            Scenario::Api => scenarios::api::run(&ctx).await,
            Scenario::Stability => scenarios::stability::run(&ctx).await,
            Scenario::Idle => scenarios::idle::run(&ctx).await,
            Scenario::Burst => scenarios::burst::run(&ctx).await,
            Scenario::Handshake => scenarios::handshake::run(&ctx).await,
            Scenario::Fleet => scenarios::fleet::run(&ctx).await,
            Scenario::Upgrade => scenarios::upgrade::run(&ctx).await,
        }
    };
    let result = tokio::select! {
        r = scenario => r,
        () = token::until_refused() => Err("HTTP 401".into()),
    };
    ticker.abort();
    if token::refused() {
        return Err("HTTP 401".into());
    }
    let mut report = result?;
    report.elapsed = started.elapsed();
    if !ctx.args.raw {
        report.param("auth", if ctx.target.token.is_some() { "bearer" } else { "none" });
    }
    if let Some(tls) = &ctx.target.tls {
        match tls.facts() {
            Some(f) => {
                report.param("tls", f.version.as_str());
                report.param("tls_cipher", f.cipher.as_str());
                if let Some(kx) = &f.kx {
                    report.param("tls_kx", kx.as_str());
                }
            }
            None => report.param("tls", "no handshake completed"),
        }
        report.param("tls_resumption", if tls.resumes() { "tickets" } else { "off" });
    }
    Ok(report)
}

/// Asks before anything is set up, so that a missing or refused token ends the run at
/// once with nothing created: ringtty's open `GET /api/auth` says whether auth is on and
/// who the token names (`"user": null` with auth on: no usable token), and for the
/// native protocol `GET /api/sessions?limit=1` must not be 401. Other answers (ttyd has
/// neither route) are the scenario's business. So is a connection refused; a failed TLS
/// handshake (the wrong CA, a plain server), or a TLS server asked without TLS, ends the
/// run with one line saying so.
async fn preflight(ctx: &Ctx) -> Result<(), String> {
    let ask = async {
        let mut conn = match http::HttpConn::connect(&ctx.target).await {
            Ok(conn) => conn,
            Err(e) => {
                return match conn::tls_failure(&e) {
                    Some(why) => Err(format!("TLS handshake with {} failed: {why}", ctx.target.url)),
                    None => Ok(()),
                }
            }
        };
        match conn.request("GET", "/api/auth", None).await {
            // A TLS server answers a plain request with an alert, not HTTP.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData && ctx.target.tls.is_none() => {
                Err(format!(
                "{} did not answer in HTTP: does it serve TLS (ringtty -S)? Then add --tls --ca-file FILE",
                ctx.target.url
            ))
            }
            Err(_) => Ok(()),
            // `handshake` asks only `/health`, which wants no token.
            Ok(_) if ctx.args.scenario == Scenario::Handshake => Ok(()),
            Ok(auth) => {
                ask_auth(ctx, &mut conn, auth).await;
                Ok(())
            }
        }
    };
    tokio::time::timeout(ctx.args.timeout, ask).await.unwrap_or(Ok(()))
}

async fn ask_auth(ctx: &Ctx, conn: &mut http::HttpConn, auth: http::Response) -> Option<()> {
    if auth.status == 200 {
        let v = auth.json()?;
        if v.get("enabled")?.as_bool()? && v.get("user")?.is_null() {
            token::note_refusal();
        }
    }
    if ctx.args.protocol == cli::Protocol::Native && !token::refused() {
        // `request` notes a 401 itself.
        conn.request("GET", "/api/sessions?limit=1", None).await.ok()?;
    }
    Some(())
}

/// A line on stderr every second: counters, and the server's sample with --pid.
async fn progress_lines(ctx: Rc<Ctx>, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        // Off the event loop: reading thousands of /proc entries takes milliseconds, and
        // every echo, byte and ack the loop would have timed meanwhile would carry it.
        let server = match ctx.args.pid {
            Some(pid) => tokio::task::spawn_blocking(move || Sample::take(pid).ok()).await.ok().flatten(),
            None => None,
        };
        if let Some(s) = server {
            ctx.observe(s);
        }
        if ctx.args.quiet {
            continue;
        }
        let p = &ctx.progress;
        let server = server.map(|s| format!(" | server {}", s.brief())).unwrap_or_default();
        eprintln!(
            "[{:6.1}s] done={} bytes={} errors={}{server}",
            started.elapsed().as_secs_f64(),
            p.done.get(),
            p.bytes.get(),
            p.errors.get()
        );
    }
}

fn emit(args: &Args, report: &Report) -> ExitCode {
    let to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if !to_stdout {
        report.print_table();
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
        if to_stdout {
            println!("{text}");
        } else if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("ringtty-bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Thousands of connections need thousands of fds: raise the soft limit to the hard one.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.maximum.is_some() && lim.current != lim.maximum {
        let _ = setrlimit(Resource::Nofile, Rlimit { current: lim.maximum, maximum: lim.maximum });
    }
}
