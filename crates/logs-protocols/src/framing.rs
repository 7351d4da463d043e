//! Stateful stream framers for TCP listeners: feed byte chunks as they
//! arrive, pull complete frames. Memory is bounded by `max_frame` (plus one
//! chunk): an over-long frame is reported once and skipped up to its end.
//!
//! - [`DelimitedFramer`]: frames end at a delimiter byte (`\n` for syslog
//!   non-transparent framing and JSON lines, `\0` for GELF TCP);
//! - [`SyslogFramer`]: RFC 6587 — each frame is either octet-counted
//!   (`<len> <msg>`, detected by a leading digit) or newline-terminated.

use crate::DecodeError;

/// Splits a byte stream on a delimiter.
#[derive(Debug)]
pub struct DelimitedFramer {
    delim: u8,
    max_frame: usize,
    buf: Vec<u8>,
    /// Scan position: bytes before it hold no delimiter.
    scanned: usize,
    /// Discarding the rest of an over-long frame.
    skipping: bool,
}

impl DelimitedFramer {
    pub fn new(delim: u8, max_frame: usize) -> Self {
        Self {
            delim,
            max_frame: max_frame.max(1),
            buf: Vec::new(),
            scanned: 0,
            skipping: false,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame (without the delimiter; a `\r` before a `\n`
    /// delimiter is removed too). Empty frames are skipped. `Err` reports a
    /// frame longer than `max_frame` (dropped).
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, DecodeError>> {
        loop {
            let pos = memchr_from(&self.buf, self.delim, self.scanned);
            match pos {
                Some(p) => {
                    let mut frame: Vec<u8> = self.buf.drain(..=p).collect();
                    frame.pop();
                    self.scanned = 0;
                    if self.skipping {
                        self.skipping = false;
                        continue;
                    }
                    if self.delim == b'\n' && frame.last() == Some(&b'\r') {
                        frame.pop();
                    }
                    if frame.is_empty() {
                        continue;
                    }
                    if frame.len() > self.max_frame {
                        return Some(Err(too_long(frame.len(), self.max_frame)));
                    }
                    return Some(Ok(frame));
                }
                None => {
                    self.scanned = self.buf.len();
                    if self.buf.len() > self.max_frame {
                        let n = self.buf.len();
                        self.buf.clear();
                        self.scanned = 0;
                        if !self.skipping {
                            self.skipping = true;
                            return Some(Err(too_long(n, self.max_frame)));
                        }
                    }
                    return None;
                }
            }
        }
    }

    /// At end of stream: the unterminated last frame, if any.
    pub fn finish(&mut self) -> Option<Result<Vec<u8>, DecodeError>> {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        let skipping = std::mem::replace(&mut self.skipping, false);
        if skipping || rest.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(Ok(rest))
    }

    /// Bytes buffered (for a listener's memory accounting).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

fn memchr_from(b: &[u8], c: u8, from: usize) -> Option<usize> {
    b.get(from..)?.iter().position(|&x| x == c).map(|p| p + from)
}

fn too_long(n: usize, max: usize) -> DecodeError {
    DecodeError::limit(format!(
        "frame of at least {n} bytes exceeds the maximum of {max}"
    ))
}

/// RFC 6587 syslog framing with per-frame detection: a frame starting with
/// a digit is octet-counted (`123 <34>1 ...`), anything else runs to `\n`.
#[derive(Debug)]
pub struct SyslogFramer {
    lines: DelimitedFramer,
    max_frame: usize,
    /// Remaining bytes of an over-long octet-counted frame to discard.
    discard: usize,
}

impl SyslogFramer {
    pub fn new(max_frame: usize) -> Self {
        Self {
            lines: DelimitedFramer::new(b'\n', max_frame),
            max_frame: max_frame.max(1),
            discard: 0,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.lines.feed(chunk);
    }

    /// The next complete message.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, DecodeError>> {
        loop {
            if self.discard > 0 {
                let n = self.discard.min(self.lines.buf.len());
                self.lines.buf.drain(..n);
                self.discard -= n;
                self.lines.scanned = 0;
                if self.discard > 0 {
                    return None;
                }
            }
            if self.lines.skipping {
                return self.lines.next_frame();
            }
            // Leading newlines between frames are noise.
            let lead = self
                .lines
                .buf
                .iter()
                .take_while(|c| matches!(c, b'\n' | b'\r'))
                .count();
            if lead > 0 {
                self.lines.buf.drain(..lead);
                self.lines.scanned = 0;
            }
            let b = &self.lines.buf;
            if !b.first().is_some_and(u8::is_ascii_digit) {
                return self.lines.next_frame();
            }
            let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == b.len() {
                if digits > 10 {
                    return self.lines.next_frame();
                }
                return None; // need more bytes
            }
            if b[digits] != b' ' || digits > 10 {
                // Not an octet count: treat as a newline-terminated frame.
                return self.lines.next_frame();
            }
            let n: usize = match std::str::from_utf8(&b[..digits])
                .ok()
                .and_then(|s| s.parse().ok())
            {
                Some(n) => n,
                None => return self.lines.next_frame(),
            };
            if n > self.max_frame {
                self.lines.buf.drain(..digits + 1);
                self.discard = n;
                return Some(Err(too_long(n, self.max_frame)));
            }
            if b.len() < digits + 1 + n {
                return None;
            }
            let frame: Vec<u8> = self.lines.buf.drain(..digits + 1 + n).skip(digits + 1).collect();
            self.lines.scanned = 0;
            if frame.is_empty() {
                continue;
            }
            return Some(Ok(frame));
        }
    }

    /// At end of stream: an unterminated newline frame (an incomplete
    /// octet-counted frame is an error).
    pub fn finish(&mut self) -> Option<Result<Vec<u8>, DecodeError>> {
        if self.discard > 0 {
            self.discard = 0;
            self.lines.buf.clear();
            return None;
        }
        let b = &self.lines.buf;
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && digits <= 10 && b.get(digits) == Some(&b' ') {
            self.lines.buf.clear();
            return Some(Err(DecodeError::bad(
                "stream ended inside an octet-counted frame",
            )));
        }
        self.lines.finish()
    }

    pub fn buffered(&self) -> usize {
        self.lines.buffered()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(f: &mut DelimitedFramer) -> Vec<Result<Vec<u8>, DecodeError>> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn delimited_chunks_and_limits() {
        let mut f = DelimitedFramer::new(b'\n', 5);
        f.feed(b"ab");
        assert!(drain(&mut f).is_empty());
        f.feed(b"c\r\n\nde\nxxxxxxxx");
        let got = drain(&mut f);
        assert_eq!(got[0], Ok(b"abc".to_vec()));
        assert_eq!(got[1], Ok(b"de".to_vec()));
        assert!(got[2].is_err());
        assert_eq!(got.len(), 3);
        f.feed(b"yyy\nok\n");
        assert_eq!(drain(&mut f), vec![Ok(b"ok".to_vec())]);
        f.feed(b"tail");
        assert_eq!(f.finish(), Some(Ok(b"tail".to_vec())));
        assert_eq!(f.buffered(), 0);
        let mut g = DelimitedFramer::new(0, 100);
        g.feed(b"{\"a\":1}\0{\"b\":2}\0");
        assert_eq!(drain(&mut g).len(), 2);
    }

    #[test]
    fn syslog_octet_counting_and_newlines_mixed() {
        let mut f = SyslogFramer::new(100);
        let msg = b"<34>1 2003-10-11T22:14:15.003Z host app - - - hi";
        let mut stream = format!("{} ", msg.len()).into_bytes();
        stream.extend_from_slice(msg);
        stream.extend_from_slice(b"<13>Oct 11 22:14:15 host app: plain\n");
        stream.extend_from_slice(b"5 abcde");
        // Feed byte by byte.
        let mut got = Vec::new();
        for b in &stream {
            f.feed(std::slice::from_ref(b));
            while let Some(fr) = f.next_frame() {
                got.push(fr.unwrap());
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], msg.to_vec());
        assert_eq!(got[1], b"<13>Oct 11 22:14:15 host app: plain".to_vec());
        assert_eq!(got[2], b"abcde".to_vec());
        assert_eq!(f.finish(), None);
    }

    #[test]
    fn syslog_oversized_octet_frame_is_skipped() {
        let mut f = SyslogFramer::new(4);
        f.feed(b"10 0123456789");
        assert!(f.next_frame().unwrap().is_err());
        f.feed(b"3 abc");
        assert_eq!(f.next_frame(), Some(Ok(b"abc".to_vec())));
        f.feed(b"3 ab");
        assert!(f.next_frame().is_none());
        assert!(f.finish().unwrap().is_err());
    }

    /// Any chunking of the same stream yields the same frames.
    #[test]
    fn chunking_does_not_change_frames() {
        let mut stream = Vec::new();
        for i in 0..50 {
            let m = format!("<13>1 - h app - - - message {i}");
            if i % 2 == 0 {
                stream.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
            } else {
                stream.extend_from_slice(m.as_bytes());
                stream.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
            }
        }
        let whole = {
            let mut f = SyslogFramer::new(1000);
            f.feed(&stream);
            let mut v: Vec<_> = std::iter::from_fn(|| f.next_frame()).collect();
            v.extend(f.finish());
            v
        };
        assert_eq!(whole.len(), 50);
        let mut x: u64 = 0xabcdef;
        for _ in 0..200 {
            let mut f = SyslogFramer::new(1000);
            let mut got = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = 1 + (x % 40) as usize;
                let (a, b) = rest.split_at(n.min(rest.len()));
                f.feed(a);
                rest = b;
                got.extend(std::iter::from_fn(|| f.next_frame()));
            }
            got.extend(f.finish());
            assert_eq!(got, whole);
        }
    }

    #[test]
    fn garbage_never_panics_and_memory_is_bounded() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut f = SyslogFramer::new(64);
        let mut g = DelimitedFramer::new(0, 64);
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let alphabet = b"0123 \n\r<>a\0";
            let chunk: Vec<u8> = (0..(x % 16))
                .map(|i| alphabet[((x >> (i * 3)) % 11) as usize])
                .collect();
            f.feed(&chunk);
            g.feed(&chunk);
            while f.next_frame().is_some() {}
            while g.next_frame().is_some() {}
            assert!(f.buffered() <= 64 + 16 + 12);
            assert!(g.buffered() <= 64 + 16);
        }
        let _ = f.finish();
        let _ = g.finish();
    }
}
