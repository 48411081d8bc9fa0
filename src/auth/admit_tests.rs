use super::*;
use crate::auth::{sign, Claims, Mode};

const NOW: u64 = 1_800_000_000;

fn key() -> Key {
    Key::new(b"an admission test key of 32 bytes")
}

fn policy(auth: bool) -> Policy {
    let origins = vec!["https://ide.example.com".to_owned()];
    let hosts =
        HostPolicy::new("127.0.0.1".parse().ok(), &["term.example.com".to_owned()], &origins).unwrap();
    let auth = auth.then(|| Auth {
        key: key(),
        basic: Some(PlainCredential::parse("admin:s3cret").unwrap()),
        header: Some("x-user".into()),
        trusted_proxies: Some(CidrList::parse("10.0.0.1").unwrap()),
    });
    Policy { hosts, allow_origins: origins, auth }
}

fn token(sub: &str, mode: Mode, sid: Option<&str>, exp: u64) -> String {
    let claims = Claims {
        sub: Some(sub.into()),
        mode,
        sid: sid.map(Into::into),
        admin: false,
        exp,
        nbf: None,
        iat: Some(NOW - 10),
        jti: None,
    };
    sign(&claims, &key())
}

fn ask(kind: Kind, need: Need) -> Ask<'static> {
    Ask {
        kind,
        need,
        host: Some(b"127.0.0.1:7681"),
        origin: None,
        peer: Some("127.0.0.1".parse().unwrap()),
        authorization: None,
        cookie: None,
        query: None,
        proxy_user: None,
        client_cert: None,
    }
}

/// kind, Host, Origin, the verdict (with auth off, so only the browser checks count).
type Case = (Kind, Option<&'static [u8]>, Option<&'static [u8]>, Result<(), Refusal>);

#[test]
fn every_kind_meets_the_host_check_and_changes_and_upgrades_the_origin_check() {
    use Kind::*;
    let host: Option<&'static [u8]> = Some(b"127.0.0.1:7681");
    let evil_host: Option<&'static [u8]> = Some(b"evil.example:7681");
    let own: Option<&'static [u8]> = Some(b"http://127.0.0.1:7681");
    let evil: Option<&'static [u8]> = Some(b"http://evil.example:7681");
    let table: &[Case] = &[
        (Read, host, None, Ok(())),
        (Read, host, evil, Ok(())),
        (Change, host, None, Ok(())),
        (Change, host, own, Ok(())),
        (Change, host, evil, Err(Refusal::Origin)),
        (Change, host, Some(b"null"), Err(Refusal::Origin)),
        (Upgrade, host, evil, Err(Refusal::Origin)),
        (Upgrade, host, Some(b"https://ide.example.com"), Ok(())),
        // DNS rebinding: Origin matches Host, both the attacker's name.
        (Read, evil_host, evil, Err(Refusal::Host(HostRefusal::Unknown))),
        (Change, evil_host, evil, Err(Refusal::Host(HostRefusal::Unknown))),
        (Upgrade, evil_host, evil, Err(Refusal::Host(HostRefusal::Unknown))),
        (Read, None, None, Err(Refusal::Host(HostRefusal::Malformed))),
        (Upgrade, Some(b"term.example.com"), Some(b"http://term.example.com"), Ok(())),
    ];
    // The browser checks come before any credential: the same verdicts with auth on
    // and a valid token.
    let good = format!("Bearer {}", token("alice", Mode::Rw, None, NOW + 60));
    for auth in [false, true] {
        let p = policy(auth);
        for &(kind, host, origin, want) in table {
            let a = Ask { host, origin, authorization: Some(good.as_bytes()), ..ask(kind, Need::Principal) };
            let got = admit(&a, &p, NOW).map(|_| ());
            assert_eq!(got, want, "auth {auth}: {kind:?} host {host:?} origin {origin:?}");
            if let Err(r) = got {
                assert!(matches!(r.status(), 400 | 403 | 421) && !r.reason().is_empty());
            }
        }
    }
}

