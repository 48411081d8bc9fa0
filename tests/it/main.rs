//! Integration tests: the real `ringtty` binary over real sockets, one test binary.
mod children;
mod common;
mod http;
mod lifecycle;
mod limits;
mod sessions;
mod ttyd;
mod ws;
