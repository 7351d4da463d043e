//! Attribute values as label values, the way the OpenTelemetry collector's
//! `pcommon.Value.AsString` renders them (which Prometheus uses).
//!
//! - strings as is; booleans `true`/`false`; integers in decimal;
//! - doubles like JavaScript's number-to-string (`1.5`, `1e+21`, `1e-7`);
//!   NaN and infinities as `json: unsupported value: NaN` (pdata's text);
//! - bytes as standard base64;
//! - arrays and key/value lists as compact JSON as Go's `encoding/json`
//!   writes it (map keys sorted, `<`, `>`, `&` escaped as `\u003c`...);
//! - an empty value as the empty string (the label is then absent).

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};
use std::fmt::Write;

/// Renders an attribute value as a label value.
pub fn value_to_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => if *b { "true" } else { "false" }.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        // pdata renders non-finite doubles as the JSON encoder's error text.
        Some(Value::DoubleValue(d)) if !d.is_finite() => {
            format!("json: unsupported value: {}", format_double(*d))
        }
        Some(Value::DoubleValue(d)) => format_double(*d),
        Some(Value::BytesValue(b)) => base64(b),
        // Only meaningful inside profiles' string tables; never in metrics.
        Some(Value::StringValueStrindex(_)) => String::new(),
        Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_)) => {
            let mut out = String::new();
            write_json(&mut out, v.and_then(|v| v.value.as_ref()));
            out
        }
    }
}

/// JavaScript-style number formatting (Go's `float64AsString` in pdata).
pub fn format_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` gives `1e21` / `1.5e-7`; JS gives `1e+21` / `1.5e-7`.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn write_json(out: &mut String, v: Option<&Value>) {
    match v {
        None | Some(Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(Value::StringValue(s)) => write_json_str(out, s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(d)) => {
            if d.is_finite() {
                out.push_str(&format_double(*d));
            } else {
                // JSON has no NaN/Inf; render as a string like encoders that don't fail do.
                write_json_str(out, &format_double(*d));
            }
        }
        Some(Value::BytesValue(b)) => write_json_str(out, &base64(b)),
        Some(Value::ArrayValue(a)) => {
            out.push('[');
            for (i, e) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, e.value.as_ref());
            }
            out.push(']');
        }
        Some(Value::KvlistValue(kv)) => {
            let mut entries: Vec<_> = kv.values.iter().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            entries.dedup_by(|later, earlier| later.key == earlier.key);
            out.push('{');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, &e.key);
                out.push(':');
                write_json(out, e.value.as_ref().and_then(|v| v.value.as_ref()));
            }
            out.push('}');
        }
    }
}

fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go's encoding/json escapes HTML-significant characters and the
            // JavaScript line separators.
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValue, KeyValueList};

    fn av(v: Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn scalars() {
        assert_eq!(value_to_string(Some(&av(Value::StringValue("x".into())))), "x");
        assert_eq!(value_to_string(Some(&av(Value::BoolValue(true)))), "true");
        assert_eq!(value_to_string(Some(&av(Value::IntValue(-42)))), "-42");
        assert_eq!(value_to_string(Some(&av(Value::DoubleValue(1.5)))), "1.5");
        assert_eq!(value_to_string(Some(&av(Value::DoubleValue(3.0)))), "3");
        assert_eq!(value_to_string(Some(&av(Value::DoubleValue(1e21)))), "1e+21");
        assert_eq!(value_to_string(Some(&av(Value::DoubleValue(1.5e-7)))), "1.5e-7");
        assert_eq!(
            value_to_string(Some(&av(Value::BytesValue(b"hello".to_vec())))),
            "aGVsbG8="
        );
        assert_eq!(value_to_string(None), "");
        assert_eq!(
            value_to_string(Some(&av(Value::DoubleValue(f64::NAN)))),
            "json: unsupported value: NaN"
        );
        assert_eq!(
            value_to_string(Some(&av(Value::DoubleValue(f64::NEG_INFINITY)))),
            "json: unsupported value: -Inf"
        );
        assert_eq!(value_to_string(Some(&AnyValue { value: None })), "");
    }

    #[test]
    fn composites_are_json() {
        let arr = av(Value::ArrayValue(ArrayValue {
            values: vec![
                av(Value::StringValue("a\"b".into())),
                av(Value::IntValue(1)),
                av(Value::BoolValue(false)),
            ],
        }));
        assert_eq!(value_to_string(Some(&arr)), r#"["a\"b",1,false]"#);
        let kv = |k: &str, v| KeyValue {
            key: k.into(),
            value: Some(v),
            ..Default::default()
        };
        let map = av(Value::KvlistValue(KeyValueList {
            values: vec![kv("z", av(Value::DoubleValue(0.5))), kv("a", arr.clone())],
        }));
        assert_eq!(value_to_string(Some(&map)), r#"{"a":["a\"b",1,false],"z":0.5}"#);
        let html = av(Value::ArrayValue(ArrayValue {
            values: vec![av(Value::StringValue("<a&b>\n".into()))],
        }));
        assert_eq!(value_to_string(Some(&html)), r#"["\u003ca\u0026b\u003e\n"]"#);
    }
}
