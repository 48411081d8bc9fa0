//! The `Host` check (SPEC §6): the defence against DNS rebinding.
//!
//! A hostile page at `http://evil.example:7681/` whose name the attacker's DNS later
//! points at 127.0.0.1 is, to the browser, same-origin with itself: its requests reach
//! ringtty with `Host: evil.example:7681` and a matching `Origin`, so the origin check
//! alone lets them through. Rebinding needs a *name* the attacker controls, so the
//! server accepts only the names it knows for itself: `localhost`, loopback addresses,
//! the address it is bound to (any address when bound to a wildcard: an IP literal is
//! never rebound), the hosts of `--allow-origin`, and `--allow-host`. The port is not
//! compared: a proxy in front may forward another one.

use std::net::IpAddr;

/// Which `Host` values a server answers. Built once from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostPolicy {
    /// Lower-case names without a port or trailing dot.
    names: Vec<String>,
    /// The address bound to, when it is one specific address.
    bound: Option<IpAddr>,
    /// Bound to `0.0.0.0` or `::`: every address of the machine is ours.
    any_ip: bool,
    /// `--allow-host '*'`: the operator checks `Host` elsewhere (a proxy).
    any: bool,
}

/// Why a request's `Host` is refused; [`status`](Self::status) is the wire reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRefusal {
    /// No `Host` header, or one that is not `host[:port]` (RFC 9112 §3.2: 400).
    Malformed,
    /// A well-formed name this server does not answer for.
    Unknown,
}

impl HostRefusal {
    pub const fn status(self) -> u16 {
        match self {
            HostRefusal::Malformed => 400,
            // RFC 9110 §15.5.20: "not able to produce a response" for this authority.
            HostRefusal::Unknown => 421,
        }
    }

    pub const fn reason(self) -> &'static str {
        match self {
            HostRefusal::Malformed => "a request needs one Host header of the form host[:port]",
            HostRefusal::Unknown => {
                "this server does not answer for that Host; its operator can allow the name with --allow-host"
            }
        }
    }
}

impl HostPolicy {
    /// `bound`: the listening address (`None` for a unix socket). `allow_hosts`: the
    /// `--allow-host` names (`*` = any), `allow_origins`: the normalized
    /// `--allow-origin` entries, whose hosts are accepted too. `None` when an
    /// `--allow-host` entry is not a host name or address.
    pub fn new(
        bound: Option<IpAddr>,
        allow_hosts: &[String],
        allow_origins: &[String],
    ) -> Option<HostPolicy> {
        let mut policy = HostPolicy {
            names: vec!["localhost".to_owned()],
            bound: bound.filter(|ip| !ip.is_unspecified()),
            any_ip: bound.is_some_and(|ip| ip.is_unspecified()),
            any: false,
        };
        for entry in allow_hosts {
            if entry.trim() == "*" {
                policy.any = true;
                continue;
            }
            let host = parse_host(entry.trim().as_bytes())?;
            policy.add(host);
        }
        for origin in allow_origins {
            let authority = origin.split_once("://").map_or("", |(_, a)| a);
            if let Some(host) = parse_host(authority.as_bytes()) {
                policy.add(host);
            }
        }
        Some(policy)
    }

    fn add(&mut self, host: Host<'_>) {
        match host {
            Host::Name(n) => {
                let n = n.to_ascii_lowercase();
                if !self.names.contains(&n) {
                    self.names.push(n);
                }
            }
            // An address given with --allow-host: accepted like the bound one.
            Host::Ip(ip) => self.names.push(ip.to_string()),
        }
    }

