//! The access options, parsed and checked: `-c`, `--credential-file`, `--allow-ip`,
//! `--trusted-proxy`, `--rate-limit`. The admission point (`auth::admit`), the login
//! and the workers' rate limits enforce them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{err, Args, ConfigError};
use crate::auth::{CidrList, Credentials, PlainCredential, RateLimit};

/// A credential file larger than this is not a list of users.
const CREDENTIAL_FILE_MAX: u64 = 1 << 20;

/// Who may connect and how they prove it.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `-c USER:PASS` (ttyd's HTTP basic auth).
    pub credential: Option<PlainCredential>,
    /// `--credential-file`: its users, read at startup (and reread on SIGHUP).
    pub credentials: Option<Credentials>,
    /// `--credential-file`'s path, for the rereads.
    pub credential_file: Option<std::path::PathBuf>,
    /// `--allow-ip`: peers outside it are refused before a byte is read.
    pub allow_ip: Option<CidrList>,
    /// `--trusted-proxy`: peers whose `X-Forwarded-For` and `-H` header are believed.
    pub trusted_proxies: Option<CidrList>,
    /// `--rate-limit`: requests per client.
    pub rate_limit: Option<RateLimit>,
}

/// Parses the access options; every error is one line naming the option and the fix.
pub fn access(a: &Args) -> Result<Access, ConfigError> {
    let credential = match &a.credential {
        None => None,
        Some(spec) => Some(PlainCredential::parse(spec).or_else(|e| err(format!("-c: {}", e.message())))?),
    };
    Ok(Access {
        credential,
        credentials: a.credential_file.as_deref().map(credential_file).transpose()?,
        credential_file: a.credential_file.clone(),
        allow_ip: a.allow_ip.as_deref().map(|l| cidrs("--allow-ip", l)).transpose()?,
        trusted_proxies: a.trusted_proxy.as_deref().map(|l| cidrs("--trusted-proxy", l)).transpose()?,
        rate_limit: a
            .rate_limit
            .as_deref()
            .map(|r| RateLimit::parse(r).or_else(|e| err(format!("--rate-limit {r}: {}", e.message()))))
            .transpose()?,
    })
}

pub(super) fn cidrs(flag: &str, list: &str) -> Result<CidrList, ConfigError> {
    CidrList::parse(list).or_else(|e| err(format!("{flag}: {e}")))
}

