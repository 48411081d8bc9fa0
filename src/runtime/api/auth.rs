//! The HTTP side of authentication (docs/SECURITY.md): the `?token=` swap for the
//! cookie, `POST /login` and `/logout`, `GET /api/auth`, `POST /api/tokens` (share
//! links) and ttyd's `GET /token`. Admission itself is `auth::admit`'s, in `httpconn`.

use std::sync::atomic::Ordering::Relaxed;

use ring::rand::SecureRandom;
use serde::Deserialize;
use serde_json::json;

use super::reply::{respond, Reply};
use crate::auth::{self, Claims, Mode, Principal, Via};
use crate::http::Request;
use crate::runtime::worker::{unix_now, CrossCore, Worker};

/// A password login's token (and cookie) lasts this long.
const LOGIN_TTL: u64 = 12 * 3600;
/// A share link's default and longest lifetime.
const SHARE_TTL: u64 = 24 * 3600;
const SHARE_TTL_MAX: u64 = 7 * 24 * 3600;
/// ttyd's `/token` answer for a caller without a token of its own lasts this long.
const TTYD_TOKEN_TTL: u64 = 3600;

/// The login URL's token lasts as long as a server is likely to run; its key dies with
/// the process anyway (it is printed only when the key is random).
const STARTUP_TTL: u64 = 365 * 24 * 3600;

/// The token printed at startup, when tokens are the only way in and the key is this
/// run's own (no `--auth-secret-file`, `-c`, `--credential-file` or `-H`): an admin
/// who may type where `-W` lets clients.
pub fn startup_token(cfg: &crate::config::Config) -> Option<String> {
    let auth = cfg.admission.auth.as_ref()?;
    let other_ways = auth.basic.is_some() || auth.header.is_some() || cfg.access.credentials.is_some();
    if other_ways || cfg.auth_secret_file.is_some() {
        return None;
    }
    let owner = Principal { admin: true, ..Principal::user(STARTUP_USER.into(), Via::Bearer) };
    sign(&auth.key, &ring::rand::SystemRandom::new(), claims_for(&owner), STARTUP_TTL).map(|(t, _)| t)
}

/// The user the startup token names.
pub const STARTUP_USER: &str = "owner";

/// `Set-Cookie` for a browser's token: `HttpOnly` (no script reads it),
/// `SameSite=Strict` (no other site's request carries it), `Secure` with TLS, scoped to
/// the base path, and gone when the token expires.
pub fn set_cookie(w: &Worker, token: &str, exp: u64) -> String {
    let max_age = exp.saturating_sub(unix_now());
    format!(
        "{}={token}; HttpOnly; SameSite=Strict;{} Path={}/; Max-Age={max_age}",
        auth::COOKIE,
        secure(w),
        w.cfg.base_path
    )
}

fn clear_cookie(w: &Worker) -> String {
    format!("{}=; HttpOnly; SameSite=Strict;{} Path={}/; Max-Age=0", auth::COOKIE, secure(w), w.cfg.base_path)
}

/// With TLS, the cookie goes only over TLS (`Secure`): a plaintext request to the same
/// name cannot carry it.
fn secure(w: &Worker) -> &'static str {
    if w.cfg.tls.is_some() {
        " Secure;"
    } else {
        ""
    }
}

/// A token for `claims`, with a random `jti` and the times set from now.
fn mint(w: &Worker, claims: Claims, ttl: u64) -> Option<(String, u64)> {
    sign(&w.cfg.admission.auth.as_ref()?.key, &w.rng, claims, ttl)
}

/// Signs `claims` valid from now for `ttl` seconds, with a random `jti`; and its `exp`.
fn sign(key: &auth::Key, rng: &dyn SecureRandom, mut claims: Claims, ttl: u64) -> Option<(String, u64)> {
    let now = unix_now();
    let mut jti = [0u8; 12];
    rng.fill(&mut jti).ok()?;
    claims.iat = Some(now);
    claims.exp = now + ttl;
    claims.jti = Some(jti.iter().map(|b| format!("{b:02x}")).collect());
    Some((auth::sign(&claims, key), claims.exp))
}

