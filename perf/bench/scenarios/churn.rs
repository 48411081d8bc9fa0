//! `churn`: --cycles create → attach → first byte → detach → DELETE → exited → DELETE
//! (removed) → 404, by --sessions workers, at most --duration. The server is sampled
//! before (baseline), after every tenth of the cycles, and after it settles; the verdict
//! says whether fds, PTYs, children or zombies stayed above the baseline, and how much
//! RSS grew. `--raw`: spawn → first byte → drop on local PTYs, sampling this process.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::link::Link;
use super::{attach, attach_tty, bounded, create_on, discard, mode, raw_spawner, remove, sh, RawPty};
use crate::http::HttpConn;
use crate::procfs::{round3, Sample};
use crate::report::{Errors, Latencies, Report};
use crate::Ctx;

const CHILD: &str = "echo x; exec cat";

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    let spawner = Rc::new(if args.raw { Some(raw_spawner()?) } else { None });
    let script = Rc::new(args.command.clone().unwrap_or_else(|| CHILD.to_string()));
    let (mode, target) = mode(ctx);
    let mut report = Report::new("churn", mode, target);
    report.param("cycles", args.cycles);
    report.param("workers", args.sessions);
    report.param("child", script.as_str());
    report.param("max_duration_s", args.duration.as_secs_f64());
    // With --raw the harness itself holds the PTYs and children: sample it.
    let pid = if args.raw { Some(std::process::id()) } else { args.pid };
    let sample = move || pid.and_then(|p| Sample::take(p).ok());

    let before = sample();
    let next = Rc::new(Cell::new(0usize));
    let trend = Rc::new(std::cell::RefCell::new(Vec::new()));
    let deadline = Instant::now() + args.duration;
    let tallies = bounded(args.sessions.max(1), args.sessions.max(1), |_| {
        let (ctx, spawner, script, next, trend) =
            (ctx.clone(), spawner.clone(), script.clone(), next.clone(), trend.clone());
        async move {
            let mut t = (Latencies::default(), Errors::default());
            let mut conn = None;
            let tenth = (ctx.args.cycles / 10).max(1);
            while next.get() < ctx.args.cycles && Instant::now() < deadline {
                let i = next.get();
                next.set(i + 1);
                let t0 = Instant::now();
                let r = match spawner.as_ref() {
                    Some(sp) => raw_cycle(&ctx, sp, &script).await,
                    None if ctx.args.protocol == crate::cli::Protocol::Tty => tty_cycle(&ctx, &script).await,
                    None => cycle(&ctx, &mut conn, &script).await,
                };
                match r {
                    Ok(()) => t.0.record(t0.elapsed()),
                    Err(e) => {
                        ctx.progress.add_error();
                        t.1.add(e);
                    }
                }
                ctx.progress.add_done(1);
                if (i + 1) % tenth == 0 {
                    if let Some(s) = pid.and_then(|p| Sample::take(p).ok()) {
                        trend.borrow_mut().push(json!({"cycle": i + 1, "rss_kib": s.rss_kib, "fds": s.fds}));
                    }
                }
            }
            t
        }
    })
    .await;
    let done = next.get().min(args.cycles);
    let mut lat = Latencies::default();
    for (l, e) in &tallies {
        lat.extend(l);
        report.errors.merge(e);
    }

    // Settle: children exit and are reaped asynchronously; wait (bounded) for the
    // counts to come back to the baseline before the final sample.
    let settle_start = Instant::now();
    let mut after = sample();
    if let Some(b) = before {
        while after.is_some_and(|a| a.children > b.children || a.ptys > b.ptys || a.fds > b.fds)
            && settle_start.elapsed() < args.timeout
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            after = sample();
        }
    }
    report.result("cycles_done", done, "");
    report.result("cycles_ok", lat.len(), "");
    report.result("settle_s", round3(settle_start.elapsed().as_secs_f64()), "s");
    if let (Some(b), Some(a)) = (before, after) {
        report.server = Some(crate::report::ServerStats { before: b, after: a, peak: b.max(a) });
        let growth = (a.rss_kib as f64 - b.rss_kib as f64) / b.rss_kib.max(1) as f64 * 100.0;
        report.result("rss_growth_pct", round3(growth), "%");
        report.result("fds_delta", a.fds as i64 - b.fds as i64, "");
        report.result("ptys_delta", a.ptys as i64 - b.ptys as i64, "");
        report.result("children_delta", a.children as i64 - b.children as i64, "");
        report.result("zombies_after", a.zombies, "");
        report.result("threads_delta", a.threads as i64 - b.threads as i64, "");
        // RSS once the first tenth of the cycles has warmed the allocator and pools up:
        // growth from there on is what a leak looks like.
        let warm = trend.borrow().first().and_then(|t| t["rss_kib"].as_u64());
        let warm_growth = warm.map(|w| (a.rss_kib as f64 - w as f64) / w.max(1) as f64 * 100.0);
        if let Some(g) = warm_growth {
            report.result("rss_growth_after_warmup_pct", round3(g), "%");
        }
        report.verdict = Some(verdict(b, a, growth, warm_growth));
    } else {
        report.verdict = Some("no verdict: pass --pid to sample the server".into());
    }
    report.series.insert("rss_trend".into(), serde_json::Value::Array(trend.take()));
    report.latencies.push(("cycle".into(), lat));
    Ok(report)
}

