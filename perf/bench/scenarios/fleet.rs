//! `fleet`: the fleet of issue 16 (`ringtty --nats URL --node-id NAME
//! --auth-secret-file KEY`), measured end to end on running nodes. `--url` is node 1,
//! where the kill switch and revocations are called; `--nodes` names the others. Every
//! node gets `--sessions-per-node` sessions (child `cat`, user `bench-list`), then:
//!
//! - list: `GET /api/sessions?scope=fleet&limit=1000` and, the reference in the same
//!   run, one node's own `GET /api/sessions?limit=1000`, `--cycles` calls each,
//!   interleaved and round-robin over the nodes. Every answer is checked: `total`,
//!   `partial`, the nodes that replied.
//! - kill: `--kill-sessions` sessions per node of user `bench-kill`, then `POST
//!   /api/admin/kill {"user": "bench-kill"}` on node 1 while every node's own list of
//!   that user's sessions is polled (every `--poll`): per session, the time from the call
//!   to the first answer showing it no longer running (an upper bound, by at most one
//!   poll). The whole path: HTTP, the NATS fan-out, SIGHUP, the reap, the status.
//! - revoke: `--revocations` tokens (user `bench-revoke`, a jti each), one at a time:
//!   `POST /api/admin/revoke {"jti": ...}` on node 1 while every node is asked with that
//!   token, back to back: per node, the time from the call to its first 401. (A probe
//!   takes a tenth of a millisecond and a revocation arrives in under one: a pause
//!   between probes would be most of what is measured.)
//!
//! A wrong answer (a short total, `partial: true`, a node missing, a session still
//! running or a token still taken after `--timeout`) ends the run with one line, after
//! the cleanup: the kill switch for the scenario's users, then every session it made
//! removed on its own node.

mod setup;
mod wire;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use ringtty::auth::{sign, Claims, Key, Mode};
use serde_json::json;
use tokio::time::{timeout, Instant};

use crate::http::{Response, Target};
use crate::report::{Latencies, Report};
use crate::Ctx;
use setup::{baselines, check_minted, cleanup, create_everywhere, named_nodes, read_key, remove_made, Base};
use wire::{connect, excerpt, get, pause, request, unix_nanos, unix_now, with_token, Probe};

const LIST_USER: &str = "bench-list";
const KILL_USER: &str = "bench-kill";
const REVOKE_USER: &str = "bench-revoke";
/// The server's largest page: the kill watchers read a node's sessions in one.
const PAGE: usize = 1000;
const FLEET_LIST: &str = "/api/sessions?scope=fleet&limit=1000";
const LOCAL_LIST: &str = "/api/sessions?limit=1000";
/// Minted tokens outlast the run; a revocation lasts as long as its token (`until`), so
/// the nodes' lists do not keep a run's tokens for the default week.
const TOKEN_TTL: u64 = 12 * 3600;

/// A node: its name (`--node-id`) and how to reach it with the admin's token.
struct Node {
    name: String,
    admin: Target,
}

struct Fleet {
    nodes: Vec<Node>,
    key: Key,
    /// What the run created, per node and not yet removed: the cleanup's list.
    made: RefCell<Vec<Vec<String>>>,
    /// Tells this run's revoked tokens from any earlier run's.
    run_id: String,
}

impl Fleet {
    fn n(&self) -> usize {
        self.nodes.len()
    }

    fn mint(&self, sub: &str, jti: Option<String>) -> String {
        let now = unix_now();
        let claims = Claims {
            sub: Some(sub.into()),
            mode: Mode::Rw,
            sid: None,
            admin: false,
            exp: now + TOKEN_TTL,
            nbf: None,
            iat: Some(now),
            jti,
        };
        sign(&claims, &self.key)
    }
}

