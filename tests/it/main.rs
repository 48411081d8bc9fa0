//! Integration tests: the real `ringtty` binary over real sockets, one test binary.
mod common;
mod http;
mod lifecycle;
mod sessions;
mod ttyd;
mod ws;
mod ws_abuse;