    /// Whether a request with this `Host` value (`None`: no header) may be answered.
    pub fn check(&self, host: Option<&[u8]>) -> Result<(), HostRefusal> {
        let host = host.and_then(parse_host).ok_or(HostRefusal::Malformed)?;
        let ok = self.any
            || match host {
                Host::Name(n) => self.names.iter().any(|a| a.eq_ignore_ascii_case(n)),
                Host::Ip(ip) => {
                    let ip = canonical(ip);
                    ip.is_loopback()
                        || self.any_ip
                        || self.bound.map(canonical) == Some(ip)
                        || self.names.iter().any(|a| a.parse::<IpAddr>().is_ok_and(|a| canonical(a) == ip))
                }
            };
        if ok {
            Ok(())
        } else {
            Err(HostRefusal::Unknown)
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Debug, PartialEq)]
enum Host<'a> {
    Name(&'a str),
    Ip(IpAddr),
}

/// Parses `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP literal in
/// brackets, an IPv4 address, or a registered name of letters, digits, `-`, `_` and
/// dots (one trailing dot allowed, as DNS does). Percent-encoded and other exotic
/// names are refused rather than interpreted.
fn parse_host(value: &[u8]) -> Option<Host<'_>> {
    let value = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        (Host::Ip(IpAddr::V6(inside.parse().ok()?)), port)
    } else {
        let (name, port) = match value.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (value, None),
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return None;
        }
        match name.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => (Host::Ip(IpAddr::V4(ip)), port),
            Err(_) => (Host::Name(name), port),
        }
    };
    match port {
        None => Some(host),
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(host),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(bound: &str, hosts: &[&str], origins: &[&str]) -> HostPolicy {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        HostPolicy::new(bound.parse().ok(), &strings(hosts), &strings(origins)).unwrap()
    }

    #[test]
    fn dns_rebinding_names_are_refused_and_our_own_accepted() {
        let p = policy("127.0.0.1", &["term.example.com"], &["https://ide.example.com:8443"]);
        let table: &[(&str, Result<(), HostRefusal>)] = &[
            ("127.0.0.1:7681", Ok(())),
            ("127.0.0.1", Ok(())),
            ("127.8.9.10:7681", Ok(())),
            ("localhost:7681", Ok(())),
            ("LOCALHOST", Ok(())),
            ("localhost.:7681", Ok(())),
            ("[::1]:7681", Ok(())),
            ("[::ffff:127.0.0.1]:7681", Ok(())),
            ("term.example.com", Ok(())),
            ("Term.Example.Com:443", Ok(())),
            ("ide.example.com", Ok(())),
            ("evil.example:7681", Err(HostRefusal::Unknown)),
            ("evil.example", Err(HostRefusal::Unknown)),
            ("localhost.evil.example", Err(HostRefusal::Unknown)),
            ("127.0.0.1.evil.example", Err(HostRefusal::Unknown)),
            ("evil.localhost", Err(HostRefusal::Unknown)),
            ("10.0.0.5:7681", Err(HostRefusal::Unknown)),
            ("", Err(HostRefusal::Malformed)),
            (":7681", Err(HostRefusal::Malformed)),
            ("localhost:", Ok(())),
            ("localhost:abc", Err(HostRefusal::Malformed)),
            ("localhost:7681:1", Err(HostRefusal::Malformed)),
            ("user@localhost", Err(HostRefusal::Malformed)),
            ("local%68ost", Err(HostRefusal::Malformed)),
            ("localhost/x", Err(HostRefusal::Malformed)),
            ("[::1", Err(HostRefusal::Malformed)),
            ("[::1]x", Err(HostRefusal::Malformed)),
            ("[evil]", Err(HostRefusal::Malformed)),
            ("a..b", Err(HostRefusal::Malformed)),
        ];
        for (host, want) in table {
            assert_eq!(p.check(Some(host.as_bytes())), *want, "Host: {host}");
        }
        assert_eq!(p.check(None), Err(HostRefusal::Malformed));
        assert_eq!(p.check(Some(b"\xffx")), Err(HostRefusal::Malformed));
    }

    #[test]
    fn the_bound_address_is_ours_and_a_wildcard_bind_accepts_every_address() {
        let specific = policy("192.0.2.7", &[], &[]);
        assert_eq!(specific.check(Some(b"192.0.2.7:7681")), Ok(()));
        assert_eq!(specific.check(Some(b"192.0.2.8:7681")), Err(HostRefusal::Unknown));
        let any = policy("0.0.0.0", &[], &[]);
        assert_eq!(any.check(Some(b"192.0.2.8:7681")), Ok(()));
        assert_eq!(any.check(Some(b"[2001:db8::1]")), Ok(()));
        assert_eq!(any.check(Some(b"evil.example")), Err(HostRefusal::Unknown));
        let unix = policy("unix", &[], &[]);
        assert_eq!(unix.check(Some(b"localhost")), Ok(()));
        assert_eq!(unix.check(Some(b"192.0.2.8")), Err(HostRefusal::Unknown));
        let allowed_ip = policy("127.0.0.1", &["192.0.2.9"], &[]);
        assert_eq!(allowed_ip.check(Some(b"192.0.2.9:80")), Ok(()));
    }

    #[test]
    fn allow_host_star_turns_the_check_off_but_not_the_syntax_check() {
        let p = policy("127.0.0.1", &["*"], &[]);
        assert_eq!(p.check(Some(b"evil.example")), Ok(()));
        assert_eq!(p.check(None), Err(HostRefusal::Malformed));
    }

    #[test]
    fn allow_host_entries_must_be_hosts() {
        for bad in ["http://x", "a b", "", "x/y"] {
            assert_eq!(HostPolicy::new(None, &[bad.to_owned()], &[]), None, "{bad}");
        }
        assert!(HostPolicy::new(None, &["x.example:8080".to_owned()], &[]).is_some());
    }
}
