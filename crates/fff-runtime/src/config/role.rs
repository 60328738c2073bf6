//! The service roles one `fff` binary can run, and their default ports.

use std::fmt;
use std::str::FromStr;

/// A service role (`fff <role>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Gateway,
    Scanner,
    Executor,
    Risk,
    Rebalancer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Gateway,
        Role::Scanner,
        Role::Executor,
        Role::Risk,
        Role::Rebalancer,
    ];

    /// Lowercase name used in config keys, CLI subcommands and as the default service name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Scanner => "scanner",
            Role::Executor => "executor",
            Role::Risk => "risk",
            Role::Rebalancer => "rebalancer",
        }
    }
}

/// The gRPC port a role listens on unless configured otherwise.
pub fn default_port(role: Role) -> u16 {
    match role {
        Role::Gateway => 50051,
        Role::Scanner => 50052,
        Role::Executor => 50053,
        Role::Risk => 50054,
        Role::Rebalancer => 50055,
    }
}

/// `http://127.0.0.1:<default port>`: where clients find a role on a single host.
pub fn default_endpoint(role: Role) -> String {
    format!("http://127.0.0.1:{}", default_port(role))
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected gateway, scanner, executor, risk or rebalancer)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_ports_are_distinct() {
        let mut ports: Vec<u16> = Role::ALL.iter().map(|r| default_port(*r)).collect();
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        ports.dedup();
        assert_eq!(ports, vec![50051, 50052, 50053, 50054, 50055]);
        assert!("sim".parse::<Role>().is_err());
    }
}
