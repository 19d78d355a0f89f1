//! Which top-level sections a caller validates fully (env vars and semantic checks).

/// The top-level sections (`gateway`, `models`, `agents`, `channels`, ...) a caller validates.
///
/// Unknown keys and type errors are reported for the whole file whatever the scope; missing
/// `${VAR}`s and semantic checks only inside it, so a service is not stopped by a variable that
/// only another service's environment provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every section (the CLI's `config validate`).
    All,
    /// Only these top-level keys.
    Sections(&'static [&'static str]),
    /// These top-level keys, except values under the keys named in `unread` (anywhere inside):
    /// secrets another service checks (the channel-bridge never reads `appSecret`), which need not
    /// be in this service's environment.
    SectionsExcept {
        /// The top-level keys validated.
        sections: &'static [&'static str],
        /// Keys this service never reads.
        unread: &'static [&'static str],
    },
}

impl Scope {
    /// Whether the top-level key `section` is validated under this scope.
    #[must_use]
    pub fn includes(&self, section: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Sections(sections) | Scope::SectionsExcept { sections, .. } => {
                sections.contains(&section)
            }
        }
    }

    /// Whether values under `key` are left unchecked (a secret only another service reads).
    #[must_use]
    pub fn unread(&self, key: &str) -> bool {
        match self {
            Scope::SectionsExcept { unread, .. } => unread.contains(&key),
            Scope::All | Scope::Sections(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_includes_everything_sections_only_listed() {
        assert!(Scope::All.includes("channels"));
        let scope = Scope::Sections(&["gateway", "agents"]);
        assert!(scope.includes("gateway"));
        assert!(scope.includes("agents"));
        assert!(!scope.includes("models"));
    }
}
