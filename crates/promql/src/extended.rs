//! Extended range selectors (experimental in Prometheus 3): `x[5m] anchored`
//! and `x[5m] smoothed`.
//!
//! promql-parser 0.11 cannot read the modifiers, so [`preprocess`] removes
//! them from the query text (outside string literals and comments) and
//! records which `]` they followed; after parsing, [`attach`] replaces the
//! matching range selectors with an [`ExtRange`] extension node.
//!
//! Semantics (per window `(t - range, t]`):
//! - `anchored`: the window also starts with the latest sample at or before
//!   `t - range` (within the lookback delta), placed at `t - range`;
//!   `rate`/`increase`/`delta` then use the samples as they are, without
//!   extrapolation.
//! - `smoothed`: the window's ends are the values linearly interpolated at
//!   `t - range` and `t` between the samples around them (the nearest sample
//!   when there is none on one side); no extrapolation either.

use promql_parser::parser::ast::ExtensionExpr;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Expr, Extension, MatrixSelector};
use std::sync::Arc;

/// Which extended-range modifier a selector carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Anchored,
    Smoothed,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Anchored => "anchored",
            Kind::Smoothed => "smoothed",
        }
    }

    /// Functions that accept the modifier, as Prometheus lists them.
    pub fn allowed(self) -> &'static [&'static str] {
        match self {
            Kind::Anchored => &["changes", "delta", "increase", "rate", "resets"],
            Kind::Smoothed => &["delta", "increase", "rate"],
        }
    }
}

/// A range selector with an extended-range modifier.
#[derive(Debug, Clone)]
pub(crate) struct ExtRange {
    pub ms: MatrixSelector,
    pub kind: Kind,
    /// Interpolate across counter resets as counters do (set for `rate` and
    /// `increase` arguments, see [`mark_counters`]).
    pub counter: bool,
}

impl ExtensionExpr for ExtRange {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        self.kind.name()
    }

    fn value_type(&self) -> ValueType {
        ValueType::Matrix
    }

    fn children(&self) -> &[Expr] {
        &[]
    }

    fn with_new_children(&self, _children: Vec<Expr>) -> Arc<dyn ExtensionExpr> {
        Arc::new(self.clone())
    }
}

/// The extended range of an argument, if it is one.
pub(crate) fn ext_range(e: &Expr) -> Option<&ExtRange> {
    match e {
        Expr::Extension(x) => x.expr.as_any().downcast_ref::<ExtRange>(),
        Expr::Paren(p) => ext_range(&p.expr),
        _ => None,
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Removes `anchored`/`smoothed` after a closing `]`. Returns the rewritten
/// query and, per `]` outside strings (in order), the modifier it carried.
pub(crate) fn preprocess(query: &str) -> (String, Vec<Option<Kind>>) {
    let b = query.as_bytes();
    let mut out = b.to_vec();
    let mut kinds = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b']' => {
                i += 1;
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let mut kind = None;
                for k in [Kind::Anchored, Kind::Smoothed] {
                    let w = k.name().as_bytes();
                    if b.len() >= j + w.len()
                        && b[j..j + w.len()].eq_ignore_ascii_case(w)
                        && b.get(j + w.len()).is_none_or(|c| !is_ident(*c))
                    {
                        kind = Some(k);
                        for x in out.iter_mut().skip(j).take(w.len()) {
                            *x = b' ';
                        }
                        i = j + w.len();
                    }
                }
                kinds.push(kind);
            }
            _ => i += 1,
        }
    }
    (
        String::from_utf8(out).unwrap_or_else(|_| query.to_string()),
        kinds,
    )
}

/// Wraps the range selectors that carried a modifier. `ord` counts the `]`
/// seen so far in source order.
pub(crate) fn attach(e: &mut Expr, kinds: &[Option<Kind>], ord: &mut usize) -> Result<(), String> {
    match e {
        Expr::MatrixSelector(ms) => {
            let k = kinds.get(*ord).copied().flatten();
            *ord += 1;
            if let Some(kind) = k {
                let ext = ExtRange {
                    ms: ms.clone(),
                    kind,
                    counter: false,
                };
                *e = Expr::Extension(Extension { expr: Arc::new(ext) });
            }
        }
        Expr::Subquery(sq) => {
            attach(&mut sq.expr, kinds, ord)?;
            if kinds.get(*ord).copied().flatten().is_some() {
                return Err("anchored and smoothed modifiers are only allowed on range selectors".into());
            }
            *ord += 1;
        }
        Expr::Paren(p) => attach(&mut p.expr, kinds, ord)?,
        Expr::Unary(u) => attach(&mut u.expr, kinds, ord)?,
        Expr::Binary(bx) => {
            attach(&mut bx.lhs, kinds, ord)?;
            attach(&mut bx.rhs, kinds, ord)?;
        }
        Expr::Aggregate(a) => {
            if let Some(p) = a.param.as_mut() {
                attach(p, kinds, ord)?;
            }
            attach(&mut a.expr, kinds, ord)?;
        }
        Expr::Call(c) => {
            for a in c.args.args.iter_mut() {
                attach(a, kinds, ord)?;
                if matches!(c.func.name, "rate" | "increase") {
                    mark_counters(a);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Marks an extended range used by `rate`/`increase` as a counter.
fn mark_counters(e: &mut Expr) {
    match e {
        Expr::Paren(p) => mark_counters(&mut p.expr),
        Expr::Extension(x) => {
            if let Some(r) = x.expr.as_any().downcast_ref::<ExtRange>() {
                let mut r = r.clone();
                r.counter = true;
                x.expr = Arc::new(r);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_are_stripped_outside_strings_only() {
        let (q, k) = preprocess(r#"rate(x{a="] anchored"}[5m] anchored) + y[1m:10s] + z[1m]  SMOOTHED"#);
        assert_eq!(k, vec![Some(Kind::Anchored), None, Some(Kind::Smoothed)]);
        assert!(q.contains(r#"a="] anchored""#));
        assert!(!q.contains("[5m] anchored") && !q.contains("SMOOTHED"));
        // A metric merely named like the modifier is left alone.
        let (q, k) = preprocess("x[5m] anchoredness");
        assert_eq!((q.as_str(), k), ("x[5m] anchoredness", vec![None]));
    }

    #[test]
    fn modifier_on_a_subquery_is_rejected() {
        let (q, k) = preprocess("rate(x[5m:1m] anchored)");
        let mut e = promql_parser::parser::parse(&q).unwrap();
        assert!(attach(&mut e, &k, &mut 0).is_err());
    }
}
