//! Which handler answers an admitted request: [`dispatch`] routes it (by `http::route`)
//! to a REST handler, a page, an upgrade, or a deferred action the connection loop
//! awaits ([`Next`]).

use std::net::IpAddr;
use std::rc::Rc;

use crate::auth::{self, Principal};
use crate::http::{self, Request, Route};
use crate::runtime::api::{self, error_into, respond};
use crate::runtime::worker::{Live, Worker};
use crate::ws;

/// The echo endpoint accepts messages of up to 16 MiB (conformance suites send them).
pub const ECHO_MAX_MESSAGE: u64 = 16 * 1024 * 1024;

/// What the connection does after a response.
pub enum Next {
    Respond,
    /// A `101` was queued: the connection is now a WebSocket for this endpoint, with
    /// permessage-deflate if negotiated.
    Upgrade(Upgrade, Option<ws::Deflate>),
    /// `POST /api/sessions`: the spawn is awaited (off the loop) before answering.
    Create(Vec<u8>, Principal),
    /// `GET /api/sessions`: the other cores are asked for theirs.
    List(Option<String>, bool, Principal),
    /// `POST /login`: a password check may run on a thread of its own.
    Login(Vec<u8>, Option<IpAddr>),
    /// `POST /api/tokens`: the session's core is asked who owns it.
    Share(Vec<u8>, Principal),
    /// A call on the fleet (other nodes, over the bus), and whether only its head is
    /// sent.
    Fleet(api::fleet::Call, bool),
    /// `GET .../cast`: a recording, streamed from the disk (and whether only its head
    /// is sent).
    Cast(std::sync::Arc<crate::runtime::record::Recording>, bool),
}

pub enum Upgrade {
    Echo,
    /// The native protocol on a session, resuming at `since` if given.
    Session(Rc<Live>, Option<u64>, Principal),
    /// ttyd's protocol: a new process running this command line per connection, for
    /// the principal of the upgrade or (if none) of its init message.
    Ttyd(Vec<std::ffi::OsString>, Option<Principal>),
}

/// The largest message a session client may send (SPEC §4: 1 MiB by default).
pub const SESSION_MAX_MESSAGE: u64 = 1024 * 1024;

/// One admitted request, for [`dispatch`].
pub struct Call<'r, 'b> {
    pub req: &'r Request<'b>,
    pub body: &'r [u8],
    pub keep_alive: bool,
    /// `None` only on an open route asked without a credential (and ttyd's `/ws`).
    pub principal: Option<Principal>,
    pub client: Option<IpAddr>,
}

