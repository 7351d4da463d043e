use super::*;

fn parse_all(input: &str, format: Format) -> Result<Vec<Entry<'_>>, ParseError> {
    Parser::new(input.as_bytes(), format).collect()
}

fn samples(input: &str, format: Format) -> Vec<SampleEntry<'_>> {
    parse_all(input, format)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn labels_of<'a>(s: &SampleEntry<'a>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    s.labels(&mut out).unwrap();
    out.into_iter()
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect()
}

fn err_of(input: &str, format: Format) -> ParseError {
    parse_all(input, format).unwrap_err()
}

const NODE_EXPORTER: &str = r#"# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.1e-05
go_gc_duration_seconds{quantile="0.25"} 3.4701e-05
go_gc_duration_seconds{quantile="1"} 0.000915542
go_gc_duration_seconds_sum 0.123456
go_gc_duration_seconds_count 1234
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 123456.78
node_cpu_seconds_total{cpu="0",mode="iowait"} 12.5
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 4.2551214080e+10

# HELP node_network_info Non-numeric data from /sys/class/net/<iface>, value is always 1.
# TYPE node_network_info gauge
node_network_info{address="00:00:00:00:00:00",broadcast="00:00:00:00:00:00",device="lo",duplex="",ifalias="",operstate="unknown"} 1
# HELP node_scrape_collector_success node_exporter: Whether a collector succeeded.
# TYPE node_scrape_collector_success gauge
node_scrape_collector_success{collector="arp"} 1
# HELP http_request_duration_seconds A histogram.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# a free comment is ignored
process_start_time_seconds 1.70000000012e+09
weird_values{a="1"} NaN
weird_values{a="2"} +Inf
weird_values{a="3"} -Inf 1700000000000
"#;

#[test]
fn node_exporter_payload() {
    let entries = parse_all(NODE_EXPORTER, Format::PrometheusText).unwrap();
    let helps = entries.iter().filter(|e| matches!(e, Entry::Help { .. })).count();
    assert_eq!(helps, 6);
    assert!(entries.contains(&Entry::Type {
        family: "node_cpu_seconds_total".into(),
        metric_type: MetricType::Counter
    }));
    assert!(entries.contains(&Entry::Help {
        family: "node_network_info".into(),
        help: "Non-numeric data from /sys/class/net/<iface>, value is always 1.".into()
    }));
    let s = samples(NODE_EXPORTER, Format::PrometheusText);
    assert_eq!(s.len(), 18);
    assert_eq!(s[0].series, r#"go_gc_duration_seconds{quantile="0"}"#);
    assert_eq!(s[0].value, 2.1e-05);
    assert_eq!(s[0].line, 3);
    let fs = s
        .iter()
        .find(|x| x.name == "node_filesystem_avail_bytes")
        .unwrap();
    assert_eq!(fs.value, 4.255121408e10);
    assert_eq!(
        labels_of(fs),
        vec![
            ("__name__".into(), "node_filesystem_avail_bytes".into()),
            ("device".into(), "/dev/sda1".into()),
            ("fstype".into(), "ext4".into()),
            ("mountpoint".into(), "/".into()),
        ]
    );
    let info = s.iter().find(|x| x.name == "node_network_info").unwrap();
    assert_eq!(labels_of(info).iter().filter(|(_, v)| v.is_empty()).count(), 2);
    let w: Vec<_> = s.iter().filter(|x| x.name == "weird_values").collect();
    assert!(w[0].value.is_nan());
    assert_eq!(w[1].value, f64::INFINITY);
    assert_eq!(w[2].value, f64::NEG_INFINITY);
    assert_eq!(w[2].timestamp, Some(1_700_000_000_000));
    assert_eq!(
        s.iter()
            .find(|x| x.name == "process_start_time_seconds")
            .unwrap()
            .series,
        "process_start_time_seconds"
    );
    assert!(s.iter().all(|x| !x.created && x.exemplar.is_none()));
}

#[test]
fn content_type_selects_format() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type("Application/OpenMetrics-Text"),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type("text/plain; version=0.0.4"),
        Format::PrometheusText
    );
    assert_eq!(Format::from_content_type(""), Format::PrometheusText);
    assert_eq!(
        Format::from_content_type("application/json"),
        Format::PrometheusText
    );
}

