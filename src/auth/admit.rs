//! The admission point: one pure decision per request, made once, before routing and
//! before the request moves to another core, so that no route can skip a check.
//!
//! In order: the `Host` check (DNS rebinding, [`HostPolicy`]) on every request; the
//! origin check (CSRF, cross-site WebSocket hijacking, [`origin_allowed`]) on every
//! request that changes state or upgrades; then the credential, which yields the
//! [`Principal`] the route acts for. No IO and no clock: the time comes in.

use std::net::IpAddr;

use super::{origin_allowed, verify, CidrList, HostPolicy, HostRefusal, Key, PlainCredential, Unauthorized};
use super::{parse_basic, Principal, Via};

/// Who may ask what. Built once from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The `Host` values answered.
    pub hosts: HostPolicy,
    /// `--allow-origin`, normalized (`*` = any).
    pub allow_origins: Vec<String>,
    /// How callers prove who they are; `None` with `--no-auth`.
    pub auth: Option<Auth>,
}

/// The credentials a server accepts besides its tokens.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The HS256 key every token is checked with.
    pub key: Key,
    /// `-c USER:PASSWORD`: `Authorization: Basic` with exactly these (ttyd's option).
    pub basic: Option<PlainCredential>,
    /// `-H NAME`: the header an auth proxy names the user in, lowercase.
    pub header: Option<String>,
    /// `--trusted-proxy`: the peers whose `-H` header and `X-Forwarded-For` count.
    pub trusted_proxies: Option<CidrList>,
}

/// What a request asks, as far as the origin check is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET` or `HEAD`: reads nothing a browser's same-origin policy lets another site
    /// see (the answer is not readable cross-origin), so `Origin` is not checked.
    Read,
    /// Any other method: may change state (create, type, kill), so a browser must be
    /// acting for one of our own pages.
    Change,
    /// A WebSocket upgrade: browsers let any page open one, and its messages are
    /// readable by that page, so `Origin` is checked as for a change.
    Upgrade,
}

/// What a route needs besides the `Host` and origin checks (each route says, in
/// `runtime`'s route table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone: `/health`, the login page and its assets, `POST /login`. A valid
    /// credential still yields its principal (the login page shows who is signed in).
    Open,
    /// A principal, or 401.
    Principal,
    /// A page of the web UI: a principal, or a redirect to the login page.
    Page,
    /// ttyd's `/ws`: a credential on the upgrade, or later in its init message's
    /// `AuthToken` ([`admit_ttyd_init`]); a bad one on the upgrade is still 401.
    PrincipalOrInit,
}

/// The request's facts admission looks at (borrowed from the parsed head).
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub kind: Kind,
    pub need: Need,
    /// The `Host` header (`None`: absent; two are refused by the HTTP parser).
    pub host: Option<&'a [u8]>,
    /// The `Origin` header, if a browser sent one.
    pub origin: Option<&'a [u8]>,
    /// The TCP peer (`None` on a unix socket).
    pub peer: Option<IpAddr>,
    pub authorization: Option<&'a [u8]>,
    pub cookie: Option<&'a [u8]>,
    /// The query string (without `?`), for `token=`.
    pub query: Option<&'a str>,
    /// The value of the `-H` header, if the server has one and the request carries it.
    pub proxy_user: Option<&'a [u8]>,
    /// The user a client certificate names, verified during the TLS handshake (`-A`).
    pub client_cert: Option<&'a str>,
}

/// Why a request is refused; [`status`](Self::status) and [`reason`](Self::reason) are
/// the whole answer (fixed text: nothing from the request is echoed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Host(HostRefusal),
    Origin,
    /// No credential, or a bad one: one answer whatever was wrong.
    Unauthorized(Unauthorized),
    /// A page without a credential: `303` to the login page.
    Login,
}

impl Refusal {
    pub const fn status(self) -> u16 {
        match self {
            Refusal::Host(h) => h.status(),
            Refusal::Origin => 403,
            Refusal::Unauthorized(u) => u.status(),
            Refusal::Login => 303,
        }
    }

