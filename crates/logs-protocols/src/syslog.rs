//! Syslog messages: RFC 5424 and RFC 3164 (BSD), auto-detected per message.
//! TCP framing is in [`crate::framing::SyslogFramer`]; UDP datagrams are one
//! message each.
//!
//! Mapping to [`LogRecord`]:
//! - stream labels: `host` (HOSTNAME), `app` (APP-NAME / TAG), `facility`
//!   (name: `kern`, `user`, ..., `local7`), `level` (severity keyword:
//!   `emerg`, `alert`, `crit`, `err`, `warning`, `notice`, `info`, `debug`),
//!   plus the listener's extra labels; `-` (nil) values are omitted;
//! - `message`: MSG (a leading UTF-8 BOM removed, trailing `\r`/`\n` trimmed);
//! - `fields`: `procid`, `msgid`, and structured data as `<SD-ID>.<param>`
//!   (`exampleSDID@32473.iut`), in message order;
//! - `severity`: the OpenTelemetry number for the syslog severity
//!   (emerg 21 FATAL, alert 19 ERROR3, crit 18 ERROR2, err 17 ERROR,
//!   warning 13 WARN, notice 10 INFO2, info 9 INFO, debug 5 DEBUG);
//! - timestamp: RFC 5424 TIMESTAMP (with its offset); RFC 3164 `Mmm dd
//!   hh:mm:ss` in [`SyslogOptions::timezone`] with the year that puts it
//!   closest to `now_ns` (so December messages read in January land in the
//!   previous year); a missing or nil timestamp is `now_ns`.
//!
//! A message without `<PRI>` is accepted as RFC 3164 with PRI 13
//! (user.notice), as RFC 3164 section 4.3.3 prescribes for relays.

use crate::{time, DecodeError, IngestLimits, LogRecord};
use sightline_model::LabelsBuilder;

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];
const OTEL_SEVERITY: [u8; 8] = [21, 19, 18, 17, 13, 10, 9, 5];

/// Syslog decoding options.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyslogOptions {
    /// Fixed UTC offset of RFC 3164 timestamps (`UTC`, `+02:00`, `-0500`).
    pub timezone: String,
    /// Put `facility` and `level` in the stream labels (else in fields).
    pub severity_labels: bool,
}

impl Default for SyslogOptions {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            severity_labels: true,
        }
    }
}

impl SyslogOptions {
    /// Validates the options (the timezone must parse).
    pub fn validate(&self) -> Result<(), DecodeError> {
        time::parse_offset(&self.timezone).map(|_| ()).ok_or_else(|| {
            DecodeError::bad(format!(
                "invalid syslog timezone {:?}: want UTC or ±HH:MM",
                self.timezone
            ))
        })
    }
}

/// The parsed header of a message, before mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyslogMessage {
    pub facility: u8,
    pub severity: u8,
    /// 0 for RFC 3164, else the RFC 5424 VERSION.
    pub version: u8,
    pub ts_ns: Option<i64>,
    pub hostname: Option<String>,
    pub app_name: Option<String>,
    pub procid: Option<String>,
    pub msgid: Option<String>,
    /// `(SD-ID, [(param, value)])` in order.
    pub structured_data: Vec<(String, Vec<(String, String)>)>,
    pub msg: String,
}

/// Parses one message (either RFC).
pub fn parse(frame: &[u8], opts: &SyslogOptions, now_ns: i64) -> Result<SyslogMessage, DecodeError> {
    let text = String::from_utf8_lossy(frame);
    let s = text.trim_end_matches(['\r', '\n', '\0']);
    let (pri, rest) = match s.strip_prefix('<') {
        Some(r) => {
            let end = r
                .find('>')
                .filter(|&e| (1..=3).contains(&e))
                .ok_or_else(|| DecodeError::bad("invalid PRI"))?;
            let p: u16 = r[..end]
                .parse()
                .ok()
                .filter(|p| *p <= 191)
                .ok_or_else(|| DecodeError::bad(format!("invalid PRI <{}>", &r[..end])))?;
            (p as u8, &r[end + 1..])
        }
        None => (13, s),
    };
    let mut m = SyslogMessage {
        facility: pri / 8,
        severity: pri % 8,
        ..Default::default()
    };
    let vlen = rest.bytes().take_while(u8::is_ascii_digit).count();
    if s.starts_with('<') && (1..=2).contains(&vlen) && rest.as_bytes().get(vlen) == Some(&b' ') {
        parse_5424(&mut m, rest, vlen)?;
    } else {
        let off =
            time::parse_offset(&opts.timezone).ok_or_else(|| DecodeError::bad("invalid syslog timezone"))?;
        parse_3164(&mut m, rest, off, now_ns);
    }
    Ok(m)
}

