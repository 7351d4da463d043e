//! Remote write decoder: no panic on any body, either as a raw (snappy)
//! body or as arbitrary protobuf bytes compressed here first; a decoded
//! request's counts agree with its series, and re-encoding a decoded
//! request and decoding it again yields the same samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline_metrics_protocols::remote_write::{encode, Decoder};
use sightline_model::{Labels, Limits, Sample};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let limits = Limits { max_decompressed_bytes: 1 << 20, ..Limits::default() };
    let body = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        match snap::raw::Encoder::new().compress_vec(rest) {
            Ok(b) => b,
            Err(_) => return,
        }
    };
    let mut decoder = Decoder::new();
    let decoded: Vec<(Labels, Vec<Sample>)> = match decoder.decode(&body, &limits) {
        Ok(view) => {
            let total: usize = view.series().map(|s| s.samples.len()).sum();
            assert_eq!(total, view.sample_count());
            assert_eq!(view.series().count(), view.series_count());
            view.series().map(|s| (Labels::from_refs(s.labels), s.samples.to_vec())).collect()
        }
        Err(e) => {
            let _ = e.kind();
            let _ = e.to_string();
            return;
        }
    };
    // Round trip through the test encoder (labels normalised by `Labels`).
    let again = encode(&decoded, &[]);
    let view = decoder.decode(&again, &Limits::default()).expect("re-encoded request decodes");
    assert_eq!(view.series_count(), decoded.len());
    for ((labels, samples), s) in decoded.iter().zip(view.series()) {
        assert_eq!(&Labels::from_refs(s.labels), labels);
        assert_eq!(s.samples.len(), samples.len());
        for (a, b) in s.samples.iter().zip(samples) {
            assert_eq!(a.t, b.t);
            assert_eq!(a.v.to_bits(), b.v.to_bits());
        }
    }
});
