//! The plain form of a v3 status reply's `data` read by hand, before serde is asked
//! (`super::wire`), into the same borrowing model serde fills.
//!
//! Read through serde's derived visitors, the `data` of a status with two hosts cost
//! ~19k instructions (callgrind), a tenth of a poll: some forty members, each key matched
//! and each value read through serde's machinery. The scanner of the legacy bodies
//! (`crate::translate::fast_scan`) reads it here at a few instructions a byte, the other
//! members of the reply copied as text for the budgeted parser, as there.
//!
//! It is as strict as for the legacy bodies: an unknown or repeated member, a number that
//! is not a plain integer (a scalar member may also be a boolean or a string), a required
//! member missing or `null`, a struct written as an array, a key with an escape — and it
//! gives up; serde's reading then decides. What it accepts reads as serde reads it (the
//! tests below, on generated replies and random budgets).

use super::wire::{Host, Job, Scalar, Step, WireStatus};
use crate::translate::fast_scan::{Scanner, member_slot};

impl<'a> Scanner<'a> {
    /// `data` of a status reply.
    pub(super) fn wire_status(&mut self) -> Option<WireStatus<'a>> {
        let (mut finished, mut job, mut steps) = (None, None, None);
        let mut seen = [false; 3];
        self.object(|s, key| {
            let keys = ["finished", "job_instance", "step_instance_list"];
            match member_slot(&keys, &mut seen, key)? {
                0 => finished = s.nullable(Self::boolean)?,
                1 => job = Some(s.wire_job()?),
                _ => steps = Some(s.list(Self::wire_step)?),
            }
            Some(())
        })?;
        Some(WireStatus {
            finished,
            job_instance: job?,
            step_instance_list: steps?,
        })
    }

    /// `data.job_instance`.
    fn wire_job(&mut self) -> Option<Job<'a>> {
        let mut j = Job::default();
        let mut seen = [false; 10];
        self.object(|s, key| {
            let keys = [
                "job_instance_id",
                "bk_biz_id",
                "bk_scope_type",
                "bk_scope_id",
                "name",
                "status",
                "create_time",
                "start_time",
                "end_time",
                "total_time",
            ];
            match member_slot(&keys, &mut seen, key)? {
                0 => j.job_instance_id = s.integer()?,
                1 => j.bk_biz_id = s.nullable(Self::integer)?,
                2 => j.bk_scope_type = s.nullable(Self::string)?,
                3 => j.bk_scope_id = s.nullable(Self::string)?,
                4 => j.name = s.nullable(Self::string)?,
                5 => j.status = s.nullable(Self::integer)?,
                6 => j.create_time = s.nullable(Self::integer)?,
                7 => j.start_time = s.nullable(Self::integer)?,
                8 => j.end_time = s.nullable(Self::integer)?,
                _ => j.total_time = s.nullable(Self::integer)?,
            }
            Some(())
        })?;
        // `job_instance_id` is required.
        seen[0].then_some(j)
    }

    /// A `step_instance_list[]` item.
    fn wire_step(&mut self) -> Option<Step<'a>> {
        let mut st = Step::default();
        let mut seen = [false; 10];
        self.object(|s, key| {
            let keys = [
                "step_instance_id",
                "name",
                "type",
                "status",
                "execute_count",
                "create_time",
                "start_time",
                "end_time",
                "total_time",
                "step_ip_result_list",
            ];
            match member_slot(&keys, &mut seen, key)? {
                0 => st.step_instance_id = s.integer()?,
                1 => st.name = s.nullable(Self::string)?,
                2 => st.step_type = s.nullable(Self::integer)?,
                3 => st.status = s.nullable(Self::integer)?,
                4 => st.execute_count = s.nullable(Self::integer)?,
                5 => st.create_time = s.nullable(Self::integer)?,
                6 => st.start_time = s.nullable(Self::integer)?,
                7 => st.end_time = s.nullable(Self::integer)?,
                8 => st.total_time = s.nullable(Self::integer)?,
                _ => st.step_ip_result_list = s.nullable(|s| s.list(Self::wire_host))?,
            }
            Some(())
        })?;
        // `step_instance_id` is required.
        seen[0].then_some(st)
    }

    /// A `step_ip_result_list[]` item.
    fn wire_host(&mut self) -> Option<Host<'a>> {
        let mut h = Host::default();
        let mut seen = [false; 13];
        self.object(|s, key| {
            let keys = [
                "ip",
                "bk_cloud_id",
                "status",
                "bk_host_id",
                "tag",
                "exit_code",
                "error_code",
                "start_time",
                "end_time",
                "total_time",
                "host_id",
                "ipv6",
                "bk_agent_id",
            ];
            match member_slot(&keys, &mut seen, key)? {
                0 => h.ip = s.string()?,
                1 => h.bk_cloud_id = s.nullable(Self::integer)?,
                2 => h.status = s.nullable(Self::integer)?,
                3 => h.bk_host_id = s.nullable(Self::integer)?,
                4 => h.tag = s.nullable(Self::string)?,
                5 => h.exit_code = s.nullable(Self::integer)?,
                6 => h.error_code = s.nullable(Self::integer)?,
                7 => h.start_time = s.nullable(Self::integer)?,
                8 => h.end_time = s.nullable(Self::integer)?,
                9 => h.total_time = s.nullable(Self::integer)?,
                10 => h.host_id = s.nullable(Self::scalar)?,
                11 => h.ipv6 = s.nullable(Self::scalar)?,
                _ => h.bk_agent_id = s.nullable(Self::scalar)?,
            }
            Some(())
        })?;
        // `ip` is required.
        seen[0].then_some(h)
    }

    /// `true` or `false`.
    fn boolean(&mut self) -> Option<bool> {
        if self.eat_bytes(b"true") {
            Some(true)
        } else {
            self.eat_bytes(b"false").then_some(false)
        }
    }

    /// A member kept only as a scalar: a boolean, a plain integer or a string (its
    /// length, as serde's visitor keeps it).
    fn scalar(&mut self) -> Option<Scalar> {
        match self.peek()? {
            b'"' => u32::try_from(self.string()?.len()).ok().map(Scalar),
            b't' | b'f' => self.boolean().map(|_| Scalar(0)),
            _ => self.integer().map(|_| Scalar(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::V3Status;
    use super::*;
    use crate::budget::{Budget, Shape, Shaped, Split, parse_split};
    use crate::translate::fast_scan::split;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// What a split reads, comparable: the other members, the status and its shape.
    type Read = (Map<String, Value>, Option<(V3Status<'static>, Shape)>);

    fn read(split: Option<Split<WireStatus<'_>>>) -> Option<Read> {
        split.map(|s| {
            let typed = s.typed.map(|t| {
                let shape = t.shape();
                (t.into_model(), shape)
            });
            (s.rest, typed)
        })
    }

    fn scanned(body: &str, b: &Budget) -> Option<Read> {
        read(split(body.as_bytes(), b, "data", Scanner::wire_status))
    }

    fn serde(body: &str, b: &Budget) -> Option<Read> {
        read(parse_split::<WireStatus<'_>>(body.as_bytes(), b, "data"))
    }

    const REPLY: &str = r#"{"result":true,"code":0,"message":"success","data":{"finished":true,"job_instance":{"job_instance_id":20001,"bk_scope_type":"biz","bk_scope_id":"2","name":"bench","status":3,"create_time":1700000000123,"start_time":1700000000456,"end_time":1700000003625,"total_time":3169,"bk_biz_id":2},"step_instance_list":[{"step_instance_id":30001,"name":"bench","type":1,"status":3,"execute_count":0,"create_time":1700000000123,"start_time":1700000000500,"end_time":1700000003600,"total_time":3100,"step_ip_result_list":[{"bk_cloud_id":0,"ip":"10.0.0.1","bk_host_id":101,"status":9,"tag":"","exit_code":0,"error_code":0,"start_time":1700000000523,"end_time":1700000003523,"total_time":3000,"bk_agent_id":"0100005254008ed86116666ac9ac2c4f"}]}]},"job_request_id":"a1b2c3d4e5f60001"}"#;

    #[test]
    fn the_plain_reply_is_scanned_and_read_as_serde_reads_it() {
        let b = Budget::default();
        let got = scanned(REPLY, &b);
        assert!(got.as_ref().is_some_and(|r| r.1.is_some()));
        assert_eq!(got, serde(REPLY, &b));
    }

    #[test]
    fn other_forms_are_left_to_serde() {
        let b = Budget::default();
        let job = r#""job_instance":{"job_instance_id":1}"#;
        for data in [
            r#"{"step_instance_list":[]}"#.to_owned(),
            format!(r#"{{{job}}}"#),
            format!(r#"{{{job},"step_instance_list":null}}"#),
            r#"{"job_instance":null,"step_instance_list":[]}"#.to_owned(),
            r#"{"job_instance":{},"step_instance_list":[]}"#.to_owned(),
            r#"{"job_instance":[1],"step_instance_list":[]}"#.to_owned(),
            format!(r#"{{{job},"step_instance_list":[],"other":1}}"#),
            format!(r#"{{{job},{job},"step_instance_list":[]}}"#),
            format!(r#"{{{job},"finished":1,"step_instance_list":[]}}"#),
            format!(r#"{{{job},"step_instance_list":[{{"name":"s"}}]}}"#),
            format!(
                r#"{{{job},"step_instance_list":[{{"step_instance_id":1,"step_ip_result_list":[{{"status":1}}]}}]}}"#
            ),
            format!(
                r#"{{{job},"step_instance_list":[{{"step_instance_id":1,"step_ip_result_list":[{{"ip":null}}]}}]}}"#
            ),
            format!(
                r#"{{{job},"step_instance_list":[{{"step_instance_id":1,"step_ip_result_list":[{{"ip":"a","ipv6":-"x"}}]}}]}}"#
            ),
            format!(
                r#"{{{job},"step_instance_list":[{{"step_instance_id":1,"step_ip_result_list":[{{"ip":"a","ipv6":1.5}}]}}]}}"#
            ),
            format!(r#"{{{job},"step_instance_list":[{{"step_instance_id":1.0}}]}}"#),
            format!(r#"{{{job},"st\u0065p_instance_list":[]}}"#),
            format!(r#"{{{job},"step_instance_list":[],}}"#),
        ] {
            let body = format!(r#"{{"code":0,"data":{data}}}"#);
            assert_eq!(scanned(&body, &b), None, "{body}");
        }
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![6 => Just(""), 1 => Just(" "), 1 => Just("\n\t")]
    }

    fn int() -> BoxedStrategy<String> {
        prop_oneof![
            60 => (-5i64..2_000_000_000_000).prop_map(|i| i.to_string()),
            6 => Just("null".to_owned()),
            // Read by serde, not by the scanner (19 digits).
            1 => Just("1000000000000000000".to_owned()),
            1 => prop::sample::select(vec!["-0", "01", "1.0", "1e2", "\"1\"", "9223372036854775808", "-", "true"]).prop_map(str::to_owned),
        ]
        .boxed()
    }

    fn text() -> BoxedStrategy<String> {
        prop_oneof![
            60 => "[a-z0-9 .]{0,8}".prop_map(|t| format!("\"{t}\"")),
            6 => prop::sample::select(vec!["null", r#""a\"b\u00e9""#, "\"\u{e9}\""]).prop_map(str::to_owned),
            1 => prop::sample::select(vec!["\"a\tb\"", r#""\x""#, "5", "[]"]).prop_map(str::to_owned),
        ]
        .boxed()
    }

    fn scalar() -> BoxedStrategy<String> {
        let good = vec![
            "null",
            "true",
            "false",
            "12",
            "-3",
            "\"agent\"",
            r#""a\"b""#,
        ];
        let bad = vec!["1.5", "-0", "[]", "{}", "-\"x\""];
        prop_oneof![
            20 => prop::sample::select(good).prop_map(str::to_owned),
            1 => prop::sample::select(bad).prop_map(str::to_owned),
        ]
        .boxed()
    }

    /// `[item, …]`, sometimes not a list.
    fn list(item: BoxedStrategy<String>) -> BoxedStrategy<String> {
        prop_oneof![
            30 => (ws(), prop::collection::vec(item, 0..3)).prop_map(|(w, items)| format!("[{w}{}]", items.join(&format!("{w},")))),
            1 => Just("null".to_owned()),
            1 => Just("{}".to_owned()),
        ]
        .boxed()
    }

    /// An object of some of `members` (each key once, in any order), the first member
    /// nearly always among them; now and then an unknown or a repeated member.
    fn object(members: Vec<(&'static str, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
        let n = members.len();
        let pairs: Vec<_> = members
            .into_iter()
            .map(|(k, v)| v.prop_map(move |v| (k, v)))
            .collect();
        let extra = prop_oneof![40 => Just(""), 1 => Just("unknown"), 1 => Just("dup")];
        let with_first = prop::bool::weighted(0.97);
        let picked = prop::sample::subsequence((1..n).collect::<Vec<_>>(), 0..n);
        (pairs, picked, extra, with_first, ws())
            .prop_flat_map(|(all, picked, extra, with_first, w)| {
                let mut chosen: Vec<(&str, String)> =
                    picked.iter().filter_map(|&i| all.get(i).cloned()).collect();
                if with_first || extra == "dup" {
                    chosen.extend(all.first().cloned());
                }
                if extra == "dup" {
                    chosen.extend(all.first().cloned());
                } else if !extra.is_empty() {
                    chosen.push(("unknown", "1".to_owned()));
                }
                (Just(chosen), Just(w)).prop_shuffle_first()
            })
            .prop_map(|(chosen, w)| {
                let m: Vec<String> = chosen
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\"{w}:{w}{v}"))
                    .collect();
                format!("{{{w}{}{w}}}", m.join(","))
            })
            .boxed()
    }

    trait ShuffleFirst {
        fn prop_shuffle_first(self) -> BoxedStrategy<(Vec<(&'static str, String)>, &'static str)>;
    }

    impl ShuffleFirst for (Just<Vec<(&'static str, String)>>, Just<&'static str>) {
        fn prop_shuffle_first(self) -> BoxedStrategy<(Vec<(&'static str, String)>, &'static str)> {
            let w = self.1.0;
            self.0.prop_shuffle().prop_map(move |v| (v, w)).boxed()
        }
    }

    fn host() -> BoxedStrategy<String> {
        let mut m = vec![("ip", text())];
        for k in [
            "bk_cloud_id",
            "status",
            "bk_host_id",
            "exit_code",
            "error_code",
            "start_time",
            "end_time",
            "total_time",
        ] {
            m.push((k, int()));
        }
        m.push(("tag", text()));
        for k in ["host_id", "ipv6", "bk_agent_id"] {
            m.push((k, scalar()));
        }
        object(m)
    }

    fn step() -> BoxedStrategy<String> {
        let mut m = vec![("step_instance_id", int()), ("name", text())];
        for k in [
            "type",
            "status",
            "execute_count",
            "create_time",
            "start_time",
            "end_time",
            "total_time",
        ] {
            m.push((k, int()));
        }
        m.push(("step_ip_result_list", list(host())));
        object(m)
    }

    fn job() -> BoxedStrategy<String> {
        let mut m = vec![("job_instance_id", int())];
        for k in [
            "bk_biz_id",
            "status",
            "create_time",
            "start_time",
            "end_time",
            "total_time",
        ] {
            m.push((k, int()));
        }
        for k in ["bk_scope_type", "bk_scope_id", "name"] {
            m.push((k, text()));
        }
        object(m)
    }

    fn reply() -> BoxedStrategy<String> {
        let finished = prop::sample::select(vec!["true", "false", "null", "1"])
            .prop_map(str::to_owned)
            .boxed();
        let data = object(vec![
            ("job_instance", job()),
            ("step_instance_list", list(step())),
            ("finished", finished),
        ]);
        let data =
            prop_oneof![30 => data, 1 => Just("null".to_owned()), 1 => Just("[]".to_owned())];
        let rest = prop_oneof![
            12 => Just(r#""result":true,"code":0,"message":"success","#),
            4 => Just(r#""code":0,"job_request_id":"a\u0041","#),
            2 => Just(r#""permission":{"a":[[[[1]]]]},"#),
            1 => Just(r#""bad":tru,"#),
            1 => Just(""),
        ];
        (ws(), rest, data, prop::bool::weighted(0.03))
            .prop_map(|(w, r, d, absent)| {
                let d = if absent {
                    String::new()
                } else {
                    format!("\"data\"{w}:{w}{d}")
                };
                format!("{w}{{{r}{d}}}{w}").replace(",}", "}")
            })
            .boxed()
    }

    fn budget() -> impl Strategy<Value = Budget> {
        prop_oneof![
            4 => Just(Budget::default()),
            1 => (2usize..7, 1usize..16, 1usize..40, 10usize..120).prop_map(|(d, a, s, v)| Budget {
                max_depth: d,
                max_array_len: a,
                max_string_bytes: s,
                max_values: v,
            }),
        ]
    }

    #[test]
    fn the_generated_replies_exercise_both_readings() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut scan, mut serde_only) = (0, 0);
        for _ in 0..512 {
            let Ok(tree) = reply().new_tree(&mut runner) else {
                continue;
            };
            let body = tree.current();
            let b = Budget::default();
            match (scanned(&body, &b), serde(&body, &b)) {
                (Some((_, Some(_))), _) => scan += 1,
                (None, Some((_, Some(_)))) => serde_only += 1,
                _ => {}
            }
        }
        assert!(
            scan > 50 && serde_only >= 5,
            "{scan} scanned, {serde_only} by serde only"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Whatever the scanner reads, serde reads the same, under the same budget.
        #[test]
        fn what_is_scanned_reads_as_serde_reads_it(body in reply(), b in budget()) {
            if let Some(got) = scanned(&body, &b) {
                prop_assert_eq!(Some(got), serde(&body, &b), "{}", body);
            }
        }
    }
}
