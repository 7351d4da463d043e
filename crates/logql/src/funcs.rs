//! Loki's template functions for `line_format` and `label_format`, as extra
//! [`Funcs`] for the shared Go template engine.
//!
//! `__line__` and `__timestamp__` read the line being formatted from a
//! thread-local set by [`with_line`] for the duration of one execution, so a
//! single `Funcs` table serves every line.

use sightline_template::funcs::{arg_count, to_float};
use sightline_template::{Funcs, Value};
use std::cell::RefCell;

thread_local! {
    static CURRENT: RefCell<(String, i64)> = const { RefCell::new((String::new(), 0)) };
}

/// Runs `f` with `line`/`ts_ns` visible to `__line__`/`__timestamp__`.
pub fn with_line<R>(line: &str, ts_ns: i64, f: impl FnOnce() -> R) -> R {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        c.0.clear();
        c.0.push_str(line);
        c.1 = ts_ns;
    });
    f()
}

fn s(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => sightline_template::funcs::to_display(other),
    }
}

fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) => Ok(*f as i64),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Str(x) => Ok(x.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0)),
        Value::Duration(d) => Ok(*d),
        Value::Nil => Ok(0),
        other => Err(format!(
            "cannot convert {} to int",
            sightline_template::gofmt::type_name(other)
        )),
    }
}

fn float(v: &Value) -> f64 {
    to_float(v).unwrap_or(0.0)
}

fn need(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(arg_count(name, n, args.len()))
    }
}

fn str1(name: &'static str, f: fn(&str) -> String) -> impl Fn(&[Value]) -> Result<Value, String> {
    move |a: &[Value]| {
        need(name, a, 1)?;
        Ok(Value::Str(f(&s(&a[0]))))
    }
}

fn str2(name: &'static str, f: fn(&str, &str) -> String) -> impl Fn(&[Value]) -> Result<Value, String> {
    move |a: &[Value]| {
        need(name, a, 2)?;
        Ok(Value::Str(f(&s(&a[0]), &s(&a[1]))))
    }
}

fn bool2(name: &'static str, f: fn(&str, &str) -> bool) -> impl Fn(&[Value]) -> Result<Value, String> {
    move |a: &[Value]| {
        need(name, a, 2)?;
        Ok(Value::Bool(f(&s(&a[0]), &s(&a[1]))))
    }
}

fn int2(name: &'static str, f: fn(i64, i64) -> Option<i64>) -> impl Fn(&[Value]) -> Result<Value, String> {
    move |a: &[Value]| {
        need(name, a, 2)?;
        f(int(&a[0])?, int(&a[1])?)
            .map(Value::Int)
            .ok_or_else(|| "integer divide by zero".to_string())
    }
}

fn float2(name: &'static str, f: fn(f64, f64) -> f64) -> impl Fn(&[Value]) -> Result<Value, String> {
    move |a: &[Value]| {
        need(name, a, 2)?;
        Ok(Value::Float(f(float(&a[0]), float(&a[1]))))
    }
}

fn regex_arg(p: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(p).map_err(|e| format!("error parsing regexp: {e}"))
}

fn cut_set<'a>(set: &'a str) -> impl Fn(char) -> bool + 'a {
    move |c| set.contains(c)
}

