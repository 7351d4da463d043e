//! Engine tests over a real LogStore in a temp dir: a table of queries with
//! their expected results, plus log-query, error and JSON-shape cases.
//!
//! Data (T0 = 1_700_000_000 s):
//! - `{app="api", env="prod"}`: logfmt lines at T0 + 0, 10, ..., 50 s; the
//!   line at +30 s is an error (status 500, latency 1.5s, size 2KB), the others
//!   are status 200, latency 100ms, size 1KB; `total` counts 10, 20, ... 60.
//! - `{app="web", env="prod"}`: JSON lines at T0 + 5, 25, 45 s.
//! - `{app="api", env="dev"}`: one plain line at T0 + 15 s with structured
//!   metadata `user.id=42` and a trace id.
//!
//! Half the records are flushed to segments before the rest is appended, so
//! every query reads both the head and segments.

use sightline_logql::{parse, to_loki_json, Direction, Engine, EngineOptions, Error, Value};
use sightline_logstore::{LogRecord, LogStore, Options};
use sightline_model::Labels;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;
const TENANT: &str = "fake";

fn store() -> (tempfile::TempDir, LogStore) {
    let dir = tempfile::tempdir().unwrap();
    let st = LogStore::open(dir.path(), Options::default()).unwrap();
    let api = Labels::from_pairs([("app", "api"), ("env", "prod")]);
    let web = Labels::from_pairs([("app", "web"), ("env", "prod")]);
    let dev = Labels::from_pairs([("app", "api"), ("env", "dev")]);
    let mut recs = Vec::new();
    for i in 0..6i64 {
        let line = if i == 3 {
            format!(
                "level=error status=500 latency=1.5s size=2KB total={} msg=\"boom\"",
                (i + 1) * 10
            )
        } else {
            format!(
                "level=info status=200 latency=100ms size=1KB total={} msg=\"ok {i}\"",
                (i + 1) * 10
            )
        };
        recs.push(LogRecord::new(T0 + i * 10 * S, api.clone(), line));
    }
    for i in 0..3i64 {
        recs.push(LogRecord::new(
            T0 + (5 + 20 * i) * S,
            web.clone(),
            format!(r#"{{"level":"warn","status":404,"req":{{"path":"/x{i}"}},"dur":"250ms"}}"#),
        ));
    }
    let mut r = LogRecord::new(T0 + 15 * S, dev, "plain \x1b[31mtext\x1b[0m");
    r.fields = vec![("user.id".into(), "42".into())];
    r.trace_id = Some([0xab; 16]);
    r.severity = Some(13);
    recs.push(r);
    recs.sort_by_key(|r| r.ts_ns);
    let (a, b) = recs.split_at(5);
    st.append(TENANT, a).unwrap();
    st.flush().unwrap();
    st.append(TENANT, b).unwrap();
    (dir, st)
}

fn instant(st: &LogStore, q: &str, t: i64) -> Result<Value, Error> {
    Engine::default().instant(st, TENANT, &parse(q)?, t)
}

/// Renders a vector as `labels => value` lines (sorted as returned).
fn show(v: &Value) -> String {
    match v {
        Value::Vector(vs) => vs
            .iter()
            .map(|s| format!("{} => {}", s.labels, sightline_logql::format_value(s.v)))
            .collect::<Vec<_>>()
            .join("; "),
        Value::Scalar { v, .. } => format!("scalar {}", sightline_logql::format_value(*v)),
        Value::Matrix(ms) => ms
            .iter()
            .map(|s| {
                format!(
                    "{} => [{}]",
                    s.labels,
                    s.points
                        .iter()
                        .map(|(t, v)| format!("{}:{}", (t - T0) / S, sightline_logql::format_value(*v)))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::Streams(_) => "streams".into(),
    }
}

#[test]
fn instant_query_table() {
    let (_d, st) = store();
    let api = r#"{app="api", env="prod"}"#;
    let t60 = T0 + 60 * S;
    let t50 = T0 + 50 * S;
    let cases: Vec<(String, i64, &str)> = vec![
        // left-open window: the line at T0 is outside (T0, T0+60s]
        (format!("count_over_time({api}[1m])"), t60, r#"{app="api", env="prod"} => 5"#),
        (format!("count_over_time({api}[1m])"), t50, r#"{app="api", env="prod"} => 6"#),
        (format!("rate({api}[1m])"), t50, r#"{app="api", env="prod"} => 0.1"#),
        (format!("count_over_time({api}[1m] offset 10s)"), t60, r#"{app="api", env="prod"} => 6"#),
        (format!("count_over_time({api} |= \"boom\" [1m])"), t50, r#"{app="api", env="prod"} => 1"#),
        (format!("count_over_time({api} != \"boom\" |~ \"ok [0-2]\" [1m])"), t50, r#"{app="api", env="prod"} => 3"#),
        (
            format!("sum by (level) (count_over_time({api} | logfmt [1m]))"),
            t50,
            r#"{level="error"} => 1; {level="info"} => 5"#,
        ),
        (
            format!("sum(count_over_time({api} | logfmt | status >= 500 [1m]))"),
            t50,
            "{} => 1",
        ),
        (
            format!("sum(count_over_time({api} | logfmt | latency > 1s or size >= 2KB [1m]))"),
            t50,
            "{} => 1",
        ),
        (
            format!("sum_over_time({api} | logfmt | unwrap duration(latency) [1m])"),
            t50,
            r#"{app="api", env="prod", level="error", msg="boom", size="2KB", status="500", total="40"} => 1.5; {app="api", env="prod", level="info", msg="ok 0", size="1KB", status="200", total="10"} => 0.1; {app="api", env="prod", level="info", msg="ok 1", size="1KB", status="200", total="20"} => 0.1; {app="api", env="prod", level="info", msg="ok 2", size="1KB", status="200", total="30"} => 0.1; {app="api", env="prod", level="info", msg="ok 4", size="1KB", status="200", total="50"} => 0.1; {app="api", env="prod", level="info", msg="ok 5", size="1KB", status="200", total="60"} => 0.1"#,
        ),
        (
            format!("sum_over_time({api} | logfmt | unwrap duration(latency) [1m]) by (app)"),
            t50,
            r#"{app="api"} => 2"#,
        ),
        (
            format!("max_over_time({api} | logfmt | unwrap bytes(size) [1m]) by (env)"),
            t50,
            r#"{env="prod"} => 2000"#,
        ),
        (
            format!("avg_over_time({api} | logfmt | unwrap status [1m]) by (app)"),
            t50,
            r#"{app="api"} => 250"#,
        ),
        (
            format!("quantile_over_time(0.5, {api} | logfmt | unwrap total [1m]) without (level, msg, size, status, latency, total)"),
            t50,
            r#"{app="api", env="prod"} => 35"#,
        ),
        (
            format!("first_over_time({api} | logfmt | unwrap total [1m]) by (app)"),
            t50,
            r#"{app="api"} => 10"#,
        ),
        (
            format!("last_over_time({api} | logfmt | unwrap total [1m]) by (app)"),
            t50,
            r#"{app="api"} => 60"#,
        ),
        (
            format!("stdvar_over_time({api} | logfmt | unwrap total [1m]) by (app)"),
            t50,
            r#"{app="api"} => 291.6666666666667"#,
        ),
        (
            format!("rate({api} | logfmt | unwrap total [1m]) by (app)"),
            t50,
            r#"{app="api"} => 3.5"#,
        ),
        // counter rate of 10..60 over samples 10s apart: Prometheus extrapolation
        (
            format!("rate_counter({api} | logfmt | unwrap total [1m]) by (app)"),
            t50,
            r#"{app="api"} => 1"#,
        ),
        (format!("bytes_over_time({api} |= \"boom\" [1m])"), t50, r#"{app="api", env="prod"} => 64"#),
        (format!("bytes_rate({api} |= \"boom\" [1m])"), t50, r#"{app="api", env="prod"} => 1.0666666666666667"#),
        (
            r#"sum by (req_path) (count_over_time({app="web"} | json | __error__="" [1m]))"#.into(),
            t50,
            r#"{req_path="/x0"} => 1; {req_path="/x1"} => 1; {req_path="/x2"} => 1"#,
        ),
        (
            r#"sum by (app) (count_over_time({env="prod"}[1m]))"#.into(),
            t50,
            r#"{app="api"} => 6; {app="web"} => 3"#,
        ),
        (
            r#"topk(1, sum by (app) (count_over_time({env="prod"}[1m])))"#.into(),
            t50,
            r#"{app="api"} => 6"#,
        ),
        (
            r#"bottomk(1, sum by (app) (count_over_time({env="prod"}[1m])))"#.into(),
            t50,
            r#"{app="web"} => 3"#,
        ),
        (
            r#"sort(sum by (app) (count_over_time({env="prod"}[1m])))"#.into(),
            t50,
            r#"{app="web"} => 3; {app="api"} => 6"#,
        ),
        (
            r#"sort_desc(sum by (app) (count_over_time({env="prod"}[1m])))"#.into(),
            t50,
            r#"{app="api"} => 6; {app="web"} => 3"#,
        ),
        (r#"count(count_over_time({app=~".+"}[1m]))"#.into(), t50, "{} => 3"),
        (r#"avg(count_over_time({app=~".+"}[1m]))"#.into(), t50, "{} => 3.3333333333333335"),
        (r#"max(count_over_time({app=~".+"}[1m]))"#.into(), t50, "{} => 6"),
        (r#"min(count_over_time({app=~".+"}[1m]))"#.into(), t50, "{} => 1"),
        (r#"stddev(count_over_time({env="prod"}[1m]))"#.into(), t50, "{} => 1.5"),
        (
            r#"sum by (app) (count_over_time({env="prod"}[1m])) > 3"#.into(),
            t50,
            r#"{app="api"} => 6"#,
        ),
        (
            r#"sum by (app) (count_over_time({env="prod"}[1m])) > bool 3"#.into(),
            t50,
            r#"{app="api"} => 1; {app="web"} => 0"#,
        ),
        (
            r#"sum by (app) (count_over_time({env="prod"}[1m])) * 2 - 1"#.into(),
            t50,
            r#"{app="api"} => 11; {app="web"} => 5"#,
        ),
        (
            r#"sum by (app) (count_over_time({env="prod"}[1m])) / on (app) sum by (app) (count_over_time({app=~".+"}[1m]))"#.into(),
            t50,
            r#"{app="api"} => 0.8571428571428571; {app="web"} => 1"#,
        ),
        (
            r#"count_over_time({app=~".+"}[1m]) / ignoring (env) group_left sum by (app) (count_over_time({app=~".+"}[1m]))"#.into(),
            t50,
            // the dev stream carries structured metadata, so it matches nothing
            r#"{app="api", env="prod"} => 0.8571428571428571; {app="web", env="prod"} => 1"#,
        ),
        (
            r#"count_over_time({app=~".+"}[1m]) and on (env) count_over_time({app="web"}[1m])"#.into(),
            t50,
            r#"{app="api", env="prod"} => 6; {app="web", env="prod"} => 3"#,
        ),
        (
            r#"count_over_time({app=~".+"}[1m]) unless on (env) count_over_time({app="web"}[1m])"#.into(),
            t50,
            r#"{app="api", detected_level="warn", env="dev", trace_id="abababababababababababababababab", user_id="42"} => 1"#,
        ),
        (
            r#"count_over_time({app="web"}[1m]) or on (app) count_over_time({app="api"}[1m])"#.into(),
            t50,
            r#"{app="api", detected_level="warn", env="dev", trace_id="abababababababababababababababab", user_id="42"} => 1; {app="api", env="prod"} => 6; {app="web", env="prod"} => 3"#,
        ),
        (
            r#"label_replace(count_over_time({app="web"}[1m]), "svc", "web-$1", "env", "(p.*)")"#.into(),
            t50,
            r#"{app="web", env="prod", svc="web-prod"} => 3"#,
        ),
        (
            r#"absent_over_time({app="nope", env=~"x.*"}[1m])"#.into(),
            t50,
            r#"{app="nope"} => 1"#,
        ),
        (r#"absent_over_time({app="web"}[1m])"#.into(), t50, ""),
        (r#"count_over_time({app="nope"}[1m])"#.into(), t50, ""),
        ("vector(1)+vector(1)".into(), t50, "{} => 2"),
        ("1 + 2 * 3".into(), t50, "scalar 7"),
        ("2 ^ 3 ^ 2".into(), t50, "scalar 512"),
        ("1 > bool 2".into(), t50, "scalar 0"),
        ("-vector(2) % 3".into(), t50, "{} => -2"),
        // structured metadata is a label; dotted names are sanitized
        (
            r#"count_over_time({env="dev"} | user_id="42" | decolorize |= "plain text" [1m])"#.into(),
            t50,
            r#"{app="api", detected_level="warn", env="dev", trace_id="abababababababababababababababab", user_id="42"} => 1"#,
        ),
        (
            r#"sum by (app_extracted) (count_over_time({app="web"} | regexp "\"(?P<app>[a-z]+)\"" [1m]))"#.into(),
            t50,
            r#"{app_extracted="level"} => 3"#,
        ),
    ];
    let mut failures = Vec::new();
    for (q, t, want) in &cases {
        match instant(&st, q, *t) {
            Ok(v) => {
                let got = show(&v);
                if got != *want {
                    failures.push(format!("{q}\n   got:  {got}\n   want: {want}"));
                }
            }
            Err(e) => failures.push(format!("{q}\n   error: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn range_queries_step_alignment() {
    let (_d, st) = store();
    let e = Engine::default();
    let q = parse(r#"count_over_time({app="api", env="prod"}[20s])"#).unwrap();
    let v = e.range(&st, TENANT, &q, T0, T0 + 60 * S, 20 * S).unwrap();
    // windows (T0-20,T0], (T0,T0+20], (T0+20,T0+40], (T0+40,T0+60]
    assert_eq!(show(&v), r#"{app="api", env="prod"} => [0:1 20:2 40:2 60:1]"#);
    let q = parse(r#"sum by (app) (count_over_time({env="prod"}[10s]))"#).unwrap();
    let v = e.range(&st, TENANT, &q, T0 + 5 * S, T0 + 25 * S, 10 * S).unwrap();
    assert_eq!(
        show(&v),
        r#"{app="api"} => [5:1 15:1 25:1]; {app="web"} => [5:1 25:1]"#
    );
    let v = e
        .range(
            &st,
            TENANT,
            &parse("vector(1)+vector(1)").unwrap(),
            T0,
            T0 + 2 * S,
            S,
        )
        .unwrap();
    assert_eq!(show(&v), "{} => [0:2 1:2 2:2]");
    let v = e
        .range(&st, TENANT, &parse("1+1").unwrap(), T0, T0 + S, S)
        .unwrap();
    assert_eq!(show(&v), "{} => [0:2 1:2]");
    let j = to_loki_json(
        &e.range(
            &st,
            TENANT,
            &parse(r#"count_over_time({app="web"}[10s])"#).unwrap(),
            T0,
            T0 + 10 * S,
            5 * S,
        )
        .unwrap(),
    );
    assert_eq!(
        j,
        serde_json::json!({"resultType":"matrix","result":[{"metric":{"app":"web","env":"prod"},"values":[[1700000005,"1"],[1700000010,"1"]]}]})
    );
    // limits and bad arguments
    assert!(matches!(
        e.range(&st, TENANT, &q, T0, T0 + 20_000 * S, S),
        Err(Error::Limit(_))
    ));
    assert!(matches!(
        e.range(&st, TENANT, &q, T0, T0 + S, 0),
        Err(Error::BadQuery(_))
    ));
    let small = Engine::new(EngineOptions {
        max_series: 1,
        ..EngineOptions::default()
    });
    let err = small
        .instant(
            &st,
            TENANT,
            &parse(r#"count_over_time({app=~".+"}[1m])"#).unwrap(),
            T0 + 50 * S,
        )
        .unwrap_err();
    assert!(err.to_string().contains("maximum number of series (1)"), "{err}");
}

#[test]
fn pipeline_errors_fail_metric_queries() {
    let (_d, st) = store();
    let err = instant(
        &st,
        r#"count_over_time({app="api", env="prod"} | json [1m])"#,
        T0 + 50 * S,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Pipeline(_)));
    assert!(
        err.to_string().contains("pipeline error: 'JSONParserErr'"),
        "{err}"
    );
    let v = instant(
        &st,
        r#"count_over_time({app="api", env="prod"} | json | __error__="" [1m])"#,
        T0 + 50 * S,
    )
    .unwrap();
    assert_eq!(show(&v), "");
    // unwrap of a non-number is a SampleExtractionErr unless filtered after unwrap
    let err = instant(
        &st,
        r#"sum_over_time({app="api", env="prod"} | logfmt | unwrap msg [1m])"#,
        T0 + 50 * S,
    )
    .unwrap_err();
    assert!(err.to_string().contains("SampleExtractionErr"), "{err}");
    let v = instant(
        &st,
        r#"sum_over_time({app="api", env="prod"} | logfmt | unwrap msg | __error__="" [1m]) by (app)"#,
        T0 + 50 * S,
    )
    .unwrap();
    assert_eq!(show(&v), "");
    // lines without the unwrapped label have no sample
    let v = instant(
        &st,
        r#"sum_over_time({app=~".+"} | logfmt | unwrap total [1m]) by (env)"#,
        T0 + 50 * S,
    )
    .unwrap();
    assert_eq!(show(&v), r#"{env="prod"} => 210"#);
    // a numeric filter on a non-number keeps the line with LabelFilterErr
    let err = instant(
        &st,
        r#"count_over_time({app="api", env="prod"} | logfmt | msg > 1 [1m])"#,
        T0 + 50 * S,
    )
    .unwrap_err();
    assert!(err.to_string().contains("LabelFilterErr"), "{err}");
    // log queries cannot be instant queries, metric queries cannot be log queries
    assert!(matches!(
        instant(&st, r#"{app="api"}"#, T0),
        Err(Error::BadQuery(_))
    ));
    let e = Engine::default();
    assert!(e
        .query_logs(
            &st,
            TENANT,
            &parse("vector(1)").unwrap(),
            T0,
            T0 + S,
            Direction::Forward,
            10
        )
        .is_err());
    assert!(matches!(
        e.query_logs(
            &st,
            TENANT,
            &parse(r#"{app="api"}"#).unwrap(),
            T0,
            T0 + S,
            Direction::Forward,
            5001
        ),
        Err(Error::Limit(_))
    ));
    assert!(matches!(instant(&st, "1 > 2", T0), Err(Error::BadQuery(_))));
    assert!(matches!(
        instant(&st, "vector(1) and 1", T0),
        Err(Error::BadQuery(_))
    ));
    assert!(matches!(
        instant(
            &st,
            r#"count_over_time({app=~".+"}[1m]) / on (app) count_over_time({app=~".+"}[1m])"#,
            T0 + 50 * S
        ),
        Err(Error::BadQuery(_))
    ));
}

fn logs(st: &LogStore, q: &str, dir: Direction, limit: usize) -> Vec<(String, Vec<(i64, String)>)> {
    Engine::default()
        .query_logs(st, TENANT, &parse(q).unwrap(), T0, T0 + 100 * S, dir, limit)
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.entries.into_iter().map(|(t, l)| ((t - T0) / S, l)).collect(),
            )
        })
        .collect()
}

#[test]
fn log_queries() {
    let (_d, st) = store();
    // forward: oldest first, limit over all streams
    let r = logs(&st, r#"{app="api"}"#, Direction::Forward, 3);
    assert_eq!(r.len(), 2);
    assert_eq!(
        r[0].0,
        r#"{app="api", detected_level="warn", env="dev", trace_id="abababababababababababababababab", user_id="42"}"#
    );
    assert_eq!(r[0].1.len(), 1);
    assert_eq!(r[1].1.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 10]);
    // backward: newest first
    let r = logs(&st, r#"{app="api", env="prod"}"#, Direction::Backward, 2);
    assert_eq!(r[0].1.iter().map(|e| e.0).collect::<Vec<_>>(), vec![50, 40]);
    // end is exclusive, start inclusive
    let r = Engine::default()
        .query_logs(
            &st,
            TENANT,
            &parse(r#"{app="api", env="prod"}"#).unwrap(),
            T0,
            T0 + 50 * S,
            Direction::Forward,
            100,
        )
        .unwrap();
    assert_eq!(r[0].entries.len(), 5);
    assert_eq!(r[0].entries[0].0, T0);
    // parsers, label filters and formats
    let r = logs(
        &st,
        r#"{app="api", env="prod"} | logfmt | status >= 500 | line_format "{{.level | ToUpper}}: {{.msg}} at {{ __timestamp__ | unixEpoch }}""#,
        Direction::Forward,
        100,
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1, vec![(30, "ERROR: boom at 1700000030".to_string())]);
    assert!(r[0].0.contains(r#"latency="1.5s""#) && r[0].0.contains(r#"level="error""#));
    let r = logs(
        &st,
        r#"{app="web"} | json | req_path=~"/x[12]" | label_format p=req_path | keep p, app"#,
        Direction::Forward,
        100,
    );
    assert_eq!(
        r.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        vec![r#"{app="web", p="/x1"}"#, r#"{app="web", p="/x2"}"#]
    );
    let r = logs(
        &st,
        r#"{app="web"} | json lvl="level", path="req.path" | drop level | path="/x0""#,
        Direction::Forward,
        100,
    );
    assert_eq!(r[0].0, r#"{app="web", env="prod", lvl="warn", path="/x0"}"#);
    let r = logs(
        &st,
        r#"{app="web"} | json | dur > 200ms | dur < 1s"#,
        Direction::Forward,
        100,
    );
    assert_eq!(r.len(), 3);
    let r = logs(
        &st,
        r#"{app="api", env="prod"} | pattern "level=<lvl> status=<code> <_>" | code="500""#,
        Direction::Forward,
        100,
    );
    assert_eq!(r[0].1.len(), 1);
    assert!(r[0].0.contains(r#"lvl="error""#));
    let r = logs(
        &st,
        r#"{app="api", env="prod"} | regexp "total=(?P<t>\\d+)" | t > 45"#,
        Direction::Forward,
        100,
    );
    assert_eq!(r.iter().map(|s| s.1[0].0).collect::<Vec<_>>(), vec![40, 50]);
    let r = logs(
        &st,
        r#"{app="api", env="prod"} |> "<_> status=200 <_>" |= "ok" or "boom""#,
        Direction::Forward,
        100,
    );
    assert_eq!(r[0].1.len(), 5);
    let r = logs(&st, r#"{env="dev"} | decolorize"#, Direction::Forward, 100);
    assert_eq!(r[0].1[0].1, "plain text");
    // json on a logfmt line keeps the line with __error__
    let r = logs(&st, r#"{app="api", env="prod"} | json"#, Direction::Forward, 1);
    assert!(r[0].0.contains(r#"__error__="JSONParserErr""#), "{}", r[0].0);
    // unpack: _entry replaces the line
    let dir = tempfile::tempdir().unwrap();
    let st2 = LogStore::open(dir.path(), Options::default()).unwrap();
    st2.append(
        TENANT,
        &[LogRecord::new(
            T0,
            Labels::from_pairs([("app", "packed")]),
            r#"{"_entry":"inner line","pod":"p1","n":3}"#,
        )],
    )
    .unwrap();
    let r = logs(&st2, r#"{app="packed"} | unpack"#, Direction::Forward, 10);
    assert_eq!(r[0].0, r#"{app="packed", pod="p1"}"#);
    assert_eq!(r[0].1[0].1, "inner line");
    let j = to_loki_json(&Value::Streams(
        Engine::default()
            .query_logs(
                &st2,
                TENANT,
                &parse(r#"{app="packed"}"#).unwrap(),
                T0,
                T0 + S,
                Direction::Backward,
                10,
            )
            .unwrap(),
    ));
    assert_eq!(
        j,
        serde_json::json!({"resultType":"streams","result":[{"stream":{"app":"packed"},"values":[["1700000000000000000", r#"{"_entry":"inner line","pod":"p1","n":3}"#]]}]})
    );
}

#[test]
fn timeout_and_store_side_limit() {
    let dir = tempfile::tempdir().unwrap();
    let st = LogStore::open(dir.path(), Options::default()).unwrap();
    let l = Labels::from_pairs([("app", "many")]);
    let recs: Vec<LogRecord> = (0..3000)
        .map(|i| LogRecord::new(T0 + i * 1000, l.clone(), format!("line {i}")))
        .collect();
    st.append(TENANT, &recs).unwrap();
    let slow = Engine::new(EngineOptions {
        timeout: Some(std::time::Duration::ZERO),
        ..EngineOptions::default()
    });
    let q = parse(r#"count_over_time({app="many"}[1m])"#).unwrap();
    assert!(matches!(
        slow.instant(&st, TENANT, &q, T0 + S),
        Err(Error::Timeout(_))
    ));
    let v = Engine::default().instant(&st, TENANT, &q, T0 + S).unwrap();
    assert_eq!(show(&v), r#"{app="many"} => 3000"#);
    // a log query without pipeline stages lets the store apply the limit
    let r = Engine::default()
        .query_logs(
            &st,
            TENANT,
            &parse(r#"{app="many"} |= "line""#).unwrap(),
            T0,
            T0 + S,
            Direction::Backward,
            7,
        )
        .unwrap();
    assert_eq!(r[0].entries.len(), 7);
    assert_eq!(r[0].entries[0].1, "line 2999");
}
