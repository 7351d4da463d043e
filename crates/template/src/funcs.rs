//! Go's builtin template functions and the value conversions Prometheus's
//! functions share.

use crate::gofmt::{sprint, sprint_value, sprintf, sprintln, type_name};
use crate::Value;
use std::cmp::Ordering;

/// Calls the Go builtin `name`, or `None` when there is no such builtin.
pub fn builtin(name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    Some(match name {
        "and" => and_or(args, false),
        "or" => and_or(args, true),
        "not" => match args {
            [a] => Ok(Value::Bool(!a.truthy())),
            _ => Err(arg_count("not", 1, args.len())),
        },
        "len" => len(args),
        "index" => index(args),
        "slice" => slice(args),
        "print" => Ok(Value::Str(sprint(args))),
        "println" => Ok(Value::Str(sprintln(args))),
        "printf" => match args.split_first() {
            Some((Value::Str(f), rest)) => Ok(Value::Str(sprintf(f, rest))),
            Some((other, _)) => Err(wrong_type(0, "string", other)),
            None => Err("wrong number of args for printf: want at least 1 got 0".into()),
        },
        "eq" => eq(args),
        "ne" => match args {
            [a, b] => compare(a, b, true).map(|o| Value::Bool(o != Some(Ordering::Equal))),
            _ => Err(arg_count("ne", 2, args.len())),
        },
        "lt" | "le" | "gt" | "ge" => order(name, args),
        "html" => Ok(Value::Str(html_escape(&sprint(args)))),
        "js" => Ok(Value::Str(js_escape(&sprint(args)))),
        "urlquery" => Ok(Value::Str(
            form_urlencoded::byte_serialize(sprint(args).as_bytes()).collect(),
        )),
        "call" => Err("call of functions stored in data is not supported".into()),
        _ => return None,
    })
}

pub fn arg_count(name: &str, want: usize, got: usize) -> String {
    format!("wrong number of args for {name}: want {want} got {got}")
}

pub fn wrong_type(i: usize, want: &str, got: &Value) -> String {
    format!(
        "wrong type for value; expected {want}; got {} (argument {})",
        type_name(got),
        i + 1
    )
}

/// The string argument `i`.
pub fn str_arg(args: &[Value], i: usize) -> Result<&str, String> {
    match args.get(i) {
        Some(Value::Str(s)) => Ok(s),
        Some(other) => Err(wrong_type(i, "string", other)),
        None => Err(format!("missing argument {}", i + 1)),
    }
}

/// Prometheus's `convertToFloat`: numbers, numeric strings and durations.
pub fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Duration(ns) => Ok(*ns as f64 / 1e9),
        Value::Str(s) => parse_go_float(s).ok_or_else(|| {
            format!(
                "strconv.ParseFloat: parsing {}: invalid syntax",
                crate::gofmt::quote(s)
            )
        }),
        other => Err(format!("can't convert {} to float", type_name(other))),
    }
}

/// `strconv.ParseFloat` accepting what Go accepts (incl. `Inf`, `NaN`).
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return match (lower.as_str(), s.starts_with('-')) {
            ("nan", _) => Some(f64::NAN),
            (_, true) => Some(f64::NEG_INFINITY),
            _ => Some(f64::INFINITY),
        };
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE_xXpPabcdefABCDEF".contains(&b))
    {
        return None;
    }
    s.parse().ok()
}

fn and_or(args: &[Value], or: bool) -> Result<Value, String> {
    if args.is_empty() {
        return Err(format!(
            "wrong number of args for {}: want at least 1 got 0",
            if or { "or" } else { "and" }
        ));
    }
    for a in &args[..args.len() - 1] {
        if a.truthy() == or {
            return Ok(a.clone());
        }
    }
    Ok(args[args.len() - 1].clone())
}

fn len(args: &[Value]) -> Result<Value, String> {
    let [a] = args else {
        return Err(arg_count("len", 1, args.len()));
    };
    let n = match a {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::StrMap(m) => m.len(),
        other => return Err(format!("len of type {}", type_name(other))),
    };
    Ok(Value::Int(n as i64))
}

fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(format!("cannot index slice/array with type {}", type_name(other))),
    }
}

fn index(args: &[Value]) -> Result<Value, String> {
    let Some((first, keys)) = args.split_first() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    let mut v = first.clone();
    for k in keys {
        v = match (v, k) {
            (Value::List(l), k) => {
                let i = int_arg(k)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| l.get(i).cloned())
                    .ok_or_else(|| format!("index out of range: {i}"))?
            }
            (Value::Str(s), k) => {
                let i = int_arg(k)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| s.as_bytes().get(i).copied())
                    .map(|b| Value::Int(b as i64))
                    .ok_or_else(|| format!("index out of range: {i}"))?
            }
            (Value::Map(mut m), Value::Str(k)) => m.remove(k).unwrap_or(Value::Nil),
            (Value::StrMap(mut m), Value::Str(k)) => Value::Str(m.remove(k).unwrap_or_default()),
            (Value::Nil, _) => return Err("index of untyped nil".into()),
            (other, k) => {
                return Err(format!(
                    "can't index item of type {} with {}",
                    type_name(&other),
                    type_name(k)
                ))
            }
        };
    }
    Ok(v)
}

