//! Finds the line and column of a node in a YAML document, for errors found after parsing
//! (duplicate job names, timeout greater than interval, a bad PromQL expression).
//!
//! It re-reads the document with a seed that follows the path and fails on purpose at the
//! target node: the YAML deserializer attaches that node's start mark to the error, which is
//! exactly the location wanted. Only used on error paths, so the extra parse costs nothing in
//! the common case.

use crate::env::Seg;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

const MARKER: &str = "\u{0}sightline-locate\u{0}";

/// 1-based (line, column) of the node at `path` in `src`, or `None` if there is no such node.
pub fn locate(src: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(src);
    match (Finder { path }).deserialize(de) {
        Ok(()) => None,
        Err(e) => {
            if !e.to_string().contains(MARKER) {
                return None;
            }
            e.location().map(|l| (l.line(), l.column()))
        }
    }
}

/// Like [`locate`], but when the exact node is missing (a defaulted field) falls back to the
/// nearest existing ancestor.
pub fn locate_nearest(src: &str, path: &[Seg]) -> Option<(usize, usize)> {
    (0..=path.len()).rev().find_map(|n| locate(src, &path[..n]))
}

struct Finder<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Finder<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Finder<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(MARKER));
        };
        let want = match first {
            Seg::Index(i) => Some(*i),
            Seg::Key(_) => None,
        };
        let mut i = 0;
        loop {
            if Some(i) == want {
                return seq.next_element_seed(Finder { path: rest }).map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(MARKER));
        };
        let Seg::Key(want) = first else {
            return Ok(());
        };
        // The last segment is reported at its key (`scrape_timeout:`), so the probe fails on
        // the matching key itself; otherwise the walk continues into the value.
        let probe = KeyProbe {
            want,
            fail_on_match: rest.is_empty(),
        };
        while let Some(hit) = map.next_key_seed(probe)? {
            if hit {
                return map.next_value_seed(Finder { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Deserializes a map key and says whether it is `want` (failing there when asked to).
#[derive(Clone, Copy)]
struct KeyProbe<'p> {
    want: &'p str,
    fail_on_match: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        if v == self.want {
            if self.fail_on_match {
                return Err(E::custom(MARKER));
            }
            return Ok(true);
        }
        Ok(false)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

impl Finder<'_> {
    fn leaf<E: de::Error>(&self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(MARKER))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn finds_nodes() {
        let src = "a: 1\nlist:\n  - name: x\n    v: [1, 2]\n  - name: y\n    v: {q: 3}\n";
        // Keys are reported at the key, sequence items at the item.
        assert_eq!(locate(src, &[k("a")]), Some((1, 1)));
        assert_eq!(locate(src, &[k("list"), Seg::Index(1), k("name")]), Some((5, 5)));
        assert_eq!(
            locate(src, &[k("list"), Seg::Index(0), k("v"), Seg::Index(1)]),
            Some((4, 12))
        );
        assert_eq!(
            locate(src, &[k("list"), Seg::Index(1), k("v"), k("q")]),
            Some((6, 9))
        );
        assert_eq!(locate(src, &[k("list"), Seg::Index(1)]), Some((5, 5)));
        assert_eq!(locate(src, &[k("missing")]), None);
        assert_eq!(locate(src, &[k("list"), Seg::Index(7)]), None);
        assert_eq!(
            locate_nearest(src, &[k("list"), Seg::Index(1), k("nope")]),
            Some((5, 5))
        );
        assert_eq!(locate("", &[k("a")]), None);
    }
}
