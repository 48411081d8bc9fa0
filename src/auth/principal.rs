//! Who is asking, once admitted, and what that lets them reach.
//!
//! One rule for every route and protocol (REST, the native WebSocket, ttyd's `/ws`):
//! a session belongs to the user who created it; an admin reaches every session; a
//! token limited to one session (`sid`, a share link) reaches that one only, whoever
//! owns it; `ro` never types or resizes.

use std::sync::Arc;

use super::{Claims, Mode};

/// An admitted caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user (`sub`; empty for a token without one, and with `--no-auth`). Shared, so
    /// that the access log and a session's owner take it without a copy.
    pub user: Arc<str>,
    pub mode: Mode,
    /// Sees and controls every user's sessions.
    pub admin: bool,
    /// Limited to this one session (a share link's `sid`).
    pub session: Option<String>,
    /// Where the credential came from.
    pub via: Via,
    /// When its token expires (seconds since the epoch); `None` for a password, a
    /// proxy's header or `--no-auth`.
    pub exp: Option<u64>,
    /// Its token's `jti`, by which it can be revoked.
    pub jti: Option<Arc<str>>,
}

/// Where a principal's credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `--no-auth`: everyone, as everything.
    NoAuth,
    /// `Authorization: Bearer`.
    Bearer,
    /// `?token=` in the URL.
    Query,
    /// The `ringtty_token` cookie.
    Cookie,
    /// `Authorization: Basic` with `-c`'s user and password.
    Basic,
    /// An auth proxy's `-H` header, from a `--trusted-proxy` peer.
    Header,
    /// ttyd's init message (`AuthToken`), on `/ws`.
    TtydInit,
    /// A client certificate verified against `-A`'s CAs; the user is its `--ssl-user` name.
    ClientCert,
    /// Admitted by another node of the fleet, which asks on its behalf over NATS.
    Fleet,
}

impl Principal {
    /// With `--no-auth`: whoever connects may do everything (`-W` still decides typing).
    pub fn anyone() -> Principal {
        Principal {
            user: Arc::from(""),
            mode: Mode::Rw,
            admin: true,
            session: None,
            via: Via::NoAuth,
            exp: None,
            jti: None,
        }
    }

    /// A verified token's principal.
    pub fn from_claims(claims: Claims, via: Via) -> Principal {
        Principal {
            user: Arc::from(claims.sub.unwrap_or_default()),
            mode: claims.mode,
            admin: claims.admin,
            session: claims.sid,
            via,
            exp: Some(claims.exp),
            jti: claims.jti.map(Arc::from),
        }
    }

    /// A user named by a password check or an auth proxy: types where `-W` allows,
    /// sees only their own sessions.
    pub fn user(user: String, via: Via) -> Principal {
        Principal {
            user: Arc::from(user),
            mode: Mode::Rw,
            admin: false,
            session: None,
            via,
            exp: None,
            jti: None,
        }
    }

    /// Whether this principal reaches the session `id`, owned by `owner` (`None`: made
    /// while auth was off, which only `--no-auth` servers have).
    pub fn reaches(&self, id: &str, owner: Option<&str>) -> bool {
        match &self.session {
            Some(only) => only == id,
            None => self.admin || owner == Some(&*self.user),
        }
    }

    /// Whether it may type and resize (the server's `-W` decides too).
    pub fn may_write(&self) -> bool {
        self.mode == Mode::Rw
    }

    /// Whether it may start sessions and mint share links: a share link may not.
    pub fn may_create(&self) -> bool {
        self.session.is_none()
    }

    /// The owner recorded on a session it creates (`None` with `--no-auth`).
    pub fn owner(&self) -> Option<String> {
        (self.via != Via::NoAuth).then(|| self.user.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(user: &str, admin: bool, session: Option<&str>) -> Principal {
        Principal {
            user: Arc::from(user),
            mode: Mode::Rw,
            admin,
            session: session.map(Into::into),
            via: Via::Bearer,
            exp: None,
            jti: None,
        }
    }

    #[test]
    fn owners_admins_and_share_links() {
        let (alice, bob) = (Some("alice"), Some("bob"));
        // (principal, session id, owner, reaches)
        let table = [
            (p("alice", false, None), "s1", alice, true),
            (p("alice", false, None), "s1", bob, false),
            (p("alice", false, None), "s1", None, false),
            (p("root", true, None), "s1", bob, true),
            (p("root", true, None), "s1", None, true),
            (p("carol", false, Some("s1")), "s1", bob, true),
            (p("carol", false, Some("s1")), "s2", bob, false),
            // A share link limits even an admin's token.
            (p("root", true, Some("s1")), "s2", bob, false),
            (p("bob", false, Some("s1")), "s2", bob, false),
            (Principal::anyone(), "s1", alice, true),
        ];
        for (who, id, owner, want) in table {
            assert_eq!(who.reaches(id, owner), want, "{who:?} {id} {owner:?}");
        }
        assert!(!p("c", false, Some("s1")).may_create());
        assert!(p("c", false, None).may_create());
        assert_eq!(Principal::anyone().owner(), None);
        assert_eq!(p("alice", false, None).owner().as_deref(), Some("alice"));
    }
}
