//! Users with passwords: the `--credential-file` format and ttyd's `-c USER:PASS`.
//!
//! A credential file holds one user per line, `user:$pbkdf2-sha256$ITERATIONS$SALT$HASH`,
//! with `#` comments and blank lines. SALT (16 to 64 bytes) and HASH (32 bytes,
//! PBKDF2-HMAC-SHA256, RFC 8018 §5.2) are base64url without padding (RFC 4648 §5): the
//! alphabet of JWTs, free of `:` and `$`, and safe to paste in a shell. In Python:
//! `base64.urlsafe_b64encode(b).rstrip(b"=")`.
//!
//! Verifying costs the same whoever asks: an unknown user is checked against a dummy
//! hash, and every check runs as many PBKDF2 iterations as the file's largest count, so
//! neither the existence of a user nor its iteration count shows in the time taken.
//!
//! Pure: parses text it is given, reads no file, no clock, no randomness (salts come in).
//! It must never keep a plain password: `-c`'s password is hashed when it is parsed.

use std::collections::HashMap;
use std::num::NonZeroU32;

use ring::pbkdf2;

/// The scheme name in a credential line.
pub const SCHEME: &str = "pbkdf2-sha256";
/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: NonZeroU32 = match NonZeroU32::new(600_000) {
    Some(n) => n,
    None => unreachable!(),
};
/// Fewer is too cheap to crack; more makes one login a denial of service.
pub const MIN_ITERATIONS: u32 = 10_000;
pub const MAX_ITERATIONS: u32 = 10_000_000;
pub const SALT_MIN: usize = 16;
pub const SALT_MAX: usize = 64;
pub const HASH_LEN: usize = 32;
/// User names: what fits in a log line, a JWT `sub` and `RINGTTY_USER` without quoting.
pub const USER_MAX: usize = 64;

static ALG: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;

/// Why a credential line is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineErrorKind {
    /// Not `user:$pbkdf2-sha256$ITERATIONS$SALT$HASH`.
    Syntax,
    /// A user name outside `A-Z a-z 0-9 . _ - @`, empty or longer than 64 bytes.
    BadUser,
    /// The user already has a line.
    DuplicateUser,
    /// A scheme other than `pbkdf2-sha256`.
    UnknownScheme,
    /// Not a number from [`MIN_ITERATIONS`] to [`MAX_ITERATIONS`].
    BadIterations,
    /// Not base64url without padding, or not 16 to 64 bytes.
    BadSalt,
    /// Not base64url without padding, or not 32 bytes.
    BadHash,
}

impl LineErrorKind {
    pub const fn message(self) -> &'static str {
        match self {
            Self::Syntax => {
                "expected user:$pbkdf2-sha256$ITERATIONS$SALT$HASH (make one with `ringtty hash-password`)"
            }
            Self::BadUser => "a user name is 1-64 characters from A-Z a-z 0-9 . _ - @",
            Self::DuplicateUser => "this user already has a line above",
            Self::UnknownScheme => "only $pbkdf2-sha256$ hashes are supported",
            Self::BadIterations => "iterations must be a number from 10000 to 10000000",
            Self::BadSalt => "the salt must be 16-64 bytes in base64url without padding",
            Self::BadHash => "the hash must be 32 bytes in base64url without padding",
        }
    }
}

/// A refused line of a credential file; `line` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub kind: LineErrorKind,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind.message())
    }
}

impl std::error::Error for LineError {}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: [u8; HASH_LEN],
}

/// The users of a credential file.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    users: HashMap<String, Entry>,
    /// The largest iteration count: every verification costs this much.
    work: NonZeroU32,
}

/// Hashes stay out of logs: a `Debug` print shows how many users there are.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} users)", self.users.len())
    }
}

/// What an unknown user is checked against; no password derives to all zeros.
const DUMMY_SALT: &[u8; SALT_MIN] = b"ringtty-no-user!";

