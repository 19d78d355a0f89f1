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
}

impl Scope {
    /// Whether the top-level key `section` is validated under this scope.
    #[must_use]
    pub fn includes(&self, section: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Sections(sections) => sections.contains(&section),
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