/// Loki's template functions (Go `strings` ones, the sprig subset Loki
/// ships, math, `__line__`, `__timestamp__`, `unixEpoch*`, `bytes`,
/// `duration`).
pub fn loki_funcs() -> Funcs {
    let mut f = Funcs::new();
    f.insert("__line__", |a| {
        need("__line__", a, 0)?;
        Ok(Value::Str(CURRENT.with(|c| c.borrow().0.clone())))
    });
    f.insert("__timestamp__", |a| {
        need("__timestamp__", a, 0)?;
        Ok(Value::Time(CURRENT.with(|c| c.borrow().1)))
    });
    // Go strings package (argument order as in Go)
    f.insert("ToLower", str1("ToLower", |x| x.to_lowercase()));
    f.insert("ToUpper", str1("ToUpper", |x| x.to_uppercase()));
    f.insert("TrimSpace", str1("TrimSpace", |x| x.trim().to_string()));
    f.insert(
        "Trim",
        str2("Trim", |x, c| x.trim_matches(cut_set(c)).to_string()),
    );
    f.insert(
        "TrimLeft",
        str2("TrimLeft", |x, c| x.trim_start_matches(cut_set(c)).to_string()),
    );
    f.insert(
        "TrimRight",
        str2("TrimRight", |x, c| x.trim_end_matches(cut_set(c)).to_string()),
    );
    f.insert(
        "TrimPrefix",
        str2("TrimPrefix", |x, p| x.strip_prefix(p).unwrap_or(x).to_string()),
    );
    f.insert(
        "TrimSuffix",
        str2("TrimSuffix", |x, p| x.strip_suffix(p).unwrap_or(x).to_string()),
    );
    f.insert("Replace", |a| {
        need("Replace", a, 4)?;
        let (src, old, new, n) = (s(&a[0]), s(&a[1]), s(&a[2]), int(&a[3])?);
        Ok(Value::Str(if n < 0 {
            src.replace(&old, &new)
        } else {
            src.replacen(&old, &new, n as usize)
        }))
    });
    // sprig (the source string comes last)
    f.insert("lower", str1("lower", |x| x.to_lowercase()));
    f.insert("upper", str1("upper", |x| x.to_uppercase()));
    f.insert("title", str1("title", title));
    f.insert("trim", str1("trim", |x| x.trim().to_string()));
    f.insert(
        "trimAll",
        str2("trimAll", |c, x| x.trim_matches(cut_set(c)).to_string()),
    );
    f.insert(
        "trimPrefix",
        str2("trimPrefix", |p, x| x.strip_prefix(p).unwrap_or(x).to_string()),
    );
    f.insert(
        "trimSuffix",
        str2("trimSuffix", |p, x| x.strip_suffix(p).unwrap_or(x).to_string()),
    );
    f.insert("contains", bool2("contains", |sub, x| x.contains(sub)));
    f.insert("hasPrefix", bool2("hasPrefix", |p, x| x.starts_with(p)));
    f.insert("hasSuffix", bool2("hasSuffix", |p, x| x.ends_with(p)));
    f.insert("replace", |a| {
        need("replace", a, 3)?;
        Ok(Value::Str(s(&a[2]).replace(&s(&a[0]), &s(&a[1]))))
    });
    f.insert("repeat", |a| {
        need("repeat", a, 2)?;
        let n = int(&a[0])?.clamp(0, 10_000) as usize;
        Ok(Value::Str(s(&a[1]).repeat(n)))
    });
    f.insert("trunc", |a| {
        need("trunc", a, 2)?;
        let (n, x) = (int(&a[0])?, s(&a[1]));
        let chars: Vec<char> = x.chars().collect();
        let len = chars.len() as i64;
        Ok(Value::Str(if n < 0 && -n < len {
            chars[(len + n) as usize..].iter().collect()
        } else if n >= 0 && n < len {
            chars[..n as usize].iter().collect()
        } else {
            x
        }))
    });
    f.insert("substr", |a| {
        need("substr", a, 3)?;
        let (start, end, x) = (int(&a[0])?, int(&a[1])?, s(&a[2]));
        let b = x.as_bytes();
        let len = b.len() as i64;
        let st = start.clamp(0, len) as usize;
        let en = if end < 0 || end > len {
            len as usize
        } else {
            end as usize
        };
        if st > en {
            return Ok(Value::Str(String::new()));
        }
        Ok(Value::Str(String::from_utf8_lossy(&b[st..en]).into_owned()))
    });
    f.insert("indent", |a| {
        need("indent", a, 2)?;
        let pad = " ".repeat(int(&a[0])?.clamp(0, 1000) as usize);
        Ok(Value::Str(format!(
            "{pad}{}",
            s(&a[1]).replace('\n', &format!("\n{pad}"))
        )))
    });
    f.insert("nindent", |a| {
        need("nindent", a, 2)?;
        let pad = " ".repeat(int(&a[0])?.clamp(0, 1000) as usize);
        Ok(Value::Str(format!(
            "\n{pad}{}",
            s(&a[1]).replace('\n', &format!("\n{pad}"))
        )))
    });
    f.insert("regexReplaceAll", |a| {
        need("regexReplaceAll", a, 3)?;
        let re = regex_arg(&s(&a[0]))?;
        let repl = go_expand_template(&s(&a[2]));
        Ok(Value::Str(re.replace_all(&s(&a[1]), repl.as_str()).into_owned()))
    });
    f.insert("regexReplaceAllLiteral", |a| {
        need("regexReplaceAllLiteral", a, 3)?;
        let re = regex_arg(&s(&a[0]))?;
        Ok(Value::Str(
            re.replace_all(&s(&a[1]), regex::NoExpand(&s(&a[2]))).into_owned(),
        ))
    });
    f.insert("count", |a| {
        need("count", a, 2)?;
        let re = regex_arg(&s(&a[0]))?;
        Ok(Value::Int(re.find_iter(&s(&a[1])).count() as i64))
    });
    f.insert("default", |a| {
        need("default", a, 2)?;
        Ok(if a[1].truthy() { a[1].clone() } else { a[0].clone() })
    });
    f.insert(
        "urlencode",
        str1("urlencode", |x| {
            let mut out = String::new();
            for b in x.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    out.push(b as char);
                } else if b == b' ' {
                    out.push('+');
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        }),
    );
    f.insert("urldecode", |a| {
        need("urldecode", a, 1)?;
        let x = s(&a[0]);
        let b = x.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let h = x.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                    match h {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => return Err(format!("invalid URL escape {:?}", x.get(i..).unwrap_or(""))),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        Ok(Value::Str(String::from_utf8_lossy(&out).into_owned()))
    });
    f.insert("b64enc", str1("b64enc", b64enc));
    f.insert("b64dec", |a| {
        need("b64dec", a, 1)?;
        Ok(Value::Str(b64dec(&s(&a[0])).unwrap_or_else(|e| e)))
    });
    f.insert("alignLeft", |a| {
        need("alignLeft", a, 2)?;
        let (n, x) = (int(&a[0])?.clamp(0, 100_000) as usize, s(&a[1]));
        let len = x.chars().count();
        Ok(Value::Str(if len >= n {
            x.chars().take(n).collect()
        } else {
            format!("{x}{}", " ".repeat(n - len))
        }))
    });
    f.insert("alignRight", |a| {
        need("alignRight", a, 2)?;
        let (n, x) = (int(&a[0])?.clamp(0, 100_000) as usize, s(&a[1]));
        let len = x.chars().count();
        Ok(Value::Str(if len >= n {
            x.chars().skip(len - n).collect()
        } else {
            format!("{}{x}", " ".repeat(n - len))
        }))
    });
    // math
    f.insert("add", int2("add", |a, b| Some(a.wrapping_add(b))));
    f.insert("sub", int2("sub", |a, b| Some(a.wrapping_sub(b))));
    f.insert("mul", int2("mul", |a, b| Some(a.wrapping_mul(b))));
    f.insert("div", int2("div", |a, b| a.checked_div(b)));
    f.insert("mod", int2("mod", |a, b| a.checked_rem(b)));
    f.insert("max", int2("max", |a, b| Some(a.max(b))));
    f.insert("min", int2("min", |a, b| Some(a.min(b))));
    f.insert("addf", float2("addf", |a, b| a + b));
    f.insert("subf", float2("subf", |a, b| a - b));
    f.insert("mulf", float2("mulf", |a, b| a * b));
    f.insert("divf", float2("divf", |a, b| a / b));
    f.insert("maxf", float2("maxf", f64::max));
    f.insert("minf", float2("minf", f64::min));
    f.insert("ceil", |a| {
        need("ceil", a, 1)?;
        Ok(Value::Float(float(&a[0]).ceil()))
    });
    f.insert("floor", |a| {
        need("floor", a, 1)?;
        Ok(Value::Float(float(&a[0]).floor()))
    });
    f.insert("round", |a| {
        if a.is_empty() || a.len() > 2 {
            return Err(arg_count("round", 2, a.len()));
        }
        let p = if a.len() == 2 { int(&a[1])? } else { 0 };
        let m = 10f64.powi(p.clamp(-300, 300) as i32);
        Ok(Value::Float((float(&a[0]) * m).round() / m))
    });
    f.insert("int", |a| {
        need("int", a, 1)?;
        Ok(Value::Int(int(&a[0])?))
    });
    f.insert("float64", |a| {
        need("float64", a, 1)?;
        Ok(Value::Float(float(&a[0])))
    });
    f.insert("bytes", |a| {
        need("bytes", a, 1)?;
        let x = s(&a[0]);
        crate::parser::parse_bytes(&x)
            .map(Value::Float)
            .ok_or_else(|| format!("invalid bytes value {x:?}"))
    });
    for name in ["duration", "duration_seconds"] {
        f.insert(name, move |a| {
            need(name, a, 1)?;
            let x = s(&a[0]);
            crate::parser::parse_duration(&x)
                .map(|d| Value::Float(d as f64 / 1e9))
                .ok_or_else(|| format!("time: invalid duration {x:?}"))
        });
    }
    f.insert("unixEpoch", |a| {
        need("unixEpoch", a, 1)?;
        time_arg(&a[0]).map(|t| Value::Int(t.div_euclid(1_000_000_000)))
    });
    f.insert("unixEpochMillis", |a| {
        need("unixEpochMillis", a, 1)?;
        time_arg(&a[0]).map(|t| Value::Int(t.div_euclid(1_000_000)))
    });
    f.insert("unixEpochNanos", |a| {
        need("unixEpochNanos", a, 1)?;
        time_arg(&a[0]).map(Value::Int)
    });
    f.insert("unixToTime", |a| {
        need("unixToTime", a, 1)?;
        let x = s(&a[0]);
        let v: i64 = x
            .trim()
            .parse()
            .map_err(|_| format!("invalid unix timestamp {x:?}"))?;
        // seconds, milliseconds, microseconds or nanoseconds by magnitude (as Loki)
        let ns = match x.trim().trim_start_matches('-').len() {
            0..=10 => v.saturating_mul(1_000_000_000),
            11..=13 => v.saturating_mul(1_000_000),
            14..=16 => v.saturating_mul(1_000),
            _ => v,
        };
        Ok(Value::Time(ns))
    });
    f.insert("date", |a| {
        need("date", a, 2)?;
        let layout = s(&a[0]);
        Ok(Value::Str(go_format_time(&layout, time_arg(&a[1])?)))
    });
    f.insert("now", |a| {
        need("now", a, 0)?;
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        Ok(Value::Time(ns))
    });
    f
}

/// Formats `ns` (UTC) with a Go reference-time layout (`2006-01-02T15:04:05Z07:00`).
pub fn go_format_time(layout: &str, ns: i64) -> String {
    use chrono::{Datelike, Timelike};
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return String::new();
    };
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let month = MONTHS[t.month0() as usize];
    let day = DAYS[t.weekday().num_days_from_sunday() as usize];
    let h12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::new();
    let mut rest = layout;
    // longest tokens first
    let tokens: [&str; 30] = [
        "January",
        "Monday",
        "Z07:00:00",
        "-07:00:00",
        "Z07:00",
        "-07:00",
        "Z0700",
        "-0700",
        "2006",
        "Jan",
        "Mon",
        "MST",
        "002",
        "Z07",
        "-07",
        "_2",
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
        "15",
        "PM",
        "pm",
        "1",
        "2",
        "3",
        "4",
        "5",
    ];
    'outer: while !rest.is_empty() {
        // fractional seconds: `.000` (fixed) or `.999` (trailing zeros trimmed), also with `,`
        let b = rest.as_bytes();
        if (b[0] == b'.' || b[0] == b',') && b.len() > 1 && (b[1] == b'0' || b[1] == b'9') {
            let digits = b[1..].iter().take_while(|&&c| c == b[1]).count();
            if !b[1 + digits..].first().is_some_and(|c| c.is_ascii_digit()) {
                let frac = format!("{nanos:09}");
                let mut f = frac[..digits.min(9)].to_string();
                if b[1] == b'9' {
                    while f.ends_with('0') {
                        f.pop();
                    }
                }
                if !f.is_empty() {
                    out.push(b[0] as char);
                    out.push_str(&f);
                }
                rest = &rest[1 + digits..];
                continue;
            }
        }
        for tok in tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                let s = match tok {
                    "January" => month.to_string(),
                    "Jan" => month[..3].to_string(),
                    "Monday" => day.to_string(),
                    "Mon" => day[..3].to_string(),
                    "MST" => "UTC".to_string(),
                    "Z07:00:00" | "Z07:00" | "Z0700" | "Z07" => "Z".to_string(),
                    "-07:00:00" => "+00:00:00".to_string(),
                    "-07:00" => "+00:00".to_string(),
                    "-0700" => "+0000".to_string(),
                    "-07" => "+00".to_string(),
                    "2006" => format!("{:04}", t.year()),
                    "06" => format!("{:02}", t.year().rem_euclid(100)),
                    "01" => format!("{:02}", t.month()),
                    "1" => t.month().to_string(),
                    "02" => format!("{:02}", t.day()),
                    "_2" => format!("{:>2}", t.day()),
                    "2" => t.day().to_string(),
                    "002" => format!("{:03}", t.ordinal()),
                    "15" => format!("{:02}", t.hour()),
                    "03" => format!("{h12:02}"),
                    "3" => h12.to_string(),
                    "04" => format!("{:02}", t.minute()),
                    "4" => t.minute().to_string(),
                    "05" => format!("{:02}", t.second()),
                    "5" => t.second().to_string(),
                    "PM" => if t.hour() >= 12 { "PM" } else { "AM" }.to_string(),
                    _ => if t.hour() >= 12 { "pm" } else { "am" }.to_string(),
                };
                out.push_str(&s);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8().min(rest.len())..];
    }
    out
}

