pub mod auth;
pub mod buf;
pub mod cli_tools;
pub mod config;
pub mod fleet;
pub mod http;
#[macro_use]
pub mod log;
pub mod protocol;
pub mod pty;
pub mod rt;
pub mod runtime;
pub mod session;
pub mod sys;
pub mod tls;
pub mod uring;
pub mod web;
pub mod ws;