    pub const fn reason(self) -> &'static str {
        match self {
            Refusal::Host(h) => h.reason(),
            Refusal::Origin => "origin not allowed; the server's operator can add it with --allow-origin",
            Refusal::Unauthorized(_) => UNAUTHORIZED,
            Refusal::Login => "sign in first",
        }
    }
}

/// The one body every credential failure gets.
pub const UNAUTHORIZED: &str = "authentication required: a valid token (Authorization: Bearer, the \
                                ringtty_token cookie or ?token=) or a password login";

/// The cookie that carries a browser's token.
pub const COOKIE: &str = "ringtty_token";

/// Admits a request or says why not. The `Host` check comes first: the origin check
/// compares `Origin` with `Host`, which means something only once `Host` is ours.
/// `Ok(None)`: an open route (or ttyd's `/ws`, whose init message is checked later)
/// asked without a credential.
pub fn admit(ask: &Ask<'_>, policy: &Policy, now: u64) -> Result<Option<Principal>, Refusal> {
    admit_unless(ask, policy, now, |_| false)
}

/// [`admit`], where a credential whose principal `revoked` names (its token's `jti`
/// or its user, revoked by an admin: docs/FLEET.md) is refused like a bad one.
pub fn admit_unless(
    ask: &Ask<'_>,
    policy: &Policy,
    now: u64,
    revoked: impl Fn(&Principal) -> bool,
) -> Result<Option<Principal>, Refusal> {
    policy.hosts.check(ask.host).map_err(Refusal::Host)?;
    let checks_origin = matches!(ask.kind, Kind::Change | Kind::Upgrade);
    if checks_origin && !origin_allowed(ask.origin, ask.host, &policy.allow_origins) {
        return Err(Refusal::Origin);
    }
    let Some(auth) = &policy.auth else { return Ok(Some(Principal::anyone())) };
    let checked = credential(ask, auth, now).map(|c| c.and_then(|p| unrevoked(p, &revoked)));
    match (checked, ask.need) {
        (Some(Ok(p)), _) => Ok(Some(p)),
        (None | Some(Err(_)), Need::Open) => Ok(None),
        (None, Need::PrincipalOrInit) => Ok(None),
        (None | Some(Err(_)), Need::Page) => Err(Refusal::Login),
        (None, _) => Err(Refusal::Unauthorized(Unauthorized::MISSING)),
        (Some(Err(e)), _) => Err(Refusal::Unauthorized(e)),
    }
}

/// The first credential the request carries, checked: `Authorization`, then `?token=`,
/// then the auth proxy's header, then the cookie, then the client certificate. The
/// first one present decides (a bad one is not rescued by another), so what a client
/// sends means one thing; a token (a share link, an admin's) still works beside a
/// certificate.
fn credential(ask: &Ask<'_>, auth: &Auth, now: u64) -> Option<Result<Principal, Unauthorized>> {
    if let Some(value) = ask.authorization {
        return Some(authorization(value, auth, now));
    }
    if let Some(token) = ask.query.and_then(query_token) {
        return Some(token_principal(token.as_bytes(), &auth.key, now, Via::Query));
    }
    if let Some(user) = ask.proxy_user.filter(|_| trusted(ask.peer, auth)) {
        return Some(proxy_user(user));
    }
    if let Some(token) = ask.cookie.and_then(cookie_token) {
        return Some(token_principal(token, &auth.key, now, Via::Cookie));
    }
    let user = ask.client_cert?;
    Some(Ok(Principal::user(user.to_owned(), Via::ClientCert)))
}

fn unrevoked(p: Principal, revoked: impl Fn(&Principal) -> bool) -> Result<Principal, Unauthorized> {
    match revoked(&p) {
        true => Err(Unauthorized::REVOKED),
        false => Ok(p),
    }
}