#[test]
fn escapes_in_label_values_and_help() {
    let input = "# HELP m a \\\\ b \\n c \\\" d\nm{a=\"x\\\\y\",b=\"q\\\"q\",c=\"l1\\nl2\",d=\"\\t\"} 1\n";
    let e = parse_all(input, Format::PrometheusText).unwrap();
    // Text format: \" is not a help escape.
    assert_eq!(
        e[0],
        Entry::Help {
            family: "m".into(),
            help: "a \\ b \n c \\\" d".into()
        }
    );
    let Entry::Sample(s) = &e[1] else { panic!() };
    let l = labels_of(s);
    assert_eq!(l[1].1, "x\\y");
    assert_eq!(l[2].1, "q\"q");
    assert_eq!(l[3].1, "l1\nl2");
    assert_eq!(l[4].1, "\\t", "unknown escapes are kept verbatim");
    // Unescaped values borrow, escaped ones allocate.
    let mut out = Vec::new();
    s.labels(&mut out).unwrap();
    assert!(matches!(out[0].1, Cow::Borrowed(_)));
    assert!(matches!(out[1].1, Cow::Owned(_)));
    // OpenMetrics help resolves \" too.
    let om = "# HELP m a \\\" b\n# EOF\n";
    assert_eq!(
        parse_all(om, Format::OpenMetrics).unwrap()[0],
        Entry::Help {
            family: "m".into(),
            help: "a \" b".into()
        }
    );
}

#[test]
fn whitespace_trailing_comma_and_empty_sets() {
    let s = samples(
        "m { a = \"1\" , b=\"2\", }   3   42  \nn{} 1\r\n",
        Format::PrometheusText,
    );
    assert_eq!(s[0].series, "m { a = \"1\" , b=\"2\", }");
    assert_eq!(s[0].value, 3.0);
    assert_eq!(s[0].timestamp, Some(42));
    assert_eq!(labels_of(&s[0]).len(), 3);
    assert_eq!(s[1].series, "n{}");
    assert!(!s[1].has_labels());
    assert_eq!(labels_of(&s[1]).len(), 1);
    assert!(s[0].has_labels());
}

#[test]
fn tab_indented_line_is_an_error() {
    // A line must start with the metric name or '#'.
    let e = err_of("m 1\n\tx 2\n", Format::PrometheusText);
    assert_eq!(e.line, 2);
}

#[test]
fn quoted_utf8_names() {
    let input = "# TYPE \"my.metric\" counter\n{\"my.metric\", \"label.x\"=\"v\", plain=\"p\"} 1\n{plain=\"q\", \"other.metric\"} 2\n";
    let e = parse_all(input, Format::PrometheusText).unwrap();
    assert_eq!(
        e[0],
        Entry::Type {
            family: "my.metric".into(),
            metric_type: MetricType::Counter
        }
    );
    let Entry::Sample(s) = &e[1] else { panic!() };
    assert_eq!(s.name, "my.metric");
    assert_eq!(s.series, "{\"my.metric\", \"label.x\"=\"v\", plain=\"p\"}");
    assert_eq!(
        labels_of(s),
        vec![
            ("__name__".into(), "my.metric".into()),
            ("label.x".into(), "v".into()),
            ("plain".into(), "p".into())
        ]
    );
    let Entry::Sample(s) = &e[2] else { panic!() };
    assert_eq!(s.name, "other.metric");
    assert!(err_of("m{\"x.y\"} 1\n", Format::PrometheusText)
        .message
        .contains("metric name given both"));
    assert!(err_of("{\"a\", \"b\"} 1\n", Format::PrometheusText)
        .message
        .contains("twice"));
    assert!(err_of("{a=\"1\"} 1\n", Format::PrometheusText)
        .message
        .contains("no metric name"));
    for (input, msg) in [
        ("{\"\"} 1\n", "empty metric name"),
        ("a{\"\"=\"x\"} 1\n", "empty label name"),
        ("# TYPE \"\" counter\n", "empty metric name"),
    ] {
        assert!(
            err_of(input, Format::PrometheusText).message.contains(msg),
            "{input}"
        );
    }
}

