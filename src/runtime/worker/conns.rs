//! What a worker knows about each of its open connections: enough to end them at
//! shutdown, never their state.

use std::cell::Cell;
use std::rc::Weak;

use tokio::sync::Notify;

use crate::runtime::transport::Transport;

/// What the worker knows about one of its connections.
pub struct ConnHandle {
    /// The socket. The connection holds it (strongly) until it unregisters, so it is
    /// there for as long as the handle is registered; a weak link keeps the registry
    /// from holding a socket open.
    stream: Weak<Transport>,
    /// Between HTTP requests, with nothing buffered: safe to close at any moment.
    pub idle: Cell<bool>,
    /// Notified when the server shuts down (a WebSocket answers with close 1001).
    pub close: Notify,
}

impl ConnHandle {
    pub fn new(stream: Weak<Transport>) -> ConnHandle {
        ConnHandle { stream, idle: Cell::new(true), close: Notify::new() }
    }

    /// Ends the socket both ways (`shutdown(2)`, errors ignored): whatever waits on it
    /// wakes up with end of stream or an error.
    pub fn shutdown(&self) {
        if let Some(stream) = self.stream.upgrade() {
            stream.shutdown();
        }
    }
}
