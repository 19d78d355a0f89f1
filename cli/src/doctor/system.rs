//! The machine under the stack, as the seed report's 2 GB VPS advice asks: swap (a small VPS
//! without it meets the OOM killer instead of slowing down) and the firewall (`ufw`: deny
//! incoming, allow SSH, keep the gateway's port closed unless it is meant to be public).

use std::path::PathBuf;
use std::process::Command;

use super::{Check, State, check};

/// At or below this much RAM, a machine is a small VPS that needs swap.
const SMALL_MACHINE_KIB: u64 = 4 * 1024 * 1024;
/// The swap the seed report gives a 2 GB VPS.
const SUGGESTED_SWAP: &str = "4G";

/// The fields of `/proc/meminfo` this looks at, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct MemInfo {
    pub total: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

impl MemInfo {
    pub(super) fn parse(text: &str) -> Option<Self> {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        };
        Some(Self {
            total: field("MemTotal")?,
            swap_total: field("SwapTotal").unwrap_or(0),
            swap_free: field("SwapFree").unwrap_or(0),
        })
    }
}

/// Swap, against the machine's size.
pub(super) fn swap_check(out: &mut Vec<Check>) {
    let Some(info) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| MemInfo::parse(&text))
    else {
        out.push(check("swap", State::Skip, "/proc/meminfo unreadable", ""));
        return;
    };
    let swappiness = std::fs::read_to_string("/proc/sys/vm/swappiness")
        .ok()
        .map(|s| s.trim().to_owned());
    out.push(swap_verdict(info, swappiness.as_deref()));
}

pub(super) fn swap_verdict(info: MemInfo, swappiness: Option<&str>) -> Check {
    let mib = |kib: u64| kib / 1024;
    let swappiness = swappiness.map_or(String::new(), |s| format!(", swappiness {s}"));
    if info.swap_total == 0 && info.total <= SMALL_MACHINE_KIB {
        return check(
            "swap",
            State::Warn,
            format!(
                "no swap on a {} MiB machine: a burst (a build, a big MCP server) meets the OOM killer",
                mib(info.total)
            ),
            format!(
                "sudo fallocate -l {SUGGESTED_SWAP} /swapfile && sudo chmod 600 /swapfile && sudo mkswap /swapfile && sudo swapon /swapfile, and add `/swapfile none swap sw 0 0` to /etc/fstab"
            ),
        );
    }
    if info.swap_total > 0 && info.swap_free * 4 < info.swap_total {
        return check(
            "swap",
            State::Warn,
            format!(
                "{} of {} MiB swap in use{swappiness}: the machine is short of memory",
                mib(info.swap_total - info.swap_free),
                mib(info.swap_total)
            ),
            "see which processes hold memory (pincer gateway status, top); stop what is not needed",
        );
    }
    check(
        "swap",
        State::Ok,
        format!(
            "{} MiB swap, {} MiB free{swappiness}",
            mib(info.swap_total),
            mib(info.swap_free)
        ),
        "",
    )
}

/// `ufw status`, where ufw is installed, against how the gateway is bound.
pub(super) fn firewall_check(gateway_port: u16, exposed: bool, out: &mut Vec<Check>) {
    let Some(ufw) = ufw_program() else {
        out.push(check(
            "firewall",
            State::Skip,
            "ufw is not installed (another firewall may be in use)",
            if exposed {
                "the gateway listens beyond loopback: make sure a firewall admits only who should reach it"
            } else {
                ""
            },
        ));
        return;
    };
    let output = Command::new(&ufw).arg("status").output();
    let text = match output {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        Ok(output) => {
            let why = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            out.push(check(
                "firewall",
                State::Skip,
                format!("`ufw status` failed: {why}"),
                "run `sudo pincer doctor` to read the firewall",
            ));
            return;
        }
        Err(error) => {
            out.push(check(
                "firewall",
                State::Skip,
                format!("cannot run ufw: {error}"),
                "",
            ));
            return;
        }
    };
    out.push(ufw_verdict(&text, gateway_port, exposed));
}

