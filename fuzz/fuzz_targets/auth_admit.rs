//! The admission point on arbitrary credentials: no panic, the same verdict twice, and
//! a principal only from a token signed with the key (or the `-c` pair, or the proxy
//! header from a trusted peer). Every refusal is one of the fixed statuses.
//!
//! Input: four fields separated by `\n`: Authorization, Cookie, the query, the proxy
//! header; a token made with the key may appear in any of them (the seeds have some).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::auth::{
    admit, admit_ttyd_init, Ask, Auth, CidrList, HostPolicy, Key, Kind, Need, PlainCredential, Policy,
};

const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == b'\n');
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let (authorization, cookie, query, proxy_user) = (next(), next(), next(), next());
    let query = query.and_then(|q| std::str::from_utf8(q).ok());
    let policy = Policy {
        hosts: HostPolicy::new("127.0.0.1".parse().ok(), &[], &[]).unwrap(),
        allow_origins: Vec::new(),
        auth: Some(Auth {
            key: Key::new(b"the fuzzing key, 32 bytes long!!"),
            basic: PlainCredential::parse("admin:pw").ok(),
            header: Some("x-user".into()),
            trusted_proxies: CidrList::parse("127.0.0.1").ok(),
        }),
    };
    for need in [Need::Open, Need::Principal, Need::Page, Need::PrincipalOrInit] {
        let ask = Ask {
            kind: Kind::Read,
            need,
            host: Some(b"127.0.0.1"),
            origin: None,
            peer: "127.0.0.1".parse().ok(),
            authorization,
            cookie,
            query,
            proxy_user,
            client_cert: None,
        };
        let verdict = admit(&ask, &policy, NOW);
        assert_eq!(verdict, admit(&ask, &policy, NOW));
        if let Err(refusal) = verdict {
            assert!(matches!(refusal.status(), 303 | 401), "{refusal:?}");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = admit_ttyd_init(text, &policy, NOW, |_| false);
    }
});