impl Credentials {
    /// Parses a credential file's text. Lines may end in `\r\n`; surrounding spaces are
    /// ignored; a line whose first non-space character is `#` is a comment.
    pub fn parse(text: &str) -> Result<Credentials, LineError> {
        let mut users = HashMap::new();
        let mut work = NonZeroU32::MIN;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |kind| LineError { line: i + 1, kind };
            let (user, entry) = parse_line(line).map_err(fail)?;
            if users.contains_key(user) {
                return Err(fail(LineErrorKind::DuplicateUser));
            }
            work = work.max(entry.iterations);
            users.insert(user.to_owned(), entry);
        }
        Ok(Credentials { users, work })
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `password` is `user`'s. Constant time with respect to the password (ring
    /// compares the derived keys); the same work for every user, known or not.
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        let Some(entry) = self.users.get(user) else {
            let dummy = [0u8; HASH_LEN];
            let _ = pbkdf2::verify(ALG, self.work, DUMMY_SALT, password, &dummy);
            return false;
        };
        let ok = pbkdf2::verify(ALG, entry.iterations, &entry.salt, password, &entry.hash).is_ok();
        // Pad to the file's largest count: PBKDF2's cost is linear in its iterations.
        if let Some(rest) = NonZeroU32::new(self.work.get() - entry.iterations.get()) {
            let mut sink = [0u8; HASH_LEN];
            pbkdf2::derive(ALG, rest, DUMMY_SALT, password, &mut sink);
        }
        ok
    }
}

/// `user:$pbkdf2-sha256$ITERATIONS$SALT$HASH` -> (user, entry).
fn parse_line(line: &str) -> Result<(&str, Entry), LineErrorKind> {
    let (user, hash) = line.split_once(':').ok_or(LineErrorKind::Syntax)?;
    if !user_ok(user) {
        return Err(LineErrorKind::BadUser);
    }
    let mut fields = hash.split('$');
    let (Some(""), Some(scheme), Some(iterations), Some(salt), Some(digest), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(LineErrorKind::Syntax);
    };
    if scheme != SCHEME {
        return Err(LineErrorKind::UnknownScheme);
    }
    let iterations = iterations
        .parse::<u32>()
        .ok()
        .filter(|n| iterations.bytes().all(|b| b.is_ascii_digit()) && iterations_ok(*n))
        .and_then(NonZeroU32::new)
        .ok_or(LineErrorKind::BadIterations)?;
    let salt = b64::decode(salt)
        .filter(|s| (SALT_MIN..=SALT_MAX).contains(&s.len()))
        .ok_or(LineErrorKind::BadSalt)?;
    let hash =
        b64::decode(digest).and_then(|h| <[u8; HASH_LEN]>::try_from(h).ok()).ok_or(LineErrorKind::BadHash)?;
    Ok((user, Entry { iterations, salt, hash }))
}

/// `A-Z a-z 0-9 . _ - @`, 1 to 64 bytes.
pub fn user_ok(user: &str) -> bool {
    (1..=USER_MAX).contains(&user.len())
        && user.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_@".contains(&b))
}

pub const fn iterations_ok(n: u32) -> bool {
    MIN_ITERATIONS <= n && n <= MAX_ITERATIONS
}

/// One credential-file line for `user`. The caller draws `salt` from a CSPRNG
/// (`ring::rand::SystemRandom`) and checks `user` with [`user_ok`] and the count with
/// [`iterations_ok`] (a line that breaks them would be refused by [`Credentials::parse`]).
pub fn hash_line(user: &str, password: &[u8], salt: &[u8; 16], iterations: NonZeroU32) -> String {
    let mut hash = [0u8; HASH_LEN];
    pbkdf2::derive(ALG, iterations, salt, password, &mut hash);
    format!("{user}:${SCHEME}${iterations}${}${}", b64::encode(salt), b64::encode(&hash))
}

