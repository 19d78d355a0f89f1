//! seccomp: system calls a confined child has no business making, refused with `EPERM` (or
//! `ENOSYS`, where the C library falls back to an older call). Landlock already confines files and
//! TCP; this closes the kernel interfaces around it: tracing other processes, namespaces and
//! mounts, keyrings, BPF, io_uring, raw packets, leaving the process group (so a child can never
//! outlive the kill of its group), and, without network, every IP socket.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::ConfineError;
use crate::policy::Network;

/// Refused outright.
const DENIED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_setsid,
    libc::SYS_setpgid,
];

/// `clone` flags that would create a namespace.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWCGROUP as u64,
];

fn seccomp_error(error: impl std::fmt::Display) -> ConfineError {
    ConfineError::Seccomp(error.to_string())
}

/// `arg == value` (or `arg & value == value` with `masked`) on argument `index`.
fn condition(index: u8, value: u64, masked: bool) -> Result<SeccompRule, ConfineError> {
    let op = if masked {
        SeccompCmpOp::MaskedEq(value)
    } else {
        SeccompCmpOp::Eq
    };
    let condition =
        SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(seccomp_error)?;
    SeccompRule::new(vec![condition]).map_err(seccomp_error)
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> Result<BpfProgram, ConfineError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(seccomp_error)?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno.unsigned_abs()),
        arch,
    )
    .map_err(seccomp_error)?;
    filter.try_into().map_err(seccomp_error)
}

/// Installs the filters on this thread (and so on what it executes). Needs `no_new_privs`, which
/// Landlock's restriction has already set.
pub(crate) fn install(network: &Network) -> Result<(), ConfineError> {
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|call| (*call, Vec::new())).collect();
    denied.insert(
        libc::SYS_clone,
        NAMESPACE_FLAGS
            .iter()
            .map(|flag| condition(0, *flag, true))
            .collect::<Result<_, _>>()?,
    );
    let mut families = vec![libc::AF_PACKET];
    if *network == Network::Off {
        families.extend([libc::AF_INET, libc::AF_INET6]);
    }
    denied.insert(
        libc::SYS_socket,
        families
            .into_iter()
            .map(|family| condition(0, family.unsigned_abs().into(), false))
            .collect::<Result<_, _>>()?,
    );
    // clone3 passes its flags in memory, out of the filter's sight: ENOSYS makes the C library
    // fall back to clone, whose flags the rules above see.
    let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    for program in [
        compile(denied, libc::EPERM)?,
        compile(clone3, libc::ENOSYS)?,
    ] {
        seccompiler::apply_filter(&program).map_err(seccomp_error)?;
    }
    Ok(())
}
