//! The fleet's and the admin's endpoints (docs/FLEET.md): drain, the kill switch,
//! revocation, the fleet's nodes, the fleet-wide list, and a session call that reached
//! a node other than its owner. Everything that concerns other nodes is asked of the
//! fleet's control thread (`crate::fleet::Ask`) and awaited here, on the worker's loop,
//! never blocking it; without `--nats` each answers for this node alone.

use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::reply::Reply;
use crate::auth::Principal;
use crate::fleet::{
    Ask, Gathered, KillTarget, Revocation, SessionAnswer, SessionAsk, SessionOp, WirePrincipal,
};
use crate::http::Method;
use crate::runtime::worker::{unix_now, unix_now_ms, CrossCore, Worker};

/// A fleet or admin call the connection awaits ([`run`]).
pub enum Call {
    /// `GET /api/sessions?scope=fleet`.
    List(Option<String>, Principal),
    /// `GET`/`PATCH`/`DELETE /api/sessions/{id}` of a session of another node (`body`:
    /// a `PATCH`'s).
    Session { node: String, op: SessionOp, id: String, principal: Principal, body: Option<String> },
    /// `POST /api/admin/kill`.
    Kill(Vec<u8>, Principal),
    /// `POST /api/admin/revoke`.
    Revoke(Vec<u8>, Principal),
}

/// Runs a fleet call to its reply.
pub async fn run(w: &Rc<Worker>, call: Call) -> Reply {
    match call {
        Call::List(query, p) => list(w, query.as_deref(), &p).await,
        Call::Session { node, op, id, principal, body } => session(w, node, (op, id, body), &principal).await,
        Call::Kill(body, p) => kill(w, &body, &p).await,
        Call::Revoke(body, p) => revoke(w, &body, &p).await,
    }
}

fn admin_only(p: &Principal) -> Result<(), Reply> {
    match p.admin {
        true => Ok(()),
        false => Err(Reply::fail(403, "admins only: this needs a token with admin: true")),
    }
}

/// How long a worker waits for the control thread: its own deadline and a margin.
fn patience(w: &Worker) -> Duration {
    w.cfg.fleet.as_ref().map_or(Duration::ZERO, |f| f.timeout) + Duration::from_millis(500)
}

/// Asks the control thread; `None` without `--nats`, or when it did not answer.
async fn ask<T>(w: &Worker, make: impl FnOnce(oneshot::Sender<T>) -> Ask) -> Option<T> {
    let link = w.shared.fleet.as_ref()?;
    let (tx, rx) = oneshot::channel();
    link.asks.send(make(tx)).ok()?;
    tokio::time::timeout(patience(w), rx).await.ok()?.ok()
}

/// The `nodes` and `partial` of a fleet-wide answer: this node, those that answered,
/// and those that did not. Without `--nats`, this node alone and whole.
fn nodes_json<T>(w: &Worker, gathered: Option<&Gathered<T>>) -> (Value, bool) {
    let me = w.node.as_ref().map(|n| n.as_str().to_owned());
    let Some(link) = w.shared.fleet.as_ref() else {
        return (json!({ "replied": [me], "missing": [] }), false);
    };
    match gathered {
        Some(g) => {
            let mut replied: Vec<&str> = vec![link.node.as_str()];
            replied.extend(g.parts.iter().map(|(n, _)| n.as_str()));
            (json!({ "replied": replied, "missing": g.missing }), g.partial)
        }
        None => (json!({ "replied": [link.node], "missing": [] }), true),
    }
}

