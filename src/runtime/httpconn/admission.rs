//! The admission of a request, from its complete head: parse it, route it, and ask
//! `auth::admit` (Host, origin, credential) with what the route needs; the facts the
//! connection loop needs across its reads come back in [`HeadFacts`].

use std::net::IpAddr;

use super::conn_log::ConnLog;
use crate::auth::{self, Principal};
use crate::http::{self, Parse, Route};
use crate::runtime::api;
use crate::runtime::route;
use crate::runtime::transport::Transport;
use crate::runtime::worker::{unix_now, Worker};

/// The header array's size; `Limits::max_headers` may lower it, never raise it.
const MAX_HEADERS: usize = 128;

/// What `Conn::request` needs from a complete head across its reads.
pub struct HeadFacts {
    pub len: usize,
    pub content_length: u64,
    pub expect_continue: bool,
    /// The core owning the session the request is about, when it is not this one.
    pub owner: Option<usize>,
    /// The admission point's verdict (`auth::admit`).
    pub admitted: Result<Option<Principal>, auth::Refusal>,
    /// Where a page asked without a credential is sent (the login page).
    pub login: Option<String>,
    /// The client's address: the peer's, or the one a `--trusted-proxy` peer names in
    /// `X-Forwarded-For`. Looked up only when something needs it.
    pub client: Option<IpAddr>,
}

/// Parses the complete head at the start of `buf`; `None` if it does not parse.
pub fn head_facts(
    w: &Worker,
    buf: &[u8],
    log: Option<&mut ConnLog>,
    carried: Option<Option<Principal>>,
    peer: impl FnOnce() -> Option<IpAddr>,
    client_cert: Option<&str>,
) -> Option<HeadFacts> {
    let limits = &w.cfg.http;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let n = limits.max_headers.min(MAX_HEADERS);
    let Ok(Parse::Complete(req)) = http::parse(buf, &mut headers[..n], limits) else {
        return None;
    };
    let route = http::route(req.method, req.path, &w.cfg.base_path, w.cfg.ws_echo.as_deref());
    let kind = match route {
        Route::Ttyd | Route::WsEcho | Route::Session(_, http::SessionPart::Ws) => auth::Kind::Upgrade,
        _ if matches!(req.method, http::Method::Get | http::Method::Head) => auth::Kind::Read,
        _ => auth::Kind::Change,
    };
    let policy = &w.cfg.admission;
    let proxies = policy.auth.as_ref().and_then(|a| a.trusted_proxies.as_ref());
    let header = policy.auth.as_ref().and_then(|a| a.header.as_deref());
    // Twice (a proxy that appends its own line after the client's): an empty value,
    // which admission refuses like any bad credential.
    let proxy_user = header.and_then(|h| req.single_header(h).unwrap_or(Some(b"")));
    // The peer is looked up only when an option needs it.
    let wants_peer = proxy_user.is_some()
        || proxies.is_some()
        || w.cfg.access.rate_limit.is_some()
        || route == Route::Login;
    let peer = if wants_peer { peer() } else { None };
    // Every X-Forwarded-For line, in order: a proxy that appends its own line after the
    // client's must not have the client's first line believed.
    let client = peer.map(|p| auth::client_ip(p, req.header_list("x-forwarded-for").as_deref(), proxies));
    let ask = auth::Ask {
        kind,
        need: need(w, route),
        host: req.header("host"),
        origin: req.header("origin"),
        peer,
        authorization: req.header("authorization"),
        cookie: req.header("cookie"),
        query: req.query,
        proxy_user,
        client_cert,
    };
    let session = route::Here::of(w).session_id(route);
    if let Some(log) = log {
        log.head(&req, session);
    }
    let admitted = match carried {
        Some(decided) => Ok(decided),
        None => {
            let now = unix_now();
            auth::admit_unless(&ask, policy, now, |p| w.shared.revoked.refuses(p, now))
        }
    };
    let login = matches!(admitted, Err(auth::Refusal::Login)).then(|| api::auth::login_location(w, &req));
    Some(HeadFacts {
        len: req.head_len,
        content_length: req.content_length,
        expect_continue: req.expect_continue,
        owner: route::Here::of(w).owning_core(session),
        admitted,
        login,
        client,
    })
}

/// The peer's address, from one `getpeername(2)` the first time it is needed.
pub fn peer_ip(stream: &Transport, cache: &std::cell::Cell<Option<Option<IpAddr>>>) -> Option<IpAddr> {
    if let Some(known) = cache.get() {
        return known;
    }
    let ip = stream.peer_addr().map(|a| a.ip().to_canonical());
    cache.set(Some(ip));
    ip
}

/// What each route needs besides the `Host` and origin checks: pages a principal or the
/// login page, the API and WebSockets a principal (ttyd's `/ws` may bring it in its
/// first message), and only the health check, the login page, its assets and the
/// login itself nothing.
fn need(w: &Worker, route: Route<'_>) -> auth::Need {
    use auth::Need;
    match route {
        Route::Health | Route::AuthInfo | Route::Login | Route::Logout | Route::AddSlash => Need::Open,
        Route::MethodNotAllowed(_) | Route::NotFound => Need::Open,
        Route::Page("/login") => Need::Open,
        Route::Page(path) if w.shared.site.is_page(path) => Need::Page,
        Route::Page(_) => Need::Open,
        Route::Ttyd => Need::PrincipalOrInit,
        Route::Metrics | Route::Sessions | Route::Session(..) | Route::WsEcho | Route::Token => {
            Need::Principal
        }
        Route::Config | Route::Tokens | Route::Fleet | Route::Admin(_) => Need::Principal,
    }
}
