//! `bk_biz_id` → `bk_scope_type` + `bk_scope_id` (DESIGN §4.9, spec §2.0).

use serde::Serialize;

/// Lowest id bk-job reads as a business set.
pub const BIZ_SET_MIN: i64 = 8_000_000;
/// Highest id bk-job reads as a business set.
pub const BIZ_SET_MAX: i64 = 9_999_999;

/// A v3 resource scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// `biz` or `biz_set`.
    pub bk_scope_type: &'static str,
    /// The id, as a string.
    pub bk_scope_id: String,
}

impl Scope {
    /// Scope of a legacy `bk_biz_id`: ids 8000000..=9999999 are business sets.
    pub fn from_biz_id(bk_biz_id: i64) -> Self {
        let bk_scope_type = if (BIZ_SET_MIN..=BIZ_SET_MAX).contains(&bk_biz_id) {
            "biz_set"
        } else {
            "biz"
        };
        Self {
            bk_scope_type,
            bk_scope_id: bk_biz_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biz_set_range_edges() {
        assert_eq!(Scope::from_biz_id(1).bk_scope_type, "biz");
        assert_eq!(Scope::from_biz_id(7_999_999).bk_scope_type, "biz");
        assert_eq!(Scope::from_biz_id(8_000_000).bk_scope_type, "biz_set");
        assert_eq!(Scope::from_biz_id(9_999_999).bk_scope_type, "biz_set");
        assert_eq!(Scope::from_biz_id(10_000_000).bk_scope_type, "biz");
        assert_eq!(Scope::from_biz_id(9_000_000).bk_scope_id, "9000000");
    }
}
