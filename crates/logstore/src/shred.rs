//! Lossless splitting of JSON-object lines into keys and values.
//!
//! A line of the form `{"k1":v1,"k2":{"k3":v3}}` (one consistent separator
//! style for `:` / `: ` and `,` / `, `, no other whitespace between members)
//! is split into its raw key texts and raw value texts (string values
//! without their quotes, escapes untouched; numbers, literals and arrays
//! verbatim); non-empty nested objects in the same style are split too (up
//! to 8 levels), anything else nested is kept verbatim as one value. [`unshred`] concatenates the pieces
//! back, so `unshred(shred(line)) == line` byte for byte by construction; any
//! line that does not fit the form is stored raw. The values of one key across
//! many lines become one column, which is what makes the segment compress
//! better than whole-file zstd.

/// Separator style bits.
pub const SPACE_AFTER_COLON: u8 = 1;
pub const SPACE_AFTER_COMMA: u8 = 2;

/// Item kinds of a shape.
pub const QUOTED: u8 = 0;
pub const RAW: u8 = 1;
pub const OPEN: u8 = 2;
pub const CLOSE: u8 = 3;

/// Pieces of one shredded line, borrowing from it: one `(key, kind)` item
/// per member (`QUOTED` string value, `RAW` verbatim value, `OPEN` a nested
/// object whose members follow until the matching `CLOSE`), and the values
/// of the `QUOTED`/`RAW` items in order.
#[derive(Debug, Default)]
pub struct Shredded<'a> {
    pub style: u8,
    pub keys: Vec<&'a str>,
    pub kinds: Vec<u8>,
    pub values: Vec<&'a str>,
}

impl<'a> Shredded<'a> {
    pub fn clear(&mut self) {
        self.style = 0;
        self.keys.clear();
        self.kinds.clear();
        self.values.clear();
    }
}

/// Index just past the closing quote of a string starting at `b[i] == '"'`.
#[inline]
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        let j = memchr::memchr2(b'"', b'\\', &b[i..])? + i;
        if b[j] == b'\\' {
            i = j + 2;
            if i > b.len() {
                return None;
            }
        } else {
            return Some(j + 1);
        }
    }
}

/// Index just past a nested object/array starting at `b[i]`.
fn skip_nested(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = skip_string(b, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

struct Style {
    colon: Option<bool>,
    comma: Option<bool>,
}

/// Checks/records a separator's trailing space against the style.
#[inline]
fn sep(slot: &mut Option<bool>, sp: bool) -> bool {
    match *slot {
        None => {
            *slot = Some(sp);
            true
        }
        Some(s) => s == sp,
    }
}

const MAX_DEPTH: usize = 8;

/// Shreds the object starting at `b[i] == '{'`; returns the index after its
/// closing brace.
fn object<'a>(
    line: &'a str,
    mut i: usize,
    st: &mut Style,
    out: &mut Shredded<'a>,
    depth: usize,
) -> Option<usize> {
    let b = line.as_bytes();
    let n = b.len();
    i += 1;
    loop {
        if i >= n || b[i] != b'"' {
            return None;
        }
        let kend = skip_string(b, i)?;
        let key = &line[i + 1..kend - 1];
        i = kend;
        if i >= n || b[i] != b':' {
            return None;
        }
        i += 1;
        let sp = i < n && b[i] == b' ';
        if !sep(&mut st.colon, sp) {
            return None;
        }
        if sp {
            i += 1;
        }
        if i >= n {
            return None;
        }
        match b[i] {
            b'"' => {
                let e = skip_string(b, i)?;
                out.keys.push(key);
                out.kinds.push(QUOTED);
                out.values.push(&line[i + 1..e - 1]);
                i = e;
            }
            b'{' if depth < MAX_DEPTH => {
                let saved = (out.keys.len(), out.values.len(), st.colon, st.comma);
                out.keys.push(key);
                out.kinds.push(OPEN);
                match object(line, i, st, out, depth + 1) {
                    Some(e) => {
                        out.keys.push("");
                        out.kinds.push(CLOSE);
                        i = e;
                    }
                    None => {
                        out.keys.truncate(saved.0);
                        out.kinds.truncate(saved.0);
                        out.values.truncate(saved.1);
                        st.colon = saved.2;
                        st.comma = saved.3;
                        let e = skip_nested(b, i)?;
                        out.keys.push(key);
                        out.kinds.push(RAW);
                        out.values.push(&line[i..e]);
                        i = e;
                    }
                }
            }
            b'{' | b'[' => {
                let e = skip_nested(b, i)?;
                out.keys.push(key);
                out.kinds.push(RAW);
                out.values.push(&line[i..e]);
                i = e;
            }
            b' ' | b'\t' | b'\r' | b'\n' => return None,
            _ => {
                let e = memchr::memchr2(b',', b'}', &b[i..])? + i;
                if e == i {
                    return None;
                }
                out.keys.push(key);
                out.kinds.push(RAW);
                out.values.push(&line[i..e]);
                i = e;
            }
        }
        if i < n && b[i] == b'}' {
            return Some(i + 1);
        }
        if i >= n || b[i] != b',' {
            return None;
        }
        i += 1;
        let sp = i < n && b[i] == b' ';
        if !sep(&mut st.comma, sp) {
            return None;
        }
        if sp {
            i += 1;
        }
    }
}

/// Splits `line` into `out`; false (and `out` unspecified) when the line is
/// not a non-empty JSON object in the accepted form.
pub fn shred<'a>(line: &'a str, out: &mut Shredded<'a>) -> bool {
    out.clear();
    let b = line.as_bytes();
    if b.len() < 2 || b[0] != b'{' || b[b.len() - 1] != b'}' {
        return false;
    }
    let mut st = Style {
        colon: None,
        comma: None,
    };
    if object(line, 0, &mut st, out, 0) != Some(b.len()) {
        return false;
    }
    out.style = (if st.colon == Some(true) {
        SPACE_AFTER_COLON
    } else {
        0
    }) | (if st.comma == Some(true) {
        SPACE_AFTER_COMMA
    } else {
        0
    });
    true
}

