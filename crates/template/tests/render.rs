//! Templates as users write them in Prometheus rule files, rendered and
//! compared with what Prometheus (Go's text/template) prints.

use sightline_template::{
    expand_alert, prometheus_funcs, AlertData, PromContext, QuerySample, Template, Value,
};
use std::collections::BTreeMap;
use std::sync::Arc;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ctx() -> PromContext {
    PromContext {
        query: Some(Arc::new(|q: &str| match q {
            "up" => Ok(vec![
                QuerySample {
                    labels: labels(&[("__name__", "up"), ("instance", "b:9100")]),
                    value: 0.0,
                },
                QuerySample {
                    labels: labels(&[("__name__", "up"), ("instance", "a:9100")]),
                    value: 1.0,
                },
            ]),
            "node_memory_MemTotal_bytes" => Ok(vec![QuerySample {
                labels: labels(&[]),
                value: 8589934592.0,
            }]),
            "nothing" => Ok(vec![]),
            other => Err(format!("bad query {other:?}")),
        })),
        external_url: "http://prom.example:9090".into(),
        path_prefix: String::new(),
    }
}

fn alert(text: &str, value: f64) -> Result<String, String> {
    let data = AlertData {
        labels: labels(&[
            ("alertname", "HighCPU"),
            ("instance", "web-1:9100"),
            ("job", "node"),
            ("severity", "critical"),
        ]),
        external_labels: labels(&[("cluster", "eu-1")]),
        external_url: "http://prom.example:9090".into(),
        value,
    };
    expand_alert("__alert_HighCPU", text, &data, &prometheus_funcs(ctx())).map_err(|e| e.to_string())
}

#[test]
fn seed_rule_annotations() {
    assert_eq!(
        alert("High CPU usage on {{ $labels.instance }}", 93.5).unwrap(),
        "High CPU usage on web-1:9100"
    );
    assert_eq!(
        alert("Error rate is {{ $value | humanizePercentage }}", 0.0712).unwrap(),
        "Error rate is 7.12%"
    );
    assert_eq!(
        alert("P95 latency is {{ $value }}s", 1.25).unwrap(),
        "P95 latency is 1.25s"
    );
    assert_eq!(
        alert("{{ $labels.instance }} is unreachable", 0.0).unwrap(),
        "web-1:9100 is unreachable"
    );
}

#[test]
fn values_print_like_go() {
    assert_eq!(alert("{{ $value }}", 1234567.0).unwrap(), "1.234567e+06");
    assert_eq!(alert("{{ $value }}", 0.1 + 0.2).unwrap(), "0.30000000000000004");
    assert_eq!(alert("{{ $value }}", f64::NAN).unwrap(), "NaN");
    assert_eq!(alert("{{ $labels.nope }}|", 0.0).unwrap(), "|");
    assert_eq!(
        alert("{{ $externalLabels.cluster }} {{ $externalURL }}", 0.0).unwrap(),
        "eu-1 http://prom.example:9090"
    );
    assert_eq!(alert("{{ .Labels.job }}", 0.0).unwrap(), "node");
    assert_eq!(
        alert("{{ $labels }}", 0.0).unwrap(),
        "map[alertname:HighCPU instance:web-1:9100 job:node severity:critical]"
    );
    assert_eq!(
        alert("plain text, no actions", 0.0).unwrap(),
        "plain text, no actions"
    );
}

