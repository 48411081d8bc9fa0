//! The session REST API (SPEC §3): create, list, get, update (name, keep), delete,
//! input, resize. Bodies are JSON (`serde_json`), errors are `{"error": "..."}` with the
//! status that says why.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::reply::Reply;
use crate::auth::Principal;
use crate::http::{Request, SessionPart};
use crate::protocol::WinSize;
use crate::pty::Blame;
use crate::runtime::pty_task::{self, StartError, StartOpts};
use crate::runtime::worker::{CrossCore, Live, Worker};
use crate::session::label::check_name;
use crate::session::{Dialect, SessionId};

fn ok(status: u16, body: Value) -> Reply {
    Reply::ok(status, body)
}

fn fail(status: u16, reason: impl Into<String>) -> Reply {
    Reply::fail(status, reason)
}

/// Looks a session up by the id in the path, for `p`: a session it does not reach is
/// answered like one that does not exist (404, not 403: its existence is not told).
pub fn find(w: &Worker, id: &str, p: &Principal) -> Result<Rc<Live>, Reply> {
    let live = find_any(w, id)?;
    if !p.reaches(live.id.as_str(), live.meta.owner.as_deref()) {
        return Err(fail(404, "no such session"));
    }
    Ok(live)
}

fn find_any(w: &Worker, id: &str) -> Result<Rc<Live>, Reply> {
    let parsed = SessionId::parse(id, w.node.as_ref()).map_err(|_| fail(404, "no such session"))?;
    // Another core's session was moved there before this point (`conn::owning_core`):
    // an id naming a core that does not exist names no session.
    if parsed.core() != w.index {
        return Err(fail(404, "no such session"));
    }
    w.session(parsed.as_str()).ok_or_else(|| fail(404, "no such session"))
}

/// `GET /api/sessions?offset=N&limit=M`: every worker's sessions, newest first. Other
/// cores describe their own sessions by message; nothing is shared or locked.
pub async fn list(w: &Worker, query: Option<&str>, p: &Principal) -> Reply {
    match page(query) {
        Ok(page) => list_with(w, page, p, Vec::new(), 0).await,
        Err(reply) => reply,
    }
}

/// A list's `offset` and `limit` (and a valid `scope`), from its query.
pub fn page(query: Option<&str>) -> Result<(usize, usize), Reply> {
    let mut offset = 0usize;
    let mut limit = 100usize;
    for (k, v) in query.unwrap_or("").split('&').filter_map(|kv| kv.split_once('=')) {
        match (k, v.parse::<usize>()) {
            ("offset", Ok(n)) => offset = n,
            ("limit", Ok(n)) if (1..=1000).contains(&n) => limit = n,
            ("offset" | "limit", _) => return Err(fail(400, "offset and limit are numbers (limit 1-1000)")),
            ("scope", _) if v != "node" && v != "fleet" => {
                return Err(fail(
                    400,
                    "scope is node (this node's sessions, the default) or fleet (every node's)",
                ))
            }
            _ => {}
        }
    }
    Ok((offset, limit))
}

