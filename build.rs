//! Builds the web UI (`web/`) and embeds it: with the `web` feature (on by default) this
//! runs `npm ci` when `web/node_modules` is missing or older than the lockfile, `npm run
//! build` into `OUT_DIR`, precompresses every file (gzip and brotli, by Node's own zlib
//! in `web/scripts/compress.mjs`), and writes `OUT_DIR/web_assets.rs`, the asset table
//! `src/web` includes. Nothing is written into the source tree except `node_modules`.
//! Without the feature it does nothing, so fuzz and bench builds need no Node.js.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::{env, fs};

const NEED_NODE: &str = "ringtty's web UI needs Node.js (>= 18) and npm: apt install nodejs npm, \
                         or build with --no-default-features";

fn main() -> ExitCode {
    println!("cargo::rerun-if-changed=build.rs");
    if env::var_os("CARGO_FEATURE_WEB").is_none() {
        return ExitCode::SUCCESS;
    }
    match build() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // `cargo::error` fails the build with just this line (cargo >= 1.84). A
            // non-zero exit would add cargo's dump of every line the script printed.
            println!("cargo::error={message}");
            ExitCode::SUCCESS
        }
    }
}

fn build() -> Result<(), String> {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?);
    let web = root.join("web");
    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    // Everything the bundle is built from. Directories are scanned whole by cargo.
    for input in [
        "src",
        "index.html",
        "sessions.html",
        "login.html",
        "play.html",
        "package.json",
        "package-lock.json",
        "tsconfig.json",
        "vite.config.ts",
        "scripts",
    ] {
        println!("cargo::rerun-if-changed=web/{input}");
    }
    check_node()?;
    if needs_install(&web) {
        run(npm(&web).args(["ci", "--no-audit", "--no-fund"]), "npm ci")?;
    }
    let dist = out.join("web-dist");
    run(npm(&web).args(["run", "build"]).env("RINGTTY_WEB_OUT", &dist), "npm run build")?;
    let manifest = out.join("web-manifest.tsv");
    run(
        Command::new("node").current_dir(&web).arg("scripts/compress.mjs").arg(&dist).arg(&manifest),
        "node scripts/compress.mjs",
    )?;
    let table = asset_table(&dist, &manifest)?;
    fs::write(out.join("web_assets.rs"), table).map_err(|e| format!("writing web_assets.rs: {e}"))
}

/// Node.js 18 or newer and npm, or the one line that says what to install.
fn check_node() -> Result<(), String> {
    let version = Command::new("node").arg("--version").output().map_err(|_| NEED_NODE)?;
    let major = String::from_utf8_lossy(&version.stdout)
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if !version.status.success() || major.is_none_or(|m| m < 18) {
        return Err(NEED_NODE.into());
    }
    match Command::new("npm").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(NEED_NODE.into()),
    }
}

/// `npm ci` is slow and needs the registry: run it only when the installed tree is
/// missing or older than the lockfile (npm writes `node_modules/.package-lock.json`).
fn needs_install(web: &Path) -> bool {
    let modified = |p: PathBuf| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(web.join("node_modules/.package-lock.json")), modified(web.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    }
}

fn npm(web: &Path) -> Command {
    let mut cmd = Command::new("npm");
    cmd.current_dir(web);
    cmd
}

/// Runs a step, keeping its output off cargo's stdout (which cargo parses); on failure
/// its output is shown and the error names the step.
fn run(cmd: &mut Command, what: &str) -> Result<Output, String> {
    let output = cmd.output().map_err(|e| format!("{what}: cannot run: {e}"))?;
    if !output.status.success() {
        eprintln!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        return Err(format!("building the web UI: `{what}` failed ({}); its output is above", output.status));
    }
    Ok(output)
}

/// The Rust asset table from the manifest `compress.mjs` wrote: one line per file,
/// `relative/path <TAB> content-hash <TAB> has-gzip <TAB> has-brotli`.
fn asset_table(dist: &Path, manifest: &Path) -> Result<String, String> {
    let text = fs::read_to_string(manifest).map_err(|e| format!("reading {}: {e}", manifest.display()))?;
    let mut table = String::from("pub(crate) static ASSETS: &[Asset] = &[\n");
    let mut uses_wasm = false;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [rel, hash, gz, br] = fields[..] else { return Err(format!("bad manifest line {line:?}")) };
        let file = dist.join(rel);
        let content_type = content_type(rel).ok_or_else(|| format!("web/: no content type for {rel}"))?;
        if rel.ends_with(".js") {
            let js = fs::read(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
            uses_wasm |= js.windows(12).any(|w| w == b"WebAssembly.");
        }
        let variant = |suffix: &str, tag: &str| {
            let path = format!("{}{suffix}", file.display());
            format!("Variant {{ body: include_bytes!({path:?}), etag: {:?} }}", format!("\"{hash}{tag}\""))
        };
        let optional = |present: &str, suffix: &str, tag: &str| match present {
            "1" => format!("Some({})", variant(suffix, tag)),
            _ => "None".to_owned(),
        };
        let _ = writeln!(
            table,
            "    Asset {{ path: {:?}, content_type: {content_type:?}, immutable: {}, html: {}, \
             identity: {}, gzip: {}, brotli: {} }},",
            url_path(rel),
            rel.starts_with("assets/"),
            rel.ends_with(".html"),
            variant("", ""),
            optional(gz, ".gz", "-gz"),
            optional(br, ".br", "-br"),
        );
    }
    table.push_str("];\n");
    let _ = writeln!(table, "const USES_WASM: bool = {uses_wasm};");
    Ok(table)
}

/// Pages are served without `.html`: `index.html` at `/`, `sessions.html` at `/sessions`,
/// `login.html` at `/login`.
/// Vite puts everything else, hashed, under `assets/`.
fn url_path(rel: &str) -> String {
    match rel {
        "index.html" => "/".to_owned(),
        _ => format!("/{}", rel.strip_suffix(".html").unwrap_or(rel)),
    }
}

fn content_type(rel: &str) -> Option<&'static str> {
    let ext = rel.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}
