//! The fleet's control thread (`--nats`): one thread, off every worker, with its own
//! current-thread runtime and the NATS client (`async-nats`). It is the only place that
//! speaks NATS. Workers ask it by message ([`Ask`], through `Shared::fleet`) and await
//! the answer on their own loops; it asks workers by message (`CrossCore`) for what
//! other nodes want of this one. Nothing on a worker's hot path waits for it.
//!
//! ```text
//!  worker ──Ask──▶ control thread ──publish/request──▶ NATS ──▶ other nodes' threads
//!     ▲                 │   ▲                                        │
//!     └──oneshot────────┘   └──────────── replies ◀──────────────────┘
//!  control thread ──CrossCore (List, Kill, Call)──▶ the workers of this node
//! ```
//!
//! NATS down: the client reconnects by itself; meanwhile fleet-wide calls answer at
//! once with this node's part and `partial: true`, and every node serves its own
//! sessions as before. After a (re)connect a node publishes the revocations it holds
//! and asks the others for theirs, so no revocation is lost to an outage.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::Fleet;
use crate::fleet::{
    subject, Ack, Ask, Gather, Gathered, Heartbeat, KillAnswer, KillAsk, ListAnswer, ListAsk, RevokeNote,
    SessionAnswer, SessionAsk, HEARTBEAT,
};
use crate::runtime::worker::{unix_now, CrossCore, Shared};
use crate::session::{NodeId, SessionId};

/// How long this node waits for its own workers when another node asks.
const WORKER_PATIENCE: Duration = Duration::from_secs(1);

/// Starts the control thread. Its errors after startup are logged; the node goes on
/// serving its own sessions whatever happens to it.
pub fn start(fleet: Fleet, shared: Arc<Shared>, asks: mpsc::UnboundedReceiver<Ask>) -> std::io::Result<()> {
    std::thread::Builder::new().name("ringtty-fleet".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                error!("fleet: cannot start the control thread's runtime: {e}; fleet calls answer partial");
                return;
            }
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, run(fleet, shared, asks));
    })?;
    Ok(())
}

/// The control thread's state, shared by its tasks (one thread: `Rc`).
struct Node {
    fleet: Fleet,
    shared: Arc<Shared>,
    client: async_nats::Client,
    our_node: Option<NodeId>,
}

impl Node {
    fn link(&self) -> &crate::runtime::worker::FleetLink {
        self.shared.fleet.as_ref().expect("the control thread runs only with --nats")
    }

    fn connected(&self) -> bool {
        self.link().connected.load(Relaxed)
    }

    fn me(&self) -> &str {
        &self.fleet.node
    }

    /// The nodes alive now, by their heartbeats.
    fn expected(&self) -> BTreeSet<String> {
        self.link().peers.lock().unwrap_or_else(|e| e.into_inner()).names(Instant::now())
    }
}

