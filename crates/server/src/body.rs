//! Reading request bodies within limits: the size as sent (413 beyond it),
//! then decompression by `Content-Encoding`, bounded again.

use crate::error::IngestError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use std::io::Read;

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, IngestError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // to_bytes reports both "too long" and transport errors; tell them apart.
        let mut src: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = src {
            if s.to_string().contains("length limit exceeded") {
                return IngestError::too_large(limit);
            }
            src = s.source();
        }
        IngestError::bad_request(format!("reading request body: {e}"))
    })
}

/// The `Content-Encoding` values ingest endpoints understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Deflate,
    Snappy,
}

pub fn content_encoding(headers: &HeaderMap) -> Result<Encoding, IngestError> {
    let v = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        "deflate" => Ok(Encoding::Deflate),
        "snappy" => Ok(Encoding::Snappy),
        other => Err(IngestError::unsupported_media(format!(
            "unsupported Content-Encoding {other:?}"
        ))),
    }
}

/// Undoes gzip/deflate (snappy is left to the protocol that mandates it),
/// refusing output larger than `limit`.
pub fn decompress(body: Bytes, enc: Encoding, limit: usize) -> Result<Bytes, IngestError> {
    let mut out = Vec::new();
    let res = match enc {
        Encoding::Identity | Encoding::Snappy => return Ok(body),
        Encoding::Gzip => flate2::read::MultiGzDecoder::new(&body[..])
            .take(limit as u64 + 1)
            .read_to_end(&mut out),
        Encoding::Deflate => flate2::read::ZlibDecoder::new(&body[..])
            .take(limit as u64 + 1)
            .read_to_end(&mut out),
    };
    res.map_err(|e| IngestError::bad_request(format!("decompressing {enc:?} body: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed body is larger than the limit of {limit} bytes"),
        ));
    }
    Ok(Bytes::from(out))
}

/// Undoes a snappy block-format body, bounded by `limit`.
pub fn snappy_decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let len =
        snap::raw::decompress_len(body).map_err(|e| IngestError::bad_request(format!("snappy: {e}")))?;
    if len > limit {
        return Err(IngestError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed body would be {len} bytes, more than the limit of {limit}"),
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| IngestError::bad_request(format!("snappy: {e}")))
}

/// The media type of the request, lowercased, parameters dropped.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_round_trip_and_limit() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&[b'a'; 1000]).unwrap();
        let gz = Bytes::from(e.finish().unwrap());
        assert_eq!(decompress(gz.clone(), Encoding::Gzip, 1000).unwrap().len(), 1000);
        assert_eq!(decompress(gz, Encoding::Gzip, 999).unwrap_err().status, 413);
        assert_eq!(
            decompress(Bytes::from_static(b"nope"), Encoding::Gzip, 10)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn snappy_checks_declared_length() {
        let c = snap::raw::Encoder::new().compress_vec(&[7u8; 500]).unwrap();
        assert_eq!(snappy_decompress(&c, 500).unwrap().len(), 500);
        assert_eq!(snappy_decompress(&c, 499).unwrap_err().status, 413);
        assert_eq!(
            snappy_decompress(b"\xff\xff\xff\xff\x0f", 10).unwrap_err().status,
            413
        );
    }
}