fn claims_for(p: &Principal) -> Claims {
    Claims {
        sub: (!p.user.is_empty()).then(|| p.user.to_string()),
        mode: p.mode,
        sid: p.session.clone(),
        admin: p.admin,
        exp: 0,
        nbf: None,
        iat: None,
        jti: None,
    }
}

/// A page asked with `?token=`: answers with the cookie and a page that reloads the
/// same address without the token, so it stays out of the address bar, the history and
/// `Referer`. A refresh from our own page (not a `303`) so that the `SameSite=Strict`
/// cookie is sent even when the link was clicked on another site.
pub fn swap_page(w: &Worker, req: &Request<'_>, p: &Principal, keep_alive: bool, out: &mut Vec<u8>) {
    let token = req.query.and_then(auth::query_token).unwrap_or_default();
    let cookie = set_cookie(w, token, p.exp.unwrap_or(0));
    let location = address_without_token(req);
    let shown = html_escape(&location);
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0; url={shown}\">\
         <title>ringtty</title></head><body><p>Signed in. <a href=\"{shown}\">Continue</a></p></body></html>\n"
    );
    let extra = [
        ("Set-Cookie", cookie.as_str()),
        ("Cache-Control", "no-store"),
        // Every response already says `Referrer-Policy: no-referrer` and `nosniff`.
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ];
    respond(w, out, 200, "text/html; charset=utf-8", body.as_bytes(), keep_alive, &extra, false);
}

/// The request's path and query without `token=`.
fn address_without_token(req: &Request<'_>) -> String {
    let query = req.query.map(auth::query_without_token).unwrap_or_default();
    if query.is_empty() {
        req.path.to_owned()
    } else {
        format!("{}?{query}", req.path)
    }
}

