//! `throughput`: every session's child waits for a line, then runs the generator
//! (`head -c --bytes /dev/zero | base64`, or --command) as fast as the terminal takes it.
//! Its driver (the client that sends the line, acking like a browser) and --viewers
//! viewers read until `exit`; the clock runs from the line to the last `exit` (or
//! --duration). MB/s is delivered payload (every client's), and the server's
//! CPU-seconds per GB comes from /proc (--pid). `--raw` drains the same child on a local
//! PTY: the reader's own CPU-seconds per GB stand in for the server's.

use std::cell::RefCell;
use std::rc::Rc;

use tokio::time::Instant;

use super::link::Link;
use super::{attach, bounded, delete_all, maybe_spawner, mode, open};
use crate::procfs::{round3, self_cpu_s};
use crate::report::{Errors, Report};
use crate::Ctx;

/// Waits for a line, then runs `$1`: the clock starts when every client is attached.
const WRAPPER: &str = "read _; eval \"$1\"";

/// What one client read.
#[derive(Default)]
struct Drained {
    bytes: u64,
    gaps: u64,
    /// From the go line to `exit`.
    took: Option<std::time::Duration>,
    errors: Errors,
}

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    let spawner = Rc::new(maybe_spawner(ctx)?);
    let cmd = args.command.clone().unwrap_or_else(|| format!("head -c {} /dev/zero | base64", args.bytes));
    let viewers = if args.raw { 0 } else { args.viewers };
    if viewers > 0 {
        super::native_only(ctx, "viewers")?;
    }
    let (mode, target) = mode(ctx);
    let mut report = Report::new("throughput", mode, target);
    report.param("sessions", args.sessions);
    report.param("viewers", viewers);
    report.param("generator", cmd.as_str());
    report.param("max_duration_s", args.duration.as_secs_f64());
    let cmd = Rc::new(cmd);

    // Setup: each session with its driver first, then its viewers.
    let opened = bounded(args.sessions, args.concurrency, |_| {
        let (ctx, spawner, cmd) = (ctx.clone(), spawner.clone(), cmd.clone());
        async move {
            let argv = ["sh", "-c", WRAPPER, "bench", cmd.as_str()];
            let (driver, id) = open(&ctx, spawner.as_ref().as_ref(), &argv).await?;
            let mut links = vec![driver];
            if let Some(id) = &id {
                for _ in 0..viewers {
                    links.push(Link::Native(Box::new(attach(&ctx, id).await?)));
                }
            }
            Ok::<_, String>((links, id))
        }
    })
    .await;
    let mut links = Vec::new();
    let mut ids = Vec::new();
    for o in opened {
        match o {
            Ok((l, id)) => {
                // The first link of each session is its driver: it sends the go line.
                links.extend(l.into_iter().enumerate().map(|(i, l)| Some((l, i == 0))));
                ids.extend(id);
            }
            Err(e) => report.errors.add(format!("setup: {e}")),
        }
    }
    if links.is_empty() {
        delete_all(ctx, ids).await;
        return Err("no session could be set up".into());
    }

    ctx.mark_before();
    let cpu0 = self_cpu_s();
    let start = Instant::now();
    let deadline = start + args.duration;
    let n = links.len();
    let links = Rc::new(RefCell::new(links));
    let drained = bounded(n, n, |i| {
        let taken = links.borrow_mut()[i].take();
        let ctx = ctx.clone();
        async move {
            let (link, go) = taken?;
            Some(drain(&ctx, link, go, start, deadline).await)
        }
    })
    .await;
    let wall = start.elapsed();
    let client_cpu = self_cpu_s() - cpu0;
    report.server = ctx.server_stats();

    let mut total = Drained::default();
    let mut finished_in = Vec::new();
    let mut finished = Vec::new();
    for (link, d) in drained.into_iter().flatten() {
        total.bytes += d.bytes;
        total.gaps += d.gaps;
        total.errors.merge(&d.errors);
        if let Some(t) = d.took {
            finished_in.push(t.as_secs_f64());
        } else {
            total.errors.add("did not finish within --duration");
        }
        finished.push(link);
    }
    for link in finished {
        link.close().await;
    }
    delete_all(ctx, ids).await;

    let secs = wall.as_secs_f64();
    let gb = total.bytes as f64 / 1e9;
    report.errors.merge(&total.errors);
    report.result("clients", n, "");
    report.result("clients_finished", finished_in.len(), "");
    report.result("wall_s", round3(secs), "s");
    let slowest = finished_in.iter().copied().fold(0.0, f64::max);
    report.result("slowest_client_s", round3(slowest), "s");
    report.result("bytes_delivered", total.bytes, "B");
    report.result("mb_per_s", round3(total.bytes as f64 / 1e6 / secs), "MB/s");
    report.result("gaps", total.gaps, "");
    report.result("client_cpu_s", round3(client_cpu), "s");
    if gb > 0.0 {
        report.result("client_cpu_s_per_gb", round3(client_cpu / gb), "s/GB");
        if let Some(s) = report.server {
            report.result("server_cpu_s_per_gb", round3((s.after.cpu_s - s.before.cpu_s) / gb), "s/GB");
        }
    }
    Ok(report)
}

/// Reads one client's output until `exit` or the deadline; the driver sends the go line.
async fn drain(ctx: &Ctx, mut link: Link, go: bool, start: Instant, deadline: Instant) -> (Link, Drained) {
    let mut d = Drained::default();
    if go {
        if let Err(e) = link.send(b"\r").await {
            d.errors.add(format!("send: {}", e.kind()));
            return (link, d);
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let r = tokio::select! {
            r = link.recv(&mut buf, None) => r,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                d.errors.add(format!("recv: {}", e.kind()));
                break;
            }
        };
        d.bytes += r.bytes as u64;
        d.gaps += r.gaps;
        ctx.progress.add_bytes(r.bytes as u64);
        if let Err(e) = link.after_recv(&r).await {
            d.errors.add(format!("ack: {}", e.kind()));
            break;
        }
        if r.exited || r.closed {
            if !r.exited {
                d.errors.add("closed before exit");
            }
            d.took = Some(start.elapsed());
            ctx.progress.add_done(1);
            break;
        }
    }
    (link, d)
}
