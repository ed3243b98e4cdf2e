//! The built-in emulator as the upstream service (`upstream.url = "stub"`): requests
//! are answered in-process by [`StubGateway::handle`], with no socket.

use super::Reply;
use crate::error::UpstreamError;
use crate::stub::StubGateway;
use bytes::Bytes;
use http::Request;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// The emulator, shared (its job state survives configuration reloads).
#[derive(Debug, Clone)]
pub struct Stub(pub Arc<StubGateway>);

impl Service<Request<Bytes>> for Stub {
    type Response = Reply;
    type Error = UpstreamError;
    type Future = Ready<Result<Reply, UpstreamError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let (parts, body) = self.0.handle(req).into_parts();
        ready(Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }))
    }
}
