//! Who may do what: the `Host` check (DNS rebinding), the origin check (CSRF and
//! cross-site WebSocket hijacking) and HS256 tokens today; credentials and address
//! allow-lists as they land.
//!
//! Pure: no IO, no clock. Decisions are plain functions of the request's headers, the
//! configuration and the time passed in, so every case is a table test.
#![forbid(unsafe_code)]

mod admit;
mod base64url;
mod cidr;
mod host;
mod jwt;
mod login_limit;
mod origin;
mod password;
mod principal;
mod ratelimit;
mod secret;

pub use admit::{
    admit, admit_ttyd_init, admit_unless, client_ip, cookie_token, query_token, query_without_token, Ask,
    Auth, Kind, Need, Policy, Refusal, COOKIE, UNAUTHORIZED,
};
pub use cidr::{Cidr, CidrError, CidrList, CidrListError};
pub use host::{HostPolicy, HostRefusal};
pub use jwt::{sign, verify, Claims, Key, Mode, Unauthorized, LEEWAY_SECS, MAX_TOKEN_LEN};
pub use login_limit::{LoginLimits, FAILED_LOGINS_PER_CLIENT, FAILED_LOGINS_PER_USER};
pub use origin::{normalize_origin, origin_allowed};
pub use password::{
    hash_line, iterations_ok, parse_basic, user_ok, Credentials, LineError, LineErrorKind, PlainCredential,
    PlainError, DEFAULT_ITERATIONS, MAX_ITERATIONS, MIN_ITERATIONS,
};
pub use principal::{Principal, Via};
pub use ratelimit::{Buckets, ClientKey, LimitKind, Limiter, RateLimit, RateLimitError, RetryAfter};
pub use secret::{secret_from_file, SecretRefusal, MAX_SECRET_FILE_LEN, MIN_SECRET_LEN};
