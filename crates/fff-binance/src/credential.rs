//! API credentials. The secret never appears in `Debug`, logs or errors and is zeroed on drop.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// An API key and its HMAC secret.
#[derive(Clone)]
pub struct Credentials {
    api_key: String,
    secret: Zeroizing<String>,
}

impl Credentials {
    pub fn new(api_key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            secret: Zeroizing::new(secret.into()),
        }
    }

    /// The public half, sent in the `X-MBX-APIKEY` header.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Lowercase hex HMAC-SHA256 of `payload` keyed by the secret.
    pub fn sign(&self, payload: &str) -> String {
        hmac_sha256_hex(self.secret.as_bytes(), payload.as_bytes())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &redact(&self.api_key))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Keeps only the first four characters of a key, enough to tell accounts apart in logs.
fn redact(key: &str) -> String {
    let prefix: String = key.chars().take(4).collect();
    format!("{prefix}…")
}

pub(crate) fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secret_and_most_of_key() {
        let creds = Credentials::new(
            "vmPUZE6mv9SD5VNHk4HlWFsOr6aK",
            "NhqPtmdSJYdKjVHjA7PZj4Mge3R5",
        );
        let shown = format!("{creds:?}");
        assert!(!shown.contains("NhqPtmd"), "{shown}");
        assert!(!shown.contains("vmPUZE6mv9"), "{shown}");
        assert!(shown.contains("vmPU"), "{shown}");
    }
}
