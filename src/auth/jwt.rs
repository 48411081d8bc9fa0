//! HS256 JSON Web Tokens (RFC 7519 in RFC 7515's JWS compact form), signed and verified
//! with `ring::hmac` (SPEC §6): any JWT library holding the key mints tokens ringtty
//! accepts, and reads the ones it mints.
//!
//! Owns the token's syntax, its signature, the claims' types and the time checks.
//! Must never: look at a header or a claim before the signature has been verified in
//! constant time; accept an `alg` other than `HS256` (no `none`, no key confusion);
//! tell the client why a token failed (every failure is the same [`Unauthorized`], one
//! 401; the reason is for the server's log only); do IO or read the clock (`now` is an
//! argument).

use std::fmt;

use ring::hmac;
use serde::{Deserialize, Deserializer, Serialize};

use super::base64url;

/// The longest token looked at, checked before anything else: a header line, a cookie
/// or a URL carries it, and nothing ringtty mints comes near it.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Seconds of clock difference tolerated on `exp`, `nbf` and `iat` (RFC 7519 §4.1.4:
/// "Implementers MAY provide for some small leeway, usually no more than a few minutes,
/// to account for clock skew").
pub const LEEWAY_SECS: u64 = 30;

/// `{"alg":"HS256","typ":"JWT"}` in base64url: the header of every token [`sign`]s.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Decoded header or claims up to this size are decoded on the stack.
const SMALL_JSON: usize = 512;

/// HMAC-SHA256 output, the only signature length HS256 has.
const SIGNATURE_LEN: usize = 32;

/// The HMAC-SHA256 key tokens are signed and verified with. Its `Debug` shows no secret.
#[derive(Clone)]
pub struct Key(hmac::Key);

impl Key {
    /// Any length is accepted here (RFC 7518 §3.2 asks for at least 256 bits; the secret
    /// file's loader enforces that, see [`super::secret_from_file`]).
    pub fn new(secret: &[u8]) -> Key {
        Key(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(HS256, secret hidden)")
    }
}

/// What a token's holder may do in a session it reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Watch only: never types or resizes, whatever `-W` says.
    #[serde(rename = "ro")]
    Ro,
    /// Type and resize where the server lets clients write (`-W`).
    #[serde(rename = "rw")]
    Rw,
}

/// A verified token's claims. Unknown claims are ignored (RFC 7519 §4: "all claims that
/// are not understood by implementations MUST be ignored"), except `aud` (below).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Absent means [`Mode::Ro`]: a token that does not say it may type does not, so a
    /// token minted elsewhere without `mode` fails closed. Tokens ringtty mints always
    /// carry `mode`.
    pub mode: Mode,
    /// Limits the token to this one session (a share link).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Sees every user's sessions. Absent means `false`; written only when `true`.
    #[serde(skip_serializing_if = "is_false")]
    pub admin: bool,
    /// Expiry, seconds since the Unix epoch: required.
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// A token was refused. Every refusal answers the same: [`status`](Self::status) 401,
/// whatever went wrong, so a client learns nothing about which check failed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Unauthorized(Reason);

impl Unauthorized {
    /// No credential, a scheme this server does not take, or a wrong password.
    pub const MISSING: Unauthorized = Unauthorized(Reason::NoCredential);
    /// A valid credential the fleet has revoked (by its `jti` or its user).
    pub const REVOKED: Unauthorized = Unauthorized(Reason::Revoked);

    pub const fn status(self) -> u16 {
        401
    }

    /// Which check failed, for the server's own log: a fixed text, never token content.
    pub const fn log_reason(self) -> &'static str {
        self.0.text()
    }
}

impl fmt::Debug for Unauthorized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unauthorized({})", self.0.text())
    }
}

/// Why a token failed; private so that no caller can answer differently per reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    NoCredential,
    TooLong,
    NotThreeSegments,
    BadSignatureEncoding,
    BadSignature,
    BadHeader,
    NotHs256,
    BadClaims,
    Audience,
    Expired,
    NotYetValid,
    IssuedInFuture,
    Revoked,
}

