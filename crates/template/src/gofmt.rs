//! Go's `fmt` number and value formatting, as templates print them:
//! `%v` (shortest `%g`), `%.Ng`, `%e`, `%f`, `%d`, `%s`, `%q`, `%x`, `%t`
//! with width, precision and the `-`, `+`, ` `, `0` flags.

use crate::Value;

/// Decimal digits of `|v|` without trailing zeros, and the position of the
/// decimal point relative to them (`0.00123` is digits `123`, point `-2`).
/// `prec` rounds to that many significant digits; `None` is the shortest
/// representation that reads back exactly.
fn digits(v: f64, prec: Option<usize>) -> (String, i32) {
    let s = match prec {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(|c| *c != '.').collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    if d == "0" {
        return (d, 1);
    }
    (d, exp + 1)
}

fn non_finite(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

/// `%e` with `prec` digits after the point (Go's exponent has at least two
/// digits).
fn fmt_e(neg: bool, d: &str, dp: i32, prec: usize, out: &mut String) {
    if neg {
        out.push('-');
    }
    let first = d.as_bytes().first().copied().unwrap_or(b'0') as char;
    out.push(first);
    if prec > 0 {
        out.push('.');
        let rest = d.get(1..).unwrap_or("");
        out.push_str(&rest[..rest.len().min(prec)]);
        for _ in rest.len()..prec {
            out.push('0');
        }
    }
    let exp = if d == "0" { 0 } else { dp - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

/// `%f` with `prec` digits after the point, from digits already rounded.
fn fmt_f(neg: bool, d: &str, dp: i32, prec: usize, out: &mut String) {
    if neg {
        out.push('-');
    }
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(d.as_bytes().get(i).map_or('0', |b| *b as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let j = dp + i;
            let c = if j < 0 {
                '0'
            } else {
                d.as_bytes().get(j as usize).map_or('0', |b| *b as char)
            };
            out.push(c);
        }
    }
}

/// Go's `%g` (`prec` None = shortest, as `%v` prints floats).
pub fn fmt_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = non_finite(v) {
        return s;
    }
    let neg = v.is_sign_negative() && v != 0.0;
    let (d, dp) = digits(v, prec);
    let nd = d.len() as i32;
    let mut p = match prec {
        Some(p) => p.max(1) as i32,
        None => nd,
    };
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    let mut out = String::new();
    if d == "0" {
        // Zero prints as "0" whatever the precision.
        if v.is_sign_negative() {
            out.push('-');
        }
        out.push('0');
        return out;
    }
    if exp < -4 || exp >= eprec {
        if p > nd {
            p = nd;
        }
        fmt_e(neg, &d, dp, (p - 1).max(0) as usize, &mut out);
        return out;
    }
    if p > dp {
        p = nd;
    }
    fmt_f(neg, &d, dp, (p - dp).max(0) as usize, &mut out);
    out
}

/// Go's `%e` with precision (default 6).
pub fn fmt_exp(v: f64, prec: usize) -> String {
    if let Some(s) = non_finite(v) {
        return s;
    }
    let (d, dp) = digits(v, Some(prec + 1));
    let mut out = String::new();
    fmt_e(v.is_sign_negative() && v != 0.0, &d, dp, prec, &mut out);
    out
}

/// Go's `%f` with precision (default 6).
pub fn fmt_fixed(v: f64, prec: usize) -> String {
    if let Some(s) = non_finite(v) {
        return s;
    }
    let s = format!("{:.*}", prec, v);
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        // Go keeps the sign of negative values that round to zero.
        return s;
    }
    s
}

/// How `fmt.Sprint` (and `{{ . }}`) prints a value.
pub fn sprint_value(v: &Value, out: &mut String) {
    match v {
        Value::Nil => out.push_str("<no value>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&fmt_g(*f, None)),
        Value::Str(s) => out.push_str(s),
        Value::Time(ns) => out.push_str(&crate::funcs::go_time_string(*ns)),
        Value::Duration(ns) => out.push_str(&crate::funcs::go_duration_string(*ns)),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                sprint_value(e, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                sprint_value(e, out);
            }
            out.push(']');
        }
        Value::StrMap(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                out.push_str(e);
            }
            out.push(']');
        }
    }
}

/// `fmt.Sprint(args...)`: spaces between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        sprint_value(a, &mut out);
    }
    out
}

/// `fmt.Sprintln(args...)`: always spaces, and a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        sprint_value(a, &mut out);
    }
    out.push('\n');
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if spec.minus {
        return s + &" ".repeat(fill);
    }
    if spec.zero && numeric {
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'-' | b'+' | b' ') => s.split_at(1),
            _ => ("", s.as_str()),
        };
        return format!("{sign}{}{rest}", "0".repeat(fill));
    }
    " ".repeat(fill) + &s
}

fn signed(s: String, spec: &Spec) -> String {
    if s.starts_with('-') || s == "NaN" || s.starts_with('+') {
        return s;
    }
    if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// Go's `%q` for a string: double-quoted with Go escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `fmt.Sprintf(format, args...)`, with Go's `%!v(MISSING)`-style markers
/// for mismatched arguments.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args_iter = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args_iter.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        out.push_str(&format_one(verb, &spec, arg));
    }
    let extra: Vec<&Value> = args_iter.collect();
    if !extra.is_empty() {
        out.push_str("%!(EXTRA ");
        for (i, a) in extra.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(type_name(a));
            out.push('=');
            sprint_value(a, &mut out);
        }
        out.push(')');
    }
    out
}