/// Rebuilds the line from its pieces (appending to `out`): `keys[i]` and
/// `kinds[i]` per item, `values` for the `QUOTED`/`RAW` items in order.
pub fn unshred<'v>(
    style: u8,
    keys: &[&str],
    kinds: &[u8],
    values: impl IntoIterator<Item = &'v str>,
    out: &mut String,
) {
    let mut values = values.into_iter();
    unshred_with(style, keys, kinds, out, |o| {
        o.push_str(values.next().unwrap_or(""))
    });
}

/// [`unshred`] with values written by `put`, called once per value in order.
pub fn unshred_with(
    style: u8,
    keys: &[&str],
    kinds: &[u8],
    out: &mut String,
    mut put: impl FnMut(&mut String),
) {
    let colon = if style & SPACE_AFTER_COLON != 0 { ": " } else { ":" };
    let comma = if style & SPACE_AFTER_COMMA != 0 { ", " } else { "," };
    out.push('{');
    let mut first = true;
    for (k, &kind) in keys.iter().zip(kinds) {
        if kind == CLOSE {
            out.push('}');
            first = false;
            continue;
        }
        if !first {
            out.push_str(comma);
        }
        out.push('"');
        out.push_str(k);
        out.push('"');
        out.push_str(colon);
        match kind {
            QUOTED => {
                out.push('"');
                put(out);
                out.push('"');
                first = false;
            }
            OPEN => {
                out.push('{');
                first = true;
            }
            _ => {
                put(out);
                first = false;
            }
        }
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(line: &str) -> bool {
        let mut s = Shredded::default();
        if !shred(line, &mut s) {
            return false;
        }
        let mut out = String::new();
        unshred(s.style, &s.keys, &s.kinds, s.values.iter().copied(), &mut out);
        assert_eq!(out, line);
        true
    }

    #[test]
    fn shreds_flat_objects_losslessly() {
        assert!(rt(r#"{"a":1,"b":"x\"y,}","c":{"d":[1,"}"]},"e":null}"#));
        assert!(rt(r#"{"a": 1, "b": "two"}"#));
        assert!(rt(r#"{"a":"","b\"c":-1.5e3}"#));
        assert!(rt(r#"{"msg":"naïve ünïcode"}"#));
        let mut s = Shredded::default();
        assert!(shred(r#"{"a":1,"b":"x"}"#, &mut s));
        assert_eq!(s.keys, ["a", "b"]);
        assert_eq!(s.values, ["1", "x"]);
        assert_eq!(s.kinds, [RAW, QUOTED]);
        assert!(shred(r#"{"a":{"b":1,"c":{"d":"x"}},"e":2}"#, &mut s));
        assert_eq!(s.kinds, [OPEN, RAW, OPEN, QUOTED, CLOSE, CLOSE, RAW]);
        assert_eq!(s.values, ["1", "x", "2"]);
        assert!(rt(r#"{"a":{"b":1,"c":{"d":"x"}},"e":2}"#));
        assert!(rt(r#"{"a": {"b": 1}, "c": {}}"#));
        assert!(rt(r#"{"a":{"b": 1},"c":2}"#)); // nested style differs: kept verbatim
        assert!(rt(r#"{"a":{"b":[1,{"c":2}]}}"#));
    }

    #[test]
    fn rejects_other_forms() {
        for l in [
            "",
            "{}",
            "plain text",
            r#"{"a":1, "b":2,"c":3}"#,
            r#"{"a": 1,"b":2}"#,
            r#"{"a":1} "#,
            r#" {"a":1}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":}"#,
            r#"{"a" :1}"#,
            r#"{"a":1,}"#,
            r#"{"a":{"b":1}"#,
            r#"{"a":1}}"#,
            r#"{"a":"x\"#,
        ] {
            assert!(!rt(l), "{l:?}");
        }
    }

    #[test]
    fn never_panics_on_prefixes() {
        let l = r#"{"a":{"b":["c\"}",1]},"d": "e\\","f":[{}]}"#;
        for end in 0..=l.len() {
            if l.is_char_boundary(end) {
                let _ = rt(&l[..end]);
            }
        }
    }
}
