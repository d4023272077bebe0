//! JSON as Go's `encoding/json` writes it, because daprd re-marshals a JSON event's `data`
//! before delivery (reference §2.3): object keys sorted, no whitespace, `<`, `>` and `&`
//! escaped as `\u003c`-style sequences, and numbers as `float64` — daprd's publisher parsed the
//! payload into `interface{}` (`NewCloudEventsEnvelope`), so `1.0` arrives as `1` and integers
//! beyond 2^53 lose precision, exactly as a subscriber of daprd sees them.

use std::fmt::Write as _;

use serde_json::Value;

/// Encodes `value` as Go's `json.Marshal` would encode the same value decoded into
/// `interface{}`.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, value);
    out.into_bytes()
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_float(out, n.as_f64().unwrap_or(0.0)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Go sorts map keys by their bytes, whatever order the map keeps.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Go's `floatEncoder` for 64-bit floats: shortest round-trip digits, plain notation between
/// 1e-6 and 1e21, otherwise exponent notation with a sign (`1e+21`, `1e-7`).
fn write_float(out: &mut String, value: f64) {
    if !value.is_finite() {
        // Go refuses to marshal these; a JSON document cannot hold them anyway.
        out.push_str("null");
        return;
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let text = format!("{value:e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exponent}");
            }
            _ => out.push_str(&text),
        }
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Go's string encoding with HTML escaping (the `json.Marshal` default).
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn encoded(value: Value) -> String {
        String::from_utf8(encode(&value)).unwrap()
    }

    #[test]
    fn objects_are_compact_with_sorted_keys() {
        let value: Value =
            serde_json::from_str(r#"{ "b": 1, "a": {"d": [1, 2], "c": null}, "A": true }"#)
                .unwrap();
        assert_eq!(
            encoded(value),
            r#"{"A":true,"a":{"c":null,"d":[1,2]},"b":1}"#
        );
    }

    #[test]
    fn html_characters_and_controls_are_escaped_as_go_does() {
        assert_eq!(
            encoded(json!("<a href=\"x\">&</a>\n\u{1}\u{2028}é")),
            r#""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e\n\u0001\u2028é""#
        );
    }

    #[test]
    fn numbers_are_go_float64s() {
        let cases = [
            ("integral float", "1.0", "1"),
            ("fraction", "1.5", "1.5"),
            ("negative", "-42", "-42"),
            ("exponent in range", "1e2", "100"),
            ("large", "1e21", "1e+21"),
            (
                "just below 1e21",
                "123456789012345678901",
                "123456789012345680000",
            ),
            ("tiny", "0.0000001", "1e-7"),
            ("small in range", "0.000001", "0.000001"),
            ("beyond 2^53", "9007199254740993", "9007199254740992"),
            ("zero", "0", "0"),
        ];
        for (case, input, expected) in cases {
            let value: Value = serde_json::from_str(input).unwrap();
            assert_eq!(encoded(value), expected, "case: {case}");
        }
    }
}