/// `GET /api/sessions?scope=fleet`: this node's list (every core) and every other
/// node's, by scatter-gather under `--fleet-timeout`; each session names its node.
async fn list(w: &Rc<Worker>, query: Option<&str>, p: &Principal) -> Reply {
    let (offset, limit) = match super::sessions::page(query) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let wire = WirePrincipal::of(p);
    // Each node sends at most what the page can hold of its own: its oldest
    // `offset + limit`.
    let take = offset.saturating_add(limit);
    let gathered = ask(w, |reply| Ask::List { principal: wire, take, reply }).await;
    let (nodes, mut partial) = nodes_json(w, gathered.as_ref());
    let (mut others, mut others_total, mut truncated) = (Vec::new(), 0, Vec::new());
    for (node, part) in gathered.map(|g| g.parts).unwrap_or_default() {
        others_total += part.total;
        others.extend(part.sessions);
        if part.truncated {
            truncated.push(node);
        }
    }
    partial |= !truncated.is_empty();
    let mut reply = super::sessions::list_with(w, (offset, limit), p, others, others_total).await;
    if let Value::Object(map) = &mut reply.body {
        map.insert("nodes".into(), nodes);
        map.insert("partial".into(), Value::Bool(partial));
        if !truncated.is_empty() {
            // Their answers did not fit NATS's max_payload (docs/FLEET.md).
            map.insert("truncated".into(), json!(truncated));
        }
    }
    reply
}

/// A session call that reached this node, not the session's own: asked of the owner
/// over the bus, answered as the owner answers. Without `--nats` (or when the owner is
/// gone) the session is not found here.
async fn session(
    w: &Worker,
    node: String,
    (op, id, body): (SessionOp, String, Option<String>),
    p: &Principal,
) -> Reply {
    if w.shared.fleet.is_none() {
        return Reply::fail(404, "no such session");
    }
    let ask_ = SessionAsk { op, id, principal: WirePrincipal::of(p), body };
    match ask(w, |reply| Ask::Session { node: node.clone(), ask: ask_, reply }).await {
        Some(SessionAnswer { status, body }) => Reply { status, body, extra: Vec::new() },
        None => Reply::fail(504, format!("node {node} did not answer in time")),
    }
}

/// Answers a call that came over the bus for one of this core's sessions, as
/// `api::session_call` would have.
pub fn call_here(w: &Worker, ask: &SessionAsk) -> SessionAnswer {
    let p = ask.principal.principal();
    let reply = match super::sessions::find(w, &ask.id, &p) {
        Err(reply) => reply,
        Ok(live) => match ask.op {
            SessionOp::Describe => Reply::ok(200, super::sessions::describe(w, &live)),
            SessionOp::Terminate if !p.may_write() => {
                Reply::fail(403, "read-only: this token (mode ro) may watch, not type, resize or terminate")
            }
            SessionOp::Terminate => super::sessions::terminate(w, &live),
            SessionOp::Update if !p.may_write() => Reply::fail(403, super::sessions::READ_ONLY),
            SessionOp::Update => {
                super::sessions::update(w, &live, ask.body.as_deref().unwrap_or_default().as_bytes(), &p)
            }
        },
    };
    SessionAnswer { status: reply.status, body: reply.body }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KillBody {
    user: Option<String>,
    #[serde(default)]
    all: bool,
}

/// `POST /api/admin/kill` `{"user": "bob"}` or `{"all": true}`: every session of that
/// user (or every session) on every node starts terminating, as `DELETE` does.
async fn kill(w: &Rc<Worker>, body: &[u8], p: &Principal) -> Reply {
    if let Err(r) = admin_only(p) {
        return r;
    }
    let target = match serde_json::from_slice::<KillBody>(body) {
        Ok(KillBody { user: Some(u), all: false }) if !u.is_empty() && u.len() <= 128 => KillTarget::User(u),
        Ok(KillBody { user: None, all: true }) => KillTarget::All,
        _ => return Reply::fail(400, r#"the body must be {"user": "NAME"} or {"all": true}"#),
    };
    let at_ms = unix_now_ms();
    let here = kill_node(w, &target, at_ms).await;
    let gathered = ask(w, |reply| Ask::Kill { target: target.clone(), at_ms, reply }).await;
    let there: usize = gathered.as_ref().map_or(0, |g| g.parts.iter().map(|(_, n)| n).sum());
    let (nodes, partial) = nodes_json(w, gathered.as_ref());
    let target = match target {
        KillTarget::User(u) => json!({ "user": u }),
        KillTarget::All => json!({ "all": true }),
    };
    Reply::ok(200, json!({ "killed": here + there, "target": target, "nodes": nodes, "partial": partial }))
}

/// The kill switch on every core of this node (this core directly, the others by
/// message); sessions created after `at_ms` are spared.
pub async fn kill_node(w: &Worker, target: &KillTarget, at_ms: u64) -> usize {
    let mut killed = kill_here(w, target, at_ms);
    let mut replies = Vec::new();
    for (core, inbox) in w.shared.inboxes.iter().enumerate() {
        if core == w.index {
            continue;
        }
        let (tx, rx) = oneshot::channel();
        if inbox.send(CrossCore::Kill { target: target.clone(), before_ms: at_ms, reply: tx }).is_ok() {
            replies.push(rx);
        }
    }
    for rx in replies {
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), rx).await {
            killed += n;
        }
    }
    killed
}

