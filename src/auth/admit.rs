//! The admission point: one pure decision per request, made once, before routing and
//! before the request moves to another core, so that no route can skip a check.
//!
//! Today it holds the two browser defences: the `Host` check (DNS rebinding,
//! [`HostPolicy`]) on every request, and the origin check (CSRF, cross-site WebSocket
//! hijacking, [`origin_allowed`]) on every request that changes state or upgrades.
//! Credentials (tokens, users) land here too, as a principal returned instead of `()`.

use super::{origin_allowed, HostPolicy, HostRefusal};

/// Who may ask what. Built once from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// The `Host` values answered.
    pub hosts: HostPolicy,
    /// `--allow-origin`, normalized (`*` = any).
    pub allow_origins: Vec<String>,
}

/// What a request asks, as far as admission is concerned.
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

/// The request's facts admission looks at (borrowed from the parsed head).
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub kind: Kind,
    /// The `Host` header (`None`: absent; two are refused by the HTTP parser).
    pub host: Option<&'a [u8]>,
    /// The `Origin` header, if a browser sent one.
    pub origin: Option<&'a [u8]>,
}

/// Why a request is refused; [`status`](Self::status) and [`reason`](Self::reason) are
/// the whole answer (fixed text: nothing from the request is echoed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Host(HostRefusal),
    Origin,
}

impl Refusal {
    pub const fn status(self) -> u16 {
        match self {
            Refusal::Host(h) => h.status(),
            Refusal::Origin => 403,
        }
    }

    pub const fn reason(self) -> &'static str {
        match self {
            Refusal::Host(h) => h.reason(),
            Refusal::Origin => "origin not allowed; the server's operator can add it with --allow-origin",
        }
    }
}

/// Admits a request or says why not. The `Host` check comes first: the origin check
/// compares `Origin` with `Host`, which means something only once `Host` is ours.
pub fn admit(ask: &Ask<'_>, policy: &Policy) -> Result<(), Refusal> {
    policy.hosts.check(ask.host).map_err(Refusal::Host)?;
    let checks_origin = matches!(ask.kind, Kind::Change | Kind::Upgrade);
    if checks_origin && !origin_allowed(ask.origin, ask.host, &policy.allow_origins) {
        return Err(Refusal::Origin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let origins = vec!["https://ide.example.com".to_owned()];
        let hosts =
            HostPolicy::new("127.0.0.1".parse().ok(), &["term.example.com".to_owned()], &origins).unwrap();
        Policy { hosts, allow_origins: origins }
    }

    /// kind, Host, Origin, the verdict.
    type Case = (Kind, Option<&'static [u8]>, Option<&'static [u8]>, Result<(), Refusal>);

    #[test]
    fn every_kind_meets_the_host_check_and_changes_and_upgrades_the_origin_check() {
        use Kind::*;
        let p = policy();
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
        for &(kind, host, origin, want) in table {
            let got = admit(&Ask { kind, host, origin }, &p);
            assert_eq!(got, want, "{kind:?} host {host:?} origin {origin:?}");
            if let Err(r) = got {
                assert!(matches!(r.status(), 400 | 403 | 421) && !r.reason().is_empty());
            }
        }
    }
}
