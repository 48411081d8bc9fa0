//! The numbered lines of one session's output (`1\r\n2\r\n3\r\n...`), checked as they
//! arrive in pieces of any size and across reconnections: each must be the one after
//! the last, once. Pure: no IO, no clock.

/// Longer than any number the child prints: a line that grows past it is garbage.
const MAX_LINE: usize = 32;

#[derive(Debug, Default, Clone)]
pub struct Lines {
    /// The current line's bytes so far (it may straddle frames and reconnections).
    partial: Vec<u8>,
    /// The highest number seen; the next line must be one more.
    last: Option<u64>,
    /// Lines that were the next one.
    pub good: u64,
    /// Numbers skipped over (a line that jumps from 7 to 10 lost 2).
    pub lost: u64,
    /// Lines at or below one already seen.
    pub repeated: u64,
    /// Lines that are not a number (or too long).
    pub garbled: u64,
    /// The first fault, with `where` at the time, for the verdict.
    pub first_fault: Option<String>,
}

impl Lines {
    /// Checks `bytes`, the stream's next piece; `at` is the stream offset of its first
    /// byte and `phase` says which connection brought it (for the fault's message).
    pub fn feed(&mut self, bytes: &[u8], at: u64, phase: &str) {
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let end = at + (bytes.len() - rest.len() + nl) as u64;
            self.partial.extend_from_slice(&rest[..nl]);
            let line = std::mem::take(&mut self.partial);
            self.line(&line, end, phase);
            self.partial = line;
            self.partial.clear();
            rest = &rest[nl + 1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > MAX_LINE {
            self.partial.clear();
            self.fault(format!("a line of more than {MAX_LINE} bytes before offset {at}"), phase);
            self.garbled += 1;
            self.last = None;
        }
    }

    /// Lines checked so far, good or not.
    pub fn seen(&self) -> u64 {
        self.good + self.repeated + self.garbled
    }

    fn line(&mut self, line: &[u8], end: u64, phase: &str) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(n) = std::str::from_utf8(line).ok().and_then(|s| s.parse::<u64>().ok()) else {
            self.garbled += 1;
            let shown = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]).into_owned();
            self.fault(format!("line {shown:?} (ending at offset {end}) is not a number"), phase);
            // The next number starts the count again.
            self.last = None;
            return;
        };
        match self.last {
            None => self.good += 1,
            Some(last) if n == last + 1 => self.good += 1,
            Some(last) if n > last => {
                self.lost += n - last - 1;
                self.good += 1;
                self.fault(
                    format!("{} came after {last}: {} lost (at offset {end})", n, n - last - 1),
                    phase,
                );
            }
            Some(last) => {
                self.repeated += 1;
                self.fault(format!("{n} came again after {last} (at offset {end})"), phase);
                return;
            }
        }
        self.last = Some(n);
    }

    fn fault(&mut self, what: String, phase: &str) {
        self.first_fault.get_or_insert_with(|| format!("{what}, {phase}"));
    }

    pub fn faults(&self) -> u64 {
        self.lost + self.repeated + self.garbled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stream: &[u8]) -> Lines {
        let mut l = Lines::default();
        l.feed(stream, 0, "test");
        l
    }

    /// (lost, repeated, garbled).
    type Counts = (u64, u64, u64);

    fn counts(l: &Lines) -> Counts {
        (l.lost, l.repeated, l.garbled)
    }

    #[test]
    fn faults_are_counted() {
        let table: &[(&[u8], u64, Counts)] = &[
            (b"1\r\n2\r\n3\r\n", 3, (0, 0, 0)),
            (b"41\r\n42\r\n", 2, (0, 0, 0)),
            (b"1\r\n2\r\n5\r\n6\r\n", 4, (2, 0, 0)),
            (b"5\r\n6\r\n7\r\n5\r\n6\r\n7\r\n8\r\n", 4, (0, 3, 0)),
            (b"1\r\n1\r\n2\r\n", 2, (0, 1, 0)),
            (b"1\r\nx\r\n9\r\n10\r\n", 3, (0, 0, 1)),
            (b"1\r\n2\r\n3", 2, (0, 0, 0)),
            (b"", 0, (0, 0, 0)),
        ];
        for &(stream, good, want) in table {
            let l = check(stream);
            assert_eq!((l.good, counts(&l)), (good, want), "{:?}", String::from_utf8_lossy(stream));
            assert_eq!(l.first_fault.is_some(), l.faults() > 0);
        }
    }

    #[test]
    fn split_at_every_point_is_the_same() {
        let stream = b"98\r\n99\r\n100\r\n101\r\n103\r\n103\r\n104\r\n";
        let whole = check(stream);
        assert_eq!((whole.good, counts(&whole)), (6, (1, 1, 0)));
        for cut in 0..=stream.len() {
            let mut l = Lines::default();
            l.feed(&stream[..cut], 0, "before");
            l.feed(&stream[cut..], cut as u64, "after");
            assert_eq!((l.good, counts(&l)), (whole.good, counts(&whole)), "cut at {cut}");
            let fault = l.first_fault.unwrap_or_default();
            assert!(fault.starts_with("103 came after 101: 1 lost (at offset 22)"), "cut at {cut}: {fault}");
        }
    }

    #[test]
    fn byte_by_byte_is_the_same() {
        let stream = b"7\r\n8\r\n9\r\n10\r\n11\r\n";
        let mut l = Lines::default();
        for (i, b) in stream.iter().enumerate() {
            l.feed(std::slice::from_ref(b), i as u64, "test");
        }
        assert_eq!((l.good, counts(&l), l.first_fault), (5, (0, 0, 0), None));
    }

    #[test]
    fn a_runaway_line_is_garbled_once_and_the_count_starts_again() {
        let mut l = Lines::default();
        l.feed(b"1\r\n", 0, "test");
        l.feed(&[b'7'; MAX_LINE + 1], 3, "test");
        l.feed(b"\r\n50\r\n51\r\n", 100, "test");
        // The runaway's tail ("\r") is a line of its own: garbled too.
        assert_eq!((l.good, counts(&l)), (3, (0, 0, 2)));
    }
}
