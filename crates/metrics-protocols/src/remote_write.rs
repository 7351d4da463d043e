//! Prometheus remote write 1.0: a snappy-compressed `prometheus.WriteRequest`.
//!
//! The body of `POST /api/v1/write` is the protobuf message below, compressed
//! with the snappy **block** format (not the framed/stream format):
//!
//! ```text
//! WriteRequest   { 1: repeated TimeSeries timeseries; 3: repeated MetricMetadata metadata; }
//! TimeSeries     { 1: repeated Label labels; 2: repeated Sample samples;
//!                  3: repeated Exemplar exemplars; 4: repeated Histogram histograms; }
//! Label          { 1: string name; 2: string value; }
//! Sample         { 1: double value; 2: int64 timestamp; }      // timestamp in ms
//! MetricMetadata { 1: MetricType type; 2: string metric_family_name; 4: string help; 5: string unit; }
//! ```
//!
//! [`Decoder`] is written by hand for speed and is zero-copy: label names and
//! values are `&str` borrowed from the decompressed buffer the decoder owns.
//!
//! Invariants:
//! - A `Decoder` reuses its buffers, so once it has seen a request of a given
//!   size, decoding another request no larger allocates nothing.
//! - The snappy header's declared length is checked against
//!   [`Limits::max_decompressed_bytes`] before anything is allocated.
//! - Every string handed out is valid UTF-8 (checked, as proto3 requires).
//! - Unknown fields of any wire type (groups included) are skipped; a known
//!   field with the wrong wire type is an error (as Prometheus's own decoder
//!   treats it). Scalar fields repeated on the wire keep their last value.
//! - Exemplars are counted and skipped (the store keeps none). Native
//!   histograms are counted, not decoded: the caller must refuse them
//!   ([`WriteRequestView::histogram_count`]) rather than drop them silently.
//! - Malformed input gives a [`DecodeError`] naming the problem and the byte
//!   offset in the decompressed body; no input makes the decoder panic.

use sightline_model::{LabelRef, Labels, Limits, MetricMetadata, MetricType, Sample, StorageErrorKind};
use thiserror::Error;

#[cfg(test)]
mod tests;

/// Why a remote write body could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The body is not valid snappy block-format data.
    #[error("snappy: {0}")]
    Snappy(String),
    /// The snappy header declares more bytes than the configured limit.
    #[error("decompressed body would be {declared} bytes, more than the limit of {limit}")]
    DecompressedTooLarge { declared: usize, limit: usize },
    /// More time series than [`Limits::max_series_per_request`].
    #[error("request has more than {limit} time series")]
    TooManySeries { limit: usize },
    /// The protobuf encoding is broken.
    #[error("protobuf: {problem} at byte {offset} of the decompressed body (in {message})")]
    Protobuf {
        message: &'static str,
        offset: usize,
        problem: WireProblem,
    },
    /// A string field is not valid UTF-8. `context` is e.g. `label name` or
    /// `value of label "job"`; `lossy` shows the bytes with U+FFFD.
    #[error("invalid UTF-8 in {context} {lossy:?}")]
    InvalidUtf8 { context: String, lossy: String },
}

impl DecodeError {
    /// Limit errors (the handler answers 413) versus bad input (400).
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            DecodeError::DecompressedTooLarge { .. } | DecodeError::TooManySeries { .. } => {
                StorageErrorKind::Limit
            }
            _ => StorageErrorKind::BadInput,
        }
    }
}