async fn run(fleet: Fleet, shared: Arc<Shared>, mut asks: mpsc::UnboundedReceiver<Ask>) {
    let servers: Vec<async_nats::ServerAddr> = match fleet.nats.iter().map(|u| u.parse()).collect() {
        Ok(s) => s,
        Err(e) => {
            error!("fleet: --nats {:?}: {e}; fleet calls answer partial", fleet.nats);
            return;
        }
    };
    // Wakes the main loop after each (re)connect, to exchange revocations.
    let (reconnected_tx, mut reconnected) = mpsc::unbounded_channel::<()>();
    let events = shared.clone();
    let options = async_nats::ConnectOptions::new()
        .name(format!("ringtty {}", fleet.node))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .ping_interval(Duration::from_secs(5))
        .event_callback(move |event| {
            let shared = events.clone();
            let reconnected = reconnected_tx.clone();
            async move {
                let link = shared.fleet.as_ref().expect("--nats");
                match event {
                    async_nats::Event::Connected => {
                        info!("fleet: connected to NATS");
                        link.connected.store(true, Relaxed);
                        let _ = reconnected.send(());
                    }
                    async_nats::Event::Disconnected => {
                        warn!("fleet: NATS connection lost; serving this node's sessions, fleet calls answer partial");
                        link.connected.store(false, Relaxed);
                    }
                    // Every failed reconnect attempt is one of these: not worth a line each.
                    async_nats::Event::ClientError(e) => debug!("fleet: NATS: {e}"),
                    other => info!("fleet: NATS: {other}"),
                }
            }
        });
    let client = match options.connect(servers).await {
        Ok(c) => c,
        Err(e) => {
            error!("fleet: cannot use NATS at {:?}: {e}; fleet calls answer partial", fleet.nats);
            return;
        }
    };
    let our_node = NodeId::new(&fleet.node).ok();
    let node = Rc::new(Node { fleet, shared, client, our_node });
    let subscribe = |s: String| {
        let client = node.client.clone();
        async move { client.subscribe(s).await }
    };
    let subs = (
        subscribe(subject::HEARTBEAT.into()).await,
        subscribe(subject::LIST.into()).await,
        subscribe(subject::KILL.into()).await,
        subscribe(subject::REVOKE.into()).await,
        subscribe(subject::REVOCATIONS.into()).await,
        subscribe(subject::session(node.me())).await,
    );
    let (Ok(mut beats), Ok(mut lists), Ok(mut kills), Ok(mut revokes), Ok(mut syncs), Ok(mut calls)) = subs
    else {
        error!("fleet: cannot subscribe to the fleet's subjects; fleet calls answer partial");
        return;
    };
    info!("fleet: node {} on NATS {:?}", node.me(), node.fleet.nats);
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cpu = CpuMeter::new();
    loop {
        tokio::select! {
            Some(ask) = asks.recv() => {
                let node = node.clone();
                tokio::task::spawn_local(async move { answer_ask(&node, ask).await });
            }
            _ = tick.tick() => heartbeat(&node, cpu.percent()).await,
            Some(()) = reconnected.recv() => {
                let node = node.clone();
                tokio::task::spawn_local(async move { exchange_revocations(&node).await });
            }
            Some(m) = beats.next() => {
                if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&m.payload) {
                    let now = Instant::now();
                    let fresh = {
                        let mut peers = node.link().peers.lock().unwrap_or_else(|e| e.into_inner());
                        let fresh = beat.node != node.me() && !peers.names(now).contains(&beat.node);
                        peers.heard(beat, node.me(), now);
                        fresh
                    };
                    // A node (re)appears: it may have missed what this node announced
                    // after its own reconnect, and not expected this node's answer to its
                    // ask: tell it again.
                    if fresh {
                        let node = node.clone();
                        tokio::task::spawn_local(async move { announce_revocations(&node).await });
                    }
                }
            }
            Some(m) = lists.next() => {
                let node = node.clone();
                tokio::task::spawn_local(async move { on_list(&node, m).await });
            }
            Some(m) = kills.next() => {
                let node = node.clone();
                tokio::task::spawn_local(async move { on_kill(&node, m).await });
            }
            Some(m) = revokes.next() => on_revoke(&node, m).await,
            Some(m) = syncs.next() => on_sync(&node, m).await,
            Some(m) = calls.next() => {
                let node = node.clone();
                tokio::task::spawn_local(async move { on_call(&node, m).await });
            }
            else => break,
        }
    }
    warn!("fleet: the control thread stopped; fleet calls answer partial");
}

// ---- what this node's workers ask of the fleet -------------------------------------

