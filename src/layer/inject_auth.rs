//! What the gateway is told about the caller: the `X-Bkapi-Authorization` value (the
//! caller's credentials in `passthrough` mode, the shim's own app with the caller's user
//! in `app` mode) and, for `/api/v3/system/*`, the `X-Bk-Username`. It travels as the
//! [`UpstreamAuth`](crate::auth::UpstreamAuth) request extension to the route handlers, which mark the header
//! sensitive on every upstream request; it is never logged.

use super::{BoxFuture, Resp, refuse, take};
use crate::auth::{self, AppIdentity, Caller};
use crate::config::AuthConfig;
use crate::error::ShimError;
use http::Request;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Computes the upstream credentials of each request.
#[derive(Debug, Clone)]
pub struct InjectAuthLayer {
    config: Arc<AuthConfig>,
    app: Arc<AppIdentity>,
}

impl InjectAuthLayer {
    /// Credentials per `config` (`[auth]`), with the shim's own `app` identity.
    pub fn new(config: AuthConfig, app: AppIdentity) -> Self {
        Self {
            config: Arc::new(config),
            app: Arc::new(app),
        }
    }
}

impl<S> Layer<S> for InjectAuthLayer {
    type Service = InjectAuth<S>;
    fn layer(&self, inner: S) -> InjectAuth<S> {
        InjectAuth {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`InjectAuthLayer`].
#[derive(Debug, Clone)]
pub struct InjectAuth<S> {
    inner: S,
    layer: InjectAuthLayer,
}

impl<S, B> Service<Request<B>> for InjectAuth<S>
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
        let found = match req.extensions().get::<Caller>() {
            Some(c) => auth::upstream_auth(&self.layer.config, &self.layer.app, c),
            None => Err(ShimError::MissingAppCode),
        };
        match found {
            Ok(a) => {
                req.extensions_mut().insert(a);
                let mut inner = take(&mut self.inner);
                Box::pin(async move { inner.call(req).await })
            }
            Err(e) => Box::pin(async move { Ok(refuse(e)) }),
        }
    }
}
