//! `connect`: a connect storm. --sessions creators (at most --concurrency at once) each
//! POST /api/sessions (child `sh -c 'echo x; exec cat'`), attach, and wait for the first
//! output byte. Every session stays open until all are up, so the server's memory per
//! session is measured at the peak; then all are deleted and the cleanup is timed.
//! `--raw`: spawn → first byte on local PTYs.

use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use super::link::Link;
use super::{attach, attach_tty, bounded, create, delete_all, discard, mode, raw_spawner, sh, RawPty};
use crate::procfs::round3;
use crate::report::{Latencies, Report};
use crate::Ctx;

const CHILD: &str = "echo x; exec cat";

/// One session's timings: create (or spawn), attach, connect → first byte.
struct Timed {
    link: Link,
    id: Option<String>,
    create: Duration,
    attach: Option<Duration>,
    first_byte: Duration,
}

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    let spawner = Rc::new(if args.raw { Some(raw_spawner()?) } else { None });
    let script = Rc::new(args.command.clone().unwrap_or_else(|| CHILD.to_string()));
    let (mode, target) = mode(ctx);
    let mut report = Report::new("connect", mode, target);
    report.param("sessions", args.sessions);
    report.param("concurrency", args.concurrency);
    report.param("child", script.as_str());

    ctx.mark_before();
    let start = Instant::now();
    let results = bounded(args.sessions, args.concurrency, |_| {
        let (ctx, spawner, script) = (ctx.clone(), spawner.clone(), script.clone());
        async move {
            let t = tokio::time::timeout(ctx.args.timeout, one(&ctx, spawner.as_ref().as_ref(), &script));
            let r = t.await.unwrap_or_else(|_| Err("timeout".into()));
            ctx.progress.add_done(1);
            if r.is_err() {
                ctx.progress.add_error();
            }
            r
        }
    })
    .await;
    let wall = start.elapsed();
    report.server = ctx.server_stats();

    let (mut create_l, mut attach_l, mut first_l) =
        (Latencies::default(), Latencies::default(), Latencies::default());
    let mut links = Vec::new();
    let mut ids = Vec::new();
    for r in results {
        match r {
            Ok(t) => {
                create_l.record(t.create);
                if let Some(a) = t.attach {
                    attach_l.record(a);
                }
                first_l.record(t.first_byte);
                links.push(t.link);
                ids.extend(t.id);
            }
            Err(e) => report.errors.add(e),
        }
    }
    let ok = links.len();
    let cleanup = Instant::now();
    for link in links {
        link.close().await;
    }
    let deleted = delete_all(ctx, ids).await;
    let cleanup = cleanup.elapsed();

    report.result("sessions_ok", ok, "");
    report.result("sessions_per_s", round3(ok as f64 / wall.as_secs_f64()), "/s");
    if let Some(s) = report.server.filter(|_| ok > 0) {
        let per = (s.peak.rss_kib.saturating_sub(s.before.rss_kib)) as f64 / ok as f64;
        report.result("server_rss_kib_per_session", round3(per), "KiB");
        let fds = s.peak.fds.saturating_sub(s.before.fds) as f64 / ok as f64;
        report.result("server_fds_per_session", round3(fds), "");
    }
    if !args.raw && args.protocol == crate::cli::Protocol::Native {
        report.result("deleted", deleted, "");
    }
    report.result("cleanup_s", round3(cleanup.as_secs_f64()), "s");
    let first_step = match (args.raw, args.protocol) {
        (true, _) => "spawn",
        (false, crate::cli::Protocol::Native) => "create",
        (false, crate::cli::Protocol::Tty) => "upgrade",
    };
    report.latencies.push((first_step.into(), create_l));
    report.latencies.push(("attach".into(), attach_l));
    report.latencies.push(("first_byte".into(), first_l));
    Ok(report)
}

async fn one(ctx: &Ctx, spawner: Option<&ringtty::pty::Spawner>, script: &str) -> Result<Timed, String> {
    let t0 = Instant::now();
    let (mut link, id, create_t, attach_t) = match spawner {
        Some(sp) => {
            let spawned = super::raw_spawn(sp, &sh(script), ctx.args.timeout).await?;
            (Link::Raw(RawPty::new(spawned)?), None, t0.elapsed(), None)
        }
        None if ctx.args.protocol == crate::cli::Protocol::Tty => {
            // One step: the upgrade spawns the process.
            let a = attach_tty(ctx, &sh(script)).await?;
            (Link::Native(Box::new(a)), None, t0.elapsed(), None)
        }
        None => {
            let id = create(ctx, &sh(script)).await?;
            let created = t0.elapsed();
            let a = match attach(ctx, &id).await {
                Ok(a) => a,
                Err(e) => {
                    discard(ctx, &id).await;
                    return Err(e);
                }
            };
            let attached = t0.elapsed() - created;
            (Link::Native(Box::new(a)), Some(id), created, Some(attached))
        }
    };
    if let Err(e) = link.wait_for(b"x", ctx.args.timeout).await {
        if let Some(id) = &id {
            discard(ctx, id).await;
        }
        return Err(e);
    }
    Ok(Timed { link, id, create: create_t, attach: attach_t, first_byte: t0.elapsed() })
}
