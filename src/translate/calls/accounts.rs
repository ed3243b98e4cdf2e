//! Accounts (`spec/legacy-api-surface.md` §3.10): `get_os_account` and
//! `get_own_db_account_list` → GET `get_account_list?category=1|2`, every row, paged.
//! Times are UTC strings from milliseconds.

use super::super::TranslateError;
use super::super::exchange::{Exchange, Finished};
use super::super::scope::Scope;
use super::list::{ListExchange, pager};
use super::plans::biz_id;
use super::{CallOptions, scope, scope_query, time, window};
use serde_json::{Map, Value, json};

type Result<T> = std::result::Result<T, TranslateError>;

/// `category` of OS accounts.
pub const CATEGORY_OS: i64 = 1;
/// `category` of DB accounts.
pub const CATEGORY_DB: i64 = 2;

/// Warning of every `get_own_db_account_list` reply.
pub const GRANTEE_WARNING: &str = "get_own_db_account_list: JOB v3 cannot filter DB accounts \
     by grantee, so every DB account of the business is listed, not only those granted to the \
     caller";

/// `job/get_os_account` → GET `get_account_list?category=1`.
pub fn get_os_account(m: &Map<String, Value>, opts: &CallOptions) -> Result<Box<dyn Exchange>> {
    accounts(m, opts, CATEGORY_OS)
}

/// `job/get_own_db_account_list` → GET `get_account_list?category=2` (grantee filter lost:
/// said in a warning).
pub fn get_own_db_account_list(
    m: &Map<String, Value>,
    opts: &CallOptions,
) -> Result<Box<dyn Exchange>> {
    accounts(m, opts, CATEGORY_DB)
}

fn accounts(
    m: &Map<String, Value>,
    opts: &CallOptions,
    category: i64,
) -> Result<Box<dyn Exchange>> {
    let scope = scope(m)?;
    let mut query = scope_query(&scope);
    query.push(("category".into(), category.to_string()));
    let pager = pager("get_account_list", query, window(m)?, opts)?;
    Ok(Box::new(ListExchange::new(
        pager,
        Box::new(move |rows, _| {
            let items: Vec<Value> = rows.iter().map(|r| row(r, &scope, category)).collect();
            let warnings = if category == CATEGORY_DB {
                vec![GRANTEE_WARNING.to_owned()]
            } else {
                Vec::new()
            };
            Ok(Finished {
                data: Value::Array(items).into(),
                warnings,
                remember: None,
            })
        }),
    )))
}

/// v3 `EsbAccountV3DTO` → v2 `EsbAccountDTO` / `EsbDBAccountDTO`.
fn row(r: &Value, scope: &Scope, category: i64) -> Value {
    let created = time(r.get("create_time").unwrap_or(&Value::Null), chrono_tz::UTC);
    let mut out = if category == CATEGORY_DB {
        json!({
            "db_account_id": r.get("id"),
            "account": r.get("account"),
            "db_alias": r.get("alias"),
            "creator": r.get("creator"),
            "create_time": created,
        })
    } else {
        json!({
            "id": r.get("id"),
            "account": r.get("account"),
            "alias": r.get("alias"),
            "os": r.get("os"),
            "creator": r.get("creator"),
            "create_time": created,
        })
    };
    if let Some(o) = out.as_object_mut() {
        o.insert("bk_biz_id".into(), biz_id(r, scope));
        o.insert("bk_scope_type".into(), json!(scope.bk_scope_type));
        o.insert("bk_scope_id".into(), json!(scope.bk_scope_id));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::LegacyCall;
    use super::super::test_support::run;
    use crate::translate::exchange::{Step, page};
    use serde_json::json;

    #[test]
    fn os_and_db_accounts() {
        let acc = json!({"id": 5, "account": "root", "alias": "root", "os": "Linux",
                         "creator": "admin", "create_time": 1_700_000_000_000_i64});
        let (sent, step) = run(
            LegacyCall::GetOsAccount,
            json!({"bk_biz_id": 2}),
            vec![page(0, 1000, 1, vec![acc.clone()])],
        );
        assert!(
            sent[0]["query"]
                .as_array()
                .is_some_and(|q| q.contains(&json!(["category", "1"])))
        );
        match step {
            Step::Done(f) => {
                assert_eq!(f.data.tree()[0]["alias"], "root");
                assert_eq!(f.data.tree()[0]["create_time"], "2023-11-14 22:13:20");
                assert!(f.warnings.is_empty());
            }
            other => unreachable!("{other:?}"),
        }
        let (_, step) = run(
            LegacyCall::GetOwnDbAccountList,
            json!({"bk_biz_id": 2}),
            vec![page(0, 1000, 1, vec![acc])],
        );
        match step {
            Step::Done(f) => {
                assert_eq!(f.data.tree()[0]["db_account_id"], 5);
                assert_eq!(f.data.tree()[0]["db_alias"], "root");
                assert!(f.warnings[0].contains("grantee"));
            }
            other => unreachable!("{other:?}"),
        }
    }
}
