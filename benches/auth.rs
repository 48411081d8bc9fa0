//! Token checks: the per-request CPU that authentication adds (issue 12: HS256 verify of
//! a typical token, parse included, ≤ 1 µs). Run: `cargo bench --bench auth`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ring::hmac;
use ringtty::auth::{self, Claims, Key, Mode};

const SECRET: &[u8] = b"bench-secret-0123456789abcdef0123456789abcdef";
/// 2027-01-15: inside every token's lifetime below.
const NOW: u64 = 1_800_000_000;

/// What the login URL and the browser's cookie carry: a user, a mode, the times.
fn login_claims() -> Claims {
    Claims {
        sub: Some("alice".into()),
        mode: Mode::Rw,
        sid: None,
        admin: false,
        exp: NOW + 86_400,
        nbf: None,
        iat: Some(NOW - 60),
        jti: None,
    }
}

/// A share link: one session, read-only.
fn share_claims() -> Claims {
    Claims { sid: Some("node1.AAabcdefghijklmnop".into()), mode: Mode::Ro, ..login_claims() }
}

fn verify(c: &mut Criterion) {
    let key = Key::new(SECRET);
    let mut g = c.benchmark_group("jwt_verify");
    for (name, claims) in [("login", login_claims()), ("share", share_claims())] {
        let token = auth::sign(&claims, &key);
        assert!(auth::verify(token.as_bytes(), &key, NOW).is_ok());
        g.throughput(Throughput::Bytes(token.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| auth::verify(std::hint::black_box(token.as_bytes()), &key, NOW))
        });
    }
    // A forged token: refused at the signature, before any parse.
    let mut forged = auth::sign(&login_claims(), &key).into_bytes();
    let last = forged.len() - 2;
    forged[last] ^= 1;
    g.bench_function("bad_signature", |b| b.iter(|| auth::verify(std::hint::black_box(&forged), &key, NOW)));
    g.finish();
}

fn reference(c: &mut Criterion) {
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    let token = auth::sign(&login_claims(), &Key::new(SECRET));
    let signed = &token.as_bytes()[..token.rfind('.').unwrap()];
    let tag = hmac::sign(&key, signed);
    // ring's HMAC-SHA256 over the same header.payload, alone: the floor of a verify.
    c.bench_function("hmac_sha256_verify_only", |b| {
        b.iter(|| hmac::verify(&key, std::hint::black_box(signed), tag.as_ref()))
    });
    let (ours, claims) = (Key::new(SECRET), login_claims());
    c.bench_function("jwt_sign_login", |b| b.iter(|| auth::sign(std::hint::black_box(&claims), &ours)));
}

criterion_group!(benches, verify, reference);
criterion_main!(benches);
