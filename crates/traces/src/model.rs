//! The span model every decoder produces and every encoder reads.
//!
//! Invariants (checked by [`Span::validate`], which every decoder calls):
//! - `trace_id` is 16 bytes and not all zero; `span_id` is 8 bytes and not
//!   all zero; a parent id, when present, is not all zero;
//! - `end_ns >= start_ns` (decoders clamp a negative duration to zero);
//! - attribute keys are non-empty and at most [`Limits::max_attr_key_len`]
//!   bytes; string values at most [`Limits::max_attr_value_len`] bytes; at
//!   most [`Limits::max_attrs`] attributes per span (resource included).
//!
//! The service name is the resource attribute `service.name`
//! (`unknown_service` when absent, as the OpenTelemetry SDKs default).

use crate::TraceError;

/// A typed attribute value (OpenTelemetry's `AnyValue`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The value as text: strings as is, numbers in decimal, bytes as hex,
    /// arrays and maps as compact JSON.
    pub fn as_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) => fmt_double(*d),
            Value::Bytes(b) => hex(b),
            Value::Array(_) | Value::Map(_) => self.to_json().to_string(),
        }
    }

    /// The value as plain JSON (strings, numbers, booleans, arrays, objects;
    /// bytes as a base64 string).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Str(s) => J::String(s.clone()),
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Double(d) => {
                serde_json::Number::from_f64(*d).map_or_else(|| J::String(fmt_double(*d)), J::Number)
            }
            Value::Bytes(b) => J::String(base64(b)),
            Value::Array(a) => J::Array(a.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    fn text_len(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Array(a) => a.iter().map(Value::text_len).sum(),
            Value::Map(m) => m.iter().map(|(k, v)| k.len() + v.text_len()).sum(),
            _ => 8,
        }
    }
}

/// A key/value attribute.
pub type Attr = (String, Value);

/// Span kind (OpenTelemetry's numbering).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_i32(v: i32) -> SpanKind {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// Lower-case name as Jaeger writes it in `span.kind` (`server`, ...);
    /// `unspecified` for 0.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// Parses [`SpanKind::as_str`] names, OTLP enum names
    /// (`SPAN_KIND_SERVER`) and Zipkin's upper-case kinds; case-insensitive.
    pub fn parse(s: &str) -> Option<SpanKind> {
        let l = s.to_ascii_lowercase();
        let l = l.strip_prefix("span_kind_").unwrap_or(&l);
        Some(match l {
            "unspecified" | "" => SpanKind::Unspecified,
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => return None,
        })
    }

    /// OTLP enum name (`SPAN_KIND_SERVER`).
    pub fn otlp_name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
            SpanKind::Internal => "SPAN_KIND_INTERNAL",
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            SpanKind::Producer => "SPAN_KIND_PRODUCER",
            SpanKind::Consumer => "SPAN_KIND_CONSUMER",
        }
    }
}

/// Status code (OpenTelemetry's numbering).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_i32(v: i32) -> StatusCode {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    /// `unset`, `ok`, `error` (TraceQL's status literals).
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }

    /// OTLP enum name as Tempo's span metrics label it (`STATUS_CODE_ERROR`).
    pub fn otlp_name(self) -> &'static str {
        match self {
            StatusCode::Unset => "STATUS_CODE_UNSET",
            StatusCode::Ok => "STATUS_CODE_OK",
            StatusCode::Error => "STATUS_CODE_ERROR",
        }
    }

    pub fn parse(s: &str) -> Option<StatusCode> {
        let l = s.to_ascii_lowercase();
        let l = l.strip_prefix("status_code_").unwrap_or(&l);
        Some(match l {
            "unset" | "" => StatusCode::Unset,
            "ok" => StatusCode::Ok,
            "error" => StatusCode::Error,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

/// Instrumentation scope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    pub name: String,
    pub version: String,
}

/// A timestamped event (Jaeger log, Zipkin annotation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub time_ns: i64,
    pub name: String,
    pub attributes: Vec<Attr>,
}

/// A link to another span (Jaeger references other than the parent's
/// `CHILD_OF`/`FOLLOWS_FROM`, OTLP links).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Link {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub trace_state: String,
    pub attributes: Vec<Attr>,
}