/// Routes one complete, admitted request and queues its response.
pub fn dispatch(w: &Rc<Worker>, call: Call<'_, '_>, out: &mut Vec<u8>) -> Next {
    let Call { req, body, keep_alive, principal, client } = call;
    let head_only = req.method == http::Method::Head;
    if w.fault_injection {
        w.inject_fault(req.path);
    }
    let route = http::route(req.method, req.path, &w.cfg.base_path, w.cfg.ws_echo.as_deref());
    if w.handing_over() && !matches!(route, Route::Health) {
        // A live upgrade is under way: the next process answers this; a 404 for a
        // session handed over would be a lie.
        let extra = [("Retry-After", "0")];
        error_into(w, out, 503, "this server is handing over to its next process: retry", &extra);
        return Next::Respond;
    }
    match route {
        Route::Health => {
            let now = std::time::Instant::now();
            let status = if w.shared.health_status() == "ok" { 200 } else { 503 };
            let json = w.shared.health_json(w.index, now);
            respond(w, out, status, "application/json", json.as_bytes(), keep_alive, &NO_STORE, head_only);
            return Next::Respond;
        }
        Route::AuthInfo => {
            api::write(w, api::auth::info(w, principal.as_ref()), keep_alive, head_only, out);
            return Next::Respond;
        }
        Route::Login => return Next::Login(body.to_vec(), client),
        Route::Logout => {
            api::auth::logout(w, keep_alive, out);
            return Next::Respond;
        }
        Route::Ttyd => {
            let argv = match ttyd_command(w, req.query) {
                Ok(argv) => argv,
                Err(reason) => {
                    error_into(w, out, 400, reason, &[]);
                    return Next::Respond;
                }
            };
            return upgrade(w, req, body, out, Upgrade::Ttyd(argv, principal), &[TTYD_PROTOCOL]);
        }
        Route::AddSlash => add_slash(w, req, keep_alive, head_only, out),
        Route::Page(path) => {
            // The page of a session of another node of the fleet (`?s=ID`): its
            // WebSocket must reach that node, so the page is served there.
            if let Some(node) = foreign_page(w, req.query) {
                let target = format!("{}?{}", req.path, req.query.unwrap_or_default());
                api::write(w, api::fleet::redirect(w, node, &target), keep_alive, head_only, out);
                return Next::Respond;
            }
            // A page asked with ?token=: swapped for the cookie, and the address cleaned.
            if let Some(p) = principal.as_ref().filter(|p| p.via == auth::Via::Query) {
                if w.shared.site.is_page(path) && !head_only {
                    api::auth::swap_page(w, req, p, keep_alive, out);
                    return Next::Respond;
                }
            }
            page(w, req, path, keep_alive, head_only, out);
        }
        Route::MethodNotAllowed(allow) => {
            let mut json = Vec::new();
            http::json_error("method not allowed", &mut json);
            respond(w, out, 405, "application/json", &json, keep_alive, &[("Allow", allow)], head_only);
        }
        Route::NotFound => {
            let mut json = Vec::new();
            http::json_error("not found", &mut json);
            respond(w, out, 404, "application/json", &json, keep_alive, &[], head_only);
        }
        _ => {
            // Every other route needs a principal: admission gave one, or refused.
            let Some(p) = principal else {
                error_into(w, out, 401, auth::UNAUTHORIZED, &[]);
                return Next::Respond;
            };
            return with_principal(w, req, route, (body, keep_alive), p, out);
        }
    }
    Next::Respond
}

/// The routes that act for a principal.
fn with_principal(
    w: &Rc<Worker>,
    req: &Request<'_>,
    route: Route<'_>,
    (body, keep_alive): (&[u8], bool),
    p: Principal,
    out: &mut Vec<u8>,
) -> Next {
    let head_only = req.method == http::Method::Head;
    let changes = req.method != http::Method::Get && req.method != http::Method::Head;
    // A session of another node of the fleet (without `--nats` it is not found here).
    if let (Route::Session(id, part), Some(_)) = (route, &w.shared.fleet) {
        if let Some(node) = crate::session::SessionId::foreign_node(id, w.node.as_ref()) {
            return elsewhere(w, req, (node, id, part, body), p, (keep_alive, head_only), out);
        }
    }
    match route {
        Route::WsEcho => return upgrade(w, req, body, out, Upgrade::Echo, &[]),
        Route::Sessions if changes => return Next::Create(body.to_vec(), p),
        Route::Sessions if req.query.is_some_and(|q| q.split('&').any(|kv| kv == "scope=fleet")) => {
            return Next::Fleet(api::fleet::Call::List(req.query.map(str::to_owned), p), head_only)
        }
        Route::Sessions => return Next::List(req.query.map(str::to_owned), head_only, p),
        Route::Tokens => return Next::Share(body.to_vec(), p),
        Route::Session(id, http::SessionPart::Ws) => return attach(w, req, (id, body), p, out),
        Route::Session(id, http::SessionPart::Cast) => match api::cast::find(w, id, &p) {
            Ok(rec) => return Next::Cast(rec, head_only),
            Err(reply) => api::write(w, reply, keep_alive, head_only, out),
        },
        Route::Session(id, part) => {
            let reply = api::session_call(w, req, (part, id), body, &p);
            api::write(w, reply, keep_alive, head_only, out);
        }
        Route::Metrics => {
            let text = w.shared.metrics_text(std::time::Instant::now());
            let ct = "text/plain; version=0.0.4; charset=utf-8";
            respond(w, out, 200, ct, text.as_bytes(), keep_alive, &NO_STORE, head_only);
        }
        Route::Token => {
            // ttyd's page asks for the token it sends in its first message: the
            // caller's own (never a password).
            let token = api::auth::ttyd_token(w, req, Some(&p));
            let json = serde_json::json!({ "token": token }).to_string();
            respond(w, out, 200, "application/json", json.as_bytes(), keep_alive, &NO_STORE, head_only);
        }
        Route::Config => {
            let json = w.shared.config_json.as_bytes();
            respond(w, out, 200, "application/json", json, keep_alive, &NO_STORE, head_only);
        }
        Route::Fleet => api::write(w, api::fleet::view(w), keep_alive, head_only, out),
        Route::Admin(http::AdminRoute::Drain) => {
            api::write(w, api::fleet::drain(w, req.method, &p), keep_alive, head_only, out);
        }
        Route::Admin(http::AdminRoute::Kill) => {
            return Next::Fleet(api::fleet::Call::Kill(body.to_vec(), p), head_only)
        }
        Route::Admin(http::AdminRoute::Revoke) if changes => {
            return Next::Fleet(api::fleet::Call::Revoke(body.to_vec(), p), head_only)
        }
        Route::Admin(http::AdminRoute::Revoke) => {
            api::write(w, api::fleet::revocations(w, &p), keep_alive, head_only, out);
        }
        _ => error_into(w, out, 404, "not found", &[]),
    }
    Next::Respond
}