#[test]
fn humanize_family() {
    assert_eq!(alert("{{ humanize $value }}", 1234567.0).unwrap(), "1.235M");
    assert_eq!(alert("{{ $value | humanize1024 }}", 8589934592.0).unwrap(), "8Gi");
    assert_eq!(
        alert("{{ humanizeDuration $value }}", 93784.0).unwrap(),
        "1d 2h 3m 4s"
    );
    assert_eq!(
        alert("{{ humanizeTimestamp $value }}", 1435065584.128).unwrap(),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(alert("{{ humanize \"1234\" }}", 0.0).unwrap(), "1.234k");
    let err = alert("{{ humanize \"x\" }}", 0.0).unwrap_err();
    assert!(err.contains("error calling humanize"), "{err}");
}

#[test]
fn control_flow() {
    let t = "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}medium{{ else }}low{{ end }}";
    assert_eq!(alert(t, 90.0).unwrap(), "high");
    assert_eq!(alert(t, 60.0).unwrap(), "medium");
    assert_eq!(alert(t, 10.0).unwrap(), "low");
    assert_eq!(
        alert("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 0.0).unwrap(),
        "alertname=HighCPU;instance=web-1:9100;job=node;severity=critical;"
    );
    assert_eq!(
        alert("{{ with $labels.severity }}sev={{ . }}{{ end }}", 0.0).unwrap(),
        "sev=critical"
    );
    assert_eq!(
        alert("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0).unwrap(),
        "none"
    );
    assert_eq!(alert("a  {{- \" b \" -}}  c", 0.0).unwrap(), "a b c");
    assert_eq!(alert("{{/* a comment */}}x", 0.0).unwrap(), "x");
    assert_eq!(
        alert("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", 0.0).unwrap(),
        "2"
    );
    assert_eq!(
        alert(
            "{{ range $i, $e := query \"up\" }}{{ if $i }},{{ end }}{{ $i }}{{ end }}",
            0.0
        )
        .unwrap(),
        "0,1"
    );
    assert_eq!(
        alert("{{ range query \"nothing\" }}x{{ else }}empty{{ end }}", 0.0).unwrap(),
        "empty"
    );
    assert_eq!(alert("{{ range 3 }}{{ . }}{{ end }}", 0.0).unwrap(), "012");
    assert_eq!(
        alert(
            "{{ range 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
            0.0
        )
        .unwrap(),
        "012"
    );
    assert_eq!(
        alert(
            "{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" $labels.job }}",
            0.0
        )
        .unwrap(),
        "[node]"
    );
}

#[test]
fn queries() {
    assert_eq!(
        alert(
            "{{ with query \"node_memory_MemTotal_bytes\" }}{{ . | first | value | humanize1024 }}B{{ end }}",
            0.0
        )
        .unwrap(),
        "8GiB"
    );
    assert_eq!(
        alert("{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}", 0.0)
            .unwrap(),
        "a:9100=1 b:9100=0 "
    );
    assert_eq!(
        alert("{{ query \"up\" | first | label \"instance\" }}", 0.0).unwrap(),
        "b:9100"
    );
    let err = alert("{{ query \"nothing\" | first | value }}", 0.0).unwrap_err();
    assert!(err.contains("first() called on vector with no elements"), "{err}");
    let err = alert("{{ query \"bad\" }}", 0.0).unwrap_err();
    assert!(err.contains("bad query"), "{err}");
}

#[test]
fn strings_and_regexes() {
    assert_eq!(alert("{{ toUpper $labels.severity }}", 0.0).unwrap(), "CRITICAL");
    assert_eq!(
        alert("{{ title \"disk full on host\" }}", 0.0).unwrap(),
        "Disk Full On Host"
    );
    assert_eq!(
        alert("{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}", 0.0).unwrap(),
        "web-1"
    );
    assert_eq!(
        alert("{{ if match \"^web-\" $labels.instance }}web{{ end }}", 0.0).unwrap(),
        "web"
    );
    assert_eq!(alert("{{ $labels.instance | stripPort }}", 0.0).unwrap(), "web-1");
    assert_eq!(alert("{{ printf \"%.1f%%\" $value }}", 93.44).unwrap(), "93.4%");
    assert_eq!(
        alert("{{ printf \"%s is %v\" $labels.job 3 }}", 0.0).unwrap(),
        "node is 3"
    );
    assert_eq!(
        alert("{{ graphLink \"up == 0\" }}", 0.0).unwrap(),
        "/graph?g0.expr=up+%3D%3D+0&g0.tab=0"
    );
    assert_eq!(
        alert("{{ len $labels }} {{ index $labels \"job\" }}", 0.0).unwrap(),
        "4 node"
    );
    assert_eq!(
        alert("{{ and 1 0 }} {{ or 0 \"x\" }} {{ not true }}", 0.0).unwrap(),
        "0 x false"
    );
    assert_eq!(alert("{{ (args 1 \"b\").arg1 }}", 0.0).unwrap(), "b");
    assert_eq!(alert("{{ \"5m\" | parseDuration }}", 0.0).unwrap(), "300");
    assert_eq!(alert("{{ 90 | toDuration }}", 0.0).unwrap(), "1m30s");
}

#[test]
fn errors_name_template_line_and_action() {
    // Go refuses to compare a float with an int constant.
    let err = alert("{{ if gt $value 80 }}x{{ end }}", 90.0).unwrap_err();
    assert!(err.contains("__alert_HighCPU:1:"), "{err}");
    assert!(err.contains("incompatible types for comparison"), "{err}");
    let err = alert("line1\n{{ nosuchfunc 1 }}", 0.0).unwrap_err();
    assert!(err.contains(":2:1: function \"nosuchfunc\" not defined"), "{err}");
    let err = alert("{{ if true }}unclosed", 0.0).unwrap_err();
    assert!(err.contains("unexpected EOF"), "{err}");
    let err = alert("{{ $labels.instance", 0.0).unwrap_err();
    assert!(err.contains("unclosed action"), "{err}");
    let err = alert("{{ $undefined }}", 0.0).unwrap_err();
    assert!(err.contains("undefined variable \"$undefined\""), "{err}");
    let err = alert("{{ end }}", 0.0).unwrap_err();
    assert!(err.contains("unexpected {{end}}"), "{err}");
    let err = alert("{{ \"x\" 1 }}", 0.0).unwrap_err();
    assert!(err.contains("can't give argument to non-function"), "{err}");
}

#[test]
fn never_panics_on_garbage() {
    let funcs = prometheus_funcs(ctx());
    let pieces = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        "$",
        ".",
        "|",
        "(",
        ")",
        "\"",
        "`",
        "'",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        ":=",
        "=",
        ",",
        "1",
        "1.5",
        "x",
        "$labels",
        ".Labels.x",
        "printf",
        "%",
        " ",
        "\n",
        "/*",
        "*/",
        "break",
        "nil",
        "0x",
        "'\\",
        "block",
    ];
    let mut seed = 0x2545F4914F6CDD1Du64;
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..(seed % 12) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        if let Ok(t) = Template::parse("fuzz", &s) {
            let _ = t.execute(&Value::Map(BTreeMap::new()), &funcs);
        }
    }
}