fn slice(args: &[Value]) -> Result<Value, String> {
    let Some((first, idx)) = args.split_first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    let len = match first {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", type_name(other))),
    };
    let mut bounds = [0usize, len];
    if idx.len() > 2 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    for (i, v) in idx.iter().enumerate() {
        let n = int_arg(v)?;
        bounds[i] = usize::try_from(n)
            .ok()
            .filter(|n| *n <= len)
            .ok_or_else(|| format!("index out of range: {n}"))?;
    }
    if bounds[0] > bounds[1] {
        return Err(format!("invalid slice index: {} > {}", bounds[0], bounds[1]));
    }
    Ok(match first {
        Value::Str(s) => Value::Str(
            s.get(bounds[0]..bounds[1])
                .ok_or("slice splits a UTF-8 character")?
                .to_string(),
        ),
        Value::List(l) => Value::List(l[bounds[0]..bounds[1]].to_vec()),
        _ => unreachable!("checked above"),
    })
}

/// Go's basic kinds, for comparisons.
fn kind(v: &Value) -> Option<u8> {
    match v {
        Value::Bool(_) => Some(0),
        Value::Int(_) => Some(1),
        Value::Float(_) => Some(2),
        Value::Str(_) => Some(3),
        _ => None,
    }
}

/// Compares two basic values of the same kind (`eq`: bools too).
fn compare(a: &Value, b: &Value, allow_bool: bool) -> Result<Option<Ordering>, String> {
    let (Some(ka), Some(kb)) = (kind(a), kind(b)) else {
        return Err("invalid type for comparison".into());
    };
    if ka != kb {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) if allow_bool => Some(x.cmp(y)),
        (Value::Bool(_), Value::Bool(_)) => None,
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ => None,
    })
}

fn order(name: &str, args: &[Value]) -> Result<Value, String> {
    let [a, b] = args else {
        return Err(arg_count(name, 2, args.len()));
    };
    let o = compare(a, b, false)?.ok_or("invalid type for comparison")?;
    Ok(Value::Bool(match name {
        "lt" => o == Ordering::Less,
        "le" => o != Ordering::Greater,
        "gt" => o == Ordering::Greater,
        _ => o != Ordering::Less,
    }))
}

fn eq(args: &[Value]) -> Result<Value, String> {
    let Some((a, rest)) = args.split_first() else {
        return Err("missing argument for comparison".into());
    };
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for b in rest {
        if compare(a, b, true)? == Some(Ordering::Equal) {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `time.Time.String()` for a UTC instant given in Unix nanoseconds:
/// `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn go_time_string(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let Some(t) = chrono::DateTime::from_timestamp(secs, 0) else {
        return format!("<time out of range: {ns}ns>");
    };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn go_duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let frac = |v: u64, unit: u64| -> String {
        let whole = v / unit;
        let rem = v % unit;
        if rem == 0 {
            return whole.to_string();
        }
        let digits = unit.to_string().len() - 1;
        let f = format!("{rem:0digits$}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    };
    if u < 1_000 {
        out.push_str(&format!("{u}ns"));
    } else if u < 1_000_000 {
        out.push_str(&format!("{}µs", frac(u, 1_000)));
    } else if u < 1_000_000_000 {
        out.push_str(&format!("{}ms", frac(u, 1_000_000)));
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let s = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{}s", frac(s, 1_000_000_000)));
    }
    out
}

/// `fmt.Sprint` of one value.
pub fn to_display(v: &Value) -> String {
    let mut s = String::new();
    sprint_value(v, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        for (ns, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (-2_000_000_000, "-2s"),
        ] {
            assert_eq!(go_duration_string(ns), want);
        }
    }

    #[test]
    fn times_like_go() {
        assert_eq!(go_time_string(1_000_000_000), "1970-01-01 00:00:01 +0000 UTC");
        assert_eq!(go_time_string(1_500_000_000), "1970-01-01 00:00:01.5 +0000 UTC");
        assert_eq!(
            go_time_string(1_435_065_584_128_000_000),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            eq(&[Value::Int(1), Value::Int(2), Value::Int(1)]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eq(&[Value::Int(1), Value::Float(1.0)]),
            Err("incompatible types for comparison".into())
        );
        assert_eq!(
            builtin("gt", &[Value::Float(2.0), Value::Float(1.0)]).unwrap(),
            Ok(Value::Bool(true))
        );
        assert!(builtin("lt", &[Value::Bool(true), Value::Bool(false)])
            .unwrap()
            .is_err());
    }
}
