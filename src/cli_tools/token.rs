//! `ringtty token ...`: one HS256 token on stdout, signed with the server's
//! `--auth-secret-file` (the request is parsed and checked by `config::TokenRequest`).

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use crate::config::TokenRequest;

/// `argv` starts at `token` (clap's program name for the subcommand's help).
pub fn token(argv: &[OsString]) -> ExitCode {
    let mut request = match TokenRequest::parse_from(argv) {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => return super::fail(&e.to_string()),
        Err(e) => return super::clap_exit(&e, "ringtty token --help"),
    };
    if request.jti.is_none() {
        // A random id, so that an admin can revoke this token alone.
        use ring::rand::SecureRandom;
        let mut id = [0u8; 12];
        if ring::rand::SystemRandom::new().fill(&mut id).is_err() {
            return super::fail("no randomness for the token's id (jti)");
        }
        request.jti = Some(id.iter().map(|b| format!("{b:02x}")).collect());
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match writeln!(std::io::stdout(), "{}", request.mint(now)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&format!("cannot write the token to stdout ({e})")),
    }
}
