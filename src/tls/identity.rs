//! Who a verified client certificate names (`-A`, `--ssl-user`): its subject's common
//! name, or its first DNS or URI subject alternative name. Pure: DER in, a name out.
//! The certificate was verified by rustls against `-A`'s CAs before this is asked.
#![forbid(unsafe_code)]

/// Which name of a client certificate is the user (`--ssl-user`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertName {
    /// The subject's common name (CN): what most private CAs put the user in.
    #[default]
    Cn,
    /// The first DNS name in the subject alternative names.
    Dns,
    /// The first URI in the subject alternative names (a SPIFFE id, for example).
    Uri,
}

impl CertName {
    pub fn parse(s: &str) -> Option<CertName> {
        match s {
            "cn" => Some(CertName::Cn),
            "dns" => Some(CertName::Dns),
            "uri" => Some(CertName::Uri),
            _ => None,
        }
    }
}

/// The longest user name taken from a certificate.
pub const MAX_USER: usize = 256;

/// The user `cert` (DER) names, by `from`; `None` if it names none, or one that is empty,
/// too long or holds control characters (it ends up in logs and session owners).
pub fn user_of(cert: &[u8], from: CertName) -> Option<String> {
    let der = rustls::pki_types::CertificateDer::from(cert);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    let name = match from {
        CertName::Cn => common_name(cert.subject()),
        CertName::Dns => cert.valid_dns_names().next(),
        CertName::Uri => cert.valid_uri_names().next(),
    }?;
    let usable = !name.is_empty() && name.len() <= MAX_USER && !name.chars().any(char::is_control);
    usable.then(|| name.to_owned())
}

/// The first common name in a DER `Name`'s contents (RFC 5280 §4.1.2.4: a sequence of
/// SETs of `AttributeTypeAndValue`), if it is a UTF8String, PrintableString or
/// IA5String.
pub fn common_name(mut name: &[u8]) -> Option<&str> {
    const SET: u8 = 0x31;
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    const CN: &[u8] = &[0x55, 0x04, 0x03]; // 2.5.4.3
    const UTF8: u8 = 0x0c;
    const PRINTABLE: u8 = 0x13;
    const IA5: u8 = 0x16;
    while !name.is_empty() {
        let (tag, mut set, rest) = tlv(name)?;
        name = rest;
        if tag != SET {
            return None;
        }
        while !set.is_empty() {
            let (tag, atv, rest) = tlv(set)?;
            set = rest;
            if tag != SEQUENCE {
                return None;
            }
            let (tag, oid, value) = tlv(atv)?;
            if tag != OID {
                return None;
            }
            if oid == CN {
                let (tag, value, _) = tlv(value)?;
                return match tag {
                    UTF8 | PRINTABLE | IA5 => std::str::from_utf8(value).ok(),
                    _ => None,
                };
            }
        }
    }
    None
}

/// One DER element at the start of `input`: its tag, its value and what follows.
/// Definite lengths only (DER has no other), at most four length bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn cert(cn: Option<&str>, sans: Vec<SanType>) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "Example Org");
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.distinguished_name.push(DnType::CountryName, "FR");
        params.subject_alt_names = sans;
        params.self_signed(&KeyPair::generate().unwrap()).unwrap().der().to_vec()
    }

    #[test]
    fn each_name_of_a_certificate() {
        let der = cert(
            Some("alice"),
            vec![
                SanType::DnsName("alice.example".try_into().unwrap()),
                SanType::URI("spiffe://example/alice".try_into().unwrap()),
            ],
        );
        assert_eq!(user_of(&der, CertName::Cn).as_deref(), Some("alice"));
        assert_eq!(user_of(&der, CertName::Dns).as_deref(), Some("alice.example"));
        assert_eq!(user_of(&der, CertName::Uri).as_deref(), Some("spiffe://example/alice"));
    }

    #[test]
    fn a_missing_or_unusable_name_is_none() {
        assert_eq!(user_of(&cert(None, vec![]), CertName::Cn), None);
        assert_eq!(user_of(&cert(Some("alice"), vec![]), CertName::Dns), None);
        assert_eq!(user_of(&cert(Some("bad\nname"), vec![]), CertName::Cn), None);
        assert_eq!(user_of(&cert(Some(&"x".repeat(MAX_USER + 1)), vec![]), CertName::Cn), None);
        assert_eq!(user_of(b"not a certificate", CertName::Cn), None);
    }

    /// Truncated and corrupted names never panic and never read past their end.
    #[test]
    fn broken_der_is_none() {
        let der = cert(Some("alice"), vec![]);
        let parsed = webpki::EndEntityCert::try_from(&rustls::pki_types::CertificateDer::from(&der[..]))
            .unwrap()
            .subject()
            .to_vec();
        assert_eq!(common_name(&parsed), Some("alice"));
        for cut in 0..parsed.len() {
            let _ = common_name(&parsed[..cut]);
        }
        for i in 0..parsed.len() {
            for b in [0x00, 0x7f, 0x80, 0x84, 0xff] {
                let mut bad = parsed.clone();
                bad[i] = b;
                let _ = common_name(&bad);
            }
        }
        assert_eq!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]), None, "five length bytes");
        assert_eq!(tlv(&[0x30, 0x82, 0x01]), None, "length cut");
        assert_eq!(tlv(&[0x30, 0x03, 1]), None, "value cut");
    }
}
