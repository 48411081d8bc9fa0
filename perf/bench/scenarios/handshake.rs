//! `handshake`: how fast the server sets up new connections. --cycles connections by
//! --sessions workers (1: one after the other), each TCP connect (+ the TLS handshake) →
//! `GET /health` with `Connection: close` → the response → the server's close, so that
//! the server, not the harness, holds TIME_WAIT and thousands of runs do not run out of
//! ports. With TLS there are two phases of --cycles each: full handshakes (a client seen
//! for the first time), then resumed ones (session tickets from a few priming
//! connections, then from each handshake: a returning client). The server's CPU is
//! sampled around each phase (--pid): CPU per handshake includes its accept, the request
//! and the close, which is what a plain connection costs too, so plain vs TLS compare.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{bounded, mode};
use crate::conn::{Handshake, Stream};
use crate::procfs::{round3, self_cpu_s};
use crate::report::{Errors, Latencies, Report};
use crate::Ctx;

/// One worker's tally.
#[derive(Default)]
struct Tally {
    handshake: Latencies,
    connection: Latencies,
    resumed: u64,
    errors: Errors,
}

/// What a phase measured.
struct Phase {
    tally: Tally,
    wall: Duration,
    server_cpu_s: Option<f64>,
    client_cpu_s: f64,
}

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    if args.raw {
        return Err("handshake has no --raw mode: it measures the server's connection setup".into());
    }
    let tls = ctx.target.tls.is_some();
    let (mode, target) = mode(ctx);
    let mut report = Report::new("handshake", mode, target);
    report.param("connections", args.cycles);
    report.param("workers", args.sessions.max(1));
    report.param("request", "GET /health, Connection: close");
    report.param("max_duration_s", args.duration.as_secs_f64());

    ctx.mark_before();
    let kinds: &[Handshake] =
        if tls { &[Handshake::Full, Handshake::Resumed] } else { &[Handshake::Default] };
    for &kind in kinds {
        if kind == Handshake::Resumed {
            // Tickets for every worker's first resumption (the server sends some with each
            // handshake; rustls keeps them per server name).
            for _ in 0..args.sessions.max(1) {
                let _ = connection(ctx, kind).await;
            }
        }
        let p = phase(ctx, kind).await;
        let n = p.tally.connection.len();
        let per_s = round3(n as f64 / p.wall.as_secs_f64());
        let (suffix, what) = match kind {
            Handshake::Resumed => ("_resumed", "resumed_handshakes"),
            _ => ("", "handshakes"),
        };
        report.result(what, n, "");
        report.result(&format!("{what}_per_s"), per_s, "/s");
        if kind == Handshake::Resumed && n > 0 {
            // A handshake that found no ticket (or whose ticket the server refused) was a
            // full one: this says how many were really resumed.
            report.result("resumed_pct", round3(100.0 * p.tally.resumed as f64 / n as f64), "%");
        }
        if n > 0 {
            let per = |cpu: f64| round3(cpu * 1e6 / n as f64);
            if let Some(cpu) = p.server_cpu_s {
                report.result(&format!("server_cpu_us_per_{}", &what[..what.len() - 1]), per(cpu), "µs");
            }
            report.result(
                &format!("client_cpu_us_per_{}", &what[..what.len() - 1]),
                per(p.client_cpu_s),
                "µs",
            );
        }
        report.errors.merge(&p.tally.errors);
        report.latencies.push((format!("handshake{suffix}"), p.tally.handshake));
        report.latencies.push((format!("connection{suffix}"), p.tally.connection));
    }
    report.server = ctx.server_stats();
    Ok(report)
}

/// --cycles connections of `kind` by --sessions workers, bounded by --duration.
async fn phase(ctx: &Rc<Ctx>, kind: Handshake) -> Phase {
    let workers = ctx.args.sessions.max(1);
    let next = Rc::new(Cell::new(0usize));
    let server0 = ctx.sample();
    let client0 = self_cpu_s();
    let start = Instant::now();
    let deadline = start + ctx.args.duration;
    let tallies = bounded(workers, workers, |_| {
        let (ctx, next) = (ctx.clone(), next.clone());
        async move {
            let mut t = Tally::default();
            while next.get() < ctx.args.cycles && Instant::now() < deadline {
                next.set(next.get() + 1);
                let one = tokio::time::timeout(ctx.args.timeout, connection(&ctx, kind));
                match one.await.unwrap_or_else(|_| Err("timeout".into())) {
                    Ok(c) => {
                        t.handshake.record(c.handshake);
                        t.connection.record(c.total);
                        t.resumed += u64::from(c.resumed);
                        ctx.progress.add_done(1);
                    }
                    Err(e) => {
                        t.errors.add(e);
                        ctx.progress.add_error();
                    }
                }
            }
            t
        }
    })
    .await;
    let wall = start.elapsed();
    let client_cpu_s = self_cpu_s() - client0;
    let server_cpu_s = ctx.sample().zip(server0).map(|(after, before)| after.cpu_s - before.cpu_s);
    let mut tally = Tally::default();
    for t in tallies {
        tally.handshake.extend(&t.handshake);
        tally.connection.extend(&t.connection);
        tally.resumed += t.resumed;
        tally.errors.merge(&t.errors);
    }
    Phase { tally, wall, server_cpu_s, client_cpu_s }
}

/// One connection's timings.
struct Conn {
    /// TCP connect + TLS handshake.
    handshake: Duration,
    /// Through the server's close.
    total: Duration,
    resumed: bool,
}

async fn connection(ctx: &Ctx, kind: Handshake) -> Result<Conn, String> {
    let t0 = Instant::now();
    let tcp = TcpStream::connect(ctx.target.addr).await.map_err(|e| format!("connect: {}", e.kind()))?;
    tcp.set_nodelay(true).map_err(|e| format!("connect: {e}"))?;
    let mut stream = Stream::over(&ctx.target, tcp, kind).await.map_err(|e| format!("handshake: {e}"))?;
    let handshake = t0.elapsed();
    let req = format!("GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", ctx.target.host);
    stream.write_all(req.as_bytes()).await.map_err(|e| format!("request: {e}"))?;
    // Read to the end: the server closes after the response.
    let (mut buf, mut chunk) = (Vec::with_capacity(512), [0u8; 4096]);
    loop {
        let n = stream.read_some(&mut chunk).await.map_err(|e| format!("response: {e}"))?;
        if n == 0 {
            break;
        }
        if buf.len() + n > 64 * 1024 {
            return Err("response: larger than 64 KiB".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let total = t0.elapsed();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&buf) {
        Ok(httparse::Status::Complete(_)) if resp.code == Some(200) => {}
        Ok(httparse::Status::Complete(_)) => return Err(format!("health: HTTP {}", resp.code.unwrap_or(0))),
        Ok(httparse::Status::Partial) => return Err("response: closed before the end of the head".into()),
        Err(e) => return Err(format!("response: {e}")),
    }
    Ok(Conn { handshake, total, resumed: stream.resumed() })
}
