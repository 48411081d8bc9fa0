//! `ringtty`: parse the command line, run the server, exit with its status. `ringtty
//! token ...`, `ringtty hash-password ...` and `ringtty fleet ...` (the first argument
//! only) are tools instead (src/cli_tools/).

use std::process::ExitCode;

use ringtty::cli_tools::{clap_exit, fail};
use ringtty::config::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ringtty::log::install_panic_hook();
    let argv: Vec<_> = std::env::args_os().collect();
    if let Some(code) = ringtty::cli_tools::dispatch(&argv) {
        return code;
    }
    let config = match Config::parse_from(argv) {
        Ok(Ok(config)) => config,
        Ok(Err(e)) => return fail(&e.to_string()),
        Err(e) => return clap_exit(&e, "ringtty --help"),
    };
    match ringtty::runtime::run(config) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}
