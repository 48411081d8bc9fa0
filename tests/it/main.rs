//! Integration tests: the real `ringtty` binary over real sockets, one test binary.
mod access_log;
mod auth;
mod children;
mod common;
mod hash_password;
mod host;
mod http;
mod lifecycle;
mod limits;
mod owners;
mod replies;
mod roles;
mod sessions;
mod token;
mod ttyd;
mod ws;
mod ws_abuse;
