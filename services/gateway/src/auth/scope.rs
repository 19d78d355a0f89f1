//! Operator scopes: what a control connection may do. The credential decides which it may hold
//! ([`super::Credential::allowed_scopes`]); each method names the one it needs.

/// One scope, as OpenClaw names them on the wire (`operator.read`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Status, history, models, usage: looking.
    Read,
    /// Sending, aborting and resetting: acting in sessions (implies read).
    Write,
    /// Approving and rejecting DM pairing requests.
    Pairing,
    /// The configuration (implies every scope).
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Pairing, Scope::Admin];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "operator.read",
            Scope::Write => "operator.write",
            Scope::Pairing => "operator.pairing",
            Scope::Admin => "operator.admin",
        }
    }

    /// The scope called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.name() == name)
    }

    /// Whether holding `self` grants `needed`.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed || self == Scope::Admin || (self == Scope::Write && needed == Scope::Read)
    }
}

/// The scopes a connection holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Holds `scopes`.
    pub fn new(scopes: Vec<Scope>) -> Self {
        Self(scopes)
    }

    /// Whether `needed` is held, directly or through a scope that implies it.
    pub fn allows(&self, needed: Scope) -> bool {
        self.0.iter().any(|held| held.grants(needed))
    }

    /// The wire names, for `hello-ok`.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|scope| scope.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_admin_and_write_imply_others() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.name()), Some(scope));
        }
        assert_eq!(Scope::parse("operator.root"), None);
        let write = Scopes::new(vec![Scope::Write]);
        assert!(write.allows(Scope::Read) && write.allows(Scope::Write));
        assert!(!write.allows(Scope::Pairing) && !write.allows(Scope::Admin));
        let admin = Scopes::new(vec![Scope::Admin]);
        assert!(Scope::ALL.into_iter().all(|scope| admin.allows(scope)));
        assert!(!Scopes::default().allows(Scope::Read));
    }
}
