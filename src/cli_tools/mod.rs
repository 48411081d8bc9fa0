//! Subcommands that are not the server: `ringtty token`, `ringtty hash-password` and
//! `ringtty fleet haproxy-config`. `main` dispatches on the first argument before the
//! server's command line is parsed, so none of these names ever runs as a COMMAND
//! there (`ringtty -- token` runs a program named `token`).

use std::ffi::OsString;
use std::process::ExitCode;

mod fleet;
mod hash_password;
mod token;

pub use fleet::{fleet, haproxy_config, FleetArgs};
pub use hash_password::hash_password;
pub use token::token;

/// The subcommand `argv` (program name first) asks for: its very first argument only.
pub fn subcommand(argv: &[OsString]) -> Option<&'static str> {
    ["token", "hash-password", "fleet"].into_iter().find(|name| argv.get(1).is_some_and(|a| a == *name))
}

/// Runs the subcommand `argv` asks for, if any.
pub fn dispatch(argv: &[OsString]) -> Option<ExitCode> {
    match subcommand(argv)? {
        "token" => Some(token(&argv[1..])),
        "fleet" => Some(fleet(&argv[1..])),
        _ => Some(hash_password(argv[2..].iter().cloned())),
    }
}

/// clap's syntax errors, reduced to one line with the way out; `--help` and `--version`
/// print and succeed.
pub fn clap_exit(e: &clap::Error, help: &str) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.kind().as_str().map_or_else(|| e.to_string(), |_| e.render().to_string());
    let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
    fail(&format!("{first}; run `{help}` for the options"))
}

/// A one-line error on stderr and exit status 2, as every startup error.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("ringtty: {message}");
    ExitCode::from(2)
}
