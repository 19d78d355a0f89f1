//! Reading `/proc/self/smaps`: which mappings of the executable hold only file pages.

/// A mapping [`release`](crate::release) may advise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) resident_kib: u64,
}

/// The mappings of `exe` in `smaps` that are read-only and hold no private page, in memory
/// (`Anonymous`) or swapped out (`Swap`).
pub(crate) fn file_pages_of(smaps: &str, exe: &str) -> Vec<Mapping> {
    let mut found = Vec::new();
    let mut current: Option<Candidate> = None;
    for line in smaps.lines() {
        if let Some(header) = Header::parse(line) {
            found.extend(current.take().and_then(Candidate::eligible));
            current = Some(Candidate {
                mapping: Mapping {
                    start: header.start,
                    end: header.end,
                    resident_kib: 0,
                },
                wanted: header.path == exe && !header.writable,
                anonymous_kib: None,
                swap_kib: None,
            });
        } else if let Some(candidate) = current.as_mut() {
            if let Some(kib) = field_kib(line, "Rss:") {
                candidate.mapping.resident_kib = kib;
            } else if let Some(kib) = field_kib(line, "Anonymous:") {
                candidate.anonymous_kib = Some(kib);
            } else if let Some(kib) = field_kib(line, "Swap:") {
                candidate.swap_kib = Some(kib);
            }
        }
    }
    found.extend(current.and_then(Candidate::eligible));
    found
}

struct Candidate {
    mapping: Mapping,
    wanted: bool,
    /// `None` until the field is seen: a mapping whose private pages are unknown is left alone.
    anonymous_kib: Option<u64>,
    /// Private pages swapped out (relocated data the kernel moved to swap or zram).
    swap_kib: Option<u64>,
}

impl Candidate {
    fn eligible(self) -> Option<Mapping> {
        let private = self.anonymous_kib.zip(self.swap_kib);
        (self.wanted && private == Some((0, 0)) && self.mapping.end > self.mapping.start)
            .then_some(self.mapping)
    }
}

/// `start-end perms offset dev inode [path]`; the path may hold spaces.
struct Header<'a> {
    start: usize,
    end: usize,
    writable: bool,
    path: &'a str,
}

impl<'a> Header<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let mut rest = line;
        let mut field = || {
            let trimmed = rest.trim_start();
            let end = trimmed.find(' ').unwrap_or(trimmed.len());
            rest = &trimmed[end..];
            &trimmed[..end]
        };
        let range = field();
        let perms = field();
        let (offset, device, inode) = (field(), field(), field());
        let (start, end) = range.split_once('-')?;
        if perms.len() != 4 || offset.is_empty() || !device.contains(':') || inode.is_empty() {
            return None;
        }
        Some(Self {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            writable: perms.as_bytes()[1] == b'w',
            path: rest.trim_start(),
        })
    }
}

/// The number of a `<name> <n> kB` line (`Rss:`, `Anonymous:`, ...) of smaps or smaps_rollup.
pub(crate) fn field_kib(line: &str, name: &str) -> Option<u64> {
    line.strip_prefix(name)?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/opt/pincer bin/pincer-services";

    fn mapping(header: &str, rss_kib: u64, anonymous_kib: u64) -> String {
        swapped(header, rss_kib, anonymous_kib, 0)
    }

    fn swapped(header: &str, rss_kib: u64, anonymous_kib: u64, swap_kib: u64) -> String {
        format!(
            "{header}\nSize:               1024 kB\nRss:                {rss_kib} kB\nPss:                {rss_kib} kB\nAnonymous:          {anonymous_kib} kB\nSwap:               {swap_kib} kB\nVmFlags: rd mr mw me\n"
        )
    }

    #[test]
    fn read_only_file_mappings_of_the_executable_are_chosen() {
        let smaps = [
            mapping(
                &format!("5600000-5610000 r--p 00000000 08:01 42      {EXE}"),
                60,
                0,
            ),
            mapping(
                &format!("5610000-5680000 r-xp 00010000 08:01 42      {EXE}"),
                400,
                0,
            ),
            // RELRO: read-only once relocated, but its pages are private copies.
            mapping(
                &format!("5680000-5690000 r--p 00080000 08:01 42      {EXE}"),
                64,
                64,
            ),
            // RELRO again, its private pages all swapped out.
            swapped(
                &format!("5690000-5692000 r--p 00090000 08:01 42      {EXE}"),
                0,
                0,
                8,
            ),
            // Writable data not written yet: no private page, but one may come at any time.
            mapping(
                &format!("5692000-5693000 rw-p 00092000 08:01 42      {EXE}"),
                4,
                0,
            ),
            mapping(
                "7f00000-7f10000 r-xp 00000000 08:01 7       /usr/lib/libc.so.6",
                200,
                0,
            ),
            mapping("7ff0000-7ff1000 rw-p 00000000 00:00 0       [stack]", 8, 8),
            mapping("7ff2000-7ff3000 rw-p 00000000 00:00 0 ", 4, 4),
        ]
        .concat();
        assert_eq!(
            file_pages_of(&smaps, EXE),
            vec![
                Mapping {
                    start: 0x560_0000,
                    end: 0x561_0000,
                    resident_kib: 60
                },
                Mapping {
                    start: 0x561_0000,
                    end: 0x568_0000,
                    resident_kib: 400
                },
            ]
        );
    }

    #[test]
    fn a_replaced_executable_is_still_recognised() {
        let exe = format!("{EXE} (deleted)");
        let smaps = mapping(&format!("1000-2000 r-xp 00000000 08:01 42 {exe}"), 4, 0);
        assert_eq!(file_pages_of(&smaps, &exe).len(), 1);
        assert!(file_pages_of(&smaps, EXE).is_empty());
    }

    #[test]
    fn a_mapping_without_its_private_page_fields_is_left_alone() {
        let without_swap = format!("1000-2000 r-xp 00000000 08:01 42 {EXE}\nAnonymous: 0 kB\n");
        let without_anonymous = format!("1000-2000 r-xp 00000000 08:01 42 {EXE}\nSwap: 0 kB\n");
        assert!(file_pages_of(&without_swap, EXE).is_empty());
        assert!(file_pages_of(&without_anonymous, EXE).is_empty());
    }

    #[test]
    fn lines_that_are_not_headers_are_not_taken_for_one() {
        assert!(Header::parse("VmFlags: rd ex mr mw me").is_none());
        assert!(Header::parse("Rss:                  4 kB").is_none());
        assert!(Header::parse("").is_none());
    }
}
