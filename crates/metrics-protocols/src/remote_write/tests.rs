//! Checks the hand-written decoder against `prost` (an independent protobuf
//! implementation) and against hand-built malformed wire data.

use super::*;
use prost::Message;

// The prompb messages, declared independently of the decoder under test.
#[derive(Clone, PartialEq, prost::Message)]
struct PbWriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<PbTimeSeries>,
    #[prost(message, repeated, tag = "3")]
    metadata: Vec<PbMetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbTimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<PbLabel>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<PbSample>,
    #[prost(message, repeated, tag = "3")]
    exemplars: Vec<PbExemplar>,
    #[prost(message, repeated, tag = "4")]
    histograms: Vec<PbHistogram>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbLabel {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbSample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbExemplar {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<PbLabel>,
    #[prost(double, tag = "2")]
    value: f64,
    #[prost(int64, tag = "3")]
    timestamp: i64,
}

/// A subset of prompb.Histogram: enough to put real histogram bytes on the wire.
#[derive(Clone, PartialEq, prost::Message)]
struct PbHistogram {
    #[prost(uint64, tag = "1")]
    count_int: u64,
    #[prost(double, tag = "3")]
    sum: f64,
    #[prost(sint32, tag = "4")]
    schema: i32,
    #[prost(sint64, repeated, tag = "9")]
    positive_deltas: Vec<i64>,
    #[prost(int64, tag = "15")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbMetricMetadata {
    #[prost(int32, tag = "1")]
    r#type: i32,
    #[prost(string, tag = "2")]
    metric_family_name: String,
    #[prost(string, tag = "4")]
    help: String,
    #[prost(string, tag = "5")]
    unit: String,
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

fn pb_label(n: &str, v: &str) -> PbLabel {
    PbLabel {
        name: n.into(),
        value: v.into(),
    }
}

/// One series in owned form: labels, (timestamp, value bits), exemplars, histograms.
type OwnedSeries = (Vec<(String, String)>, Vec<(i64, u64)>, usize, usize);

/// What a decoded request holds, in owned form, for comparisons.
#[derive(Debug, PartialEq)]
struct Owned {
    series: Vec<OwnedSeries>,
    metadata: Vec<(MetricType, String, String, String)>,
}

fn owned(view: &WriteRequestView<'_>) -> Owned {
    Owned {
        series: view
            .series()
            .map(|s| {
                (
                    s.labels
                        .iter()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect(),
                    s.samples.iter().map(|x| (x.t, x.v.to_bits())).collect(),
                    s.exemplars,
                    s.histograms,
                )
            })
            .collect(),
        metadata: view
            .metadata()
            .iter()
            .map(|m| {
                (
                    m.metric_type,
                    m.metric_family_name.into(),
                    m.help.into(),
                    m.unit.into(),
                )
            })
            .collect(),
    }
}

fn expected(req: &PbWriteRequest) -> Owned {
    Owned {
        series: req
            .timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    ts.samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect(),
                    ts.exemplars.len(),
                    ts.histograms.len(),
                )
            })
            .collect(),
        metadata: req
            .metadata
            .iter()
            .map(|m| {
                (
                    metric_type_from_proto(m.r#type as u64),
                    m.metric_family_name.clone(),
                    m.help.clone(),
                    m.unit.clone(),
                )
            })
            .collect(),
    }
}

fn decode_raw(raw: &[u8]) -> Result<Owned, DecodeError> {
    let mut d = Decoder::new();
    let view = d.decode(&snappy(raw), &Limits::default())?;
    Ok(owned(&view))
}

/// xorshift64*: a tiny deterministic PRNG so the round trips need no crates or data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        const ALPHABET: &[&str] = &[
            "a", "z", "_", "0", "9", ":", " ", "\"", "\\", "\n", "é", "ü", "日", "🦀", "\0",
        ];
        (0..self.below(12))
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }
    fn f64(&mut self) -> f64 {
        match self.below(6) {
            0 => f64::from_bits(self.next()), // any bit pattern, NaNs included
            1 => sightline_model::stale_nan(),
            2 => 0.0,
            3 => -0.0,
            _ => (self.next() as i64) as f64 / 1e3,
        }
    }
    fn i64(&mut self) -> i64 {
        match self.below(3) {
            0 => self.next() as i64,
            1 => -(self.below(1000) as i64),
            _ => 1_700_000_000_000 + self.below(1 << 30) as i64,
        }
    }
}

