//! Inbound JWT (`auth.jwt.required`): the `X-Bkapi-JWT` token must be signed by the
//! trusted key. A caller without a valid token is refused before its body is read; a
//! verified identity travels on as the [`Verified`] request extension and replaces what
//! the caller claims in the identify layer.

use super::{BoxFuture, Resp, refuse, take};
use crate::error::ShimError;
use crate::jwt::{JwtIdentity, JwtVerifier};
use http::Request;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Request extension: the identity a valid JWT carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified(pub JwtIdentity);

/// Verifies inbound JWTs when a verifier is configured; passes everything otherwise.
#[derive(Clone, Default)]
pub struct JwtLayer {
    verifier: Option<Arc<JwtVerifier>>,
}

impl JwtLayer {
    /// Verify with `verifier` (`None`: JWTs are not required).
    pub fn new(verifier: Option<JwtVerifier>) -> Self {
        Self {
            verifier: verifier.map(Arc::new),
        }
    }
}

impl<S> Layer<S> for JwtLayer {
    type Service = Jwt<S>;
    fn layer(&self, inner: S) -> Jwt<S> {
        Jwt {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service of [`JwtLayer`].
#[derive(Clone)]
pub struct Jwt<S> {
    inner: S,
    verifier: Option<Arc<JwtVerifier>>,
}

impl<S, B> Service<Request<B>> for Jwt<S>
where
    S: Service<Request<B>, Response = Resp> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Resp;
    type Error = S::Error;
    type Future = BoxFuture<Result<Resp, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(v) = &self.verifier {
            match v.verify(req.headers()) {
                Ok(id) => {
                    req.extensions_mut().insert(Verified(id));
                }
                Err(e) => return Box::pin(async move { Ok(refuse(ShimError::Jwt(e))) }),
            }
        }
        let mut inner = take(&mut self.inner);
        Box::pin(async move { inner.call(req).await })
    }
}
