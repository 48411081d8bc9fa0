//! Who may do what: the `Host` check (DNS rebinding), the origin check (CSRF and
//! cross-site WebSocket hijacking) and HS256 tokens today; credentials and address
//! allow-lists as they land.
//!
//! Pure: no IO, no clock. Decisions are plain functions of the request's headers, the
//! configuration and the time passed in, so every case is a table test.
#![forbid(unsafe_code)]

mod base64url;
mod host;
mod jwt;
mod origin;
mod secret;

pub use host::{HostPolicy, HostRefusal};
pub use jwt::{sign, verify, Claims, Key, Mode, Unauthorized, LEEWAY_SECS, MAX_TOKEN_LEN};
pub use origin::{normalize_origin, origin_allowed};
pub use secret::{secret_from_file, SecretRefusal, MAX_SECRET_FILE_LEN, MIN_SECRET_LEN};