/// The list of this node's sessions and `others` (other nodes' first sessions, for
/// `scope=fleet`; `others_total` is how many those nodes have in all), sorted and paged
/// as one.
pub async fn list_with(
    w: &Worker,
    (offset, limit): (usize, usize),
    p: &Principal,
    others: Vec<Value>,
    others_total: usize,
) -> Reply {
    let mut all = visible(w, p);
    let mut replies = Vec::new();
    for (core, inbox) in w.shared.inboxes.iter().enumerate() {
        if core == w.index {
            continue;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if inbox.send(CrossCore::List { reply: tx, principal: p.clone() }).is_ok() {
            replies.push(rx);
        }
    }
    for rx in replies {
        // A worker that does not answer in time (or died) is left out, not waited on.
        if let Ok(Ok(theirs)) = tokio::time::timeout(std::time::Duration::from_secs(1), rx).await {
            all.extend(theirs);
        }
    }
    let total = all.len() + others_total;
    all.extend(others);
    crate::fleet::sort_sessions(&mut all);
    let page: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    ok(200, json!({ "sessions": page, "total": total, "offset": offset, "limit": limit }))
}

/// This worker's sessions that `p` reaches, described.
pub fn visible(w: &Worker, p: &Principal) -> Vec<Value> {
    w.sessions()
        .iter()
        .filter(|l| p.reaches(l.id.as_str(), l.meta.owner.as_deref()))
        .map(|l| describe(w, l))
        .collect()
}

pub fn describe(w: &Worker, live: &Live) -> Value {
    let mut map = Map::new();
    pty_task::describe(live, w, &mut map);
    let recording = w.shared.recorder.as_ref().and_then(|r| r.find(live.id.as_str()));
    map.insert("recording".into(), recording.map_or(Value::Null, |r| r.describe()));
    if let Some(node) = &w.node {
        map.insert("node".into(), json!(node.as_str()));
    }
    Value::Object(map)
}

/// `DELETE`: starts terminating a running session (202), removes an exited one (200).
pub fn terminate(w: &Worker, live: &Live) -> Reply {
    let running = live.state.borrow().status() == crate::session::Status::Running;
    live.terminate(w);
    if running {
        ok(202, json!({ "id": live.id.as_str(), "status": "terminating" }))
    } else {
        ok(200, json!({ "id": live.id.as_str(), "status": "removed" }))
    }
}

/// Handles `/api/sessions/{id}[/...]` except the WebSocket attach.
pub fn session_call(
    w: &Worker,
    req: &Request<'_>,
    (part, id): (SessionPart, &str),
    body: &[u8],
    p: &Principal,
) -> Reply {
    let live = match find(w, id, p) {
        Ok(l) => l,
        Err(reply) => return reply,
    };
    let changes = matches!(part, SessionPart::Input | SessionPart::Resize)
        || (part == SessionPart::Itself
            && matches!(req.method, crate::http::Method::Delete | crate::http::Method::Patch));
    if changes && !p.may_write() {
        return fail(403, READ_ONLY);
    }
    match (part, req.method) {
        (SessionPart::Itself, crate::http::Method::Delete) => terminate(w, &live),
        (SessionPart::Itself, crate::http::Method::Patch) => update(w, &live, body, p),
        (SessionPart::Itself, _) => ok(200, describe(w, &live)),
        (SessionPart::Input, _) => input(w, &live, body),
        (SessionPart::Resize, _) => resize(w, &live, body),
        (SessionPart::Ws, _) => fail(400, "a WebSocket upgrade was expected"),
        // Streamed by the connection (`api::cast`), not answered here.
        (SessionPart::Cast, _) => fail(404, "not found"),
    }
}

/// What a read-only principal is told when it tries to change a session.
pub const READ_ONLY: &str =
    "read-only: this token (mode ro) may watch, not type, resize, rename or terminate";

/// `Some(value)` for a field that is present, even as `null` (with `#[serde(default)]`,
/// an absent field is `None`): `{"name": null}` clears a name, `{}` leaves it.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    keep: Option<bool>,
}

/// A name as given (at create or by `PATCH`): checked ([`check_name`]); an empty one is
/// no name.
fn name_of(name: Option<String>) -> Result<Option<Box<str>>, Reply> {
    match name {
        Some(n) => match check_name(&n) {
            Err(reason) => Err(fail(400, reason)),
            Ok(()) if n.is_empty() => Ok(None),
            Ok(()) => Ok(Some(n.into_boxed_str())),
        },
        None => Ok(None),
    }
}