/// ttyd's `-c USER:PASS`, kept only as a one-iteration PBKDF2 of the password salted
/// with the user name, so that checking it is ring's constant-time comparison of two
/// 32-byte keys: neither the password's length nor its first wrong byte shows in the
/// time taken. (The password itself is on the command line; this is not about cracking.)
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredential {
    derived: [u8; HASH_LEN],
}

impl std::fmt::Debug for PlainCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainCredential(..)")
    }
}

/// Why `-c` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainError {
    /// No `:`, or nothing after it.
    Syntax,
    /// The user name breaks [`user_ok`].
    BadUser,
}

impl PlainError {
    pub const fn message(self) -> &'static str {
        match self {
            Self::Syntax => "give USER:PASSWORD with a non-empty password",
            Self::BadUser => "a user name is 1-64 characters from A-Z a-z 0-9 . _ - @",
        }
    }
}

impl PlainCredential {
    /// `user:password`, split at the first `:` (the password may hold more, as in ttyd).
    pub fn parse(spec: &str) -> Result<PlainCredential, PlainError> {
        let (user, password) = spec.split_once(':').ok_or(PlainError::Syntax)?;
        if password.is_empty() {
            return Err(PlainError::Syntax);
        }
        if !user_ok(user) {
            return Err(PlainError::BadUser);
        }
        let mut derived = [0u8; HASH_LEN];
        pbkdf2::derive(ALG, NonZeroU32::MIN, &Self::salt(user), password.as_bytes(), &mut derived);
        Ok(PlainCredential { derived })
    }

    fn salt(user: &str) -> Vec<u8> {
        [b"ringtty -c\0".as_slice(), user.as_bytes()].concat()
    }

    /// Whether `user` and `password` are the pair given. The user is part of the salt,
    /// so a wrong user derives a different key: one comparison decides both.
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        pbkdf2::verify(ALG, NonZeroU32::MIN, &Self::salt(user), password, &self.derived).is_ok()
    }
}

/// `Authorization: Basic BASE64(user:password)` (RFC 7617 §2; ttyd's `-c`, `curl -u`)
/// -> (user, password). The scheme is case-insensitive (RFC 9110 §11.1); the base64 is
/// the standard, padded one (RFC 4648 §4); the user ends at the first `:` and must be
/// UTF-8. `None` for anything else, including a value over 1 KiB.
pub fn parse_basic(value: &str) -> Option<(String, Vec<u8>)> {
    if value.len() > 1024 {
        return None;
    }
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let token = rest.trim_matches(' ');
    let unpadded = token.strip_suffix("==").or_else(|| token.strip_suffix('=')).unwrap_or(token);
    if token.len() % 4 != 0 {
        return None;
    }
    let decoded = b64::decode_standard(unpadded)?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = std::str::from_utf8(&decoded[..colon]).ok()?.to_owned();
    Some((user, decoded[colon + 1..].to_vec()))
}

/// The credential line's salt and hash use the JWTs' strict, unpadded url-safe base64
/// ([`auth::base64url`](super::base64url)); `Basic` uses the standard alphabet, whose
/// two other digits are mapped onto it (a url-safe digit there is refused).
mod b64 {
    use super::super::base64url;

    pub fn encode(bytes: &[u8]) -> String {
        let mut text = String::new();
        base64url::encode_into(bytes, &mut text);
        text
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let mut out = vec![0; base64url::decoded_len(text.len())?];
        let n = base64url::decode(text.as_bytes(), &mut out)?;
        out.truncate(n);
        Some(out)
    }

    /// RFC 4648 §4's alphabet, padding already removed.
    pub fn decode_standard(text: &str) -> Option<Vec<u8>> {
        let url: String = text
            .chars()
            .map(|c| match c {
                '+' => Some('-'),
                '/' => Some('_'),
                '-' | '_' => None,
                c => Some(c),
            })
            .collect::<Option<_>>()?;
        decode(&url)
    }
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod tests;
