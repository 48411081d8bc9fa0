//! A leveled log to stderr: one line per startup step and per error, never one per frame.
//!
//! `-d/--debug` takes a level name or ttyd's libwebsockets bitmask (1 err, 2 warn,
//! 4 notice, 8 info, 16+ debug; ttyd's default 7 means "notice"), so a ttyd command
//! line keeps working.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    /// Parses `error|warn|info|debug` or a ttyd/libwebsockets bitmask.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "error" => return Some(Level::Error),
            "warn" | "warning" => return Some(Level::Warn),
            "info" | "notice" => return Some(Level::Info),
            "debug" => return Some(Level::Debug),
            _ => {}
        }
        let mask: u32 = s.parse().ok()?;
        Some(match mask {
            0..=1 => Level::Error,
            2..=3 => Level::Warn,
            4..=15 => Level::Info,
            _ => Level::Debug,
        })
    }

    fn tag(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line; use the macros instead.
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let date = crate::http::HttpDate::from_unix(secs);
    let d = date.as_bytes();
    // "HH:MM:SS.mmm" from the Date value; the day is not worth a line's width.
    let hms = std::str::from_utf8(&d[17..25]).unwrap_or("");
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("-");
    let line = format!("{hms}.{:03} {:5} [{name}] {args}\n", now.subsec_millis(), level.tag());
    // One write per line so lines from different workers do not interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[macro_export]
macro_rules! log_at {
    ($lvl:expr, $($arg:tt)+) => {
        if $crate::log::enabled($lvl) {
            $crate::log::write($lvl, format_args!($($arg)+));
        }
    };
}
#[macro_export]
macro_rules! error { ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Error, $($arg)+) }; }
#[macro_export]
macro_rules! warn { ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Warn, $($arg)+) }; }
#[macro_export]
macro_rules! info { ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Info, $($arg)+) }; }
#[macro_export]
macro_rules! debug { ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Debug, $($arg)+) }; }

/// Logs panics as one line (thread, message, location); with `RUST_BACKTRACE` set, the
/// standard report with its backtrace follows.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(non-string payload)");
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        write(Level::Error, format_args!("panic: {msg}{at}"));
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            default(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn levels_parse_names_and_ttyd_masks() {
        let table = [
            ("error", Some(Level::Error)),
            ("WARN", Some(Level::Warn)),
            ("info", Some(Level::Info)),
            ("debug", Some(Level::Debug)),
            ("1", Some(Level::Error)),
            ("3", Some(Level::Warn)),
            ("7", Some(Level::Info)),
            ("31", Some(Level::Debug)),
            ("loud", None),
            ("-1", None),
        ];
        for (s, want) in table {
            assert_eq!(Level::parse(s), want, "{s}");
        }
    }
}
