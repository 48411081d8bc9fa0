//! The access log (`--access-log FILE|-`): one JSON line per HTTP request and one per
//! WebSocket connection's end, written by a thread of its own.
//!
//! Workers never format or write a line. They hand a [`Record`] (a plain struct, with
//! no allocation for a path of up to 96 bytes) to the logger thread through a bounded
//! channel with `try_send`; when the channel is full the record is dropped and counted
//! (`ringtty_access_log_dropped_total`), so a slow or stuck disk never stalls a worker.
//! The thread formats, writes through a `BufWriter`, flushes whenever it has caught up
//! and at least once a second, and reopens the file when the supervisor asks (SIGHUP,
//! for logrotate).
//!
//! What this module must never log: a query string (only whether there was one), any
//! header value (`Authorization`, `Cookie`, ...), a body, a WebSocket message. A record
//! has no field that could hold them.

mod line;
#[cfg(test)]
pub(in crate::runtime) mod tests;
mod thread;

pub use line::{Event, Method, Path, Peer, Record};
pub use thread::{start, Logger, Sink};
