use super::*;

const SECRET: &[u8] = b"ringtty-test-vector-secret-32bytes!!";
/// 2027-01-15: after every `iat`/`nbf` below, before every far `exp`.
const NOW: u64 = 1_800_000_000;
/// 2100-01-01.
const FAR: u64 = 4_102_444_800;

fn key() -> Key {
    Key::new(SECRET)
}

fn b64(bytes: &[u8]) -> String {
    let mut s = String::new();
    base64url::encode_into(bytes, &mut s);
    s
}

/// A token over already-encoded segments, with a correct HMAC-SHA256 signature by
/// `SECRET`: whatever it contains, the signature is not why it fails.
fn signed_raw(header: &str, payload: &str) -> String {
    let input = format!("{header}.{payload}");
    let tag = hmac::sign(&key().0, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// A token with this header and payload JSON, correctly signed.
fn forge(header: &str, payload: &str) -> String {
    signed_raw(&b64(header.as_bytes()), &b64(payload.as_bytes()))
}

/// A correctly signed token with our header and this payload JSON.
fn with_claims(payload: &str) -> String {
    forge(r#"{"alg":"HS256","typ":"JWT"}"#, payload)
}

fn check_now(token: &str) -> Result<Claims, Reason> {
    check(token.as_bytes(), &key(), NOW)
}

fn minimal(exp: u64) -> Claims {
    Claims { sub: None, mode: Mode::Ro, sid: None, admin: false, exp, nbf: None, iat: None, jti: None }
}

fn full() -> Claims {
    Claims {
        sub: Some("alice".into()),
        mode: Mode::Rw,
        sid: Some("n1.AAabcdefghijklmnop".into()),
        admin: true,
        exp: FAR,
        nbf: Some(NOW - 10),
        iat: Some(NOW - 10),
        jti: Some("t-1".into()),
    }
}

#[test]
fn header_constant_is_the_encoded_header() {
    assert_eq!(HEADER, b64(br#"{"alg":"HS256","typ":"JWT"}"#));
}

#[test]
fn sign_then_verify_round_trips() {
    let unicode = Claims { sub: Some("zoë \"q\" \\ \u{1F600}".into()), ..minimal(NOW + 1) };
    for claims in [minimal(FAR), full(), unicode, Claims { mode: Mode::Rw, ..minimal(u64::MAX) }] {
        let token = sign(&claims, &key());
        assert!(token.starts_with(HEADER) && token.bytes().filter(|&b| b == b'.').count() == 2);
        assert_eq!(verify(token.as_bytes(), &key(), NOW), Ok(claims));
    }
}

#[test]
fn sign_writes_mode_always_and_admin_only_when_true() {
    let token = sign(&minimal(FAR), &key());
    let payload = token.split('.').nth(1).unwrap();
    let mut buf = [0u8; 256];
    let n = base64url::decode(payload.as_bytes(), &mut buf).unwrap();
    assert_eq!(&buf[..n], br#"{"mode":"ro","exp":4102444800}"#);
}

/// Minted by PyJWT 2.15.1, an independent implementation, with `SECRET`:
/// python -c 'import jwt; k=b"ringtty-test-vector-secret-32bytes!!"; F=4102444800; [print(jwt.encode(p,k,headers=h)) for p,h in [({"sub":"alice","mode":"rw","exp":F,"iat":1700000000},None), ({"sub":"bob","mode":"ro","sid":"s1.AAabcdefghijklmnop","exp":F,"nbf":1700000000,"jti":"x1"},None), ({"exp":F},None), ({"sub":"root","admin":True,"mode":"rw","exp":F,"iss":"elsewhere","extra":[1,{"a":None}]},{"kid":"k1"}), ({"sub":"zo\u00eb \"q\"","exp":F},None)]]'
const PYJWT_ACCEPTED: [&str; 5] = [
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsIm1vZGUiOiJydyIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwfQ.VWvKp4-lXRwdF7lGyUcfcWKy_PJ3SW_lbjSZ7ofeh-A",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJtb2RlIjoicm8iLCJzaWQiOiJzMS5BQWFiY2RlZmdoaWprbG1ub3AiLCJleHAiOjQxMDI0NDQ4MDAsIm5iZiI6MTcwMDAwMDAwMCwianRpIjoieDEifQ.rc5rQc9chG8B_0bPEedC-BM-PLx9U5FrdavGAN8n-TM",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDB9.QwfGI-Rk9tz7kvKS6HIUIGMyuEuyjCHFyCmzbOvbcGM",
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJyb290IiwiYWRtaW4iOnRydWUsIm1vZGUiOiJydyIsImV4cCI6NDEwMjQ0NDgwMCwiaXNzIjoiZWxzZXdoZXJlIiwiZXh0cmEiOlsxLHsiYSI6bnVsbH1dfQ.cND5z0BNFpdeaLXzFZZcZ8vii_VY2TcM1h2F1exEeu0",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ6b1x1MDBlYiBcInFcIiIsImV4cCI6NDEwMjQ0NDgwMH0.2ZFzbUf8MltqMXJm8ed9EVIjCTRkBnMe44BLwBSUqZQ",
];

#[test]
fn tokens_minted_by_pyjwt_verify() {
    let want = [
        Claims { sub: Some("alice".into()), mode: Mode::Rw, iat: Some(1_700_000_000), ..minimal(FAR) },
        Claims {
            sub: Some("bob".into()),
            sid: Some("s1.AAabcdefghijklmnop".into()),
            nbf: Some(1_700_000_000),
            jti: Some("x1".into()),
            ..minimal(FAR)
        },
        // No `mode`: read-only.
        minimal(FAR),
        // `kid` in the header, unknown claims (`iss`, `extra`) ignored.
        Claims { sub: Some("root".into()), admin: true, mode: Mode::Rw, ..minimal(FAR) },
        // Python escapes non-ASCII and quotes: `zo\u00eb \"q\"`.
        Claims { sub: Some("zoë \"q\"".into()), ..minimal(FAR) },
    ];
    for (token, want) in PYJWT_ACCEPTED.iter().zip(want) {
        assert_eq!(verify(token.as_bytes(), &key(), NOW), Ok(want), "{token}");
        assert!(verify(token.as_bytes(), &Key::new(b"another-secret-of-32-bytes-length"), NOW).is_err());
    }
}

/// The same PyJWT run, tokens it mints that ringtty must refuse, with the reason:
/// `jwt.encode({"exp":F},k,algorithm="HS384")`, `"HS512"`, `jwt.encode({"exp":F},None,
/// algorithm="none")`, `jwt.encode({"exp":1000000000},k)`, `jwt.encode({"exp":F,"aud":"x"},k)`.
#[test]
fn tokens_minted_by_pyjwt_that_are_refused() {
    let cases = [
        ("eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDB9.rrq3rH_x6cmA0bBw0WKxHghOi_4_rDPx3hElP3EbFQRf2quSWUnbgG4Ieto1_V7J", Reason::BadSignatureEncoding),
        ("eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDB9.jzI7ClE5VHTe_GIIFmRqWGMmDeIS4jz4JGjMygOQNJxmmOHEoCHzI3xCU2mcNjJUtrVi9B54pD18PCa1I_UWYw", Reason::BadSignatureEncoding),
        ("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDB9.", Reason::BadSignatureEncoding),
        ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDB9.9bzBvkh26zKUyHDCDGfaquBjRoKmVAF03NJhTrqOBGY", Reason::Expired),
        ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImF1ZCI6IngifQ.0rGQAib29_AWZrJXBiTaONGjzLP90UhfNRaTLoiWTbs", Reason::Audience),
    ];
    for (token, reason) in cases {
        assert_eq!(check_now(token), Err(reason), "{token}");
    }
}

/// jwt.io's well-known HS256 example (secret `your-256-bit-secret`): its signature is
/// right, so it gets as far as the claims, and has no `exp`.
#[test]
fn jwt_io_example_signature_verifies_and_lacks_exp() {
    let token = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    assert_eq!(check(token, &Key::new(b"your-256-bit-secret"), NOW), Err(Reason::BadClaims));
    assert_eq!(check(token, &Key::new(b"your-256-bit-secreT"), NOW), Err(Reason::BadSignature));
}

#[test]
fn refused_headers() {
    let exp = r#"{"exp":4102444800}"#;
    let cases = [
        // Valid HMAC-SHA256 signatures under headers that claim something else.
        (r#"{"alg":"none"}"#, Reason::NotHs256),
        (r#"{"alg":"None","typ":"JWT"}"#, Reason::NotHs256),
        (r#"{"alg":"HS512","typ":"JWT"}"#, Reason::NotHs256),
        (r#"{"alg":"HS384"}"#, Reason::NotHs256),
        (r#"{"alg":"RS256","typ":"JWT"}"#, Reason::NotHs256),
        (r#"{"alg":"ES256"}"#, Reason::NotHs256),
        (r#"{"alg":"hs256"}"#, Reason::NotHs256),
        (r#"{"alg":"HS256 "}"#, Reason::NotHs256),
        (r#"{"alg":""}"#, Reason::NotHs256),
        (r#"{"alg":"HS256","typ":"JWS"}"#, Reason::NotHs256),
        (r#"{"alg":"HS256","crit":["b64"],"b64":false}"#, Reason::NotHs256),
        (r#"{"alg":"HS256","crit":[]}"#, Reason::NotHs256),
        // Not an object of the right types.
        (r#"{}"#, Reason::BadHeader),
        (r#"{"typ":"JWT"}"#, Reason::BadHeader),
        (r#"{"alg":null}"#, Reason::BadHeader),
        (r#"{"alg":256}"#, Reason::BadHeader),
        (r#"{"alg":["HS256"]}"#, Reason::BadHeader),
        (r#"{"alg":"HS256","typ":null}"#, Reason::BadHeader),
        (r#"{"alg":"HS256","typ":1}"#, Reason::BadHeader),
        (r#"{"alg":"HS256","alg":"none"}"#, Reason::BadHeader),
        (r#"{"alg":"none","alg":"HS256"}"#, Reason::BadHeader),
        // An escaped alg is refused rather than unescaped (nothing mints one).
        (r#"{"alg":"HS\u0032\u0035\u0036"}"#, Reason::BadHeader),
        (r#""HS256""#, Reason::BadHeader),
        (r#"["HS256"]"#, Reason::BadHeader),
        (r#" ["HS256",null,null]"#, Reason::BadHeader),
        (r#"null"#, Reason::BadHeader),
        ("", Reason::BadHeader),
        (r#"{"alg":"HS256"} x"#, Reason::BadHeader),
        (r#"{"alg":"HS256""#, Reason::BadHeader),
    ];
    for (header, reason) in cases {
        assert_eq!(check_now(&forge(header, exp)), Err(reason), "{header}");
    }
    assert_eq!(check_now(&signed_raw(&b64(&[0xff, b'{']), &b64(exp.as_bytes()))), Err(Reason::BadHeader));
}

#[test]
fn accepted_headers() {
    let exp = r#"{"exp":4102444800}"#;
    for header in [
        r#"{"alg":"HS256"}"#,
        r#"{"typ":"JWT","alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"jwt"}"#,
        r#"{"alg":"HS256","kid":"k1","cty":"x","x5u":"https://evil.example/"}"#,
        " { \"alg\" : \"HS256\" } ",
    ] {
        assert_eq!(check_now(&forge(header, exp)), Ok(minimal(FAR)), "{header}");
    }
}

#[test]
fn refused_claims() {
    let cases = [
        // exp: required, a non-negative integer of at most 64 bits.
        (r#"{}"#, Reason::BadClaims),
        (r#"{"sub":"alice","mode":"rw"}"#, Reason::BadClaims),
        (r#"{"exp":"4102444800"}"#, Reason::BadClaims),
        (r#"{"exp":4102444800.0}"#, Reason::BadClaims),
        (r#"{"exp":4.1e9}"#, Reason::BadClaims),
        (r#"{"exp":4102444800.5}"#, Reason::BadClaims),
        (r#"{"exp":-1}"#, Reason::BadClaims),
        (r#"{"exp":18446744073709551616}"#, Reason::BadClaims),
        (r#"{"exp":null}"#, Reason::BadClaims),
        (r#"{"exp":true}"#, Reason::BadClaims),
        (r#"{"exp":[4102444800]}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"exp":4102444800}"#, Reason::BadClaims),
        // Every other claim's type.
        (r#"{"exp":4102444800,"sub":1}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"sub":null}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"sub":["a"]}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"sub":"a","sub":"b"}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"mode":"RW"}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"mode":"admin"}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"mode":""}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"mode":null}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"mode":true}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"mode":"ro","mode":"rw"}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"sid":7}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"sid":null}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"admin":"true"}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"admin":1}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"admin":null}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"admin":false,"admin":true}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"nbf":"0"}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"nbf":null}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"iat":1.5}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"iat":-5}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,"jti":5}"#, Reason::BadClaims),
        // Not one JSON object.
        (r#"[{"exp":4102444800}]"#, Reason::BadClaims),
        // serde reads a struct from an array by position; a JWT's claims are an object.
        (r#"["alice","rw","s1",true,4102444800,1,1,"j"]"#, Reason::BadClaims),
        (r#" ["alice","rw","s1",true,4102444800]"#, Reason::BadClaims),
        (r#""exp""#, Reason::BadClaims),
        (r#"4102444800"#, Reason::BadClaims),
        ("", Reason::BadClaims),
        (r#"{"exp":4102444800} {}"#, Reason::BadClaims),
        (r#"{"exp":4102444800,}"#, Reason::BadClaims),
        (r#"{"exp":4102444800"#, Reason::BadClaims),
        (r#"{'exp':4102444800}"#, Reason::BadClaims),
        // An audience we cannot be (RFC 7519 §4.1.3), in either form.
        (r#"{"exp":4102444800,"aud":"ringtty"}"#, Reason::Audience),
        (r#"{"exp":4102444800,"aud":["ringtty"]}"#, Reason::Audience),
    ];
    for (payload, reason) in cases {
        assert_eq!(check_now(&with_claims(payload)), Err(reason), "{payload}");
    }
    // Not UTF-8.
    let bad_utf8 = signed_raw(HEADER, &b64(b"{\"exp\":4102444800,\"sub\":\"\xff\"}"));
    assert_eq!(check_now(&bad_utf8), Err(Reason::BadClaims));
}

#[test]
fn time_checks_at_their_boundaries() {
    let l = LEEWAY_SECS;
    let cases = [
        (format!(r#"{{"exp":{}}}"#, NOW + 1), Ok(())),
        (format!(r#"{{"exp":{}}}"#, NOW), Ok(())),
        (format!(r#"{{"exp":{}}}"#, NOW - l + 1), Ok(())),
        (format!(r#"{{"exp":{}}}"#, NOW - l), Err(Reason::Expired)),
        (format!(r#"{{"exp":{}}}"#, NOW - 3600), Err(Reason::Expired)),
        (r#"{"exp":0}"#.to_owned(), Err(Reason::Expired)),
        (format!(r#"{{"exp":{FAR},"nbf":{}}}"#, NOW + l), Ok(())),
        (format!(r#"{{"exp":{FAR},"nbf":{}}}"#, NOW + l + 1), Err(Reason::NotYetValid)),
        (format!(r#"{{"exp":{FAR},"nbf":{}}}"#, u64::MAX), Err(Reason::NotYetValid)),
        (format!(r#"{{"exp":{FAR},"nbf":0}}"#), Ok(())),
        (format!(r#"{{"exp":{FAR},"iat":{}}}"#, NOW + l), Ok(())),
        (format!(r#"{{"exp":{FAR},"iat":{}}}"#, NOW + l + 1), Err(Reason::IssuedInFuture)),
        (format!(r#"{{"exp":{FAR},"iat":{}}}"#, NOW + 86_400 * 365), Err(Reason::IssuedInFuture)),
        (format!(r#"{{"exp":{FAR},"iat":0}}"#), Ok(())),
        (format!(r#"{{"exp":{}}}"#, u64::MAX), Ok(())),
    ];
    for (payload, want) in cases {
        assert_eq!(check_now(&with_claims(&payload)).map(drop), want, "{payload}");
    }
    // Times near the ends of u64 neither wrap nor panic.
    let token = with_claims(&format!(r#"{{"exp":{},"nbf":{},"iat":{}}}"#, u64::MAX, u64::MAX, u64::MAX));
    assert_eq!(check(token.as_bytes(), &key(), u64::MAX).map(drop), Err(Reason::Expired));
    assert_eq!(check(token.as_bytes(), &key(), 0), Err(Reason::NotYetValid));
}

#[test]
fn refused_shapes_and_encodings() {
    let good = sign(&minimal(FAR), &key());
    let [h, p, s]: [&str; 3] = good.split('.').collect::<Vec<_>>().try_into().unwrap();
    let padded = |seg: &str| format!("{seg}{}", "=".repeat(((4 - seg.len() % 4) % 4).max(1)));
    let std_alphabet = |seg: &str| seg.replace('-', "+").replace('_', "/");
    let p_std = b64(br#"{"exp":4102444800,"sub":">>>???"}"#);
    assert!(p_std.contains(['-', '_']), "the test payload must use the url-safe digits");
    let cases = [
        (String::new(), Reason::NotThreeSegments),
        (".".into(), Reason::NotThreeSegments),
        ("..".into(), Reason::BadSignatureEncoding),
        ("...".into(), Reason::NotThreeSegments),
        (format!("{h}.{p}"), Reason::NotThreeSegments),
        (format!("{h}{p}{s}"), Reason::NotThreeSegments),
        (format!("{h}.{p}.{s}.{s}"), Reason::NotThreeSegments),
        (format!("{h}.{h}.{p}.{s}"), Reason::NotThreeSegments),
        (format!("{h}.{p}.{p}.{s}"), Reason::NotThreeSegments),
        (format!("{h}.{p}.{s}."), Reason::NotThreeSegments),
        (format!(".{h}.{p}.{s}"), Reason::NotThreeSegments),
        (format!("{h}.{h}.{s}"), Reason::BadSignature),
        (format!("{p}.{h}.{s}"), Reason::BadSignature),
        (format!("{h}.{s}.{s}"), Reason::BadSignature),
        (format!("{h}.{p}."), Reason::BadSignatureEncoding),
        (format!("{h}.{p}.{}", padded(s)), Reason::BadSignatureEncoding),
        (
            format!("{h}.{p}.{}", std_alphabet(s)),
            if s.contains(['-', '_']) { Reason::BadSignatureEncoding } else { Reason::BadSignature },
        ),
        (format!("{h}.{p}.{}", &s[..s.len() - 1]), Reason::BadSignatureEncoding),
        (format!("{h}.{p}.{s}A"), Reason::BadSignatureEncoding),
        (format!("{h}.{p}.{s}AAAA"), Reason::BadSignatureEncoding),
        (format!("{h}.{p}.{s}{s}"), Reason::BadSignatureEncoding),
        (format!("{h}.{p}.{s} "), Reason::BadSignatureEncoding),
        (format!("{h}.{p}.{s}\n"), Reason::BadSignatureEncoding),
        (format!("{h}.{p}.{s}\r\n"), Reason::BadSignatureEncoding),
        (format!(" {h}.{p}.{s}"), Reason::BadSignature),
        (format!("{h} .{p}.{s}"), Reason::BadSignature),
        (format!("Bearer {h}.{p}.{s}"), Reason::BadSignature),
        // Encodings other than canonical unpadded base64url, correctly signed as sent.
        (signed_raw(h, &padded(p)), Reason::BadClaims),
        (signed_raw(&padded(h), p), Reason::BadHeader),
        (signed_raw(HEADER, &std_alphabet(&p_std)), Reason::BadClaims),
        (signed_raw(HEADER, &format!("{p_std} ")), Reason::BadClaims),
        (signed_raw(HEADER, &format!("{p}A")), Reason::BadClaims),
        (signed_raw(HEADER, ""), Reason::BadClaims),
        (signed_raw("", p), Reason::BadHeader),
    ];
    for (token, reason) in cases {
        assert_eq!(check_now(&token), Err(reason), "{token:?}");
    }
    assert_eq!(check_now(&signed_raw(HEADER, &p_std)).map(|c| c.sub), Ok(Some(">>>???".into())));
}

#[test]
fn size_limit_is_checked_first_and_exact() {
    // A correctly signed token of exactly MAX_TOKEN_LEN bytes passes; one byte more fails
    // on length alone.
    let token_with =
        |filler: usize| with_claims(&format!(r#"{{"exp":4102444800,"jti":"{}"}}"#, "x".repeat(filler)));
    let base = token_with(0).len();
    // Each 3 bytes of JSON are 4 digits: find the filler that lands exactly on the limit.
    let filler = (0..4000).find(|&n| token_with(n).len() == MAX_TOKEN_LEN).expect("a filler hits the limit");
    assert!(base < MAX_TOKEN_LEN);
    assert!(check_now(&token_with(filler)).is_ok());
    let over = token_with(filler + 1);
    assert!(over.len() > MAX_TOKEN_LEN);
    assert_eq!(check_now(&over), Err(Reason::TooLong));
    assert_eq!(check_now(&"x".repeat(MAX_TOKEN_LEN + 1)), Err(Reason::TooLong));
    assert_eq!(check_now(&"x".repeat(1 << 20)), Err(Reason::TooLong));
}

#[test]
fn every_flipped_bit_anywhere_is_refused() {
    for claims in [minimal(FAR), full()] {
        let good = sign(&claims, &key()).into_bytes();
        assert!(verify(&good, &key(), NOW).is_ok());
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                assert!(verify(&bad, &key(), NOW).is_err(), "byte {i} bit {bit}");
            }
        }
    }
}

#[test]
fn every_truncation_and_extension_is_refused() {
    let good = sign(&full(), &key()).into_bytes();
    for len in 0..good.len() {
        assert!(verify(&good[..len], &key(), NOW).is_err(), "prefix of {len}");
        assert!(verify(&good[len + 1..], &key(), NOW).is_err(), "suffix from {}", len + 1);
    }
    for extra in 0..=255u8 {
        let mut longer = good.clone();
        longer.push(extra);
        assert!(verify(&longer, &key(), NOW).is_err(), "extra {extra}");
    }
}

#[test]
fn every_refusal_is_the_same_401() {
    let tokens = [String::new(), "x".repeat(5000), with_claims("{}"), sign(&minimal(1), &key())];
    for t in &tokens {
        let e = verify(t.as_bytes(), &key(), NOW).unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(!e.log_reason().is_empty());
    }
}

#[test]
fn debug_output_shows_no_secret() {
    let shown = format!("{:?}", Key::new(b"super-secret-value-0123456789abcdef"));
    assert!(!shown.contains("super") && !shown.contains("secret-value"), "{shown}");
    let e = verify(b"eyJzZWNyZXQiOjF9.eyJzZWNyZXQiOjF9.x", &key(), NOW).unwrap_err();
    assert!(!format!("{e:?}").contains("eyJ"));
}