async fn answer_ask(node: &Node, ask: Ask) {
    match ask {
        Ask::List { principal, take, reply } => {
            let body = ListAsk { from: node.me().into(), principal, take };
            let g = scatter(node, subject::LIST, &body, |a: &ListAnswer| a.node.clone()).await;
            let _ = reply.send(g);
        }
        Ask::Kill { target, at_ms, reply } => {
            let body = KillAsk { from: node.me().into(), target, at_ms };
            let g = scatter(node, subject::KILL, &body, |a: &KillAnswer| a.node.clone()).await;
            let _ = reply.send(map_parts(g, |a| a.killed));
        }
        Ask::Revoke { entry, reply } => {
            let body = RevokeNote { node: node.me().into(), entries: vec![entry] };
            let g = scatter(node, subject::REVOKE, &body, |a: &Ack| a.node.clone()).await;
            let _ = reply.send(map_parts(g, |_| ()));
        }
        Ask::Session { node: owner, ask, reply } => {
            let _ = reply.send(session_call(node, &owner, &ask).await);
        }
    }
}

fn map_parts<A, B>(g: Gathered<A>, f: impl Fn(A) -> B) -> Gathered<B> {
    Gathered {
        parts: g.parts.into_iter().map(|(n, a)| (n, f(a))).collect(),
        missing: g.missing,
        partial: g.partial,
    }
}

/// Publishes `body` on `subject` with a reply inbox and gathers the answers until every
/// node alive has answered or `--fleet-timeout` has passed. With the bus down it
/// answers at once: nothing, every node missing, partial.
async fn scatter<T: DeserializeOwned>(
    node: &Node,
    subject: &'static str,
    body: &impl Serialize,
    node_of: impl Fn(&T) -> String,
) -> Gathered<T> {
    let mut gather = Gather::new(node.expected());
    if !node.connected() {
        return gather.finish(false);
    }
    let Ok(payload) = serde_json::to_vec(body) else { return gather.finish(false) };
    let inbox = node.client.new_inbox();
    let Ok(mut answers) = node.client.subscribe(inbox.clone()).await else { return gather.finish(false) };
    if node.client.publish_with_reply(subject, inbox, payload.into()).await.is_err()
        || node.client.flush().await.is_err()
    {
        return gather.finish(false);
    }
    let deadline = tokio::time::sleep(node.fleet.timeout);
    tokio::pin!(deadline);
    while !gather.complete() {
        tokio::select! {
            _ = &mut deadline => break,
            m = answers.next() => match m {
                Some(m) => {
                    if let Ok(answer) = serde_json::from_slice::<T>(&m.payload) {
                        let from = node_of(&answer);
                        if from != node.me() {
                            gather.answer(from, answer);
                        }
                    }
                }
                None => break,
            },
        }
    }
    let _ = answers.unsubscribe().await;
    gather.finish(node.connected())
}

/// A call on a session of `owner`, by request/reply to that node alone.
/// Answered for the caller: the owner's own answer; 404 when no such node is on the bus
/// (the session is gone with it); 504 when it did not answer within `--fleet-timeout`;
/// 502 when the bus is unreachable or the answer unusable.
async fn session_call(node: &Node, owner: &str, ask: &SessionAsk) -> SessionAnswer {
    let fail = |status, why: String| SessionAnswer {
        status,
        body: serde_json::json!({ "error": format!("node {owner}: {why}") }),
    };
    if !node.connected() {
        return fail(502, "the fleet's bus (NATS) is not reachable from this node".into());
    }
    let Ok(payload) = serde_json::to_vec(ask) else { return fail(502, "cannot encode the call".into()) };
    let request = node.client.request(subject::session(owner), payload.into());
    match tokio::time::timeout(node.fleet.timeout, request).await {
        Err(_) => fail(504, format!("no answer in {:?}", node.fleet.timeout)),
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
            SessionAnswer { status: 404, body: serde_json::json!({ "error": "no such session" }) }
        }
        Ok(Err(e)) => fail(502, e.to_string()),
        Ok(Ok(m)) => {
            serde_json::from_slice(&m.payload).unwrap_or_else(|_| fail(502, "a malformed answer".into()))
        }
    }
}

// ---- what other nodes ask of this one ------------------------------------------------

