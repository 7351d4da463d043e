//! The event record and its row encoding (used by the WAL).

use crate::codec::{put_bytes, put_ivarint, put_uvarint, DecodeError, Reader};
use sightline_model::Labels;

/// One log event. Traces can reuse the same shape (structured `fields`, ids).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogRecord {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Low-cardinality stream labels (Loki's stream selector labels).
    pub stream: Labels,
    /// The log line, stored byte-exact.
    pub message: String,
    /// Structured fields (flattened dotted names); order is preserved.
    pub fields: Vec<(String, String)>,
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    /// OpenTelemetry severity number (1..=24), if known.
    pub severity: Option<u8>,
}

impl LogRecord {
    /// A record with only a timestamp, stream and line.
    pub fn new(ts_ns: i64, stream: Labels, message: impl Into<String>) -> Self {
        Self {
            ts_ns,
            stream,
            message: message.into(),
            ..Default::default()
        }
    }

    /// Approximate payload size in bytes (line + field text + labels), the unit
    /// of the head's size limit and of `bytes` statistics.
    pub fn size_bytes(&self) -> usize {
        self.message.len()
            + self.fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            + self.trace_id.map_or(0, |_| 16)
            + self.span_id.map_or(0, |_| 8)
    }
}

const HAS_TRACE: u8 = 1;
const HAS_SPAN: u8 = 2;
const HAS_SEV: u8 = 4;

/// Appends the row encoding of `r` with its stream given by `labels`.
pub(crate) fn encode_record(out: &mut Vec<u8>, r: &LogRecord) {
    put_ivarint(out, r.ts_ns);
    put_uvarint(out, r.stream.len() as u64);
    for l in r.stream.iter() {
        put_bytes(out, l.name.as_bytes());
        put_bytes(out, l.value.as_bytes());
    }
    put_bytes(out, r.message.as_bytes());
    put_uvarint(out, r.fields.len() as u64);
    for (k, v) in &r.fields {
        put_bytes(out, k.as_bytes());
        put_bytes(out, v.as_bytes());
    }
    let flags = (if r.trace_id.is_some() { HAS_TRACE } else { 0 })
        | (if r.span_id.is_some() { HAS_SPAN } else { 0 })
        | (if r.severity.is_some() { HAS_SEV } else { 0 });
    out.push(flags);
    if let Some(t) = &r.trace_id {
        out.extend_from_slice(t);
    }
    if let Some(s) = &r.span_id {
        out.extend_from_slice(s);
    }
    if let Some(s) = r.severity {
        out.push(s);
    }
}

pub(crate) fn decode_record(r: &mut Reader<'_>) -> Result<LogRecord, DecodeError> {
    let ts_ns = r.ivarint()?;
    let n = r.len(1 << 16)?;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        pairs.push((r.str()?.to_string(), r.str()?.to_string()));
    }
    let stream = Labels::from_pairs(pairs);
    let message = r.str()?.to_string();
    let n = r.len(1 << 20)?;
    let mut fields = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        fields.push((r.str()?.to_string(), r.str()?.to_string()));
    }
    let flags = r.u8()?;
    let trace_id = if flags & HAS_TRACE != 0 {
        let mut t = [0u8; 16];
        t.copy_from_slice(r.take(16)?);
        Some(t)
    } else {
        None
    };
    let span_id = if flags & HAS_SPAN != 0 {
        let mut t = [0u8; 8];
        t.copy_from_slice(r.take(8)?);
        Some(t)
    } else {
        None
    };
    let severity = if flags & HAS_SEV != 0 { Some(r.u8()?) } else { None };
    Ok(LogRecord {
        ts_ns,
        stream,
        message,
        fields,
        trace_id,
        span_id,
        severity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let r = LogRecord {
            ts_ns: -5,
            stream: Labels::from_pairs([("app", "api"), ("env", "prod")]),
            message: "héllo {\"a\":1}".into(),
            fields: vec![("z".into(), "1".into()), ("a.b".into(), "".into())],
            trace_id: Some([7; 16]),
            span_id: Some([9; 8]),
            severity: Some(17),
        };
        let mut b = Vec::new();
        encode_record(&mut b, &r);
        encode_record(&mut b, &LogRecord::new(3, Labels::new(), ""));
        let mut rd = Reader::new(&b);
        assert_eq!(decode_record(&mut rd).unwrap(), r);
        assert_eq!(
            decode_record(&mut rd).unwrap(),
            LogRecord::new(3, Labels::new(), "")
        );
        assert!(rd.is_empty());
        for cut in 0..b.len() / 2 {
            let _ = decode_record(&mut Reader::new(&b[..cut]));
        }
    }
}
