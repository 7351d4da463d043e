//! Lossless splitting of flat JSON-object lines into keys and values.
//!
//! A line of the form `{"k1":v1,"k2":v2}` (one consistent separator style
//! for `:` / `: ` and `,` / `, `, no other whitespace between members) is split
//! into its raw key texts, raw value texts (string values without their
//! quotes, escapes untouched; numbers, literals, nested objects and arrays
//! verbatim) and a quoted flag per value. [`unshred`] concatenates the pieces
//! back, so `unshred(shred(line)) == line` byte for byte by construction; any
//! line that does not fit the form is stored raw. The values of one key across
//! many lines become one column, which is what makes the segment compress
//! better than whole-file zstd.

/// Separator style bits.
pub const SPACE_AFTER_COLON: u8 = 1;
pub const SPACE_AFTER_COMMA: u8 = 2;

/// Pieces of one shredded line, borrowing from it.
#[derive(Debug, Default)]
pub struct Shredded<'a> {
    pub style: u8,
    pub keys: Vec<&'a str>,
    pub quoted: Vec<bool>,
    pub values: Vec<&'a str>,
}

impl<'a> Shredded<'a> {
    pub fn clear(&mut self) {
        self.style = 0;
        self.keys.clear();
        self.quoted.clear();
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

/// Splits `line` into `out`; false (and `out` unspecified) when the line is
/// not a non-empty flat-form JSON object.
pub fn shred<'a>(line: &'a str, out: &mut Shredded<'a>) -> bool {
    out.clear();
    let b = line.as_bytes();
    let n = b.len();
    if n < 2 || b[0] != b'{' || b[n - 1] != b'}' {
        return false;
    }
    let mut i = 1;
    let mut style_known = false;
    loop {
        // key
        if i >= n || b[i] != b'"' {
            return false;
        }
        let Some(kend) = skip_string(b, i) else {
            return false;
        };
        let key = &line[i + 1..kend - 1];
        i = kend;
        if i >= n || b[i] != b':' {
            return false;
        }
        i += 1;
        let sp = i < n && b[i] == b' ';
        if !style_known {
            if sp {
                out.style |= SPACE_AFTER_COLON;
            }
        } else if sp != (out.style & SPACE_AFTER_COLON != 0) {
            return false;
        }
        if sp {
            i += 1;
        }
        if i >= n {
            return false;
        }
        // value
        let (val, quoted, vend) = match b[i] {
            b'"' => {
                let Some(e) = skip_string(b, i) else { return false };
                (&line[i + 1..e - 1], true, e)
            }
            b'{' | b'[' => {
                let Some(e) = skip_nested(b, i) else { return false };
                (&line[i..e], false, e)
            }
            b' ' | b'\t' | b'\r' | b'\n' => return false,
            _ => {
                let Some(e) = memchr::memchr2(b',', b'}', &b[i..]).map(|e| e + i) else {
                    return false;
                };
                if e == i {
                    return false;
                }
                (&line[i..e], false, e)
            }
        };
        out.keys.push(key);
        out.values.push(val);
        out.quoted.push(quoted);
        i = vend;
        if i == n - 1 && b[i] == b'}' {
            return true;
        }
        if i >= n || b[i] != b',' {
            return false;
        }
        i += 1;
        let sp = i < n && b[i] == b' ';
        if !style_known {
            if sp {
                out.style |= SPACE_AFTER_COMMA;
            }
            style_known = true;
        } else if sp != (out.style & SPACE_AFTER_COMMA != 0) {
            return false;
        }
        if sp {
            i += 1;
        }
    }
}

/// Rebuilds the line from its pieces (appending to `out`).
pub fn unshred<'v>(
    style: u8,
    keys: &[&str],
    quoted: &[bool],
    values: impl IntoIterator<Item = &'v str>,
    out: &mut String,
) {
    out.push('{');
    let colon = if style & SPACE_AFTER_COLON != 0 { ": " } else { ":" };
    let comma = if style & SPACE_AFTER_COMMA != 0 { ", " } else { "," };
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str(comma);
        }
        out.push('"');
        out.push_str(keys[i]);
        out.push('"');
        out.push_str(colon);
        if quoted[i] {
            out.push('"');
            out.push_str(v);
            out.push('"');
        } else {
            out.push_str(v);
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
        unshred(s.style, &s.keys, &s.quoted, s.values.iter().copied(), &mut out);
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
        assert_eq!(s.quoted, [false, true]);
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
