//! Integration tests: the real `ringtty` binary over real sockets, one test binary.
mod common;
mod host;
mod http;
mod lifecycle;
mod replies;
mod roles;
mod sessions;
mod ttyd;
mod ws;
