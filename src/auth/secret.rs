//! The rules for `--auth-secret-file` (SPEC §2), applied to what the loader read: the
//! file's bytes and its permission bits. Reading the file is the caller's (config's)
//! job; this module does no IO, so every rule is a table test.

/// RFC 7518 §3.2: "A key of the same size as the hash output (for instance, 256 bits
/// for "HS256") or larger MUST be used with this algorithm."
pub const MIN_SECRET_LEN: usize = 32;

/// The largest secret file read: HMAC hashes longer keys down to 32 bytes anyway, so a
/// bigger file is a wrong file (a key pair, a log), not a better key.
pub const MAX_SECRET_FILE_LEN: usize = 4096;

/// Why a secret file is refused. [`message`](Self::message) is the startup error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretRefusal {
    /// Fewer than [`MIN_SECRET_LEN`] bytes once the trailing newline is removed.
    TooShort { len: usize },
    /// More than [`MAX_SECRET_FILE_LEN`] bytes.
    TooLong,
    /// Group or others may read or write it (`mode & 0o077 != 0`).
    Exposed { mode: u32 },
}

impl SecretRefusal {
    /// One line with the fix, naming the file as given on the command line.
    pub fn message(self, path: &str) -> String {
        let make = format!("(umask 077; head -c 48 /dev/urandom | base64 > {path})");
        match self {
            SecretRefusal::TooShort { len } => format!(
                "--auth-secret-file {path}: the secret has {len} bytes, fewer than {MIN_SECRET_LEN}; make a \
                 longer one with `{make}`"
            ),
            SecretRefusal::TooLong => format!(
                "--auth-secret-file {path}: more than {MAX_SECRET_FILE_LEN} bytes, not a secret file; make one \
                 with `{make}`"
            ),
            SecretRefusal::Exposed { mode } => format!(
                "--auth-secret-file {path}: group or others may read or write it (mode {:03o}); run \
                 `chmod 600 {path}`",
                mode & 0o777
            ),
        }
    }
}

/// The secret in a secret file's `contents`: everything but one trailing `\n` (or
/// `\r\n`), byte for byte, so `echo SECRET > FILE` and a JWT library given `SECRET`
/// agree. `mode` is the file's `st_mode`; the permissions are judged before the length,
/// so an exposed file is reported as exposed whatever it holds.
pub fn secret_from_file(contents: &[u8], mode: u32) -> Result<&[u8], SecretRefusal> {
    if mode & 0o077 != 0 {
        return Err(SecretRefusal::Exposed { mode });
    }
    if contents.len() > MAX_SECRET_FILE_LEN {
        return Err(SecretRefusal::TooLong);
    }
    let secret = contents.strip_suffix(b"\n").map_or(contents, |s| s.strip_suffix(b"\r").unwrap_or(s));
    if secret.len() < MIN_SECRET_LEN {
        return Err(SecretRefusal::TooShort { len: secret.len() });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S32: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_a_private_file_of_32_bytes_or_more() {
        let cases: &[(&[u8], u32, &[u8])] = &[
            (S32, 0o100600, S32),
            (S32, 0o100400, S32),
            (b"0123456789abcdef0123456789abcdef\n", 0o600, S32),
            (b"0123456789abcdef0123456789abcdef\r\n", 0o600, S32),
            // Only one newline goes: the rest is the key, byte for byte.
            (b"0123456789abcdef0123456789abcdef\n\n", 0o600, b"0123456789abcdef0123456789abcdef\n"),
            (b" 0123456789abcdef0123456789abcdef ", 0o700, b" 0123456789abcdef0123456789abcdef "),
        ];
        for &(contents, mode, want) in cases {
            assert_eq!(secret_from_file(contents, mode), Ok(want), "{contents:?} {mode:o}");
        }
        let max = vec![7u8; MAX_SECRET_FILE_LEN];
        assert_eq!(secret_from_file(&max, 0o600).map(<[u8]>::len), Ok(MAX_SECRET_FILE_LEN));
    }

    #[test]
    fn refuses_every_group_or_other_permission_bit() {
        for bit in 0..6 {
            let mode = 0o100600 | 1 << bit;
            assert_eq!(secret_from_file(S32, mode), Err(SecretRefusal::Exposed { mode }), "{mode:o}");
        }
    }

    #[test]
    fn refuses_short_and_oversized_secrets() {
        let short = &S32[..31];
        assert_eq!(secret_from_file(short, 0o600), Err(SecretRefusal::TooShort { len: 31 }));
        // The newline is not part of the key, so it does not count.
        assert_eq!(
            secret_from_file(b"0123456789abcdef0123456789abcde\n", 0o600),
            Err(SecretRefusal::TooShort { len: 31 })
        );
        assert_eq!(secret_from_file(b"", 0o600), Err(SecretRefusal::TooShort { len: 0 }));
        assert_eq!(secret_from_file(&vec![7u8; MAX_SECRET_FILE_LEN + 1], 0o600), Err(SecretRefusal::TooLong));
    }

    #[test]
    fn messages_are_one_line_with_the_fix() {
        for r in [
            SecretRefusal::TooShort { len: 3 },
            SecretRefusal::TooLong,
            SecretRefusal::Exposed { mode: 0o100644 },
        ] {
            let m = r.message("/etc/ringtty/key");
            assert!(!m.contains('\n'), "{m}");
            assert!(m.contains("/etc/ringtty/key"), "{m}");
        }
        assert!(SecretRefusal::Exposed { mode: 0o100644 }.message("k").contains("mode 644"));
    }
}