#[test]
fn credentials_from_every_place_and_one_answer_for_every_failure() {
    let p = policy(true);
    let good = token("alice", Mode::Rw, None, NOW + 60);
    let expired = token("alice", Mode::Rw, None, NOW - 3600);
    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let bearer = format!("Bearer {good}");
    let cookie = format!("theme=dark; ringtty_token={good}; x=1");
    let query = format!("s=abc&token={good}");
    let basic_ok = "Basic YWRtaW46czNjcmV0"; // admin:s3cret
    let basic_bad = "Basic YWRtaW46d3Jvbmc="; // admin:wrong
    let bad_bearer = format!("Bearer {flipped}");
    let old_bearer = format!("Bearer {expired}");
    let bad_cookie = format!("ringtty_token={expired}");
    let user = |who: &str, via| Some((who.to_owned(), via));
    // (authorization, cookie, query, proxy user, peer, need) -> (user, via) or the status
    type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, Option<&'a str>, &'a str, Need);
    type Want = Result<Option<(String, Via)>, u16>;
    let table: Vec<(Row, Want)> = vec![
        ((Some(&bearer), None, None, None, "127.0.0.1", Need::Principal), Ok(user("alice", Via::Bearer))),
        ((Some("bearer  x"), None, None, None, "127.0.0.1", Need::Principal), Err(401)),
        ((None, Some(&cookie), None, None, "127.0.0.1", Need::Principal), Ok(user("alice", Via::Cookie))),
        ((None, None, Some(&query), None, "127.0.0.1", Need::Principal), Ok(user("alice", Via::Query))),
        ((Some(basic_ok), None, None, None, "127.0.0.1", Need::Principal), Ok(user("admin", Via::Basic))),
        ((Some(basic_bad), None, None, None, "127.0.0.1", Need::Principal), Err(401)),
        ((Some("Digest x"), None, None, None, "127.0.0.1", Need::Principal), Err(401)),
        ((Some(&bad_bearer), None, None, None, "127.0.0.1", Need::Principal), Err(401)),
        ((Some(&old_bearer), None, None, None, "127.0.0.1", Need::Principal), Err(401)),
        // The first credential present decides: a bad header is not rescued by a cookie.
        ((Some(&bad_bearer), Some(&cookie), None, None, "127.0.0.1", Need::Principal), Err(401)),
        ((None, Some(&bad_cookie), None, None, "127.0.0.1", Need::Principal), Err(401)),
        ((None, None, None, None, "127.0.0.1", Need::Principal), Err(401)),
        // Pages send the browser to the login page; open routes just have no principal.
        ((None, None, None, None, "127.0.0.1", Need::Page), Err(303)),
        ((None, Some(&bad_cookie), None, None, "127.0.0.1", Need::Page), Err(303)),
        ((None, None, None, None, "127.0.0.1", Need::Open), Ok(None)),
        ((Some(&bad_bearer), None, None, None, "127.0.0.1", Need::Open), Ok(None)),
        ((None, Some(&cookie), None, None, "127.0.0.1", Need::Open), Ok(user("alice", Via::Cookie))),
        // ttyd's /ws: nothing yet is fine (the init message brings it), a bad one is not.
        ((None, None, None, None, "127.0.0.1", Need::PrincipalOrInit), Ok(None)),
        ((Some(&bad_bearer), None, None, None, "127.0.0.1", Need::PrincipalOrInit), Err(401)),
        // An auth proxy's header counts from a trusted proxy only.
        ((None, None, None, Some("carol"), "10.0.0.1", Need::Principal), Ok(user("carol", Via::Header))),
        ((None, None, None, Some("carol"), "10.0.0.2", Need::Principal), Err(401)),
        (
            (None, Some(&cookie), None, Some("carol"), "10.0.0.2", Need::Principal),
            Ok(user("alice", Via::Cookie)),
        ),
        ((None, None, None, Some(""), "10.0.0.1", Need::Principal), Err(401)),
        ((None, None, None, Some("a\u{1}b"), "10.0.0.1", Need::Principal), Err(401)),
    ];
    for ((authorization, cookie, query, proxy_user, peer, need), want) in table {
        let a = Ask {
            authorization: authorization.map(str::as_bytes),
            cookie: cookie.map(str::as_bytes),
            query,
            proxy_user: proxy_user.map(str::as_bytes),
            peer: Some(peer.parse().unwrap()),
            ..ask(Kind::Read, need)
        };
        let got = admit(&a, &p, NOW).map(|p| p.map(|p| (p.user.to_string(), p.via))).map_err(Refusal::status);
        assert_eq!(got, want, "{authorization:?} {cookie:?} {query:?} {proxy_user:?} {peer} {need:?}");
    }
    // Every credential failure is the same answer.
    let reasons: std::collections::HashSet<&str> = [&bad_bearer, &old_bearer, &"Digest x".to_owned()]
        .iter()
        .map(|h| {
            admit(&Ask { authorization: Some(h.as_bytes()), ..ask(Kind::Read, Need::Principal) }, &p, NOW)
        })
        .map(|r| r.unwrap_err().reason())
        .collect();
    assert_eq!(reasons.len(), 1);
}

