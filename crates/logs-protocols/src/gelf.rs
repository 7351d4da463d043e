//! GELF (Graylog Extended Log Format) 1.1: JSON payloads over UDP (chunked,
//! gzip, zlib or plain) and TCP (null-byte delimited, see
//! [`crate::framing::DelimitedFramer`] with delimiter `0`).
//!
//! Mapping to [`LogRecord`]:
//! - `short_message` -> `message` (required, as Graylog requires it);
//! - `timestamp` (seconds since the epoch with optional decimals) -> `ts_ns`
//!   (else `now_ns`);
//! - `host` -> stream label `host`; `level` (syslog severity 0..7) -> stream
//!   label `level` (keyword as in [`crate::syslog`]) and the OpenTelemetry
//!   `severity`; [`GelfOptions::label_fields`] (default `_container_name` as
//!   `container`, sent by Docker's `gelf` driver) -> labels;
//! - `full_message`, `facility`, `line`, `file` and every additional field
//!   `_name` (as `name`; `_id` is ignored as the spec reserves it) -> fields
//!   in key order; `version` is checked to be `1.0`/`1.1` when present.
//!
//! UDP reassembly ([`ChunkAssembler`]): chunks start with `0x1e 0x0f`, an
//! 8-byte message id, the sequence number and count (count <= 128). The
//! table of partial messages is bounded by message count and bytes (the
//! oldest partial message is evicted) and entries expire after a timeout
//! (Graylog uses 5 s); expired and evicted messages are counted.

use crate::doc::{value_text, LabelField};
use crate::{DecodeError, IngestLimits, LogRecord};
use serde_json::Value;
use sightline_model::LabelsBuilder;
use std::collections::HashMap;
use std::io::Read;

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];
const OTEL_SEVERITY: [u8; 8] = [21, 19, 18, 17, 13, 10, 9, 5];

/// GELF mapping options.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GelfOptions {
    /// GELF fields (with their `_` prefix for additional fields) promoted to labels.
    pub label_fields: Vec<LabelField>,
}

impl Default for GelfOptions {
    fn default() -> Self {
        Self {
            label_fields: vec![LabelField::new("_container_name", "container")],
        }
    }
}

/// Undoes GELF's optional compression: gzip (`1f 8b`), zlib (`78 xx` with a
/// valid header check), else the bytes as they are. Output is bounded by
/// `max_bytes`.
pub fn decompress(payload: &[u8], max_bytes: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let r = match payload {
        [0x1f, 0x8b, ..] => flate2::read::GzDecoder::new(payload)
            .take(max_bytes as u64 + 1)
            .read_to_end(&mut out),
        [a, b, ..] if *a & 0x0f == 8 && (u16::from(*a) << 8 | u16::from(*b)) % 31 == 0 => {
            flate2::read::ZlibDecoder::new(payload)
                .take(max_bytes as u64 + 1)
                .read_to_end(&mut out)
        }
        _ => {
            if payload.len() > max_bytes {
                return Err(too_big(max_bytes));
            }
            return Ok(payload.to_vec());
        }
    };
    r.map_err(|e| DecodeError::bad(format!("invalid compressed GELF payload: {e}")))?;
    if out.len() > max_bytes {
        return Err(too_big(max_bytes));
    }
    Ok(out)
}

fn too_big(max: usize) -> DecodeError {
    DecodeError::limit(format!(
        "GELF payload expands beyond max_decompressed_bytes ({max})"
    ))
}