#[test]
fn value_forms_individually() {
    for (text, want) in [
        ("1", 1.0),
        ("1.5e3", 1500.0),
        ("-2E-2", -0.02),
        (".5", 0.5),
        ("Inf", f64::INFINITY),
        ("+1", 1.0),
    ] {
        let input = format!("a {text}\n");
        assert_eq!(samples(&input, Format::PrometheusText)[0].value, want, "{text}");
    }
    assert!(samples("a nan\n", Format::PrometheusText)[0].value.is_nan());
    for bad in ["a 0x10\n", "a abc\n", "a 1,5\n", "a\n", "a{b=\"c\"}\n"] {
        let e = err_of(bad, Format::PrometheusText);
        assert_eq!(e.line, 1, "{bad}");
    }
}

#[test]
fn errors_carry_line_numbers() {
    let cases: &[(&str, usize, &str)] = &[
        ("a 1\nb 2\nc{x=\"1\" 3\n", 3, "expected ',' or '}'"),
        ("a 1\n\nb{x=1} 2\n", 3, "expected '\"'"),
        ("a 1\nb{x=\"1} 2\n", 2, "unterminated"),
        ("a 1 notatime\n", 1, "invalid timestamp"),
        ("a 1 2 3\n", 1, "unexpected"),
        ("# TYPE a flute\n", 1, "invalid metric type"),
        ("a 1\n# TYPE a gaugehistogram\n", 2, "invalid metric type"),
        ("1a 1\n", 1, "invalid metric name"),
        ("a{1=\"x\"} 1\n", 1, "invalid label name"),
        ("a{b c=\"x\"} 1\n", 1, "expected '='"),
        ("a{b=\"x\"}1\n", 1, "invalid character"),
    ];
    for (input, line, msg) in cases {
        let e = err_of(input, Format::PrometheusText);
        assert_eq!(e.line, *line, "{input:?}: {e}");
        assert!(e.message.contains(msg), "{input:?}: {e}");
        assert!(e.to_string().starts_with(&format!("line {line}: ")));
    }
}

#[test]
fn duplicate_labels_fail_with_line() {
    let input = "ok{a=\"1\"} 1\ndup{a=\"1\",b=\"2\",a=\"3\"} 1\nname{__name__=\"x\"} 1\n";
    let s = samples(input, Format::PrometheusText);
    let mut out = Vec::new();
    assert!(s[0].labels(&mut out).is_ok());
    let e = s[1].labels(&mut out).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("duplicate label name \"a\""));
    assert_eq!(s[2].labels(&mut out).unwrap_err().line, 3);
}

#[test]
fn parser_stops_after_error() {
    let mut p = Parser::new(b"a 1\nb{ 2\nc 3\n", Format::PrometheusText);
    assert!(p.next_entry().unwrap().is_ok());
    assert!(p.next_entry().unwrap().is_err());
    assert!(p.next_entry().is_none());
}

#[test]
fn invalid_utf8_is_an_error() {
    let mut p = Parser::new(b"a 1\nb{x=\"\xff\"} 2\n", Format::PrometheusText);
    assert!(p.next_entry().unwrap().is_ok());
    let e = p.next_entry().unwrap().unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("UTF-8"));
}

#[test]
fn text_format_ignores_om_only_lines() {
    let e = parse_all(
        "# UNIT a seconds\n# EOF\n#HELP a x\na 1\n",
        Format::PrometheusText,
    )
    .unwrap();
    assert_eq!(e.len(), 1);
    // No trailing newline is fine too.
    assert_eq!(samples("a 1", Format::PrometheusText).len(), 1);
    assert!(parse_all("", Format::PrometheusText).unwrap().is_empty());
}

