//! Label sets.

use std::fmt;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A borrowed label pair, as decoders hand them out without copying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl<'a> LabelRef<'a> {
    pub const fn new(name: &'a str, value: &'a str) -> Self {
        Self { name, value }
    }
}

/// An owned label set. Invariant: sorted by name, names unique, values
/// non-empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Builds a label set from pairs in any order. Empty values are dropped;
    /// for a repeated name the last pair wins.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut b = LabelsBuilder::default();
        for (n, v) in pairs {
            b.set(n.into(), v.into());
        }
        b.build()
    }

    /// Builds from borrowed pairs (any order; same rules as [`Self::from_pairs`]).
    pub fn from_refs(refs: &[LabelRef<'_>]) -> Self {
        Self::from_pairs(refs.iter().map(|l| (l.name, l.value)))
    }

    /// Wraps pairs that the caller guarantees are sorted, unique and non-empty.
    pub fn from_sorted_unchecked(pairs: Vec<(String, String)>) -> Self {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        Self(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The value of `__name__`, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = LabelRef<'_>> + '_ {
        self.0.iter().map(|(n, v)| LabelRef::new(n, v))
    }

    pub fn as_refs(&self) -> Vec<LabelRef<'_>> {
        self.iter().collect()
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }

    /// A builder starting from this set, for relabeling-style edits.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            pairs: self.0.clone(),
        }
    }

    /// A 64-bit hash of the set (stable within a process run only).
    pub fn hash64(&self) -> u64 {
        hash_sorted_refs(self.iter())
    }
}

/// Hashes sorted label pairs; equal sets hash equal whether owned or borrowed.
pub fn hash_sorted_refs<'a>(labels: impl IntoIterator<Item = LabelRef<'a>>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for l in labels {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// Prometheus text form: `name{a="b", c="d"}`, or `{a="b"}` without a name.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (n, v) in &self.0 {
            if n == METRIC_NAME {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n}=\"")?;
            for c in v.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// Edits a label set; [`LabelsBuilder::build`] restores the invariants.
#[derive(Clone, Debug, Default)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            pairs: Vec::with_capacity(n),
        }
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        if let Some(p) = self.pairs.iter_mut().find(|(n, _)| *n == name) {
            p.1 = value;
        } else {
            self.pairs.push((name, value));
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.pairs.retain(|(n, _)| n != name);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Keeps only labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) -> &mut Self {
        self.pairs.retain(|(n, v)| keep(n, v));
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = LabelRef<'_>> + '_ {
        self.pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| LabelRef::new(n, v))
    }

    pub fn build(mut self) -> Labels {
        self.pairs.retain(|(_, v)| !v.is_empty());
        self.pairs.sort_by(|a, b| a.0.cmp(&b.0));
        self.pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        Labels(self.pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_drops_empty_and_keeps_last() {
        let l = Labels::from_pairs([("b", "1"), ("a", "2"), ("c", ""), ("b", "3")]);
        assert_eq!(l.pairs(), &[("a".into(), "2".into()), ("b".into(), "3".into())]);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn display_matches_prometheus() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b"), ("instance", "x")]);
        assert_eq!(l.to_string(), r#"up{instance="x", job="a\"b"}"#);
    }

    #[test]
    fn owned_and_borrowed_hash_equal() {
        let l = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let refs = [LabelRef::new("a", "1"), LabelRef::new("b", "2")];
        assert_eq!(l.hash64(), hash_sorted_refs(refs));
        let other = [LabelRef::new("a", "1b"), LabelRef::new("", "2")];
        assert_ne!(l.hash64(), hash_sorted_refs(other));
    }
}