/// Maps one (decompressed) GELF JSON message.
pub fn decode_message(
    json: &[u8],
    extra_labels: &[(&str, &str)],
    opts: &GelfOptions,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<LogRecord, DecodeError> {
    let o = crate::doc::parse_object(json)?;
    if let Some(v) = o.get("version") {
        match v.as_str() {
            Some("1.0" | "1.1") => {}
            _ => return Err(DecodeError::bad(format!("unsupported GELF version {v}"))),
        }
    }
    let message = match o.get("short_message") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(DecodeError::bad("GELF message without short_message"))
        }
        Some(other) => value_text(other),
    };
    let ts_ns = match o.get("timestamp") {
        None | Some(Value::Null) => now_ns,
        Some(Value::Number(n)) => crate::time::decimal_seconds_ns(&n.to_string())
            .or_else(|| n.as_f64().and_then(crate::time::epoch_guess_ns))
            .ok_or_else(|| DecodeError::bad(format!("invalid GELF timestamp {n}")))?,
        Some(Value::String(s)) => crate::time::parse_any(s)
            .ok_or_else(|| DecodeError::bad(format!("invalid GELF timestamp {s:?}")))?,
        Some(other) => return Err(DecodeError::bad(format!("invalid GELF timestamp {other}"))),
    };
    let mut labels = LabelsBuilder::default();
    let mut severity = None;
    if let Some(h) = o
        .get("host")
        .and_then(crate::doc::scalar_text)
        .filter(|h| !h.is_empty())
    {
        labels.set("host", h);
    }
    if let Some(l) = o.get("level") {
        let n = l
            .as_u64()
            .or_else(|| l.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n < 8)
            .ok_or_else(|| DecodeError::bad(format!("invalid GELF level {l}: want 0..7")))?;
        labels.set("level", SEVERITIES[n as usize]);
        severity = Some(OTEL_SEVERITY[n as usize]);
    }
    for lf in &opts.label_fields {
        if let Some(v) = o.get(&lf.field).and_then(crate::doc::scalar_text) {
            labels.set(lf.label.clone(), v);
        }
    }
    for (n, v) in extra_labels {
        labels.set(*n, *v);
    }
    let mut fields = Vec::new();
    for (k, v) in &o {
        if v.is_null() || opts.label_fields.iter().any(|lf| lf.field == *k) {
            continue;
        }
        match k.as_str() {
            "version" | "host" | "short_message" | "timestamp" | "level" | "_id" => {}
            "full_message" | "facility" | "line" | "file" => fields.push((k.clone(), value_text(v))),
            _ => {
                if let Some(name) = k.strip_prefix('_').filter(|n| !n.is_empty()) {
                    crate::doc::flatten_into(name, v, &mut fields);
                }
            }
        }
    }
    let mut rec = LogRecord {
        ts_ns,
        stream: labels.build(),
        message,
        fields,
        severity,
        ..Default::default()
    };
    for (k, v) in &rec.fields {
        match k.as_str() {
            "trace_id" | "traceId" => rec.trace_id = crate::hex_id::<16>(v),
            "span_id" | "spanId" => rec.span_id = crate::hex_id::<8>(v),
            _ => {}
        }
    }
    limits.check_record(&mut rec)?;
    Ok(rec)
}

/// Chunk-reassembly limits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssemblerOptions {
    /// Partial messages held at once.
    pub max_pending: usize,
    /// Bytes of chunk data held at once.
    pub max_pending_bytes: usize,
    /// A partial message older than this is dropped (nanoseconds).
    pub timeout_ns: i64,
}

impl Default for AssemblerOptions {
    fn default() -> Self {
        Self {
            max_pending: 1024,
            max_pending_bytes: 64 << 20,
            timeout_ns: 5_000_000_000,
        }
    }
}

#[derive(Debug)]
struct Pending {
    first_ns: i64,
    chunks: Vec<Option<Vec<u8>>>,
    received: usize,
    bytes: usize,
}

/// Reassembles chunked UDP GELF messages.
#[derive(Debug, Default)]
pub struct ChunkAssembler {
    opts: AssemblerOptions,
    pending: HashMap<[u8; 8], Pending>,
    bytes: usize,
    /// Partial messages dropped by timeout or eviction so far.
    pub dropped: u64,
}

const CHUNK_MAGIC: [u8; 2] = [0x1e, 0x0f];

impl ChunkAssembler {
    pub fn new(opts: AssemblerOptions) -> Self {
        Self {
            opts,
            ..Default::default()
        }
    }

    /// Partial messages held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes of chunk data held.
    pub fn pending_bytes(&self) -> usize {
        self.bytes
    }

    /// Feeds one datagram. Returns the complete (still compressed) payload
    /// when the datagram completes a message or is not chunked at all.
    pub fn push(&mut self, datagram: &[u8], now_ns: i64) -> Result<Option<Vec<u8>>, DecodeError> {
        self.expire(now_ns);
        if datagram.get(..2) != Some(&CHUNK_MAGIC[..]) {
            return Ok(Some(datagram.to_vec()));
        }
        if datagram.len() < 12 {
            return Err(DecodeError::bad("GELF chunk shorter than its 12-byte header"));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&datagram[2..10]);
        let (seq, count) = (datagram[10] as usize, datagram[11] as usize);
        if count == 0 || count > 128 || seq >= count {
            return Err(DecodeError::bad(format!("invalid GELF chunk {seq}/{count}")));
        }
        let data = &datagram[12..];
        if count == 1 {
            self.remove(&id);
            return Ok(Some(data.to_vec()));
        }
        if data.len() > self.opts.max_pending_bytes {
            return Err(DecodeError::limit("GELF chunk larger than max_pending_bytes"));
        }
        if !self.pending.contains_key(&id) {
            while self.pending.len() >= self.opts.max_pending.max(1) {
                self.evict_oldest();
            }
            self.pending.insert(
                id,
                Pending {
                    first_ns: now_ns,
                    chunks: vec![None; count],
                    received: 0,
                    bytes: 0,
                },
            );
        }
        while self.bytes + data.len() > self.opts.max_pending_bytes && self.pending.len() > 1 {
            if !self.evict_oldest_except(&id) {
                break;
            }
        }
        if self.bytes + data.len() > self.opts.max_pending_bytes {
            self.remove(&id);
            self.dropped += 1;
            return Err(DecodeError::limit("GELF chunk table is full (max_pending_bytes)"));
        }
        let Some(p) = self.pending.get_mut(&id) else {
            return Ok(None);
        };
        if p.chunks.len() != count {
            self.remove(&id);
            self.dropped += 1;
            return Err(DecodeError::bad(
                "GELF chunks of one message disagree on the count",
            ));
        }
        if p.chunks[seq].is_none() {
            p.chunks[seq] = Some(data.to_vec());
            p.received += 1;
            p.bytes += data.len();
            self.bytes += data.len();
        }
        if p.received < count {
            return Ok(None);
        }
        let Some(p) = self.pending.remove(&id) else {
            return Ok(None);
        };
        self.bytes -= p.bytes;
        let mut out = Vec::with_capacity(p.bytes);
        for c in p.chunks.into_iter().flatten() {
            out.extend_from_slice(&c);
        }
        Ok(Some(out))
    }

