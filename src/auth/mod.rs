//! Who may do what: the `Host` check (DNS rebinding) and the origin check (CSRF and
//! cross-site WebSocket hijacking) today; tokens, credentials and address allow-lists
//! as they land.
//!
//! Pure: no IO, no clock. Decisions are plain functions of the request's headers and the
//! configuration, so every case is a table test.
#![forbid(unsafe_code)]

mod admit;
mod host;
mod origin;

pub use admit::{admit, Ask, Kind, Policy, Refusal};
pub use host::{HostPolicy, HostRefusal};
pub use origin::{normalize_origin, origin_allowed};
