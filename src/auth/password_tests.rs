use std::num::NonZeroU32;

use super::*;

/// Made by Python's hashlib and base64 (an independent PBKDF2 and base64url):
/// `hashlib.pbkdf2_hmac("sha256", password, salt, n)`, `urlsafe_b64encode(..).rstrip(b"=")`.
const ALICE: &str =
    "alice:$pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0ODw$5RUHDgNTp9sBOWGYS4e6u57cz_Sq3_TQgaDP_8MW6L8";
/// Password `pa:ssé`, a 20-byte salt of 0xff, 20000 iterations.
const BOB: &str =
    "bob.b-1@x_y:$pbkdf2-sha256$20000$__________________________8$JuH-rzxiFCM9GBoz2AgpSXAaSXbECovn9S5zJ38LcBM";

fn n(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap()
}

#[test]
fn lines_made_by_an_independent_implementation_verify() {
    let creds = Credentials::parse(&format!("# users\n\n{ALICE}\r\n  {BOB}  \n")).unwrap();
    assert_eq!(creds.len(), 2);
    assert!(creds.verify("alice", b"correct horse"));
    assert!(creds.verify("bob.b-1@x_y", "pa:ssé".as_bytes()));
    for (user, password) in [
        ("alice", &b"correct horsE"[..]),
        ("alice", b""),
        ("alice", b"correct horse "),
        ("Alice", b"correct horse"),
        ("bob.b-1@x_y", b"correct horse"),
        ("nobody", b"correct horse"),
        ("", b""),
    ] {
        assert!(!creds.verify(user, password), "{user:?}");
    }
}

#[test]
fn hash_line_matches_the_independent_implementation_and_round_trips() {
    let salt: [u8; 16] = core::array::from_fn(|i| i as u8);
    assert_eq!(hash_line("alice", b"correct horse", &salt, n(10_000)), ALICE);
    let line = hash_line("carol", b"\x00\xffbinary", &[7; 16], n(MIN_ITERATIONS));
    let creds = Credentials::parse(&line).unwrap();
    assert!(creds.verify("carol", b"\x00\xffbinary"));
    assert!(!creds.verify("carol", b"\x00\xffbinar"));
}

#[test]
fn an_empty_file_has_no_users_and_refuses_everyone() {
    for text in ["", "\n\n", "# only a comment\n   # another\n"] {
        let creds = Credentials::parse(text).unwrap();
        assert!(creds.is_empty());
        assert!(!creds.verify("alice", b"correct horse"));
    }
}

#[test]
fn bad_lines_are_refused_with_their_number_and_kind() {
    use LineErrorKind::*;
    let salt16 = "AAECAwQFBgcICQoLDA0ODw";
    let hash = "5RUHDgNTp9sBOWGYS4e6u57cz_Sq3_TQgaDP_8MW6L8";
    let cases: Vec<(String, LineErrorKind)> = vec![
        ("alice".into(), Syntax),
        ("alice:".into(), Syntax),
        ("alice:correct horse".into(), Syntax),
        (format!("alice:pbkdf2-sha256$10000${salt16}${hash}"), Syntax),
        (format!("alice:$pbkdf2-sha256$10000${salt16}"), Syntax),
        (format!("alice:$pbkdf2-sha256$10000${salt16}${hash}$"), Syntax),
        (format!(":$pbkdf2-sha256$10000${salt16}${hash}"), BadUser),
        (format!("al ice:$pbkdf2-sha256$10000${salt16}${hash}"), BadUser),
        (format!("al/ice:$pbkdf2-sha256$10000${salt16}${hash}"), BadUser),
        (format!("élise:$pbkdf2-sha256$10000${salt16}${hash}"), BadUser),
        (format!("{}:$pbkdf2-sha256$10000${salt16}${hash}", "a".repeat(65)), BadUser),
        (format!("alice:$pbkdf2-sha512$10000${salt16}${hash}"), UnknownScheme),
        (format!("alice:$PBKDF2-SHA256$10000${salt16}${hash}"), UnknownScheme),
        (format!("alice:$pbkdf2-sha256$9999${salt16}${hash}"), BadIterations),
        (format!("alice:$pbkdf2-sha256$10000001${salt16}${hash}"), BadIterations),
        (format!("alice:$pbkdf2-sha256$+10000${salt16}${hash}"), BadIterations),
        (format!("alice:$pbkdf2-sha256$${salt16}${hash}"), BadIterations),
        (format!("alice:$pbkdf2-sha256$99999999999${salt16}${hash}"), BadIterations),
        (format!("alice:$pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0O${hash}"), BadSalt), // 15 bytes
        (format!("alice:$pbkdf2-sha256$10000${}${hash}", "A".repeat(87)), BadSalt),   // 65 bytes
        (format!("alice:$pbkdf2-sha256$10000${salt16}==${hash}"), BadSalt),           // padding
        (format!("alice:$pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0OD+${hash}"), BadSalt), // standard alphabet
        (format!("alice:$pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0ODx${hash}"), BadSalt), // low bits set
        (format!("alice:$pbkdf2-sha256$10000${salt16}${}", &hash[..42]), BadHash),
        (format!("alice:$pbkdf2-sha256$10000${salt16}${hash}AA"), BadHash),
        (format!("alice:$pbkdf2-sha256$10000${salt16}$"), BadHash),
        (format!("{ALICE}\n# again\n{ALICE}"), DuplicateUser),
    ];
    for (text, kind) in cases {
        let text = format!("# header\n\n{text}");
        let expected_line = text.lines().count();
        let err = Credentials::parse(&text).expect_err(&text);
        assert_eq!(err, LineError { line: expected_line, kind }, "{text}");
        assert!(err.to_string().starts_with(&format!("line {expected_line}: ")));
    }
}

