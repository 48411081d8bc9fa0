//! Access control over real sockets (issue 12): what a request without a credential
//! gets, the `?token=` swap for the cookie, password logins and their limits, the auth
//! proxy's header, `--rate-limit`, ttyd's `AuthToken`, and `--no-auth`.

use std::net::TcpStream;
use std::num::NonZeroU32;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringtty::auth::{sign, Claims, Key, Mode, UNAUTHORIZED};
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use crate::common::*;

/// The key of the servers started with `--auth-secret-file`.
pub(crate) const SECRET: &str = "it-auth-secret-0123456789abcdef0123456789abcdef";

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A directory private to this test (removed first if a previous run left it).
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringtty-it-auth-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    dir
}

/// Writes `contents` to `dir/name`, mode 0600.
pub(crate) fn private_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A server whose tokens are signed with [`SECRET`] (so the test mints them).
pub(crate) fn secret_server(name: &str, extra: &[&str]) -> Server {
    let dir = temp_dir(name);
    let file = private_file(&dir, "secret", SECRET);
    let mut args = vec!["--auth-secret-file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// A token signed with [`SECRET`], valid for an hour.
pub(crate) fn mint(sub: &str, mode: Mode, sid: Option<&str>, admin: bool) -> String {
    let now = now();
    let claims = Claims {
        sub: Some(sub.to_owned()),
        mode,
        sid: sid.map(str::to_owned),
        admin,
        exp: now + 3600,
        nbf: None,
        iat: Some(now),
        jti: Some(format!("it-{sub}-{now}")),
    };
    sign(&claims, &Key::new(SECRET.as_bytes()))
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

/// One request exactly as given: `headers` are whole lines (`Name: value\r\n`); a
/// body gets its `Content-Length`, and so does every method but GET and HEAD.
pub(crate) fn send(server: &Server, method: &str, path: &str, headers: &str, body: &str) -> Response {
    let length = if body.is_empty() && (method == "GET" || method == "HEAD") {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    request_anon(
        server,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}{length}Connection: close\r\n\r\n{body}"
        ),
    )
}

/// A WebSocket upgrade request by hand, answered with an error or `101`.
pub(crate) fn upgrade_status(server: &Server, path: &str, headers: &str) -> Response {
    let mut s = server.connect();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    std::io::Write::write_all(&mut s, head.as_bytes()).unwrap();
    read_response(&mut s, false).expect("an answer to the upgrade")
}

/// A WebSocket on `path` with exactly these extra headers (no token added).
pub(crate) fn ws_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> WebSocket<TcpStream> {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}{path}", server.addr).into_client_request().unwrap();
    for (name, value) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (ws, resp) = tungstenite::client(req, server.connect()).expect("upgrade");
    assert_eq!(resp.status(), 101);
    ws
}

/// Creates a session running `command` with these credential headers.
pub(crate) fn create_as(server: &Server, headers: &str, command: &[&str]) -> String {
    let body = json!({ "command": command, "cols": 80, "rows": 24 }).to_string();
    let r = send(server, "POST", "/api/sessions", headers, &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

/// The ids of the sessions a caller lists.
pub(crate) fn listed(server: &Server, headers: &str) -> Vec<String> {
    let r = send(server, "GET", "/api/sessions", headers, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    v["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

/// The 401 every missing or bad credential gets.
pub(crate) fn assert_unauthorized(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
    assert_eq!(r.json(), json!({ "error": UNAUTHORIZED }), "{what}");
}

/// The `ringtty_token` cookie a response sets, checked for its flags; returns the token
/// and `Max-Age`.
fn set_cookie(r: &Response, path: &str) -> (String, u64) {
    let cookie = r.header("set-cookie").unwrap_or_else(|| panic!("no Set-Cookie: {r:?}"));
    let rest = cookie.strip_prefix("ringtty_token=").unwrap_or_else(|| panic!("{cookie}"));
    let (token, attrs) = rest.split_once("; ").unwrap();
    let max_age = attrs
        .strip_prefix(&format!("HttpOnly; SameSite=Strict; Path={path}; Max-Age="))
        .unwrap_or_else(|| panic!("cookie attributes: {cookie}"));
    (token.to_owned(), max_age.parse().unwrap_or_else(|_| panic!("Max-Age: {cookie}")))
}

/// The text a ttyd `/ws` client reads until `needle` (output messages only).
fn ttyd_output_until(ws: &mut WebSocket<TcpStream>, needle: &str) -> String {
    let until = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    while !String::from_utf8_lossy(&out).contains(needle) {
        assert!(Instant::now() < until, "never saw {needle:?}: {:?}", String::from_utf8_lossy(&out));
        match ws.read().expect("read") {
            Message::Binary(b) if b.first() == Some(&b'0') => out.extend_from_slice(&b[1..]),
            Message::Close(f) => panic!("closed ({f:?}) before {needle:?}"),
            _ => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The close code a client reads next (skipping other messages).
pub(crate) fn close_code(ws: &mut WebSocket<TcpStream>) -> Option<u16> {
    let until = Instant::now() + DEADLINE;
    while Instant::now() < until {
        match ws.read() {
            Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
    None
}

/// A ttyd `/ws` client that brings its credential in the init message's `AuthToken`.
fn ttyd_init(server: &Server, headers: &[(&str, &str)], auth_token: &str) -> WebSocket<TcpStream> {
    let mut all = vec![("Sec-WebSocket-Protocol", "tty")];
    all.extend_from_slice(headers);
    let mut ws = ws_with(server, "/ws", &all);
    let init = json!({ "AuthToken": auth_token, "columns": 80, "rows": 24 }).to_string();
    ws.send(Message::binary(init.into_bytes())).unwrap();
    ws
}

/// Types a line into a ttyd `/ws` client running `cat` and reads it back.
fn ttyd_echoes(ws: &mut WebSocket<TcpStream>, line: &str) {
    ws.send(Message::binary(format!("0{line}\n").into_bytes())).unwrap();
    ttyd_output_until(ws, line);
}

/// A `Server` started with the startup token, one worker, `-W`, any command.
fn token_server(extra: &[&str]) -> Server {
    let mut args = vec!["--threads", "1", "-W", "--allow-any-command", "-P", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Every route that needs a credential, as (method, path, body).
fn guarded_routes(id: &str) -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("GET", "/api/sessions".into(), ""),
        ("HEAD", "/api/sessions".into(), ""),
        ("POST", "/api/sessions".into(), r#"{"command":["cat"]}"#),
        ("GET", format!("/api/sessions/{id}"), ""),
        ("DELETE", format!("/api/sessions/{id}"), ""),
        ("POST", format!("/api/sessions/{id}/input"), r#"{"data":"x"}"#),
        ("POST", format!("/api/sessions/{id}/resize"), r#"{"cols":90,"rows":30}"#),
        ("GET", "/api/config".into(), ""),
        ("POST", "/api/tokens".into(), r#"{"session":"x"}"#),
        ("GET", "/metrics".into(), ""),
        ("GET", "/token".into(), ""),
    ]
}

/// The session's output offset and status, asked with `headers`.
pub(crate) fn offset_and_status(server: &Server, headers: &str, id: &str) -> (u64, String) {
    let r = send(server, "GET", &format!("/api/sessions/{id}"), headers, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    (v["offset"].as_u64().unwrap(), v["status"].as_str().unwrap().to_owned())
}

/// An asset path the index page refers to (`/assets/...`).
fn an_asset(server: &Server) -> String {
    let r = get(server, "/");
    assert_eq!(r.status, 200);
    let html = String::from_utf8_lossy(&r.body);
    let at = html.find("/assets/").unwrap_or_else(|| panic!("no /assets/ in the index page: {html}"));
    let end = html[at..].find(['"', '\'', ' ', '>']).unwrap();
    html[at..at + end].to_owned()
}

#[test]
fn without_a_credential_the_api_is_401_pages_go_to_login_and_open_routes_stay_open() {
    let server = token_server(&["--ws-echo", "/echo", "cat"]);
    let admin = server.auth();
    let id = create_as(&server, &admin, &["cat"]);
    let before = offset_and_status(&server, &admin, &id);
    for (method, path, body) in guarded_routes(&id) {
        let r = send(&server, method, &path, "", body);
        if method == "HEAD" {
            assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")), "HEAD {path}");
        } else {
            assert_unauthorized(&r, &format!("{method} {path}"));
        }
    }
    for path in [format!("/api/sessions/{id}/ws"), "/echo".into(), "/echo?x=1".into()] {
        assert_unauthorized(&upgrade_status(&server, &path, ""), &format!("upgrade {path}"));
    }
    // Nothing of that reached the session.
    assert_eq!(offset_and_status(&server, &admin, &id), before);
    assert_eq!(listed(&server, &admin), [id.as_str()]);
    // Pages: to the login page, with the way back.
    for (path, next) in [("/", "/"), ("/sessions", "/sessions"), ("/?s=abc", "/%3Fs%3Dabc")] {
        let r = send(&server, "GET", path, "", "");
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location"), Some(format!("/login?next={next}").as_str()), "{path}");
    }
    // Open without a credential.
    let asset = an_asset(&server);
    for path in ["/health", "/api/auth", asset.as_str(), "/favicon.ico", "/login"] {
        let r = send(&server, "GET", path, "", "");
        assert!(![401, 303].contains(&r.status), "{path} is not open: {r:?}");
    }
    for path in ["/health", "/api/auth", asset.as_str()] {
        assert_eq!(send(&server, "GET", path, "", "").status, 200, "{path}");
    }
    let r = send(&server, "GET", "/api/auth", "", "");
    assert_eq!(r.json(), json!({ "enabled": true, "passwords": false, "user": null }));
    let r = send(&server, "GET", "/api/auth", &admin, "");
    assert_eq!(r.json()["user"], json!({ "sub": "owner", "mode": "rw", "admin": true, "session": null }));
}

/// The login page (`GET /login`) is open: it is how a browser without a cookie gets in.
#[test]
fn the_login_page_is_served_without_a_credential() {
    let server = token_server(&[]);
    let r = send(&server, "GET", "/login", "", "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
}

#[test]
fn under_a_base_path_the_login_page_is_under_it_too() {
    let server = token_server(&["-b", "/base"]);
    for (path, next) in [("/base/", "/base/"), ("/base/sessions", "/base/sessions")] {
        let r = send(&server, "GET", path, "", "");
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location"), Some(format!("/base/login?next={next}").as_str()), "{path}");
    }
    assert_unauthorized(&send(&server, "GET", "/base/api/sessions", "", ""), "/base/api/sessions");
    assert_eq!(send(&server, "GET", "/base/api/sessions", &server.auth(), "").status, 200);
    // The cookie is scoped to the base path, and the swap stays under it.
    let token = server.token.clone().unwrap();
    let r = send(&server, "GET", &format!("/base/?s=X&token={token}"), "", "");
    assert_eq!(r.status, 200);
    assert_eq!(set_cookie(&r, "/base/").0, token);
    assert!(String::from_utf8_lossy(&r.body).contains("url=/base/?s=X\""));
    let r = send(&server, "POST", "/base/logout", "", "");
    assert_eq!(
        r.header("set-cookie"),
        Some("ringtty_token=; HttpOnly; SameSite=Strict; Path=/base/; Max-Age=0")
    );
}

#[test]
fn a_bad_token_gets_the_same_401_as_none() {
    let server = secret_server("bad-tokens", &["--threads", "1", "--ws-echo", "/echo"]);
    let good = mint("alice", Mode::Rw, None, false);
    assert_eq!(send(&server, "GET", "/api/sessions", &bearer(&good), "").status, 200);
    // One bit of the signature flipped.
    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    // Expired beyond the leeway.
    let t = now();
    let claims = Claims {
        sub: Some("alice".into()),
        mode: Mode::Rw,
        sid: None,
        admin: false,
        exp: t - ringtty::auth::LEEWAY_SECS - 60,
        nbf: None,
        iat: Some(t - 3600),
        jti: None,
    };
    let expired = sign(&claims, &Key::new(SECRET.as_bytes()));
    // The same claims, unsigned, with alg none.
    let payload = good.split('.').nth(1).unwrap();
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    // Signed with another key.
    let other = sign(
        &Claims { exp: t + 3600, ..claims.clone() },
        &Key::new(b"another-secret-0123456789abcdef0123456789"),
    );
    let none_body = send(&server, "GET", "/api/sessions", "", "").body;
    for (what, token) in
        [("flipped", &flipped), ("expired", &expired), ("alg none", &none), ("other key", &other)]
    {
        for (how, headers, path) in [
            ("bearer", bearer(token), "/api/sessions".to_owned()),
            ("cookie", format!("Cookie: ringtty_token={token}\r\n"), "/api/sessions".to_owned()),
            ("query", String::new(), format!("/api/sessions?token={token}")),
        ] {
            let r = send(&server, "GET", &path, &headers, "");
            assert_unauthorized(&r, &format!("{what} by {how}"));
            assert_eq!(r.body, none_body, "{what} by {how}");
        }
        assert_unauthorized(&upgrade_status(&server, "/echo", &bearer(token)), &format!("{what} upgrade"));
        // A page with a bad token goes to the login page, without the token.
        let r = send(&server, "GET", &format!("/?s=x&token={token}"), "", "");
        assert_eq!((r.status, r.header("location")), (303, Some("/login?next=/%3Fs%3Dx")), "{what}");
    }
}

#[test]
fn a_token_in_a_page_url_is_swapped_for_the_cookie() {
    let server = token_server(&["--ws-echo", "/echo"]);
    let token = server.token.clone().unwrap();
    let r = send(&server, "GET", &format!("/?token={token}&s=X"), "", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let (cookie, max_age) = set_cookie(&r, "/");
    assert_eq!(cookie, token);
    assert!(max_age > 0);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(body.contains("<meta http-equiv=\"refresh\" content=\"0; url=/?s=X\">"), "{body}");
    assert!(!body.contains(&token) && !body.contains("token="), "{body}");
    // The cookie works for the API and for a WebSocket.
    let cookie = format!("Cookie: theme=dark; ringtty_token={token}\r\n");
    assert_eq!(send(&server, "GET", "/api/sessions", &cookie, "").status, 200);
    let r = send(&server, "GET", "/token", &cookie, "");
    assert_eq!(r.json(), json!({ "token": token }));
    let mut ws = ws_with(&server, "/echo", &[("Cookie", &format!("ringtty_token={token}"))]);
    ws.send(Message::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hi"));
    // And a page with the cookie is the page itself.
    let r = send(&server, "GET", "/?s=X", &cookie, "");
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").is_none());
}

/// A credential-file line for `user`, with the fewest iterations allowed.
fn credential_line(user: &str, password: &str) -> String {
    let salt: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(user.len() as u8 + 7));
    let iterations = NonZeroU32::new(ringtty::auth::MIN_ITERATIONS).unwrap();
    ringtty::auth::hash_line(user, password.as_bytes(), &salt, iterations) + "\n"
}

fn login(server: &Server, headers: &str, body: &Value) -> Response {
    send(server, "POST", "/login", &format!("Content-Type: application/json\r\n{headers}"), &body.to_string())
}

fn login_status(server: &Server, user: &str, password: &str) -> u16 {
    login(server, "", &json!({ "user": user, "password": password })).status
}

#[test]
fn a_password_login_sets_the_cookie_basic_works_and_logout_clears_it() {
    let server =
        Server::start(&["--threads", "1", "-W", "--allow-any-command", "-P", "0", "-c", "admin:pw", "cat"]);
    assert!(server.token.is_none());
    let r = send(&server, "GET", "/api/auth", "", "");
    assert_eq!(r.json(), json!({ "enabled": true, "passwords": true, "user": null }));
    let r = login(&server, "", &json!({ "user": "admin", "password": "pw" }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (token, max_age) = set_cookie(&r, "/");
    assert!(max_age > 0 && max_age <= 12 * 3600, "{max_age}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let cookie = format!("Cookie: ringtty_token={token}\r\n");
    let r = send(&server, "GET", "/api/auth", &cookie, "");
    assert_eq!(r.json()["user"], json!({ "sub": "admin", "mode": "rw", "admin": false, "session": null }));
    assert_eq!(send(&server, "GET", "/api/sessions", &cookie, "").status, 200);
    // Wrong passwords and unknown users.
    assert_eq!(login_status(&server, "admin", "wrong"), 401);
    assert_eq!(login_status(&server, "root", "pw"), 401);
    let r = login(&server, "", &json!({ "user": "admin" }));
    assert_eq!(r.status, 400);
    // Basic on the API.
    let basic = "Authorization: Basic YWRtaW46cHc=\r\n";
    assert_eq!(send(&server, "GET", "/api/sessions", basic, "").status, 200);
    let id = create_as(&server, basic, &["cat"]);
    assert_eq!(listed(&server, &cookie), [id]);
    let r = send(&server, "GET", "/api/sessions", "Authorization: Basic YWRtaW46d3Jvbmc=\r\n", "");
    assert_unauthorized(&r, "a wrong Basic password");
    // ttyd's page sends base64(user:password) as AuthToken.
    let mut ws = ttyd_init(&server, &[], "YWRtaW46cHc=");
    ttyd_echoes(&mut ws, "typed-by-admin");
    let mut ws = ttyd_init(&server, &[], "YWRtaW46d3Jvbmc=");
    assert_eq!(close_code(&mut ws), Some(1008));
    // Logout clears the cookie.
    let r = send(&server, "POST", "/logout", &cookie, "");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("set-cookie"), Some("ringtty_token=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"));
}

#[test]
fn a_credential_file_is_reread_on_sighup_and_a_broken_one_keeps_the_users() {
    let dir = temp_dir("credentials");
    let file = private_file(&dir, "users", &credential_line("alice", "alice-pw"));
    let server = Server::start(&["--threads", "1", "-P", "0", "--credential-file", file.to_str().unwrap()]);
    assert!(server.token.is_none());
    assert_eq!(login_status(&server, "alice", "alice-pw"), 200);
    assert_eq!(login_status(&server, "bob", "bob-pw"), 401);
    let reloads = |server: &Server| server.stderr().matches("SIGHUP:").count();
    let hup = |server: &Server| {
        let before = reloads(server);
        server.signal(libc::SIGHUP);
        let until = Instant::now() + DEADLINE;
        while reloads(server) == before {
            assert!(Instant::now() < until, "no SIGHUP line: {}", server.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    private_file(&dir, "users", &credential_line("bob", "bob-pw"));
    hup(&server);
    assert_eq!(login_status(&server, "bob", "bob-pw"), 200);
    assert_eq!(login_status(&server, "alice", "alice-pw"), 401);
    // A file that does not load: the users already loaded stay.
    private_file(&dir, "users", "this is not a credential line\n");
    hup(&server);
    assert!(server.stderr().contains("keeping the users already loaded"), "{}", server.stderr());
    assert_eq!(login_status(&server, "bob", "bob-pw"), 200);
    assert_eq!(send(&server, "GET", "/health", "", "").status, 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn five_failed_logins_for_a_user_are_429_even_with_the_right_password() {
    let dir = temp_dir("login-limit");
    let users = credential_line("alice", "alice-pw") + &credential_line("bob", "bob-pw");
    let file = private_file(&dir, "users", &users);
    // Two workers: the budget is the server's, whichever core accepts each login.
    let server = Server::start(&["--threads", "2", "-P", "0", "--credential-file", file.to_str().unwrap()]);
    for attempt in 1..=5 {
        assert_eq!(login_status(&server, "alice", "guess"), 401, "attempt {attempt}");
    }
    for password in ["guess", "alice-pw"] {
        let r = login(&server, "", &json!({ "user": "alice", "password": password }));
        assert_eq!(r.status, 429, "{password}: {}", String::from_utf8_lossy(&r.body));
        let retry: u64 = r.header("retry-after").expect("Retry-After").parse().expect("seconds");
        assert!(retry > 0);
        assert!(r.header("set-cookie").is_none());
    }
    assert_eq!(login_status(&server, "bob", "bob-pw"), 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn logins_from_another_origin_are_refused_and_a_token_login_sets_the_cookie() {
    let server = token_server(&[]);
    let token = server.token.clone().unwrap();
    let evil = "Origin: http://evil.example\r\n";
    let r = login(&server, evil, &json!({ "token": token }));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("set-cookie").is_none());
    assert_eq!(send(&server, "POST", "/logout", evil, "").status, 403);
    let r = login(&server, "Origin: http://127.0.0.1\r\n", &json!({ "token": token }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (cookie, max_age) = set_cookie(&r, "/");
    assert_eq!(cookie, token);
    assert!(max_age > 0);
    let r = login(&server, "", &json!({ "token": format!("{token}x") }));
    assert_eq!(r.status, 401);
    assert!(r.header("set-cookie").is_none());
}

#[test]
fn a_trusted_proxy_names_the_user_and_the_child_sees_it() {
    let server = Server::start(&[
        "--threads",
        "1",
        "-W",
        "--allow-any-command",
        "-P",
        "0",
        "-H",
        "X-User",
        "--trusted-proxy",
        "127.0.0.1",
    ]);
    let carol = "X-User: carol\r\n";
    let r = send(&server, "GET", "/api/auth", carol, "");
    assert_eq!(r.json()["user"], json!({ "sub": "carol", "mode": "rw", "admin": false, "session": null }));
    let id = create_as(&server, carol, &["sh", "-c", "echo \"u=$RINGTTY_USER t=$TTYD_USER.\"; exec cat"]);
    let r = send(&server, "GET", &format!("/api/sessions/{id}"), carol, "");
    assert_eq!(r.json()["owner"], "carol");
    // dave does not see carol's session.
    assert!(listed(&server, "X-User: dave\r\n").is_empty());
    assert_unauthorized(&send(&server, "GET", "/api/sessions", "", ""), "no header");
    // A proxy that appends its line after the client's: neither is believed.
    assert_unauthorized(
        &send(&server, "GET", "/api/sessions", "X-User: carol\r\nX-User: dave\r\n", ""),
        "twice",
    );
    let mut ws = ws_with(&server, &format!("/api/sessions/{id}/ws"), &[("X-User", "carol")]);
    let until = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    while !String::from_utf8_lossy(&out).contains("u=carol t=carol.") {
        assert!(Instant::now() < until, "{:?}", String::from_utf8_lossy(&out));
        if let Message::Binary(b) = ws.read().unwrap() {
            out.extend_from_slice(&b);
        }
    }
}

#[test]
fn an_untrusted_peer_s_user_header_is_ignored() {
    let server = Server::start(&["--threads", "1", "-P", "0", "-H", "X-User", "--trusted-proxy", "10.0.0.1"]);
    let r = send(&server, "GET", "/api/sessions", "X-User: carol\r\n", "");
    assert_unauthorized(&r, "X-User from an untrusted peer");
    let r = send(&server, "GET", "/api/auth", "X-User: carol\r\n", "");
    assert_eq!(r.json()["user"], Value::Null);
}

#[test]
fn the_fourth_request_in_a_minute_is_429() {
    let server = token_server(&["--rate-limit", "3/m"]);
    for n in 1..=3 {
        assert_eq!(get(&server, "/api/sessions").status, 200, "request {n}");
    }
    let r = get(&server, "/api/sessions");
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!(retry > 0 && retry <= 60, "{retry}");
    assert_eq!(get(&server, "/health").status, 429);
}

/// The sum over workers of a counter in `/metrics`.
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn metrics_count_auth_failures_and_rate_limited_requests() {
    let server = token_server(&["-c", "admin:pw"]);
    // -c gives another way in, so no Login line: Basic reads the metrics.
    let basic = "Authorization: Basic YWRtaW46cHc=\r\n";
    let metrics = || {
        let r = send(&server, "GET", "/metrics", basic, "");
        assert_eq!(r.status, 200);
        String::from_utf8(r.body).unwrap()
    };
    let before = metrics();
    assert_eq!(counter(&before, "ringtty_auth_failures_total"), 0, "{before}");
    assert_eq!(counter(&before, "ringtty_rate_limited_total"), 0);
    assert_eq!(send(&server, "GET", "/api/sessions", "", "").status, 401);
    assert_eq!(send(&server, "GET", "/api/sessions", &bearer("not.a.token"), "").status, 401);
    for _ in 0..5 {
        assert_eq!(login_status(&server, "admin", "wrong"), 401);
    }
    assert_eq!(login_status(&server, "admin", "pw"), 429);
    let after = metrics();
    assert_eq!(counter(&after, "ringtty_auth_failures_total"), 7, "{after}");
    assert_eq!(counter(&after, "ringtty_rate_limited_total"), 1, "{after}");
}

#[test]
fn ttyd_s_auth_token_may_carry_the_token() {
    let server = token_server(&["cat"]);
    let token = server.token.clone().unwrap();
    let mut ws = ttyd_init(&server, &[], &token);
    ttyd_echoes(&mut ws, "typed-with-a-token");
    let admin = server.auth();
    let sessions = send(&server, "GET", "/api/sessions", &admin, "").json();
    assert_eq!(sessions["sessions"][0]["owner"], "owner");
    drop(ws);
    for bad in ["", "not-a-token", &format!("{token}x")] {
        let mut ws = ttyd_init(&server, &[], bad);
        assert_eq!(close_code(&mut ws), Some(1008), "AuthToken {bad:?}");
    }
    // A bad credential on the upgrade itself is refused there.
    assert_unauthorized(&upgrade_status(&server, "/ws", &bearer("not.a.token")), "/ws with a bad Bearer");
}

#[test]
fn with_no_auth_everything_is_open() {
    let server =
        Server::start(&["--no-auth", "--threads", "1", "-W", "--allow-any-command", "-P", "0", "cat"]);
    assert!(server.token.is_none());
    let r = send(&server, "GET", "/api/auth", "", "");
    assert_eq!(r.json(), json!({ "enabled": false, "passwords": false, "user": null }));
    let id = create_as(&server, "", &["cat"]);
    assert_eq!(listed(&server, ""), [id.as_str()]);
    for path in ["/", "/sessions", "/metrics", "/api/config", "/token"] {
        assert_eq!(send(&server, "GET", path, "", "").status, 200, "{path}");
    }
    let r = send(&server, "POST", &format!("/api/sessions/{id}/input"), "", r#"{"data":"x"}"#);
    assert_eq!(r.status, 200);
    let mut ws = ttyd_init(&server, &[], "");
    ttyd_echoes(&mut ws, "open-door");
    assert_eq!(send(&server, "DELETE", &format!("/api/sessions/{id}"), "", "").status, 202);
}

/// `Authorization: Basic` is `-c`'s only: a credential-file user's password costs a
/// PBKDF2 (~0.3 s of CPU), which admission will not pay per request on a worker; those
/// users log in once (`POST /login`, on a thread of its own, rate limited) and use the
/// cookie or a token.
#[test]
fn basic_is_not_taken_for_a_credential_file_user() {
    let dir = temp_dir("basic-file");
    let file = private_file(&dir, "users", &credential_line("alice", "alice-pw"));
    let server = Server::start(&["--threads", "1", "-P", "0", "--credential-file", file.to_str().unwrap()]);
    // base64("alice:alice-pw")
    let r = send(&server, "GET", "/api/sessions", "Authorization: Basic YWxpY2U6YWxpY2UtcHc=\r\n", "");
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    let login = r#"{"user":"alice","password":"alice-pw"}"#;
    let r = send(&server, "POST", "/login", "Content-Type: application/json\r\n", login);
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
