//! The token the harness presents to a server with authentication on (issue 12): from
//! `--token`, `--token-file` or a `?token=` in `--url` (the server's printed `Login:`
//! URL pasted as it is), and the base URL without its query. It goes out as
//! `Authorization: Bearer` on every request and upgrade, and as ttyd's `AuthToken`.
//! Also the one flag that says the server answered 401, which ends the run.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Larger than any token a server mints (ringtty refuses tokens over a few KiB).
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// The message for a 401 when no token was given.
pub const WANTS_TOKEN: &str = "the server wants a token: pass --token-file FILE or the Login URL as --url";
/// The message for a 401 when a token was given.
pub const REFUSED_TOKEN: &str =
    "the server refused the token: expired, minted with another key, or read-only or for one session?";

/// The base URL (no query, no fragment) and the token, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    pub url: String,
    pub token: Option<String>,
}

/// Takes the token from exactly one of `--token`, `--token-file` or the URL's query.
/// Errors are one line, naming the option.
pub fn resolve(url: &str, token: Option<&str>, file: Option<&Path>) -> Result<Resolved, String> {
    let (base, from_url) = split_url(url)?;
    let given = match (token, file) {
        (Some(_), Some(_)) => return Err("--token and --token-file: give one of them, not both".into()),
        (Some(t), None) => Some(check(t.trim()).map_err(|e| format!("--token: {e}"))?),
        (None, Some(f)) => Some(read_file(f)?),
        (None, None) => None,
    };
    let token = match (given, from_url) {
        (Some(_), Some(_)) => {
            return Err("--url carries ?token= and --token/--token-file gives one too: give it once".into())
        }
        (given, from_url) => given.or(from_url),
    };
    Ok(Resolved { url: base.to_string(), token })
}

/// `http://HOST:PORT/?s=ID&token=JWT#x` -> (`http://HOST:PORT/`, Some(JWT)).
fn split_url(url: &str) -> Result<(&str, Option<String>), String> {
    let (rest, _fragment) = url.split_once('#').unwrap_or((url, ""));
    let Some((base, query)) = rest.split_once('?') else {
        return Ok((rest, None));
    };
    let mut token = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "token" {
            continue;
        }
        if token.is_some() {
            return Err("--url: ?token= appears twice".into());
        }
        let value = percent_decode(value).ok_or("--url: ?token= is not valid percent-encoding")?;
        token = Some(check(&value).map_err(|e| format!("--url: ?token=: {e}"))?);
    }
    Ok((base, token))
}

/// The file holds the token; whitespace around it (a trailing newline) is not part of it.
fn read_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TOKEN_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("--token-file {shown}: cannot read it ({e})"))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE {
        return Err(format!("--token-file {shown}: larger than {MAX_TOKEN_FILE} bytes, not a token"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("--token-file {shown}: not text"))?;
    check(text.trim()).map_err(|e| format!("--token-file {shown}: {e}"))
}

/// A token goes into a header line and a JSON string: visible ASCII only, so that no
/// byte of it can end the header or start another.
fn check(token: &str) -> Result<String, String> {
    if token.is_empty() {
        return Err("empty (no token in it)".into());
    }
    if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("holds {c:?}, which no token has (one token, nothing else)"));
    }
    Ok(token.to_string())
}

/// `%XX` -> byte (RFC 3986 §2.1), `+` kept as it is (a JWT never holds one).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

static REFUSED: AtomicBool = AtomicBool::new(false);
static REFUSAL: Notify = Notify::const_new();

/// Called wherever the server answers 401 (a request, an upgrade).
pub fn note_refusal() {
    REFUSED.store(true, Ordering::Relaxed);
    // Stores a permit if nobody waits yet: `until_refused` returns at once then.
    REFUSAL.notify_one();
}

/// Whether the server has answered 401 since the start.
pub fn refused() -> bool {
    REFUSED.load(Ordering::Relaxed)
}