fn random_request(rng: &mut Rng) -> PbWriteRequest {
    let timeseries = (0..rng.below(8))
        .map(|_| PbTimeSeries {
            labels: (0..rng.below(6))
                .map(|_| PbLabel {
                    name: rng.string(),
                    value: rng.string(),
                })
                .collect(),
            samples: (0..rng.below(5))
                .map(|_| PbSample {
                    value: rng.f64(),
                    timestamp: rng.i64(),
                })
                .collect(),
            exemplars: (0..rng.below(2))
                .map(|_| PbExemplar {
                    labels: vec![pb_label("trace_id", "abc")],
                    value: 1.0,
                    timestamp: rng.i64(),
                })
                .collect(),
            histograms: (0..rng.below(2))
                .map(|_| PbHistogram {
                    count_int: rng.below(100),
                    sum: rng.f64(),
                    schema: 3,
                    positive_deltas: vec![1, -2, 3],
                    timestamp: rng.i64(),
                })
                .collect(),
        })
        .collect();
    let metadata = (0..rng.below(3))
        .map(|_| PbMetricMetadata {
            r#type: rng.below(9) as i32,
            metric_family_name: rng.string(),
            help: rng.string(),
            unit: rng.string(),
        })
        .collect();
    PbWriteRequest { timeseries, metadata }
}

#[test]
fn random_requests_decode_like_prost() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut d = Decoder::new();
    for _ in 0..2000 {
        let req = random_request(&mut rng);
        let raw = req.encode_to_vec();
        let view = d.decode(&snappy(&raw), &Limits::default()).unwrap();
        // Compare with what prost reads from the same bytes (prost omits -0.0
        // as a proto3 default, so the original request is not the reference).
        let want = expected(&PbWriteRequest::decode(raw.as_slice()).unwrap());
        assert_eq!(owned(&view), want);
        assert_eq!(view.series_count(), req.timeseries.len());
        assert_eq!(
            view.sample_count(),
            want.series.iter().map(|s| s.1.len()).sum::<usize>()
        );
        assert_eq!(
            view.histogram_count(),
            want.series.iter().map(|s| s.3).sum::<usize>()
        );
        assert_eq!(
            view.exemplar_count(),
            want.series.iter().map(|s| s.2).sum::<usize>()
        );
    }
}

#[test]
fn encode_is_read_by_prost() {
    let series = vec![
        (
            Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total"),
                ("cpu", "0"),
                ("mode", "idle"),
            ]),
            vec![
                Sample {
                    t: 1_700_000_000_000,
                    v: 12.5,
                },
                Sample {
                    t: -5,
                    v: sightline_model::stale_nan(),
                },
            ],
        ),
        (Labels::from_pairs([("__name__", "up")]), vec![]),
    ];
    let meta = vec![(
        "node_cpu_seconds_total".to_string(),
        MetricMetadata {
            metric_type: MetricType::Counter,
            help: "CPU time".into(),
            unit: "seconds".into(),
        },
    )];
    let body = encode(&series, &meta);
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    let req = PbWriteRequest::decode(raw.as_slice()).unwrap();
    assert_eq!(req.timeseries.len(), 2);
    assert_eq!(
        req.timeseries[0].labels[0],
        pb_label("__name__", "node_cpu_seconds_total")
    );
    assert_eq!(req.timeseries[0].labels[2], pb_label("mode", "idle"));
    assert_eq!(
        req.timeseries[0].samples[0],
        PbSample {
            value: 12.5,
            timestamp: 1_700_000_000_000
        }
    );
    assert_eq!(req.timeseries[0].samples[1].timestamp, -5);
    assert!(sightline_model::is_stale_nan(req.timeseries[0].samples[1].value));
    assert_eq!(req.metadata[0].r#type, 1);
    assert_eq!(req.metadata[0].metric_family_name, "node_cpu_seconds_total");
    assert_eq!(
        (req.metadata[0].help.as_str(), req.metadata[0].unit.as_str()),
        ("CPU time", "seconds")
    );

    // And our own decoder reads it back, metadata converting to the model form.
    let mut d = Decoder::new();
    let view = d.decode(&body, &Limits::default()).unwrap();
    let got: Vec<_> = view
        .series()
        .map(|s| (Labels::from_refs(s.labels), s.samples.to_vec()))
        .collect();
    assert_eq!(got[0].0, series[0].0);
    assert_eq!(got[0].1[0], series[0].1[0]);
    assert!(sightline_model::is_stale_nan(got[0].1[1].v));
    assert_eq!(got[1], series[1]);
    assert_eq!(view.metadata()[0].to_metadata(), meta[0].1);
}

