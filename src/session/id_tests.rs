use super::*;

fn random(seed: u8) -> [u8; RANDOM_BYTES] {
    std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add((i as u8).wrapping_mul(97)))
}

#[test]
fn every_core_round_trips_with_and_without_a_node() {
    let node = NodeId::new("web-01").unwrap();
    for core in 0..MAX_CORES {
        for node in [None, Some(&node)] {
            let id = SessionId::new(node, core, random(core as u8)).unwrap();
            assert_eq!(id.core(), core);
            let parsed = SessionId::parse(id.as_str(), node).unwrap();
            assert_eq!(parsed, id);
            assert_eq!(parsed.core(), core);
            assert_eq!(id.as_str().len(), SUFFIX_LEN + node.map_or(0, |n| n.as_str().len() + 1));
        }
    }
    assert_eq!(SessionId::new(None, MAX_CORES, random(0)), Err(IdError::CoreOutOfRange));
}

#[test]
fn format_is_url_safe_and_carries_all_random_bits() {
    let node = NodeId::new("n_1").unwrap();
    let id = SessionId::new(Some(&node), 65, [0xFF; RANDOM_BYTES]).unwrap();
    assert_eq!(id.as_str(), format!("n_1.BB{}", "_".repeat(16)));
    let id = SessionId::new(None, 0, [0; RANDOM_BYTES]).unwrap();
    assert_eq!(id.as_str(), "AAAAAAAAAAAAAAAAAA");
    // Every random bit shows: flipping any one changes the ID.
    let base = SessionId::new(None, 5, random(9)).unwrap();
    for byte in 0..RANDOM_BYTES {
        for bit in 0..8 {
            let mut r = random(9);
            r[byte] ^= 1 << bit;
            assert_ne!(SessionId::new(None, 5, r).unwrap(), base);
        }
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    assert!(base.as_str().chars().all(ok));
    assert_eq!(base.to_string(), base.as_str());
    assert!(std::mem::size_of::<SessionId>() <= 56);
}

#[test]
fn parse_errors() {
    let node = NodeId::new("web").unwrap();
    let other = NodeId::new("web-01").unwrap();
    let ours = SessionId::new(Some(&node), 1, random(1)).unwrap();
    let theirs = SessionId::new(Some(&other), 1, random(1)).unwrap();
    let bare = SessionId::new(None, 1, random(1)).unwrap();
    let table: &[(&str, Option<&NodeId>, Result<(), IdError>)] = &[
        (ours.as_str(), Some(&node), Ok(())),
        (theirs.as_str(), Some(&node), Err(IdError::WrongNode)),
        (ours.as_str(), Some(&other), Err(IdError::WrongNode)),
        (bare.as_str(), Some(&node), Err(IdError::WrongNode)),
        (ours.as_str(), None, Err(IdError::WrongNode)),
        (bare.as_str(), None, Ok(())),
        ("", None, Err(IdError::BadLength)),
        ("AAAAAAAAAAAAAAAAA", None, Err(IdError::BadLength)),
        ("AAAAAAAAAAAAAAAAAAA", None, Err(IdError::BadLength)),
        ("AAAAAAAAAAAAAAAA=A", None, Err(IdError::BadChar)),
        ("AAAAAAAAAAAAAAAA/A", None, Err(IdError::BadChar)),
        ("AAAAAAAAAAAAAAAA%2", None, Err(IdError::BadChar)),
        ("AAAAAAAAAAAAAAAAé", None, Err(IdError::BadChar)),
        (".AAAAAAAAAAAAAAAAAA", None, Err(IdError::BadChar)),
        ("a b.AAAAAAAAAAAAAAAAAA", Some(&node), Err(IdError::BadChar)),
        ("web.web.AAAAAAAAAAAAAAAAAA", Some(&node), Err(IdError::BadLength)),
        ("web.AAAAAAAAAAAAAAAA.A", Some(&node), Err(IdError::BadChar)),
    ];
    for (input, node, want) in table {
        assert_eq!(SessionId::parse(input, *node).map(|_| ()), *want, "{input:?}");
    }
    let long = format!("{}.AAAAAAAAAAAAAAAAAA", "n".repeat(MAX_NODE_LEN + 1));
    assert_eq!(SessionId::parse(&long, Some(&node)), Err(IdError::BadLength));
}

#[test]
fn node_names() {
    for ok in ["a", "web-01", "N_2", &"x".repeat(MAX_NODE_LEN)] {
        assert_eq!(NodeId::new(ok).unwrap().as_str(), ok);
    }
    for bad in ["", "a.b", "a b", "a/b", "é", "a%", &"x".repeat(MAX_NODE_LEN + 1)] {
        assert_eq!(NodeId::new(bad), Err(IdError::BadNodeName), "{bad:?}");
    }
}