pub async fn run(ctx: &Rc<Ctx>) -> Result<Report, String> {
    let args = &ctx.args;
    if args.raw {
        return Err("fleet has no --raw mode: it measures a fleet of servers".into());
    }
    super::native_only(ctx, "the fleet's REST API")?;
    if args.kill_sessions > PAGE {
        return Err(format!("--kill-sessions: at most {PAGE} (one page of a node's list)"));
    }
    if args.cycles == 0 || args.sessions_per_node == 0 {
        return Err("--cycles and --sessions-per-node: at least 1".into());
    }
    let key = read_key(args.secret_file.as_deref())?;
    let nodes = named_nodes(ctx).await?;
    let n = nodes.len();
    let run_id = format!("{:x}-{}", unix_nanos(), std::process::id());
    let fleet = Rc::new(Fleet { nodes, key, made: RefCell::new(vec![Vec::new(); n]), run_id });
    check_minted(ctx, &fleet).await?;

    let mut report = Report::new("fleet", "native", ctx.target.url.clone());
    report.param("nodes", fleet.nodes.iter().map(|x| x.name.clone()).collect::<Vec<_>>());
    report.param("sessions_per_node", args.sessions_per_node);
    report.param("list_calls", args.cycles);
    report.param("kill_sessions_per_node", args.kill_sessions);
    report.param("kill_rounds", args.kill_rounds);
    report.param("revocations", args.revocations);
    report.param("poll_ms", args.poll.as_secs_f64() * 1e3);
    report.param("child", "cat");

    let outcome = measure(ctx, &fleet, &mut report).await;
    let t0 = Instant::now();
    let left = cleanup(ctx, &fleet).await;
    report.result("cleanup_s", crate::procfs::round3(t0.elapsed().as_secs_f64()), "s");
    match (outcome, left) {
        (Ok(()), 0) => Ok(report),
        (Ok(()), left) => Err(format!("cleanup: {left} sessions could not be removed")),
        (Err(e), 0) => Err(e),
        (Err(e), left) => Err(format!("{e}; cleanup: {left} sessions could not be removed")),
    }
}

async fn measure(ctx: &Rc<Ctx>, fleet: &Rc<Fleet>, report: &mut Report) -> Result<(), String> {
    let base = baselines(ctx, fleet).await?;
    let list_token = fleet.mint(LIST_USER, None);
    create_everywhere(ctx, fleet, &list_token, ctx.args.sessions_per_node).await?;
    ctx.mark_before();
    list(ctx, fleet, &base, report).await?;
    kill(ctx, fleet, report).await?;
    revoke(ctx, fleet, report).await?;
    report.server = ctx.server_stats();
    Ok(())
}

// ---- the measurements -----------------------------------------------------------------

/// The fleet-wide list against a node's own, interleaved, round-robin over the nodes.
async fn list(ctx: &Ctx, fleet: &Fleet, base: &Base, report: &mut Report) -> Result<(), String> {
    let (n, s) = (fleet.n(), ctx.args.sessions_per_node);
    let want_fleet = base.fleet + n * s;
    let mut conns = Vec::new();
    for node in &fleet.nodes {
        conns.push(connect(&node.admin).await?);
    }
    let (mut fleet_lat, mut local_lat) = (Latencies::default(), Latencies::default());
    let (mut fleet_bytes, mut local_bytes) = (0, 0);
    // One untimed call of each kind per node first: connections and caches warm.
    for i in 0..n + ctx.args.cycles {
        let node = i % n;
        let name = &fleet.nodes[node].name;
        let t0 = Instant::now();
        let resp = get(ctx, &mut conns[node], FLEET_LIST).await?;
        let took = t0.elapsed();
        check_list(&resp, Some(want_fleet), n).map_err(|e| format!("node {name}: fleet list: {e}"))?;
        let t0 = Instant::now();
        let local = get(ctx, &mut conns[node], LOCAL_LIST).await?;
        let took_local = t0.elapsed();
        check_list(&local, Some(base.local[node] + s), 0).map_err(|e| format!("node {name}: list: {e}"))?;
        if i >= n {
            fleet_lat.record(took);
            local_lat.record(took_local);
            fleet_bytes = fleet_bytes.max(resp.body.len());
            local_bytes = local_bytes.max(local.body.len());
        }
        ctx.progress.add_done(2);
    }
    report.result("fleet_total", want_fleet, "sessions");
    report.result("list_fleet_body_bytes", fleet_bytes, "B");
    report.result("list_local_body_bytes", local_bytes, "B");
    report.latencies.push(("list_fleet".into(), fleet_lat));
    report.latencies.push(("list_local".into(), local_lat));
    Ok(())
}

