//! Limits on what one series or one request may carry, checked at ingest so
//! bad input gets a clear error instead of bloating the store.

use crate::labels::{LabelRef, METRIC_NAME};
use thiserror::Error;

/// Ingest limits. Defaults are documented in `docs/configuration.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Labels per series, `__name__` included.
    pub max_labels_per_series: usize,
    /// Bytes in a label name.
    pub max_label_name_len: usize,
    /// Bytes in a label value.
    pub max_label_value_len: usize,
    /// Series in one write request (remote write, OTLP, push, line protocol).
    pub max_series_per_request: usize,
    /// Bytes of a request body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Bytes of a request body after decompression.
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_labels_per_series: 64,
            max_label_name_len: 1024,
            max_label_value_len: 16 * 1024,
            max_series_per_request: 1_000_000,
            max_body_bytes: 64 << 20,
            max_decompressed_bytes: 256 << 20,
        }
    }
}

/// Why a label set was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LabelError {
    #[error("series has {count} labels, more than the limit of {limit}")]
    TooManyLabels { count: usize, limit: usize },
    #[error("label name {name:?} is {len} bytes, longer than the limit of {limit}")]
    NameTooLong { name: String, len: usize, limit: usize },
    #[error("value of label {name:?} is {len} bytes, longer than the limit of {limit}")]
    ValueTooLong { name: String, len: usize, limit: usize },
    #[error("empty label name")]
    EmptyName,
    #[error("duplicate label name {0:?}")]
    DuplicateName(String),
    #[error("series has no metric name (__name__)")]
    MissingMetricName,
}

impl Limits {
    /// Checks one series' labels (any order). Empty values are allowed here:
    /// they mean "absent" and the store drops them.
    pub fn check_labels(&self, labels: &[LabelRef<'_>]) -> Result<(), LabelError> {
        if labels.len() > self.max_labels_per_series {
            return Err(LabelError::TooManyLabels {
                count: labels.len(),
                limit: self.max_labels_per_series,
            });
        }
        let mut has_name = false;
        for (i, l) in labels.iter().enumerate() {
            if l.name.is_empty() {
                return Err(LabelError::EmptyName);
            }
            if l.name.len() > self.max_label_name_len {
                return Err(LabelError::NameTooLong {
                    name: truncate(l.name),
                    len: l.name.len(),
                    limit: self.max_label_name_len,
                });
            }
            if l.value.len() > self.max_label_value_len {
                return Err(LabelError::ValueTooLong {
                    name: truncate(l.name),
                    len: l.value.len(),
                    limit: self.max_label_value_len,
                });
            }
            if l.name == METRIC_NAME && !l.value.is_empty() {
                has_name = true;
            }
            // Sets are small (tens of labels): a quadratic scan beats hashing.
            if labels[..i].iter().any(|o| o.name == l.name) {
                return Err(LabelError::DuplicateName(l.name.to_string()));
            }
        }
        if !has_name {
            return Err(LabelError::MissingMetricName);
        }
        Ok(())
    }
}

fn truncate(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_each_limit() {
        let lim = Limits {
            max_labels_per_series: 2,
            max_label_name_len: 4,
            max_label_value_len: 3,
            ..Limits::default()
        };
        let ok = [LabelRef::new("__name__", "up")];
        assert_eq!(
            lim.check_labels(&ok),
            Err(LabelError::NameTooLong {
                name: "__name__".into(),
                len: 8,
                limit: 4
            })
        );
        let lim = Limits {
            max_label_name_len: 100,
            ..lim
        };
        assert!(lim.check_labels(&ok).is_ok());
        assert!(matches!(
            lim.check_labels(&[LabelRef::new("a", "b")]),
            Err(LabelError::MissingMetricName)
        ));
        assert!(matches!(
            lim.check_labels(&[ok[0], LabelRef::new("a", "b"), LabelRef::new("c", "d")]),
            Err(LabelError::TooManyLabels { count: 3, limit: 2 })
        ));
        assert!(matches!(
            lim.check_labels(&[ok[0], LabelRef::new("a", "long")]),
            Err(LabelError::ValueTooLong { .. })
        ));
        assert!(matches!(
            lim.check_labels(&[ok[0], ok[0]]),
            Err(LabelError::DuplicateName(_))
        ));
        assert!(matches!(
            lim.check_labels(&[ok[0], LabelRef::new("", "x")]),
            Err(LabelError::EmptyName)
        ));
    }
}
