//! `ringtty`: parse the command line, run the server, exit with its status. `ringtty
//! token ...` and `ringtty hash-password ...` (the first argument only) are tools
//! instead.

use std::io::Write;
use std::process::ExitCode;

use ringtty::config::{Config, TokenRequest};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ringtty::log::install_panic_hook();
    let argv: Vec<_> = std::env::args_os().collect();
    // Subcommands, recognised as the very first argument only (`ringtty -- token` runs
    // a program named token): `token` mints a token, `hash-password` (src/cli_tools/)
    // writes a credential-file line.
    if ringtty::config::is_token_command(&argv) {
        return token(&argv[1..]);
    }
    if argv.get(1).is_some_and(|first| first == "hash-password") {
        return ringtty::cli_tools::hash_password(argv.into_iter().skip(2));
    }
    let config = match Config::parse_from(argv) {
        Ok(Ok(config)) => config,
        Ok(Err(e)) => return startup_error(&e.to_string()),
        Err(e) => return clap_exit(&e, "ringtty --help"),
    };
    match ringtty::runtime::run(config) {
        Ok(code) => code,
        Err(e) => startup_error(&e),
    }
}

/// `ringtty token ...`: one token on stdout, one line.
fn token(argv: &[std::ffi::OsString]) -> ExitCode {
    let request = match TokenRequest::parse_from(argv) {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => return startup_error(&e.to_string()),
        Err(e) => return clap_exit(&e, "ringtty token --help"),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match writeln!(std::io::stdout(), "{}", request.mint(now)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => startup_error(&format!("cannot write the token to stdout ({e})")),
    }
}

/// clap's syntax errors, reduced to one line with the way out; `--help` and `--version`
/// print and succeed.
fn clap_exit(e: &clap::Error, help: &str) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.kind().as_str().map_or_else(|| e.to_string(), |_| e.render().to_string());
    let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
    startup_error(&format!("{first}; run `{help}` for the options"))
}

fn startup_error(message: &str) -> ExitCode {
    eprintln!("ringtty: {message}");
    ExitCode::from(2)
}