fn authorization(value: &[u8], auth: &Auth, now: u64) -> Result<Principal, Unauthorized> {
    let value = std::str::from_utf8(value).map_err(|_| Unauthorized::MISSING)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return token_principal(rest.trim_matches(' ').as_bytes(), &auth.key, now, Via::Bearer);
    }
    let basic = auth.basic.as_ref().ok_or(Unauthorized::MISSING)?;
    let (user, password) = parse_basic(value).ok_or(Unauthorized::MISSING)?;
    if basic.verify(&user, &password) {
        Ok(Principal::user(user, Via::Basic))
    } else {
        Err(Unauthorized::MISSING)
    }
}

fn token_principal(token: &[u8], key: &Key, now: u64, via: Via) -> Result<Principal, Unauthorized> {
    verify(token, key, now).map(|claims| Principal::from_claims(claims, via))
}

/// ttyd's init message carries `AuthToken`: a token, or (with `-c`, as ttyd's own page
/// sends it) `base64(user:password)`.
/// Its principal is refused, like a bad credential, when `revoked` names it.
pub fn admit_ttyd_init(
    auth_token: &str,
    policy: &Policy,
    now: u64,
    revoked: impl Fn(&Principal) -> bool,
) -> Result<Principal, Unauthorized> {
    let Some(auth) = &policy.auth else { return Ok(Principal::anyone()) };
    if auth.basic.is_some() && !auth_token.contains('.') {
        let mut p = authorization(format!("Basic {auth_token}").as_bytes(), auth, now)?;
        p.via = Via::TtydInit;
        return unrevoked(p, revoked);
    }
    token_principal(auth_token.as_bytes(), &auth.key, now, Via::TtydInit).and_then(|p| unrevoked(p, revoked))
}

fn trusted(peer: Option<IpAddr>, auth: &Auth) -> bool {
    matches!((peer, &auth.trusted_proxies), (Some(ip), Some(list)) if list.contains(ip))
}

/// The longest user name an auth proxy may give.
const MAX_PROXY_USER: usize = 128;

fn proxy_user(value: &[u8]) -> Result<Principal, Unauthorized> {
    let user = std::str::from_utf8(value).map_err(|_| Unauthorized::MISSING)?.trim();
    if user.is_empty() || user.len() > MAX_PROXY_USER || user.chars().any(char::is_control) {
        return Err(Unauthorized::MISSING);
    }
    Ok(Principal::user(user.to_owned(), Via::Header))
}

/// `token=` in a query string, if present (the last one wins nowhere: the first is it).
pub fn query_token(query: &str) -> Option<&str> {
    query.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// The query string without its `token=` parameters (for the address a `?token=` page
/// is swapped to, and for the login page's `next`).
pub fn query_without_token(query: &str) -> String {
    let kept: Vec<&str> = query.split('&').filter(|kv| *kv != "token" && !kv.starts_with("token=")).collect();
    kept.join("&")
}

/// The `ringtty_token` cookie's value in a `Cookie` header (RFC 6265 §5.4: pairs
/// separated by `; `).
pub fn cookie_token(header: &[u8]) -> Option<&[u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        pair.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"=")
    })
}

/// The client a request comes from: the peer, unless the peer is a `--trusted-proxy`,
/// in which case the nearest address in `X-Forwarded-For` that is not a trusted proxy
/// (read from the right: each proxy appends the address it saw, and only the entries
/// our own proxies appended can be believed). A malformed entry ends the walk at the
/// last address believed.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&[u8]>, trusted: Option<&CidrList>) -> IpAddr {
    let (Some(trusted), Some(header)) = (trusted, forwarded_for) else { return peer };
    if !trusted.contains(peer) {
        return peer;
    }
    let Ok(header) = std::str::from_utf8(header) else { return peer };
    let mut client = peer;
    for entry in header.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else { break };
        client = super::cidr::canonical(ip);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
#[path = "admit_tests.rs"]
mod tests;