/// Checks a list answer; returns its `total`. `want`: the total it must have; `nodes`:
/// a fleet-wide answer must say that many nodes replied, none missing, not partial.
fn check_list(resp: &Response, want: Option<usize>, nodes: usize) -> Result<usize, String> {
    if resp.status != 200 {
        return Err(format!("HTTP {} {}", resp.status, excerpt(&resp.body)));
    }
    let v = resp.json().ok_or("not JSON")?;
    let total = v["total"].as_u64().ok_or("no total")? as usize;
    let page = v["sessions"].as_array().map_or(0, |s| s.len());
    if nodes > 0 {
        let replied = v["nodes"]["replied"].as_array().map_or(0, |r| r.len());
        if v["partial"] != false || replied != nodes {
            let (missing, partial) = (&v["nodes"]["missing"], &v["partial"]);
            return Err(format!("partial {partial}: {replied} of {nodes} nodes replied, missing {missing}"));
        }
        if v["sessions"].as_array().is_some_and(|s| s.iter().any(|x| !x["node"].is_string())) {
            return Err("a session without its node".into());
        }
    }
    match want {
        Some(want) if total != want => Err(format!("total {total}, expected {want}")),
        _ if page != total.min(v["limit"].as_u64().unwrap_or(0) as usize) => {
            Err(format!("{page} sessions in the page for a total of {total}"))
        }
        _ => Ok(total),
    }
}

/// --kill-rounds rounds: --kill-sessions sessions of `bench-kill` per node, the kill
/// switch on node 1, every session watched on its own node until it is no longer
/// running; then they are removed.
async fn kill(ctx: &Rc<Ctx>, fleet: &Rc<Fleet>, report: &mut Report) -> Result<(), String> {
    let (n, k) = (fleet.n(), ctx.args.kill_sessions);
    if k == 0 || ctx.args.kill_rounds == 0 {
        return Ok(());
    }
    let token = fleet.mint(KILL_USER, None);
    let mut admin = connect(&fleet.nodes[0].admin).await?;
    let (mut call, mut here, mut there) = (Latencies::default(), Latencies::default(), Latencies::default());
    let (mut last, mut polls) = (Latencies::default(), Latencies::default());
    let body = serde_json::to_vec(&json!({ "user": KILL_USER })).unwrap_or_default();
    for _ in 0..ctx.args.kill_rounds {
        let ids = create_everywhere(ctx, fleet, &token, k).await?;
        let t0 = Instant::now();
        let watchers: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(node, ids)| {
                let target = with_token(&fleet.nodes[node].admin, &token);
                let name = fleet.nodes[node].name.clone();
                let ids: HashSet<String> = ids.iter().cloned().collect();
                tokio::task::spawn_local(watch_exits(ctx.clone(), target, name, ids, t0))
            })
            .collect();
        let resp = request(ctx, &mut admin, "POST", "/api/admin/kill", Some(&body)).await;
        let took = t0.elapsed();
        let mut exits = Vec::new();
        for w in watchers {
            exits.push(w.await.map_err(|e| format!("kill watcher: {e}"))?);
        }
        let resp = resp?;
        call.record(took);
        check_fanout(&resp, n).map_err(|e| format!("kill: {e}"))?;
        let killed = resp.json().and_then(|v| v["killed"].as_u64()).unwrap_or(0) as usize;
        if killed != n * k {
            return Err(format!("kill: {killed} sessions killed, expected {}", n * k));
        }
        let mut slowest = Duration::ZERO;
        for (node, result) in exits.into_iter().enumerate() {
            let (times, poll) = result?;
            polls.extend(&poll);
            for t in times {
                slowest = slowest.max(t);
                (if node == 0 { &mut here } else { &mut there }).record(t);
            }
        }
        last.record(slowest);
        remove_made(ctx, fleet, ids).await?;
    }
    let all = {
        let mut all: Latencies = here.clone();
        all.extend(&there);
        all
    };
    report.result("killed_per_round", n * k, "sessions");
    for (name, l) in [
        ("kill_call", call),
        ("kill_exit_local", here),
        ("kill_exit_remote", there),
        ("kill_exit_all", all),
        ("kill_exit_last", last),
        ("kill_poll", polls),
    ] {
        report.latencies.push((name.into(), l));
    }
    Ok(())
}

