//! What every role's `run(context, listener, shutdown)` receives besides its listener and
//! shutdown future: the validated configuration, the secrets read from the environment, and
//! the bearer token that guards its mutating RPCs.

use crate::config::{FffConfig, Secrets};
use crate::secret::SecretString;

/// Start-up context of one role. Built once by the `fff` binary (or a test) and moved into
/// the role's `run`.
#[derive(Debug, Clone)]
pub struct RoleContext {
    /// Validated configuration (defaults, file, env and CLI overrides merged).
    pub config: FffConfig,
    /// Secrets from the environment (database URL, exchange keys); redacted in `Debug`.
    pub secrets: Secrets,
    /// Token required on mutating RPCs. `None` refuses every mutating call (secure by default).
    pub auth_token: Option<SecretString>,
}

impl RoleContext {
    /// A context with the given configuration, no secrets and no token.
    pub fn new(config: FffConfig) -> Self {
        Self {
            config,
            secrets: Secrets::default(),
            auth_token: None,
        }
    }

    /// Sets the token that mutating RPCs must carry.
    pub fn with_auth_token(mut self, token: SecretString) -> Self {
        self.auth_token = Some(token);
        self
    }

    /// Sets the secrets (database URL, exchange keys).
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }
}
