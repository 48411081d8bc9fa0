//! Who may do what: the `Host` check (DNS rebinding) and the origin check (CSRF and
//! cross-site WebSocket hijacking) today; tokens, credentials and address allow-lists
//! as they land.
//!
//! Pure: no IO, no clock. Decisions are plain functions of the request's headers and the
//! configuration, so every case is a table test.
#![forbid(unsafe_code)]

mod admit;
mod cidr;
mod host;
mod origin;
mod password;
mod ratelimit;

pub use admit::{admit, Ask, Kind, Policy, Refusal};
pub use cidr::{Cidr, CidrError, CidrList, CidrListError};
pub use host::{HostPolicy, HostRefusal};
pub use origin::{normalize_origin, origin_allowed};
pub use password::{
    hash_line, iterations_ok, parse_basic, user_ok, Credentials, LineError, LineErrorKind, PlainCredential,
    PlainError, DEFAULT_ITERATIONS, MAX_ITERATIONS, MIN_ITERATIONS,
};
pub use ratelimit::{Buckets, ClientKey, LimitKind, Limiter, RateLimit, RateLimitError, RetryAfter};
