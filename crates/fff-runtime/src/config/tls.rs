//! `[tls]`: optional TLS on every gRPC listener and client (rustls with ring). One switch for
//! the whole deployment: with `enabled`, every role serves TLS with its certificate and key,
//! and every client (roles calling roles, `fff status`, `fff health`) verifies the server
//! against `ca_file` and speaks `https://` whatever scheme an endpoint is written with.

use std::path::PathBuf;

use fff_core::params::ParamError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub enabled: bool,
    /// This role's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM; PKCS#8, PKCS#1 or SEC1). Keep it 0600.
    pub key_file: PathBuf,
    /// The CA that signed the roles' certificates (PEM); clients trust only it.
    pub ca_file: PathBuf,
    /// The name clients expect in a server's certificate; empty = the endpoint's host. Set it
    /// when roles are reached by addresses their certificates do not name.
    pub server_name: String,
}

impl TlsConfig {
    pub fn validate(&self) -> Vec<ParamError> {
        if !self.enabled {
            return Vec::new();
        }
        [
            ("tls.cert_file", &self.cert_file),
            ("tls.key_file", &self.key_file),
            ("tls.ca_file", &self.ca_file),
        ]
        .into_iter()
        .filter(|(_, path)| path.as_os_str().is_empty())
        .map(|(key, _)| ParamError {
            key: key.to_owned(),
            message: "required when tls.enabled is true".to_owned(),
        })
        .collect()
    }
}
