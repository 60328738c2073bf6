//! Process-wide TLS for gRPC, installed once at start-up from `[tls]` ([`install`]): the
//! server builder then serves TLS and [`endpoint`] (every client of another role) connects
//! with it. Without an installed configuration both stay plaintext, as before.

use std::path::Path;
use std::sync::OnceLock;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::config::TlsConfig;
use crate::error::{Error, Result};

#[derive(Debug)]
struct Installed {
    server: ServerTlsConfig,
    client: ClientTlsConfig,
}

static TLS: OnceLock<Installed> = OnceLock::new();

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::TlsFile {
        key,
        path: path.to_owned(),
        source,
    })
}

/// Reads the certificate, key and CA named by `config` and makes them the process's TLS
/// settings; returns whether TLS is on. A second call keeps the first settings.
pub fn install(config: &TlsConfig) -> Result<bool> {
    if !config.enabled {
        return Ok(false);
    }
    let cert = read("tls.cert_file", &config.cert_file)?;
    let key = read("tls.key_file", &config.key_file)?;
    let ca = Certificate::from_pem(read("tls.ca_file", &config.ca_file)?);
    let identity = Identity::from_pem(cert, key);
    let mut client = ClientTlsConfig::new().ca_certificate(ca);
    if !config.server_name.is_empty() {
        client = client.domain_name(config.server_name.clone());
    }
    let _ = TLS.set(Installed {
        server: ServerTlsConfig::new().identity(identity),
        client,
    });
    Ok(true)
}

/// Whether TLS was installed for this process.
pub fn enabled() -> bool {
    TLS.get().is_some()
}

pub(crate) fn server_config() -> Option<ServerTlsConfig> {
    TLS.get().map(|tls| tls.server.clone())
}

/// An endpoint for `url` (`http://host:port`); with TLS installed it is reached over
/// `https://` and verified against the configured CA.
pub fn endpoint(url: &str) -> Result<Endpoint> {
    match TLS.get() {
        None => Ok(Endpoint::from_shared(url.to_owned())?),
        Some(tls) => {
            let secure = url
                .strip_prefix("http://")
                .map_or_else(|| url.to_owned(), |rest| format!("https://{rest}"));
            Ok(Endpoint::from_shared(secure)?.tls_config(tls.client.clone())?)
        }
    }
}