/// Reads and parses a credential file. Refused when others may read it (the hashes
/// could be cracked offline) or anyone but its owner may write it (they could add a
/// user).
pub fn credential_file(path: &Path) -> Result<Credentials, ConfigError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).or_else(|e| err(format!("--credential-file {shown}: {e}")))?;
    if !meta.is_file() || meta.len() > CREDENTIAL_FILE_MAX {
        return err(format!("--credential-file {shown}: give a regular file of at most 1 MiB"));
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return err(format!(
            "--credential-file {shown}: writable by group or others, who could add a user; chmod 600 it"
        ));
    }
    if mode & 0o004 != 0 {
        return err(format!(
            "--credential-file {shown}: readable by others, who could crack the hashes offline; chmod 600 it"
        ));
    }
    let text = std::fs::read_to_string(path)
        .or_else(|e| err(format!("--credential-file {shown}: cannot read it as UTF-8 text ({e})")))?;
    Credentials::parse(&text).or_else(|e| err(format!("--credential-file {shown}: {e}")))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn access_of(args: &[&str]) -> Result<Access, ConfigError> {
        access(&Args::try_parse_from(std::iter::once("ringtty").chain(args.iter().copied())).unwrap())
    }

    const LINE: &str =
        "alice:$pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0ODw$5RUHDgNTp9sBOWGYS4e6u57cz_Sq3_TQgaDP_8MW6L8\n";

    /// A file in its own directory under the temporary directory, with `mode`.
    fn file(name: &str, text: &str, mode: u32) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ringtty-access-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn good_options_parse() {
        let users = file("good", &format!("# users\n{LINE}"), 0o600);
        let a = access_of(&[
            "-c",
            "admin:pw",
            "--credential-file",
            users.to_str().unwrap(),
            "--allow-ip",
            "10.0.0.0/8,::1",
            "--trusted-proxy",
            "127.0.0.1",
            "--rate-limit",
            "600/m",
        ])
        .unwrap();
        assert!(a.credential.unwrap().verify("admin", b"pw"));
        assert!(a.credentials.unwrap().verify("alice", b"correct horse"));
        assert!(a.allow_ip.unwrap().contains("10.1.2.3".parse().unwrap()));
        assert!(a.trusted_proxies.unwrap().contains("127.0.0.1".parse().unwrap()));
        assert_eq!(a.rate_limit, RateLimit::parse("600/m").ok());
        let none = access_of(&[]).unwrap();
        assert!(none.credential.is_none() && none.credentials.is_none() && none.allow_ip.is_none());
        // Group-readable is fine (a group of operators); 0o640.
        let group = file("group", LINE, 0o640);
        assert!(access_of(&["--credential-file", group.to_str().unwrap()]).is_ok());
        for path in [users, group] {
            let _ = std::fs::remove_dir_all(path.parent().unwrap());
        }
    }

    #[test]
    fn bad_options_are_one_line_naming_the_option_and_the_entry() {
        let bad_line = file("badline", &format!("{LINE}\n# c\nbob:plain\n"), 0o600);
        let world = file("world", LINE, 0o644);
        let writable = file("writable", LINE, 0o620);
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["-c", "admin"], "-c: give USER:PASSWORD"),
            (vec!["-c", "a b:pw"], "-c: a user name"),
            (vec!["--credential-file", bad_line.to_str().unwrap()], "line 4: expected user:$pbkdf2-sha256$"),
            (vec!["--credential-file", world.to_str().unwrap()], "readable by others"),
            (vec!["--credential-file", writable.to_str().unwrap()], "writable by group or others"),
            (vec!["--credential-file", "/nonexistent/users"], "--credential-file /nonexistent/users: "),
            (vec!["--credential-file", "/"], "regular file"),
            (
                vec!["--allow-ip", "10.0.0.0/8,10.0.0.1/8"],
                "--allow-ip: \"10.0.0.1/8\": the address has bits set",
            ),
            (vec!["--trusted-proxy", "proxy.local"], "--trusted-proxy: \"proxy.local\": not an IPv4"),
            (vec!["--allow-ip", ""], "empty entry"),
            (vec!["--rate-limit", "10/fortnight"], "--rate-limit 10/fortnight: PERIOD is"),
        ];
        for (args, needle) in cases {
            let e = access_of(&args).expect_err(&format!("{args:?}"));
            assert!(e.0.contains(needle), "{args:?}: {e}");
            assert!(!e.0.contains('\n'), "{e}");
            assert!(!e.0.contains("plain"), "no line content is quoted: {e}");
        }
        for path in [bad_line, world, writable] {
            let _ = std::fs::remove_dir_all(path.parent().unwrap());
        }
    }

    #[test]
    fn every_access_option_reaches_the_configuration() {
        let users = file("enforced", LINE, 0o600);
        let argv = ["ringtty", "-c", "admin:pw", "-H", "X-User", "--trusted-proxy", "127.0.0.1"];
        let argv = argv.iter().copied().chain([
            "--credential-file",
            users.to_str().unwrap(),
            "--rate-limit",
            "10/s",
        ]);
        let c = super::super::Config::parse_from(argv).unwrap().unwrap();
        let auth = c.admission.auth.as_ref().unwrap();
        assert!(auth.basic.is_some() && auth.header.is_some() && auth.trusted_proxies.is_some());
        assert!(
            c.access.credentials.is_some() && c.access.credential_file.as_deref() == Some(users.as_path())
        );
        assert_eq!(c.access.rate_limit, RateLimit::parse("10/s").ok());
        let _ = std::fs::remove_dir_all(users.parent().unwrap());
    }

    #[test]
    fn allow_ip_is_enforced_for_tcp_and_refused_for_a_unix_socket() {
        let parse = |args: &[&str]| {
            super::super::Config::parse_from(std::iter::once("ringtty").chain(args.iter().copied())).unwrap()
        };
        let c = parse(&["--allow-ip", "127.0.0.1,10.0.0.0/8"]).unwrap();
        assert!(c.allow_ip.unwrap().contains("10.9.8.7".parse().unwrap()));
        let e = parse(&["--allow-ip", "127.0.0.1", "-i", "/tmp/x.sock"]).unwrap_err();
        assert!(e.0.contains("--allow-ip") && e.0.contains("unix"), "{e}");
        assert!(parse(&["--allow-ip", "10.0.0.1/8"]).unwrap_err().0.contains("--allow-ip"));
    }
}