/// A session of another node of the fleet: a description, an update (`PATCH`) or a
/// termination is asked of its owner over the bus; anything else (a WebSocket, input,
/// resize) is redirected to
/// the owner's own address (docs/FLEET.md, "A request on the wrong node").
fn elsewhere(
    w: &Worker,
    req: &Request<'_>,
    (node, id, part, body): (&str, &str, http::SessionPart, &[u8]),
    p: Principal,
    (keep_alive, head_only): (bool, bool),
    out: &mut Vec<u8>,
) -> Next {
    use crate::fleet::SessionOp;
    let op = match (part, req.method) {
        (http::SessionPart::Itself, http::Method::Delete) => Some(SessionOp::Terminate),
        (http::SessionPart::Itself, http::Method::Patch) => Some(SessionOp::Update),
        (http::SessionPart::Itself, _) => Some(SessionOp::Describe),
        _ => None,
    };
    if let Some(op) = op {
        // The owner parses it (a body that is not UTF-8 is not JSON either: its 400).
        let body = (op == SessionOp::Update).then(|| String::from_utf8_lossy(body).into_owned());
        let (node, id) = (node.to_owned(), id.to_owned());
        let call = api::fleet::Call::Session { node, op, id, principal: p, body };
        return Next::Fleet(call, head_only);
    }
    let target = match req.query {
        Some(q) => format!("{}?{q}", req.path),
        None => req.path.to_owned(),
    };
    api::write(w, api::fleet::redirect(w, node, &target), keep_alive, head_only, out);
    Next::Respond
}

/// With `--nats`: the node of `?s=ID` when it names a session of another node.
fn foreign_page<'q>(w: &Worker, query: Option<&'q str>) -> Option<&'q str> {
    w.shared.fleet.as_ref()?;
    let id = query?.split('&').find_map(|kv| kv.strip_prefix("s="))?;
    crate::session::SessionId::foreign_node(id, w.node.as_ref())
}

/// `GET .../ws`: the native attach, for a principal that reaches the session.
fn attach(
    w: &Rc<Worker>,
    req: &Request<'_>,
    (id, body): (&str, &[u8]),
    p: Principal,
    out: &mut Vec<u8>,
) -> Next {
    let live = match api::find(w, id, &p) {
        Ok(live) => live,
        Err(reply) => {
            api::write(w, reply, false, false, out);
            return Next::Respond;
        }
    };
    if live.state.borrow().config().dialect == crate::session::Dialect::Ttyd {
        error_into(w, out, 409, "a ttyd (/ws) session has one client: its own connection", &[]);
        return Next::Respond;
    }
    let since = match query_u64(req.query, "since") {
        Ok(s) => s,
        Err(()) => {
            error_into(w, out, 400, "since must be a byte offset", &[]);
            return Next::Respond;
        }
    };
    upgrade(w, req, body, out, Upgrade::Session(live, since, p), &[PROTOCOL])
}

