//! What a process's memory map says about pages shared with other processes.

/// Summed `Rss` and `Pss` (KiB) of `pid`'s mappings of `exe` that the dynamic loader wrote:
/// read-only now, and holding private pages (the relocated data, RELRO). Processes forked from
/// one loaded process share them (`Pss` is `Rss` divided among them); processes that each
/// executed the file have a copy each (`Pss` equals `Rss`).
pub fn loader_written_kib(pid: u32, exe: &std::path::Path) -> (u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps is readable");
    let exe = exe.display().to_string();
    let (mut rss, mut pss) = (0, 0);
    let (mut in_mapping, mut mapping_rss, mut mapping_pss) = (false, 0, 0);
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        let value = fields.next().unwrap_or_default();
        if !first.ends_with(':') {
            // A mapping's first line: range, permissions, offset, device, inode, path.
            in_mapping = value == "r--p" && line.trim_end().ends_with(&exe);
            continue;
        }
        let kib = value.parse::<u64>().unwrap_or(0);
        match first {
            "Rss:" => mapping_rss = kib,
            "Pss:" => mapping_pss = kib,
            "Anonymous:" if in_mapping && kib > 0 => {
                rss += mapping_rss;
                pss += mapping_pss;
            }
            _ => {}
        }
    }
    (rss, pss)
}
