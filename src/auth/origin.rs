//! The origin check (SPEC §6): every WebSocket upgrade and every state-changing request
//! from a browser must come from the server's own origin or one the operator allowed.
//! Binding to loopback does not protect a local server from a hostile web page: the
//! browser connects to 127.0.0.1 on the page's behalf and sends the page's `Origin`.

/// Whether a request with this `Origin` (if any) may proceed.
///
/// - No `Origin` header: not a browser acting for a web page (curl, scripts, native
///   clients), so no cross-site risk: allowed. Browsers send `Origin` on every
///   WebSocket handshake and on every non-GET `fetch`.
/// - `Origin` whose host and port equal the request's `Host` (RFC 6454 §4, compared on
///   the authority, since TLS may be terminated by a proxy in front): allowed.
/// - `Origin` listed in `allowed` (already normalized by [`normalize_origin`]): allowed.
/// - Anything else, including the opaque origin `null`: refused.
pub fn origin_allowed(origin: Option<&[u8]>, host: Option<&[u8]>, allowed: &[String]) -> bool {
    let Some(origin) = origin else { return true };
    let Ok(origin) = std::str::from_utf8(origin) else { return false };
    let origin = origin.trim();
    if allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin.trim_end_matches('/'))) {
        return true;
    }
    let Some(authority) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
        return false;
    };
    let authority = authority.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return false;
    }
    let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else { return false };
    same_authority(authority, host.trim(), origin.starts_with("https://"))
}

/// Compares `host[:port]` pairs case-insensitively, treating a missing port as the
/// scheme's default.
fn same_authority(origin: &str, host: &str, https: bool) -> bool {
    let default = if https { "443" } else { "80" };
    let (oh, op) = split_port(origin, default);
    // The Host header carries no scheme: a host without a port takes the origin's
    // scheme default (a proxy terminating TLS forwards `Host: name` for https://name).
    let (hh, hp) = split_port(host, default);
    oh.eq_ignore_ascii_case(hh) && op == hp
}

fn split_port<'a>(authority: &'a str, default: &'a str) -> (&'a str, &'a str) {
    // "[::1]:7681", "[::1]", "example.com:80", "example.com"
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':').unwrap_or(default)),
            None => (authority, default),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (authority, default),
    }
}

/// Normalizes an `--allow-origin` entry: `scheme://host[:port]`, lower-case, no trailing
/// slash; `*` allows every origin. `None` if it is not an origin.
pub fn normalize_origin(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('/');
    if s == "*" {
        return Some(s.to_owned());
    }
    let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"))?;
    (!rest.is_empty() && !rest.contains(['/', '@', '?', '#', ' '])).then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_table() {
        let allowed = vec!["https://ide.example.com".to_owned()];
        let table: &[(Option<&str>, Option<&str>, bool)] = &[
            (None, Some("127.0.0.1:7681"), true),
            (Some("http://127.0.0.1:7681"), Some("127.0.0.1:7681"), true),
            (Some("http://LOCALHOST:7681"), Some("localhost:7681"), true),
            (Some("http://localhost:7681"), Some("127.0.0.1:7681"), false),
            (Some("http://127.0.0.1:7682"), Some("127.0.0.1:7681"), false),
            (Some("http://evil.example"), Some("127.0.0.1:7681"), false),
            (Some("http://127.0.0.1:7681.evil.example"), Some("127.0.0.1:7681"), false),
            (Some("http://user@127.0.0.1:7681"), Some("127.0.0.1:7681"), false),
            (Some("null"), Some("127.0.0.1:7681"), false),
            (Some("file://"), Some("127.0.0.1:7681"), false),
            (Some("http://[::1]:7681"), Some("[::1]:7681"), true),
            (Some("http://[::1]:7681"), Some("[::2]:7681"), false),
            (Some("https://term.example.com"), Some("term.example.com"), true),
            (Some("http://term.example.com"), Some("term.example.com"), true),
            (Some("http://term.example.com"), Some("term.example.com:80"), true),
            (Some("https://term.example.com"), Some("term.example.com:8443"), false),
            (Some("https://ide.example.com"), Some("term.example.com"), true),
            (Some("https://ide.example.com/"), Some("term.example.com"), true),
            (Some("https://other.example.com"), Some("term.example.com"), false),
            (Some("http://127.0.0.1:7681"), None, false),
        ];
        for (origin, host, want) in table {
            let got = origin_allowed(origin.map(str::as_bytes), host.map(str::as_bytes), &allowed);
            assert_eq!(got, *want, "origin {origin:?} host {host:?}");
        }
        assert!(origin_allowed(Some(b"http://anything"), Some(b"x"), &["*".to_owned()]));
        assert!(!origin_allowed(Some(b"\xff"), Some(b"x"), &[]));
    }

    #[test]
    fn normalizing_allow_origin_entries() {
        assert_eq!(normalize_origin("https://IDE.example.com/").as_deref(), Some("https://ide.example.com"));
        assert_eq!(normalize_origin("*").as_deref(), Some("*"));
        assert_eq!(normalize_origin("ide.example.com"), None);
        assert_eq!(normalize_origin("https://a/b"), None);
        assert_eq!(normalize_origin("https://"), None);
    }
}