fn nil(s: &str) -> Option<String> {
    (s != "-" && !s.is_empty()).then(|| s.to_string())
}

fn parse_5424(m: &mut SyslogMessage, rest: &str, vlen: usize) -> Result<(), DecodeError> {
    m.version = rest[..vlen].parse().unwrap_or(1);
    if m.version == 0 {
        return Err(DecodeError::bad("RFC 5424 VERSION must not be 0"));
    }
    let mut r = &rest[vlen + 1..];
    let mut next = |name: &str| -> Result<&str, DecodeError> {
        let (tok, tail) = r.split_once(' ').unwrap_or((r, ""));
        if tok.is_empty() {
            return Err(DecodeError::bad(format!("RFC 5424 message without {name}")));
        }
        r = tail;
        Ok(tok)
    };
    let ts = next("TIMESTAMP")?;
    m.ts_ns = if ts == "-" {
        None
    } else {
        Some(time::parse_rfc3339(ts).ok_or_else(|| DecodeError::bad(format!("invalid TIMESTAMP {ts:?}")))?)
    };
    m.hostname = nil(next("HOSTNAME")?);
    m.app_name = nil(next("APP-NAME")?);
    m.procid = nil(next("PROCID")?);
    m.msgid = nil(next("MSGID")?);
    let (sd, msg) = parse_sd(r)?;
    m.structured_data = sd;
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    m.msg = msg.strip_prefix('\u{feff}').unwrap_or(msg).to_string();
    Ok(())
}

type Sd = Vec<(String, Vec<(String, String)>)>;

/// STRUCTURED-DATA: `-` or `[id k="v" ...]...`; returns it and the rest.
fn parse_sd(s: &str) -> Result<(Sd, &str), DecodeError> {
    if s.is_empty() {
        return Ok((Vec::new(), ""));
    }
    if let Some(rest) = s.strip_prefix('-') {
        return Ok((Vec::new(), rest));
    }
    if !s.starts_with('[') {
        return Err(DecodeError::bad("STRUCTURED-DATA must be '-' or start with '['"));
    }
    let bad = |m: &str| DecodeError::bad(format!("invalid STRUCTURED-DATA: {m}"));
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while b.get(i) == Some(&b'[') {
        i += 1;
        let start = i;
        while i < b.len() && !matches!(b[i], b' ' | b']' | b'=' | b'"') {
            i += 1;
        }
        if i == start {
            return Err(bad("empty SD-ID"));
        }
        let id = s[start..i].to_string();
        let mut params = Vec::new();
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => i += 1,
                _ => return Err(bad("expected ' ' or ']'")),
            }
            if b.get(i) == Some(&b']') {
                continue;
            }
            let ns = i;
            while i < b.len() && !matches!(b[i], b' ' | b']' | b'=' | b'"') {
                i += 1;
            }
            if i == ns || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                return Err(bad("expected PARAM-NAME=\"value\""));
            }
            let name = s[ns..i].to_string();
            i += 2;
            let mut val = String::new();
            let vs = i;
            let mut seg = vs;
            loop {
                match b.get(i) {
                    None => return Err(bad("unterminated PARAM-VALUE")),
                    Some(b'"') => {
                        val.push_str(&s[seg..i]);
                        i += 1;
                        break;
                    }
                    Some(b'\\') if matches!(b.get(i + 1), Some(b'"' | b'\\' | b']')) => {
                        val.push_str(&s[seg..i]);
                        val.push(b[i + 1] as char);
                        i += 2;
                        seg = i;
                    }
                    _ => i += 1,
                }
            }
            params.push((name, val));
        }
        out.push((id, params));
    }
    Ok((out, &s[i..]))
}

