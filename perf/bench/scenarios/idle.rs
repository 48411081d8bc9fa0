//! `idle`: --sessions sessions created, attached (child `stty raw -echo; printf R; exec
//! cat`) and left silent for --duration. With --pid: the server's RSS per session at the
//! end of the idle time (and right after setup), fds per session (against the sample
//! taken before setup) and its CPU while idle.
//! Then a sample of 10 of them types 10 keys/s for 2 s while the rest stay idle: the
//! echo latency shows what idle sessions cost the active ones.

use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use super::echo::{type_keys, CHILD};
use super::link::Link;
use super::{bounded, delete_all, open, sh};
use crate::procfs::round3;
use crate::report::{Latencies, Report};
use crate::Ctx;

const SAMPLE: usize = 10;
const SAMPLE_RATE: f64 = 10.0;
const SAMPLE_TIME: Duration = Duration::from_secs(2);

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    if args.raw {
        return Err("idle has no --raw mode: it measures what the server spends per session".into());
    }
    let (mode, target) = super::mode(ctx);
    let mut report = Report::new("idle", mode, target);
    report.param("sessions", args.sessions);
    report.param("idle_s", args.duration.as_secs_f64());
    report.param("sample", SAMPLE.min(args.sessions));

    ctx.mark_before();
    let before = ctx.sample();
    let setup = Instant::now();
    let opened = bounded(args.sessions, args.concurrency, |_| {
        let ctx = ctx.clone();
        async move {
            let (mut link, id) = open(&ctx, None, &sh(CHILD)).await?;
            link.wait_for(b"R", ctx.args.timeout).await.map(|()| (link, id))
        }
    })
    .await;
    let setup = setup.elapsed();
    let mut links: Vec<Link> = Vec::new();
    let mut ids = Vec::new();
    for o in opened {
        match o {
            Ok((link, id)) => {
                links.push(link);
                ids.extend(id);
            }
            Err(e) => report.errors.add(format!("setup: {e}")),
        }
    }
    let n = links.len();
    report.result("sessions_ok", n, "");
    let opened_n = n;
    report.result("setup_s", round3(setup.as_secs_f64()), "s");
    if n == 0 {
        return Err("no session could be set up".into());
    }

    // Idle: nobody types; every client keeps reading, as a browser does, so that it
    // answers the server's pings (-P) and sees a disconnect.
    let loaded = ctx.sample();
    let until = Instant::now() + args.duration;
    let cells = std::cell::RefCell::new(links.into_iter().map(Some).collect::<Vec<_>>());
    let waited = bounded(n, n, |i| {
        let link = cells.borrow_mut()[i].take();
        async move { stay_idle(link?, until).await }
    })
    .await;
    let mut links = Vec::new();
    for w in waited.into_iter().flatten() {
        match w {
            Ok(link) => links.push(link),
            Err(e) => report.errors.add(format!("idle: {e}")),
        }
    }
    let idle_end = ctx.sample();
    if let (Some(b), Some(l), Some(e)) = (before, loaded, idle_end) {
        // Idle memory is what a session costs once it has been idle (at the end of
        // --duration); right after setup its first output may still be in flight.
        report.result(
            "server_rss_kib_per_session",
            round3(e.rss_kib.saturating_sub(b.rss_kib) as f64 / opened_n as f64),
            "KiB",
        );
        report.result(
            "server_rss_kib_per_session_at_setup",
            round3(l.rss_kib.saturating_sub(b.rss_kib) as f64 / opened_n as f64),
            "KiB",
        );
        report.result(
            "server_fds_per_session",
            round3(l.fds.saturating_sub(b.fds) as f64 / opened_n as f64),
            "",
        );
        report.result("server_idle_cpu_s", round3(e.cpu_s - l.cpu_s), "s");
    }

    report.result("still_attached", links.len(), "");
    // Responsiveness of a sample while the rest stay idle.
    let n = links.len();
    let k = SAMPLE.min(n);
    let mut rest = links.split_off(k);
    let period = Duration::from_secs_f64(1.0 / SAMPLE_RATE);
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + SAMPLE_TIME;
    let sample = std::cell::RefCell::new(links.into_iter().map(Some).collect::<Vec<_>>());
    let tallies = bounded(k, k, |i| {
        let link = sample.borrow_mut()[i].take();
        let ctx = ctx.clone();
        let first = start + period.mul_f64(i as f64 / k as f64);
        async move {
            let link = link?;
            Some(type_keys(&ctx, link, first, end, period).await)
        }
    })
    .await;
    report.server = ctx.server_stats();

    let mut lat = Latencies::default();
    let mut lost = 0;
    for (link, t) in tallies.into_iter().flatten() {
        lat.extend(&t.lat);
        report.errors.merge(&t.errors);
        lost += t.lost;
        rest.push(link);
    }
    for link in rest {
        link.close().await;
    }
    delete_all(ctx, ids).await;
    report.result("sample_lost", lost, "");
    report.latencies.push(("sample_echo".into(), lat));
    Ok(report)
}

/// Reads (and acks, and answers pings) until `until`; an error if the connection ends.
async fn stay_idle(mut link: Link, until: Instant) -> Option<Result<Link, String>> {
    let mut buf = vec![0u8; 4096];
    loop {
        let r = tokio::select! {
            r = link.recv(&mut buf, None) => r,
            _ = tokio::time::sleep_until(until) => return Some(Ok(link)),
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => return Some(Err(format!("recv: {}", e.kind()))),
        };
        if r.closed {
            return Some(Err("disconnected while idle".into()));
        }
        if let Err(e) = link.after_recv(&r).await {
            return Some(Err(format!("ack: {}", e.kind())));
        }
    }
}
