//! The token key (SPEC §2 `--auth-secret-file`): read the secret file, or make a random
//! key for this run. The rules are [`crate::auth::secret_from_file`]'s; this file only
//! does the IO.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

use super::ConfigError;
use crate::auth::{secret_from_file, Key, MAX_SECRET_FILE_LEN};

/// Reads `--auth-secret-file`. The permissions are those of the file actually opened
/// (`fstat`), not of whatever the path names a moment later.
pub fn load(path: &Path) -> Result<Key, ConfigError> {
    let shown = path.display();
    let open_err =
        |e: std::io::Error| ConfigError(format!("--auth-secret-file {shown}: cannot read it ({e})"));
    let file = std::fs::File::open(path).map_err(open_err)?;
    let mode = file.metadata().map_err(open_err)?.mode();
    let mut contents = Vec::new();
    // One byte past the limit, so a file that is too long is seen to be.
    file.take(MAX_SECRET_FILE_LEN as u64 + 1).read_to_end(&mut contents).map_err(open_err)?;
    secret_from_file(&contents, mode)
        .map(Key::new)
        .map_err(|refusal| ConfigError(refusal.message(&shown.to_string())))
}

/// A key for this run only: tokens minted with it stop working when the server stops.
pub fn random() -> Result<Key, ConfigError> {
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| ConfigError("cannot read random bytes from the kernel for the token key".into()))?;
    Ok(Key::new(&secret))
}

/// `--auth-secret-file` if given, else a random key.
pub fn key(path: Option<&Path>) -> Result<Key, ConfigError> {
    path.map_or_else(random, load)
}
