//! The route table: (method, path) -> what to do. Pure, so every route and every 404/405
//! is unit-tested without a socket.

use super::Method;

/// What a request is for, after the base path has been stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'p> {
    Health,
    Metrics,
    /// `GET /api/sessions` (list) or `POST /api/sessions` (create).
    Sessions,
    /// `/api/sessions/{id}[/what]`; the id is not validated here.
    Session(&'p str, SessionPart),
    /// The WebSocket echo endpoint (`--ws-echo PATH`), for conformance tools.
    WsEcho,
    /// `GET /ws`: ttyd's WebSocket protocol (SPEC §5), one process per connection.
    Ttyd,
    /// `GET /token`: ttyd's page asks it for the token to send in its first message.
    Token,
    /// `GET /api/config`: what the web UI needs to know about this server.
    Config,
    /// `GET /api/auth`: whether auth is on and who the caller is (open).
    AuthInfo,
    /// `POST /login`: a password or a token for the cookie (open).
    Login,
    /// `POST /logout`: clears the cookie.
    Logout,
    /// `POST /api/tokens`: a share token for one of the caller's sessions.
    Tokens,
    /// `GET /api/fleet`: the nodes of the fleet and their load (docs/FLEET.md).
    Fleet,
    /// `/api/admin/...` (admins only): drain, the kill switch, revocation.
    Admin(AdminRoute),
    /// Any other `GET`/`HEAD` outside `/api/`: a page or an asset of the web UI (which
    /// may not exist: the site decides). The path is relative to the base path.
    Page(&'p str),
    /// The base path without its trailing slash: redirect to it with the slash, so
    /// that the page's relative URLs resolve under the base path.
    AddSlash,
    /// The path exists but not for this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
    NotFound,
}

/// The admin's routes (docs/FLEET.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    /// `POST` starts draining this node, `DELETE` stops it, `GET` says.
    Drain,
    /// `POST`: the kill switch, fleet-wide.
    Kill,
    /// `POST` revokes tokens fleet-wide; `GET` lists what is revoked.
    Revoke,
}

/// Which part of a session a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPart {
    /// `GET` (describe), `PATCH` (name, keep) or `DELETE` (terminate).
    Itself,
    /// `POST .../input`.
    Input,
    /// `POST .../resize`.
    Resize,
    /// `GET .../ws`: the native WebSocket attach.
    Ws,
    /// `GET .../cast`: the session's recording (asciicast v2).
    Cast,
}

/// Resolves `path` (without query) under `base_path` (`""` or `/prefix`, no trailing
/// slash). `ws_echo` is the echo endpoint's path relative to the base, if enabled.
pub fn route<'p>(method: Method, path: &'p str, base_path: &str, ws_echo: Option<&str>) -> Route<'p> {
    let Some(rest) = path.strip_prefix(base_path) else {
        return Route::NotFound;
    };
    let rest = match rest {
        "" if base_path.is_empty() => "/",
        "" => return get_or_head(method, Route::AddSlash),
        r if r.starts_with('/') => r,
        _ => return Route::NotFound,
    };
    let get_only = |r: Route<'p>| get_or_head(method, r);
    match rest {
        "/health" => get_only(Route::Health),
        "/metrics" => get_only(Route::Metrics),
        "/token" => get_only(Route::Token),
        "/api/config" => get_only(Route::Config),
        "/api/auth" => get_only(Route::AuthInfo),
        "/api/tokens" => post_only(method, Route::Tokens),
        "/api/fleet" => get_only(Route::Fleet),
        "/api/admin/drain" => match method {
            Method::Get | Method::Head | Method::Post | Method::Delete => Route::Admin(AdminRoute::Drain),
            _ => Route::MethodNotAllowed("GET, HEAD, POST, DELETE"),
        },
        "/api/admin/kill" => post_only(method, Route::Admin(AdminRoute::Kill)),
        "/api/admin/revoke" => match method {
            Method::Get | Method::Head | Method::Post => Route::Admin(AdminRoute::Revoke),
            _ => Route::MethodNotAllowed("GET, HEAD, POST"),
        },
        "/login" => match method {
            Method::Post => Route::Login,
            Method::Get | Method::Head => Route::Page(rest),
            _ => Route::MethodNotAllowed("GET, HEAD, POST"),
        },
        "/logout" => post_only(method, Route::Logout),
        "/ws" => match method {
            Method::Get => Route::Ttyd,
            _ => Route::MethodNotAllowed("GET"),
        },
        "/api/sessions" | "/api/sessions/" => match method {
            Method::Get | Method::Head | Method::Post => Route::Sessions,
            _ => Route::MethodNotAllowed("GET, HEAD, POST"),
        },
        p if p.starts_with("/api/sessions/") => session_route(method, &p["/api/sessions/".len()..]),
        p if Some(p) == ws_echo => match method {
            Method::Get => Route::WsEcho,
            _ => Route::MethodNotAllowed("GET"),
        },
        p if p == "/api" || p.starts_with("/api/") => Route::NotFound,
        "/" | "/sessions" | "/play" => get_only(Route::Page(rest)),
        p => match method {
            Method::Get | Method::Head => Route::Page(p),
            _ => Route::NotFound,
        },
    }
}

fn post_only(method: Method, r: Route<'_>) -> Route<'_> {
    match method {
        Method::Post => r,
        _ => Route::MethodNotAllowed("POST"),
    }
}

fn get_or_head(method: Method, r: Route<'_>) -> Route<'_> {
    match method {
        Method::Get | Method::Head => r,
        _ => Route::MethodNotAllowed("GET, HEAD"),
    }
}

fn session_route(method: Method, rest: &str) -> Route<'_> {
    let (id, part) = match rest.split_once('/') {
        None => (rest, SessionPart::Itself),
        Some((id, "input")) => (id, SessionPart::Input),
        Some((id, "resize")) => (id, SessionPart::Resize),
        Some((id, "ws")) => (id, SessionPart::Ws),
        Some((id, "cast")) => (id, SessionPart::Cast),
        Some(_) => return Route::NotFound,
    };
    if id.is_empty() {
        return Route::NotFound;
    }
    let allowed = match part {
        SessionPart::Itself => matches!(method, Method::Get | Method::Head | Method::Patch | Method::Delete),
        SessionPart::Input | SessionPart::Resize => method == Method::Post,
        SessionPart::Ws => method == Method::Get,
        SessionPart::Cast => matches!(method, Method::Get | Method::Head),
    };
    if !allowed {
        return Route::MethodNotAllowed(match part {
            SessionPart::Itself => "GET, HEAD, PATCH, DELETE",
            SessionPart::Input | SessionPart::Resize => "POST",
            SessionPart::Ws => "GET",
            SessionPart::Cast => "GET, HEAD",
        });
    }
    Route::Session(id, part)
}
