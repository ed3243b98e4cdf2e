//! Query strings → JSON objects of strings (legacy GET calls, the stub's v3 GETs).

use serde_json::{Map, Value};

/// Parse a raw query string into a JSON object of strings. The first occurrence of a key
/// wins (as Spring's `@RequestParam` reads it); `+` is a space and `%XX` is decoded
/// (invalid escapes are kept literally, invalid UTF-8 is replaced).
pub fn parse_query(query: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k);
        if !map.contains_key(&k) {
            map.insert(k, Value::String(percent_decode(v)));
        }
    }
    map
}

/// Decode `%XX` escapes and `+` (as space).
fn percent_decode(s: &str) -> String {
    // Most parameters (ids, codes, tokens) hold neither: copied as they are.
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (b, escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_first_occurrence() {
        let q = parse_query("a=1&b=x%20y+z&a=2&c&d=%zz&e=%E4%B8%AD&f=%4&g=%&h=%ff");
        assert_eq!(q["a"], "1");
        assert_eq!(q["b"], "x y z");
        assert_eq!(q["c"], "");
        assert_eq!(q["d"], "%zz");
        assert_eq!(q["e"], "中");
        assert_eq!(q["f"], "%4");
        assert_eq!(q["g"], "%");
        assert_eq!(q["h"], "\u{fffd}");
        assert!(parse_query("").is_empty());
    }
}