/// Replies to `m` with `body`, if it asked for a reply.
async fn reply(node: &Node, m: &async_nats::Message, body: &impl Serialize) {
    let (Some(to), Ok(payload)) = (m.reply.clone(), serde_json::to_vec(body)) else { return };
    if let Err(e) = node.client.publish(to, payload.into()).await {
        warn!("fleet: cannot answer on {}: {e}", m.subject);
    }
}

/// Sends one message to every worker of this node and collects the answers.
async fn ask_workers<T>(node: &Node, make: impl Fn(oneshot::Sender<T>) -> CrossCore) -> Vec<T> {
    let mut pending = Vec::new();
    for inbox in node.shared.inboxes.iter() {
        let (tx, rx) = oneshot::channel();
        if inbox.send(make(tx)).is_ok() {
            pending.push(rx);
        }
    }
    let mut out = Vec::new();
    for rx in pending {
        if let Ok(Ok(v)) = tokio::time::timeout(WORKER_PATIENCE, rx).await {
            out.push(v);
        }
    }
    out
}

async fn on_list(node: &Node, m: async_nats::Message) {
    let Ok(ask) = serde_json::from_slice::<ListAsk>(&m.payload) else { return };
    if ask.from == node.me() {
        return;
    }
    let principal = ask.principal.principal();
    let parts = ask_workers(node, |reply| CrossCore::List { reply, principal: principal.clone() }).await;
    let mut sessions: Vec<serde_json::Value> = parts.into_iter().flatten().collect();
    crate::fleet::sort_sessions(&mut sessions);
    let total = sessions.len();
    sessions.truncate(ask.take);
    // One answer is one message: it must fit the server's max_payload (1 MiB by
    // default), with room for the headers. Fewer sessions then, and it says so.
    let room = node.client.server_info().max_payload.saturating_sub(4096);
    let mut answer = ListAnswer { node: node.me().into(), sessions, total, truncated: false };
    while serde_json::to_vec(&answer).map_or(0, |b| b.len()) > room && !answer.sessions.is_empty() {
        let keep = answer.sessions.len() / 2;
        answer.sessions.truncate(keep);
        answer.truncated = true;
    }
    if answer.truncated {
        warn!(
            "fleet: {} of {total} sessions sent to node {} to fit NATS's max_payload ({} bytes): raise it in nats-server.conf",
            answer.sessions.len(),
            ask.from,
            room + 4096
        );
    }
    reply(node, &m, &answer).await;
}

async fn on_kill(node: &Node, m: async_nats::Message) {
    let Ok(ask) = serde_json::from_slice::<KillAsk>(&m.payload) else { return };
    if ask.from == node.me() {
        return;
    }
    let target = ask.target;
    let counts =
        ask_workers(node, |reply| CrossCore::Kill { target: target.clone(), before_ms: ask.at_ms, reply })
            .await;
    let killed = counts.into_iter().sum();
    info!("fleet: kill switch from node {}: {killed} sessions terminating", ask.from);
    reply(node, &m, &KillAnswer { node: node.me().into(), killed }).await;
}

async fn on_revoke(node: &Node, m: async_nats::Message) {
    let Ok(note) = serde_json::from_slice::<RevokeNote>(&m.payload) else { return };
    if note.node != node.me() {
        let added = node.shared.revoked.add(&note.entries, unix_now());
        if added > 0 {
            info!("fleet: {added} revocations from node {}", note.node);
        }
    }
    reply(node, &m, &Ack { node: node.me().into() }).await;
}

async fn on_sync(node: &Node, m: async_nats::Message) {
    let note = RevokeNote { node: node.me().into(), entries: node.shared.revoked.entries() };
    reply(node, &m, &note).await;
}

