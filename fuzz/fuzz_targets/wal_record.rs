//! TSDB WAL record decoding: a crash can leave anything on disk, so no
//! record payload may panic the decoder, and whatever decodes re-encodes to
//! a payload that decodes to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline_tsdb::wal::record::{decode, encode_metadata, encode_samples, encode_series};
use sightline_tsdb::wal::Record;

fuzz_target!(|data: &[u8]| {
    let Some((&rtype, payload)) = data.split_first() else {
        return;
    };
    let Ok(Some(rec)) = decode(rtype % 4, payload) else {
        return;
    };
    let mut buf = Vec::new();
    let again = match &rec {
        Record::Series(s) => {
            encode_series(s, &mut buf);
            decode(rtype % 4, &buf)
        }
        Record::Samples(s) => {
            encode_samples(s, &mut buf);
            decode(rtype % 4, &buf)
        }
        Record::Metadata(m) => {
            encode_metadata(m, &mut buf);
            decode(rtype % 4, &buf)
        }
    };
    let again = again.expect("re-encoded record decodes").expect("known type");
    assert_eq!(format!("{rec:?}"), format!("{again:?}"));
});
