//! Legacy request → v3 request.

use super::{Options, Route, TranslateError, Translated};
use serde_json::{Map, Value};

/// Translate a legacy request body (already parsed; query parameters merged in as
/// strings for GET) for `route`. Credentials are removed from the body and returned apart.
pub fn translate_request(
    route: &Route,
    body: Map<String, Value>,
    opts: &Options,
) -> Result<Translated, TranslateError> {
    let _ = (route, body, opts);
    Err(TranslateError::new(
        super::RejectReason::Invalid,
        "route",
        "not implemented",
    ))
}