/// Returns once the server has answered 401 (no polling: the run's other timers are
/// what it measures).
pub async fn until_refused() {
    while !refused() {
        REFUSAL.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvd25lciJ9.c2ln";

    /// A file of its own per test (tests run in parallel), removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> TempFile {
            let path = std::env::temp_dir().join(format!("ringtty-bench-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn ok(url: &str, token: Option<&str>, file: Option<&Path>) -> Resolved {
        resolve(url, token, file).unwrap_or_else(|e| panic!("{url} {token:?} {file:?}: {e}"))
    }

    fn err(url: &str, token: Option<&str>, file: Option<&Path>) -> String {
        let e = resolve(url, token, file).expect_err(url);
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    #[test]
    fn no_token_anywhere_sends_none() {
        let r = ok("http://127.0.0.1:7681", None, None);
        assert_eq!(r, Resolved { url: "http://127.0.0.1:7681".into(), token: None });
        // A query without a token is dropped all the same: the base URL has none.
        assert_eq!(ok("http://127.0.0.1:7681/?s=abc", None, None).url, "http://127.0.0.1:7681/");
    }

    #[test]
    fn token_from_the_url_among_other_parameters() {
        for (url, base) in [
            (format!("http://127.0.0.1:7681/?token={JWT}"), "http://127.0.0.1:7681/"),
            (format!("http://127.0.0.1:7681/?s=1a2b&token={JWT}"), "http://127.0.0.1:7681/"),
            (format!("http://127.0.0.1:7681/?token={JWT}&s=1a2b"), "http://127.0.0.1:7681/"),
            (format!("http://127.0.0.1:7681?a=1&token={JWT}&b=&c#frag"), "http://127.0.0.1:7681"),
            (format!("http://h:1/?tokens=x&xtoken=y&token={JWT}"), "http://h:1/"),
        ] {
            assert_eq!(ok(&url, None, None), Resolved { url: base.into(), token: Some(JWT.into()) }, "{url}");
        }
        // Percent-encoded as a browser might copy it.
        let r = ok("http://h:1/?token=a.b%2Dc.d", None, None);
        assert_eq!(r.token.as_deref(), Some("a.b-c.d"));
    }

    #[test]
    fn bad_tokens_in_the_url_are_refused() {
        for url in
            ["http://h:1/?token=", "http://h:1/?token", "http://h:1/?token=a%2", "http://h:1/?token=a%20b"]
        {
            assert!(err(url, None, None).starts_with("--url: ?token="), "{url}");
        }
        assert!(err("http://h:1/?token=a&token=b", None, None).contains("twice"));
    }

    #[test]
    fn token_file_is_trimmed() {
        for (name, contents) in [
            ("plain", JWT.to_string()),
            ("newline", format!("{JWT}\n")),
            ("crlf", format!("{JWT}\r\n")),
            ("around", format!("  \n\t{JWT} \n\n")),
        ] {
            let f = TempFile::new(name, contents.as_bytes());
            let r = ok("http://127.0.0.1:7681", None, Some(&f.0));
            assert_eq!(r.token.as_deref(), Some(JWT), "{name}");
        }
    }

    #[test]
    fn unusable_token_files_say_why_in_one_line() {
        let missing = std::env::temp_dir().join("ringtty-bench-no-such-token-file");
        assert!(err("http://h:1", None, Some(&missing)).contains("cannot read it"));
        for (name, contents, why) in [
            ("empty", &b""[..], "empty"),
            ("blank", &b" \n\n"[..], "empty"),
            ("two", &b"a.b.c\nd.e.f\n"[..], "holds"),
            ("binary", &b"\xff\xfe"[..], "not text"),
        ] {
            let f = TempFile::new(name, contents);
            let e = err("http://h:1", None, Some(&f.0));
            assert!(e.starts_with("--token-file ") && e.contains(why), "{name}: {e}");
        }
        let big = TempFile::new("big", &vec![b'a'; MAX_TOKEN_FILE as usize + 1]);
        assert!(err("http://h:1", None, Some(&big.0)).contains("larger than"));
    }

    #[test]
    fn one_source_only() {
        let f = TempFile::new("both", JWT.as_bytes());
        assert!(err("http://h:1", Some(JWT), Some(&f.0)).contains("not both"));
        let url = format!("http://h:1/?token={JWT}");
        assert!(err(&url, Some(JWT), None).contains("give it once"));
        assert!(err(&url, None, Some(&f.0)).contains("give it once"));
        assert_eq!(ok("http://h:1", Some(JWT), None).token.as_deref(), Some(JWT));
        assert!(err("http://h:1", Some(""), None).starts_with("--token: empty"));
    }
}