/// What is wrong with the protobuf wire data.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum WireProblem {
    #[error("truncated varint")]
    TruncatedVarint,
    #[error("varint longer than 64 bits")]
    VarintOverflow,
    #[error("field of {needed} bytes runs past the end of its message ({available} left)")]
    Truncated { needed: u64, available: usize },
    #[error("field number 0")]
    FieldNumberZero,
    /// Field numbers are at most 2^29 - 1.
    #[error("field number {0} out of range")]
    FieldNumberOutOfRange(u64),
    #[error("invalid wire type {0}")]
    InvalidWireType(u8),
    #[error("field {field} has wire type {got}, expected {expected}")]
    UnexpectedWireType { field: u32, got: u8, expected: u8 },
    #[error("end-group marker without a matching start-group")]
    UnmatchedEndGroup,
    #[error("group of field {0} is not terminated")]
    UnterminatedGroup(u32),
    #[error("groups nested more than {MAX_GROUP_DEPTH} deep")]
    GroupsTooDeep,
}

const MAX_GROUP_DEPTH: usize = 64;

const WT_VARINT: u8 = 0;
const WT_I64: u8 = 1;
const WT_LEN: u8 = 2;
const WT_SGROUP: u8 = 3;
const WT_EGROUP: u8 = 4;
const WT_I32: u8 = 5;

/// One metadata entry of a request, borrowed from the decoder's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataRef<'a> {
    pub metric_type: MetricType,
    pub metric_family_name: &'a str,
    pub help: &'a str,
    pub unit: &'a str,
}

impl MetadataRef<'_> {
    /// The owned form the store takes ([`sightline_model::Appender::set_metadata`]).
    pub fn to_metadata(&self) -> MetricMetadata {
        MetricMetadata {
            metric_type: self.metric_type,
            help: self.help.to_string(),
            unit: self.unit.to_string(),
        }
    }
}

/// One decoded time series: its labels as sent (Prometheus sends them sorted,
/// but nothing here relies on it) and its float samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeSeries<'v> {
    pub labels: &'v [LabelRef<'v>],
    pub samples: &'v [Sample],
    /// Exemplars sent with the series (skipped).
    pub exemplars: usize,
    /// Native histogram samples sent with the series (not supported).
    pub histograms: usize,
}

#[derive(Clone, Copy, Debug, Default)]
struct SeriesSpan {
    labels: (usize, usize),
    samples: (usize, usize),
    exemplars: usize,
    histograms: usize,
}

/// A reusable remote write decoder; keep one per worker (it is `Send`).
/// Its buffers grow to the largest request seen; [`Decoder::shrink_to`]
/// bounds that.
#[derive(Default)]
pub struct Decoder {
    snappy: snap::raw::Decoder,
    /// Decompressed body; only the prefix the current request's snappy
    /// header declared is valid (the rest is left over from larger ones).
    buf: Vec<u8>,
    /// Always empty between calls: only its allocation is kept.
    labels: Vec<LabelRef<'static>>,
    /// Always empty between calls: only its allocation is kept.
    metadata: Vec<MetadataRef<'static>>,
    series: Vec<SeriesSpan>,
    samples: Vec<Sample>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("buffer_bytes", &self.buf.capacity())
            .finish_non_exhaustive()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decompresses and decodes one request body. The returned view borrows
    /// the decoder; drop it before decoding the next request.
    pub fn decode<'a>(
        &'a mut self,
        snappy_body: &[u8],
        limits: &Limits,
    ) -> Result<WriteRequestView<'a>, DecodeError> {
        let declared =
            snap::raw::decompress_len(snappy_body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
        if declared > limits.max_decompressed_bytes {
            return Err(DecodeError::DecompressedTooLarge {
                declared,
                limit: limits.max_decompressed_bytes,
            });
        }
        if self.buf.len() < declared {
            // Grows only; a smaller request reuses the prefix without zeroing it.
            self.buf.resize(declared, 0);
        }
        let written = self
            .snappy
            .decompress(snappy_body, &mut self.buf[..declared])
            .map_err(|e| DecodeError::Snappy(e.to_string()))?;
        if written != declared {
            return Err(DecodeError::Snappy(format!(
                "header declares {declared} bytes but the data holds {written}"
            )));
        }

        let Decoder {
            buf,
            labels: label_home,
            metadata: meta_home,
            series,
            samples,
            ..
        } = self;
        let data: &'a [u8] = &buf[..declared];
        series.clear();
        samples.clear();
        let mut labels: Vec<LabelRef<'a>> = reuse_vec(std::mem::take(label_home));
        let mut metadata: Vec<MetadataRef<'a>> = reuse_vec(std::mem::take(meta_home));
        let mut out = Output {
            labels: &mut labels,
            metadata: &mut metadata,
            series: &mut *series,
            samples: &mut *samples,
        };
        match parse_write_request(data, limits, &mut out) {
            Ok(()) => {
                let histograms = series.iter().map(|s| s.histograms).sum();
                let exemplars = series.iter().map(|s| s.exemplars).sum();
                Ok(WriteRequestView {
                    labels,
                    metadata,
                    label_home,
                    meta_home,
                    series,
                    samples,
                    histograms,
                    exemplars,
                })
            }
            Err(e) => {
                *label_home = reuse_vec(labels);
                *meta_home = reuse_vec(metadata);
                Err(e)
            }
        }
    }

    /// Frees buffers grown past `max_bytes` by an unusually large request
    /// (call between requests to bound a pooled decoder's memory).
    pub fn shrink_to(&mut self, max_bytes: usize) {
        if self.buf.capacity() > max_bytes {
            self.buf = Vec::new();
        }
        let per_entry = std::mem::size_of::<LabelRef<'static>>();
        if self.labels.capacity() * per_entry > max_bytes {
            self.labels = Vec::new();
        }
        if self.samples.capacity() * std::mem::size_of::<Sample>() > max_bytes {
            self.samples = Vec::new();
            self.series = Vec::new();
        }
        if self.metadata.capacity() * std::mem::size_of::<MetadataRef<'static>>() > max_bytes {
            self.metadata = Vec::new();
        }
    }
}

