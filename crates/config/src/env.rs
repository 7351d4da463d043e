//! `${VAR}` environment expansion in config string values.
//!
//! Expansion runs while deserializing (a wrapper around the YAML deserializer), on scalar
//! string values only, so YAML locations stay exact. Rules:
//! - `${NAME}` with `NAME` matching `[A-Za-z_][A-Za-z0-9_]*` is replaced by the variable's value;
//!   an unset variable expands to the empty string and produces a warning;
//! - `$$` is a literal `$`;
//! - anything else (`$NAME` without braces, `${1}`, a lone `$`) is left as written;
//! - map keys are never expanded, nor anything under a `regex` or `replacement` key (relabel
//!   rules use `${1}` / `${name}` for capture groups there).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;

/// A variable lookup (the process environment in production, a map in tests).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands `${VAR}` and `$$` in `s`. Calls `unset(name)` for each variable that is not set.
pub fn expand_env(s: &str, lookup: Lookup<'_>, mut unset: impl FnMut(&str)) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if let Some(r) = rest.strip_prefix("$$") {
            out.push('$');
            rest = r;
            continue;
        }
        if let Some(body) = rest.strip_prefix("${") {
            if let Some(end) = body.find('}') {
                let name = &body[..end];
                if is_env_name(name) {
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => unset(name),
                    }
                    rest = &body[end + 1..];
                    continue;
                }
            }
        }
        out.push('$');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

fn is_env_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// A segment of a path into the YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Formats a path like serde_yaml does: `scrape_configs[2].relabel_configs[0].regex`.
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Shared state of one expanding deserialization.
pub struct Ctx<'a> {
    pub lookup: Lookup<'a>,
    /// (path, variable) for every unset variable met.
    pub unset: RefCell<Vec<(Vec<Seg>, String)>>,
}

impl<'a> Ctx<'a> {
    pub fn new(lookup: Lookup<'a>) -> Self {
        Self {
            lookup,
            unset: RefCell::new(Vec::new()),
        }
    }

    fn expand(&self, s: &str, path: &[Seg]) -> Option<String> {
        if !s.contains('$') {
            return None;
        }
        Some(expand_env(s, self.lookup, |name| {
            self.unset.borrow_mut().push((path.to_vec(), name.to_string()))
        }))
    }
}

/// What a wrapper level does with strings.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Expand,
    Verbatim,
}

/// Wraps a deserializer so every string value below it is expanded.
pub struct Wrap<'c, 'a, D> {
    inner: D,
    ctx: &'c Ctx<'a>,
    path: Vec<Seg>,
    mode: Mode,
    /// Set when this deserializes a map key: receives the key text.
    key_out: Option<&'c RefCell<Option<String>>>,
}

impl<'c, 'a, D> Wrap<'c, 'a, D> {
    pub fn new(inner: D, ctx: &'c Ctx<'a>) -> Self {
        Self {
            inner,
            ctx,
            path: Vec::new(),
            mode: Mode::Expand,
            key_out: None,
        }
    }

    fn visitor<V>(&self, v: V) -> WrapVisitor<'c, 'a, V> {
        WrapVisitor {
            inner: v,
            ctx: self.ctx,
            path: self.path.clone(),
            mode: self.mode,
            key_out: self.key_out,
        }
    }
}

