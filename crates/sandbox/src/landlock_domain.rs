//! Landlock: the files, TCP ports and IPC a confined child keeps. Everything not granted here is
//! refused by the kernel, for the child and for everything it starts, however it was started. The
//! child also lands in a domain of its own, so it can neither signal nor read the `/proc` entries
//! (environ, memory, fds) of the tool host or of any other child.

use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible as _, NetPort, PathBeneath,
    PathFd, Ruleset, RulesetAttr as _, RulesetCreatedAttr as _, RulesetStatus, Scope,
};

use crate::ConfineError;
use crate::policy::{Network, Policy};

/// The newest Landlock ABI whose rights this code knows and has tested (6: filesystem, TCP
/// ports, signal and abstract-socket scoping). Older kernels get what they support.
const ABI_TESTED: ABI = ABI::V6;

/// Restricts this process (and what it will execute) to `policy`. Paths that do not exist are
/// skipped. Fails when the kernel enforces no filesystem restriction at all.
pub(crate) fn restrict(policy: &Policy) -> Result<(), ConfineError> {
    let landlock_error = |error: landlock::RulesetError| ConfineError::Landlock(error.to_string());
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI_TESTED))
        .map_err(landlock_error)?
        .handle_access(AccessNet::from_all(ABI_TESTED))
        .map_err(landlock_error)?
        .scope(Scope::from_all(ABI_TESTED))
        .map_err(landlock_error)?
        .create()
        .map_err(landlock_error)?;
    let grants = [
        (&policy.read, AccessFs::from_read(ABI_TESTED)),
        (&policy.write, AccessFs::from_all(ABI_TESTED)),
    ];
    for (paths, access) in grants {
        for rule in paths.iter().filter_map(|path| rule(path, access)) {
            ruleset = ruleset.add_rule(rule).map_err(landlock_error)?;
        }
    }
    if let Network::Ports { connect } = &policy.network {
        for port in connect {
            ruleset = ruleset
                .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
                .map_err(landlock_error)?;
        }
    }
    let status = ruleset.restrict_self().map_err(landlock_error)?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(ConfineError::Landlock(
            "this kernel enforces no Landlock rules (Linux 5.13 or later with landlock in its lsm= list is needed)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// A rule granting `access` beneath `path`; a file gets only the rights files can have.
fn rule(path: &Path, access: BitFlags<AccessFs>) -> Option<PathBeneath<PathFd>> {
    let is_dir = std::fs::metadata(path).ok()?.is_dir();
    let fd = PathFd::new(path).ok()?;
    let access = if is_dir {
        access
    } else {
        access & AccessFs::from_file(ABI_TESTED)
    };
    Some(PathBeneath::new(fd, access))
}

/// The newest Landlock ABI (1..=6) this kernel enforces in full; 0 when it has no Landlock.
#[must_use]
pub fn kernel_abi() -> u8 {
    [
        (6, ABI::V6),
        (5, ABI::V5),
        (4, ABI::V4),
        (3, ABI::V3),
        (2, ABI::V2),
        (1, ABI::V1),
    ]
    .into_iter()
    .find(|(_, abi)| supported(*abi))
    .map_or(0, |(version, _)| version)
}

/// Whether a ruleset handling every right of `abi` can be created (hard requirement).
fn supported(abi: ABI) -> bool {
    let ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi));
    let ruleset = match abi {
        ABI::V1 | ABI::V2 | ABI::V3 => ruleset,
        _ => ruleset.and_then(|r| r.handle_access(AccessNet::from_all(abi))),
    };
    let ruleset = match abi {
        ABI::V6 => ruleset.and_then(|r| r.scope(Scope::from_all(abi))),
        _ => ruleset,
    };
    ruleset.and_then(|r| r.create()).is_ok()
}
