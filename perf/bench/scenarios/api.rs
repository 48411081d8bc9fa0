//! `api`: REST API latency. --sessions clients, each on one keep-alive connection, do
//! rounds of POST /api/sessions (child `cat`), GET /api/sessions/{id}, GET
//! /api/sessions?limit=100, DELETE /api/sessions/{id} — closed-loop (as fast as the
//! server answers) or at --rate rounds/s per client — until --cycles rounds in all or
//! --duration. The sessions are removed afterwards, outside the timed rounds.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::{bounded, create_on, delete_all, delete_on};
use crate::http::HttpConn;
use crate::procfs::round3;
use crate::report::{Errors, Latencies, Report};
use crate::Ctx;

#[derive(Default)]
struct Tally {
    create: Latencies,
    get: Latencies,
    list: Latencies,
    delete: Latencies,
    errors: Errors,
}

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    if args.raw {
        return Err("api has no --raw mode: it measures the server's REST API".into());
    }
    super::native_only(ctx, "REST API")?;
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err("--rate must be above 0".into());
    }
    let mut report = Report::new("api", "native", ctx.target.url.clone());
    report.param("clients", args.sessions);
    report.param("rounds", args.cycles);
    report.param("rate", args.rate.map_or("max".to_string(), |r| r.to_string()));
    report.param("max_duration_s", args.duration.as_secs_f64());

    ctx.mark_before();
    let next = Rc::new(Cell::new(0usize));
    let ids = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let deadline = start + args.duration;
    let clients = args.sessions.max(1);
    let tallies = bounded(clients, clients, |_| {
        let (ctx, next, ids) = (ctx.clone(), next.clone(), ids.clone());
        async move {
            let mut t = Tally::default();
            let Ok(mut conn) = HttpConn::connect(&ctx.target).await else {
                t.errors.add("connect");
                return t;
            };
            let mut tick = ctx.args.rate.map(|r| tokio::time::interval(Duration::from_secs_f64(1.0 / r)));
            if let Some(tick) = &mut tick {
                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            }
            while next.get() < ctx.args.cycles && Instant::now() < deadline {
                next.set(next.get() + 1);
                if let Some(tick) = &mut tick {
                    tick.tick().await;
                }
                match round(&ctx, &mut conn, &mut t).await {
                    Ok(id) => ids.borrow_mut().push(id),
                    Err(e) => {
                        t.errors.add(e);
                        ctx.progress.add_error();
                        match HttpConn::connect(&ctx.target).await {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                    }
                }
                ctx.progress.add_done(1);
            }
            t
        }
    })
    .await;
    let wall = start.elapsed();
    report.server = ctx.server_stats();
    delete_all(ctx, ids.take()).await;

    let mut total = Tally::default();
    for t in &tallies {
        total.create.extend(&t.create);
        total.get.extend(&t.get);
        total.list.extend(&t.list);
        total.delete.extend(&t.delete);
        total.errors.merge(&t.errors);
    }
    let rounds = total.delete.len();
    report.errors.merge(&total.errors);
    report.result("rounds_ok", rounds, "");
    report.result("rounds_per_s", round3(rounds as f64 / wall.as_secs_f64()), "/s");
    report.result("requests_per_s", round3(4.0 * rounds as f64 / wall.as_secs_f64()), "/s");
    for (name, l) in
        [("create", total.create), ("get", total.get), ("list", total.list), ("delete", total.delete)]
    {
        report.latencies.push((name.into(), l));
    }
    Ok(report)
}

/// One round; returns the session's id (removed after the run).
async fn round(ctx: &Ctx, conn: &mut HttpConn, t: &mut Tally) -> Result<String, String> {
    let t0 = Instant::now();
    let id = create_on(ctx, conn, &["cat"]).await?;
    t.create.record(t0.elapsed());
    let path = format!("/api/sessions/{id}");
    let t0 = Instant::now();
    let got = conn.request("GET", &path, None).await.map_err(|e| format!("get: {e}"))?;
    t.get.record(t0.elapsed());
    if got.status != 200 {
        return Err(format!("get: HTTP {}", got.status));
    }
    let t0 = Instant::now();
    let list =
        conn.request("GET", "/api/sessions?limit=100", None).await.map_err(|e| format!("list: {e}"))?;
    t.list.record(t0.elapsed());
    if list.status != 200 {
        return Err(format!("list: HTTP {}", list.status));
    }
    let t0 = Instant::now();
    let status = delete_on(conn, &id).await?;
    t.delete.record(t0.elapsed());
    if status != 202 && status != 200 {
        return Err(format!("delete: HTTP {status}"));
    }
    Ok(id)
}
