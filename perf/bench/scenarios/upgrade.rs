//! `upgrade`: how long terminals are unreachable during a live upgrade (`ringtty
//! --handover SOCK`), with the floor a reconnection costs measured in the same run.
//!
//! --sessions sessions each run a child that prints a numbered line --rate times a
//! second, forever (`1\r\n2\r\n...`; or `sh -c` --command, which must do the same), and
//! one native client each reads it, acking like a browser. Then:
//!
//! - reference, one at a time: each client in turn closes its connection and
//!   reconnects with `?since=OFFSET`; the time from its close to `hello`.
//! - reference, all at once: every client closes at the same moment and reconnects, as
//!   the upgrade makes them do.
//! - upgrade: the harness says it is ready (a line on stderr, and --ready-file) and
//!   waits (up to --duration) for the new process to be started with the same command
//!   line by someone else (`perf/upgrade.sh`). The old process closes every client with
//!   1001; each reconnects at once with `since` (again every 5 ms while refused, up to
//!   --timeout) and the time from the close to `hello` is its unreachable time.
//!
//! Every line is checked on every client, across all the reconnections: `hello` must
//! come at the offset the client had, and each line must be the one after the last. A
//! line lost or repeated, a client not back, a close other than 1001 or one before the
//! upgrade fails the run (exit code 1, after the table and the cleanup).

mod client;
mod lines;

use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use super::{bounded, create, delete_all, discard};
use crate::procfs::round3;
use crate::report::{Errors, Latencies, Report};
use crate::Ctx;
use client::{Board, Client, Counts, Final, Handle, Kind, Record};

/// Lines per second per session without --rate.
const RATE: f64 = 100.0;
/// How long output is read between two phases, at least: every client must see lines.
const SETTLE: Duration = Duration::from_millis(500);

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    if args.raw {
        return Err("upgrade has no --raw mode: it measures a server handing over to another".into());
    }
    super::native_only(ctx, "reconnection with since")?;
    let rate = args.rate.unwrap_or(RATE);
    if !(rate > 0.0 && rate.is_finite()) || args.sessions == 0 {
        return Err("--rate must be above 0 and --sessions at least 1".into());
    }
    let argv = child(ctx, rate);
    let mut report = Report::new("upgrade", "native", ctx.target.url.clone());
    report.param("sessions", args.sessions);
    report.param("lines_per_s", rate);
    report.param("child", argv.last().cloned().unwrap_or_default());
    report.param("retry_ms", client::RETRY.as_millis() as u64);

    let started = Instant::now();
    let board = Rc::new(Board::default());
    let (handles, ids) = open_all(ctx, &board, &argv, &mut report.errors).await?;
    // Long enough for every client to see lines at --rate.
    let settle = SETTLE.max(Duration::from_secs_f64(20.0 / rate));
    let outcome = measure(ctx, &board, &handles, settle).await;
    let finals = stop_all(handles).await;
    let t0 = Instant::now();
    let n = ids.len();
    let removed = delete_all(ctx, ids).await;
    report.result("cleanup_s", round3(t0.elapsed().as_secs_f64()), "s");
    if let Err(e) = outcome {
        return Err(match finals.iter().find_map(|f| f.error.as_ref()) {
            Some(first) => format!("{e}; the first client's error: {first}"),
            None => e,
        });
    }
    let verdict = summarize(&finals, &mut report);
    if removed < n {
        report.errors.add(format!("cleanup: {} sessions could not be removed", n - removed));
    }
    match verdict {
        Ok(v) => {
            report.verdict = Some(v);
            Ok(report)
        }
        Err(e) => {
            // The timings are worth seeing all the same (main prints a report only on Ok).
            report.elapsed = started.elapsed();
            report.print_table();
            Err(e)
        }
    }
}

