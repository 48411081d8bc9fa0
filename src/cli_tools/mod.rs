//! Subcommands that are not the server: `ringtty hash-password`. `main` dispatches on
//! the first argument before the server's command line is parsed, so `ringtty
//! hash-password` never runs a COMMAND of that name (`ringtty -- hash-password` does).

mod hash_password;

pub use hash_password::hash_password;