/// One span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub trace_state: String,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: i64,
    pub end_ns: i64,
    pub status: Status,
    pub attributes: Vec<Attr>,
    /// Resource attributes, `service.name` among them.
    pub resource: Vec<Attr>,
    pub scope: Scope,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
}

/// The service name of spans without a `service.name` resource attribute.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

impl Span {
    /// `service.name` of the resource (a non-string value as text), or
    /// [`UNKNOWN_SERVICE`].
    pub fn service_name(&self) -> String {
        find(&self.resource, "service.name")
            .map(Value::as_text)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| UNKNOWN_SERVICE.to_string())
    }

    pub fn duration_ns(&self) -> i64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// Span attribute by key.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        find(&self.attributes, key)
    }

    /// Resource attribute by key.
    pub fn resource_attr(&self, key: &str) -> Option<&Value> {
        find(&self.resource, key)
    }

    /// Checks the invariants in the module docs.
    pub fn validate(&self, limits: &Limits) -> Result<(), TraceError> {
        if self.trace_id == [0; 16] {
            return Err(TraceError::BadInput("invalid trace id: all zero".into()));
        }
        if self.span_id == [0; 8] {
            return Err(TraceError::BadInput(format!(
                "invalid span id: all zero (trace {})",
                hex(&self.trace_id)
            )));
        }
        if self.parent_span_id == Some([0; 8]) {
            return Err(TraceError::BadInput("invalid parent span id: all zero".into()));
        }
        if self.end_ns < self.start_ns {
            return Err(TraceError::BadInput(format!(
                "span {} ends before it starts",
                hex(&self.span_id)
            )));
        }
        if self.name.len() > limits.max_attr_value_len {
            return Err(TraceError::Limit(format!(
                "span name of {} bytes exceeds the limit of {}",
                self.name.len(),
                limits.max_attr_value_len
            )));
        }
        let n = self.attributes.len() + self.resource.len();
        if n > limits.max_attrs {
            return Err(TraceError::Limit(format!(
                "span {} has {n} attributes, more than the limit of {}",
                hex(&self.span_id),
                limits.max_attrs
            )));
        }
        let all = self
            .attributes
            .iter()
            .chain(&self.resource)
            .chain(self.events.iter().flat_map(|e| &e.attributes))
            .chain(self.links.iter().flat_map(|l| &l.attributes));
        for (k, v) in all {
            if k.is_empty() {
                return Err(TraceError::BadInput("attribute with an empty key".into()));
            }
            if k.len() > limits.max_attr_key_len {
                return Err(TraceError::Limit(format!(
                    "attribute key of {} bytes exceeds the limit of {}",
                    k.len(),
                    limits.max_attr_key_len
                )));
            }
            if v.text_len() > limits.max_attr_value_len {
                return Err(TraceError::Limit(format!(
                    "attribute {k:?} value of {} bytes exceeds the limit of {}",
                    v.text_len(),
                    limits.max_attr_value_len
                )));
            }
        }
        Ok(())
    }
}

/// Per-span size limits applied by the decoders.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_attrs: usize,
    pub max_attr_key_len: usize,
    pub max_attr_value_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attrs: 1024,
            max_attr_key_len: 1024,
            max_attr_value_len: 64 * 1024,
        }
    }
}