/// The firewall's verdict from `ufw status`'s text.
pub(super) fn ufw_verdict(status: &str, gateway_port: u16, exposed: bool) -> Check {
    let active = status
        .lines()
        .any(|line| line.trim().eq_ignore_ascii_case("Status: active"));
    if !active {
        return check(
            "firewall",
            if exposed { State::Fail } else { State::Warn },
            "ufw is inactive: every listening port is reachable",
            "sudo ufw default deny incoming && sudo ufw allow 22/tcp && sudo ufw enable (tailnet only: sudo ufw allow in on tailscale0 to any port 18789)",
        );
    }
    let port = gateway_port.to_string();
    let open_to_anyone = status.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let names_port = fields
            .first()
            .is_some_and(|to| to.split('/').next() == Some(port.as_str()));
        names_port && line.contains("ALLOW") && line.contains("Anywhere") && !line.contains(" on ")
    });
    if open_to_anyone {
        return check(
            "firewall",
            State::Warn,
            format!("ufw is active and admits anyone to the gateway's port {port}"),
            format!(
                "sudo ufw delete allow {port}/tcp; reach it over SSH forwarding or Tailscale (sudo ufw allow in on tailscale0 to any port {port})"
            ),
        );
    }
    check(
        "firewall",
        State::Ok,
        format!("ufw is active; port {port} is not open to anyone"),
        "",
    )
}

/// `ufw` on PATH, or where Debian puts it (root's PATH has /usr/sbin, a user's may not).
fn ufw_program() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("ufw"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/ufw");
        sbin.is_file().then_some(sbin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_GB_NO_SWAP: &str = "MemTotal:        2014232 kB\nMemFree:          812344 kB\nMemAvailable:    1500000 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n";

    #[test]
    fn a_small_machine_without_swap_is_told_how_to_add_it() {
        let info = MemInfo::parse(TWO_GB_NO_SWAP).expect("meminfo");
        assert_eq!(info.total, 2_014_232);
        let verdict = swap_verdict(info, Some("60"));
        assert_eq!(verdict.state, State::Warn);
        assert!(verdict.fix.contains("fallocate -l 4G"), "{}", verdict.fix);
        let big = MemInfo {
            total: 32 * 1024 * 1024,
            ..info
        };
        assert_eq!(
            swap_verdict(big, None).state,
            State::Ok,
            "a big machine may go without"
        );
    }

    #[test]
    fn swap_nearly_used_up_is_a_warning() {
        let tight = MemInfo {
            total: 2_000_000,
            swap_total: 4_000_000,
            swap_free: 500_000,
        };
        assert_eq!(swap_verdict(tight, Some("60")).state, State::Warn);
        let fine = MemInfo {
            swap_free: 3_900_000,
            ..tight
        };
        let verdict = swap_verdict(fine, Some("60"));
        assert_eq!(verdict.state, State::Ok);
        assert!(
            verdict.detail.contains("swappiness 60"),
            "{}",
            verdict.detail
        );
    }

    #[test]
    fn ufw_inactive_or_open_to_anyone_is_reported() {
        let inactive = ufw_verdict("Status: inactive\n", 18789, false);
        assert_eq!(inactive.state, State::Warn);
        assert_eq!(
            ufw_verdict("Status: inactive\n", 18789, true).state,
            State::Fail
        );
        let open = "Status: active\n\nTo                         Action      From\n--                         ------      ----\n22/tcp                     ALLOW       Anywhere\n18789/tcp                  ALLOW       Anywhere\n18789/tcp (v6)             ALLOW       Anywhere (v6)\n";
        assert_eq!(ufw_verdict(open, 18789, true).state, State::Warn);
        let tailnet = "Status: active\n\nTo                         Action      From\n--                         ------      ----\n22/tcp                     ALLOW       Anywhere\n18789 on tailscale0        ALLOW       Anywhere\n";
        let verdict = ufw_verdict(tailnet, 18789, true);
        assert_eq!(verdict.state, State::Ok, "{}", verdict.detail);
    }
}
