use super::*;
use std::collections::HashMap;
use std::time::Duration;

/// `/work/shared/reference/configs`, computed from the crate directory (never copied).
fn reference(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/configs")
        .join(name)
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Loads `src` as `<dir>/prometheus.yml`.
fn load_text(src: &str) -> Result<(Config, Vec<Warning>), ConfigError> {
    load_str(Path::new("/nonexistent/prometheus.yml"), src, &no_env)
}

/// The single error of loading `src`: (line, column, message).
fn error_of(src: &str) -> (Option<usize>, Option<usize>, String) {
    match load_text(src) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => {
            assert_eq!(e.diagnostics.len(), 1, "{e}");
            let d = &e.diagnostics[0];
            assert!(d.is_error());
            (d.line, d.column, d.message.clone())
        }
    }
}

fn assert_error(src: &str, line: usize, want: &str) {
    let (l, _, msg) = error_of(src);
    assert!(
        msg.contains(want),
        "message {msg:?} does not contain {want:?}\n{src}"
    );
    assert_eq!(l, Some(line), "line of {msg:?}\n{src}");
}

#[test]
fn loads_reference_prometheus_yml_and_its_rule_file() {
    let (cfg, warnings) = load(&reference("prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cfg.global.scrape_interval, Duration::from_secs(15));
    assert_eq!(cfg.global.evaluation_interval, Duration::from_secs(15));
    assert_eq!(cfg.global.scrape_timeout, Duration::from_secs(10));
    let jobs: Vec<&str> = cfg.scrape_configs.iter().map(|s| s.job_name.as_str()).collect();
    assert_eq!(
        jobs,
        ["prometheus", "node", "web-api", "postgres", "business-metrics"]
    );
    for sc in &cfg.scrape_configs {
        assert_eq!(sc.scrape_interval, Duration::from_secs(15), "{}", sc.job_name);
        assert_eq!(sc.scrape_timeout, Duration::from_secs(10));
        assert_eq!(sc.metrics_path, "/metrics");
        assert_eq!(sc.scheme, "http");
        assert!(sc.honor_timestamps);
        assert_eq!(sc.scrape_protocols, default_scrape_protocols());
    }
    assert_eq!(cfg.scrape_configs[2].static_configs[0].targets, ["web-api:8080"]);
    assert_eq!(
        cfg.alerting.alertmanagers[0].static_configs[0].targets,
        ["alertmanager:9093"]
    );
    assert_eq!(cfg.alerting.alertmanagers[0].api_version, "v2");
    // rule_files resolves next to the config file.
    assert_eq!(
        cfg.rule_files,
        [reference("alert_rules.yml").to_string_lossy().into_owned()]
    );
    let groups: Vec<&str> = cfg.rule_groups.iter().map(|g| g.group.name.as_str()).collect();
    assert_eq!(groups, ["system_alerts", "application_alerts"]);
    assert_eq!(cfg.rule_groups[1].group.rules.len(), 4);
    assert_eq!(
        cfg.rule_groups[0].group.rules[0].for_,
        Some(Duration::from_secs(300))
    );
    assert_eq!(cfg.rule_groups[1].file, reference("alert_rules.yml"));
}

#[test]
fn reference_rule_files_are_valid() {
    for name in ["alert_rules.yml", "prometheus-alerts.yml"] {
        let rf = load_rule_file(&reference(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(!rf.groups.is_empty());
    }
    let rf = load_rule_file(&reference("prometheus-alerts.yml")).unwrap();
    assert_eq!(rf.groups[0].interval, Some(Duration::from_secs(30)));
    assert_eq!(rf.groups[0].rules.len(), 3);
    assert_eq!(rf.groups[0].rules[2].labels["severity"], "critical");
    let diags = check_files(&[
        reference("prometheus.yml"),
        reference("alert_rules.yml"),
        reference("prometheus-alerts.yml"),
    ]);
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn env_expansion_in_values_not_in_relabel_regex_or_replacement() {
    let vars: HashMap<&str, &str> = [("TARGET", "db:9187"), ("JOB", "pg")].into();
    let lookup = |n: &str| vars.get(n).map(|v| v.to_string());
    let src = "\
scrape_configs:
  - job_name: '${JOB}'
    static_configs:
      - targets: ['${TARGET}', 'x:1']
        labels: {env: '$${literal}', who: '${UNSET_VAR_X}'}
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):${1}'
        target_label: a
        replacement: '${1}-${JOB}'
";
    let (cfg, warnings) = load_str(Path::new("p.yml"), src, &lookup).unwrap_or_else(|e| panic!("{e}"));
    let sc = &cfg.scrape_configs[0];
    assert_eq!(sc.job_name, "pg");
    assert_eq!(sc.static_configs[0].targets, ["db:9187", "x:1"]);
    assert_eq!(sc.static_configs[0].labels["env"], "${literal}");
    assert_eq!(
        sc.static_configs[0].labels.get("who").map(String::as_str),
        Some("")
    );
    assert_eq!(sc.relabel_configs[0].config().regex, "(.*):${1}");
    assert_eq!(sc.relabel_configs[0].config().replacement, "${1}-${JOB}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].to_string(),
        "p.yml:5:43: warning: scrape_configs[0].static_configs[0].labels.who: environment variable \
         UNSET_VAR_X is not set; expanded to \"\""
    );
}

#[test]
fn semantic_errors_have_lines() {
    assert_error(
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n",
        4,
        "scrape_configs[2].job_name: found multiple scrape configs with job name \"a\"",
    );
    assert_error(
        "global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: a\n    scrape_timeout: 6s\n",
        5,
        "scrape timeout greater than scrape interval for scrape config with job name \"a\" (6s > 5s)",
    );
}
