use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::*;
use crate::auth::{Claims, Principal, Via};

fn beat(node: &str) -> Heartbeat {
    Heartbeat {
        node: node.into(),
        url: Some(format!("http://{node}:7681")),
        version: "0".into(),
        sessions: 1,
        clients: 2,
        cpu: 0.5,
        draining: false,
        workers: 2,
        uptime_secs: 3,
    }
}

fn token_principal(sub: &str, jti: Option<&str>) -> Principal {
    let claims = Claims {
        sub: Some(sub.into()),
        mode: Mode::Rw,
        sid: None,
        admin: false,
        exp: 2_000,
        nbf: None,
        iat: None,
        jti: jti.map(Into::into),
    };
    Principal::from_claims(claims, Via::Bearer)
}

#[test]
fn revocation_by_jti_refuses_that_token_only_until_its_time() {
    let mut r = Revocations::default();
    assert!(r.add(&Revocation { jti: Some("t1".into()), user: None, until: 100 }, 10));
    assert!(r.refuses(&token_principal("alice", Some("t1")), 50));
    assert!(!r.refuses(&token_principal("alice", Some("t2")), 50), "another token of the same user");
    assert!(!r.refuses(&token_principal("alice", None), 50), "a token without jti");
    assert!(!r.refuses(&token_principal("alice", Some("t1")), 100), "its time is over");
    r.prune(100);
    assert!(r.is_empty());
}

#[test]
fn revocation_by_user_refuses_every_credential_of_theirs() {
    let mut r = Revocations::default();
    assert!(r.add(&Revocation { jti: None, user: Some("bob".into()), until: 100 }, 10));
    assert!(r.refuses(&token_principal("bob", Some("x")), 50));
    assert!(r.refuses(&Principal::user("bob".into(), Via::Basic), 50), "a password login too");
    assert!(!r.refuses(&token_principal("bobby", None), 50));
    assert!(!r.refuses(&Principal::anyone(), 50), "--no-auth's empty user is never revoked by name");
    assert!(
        !r.add(&Revocation { jti: None, user: Some("bob".into()), until: 90 }, 10),
        "an earlier end changes nothing"
    );
    assert!(
        r.add(&Revocation { jti: None, user: Some("bob".into()), until: 200 }, 10),
        "a later one extends it"
    );
    assert!(r.refuses(&token_principal("bob", None), 150));
}

#[test]
fn malformed_or_past_revocations_are_ignored() {
    let mut r = Revocations::default();
    let both = Revocation { jti: Some("a".into()), user: Some("b".into()), until: 100 };
    let neither = Revocation { jti: None, user: None, until: 100 };
    let empty = Revocation { jti: Some(String::new()), user: None, until: 100 };
    let long = Revocation { jti: Some("x".repeat(revoke::MAX_KEY_LEN + 1)), user: None, until: 100 };
    let past = Revocation { jti: Some("a".into()), user: None, until: 10 };
    for bad in [both, neither, empty, long, past] {
        assert!(!r.add(&bad, 10), "{bad:?}");
    }
    assert!(r.is_empty());
}

#[test]
fn the_revocation_set_is_bounded_and_gives_up_the_soonest_first() {
    let mut r = Revocations::default();
    for i in 0..revoke::MAX_ENTRIES {
        r.add(&Revocation { jti: Some(format!("j{i}")), user: None, until: 1_000 + i as u64 }, 0);
    }
    assert!(r.add(&Revocation { jti: None, user: Some("late".into()), until: 10_000_000 }, 0));
    assert_eq!(r.len(), revoke::MAX_ENTRIES);
    assert!(!r.refuses(&token_principal("x", Some("j0")), 500), "the soonest-ending gave way");
    assert!(r.refuses(&token_principal("x", Some("j1")), 500));
    assert!(r.refuses(&token_principal("late", None), 500));
}

