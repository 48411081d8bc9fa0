//! Failed logins, limited per client address and per user name (issue 12 item 5): a
//! guesser spreading over many addresses still meets the user's budget, and one
//! address trying many users meets its own. Checked before a password is (so a client
//! over budget costs no PBKDF2), charged only when the login fails.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;

use super::{Buckets, ClientKey, RateLimit, RetryAfter};

/// Failures a client address may make at once, and regains per minute.
pub const FAILED_LOGINS_PER_CLIENT: u32 = 10;
/// Failures one user name may have at once, and regains per minute.
pub const FAILED_LOGINS_PER_USER: u32 = 5;
/// Addresses and users tracked per worker (the oldest unused are forgotten first).
const TRACKED: usize = 4096;

/// One worker's failed-login budgets.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    by_client: Buckets<ClientKey>,
    /// Keyed by a hash of the user name under a per-process random key: bounded memory
    /// whatever names are tried, and names an attacker picks cannot be made to collide.
    by_user: Buckets<u64>,
    hasher: RandomState,
}

impl Default for LoginLimits {
    fn default() -> LoginLimits {
        let per_minute = |n| RateLimit {
            burst: NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN),
            period_s: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
        };
        LoginLimits {
            by_client: Buckets::new(per_minute(FAILED_LOGINS_PER_CLIENT), TRACKED),
            by_user: Buckets::new(per_minute(FAILED_LOGINS_PER_USER), TRACKED),
            hasher: RandomState::new(),
        }
    }
}

impl LoginLimits {
    /// Whether a login from `client` for `user` may be tried now.
    pub fn allowed(&self, client: Option<IpAddr>, user: Option<&str>, now_ms: u64) -> Result<(), RetryAfter> {
        if let Some(ip) = client {
            self.by_client.peek_key(ClientKey::from(ip), now_ms)?;
        }
        if let Some(user) = user {
            self.by_user.peek_key(self.hasher.hash_one(user), now_ms)?;
        }
        Ok(())
    }

    /// Charges a failed login to both budgets.
    pub fn failed(&mut self, client: Option<IpAddr>, user: Option<&str>, now_ms: u64) {
        if let Some(ip) = client {
            let _ = self.by_client.check_key(ClientKey::from(ip), now_ms);
        }
        if let Some(user) = user {
            let _ = self.by_user.check_key(self.hasher.hash_one(user), now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_and_a_user_each_have_a_budget_regained_over_a_minute() {
        let mut l = LoginLimits::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        // One user guessed from many addresses: stopped after its 5.
        for i in 0..FAILED_LOGINS_PER_USER {
            let ip = IpAddr::from([10, 0, 0, i as u8]);
            assert!(l.allowed(Some(ip), Some("alice"), 0).is_ok());
            l.failed(Some(ip), Some("alice"), 0);
        }
        let retry = l.allowed(Some(b), Some("alice"), 0).unwrap_err();
        assert!((1..=12).contains(&retry.0), "{retry:?}");
        assert!(l.allowed(Some(b), Some("bob"), 0).is_ok(), "another user is not affected");
        assert!(l.allowed(Some(b), Some("alice"), 13_000).is_ok(), "a minute regains 5: one per 12 s");
        // One address trying many users: stopped after its 10.
        for i in 0..FAILED_LOGINS_PER_CLIENT {
            l.failed(Some(a), Some(&format!("u{i}")), 0);
        }
        assert!(l.allowed(Some(a), Some("zed"), 0).is_err());
        assert!(l.allowed(None, Some("zed"), 0).is_ok(), "a unix-socket client has no address budget");
    }
}
