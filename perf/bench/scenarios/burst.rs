//! `burst`: output spikes. --sessions sessions sit idle, then all of them are triggered
//! at the same moment (a keystroke each) and every child answers with a burst of
//! --burst-bytes of output — a class running the same command, a dashboard of consoles
//! all redrawing. Measured per session and burst: trigger → last byte of the burst on
//! the client. --rate bursts per second (default 1) for --duration.
//!
//! The child prints base64 (no `!` in its alphabet) and ends each burst with `!`, so the
//! end is found by one byte, whatever the chunking.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use super::link::Link;
use super::{bounded, close_all, mode, open_ready};
use crate::procfs::round3;
use crate::report::{Errors, Latencies, Report};
use crate::Ctx;

/// Waits for a byte, answers with a burst; `R` once ready.
fn child(bytes: u64) -> String {
    format!("stty raw -echo; printf R; while head -c 1 >/dev/null; do head -c {bytes} /dev/zero | base64 -w 0; printf '!'; done")
}

#[derive(Default)]
struct Tally {
    lat: Latencies,
    errors: Errors,
    bursts: u64,
    bytes: u64,
    gaps: u64,
}

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    let rate = args.rate.unwrap_or(1.0);
    if !(rate > 0.0 && rate.is_finite()) {
        return Err("--rate must be above 0".into());
    }
    let script = Rc::new(args.command.clone().unwrap_or_else(|| child(args.burst_bytes)));
    let (mode, target) = mode(ctx);
    let mut report = Report::new("burst", mode, target);
    report.param("sessions", args.sessions);
    report.param("bursts_per_s", rate);
    report.param("burst_bytes", args.burst_bytes);
    report.param("duration_s", args.duration.as_secs_f64());
    report.param("child", script.as_str());

    let (links, ids) = open_ready(ctx, &script, b"R", &mut report).await?;

    ctx.mark_before();
    let n = links.len();
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + args.duration;
    let links = Rc::new(RefCell::new(links));
    // Every session's trigger fires on the same ticks: the bursts coincide.
    let results = bounded(n, n, |i| {
        let link = links.borrow_mut()[i].take();
        let ctx = ctx.clone();
        async move {
            let Some(link) = link else { return (None, Tally::default()) };
            let (link, t) = bursts(&ctx, link, start, end, period).await;
            (Some(link), t)
        }
    })
    .await;
    let wall = start.elapsed().min(args.duration + args.timeout);
    report.server = ctx.server_stats();

    let mut total = Tally::default();
    let mut finished = Vec::new();
    for (link, t) in results {
        total.lat.extend(&t.lat);
        total.errors.merge(&t.errors);
        total.bursts += t.bursts;
        total.bytes += t.bytes;
        total.gaps += t.gaps;
        finished.extend(link);
    }
    close_all(ctx, finished, ids).await;

    report.errors.merge(&total.errors);
    report.result("sessions_ok", n, "");
    report.result("bursts", total.bursts, "");
    report.result("bytes", total.bytes, "B");
    report.result("mb_per_s", round3(total.bytes as f64 / 1e6 / wall.as_secs_f64()), "MB/s");
    report.result("gaps", total.gaps, "");
    if let Some(s) = &report.server {
        let cpu = s.after.cpu_s - s.before.cpu_s;
        if total.bytes > 0 {
            report.result("server_cpu_s_per_gb", round3(cpu / (total.bytes as f64 / 1e9)), "s/GB");
        }
    }
    report.latencies.push(("burst".into(), total.lat));
    Ok(report)
}

/// Triggers a burst every `period` from `first` until `end` and times each to its `!`.
/// A trigger that comes while a burst is still arriving waits for it (the burst is
/// then timed from its own trigger).
async fn bursts(ctx: &Ctx, mut link: Link, first: Instant, end: Instant, period: Duration) -> (Link, Tally) {
    let mut t = Tally::default();
    let (mut buf, mut out) = (vec![0u8; 64 * 1024], Vec::with_capacity(64 * 1024));
    let mut next = first;
    while next < end {
        tokio::time::sleep_until(next).await;
        let sent_at = Instant::now();
        if let Err(e) = link.send(b"g").await {
            t.errors.add(format!("send: {}", e.kind()));
            break;
        }
        let deadline = sent_at + ctx.args.timeout;
        let done = loop {
            let r = tokio::select! {
                r = link.recv(&mut buf, Some(&mut out)) => r,
                _ = tokio::time::sleep_until(deadline) => break Err("burst: not complete within --timeout".to_string()),
            };
            let r = match r {
                Ok(r) => r,
                Err(e) => break Err(format!("recv: {}", e.kind())),
            };
            t.bytes += r.bytes as u64;
            t.gaps += r.gaps;
            ctx.progress.add_bytes(r.bytes as u64);
            let complete = out.contains(&b'!');
            out.clear();
            if let Err(e) = link.after_recv(&r).await {
                break Err(format!("ack: {}", e.kind()));
            }
            if complete {
                break Ok(());
            }
            if r.closed {
                break Err("closed early".to_string());
            }
        };
        match done {
            Ok(()) => {
                t.lat.record(sent_at.elapsed());
                t.bursts += 1;
                ctx.progress.add_done(1);
            }
            Err(e) => {
                ctx.progress.add_error();
                t.errors.add(e);
                break;
            }
        }
        next += period;
        while next < Instant::now() {
            next += period;
        }
    }
    (link, t)
}
