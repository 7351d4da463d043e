//! Tokenization for the full-text index.
//!
//! A token is a maximal run of bytes that are ASCII letters, digits, `_`, or
//! any byte >= 0x80 (so UTF-8 text stays inside tokens). Tokens are indexed
//! case-sensitively, matching LogQL's case-sensitive line filters:
//! - a token of at most [`GRAM`] bytes is indexed whole;
//! - a longer token is indexed as its [`GRAM`]-byte grams at offsets
//!   `0, STRIDE, 2*STRIDE, ...` that fit inside it.
//!
//! [`needle_conditions`] turns a substring (`|= "..."`) into conditions that
//! every block containing the substring satisfies, so a block failing one can
//! be skipped without false negatives:
//! - a token strictly inside the needle (bounded by non-token bytes on both
//!   sides) is a whole token of the line: its entries must all be present;
//! - a token touching only the needle's end is a prefix of a line token:
//!   if it is at least [`GRAM`] long, its grams at offsets `0, STRIDE, ...`
//!   must be present;
//! - a token touching the needle's start is some substring of a line token
//!   at an unknown offset: for each of the [`STRIDE`] alignments the grams
//!   fully inside it must be present (one alternative per alignment), which
//!   constrains every alignment only when it is at least
//!   `GRAM + STRIDE - 1` long (10 bytes: a 14-character user id or a 32-hex
//!   trace id searched as a bare substring still prunes).

/// Gram length for long tokens.
pub const GRAM: usize = 8;
/// Distance between the grams of a long token.
pub const STRIDE: usize = 3;

#[inline]
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[inline]
pub fn hash(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b)
}

/// Calls `f` with the index entry hash of every token occurrence in `text`.
#[inline]
pub fn for_each_entry(text: &[u8], mut f: impl FnMut(u64)) {
    let mut i = 0;
    let n = text.len();
    while i < n {
        if !is_token_byte(text[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && is_token_byte(text[i]) {
            i += 1;
        }
        entries_of_token(&text[start..i], &mut f);
    }
}

#[inline]
fn entries_of_token(t: &[u8], f: &mut impl FnMut(u64)) {
    if t.len() <= GRAM {
        f(hash(t));
    } else {
        let mut p = 0;
        while p + GRAM <= t.len() {
            f(hash(&t[p..p + GRAM]));
            p += STRIDE;
        }
    }
}

/// A block may contain the needle only if, for every condition, at least one
/// alternative has all its hashes present.
pub type Condition = Vec<Vec<u64>>;

/// Index conditions implied by a case-sensitive substring needle (empty when
/// the needle constrains nothing, e.g. short or punctuation-only needles).
pub fn needle_conditions(needle: &[u8]) -> Vec<Condition> {
    let mut out = Vec::new();
    let n = needle.len();
    let mut i = 0;
    while i < n {
        if !is_token_byte(needle[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && is_token_byte(needle[i]) {
            i += 1;
        }
        let t = &needle[start..i];
        let at_start = start == 0;
        let at_end = i == n;
        if !at_start && !at_end {
            let mut all = Vec::new();
            entries_of_token(t, &mut |h| all.push(h));
            out.push(vec![all]);
        } else if !at_start {
            // prefix of a line token
            if t.len() >= GRAM {
                let mut all = Vec::new();
                let mut p = 0;
                while p + GRAM <= t.len() {
                    all.push(hash(&t[p..p + GRAM]));
                    p += STRIDE;
                }
                out.push(vec![all]);
            }
        } else if t.len() > GRAM {
            // Suffix or inner substring of a line token longer than GRAM
            // (or, for a suffix of length exactly <= GRAM, unconstrained).
            let mut alts = Vec::with_capacity(STRIDE);
            let mut complete = true;
            for r in 0..STRIDE {
                let mut all = Vec::new();
                let mut p = r;
                while p + GRAM <= t.len() {
                    all.push(hash(&t[p..p + GRAM]));
                    p += STRIDE;
                }
                if all.is_empty() {
                    complete = false;
                    break;
                }
                alts.push(all);
            }
            if complete {
                out.push(alts);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn entries(s: &str) -> HashSet<u64> {
        let mut h = HashSet::new();
        for_each_entry(s.as_bytes(), |x| {
            h.insert(x);
        });
        h
    }

    fn may_contain(line: &str, needle: &str) -> bool {
        let e = entries(line);
        needle_conditions(needle.as_bytes())
            .iter()
            .all(|c| c.iter().any(|alt| alt.iter().all(|h| e.contains(h))))
    }

    #[test]
    fn no_false_negatives_for_any_substring() {
        let lines = [
            r#"{"level":"info","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","user":"jane.doe4821@example.org","msg":"GET /api/v1/users/123 200"}"#,
            "plain text with ünïcode wörds and snake_case_identifiers_long_enough 1234567890123456789",
        ];
        for line in lines {
            let b = line.as_bytes();
            for s in 0..b.len() {
                for e in s + 1..=b.len().min(s + 48) {
                    if let Ok(needle) = std::str::from_utf8(&b[s..e]) {
                        assert!(may_contain(line, needle), "{needle:?} in {line:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn absent_ids_are_excluded() {
        let line = r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","user":"jane.doe4821@example.org"}"#;
        assert!(!may_contain(line, "4bf92f3577b34da6a3ce929d0e0e4737"));
        assert!(!may_contain(line, "92f3577b34da6a3ce92aaaa"));
        assert!(!may_contain(line, "usr_e0f320134d"));
        assert!(may_contain(line, "4da6a3ce929"));
        assert!(!may_contain(line, "jane.doe4822@"));
        assert!(!may_contain(line, "=nobody="));
        assert!(may_contain(line, "user=jane"));
        // too little information: cannot exclude
        assert!(may_contain(line, "zz"));
        assert!(needle_conditions(b"abc").is_empty());
    }
}
