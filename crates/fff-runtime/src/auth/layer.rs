//! Server side: a tower layer over `http::Request`, because tonic interceptors cannot see the
//! method path. Mutating methods without the right bearer token get a trailers-only
//! UNAUTHENTICATED response and never reach the service.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use tower::{Layer, Service};

use crate::secret::{SecretString, constant_time_eq};

/// Requires a bearer token on the listed method paths (`/fff.gateway.v1.Gateway/PlaceOrder`).
#[derive(Clone)]
pub struct AuthLayer {
    policy: Arc<Policy>,
}

struct Policy {
    /// `None`: no token configured, so mutating methods are refused (fail closed).
    token: Option<SecretString>,
    mutating: HashSet<String>,
}

impl AuthLayer {
    /// `token: None` refuses every mutating call.
    pub fn new<I, M>(token: Option<SecretString>, mutating_methods: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: Into<String>,
    {
        Self {
            policy: Arc::new(Policy {
                token,
                mutating: mutating_methods.into_iter().map(Into::into).collect(),
            }),
        }
    }

    /// Whether `path` needs a token.
    pub fn is_mutating(&self, path: &str) -> bool {
        self.policy.mutating.contains(path)
    }
}

impl Policy {
    fn authorized(&self, headers: &http::HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return false;
        };
        let Some(value) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        // RFC 6750: the scheme name is case-insensitive
        let Some((scheme, presented)) = value.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && constant_time_eq(presented.trim().as_bytes(), expected.expose().as_bytes())
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("token", &self.policy.token)
            .field("mutating", &self.policy.mutating)
            .finish()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            policy: Arc::clone(&self.policy),
        }
    }
}

/// The service [`AuthLayer`] produces.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService").finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // the inner service is tonic's router, which is always ready and reserves nothing
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if self.policy.mutating.contains(path) && !self.policy.authorized(request.headers()) {
            tracing::warn!(rpc.method = %path, "rejected call without a valid bearer token");
            let status = tonic::Status::unauthenticated("missing or invalid bearer token");
            return Either::Left(ready(Ok(status.into_http())));
        }
        Either::Right(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    async fn call(layer: &AuthLayer, path: &str, auth: Option<&str>) -> http::Response<String> {
        let inner = tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new("reached".to_owned()))
        });
        let mut service = layer.layer(inner);
        let mut request = http::Request::builder().uri(format!("http://x{path}"));
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        service.call(request.body(()).unwrap()).await.unwrap()
    }

    fn grpc_status(response: &http::Response<String>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn mutating_methods_need_the_exact_token() {
        let layer = AuthLayer::new(Some(SecretString::from("s3cret")), ["/p.S/Write"]);
        let open = call(&layer, "/p.S/Read", None).await;
        assert_eq!(open.body(), "reached");

        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Basic s3cret"),
            Some("Bearer s3cre"),
        ] {
            let denied = call(&layer, "/p.S/Write", auth).await;
            assert_eq!(denied.status(), http::StatusCode::OK, "{auth:?}");
            assert_eq!(grpc_status(&denied), Some("16"), "{auth:?}");
            assert_eq!(denied.body(), "", "{auth:?}");
        }
        for auth in ["Bearer s3cret", "bearer s3cret"] {
            assert_eq!(
                call(&layer, "/p.S/Write", Some(auth)).await.body(),
                "reached"
            );
        }
    }

    #[tokio::test]
    async fn without_a_token_mutating_calls_fail_closed() {
        let layer = AuthLayer::new(None, ["/p.S/Write"]);
        let denied = call(&layer, "/p.S/Write", Some("Bearer anything")).await;
        assert_eq!(grpc_status(&denied), Some("16"));
        assert!(!format!("{layer:?}").contains("anything"));
    }
}