impl Reason {
    const fn text(self) -> &'static str {
        match self {
            Reason::NoCredential => "no credential, or not one this server takes",
            Reason::TooLong => "token too long",
            Reason::NotThreeSegments => "not three dot-separated segments",
            Reason::BadSignatureEncoding => "signature is not 32 bytes of base64url",
            Reason::BadSignature => "signature does not match the key",
            Reason::BadHeader => "header is not a JSON object of the expected types",
            Reason::NotHs256 => "alg is not HS256, or typ is not JWT, or crit is present",
            Reason::BadClaims => "claims are not a JSON object of the expected types (exp required)",
            Reason::Audience => "aud is present and ringtty is no audience",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not valid yet (nbf)",
            Reason::IssuedInFuture => "issued in the future (iat)",
            Reason::Revoked => "revoked (POST /api/admin/revoke)",
        }
    }
}

/// Verifies a compact-form HS256 token and returns its claims.
///
/// In order (RFC 7515 §5.2, RFC 7519 §7.2): the length, three segments, the signature
/// over `header.payload` compared in constant time by `ring::hmac::verify`; only then
/// the header (`alg` must be `HS256`), the claims and the times.
pub fn verify(token: &[u8], key: &Key, now: u64) -> Result<Claims, Unauthorized> {
    check(token, key, now).map_err(Unauthorized)
}

fn check(token: &[u8], key: &Key, now: u64) -> Result<Claims, Reason> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Reason::TooLong);
    }
    let (header, payload, signature) = segments(token).ok_or(Reason::NotThreeSegments)?;
    let mut mac = [0u8; SIGNATURE_LEN];
    if base64url::decode(signature, &mut mac) != Some(SIGNATURE_LEN) {
        return Err(Reason::BadSignatureEncoding);
    }
    // The signing input is the header and payload as sent, dot included (RFC 7515 §5.2
    // step 8); their length is the token's up to the signature.
    let signed = &token[..header.len() + 1 + payload.len()];
    hmac::verify(&key.0, signed, &mac).map_err(|_| Reason::BadSignature)?;
    // Decoded JSON of a typical token fits on the stack (no allocation, and no 3 KiB
    // zeroed per call); a large one gets a buffer of its own size.
    let mut small = [0u8; SMALL_JSON];
    let mut large = Vec::new();
    let needed = header.len().max(payload.len()) / 4 * 3 + 2;
    let buf = if needed <= SMALL_JSON {
        &mut small[..]
    } else {
        large.resize(needed, 0);
        &mut large[..]
    };
    check_header(header, buf)?;
    let claims = parse_claims(payload, buf)?;
    check_times(&claims, now)?;
    Ok(claims)
}

/// The three segments of `header.payload.signature`, or `None` unless there are exactly
/// two dots. (The searches from each end cover the short header and signature;
/// `contains` on bytes is a fast memchr over the payload.)
fn segments(token: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let first = token.iter().position(|&b| b == b'.')?;
    let last = token.iter().rposition(|&b| b == b'.')?;
    let payload = token.get(first + 1..last)?;
    if payload.contains(&b'.') {
        return None;
    }
    Some((&token[..first], payload, &token[last + 1..]))
}

/// RFC 7515 §4.1.1: `alg` "MUST be present"; we accept only `HS256`. §4.1.11: a `crit`
/// header names extensions that "MUST be understood", and we understand none.
/// RFC 7519 §5.1: `typ`, when present, is `JWT` (media types ignore case).
fn check_header(segment: &[u8], buf: &mut [u8]) -> Result<(), Reason> {
    #[derive(Deserialize)]
    struct Header<'a> {
        alg: &'a str,
        #[serde(default, borrow, deserialize_with = "present")]
        typ: Option<&'a str>,
        #[serde(default, deserialize_with = "present")]
        crit: Option<serde::de::IgnoredAny>,
    }
    // Our own header needs no parse: the signature already vouches for these bytes.
    if segment == HEADER.as_bytes() {
        return Ok(());
    }
    let len = base64url::decode(segment, buf).ok_or(Reason::BadHeader)?;
    let json = object(&buf[..len]).ok_or(Reason::BadHeader)?;
    let header: Header = serde_json::from_slice(json).map_err(|_| Reason::BadHeader)?;
    let typ_ok = header.typ.is_none_or(|t| t.eq_ignore_ascii_case("JWT"));
    if header.alg != "HS256" || !typ_ok || header.crit.is_some() {
        return Err(Reason::NotHs256);
    }
    Ok(())
}

