//! The legacy ESB envelope: `{result, code, message, data, request_id}` (spec §2.0, §5.3).
//!
//! bk-job's v3 `EsbResp` differs in two ways: `message` is absent on success and there
//! is no `request_id` (APIGW returns it as a header). Both are added here.

use super::data::Data;
use super::status::TypedStatus;
use super::write::{Members, WriteJson};
use serde::Serialize;
use serde_json::{Map, Value};

/// A legacy success envelope, written straight to JSON text (`data` is not copied into a
/// tree first) by its hand writer; the derived `Serialize` is the reference. Members in
/// key order, as a tree would write them.
#[derive(Debug, Serialize)]
pub struct Success<'a> {
    /// `0`.
    pub code: i64,
    /// The legacy `data`.
    pub data: &'a Data,
    /// bk-job's own request id, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_request_id: Option<&'a str>,
    /// `""`.
    pub message: &'static str,
    /// The legacy request id.
    pub request_id: &'a str,
    /// `true`.
    pub result: bool,
}

impl<'a> Success<'a> {
    /// The envelope of `data`.
    pub fn new(data: &'a Data, request_id: &'a str, job_request_id: Option<&'a str>) -> Self {
        Self {
            code: 0,
            data,
            job_request_id,
            message: "",
            request_id,
            result: true,
        }
    }

    /// Append the envelope's JSON text to `out` (the bytes `serde_json` would write).
    pub fn write(&self, out: &mut Vec<u8>) {
        self.write_json(out);
    }
}

impl WriteJson for Success<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.put(b"code", &self.code);
        m.put(b"data", self.data);
        m.opt(b"job_request_id", self.job_request_id);
        m.put(b"message", self.message);
        m.put(b"request_id", self.request_id);
        m.put(b"result", &self.result);
        m.close();
    }
}

/// A legacy error envelope: `result: false`, `data: null`.
pub fn error(code: i64, message: &str, request_id: &str) -> Value {
    serde_json::json!({
        "result": false,
        "code": code,
        "message": message,
        "data": null,
        "request_id": request_id,
    })
}

/// The fields of a bk-job `EsbResp`, read leniently.
#[derive(Debug, Clone, PartialEq)]
pub struct EsbResp {
    /// `code` (0 = success).
    pub code: i64,
    /// `message` (absent on success).
    pub message: Option<String>,
    /// `data`.
    pub data: Value,
    /// `permission` (IAM denial only; boxed, so the envelope stays small).
    pub permission: Option<Box<Value>>,
    /// `job_request_id`: bk-job's own request id.
    pub job_request_id: Option<String>,
    /// The `data` of a status reply read straight into its typed model
    /// ([`super::status::read_status_reply`]); `data` is then null.
    pub status: Option<Box<TypedStatus>>,
}

impl EsbResp {
    /// Read a v3 body (taken apart, not copied: log replies can be large). `None` when
    /// it is not an `EsbResp` (no integer `code`).
    pub fn parse(body: Value) -> Option<EsbResp> {
        let Value::Object(mut obj) = body else {
            return None;
        };
        let code = match obj.get("code")? {
            Value::Number(n) => n.as_i64()?,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        let string = |v: Option<Value>| match v {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        Some(EsbResp {
            code,
            message: string(obj.remove("message")),
            data: obj.remove("data").unwrap_or(Value::Null),
            permission: obj
                .remove("permission")
                .filter(|p| !p.is_null())
                .map(Box::new),
            job_request_id: string(obj.remove("job_request_id")),
            status: None,
        })
    }

    /// True when `code == 0`.
    pub fn is_ok(&self) -> bool {
        self.code == 0
    }

    /// The legacy envelope for this response, with `data` replaced by `data`.
    pub fn into_legacy_with(self, data: Value, request_id: &str) -> Value {
        let mut m = Map::new();
        m.insert("result".into(), Value::Bool(self.is_ok()));
        m.insert("code".into(), Value::from(self.code));
        m.insert(
            "message".into(),
            Value::from(self.message.unwrap_or_default()),
        );
        m.insert("data".into(), data);
        if let Some(p) = self.permission {
            m.insert("permission".into(), *p);
        }
        if let Some(j) = self.job_request_id {
            m.insert("job_request_id".into(), Value::from(j));
        }
        m.insert("request_id".into(), Value::from(request_id));
        Value::Object(m)
    }

    /// The legacy envelope, `data` unchanged.
    pub fn into_legacy(mut self, request_id: &str) -> Value {
        let data = std::mem::take(&mut self.data);
        self.into_legacy_with(data, request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_gets_empty_message_and_request_id() {
        let v3 = json!({"result": true, "code": 0, "data": {"job_instance_id": 1}, "job_request_id": "j"});
        let r = EsbResp::parse(v3).unwrap_or_else(|| unreachable!());
        let legacy = r.into_legacy("rid");
        assert_eq!(legacy["message"], "");
        assert_eq!(legacy["request_id"], "rid");
        assert_eq!(legacy["result"], true);
        assert_eq!(legacy["data"]["job_instance_id"], 1);
    }

    #[test]
    fn business_error_passes_code_and_permission() {
        let v3 = json!({"result": false, "code": 9900403, "message": "no", "data": null,
                        "permission": {"system_id": "bk_job"}});
        let r = EsbResp::parse(v3).unwrap_or_else(|| unreachable!());
        let legacy = r.into_legacy("rid");
        assert_eq!(legacy["code"], 9900403);
        assert_eq!(legacy["result"], false);
        assert_eq!(legacy["permission"]["system_id"], "bk_job");
        assert!(EsbResp::parse(json!({"error": 1})).is_none());
    }

    #[test]
    fn success_is_written_as_serde_does() {
        let tree = Data::from(json!({"job_instance_id": 1, "job_instance_name": "n \"q\""}));
        let text = Data::of(&json!({"b": [1, "\u{1}"], "a": null})).unwrap_or_default();
        for data in [&tree, &text, &Data::default()] {
            for job_request_id in [None, Some("j"), Some("q\"\\\n")] {
                let envelope = Success::new(data, "rid\u{7f}", job_request_id);
                let mut hand = Vec::new();
                envelope.write(&mut hand);
                let serde = serde_json::to_vec(&envelope).unwrap_or_default();
                assert_eq!(
                    String::from_utf8_lossy(&hand),
                    String::from_utf8_lossy(&serde)
                );
            }
        }
    }
}