macro_rules! forward {
    ($($m:ident),*) => {
        $(fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
            let w = self.visitor(v);
            self.inner.$m(w)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Wrap<'_, '_, D> {
    type Error = D::Error;

    forward!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        let w = self.visitor(v);
        self.inner.deserialize_unit_struct(name, w)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        let w = self.visitor(v);
        self.inner.deserialize_newtype_struct(name, w)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, D::Error> {
        let w = self.visitor(v);
        self.inner.deserialize_tuple(len, w)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, D::Error> {
        let w = self.visitor(v);
        self.inner.deserialize_tuple_struct(name, len, w)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        let w = self.visitor(v);
        self.inner.deserialize_struct(name, fields, w)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        // Enum payloads are not expanded (the config uses none with strings inside).
        self.inner.deserialize_enum(name, variants, v)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

struct WrapVisitor<'c, 'a, V> {
    inner: V,
    ctx: &'c Ctx<'a>,
    path: Vec<Seg>,
    mode: Mode,
    key_out: Option<&'c RefCell<Option<String>>>,
}

impl<'c, 'a, V> WrapVisitor<'c, 'a, V> {
    fn str_value(&self, s: &str) -> Option<String> {
        if let Some(k) = self.key_out {
            *k.borrow_mut() = Some(s.to_string());
            return None;
        }
        match self.mode {
            Mode::Expand => self.ctx.expand(s, &self.path),
            Mode::Verbatim => None,
        }
    }
}

macro_rules! pass {
    ($($m:ident: $t:ty),*) => {
        $(fn $m<E: de::Error>(self, v: $t) -> Result<V::Value, E> {
            self.inner.$m(v)
        })*
    };
}

impl<'de, 'c, 'a, V: Visitor<'de>> Visitor<'de> for WrapVisitor<'c, 'a, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    pass!(visit_bool: bool, visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64, visit_i128: i128,
          visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64, visit_u128: u128, visit_f32: f32,
          visit_f64: f64, visit_char: char, visit_bytes: &[u8], visit_byte_buf: Vec<u8>);

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        self.inner.visit_borrowed_bytes(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        match self.str_value(v) {
            Some(s) => self.inner.visit_string(s),
            None => self.inner.visit_str(v),
        }
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        match self.str_value(v) {
            Some(s) => self.inner.visit_string(s),
            None => self.inner.visit_borrowed_str(v),
        }
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        match self.str_value(&v) {
            Some(s) => self.inner.visit_string(s),
            None => self.inner.visit_string(v),
        }
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }
    fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        let w = Wrap {
            inner: d,
            ctx: self.ctx,
            path: self.path,
            mode: self.mode,
            key_out: self.key_out,
        };
        self.inner.visit_some(w)
    }
    fn visit_newtype_struct<D2: Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        let w = Wrap {
            inner: d,
            ctx: self.ctx,
            path: self.path,
            mode: self.mode,
            key_out: self.key_out,
        };
        self.inner.visit_newtype_struct(w)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(WrapSeq {
            inner: seq,
            ctx: self.ctx,
            path: self.path,
            mode: self.mode,
            index: 0,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let key = RefCell::new(None);
        self.inner.visit_map(WrapMap {
            inner: map,
            ctx: self.ctx,
            path: self.path,
            mode: self.mode,
            key: &key,
        })
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

struct WrapSeq<'c, 'a, A> {
    inner: A,
    ctx: &'c Ctx<'a>,
    path: Vec<Seg>,
    mode: Mode,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for WrapSeq<'_, '_, A> {
    type Error = A::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let mut path = self.path.clone();
        path.push(Seg::Index(self.index));
        self.index += 1;
        self.inner.next_element_seed(WrapSeed {
            seed,
            ctx: self.ctx,
            path,
            mode: self.mode,
            key_out: None,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct WrapMap<'c, 'a, 'k, A> {
    inner: A,
    ctx: &'c Ctx<'a>,
    path: Vec<Seg>,
    mode: Mode,
    key: &'k RefCell<Option<String>>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WrapMap<'_, '_, '_, A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        *self.key.borrow_mut() = None;
        // Keys are never expanded; the wrapper records the key text for the value's path.
        let key_cell: &RefCell<Option<String>> = self.key;
        self.inner.next_key_seed(KeySeed {
            seed,
            ctx: self.ctx,
            key_out: key_cell,
        })
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let key = self.key.borrow_mut().take().unwrap_or_default();
        let mode = if key == "regex" || key == "replacement" {
            Mode::Verbatim
        } else {
            self.mode
        };
        let mut path = self.path.clone();
        path.push(Seg::Key(key));
        self.inner.next_value_seed(WrapSeed {
            seed,
            ctx: self.ctx,
            path,
            mode,
            key_out: None,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct KeySeed<'c, 'a, 'k, K> {
    seed: K,
    ctx: &'c Ctx<'a>,
    key_out: &'k RefCell<Option<String>>,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, '_, '_, K> {
    type Value = K::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        self.seed.deserialize(KeyDe {
            inner: d,
            key_out: self.key_out,
            _ctx: self.ctx,
        })
    }
}

/// Deserializer for a map key: records the key text, never expands.
struct KeyDe<'c, 'a, 'k, D> {
    inner: D,
    key_out: &'k RefCell<Option<String>>,
    _ctx: &'c Ctx<'a>,
}

macro_rules! forward_key {
    ($($m:ident),*) => {
        $(fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
            self.inner.$m(KeyVisitor { inner: v, key_out: self.key_out })
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDe<'_, '_, '_, D> {
    type Error = D::Error;
    forward_key!(
        deserialize_any,
        deserialize_str,
        deserialize_string,
        deserialize_identifier,
        deserialize_ignored_any
    );
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum
    }
}

struct KeyVisitor<'k, V> {
    inner: V,
    key_out: &'k RefCell<Option<String>>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        *self.key_out.borrow_mut() = Some(v.to_string());
        self.inner.visit_str(v)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        *self.key_out.borrow_mut() = Some(v.to_string());
        self.inner.visit_borrowed_str(v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        *self.key_out.borrow_mut() = Some(v.clone());
        self.inner.visit_string(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        *self.key_out.borrow_mut() = Some(v.to_string());
        self.inner.visit_bool(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        *self.key_out.borrow_mut() = Some(v.to_string());
        self.inner.visit_i64(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        *self.key_out.borrow_mut() = Some(v.to_string());
        self.inner.visit_u64(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        *self.key_out.borrow_mut() = Some(v.to_string());
        self.inner.visit_f64(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }
}

struct WrapSeed<'c, 'a, T> {
    seed: T,
    ctx: &'c Ctx<'a>,
    path: Vec<Seg>,
    mode: Mode,
    key_out: Option<&'c RefCell<Option<String>>>,
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for WrapSeed<'_, '_, T> {
    type Value = T::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.seed.deserialize(Wrap {
            inner: d,
            ctx: self.ctx,
            path: self.path,
            mode: self.mode,
            key_out: self.key_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.local".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_rules() {
        let cases = [
            ("plain", "plain", vec![]),
            ("${HOST}:5432", "db.local:5432", vec![]),
            ("a${EMPTY}b", "ab", vec![]),
            ("x${MISSING}y", "xy", vec!["MISSING"]),
            ("$$HOST", "$HOST", vec![]),
            ("$${HOST}", "${HOST}", vec![]),
            ("$HOST", "$HOST", vec![]),
            ("${1}", "${1}", vec![]),
            ("${A-B}", "${A-B}", vec![]),
            ("${unclosed", "${unclosed", vec![]),
            ("cost $", "cost $", vec![]),
            ("${HOST}${HOST}", "db.localdb.local", vec![]),
        ];
        for (input, want, want_unset) in cases {
            let mut unset = Vec::new();
            let got = expand_env(input, &env, |n| unset.push(n.to_string()));
            assert_eq!(got, want, "{input:?}");
            assert_eq!(unset, want_unset, "{input:?}");
        }
    }

    #[test]
    fn path_format() {
        let p = [
            Seg::Key("scrape_configs".into()),
            Seg::Index(2),
            Seg::Key("regex".into()),
        ];
        assert_eq!(path_string(&p), "scrape_configs[2].regex");
    }
}
