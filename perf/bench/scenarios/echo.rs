//! `echo`: keystroke → echo latency. Every session runs `stty raw -echo; printf R; exec
//! cat`, so each byte typed comes back exactly once, through the child (as a shell's line
//! editor echoes), and byte i of the output answers byte i of the input. Keys are sent
//! open-loop at --rate per session (staggered across sessions), whatever the echoes do.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::link::Link;
use super::{bounded, close_all, mode, open_ready};
use crate::report::{Errors, Latencies, Report};
use crate::Ctx;

pub(super) const CHILD: &str = "stty raw -echo; printf R; exec cat";

/// What one session measured.
#[derive(Default)]
pub(super) struct Tally {
    pub lat: Latencies,
    pub errors: Errors,
    pub sent: u64,
    pub lost: u64,
}

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    let rate = args.rate.unwrap_or(10.0);
    if !(rate > 0.0 && rate.is_finite()) {
        return Err("--rate must be above 0".into());
    }
    let script = Rc::new(args.command.clone().unwrap_or_else(|| CHILD.to_string()));
    let (mode, target) = mode(ctx);
    let mut report = Report::new("echo", mode, target);
    report.param("sessions", args.sessions);
    report.param("rate", rate);
    report.param("duration_s", args.duration.as_secs_f64());
    report.param("child", script.as_str());

    // Setup: every session attached and its child in raw mode before the clock starts.
    let (links, ids) = open_ready(ctx, &script, b"R", &mut report).await?;

    ctx.mark_before();
    let n = links.len();
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + args.duration;
    let links = Rc::new(RefCell::new(links));
    let tallies = bounded(n, n, |i| {
        let link = links.borrow_mut()[i].take();
        let ctx = ctx.clone();
        let first = start + period.mul_f64(i as f64 / n as f64);
        async move {
            let Some(link) = link else { return (None, Tally::default()) };
            let (link, t) = type_keys(&ctx, link, first, end, period).await;
            (Some(link), t)
        }
    })
    .await;
    report.server = ctx.server_stats();

    let mut total = Tally::default();
    let mut finished = Vec::new();
    for (link, t) in tallies {
        total.lat.extend(&t.lat);
        total.errors.merge(&t.errors);
        total.sent += t.sent;
        total.lost += t.lost;
        finished.extend(link);
    }
    close_all(ctx, finished, ids).await;

    report.errors.merge(&total.errors);
    report.result("sessions_ok", n, "");
    report.result("keys_sent", total.sent, "");
    report.result("echoes", total.lat.len(), "");
    report.result("lost", total.lost, "");
    report.result("keys_per_s", (total.sent as f64 / args.duration.as_secs_f64()).round(), "/s");
    report.latencies.push(("echo".into(), total.lat));
    Ok(report)
}

/// Types into one terminal from `first` until `end`, then waits (up to --timeout) for
/// the echoes still owed.
pub(super) async fn type_keys(
    ctx: &Ctx,
    mut link: Link,
    first: Instant,
    end: Instant,
    period: Duration,
) -> (Link, Tally) {
    let mut t = Tally::default();
    let mut tick = tokio::time::interval_at(first, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let drain_end = end + ctx.args.timeout;
    let mut pending: VecDeque<(u8, Instant)> = VecDeque::new();
    let (mut buf, mut out) = (vec![0u8; 4096], Vec::with_capacity(4096));
    loop {
        let now = Instant::now();
        if now >= end && pending.is_empty() {
            break;
        }
        if now >= drain_end {
            t.lost += pending.len() as u64;
            t.errors.add("echo: not echoed within --timeout");
            break;
        }
        tokio::select! {
            _ = tick.tick(), if now < end => {
                if Instant::now() >= end {
                    continue;
                }
                let key = b'a' + (t.sent % 26) as u8;
                pending.push_back((key, Instant::now()));
                if let Err(e) = link.send(&[key]).await {
                    t.errors.add(format!("send: {}", e.kind()));
                    break;
                }
                t.sent += 1;
            }
            r = link.recv(&mut buf, Some(&mut out)) => {
                let at = Instant::now();
                let r = match r {
                    Ok(r) => r,
                    Err(e) => {
                        t.errors.add(format!("recv: {}", e.kind()));
                        break;
                    }
                };
                for &b in &out {
                    match pending.pop_front() {
                        Some((key, sent_at)) => {
                            if b != key {
                                t.errors.add("echo: wrong byte");
                            }
                            t.lat.record(at - sent_at);
                        }
                        None => t.errors.add("echo: output nobody typed"),
                    }
                }
                ctx.progress.add_done(out.len() as u64);
                out.clear();
                if let Err(e) = link.after_recv(&r).await {
                    t.errors.add(format!("ack: {}", e.kind()));
                    break;
                }
                if r.closed {
                    t.errors.add("closed early");
                    t.lost += pending.len() as u64;
                    break;
                }
            }
            _ = tokio::time::sleep_until(drain_end) => {}
        }
    }
    (link, t)
}
