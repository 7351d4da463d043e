//! A minimal blocking HTTP/1.1 client for `POST`ing to plain-HTTP loopback
//! servers over one kept-alive connection (no TLS, no redirects, no proxies:
//! this is a benchmark driver, and a small client keeps its own CPU cost and
//! build time low).
//!
//! Invariants:
//! - A response body is read completely (by `Content-Length`, chunked
//!   encoding, or to end of stream) before the next request is written, so the
//!   connection stays in sync; if the server closes it (or asks to), the next
//!   request opens a new one.
//! - A request that fails on a reused connection before any response byte
//!   arrived is retried once on a fresh connection (the server may have
//!   closed an idle keep-alive connection); every other failure is returned.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `http://host:port/path`, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `host:port`, as connected to and sent in `Host`.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Url {
            authority,
            path: path.to_string(),
        })
    }
}

/// A response: status code and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One keep-alive connection to one server.
pub struct Client {
    url: Url,
    headers: String,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
    /// Connections opened so far.
    pub connects: u64,
}

impl Client {
    /// `headers` are sent with every request, e.g. `("Content-Encoding", "snappy")`.
    pub fn new(url: Url, headers: &[(&str, &str)], timeout: Duration) -> Client {
        let mut h = String::new();
        for (n, v) in headers {
            h.push_str(n);
            h.push_str(": ");
            h.push_str(v);
            h.push_str("\r\n");
        }
        Client {
            url,
            headers: h,
            timeout,
            conn: None,
            connects: 0,
        }
    }

    /// Sends `POST` with `body` and reads the whole response.
    pub fn post(&mut self, body: &[u8]) -> std::io::Result<Response> {
        let reused = self.conn.is_some();
        match self.try_post(body) {
            Ok(r) => Ok(r),
            Err(Failure::BeforeResponse(_)) if reused => {
                self.conn = None;
                self.try_post(body).map_err(Failure::into_io)
            }
            Err(e) => {
                self.conn = None;
                Err(e.into_io())
            }
        }
    }

    fn connect(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.url.authority)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            self.connects += 1;
            self.conn = Some(BufReader::with_capacity(64 << 10, s));
        }
        Ok(self.conn.as_mut().expect("connection just set"))
    }

    fn try_post(&mut self, body: &[u8]) -> Result<Response, Failure> {
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\n{}Content-Length: {}\r\n\r\n",
            self.url.path,
            self.url.authority,
            self.headers,
            body.len()
        );
        let conn = self.connect().map_err(Failure::BeforeResponse)?;
        let s = conn.get_mut();
        s.write_all(head.as_bytes()).map_err(Failure::BeforeResponse)?;
        s.write_all(body).map_err(Failure::BeforeResponse)?;
        let (resp, keep) = read_response(conn)?;
        if !keep {
            self.conn = None;
        }
        Ok(resp)
    }
}

enum Failure {
    /// Nothing of a response was read: safe to retry on a new connection.
    BeforeResponse(std::io::Error),
    After(std::io::Error),
}

impl Failure {
    fn into_io(self) -> std::io::Error {
        match self {
            Failure::BeforeResponse(e) | Failure::After(e) => e,
        }
    }
}

fn invalid(msg: String) -> Failure {
    Failure::After(std::io::Error::new(std::io::ErrorKind::InvalidData, msg))
}

/// Reads one response; returns it and whether the connection can be reused.
fn read_response(r: &mut BufReader<TcpStream>) -> Result<(Response, bool), Failure> {
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).map_err(Failure::BeforeResponse)?;
        if n == 0 {
            return Err(Failure::BeforeResponse(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the response",
            )));
        }
        let status = parse_status(&line)?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut close = line.starts_with("HTTP/1.0");
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).map_err(Failure::After)? == 0 {
                return Err(invalid("connection closed inside the response headers".into()));
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let Some((name, value)) = h.split_once(':') else {
                return Err(invalid(format!("bad header line {h:?}")));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse()
                        .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                close = v.contains("close") || (close && !v.contains("keep-alive"));
            }
        }
        if (100..200).contains(&status) {
            continue; // An interim response; the real one follows.
        }
        let mut body = Vec::new();
        if status == 204 || status == 304 {
        } else if chunked {
            read_chunked(r, &mut body)?;
        } else if let Some(n) = length {
            body.resize(n, 0);
            r.read_exact(&mut body).map_err(Failure::After)?;
        } else {
            r.read_to_end(&mut body).map_err(Failure::After)?;
            close = true;
        }
        return Ok((Response { status, body }, !close));
    }
}

fn parse_status(line: &str) -> Result<u16, Failure> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code
            .parse()
            .map_err(|_| invalid(format!("bad status line {:?}", line.trim_end()))),
        _ => Err(invalid(format!("bad status line {:?}", line.trim_end()))),
    }
}

