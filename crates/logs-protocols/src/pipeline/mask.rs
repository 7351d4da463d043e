//! Sensitive-data masking, on by default.
//!
//! - A field whose name contains a sensitive word (`password`, `passwd`,
//!   `secret`, `token`, `api_key`, `apikey`, `credit_card`, `card_number`,
//!   `ssn`, `authorization`, `auth`, ...) gets the replacement value. Names
//!   are compared by words: lower-cased, camelCase split, every non
//!   alphanumeric a separator, so `db_password`, `X-Auth-Token` and
//!   `accessToken` match while `author` and `tokenizer` do not.
//! - In the message and every field value: `key=value` / `"key": "value"`
//!   pairs with a sensitive key, `Bearer <token>` (also `Basic`), card
//!   numbers (13-19 digits, optional spaces/dashes, first digit 2-6, valid
//!   Luhn check digit, so epoch-millisecond timestamps survive), optionally
//!   e-mail addresses, and any extra regexes configured.
//! - Empty values and `-` are left alone.

use regex::{Captures, Regex};
use serde::Deserialize;

/// Masking rules (part of the pipeline configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskingConfig {
    pub enabled: bool,
    /// Sensitive words for field names and `key=value` keys (matched as words).
    pub field_names: Vec<String>,
    pub card_numbers: bool,
    pub bearer_tokens: bool,
    pub key_values_in_text: bool,
    pub emails: bool,
    /// Extra regexes: every match is replaced.
    pub patterns: Vec<String>,
    pub replacement: String,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            field_names: [
                "password",
                "passwd",
                "pwd",
                "secret",
                "token",
                "api_key",
                "apikey",
                "access_key",
                "private_key",
                "credit_card",
                "creditcard",
                "card_number",
                "cardnumber",
                "cvv",
                "ssn",
                "authorization",
                "auth",
                "cookie",
                "session_id",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            card_numbers: true,
            bearer_tokens: true,
            key_values_in_text: true,
            emails: false,
            patterns: Vec::new(),
            replacement: "[REDACTED]".into(),
        }
    }
}

/// Compiled masking rules.
#[derive(Debug, Clone)]
pub struct Masker {
    cfg: MaskingConfig,
    /// Sensitive words, normalized and padded: `_api_key_`.
    words: Vec<String>,
    kv: Regex,
    /// Any sensitive word anywhere (case-insensitive): a cheap gate for `kv`.
    kv_gate: Regex,
    bearer: Regex,
    card: Regex,
    email: Regex,
    extra: Vec<Regex>,
}

/// Lower-cases, splits camelCase and turns separators into `_`, padded with
/// `_` on both sides: `X-Auth-Token` -> `_x_auth_token_`.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    out.push('_');
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower {
                out.push('_');
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            out.extend(c.to_lowercase());
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    if !out.ends_with('_') {
        out.push('_');
    }
    out
}

fn luhn_ok(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    matches!(sum % 10, 0)
}

