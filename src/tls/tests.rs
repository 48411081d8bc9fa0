use super::*;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A CA and a server certificate it signed (for `localhost` and 127.0.0.1), written as
/// PEM files into a fresh directory; returns (dir, ca, cert, key).
fn pki() -> (tempdir::Dir, PathBuf, PathBuf, PathBuf) {
    let dir = tempdir::Dir::new();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (dir.path().join("ca.pem"), dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    (dir, paths.0, paths.1, paths.2)
}

mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "ringtty-tls-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn a_chain_and_its_key_load_with_alpn_and_both_versions() {
    let (_dir, _ca, cert, key) = pki();
    let tls = Tls::load(Files { cert, key, ca: None, user: CertName::Cn }).unwrap();
    let config = tls.config();
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    assert!(!tls.requires_client_certs());
    assert!(config.ticketer.enabled(), "resumption tickets are on");
}

#[test]
fn with_a_ca_client_certificates_are_required() {
    let (_dir, ca, cert, key) = pki();
    let tls = Tls::load(Files { cert, key, ca: Some(ca), user: CertName::Cn }).unwrap();
    assert!(tls.requires_client_certs());
}

#[test]
fn bad_files_are_one_line_errors_that_name_the_flag_and_the_file() {
    let (dir, _ca, cert, key) = pki();
    let missing = dir.path().join("missing.pem");
    let e = Tls::load(Files { cert: missing.clone(), key: key.clone(), ca: None, user: CertName::Cn })
        .unwrap_err();
    assert!(e.starts_with("-C/--ssl-cert ") && e.contains("missing.pem"), "{e}");
    // A certificate where the key should be.
    let e =
        Tls::load(Files { cert: cert.clone(), key: cert.clone(), ca: None, user: CertName::Cn }).unwrap_err();
    assert!(e.starts_with("-K/--ssl-key "), "{e}");
    // A key that is not the certificate's.
    let other = dir.path().join("other.pem");
    std::fs::write(&other, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let e = Tls::load(Files { cert: cert.clone(), key: other, ca: None, user: CertName::Cn }).unwrap_err();
    assert!(e.starts_with("-C/-K "), "{e}");
    let e = Tls::load(Files { cert, key, ca: Some(missing), user: CertName::Cn }).unwrap_err();
    assert!(e.starts_with("-A/--ssl-ca "), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn a_reload_takes_new_files_and_keeps_the_old_configuration_when_they_are_bad() {
    let (_dir, _ca, cert, key) = pki();
    let tls =
        Tls::load(Files { cert: cert.clone(), key: key.clone(), ca: None, user: CertName::Cn }).unwrap();
    let first = tls.config();
    let (_dir2, _ca2, cert2, key2) = pki();
    std::fs::copy(&cert2, &cert).unwrap();
    std::fs::copy(&key2, &key).unwrap();
    tls.reload().unwrap();
    let second = tls.config();
    assert!(!Arc::ptr_eq(&first, &second), "new handshakes get the new files");
    std::fs::write(&key, "not a key").unwrap();
    assert!(tls.reload().is_err());
    assert!(Arc::ptr_eq(&second, &tls.config()), "a bad file keeps what was in force");
}
