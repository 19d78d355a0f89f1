//! What one confined child may do. The tool host builds a [`Policy`] per child, the helper applies
//! it to itself and then becomes the child; nothing in it is secret (it travels on the command
//! line), secrets travel in the child's environment only.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything a child may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// Read and execute beneath these paths (system directories, the program's own install).
    pub read: Vec<PathBuf>,
    /// Read, write, create and remove beneath these paths (the workspace for exec, the server's
    /// state directory for an MCP server). Device files listed here are opened read-write.
    pub write: Vec<PathBuf>,
    /// Whether the child may use the network, and where to.
    pub network: Network,
    /// Resource limits.
    pub limits: Limits,
    /// Process id of the process that starts the child: the child is killed when it dies, and
    /// never starts if it is already gone.
    pub parent: u32,
}

/// The network a child may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", tag = "mode")]
pub enum Network {
    /// No IPv4 or IPv6 sockets at all (Unix sockets and netlink stay usable).
    Off,
    /// TCP connections to these ports only (on any address: the network the tool host sits on
    /// decides what is reachable); no TCP listening. UDP (DNS) is not restricted by the kernel.
    Ports {
        /// Allowed destination ports.
        connect: Vec<u16>,
    },
}

impl Network {
    /// The usual outbound web: HTTPS, HTTP and DNS over TCP.
    #[must_use]
    pub fn web() -> Self {
        Self::Ports {
            connect: vec![443, 80, 53],
        }
    }
}

/// Resource limits, applied as rlimits to the child (and inherited by what it starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    /// Bytes of writable private memory (heap, anonymous mappings): `RLIMIT_DATA`. Address space
    /// that is only reserved (a JavaScript engine's cage) does not count.
    pub memory_bytes: u64,
    /// Processes and threads of the user, counting what already runs: `RLIMIT_NPROC`. Not
    /// enforced by the kernel for root.
    pub processes: u64,
    /// CPU seconds per process: `RLIMIT_CPU` (`None`: unlimited, for long-lived servers).
    pub cpu_seconds: Option<u64>,
    /// Largest file the child may write: `RLIMIT_FSIZE`.
    pub file_bytes: u64,
    /// Open file descriptors: `RLIMIT_NOFILE`.
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            processes: 64,
            cpu_seconds: None,
            file_bytes: 256 << 20,
            open_files: 1024,
        }
    }
}

impl Policy {
    /// The policy as one command-line argument.
    #[must_use]
    pub fn to_arg(&self) -> String {
        // A struct of paths, numbers and enums always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses [`Policy::to_arg`]'s output.
    pub fn from_arg(arg: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_survives_the_command_line() {
        let policy = Policy {
            read: vec!["/usr".into()],
            write: vec!["/work space/ä".into()],
            network: Network::web(),
            limits: Limits::default(),
            parent: 42,
        };
        assert_eq!(Policy::from_arg(&policy.to_arg()).expect("parses"), policy);
        let off = Policy {
            network: Network::Off,
            ..policy
        };
        assert!(off.to_arg().contains(r#""network":{"mode":"off"}"#));
        assert!(Policy::from_arg(r#"{"read":[]}"#).is_err());
    }
}
