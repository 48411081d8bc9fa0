//! The REST handlers: sessions (SPEC §3) and the HTTP side of authentication. Each
//! takes the admitted principal and returns a [`Reply`]; the connection loop
//! (`httpconn`) writes it.

pub mod auth;
pub mod cast;
pub mod fleet;
mod reply;
mod sessions;

pub use reply::{error_into, respond, write};
pub use sessions::{create, find, list, session_call, visible};
