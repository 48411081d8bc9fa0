use std::net::IpAddr;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn ranges_contain_their_first_and_last_address_and_nothing_beside() {
    // (range, inside, outside)
    let table: &[(&str, &[&str], &[&str])] = &[
        ("10.0.0.0/8", &["10.0.0.0", "10.255.255.255", "10.1.2.3"], &["9.255.255.255", "11.0.0.0"]),
        ("192.168.1.7", &["192.168.1.7"], &["192.168.1.6", "192.168.1.8"]),
        ("192.168.1.7/32", &["192.168.1.7"], &["192.168.1.6", "192.168.1.8"]),
        ("192.168.1.6/31", &["192.168.1.6", "192.168.1.7"], &["192.168.1.5", "192.168.1.8"]),
        ("0.0.0.0/0", &["0.0.0.0", "255.255.255.255", "127.0.0.1"], &["::", "::1", "2001:db8::1"]),
        ("128.0.0.0/1", &["128.0.0.0", "255.255.255.255"], &["127.255.255.255", "0.0.0.0"]),
        ("255.255.255.255/32", &["255.255.255.255"], &["255.255.255.254"]),
        ("::1/128", &["::1"], &["::", "::2", "127.0.0.1"]),
        ("::1", &["::1"], &["::2"]),
        ("::/0", &["::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], &["0.0.0.0", "10.0.0.1"]),
        (
            "fe80::/10",
            &["fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::1"],
            &["fec0::", "fe7f::"],
        ),
        (
            "2001:db8::/64",
            &["2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"],
            &["2001:db8:0:1::", "2001:db7::"],
        ),
        ("8000::/1", &["8000::", "ffff::"], &["7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),
        // IPv4-mapped peers match IPv4 ranges.
        ("10.0.0.0/8", &["::ffff:10.1.2.3", "::ffff:10.255.255.255"], &["::ffff:11.0.0.0", "::10.1.2.3"]),
        ("0.0.0.0/0", &["::ffff:0.0.0.0", "::ffff:255.255.255.255"], &["::fffe:0:0"]),
        // A range written as IPv4-mapped is the IPv4 range.
        ("::ffff:10.0.0.0/104", &["10.0.0.0", "10.255.255.255", "::ffff:10.9.9.9"], &["11.0.0.0"]),
        ("::ffff:192.168.1.7", &["192.168.1.7"], &["192.168.1.8"]),
    ];
    for (range, inside, outside) in table {
        let cidr = Cidr::parse(range).unwrap();
        for addr in *inside {
            assert!(cidr.contains(ip(addr)), "{range} should contain {addr}");
        }
        for addr in *outside {
            assert!(!cidr.contains(ip(addr)), "{range} should not contain {addr}");
        }
    }
}

#[test]
fn every_prefix_length_splits_at_the_right_bit() {
    for prefix in 0..=32u8 {
        let cidr = Cidr::parse(&format!("0.0.0.0/{prefix}")).unwrap();
        let last = if prefix == 32 { 0 } else { u32::MAX >> prefix };
        assert!(cidr.contains(IpAddr::V4(last.into())), "/{prefix}");
        if prefix > 0 {
            assert!(!cidr.contains(IpAddr::V4(last.wrapping_add(1).into())), "/{prefix}");
        }
    }
    for prefix in 0..=128u8 {
        let cidr = Cidr::parse(&format!("::/{prefix}")).unwrap();
        let last = if prefix == 128 { 0 } else { u128::MAX >> prefix };
        if prefix == 80 {
            // ::ffff:ffff:ffff is ::ffff:255.255.255.255, an IPv4 peer: not in IPv6 ranges.
            assert!(!cidr.contains(IpAddr::V6(last.into())));
            continue;
        }
        assert!(cidr.contains(IpAddr::V6(last.into())), "/{prefix}");
        if prefix > 0 {
            assert!(!cidr.contains(IpAddr::V6(last.wrapping_add(1).into())), "/{prefix}");
        }
    }
}

#[test]
fn bad_ranges_are_refused_with_the_reason() {
    use CidrError::*;
    let table = [
        ("", Empty),
        ("10.0.0.0/", BadPrefix),
        ("10.0.0.0/33", BadPrefix),
        ("10.0.0.0/+8", BadPrefix),
        ("10.0.0.0/08 ", BadPrefix),
        ("10.0.0.0/-1", BadPrefix),
        ("10.0.0.0/0008", BadPrefix),
        ("10.0.0.0/8/8", BadPrefix),
        ("::/129", BadPrefix),
        ("::/256", BadPrefix),
        ("10.0.0", BadAddress),
        ("10.0.0.256", BadAddress),
        ("010.0.0.0/8", BadAddress),
        (" 10.0.0.0/8", BadAddress),
        ("[::1]", BadAddress),
        ("fe80::1%eth0", BadAddress),
        ("localhost", BadAddress),
        ("/8", BadAddress),
        ("10.0.0.1/8", HostBitsSet),
        ("11.0.0.0/7", HostBitsSet),
        ("192.168.1.7/31", HostBitsSet),
        ("0.0.0.1/0", HostBitsSet),
        ("fe80::1/10", HostBitsSet),
        ("::1/127", HostBitsSet),
        ("::ffff:10.0.0.1/104", HostBitsSet),
    ];
    for (text, kind) in table {
        assert_eq!(Cidr::parse(text), Err(kind), "{text:?}");
    }
}

#[test]
fn lists_name_their_first_bad_entry() {
    let list = CidrList::parse("10.0.0.0/8, 192.168.1.7 ,::1/128,fe80::/10").unwrap();
    assert_eq!(list.ranges().len(), 4);
    for (addr, inside) in [
        ("10.9.9.9", true),
        ("192.168.1.7", true),
        ("::1", true),
        ("fe80::abcd", true),
        ("::ffff:192.168.1.7", true),
        ("192.168.1.8", false),
        ("127.0.0.1", false),
        ("2001:db8::1", false),
    ] {
        assert_eq!(list.contains(ip(addr)), inside, "{addr}");
    }
    for (text, entry, kind) in [
        ("", "", CidrError::Empty),
        ("10.0.0.0/8,,::1", "", CidrError::Empty),
        ("10.0.0.0/8,", "", CidrError::Empty),
        ("10.0.0.0/8, 10.0.0.1/8", "10.0.0.1/8", CidrError::HostBitsSet),
        ("nope,10.0.0.1/8", "nope", CidrError::BadAddress),
    ] {
        let err = CidrList::parse(text).unwrap_err();
        assert_eq!(err, CidrListError { entry, kind }, "{text:?}");
        assert!(err.to_string().starts_with(&format!("{entry:?}: ")));
    }
}

#[test]
fn ranges_print_as_network_and_prefix() {
    for (text, shown) in [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("192.168.1.7", "192.168.1.7/32"),
        ("fe80::/10", "fe80::/10"),
        ("::1", "::1/128"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ] {
        assert_eq!(Cidr::parse(text).unwrap().to_string(), shown);
    }
}
