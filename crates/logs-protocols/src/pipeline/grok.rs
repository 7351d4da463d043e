//! Grok: named patterns (`%{NAME:field}`) compiled to one `regex`.
//!
//! The standard library below is written for Rust's `regex` (no
//! look-around, no backreferences); names and capture field names follow
//! the classic Logstash library so existing `match` expressions keep
//! working. `%{NAME:field:type}` is accepted and the type ignored (fields
//! are text). User definitions override and extend the library.

use std::collections::BTreeMap;

/// The standard patterns: `(name, definition)`.
pub const STANDARD: &[(&str, &str)] = &[
    ("USERNAME", r"[a-zA-Z0-9._-]+"),
    ("USER", r"%{USERNAME}"),
    (
        "EMAILLOCALPART",
        r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    ),
    ("EMAILADDRESS", r"%{EMAILLOCALPART}@%{HOSTNAME}"),
    ("INT", r"(?:[+-]?[0-9]+)"),
    ("BASE10NUM", r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"),
    ("NUMBER", r"(?:%{BASE10NUM})"),
    ("BASE16NUM", r"(?:[+-]?(?:0x)?[0-9A-Fa-f]+)"),
    ("POSINT", r"\b(?:[1-9][0-9]*)\b"),
    ("NONNEGINT", r"\b(?:[0-9]+)\b"),
    ("WORD", r"\b\w+\b"),
    ("NOTSPACE", r"\S+"),
    ("SPACE", r"\s*"),
    ("DATA", r".*?"),
    ("GREEDYDATA", r".*"),
    (
        "QUOTEDSTRING",
        r#"(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`)"#,
    ),
    ("QS", r"%{QUOTEDSTRING}"),
    ("UUID", r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}"),
    ("MAC", r"(?:%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC})"),
    ("CISCOMAC", r"(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}"),
    ("WINDOWSMAC", r"(?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}"),
    ("COMMONMAC", r"(?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2}"),
    (
        "IPV4",
        r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b",
    ),
    (
        "IPV6",
        r"(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){6}%{IPV4}|::(?:[Ff]{4}(?::0{1,4})?:)?%{IPV4}|(?:[0-9A-Fa-f]{1,4}:){1,4}:%{IPV4}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:))(?:%[0-9A-Za-z]+)?",
    ),
    ("IP", r"(?:%{IPV6}|%{IPV4})"),
    (
        "HOSTNAME",
        r"\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*\.?",
    ),
    ("IPORHOST", r"(?:%{IP}|%{HOSTNAME})"),
    ("HOSTPORT", r"%{IPORHOST}:%{POSINT}"),
    ("PATH", r"(?:%{UNIXPATH}|%{WINPATH})"),
    ("UNIXPATH", r"(?:/[\w_%!$@:.,+~-]*)+"),
    ("TTY", r"/dev/(?:pts|tty(?:[pq])?)(?:\w+)?/?(?:[0-9]+)"),
    ("WINPATH", r"(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+"),
    ("URIPROTO", r"[A-Za-z][A-Za-z0-9+\-.]+"),
    ("URIHOST", r"%{IPORHOST}(?::%{POSINT})?"),
    ("URIPATH", r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+"),
    ("URIPARAM", r"\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*"),
    ("URIPATHPARAM", r"%{URIPATH}(?:%{URIPARAM})?"),
    (
        "URI",
        r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?",
    ),
    (
        "MONTH",
        r"\b(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b",
    ),
    ("MONTHNUM", r"(?:0?[1-9]|1[0-2])"),
    ("MONTHNUM2", r"(?:0[1-9]|1[0-2])"),
    ("MONTHDAY", r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])"),
    (
        "DAY",
        r"(?i:mon(?:day)?|tue(?:sday)?|wed(?:nesday)?|thu(?:rsday)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)",
    ),
    ("YEAR", r"(?:\d\d){1,2}"),
    ("HOUR", r"(?:2[0123]|[01]?[0-9])"),
    ("MINUTE", r"(?:[0-5][0-9])"),
    ("SECOND", r"(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)"),
    ("TIME", r"%{HOUR}:%{MINUTE}(?::%{SECOND})?"),
    ("DATE_US", r"%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}"),
    ("DATE_EU", r"%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}"),
    ("ISO8601_TIMEZONE", r"(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))"),
    ("ISO8601_SECOND", r"%{SECOND}"),
    (
        "TIMESTAMP_ISO8601",
        r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?",
    ),
    ("DATE", r"(?:%{DATE_US}|%{DATE_EU})"),
    ("DATESTAMP", r"%{DATE}[- ]%{TIME}"),
    ("TZ", r"(?:[APMCE][SD]T|UTC)"),
    ("HTTPDATE", r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}"),
    ("SYSLOGTIMESTAMP", r"%{MONTH} +%{MONTHDAY} %{TIME}"),
    ("PROG", r"[\x21-\x5a\x5c\x5e-\x7e]+"),
    ("SYSLOGPROG", r"%{PROG:program}(?:\[%{POSINT:pid}\])?"),
    ("SYSLOGHOST", r"%{IPORHOST}"),
    ("SYSLOGFACILITY", r"<%{NONNEGINT:facility}.%{NONNEGINT:priority}>"),
    (
        "SYSLOGBASE",
        r"%{SYSLOGTIMESTAMP:timestamp} (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:logsource} %{SYSLOGPROG}:",
    ),
    (
        "LOGLEVEL",
        r"(?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo(?:rmation)?|INFO(?:RMATION)?|[Ww]arn(?:ing)?|WARN(?:ING)?|[Ee]rr(?:or)?|ERR(?:OR)?|[Cc]rit(?:ical)?|CRIT(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?)",
    ),
    ("HTTPDUSER", r"(?:%{EMAILADDRESS}|%{USER})"),
    (
        "COMMONAPACHELOG",
        r#"%{IPORHOST:clientip} %{HTTPDUSER:ident} %{USER:auth} \[%{HTTPDATE:timestamp}\] "(?:%{WORD:verb} %{NOTSPACE:request}(?: HTTP/%{NUMBER:httpversion})?|%{DATA:rawrequest})" %{NUMBER:response} (?:%{NUMBER:bytes}|-)"#,
    ),
    (
        "COMBINEDAPACHELOG",
        r"%{COMMONAPACHELOG} %{QS:referrer} %{QS:agent}",
    ),
    (
        "NGINXACCESS",
        r#"%{IPORHOST:remote_addr} - %{USER:remote_user} \[%{HTTPDATE:time_local}\] "%{WORD:method} %{NOTSPACE:request} HTTP/%{NUMBER:http_version}" %{INT:status} %{INT:body_bytes_sent} %{QS:http_referer} %{QS:http_user_agent}"#,
    ),
];

/// A compiled grok expression.
#[derive(Debug, Clone)]
pub struct Grok {
    pub(crate) re: regex::Regex,
    /// Capture group name (`g<N>`) -> field name, in pattern order.
    pub(crate) fields: Vec<(String, String)>,
}

impl Grok {
    /// Compiles `pattern` against the standard library plus `extra`
    /// definitions (which win over standard ones of the same name).
    pub fn compile(pattern: &str, extra: &BTreeMap<String, String>) -> Result<Grok, String> {
        let lib: BTreeMap<&str, &str> = STANDARD
            .iter()
            .copied()
            .chain(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        let mut fields = Vec::new();
        let expanded = expand(pattern, &lib, &mut fields, 0)?;
        let re = regex::RegexBuilder::new(&expanded)
            .size_limit(16 << 20)
            .build()
            .map_err(|e| format!("grok pattern {pattern:?} does not compile: {e}"))?;
        Ok(Grok { re, fields })
    }

    /// The captured `(field, value)` pairs of the first match (empty
    /// captures skipped), or `None` when the text does not match.
    pub fn captures(&self, text: &str) -> Option<Vec<(String, String)>> {
        let caps = self.re.captures(text)?;
        Some(
            self.fields
                .iter()
                .filter_map(|(g, f)| {
                    caps.name(g)
                        .filter(|m| !m.as_str().is_empty())
                        .map(|m| (f.clone(), m.as_str().to_string()))
                })
                .collect(),
        )
    }
}

fn expand(
    p: &str,
    lib: &BTreeMap<&str, &str>,
    fields: &mut Vec<(String, String)>,
    depth: usize,
) -> Result<String, String> {
    if depth > 24 {
        return Err("grok patterns nest too deeply (recursive definition?)".into());
    }
    let mut out = String::with_capacity(p.len());
    let mut rest = p;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated %{{ in grok pattern {p:?}"))?;
        let spec = &after[..end];
        let mut parts = spec.splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let field = parts.next().filter(|f| !f.is_empty());
        let def = lib
            .get(name)
            .ok_or_else(|| format!("unknown grok pattern %{{{name}}}"))?;
        let inner = expand(def, lib, fields, depth + 1)?;
        match field {
            Some(f) => {
                let g = format!("g{}", fields.len());
                fields.push((g.clone(), f.to_string()));
                out.push_str(&format!("(?P<{g}>{inner})"));
            }
            None => {
                out.push_str("(?:");
                out.push_str(&inner);
                out.push(')');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grok(p: &str) -> Grok {
        Grok::compile(&format!("^{p}$"), &BTreeMap::new()).unwrap()
    }

    fn m(p: &str, text: &str) -> bool {
        grok(p).re.is_match(text)
    }

    #[test]
    fn every_standard_pattern_compiles() {
        for (name, _) in STANDARD {
            Grok::compile(&format!("%{{{name}}}"), &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn standard_patterns_match_what_they_should() {
        for ip in ["192.168.0.1", "0.0.0.0", "255.255.255.255"] {
            assert!(m("%{IPV4}", ip), "{ip}");
        }
        for ip in ["256.1.1.1", "1.2.3", "1.2.3.4.5"] {
            assert!(!m("%{IPV4}", ip), "{ip}");
        }
        for ip in [
            "2001:db8::1",
            "::1",
            "fe80::1%eth0",
            "2001:db8:0:0:0:0:2:1",
            "::ffff:10.0.0.1",
            "1:2:3::4",
            "2001:db8::1:2",
        ] {
            assert!(m("%{IPV6}", ip), "{ip}");
            assert!(m("%{IP}", ip), "{ip}");
        }
        assert!(!m("%{IPV6}", "12345::"));
        assert!(m("%{TIMESTAMP_ISO8601}", "2024-01-02T03:04:05.123Z"));
        assert!(m("%{TIMESTAMP_ISO8601}", "2024-01-02 03:04:05,123+0100"));
        assert!(m("%{HTTPDATE}", "10/Oct/2000:13:55:36 -0700"));
        assert!(m("%{SYSLOGTIMESTAMP}", "Oct  1 22:14:15"));
        for l in [
            "INFO", "warn", "Warning", "ERROR", "err", "FATAL", "debug", "TRACE", "CRITICAL",
        ] {
            assert!(m("%{LOGLEVEL}", l), "{l}");
        }
        assert!(!m("%{LOGLEVEL}", "LOUD"));
        assert!(m("%{UUID}", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(m("%{NUMBER}", "-1.5") && m("%{INT}", "+42") && !m("%{INT}", "4.2"));
        assert!(m("%{QUOTEDSTRING}", r#""a \"b\" c""#));
        assert!(m("%{PATH}", "/var/log/app.log") && m("%{PATH}", r"C:\Windows\x.log"));
        assert!(m("%{URI}", "https://user@example.com:8443/a/b?c=d&e=f"));
        assert!(m("%{HOSTNAME}", "web-1.example.com"));
        assert!(m("%{EMAILADDRESS}", "a.b+c@example.org"));
        assert!(m("%{MAC}", "00:1A:2b:3c:4d:5e"));
    }

    #[test]
    fn apache_combined_and_logstash_match() {
        let g = Grok::compile("%{COMBINEDAPACHELOG}", &BTreeMap::new()).unwrap();
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
        let c = g.captures(line).unwrap();
        let get = |k: &str| c.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        assert_eq!(get("clientip"), Some("127.0.0.1"));
        assert_eq!(get("auth"), Some("frank"));
        assert_eq!(get("timestamp"), Some("10/Oct/2000:13:55:36 -0700"));
        assert_eq!(get("verb"), Some("GET"));
        assert_eq!(get("request"), Some("/apache_pb.gif"));
        assert_eq!(get("response"), Some("200"));
        assert_eq!(get("bytes"), Some("2326"));
        assert_eq!(get("agent"), Some(r#""Mozilla/4.08 [en] (Win98; I ;Nav)""#));

        // The guides' logstash.conf grok.
        let g = Grok::compile(
            "%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:log_message}",
            &BTreeMap::new(),
        )
        .unwrap();
        let c = g
            .captures("2024-01-02T03:04:05Z ERROR db timeout after 30s")
            .unwrap();
        assert_eq!(
            c,
            vec![
                ("timestamp".to_string(), "2024-01-02T03:04:05Z".to_string()),
                ("level".into(), "ERROR".into()),
                ("log_message".into(), "db timeout after 30s".into()),
            ]
        );
        assert!(g.captures("nothing here").is_none());
    }

    #[test]
    fn custom_definitions_and_errors() {
        let mut extra = BTreeMap::new();
        extra.insert("ORDER".to_string(), r"ORD-\d+".to_string());
        extra.insert("LOOP".to_string(), "%{LOOP}".to_string());
        let g = Grok::compile("order %{ORDER:order_id:string}", &extra).unwrap();
        assert_eq!(
            g.captures("order ORD-456").unwrap(),
            vec![("order_id".to_string(), "ORD-456".to_string())]
        );
        assert!(Grok::compile("%{NOPE}", &extra).is_err());
        assert!(Grok::compile("%{LOOP}", &extra).is_err());
        assert!(Grok::compile("%{WORD", &extra).is_err());
        assert!(Grok::compile("(", &extra).is_err());
    }
}
