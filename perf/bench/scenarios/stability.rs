//! `stability`: --sessions attached sessions (child `cat`) each send a WebSocket ping
//! every 1/--rate s (default 1 s) for --duration, answer the server's pings, and count
//! the pongs that come back (within --timeout after the last ping) and any disconnect.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::{bounded, delete_all, mode, open_attached, Attached};
use crate::client::Msg;
use crate::procfs::round3;
use crate::report::{Errors, Latencies, Report};
use crate::Ctx;

#[derive(Default)]
struct Tally {
    pings: u64,
    pongs: u64,
    lat: Latencies,
    errors: Errors,
    disconnects: u64,
}

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    if args.raw {
        return Err("stability has no --raw mode: it measures WebSocket pings".into());
    }
    let rate = args.rate.unwrap_or(1.0);
    if !(rate > 0.0 && rate.is_finite()) {
        return Err("--rate must be above 0".into());
    }
    let (mode, target) = mode(ctx);
    let mut report = Report::new("stability", mode, target);
    report.param("sessions", args.sessions);
    report.param("pings_per_s", rate);
    report.param("duration_s", args.duration.as_secs_f64());

    let opened = bounded(args.sessions, args.concurrency, |_| {
        let ctx = ctx.clone();
        async move { open_attached(&ctx, &["cat"]).await }
    })
    .await;
    let mut conns = Vec::new();
    let mut ids = Vec::new();
    for o in opened {
        match o {
            Ok((a, id)) => {
                conns.push(Some(a));
                ids.extend(id);
            }
            Err(e) => report.errors.add(format!("setup: {e}")),
        }
    }
    if conns.is_empty() {
        return Err("no session could be set up".into());
    }

    ctx.mark_before();
    let n = conns.len();
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + args.duration;
    let conns = Rc::new(RefCell::new(conns));
    let tallies = bounded(n, n, |i| {
        let a = conns.borrow_mut()[i].take();
        let ctx = ctx.clone();
        let first = start + period.mul_f64(i as f64 / n as f64);
        async move {
            let Some(a) = a else { return Tally::default() };
            ping(&ctx, a, first, end, period).await
        }
    })
    .await;
    report.server = ctx.server_stats();
    delete_all(ctx, ids).await;

    let mut total = Tally::default();
    for t in &tallies {
        total.pings += t.pings;
        total.pongs += t.pongs;
        total.disconnects += t.disconnects;
        total.lat.extend(&t.lat);
        total.errors.merge(&t.errors);
    }
    report.errors.merge(&total.errors);
    report.result("sessions_ok", n, "");
    report.result("pings", total.pings, "");
    report.result("pongs", total.pongs, "");
    let pct = if total.pings > 0 { total.pongs as f64 / total.pings as f64 * 100.0 } else { 0.0 };
    report.result("pong_rate_pct", round3(pct), "%");
    report.result("disconnects", total.disconnects, "");
    report.latencies.push(("pong".into(), total.lat));
    Ok(report)
}

async fn ping(ctx: &Ctx, mut a: Attached, first: Instant, end: Instant, period: Duration) -> Tally {
    let mut t = Tally::default();
    let mut tick = tokio::time::interval_at(first, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let drain_end = end + ctx.args.timeout;
    let mut sent: VecDeque<(u64, Instant)> = VecDeque::new();
    loop {
        let now = Instant::now();
        if (now >= end && sent.is_empty()) || now >= drain_end {
            break;
        }
        let (mut bytes, mut closed, mut pongs) = (0usize, None, Vec::new());
        tokio::select! {
            _ = tick.tick(), if now < end => {
                if Instant::now() >= end {
                    continue;
                }
                let seq = t.pings;
                sent.push_back((seq, Instant::now()));
                t.pings += 1;
                if let Err(e) = a.ws.send_ping(&seq.to_be_bytes()).await {
                    t.errors.add(format!("ping: {}", e.kind()));
                    t.disconnects += 1;
                    break;
                }
                continue;
            }
            r = a.ws.read(|m| match m {
                Msg::Output(b) => bytes += b.len(),
                Msg::Pong(p) => pongs.push(p.try_into().map(u64::from_be_bytes).ok()),
                Msg::Closed(code) => closed = Some(code),
                Msg::Text(_) => {}
            }) => {
                if let Err(e) = r {
                    t.errors.add(format!("recv: {}", e.kind()));
                    t.disconnects += 1;
                    break;
                }
            }
            _ = tokio::time::sleep_until(drain_end) => break,
        }
        let at = Instant::now();
        for seq in pongs {
            // Pongs answer pings in order (RFC 6455 §5.5.3 allows skipping some).
            while let Some(&(s, sent_at)) = sent.front() {
                sent.pop_front();
                if Some(s) == seq {
                    t.pongs += 1;
                    t.lat.record(at - sent_at);
                    ctx.progress.add_done(1);
                    break;
                }
            }
        }
        if let Some(code) = closed {
            t.errors.add(match code {
                Some(code) => format!("disconnected: close {code}"),
                None => "disconnected: connection lost".to_string(),
            });
            t.disconnects += 1;
            break;
        }
        if let Err(e) = async {
            a.account(bytes).await?;
            a.ws.flush().await
        }
        .await
        {
            t.errors.add(format!("ack: {}", e.kind()));
            break;
        }
    }
    a.ws.close().await;
    t
}