impl Masker {
    pub fn new(cfg: &MaskingConfig) -> Result<Masker, String> {
        let build = |p: &str| Regex::new(p).map_err(|e| format!("masking pattern {p:?}: {e}"));
        Ok(Masker {
            words: cfg.field_names.iter().map(|w| normalize(w)).collect(),
            kv: build(
                r#"("?)([A-Za-z_][\w.-]*)("?\s*[:=]\s*)((?i:bearer|basic|token)\s+)?("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]]+)"#,
            )?,
            kv_gate: build(&format!(
                "(?i){}",
                if cfg.field_names.is_empty() {
                    "[^\\s\\S]".to_string()
                } else {
                    cfg.field_names
                        .iter()
                        .map(|w| {
                            normalize(w)
                                .trim_matches('_')
                                .split('_')
                                .map(regex::escape)
                                .collect::<Vec<_>>()
                                .join(".?")
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                }
            ))?,
            bearer: build(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*")?,
            card: build(r"\b\d(?:[ -]?\d){12,18}\b")?,
            email: build(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")?,
            extra: cfg.patterns.iter().map(|p| build(p)).collect::<Result<_, _>>()?,
            cfg: cfg.clone(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    /// True when a field of this name must be masked entirely.
    pub fn sensitive_name(&self, name: &str) -> bool {
        let n = normalize(name);
        self.words.iter().any(|w| n.contains(w.as_str()))
    }

    /// Masks sensitive content inside free text. Returns `None` when
    /// nothing changed (no allocation on the common path).
    pub fn mask_text(&self, text: &str) -> Option<String> {
        let r = &self.cfg.replacement;
        let mut cur: Option<String> = None;
        let mut apply = |f: &dyn Fn(&str) -> Option<String>| {
            let src = cur.as_deref().unwrap_or(text);
            if let Some(s) = f(src) {
                cur = Some(s);
            }
        };
        if self.cfg.bearer_tokens {
            apply(&|s: &str| {
                if !self.bearer.is_match(s) {
                    return None;
                }
                Some(
                    self.bearer
                        .replace_all(s, |c: &Captures| format!("{} {r}", &c[1]))
                        .into_owned(),
                )
            });
        }
        if self.cfg.key_values_in_text && self.kv_gate.is_match(text) {
            apply(&|s: &str| {
                let mut changed = false;
                let out = self.kv.replace_all(s, |c: &Captures| {
                    let val = &c[5];
                    let already = c.get(5).is_some_and(|m| s[m.start()..].starts_with(r.as_str()));
                    if !self.sensitive_name(&c[2]) || val == "-" || already || val.contains(r.as_str()) {
                        return c[0].to_string();
                    }
                    changed = true;
                    let quoted = if val.starts_with('"') {
                        format!("\"{r}\"")
                    } else {
                        r.clone()
                    };
                    format!(
                        "{}{}{}{}{quoted}",
                        &c[1],
                        &c[2],
                        &c[3],
                        c.get(4).map_or("", |m| m.as_str())
                    )
                });
                changed.then(|| out.into_owned())
            });
        }
        if self.cfg.card_numbers && text.bytes().filter(u8::is_ascii_digit).count() >= 13 {
            apply(&|s: &str| {
                let mut changed = false;
                let out = self.card.replace_all(s, |c: &Captures| {
                    let digits: Vec<u8> = c[0].bytes().filter(u8::is_ascii_digit).collect();
                    if (13..=19).contains(&digits.len())
                        && (b'2'..=b'6').contains(&digits[0])
                        && luhn_ok(&digits)
                    {
                        changed = true;
                        r.clone()
                    } else {
                        c[0].to_string()
                    }
                });
                changed.then(|| out.into_owned())
            });
        }
        if self.cfg.emails {
            apply(&|s: &str| {
                self.email
                    .is_match(s)
                    .then(|| self.email.replace_all(s, r.as_str()).into_owned())
            });
        }
        for re in &self.extra {
            apply(&|s: &str| re.is_match(s).then(|| re.replace_all(s, r.as_str()).into_owned()));
        }
        cur
    }

    /// Masks a record's message and fields in place.
    pub fn apply(&self, rec: &mut crate::LogRecord) {
        if !self.cfg.enabled {
            return;
        }
        if let Some(m) = self.mask_text(&rec.message) {
            rec.message = m;
        }
        for (k, v) in rec.fields.iter_mut() {
            if v.is_empty() || v == "-" {
                continue;
            }
            if self.sensitive_name(k) {
                *v = self.cfg.replacement.clone();
            } else if let Some(m) = self.mask_text(v) {
                *v = m;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker() -> Masker {
        Masker::new(&MaskingConfig::default()).unwrap()
    }

    #[test]
    fn field_names_by_words() {
        let m = masker();
        for yes in [
            "password",
            "db_password",
            "X-Auth-Token",
            "accessToken",
            "api_key",
            "apiKey",
            "credit_card",
            "ssn",
            "Authorization",
            "user.auth",
            "client_secret",
        ] {
            assert!(m.sensitive_name(yes), "{yes}");
        }
        for no in ["author", "tokenizer", "message", "passage", "lesson", "card"] {
            assert!(!m.sensitive_name(no), "{no}");
        }
    }

    #[test]
    fn text_rules() {
        let m = masker();
        assert_eq!(
            m.mask_text("login user=bob password=hunter2 ok").as_deref(),
            Some("login user=bob password=[REDACTED] ok")
        );
        assert_eq!(
            m.mask_text(r#"{"user":"bob","password":"hunter2","n":1}"#)
                .as_deref(),
            Some(r#"{"user":"bob","password":"[REDACTED]","n":1}"#)
        );
        assert_eq!(
            m.mask_text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc")
                .as_deref(),
            Some("Authorization: Bearer [REDACTED]")
        );
        assert_eq!(
            m.mask_text("card 4111 1111 1111 1111 used").as_deref(),
            Some("card [REDACTED] used")
        );
        assert_eq!(m.mask_text("card 4111-1111-1111-1112 fails luhn"), None);
        assert_eq!(m.mask_text("ts=1700000000123 id=12345678901234"), None);
        assert_eq!(m.mask_text("nothing to see"), None);
        assert_eq!(m.mask_text("mail a@b.com"), None);
        let m = Masker::new(&MaskingConfig {
            emails: true,
            patterns: vec![r"\b\d{3}-\d{2}-\d{4}\b".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            m.mask_text("mail a@b.com ssn 123-45-6789").as_deref(),
            Some("mail [REDACTED] ssn [REDACTED]")
        );
        assert!(Masker::new(&MaskingConfig {
            patterns: vec!["(".into()],
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn record_fields_and_disabled() {
        let mut r = crate::LogRecord::new(0, Default::default(), "pay with 5555555555554444");
        r.fields = vec![
            ("password".into(), "x".into()),
            ("auth".into(), "-".into()),
            ("note".into(), "token=abc123".into()),
            ("user".into(), "bob".into()),
        ];
        let orig = r.clone();
        masker().apply(&mut r);
        assert_eq!(r.message, "pay with [REDACTED]");
        assert_eq!(r.fields[0].1, "[REDACTED]");
        assert_eq!(r.fields[1].1, "-");
        assert_eq!(r.fields[2].1, "token=[REDACTED]");
        assert_eq!(r.fields[3].1, "bob");
        let mut r2 = orig.clone();
        Masker::new(&MaskingConfig {
            enabled: false,
            ..Default::default()
        })
        .unwrap()
        .apply(&mut r2);
        assert_eq!(r2, orig);
    }
}