fn read_chunked(r: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> Result<(), Failure> {
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).map_err(Failure::After)?;
        let size_text = line.trim_end().split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {:?}", line.trim_end())))?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                line.clear();
                if r.read_line(&mut line).map_err(Failure::After)? == 0 || line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).map_err(Failure::After)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(Failure::After)?;
        if &crlf != b"\r\n" {
            return Err(invalid("chunk not followed by CRLF".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;

    /// What the test server does after reading a request.
    enum Act {
        Reply(&'static str),
        /// Replies, then closes the connection.
        ReplyClose(&'static str),
        /// Closes the connection without replying.
        Hangup,
    }
    use Act::*;

    /// Serves canned responses, one per request read, and reports each
    /// request (head and body) it saw.
    fn serve(responses: Vec<Act>) -> (Url, mpsc::Receiver<(String, Vec<u8>)>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/api/v1/write", l.local_addr().unwrap())).unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut responses = responses.into_iter();
            'conns: for s in l.incoming() {
                let mut r = BufReader::new(s.unwrap());
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            continue 'conns;
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let _ = tx.send((head, body));
                    match responses.next() {
                        Some(Reply(resp)) => r.get_mut().write_all(resp.as_bytes()).unwrap(),
                        Some(ReplyClose(resp)) => {
                            r.get_mut().write_all(resp.as_bytes()).unwrap();
                            continue 'conns;
                        }
                        Some(Hangup) => continue 'conns,
                        None => return,
                    }
                }
            }
        });
        (url, rx)
    }

    fn client(url: Url) -> Client {
        Client::new(url, &[("Content-Encoding", "snappy")], Duration::from_secs(10))
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            Url::parse("http://127.0.0.1:9090/api/v1/write").unwrap(),
            Url {
                authority: "127.0.0.1:9090".into(),
                path: "/api/v1/write".into()
            }
        );
        assert_eq!(Url::parse("http://localhost").unwrap().authority, "localhost:80");
        assert!(Url::parse("https://x/").is_err());
        assert!(Url::parse("http:///x").is_err());
    }

    #[test]
    fn keeps_the_connection_alive_across_body_kinds() {
        let (url, rx) = serve(vec![
            Reply("HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"),
            Reply("HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nhello"),
            Reply("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"),
            Reply("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
        ]);
        let mut c = client(url);
        assert_eq!(
            c.post(b"one").unwrap(),
            Response {
                status: 204,
                body: vec![]
            }
        );
        assert_eq!(
            c.post(b"two").unwrap(),
            Response {
                status: 400,
                body: b"hello".to_vec()
            }
        );
        assert_eq!(
            c.post(b"three").unwrap(),
            Response {
                status: 500,
                body: b"abcde".to_vec()
            }
        );
        assert_eq!(c.post(b"").unwrap().status, 200);
        assert_eq!(c.connects, 1);
        let (head, body) = rx.recv().unwrap();
        assert!(
            head.starts_with("POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1:"),
            "{head}"
        );
        assert!(head.contains("Content-Encoding: snappy\r\n") && head.contains("Content-Length: 3\r\n"));
        assert_eq!(body, b"one");
    }

    #[test]
    fn reconnects_when_the_server_closes() {
        let (url, rx) = serve(vec![
            ReplyClose("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"),
            Reply("HTTP/1.1 204 No Content\r\n\r\n"),
            Hangup, // after reading the third request
            Reply("HTTP/1.1 204 No Content\r\n\r\n"),
        ]);
        let mut c = client(url);
        assert_eq!(c.post(b"a").unwrap().status, 204);
        assert_eq!(c.post(b"b").unwrap().status, 204);
        // Dropped on a reused connection before any response: retried once.
        assert_eq!(c.post(b"c").unwrap().status, 204);
        assert_eq!(c.connects, 3);
        let bodies: Vec<Vec<u8>> = rx.try_iter().map(|(_, b)| b).collect();
        assert_eq!(
            bodies,
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn reads_to_end_without_length_and_reports_garbage() {
        let (url, _rx) = serve(vec![
            ReplyClose("HTTP/1.0 200 OK\r\n\r\nall of it"),
            Reply("HTTP/1.1 204 -\r\n\r\n"),
        ]);
        let mut c = client(url);
        assert_eq!(
            c.post(b"x").unwrap(),
            Response {
                status: 200,
                body: b"all of it".to_vec()
            }
        );
        assert_eq!(c.post(b"y").unwrap().status, 204);
        assert_eq!(c.connects, 2);

        let (url, _rx) = serve(vec![Reply("SMTP ready\r\n\r\n")]);
        let err = client(url).post(b"x").unwrap_err();
        assert!(err.to_string().contains("bad status line"), "{err}");
        let (url, _rx) = serve(vec![Reply(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        )]);
        let err = client(url).post(b"x").unwrap_err();
        assert!(err.to_string().contains("bad chunk size"), "{err}");
    }

    #[test]
    fn connection_refused_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", l.local_addr().unwrap())).unwrap();
        drop(l);
        assert!(client(url).post(b"x").is_err());
    }
}