/// Polls one node's own list of the user's sessions (the user's token: only theirs)
/// until none of `ids` runs; each one's time from `t0` to the answer that first showed
/// it not running, and the polls' round trips.
async fn watch_exits(
    ctx: Rc<Ctx>,
    target: Target,
    name: String,
    mut ids: HashSet<String>,
    t0: Instant,
) -> Result<(Vec<Duration>, Latencies), String> {
    let mut conn = connect(&target).await?;
    let deadline = t0 + ctx.args.timeout;
    let (mut times, mut polls) = (Vec::new(), Latencies::default());
    while !ids.is_empty() {
        let sent = Instant::now();
        let resp = get(&ctx, &mut conn, LOCAL_LIST).await?;
        polls.record(sent.elapsed());
        let at = t0.elapsed();
        let v = resp
            .json()
            .filter(|_| resp.status == 200)
            .ok_or(format!("node {name}: list: HTTP {}", resp.status))?;
        let running: HashSet<&str> = v["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["status"] == "running")
            .filter_map(|s| s["id"].as_str())
            .collect();
        let before = ids.len();
        ids.retain(|id| running.contains(id.as_str()));
        times.extend(std::iter::repeat_n(at, before - ids.len()));
        if ids.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!("kill: node {name}: {} sessions still running after --timeout", ids.len()));
        }
        pause(ctx.args.poll).await;
    }
    ctx.progress.add_done(times.len() as u64);
    Ok((times, polls))
}

/// --revocations rounds: a fresh token (its own jti) taken by every node, revoked on
/// node 1 while every node is asked with it until it answers 401.
async fn revoke(ctx: &Rc<Ctx>, fleet: &Rc<Fleet>, report: &mut Report) -> Result<(), String> {
    let n = fleet.n();
    if ctx.args.revocations == 0 {
        return Ok(());
    }
    let mut admin = connect(&fleet.nodes[0].admin).await?;
    let (mut call, mut here, mut there) = (Latencies::default(), Latencies::default(), Latencies::default());
    let (mut last, mut probes) = (Latencies::default(), Latencies::default());
    for m in 0..ctx.args.revocations {
        let jti = format!("bench-{}-{m}", fleet.run_id);
        let token = fleet.mint(REVOKE_USER, Some(jti.clone()));
        let mut ready = Vec::new();
        for node in &fleet.nodes {
            let mut probe = Probe::connect(&with_token(&node.admin, &token)).await?;
            match timeout(ctx.args.timeout, probe.status()).await {
                Ok(Ok(200)) => ready.push(probe),
                Ok(Ok(s)) => {
                    return Err(format!("revoke: node {}: HTTP {s} before the revocation", node.name))
                }
                Ok(Err(e)) => return Err(format!("revoke: node {}: {e}", node.name)),
                Err(_) => return Err(format!("revoke: node {}: no answer", node.name)),
            }
        }
        let body =
            serde_json::to_vec(&json!({ "jti": jti, "until": unix_now() + TOKEN_TTL })).unwrap_or_default();
        let t0 = Instant::now();
        let pollers: Vec<_> = ready
            .into_iter()
            .zip(&fleet.nodes)
            .map(|(probe, node)| {
                tokio::task::spawn_local(until_refused(ctx.clone(), probe, node.name.clone(), t0))
            })
            .collect();
        let resp = request(ctx, &mut admin, "POST", "/api/admin/revoke", Some(&body)).await;
        let took = t0.elapsed();
        let mut refused = Vec::new();
        for p in pollers {
            refused.push(p.await.map_err(|e| format!("revoke poller: {e}"))?);
        }
        call.record(took);
        check_fanout(&resp?, n).map_err(|e| format!("revoke: {e}"))?;
        let mut slowest = Duration::ZERO;
        for (node, result) in refused.into_iter().enumerate() {
            let (t, rtt) = result?;
            probes.extend(&rtt);
            slowest = slowest.max(t);
            (if node == 0 { &mut here } else { &mut there }).record(t);
        }
        last.record(slowest);
        ctx.progress.add_done(1);
    }
    report.result("revoked", ctx.args.revocations, "tokens");
    for (name, l) in [
        ("revoke_call", call),
        ("revoke_401_local", here),
        ("revoke_401_remote", there),
        ("revoke_401_last", last),
        ("revoke_probe", probes),
    ] {
        report.latencies.push((name.into(), l));
    }
    Ok(())
}