// OpenMetrics examples in the shape of the specification's.
const OM_EXAMPLE: &str = r#"# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE go_goroutines gauge
# HELP go_goroutines Number of goroutines that currently exist.
go_goroutines 69
# TYPE foo counter
foo_total 17.0 1520879607.789 # {id="counter-test"} 5
foo_created 1520872607.123
# TYPE bar histogram
bar_bucket{le="0.01"} 0 # {trace_id="KOO5S4vxi0o"} 0.005 1520879607.5
bar_bucket{le="+Inf"} 17
bar_count 17
bar_sum 324789.3
bar_created 1520430000.123
# TYPE baz gauge
baz_created 5
# EOF
"#;

#[test]
fn openmetrics_spec_examples() {
    let e = parse_all(OM_EXAMPLE, Format::OpenMetrics).unwrap();
    assert_eq!(
        e[0],
        Entry::Type {
            family: "acme_http_router_request_seconds".into(),
            metric_type: MetricType::Summary
        }
    );
    assert_eq!(
        e[1],
        Entry::Unit {
            family: "acme_http_router_request_seconds".into(),
            unit: "seconds"
        }
    );
    let s = samples(OM_EXAMPLE, Format::OpenMetrics);
    let by_name = |n: &str| s.iter().find(|x| x.name == n).unwrap();
    assert!(by_name("acme_http_router_request_seconds_created").created);
    assert!(!by_name("acme_http_router_request_seconds_sum").created);
    let foo = by_name("foo_total");
    assert_eq!(foo.value, 17.0);
    assert_eq!(foo.timestamp, Some(1_520_879_607_789));
    let ex = foo.exemplar.as_ref().unwrap();
    assert_eq!(ex.value, 5.0);
    assert_eq!(ex.timestamp, None);
    let mut out = Vec::new();
    ex.labels(&mut out).unwrap();
    assert_eq!(out, vec![(Cow::Borrowed("id"), Cow::Borrowed("counter-test"))]);
    assert!(by_name("foo_created").created);
    assert_eq!(by_name("foo_created").value, 1520872607.123);
    let bucket = by_name("bar_bucket");
    assert_eq!(bucket.series, "bar_bucket{le=\"0.01\"}");
    assert_eq!(
        bucket.exemplar.as_ref().unwrap().timestamp,
        Some(1_520_879_607_500)
    );
    assert!(by_name("bar_created").created);
    assert!(
        !by_name("baz_created").created,
        "a gauge's _created is an ordinary sample"
    );
}

#[test]
fn openmetrics_requires_eof() {
    let e = err_of("a 1\nb 2\n", Format::OpenMetrics);
    assert_eq!(e.line, 3);
    assert!(e.message.contains("# EOF"));
    let e = err_of("a 1\n# EOF\nb 2\n", Format::OpenMetrics);
    assert_eq!(e.line, 3);
    assert!(e.message.contains("after"));
    assert!(parse_all("# EOF", Format::OpenMetrics).unwrap().is_empty());
    assert!(parse_all("", Format::OpenMetrics).is_err());
}

#[test]
fn openmetrics_rejects_free_comments_and_text_types() {
    assert_eq!(
        err_of("a 1\n# just a comment\n# EOF\n", Format::OpenMetrics).line,
        2
    );
    assert_eq!(err_of("# TYPE a untyped\n# EOF\n", Format::OpenMetrics).line, 1);
    for t in ["unknown", "gaugehistogram", "info", "stateset"] {
        let input = format!("# TYPE a {t}\n# EOF\n");
        assert!(parse_all(&input, Format::OpenMetrics).is_ok(), "{t}");
    }
}