pub(crate) fn find<'a>(attrs: &'a [Attr], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Parses hex (either case) into exactly `N` bytes; shorter input is
/// left-padded with zeros (Jaeger and Zipkin allow 64-bit trace ids and
/// omit leading zeros).
pub fn parse_hex_id<const N: usize>(s: &str, what: &str) -> Result<[u8; N], TraceError> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > N * 2 {
        return Err(TraceError::BadInput(format!(
            "invalid {what} {s:?}: expected 1 to {} hex digits",
            N * 2
        )));
    }
    let mut out = [0u8; N];
    let mut digits = Vec::with_capacity(N * 2);
    digits.resize(N * 2 - b.len(), 0u8);
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(TraceError::BadInput(format!("invalid {what} {s:?}: not hex"))),
        };
        digits.push(d);
    }
    for i in 0..N {
        out[i] = digits[2 * i] << 4 | digits[2 * i + 1];
    }
    Ok(out)
}

/// Copies a byte slice into an id, failing with the reason when the length
/// is wrong.
pub fn id_from_bytes<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N], TraceError> {
    b.try_into()
        .map_err(|_| TraceError::BadInput(format!("invalid {what}: {} bytes, expected {N}", b.len())))
}

/// Standard base64 with padding.
pub fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

/// Decodes standard or URL-safe base64, padded or not.
pub fn unbase64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Shortest round-trip formatting of a double (`1.5`, `3`, `NaN`, `+Inf`).
pub fn fmt_double(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{d}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids() {
        let t: [u8; 16] = parse_hex_id("5b8efff798038103d269b633813fc60c", "trace id").unwrap();
        assert_eq!(hex(&t), "5b8efff798038103d269b633813fc60c");
        let t: [u8; 16] = parse_hex_id("d269b633813fc60c", "trace id").unwrap();
        assert_eq!(hex(&t), "0000000000000000d269b633813fc60c");
        let s: [u8; 8] = parse_hex_id("ABC", "span id").unwrap();
        assert_eq!(hex(&s), "0000000000000abc");
        assert!(parse_hex_id::<8>("xyz", "span id")
            .unwrap_err()
            .to_string()
            .contains("not hex"));
        assert!(parse_hex_id::<8>("", "span id").is_err());
        assert!(parse_hex_id::<8>("00000000000000000", "span id").is_err());
        assert!(id_from_bytes::<8>(&[1, 2, 3], "span id")
            .unwrap_err()
            .to_string()
            .contains("3 bytes, expected 8"));
    }

    #[test]
    fn base64_round_trip() {
        for s in [&b""[..], b"a", b"ab", b"abc", b"abcd", &[0xff, 0xfe, 0x00]] {
            assert_eq!(unbase64(&base64(s)).unwrap(), s);
        }
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert!(unbase64("a*b").is_none());
    }

    #[test]
    fn validate_reasons() {
        let l = Limits::default();
        let mut s = Span {
            trace_id: [1; 16],
            span_id: [2; 8],
            ..Default::default()
        };
        s.validate(&l).unwrap();
        s.trace_id = [0; 16];
        assert!(s.validate(&l).unwrap_err().to_string().contains("trace id"));
        s.trace_id = [1; 16];
        s.attributes.push(("k".into(), Value::Str("x".repeat(70_000))));
        let e = s.validate(&l).unwrap_err();
        assert!(matches!(e, TraceError::Limit(_)), "{e}");
        assert!(e.to_string().contains("\"k\" value of 70000 bytes"), "{e}");
        s.attributes.clear();
        s.end_ns = -1;
        assert!(s.validate(&l).unwrap_err().to_string().contains("ends before"));
    }

    #[test]
    fn kinds_and_status() {
        assert_eq!(SpanKind::parse("SPAN_KIND_SERVER"), Some(SpanKind::Server));
        assert_eq!(SpanKind::parse("CLIENT"), Some(SpanKind::Client));
        assert_eq!(SpanKind::parse("bogus"), None);
        assert_eq!(StatusCode::parse("STATUS_CODE_ERROR"), Some(StatusCode::Error));
        assert_eq!(StatusCode::Error.otlp_name(), "STATUS_CODE_ERROR");
        assert_eq!(
            Value::Array(vec![Value::Int(1), Value::Str("a".into())]).as_text(),
            "[1,\"a\"]"
        );
    }
}
