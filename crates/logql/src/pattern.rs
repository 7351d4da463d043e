//! Loki's `pattern` expressions: literals and `<name>` captures (`<_>` is an
//! unnamed capture). Two captures must be separated by a literal.
//!
//! Matching walks left to right: a leading literal must be a prefix of the
//! line, each capture extends to the next occurrence of the literal that
//! follows it, and a trailing capture takes the rest of the line.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Lit(String),
    Cap(String),
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    nodes: Vec<Node>,
}

fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Pattern {
    /// Compiles `src`; errors name the problem as Loki does.
    pub fn parse(src: &str) -> Result<Pattern, String> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while !rest.is_empty() {
            if rest.starts_with('<') {
                if let Some(end) = rest.find('>') {
                    let name = &rest[1..end];
                    if is_name(name) {
                        if !lit.is_empty() {
                            nodes.push(Node::Lit(std::mem::take(&mut lit)));
                        }
                        if matches!(nodes.last(), Some(Node::Cap(_))) {
                            return Err(
                                "found consecutive capture: pattern captures must be separated by a literal"
                                    .into(),
                            );
                        }
                        nodes.push(Node::Cap(name.to_string()));
                        rest = &rest[end + 1..];
                        continue;
                    }
                }
            }
            let c = rest.chars().next().expect("non-empty");
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !lit.is_empty() {
            nodes.push(Node::Lit(lit));
        }
        if !nodes.iter().any(|n| matches!(n, Node::Cap(_))) {
            return Err("at least one capture is required".into());
        }
        let mut seen = std::collections::HashSet::new();
        for n in &nodes {
            if let Node::Cap(c) = n {
                if c != "_" && !seen.insert(c.clone()) {
                    return Err(format!("duplicate capture name ({c})"));
                }
            }
        }
        Ok(Pattern { nodes })
    }

    /// Names of the named captures, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Cap(c) if c != "_" => Some(c.as_str()),
            _ => None,
        })
    }

    /// Captures of `line` as (name, value) pairs. Returns `None` when the
    /// leading literal does not match; stops at the first literal that is
    /// not found (captures so far are returned, as Loki does). The flag says
    /// whether the whole pattern matched to the end of the line.
    pub fn captures<'a>(&'a self, line: &'a str) -> Option<(Vec<(&'a str, &'a str)>, bool)> {
        let mut out = Vec::new();
        let mut rest = line;
        let mut i = 0;
        if let Some(Node::Lit(l)) = self.nodes.first() {
            rest = rest.strip_prefix(l.as_str())?;
            i = 1;
        }
        while i < self.nodes.len() {
            let Node::Cap(name) = &self.nodes[i] else {
                i += 1;
                continue;
            };
            match self.nodes.get(i + 1) {
                Some(Node::Lit(l)) => {
                    let Some(pos) = rest.find(l.as_str()) else {
                        return Some((out, false));
                    };
                    if name != "_" {
                        out.push((name.as_str(), &rest[..pos]));
                    }
                    rest = &rest[pos + l.len()..];
                    i += 2;
                }
                _ => {
                    if name != "_" {
                        out.push((name.as_str(), rest));
                    }
                    rest = "";
                    i += 1;
                }
            }
        }
        Some((out, rest.is_empty()))
    }

    /// Whether the whole line matches the pattern (`|>` line filter).
    pub fn matches(&self, line: &str) -> bool {
        matches!(self.captures(line), Some((_, true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_like_loki() {
        let p = Pattern::parse(r#"<ip> - - [<_>] "<method> <uri> <_>" <status> <size>"#).unwrap();
        let (caps, full) = p
            .captures(r#"1.2.3.4 - - [10/Oct/2000:13:55:36] "GET /a.gif HTTP/1.0" 200 2326"#)
            .unwrap();
        assert!(full);
        assert_eq!(
            caps,
            vec![
                ("ip", "1.2.3.4"),
                ("method", "GET"),
                ("uri", "/a.gif"),
                ("status", "200"),
                ("size", "2326")
            ]
        );
        assert_eq!(p.names().count(), 5);
        assert!(Pattern::parse("<a><b>").is_err());
        assert!(Pattern::parse("abc").is_err());
        assert!(Pattern::parse("<a> <a>").is_err());
        let p = Pattern::parse("<_> foo <_>").unwrap();
        assert!(p.matches("x foo y") && !p.matches("x bar y"));
        let p = Pattern::parse("GET <path> end").unwrap();
        assert!(p.captures("POST /").is_none());
        assert!(!p.matches("GET /x"));
        assert!(p.matches("GET /x end"));
    }
}