#[test]
fn no_auth_admits_everyone_as_an_admin_after_the_browser_checks() {
    let p = policy(false);
    let got = admit(&ask(Kind::Change, Need::Principal), &p, NOW).unwrap().unwrap();
    assert_eq!((got.via, got.admin, got.may_write()), (Via::NoAuth, true, true));
}

/// A verified client certificate's user is the principal when nothing else is sent; a
/// token sent beside it decides instead (a share link over mTLS), and a bad one is
/// not rescued by the certificate.
#[test]
fn a_client_certificate_names_the_user_unless_a_token_is_sent() {
    let p = policy(true);
    let cert = Ask { client_cert: Some("alice"), ..ask(Kind::Change, Need::Principal) };
    let got = admit(&cert, &p, NOW).unwrap().unwrap();
    assert_eq!((&*got.user, got.via, got.admin, got.exp), ("alice", Via::ClientCert, false, None));
    let t = format!("Bearer {}", token("bob", Mode::Ro, Some("s1"), NOW + 60));
    let both = Ask { authorization: Some(t.as_bytes()), ..cert };
    let got = admit(&both, &p, NOW).unwrap().unwrap();
    assert_eq!((&*got.user, got.via), ("bob", Via::Bearer));
    let bad = Ask { authorization: Some(b"Bearer nope"), ..cert };
    assert!(admit(&bad, &p, NOW).is_err());
    assert!(admit(&ask(Kind::Change, Need::Principal), &p, NOW).is_err(), "no certificate, no user");
}

#[test]
fn a_share_token_keeps_its_session_and_mode() {
    let p = policy(true);
    let t = format!("Bearer {}", token("alice", Mode::Ro, Some("s1"), NOW + 60));
    let got = admit(&Ask { authorization: Some(t.as_bytes()), ..ask(Kind::Read, Need::Principal) }, &p, NOW);
    let got = got.unwrap().unwrap();
    assert_eq!((got.session.as_deref(), got.may_write(), got.exp), (Some("s1"), false, Some(NOW + 60)));
    assert!(got.reaches("s1", Some("bob")) && !got.reaches("s2", Some("alice")));
}

#[test]
fn ttyd_init_takes_a_token_or_the_basic_pair() {
    let p = policy(true);
    let good = token("alice", Mode::Rw, None, NOW + 60);
    assert_eq!(admit_ttyd_init(&good, &p, NOW, |_| false).unwrap().via, Via::TtydInit);
    assert_eq!(&*admit_ttyd_init("YWRtaW46czNjcmV0", &p, NOW, |_| false).unwrap().user, "admin");
    assert!(admit_ttyd_init("YWRtaW46d3Jvbmc=", &p, NOW, |_| false).is_err());
    assert!(admit_ttyd_init("", &p, NOW, |_| false).is_err());
    assert!(admit_ttyd_init("", &policy(false), NOW, |_| false).is_ok());
}

#[test]
fn query_tokens_and_cookies_are_found_and_removed() {
    assert_eq!(query_token("a=1&token=abc&b=2"), Some("abc"));
    assert_eq!(query_token("tokens=x"), None);
    assert_eq!(query_without_token("s=ID&token=abc&since=3"), "s=ID&since=3");
    assert_eq!(query_without_token("token=abc"), "");
    assert_eq!(query_without_token("token&x=1"), "x=1");
    assert_eq!(cookie_token(b"a=1;ringtty_token=T ; b=2"), Some(&b"T"[..]));
    assert_eq!(cookie_token(b"xringtty_token=T"), None);
    assert_eq!(cookie_token(b"ringtty_tokens=T"), None);
}