/// `PATCH /api/sessions/{id}` `{"name"?: string|null, "keep"?: bool}`: renames the
/// session or changes whether it is kept; its native clients are told
/// (`{"type":"session"}`). The owner's (or an admin's): a share link may not, whatever
/// its mode (it is a guest in someone's session).
pub fn update(w: &Worker, live: &Live, body: &[u8], p: &Principal) -> Reply {
    if !p.may_create() {
        return fail(403, "a token for one session (a share link) cannot rename it or change its keep");
    }
    let Ok(UpdateBody { name, keep }) = serde_json::from_slice(body) else {
        return fail(400, r#"the body must be {"name"?: "text" or null, "keep"?: true or false}"#);
    };
    let name = match name.map(name_of).transpose() {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let ttyd = live.state.borrow().config().dialect == Dialect::Ttyd;
    if keep == Some(true) && ttyd {
        return fail(409, "a ttyd (/ws) session lives as long as its connection: it cannot be kept");
    }
    {
        let mut state = live.state.borrow_mut();
        if let Some(name) = name {
            state.rename(name);
        }
        if let Some(keep) = keep {
            state.set_keep(keep, w.now());
        }
    }
    // Its clients are told; its task re-reads its deadline (keep moves it).
    live.wake_writers();
    live.flow_changed();
    ok(200, describe(w, live))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputBody {
    data: String,
}

fn input(w: &Worker, live: &Live, body: &[u8]) -> Reply {
    if !w.cfg.terminal.writable {
        return fail(403, "read-only server: start ringtty with -W to allow input");
    }
    let Ok(InputBody { data }) = serde_json::from_slice(body) else {
        return fail(400, r#"the body must be {"data": "..."}"#);
    };
    let queued = live.state.borrow_mut().api_input(data.as_bytes(), w.now());
    match queued {
        Ok(()) => {
            w.stats().input(data.len());
            live.input_queued();
            ok(200, json!({ "queued": data.len() }))
        }
        Err(_) => Reply {
            status: 503,
            body: json!({ "error": "the terminal's input queue is full; retry shortly" }),
            extra: vec![("Retry-After", "1".into())],
        },
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResizeBody {
    cols: u16,
    rows: u16,
}

fn resize(w: &Worker, live: &Live, body: &[u8]) -> Reply {
    if !w.cfg.terminal.writable {
        return fail(403, "read-only server: start ringtty with -W to allow resizing");
    }
    let Some(size) =
        serde_json::from_slice::<ResizeBody>(body).ok().and_then(|b| WinSize::new(b.cols, b.rows))
    else {
        return fail(400, r#"the body must be {"cols": N, "rows": N} with sizes from 1 to 4096"#);
    };
    // Not in the `if let`: its borrow would last through `apply_size`.
    let applied = live.state.borrow_mut().api_resize(size, w.now());
    if let Some(size) = applied {
        live.apply_size(size);
    }
    let size = live.state.borrow().size();
    ok(200, json!({ "cols": size.cols, "rows": size.rows }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    command: Option<Vec<String>>,
    name: Option<String>,
    cwd: Option<String>,
    env: Option<BTreeMap<String, String>>,
    cols: Option<u16>,
    rows: Option<u16>,
    /// Kept (no detach timeout); `--keep-sessions` when absent.
    keep: Option<bool>,
    /// Recorded into `--record-dir` (asciicast v2).
    record: Option<bool>,
}

/// `POST /api/sessions`: starts a command on this worker (it owns the new session).
pub async fn create(w: &Rc<Worker>, body: &[u8], p: &Principal) -> Reply {
    if !p.may_create() {
        return fail(403, "a token for one session (a share link) cannot start sessions");
    }
    let b: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => return fail(400, body_error(&e)),
        }
    };
    let argv = match command(w, &b) {
        Ok(argv) => argv,
        Err(reply) => return reply,
    };
    let name = match name_of(b.name) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let keep = b.keep.unwrap_or(w.cfg.sessions.keep_sessions);
    let record = b.record.unwrap_or(false);
    if record && w.shared.recorder.is_none() {
        return fail(
            400,
            "recording is off on this server: start ringtty with --record-dir DIR (or --record DIR)",
        );
    }
    let size = match (b.cols, b.rows) {
        (None, None) => WinSize::DEFAULT,
        (c, r) => match WinSize::new(c.unwrap_or(80), r.unwrap_or(24)) {
            Some(s) => s,
            None => return fail(400, "cols and rows range from 1 to 4096"),
        },
    };
    let opts = StartOpts {
        name: name.map(String::from),
        cwd: b.cwd,
        env: b.env,
        size,
        dialect: Dialect::Native,
        spawn_deadline: None,
        owner: p.owner(),
        record,
    };
    match pty_task::start(w, argv, opts).await {
        Ok(live) => {
            if keep {
                live.state.borrow_mut().set_keep(true, w.now());
                // Its task re-reads its deadline: none now.
                live.flow_changed();
            }
            ok(201, describe(w, &live))
        }
        Err(e) => start_failed(&e),
    }
}

/// `POST /api/sessions`'s answer to a session that could not start: the request's
/// mistake (400), the server's capacity (503; with `Retry-After` when every place under
/// `--max-sessions` is taken), or its setup (500).
fn start_failed(e: &StartError) -> Reply {
    let status = match e.blame() {
        Blame::Request => 400,
        Blame::Capacity => 503,
        Blame::Server => 500,
    };
    let reply = fail(status, e.to_string());
    match e {
        StartError::AtCapacity { .. } | StartError::Draining => reply.with("Retry-After", "1".into()),
        _ => reply,
    }
}

/// What is wrong with a create request's body, in the server's words: serde's own
/// messages quote the request (``unknown field `zzz<script>` ``), and errors never echo
/// request bytes (docs/SECURITY.md).
fn body_error(e: &serde_json::Error) -> String {
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        serde_json::error::Category::Data => format!(
            "invalid session request (line {line}, column {column}): the body is a JSON object with only \
             the optional fields command (array of strings), name and cwd (strings), env (object of \
             strings), cols and rows (1 to 4096), keep and record (true or false)"
        ),
        _ => format!("the body is not valid JSON (line {line}, column {column})"),
    }
}

/// Which command a create request runs, by the operator's rules.
fn command(w: &Worker, b: &CreateBody) -> Result<Vec<OsString>, Reply> {
    let cfg = &w.cfg.sessions;
    const ANY: &str = "running an arbitrary command, cwd or env is disabled: use a named command \
                       (--command NAME=CMDLINE) or start ringtty with --allow-any-command";
    if (b.cwd.is_some() || b.env.is_some()) && !cfg.allow_any_command {
        return Err(fail(403, ANY));
    }
    match b.command.as_deref() {
        None | Some([]) => {
            if w.cfg.terminal.command.is_empty() {
                return Err(fail(400, "no command given and ringtty has no COMMAND"));
            }
            Ok(w.cfg.terminal.command.clone())
        }
        Some([name]) if cfg.named_commands.iter().any(|(n, _)| n == name) => Ok(cfg
            .named_commands
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, argv)| argv.clone())
            .unwrap_or_default()),
        Some(argv) if cfg.allow_any_command => Ok(argv.iter().map(OsString::from).collect()),
        Some(_) => Err(fail(403, ANY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pty;

    fn os(code: i32) -> std::io::Error {
        std::io::Error::from_raw_os_error(code)
    }

    #[test]
    fn start_errors_keep_their_status_body_and_retry_after() {
        let start = |code| pty::SpawnError::Start { program: "x".into(), error: os(code) };
        let table: Vec<(StartError, u16, &str, Option<&str>)> = vec![
            (StartError::AtCapacity { max: 2 }, 503, "at capacity: 2 sessions (--max-sessions)", Some("1")),
            (pty::SpawnError::Busy.into(), 503, "too many sessions are starting at once; retry", None),
            (start(libc::ENOENT).into(), 400, "cannot start the command: No such file or directory", None),
            (
                start(libc::EAGAIN).into(),
                503,
                "cannot start the command: Resource temporarily unavailable",
                None,
            ),
            (pty::SpawnError::NoCommand.into(), 400, "no command to run", None),
            (
                pty::SpawnError::Pty(os(libc::ENOSPC)).into(),
                503,
                "cannot open a terminal: No space left on device",
                None,
            ),
            (pty::SpawnError::Stopped.into(), 500, "the server is not starting sessions any more", None),
            (StartError::NoRandomness, 500, "no randomness for a session id", None),
            (StartError::Draining, 503, "this node is draining: it starts no new sessions", Some("1")),
            (StartError::NoId, 500, "cannot form a session id", None),
        ];
        for (e, status, text, retry) in table {
            let reply = start_failed(&e);
            assert_eq!((reply.status, reply.body["error"].as_str()), (status, Some(text)), "{e:?}");
            let retry_after = reply.extra.iter().find(|(n, _)| *n == "Retry-After").map(|(_, v)| v.as_str());
            assert_eq!(retry_after, retry, "{e:?}");
        }
    }
}
