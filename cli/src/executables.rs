//! The services' executables as `pincer` finds them in a directory (beside itself, or a bin dir):
//! one multi-call executable for every service, or each service's own binary.

use std::path::{Path, PathBuf};

/// Every service in one executable (`services/all`): it runs the service named by the path it is
/// started under (`argv[0]`), so the processes share one copy of the code in memory.
pub const MULTI_CALL: &str = "pincer-services";

/// `dir`'s [`MULTI_CALL`] executable, when it has one.
pub fn multi_call_in(dir: &Path) -> Option<PathBuf> {
    let path = dir.join(MULTI_CALL);
    path.is_file().then_some(path)
}