/// Turns an emptied vector into an empty vector of a type with the same
/// layout (here: the same type with another lifetime), keeping its
/// allocation: the standard library collects a `vec::IntoIter` adapter in
/// place when the layouts match, so no element is ever produced and nothing
/// is allocated.
pub(crate) fn reuse_vec<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// A decoded request, borrowing the [`Decoder`] that produced it.
pub struct WriteRequestView<'a> {
    labels: Vec<LabelRef<'a>>,
    metadata: Vec<MetadataRef<'a>>,
    label_home: &'a mut Vec<LabelRef<'static>>,
    meta_home: &'a mut Vec<MetadataRef<'static>>,
    series: &'a [SeriesSpan],
    samples: &'a [Sample],
    histograms: usize,
    exemplars: usize,
}

impl Drop for WriteRequestView<'_> {
    fn drop(&mut self) {
        *self.label_home = reuse_vec(std::mem::take(&mut self.labels));
        *self.meta_home = reuse_vec(std::mem::take(&mut self.metadata));
    }
}

impl std::fmt::Debug for WriteRequestView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteRequestView")
            .field("series", &self.series.len())
            .field("samples", &self.samples.len())
            .field("metadata", &self.metadata)
            .field("histograms", &self.histograms)
            .field("exemplars", &self.exemplars)
            .finish()
    }
}

impl<'a> WriteRequestView<'a> {
    /// The time series in request order.
    pub fn series(&self) -> impl ExactSizeIterator<Item = TimeSeries<'_>> + '_ {
        self.series.iter().map(move |s| TimeSeries {
            labels: &self.labels[s.labels.0..s.labels.1],
            samples: &self.samples[s.samples.0..s.samples.1],
            exemplars: s.exemplars,
            histograms: s.histograms,
        })
    }

    /// Number of time series.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Float samples over all series.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Native histogram samples over all series. Not supported: a non-zero
    /// count must be reported to the sender (400), not ignored.
    pub fn histogram_count(&self) -> usize {
        self.histograms
    }

    /// Exemplars over all series (skipped; the store keeps none).
    pub fn exemplar_count(&self) -> usize {
        self.exemplars
    }

