//! Bearer-token auth for mutating RPCs: the token source, the server-side tower layer and the
//! client-side interceptor. Reads stay open; every method listed as mutating needs
//! `authorization: Bearer <token>`.

mod layer;
mod token;

use std::fmt;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;

use crate::error::{Error, Result};
use crate::secret::SecretString;

pub use layer::{AuthLayer, AuthService};
pub use token::{
    DEFAULT_TOKEN_PATH, load_or_create_token, load_or_create_token_in, load_token, load_token_in,
};

/// Header carrying the token.
pub const AUTHORIZATION: &str = "authorization";

/// Client interceptor adding `authorization: Bearer <token>` to every request, for generated
/// clients: `GatewayClient::with_interceptor(channel, BearerAuth::new(&token)?)`.
#[derive(Clone)]
pub struct BearerAuth {
    value: MetadataValue<Ascii>,
}

impl BearerAuth {
    pub fn new(token: &SecretString) -> Result<Self> {
        let invalid = || Error::TokenInvalid {
            source_name: "client config".to_owned(),
        };
        if !token::is_valid_token(token.expose()) {
            return Err(invalid());
        }
        let mut value =
            MetadataValue::try_from(format!("Bearer {}", token.expose())).map_err(|_| invalid())?;
        // keeps the value out of HPACK tables and tonic's Debug output
        value.set_sensitive(true);
        Ok(Self { value })
    }

    /// Adds the header to `metadata`.
    pub fn apply(&self, metadata: &mut tonic::metadata::MetadataMap) {
        metadata.insert(AUTHORIZATION, self.value.clone());
    }
}

impl Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        self.apply(request.metadata_mut());
        Ok(request)
    }
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerAuth([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_auth_sets_a_sensitive_header_and_hides_it() {
        let mut auth = BearerAuth::new(&SecretString::from("abc123")).unwrap();
        let request = auth.call(tonic::Request::new(())).unwrap();
        let value = request.metadata().get(AUTHORIZATION).unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer abc123");
        assert!(value.is_sensitive());
        assert!(!format!("{auth:?}").contains("abc123"));
        assert!(BearerAuth::new(&SecretString::from("has space")).is_err());
        assert!(BearerAuth::new(&SecretString::from("")).is_err());
    }
}
