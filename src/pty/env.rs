//! The child's environment, as a pure function of the server's (SPEC §7): the server's
//! variables minus ringtty's own settings and secrets, plus `TERM`, `COLORTERM`, a UTF-8
//! locale when none is set, and whatever the caller adds on purpose.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// Every variable with this prefix is ringtty's (settings, secrets): never inherited.
const OWN_PREFIX: &[u8] = b"RINGTTY_";

/// systemd's per-process protocols address the server's pid: a child that inherited
/// them would answer for the server (`sd_notify`) or adopt its listeners (`LISTEN_FDS`).
const SERVER_ONLY: &[&str] =
    &["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"];

/// Any of these, set and non-empty, chooses the character set; else `LANG=C.UTF-8`.
/// (POSIX treats an empty locale variable as unset.)
const LOCALE_VARS: &[&str] = &["LC_ALL", "LC_CTYPE", "LANG"];

/// How to derive a child's environment from the server's.
#[derive(Debug, Clone, Copy)]
pub struct EnvRules<'a> {
    /// `TERM` for the child (`-T`, default `xterm-256color`).
    pub term: &'a str,
    /// Names removed besides `RINGTTY_*` (e.g. a variable that carried a secret).
    pub remove: &'a [&'a str],
    /// Added last; they win over every other rule, the `RINGTTY_` removal included,
    /// because the caller adds them deliberately (`RINGTTY_USER`/`TTYD_USER` from an
    /// auth proxy, a session's `env` from the API).
    pub extra: &'a [(OsString, OsString)],
}

/// The child's complete environment, sorted by name (deterministic, one entry a name;
/// for a repeated name in `parent` the last one counts).
pub fn child_env<I, K, V>(parent: I, rules: &EnvRules<'_>) -> Vec<(OsString, OsString)>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<OsString>,
    V: Into<OsString>,
{
    let mut env: BTreeMap<OsString, OsString> = parent
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| inheritable(k, rules.remove))
        .collect();
    env.insert("TERM".into(), rules.term.into());
    env.insert("COLORTERM".into(), "truecolor".into());
    for (k, v) in rules.extra {
        env.insert(k.clone(), v.clone());
    }
    let has_locale = LOCALE_VARS.iter().any(|name| env.get(OsStr::new(name)).is_some_and(|v| !v.is_empty()));
    if !has_locale {
        env.insert("LANG".into(), "C.UTF-8".into());
    }
    env.into_iter().collect()
}

fn inheritable(name: &OsStr, remove: &[&str]) -> bool {
    let bytes = name.as_encoded_bytes();
    !bytes.starts_with(OWN_PREFIX) && !SERVER_ONLY.iter().chain(remove).any(|r| r.as_bytes() == bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(parent: &[(&str, &str)], rules: &EnvRules<'_>) -> Vec<(String, String)> {
        child_env(parent.iter().copied(), rules)
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect()
    }

    fn value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    const PLAIN: EnvRules<'static> = EnvRules { term: "xterm-256color", remove: &[], extra: &[] };

    #[test]
    fn own_settings_and_secrets_are_removed() {
        let parent = [
            ("PATH", "/usr/bin"),
            ("RINGTTY_SECRET", "s3cret"),
            ("RINGTTY_", "x"),
            ("RINGTTY_FAULT_INJECTION", "1"),
            ("ringtty_lower", "kept: names are case-sensitive"),
            ("XRINGTTY_NOT_PREFIX", "kept"),
            ("API_KEY", "listed by the caller"),
            ("LISTEN_FDS", "3"),
            ("NOTIFY_SOCKET", "/run/systemd/notify"),
        ];
        let got = env(&parent, &EnvRules { remove: &["API_KEY"], ..PLAIN });
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["COLORTERM", "LANG", "PATH", "TERM", "XRINGTTY_NOT_PREFIX", "ringtty_lower"]);
    }

    #[test]
    fn term_and_colorterm_are_set_over_the_parents() {
        let got = env(&[("TERM", "dumb"), ("COLORTERM", "no")], &EnvRules { term: "xterm", ..PLAIN });
        assert_eq!(value(&got, "TERM"), Some("xterm"));
        assert_eq!(value(&got, "COLORTERM"), Some("truecolor"));
    }

    #[test]
    fn lang_is_added_only_without_a_locale() {
        // (the parent's variables, the child's LANG)
        type Case = (&'static [(&'static str, &'static str)], Option<&'static str>);
        let table: &[Case] = &[
            (&[], Some("C.UTF-8")),
            (&[("LANG", "de_DE.UTF-8")], Some("de_DE.UTF-8")),
            (&[("LC_ALL", "fr_FR.UTF-8")], None),
            (&[("LC_CTYPE", "ja_JP.UTF-8")], None),
            (&[("LANG", "")], Some("C.UTF-8")),
            (&[("LC_ALL", ""), ("LC_CTYPE", "")], Some("C.UTF-8")),
            (&[("LC_MESSAGES", "C")], Some("C.UTF-8")),
        ];
        for (parent, lang) in table {
            let got = env(parent, &PLAIN);
            assert_eq!(value(&got, "LANG"), *lang, "parent {parent:?}");
        }
    }

    #[test]
    fn extras_win_over_every_rule() {
        let extra = [
            ("RINGTTY_USER".into(), "alice".into()),
            ("TTYD_USER".into(), "alice".into()),
            ("TERM".into(), "vt100".into()),
            ("LC_ALL".into(), "C".into()),
            ("API_KEY".into(), "given on purpose".into()),
        ];
        let rules = EnvRules { remove: &["API_KEY"], extra: &extra, ..PLAIN };
        let got = env(&[("RINGTTY_USER", "from the server's env"), ("API_KEY", "secret")], &rules);
        assert_eq!(value(&got, "RINGTTY_USER"), Some("alice"));
        assert_eq!(value(&got, "TTYD_USER"), Some("alice"));
        assert_eq!(value(&got, "TERM"), Some("vt100"));
        assert_eq!(value(&got, "API_KEY"), Some("given on purpose"));
        assert_eq!(value(&got, "LANG"), None, "an extra LC_ALL is a locale");
    }

    #[test]
    fn repeated_names_keep_the_last_and_non_utf8_survives() {
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(b"caf\xe9".to_vec());
        let parent = vec![
            (OsString::from("A"), OsString::from("1")),
            ("A".into(), "2".into()),
            ("B".into(), odd.clone()),
        ];
        let got = child_env(parent, &PLAIN);
        assert!(got.contains(&("A".into(), "2".into())));
        assert!(got.contains(&("B".into(), odd)));
        assert_eq!(got.iter().filter(|(k, _)| k == "A").count(), 1);
    }
}
