//! Address ranges for `--allow-ip` and `--trusted-proxy`: `10.0.0.0/8`, `::1/128`,
//! `fe80::/10`, or a bare address (a single host: /32 or /128).
//!
//! A range whose address has bits set after the prefix (`10.0.0.1/8`) is refused rather
//! than masked: it is usually a typo for a host or a different prefix, and silently
//! widening `10.1.2.3/8` to all of 10/8 would let in far more peers than the operator
//! wrote. IPv4 peers arriving on a dual-stack socket as IPv4-mapped IPv6 addresses
//! (`::ffff:10.1.2.3`, RFC 4291 §2.5.5.2) are compared as the IPv4 address they are, and a
//! range written inside `::ffff:0:0/96` with a prefix of 96 or more is stored as the IPv4
//! range it names. IPv4 and IPv6 ranges never match each other otherwise: `0.0.0.0/0`
//! is every IPv4 peer, `::/0` every IPv6 one.
//!
//! Pure: parses strings, compares addresses. Errors name no input; the caller names
//! the entry (operator input, not a peer's).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address range. The address is always the network address (no host bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cidr {
    V4 { net: u32, prefix: u8 },
    V6 { net: u128, prefix: u8 },
}

/// Why a range is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrError {
    /// An empty entry (`10.0.0.0/8,,::1`) or an empty list.
    Empty,
    /// Not an IPv4 or IPv6 address (zone ids such as `%eth0` are not accepted).
    BadAddress,
    /// Not a decimal from 0 to 32 (IPv4) or 128 (IPv6).
    BadPrefix,
    /// The address has bits set after the prefix.
    HostBitsSet,
}

impl CidrError {
    pub const fn message(self) -> &'static str {
        match self {
            Self::Empty => {
                "an empty entry; give ranges such as 10.0.0.0/8,192.168.1.7,::1/128 separated by commas"
            }
            Self::BadAddress => "not an IPv4 or IPv6 address (e.g. 10.0.0.0/8, 192.168.1.7, fe80::/10)",
            Self::BadPrefix => "the prefix length after / must be 0-32 for IPv4 and 0-128 for IPv6",
            Self::HostBitsSet => {
                "the address has bits set after the prefix; give the network address \
                 (10.0.0.0/8, not 10.0.0.1/8) or a bare address for one host"
            }
        }
    }
}

/// The mask of a `prefix`-bit network in a `BITS`-wide address.
fn mask<const BITS: u32>(prefix: u8) -> u128 {
    let all = if BITS == 128 { u128::MAX } else { (1u128 << BITS) - 1 };
    all.checked_shl(BITS - u32::from(prefix)).map_or(0, |m| m & all)
}

/// `::ffff:a.b.c.d` is `a.b.c.d`; every other address is itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Cidr {
    /// `ADDR/PREFIX` or `ADDR`, exactly (no spaces).
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        if text.is_empty() {
            return Err(CidrError::Empty);
        }
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| CidrError::BadAddress)?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // `u8::from_str` takes a leading `+`; a prefix is plain digits.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&p| p <= max).ok_or(CidrError::BadPrefix)?
            }
            Some(_) => return Err(CidrError::BadPrefix),
        };
        let cidr = match ip {
            IpAddr::V4(v4) => Cidr::V4 { net: u32::from(v4), prefix },
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => Cidr::V4 { net: u32::from(v4), prefix: prefix - 96 },
                _ => Cidr::V6 { net: u128::from(v6), prefix },
            },
        };
        if cidr.network_bits() != cidr.raw_bits() {
            return Err(CidrError::HostBitsSet);
        }
        Ok(cidr)
    }

    fn raw_bits(self) -> u128 {
        match self {
            Cidr::V4 { net, .. } => u128::from(net),
            Cidr::V6 { net, .. } => net,
        }
    }

    fn network_bits(self) -> u128 {
        match self {
            Cidr::V4 { net, prefix } => u128::from(net) & mask::<32>(prefix),
            Cidr::V6 { net, prefix } => net & mask::<128>(prefix),
        }
    }

    /// Whether `ip` is in the range; an IPv4-mapped IPv6 `ip` counts as its IPv4 address.
    pub fn contains(self, ip: IpAddr) -> bool {
        match (self, canonical(ip)) {
            (Cidr::V4 { net, prefix }, IpAddr::V4(v4)) => {
                u128::from(u32::from(v4)) & mask::<32>(prefix) == u128::from(net)
            }
            (Cidr::V6 { net, prefix }, IpAddr::V6(v6)) => u128::from(v6) & mask::<128>(prefix) == net,
            _ => false,
        }
    }

    pub fn addr(self) -> IpAddr {
        match self {
            Cidr::V4 { net, .. } => IpAddr::V4(Ipv4Addr::from(net)),
            Cidr::V6 { net, .. } => IpAddr::V6(Ipv6Addr::from(net)),
        }
    }

    pub fn prefix_len(self) -> u8 {
        match self {
            Cidr::V4 { prefix, .. } | Cidr::V6 { prefix, .. } => prefix,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix_len())
    }
}

/// A comma-separated list of ranges; an address is in it when any range contains it.
/// A linear scan: lists are a handful of entries, checked once per connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CidrList {
    ranges: Vec<Cidr>,
}

/// The first bad entry of a list (operator input, quoted back to the operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidrListError<'a> {
    pub entry: &'a str,
    pub kind: CidrError,
}

impl std::fmt::Display for CidrListError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.entry, self.kind.message())
    }
}

impl CidrList {
    /// `10.0.0.0/8, 192.168.1.7,::1` (spaces around entries are ignored). An empty
    /// list is refused: an allow-list that allows nobody is a mistake, not a policy.
    pub fn parse(list: &str) -> Result<CidrList, CidrListError<'_>> {
        let ranges = list
            .split(',')
            .map(str::trim)
            .map(|entry| Cidr::parse(entry).map_err(|kind| CidrListError { entry, kind }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CidrList { ranges })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|c| c.contains(ip))
    }

    pub fn ranges(&self) -> &[Cidr] {
        &self.ranges
    }
}

#[cfg(test)]
#[path = "cidr_tests.rs"]
mod tests;