/// Asks until the node answers 401, back to back (yielding to the other nodes'
/// probes): the time from `t0` to that answer, and the round trips of the asks.
async fn until_refused(
    ctx: Rc<Ctx>,
    mut probe: Probe,
    name: String,
    t0: Instant,
) -> Result<(Duration, Latencies), String> {
    let deadline = t0 + ctx.args.timeout;
    let mut rtt = Latencies::default();
    loop {
        let sent = Instant::now();
        let status = match timeout(ctx.args.timeout, probe.status()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("revoke: node {name}: {e}")),
            Err(_) => return Err(format!("revoke: node {name}: no answer")),
        };
        rtt.record(sent.elapsed());
        match status {
            401 => return Ok((t0.elapsed(), rtt)),
            200 if Instant::now() < deadline => tokio::task::yield_now().await,
            200 => return Err(format!("revoke: node {name} still takes the revoked token after --timeout")),
            s => return Err(format!("revoke: node {name}: HTTP {s}")),
        }
    }
}

/// A fleet-wide call's answer: 200, every node replied, not partial.
fn check_fanout(resp: &Response, nodes: usize) -> Result<(), String> {
    if resp.status != 200 {
        return Err(format!("HTTP {} {}", resp.status, excerpt(&resp.body)));
    }
    let v = resp.json().ok_or("not JSON")?;
    let replied = v["nodes"]["replied"].as_array().map_or(0, |r| r.len());
    if v["partial"] != false || replied != nodes {
        return Err(format!(
            "partial {}: {replied} of {nodes} nodes replied, missing {}",
            v["partial"], v["nodes"]["missing"]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn answer(body: Value) -> Response {
        Response { status: 200, body: serde_json::to_vec(&body).unwrap() }
    }

    #[test]
    fn a_fleet_list_is_whole_or_refused() {
        let s = json!({"id": "n1.a", "node": "n1"});
        let whole = json!({"sessions": [s, s], "total": 2, "limit": 1000,
                           "nodes": {"replied": ["n1", "n2"], "missing": []}, "partial": false});
        assert_eq!(check_list(&answer(whole.clone()), Some(2), 2), Ok(2));
        assert!(check_list(&answer(whole.clone()), Some(3), 2).unwrap_err().contains("expected 3"));
        assert!(check_list(&answer(whole.clone()), Some(2), 3).unwrap_err().contains("2 of 3"));
        let mut partial = whole.clone();
        partial["partial"] = json!(true);
        assert!(check_list(&answer(partial), Some(2), 2).is_err());
        let mut nameless = whole;
        nameless["sessions"] = json!([{"id": "x"}, s]);
        assert!(check_list(&answer(nameless), Some(2), 2).unwrap_err().contains("without its node"));
        // A node's own list has no `nodes`; a page shorter than the total is wrong.
        let local = json!({"sessions": [s], "total": 2, "limit": 1000});
        assert!(check_list(&answer(local), None, 0).unwrap_err().contains("1 sessions in the page"));
    }
}