/// The login page's address for a page asked without a credential; `next` brings the
/// user back (without any token the address carried).
pub fn login_location(w: &Worker, req: &Request<'_>) -> String {
    let next = address_without_token(req);
    format!("{}/login?next={}", w.cfg.base_path, percent_encode(&next))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /api/auth`: whether auth is on, whether passwords are taken, and who asks.
pub fn info(w: &Worker, p: Option<&Principal>) -> Reply {
    let auth = w.cfg.admission.auth.as_ref();
    let user = p.filter(|p| p.via != Via::NoAuth).map(|p| {
        json!({
            "sub": &*p.user,
            "mode": if p.may_write() { "rw" } else { "ro" },
            "admin": p.admin,
            "session": p.session,
        })
    });
    let passwords = auth.is_some_and(|a| a.basic.is_some()) || w.shared.credentials().is_some();
    Reply::ok(200, json!({ "enabled": auth.is_some(), "passwords": passwords, "user": user }))
}

/// `POST /logout`: the cookie is cleared (a token itself stays valid until it expires:
/// tokens are stateless).
pub fn logout(w: &Worker, keep_alive: bool, out: &mut Vec<u8>) {
    let cookie = clear_cookie(w);
    let extra = [("Set-Cookie", cookie.as_str()), ("Cache-Control", "no-store")];
    respond(w, out, 204, "application/json", b"", keep_alive, &extra, false);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

/// What a login answers: the reply, and the cookie on success.
pub struct LoginReply {
    pub reply: Reply,
    pub cookie: Option<String>,
}

impl LoginReply {
    fn refused(reply: Reply) -> LoginReply {
        LoginReply { reply, cookie: None }
    }
}

/// `POST /login`: `{"user","password"}` (`-c` or `--credential-file`) or `{"token"}`
/// (the login page's paste field). A wrong password or token counts against the
/// client's and the user's failed-login budgets; over either, 429.
pub async fn login(w: &Worker, body: &[u8], client: Option<std::net::IpAddr>) -> LoginReply {
    let Some(auth) = w.cfg.admission.auth.as_ref() else {
        return LoginReply::refused(Reply::fail(
            404,
            "authentication is off (--no-auth): nothing to log in to",
        ));
    };
    let Ok(b) = serde_json::from_slice::<LoginBody>(body) else {
        return LoginReply::refused(Reply::fail(
            400,
            "the body is a JSON object: {\"user\", \"password\"} or {\"token\"}",
        ));
    };
    let allowed = login_limits(w).allowed(client, b.user.as_deref(), w.now_ms());
    if let Err(retry) = allowed {
        w.stats().rate_limited();
        return LoginReply::refused(Reply::too_many(retry));
    }
    let now = unix_now();
    let tried = b.user.clone();
    let principal = match (b.user, b.password, b.token) {
        (None, None, Some(token)) => auth::verify(token.as_bytes(), &auth.key, now)
            .ok()
            .map(|claims| (Principal::from_claims(claims, Via::Cookie), Some(token))),
        (Some(user), Some(password), None) => match password_ok(w, auth, &user, password).await {
            Ok(ok) => ok.then(|| (Principal::user(user, Via::Cookie), None)),
            Err(Busy) => {
                let busy = Reply::fail(503, "too many logins are being checked: retry in a second");
                return LoginReply::refused(busy.with("Retry-After", "1".into()));
            }
        },
        _ => {
            return LoginReply::refused(Reply::fail(
                400,
                "give {\"user\", \"password\"} or {\"token\"}, not both or neither",
            ))
        }
    };
    let Some((p, token)) = principal else {
        w.stats().auth_failed();
        login_limits(w).failed(client, tried.as_deref(), w.now_ms());
        return LoginReply::refused(Reply::fail(401, auth::UNAUTHORIZED));
    };
    let minted = match token {
        Some(t) => p.exp.map(|exp| (t, exp)),
        None => mint(w, claims_for(&p), LOGIN_TTL),
    };
    let Some((token, exp)) = minted else {
        return LoginReply::refused(Reply::fail(500, "cannot mint a token"));
    };
    LoginReply {
        cookie: Some(set_cookie(w, &token, exp)),
        reply: Reply::ok(200, json!({ "user": &*p.user })),
    }
}

fn login_limits(w: &Worker) -> std::sync::MutexGuard<'_, auth::LoginLimits> {
    w.shared.login_limits.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks a password: `-c`'s (one comparison), else the credential file's (PBKDF2 with
/// its iterations, ~0.3 s: on a thread of its own, never on the worker's loop).
///
/// The failed-login budget is charged only when a check has failed, so checks that
/// are still running are bounded on their own: at most [`PASSWORD_CHECKS`] threads at
/// once, server-wide; beyond, `Busy` (503, not charged). Without that bound, a burst
/// of logins from one client would each get a thread before the first failure counts.
async fn password_ok(w: &Worker, auth: &auth::Auth, user: &str, password: String) -> Result<bool, Busy> {
    if let Some(basic) = &auth.basic {
        if basic.verify(user, password.as_bytes()) {
            return Ok(true);
        }
    }
    let Some(users) = w.shared.credentials() else { return Ok(false) };
    let running = &w.shared.password_checks;
    if running.fetch_add(1, Relaxed) >= PASSWORD_CHECKS {
        running.fetch_sub(1, Relaxed);
        return Err(Busy);
    }
    // Given back by the thread when the check ends, even if this request is gone.
    let shared = w.shared.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let user = user.to_owned();
    let spawned = std::thread::Builder::new().name("ringtty-login".into()).spawn(move || {
        let _ = tx.send(users.verify(&user, password.as_bytes()));
        shared.password_checks.fetch_sub(1, Relaxed);
    });
    if spawned.is_err() {
        running.fetch_sub(1, Relaxed);
        return Err(Busy);
    }
    Ok(rx.await.unwrap_or(false))
}

/// Password checks (PBKDF2, ~0.3 s of a core each) running at once, server-wide.
const PASSWORD_CHECKS: usize = 4;

/// Every password-check thread is taken.
struct Busy;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareBody {
    session: String,
    mode: Option<Mode>,
    ttl: Option<u64>,
}

/// `POST /api/tokens`: a token limited to one of the caller's sessions (a share link).
/// `ro` by default; `rw` only from a principal that may type itself.
pub async fn share(w: &Worker, p: &Principal, body: &[u8]) -> Reply {
    if w.cfg.admission.auth.is_none() {
        return Reply::fail(404, "authentication is off (--no-auth): a share link needs no token");
    }
    let Ok(b) = serde_json::from_slice::<ShareBody>(body) else {
        return Reply::fail(
            400,
            "the body is {\"session\": ID, \"mode\"?: \"ro\"|\"rw\", \"ttl\"?: seconds}",
        );
    };
    if !p.may_create() || !p.may_write() {
        return Reply::fail(403, "a read-only or one-session token cannot share");
    }
    let ttl = b.ttl.unwrap_or(SHARE_TTL);
    if !(1..=SHARE_TTL_MAX).contains(&ttl) {
        return Reply::fail(400, format!("ttl: 1 to {SHARE_TTL_MAX} seconds"));
    }
    // The session must be the caller's (404 otherwise, as for every other call); the
    // list is asked where the session lives, so any core's session can be shared.
    let Ok(id) = crate::session::SessionId::parse(&b.session, w.node.as_ref()) else {
        return Reply::fail(404, "no such session");
    };
    if !owner_of(w, id).await.is_some_and(|owner| p.reaches(id.as_str(), owner.as_deref())) {
        return Reply::fail(404, "no such session");
    }
    let mode = b.mode.unwrap_or(Mode::Ro);
    let claims =
        Claims { sub: Some(p.user.to_string()), mode, sid: Some(id.as_str().to_owned()), ..claims_for(p) };
    let claims = Claims { admin: false, ..claims };
    let Some((token, exp)) = mint(w, claims, ttl) else {
        return Reply::fail(500, "cannot mint a token");
    };
    let path = format!("{}/?s={}&token={token}", w.cfg.base_path, id.as_str());
    let mode = if mode == Mode::Rw { "rw" } else { "ro" };
    Reply::ok(201, json!({ "token": token, "path": path, "exp": exp, "mode": mode, "session": id.as_str() }))
}

/// Whether session `id` exists, and its owner: asked of the core that has it.
async fn owner_of(w: &Worker, id: crate::session::SessionId) -> Option<Option<String>> {
    if id.core() == w.index {
        return w.session(id.as_str()).map(|l| l.meta.owner.clone());
    }
    let inbox = w.shared.inboxes.get(id.core())?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    inbox.send(CrossCore::Owner { id: id.as_str().to_owned(), reply: tx }).ok()?;
    tokio::time::timeout(std::time::Duration::from_secs(1), rx).await.ok()?.ok()?
}

/// ttyd's `GET /token`: the token its page sends back in `AuthToken`. The caller's own
/// token when it came with one; a short one for the same principal otherwise (a
/// password login or a proxy's header); never a password (ttyd answers `-c`'s).
pub fn ttyd_token(w: &Worker, req: &Request<'_>, p: Option<&Principal>) -> String {
    let Some(p) = p.filter(|p| p.via != Via::NoAuth) else { return String::new() };
    let own = match p.via {
        Via::Bearer => req.header("authorization").and_then(|v| v.get(7..)),
        Via::Query => req.query.and_then(auth::query_token).map(str::as_bytes),
        Via::Cookie => req.header("cookie").and_then(auth::cookie_token),
        _ => None,
    };
    match own.and_then(|t| std::str::from_utf8(t).ok()) {
        Some(t) => t.trim().to_owned(),
        None => mint(w, claims_for(p), TTYD_TOKEN_TTL).map(|(t, _)| t).unwrap_or_default(),
    }
}
