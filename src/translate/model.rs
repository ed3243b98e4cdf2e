//! Typed serde models of the legacy request bodies and the v3 request bodies.
