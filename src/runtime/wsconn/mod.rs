//! WebSocket connections after the `101`, and their endpoints: the native session
//! protocol, ttyd's, and the echo endpoint. One driver runs the sans-IO
//! `ws::Connection` over a connection's transport.

mod compress;
mod driver;
mod native;
mod ttyd;

pub use native::{serve_echo, serve_session, Ending, WsConfig};
pub use ttyd::serve as serve_ttyd;