fn add_slash(w: &Worker, req: &Request<'_>, keep_alive: bool, head_only: bool, out: &mut Vec<u8>) {
    let mut location = format!("{}/", w.cfg.base_path);
    if let Some(q) = req.query {
        location.push('?');
        location.push_str(q);
    }
    let mut json = Vec::new();
    http::json_error("moved: the path ends with a slash", &mut json);
    let extra = [("Location", location.as_str())];
    respond(w, out, 301, "application/json", &json, keep_alive, &extra, head_only);
}

fn page(w: &Worker, req: &Request<'_>, path: &str, keep_alive: bool, head_only: bool, out: &mut Vec<u8>) {
    let page = w.shared.site.get(path, req.header("accept-encoding"), req.header("if-none-match"));
    match page {
        Some(p) => {
            let head_only = head_only || p.status == 304;
            respond(w, out, p.status, p.content_type, p.body, keep_alive, &p.headers, head_only);
        }
        None => {
            let mut json = Vec::new();
            http::json_error("not found", &mut json);
            respond(w, out, 404, "application/json", &json, keep_alive, &[], head_only);
        }
    }
}

/// The native protocol's subprotocol name (optional for clients).
const PROTOCOL: &str = "ringtty.v1";
/// ttyd's subprotocol name (its page offers it; echoed when offered).
const TTYD_PROTOCOL: &str = "tty";

/// The command line of a ttyd connection: COMMAND, plus (with `-a`) every `arg` of the
/// query, percent-decoded, as ttyd does.
fn ttyd_command(w: &Worker, query: Option<&str>) -> Result<Vec<std::ffi::OsString>, &'static str> {
    use std::os::unix::ffi::OsStringExt;
    if w.cfg.terminal.command.is_empty() {
        return Err("ringtty was started without a COMMAND: /ws has nothing to run");
    }
    let mut argv = w.cfg.terminal.command.clone();
    if let (true, Some(q)) = (w.cfg.terminal.url_arg, query) {
        argv.extend(http::query_values(q, "arg").map(std::ffi::OsString::from_vec));
    }
    Ok(argv)
}

/// `name=N` from a query string; `Ok(None)` when absent.
fn query_u64(query: Option<&str>, name: &str) -> Result<Option<u64>, ()> {
    let Some(q) = query else { return Ok(None) };
    match q.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name) {
        None => Ok(None),
        Some((_, v)) => v.parse().map(Some).map_err(|_| ()),
    }
}

/// Answers a WebSocket upgrade request: `101` and the endpoint, or an error status.
fn upgrade(
    w: &Worker,
    req: &Request<'_>,
    body: &[u8],
    out: &mut Vec<u8>,
    endpoint: Upgrade,
    protocols: &[&str],
) -> Next {
    if !body.is_empty() {
        error_into(w, out, 400, "a WebSocket upgrade request has no body", &[]);
        return Next::Respond;
    }
    // RFC 6455 §4.1: "the HTTP version MUST be at least 1.1". An HTTP/1.0 upgrade
    // comes from no browser; refusing it keeps one shape of handshake to reason about.
    if req.minor_version < 1 {
        error_into(w, out, 400, "a WebSocket upgrade needs HTTP/1.1", &[]);
        return Next::Respond;
    }
    // `--compress`: the terminals' endpoints, and the echo only with `--compress=all`.
    let compress = match endpoint {
        Upgrade::Echo => w.cfg.compress == crate::config::Compress::All,
        _ => w.cfg.compress != crate::config::Compress::Off,
    };
    match ws::accept_upgrade_with(req.method_str, req.header_pairs(), protocols, compress) {
        Ok(handshake) => {
            handshake.write_response(out);
            w.stats().response(101);
            Next::Upgrade(endpoint, handshake.deflate())
        }
        Err(e) => {
            error_into(w, out, e.status(), e.reason(), e.response_headers());
            Next::Respond
        }
    }
}

const NO_STORE: [(&str, &str); 1] = [("Cache-Control", "no-store")];