fn parse_3164(m: &mut SyslogMessage, rest: &str, off_secs: i64, now_ns: i64) {
    let mut r = rest.trim_start();
    if let Some((ts, tail)) = bsd_timestamp(r, off_secs, now_ns) {
        m.ts_ns = Some(ts);
        r = tail.trim_start();
    } else if let Some((tok, tail)) = r.split_once(' ') {
        // rsyslog's RFC 3339 timestamps in BSD-format messages.
        if let Some(ts) = time::parse_rfc3339(tok) {
            m.ts_ns = Some(ts);
            r = tail.trim_start();
        }
    }
    // HOSTNAME, unless the first token is already the TAG (`app[1]:`, `app:`).
    if let Some((tok, tail)) = r.split_once(' ') {
        let is_tag = tok.ends_with(':') || tok.contains('[');
        if !is_tag && !tok.is_empty() {
            m.hostname = Some(tok.to_string());
            r = tail;
        }
    }
    // TAG: up to 48 chars of [A-Za-z0-9_./-], optional [pid], then ':'.
    let tag_len = r
        .bytes()
        .take(48)
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
        .count();
    if tag_len > 0 {
        let after = &r[tag_len..];
        let (pid, after) = match after.strip_prefix('[').and_then(|a| a.split_once(']')) {
            Some((p, a)) if !p.is_empty() && p.len() <= 32 => (Some(p), a),
            _ => (None, after),
        };
        if let Some(msg) = after.strip_prefix(':') {
            m.app_name = Some(r[..tag_len].to_string());
            m.procid = pid.map(str::to_string);
            r = msg.strip_prefix(' ').unwrap_or(msg);
        }
    }
    m.msg = r.to_string();
}

/// `Mmm dd hh:mm:ss` (day may be space-padded), optionally followed by a
/// year (`Mmm dd yyyy hh:mm:ss`, Cisco style) — returns the time and the rest.
fn bsd_timestamp(s: &str, off_secs: i64, now_ns: i64) -> Option<(i64, &str)> {
    let mo = time::month_from_name(s.get(..3)?)?;
    let r = s.get(3..)?.strip_prefix(' ')?.trim_start();
    let dlen = r.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&dlen) {
        return None;
    }
    let d: u32 = r[..dlen].parse().ok()?;
    let mut r = r[dlen..].strip_prefix(' ')?;
    let mut year = None;
    let ylen = r.bytes().take_while(u8::is_ascii_digit).count();
    if ylen == 4 && r.as_bytes().get(4) == Some(&b' ') {
        year = r[..4].parse::<i64>().ok();
        r = &r[5..];
    }
    let t = r.get(..8)?;
    let tb = t.as_bytes();
    if tb[2] != b':' || tb[5] != b':' {
        return None;
    }
    let h: u32 = t.get(..2)?.parse().ok()?;
    let mi: u32 = t.get(3..5)?.parse().ok()?;
    let sec: u32 = t.get(6..8)?.parse().ok()?;
    let mut rest = &r[8..];
    let mut frac = 0u32;
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        let digits = &f[..n];
        for (i, c) in digits.bytes().take(9).enumerate() {
            frac += (c - b'0') as u32 * 10u32.pow(8 - i as u32);
        }
        rest = &f[n..];
    }
    let at =
        |y: i64| time::civil_to_ns(y, mo, d, h, mi, sec.min(59), frac).map(|t| t - off_secs * 1_000_000_000);
    let ts = match year {
        Some(y) => at(y)?,
        None => {
            let (cy, _, _) = time::civil_from_days(now_ns.div_euclid(86_400_000_000_000));
            // The candidate year closest to now (Feb 29 may exist in only some).
            [cy - 1, cy, cy + 1]
                .into_iter()
                .filter_map(at)
                .min_by_key(|t| (t - now_ns).unsigned_abs())?
        }
    };
    Some((ts, rest))
}

