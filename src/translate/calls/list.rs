//! The shared shape of the list calls: the pages of one v3 list, then a mapping of every
//! row ([`ListExchange`]).

use super::super::TranslateError;
use super::super::exchange::{CallError, Exchange, Finished, Outcome, Paged, Pager, Step, ok_data};
use super::CallOptions;
use serde_json::Value;

type Result<T> = std::result::Result<T, TranslateError>;

/// A pager, with a too-large window turned into a parameter error.
pub(crate) fn pager(
    resource: &str,
    query: Vec<(String, String)>,
    w: super::super::exchange::Window,
    opts: &CallOptions,
) -> Result<Pager> {
    Pager::new(resource, query, w, opts.limits()).map_err(|e| match e {
        CallError::Rejected(t) | CallError::BadReply(t) => t,
        CallError::Internal(what) => {
            TranslateError::new(super::super::RejectReason::Invalid, "length", what)
        }
    })
}

/// Mapping of the gathered rows of a [`ListExchange`].
pub type FinishList = Box<dyn FnOnce(Vec<Value>, &Pager) -> Result<Finished> + Send>;

/// A list call: the pages of one v3 list, then a mapping of every row.
pub struct ListExchange {
    pager: Pager,
    finish: Option<FinishList>,
}

impl ListExchange {
    /// Page with `pager`, then answer `finish(rows)`.
    pub fn new(pager: Pager, finish: FinishList) -> Self {
        Self {
            pager,
            finish: Some(finish),
        }
    }
}

impl Exchange for ListExchange {
    fn start(&mut self) -> Step {
        Step::Call(self.pager.request())
    }

    fn resume(&mut self, outcome: Outcome) -> Step {
        let data = match ok_data(outcome) {
            Ok(d) => d,
            Err(step) => return step,
        };
        match self.pager.consume(&data) {
            Ok(Paged::More(r)) => Step::Call(r),
            Ok(Paged::Complete) => {
                let rows = self.pager.take_rows();
                match self.finish.take() {
                    Some(f) => match f(rows, &self.pager) {
                        Ok(done) => Step::Done(done),
                        Err(e) => Step::Fail(CallError::bad_reply(&e)),
                    },
                    None => Step::Abort,
                }
            }
            Err(e) => e.into_step(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::LegacyCall;
    use super::super::test_support::refused;
    use serde_json::json;

    #[test]
    fn a_window_over_the_ceiling_is_refused_before_anything_is_sent() {
        let e = refused(
            LegacyCall::GetJobList,
            json!({"bk_biz_id": 2, "length": 20_000}),
        );
        assert!(
            e.starts_with("Parameters error: [length] the answer would hold 20000 rows"),
            "{e}"
        );
        assert_eq!(e.matches("Parameters error").count(), 1, "{e}");
    }
}
