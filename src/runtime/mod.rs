//! The effectful half of ringtty: sockets, PTYs, threads and time. Everything here
//! drives the pure layers (`http`, `ws`, `protocol`, `session`, `auth`), which decide.
//!
//! Each folder has one job and imports only the folders below it:
//!
//! ```text
//! supervisor   startup checks, listeners, one pinned thread per core and its accept
//!              loop, signals, shutdown
//! httpconn     a connection's HTTP/1.1 loop: parse, admit, dispatch, respond, upgrade
//! api  wsconn  REST handlers (sessions, login, tokens) | WebSocket endpoints (native,
//!              ttyd, echo) on one driver of the sans-IO `ws::Connection`
//! pty_task     a session's PTY task, starting a session, the controls that steer it
//! route        which core (and node) owns a session, from its typed id
//! worker       per-core state: the `Worker`, its sessions (`Live`), its connections,
//!              cross-core messages, stats, descriptor budget
//! transport    the socket a connection owns: reads, vectored writes, readiness,
//!              shutdown, hand-off to another core
//! access_log   the access log's records and its writer thread
//! record       recordings (asciicast v2): the session's tap and the writer thread
//! ```

mod access_log;
mod api;
mod fleet;
mod handover;
mod httpconn;
mod pty_task;
mod record;
mod route;
mod supervisor;
mod transport;
mod worker;
mod wsconn;

pub use supervisor::{run, start, Server};