#[test]
fn entries_round_trip_through_json() {
    let mut r = Revocations::default();
    r.add(&Revocation { jti: Some("t".into()), user: None, until: 100 }, 0);
    r.add(&Revocation { jti: None, user: Some("u".into()), until: 50 }, 0);
    let note = RevokeNote { node: "n1".into(), entries: r.entries() };
    let text = serde_json::to_string(&note).unwrap();
    assert_eq!(text, r#"{"node":"n1","entries":[{"user":"u","until":50},{"jti":"t","until":100}]}"#);
    let back: RevokeNote = serde_json::from_str(&text).unwrap();
    let mut copy = Revocations::default();
    for e in &back.entries {
        copy.add(e, 0);
    }
    assert_eq!(copy.entries(), r.entries());
}

#[test]
fn peers_expire_after_silence_and_we_are_not_our_own_peer() {
    let t0 = Instant::now();
    let mut peers = Peers::default();
    peers.heard(beat("n1"), "n1", t0);
    peers.heard(beat("n2"), "n1", t0);
    peers.heard(beat("n3"), "n1", t0 + Duration::from_secs(2));
    assert_eq!(peers.names(t0 + Duration::from_secs(1)), BTreeSet::from(["n2".into(), "n3".into()]));
    let later = t0 + PEER_EXPIRY;
    assert_eq!(peers.names(later), BTreeSet::from(["n3".into()]));
    assert_eq!(peers.expire(later), vec!["n2".to_owned()]);
    assert!(peers.get("n2").is_none());
    assert_eq!(peers.get("n3").map(|p| p.beat.clients), Some(2));
}

#[test]
fn a_gather_names_who_did_not_answer_and_is_partial_without_the_bus() {
    let mut g = Gather::new(BTreeSet::from(["n2".to_owned(), "n3".to_owned()]));
    assert!(!g.complete());
    g.answer("n2".into(), 1);
    g.answer("n2".into(), 99);
    g.answer("n4".into(), 4);
    assert!(!g.complete());
    let done = g.finish(true);
    assert_eq!(done.parts, vec![("n2".to_owned(), 1), ("n4".to_owned(), 4)], "the first answer counts");
    assert_eq!(done.missing, vec!["n3".to_owned()]);
    assert!(done.partial);

    let mut whole = Gather::new(BTreeSet::from(["n2".to_owned()]));
    whole.answer("n2".into(), ());
    assert!(whole.complete());
    assert!(!whole.finish(true).partial);
    assert!(Gather::<()>::new(BTreeSet::new()).finish(false).partial, "the bus was down");
}

#[test]
fn a_principal_crosses_the_bus_with_its_reach_and_no_more() {
    let share =
        Principal { session: Some("n1.AAq3Zk1b9XWvXk2mM7sUu".into()), ..token_principal("eve", Some("j")) };
    let share = Principal { mode: Mode::Ro, ..share };
    let back = WirePrincipal::of(&share).principal();
    assert_eq!(
        (back.user.as_ref(), back.admin, back.session.as_deref()),
        ("eve", false, share.session.as_deref())
    );
    assert!(!back.may_write());
    assert_eq!(back.via, Via::Fleet);
    let anyone = WirePrincipal::of(&Principal::anyone()).principal();
    assert_eq!(anyone, Principal::anyone());
    let text = serde_json::to_string(&WirePrincipal::of(&token_principal("a", None))).unwrap();
    assert_eq!(text, r#"{"user":"a","admin":false,"rw":true,"anyone":false}"#);
}

#[test]
fn subjects_name_the_owner_node() {
    assert_eq!(subject::session("web-01"), "ringtty.node.web-01.session");
    let kill = KillAsk { from: "n1".into(), target: KillTarget::User("bob".into()), at_ms: 5 };
    assert_eq!(serde_json::to_string(&kill).unwrap(), r#"{"from":"n1","target":{"user":"bob"},"at_ms":5}"#);
    let all: KillAsk = serde_json::from_str(r#"{"from":"n1","target":"all","at_ms":5}"#).unwrap();
    assert_eq!(all.target, KillTarget::All);
}

#[test]
fn session_lists_sort_newest_first_then_by_id() {
    let mut v: Vec<serde_json::Value> = [(5, "b"), (3, "z"), (5, "a"), (3, "a")]
        .iter()
        .map(|(c, id)| serde_json::json!({"created": c, "id": id}))
        .collect();
    sort_sessions(&mut v);
    let got: Vec<(u64, &str)> =
        v.iter().map(|s| (s["created"].as_u64().unwrap(), s["id"].as_str().unwrap())).collect();
    assert_eq!(got, [(5, "b"), (5, "a"), (3, "z"), (3, "a")]);
    // To the millisecond where a node says it; seconds from an older node.
    let mut v = vec![
        serde_json::json!({"created": 5, "created_ms": 5_100, "id": "a"}),
        serde_json::json!({"created": 5, "created_ms": 5_900, "id": "b"}),
        serde_json::json!({"created": 5, "id": "old"}),
        serde_json::json!({"created": 6, "created_ms": 6_000, "id": "c"}),
    ];
    sort_sessions(&mut v);
    let ids: Vec<&str> = v.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c", "b", "a", "old"]);
    // An answer from an older node (no total/truncated fields) still reads.
    let old: ListAnswer = serde_json::from_str(r#"{"node":"n2","sessions":[],"total":0}"#).unwrap();
    assert!(!old.truncated);
}
