//! The `Date` header value (RFC 9110 §5.6.7 IMF-fixdate), formatted into a fixed array.
//! The runtime formats it once per second per worker; the time comes in as an argument.

/// `Sun, 06 Nov 1994 08:49:37 GMT`: always 29 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HttpDate {
    bytes: [u8; 29],
    unix_secs: u64,
}

impl HttpDate {
    /// Formats seconds since the Unix epoch.
    pub fn from_unix(unix_secs: u64) -> HttpDate {
        const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
        const MONTHS: [&[u8; 3]; 12] =
            [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
        let days = unix_secs / 86_400;
        let secs_of_day = unix_secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        let mut b = *b"Thu, 01 Jan 1970 00:00:00 GMT";
        b[..3].copy_from_slice(DAYS[(days % 7) as usize]);
        two(&mut b[5..7], day);
        b[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
        let year = year.min(9999);
        two(&mut b[12..14], year / 100);
        two(&mut b[14..16], year % 100);
        two(&mut b[17..19], secs_of_day / 3600);
        two(&mut b[20..22], secs_of_day / 60 % 60);
        two(&mut b[23..25], secs_of_day % 60);
        HttpDate { bytes: b, unix_secs }
    }

    pub fn as_bytes(&self) -> &[u8; 29] {
        &self.bytes
    }

    pub fn unix_secs(&self) -> u64 {
        self.unix_secs
    }
}

impl std::fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::str::from_utf8(&self.bytes).unwrap_or("?"))
    }
}

fn two(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Days since 1970-01-01 -> (year, month 1..=12, day 1..=31), Howard Hinnant's
/// `civil_from_days` algorithm for the proleptic Gregorian calendar.
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
