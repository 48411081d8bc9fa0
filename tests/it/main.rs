//! Integration tests: the real `ringtty` binary over real sockets, one test binary.
mod children;
mod common;
mod host;
mod http;
mod lifecycle;
mod limits;
mod replies;
mod roles;
mod sessions;
mod token;
mod ttyd;
mod ws;
mod ws_abuse;