#[test]
fn metadata_types_map_to_model() {
    for (n, t) in [
        (0, MetricType::Unknown),
        (1, MetricType::Counter),
        (2, MetricType::Gauge),
        (3, MetricType::Histogram),
        (4, MetricType::GaugeHistogram),
        (5, MetricType::Summary),
        (6, MetricType::Info),
        (7, MetricType::Stateset),
        (42, MetricType::Unknown),
    ] {
        let req = PbWriteRequest {
            timeseries: vec![],
            metadata: vec![PbMetricMetadata {
                r#type: n,
                metric_family_name: "m".into(),
                ..Default::default()
            }],
        };
        assert_eq!(
            decode_raw(&req.encode_to_vec()).unwrap().metadata[0].0,
            t,
            "type {n}"
        );
        if n < 8 {
            assert_eq!(metric_type_to_proto(t), n as u64);
        }
    }
}

#[test]
fn histograms_and_exemplars_are_counted_not_dropped() {
    let req = PbWriteRequest {
        timeseries: vec![PbTimeSeries {
            labels: vec![pb_label("__name__", "rpc_latency")],
            samples: vec![],
            exemplars: vec![PbExemplar::default()],
            histograms: vec![
                PbHistogram::default(),
                PbHistogram {
                    count_int: 5,
                    ..Default::default()
                },
            ],
        }],
        metadata: vec![],
    };
    let mut d = Decoder::new();
    let view = d
        .decode(&snappy(&req.encode_to_vec()), &Limits::default())
        .unwrap();
    assert_eq!(
        (view.histogram_count(), view.exemplar_count(), view.sample_count()),
        (2, 1, 0)
    );
    let s = view.series().next().unwrap();
    assert_eq!((s.histograms, s.exemplars), (2, 1));
}

/// Raw wire helpers for hand-built (often broken) messages.
fn key(field: u32, wt: u8) -> Vec<u8> {
    let mut v = Vec::new();
    put_key(&mut v, field, wt);
    v
}

fn len_field(field: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    put_bytes(&mut v, field, body);
    v
}

fn series_with_label(label: &[u8]) -> Vec<u8> {
    len_field(1, &len_field(1, label))
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    // A label with extra unknown fields: varint, fixed64, bytes, fixed32 and a
    // group holding a nested group.
    let mut label = len_field(1, b"job");
    label.extend(key(7, WT_VARINT));
    label.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    label.extend(key(8, WT_I64));
    label.extend([1; 8]);
    label.extend(len_field(9, b"ignored"));
    label.extend(key(10, WT_I32));
    label.extend([2; 4]);
    label.extend(key(11, WT_SGROUP));
    label.extend(key(12, WT_SGROUP));
    label.extend(key(1, WT_VARINT));
    label.push(5);
    label.extend(key(12, WT_EGROUP));
    label.extend(key(11, WT_EGROUP));
    label.extend(len_field(2, b"api"));
    let mut req = series_with_label(&label);
    // Unknown fields at the top level too (field 2 is reserved in WriteRequest).
    req.extend(len_field(2, b"\x01\x02"));
    req.extend(key(99, WT_I32));
    req.extend([0; 4]);
    let got = decode_raw(&req).unwrap();
    assert_eq!(got.series[0].0, vec![("job".to_string(), "api".to_string())]);
    // Prost agrees that this is a valid message with the same content.
    let pb = PbWriteRequest::decode(req.as_slice()).unwrap();
    assert_eq!(expected(&pb), got);
}