    /// Drops partial messages older than the timeout.
    pub fn expire(&mut self, now_ns: i64) {
        let timeout = self.opts.timeout_ns;
        let mut freed = 0;
        let before = self.pending.len();
        self.pending.retain(|_, p| {
            let keep = now_ns.saturating_sub(p.first_ns) < timeout;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.dropped += (before - self.pending.len()) as u64;
        self.bytes -= freed;
    }

    fn remove(&mut self, id: &[u8; 8]) {
        if let Some(p) = self.pending.remove(id) {
            self.bytes -= p.bytes;
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(id) = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.first_ns)
            .map(|(k, _)| *k)
        {
            self.remove(&id);
            self.dropped += 1;
        }
    }

    fn evict_oldest_except(&mut self, keep: &[u8; 8]) -> bool {
        let victim = self
            .pending
            .iter()
            .filter(|(k, _)| *k != keep)
            .min_by_key(|(_, p)| p.first_ns)
            .map(|(k, _)| *k);
        match victim {
            Some(id) => {
                self.remove(&id);
                self.dropped += 1;
                true
            }
            None => false,
        }
    }
}

/// One UDP datagram end to end: reassembly, decompression, mapping.
/// `Ok(None)` while a chunked message is incomplete.
pub fn decode_datagram(
    asm: &mut ChunkAssembler,
    datagram: &[u8],
    extra_labels: &[(&str, &str)],
    opts: &GelfOptions,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<Option<LogRecord>, DecodeError> {
    let Some(payload) = asm.push(datagram, now_ns)? else {
        return Ok(None);
    };
    let json = decompress(&payload, limits.max_decompressed_bytes)?;
    decode_message(&json, extra_labels, opts, limits, now_ns).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use sightline_model::Labels;
    use std::io::Write;

    const DOCKER: &str = r#"{"version":"1.1","host":"docker-host","short_message":"GET / 200","timestamp":1700000000.123,
        "level":6,"_command":"nginx -g daemon off;","_container_id":"abc123","_container_name":"web",
        "_created":"2024-01-01T00:00:00Z","_image_name":"nginx:1.25","_tag":"abc123","_id":"x",
        "full_message":"GET / 200\nmore","_nested":{"a":1}}"#;

    fn opts() -> (GelfOptions, IngestLimits) {
        (GelfOptions::default(), IngestLimits::default())
    }

    #[test]
    fn docker_gelf_driver_message() {
        let (o, l) = opts();
        let r = decode_message(DOCKER.as_bytes(), &[], &o, &l, 0).unwrap();
        assert_eq!(r.ts_ns, 1_700_000_000_123_000_000);
        assert_eq!(r.message, "GET / 200");
        assert_eq!(
            r.stream,
            Labels::from_pairs([("host", "docker-host"), ("level", "info"), ("container", "web")])
        );
        assert_eq!(r.severity, Some(9));
        let names: Vec<&str> = r.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "command",
                "container_id",
                "created",
                "image_name",
                "nested.a",
                "tag",
                "full_message"
            ]
        );
    }

