//! `ringtty`: parse the command line, run the server, exit with its status.

use std::process::ExitCode;

use ringtty::config::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ringtty::log::install_panic_hook();
    // Subcommands that are not the server (src/cli_tools/).
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|first| first == "hash-password") {
        return ringtty::cli_tools::hash_password(args);
    }
    let config = match Config::parse_from(std::env::args_os()) {
        Ok(Ok(config)) => config,
        Ok(Err(e)) => return startup_error(&e.to_string()),
        Err(e) if e.use_stderr() => {
            // clap's syntax errors, reduced to one line with the way out.
            let text = e.kind().as_str().map_or_else(|| e.to_string(), |_| e.render().to_string());
            let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            return startup_error(&format!("{first}; run `ringtty --help` for the options"));
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match ringtty::runtime::run(config) {
        Ok(code) => code,
        Err(e) => startup_error(&e),
    }
}

fn startup_error(message: &str) -> ExitCode {
    eprintln!("ringtty: {message}");
    ExitCode::from(2)
}