/// The claims with their types checked: a string is a string (`null` is refused, not
/// taken as absent), a time is a non-negative integer (RFC 7519 §2 NumericDate; we take
/// no fractions), `admin` a boolean. A claim given twice is refused (RFC 7519 §4: "MUST
/// either reject JWTs with duplicate Claim Names or use a JSON parser that returns only
/// the lexically last"; rejecting leaves no ambiguity between two readers).
fn parse_claims(segment: &[u8], buf: &mut [u8]) -> Result<Claims, Reason> {
    #[derive(Deserialize)]
    struct Wire {
        #[serde(default, deserialize_with = "present")]
        sub: Option<String>,
        #[serde(default, deserialize_with = "present")]
        mode: Option<Mode>,
        #[serde(default, deserialize_with = "present")]
        sid: Option<String>,
        #[serde(default)]
        admin: bool,
        exp: u64,
        #[serde(default, deserialize_with = "present")]
        nbf: Option<u64>,
        #[serde(default, deserialize_with = "present")]
        iat: Option<u64>,
        #[serde(default, deserialize_with = "present")]
        jti: Option<String>,
        #[serde(default, deserialize_with = "present")]
        aud: Option<serde::de::IgnoredAny>,
    }
    let len = base64url::decode(segment, buf).ok_or(Reason::BadClaims)?;
    let json = object(&buf[..len]).ok_or(Reason::BadClaims)?;
    let w: Wire = serde_json::from_slice(json).map_err(|_| Reason::BadClaims)?;
    // RFC 7519 §4.1.3: a recipient that does not identify itself with a value in `aud`
    // "MUST" reject the token. ringtty names itself to no audience.
    if w.aud.is_some() {
        return Err(Reason::Audience);
    }
    Ok(Claims {
        sub: w.sub,
        mode: w.mode.unwrap_or(Mode::Ro),
        sid: w.sid,
        admin: w.admin,
        exp: w.exp,
        nbf: w.nbf,
        iat: w.iat,
        jti: w.jti,
    })
}

/// `json` if it is (at most) a JSON object: serde reads a struct from an array too,
/// by position, and RFC 7515 §4 / RFC 7519 §7.2 want a JSON object.
fn object(json: &[u8]) -> Option<&[u8]> {
    (json.trim_ascii_start().first() == Some(&b'{')).then_some(json)
}

/// An optional member that, when present, must have its type: `null` is a wrong type.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// RFC 7519 §4.1.4: "the current date/time MUST be before the expiration date/time";
/// §4.1.5: "MUST be after or equal to the not-before date/time"; both with the leeway.
/// §4.1.6 makes `iat` informational; a token issued beyond the leeway in the future
/// comes from a wrong clock or a forger, and is refused.
fn check_times(c: &Claims, now: u64) -> Result<(), Reason> {
    if now >= c.exp.saturating_add(LEEWAY_SECS) {
        return Err(Reason::Expired);
    }
    if c.nbf.is_some_and(|nbf| now.saturating_add(LEEWAY_SECS) < nbf) {
        return Err(Reason::NotYetValid);
    }
    if c.iat.is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS)) {
        return Err(Reason::IssuedInFuture);
    }
    Ok(())
}

/// Mints a token: header `{"alg":"HS256","typ":"JWT"}`, the claims as JSON, the
/// HMAC-SHA256 of both (RFC 7515 §5.1).
pub fn sign(claims: &Claims, key: &Key) -> String {
    // Strings, integers and a bool: serializing cannot fail.
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = String::with_capacity(HEADER.len() + 2 + payload.len() * 4 / 3 + 48);
    token.push_str(HEADER);
    token.push('.');
    base64url::encode_into(&payload, &mut token);
    let tag = hmac::sign(&key.0, token.as_bytes());
    token.push('.');
    base64url::encode_into(tag.as_ref(), &mut token);
    token
}

#[cfg(test)]
mod tests;