#[test]
fn repeated_scalar_fields_keep_the_last_value() {
    let mut sample = key(1, WT_I64);
    sample.extend(1.0f64.to_le_bytes());
    sample.extend(key(2, WT_VARINT));
    sample.push(5);
    sample.extend(key(1, WT_I64));
    sample.extend(2.5f64.to_le_bytes());
    let req = len_field(1, &len_field(2, &sample));
    let got = decode_raw(&req).unwrap();
    assert_eq!(got.series[0].1, vec![(5, 2.5f64.to_bits())]);
    assert_eq!(expected(&PbWriteRequest::decode(req.as_slice()).unwrap()), got);
}

#[test]
fn empty_request_and_empty_messages() {
    assert_eq!(
        decode_raw(&[]).unwrap(),
        Owned {
            series: vec![],
            metadata: vec![]
        }
    );
    // A series with no fields, a sample with no fields (t=0, v=0).
    let mut req = len_field(1, &[]);
    req.extend(len_field(1, &len_field(2, &[])));
    let got = decode_raw(&req).unwrap();
    assert_eq!(
        got.series,
        vec![(vec![], vec![], 0, 0), (vec![], vec![(0, 0)], 0, 0)]
    );
}

fn protobuf_error(raw: &[u8]) -> (String, WireProblem, usize) {
    match decode_raw(raw) {
        Err(DecodeError::Protobuf {
            message,
            offset,
            problem,
        }) => (message.to_string(), problem, offset),
        other => panic!("expected a protobuf error, got {other:?}"),
    }
}

#[test]
fn malformed_wire_data_is_named() {
    // Truncated varint key at the top level.
    assert_eq!(
        protobuf_error(&[0x8a]),
        ("WriteRequest".into(), WireProblem::TruncatedVarint, 0)
    );
    // Length prefix runs past the end.
    assert_eq!(
        protobuf_error(&[0x0a, 0x05, 0x00]),
        (
            "WriteRequest".into(),
            WireProblem::Truncated {
                needed: 5,
                available: 1
            },
            2
        )
    );
    // Varint longer than 10 bytes.
    let mut over = key(5, WT_VARINT);
    over.extend([0xff; 10]);
    over.push(0x01);
    assert_eq!(protobuf_error(&over).1, WireProblem::VarintOverflow);
    // Field number 0.
    assert_eq!(protobuf_error(&[0x00, 0x00]).1, WireProblem::FieldNumberZero);
    // Wire types 6 and 7 do not exist.
    assert_eq!(protobuf_error(&key(5, 6)).1, WireProblem::InvalidWireType(6));
    assert_eq!(protobuf_error(&key(5, 7)).1, WireProblem::InvalidWireType(7));
    // Known field with the wrong wire type: timeseries as a varint.
    assert_eq!(
        protobuf_error(&[0x08, 0x01]),
        (
            "WriteRequest".into(),
            WireProblem::UnexpectedWireType {
                field: 1,
                got: 0,
                expected: 2
            },
            0
        )
    );
    // Sample timestamp sent as fixed64, inside a series.
    let mut sample = key(2, WT_I64);
    sample.extend([0; 8]);
    let (msg, problem, offset) = protobuf_error(&len_field(1, &len_field(2, &sample)));
    assert_eq!(
        (msg.as_str(), problem),
        (
            "Sample",
            WireProblem::UnexpectedWireType {
                field: 2,
                got: 1,
                expected: 0
            }
        )
    );
    assert_eq!(offset, 4);
    // Truncated fixed64 sample value.
    let mut short = key(1, WT_I64);
    short.extend([0; 3]);
    assert_eq!(
        protobuf_error(&len_field(1, &len_field(2, &short))).1,
        WireProblem::Truncated {
            needed: 8,
            available: 3
        }
    );
    // Groups: stray end, unterminated start, mismatched end, nesting bomb.
    assert_eq!(
        protobuf_error(&key(5, WT_EGROUP)).1,
        WireProblem::UnmatchedEndGroup
    );
    assert_eq!(
        protobuf_error(&key(5, WT_SGROUP)).1,
        WireProblem::UnterminatedGroup(5)
    );
    let mut mismatched = key(5, WT_SGROUP);
    mismatched.extend(key(6, WT_EGROUP));
    assert_eq!(protobuf_error(&mismatched).1, WireProblem::UnmatchedEndGroup);
    let bomb: Vec<u8> = (0..10_000).flat_map(|_| key(5, WT_SGROUP)).collect();
    assert_eq!(protobuf_error(&bomb).1, WireProblem::GroupsTooDeep);
    // Field number above 2^29 - 1.
    let mut big = Vec::new();
    put_varint(&mut big, (1u64 << 32) << 3);
    assert!(matches!(
        protobuf_error(&big).1,
        WireProblem::FieldNumberOutOfRange(_)
    ));
}