async fn on_call(node: &Node, m: async_nats::Message) {
    let Ok(ask) = serde_json::from_slice::<SessionAsk>(&m.payload) else { return };
    let not_found = || SessionAnswer { status: 404, body: serde_json::json!({ "error": "no such session" }) };
    let answer = match SessionId::parse(&ask.id, node.our_node.as_ref()) {
        Ok(id) if id.core() < node.shared.inboxes.len() => {
            let (tx, rx) = oneshot::channel();
            let sent = node.shared.inboxes[id.core()].send(CrossCore::Call { ask, reply: tx }).is_ok();
            match sent {
                true => tokio::time::timeout(WORKER_PATIENCE, rx).await.ok().and_then(Result::ok),
                false => None,
            }
            .unwrap_or_else(|| SessionAnswer {
                status: 503,
                body: serde_json::json!({ "error": "the session's worker did not answer" }),
            })
        }
        _ => not_found(),
    };
    reply(node, &m, &answer).await;
}

// ---- liveness and revocations ----------------------------------------------------------

async fn heartbeat(node: &Node, cpu: f64) {
    let shared = &node.shared;
    let now = Instant::now();
    {
        let mut peers = node.link().peers.lock().unwrap_or_else(|e| e.into_inner());
        for gone in peers.expire(now) {
            warn!("fleet: node {gone} is silent: left the fleet");
        }
    }
    shared.revoked.prune(unix_now());
    if !node.connected() {
        return;
    }
    let beat = Heartbeat {
        node: node.me().into(),
        url: node.fleet.advertise.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        sessions: shared.sessions.load(Relaxed) as u64,
        clients: shared.clients.load(Relaxed) as u64,
        cpu,
        draining: shared.drain.draining(),
        workers: shared.workers.len(),
        uptime_secs: shared.started.elapsed().as_secs(),
    };
    if let Ok(payload) = serde_json::to_vec(&beat) {
        let _ = node.client.publish(subject::HEARTBEAT, payload.into()).await;
    }
}

/// Tells the fleet what this node has revoked: after a (re)connect, and to a node that
/// (re)appears, which may have missed that (revocations are idempotent).
async fn announce_revocations(node: &Node) {
    let mine = RevokeNote { node: node.me().into(), entries: node.shared.revoked.entries() };
    if !mine.entries.is_empty() {
        if let Ok(payload) = serde_json::to_vec(&mine) {
            let _ = node.client.publish(subject::REVOKE, payload.into()).await;
        }
    }
}

/// After a (re)connect: tells the fleet what this node has revoked, and learns what
/// the others have (revocations made while this node or the bus was away). The others
/// it asks are those it still knows; one that has dropped out of its list answers when
/// its heartbeat is next heard (`announce_revocations`).
async fn exchange_revocations(node: &Node) {
    announce_revocations(node).await;
    let g = scatter(node, subject::REVOCATIONS, &(), |a: &RevokeNote| a.node.clone()).await;
    let now = unix_now();
    let added: usize = g.parts.iter().map(|(_, note)| node.shared.revoked.add(&note.entries, now)).sum();
    if added > 0 {
        info!("fleet: {added} revocations learned from the fleet");
    }
}

/// The process's CPU time between calls, in percent of one CPU (`/proc/self/stat`).
struct CpuMeter {
    last: Option<(Instant, u64)>,
    ticks_per_sec: u64,
}

impl CpuMeter {
    fn new() -> CpuMeter {
        CpuMeter { last: None, ticks_per_sec: rustix::param::clock_ticks_per_second().max(1) }
    }

    fn percent(&mut self) -> f64 {
        let Some(ticks) = process_ticks() else { return 0.0 };
        let now = Instant::now();
        let pct = match self.last {
            Some((then, before)) => {
                let secs = now.duration_since(then).as_secs_f64();
                let used = ticks.saturating_sub(before) as f64 / self.ticks_per_sec as f64;
                if secs > 0.0 {
                    (used / secs * 1000.0).round() / 10.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((now, ticks));
        pct
    }
}

/// utime + stime of this process, in clock ticks.
fn process_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ').skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}
