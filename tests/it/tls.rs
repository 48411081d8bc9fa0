//! TLS (`-S -C -K -A`) over real sockets, with rustls as the independent client:
//! HTTPS and WSS through the real binary, cross-core hand-off with the session, client
//! certificates, reload on SIGHUP with a client connected, and the handshake deadline.
//! Every certificate is generated here; no private key is committed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tungstenite::Message;

use crate::common::*;

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A CA in a directory of its own, which signs certificates into PEM files there.
struct Ca {
    dir: PathBuf,
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let dir = std::env::temp_dir().join(format!("ringtty-it-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("ringtty test CA {name}"));
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        Ca { dir, cert: cert.der().clone(), issuer: Issuer::new(params, key) }
    }

    fn ca_file(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }

    /// Signs a certificate for `names` (SANs) with common name `cn`, valid from
    /// `years.0` to `years.1`; writes NAME.pem and NAME.key. Returns the DER chain and key.
    fn sign(
        &self,
        file: &str,
        cn: &str,
        names: &[&str],
        years: (i32, i32),
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = date_time_ymd(years.0, 1, 1);
        params.not_after = date_time_ymd(years.1, 1, 1);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(self.dir.join(format!("{file}.pem")), cert.pem()).unwrap();
        std::fs::write(self.dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
        (vec![cert.der().clone()], PrivateKeyDer::try_from(key.serialize_der()).unwrap())
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// Signs a server certificate for localhost and 127.0.0.1 into `file`.
    fn server_cert(&self, file: &str) {
        self.sign(file, "localhost", &["localhost", "127.0.0.1"], (2020, 4000));
    }
}

impl Drop for Ca {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)] // the design's provider; see src/tls/mod.rs
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client that trusts `ca`, optionally presenting a client certificate.
fn client_config(
    ca: &Ca,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client_cert {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TLS connection to `server`, handshake done (or its error).
fn connect_tls(server: &Server, config: &Arc<ClientConfig>) -> std::io::Result<Tls> {
    let conn = ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = StreamOwned::new(conn, server.connect());
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

fn tls_server(ca: &Ca, extra: &[&str]) -> Server {
    ca.server_cert("server");
    let (cert, key) = (ca.path("server.pem"), ca.path("server.key"));
    let mut args =
        vec!["-S", "-C", &cert, "-K", &key, "--threads", "2", "-W", "--allow-any-command", "-P", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn https_get(tls: &mut Tls, server: &Server, path: &str) -> Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n", server.auth());
    tls.write_all(req.as_bytes()).unwrap();
    read_response(tls, false).expect("a response")
}

#[test]
fn https_serves_the_api_with_secure_cookies_and_refuses_plain_http() {
    let ca = Ca::new("https");
    let server = tls_server(&ca, &[]);
    let config = client_config(&ca, None);
    let mut tls = connect_tls(&server, &config).unwrap();
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(tls.conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    let r = https_get(&mut tls, &server, "/api/sessions");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Keep-alive over the same session.
    assert_eq!(https_get(&mut tls, &server, "/api/sessions").status, 200);
    // A second connection resumes the session with the ticket the first one got (the
    // client keeps it once it has read the server's tickets, which came with the replies).
    let mut again = connect_tls(&server, &config).unwrap();
    assert_eq!(again.conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed));
    assert_eq!(https_get(&mut again, &server, "/api/sessions").status, 200);
    // The login link sets a cookie that only travels over TLS. (No HSTS on a loopback
    // listener: it would hold for every port of localhost.)
    let token = server.token.clone().unwrap();
    let req = format!("GET /?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    tls.write_all(req.as_bytes()).unwrap();
    let r = read_response(&mut tls, false).unwrap();
    let cookie = r.header("set-cookie").expect("a cookie");
    assert!(cookie.contains("; Secure;") && cookie.contains("HttpOnly"), "{cookie}");
    assert_eq!(r.header("strict-transport-security"), None);

    // Plain HTTP to the TLS port: an alert, no answer in plaintext, and the server goes on.
    let mut plain = server.connect();
    plain.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/"), "no plaintext answer");
    assert_eq!(got.first(), Some(&21), "a TLS alert record");
    assert_eq!(https_get(&mut connect_tls(&server, &config).unwrap(), &server, "/api/sessions").status, 200);
}

/// WSS: sessions created over HTTPS on both cores, attached over TLS (half of them
/// through a hand-off to the other core, which takes the TLS session along), typed
/// into and echoed.
#[test]
fn wss_sessions_echo_on_both_cores() {
    let ca = Ca::new("wss");
    let server = tls_server(&ca, &[]);
    let config = client_config(&ca, None);
    for i in 0..6 {
        let mut tls = connect_tls(&server, &config).unwrap();
        let body = r#"{"command":["sh","-c","stty raw -echo; printf R; exec cat"],"cols":80,"rows":24}"#;
        let req = format!(
            "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            server.auth(),
            body.len()
        );
        tls.write_all(req.as_bytes()).unwrap();
        let r = read_response(&mut tls, false).unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json()["id"].as_str().unwrap().to_owned();

        let stream = connect_tls(&server, &config).unwrap();
        let mut req = server.ws_request(&format!("/api/sessions/{id}/ws"));
        *req.uri_mut() = format!("wss://{}/api/sessions/{id}/ws", server.addr).parse().unwrap();
        let (mut ws, resp) = tungstenite::client(req, stream).expect("a WSS handshake");
        assert_eq!(resp.status(), 101);
        let mut out = Vec::new();
        let until = Instant::now() + DEADLINE;
        let word = format!("hello-{i}");
        let mut sent = false;
        while !String::from_utf8_lossy(&out).contains(&word) {
            assert!(Instant::now() < until, "no echo; got {:?}", String::from_utf8_lossy(&out));
            if let Message::Binary(b) = ws.read().unwrap() {
                out.extend_from_slice(&b);
            }
            if !sent && out.starts_with(b"R") {
                ws.send(Message::binary(word.clone().into_bytes())).unwrap();
                sent = true;
            }
        }
        ws.close(None).unwrap();
    }
}

#[test]
fn client_certificates_are_required_and_verified_with_a_ca() {
    let ca = Ca::new("mtls");
    let other = Ca::new("mtls-other");
    let ca_file = ca.ca_file();
    let server = tls_server(&ca, &["-A", &ca_file]);
    let refused = |config: Arc<ClientConfig>| match connect_tls(&server, &config) {
        // TLS 1.3: the client may finish its side before the server's verdict arrives;
        // the refusal then comes on the first read.
        Ok(mut tls) => {
            let _ = tls.write_all(b"GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            let mut buf = [0u8; 64];
            !matches!(tls.read(&mut buf), Ok(n) if n > 0)
        }
        Err(_) => true,
    };
    assert!(refused(client_config(&ca, None)), "no certificate");
    assert!(refused(client_config(&ca, Some(other.sign("alice", "alice", &[], (2020, 4000))))), "another CA");
    assert!(refused(client_config(&ca, Some(ca.sign("old", "old", &[], (2000, 2001))))), "expired");
    // The right certificate names its user: no token needed (none is sent below), and
    // a session it creates is its own, not another certificate's.
    let alice = client_config(&ca, Some(ca.sign("alice", "alice", &[], (2020, 4000))));
    let bob = client_config(&ca, Some(ca.sign("bob", "bob", &[], (2020, 4000))));
    let mut tls = connect_tls(&server, &alice).unwrap();
    let body = r#"{"command":["cat"]}"#;
    let req = format!(
        "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).unwrap();
    let r = read_response(&mut tls, false).unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let anon_get = |tls: &mut Tls, path: &str| {
        tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
        read_response(tls, false).unwrap()
    };
    let mine = anon_get(&mut tls, &format!("/api/sessions/{id}"));
    assert_eq!((mine.status, mine.json()["owner"].as_str()), (200, Some("alice")));
    let mut other = connect_tls(&server, &bob).unwrap();
    assert_eq!(anon_get(&mut other, &format!("/api/sessions/{id}")).status, 404, "not bob's");
    // The owner's token still works beside any certificate.
    assert_eq!(https_get(&mut other, &server, &format!("/api/sessions/{id}")).status, 200);
}

/// SIGHUP rereads the certificate: new handshakes get the new one, a connection opened
/// before goes on; a bad file keeps the one in force.
#[test]
fn sighup_reloads_the_certificate_with_a_client_connected() {
    let first = Ca::new("reload-1");
    let second = Ca::new("reload-2");
    let server = tls_server(&first, &[]);
    let mut before = connect_tls(&server, &client_config(&first, None)).unwrap();
    assert_eq!(https_get(&mut before, &server, "/api/sessions").status, 200);

    second.server_cert("server");
    std::fs::copy(second.path("server.pem"), first.path("server.pem")).unwrap();
    std::fs::copy(second.path("server.key"), first.path("server.key")).unwrap();
    server.signal(libc::SIGHUP);
    let until = Instant::now() + DEADLINE;
    while connect_tls(&server, &client_config(&second, None)).is_err() {
        assert!(Instant::now() < until, "the new certificate was never served: {}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(connect_tls(&server, &client_config(&first, None)).is_err(), "the old one is gone");
    assert_eq!(https_get(&mut before, &server, "/api/sessions").status, 200, "the old connection goes on");

    std::fs::write(first.path("server.key"), "not a key").unwrap();
    server.signal(libc::SIGHUP);
    let until = Instant::now() + DEADLINE;
    while !server.stderr().contains("keeping the TLS certificate in force") {
        assert!(Instant::now() < until, "no error logged: {}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(connect_tls(&server, &client_config(&second, None)).is_ok());
}

/// A connection that never finishes its handshake is closed at the head's deadline.
#[test]
fn a_silent_handshake_is_closed_at_the_head_deadline() {
    let ca = Ca::new("deadline");
    let server = tls_server(&ca, &["--http-head-timeout", "1s"]);
    let mut s = server.connect();
    let started = Instant::now();
    assert!(closed_by_peer(&mut s));
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
}

#[test]
fn tls_files_that_do_not_load_stop_the_start_with_one_line() {
    let ca = Ca::new("badfiles");
    ca.server_cert("server");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringtty"))
        .args(["-S", "-C", &ca.path("server.pem"), "-K", &ca.path("missing.key"), "-p", "0", "cat"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-K/--ssl-key") && err.contains("missing.key"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringtty"))
        .args(["-C", &ca.path("server.pem"), "-p", "0", "cat"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without -S"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