#[test]
fn error_messages_name_the_problem() {
    let err = decode_raw(&[0x0a, 0x05, 0x00]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "protobuf: field of 5 bytes runs past the end of its message (1 left) at byte 2 of the decompressed \
         body (in WriteRequest)"
    );
    assert_eq!(err.kind(), StorageErrorKind::BadInput);
}

#[test]
fn invalid_utf8_names_the_label() {
    let mut label = len_field(1, b"jo\xffb");
    label.extend(len_field(2, b"x"));
    let err = decode_raw(&series_with_label(&label)).unwrap_err();
    assert_eq!(err.to_string(), "invalid UTF-8 in label name \"jo\u{fffd}b\"");
    // The value's error names its label even when the value comes first on the wire.
    let mut label = len_field(2, b"\xc3\x28");
    label.extend(len_field(1, b"job"));
    let err = decode_raw(&series_with_label(&label)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid UTF-8 in value of label \"job\" \"\u{fffd}(\""
    );
    // Metadata strings too.
    let mut meta = len_field(2, b"up");
    meta.extend(len_field(4, b"\xff"));
    let err = decode_raw(&len_field(3, &meta)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid UTF-8 in help of metric family \"up\" \"\u{fffd}\""
    );
}

#[test]
fn snappy_errors_and_limits() {
    let mut d = Decoder::new();
    let limits = Limits::default();
    // Not snappy at all (and the framed format is not accepted either).
    let err = d.decode(b"\xff\xff\xff\xff\xff\xff", &limits).unwrap_err();
    assert!(matches!(err, DecodeError::Snappy(_)), "{err:?}");
    assert!(err.to_string().starts_with("snappy: "));
    let err = d.decode(&[], &limits).unwrap_err();
    assert!(matches!(err, DecodeError::Snappy(_)), "{err:?}");
    let mut framed = Vec::new();
    {
        use std::io::Write;
        let mut w = snap::write::FrameEncoder::new(&mut framed);
        w.write_all(&len_field(1, &[])).unwrap();
    }
    assert!(matches!(d.decode(&framed, &limits), Err(DecodeError::Snappy(_))));
    // Corrupt data after a valid header.
    let mut body = snappy(&[7u8; 100]);
    body.truncate(body.len() - 1);
    assert!(matches!(d.decode(&body, &limits), Err(DecodeError::Snappy(_))));

    // The declared size is refused before any allocation: a header claiming
    // ~4 GiB with no data behind it.
    let mut huge = Vec::new();
    put_varint(&mut huge, u64::from(u32::MAX));
    let small = Limits {
        max_decompressed_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut d = Decoder::new();
    let err = d.decode(&huge, &small).unwrap_err();
    assert_eq!(
        err,
        DecodeError::DecompressedTooLarge {
            declared: u32::MAX as usize,
            limit: 1 << 20
        }
    );
    assert_eq!(err.kind(), StorageErrorKind::Limit);
    assert_eq!(d.buf.capacity(), 0);

    // Series limit.
    let three: Vec<u8> = (0..3).flat_map(|_| len_field(1, &[])).collect();
    let two = Limits {
        max_series_per_request: 2,
        ..Limits::default()
    };
    let err = d.decode(&snappy(&three), &two).unwrap_err();
    assert_eq!(err, DecodeError::TooManySeries { limit: 2 });
    assert_eq!(err.kind(), StorageErrorKind::Limit);
    // The decoder is still usable after errors.
    assert_eq!(d.decode(&snappy(&three), &limits).unwrap().series_count(), 3);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(42);
    let mut d = Decoder::new();
    let valid = random_request(&mut Rng(7)).encode_to_vec();
    for i in 0..5000 {
        let raw: Vec<u8> = if i % 2 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            // Flip bytes in a valid message so the damage is deep inside.
            let mut v = valid.clone();
            for _ in 0..1 + rng.below(3) {
                if !v.is_empty() {
                    let at = rng.below(v.len() as u64) as usize;
                    v[at] = rng.next() as u8;
                }
            }
            v
        };
        let _ = d
            .decode(&snappy(&raw), &Limits::default())
            .map(|v| v.sample_count());
        let _ = d.decode(&raw, &Limits::default()).map(|v| v.sample_count());
    }
}

