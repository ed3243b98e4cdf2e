//! Field validation helpers shared by the request translators.
