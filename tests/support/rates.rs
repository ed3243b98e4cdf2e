//! Test and bench helper: `rates` tables from `(app, [(period, tokens)])` lists. Include
//! it with `#[path = "support/rates.rs"] mod rates;` (from a test) or
//! `#[path = "../tests/support/rates.rs"] mod rates;` (from a bench).
#![allow(dead_code)]

use bk_job_shim::ratelimit::Rate;
use std::collections::BTreeMap;

/// `[rate_limit.rates]` from `(app code, [(period, tokens)])` pairs.
pub(crate) fn rates(rates: &[(&str, &[(u64, u64)])]) -> BTreeMap<String, Vec<Rate>> {
    rates
        .iter()
        .map(|(app, windows)| {
            let windows = windows
                .iter()
                .map(|&(period, tokens)| Rate { period, tokens })
                .collect();
            ((*app).to_owned(), windows)
        })
        .collect()
}