#[test]
fn openmetrics_timestamps_are_seconds() {
    let s = samples(
        "a 1 1520879607\nb 1 1520879607.7891\nc 1 -1.5\nd 1 1.5e3\n# EOF\n",
        Format::OpenMetrics,
    );
    assert_eq!(s[0].timestamp, Some(1_520_879_607_000));
    assert_eq!(s[1].timestamp, Some(1_520_879_607_789));
    assert_eq!(s[2].timestamp, Some(-1_500));
    assert_eq!(s[3].timestamp, Some(1_500_000));
    assert!(err_of("a 1 NaN\n# EOF\n", Format::OpenMetrics)
        .message
        .contains("timestamp"));
    assert!(err_of("a 1 99999999999999999999\n# EOF\n", Format::OpenMetrics)
        .message
        .contains("timestamp"));
}

#[test]
fn malformed_exemplars_are_dropped_not_errors() {
    for ex in [
        "# {a=\"b\"}",
        "# {a=\"b\" 1",
        "# x",
        "#",
        "# {a=\"b\"} 1 2 3",
        "# {a=\"b\"} nope",
    ] {
        let input = format!("a_total 1 {ex}\n# EOF\n");
        let s = samples(&input, Format::OpenMetrics);
        assert_eq!(s[0].value, 1.0, "{ex}");
        assert!(s[0].exemplar.is_none(), "{ex}");
    }
    // In the text format a '#' after the value is a syntax error.
    assert!(parse_all("a 1 # {a=\"b\"} 1\n", Format::PrometheusText).is_err());
}

#[test]
fn float_formatting_matches_go() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e6, "1e+06"),
        (999999.5, "999999.5"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (2.1e-05, "2.1e-05"),
        (1.5, "1.5"),
        (-0.25, "-0.25"),
        (1.70000000012e9, "1.70000000012e+09"),
        (1e21, "1e+21"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (100.0, "100"),
    ];
    for (v, want) in cases {
        let mut s = String::new();
        format_float(&mut s, *v);
        assert_eq!(s, *want, "{v:e}");
        if v.is_finite() {
            assert_eq!(s.parse::<f64>().unwrap(), *v);
        }
    }
}

#[test]
fn encoder_round_trips_through_parser() {
    let labels = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("path", "/a\"b\\c\nd"),
        ("code", "200"),
        ("dotted.name", "x"),
    ]);
    let mut out = String::new();
    write_help(&mut out, "http_requests_total", "Total \\ requests\nhandled.");
    write_type(&mut out, "http_requests_total", MetricType::Counter);
    write_sample(&mut out, &labels, 1234567.0, Some(1700000000123));
    write_sample(&mut out, &Labels::from_pairs([("__name__", "up")]), 1.0, None);
    write_sample(
        &mut out,
        &Labels::from_pairs([("__name__", "my.metric"), ("a", "b")]),
        f64::NEG_INFINITY,
        None,
    );
    assert_eq!(
        out,
        "# HELP http_requests_total Total \\\\ requests\\nhandled.\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{code=\"200\",\"dotted.name\"=\"x\",path=\"/a\\\"b\\\\c\\nd\"} 1.234567e+06 1700000000123\n\
         up 1\n\
         {\"my.metric\",a=\"b\"} -Inf\n"
    );
    let e = parse_all(&out, Format::PrometheusText).unwrap();
    assert_eq!(
        e[0],
        Entry::Help {
            family: "http_requests_total".into(),
            help: "Total \\ requests\nhandled.".into()
        }
    );
    let Entry::Sample(s) = &e[2] else { panic!() };
    assert_eq!(Labels::from_pairs(labels_of(s)), labels);
    assert_eq!(s.value, 1234567.0);
    assert_eq!(s.timestamp, Some(1700000000123));
    let Entry::Sample(s) = &e[4] else { panic!() };
    assert_eq!(
        Labels::from_pairs(labels_of(s)),
        Labels::from_pairs([("__name__", "my.metric"), ("a", "b")])
    );
    let mut t = String::new();
    write_type(&mut t, "x.y", MetricType::Info);
    assert_eq!(t, "# TYPE \"x.y\" untyped\n");
}
