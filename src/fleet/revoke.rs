//! Revoked tokens: by `jti` (one token: a leaked share link) or by user (every
//! credential of theirs, tokens, cookies, passwords and certificates alike), each until
//! a time. Tokens are stateless, so this set is the only way to take one back before
//! it expires; every node keeps the whole set and checks it at admission.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::auth::Principal;

/// One revocation. Exactly one of `jti` and `user` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Seconds since the epoch: refused until then.
    pub until: u64,
}

/// The longest `jti` or user name a revocation takes (a token's own are shorter).
pub const MAX_KEY_LEN: usize = 256;
/// The most revocations a node holds: a bound on what a flood of admin calls (or a
/// confused peer) can make it keep. Past it, the entry ending soonest gives way.
pub const MAX_ENTRIES: usize = 100_000;

impl Revocation {
    /// Whether it is well formed: one key, not empty, not too long.
    pub fn valid(&self) -> bool {
        let ok = |k: &String| !k.is_empty() && k.len() <= MAX_KEY_LEN && !k.chars().any(char::is_control);
        match (&self.jti, &self.user) {
            (Some(j), None) => ok(j),
            (None, Some(u)) => ok(u),
            _ => false,
        }
    }
}

/// The set every node checks. Entries end by themselves at their `until`.
#[derive(Debug, Default, Clone)]
pub struct Revocations {
    jtis: HashMap<String, u64>,
    users: HashMap<String, u64>,
}

impl Revocations {
    /// Adds (or extends) an entry; returns whether it changed anything. An entry
    /// already past its time, or malformed, is ignored.
    pub fn add(&mut self, r: &Revocation, now: u64) -> bool {
        if !r.valid() || r.until <= now {
            return false;
        }
        if self.len() >= MAX_ENTRIES {
            self.prune(now);
            if self.len() >= MAX_ENTRIES {
                self.evict_soonest();
            }
        }
        let (map, key) = match (&r.jti, &r.user) {
            (Some(j), _) => (&mut self.jtis, j),
            (_, Some(u)) => (&mut self.users, u),
            _ => return false,
        };
        let until = map.entry(key.clone()).or_insert(0);
        let changed = r.until > *until;
        *until = (*until).max(r.until);
        changed
    }

    /// Whether `p` is refused at `now`: its token's `jti`, or its user, is revoked.
    pub fn refuses(&self, p: &Principal, now: u64) -> bool {
        let hit = |map: &HashMap<String, u64>, key: &str| map.get(key).is_some_and(|&until| now < until);
        p.jti.as_deref().is_some_and(|j| hit(&self.jtis, j))
            || (!p.user.is_empty() && hit(&self.users, &p.user))
    }

    /// Drops the entries whose time has passed.
    pub fn prune(&mut self, now: u64) {
        self.jtis.retain(|_, until| now < *until);
        self.users.retain(|_, until| now < *until);
    }

    pub fn len(&self) -> usize {
        self.jtis.len() + self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, for a node that joins or comes back, and for the admin's list.
    pub fn entries(&self) -> Vec<Revocation> {
        let jtis = self.jtis.iter().map(|(j, &until)| Revocation { jti: Some(j.clone()), user: None, until });
        let users =
            self.users.iter().map(|(u, &until)| Revocation { jti: None, user: Some(u.clone()), until });
        let mut all: Vec<Revocation> = jtis.chain(users).collect();
        all.sort_by(|a, b| (a.until, &a.jti, &a.user).cmp(&(b.until, &b.jti, &b.user)));
        all
    }

    fn evict_soonest(&mut self) {
        let soonest_jti = self.jtis.iter().min_by_key(|(_, &u)| u).map(|(k, &u)| (u, k.clone()));
        let soonest_user = self.users.iter().min_by_key(|(_, &u)| u).map(|(k, &u)| (u, k.clone()));
        match (soonest_jti, soonest_user) {
            (Some((a, j)), Some((b, _))) if a <= b => self.jtis.remove(&j),
            (_, Some((_, u))) => self.users.remove(&u),
            (Some((_, j)), None) => self.jtis.remove(&j),
            (None, None) => None,
        };
    }
}
