//! Free heap pages given back to the kernel.

/// Gives the free pages of every glibc heap back to the kernel (`malloc_trim(0)`); true when some
/// were. After a burst of work glibc keeps what was freed for the next one: a chunk freed below
/// one still in use stays resident until the allocator happens to reuse it. Trimming costs a walk
/// of the free lists and, later, the page faults that map those pages again. A no-op where the C
/// library is not glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim_heap() -> bool {
    // SAFETY: malloc_trim has no preconditions: it takes each arena's lock and returns whole free
    // pages only, so memory in use, by this thread or another, is untouched.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// Not glibc: nothing to trim.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim_heap() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Private memory of this process, in KiB (every thread's heap counts).
    fn anonymous_kib() -> u64 {
        let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").expect("smaps_rollup");
        rollup
            .lines()
            .find_map(|line| crate::smaps::field_kib(line, "Anonymous:"))
            .expect("an Anonymous line")
    }

    #[test]
    fn freed_heap_pages_below_a_live_chunk_are_given_back() {
        // 32 MiB in small chunks (glibc serves them from the heap, not from mmap), then one chunk
        // above them that stays: freeing the rest cannot shrink the heap from its top.
        let chunks: Vec<Vec<u8>> = (0..32 * 1024).map(|_| vec![1_u8; 1000]).collect();
        let pinned = vec![1_u8; 1000];
        let before_free = anonymous_kib();
        drop(chunks);
        let freed = anonymous_kib();
        assert!(
            super::trim_heap(),
            "nothing trimmed ({before_free} KiB before the free, {freed} after)"
        );
        let trimmed = anonymous_kib();
        assert!(
            trimmed + 16 * 1024 < freed,
            "{freed} KiB before the trim, {trimmed} after"
        );
        std::hint::black_box(pinned);
    }
}