    #[test]
    fn compression_variants() {
        let (o, l) = opts();
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(DOCKER.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let mut zl = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zl.write_all(DOCKER.as_bytes()).unwrap();
        let zl = zl.finish().unwrap();
        let mut asm = ChunkAssembler::new(AssemblerOptions::default());
        for p in [gz.clone(), zl, DOCKER.as_bytes().to_vec()] {
            let r = decode_datagram(&mut asm, &p, &[], &o, &l, 0).unwrap().unwrap();
            assert_eq!(r.message, "GET / 200");
        }
        assert!(matches!(decompress(&gz, 10), Err(DecodeError::Limit(_))));
        assert!(decompress(&[0x1f, 0x8b, 0, 0], 100).is_err());
    }

    fn chunks(id: u8, payload: &[u8], n: usize) -> Vec<Vec<u8>> {
        let size = payload.len().div_ceil(n);
        payload
            .chunks(size)
            .enumerate()
            .map(|(i, c)| {
                let mut d = vec![0x1e, 0x0f, id, 0, 0, 0, 0, 0, 0, 9, i as u8, n as u8];
                d.extend_from_slice(c);
                d
            })
            .collect()
    }

    #[test]
    fn chunked_out_of_order_duplicates_and_timeout() {
        let (o, l) = opts();
        let mut asm = ChunkAssembler::new(AssemblerOptions::default());
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(DOCKER.as_bytes()).unwrap();
        let c = chunks(1, &gz.finish().unwrap(), 3);
        assert_eq!(decode_datagram(&mut asm, &c[2], &[], &o, &l, 0).unwrap(), None);
        assert_eq!(decode_datagram(&mut asm, &c[0], &[], &o, &l, 1).unwrap(), None);
        assert_eq!(decode_datagram(&mut asm, &c[0], &[], &o, &l, 2).unwrap(), None);
        assert_eq!(asm.pending(), 1);
        let r = decode_datagram(&mut asm, &c[1], &[], &o, &l, 3).unwrap().unwrap();
        assert_eq!(r.message, "GET / 200");
        assert_eq!((asm.pending(), asm.pending_bytes()), (0, 0));

        let c = chunks(2, DOCKER.as_bytes(), 2);
        assert_eq!(asm.push(&c[0], 0).unwrap(), None);
        assert_eq!(asm.push(&c[1], 6_000_000_000).unwrap(), None);
        assert_eq!(asm.dropped, 1);
        assert_eq!(asm.pending(), 1);
        asm.expire(20_000_000_000);
        assert_eq!((asm.pending(), asm.pending_bytes()), (0, 0));
    }

    #[test]
    fn chunk_table_is_bounded() {
        let mut asm = ChunkAssembler::new(AssemblerOptions {
            max_pending: 4,
            max_pending_bytes: 100,
            timeout_ns: i64::MAX,
        });
        for id in 0..50u8 {
            let c = chunks(id, &[b'x'; 60], 3);
            let _ = asm.push(&c[0], id as i64);
            assert!(asm.pending() <= 4);
            assert!(asm.pending_bytes() <= 100);
        }
        assert!(asm.dropped > 0);
        for bad in [
            &[0x1e, 0x0f, 1][..],
            &[0x1e, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 5, 3],
            &[0x1e, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 129],
        ] {
            assert!(asm.push(bad, 0).is_err());
        }
    }

    #[test]
    fn message_errors() {
        let (o, l) = opts();
        for bad in [
            r#"{"host":"h"}"#,
            r#"{"short_message":""}"#,
            r#"{"short_message":"x","version":"2.0"}"#,
            r#"{"short_message":"x","level":9}"#,
            r#"{"short_message":"x","timestamp":"soon"}"#,
            "[]",
        ] {
            assert!(decode_message(bad.as_bytes(), &[], &o, &l, 0).is_err(), "{bad}");
        }
        let r = decode_message(
            br#"{"short_message":"x","level":"3","timestamp":"1700000000"}"#,
            &[("src", "gelf")],
            &o,
            &l,
            0,
        )
        .unwrap();
        assert_eq!(r.stream.get("level"), Some("err"));
        assert_eq!(r.stream.get("src"), Some("gelf"));
    }

    #[test]
    fn garbage_never_panics() {
        let (o, l) = opts();
        let mut asm = ChunkAssembler::new(AssemblerOptions {
            max_pending: 8,
            max_pending_bytes: 512,
            timeout_ns: 100,
        });
        let mut x: u64 = 0x0bad_cafe_dead_f00d;
        for t in 0..30_000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut d: Vec<u8> = (0..(x % 40)).map(|i| (x >> (i % 56)) as u8).collect();
            if x % 3 == 1 && d.len() >= 12 {
                d[0] = 0x1e;
                d[1] = 0x0f;
                d[2..10].fill((x % 16) as u8);
                d[10] = (x >> 8) as u8 % 4;
                d[11] = (x >> 16) as u8 % 5;
            }
            let _ = decode_datagram(&mut asm, &d, &[], &o, &l, t);
            assert!(asm.pending() <= 8 && asm.pending_bytes() <= 512);
        }
    }
}