    /// Metric metadata entries in request order.
    pub fn metadata(&self) -> &[MetadataRef<'a>] {
        &self.metadata
    }
}

struct Output<'o, 'a> {
    labels: &'o mut Vec<LabelRef<'a>>,
    metadata: &'o mut Vec<MetadataRef<'a>>,
    series: &'o mut Vec<SeriesSpan>,
    samples: &'o mut Vec<Sample>,
}

/// A cursor over one protobuf message `data[pos..end]`; offsets are
/// absolute in the decompressed body so errors can point at the byte.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn err(&self, offset: usize, problem: WireProblem) -> DecodeError {
        DecodeError::Protobuf {
            message: self.message,
            offset,
            problem,
        }
    }

    /// Most varints on this wire (keys, lengths) are one byte: decode that
    /// inline and leave the general loop out of line.
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        if self.pos < self.end {
            let b = self.data[self.pos];
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut result = 0u64;
        let mut shift = 0u32;
        loop {
            if self.pos >= self.end {
                return Err(self.err(start, WireProblem::TruncatedVarint));
            }
            let b = self.data[self.pos];
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.err(start, WireProblem::VarintOverflow));
            }
            result |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(result);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.err(start, WireProblem::VarintOverflow));
            }
        }
    }

    /// The next field key, or `None` at the end of the message.
    #[inline]
    fn key(&mut self) -> Result<Option<(u32, u8, usize)>, DecodeError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        let field = key >> 3;
        if field == 0 {
            return Err(self.err(at, WireProblem::FieldNumberZero));
        }
        if field > u64::from(u32::MAX >> 3) {
            return Err(self.err(at, WireProblem::FieldNumberOutOfRange(field)));
        }
        Ok(Some((field as u32, wire_type, at)))
    }

    fn take(&mut self, n: u64) -> Result<(usize, usize), DecodeError> {
        let available = self.end - self.pos;
        if n > available as u64 {
            return Err(self.err(self.pos, WireProblem::Truncated { needed: n, available }));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok((start, self.pos))
    }

    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        let (s, e) = self.take(n)?;
        Ok(&self.data[s..e])
    }

    /// A sub-reader over the next length-delimited field.
    #[inline]
    fn sub(&mut self, message: &'static str) -> Result<Reader<'a>, DecodeError> {
        let n = self.varint()?;
        let (pos, end) = self.take(n)?;
        Ok(Reader {
            data: self.data,
            pos,
            end,
            message,
        })
    }

    #[inline]
    fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let (s, e) = self.take(8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.data[s..e]);
        Ok(u64::from_le_bytes(b))
    }

    fn expect(&self, field: u32, got: u8, expected: u8, at: usize) -> Result<(), DecodeError> {
        if got == expected {
            Ok(())
        } else {
            Err(self.err(at, WireProblem::UnexpectedWireType { field, got, expected }))
        }
    }

    /// Skips the value of an unknown field whose key was just read.
    fn skip(&mut self, field: u32, wire_type: u8, at: usize, depth: usize) -> Result<(), DecodeError> {
        match wire_type {
            WT_VARINT => self.varint().map(drop),
            WT_I64 => self.take(8).map(drop),
            WT_LEN => {
                let n = self.varint()?;
                self.take(n).map(drop)
            }
            WT_I32 => self.take(4).map(drop),
            WT_SGROUP => {
                if depth >= MAX_GROUP_DEPTH {
                    return Err(self.err(at, WireProblem::GroupsTooDeep));
                }
                loop {
                    match self.key()? {
                        None => return Err(self.err(at, WireProblem::UnterminatedGroup(field))),
                        Some((f, WT_EGROUP, end_at)) => {
                            return if f == field {
                                Ok(())
                            } else {
                                Err(self.err(end_at, WireProblem::UnmatchedEndGroup))
                            };
                        }
                        Some((f, wt, inner_at)) => self.skip(f, wt, inner_at, depth + 1)?,
                    }
                }
            }
            WT_EGROUP => Err(self.err(at, WireProblem::UnmatchedEndGroup)),
            other => Err(self.err(at, WireProblem::InvalidWireType(other))),
        }
    }
}