fn time_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Time(t) => Ok(*t),
        Value::Int(i) => Ok(*i),
        other => Err(format!(
            "wrong type for value; expected time.Time; got {}",
            sightline_template::gofmt::type_name(other)
        )),
    }
}

fn title(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    let mut prev_letter = false;
    for c in x.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

/// Go's `${1}`/`$name` expansion syntax is the same in Rust's regex crate,
/// except Go treats `$1x` as group `1x`; both accept `${1}`.
fn go_expand_template(r: &str) -> String {
    r.to_string()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64enc(x: &str) -> String {
    let b = x.as_bytes();
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for ch in b.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= ch.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64dec(x: &str) -> Result<String, String> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in x.trim_end_matches('=').bytes() {
        let v = B64
            .iter()
            .position(|&b| b == c)
            .ok_or_else(|| format!("illegal base64 data at input byte {}", out.len()))?;
        bits = (bits << 6) | v as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_template::Template;

    fn run(t: &str, line: &str) -> String {
        let data = Value::StrMap([("app".to_string(), "Api".to_string())].into_iter().collect());
        with_line(line, 1_500_000_000_000, || {
            Template::parse("t", t)
                .unwrap()
                .execute(&data, &loki_funcs())
                .unwrap()
        })
    }

    #[test]
    fn loki_functions() {
        assert_eq!(run("{{ .app | ToUpper }} {{ __line__ }}", "x"), "API x");
        assert_eq!(run("{{ __timestamp__ | unixEpoch }}", ""), "1500");
        assert_eq!(run(r#"{{ replace "p" "P" .app }}"#, ""), "APi");
        assert_eq!(run(r#"{{ trunc 2 .app }}|{{ substr 1 3 .app }}"#, ""), "Ap|pi");
        assert_eq!(
            run(r#"{{ regexReplaceAll "(a)(p)" __line__ "${2}${1}" }}"#, "xapx"),
            "xpax"
        );
        assert_eq!(
            run(r#"{{ b64enc "hello" }} {{ b64dec "aGVsbG8=" }}"#, ""),
            "aGVsbG8= hello"
        );
        assert_eq!(
            run(r#"{{ add 1 2 }} {{ divf 1 4 }} {{ default "d" .missing }}"#, ""),
            "3 0.25 d"
        );
        assert_eq!(
            run(r#"{{ alignRight 5 .app }}|{{ alignLeft 2 .app }}"#, ""),
            "  Api|Ap"
        );
        assert_eq!(
            run(r#"{{ "1.5s" | duration }} {{ "2KB" | bytes }}"#, ""),
            "1.5 2000"
        );
        assert_eq!(
            run(r#"{{ urlencode "a b&c" }} {{ urldecode "a+b%26c" }}"#, ""),
            "a+b%26c a b&c"
        );
    }
}
