//! `ringtty token ...`: one HS256 token on stdout, signed with the server's
//! `--auth-secret-file` (the request is parsed and checked by `config::TokenRequest`).

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use crate::config::TokenRequest;

/// `argv` starts at `token` (clap's program name for the subcommand's help).
pub fn token(argv: &[OsString]) -> ExitCode {
    let request = match TokenRequest::parse_from(argv) {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => return super::fail(&e.to_string()),
        Err(e) => return super::clap_exit(&e, "ringtty token --help"),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match writeln!(std::io::stdout(), "{}", request.mint(now)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&format!("cannot write the token to stdout ({e})")),
    }
}