#[inline(always)]
fn utf8(bytes: &[u8], context: impl FnOnce() -> String) -> Result<&str, DecodeError> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8. Label strings are short and nearly
        // always ASCII; this inline check is cheaper than calling the
        // general validator for each of them.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 {
        context: context(),
        lossy: String::from_utf8_lossy(bytes).into_owned(),
    })
}

fn parse_write_request<'a>(
    data: &'a [u8],
    limits: &Limits,
    out: &mut Output<'_, 'a>,
) -> Result<(), DecodeError> {
    let mut r = Reader {
        data,
        pos: 0,
        end: data.len(),
        message: "WriteRequest",
    };
    while let Some((field, wt, at)) = r.key()? {
        match field {
            1 => {
                r.expect(field, wt, WT_LEN, at)?;
                if out.series.len() >= limits.max_series_per_request {
                    return Err(DecodeError::TooManySeries {
                        limit: limits.max_series_per_request,
                    });
                }
                let sub = r.sub("TimeSeries")?;
                parse_time_series(sub, out)?;
            }
            3 => {
                r.expect(field, wt, WT_LEN, at)?;
                let sub = r.sub("MetricMetadata")?;
                out.metadata.push(parse_metadata(sub)?);
            }
            _ => r.skip(field, wt, at, 0)?,
        }
    }
    Ok(())
}

fn parse_time_series<'a>(mut r: Reader<'a>, out: &mut Output<'_, 'a>) -> Result<(), DecodeError> {
    let mut span = SeriesSpan {
        labels: (out.labels.len(), 0),
        samples: (out.samples.len(), 0),
        ..SeriesSpan::default()
    };
    while let Some((field, wt, at)) = r.key()? {
        match field {
            1 => {
                r.expect(field, wt, WT_LEN, at)?;
                let sub = r.sub("Label")?;
                out.labels.push(parse_label(sub)?);
            }
            2 => {
                r.expect(field, wt, WT_LEN, at)?;
                let sub = r.sub("Sample")?;
                out.samples.push(parse_sample(sub)?);
            }
            3 => {
                r.expect(field, wt, WT_LEN, at)?;
                r.sub("Exemplar")?;
                span.exemplars += 1;
            }
            4 => {
                r.expect(field, wt, WT_LEN, at)?;
                r.sub("Histogram")?;
                span.histograms += 1;
            }
            _ => r.skip(field, wt, at, 0)?,
        }
    }
    span.labels.1 = out.labels.len();
    span.samples.1 = out.samples.len();
    out.series.push(span);
    Ok(())
}

#[inline]
fn parse_label<'a>(mut r: Reader<'a>) -> Result<LabelRef<'a>, DecodeError> {
    let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
    while let Some((field, wt, at)) = r.key()? {
        match field {
            1 => {
                r.expect(field, wt, WT_LEN, at)?;
                name = r.bytes()?;
            }
            2 => {
                r.expect(field, wt, WT_LEN, at)?;
                value = r.bytes()?;
            }
            _ => r.skip(field, wt, at, 0)?,
        }
    }
    let name = utf8(name, || "label name".to_string())?;
    let value = utf8(value, || format!("value of label {name:?}"))?;
    Ok(LabelRef { name, value })
}

#[inline]
fn parse_sample(mut r: Reader<'_>) -> Result<Sample, DecodeError> {
    let mut s = Sample { t: 0, v: 0.0 };
    while let Some((field, wt, at)) = r.key()? {
        match field {
            1 => {
                r.expect(field, wt, WT_I64, at)?;
                s.v = f64::from_bits(r.fixed64()?);
            }
            2 => {
                r.expect(field, wt, WT_VARINT, at)?;
                s.t = r.varint()? as i64;
            }
            _ => r.skip(field, wt, at, 0)?,
        }
    }
    Ok(s)
}

