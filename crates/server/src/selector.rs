//! `match[]` series selectors (`up{job="x"}`) parsed with `promql-parser` and
//! turned into model matchers.

use crate::error::ApiError;
use crate::params::Params;
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self, Expr};
use sightline_model::{MatchOp, Matcher, METRIC_NAME};

/// One selector's alternatives: `{a="1" or b="2"}` gives two matcher sets.
pub type MatcherSets = Vec<Vec<Matcher>>;

/// Parses one series selector. Like Prometheus, it must be a plain vector
/// selector with at least one matcher that does not match the empty string.
pub fn parse_selector(s: &str) -> Result<MatcherSets, ApiError> {
    let expr = parser::parse(s).map_err(|e| ApiError::bad_data(format!("invalid selector {s:?}: {e}")))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(ApiError::bad_data(format!(
            "invalid selector {s:?}: not a series selector"
        )));
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(ApiError::bad_data(format!(
            "invalid selector {s:?}: offset and @ are not allowed"
        )));
    }
    let convert = |ms: &[promql_parser::label::Matcher]| -> Result<Vec<Matcher>, ApiError> {
        let mut out = Vec::with_capacity(ms.len() + 1);
        if let Some(name) = &vs.name {
            out.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        for m in ms {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::Regex,
                PMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            out.push(
                Matcher::new(op, m.name.clone(), m.value.clone())
                    .map_err(|e| ApiError::bad_data(e.to_string()))?,
            );
        }
        if out.iter().all(|m| m.matches_empty()) {
            return Err(ApiError::bad_data(format!(
                "invalid selector {s:?}: vector selector must contain at least one non-empty matcher"
            )));
        }
        Ok(out)
    };
    let mut sets = vec![convert(&vs.matchers.matchers)?];
    for alt in &vs.matchers.or_matchers {
        sets.push(convert(alt)?);
    }
    if !vs.matchers.or_matchers.is_empty() && vs.matchers.matchers.is_empty() {
        sets.remove(0);
    }
    Ok(sets)
}

/// All `match[]` parameters, flattened into matcher sets (union semantics).
pub fn match_params(params: &Params, required: bool) -> Result<MatcherSets, ApiError> {
    let mut sets = Vec::new();
    for s in params.get_all("match[]") {
        sets.extend(parse_selector(s)?);
    }
    if required && sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_becomes_a_matcher() {
        let sets = parse_selector(r#"up{job=~"a|b", x!="y"}"#).unwrap();
        assert_eq!(sets.len(), 1);
        let s: Vec<String> = sets[0].iter().map(|m| m.to_string()).collect();
        assert_eq!(s, [r#"__name__="up""#, r#"job=~"a|b""#, r#"x!="y""#]);
    }

    #[test]
    fn rejects_empty_matching_and_non_selectors() {
        assert!(parse_selector(r#"{job=~".*"}"#)
            .unwrap_err()
            .message
            .contains("non-empty matcher"));
        assert!(parse_selector("rate(up[5m])")
            .unwrap_err()
            .message
            .contains("not a series selector"));
        assert!(parse_selector("up{").is_err());
    }
}