/// The kill switch on this core.
pub fn kill_here(w: &Worker, target: &KillTarget, before_ms: u64) -> usize {
    let hit = |owner: Option<&str>| match target {
        KillTarget::All => true,
        KillTarget::User(u) => owner == Some(u.as_str()),
    };
    let mut killed = 0;
    for live in w.sessions_unordered() {
        // Only running sessions: an exited one has nothing to kill (and DELETE's
        // answer to it, removal, would drop its exit status and scrollback).
        let running = live.state.borrow().status() == crate::session::Status::Running;
        if running && live.meta.created_ms <= before_ms && hit(live.meta.owner.as_deref()) {
            live.terminate(w);
            killed += 1;
        }
    }
    if killed > 0 {
        info!("worker {}: kill switch: {killed} sessions terminating", w.index);
    }
    killed
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    jti: Option<String>,
    user: Option<String>,
    until: Option<u64>,
}

/// How long a revocation lasts when the call gives no `until`.
const DEFAULT_REVOCATION: u64 = 7 * 24 * 3600;
/// The longest a revocation may last.
const MAX_REVOCATION: u64 = 366 * 24 * 3600;

/// `POST /api/admin/revoke` `{"jti": "..."}` or `{"user": "..."}`, with `"until"`
/// (seconds since the epoch; default a week): every node refuses those credentials.
async fn revoke(w: &Rc<Worker>, body: &[u8], p: &Principal) -> Reply {
    if let Err(r) = admin_only(p) {
        return r;
    }
    let now = unix_now();
    let Ok(b) = serde_json::from_slice::<RevokeBody>(body) else {
        return Reply::fail(
            400,
            r#"the body must be {"jti": "ID"} or {"user": "NAME"}, with "until" (seconds since the epoch)"#,
        );
    };
    let until = b.until.unwrap_or(now + DEFAULT_REVOCATION);
    if until <= now || until > now + MAX_REVOCATION {
        return Reply::fail(400, "until: a time in the next 366 days, in seconds since the epoch");
    }
    let entry = Revocation { jti: b.jti, user: b.user, until };
    if !entry.valid() {
        return Reply::fail(400, "give exactly one of jti and user, of 1 to 256 characters");
    }
    w.shared.revoked.add(std::slice::from_ref(&entry), now);
    info!("revoked {}", describe_revocation(&entry));
    let gathered = ask(w, |reply| Ask::Revoke { entry: entry.clone(), reply }).await;
    let (nodes, partial) = nodes_json(w, gathered.as_ref());
    Reply::ok(200, json!({ "revoked": entry, "nodes": nodes, "partial": partial }))
}