fn parse_metadata<'a>(mut r: Reader<'a>) -> Result<MetadataRef<'a>, DecodeError> {
    let mut m = MetadataRef {
        metric_type: MetricType::Unknown,
        metric_family_name: "",
        help: "",
        unit: "",
    };
    while let Some((field, wt, at)) = r.key()? {
        match field {
            1 => {
                r.expect(field, wt, WT_VARINT, at)?;
                m.metric_type = metric_type_from_proto(r.varint()?);
            }
            2 => {
                r.expect(field, wt, WT_LEN, at)?;
                m.metric_family_name = utf8(r.bytes()?, || "metric family name".to_string())?;
            }
            4 => {
                r.expect(field, wt, WT_LEN, at)?;
                let name = m.metric_family_name;
                m.help = utf8(r.bytes()?, || format!("help of metric family {name:?}"))?;
            }
            5 => {
                r.expect(field, wt, WT_LEN, at)?;
                let name = m.metric_family_name;
                m.unit = utf8(r.bytes()?, || format!("unit of metric family {name:?}"))?;
            }
            _ => r.skip(field, wt, at, 0)?,
        }
    }
    Ok(m)
}

/// `prometheus.MetricMetadata.MetricType` numbers. Unknown numbers (an open
/// proto3 enum may grow) read as `Unknown`.
fn metric_type_from_proto(n: u64) -> MetricType {
    match n {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::Stateset,
        _ => MetricType::Unknown,
    }
}

fn metric_type_to_proto(t: MetricType) -> u64 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::Stateset => 7,
    }
}

/// Encodes a request as a sender would (protobuf, then snappy block format);
/// for tests, benchmarks and tools. Labels are written in the set's sorted
/// order, metadata as `(metric family name, metadata)`.
pub fn encode(series: &[(Labels, Vec<Sample>)], metadata: &[(String, MetricMetadata)]) -> Vec<u8> {
    let proto = encode_protobuf(series, metadata);
    let mut out = vec![0u8; snap::raw::max_compress_len(proto.len())];
    // Compressing into a buffer of `max_compress_len` bytes cannot fail for
    // inputs below snappy's 4 GiB block limit; an empty body is the fallback.
    match snap::raw::Encoder::new().compress(&proto, &mut out) {
        Ok(n) => out.truncate(n),
        Err(_) => out.clear(),
    }
    out
}

/// The uncompressed protobuf encoding of a `WriteRequest` (see [`encode`]).
pub fn encode_protobuf(series: &[(Labels, Vec<Sample>)], metadata: &[(String, MetricMetadata)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ts = Vec::new();
    let mut scratch = Vec::new();
    for (labels, samples) in series {
        ts.clear();
        for l in labels.iter() {
            scratch.clear();
            put_bytes(&mut scratch, 1, l.name.as_bytes());
            put_bytes(&mut scratch, 2, l.value.as_bytes());
            put_bytes(&mut ts, 1, &scratch);
        }
        for s in samples {
            scratch.clear();
            put_key(&mut scratch, 1, WT_I64);
            scratch.extend_from_slice(&s.v.to_bits().to_le_bytes());
            put_key(&mut scratch, 2, WT_VARINT);
            put_varint(&mut scratch, s.t as u64);
            put_bytes(&mut ts, 2, &scratch);
        }
        put_bytes(&mut out, 1, &ts);
    }
    for (family, meta) in metadata {
        scratch.clear();
        put_key(&mut scratch, 1, WT_VARINT);
        put_varint(&mut scratch, metric_type_to_proto(meta.metric_type));
        put_bytes(&mut scratch, 2, family.as_bytes());
        put_bytes(&mut scratch, 4, meta.help.as_bytes());
        put_bytes(&mut scratch, 5, meta.unit.as_bytes());
        put_bytes(&mut out, 3, &scratch);
    }
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, WT_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
