//! One `ip_list[]` item of the fast reading (`super::fast`), read and validated in one
//! pass: `{"bk_cloud_id": <integer ≥ 0>, "ip": "<IPv4>"}`.
//!
//! Host lists are most of the bytes of a legacy `execute_job` or `fast_execute_script`
//! body. A derived borrowing model, then `validate::parse_ipv4` on each address, cost
//! ~1,100 instructions per host (callgrind); this reader takes the two members straight
//! from serde_json's map access and parses a plain dotted quad by hand, falling back to
//! `parse_ipv4` (which trims) for any other text. It accepts what the derived model and
//! the validator accepted together, and nothing else: a JSON object with exactly the two
//! members, an integer, an address `parse_ipv4` reads. Anything else fails to
//! deserialize, and the caller reads the body the general way, as before. Two things
//! are stricter than the derived model, and go to the general reading too: a key or an
//! address written with escapes, and an item written as an array (`[0, "10.0.0.1"]`, which
//! a derived struct reads as its fields in order but the validator refuses).

use super::model::LegacyIp;
use super::validate;
use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use std::fmt;
use std::net::Ipv4Addr;

/// The longest address text the fast reading takes (`255.255.255.255`); a longer one
/// (padded with blanks) goes to the general reading, so no `ip` text raises a body's
/// longest string above the models' longest key.
pub const MAX_IP_TEXT: usize = 15;

/// A validated `ip_list[]` item.
pub struct FastIp(pub LegacyIp);

impl FastIp {
    /// The host of `bk_cloud_id` and `ip`, if the validator accepts that cloud id (≥ 0).
    pub(super) fn new(bk_cloud_id: i64, ip: Ipv4Addr) -> Option<Self> {
        (bk_cloud_id >= 0).then_some(Self(LegacyIp { bk_cloud_id, ip }))
    }
}

impl<'de> Deserialize<'de> for FastIp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = FastIp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a host {bk_cloud_id, ip}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastIp, A::Error> {
        let (mut cloud, mut ip) = (None, None);
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "bk_cloud_id" if cloud.is_none() => cloud = Some(map.next_value::<i64>()?),
                "ip" if ip.is_none() => ip = Some(map.next_value::<&'de str>()?),
                _ => return Err(A::Error::custom("not a plain host")),
            }
        }
        match (cloud, ip.and_then(address)) {
            (Some(cloud), Some(ip)) => FastIp::new(cloud, ip),
            _ => None,
        }
        .ok_or_else(|| A::Error::custom("not a valid host"))
    }
}

/// An `ip` text as the fast reading takes it: at most [`MAX_IP_TEXT`] bytes, read as
/// `validate::parse_ipv4` reads it (a plain dotted quad without its help).
pub(super) fn address(text: &str) -> Option<Ipv4Addr> {
    if text.len() > MAX_IP_TEXT {
        return None;
    }
    dotted_quad(text.as_bytes()).or_else(|| validate::parse_ipv4(text))
}

/// Four octets of 1–3 digits without a leading zero, each ≤ 255, separated by dots,
/// nothing else (a subset of what `Ipv4Addr`'s parser accepts, read the same).
fn dotted_quad(b: &[u8]) -> Option<Ipv4Addr> {
    leading_dotted_quad(b).and_then(|(ip, len)| (len == b.len()).then_some(ip))
}

/// The dotted quad `b` starts with (as [`dotted_quad`] reads one), and its length.
pub(super) fn leading_dotted_quad(b: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (i, octet) in octets.iter_mut().enumerate() {
        if i > 0 {
            (b.get(at) == Some(&b'.')).then_some(())?;
            at += 1;
        }
        let start = at;
        let mut v: u16 = 0;
        while let Some(c @ b'0'..=b'9') = b.get(at).copied() {
            if at - start == 3 {
                return None;
            }
            v = v * 10 + u16::from(c - b'0');
            at += 1;
        }
        let n = at - start;
        if n == 0 || (n > 1 && b.get(start) == Some(&b'0')) {
            return None;
        }
        *octet = u8::try_from(v).ok()?;
    }
    Some((Ipv4Addr::from(octets), at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(text: &str) -> Option<(i64, String)> {
        serde_json::from_str::<FastIp>(text)
            .ok()
            .map(|h| (h.0.bk_cloud_id, h.0.ip.to_string()))
    }

    #[test]
    fn plain_hosts_are_read() {
        let host = |c, ip: &str| Some((c, ip.to_owned()));
        assert_eq!(
            read(r#"{"bk_cloud_id":0,"ip":"10.0.0.1"}"#),
            host(0, "10.0.0.1")
        );
        assert_eq!(
            read(" {\n\"ip\" : \"255.255.255.255\" ,\t\"bk_cloud_id\" : 12 } "),
            host(12, "255.255.255.255")
        );
        assert_eq!(
            read(r#"{"bk_cloud_id":0,"ip":"0.0.0.0"}"#),
            host(0, "0.0.0.0")
        );
        // Trimmed, as the validator trims.
        assert_eq!(
            read(r#"{"bk_cloud_id":1,"ip":" 1.2.3.4 "}"#),
            host(1, "1.2.3.4")
        );
    }

    #[test]
    fn anything_else_is_left_to_the_general_reading() {
        for text in [
            "{}",
            "[0, \"10.0.0.1\"]",
            "null",
            r#"{"bk_cloud_id":0}"#,
            r#"{"ip":"10.0.0.1"}"#,
            r#"{"bk_cloud_id":0,"ip":"10.0.0.1","bk_host_id":1}"#,
            r#"{"bk_cloud_id":0,"bk_cloud_id":0,"ip":"10.0.0.1"}"#,
            r#"{"bk_cloud_id":0,"ip":"10.0.0.1","ip":"10.0.0.1"}"#,
            r#"{"bk_cloud_id":-1,"ip":"10.0.0.1"}"#,
            r#"{"bk_cloud_id":0.0,"ip":"10.0.0.1"}"#,
            // serde_json reads `-0` as a float.
            r#"{"bk_cloud_id":-0,"ip":"10.0.0.1"}"#,
            r#"{"bk_cloud_id":"0","ip":"10.0.0.1"}"#,
            r#"{"bk_cloud_id":0,"ip":"10.0.0.01"}"#,
            r#"{"bk_cloud_id":0,"ip":"10.0.0.256"}"#,
            r#"{"bk_cloud_id":0,"ip":"10.0.0"}"#,
            r#"{"bk_cloud_id":0,"ip":"  10.0.0.1      "}"#,
            r#"{"bk_cloud_id":0,"ip":"10.0.0.\u0031"}"#,
            r#"{"bk_cloud_id":0,"i\u0070":"10.0.0.1"}"#,
            r#"{"bk_cloud_id":0,"ip":1}"#,
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    proptest! {
        /// The hand parser reads what it accepts as `Ipv4Addr`'s parser does.
        #[test]
        fn dotted_quads_read_as_std_reads_them(text in "[0-9.]{0,17}") {
            if let Some(ip) = dotted_quad(text.as_bytes()) {
                prop_assert_eq!(Some(ip), text.parse::<Ipv4Addr>().ok(), "{}", text);
            }
        }

        /// Every address std prints is read by the hand parser.
        #[test]
        fn printed_addresses_are_read(octets in any::<[u8; 4]>()) {
            let ip = Ipv4Addr::from(octets);
            prop_assert_eq!(dotted_quad(ip.to_string().as_bytes()), Some(ip));
        }
    }
}