/// For the log: what was revoked, never a token.
pub fn describe_revocation(r: &Revocation) -> String {
    match (&r.jti, &r.user) {
        (Some(j), _) => format!("token jti {j:?} until {}", r.until),
        (_, Some(u)) => format!("user {u:?} until {}", r.until),
        _ => "nothing".into(),
    }
}

/// `GET /api/admin/revoke`: what this node refuses.
pub fn revocations(w: &Worker, p: &Principal) -> Reply {
    if let Err(r) = admin_only(p) {
        return r;
    }
    w.shared.revoked.prune(unix_now());
    Reply::ok(200, json!({ "revoked": w.shared.revoked.entries() }))
}

/// `/api/admin/drain`: `POST` stops this node taking new sessions (its `/health` says
/// 503 `draining`, so a load balancer sends them elsewhere), `DELETE` takes it back,
/// `GET` tells. The node stops once its last session has ended, or at
/// `--drain-timeout`.
pub fn drain(w: &Worker, method: Method, p: &Principal) -> Reply {
    if let Err(r) = admin_only(p) {
        return r;
    }
    let drain = &w.shared.drain;
    let status = match method {
        Method::Post => {
            if drain.start(unix_now_ms()) {
                info!("drain asked (POST /api/admin/drain by {:?}): no new sessions", &*p.user);
            }
            202
        }
        Method::Delete => {
            if drain.stop() {
                info!("drain called off (DELETE /api/admin/drain by {:?})", &*p.user);
            }
            200
        }
        _ => 200,
    };
    Reply::ok(status, drain_json(w))
}

fn drain_json(w: &Worker) -> Value {
    let since = w.shared.drain.since_ms();
    let deadline = since.zip(w.cfg.drain_timeout).map(|(s, t)| s + t.as_millis() as u64);
    json!({
        "draining": since.is_some(),
        "since_ms": since,
        "deadline_ms": deadline,
        "sessions": w.shared.sessions.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// `GET /api/fleet`: this node and the others heard from, with their load.
pub fn view(w: &Worker) -> Reply {
    use std::sync::atomic::Ordering::Relaxed;
    let shared = &w.shared;
    let me = json!({
        "node": w.node.as_ref().map(|n| n.as_str()),
        "url": w.cfg.fleet.as_ref().and_then(|f| f.advertise.clone()),
        "version": env!("CARGO_PKG_VERSION"),
        "sessions": shared.sessions.load(Relaxed),
        "clients": shared.clients.load(Relaxed),
        "draining": shared.drain.draining(),
        "workers": shared.workers.len(),
        "uptime_secs": shared.started.elapsed().as_secs(),
        "self": true,
    });
    let Some(link) = shared.fleet.as_ref() else {
        return Reply::ok(200, json!({ "nats": "off", "nodes": [me] }));
    };
    let now = std::time::Instant::now();
    let mut nodes = vec![me];
    let peers = link.peers.lock().unwrap_or_else(|e| e.into_inner());
    for peer in peers.alive(now) {
        let mut v = serde_json::to_value(&peer.beat).unwrap_or_default();
        if let Value::Object(m) = &mut v {
            m.insert("age_ms".into(), json!(now.saturating_duration_since(peer.seen).as_millis() as u64));
        }
        nodes.push(v);
    }
    let nats = if link.connected.load(Relaxed) { "connected" } else { "disconnected" };
    Reply::ok(200, json!({ "nats": nats, "nodes": nodes }))
}

/// Where a request for a session of `node` belongs, when it cannot be asked over the
/// bus (a WebSocket, input, resize, a page): `307` to that node's own address (the
/// method and body are kept), or `404` when it is not known.
pub fn redirect(w: &Worker, node: &str, path_and_query: &str) -> Reply {
    let Some(url) = w.shared.fleet.as_ref().and_then(|l| l.url_of(node)) else {
        return Reply::fail(404, "no such session");
    };
    let location = format!("{url}{path_and_query}");
    Reply::fail(307, format!("session of node {node}: it is served at {url}")).with("Location", location)
}
