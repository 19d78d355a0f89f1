//! Memory and CPU of a process tree, from /proc.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Memory of a process tree at one moment.
pub struct TreeMemory {
    pub rss_kb: u64,
    /// Proportional set size: each page counted once, split between the processes that map it.
    /// RSS summed over processes started from one executable counts its code once per process;
    /// PSS summed is what the tree takes from the machine.
    pub pss_kb: u64,
    /// Anonymous resident memory (heap, stacks): what the processes cost beyond the pages of
    /// their binaries, which the kernel shares and can drop.
    pub anon_kb: u64,
    pub processes: usize,
    by_name: BTreeMap<String, u64>,
    pss_by_name: BTreeMap<String, u64>,
}

impl TreeMemory {
    /// RSS in MiB without the processes called `name` (the `pincer dev` supervisor).
    pub fn rss_mib_without(&self, name: &str) -> f64 {
        mib(self.rss_kb - self.by_name.get(name).copied().unwrap_or(0))
    }

    /// PSS in KiB without the processes called `name`.
    pub fn pss_kb_without(&self, name: &str) -> u64 {
        self.pss_kb - self.pss_by_name.get(name).copied().unwrap_or(0)
    }

    /// PSS in MiB without the processes called `name`.
    pub fn pss_mib_without(&self, name: &str) -> f64 {
        mib(self.pss_kb_without(name))
    }

    /// RSS per process name in MiB.
    pub fn by_name(&self) -> serde_json::Value {
        per_name_mib(&self.by_name)
    }

    /// PSS per process name in MiB.
    pub fn pss_by_name(&self) -> serde_json::Value {
        per_name_mib(&self.pss_by_name)
    }
}

fn per_name_mib(by_name: &BTreeMap<String, u64>) -> serde_json::Value {
    by_name
        .iter()
        .map(|(name, kb)| (name.clone(), serde_json::json!(mib(*kb))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `Pss` (KiB) of one process, from `/proc/<pid>/smaps_rollup`.
fn pss_kb(pid: u32) -> Option<u64> {
    proc_kib(pid, "smaps_rollup", "Pss")
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = text.rfind(')')?;
    Some(
        text[close + 2..]
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>()
                && let Some(fields) = stat_fields(pid)
                && let Some(ppid) = fields.get(1).and_then(|p| p.parse::<u32>().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(
            parent_of
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        index += 1;
    }
    tree
}

/// KiB as MiB, to a tenth.
fn mib(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

fn rss_kb(pid: u32) -> Option<(String, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let name = status
        .lines()
        .find_map(|l| l.strip_prefix("Name:"))?
        .trim()
        .to_owned();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some((name, kb))
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, ...) of one process.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    proc_kib(pid, "status", field)
}

/// A `kB` field of one of a process's `/proc/<pid>/` files (`status`, `smaps_rollup`).
fn proc_kib(pid: u32, file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Sums VmRSS and PSS over `root` and its descendants.
pub fn tree_memory(root: u32) -> TreeMemory {
    let mut memory = TreeMemory {
        rss_kb: 0,
        pss_kb: 0,
        anon_kb: 0,
        processes: 0,
        by_name: BTreeMap::new(),
        pss_by_name: BTreeMap::new(),
    };
    for pid in descendants(root) {
        if let Some((name, kb)) = rss_kb(pid) {
            let pss = pss_kb(pid).unwrap_or(0);
            memory.rss_kb += kb;
            memory.pss_kb += pss;
            memory.anon_kb += status_kib(pid, "RssAnon").unwrap_or(0);
            memory.processes += 1;
            *memory.by_name.entry(name.clone()).or_default() += kb;
            *memory.pss_by_name.entry(name).or_default() += pss;
        }
    }
    memory
}

/// VmRSS (KiB) of the processes in the tree whose name (as /proc shows it, 15 chars) is `name`.
pub fn tree_memory_of(root: u32, name: &str) -> u64 {
    tree_memory(root).by_name.get(name).copied().unwrap_or(0)
}

/// utime+stime of the tree, in clock ticks.
pub fn tree_cpu_ticks(root: u32) -> u64 {
    descendants(root)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| {
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            field(11) + field(12)
        })
        .sum()
}

/// utime+stime per process name in the tree, in clock ticks.
pub fn cpu_ticks_by_name(root: u32) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    for pid in descendants(root) {
        if let (Some((name, _)), Some(fields)) = (rss_kb(pid), stat_fields(pid)) {
            let field = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            *by_name.entry(name).or_default() += field(11) + field(12);
        }
    }
    by_name
}

/// Ticks to seconds (Linux USER_HZ is 100 on every supported platform).
pub fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / 100.0
}

/// Samples the tree's RSS and PSS in the background and keeps their peaks.
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    /// The tree at its highest PSS (supervisor excluded).
    peak_pss: Arc<std::sync::Mutex<Option<TreeMemory>>>,
    task: tokio::task::JoinHandle<()>,
}

/// The peaks a [`PeakSampler`] saw, in KiB (the supervisor `pincer` excluded from `pss_kb`).
pub struct Peaks {
    pub rss_kb: u64,
    pub pss_kb: u64,
    /// PSS by process when the summed PSS peaked, in MiB (what the peak was made of).
    pub pss_by_process_mib: serde_json::Value,
}

impl PeakSampler {
    /// Starts sampling every `every`.
    pub fn start(root: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let peak_pss = Arc::new(std::sync::Mutex::new(None::<TreeMemory>));
        let (stop_flag, peak_value, peak_pss_value) =
            (Arc::clone(&stop), Arc::clone(&peak), Arc::clone(&peak_pss));
        let task = tokio::task::spawn_blocking(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                let memory = tree_memory(root);
                peak_value.fetch_max(memory.rss_kb, Ordering::Relaxed);
                let mut highest = peak_pss_value
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let pss = memory.pss_kb_without("pincer");
                if highest
                    .as_ref()
                    .is_none_or(|highest| pss > highest.pss_kb_without("pincer"))
                {
                    *highest = Some(memory);
                }
                drop(highest);
                std::thread::sleep(every);
            }
        });
        Self {
            stop,
            peak,
            peak_pss,
            task,
        }
    }

    /// Stops and returns the peaks.
    pub async fn stop(mut self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        let _ = (&mut self.task).await;
        let highest = self
            .peak_pss
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        Peaks {
            rss_kb: self.peak.load(Ordering::Relaxed),
            pss_kb: highest
                .as_ref()
                .map_or(0, |memory| memory.pss_kb_without("pincer")),
            pss_by_process_mib: highest
                .map_or(serde_json::Value::Null, |memory| memory.pss_by_name()),
        }
    }
}

impl Drop for PeakSampler {
    /// Ends the sampling thread when a phase is abandoned (error, Ctrl-C): the runtime waits for
    /// blocking tasks at shutdown, so a thread left looping would keep the process alive.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A short description of this machine.
pub fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    serde_json::json!({ "cpu": cpu, "cores": cores })
}
