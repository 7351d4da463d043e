use super::*;

/// One emitted sample: labels as `name=value` strings in emitted order.
type Got = (Vec<String>, i64, f64);

const NOW_NS: i64 = 1_700_000_000_123_456_789;

fn run(body: &str, opts: &Options<'_>) -> (Vec<Got>, ParseReport) {
    let mut got = Vec::new();
    let report = parse(
        body.as_bytes(),
        opts,
        &mut |labels: &[LabelRef<'_>], s: Sample| {
            got.push((
                labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect(),
                s.t,
                s.v,
            ));
        },
    );
    (got, report)
}

fn opts() -> Options<'static> {
    Options {
        precision: Precision::Nanoseconds,
        now_ns: NOW_NS,
        db: None,
    }
}

fn ok(body: &str) -> Vec<Got> {
    let (got, report) = run(body, &opts());
    assert_eq!(report.errors, vec![], "unexpected errors for {body:?}");
    got
}

fn labels(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

fn first_error(body: &str) -> String {
    let (got, report) = run(body, &opts());
    assert!(got.is_empty(), "{body:?} produced samples {got:?}");
    assert_eq!(report.error_count, 1, "{body:?}");
    report.errors[0].to_string()
}

#[test]
fn telegraf_output() {
    // As Telegraf's cpu, mem, disk and system inputs print it.
    let body = "\
cpu,cpu=cpu0,host=web-01 usage_user=2.5,usage_system=1.25,usage_idle=96.25 1700000000000000000
mem,host=web-01 total=8589934592i,available_percent=61.5,used=3221225472i 1700000000000000000
disk,device=sda1,fstype=ext4,host=web-01,mode=rw,path=/ free=1.2e+10,inodes_used=123456u 1700000000000000000
system,host=web-01 uptime_format=\"3 days,  4:05\",load1=0.5,n_cpus=4i 1700000000000000000
";
    let got = ok(body);
    let names: Vec<_> = got.iter().map(|g| g.0[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "__name__=cpu_usage_user",
            "__name__=cpu_usage_system",
            "__name__=cpu_usage_idle",
            "__name__=mem_total",
            "__name__=mem_available_percent",
            "__name__=mem_used",
            "__name__=disk_free",
            "__name__=disk_inodes_used",
            "__name__=system_load1",
            "__name__=system_n_cpus",
        ]
    );
    assert_eq!(
        got[0],
        (
            labels(&["__name__=cpu_usage_user", "cpu=cpu0", "host=web-01"]),
            1_700_000_000_000,
            2.5
        )
    );
    assert_eq!(got[3].2, 8_589_934_592.0);
    assert_eq!(
        got[6].0,
        labels(&[
            "__name__=disk_free",
            "device=sda1",
            "fstype=ext4",
            "host=web-01",
            "mode=rw",
            "path=/"
        ])
    );
    assert_eq!((got[6].2, got[7].2), (1.2e10, 123_456.0));
    assert_eq!(got[9].2, 4.0);
    let (_, report) = run(body, &opts());
    assert_eq!((report.points, report.samples, report.error_count), (4, 10, 0));
}

#[test]
fn every_field_type() {
    let got = ok(
        "m f=1.5,neg=-2e-3,i=-42i,u=18446744073709551615u,int_as_float=7,s=\"text\",\
                  b1=t,b2=T,b3=true,b4=True,b5=TRUE,b6=f,b7=F,b8=false,b9=False,b10=FALSE 0",
    );
    let values: Vec<_> = got
        .iter()
        .map(|g| (g.0[0].trim_start_matches("__name__=m_").to_string(), g.2))
        .collect();
    let want = [
        ("f", 1.5),
        ("neg", -2e-3),
        ("i", -42.0),
        ("u", 18_446_744_073_709_551_615.0),
        ("int_as_float", 7.0),
        ("b1", 1.0),
        ("b2", 1.0),
        ("b3", 1.0),
        ("b4", 1.0),
        ("b5", 1.0),
        ("b6", 0.0),
        ("b7", 0.0),
        ("b8", 0.0),
        ("b9", 0.0),
        ("b10", 0.0),
    ];
    assert_eq!(
        values,
        want.iter().map(|(k, v)| (k.to_string(), *v)).collect::<Vec<_>>()
    );
}

#[test]
fn only_string_fields_give_no_samples_but_are_not_errors() {
    let (got, report) = run("event,host=a message=\"disk full\",level=\"warn\" 1\n", &opts());
    assert!(got.is_empty());
    assert_eq!((report.points, report.samples, report.error_count), (1, 0, 0));
}

#[test]
fn escapes() {
    // Measurement: comma and space; tag keys/values and field keys: comma,
    // equals sign and space; a double backslash is one backslash; any other
    // backslash is literal.
    let got = ok(r#"my\ meas\,ure,tag\ key=tag\,val\=ue\ x,path=C:\dir\\sub field\=k\ x=1,"q"=2 5"#);
    assert_eq!(
        got[0].0,
        labels(&[
            "__name__=my_meas_ure_field_k_x",
            "tag_key=tag,val=ue x",
            r"path=C:\dir\sub"
        ])
    );
    assert_eq!(got[1].0[0], "__name__=my_meas_ure__q_");
    // An equals sign needs no escape in a measurement; a quote is literal in tags.
    let got = ok(r#"a=b,t="x" v=1"#);
    assert_eq!(got[0].0, labels(&["__name__=a_b_v", r#"t="x""#]));
    // String values may hold escaped quotes, commas, spaces and equals signs.
    let got = ok(r#"m s="a \"quoted\", x=1 y",v=3 9"#);
    assert_eq!(got, vec![(labels(&["__name__=m_v"]), 0, 3.0)]);
    // A backslash before any other character is literal.
    let got = ok(r"m,t=x\y v=1");
    assert_eq!(got[0].0, labels(&["__name__=m_v", r"t=x\y"]));
}

#[test]
fn names_are_sanitized_like_prometheus() {
    let got = ok("http.requests,status-code=200,9lives=x,ünï=y total:count=1,1st=2");
    assert_eq!(
        got[0].0,
        labels(&[
            "__name__=http_requests_total:count",
            "status_code=200",
            "_9lives=x",
            "_n_=y"
        ])
    );
    assert_eq!(got[1].0[0], "__name__=http_requests_1st");
    let got = ok("9m v=1");
    assert_eq!(got[0].0[0], "__name__=_9m_v");
    // `value` is not special: the name is always measurement_field.
    assert_eq!(ok("temp value=21.5")[0].0[0], "__name__=temp_value");
    // Unicode tag values are kept as sent.
    assert_eq!(ok("m,city=Zürich v=1")[0].0[1], "city=Zürich");
}

#[test]
fn precision_and_default_timestamp() {
    let cases = [
        (Precision::Nanoseconds, "1700000000123456789", 1_700_000_000_123),
        (Precision::Microseconds, "1700000000123456", 1_700_000_000_123),
        (Precision::Milliseconds, "1700000000123", 1_700_000_000_123),
        (Precision::Seconds, "1700000000", 1_700_000_000_000),
        (Precision::Minutes, "28333333", 1_699_999_980_000),
        (Precision::Hours, "472222", 1_699_999_200_000),
        // Before the epoch: rounds down like Prometheus's timestamp conversion.
        (Precision::Nanoseconds, "-1", -1),
        (Precision::Microseconds, "-1500", -2),
    ];
    for (precision, ts, want) in cases {
        let (got, report) = run(&format!("m v=1 {ts}"), &Options { precision, ..opts() });
        assert!(report.errors.is_empty(), "{precision:?} {ts}: {report:?}");
        assert_eq!(got[0].1, want, "{precision:?} {ts}");
    }
    // Missing timestamp: the caller's now, in ms; trailing blanks are fine.
    assert_eq!(ok("m v=1")[0].1, 1_700_000_000_123);
    assert_eq!(ok("m v=1   ")[0].1, 1_700_000_000_123);
    // Overflow when scaling up is a line error.
    let (got, report) = run(
        "m v=1 9223372036854775807",
        &Options {
            precision: Precision::Hours,
            ..opts()
        },
    );
    assert!(got.is_empty());
    assert_eq!(
        report.errors[0].message,
        "timestamp 9223372036854775807 out of range"
    );
}

#[test]
fn precision_parameter_spellings() {
    for (s, p) in [
        ("ns", Precision::Nanoseconds),
        ("n", Precision::Nanoseconds),
        ("us", Precision::Microseconds),
        ("u", Precision::Microseconds),
        ("µ", Precision::Microseconds),
        ("ms", Precision::Milliseconds),
        ("s", Precision::Seconds),
        ("m", Precision::Minutes),
        ("h", Precision::Hours),
    ] {
        assert_eq!(Precision::parse(s), Some(p), "{s}");
    }
    assert_eq!(Precision::parse("d"), None);
    assert_eq!(Precision::parse(""), None);
    assert_eq!(Precision::default(), Precision::Nanoseconds);
}

#[test]
fn db_label() {
    let with_db = Options {
        db: Some("telegraf"),
        ..opts()
    };
    let (got, _) = run("cpu,host=a usage=1\ncpu,host=a,db=mine usage=2", &with_db);
    assert_eq!(got[0].0, labels(&["__name__=cpu_usage", "host=a", "db=telegraf"]));
    assert_eq!(got[1].0, labels(&["__name__=cpu_usage", "host=a", "db=mine"]));
    let (got, _) = run(
        "cpu usage=1",
        &Options {
            db: Some(""),
            ..opts()
        },
    );
    assert_eq!(got[0].0, labels(&["__name__=cpu_usage"]));
}

#[test]
fn bad_lines_are_reported_and_good_lines_kept() {
    let body = "\
# a comment
m1 v=1 10

   \t
m2 v=oops 10
m3,host=a v=2 20\r
m4 v=3i,w=x 30
m5 v=4 40
";
    let (got, report) = run(body, &opts());
    assert_eq!(
        got,
        vec![
            (labels(&["__name__=m1_v"]), 0, 1.0),
            (labels(&["__name__=m3_v", "host=a"]), 0, 2.0),
            (labels(&["__name__=m5_v"]), 0, 4.0),
        ]
    );
    assert_eq!((report.points, report.samples, report.error_count), (3, 3, 2));
    assert_eq!(
        report.first_error().unwrap().to_string(),
        "line 5: invalid value \"oops\" of field \"v\""
    );
    assert_eq!(
        report.errors[1].to_string(),
        "line 7: invalid value \"x\" of field \"w\""
    );
}

#[test]
fn each_problem_is_named() {
    let cases = [
        ("m", "line 1: missing fields"),
        ("m ", "line 1: missing fields"),
        ("m,t=1", "line 1: missing fields"),
        (",t=1 v=1", "line 1: missing measurement name"),
        ("m,t v=1", "line 1: tag \"t\" has no value (expected tag=value)"),
        ("m,t= v=1", "line 1: tag \"t\" has an empty value"),
        ("m,=x v=1", "line 1: empty tag key"),
        ("m,a=1,a=2 v=1", "line 1: duplicate tag key \"a\""),
        ("m,a.b=1,a_b=2 v=1", "line 1: duplicate tag key \"a_b\""),
        ("m,__name__=x v=1", "line 1: tag key \"__name__\" is reserved"),
        ("m v", "line 1: field \"v\" has no value (expected field=value)"),
        ("m =1", "line 1: empty field key"),
        ("m v=", "line 1: empty value \"\" of field \"v\""),
        ("m v=1,", "line 1: field \"\" has no value (expected field=value)"),
        ("m v=\"open", "line 1: unterminated string value of field \"v\""),
        (
            "m v=1.2.3",
            "line 1: invalid float value \"1.2.3\" of field \"v\"",
        ),
        ("m v=inf", "line 1: invalid value \"inf\" of field \"v\""),
        ("m v=NaN", "line 1: invalid value \"NaN\" of field \"v\""),
        (
            "m v=1e999",
            "line 1: float value out of range \"1e999\" of field \"v\"",
        ),
        (
            "m v=1.5i",
            "line 1: invalid integer value \"1.5i\" of field \"v\"",
        ),
        (
            "m v=9223372036854775808i",
            "line 1: invalid integer value \"9223372036854775808i\" of field \"v\"",
        ),
        (
            "m v=-1u",
            "line 1: invalid unsigned integer value \"-1u\" of field \"v\"",
        ),
        ("m v=yes", "line 1: invalid value \"yes\" of field \"v\""),
        ("m v=1 12x", "line 1: invalid timestamp \"12x\""),
        ("m v=1 +12", "line 1: invalid timestamp \"+12\""),
        ("m v=1 1 2", "line 1: invalid timestamp \"1 2\""),
        (
            "m v=1 99999999999999999999",
            "line 1: invalid timestamp \"99999999999999999999\"",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(first_error(line), want, "{line:?}");
    }
    // Invalid UTF-8 is a line error too.
    let mut got = 0;
    let report = parse(b"m v=1\nm,t=\xff v=1\n", &opts(), &mut |_: &[LabelRef<'_>], _| {
        got += 1
    });
    assert_eq!(got, 1);
    assert_eq!(report.errors[0].to_string(), "line 2: invalid UTF-8 at byte 5");
}

#[test]
fn repeated_field_key_keeps_the_last_value() {
    assert_eq!(ok("m v=1,v=2 0"), vec![(labels(&["__name__=m_v"]), 0, 2.0)]);
}

#[test]
fn error_list_is_bounded_but_counted() {
    let body = "bad\n".repeat(MAX_REPORTED_ERRORS + 50);
    let (_, report) = run(&body, &opts());
    assert_eq!(report.error_count, MAX_REPORTED_ERRORS + 50);
    assert_eq!(report.errors.len(), MAX_REPORTED_ERRORS);
    assert_eq!(report.errors[MAX_REPORTED_ERRORS - 1].line, MAX_REPORTED_ERRORS);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const PIECES: &[&[u8]] = &[
        b"m",
        b",",
        b"=",
        b" ",
        b"\\",
        b"\"",
        b"1",
        b"i",
        b"u",
        b"t",
        b".",
        b"e",
        b"-",
        b"\n",
        b"\xc3",
        b"\xa9",
        b"\xff",
        b"#",
        b"\r",
        b"9999999999999999999",
    ];
    for _ in 0..20_000 {
        let len = next() % 24;
        let body: Vec<u8> = (0..len)
            .flat_map(|_| PIECES[(next() % PIECES.len() as u64) as usize].to_vec())
            .collect();
        let mut n = 0;
        let report = parse(&body, &opts(), &mut |l: &[LabelRef<'_>], _| {
            assert!(l[0].name == METRIC_NAME && !l[0].value.is_empty());
            n += 1;
        });
        assert_eq!(report.samples, n);
    }
}

/// The mapping table of `docs/ingest/influx.md`, line by line.
#[test]
fn documented_examples() {
    let series = |line: &str| -> Vec<String> {
        ok(line)
            .into_iter()
            .map(|(l, _, v)| {
                format!(
                    "{} {v}",
                    sightline_model::Labels::from_pairs(l.iter().map(|p| p.split_once('=').unwrap()))
                )
            })
            .collect()
    };
    assert_eq!(
        series("cpu,host=a usage_user=2.5,usage_idle=97.5"),
        [
            r#"cpu_usage_user{host="a"} 2.5"#,
            r#"cpu_usage_idle{host="a"} 97.5"#
        ]
    );
    assert_eq!(
        series("room_temp,room=kitchen value=21.5"),
        [r#"room_temp_value{room="kitchen"} 21.5"#]
    );
    assert_eq!(series("mem used=3221225472i"), ["mem_used{} 3221225472"]);
    assert_eq!(
        series("svc,name=api healthy=true"),
        [r#"svc_healthy{name="api"} 1"#]
    );
    assert_eq!(
        series(r#"event,host=a message="disk full""#),
        Vec::<String>::new()
    );
    assert_eq!(
        series("http.requests,status-code=200 total=5"),
        [r#"http_requests_total{status_code="200"} 5"#]
    );
    assert_eq!(
        series(r"my\ app,tag\=x=a\,b latency=3"),
        [r#"my_app_latency{tag_x="a,b"} 3"#]
    );
    let (got, report) = run(
        "cpu,host=web-01,cpu=cpu0 usage_user=2.5,usage_idle=97.5 1700000000",
        &Options {
            precision: Precision::Seconds,
            db: Some("telegraf"),
            ..opts()
        },
    );
    assert_eq!(report.samples, 2);
    let l = sightline_model::Labels::from_pairs(got[0].0.iter().map(|p| p.split_once('=').unwrap()));
    assert_eq!(
        l.to_string(),
        r#"cpu_usage_user{cpu="cpu0", db="telegraf", host="web-01"}"#
    );
    assert_eq!(got[0].1, 1_700_000_000_000);
}

#[test]
fn long_lines_dedup_the_same_way() {
    // Past the small-set threshold duplicates are found by hashing; the
    // outcome is the same as for short lines.
    let fields: Vec<String> = (0..40).map(|i| format!("f{}={i}", i % 30)).collect();
    let got = ok(&format!("m {} 0", fields.join(",")));
    assert_eq!(got.len(), 30);
    assert_eq!(got[0], (labels(&["__name__=m_f10"]), 0, 10.0));
    assert_eq!(got[29], (labels(&["__name__=m_f9"]), 0, 39.0));
    let tags: Vec<String> = (0..40).map(|i| format!("t_{i}=x")).collect();
    assert_eq!(ok(&format!("m,{} v=1", tags.join(",")))[0].0.len(), 41);
    assert_eq!(
        first_error(&format!("m,{},t.7=y v=1", tags.join(","))),
        "line 1: duplicate tag key \"t_7\""
    );
}
