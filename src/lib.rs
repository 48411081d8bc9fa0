pub mod buf;
pub mod config;
pub mod http;
#[macro_use]
pub mod log;
pub mod runtime;
pub mod sys;
pub mod ws;