fn verdict(b: Sample, a: Sample, growth: f64, warm_growth: Option<f64>) -> String {
    let mut leaks = Vec::new();
    for (name, b, a) in [
        ("fds", b.fds, a.fds),
        ("ptys", b.ptys, a.ptys),
        ("children", b.children, a.children),
        ("zombies", b.zombies, a.zombies),
    ] {
        if a > b {
            leaks.push(format!("{name} {b} -> {a}"));
        }
    }
    let warm =
        warm_growth.map(|g| format!(", {g:+.1}% after the first tenth of the cycles")).unwrap_or_default();
    let rss = format!("RSS {growth:+.1}% from the start ({} -> {} KiB){warm}", b.rss_kib, a.rss_kib);
    if !leaks.is_empty() {
        format!("LEAK: {}; {rss}", leaks.join(", "))
    } else if warm_growth.is_some_and(|g| g >= 10.0) {
        format!("RSS still growing after warm-up: {rss}")
    } else {
        format!("no leak: fds, PTYs, children and zombies back to baseline; {rss}")
    }
}

/// One server cycle on a keep-alive API connection (reopened after an error).
async fn cycle(ctx: &Ctx, conn: &mut Option<HttpConn>, script: &str) -> Result<(), String> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(HttpConn::connect(&ctx.target).await.map_err(|e| format!("connect: {e}"))?),
    };
    let r = cycle_on(ctx, c, script).await;
    if r.is_err() {
        *conn = None;
    }
    r
}

async fn cycle_on(ctx: &Ctx, conn: &mut HttpConn, script: &str) -> Result<(), String> {
    let id = create_on(ctx, conn, &sh(script)).await?;
    let mut link = match attach(ctx, &id).await {
        Ok(a) => Link::Native(Box::new(a)),
        Err(e) => {
            discard(ctx, &id).await;
            return Err(e);
        }
    };
    if let Err(e) = link.wait_for(b"x", ctx.args.timeout).await {
        discard(ctx, &id).await;
        return Err(e);
    }
    link.close().await;
    remove(ctx, conn, &id).await
}

/// One ttyd cycle: connect (the server spawns), first byte, close (the server kills and
/// reaps the process).
async fn tty_cycle(ctx: &Ctx, script: &str) -> Result<(), String> {
    let mut link = Link::Native(Box::new(attach_tty(ctx, &sh(script)).await?));
    link.wait_for(b"x", ctx.args.timeout).await?;
    link.close().await;
    Ok(())
}

/// One local cycle: spawn, first byte, drop (the child is killed and reaped).
async fn raw_cycle(ctx: &Ctx, sp: &ringtty::pty::Spawner, script: &str) -> Result<(), String> {
    let spawned = super::raw_spawn(sp, &sh(script), ctx.args.timeout).await?;
    let mut link = Link::Raw(RawPty::new(spawned)?);
    link.wait_for(b"x", ctx.args.timeout).await?;
    link.close().await;
    Ok(())
}
