//! Who is calling, and may they: credentials are found (incoming
//! `X-Bkapi-Authorization`, else the body, the query string, the `bk_token` cookie) and
//! lifted out of the parameters; a verified JWT identity replaces what the caller
//! claims; the app code must have an app code's shape and, when `auth.allowed_apps` is
//! set, be on it — before it becomes a rate-limit key or a metric label.
//!
//! [`IdentifyLayer::refuse_early`] is the part that needs no body: the legacy-body layer
//! asks it before reading one.
//!
//! The [`Caller`] travels on as a request extension; the bounded metric label
//! ([`AppLabel`]) too, and it is put on the response, whatever the outcome.

use super::jwt::Verified;
use super::legacy_body::LegacyCall;
use super::{AppLabel, BoxFuture, Resp, refuse, take};
use crate::auth::{self, Caller};
use crate::error::ShimError;
use crate::jwt::NoUserPolicy;
use crate::metrics::app_label;
use http::Request;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Identifies callers and enforces the allow-list.
#[derive(Debug, Clone, Default)]
pub struct IdentifyLayer {
    allowed: Arc<BTreeSet<String>>,
    labels: Arc<BTreeSet<String>>,
    no_user: NoUserPolicy,
}

impl IdentifyLayer {
    /// `allowed`: `auth.allowed_apps` (empty = any); `labels`: app codes that may be
    /// metric labels.
    pub fn new(allowed: &[String], labels: BTreeSet<String>) -> Self {
        Self {
            allowed: Arc::new(allowed.iter().cloned().collect()),
            labels: Arc::new(labels),
            no_user: NoUserPolicy::default(),
        }
    }

    /// What a verified JWT without a user means (`auth.jwt.no_user`).
    pub fn with_no_user(mut self, no_user: NoUserPolicy) -> Self {
        self.no_user = no_user;
        self
    }
}

impl<S> Layer<S> for IdentifyLayer {
    type Service = Identify<S>;
    fn layer(&self, inner: S) -> Identify<S> {
        Identify {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`IdentifyLayer`].
#[derive(Debug, Clone)]
pub struct Identify<S> {
    inner: S,
    layer: IdentifyLayer,
}

impl<S> Service<Request<LegacyCall>> for Identify<S>
where
    S: Service<Request<LegacyCall>, Response = Resp> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Resp;
    type Error = S::Error;
    type Future = BoxFuture<Result<Resp, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<LegacyCall>) -> Self::Future {
        let (mut parts, mut call) = req.into_parts();
        let (caller, label) = self.layer.identify(&parts, &mut call);
        let mut inner = take(&mut self.inner);
        Box::pin(async move {
            let mut resp = match caller {
                Ok(c) => {
                    parts.extensions.insert(c);
                    parts.extensions.insert(AppLabel(label.clone()));
                    inner.call(Request::from_parts(parts, call)).await?
                }
                Err(e) => refuse(e),
            };
            resp.extensions_mut().insert(AppLabel(label));
            Ok(resp)
        })
    }
}

impl IdentifyLayer {
    fn identify(
        &self,
        parts: &http::request::Parts,
        call: &mut LegacyCall,
    ) -> (Result<Caller, ShimError>, Cow<'static, str>) {
        let verified = parts.extensions.get::<Verified>().cloned();
        let caller = auth::identify(
            &parts.headers,
            &call.query,
            &mut call.params,
            call.cookie_allowed,
        );
        let mut caller = match caller {
            Ok(c) => c,
            Err(e) => return (Err(e), Cow::Borrowed("none")),
        };
        if verified.is_none() {
            if let Some(kind) = call.guarded {
                if cookie_only(&caller, &parts.headers) {
                    return (Err(ShimError::CookieOnly(kind)), Cow::Borrowed("none"));
                }
            }
        }
        if let Some(Verified(id)) = verified {
            // The verified identity replaces what the caller claims (allow-list, limiter,
            // metrics, and what the gateway is told).
            // A token without a user never lets the request choose one.
            if let Err(e) = caller.set_verified_identity(&id, self.no_user) {
                return (Err(e), Cow::Borrowed("none"));
            }
        }
        let app = caller.credentials.app_code.clone();
        if let Some(a) = &app {
            if let Err(e) = auth::check_app_code(a) {
                return (Err(e), Cow::Borrowed("none"));
            }
            tracing::Span::current().record("app_code", a.as_str());
        }
        let label = match app_label(app.as_deref(), &self.labels) {
            "none" => Cow::Borrowed("none"),
            "other" => Cow::Borrowed("other"),
            configured => Cow::Owned(configured.to_owned()),
        };
        let result = match app {
            None => Err(ShimError::MissingAppCode),
            Some(a) if !self.allowed.is_empty() && !self.allowed.contains(&a) => {
                Err(ShimError::AppNotAllowed(a))
            }
            Some(_) => Ok(caller),
        };
        (result, label)
    }
}

impl IdentifyLayer {
    /// What can be decided before the body is read: the app of a verified JWT or of an
    /// incoming `X-Bkapi-Authorization` (each takes precedence over whatever the body
    /// says) must have an app code's shape and be allowed, so such a caller is refused
    /// before its body is read or parsed. `None`: nothing to refuse yet (the body may
    /// name the app).
    pub fn refuse_early(&self, parts: &http::request::Parts) -> Option<ShimError> {
        // Without an allow-list there is nothing to refuse early (the app code's shape is
        // checked once, after the body): no second parse of the header per request.
        if self.allowed.is_empty() {
            return None;
        }
        let app = match parts.extensions.get::<Verified>() {
            Some(Verified(id)) => id.app_code.clone(),
            None if parts.headers.contains_key(auth::AUTHORIZATION_HEADER) => {
                let none = serde_json::Map::new();
                match auth::identify(&parts.headers, &none, &mut none.clone(), false) {
                    Ok(c) => c.credentials.app_code?,
                    Err(e) => return Some(e),
                }
            }
            None => return None,
        };
        if let Err(e) = auth::check_app_code(&app) {
            return Some(e);
        }
        (!self.allowed.contains(&app)).then_some(ShimError::AppNotAllowed(app))
    }
}

/// True when the caller names no user (no header, `bk_token`, `access_token` or user
/// name) but sends a `bk_token` cookie: the cookie would be its only identity.
fn cookie_only(caller: &Caller, headers: &http::HeaderMap) -> bool {
    let c = &caller.credentials;
    !caller.has_auth_header()
        && c.bk_token.is_none()
        && c.access_token.is_none()
        && c.username.is_none()
        && auth::cookie(headers, "bk_token").is_some()
}
