//! API credentials: an API key plus either an HMAC secret or an Ed25519 private key. Secrets never
//! appear in `Debug`, logs or errors; the HMAC secret and decoded key bytes are zeroed on drop.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// How requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// HMAC-SHA256, lowercase hex signature.
    Hmac,
    /// Ed25519 (Binance's recommendation), base64 signature (percent-encoded on REST).
    Ed25519,
}

#[derive(Clone)]
enum Signer {
    Hmac(Zeroizing<String>),
    Ed25519(Arc<Ed25519KeyPair>),
}

/// An API key and the means to sign for it.
#[derive(Clone)]
pub struct Credentials {
    api_key: String,
    signer: Signer,
}

impl Credentials {
    /// HMAC key pair (API key + secret key).
    pub fn new(api_key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            signer: Signer::Hmac(Zeroizing::new(secret.into())),
        }
    }

    /// Ed25519 key registered with Binance; `private_key_pem` is the PKCS#8 PEM
    /// (`-----BEGIN PRIVATE KEY-----`) the key was generated as.
    pub fn ed25519(api_key: impl Into<String>, private_key_pem: &str) -> Result<Self> {
        let body: String = private_key_pem
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("-----") && !line.is_empty())
            .collect();
        let der = Zeroizing::new(
            BASE64
                .decode(body.as_bytes())
                .map_err(|_| Error::Config("ed25519 private key is not valid PEM".to_string()))?,
        );
        Self::ed25519_from_pkcs8_der(api_key, &der)
    }

    /// Ed25519 key from PKCS#8 DER bytes (v1 or v2).
    pub fn ed25519_from_pkcs8_der(api_key: impl Into<String>, der: &[u8]) -> Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| Error::Config("invalid ed25519 pkcs#8 private key".to_string()))?;
        Ok(Self {
            api_key: api_key.into(),
            signer: Signer::Ed25519(Arc::new(pair)),
        })
    }

    /// The public half, sent in the `X-MBX-APIKEY` header.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn key_type(&self) -> KeyType {
        match self.signer {
            Signer::Hmac(_) => KeyType::Hmac,
            Signer::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// Signs `payload`: lowercase hex HMAC-SHA256, or base64 Ed25519 (not yet percent-encoded).
    pub fn sign(&self, payload: &str) -> String {
        match &self.signer {
            Signer::Hmac(secret) => hmac_sha256_hex(secret.as_bytes(), payload.as_bytes()),
            Signer::Ed25519(pair) => BASE64.encode(pair.sign(payload.as_bytes()).as_ref()),
        }
    }

    /// The Ed25519 public key (to register with Binance), if this is an Ed25519 credential.
    pub fn ed25519_public_key(&self) -> Option<Vec<u8>> {
        match &self.signer {
            Signer::Hmac(_) => None,
            Signer::Ed25519(pair) => Some(pair.public_key().as_ref().to_vec()),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &redact(&self.api_key))
            .field("key_type", &self.key_type())
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
    use ring::signature::{ED25519, UnparsedPublicKey};

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

    /// Binance publishes Ed25519 example outputs but not the private keys, so the test generates a
    /// key pair and verifies the signature round trip.
    #[test]
    fn ed25519_pem_signs_verifiably() {
        let rng = ring::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let encoded = BASE64.encode(der.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{encoded}\n-----END PRIVATE KEY-----\n");
        let creds = Credentials::ed25519("ed-key", &pem).unwrap();
        assert_eq!(creds.key_type(), KeyType::Ed25519);
        let payload = "symbol=BTCUSDT&side=SELL&type=LIMIT&timestamp=1668481559918";
        let signature = BASE64.decode(creds.sign(payload)).unwrap();
        let public = creds.ed25519_public_key().unwrap();
        UnparsedPublicKey::new(&ED25519, public)
            .verify(payload.as_bytes(), &signature)
            .unwrap();
        assert!(!format!("{creds:?}").contains(&encoded[..16]));
        assert!(Credentials::ed25519("k", "-----BEGIN PRIVATE KEY-----\nnot base64!\n").is_err());
    }
}