/// Ends every client's task (closing its connection): what each one found.
async fn stop_all(handles: Vec<Handle>) -> Vec<Final> {
    let mut finals = Vec::new();
    for h in handles {
        let _ = h.tx.send(client::Cmd::Stop);
        match h.task.await {
            Ok(f) => finals.push(f),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    finals
}

/// The child: a numbered line every 1/rate s. Not `sh -c 'while :; do ...; sleep
/// 0.01; done'`: its `sleep` is a process, and a thousand sessions would fork a hundred
/// thousand of them a second; perl sleeps in the one process.
fn child(ctx: &Ctx, rate: f64) -> Vec<String> {
    if let Some(cmd) = &ctx.args.command {
        return ["sh", "-c", cmd].map(String::from).to_vec();
    }
    let script = format!(
        "$| = 1; for (my $i = 1; ; $i++) {{ print \"$i\\n\"; select(undef, undef, undef, {}) }}",
        1.0 / rate
    );
    vec!["perl".into(), "-e".into(), script]
}

/// Creates --sessions sessions running `argv` and attaches a client to each (at most
/// --concurrency at once). Setup failures go into `errors`; Err if none could be set up.
async fn open_all(
    ctx: &Rc<Ctx>,
    board: &Rc<Board>,
    argv: &[String],
    errors: &mut Errors,
) -> Result<(Vec<Handle>, Vec<String>), String> {
    let argv: Rc<Vec<String>> = Rc::new(argv.to_vec());
    let opened = bounded(ctx.args.sessions, ctx.args.concurrency, |_| {
        let (ctx, board, argv) = (ctx.clone(), board.clone(), argv.clone());
        async move {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let id = create(&ctx, &argv).await?;
            let attach = tokio::time::timeout(ctx.args.timeout, Client::start(&ctx, &board, id.clone()));
            match attach.await.unwrap_or_else(|_| Err("attach: no hello within --timeout".into())) {
                Ok(h) => Ok((h, id)),
                Err(e) => {
                    discard(&ctx, &id).await;
                    Err(e)
                }
            }
        }
    })
    .await;
    let (mut handles, mut ids) = (Vec::new(), Vec::new());
    for o in opened {
        match o {
            Ok((h, id)) => {
                handles.push(h);
                ids.push(id);
            }
            Err(e) => errors.add(format!("setup: {e}")),
        }
    }
    if handles.is_empty() {
        return Err("no session could be set up".into());
    }
    Ok((handles, ids))
}

/// The reference (one at a time, then all at once), then the upgrade.
async fn measure(ctx: &Ctx, board: &Board, handles: &[Handle], settle: Duration) -> Result<(), String> {
    tokio::time::sleep(settle).await;
    for h in handles {
        if let Some(done) = h.reconnect(Kind::One) {
            let _ = done.await;
        }
    }
    tokio::time::sleep(settle).await;
    let all: Vec<_> = handles.iter().filter_map(|h| h.reconnect(Kind::All)).collect();
    for done in all {
        let _ = done.await;
    }
    tokio::time::sleep(settle).await;
    ready(ctx, board, handles.len())?;
    let give_up = Instant::now() + ctx.args.duration;
    while board.first_close.get().is_none() {
        if handles.iter().all(|h| h.task.is_finished()) {
            return Err("every client ended before the upgrade".into());
        }
        if Instant::now() >= give_up {
            return Err("no upgrade within --duration: was the new process started with the same \
                        command line (--handover)?"
                .into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Each client has --timeout from its own close; the closes are spread over the export.
    let deadline = Instant::now() + 2 * ctx.args.timeout;
    while !handles.iter().all(Handle::settled) {
        if Instant::now() >= deadline {
            let left = handles.iter().filter(|h| !h.settled()).count();
            return Err(format!(
                "{left} clients neither closed by the old process nor back after 2 x --timeout"
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(settle).await;
    Ok(())
}

/// The upgrade may come: a line on stderr and --ready-file (holding the client count).
fn ready(ctx: &Ctx, board: &Board, clients: usize) -> Result<(), String> {
    board.ready.set(true);
    if let Some(path) = &ctx.args.ready_file {
        std::fs::write(path, format!("{clients}\n"))
            .map_err(|e| format!("--ready-file {}: {e}", path.display()))?;
    }
    eprintln!(
        "upgrade: {clients} clients reading, reference measured: start the new process now \
         (waiting up to {:?})",
        ctx.args.duration
    );
    Ok(())
}

/// Timings and counts into `report`; Ok(the verdict) if every line came once and in
/// order on every client and every client came back, else Err(why, with the first fault).
fn summarize(finals: &[Final], report: &mut Report) -> Result<String, String> {
    for kind in [Kind::One, Kind::All, Kind::Upgrade] {
        let recs: Vec<&Record> = finals.iter().flat_map(|f| &f.records).filter(|r| r.kind == kind).collect();
        timings(kind, &recs, report);
    }
    let sum = |f: fn(&Final) -> u64| finals.iter().map(f).sum::<u64>();
    let (lost, repeated, garbled) =
        (sum(|f| f.lines.lost), sum(|f| f.lines.repeated), sum(|f| f.lines.garbled));
    let elsewhere = sum(|f| f.resumed_elsewhere);
    let silent = sum(|f| silent_after_hello(f) as u64);
    report.result("lines_checked", sum(|f| f.lines.seen()), "lines");
    report.result("lines_lost", lost, "lines");
    report.result("lines_repeated", repeated, "lines");
    report.result("lines_garbled", garbled, "lines");
    report.result("hello_at_another_offset", elsewhere, "");
    report.result("no_line_after_a_reconnection", silent, "");
    let odd = counts(report, "closes_not_1001", "closed: ", finals.iter().map(|f| &f.odd_closes));
    counts(report, "retries", "retry ", finals.iter().map(|f| &f.retries));
    for e in finals.iter().filter_map(|f| f.error.as_ref()) {
        report.errors.add(e.clone());
    }
    let failed = finals.iter().filter(|f| f.error.is_some()).count();
    if sum(|f| f.lines.faults()) + elsewhere + silent + odd == 0 && failed == 0 {
        let n = finals.len();
        return Ok(format!("every line once and in order on all {n} sessions, across every reconnection"));
    }
    let first = finals
        .iter()
        .find_map(|f| Some(format!("session {}: {}", f.id, f.lines.first_fault.as_ref()?)))
        .or_else(|| finals.iter().find_map(|f| f.error.clone()))
        .unwrap_or_default();
    Err(format!(
        "{lost} lines lost, {repeated} repeated, {garbled} garbled, {elsewhere} hello at another \
         offset, {silent} silent after a reconnection, {odd} closes other than 1001, {failed} of {} \
         clients failed; first: {first}",
        finals.len()
    ))
}

/// The clients' counts merged into `report`: the total as `name`, then one line per
/// why (`prefix` + why). Returns the total.
fn counts<'a>(report: &mut Report, name: &str, prefix: &str, each: impl Iterator<Item = &'a Counts>) -> u64 {
    let mut all = Counts::new();
    for (why, n) in each.flatten() {
        *all.entry(why.clone()).or_default() += n;
    }
    let total = all.values().sum();
    report.result(name, total, "");
    for (why, n) in all {
        report.result(&format!("{prefix}{why}"), n, "");
    }
    total
}

/// Close -> hello and last byte -> first byte of one kind, and for the herds, from the
/// first close: to the last hello (the whole), to the last close (how long the closes
/// took to all arrive) and to the first hello (when the server answered again).
fn timings(kind: Kind, recs: &[&Record], report: &mut Report) {
    let (mut gone, mut silent) = (Latencies::default(), Latencies::default());
    for r in recs {
        gone.record(r.hello - r.closed);
        if let (Some(last), Some(first)) = (r.last_byte, r.first_byte) {
            silent.record(first - last);
        }
    }
    let name = kind.name();
    report.latencies.push((name.to_string(), gone));
    report.latencies.push((format!("{name}_silent"), silent));
    let closes = recs.iter().map(|r| r.closed);
    let hellos = recs.iter().map(|r| r.hello);
    let (Some(first), Some(last_close), Some(first_hello), Some(last_hello)) =
        (closes.clone().min(), closes.max(), hellos.clone().min(), hellos.max())
    else {
        return;
    };
    if kind != Kind::One {
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        report.result(&format!("{name}_whole_ms"), ms(last_hello - first), "ms");
        report.result(&format!("{name}_closes_spread_ms"), ms(last_close - first), "ms");
        report.result(&format!("{name}_first_hello_ms"), ms(first_hello - first), "ms");
        // To line up with the servers' logs (JSON only).
        let wall = [("first_close", first), ("last_close", last_close), ("first_hello", first_hello)];
        let wall: serde_json::Map<String, serde_json::Value> = wall
            .into_iter()
            .chain([("last_hello", last_hello)])
            .map(|(k, at)| (k.to_string(), unix_ms(at).into()))
            .collect();
        report.series.insert(format!("{name}_unix_ms"), wall.into());
    }
}

/// `at` on the wall clock, in milliseconds since the Unix epoch.
fn unix_ms(at: Instant) -> f64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let wall = now.saturating_sub(Instant::now().saturating_duration_since(at));
    (wall.as_secs_f64() * 1e6).round() / 1e3
}

/// Whether a reconnection of this client was followed by no line at all (before the
/// next one, or the end): the session did not go on.
fn silent_after_hello(f: &Final) -> bool {
    let marks: Vec<u64> = f.records.iter().map(|r| r.lines_at_hello).chain([f.lines.seen()]).collect();
    f.lines.seen() == 0 || marks.windows(2).any(|w| w[1] == w[0])
}
