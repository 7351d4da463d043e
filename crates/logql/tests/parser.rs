//! Parser tests: round trips through the canonical printer, and errors with
//! positions.

use sightline_logql::ast::*;
use sightline_logql::{parse, Expr};

fn canon(q: &str) -> String {
    match parse(q) {
        Ok(e) => e.to_string(),
        Err(e) => panic!("{q}: {e}"),
    }
}

#[test]
fn round_trips() {
    let cases = [
        (r#"{app="api"}"#, r#"{app="api"}"#),
        (r#"{app="api",env!="dev", pod=~"a.*" , ns!~`x\d`}"#, r#"{app="api", env!="dev", pod=~"a.*", ns!~"x\\d"}"#),
        (r#"{app="a"} |= "err" != "debug" |~ `\d+` !~ "x" |> "<_> foo <_>" !> "<a> b""#,
         r#"{app="a"} |= "err" != "debug" |~ "\\d+" !~ "x" |> "<_> foo <_>" !> "<a> b""#),
        (r#"{app="a"} |= "a" or "b""#, r#"{app="a"} |= "a" or "b""#),
        (r#"{app="a"} | json | logfmt --strict --keep-empty | unpack"#, r#"{app="a"} | json | logfmt --strict --keep-empty | unpack"#),
        (r#"{app="a"} | json first="servers[0]", ua="request.headers[\"ua\"]""#,
         r#"{app="a"} | json first="servers[0]", ua="request.headers[\"ua\"]""#),
        (r#"{app="a"} | logfmt host, lvl="level""#, r#"{app="a"} | logfmt host="host", lvl="level""#),
        (r#"{app="a"} | regexp "(?P<ip>\\S+) (?P<x>.*)" | pattern "<ip> <_>""#, r#"{app="a"} | regexp "(?P<ip>\\S+) (?P<x>.*)" | pattern "<ip> <_>""#),
        (r#"{app="a"} | logfmt | status >= 400 and latency > 250ms or size <= 1KiB"#,
         r#"{app="a"} | logfmt | status>=400 and latency>250ms or size<=1KiB"#),
        (r#"{app="a"} | logfmt | (a="x" or b=~"y"), c!="z" d == 5"#,
         r#"{app="a"} | logfmt | (a="x" or b=~"y") and c!="z" and d==5"#),
        (r#"{app="a"} | line_format "{{.msg}}" | label_format a=b, c="{{.d}}""#,
         r#"{app="a"} | line_format "{{.msg}}" | label_format a=b, c="{{.d}}""#),
        (r#"{app="a"} | drop a, b="x" | keep c, d=~"y" | decolorize"#, r#"{app="a"} | drop a, b="x" | keep c, d=~"y" | decolorize"#),
        (r#"{app="a"} | __error__="""#, r#"{app="a"} | __error__="""#),
        ("count_over_time({app=\"a\"}[5m])", "count_over_time({app=\"a\"} [5m])"),
        ("rate({app=\"a\"} |= \"x\" [1h30m] offset 5m)", "rate({app=\"a\"} |= \"x\" [1h30m] offset 5m)"),
        ("count_over_time({app=\"a\"}[5m] | json)", "count_over_time({app=\"a\"} | json [5m])"),
        ("sum by (host) (rate({app=\"a\"}[1m]))", "sum by (host) (rate({app=\"a\"} [1m]))"),
        ("sum(rate({app=\"a\"}[1m])) without (pod)", "sum without (pod) (rate({app=\"a\"} [1m]))"),
        ("topk(3, sum by (a) (count_over_time({app=\"a\"}[1m])))", "topk(3, sum by (a) (count_over_time({app=\"a\"} [1m])))"),
        ("quantile_over_time(0.99, {app=\"a\"} | logfmt | unwrap duration(latency) | __error__=\"\" [5m]) by (path)",
         "quantile_over_time(0.99, {app=\"a\"} | logfmt | unwrap duration(latency) | __error__=\"\" [5m]) by (path)"),
        ("sum_over_time({app=\"a\"} | logfmt | unwrap bytes(size) [1m])", "sum_over_time({app=\"a\"} | logfmt | unwrap bytes(size) [1m])"),
        ("rate_counter({app=\"a\"} | logfmt | unwrap total [1m])", "rate_counter({app=\"a\"} | logfmt | unwrap total [1m])"),
        ("vector(1)+vector(1)", "vector(1) + vector(1)"),
        ("1 + 2 * 3 ^ 2 ^ 1", "1 + 2 * 3 ^ 2 ^ 1"),
        ("-1", "-1"),
        ("count_over_time({a=\"b\"}[1m]) > bool on (x) group_left (y) count_over_time({a=\"c\"}[1m])",
         "count_over_time({a=\"b\"} [1m]) > bool on (x) group_left (y) count_over_time({a=\"c\"} [1m])"),
        ("count_over_time({a=\"b\"}[1m]) and ignoring (x) count_over_time({a=\"c\"}[1m])",
         "count_over_time({a=\"b\"} [1m]) and ignoring (x) count_over_time({a=\"c\"} [1m])"),
        ("label_replace(rate({a=\"b\"}[1m]), \"dst\", \"$1\", \"src\", \"(.*)\")",
         "label_replace(rate({a=\"b\"} [1m]), \"dst\", \"$1\", \"src\", \"(.*)\")"),
        ("sort_desc(count_over_time({a=\"b\"}[1m]))", "sort_desc(count_over_time({a=\"b\"} [1m]))"),
        ("absent_over_time({a=\"b\"}[1m])", "absent_over_time({a=\"b\"} [1m])"),
        ("(1 + 2) * 3 # comment", "(1 + 2) * 3"),
        ("2 * -vector(1)", "2 * (-1 * vector(1))"),
        ("-vector(2) % 3", "-1 * vector(2) % 3"),
    ];
    for (q, want) in cases {
        let got = canon(q);
        assert_eq!(got, want, "query {q}");
        assert_eq!(canon(&got), got, "second round of {q}");
    }
}

#[test]
fn precedence_and_structure() {
    let Expr::Metric(MetricExpr::Binary { op, rhs, .. }) = parse("1 + 2 * 3").unwrap() else {
        panic!()
    };
    assert_eq!(op, BinOp::Add);
    assert!(matches!(*rhs, MetricExpr::Binary { op: BinOp::Mul, .. }));
    let Expr::Metric(MetricExpr::Binary { op, lhs, .. }) = parse("2 ^ 3 ^ 2").unwrap() else {
        panic!()
    };
    assert_eq!(op, BinOp::Pow);
    assert!(matches!(*lhs, MetricExpr::Number(v) if v == 2.0));
    let Expr::Log(l) = parse(r#"{a="b"} | logfmt | x > 1.5e3 | y < -2"#).unwrap() else {
        panic!()
    };
    assert!(
        matches!(&l.stages[1], Stage::LabelFilter(LabelFilter::Number { value, .. }) if *value == 1500.0)
    );
    assert!(matches!(&l.stages[2], Stage::LabelFilter(LabelFilter::Number { value, .. }) if *value == -2.0));
    let Expr::Metric(MetricExpr::Range { range, .. }) = parse(r#"rate({a="b"}[90s] offset 1d)"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(range.range_ns, 90_000_000_000);
    assert_eq!(range.offset_ns, 86_400_000_000_000);
}

#[test]
fn errors_have_positions() {
    let cases = [
        ("", "parse error at line 1, col 1: syntax error: empty query"),
        (
            r#"{app="a""#,
            "parse error at line 1, col 9: syntax error: unexpected end of input, expecting , or }",
        ),
        (
            r#"{app=~".*"}"#,
            "parse error at line 1, col 11: queries require at least one regexp or equality matcher",
        ),
        (
            r#"{app="a"} | foo"#,
            "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER foo",
        ),
        (
            "rate({app=\"a\"})",
            "parse error at line 1, col 15: syntax error: unexpected ), expecting [ (a range)",
        ),
        (
            "sum_over_time({app=\"a\"}[1m])",
            "parse error at line 1, col 1: invalid aggregation sum_over_time without unwrap",
        ),
        (
            "count_over_time({app=\"a\"} | unwrap x [1m])",
            "parse error at line 1, col 1: invalid aggregation count_over_time with unwrap",
        ),
        (
            "{app=\"a\"} |~ \"(\"",
            "parse error at line 1, col 14: invalid regex",
        ),
        (
            "{app=\"a\"} | regexp \"(a)\"",
            "parse error at line 1, col 20: at least one named capture must be supplied",
        ),
        (
            "{app=\"a\"}\n | x > \"s\"",
            "parse error at line 2, col 8: syntax error: strings can only be compared",
        ),
        (
            "1 > 2 bool",
            "parse error at line 1, col 7: syntax error: unexpected IDENTIFIER bool",
        ),
        (
            "count_over_time({app=\"a\"}[1m]) by (x)",
            "parse error at line 1, col 1: grouping not allowed for count_over_time",
        ),
        (
            "topk(0, vector(1))",
            "parse error at line 1, col 1: invalid parameter 0 for topk",
        ),
        (
            "{app=\"a\"} + 1",
            "parse error at line 1, col 11: syntax error: unexpected +",
        ),
        (
            "vector(1) + {app=\"a\"}",
            "parse error at line 1, col 13: syntax error: unexpected {",
        ),
        (
            "\"abc",
            "parse error at line 1, col 1: syntax error: unterminated string",
        ),
        (
            "{app=\"a\"} | label_format a=b, a=c",
            "parse error at line 1, col 13: multiple label name 'a' in label_format",
        ),
        (
            "{app=\"a\"} | line_format \"{{.a\"",
            "parse error at line 1, col 25: template: line:1:",
        ),
        ("rate({app=\"a\"}[0s])", "range must be positive"),
        ("{app=\"a\"} @", "unexpected character '@'"),
    ];
    for (q, want) in cases {
        let err = parse(q).map(|e| e.to_string()).expect_err(q).to_string();
        assert!(err.contains(want), "query {q:?}: got {err:?}, want {want:?}");
    }
}

#[test]
fn never_panics_on_prefixes() {
    let q = r#"sum by (a) (rate({app="a", b=~"x|y"} |= "q" | json | logfmt --strict | x > 5ms | line_format "{{.a}}" | unwrap bytes(s) | __error__="" [5m] offset 1m)) / on (a) group_left (b) vector(2) or label_replace(topk(2, count_over_time({a="b"}[1m])), "d", "$1", "s", "(.*)")"#;
    for (i, _) in q.char_indices() {
        let _ = parse(&q[..i]);
    }
    assert!(parse(q).is_ok());
}

/// Queries Grafana's Loki datasource sends on its own (health check, logs
/// volume, query builder output).
#[test]
fn grafana_queries_parse() {
    for q in [
        "vector(1)+vector(1)",
        r#"sum by (level, detected_level) (count_over_time({job="varlogs"} | drop __error__[1s]))"#,
        r#"sum by (level) (count_over_time({job="varlogs"} |= `` | drop __error__ [10s]))"#,
        r#"{job="varlogs"} |= `` | logfmt | __error__=`` | level=~`error|warn`"#,
        r#"{app="x"} | json | line_format `{{.msg}}`"#,
        r#"sum(rate({job="varlogs"} |= "error" [$__auto]))"#.replace("$__auto", "1m").as_str(),
        r#"topk(10, sum by (filename) (bytes_over_time({job="varlogs"}[5m])))"#,
        r#"{job="varlogs"} |~ "(?i)error" != "debug" | pattern `<_> <level> <_>` | level != "info""#,
    ] {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}