#[test]
fn iteration_and_salt_bounds_are_inclusive() {
    for iterations in [MIN_ITERATIONS, MAX_ITERATIONS] {
        let line = format!("u:$pbkdf2-sha256${iterations}$AAECAwQFBgcICQoLDA0ODw$5RUHDgNTp9sBOWGYS4e6u57cz_Sq3_TQgaDP_8MW6L8");
        assert!(Credentials::parse(&line).is_ok(), "{iterations}");
    }
    for len in [SALT_MIN, SALT_MAX] {
        let line = format!("u:$pbkdf2-sha256$10000${}${}", b64::encode(&vec![1; len]), b64::encode(&[2; 32]));
        assert!(Credentials::parse(&line).is_ok(), "{len}");
    }
    assert!(user_ok(&"a".repeat(USER_MAX)) && !user_ok(&"a".repeat(USER_MAX + 1)));
}

#[test]
fn base64url_round_trips_every_length_and_refuses_non_canonical_text() {
    let data: Vec<u8> = (0..=255).collect();
    for len in 0..70 {
        let text = b64::encode(&data[len..len * 2 + 3]);
        assert!(!text.contains(['=', '+', '/']));
        assert_eq!(b64::decode(&text).as_deref(), Some(&data[len..len * 2 + 3]));
    }
    assert_eq!(b64::encode(b"\xfb\xff"), "-_8");
    for bad in ["A", "AAAAA", "AB", "AAB", "A=", "AA==", "A A", "A+", "AA/A", "AA\u{e9}"] {
        assert_eq!(b64::decode(bad), None, "{bad:?}");
    }
    assert_eq!(b64::decode("AA"), Some(vec![0]));
    assert_eq!(b64::decode("AAE"), Some(vec![0, 1]));
}

#[test]
fn a_user_with_fewer_iterations_is_padded_to_the_file_s_largest_count() {
    let creds = Credentials::parse(&format!("{ALICE}\n{BOB}")).unwrap();
    assert_eq!(creds.work.get(), 20_000);
    // The padding derives with a different salt; the answer is still the real one.
    assert!(creds.verify("alice", b"correct horse"));
}

#[test]
fn plain_credentials_compare_user_and_password() {
    let c = PlainCredential::parse("admin:s3cr:et").unwrap();
    assert!(c.verify("admin", b"s3cr:et"));
    for (user, password) in [
        ("admin", &b"s3cr:e"[..]),
        ("admin", b"s3cr:et "),
        ("admin", b""),
        ("Admin", b"s3cr:et"),
        ("admi", b"ns3cr:et"),
        ("", b"admin:s3cr:et"),
    ] {
        assert!(!c.verify(user, password), "{user:?}");
    }
    assert!(!format!("{c:?}").contains("s3cr"));
    assert_eq!(PlainCredential::parse("admin"), Err(PlainError::Syntax));
    assert_eq!(PlainCredential::parse("admin:"), Err(PlainError::Syntax));
    assert_eq!(PlainCredential::parse(":pass"), Err(PlainError::BadUser));
    assert_eq!(PlainCredential::parse("ad min:pass"), Err(PlainError::BadUser));
}

#[test]
fn basic_authorization_values_parse() {
    // base64("alice:pa:ss") and base64("bob:") made by coreutils base64.
    for (value, user, password) in [
        ("Basic YWxpY2U6cGE6c3M=", "alice", &b"pa:ss"[..]),
        ("basic YWxpY2U6cGE6c3M=", "alice", b"pa:ss"),
        ("BASIC   YWxpY2U6cGE6c3M=  ", "alice", b"pa:ss"),
        ("Basic Ym9iOg==", "bob", b""),
        ("Basic OnB3", "", b"pw"),
        ("Basic w6k6/w==", "\u{e9}", b"\xff"),
    ] {
        assert_eq!(parse_basic(value), Some((user.to_owned(), password.to_vec())), "{value:?}");
    }
    for value in [
        "",
        "Basic",
        "Basic ",
        "Bearer YWxpY2U6cGE6c3M=",
        "Basic YWxpY2U6cGE6c3M",    // padding missing
        "Basic YWxpY2U6cGE6c3M==",  // too much padding
        "Basic YWxpY2U6cGE6c3M=\t", // not a space
        "Basic Ym9i",               // no colon
        "Basic _-__",               // url-safe alphabet
        "Basic /w==:",
        "Basic /zpwdw==", // user is not UTF-8
    ] {
        assert_eq!(parse_basic(value), None, "{value:?}");
    }
    assert_eq!(parse_basic(&format!("Basic {}", "A".repeat(1100))), None);
}