#[test]
fn decoder_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Decoder>();
}

#[test]
fn reuse_vec_keeps_the_allocation() {
    let mut v: Vec<LabelRef<'static>> = Vec::with_capacity(100);
    v.push(LabelRef::new("a", "b"));
    let ptr = v.as_ptr() as usize;
    let s = String::from("x");
    let mut w: Vec<LabelRef<'_>> = reuse_vec(v);
    assert!(w.is_empty() && w.capacity() >= 100 && w.as_ptr() as usize == ptr);
    w.push(LabelRef::new(&s, &s));
    let back: Vec<LabelRef<'static>> = reuse_vec(w);
    assert!(back.is_empty() && back.as_ptr() as usize == ptr);
}

#[test]
fn shrink_releases_large_buffers() {
    let mut d = Decoder::new();
    let series: Vec<_> = (0..100)
        .map(|i| {
            (
                Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]),
                vec![Sample { t: i, v: 1.0 }],
            )
        })
        .collect();
    d.decode(&encode(&series, &[]), &Limits::default()).unwrap();
    assert!(d.buf.capacity() > 1000);
    d.shrink_to(1 << 20);
    assert!(d.buf.capacity() > 1000);
    d.shrink_to(100);
    assert_eq!(
        (d.buf.capacity(), d.labels.capacity(), d.samples.capacity()),
        (0, 0, 0)
    );
    assert_eq!(
        d.decode(&encode(&series, &[]), &Limits::default())
            .unwrap()
            .series_count(),
        100
    );
}

mod alloc_count {
    //! Counts heap allocations made by the current thread, so the
    //! steady-state test is not disturbed by tests running in parallel.
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: forwards every call to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    pub fn allocations() -> u64 {
        COUNT.with(|c| c.get())
    }
}

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

#[test]
fn steady_state_decoding_allocates_nothing() {
    let series: Vec<_> = (0..500)
        .map(|i| {
            (
                Labels::from_pairs([
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", &(i % 16).to_string()),
                    ("instance", &format!("host-{i}:9100")),
                    ("job", "node"),
                    ("mode", "idle"),
                ]),
                vec![
                    Sample {
                        t: 1_700_000_000_000 + i,
                        v: i as f64
                    };
                    2
                ],
            )
        })
        .collect();
    let meta = vec![("node_cpu_seconds_total".to_string(), MetricMetadata::default())];
    let big = encode(&series, &meta);
    let small = encode(&series[..10], &meta);
    let limits = Limits::default();
    let mut d = Decoder::new();
    // The counter sees the allocations a cold decoder makes...
    let before = alloc_count::allocations();
    assert_eq!(d.decode(&small, &limits).unwrap().sample_count(), 20);
    assert!(alloc_count::allocations() - before >= 3);
    // ...then, warmed up with the largest request, no more.
    assert_eq!(d.decode(&big, &limits).unwrap().sample_count(), 1000);
    let before = alloc_count::allocations();
    let mut samples = 0;
    for _ in 0..10 {
        for body in [&small, &big] {
            let view = d.decode(body, &limits).unwrap();
            samples += view
                .series()
                .map(|s| s.samples.len() + s.labels.len())
                .sum::<usize>();
            samples += view.metadata().len();
        }
    }
    assert_eq!(alloc_count::allocations() - before, 0);
    assert_eq!(samples, 10 * (10 * 7 + 1 + 500 * 7 + 1));
}
