//! The user a client certificate names (`-A`, `--ssl-user`): the DER reader of the
//! subject's common name never panics or reads past its input on any bytes, whatever
//! `user_of` answers is a usable name (non-empty, bounded, no control characters), and
//! a name found in a prefix of the input is never longer than the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::tls::identity::{common_name, user_of, CertName, MAX_USER};

fuzz_target!(|data: &[u8]| {
    if let Some(cn) = common_name(data) {
        assert!(cn.len() <= data.len());
    }
    for from in [CertName::Cn, CertName::Dns, CertName::Uri] {
        if let Some(user) = user_of(data, from) {
            assert!(!user.is_empty() && user.len() <= MAX_USER);
            assert!(!user.chars().any(char::is_control));
        }
    }
});