#[test]
fn the_client_behind_trusted_proxies_is_the_nearest_untrusted_address() {
    let proxies = CidrList::parse("10.0.0.0/8").unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let table = [
        ("10.0.0.1", Some("203.0.113.9"), "203.0.113.9"),
        ("10.0.0.1", Some("198.51.100.1, 203.0.113.9, 10.0.0.7"), "203.0.113.9"),
        // A client's own forged entries sit left of what our proxy appended.
        ("10.0.0.1", Some("127.0.0.1, 203.0.113.9"), "203.0.113.9"),
        ("10.0.0.1", Some("garbage"), "10.0.0.1"),
        ("10.0.0.1", Some("203.0.113.9, garbage"), "10.0.0.1"),
        ("10.0.0.1", None, "10.0.0.1"),
        // Not from a proxy: the header is anyone's to write.
        ("192.0.2.5", Some("203.0.113.9"), "192.0.2.5"),
        ("10.0.0.1", Some("::ffff:203.0.113.9"), "203.0.113.9"),
    ];
    for (peer, xff, want) in table {
        assert_eq!(client_ip(ip(peer), xff.map(str::as_bytes), Some(&proxies)), ip(want), "{peer} {xff:?}");
    }
    assert_eq!(client_ip(ip("10.0.0.1"), Some(b"203.0.113.9"), None), ip("10.0.0.1"));
}

/// Regression: `X-Forwarded-For` was read from its first line only, so behind a proxy
/// that appends a line of its own (HAProxy's `option forwardfor`) a client's forged
/// first line was believed, and --rate-limit and the login throttle counted whoever it
/// named. Every line, in order, is one list (RFC 9110 §5.3), walked from the right.
#[test]
fn a_forged_first_x_forwarded_for_line_is_not_believed_when_a_proxy_appends_its_own() {
    let proxies = CidrList::parse("10.0.0.0/8").unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let table = [
        // The client's forged line, then the proxy's with the address it saw.
        ("X-Forwarded-For: 192.0.2.77\r\nX-Forwarded-For: 203.0.113.9\r\n", "203.0.113.9"),
        // A forged line naming one of our proxies changes nothing: the walk stops before it.
        ("X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-For: 203.0.113.9\r\n", "203.0.113.9"),
        // Two proxies of ours, each appending a line: the client is left of both.
        (
            "X-Forwarded-For: 192.0.2.77\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 10.0.0.7\r\n",
            "203.0.113.9",
        ),
        // The client's line and the proxy's in one (a proxy that extends the line).
        ("X-Forwarded-For: 192.0.2.77, 203.0.113.9\r\n", "203.0.113.9"),
        // Garbage in the proxy's line ends the walk at the last address believed.
        ("X-Forwarded-For: 192.0.2.77\r\nX-Forwarded-For: garbage\r\n", "10.0.0.1"),
    ];
    for (lines, want) in table {
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{lines}\r\n");
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let Ok(crate::http::Parse::Complete(req)) =
            crate::http::parse(head.as_bytes(), &mut headers, &crate::http::Limits::default())
        else {
            panic!("not complete: {head:?}");
        };
        let xff = req.header_list("x-forwarded-for");
        assert_eq!(client_ip(ip("10.0.0.1"), xff.as_deref(), Some(&proxies)), ip(want), "{lines:?}");
        // Not from one of our proxies: every line is anyone's to write.
        assert_eq!(client_ip(ip("192.0.2.5"), xff.as_deref(), Some(&proxies)), ip("192.0.2.5"), "{lines:?}");
    }
}

#[test]
fn a_revoked_credential_is_refused_like_a_bad_one() {
    let p = policy(true);
    let (alice, bob) = (token("alice", Mode::Rw, None, NOW + 60), token("bob", Mode::Rw, None, NOW + 60));
    let (alice_bearer, bob_bearer) = (format!("Bearer {alice}"), format!("Bearer {bob}"));
    let revoked = |q: &Principal| &*q.user == "alice";
    fn with(t: &str, need: Need) -> Ask<'_> {
        Ask { authorization: Some(t.as_bytes()), ..ask(Kind::Read, need) }
    }
    let refused = admit_unless(&with(&alice_bearer, Need::Principal), &p, NOW, revoked);
    assert_eq!(refused.unwrap_err().reason(), UNAUTHORIZED, "the same answer as any bad credential");
    assert!(matches!(admit_unless(&with(&alice_bearer, Need::Page), &p, NOW, revoked), Err(Refusal::Login)));
    assert_eq!(admit_unless(&with(&alice_bearer, Need::Open), &p, NOW, revoked).unwrap(), None);
    assert!(admit_unless(&with(&bob_bearer, Need::Principal), &p, NOW, revoked).unwrap().is_some());
    assert!(admit_ttyd_init(&alice, &p, NOW, revoked).is_err());
    assert!(admit_ttyd_init(&bob, &p, NOW, revoked).is_ok());
    assert_eq!(format!("{:?}", Unauthorized::REVOKED), "Unauthorized(revoked (POST /api/admin/revoke))");
}
