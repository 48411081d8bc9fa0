//! `ringtty token`: the raw flags of the subcommand -> a validated [`TokenRequest`],
//! which mints with the secret file's key at a time the caller passes in.
//!
//! The subcommand is recognised only as the very first argument: `ringtty -W token` and
//! `ringtty -- token` serve a COMMAND named `token`, as ttyd would.

use std::ffi::OsString;

use super::{parse_duration, secret, ConfigError, TokenArgs};
use crate::auth::{sign, Claims, Key, Mode};

/// The longest `--sub`: a user name, not a document.
const MAX_SUB_LEN: usize = 128;

/// A token to mint: every claim but the times, which [`claims`](Self::claims) adds.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub key: Key,
    pub sub: Option<String>,
    pub mode: Mode,
    pub sid: Option<String>,
    pub admin: bool,
    /// Seconds from `iat` to `exp`, at least 1.
    pub ttl: u64,
    /// `--jti`; the subcommand draws a random one when it is not given.
    pub jti: Option<String>,
}

impl TokenRequest {
    /// Parses the subcommand's arguments, `token` first (it stands where clap expects
    /// the program name). `Err(clap::Error)` covers `--help` and syntax errors.
    pub fn parse_from<I, T>(argv: I) -> Result<Result<TokenRequest, ConfigError>, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        use clap::Parser;
        TokenArgs::try_parse_from(argv).map(TokenRequest::from_args)
    }

    pub fn from_args(a: TokenArgs) -> Result<TokenRequest, ConfigError> {
        let Some(path) = a.auth_secret_file.as_deref() else {
            return Err(ConfigError(
                "ringtty token needs --auth-secret-file FILE, the file the server runs with: without one the \
                 server's key is random for each start and no token minted here could match it"
                    .into(),
            ));
        };
        let mode = match a.mode.as_deref() {
            None if a.session.is_some() => Mode::Ro,
            None | Some("rw") => Mode::Rw,
            Some("ro") => Mode::Ro,
            Some(other) => return Err(ConfigError(format!("--mode {other}: give ro or rw"))),
        };
        if let Some(sub) = &a.sub {
            if sub.is_empty() || sub.len() > MAX_SUB_LEN || sub.chars().any(char::is_control) {
                return Err(ConfigError(format!(
                    "--sub {sub:?}: give a user name of 1 to {MAX_SUB_LEN} bytes without control characters"
                )));
            }
        }
        if let Some(sid) = &a.session {
            let max = crate::session::id::MAX_ID_LEN;
            if sid.is_empty() || sid.len() > max || !sid.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError(format!(
                    "--session {sid:?}: give a session id as listed by GET /api/sessions (1 to {max} printable characters)"
                )));
            }
            if a.admin {
                return Err(ConfigError(
                    "--admin with --session: a share token reaches one session, an admin token every one; give one of them"
                        .into(),
                ));
            }
        }
        let ttl = parse_duration(&a.ttl)
            .filter(|d| !d.is_zero())
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
            .ok_or_else(|| ConfigError(format!("--ttl {}: give a duration such as 10m, 1h or 7d", a.ttl)))?;
        if let Some(jti) = &a.jti {
            if jti.is_empty() || jti.len() > 128 || !jti.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError(format!("--jti {jti:?}: give 1 to 128 printable characters")));
            }
        }
        Ok(TokenRequest {
            key: secret::load(path)?,
            sub: a.sub,
            mode,
            sid: a.session,
            admin: a.admin,
            ttl,
            jti: a.jti,
        })
    }

    /// The claims of a token issued at `now` (seconds since the Unix epoch).
    pub fn claims(&self, now: u64) -> Claims {
        Claims {
            sub: self.sub.clone(),
            mode: self.mode,
            sid: self.sid.clone(),
            admin: self.admin,
            exp: now.saturating_add(self.ttl),
            nbf: None,
            iat: Some(now),
            jti: self.jti.clone(),
        }
    }

    /// The token, issued at `now`.
    pub fn mint(&self, now: u64) -> String {
        sign(&self.claims(now), &self.key)
    }
}