/// Go's type names, for error markers.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Time(_) => "time.Time",
        Value::Duration(_) => "time.Duration",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::StrMap(_) => "map[string]string",
    }
}

fn bad_verb(verb: char, arg: &Value) -> String {
    let mut s = format!("%!{verb}({}=", type_name(arg));
    sprint_value(arg, &mut s);
    s.push(')');
    s
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    match verb {
        'v' => match arg {
            Value::Float(f) => pad(signed(fmt_g(*f, spec.prec), spec), spec, true),
            Value::Int(i) => pad(signed(i.to_string(), spec), spec, true),
            Value::Str(s) if spec.sharp => pad(quote(s), spec, false),
            _ => {
                let mut s = String::new();
                sprint_value(arg, &mut s);
                pad(s, spec, false)
            }
        },
        's' => match arg {
            Value::Str(s) => {
                let s = match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.clone(),
                };
                pad(s, spec, false)
            }
            Value::Float(_) | Value::Int(_) | Value::Bool(_) | Value::Nil => bad_verb(verb, arg),
            _ => {
                let mut s = String::new();
                sprint_value(arg, &mut s);
                pad(s, spec, false)
            }
        },
        'q' => match arg {
            Value::Str(s) => pad(quote(s), spec, false),
            Value::Int(i) => pad(
                format!("'{}'", char::from_u32(*i as u32).unwrap_or('\u{fffd}')),
                spec,
                false,
            ),
            _ => bad_verb(verb, arg),
        },
        'd' => match arg {
            Value::Int(i) => pad(signed(i.to_string(), spec), spec, true),
            _ => bad_verb(verb, arg),
        },
        't' => match arg {
            Value::Bool(b) => pad(b.to_string(), spec, false),
            _ => bad_verb(verb, arg),
        },
        'x' | 'X' => {
            let s = match arg {
                Value::Int(i) if *i < 0 => format!("-{:x}", i.unsigned_abs()),
                Value::Int(i) => format!("{i:x}"),
                Value::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                _ => return bad_verb(verb, arg),
            };
            let s = if verb == 'X' { s.to_uppercase() } else { s };
            pad(s, spec, true)
        }
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
            let Some(f) = as_float(arg).filter(|_| matches!(arg, Value::Float(_))) else {
                return bad_verb(verb, arg);
            };
            let s = match verb {
                'f' | 'F' => fmt_fixed(f, spec.prec.unwrap_or(6)),
                'e' => fmt_exp(f, spec.prec.unwrap_or(6)),
                'E' => fmt_exp(f, spec.prec.unwrap_or(6)).to_uppercase(),
                'g' => fmt_g(f, spec.prec),
                _ => fmt_g(f, spec.prec).to_uppercase(),
            };
            pad(signed(s, spec), spec, f.is_finite())
        }
        _ => bad_verb(verb, arg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_g_like_go() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (1.5, "1.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1e21, "1e+21"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(fmt_g(v, None), want, "{v}");
        }
    }

    #[test]
    fn precision_g_like_go() {
        for (v, want) in [
            (1234.5678, "1235"),
            (12.0, "12"),
            (1.5, "1.5"),
            (100000.0, "1e+05"),
            (999.96, "1000"),
            (0.0001234, "0.0001234"),
            (0.00001234, "1.234e-05"),
            (123.456, "123.5"),
            (0.0, "0"),
            (42.0, "42"),
            (1.0, "1"),
            (9999.5, "1e+04"),
        ] {
            assert_eq!(fmt_g(v, Some(4)), want, "{v}");
        }
    }

    #[test]
    fn printf_verbs() {
        let f = Value::Float(2.71838);
        assert_eq!(sprintf("%.2f", std::slice::from_ref(&f)), "2.72");
        assert_eq!(sprintf("%f", std::slice::from_ref(&f)), "2.718380");
        assert_eq!(sprintf("%e", std::slice::from_ref(&f)), "2.718380e+00");
        assert_eq!(sprintf("%8.3f|", std::slice::from_ref(&f)), "   2.718|");
        assert_eq!(sprintf("%-8.1f|", std::slice::from_ref(&f)), "2.7     |");
        assert_eq!(
            sprintf("%v %s", &[f.clone(), Value::Str("x".into())]),
            "2.71838 x"
        );
        assert_eq!(sprintf("%d%%", &[Value::Int(5)]), "5%");
        assert_eq!(sprintf("%05d", &[Value::Int(-42)]), "-0042");
        assert_eq!(sprintf("%q", &[Value::Str("a\"b".into())]), "\"a\\\"b\"");
        assert_eq!(sprintf("%x", &[Value::Int(255)]), "ff");
        assert_eq!(sprintf("%d", &[Value::Str("x".into())]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &[Value::Str("x".into())]), "x %!s(MISSING)");
        assert_eq!(
            sprintf("%s", &[Value::Str("a".into()), Value::Int(1)]),
            "a%!(EXTRA int=1)"
        );
        assert_eq!(sprintf("%.1f", &[Value::Float(0.05)]), "0.1");
        assert_eq!(sprintf("%+.1f", &[Value::Float(2.0)]), "+2.0");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(sprint(&[Value::Int(1), Value::Int(2)]), "1 2");
        assert_eq!(sprint(&[Value::Str("a".into()), Value::Int(2)]), "a2");
        assert_eq!(sprintln(&[Value::Str("a".into()), Value::Int(2)]), "a 2\n");
    }
}