/// Maps a parsed message to a record.
pub fn to_record(
    m: SyslogMessage,
    extra_labels: &[(&str, &str)],
    opts: &SyslogOptions,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<LogRecord, DecodeError> {
    let mut labels = LabelsBuilder::default();
    let mut fields = Vec::new();
    if let Some(h) = &m.hostname {
        labels.set("host", h.clone());
    }
    if let Some(a) = &m.app_name {
        labels.set("app", a.clone());
    }
    let fac = FACILITIES.get(m.facility as usize).copied().unwrap_or("unknown");
    let sev = SEVERITIES[(m.severity & 7) as usize];
    if opts.severity_labels {
        labels.set("facility", fac);
        labels.set("level", sev);
    } else {
        fields.push(("facility".to_string(), fac.to_string()));
        fields.push(("level".to_string(), sev.to_string()));
    }
    for (n, v) in extra_labels {
        labels.set(*n, *v);
    }
    if let Some(p) = m.procid {
        fields.push(("procid".into(), p));
    }
    if let Some(id) = m.msgid {
        fields.push(("msgid".into(), id));
    }
    for (id, params) in m.structured_data {
        if params.is_empty() {
            fields.push((id.clone(), String::new()));
        }
        for (k, v) in params {
            fields.push((format!("{id}.{k}"), v));
        }
    }
    let mut rec = LogRecord {
        ts_ns: m.ts_ns.unwrap_or(now_ns),
        stream: labels.build(),
        message: m.msg,
        fields,
        severity: Some(OTEL_SEVERITY[(m.severity & 7) as usize]),
        ..Default::default()
    };
    limits.check_record(&mut rec)?;
    Ok(rec)
}

/// Parses and maps one framed message.
pub fn decode_message(
    frame: &[u8],
    extra_labels: &[(&str, &str)],
    opts: &SyslogOptions,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<LogRecord, DecodeError> {
    if frame.len() > limits.max_line_bytes.saturating_mul(2).max(64 * 1024) {
        return Err(DecodeError::limit(format!(
            "syslog message of {} bytes is too long",
            frame.len()
        )));
    }
    let m = parse(frame, opts, now_ns)?;
    to_record(m, extra_labels, opts, limits, now_ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::Labels;

    // 2026-01-02T00:00:00Z
    const NOW: i64 = 1_767_312_000_000_000_000;

    fn dec(s: &str) -> Result<LogRecord, DecodeError> {
        decode_message(
            s.as_bytes(),
            &[],
            &SyslogOptions::default(),
            &IngestLimits::default(),
            NOW,
        )
    }

    #[test]
    fn rfc5424_examples() {
        let r = dec("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8").unwrap();
        assert_eq!(r.ts_ns, 1_065_910_455_003_000_000);
        assert_eq!(
            r.stream,
            Labels::from_pairs([
                ("host", "mymachine.example.com"),
                ("app", "su"),
                ("facility", "auth"),
                ("level", "crit")
            ])
        );
        assert_eq!(r.message, "'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(r.fields, vec![("msgid".to_string(), "ID47".to_string())]);
        assert_eq!(r.severity, Some(18));

        let r = dec(r#"<165>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Appl\"ic\]ation" eventID="1011"][examplePriority@32473 class="high"] An application event"#).unwrap();
        assert_eq!(r.ts_ns, 1_065_935_655_003_000_000);
        assert_eq!(r.stream.get("facility"), Some("local4"));
        assert_eq!(r.stream.get("level"), Some("notice"));
        assert_eq!(r.message, "An application event");
        assert_eq!(
            r.fields,
            vec![
                ("procid".to_string(), "1234".to_string()),
                ("msgid".into(), "ID47".into()),
                ("exampleSDID@32473.iut".into(), "3".into()),
                ("exampleSDID@32473.eventSource".into(), "Appl\"ic]ation".into()),
                ("exampleSDID@32473.eventID".into(), "1011".into()),
                ("examplePriority@32473.class".into(), "high".into()),
            ]
        );

        let r = dec("<13>1 - - - - - -").unwrap();
        assert_eq!(r.ts_ns, NOW);
        assert_eq!(r.message, "");
        assert_eq!(
            r.stream,
            Labels::from_pairs([("facility", "user"), ("level", "notice")])
        );
    }

    #[test]
    fn rfc3164_examples_with_year_inference_and_timezone() {
        let r = dec("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8").unwrap();
        // October is closer in 2025 than in 2026 for NOW = 2026-01-02.
        assert_eq!(r.ts_ns, time::civil_to_ns(2025, 10, 11, 22, 14, 15, 0).unwrap());
        assert_eq!(r.stream.get("host"), Some("mymachine"));
        assert_eq!(r.stream.get("app"), Some("su"));
        assert_eq!(r.message, "'su root' failed for lonvick on /dev/pts/8");

        let r = dec("<30>Jan  1 23:59:00 web-1 sshd[4242]: Accepted publickey for deploy").unwrap();
        assert_eq!(r.ts_ns, time::civil_to_ns(2026, 1, 1, 23, 59, 0, 0).unwrap());
        assert_eq!(r.fields, vec![("procid".to_string(), "4242".to_string())]);

        let opts = SyslogOptions {
            timezone: "+02:00".into(),
            ..Default::default()
        };
        let r = decode_message(
            b"<13>Jan  1 02:00:00 h app: x",
            &[("source", "udp")],
            &opts,
            &IngestLimits::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(r.ts_ns, time::civil_to_ns(2026, 1, 1, 0, 0, 0, 0).unwrap());
        assert_eq!(r.stream.get("source"), Some("udp"));

        // No hostname, no PRI (file relay), Cisco year form, RFC 3339 in BSD.
        let r = dec("Oct 11 22:14:15 cron[12]: job done").unwrap();
        assert_eq!(r.stream.get("app"), Some("cron"));
        assert_eq!(r.stream.get("host"), None);
        assert_eq!(r.stream.get("level"), Some("notice"));
        let r = dec("<189>Mar  4 2024 10:00:00.123 router1 %LINK-3-UPDOWN: down").unwrap();
        assert_eq!(
            r.ts_ns,
            time::civil_to_ns(2024, 3, 4, 10, 0, 0, 123_000_000).unwrap()
        );
        let r = dec("<14>2024-03-04T10:00:00+00:00 host1 app: msg").unwrap();
        assert_eq!(r.ts_ns, time::civil_to_ns(2024, 3, 4, 10, 0, 0, 0).unwrap());
        assert_eq!(r.message, "msg");
        let r = dec("<14>just some text").unwrap();
        assert_eq!(r.message, "some text");
        assert_eq!(r.stream.get("host"), Some("just"));
    }

    #[test]
    fn errors_and_options() {
        for bad in [
            "<192>1 - - - - - -",
            "<>x",
            "<abc>x",
            "<13>1 notatime h a - - -",
            "<13>1 - h a - - [x",
            "<13>0 - - - - - -",
        ] {
            assert!(dec(bad).is_err(), "{bad}");
        }
        assert!(SyslogOptions {
            timezone: "Mars/Base".into(),
            ..Default::default()
        }
        .validate()
        .is_err());
        let opts = SyslogOptions {
            severity_labels: false,
            ..Default::default()
        };
        let r = decode_message(b"<11>1 - h a - - -", &[], &opts, &IngestLimits::default(), NOW).unwrap();
        assert_eq!(r.stream, Labels::from_pairs([("host", "h"), ("app", "a")]));
        assert_eq!(r.fields[1], ("level".to_string(), "err".to_string()));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0xfeed_face_cafe_beef;
        let alphabet = "<>1 -[]=\"\\:Oct 12:00:00.5Z+T2024é\u{feff}"
            .chars()
            .collect::<Vec<_>>();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s: String = (0..(x % 48))
                .map(|i| alphabet[((x >> (i % 50)) as usize + i as usize) % alphabet.len()])
                .collect();
            let _ = dec(&s);
            let _ = dec(&format!("<13>1 {s}"));
            let _ = dec(&format!("<13>{s}"));
        }
    }
}
