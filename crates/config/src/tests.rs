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
        "p.yml:5:38: warning: scrape_configs[0].static_configs[0].labels.who: environment variable \
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

#[test]
fn parse_errors_have_lines_and_columns() {
    // (yaml, line, column, message part)
    let cases: &[(&str, usize, usize, &str)] = &[
        ("global:\n  scrape_interval: 5x\n", 2, 20, "global.scrape_interval: not a valid duration string: \"5x\""),
        ("global:\n  bogus: 1\n", 2, 3, "global: unknown field `bogus`"),
        ("scrape_configs:\n  - job_name: a\n    scrape_intervall: 1s\n", 3, 5, "unknown field `scrape_intervall` (did you mean `scrape_interval`?)"),
        ("scrape_configs:\n  - job_name: a\n    sample_limit: lots\n", 3, 19, "scrape_configs[0].sample_limit: invalid type: string \"lots\", expected u64"),
        ("scrape_configs: [\n", 2, 1, "did not find expected node content"),
        ("global: {scrape_interval: 1m}\nglobal: {}\n", 1, 1, "duplicate field `global`"),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n        regex: '(unclosed'\n        target_label: b\n",
            5, 9, "scrape_configs[0].relabel_configs[0].regex: invalid regex \"(unclosed\": unclosed group",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - action: replace\n",
            4, 9, "scrape_configs[0].metric_relabel_configs[0]: relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        target_label: x\n",
            4, 9, "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: keeep\n",
            4, 9, "scrape_configs[0].relabel_configs[0].action: unknown relabel action \"keeep\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - target_label: '1bad'\n",
            4, 9, "scrape_configs[0].relabel_configs[0].target_label: \"1bad\" is invalid 'target_label' for replace action",
        ),
        ("sightline:\n  storage:\n    retention_size: 12XB\n", 3, 21, "not a valid size: \"12XB\""),
        ("sightline:\n  listen_addr: x\n", 2, 3, "sightline: unknown field `listen_addr`"),
        ("storage:\n  tsdb:\n    out_of_order_time_window: soon\n", 3, 31, "not a valid duration string"),
    ];
    for (src, line, col, want) in cases {
        let (l, c, msg) = error_of(src);
        assert!(
            msg.contains(want),
            "message {msg:?} does not contain {want:?}\n{src}"
        );
        assert_eq!((l, c), (Some(*line), Some(*col)), "location of {msg:?}\n{src}");
    }
}

#[test]
fn validation_errors_have_lines() {
    let cases: &[(&str, usize, &str)] = &[
        ("global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n", 3, "global.scrape_timeout: global scrape timeout greater than scrape interval"),
        ("scrape_configs:\n  - static_configs: []\n", 2, "scrape_configs[0]: job_name is empty"),
        ("scrape_configs:\n  - job_name: a\n    scheme: ftp\n", 3, "scheme must be \"http\" or \"https\", got \"ftp\""),
        ("scrape_configs:\n  - job_name: a\n    metrics_path: metrics\n", 3, "metrics_path \"metrics\" must start with '/'"),
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['ok:1', 'http://x/y']\n", 4, "scrape_configs[0].static_configs[0].targets[1]: \"http://x/y\" is not a valid hostname"),
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a]\n        labels: {'bad-name': x}\n", 5, "\"bad-name\" is not a valid label name"),
        ("scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['targets.txt']\n", 4, "path name \"targets.txt\" is not valid for file discovery"),
        ("scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: []\n", 4, "file service discovery config must contain at least one path name"),
        ("scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusText0.0.4, Carrier]\n", 3, "unknown scrape protocol \"Carrier\""),
        ("scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusProto, PrometheusProto]\n", 3, "duplicated protocol in scrape_protocols"),
        ("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n", 3, "at most one of basic_auth password & password_file must be configured"),
        ("scrape_configs:\n  - job_name: a\n    bearer_token: t\n    bearer_token_file: f\n", 2, "at most one of bearer_token & bearer_token_file must be configured"),
        ("scrape_configs:\n  - job_name: a\n    bearer_token: t\n    basic_auth: {username: u}\n", 2, "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
        ("scrape_configs:\n  - job_name: a\n    bearer_token: t\n    authorization: {credentials: c}\n", 2, "authorization is not compatible with bearer_token & bearer_token_file"),
        ("scrape_configs:\n  - job_name: a\n    authorization:\n      type: Basic\n", 4, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"),
        ("scrape_configs:\n  - job_name: a\n    authorization: {credentials: c, credentials_file: f}\n", 3, "at most one of authorization credentials & credentials_file must be configured"),
        ("scrape_configs:\n  - job_name: a\n    tls_config:\n      min_version: TLS9\n", 4, "unknown TLS version: TLS9"),
        ("scrape_configs:\n  - job_name: a\n    tls_config:\n      cert_file: c.pem\n", 3, "client certificates need both"),
        ("scrape_configs:\n  - job_name: a\n    proxy_url: 'ftp://p'\n", 3, "proxy_url \"ftp://p\" must be an http, https or socks5 URL"),
        ("alerting:\n  alertmanagers:\n    - api_version: v1\n", 3, "expected Alertmanager api version to be one of [v2] but got \"v1\""),
        ("remote_write:\n  - name: x\n", 2, "remote_write[0]: url for remote_write is empty"),
        ("remote_write:\n  - url: 'localhost:9090/api'\n", 2, "invalid remote_write URL"),
        ("remote_write:\n  - url: http://a/x\n    name: n\n  - url: http://b/x\n    name: n\n", 5, "found multiple remote write configs with job name \"n\""),
        ("remote_write:\n  - url: http://a/x\n    headers: {Content-Type: x}\n", 3, "Content-Type is a reserved header. It must not be changed"),
        ("remote_write:\n  - url: http://a/x\n    protobuf_message: foo\n", 3, "unknown remote write protobuf message \"foo\""),
        ("remote_read:\n  - {}\n", 2, "url for remote_read is empty"),
        ("tracing:\n  client_type: udp\n", 2, "expected tracing client type to be grpc or http"),
        ("sightline:\n  storage:\n    wal_fsync: sometimes\n", 3, "unknown wal_fsync policy \"sometimes\" (always, interval, never)"),
        ("sightline:\n  log:\n    level: loud\n", 3, "unknown log level \"loud\""),
        ("sightline:\n  log:\n    format: xml\n", 3, "unknown log format \"xml\""),
        ("sightline:\n  limits:\n    max_labels_per_series: 0\n", 3, "max_labels_per_series must be greater than 0"),
        ("global:\n  external_labels:\n    'a-b': x\n", 2, "\"a-b\" is not a valid label name"),
        ("global:\n  metric_name_validation_scheme: strict\n", 2, "unknown name validation method specified"),
        ("rule_files: ['[unclosed']\n", 1, "rule_files[0]: invalid rule file path \"[unclosed\""),
    ];
    for (src, line, want) in cases {
        assert_error(src, *line, want);
    }
}

#[test]
fn all_errors_are_reported_and_bad_scrape_configs_left_out() {
    let src = "scrape_configs:\n  - job_name: a\n    scheme: ftp\n  - job_name: a\n  - job_name: ok\n";
    let e = load_text(src).unwrap_err();
    assert_eq!(e.diagnostics.len(), 2, "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("/nonexistent/prometheus.yml:3:5: scrape_configs[0].scheme:"),
        "{text}"
    );
    assert!(
        text.contains("\n/nonexistent/prometheus.yml:4:5: scrape_configs[1].job_name: found multiple"),
        "{text}"
    );
}

#[test]
fn defaults_and_inheritance() {
    let (cfg, w) = load_text("").unwrap();
    assert!(w.is_empty());
    assert_eq!(cfg.global.scrape_interval, Duration::from_secs(60));
    assert_eq!(cfg.global.scrape_timeout, Duration::from_secs(10));
    assert_eq!(cfg.global.evaluation_interval, Duration::from_secs(60));
    assert_eq!(cfg.global.scrape_protocols, default_scrape_protocols());
    assert_eq!(cfg, Config::default());

    let src = "\
global:
  scrape_interval: 5s
  sample_limit: 100
  body_size_limit: 10MB
  scrape_protocols: [PrometheusText0.0.4]
scrape_configs:
  - job_name: inherit
  - job_name: own
    scrape_interval: 1m
    scrape_timeout: 30s
    sample_limit: 7
    scrape_protocols: [PrometheusProto]
  - job_name: zero-means-unset
    scrape_interval: 0
    scrape_timeout: 0s
";
    let (cfg, _) = load_text(src).unwrap();
    // Global timeout unset and default 10s > 5s interval: timeout = interval.
    assert_eq!(cfg.global.scrape_timeout, Duration::from_secs(5));
    let [a, b, c] = &cfg.scrape_configs[..] else {
        panic!()
    };
    assert_eq!(
        (a.scrape_interval, a.scrape_timeout),
        (Duration::from_secs(5), Duration::from_secs(5))
    );
    assert_eq!(a.sample_limit, 100);
    assert_eq!(a.body_size_limit, 10 << 20);
    assert_eq!(a.scrape_protocols, ["PrometheusText0.0.4"]);
    assert_eq!(
        (b.scrape_interval, b.scrape_timeout),
        (Duration::from_secs(60), Duration::from_secs(30))
    );
    assert_eq!(b.sample_limit, 7);
    assert_eq!(b.scrape_protocols, ["PrometheusProto"]);
    assert_eq!(
        (c.scrape_interval, c.scrape_timeout),
        (Duration::from_secs(5), Duration::from_secs(5))
    );
    // Timeout inherits the global value when that fits in the job's interval.
    let (cfg, _) =
        load_text("global:\n  scrape_timeout: 3s\n  scrape_interval: 10s\nscrape_configs:\n  - job_name: x\n    scrape_interval: 2s\n")
            .unwrap();
    assert_eq!(cfg.scrape_configs[0].scrape_timeout, Duration::from_secs(2));
    let self_scrape = ScrapeConfig::self_scrape("sightline", "127.0.0.1:7070");
    assert_eq!(self_scrape.scrape_interval, Duration::from_secs(15));
    assert_eq!(self_scrape.scrape_timeout, Duration::from_secs(10));
    assert_eq!(self_scrape.metrics_path, "/metrics");
    assert_eq!(self_scrape.static_configs[0].targets, ["127.0.0.1:7070"]);
}

#[test]
fn full_prometheus_config_parses() {
    let src = r#"
global:
  scrape_interval: 30s
  external_labels: {cluster: eu1, replica: a}
  query_log_file: queries.log
scrape_configs:
  - job_name: node
    honor_labels: true
    honor_timestamps: false
    metrics_path: /probe
    scheme: https
    params: {module: [http_2xx], target: [a, b]}
    basic_auth: {username: u, password_file: secrets/pw}
    tls_config: {ca_file: ca.pem, cert_file: /abs/c.pem, key_file: k.pem, server_name: node, insecure_skip_verify: true, min_version: TLS12}
    proxy_url: http://proxy:3128
    follow_redirects: false
    enable_http2: false
    sample_limit: 1000
    label_limit: 30
    label_name_length_limit: 100
    label_value_length_limit: 200
    target_limit: 50
    body_size_limit: 1GiB
    static_configs:
      - targets: ['a:9100', 'b:9100']
        labels: {dc: x}
    file_sd_configs:
      - files: ['sd/*.json', /etc/sd.yml]
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):\d+'
        target_label: host
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
    kubernetes_sd_configs:
      - role: pod
    consul_sd_configs:
      - server: localhost:8500
  - job_name: bearer
    bearer_token_file: token
    authorization: null
alerting:
  alert_relabel_configs:
    - regex: replica
      action: labeldrop
  alertmanagers:
    - scheme: https
      path_prefix: /am
      timeout: 5s
      authorization: {credentials: secret}
      static_configs: [{targets: ['am:9093']}]
      dns_sd_configs: [{names: [am.local]}]
remote_write:
  - url: https://rw.example/api/v1/write
    name: main
    remote_timeout: 10s
    headers: {X-Scope-OrgID: t1}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'expensive_.*'
        action: drop
    queue_config: {capacity: 2500, max_shards: 10, batch_send_deadline: 10s}
    metadata_config: {send: false}
    oauth2: {client_id: x}
remote_read:
  - url: http://rr:9090/api/v1/read
    read_recent: true
    required_matchers: {job: x}
storage:
  tsdb:
    out_of_order_time_window: 30m
  exemplars:
    max_exemplars: 1000
tracing:
  endpoint: otel:4317
  client_type: grpc
  sampling_fraction: 0.5
otlp:
  promote_resource_attributes: [service.name]
sightline:
  data_dir: data
  listen: 0.0.0.0:7070
  otlp: {grpc_listen: 'off'}
  statsd: {listen: ':8125', flush_interval: 10s}
  limits: {max_labels_per_series: 40, max_label_name_length: 200, max_label_value_length: 2048, max_series_per_request: 5000, max_body_size: 32MB}
  storage: {retention_time: 30d, retention_size: 100GB, wal_fsync: interval, wal_fsync_interval: 2s}
  log: {level: debug, format: json}
"#;
    let (cfg, warnings) =
        load_str(Path::new("/etc/sl/prometheus.yml"), src, &no_env).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "/etc/sl/prometheus.yml:40:5: warning: scrape_configs[0].consul_sd_configs: consul_sd_configs: service discovery not supported yet, ignored",
            "/etc/sl/prometheus.yml:38:5: warning: scrape_configs[0].kubernetes_sd_configs: kubernetes_sd_configs: service discovery not supported yet, ignored",
            "/etc/sl/prometheus.yml:55:7: warning: alerting.alertmanagers[0].dns_sd_configs: dns_sd_configs: service discovery not supported yet, ignored",
            "/etc/sl/prometheus.yml:67:5: warning: remote_write[0].oauth2: oauth2: not supported yet, ignored",
            "/etc/sl/prometheus.yml:77:1: warning: tracing: tracing: Sightline does not export its own traces yet; section ignored",
        ]
    );
    let sc = &cfg.scrape_configs[0];
    assert!(sc.honor_labels && !sc.honor_timestamps && !sc.follow_redirects && !sc.enable_http2);
    assert_eq!(sc.params["target"], ["a", "b"]);
    assert_eq!(sc.body_size_limit, 1 << 30);
    assert_eq!(sc.scrape_interval, Duration::from_secs(30));
    let http = sc.http_client();
    assert_eq!(
        http.basic_auth.as_ref().unwrap().password_file,
        Some(PathBuf::from("/etc/sl/secrets/pw"))
    );
    assert_eq!(http.tls_config.ca_file, Some(PathBuf::from("/etc/sl/ca.pem")));
    assert_eq!(http.tls_config.cert_file, Some(PathBuf::from("/abs/c.pem")));
    assert_eq!(http.tls_config.min_version.as_deref(), Some("TLS12"));
    assert_eq!(http.proxy_url.as_deref(), Some("http://proxy:3128"));
    assert_eq!(
        sc.file_sd_configs[0].files,
        [PathBuf::from("/etc/sl/sd/*.json"), PathBuf::from("/etc/sd.yml")]
    );
    assert_eq!(sc.file_sd_configs[0].refresh_interval, Duration::from_secs(60));
    assert_eq!(sc.relabel_configs.len(), 1);
    assert_eq!(
        sc.metric_relabel_configs[0].action(),
        sightline_relabel::Action::Drop
    );
    assert_eq!(
        sc.unsupported_sd(),
        ["consul_sd_configs", "kubernetes_sd_configs"]
    );
    let auth = cfg.scrape_configs[1].http_client().authorization.unwrap();
    assert_eq!(auth.kind, "Bearer");
    assert_eq!(auth.credentials_file, Some(PathBuf::from("/etc/sl/token")));
    assert_eq!(cfg.alerting.alertmanagers[0].path_prefix, "/am");
    assert_eq!(cfg.alerting.alertmanagers[0].timeout, Duration::from_secs(5));
    assert_eq!(cfg.alerting.alert_relabel_configs.len(), 1);
    let rw = &cfg.remote_write[0];
    assert_eq!(rw.queue_config.capacity, 2500);
    assert_eq!(rw.queue_config.max_samples_per_send, 2000);
    assert_eq!(rw.queue_config.batch_send_deadline, Duration::from_secs(10));
    assert!(!rw.metadata_config.send);
    assert_eq!(rw.headers["X-Scope-OrgID"], "t1");
    assert!(cfg.remote_read[0].read_recent && cfg.remote_read[0].filter_external_labels);
    assert_eq!(
        cfg.storage.tsdb.out_of_order_time_window,
        Some(Duration::from_secs(1800))
    );
    assert_eq!(cfg.storage.exemplars.as_ref().unwrap().max_exemplars, 1000);
    assert_eq!(cfg.global.external_labels["cluster"], "eu1");
    let sl = &cfg.sightline;
    assert_eq!(sl.data_dir, Some(PathBuf::from("/etc/sl/data")));
    assert_eq!(sl.listen.as_deref(), Some("0.0.0.0:7070"));
    assert_eq!(sl.otlp.grpc_listen.as_deref(), Some("off"));
    // Prometheus's own otlp section fills in what sightline.otlp leaves unset.
    assert_eq!(sl.otlp.promote_resource_attributes, ["service.name"]);
    assert_eq!(sl.statsd.flush_interval, Some(Duration::from_secs(10)));
    assert_eq!(sl.storage.retention_time, Some(Duration::from_secs(30 * 86400)));
    assert_eq!(sl.storage.retention_size, Some(100 << 30));
    assert_eq!(sl.storage.wal_fsync.as_deref(), Some("interval"));
    assert_eq!(sl.storage.wal_fsync_interval, Some(Duration::from_secs(2)));
    let lim = sl.limits.to_model();
    assert_eq!(lim.max_labels_per_series, 40);
    assert_eq!(lim.max_label_name_len, 200);
    assert_eq!(lim.max_label_value_len, 2048);
    assert_eq!(lim.max_series_per_request, 5000);
    assert_eq!(lim.max_body_bytes, 32 << 20);
    assert_eq!(
        lim.max_decompressed_bytes,
        sightline_model::Limits::default().max_decompressed_bytes
    );
    assert_eq!(
        LimitsSection::default().to_model(),
        sightline_model::Limits::default()
    );
}

fn rule_errors(src: &str) -> Vec<String> {
    match rules::parse_rule_file(Path::new("r.yml"), src) {
        Ok(_) => Vec::new(),
        Err(ds) => ds.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn rule_file_errors_name_file_group_rule_and_line() {
    let src = "\
groups:
  - name: g
    rules:
      - alert: Bad
        expr: sum(rate(x[5m])
      - record: 'not a name'
        expr: up
      - record: ok:rule
        expr: up
        for: 5m
        annotations: {a: b}
      - alert: Both
        record: both
        expr: up
      - labels: {x: y}
        expr: up
      - alert: NoExpr
      - alert: Tmpl
        expr: up
        annotations:
          summary: '{{ $labels.instance'
        labels:
          'bad-label': x
  - name: g
    rules: []
  - rules: []
";
    let errs = rule_errors(src);
    let want = [
        "r.yml:5:9: groups[0].rules[0].expr: group \"g\", rule 1 (\"Bad\"): could not parse expression: ",
        "r.yml:6:9: groups[0].rules[1].record: group \"g\", rule 2 (\"not a name\"): invalid recording rule name: not a name",
        "r.yml:11:9: groups[0].rules[2].annotations: group \"g\", rule 3 (\"ok:rule\"): invalid field 'annotations' in recording rule",
        "r.yml:10:9: groups[0].rules[2].for: group \"g\", rule 3 (\"ok:rule\"): invalid field 'for' in recording rule",
        "r.yml:12:9: groups[0].rules[3]: group \"g\", rule 4 (\"both\"): only one of 'record' and 'alert' must be set",
        "r.yml:15:9: groups[0].rules[4]: group \"g\", rule 5 (\"\"): one of 'record' or 'alert' must be set",
        "r.yml:17:9: groups[0].rules[5]: group \"g\", rule 6 (\"NoExpr\"): field 'expr' must be set in rule",
        "r.yml:22:9: groups[0].rules[6].labels: group \"g\", rule 7 (\"Tmpl\"): invalid label name: bad-label",
        "r.yml:20:9: groups[0].rules[6].annotations: group \"g\", rule 7 (\"Tmpl\"): annotation \"summary\": template: unclosed action",
        "r.yml:24:5: groups[1].name: group name \"g\" is repeated in the same file",
        "r.yml:26:5: groups[2]: group name must not be empty",
    ];
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(want) {
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}...");
    }
}

#[test]
fn rule_file_parse_errors() {
    assert_eq!(
        rule_errors("groups:\n  - name: g\n    interval: often\n"),
        ["r.yml:3:15: groups[0].interval: not a valid duration string: \"often\""]
    );
    assert_eq!(
        rule_errors(
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        severity: page\n"
        ),
        ["r.yml:6:9: groups[0].rules[0]: unknown field `severity`"]
    );
    assert!(rule_errors("groups: []\n").is_empty());
    assert!(rule_errors("").is_empty());
    // Multi-line expressions and group options.
    let rf = rules::parse_rule_file(
        Path::new("r.yml"),
        "groups:\n  - name: g\n    interval: 1m\n    limit: 10\n    query_offset: 30s\n    labels: {team: a}\n    rules:\n      - record: job:up:sum\n        expr: |\n          sum by (job) (\n            up\n          )\n        labels: {x: y}\n      - alert: A\n        expr: up == 0\n        for: 1m\n        keep_firing_for: 5m\n",
    )
    .unwrap();
    let g = &rf.groups[0];
    assert_eq!(
        (g.interval, g.limit, g.query_offset),
        (Some(Duration::from_secs(60)), 10, Some(Duration::from_secs(30)))
    );
    assert_eq!(g.rules[0].name(), "job:up:sum");
    assert!(!g.rules[0].is_alert() && g.rules[1].is_alert());
    assert_eq!(g.rules[1].keep_firing_for, Some(Duration::from_secs(300)));
}

#[test]
fn check_files_detects_kinds_and_reports_everything() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(
        p("good_rules.yml"),
        "groups:\n  - name: a\n    rules:\n      - record: x:y\n        expr: sum(up)\n",
    )
    .unwrap();
    std::fs::write(
        p("bad_rules.yml"),
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: 'up =='\n",
    )
    .unwrap();
    std::fs::create_dir(p("rules")).unwrap();
    std::fs::write(p("rules/one.yml"), "groups:\n  - name: one\n    rules: []\n").unwrap();
    std::fs::write(p("rules/two.yml"), "groups:\n  - name: two\n    rules: []\n").unwrap();
    std::fs::write(
        p("jobs.yml"),
        "scrape_configs:\n  - job_name: from-file\n    static_configs: [{targets: ['a:1']}]\n",
    )
    .unwrap();
    std::fs::write(
        p("main.yml"),
        "rule_files: ['rules/*.yml', bad_rules.yml, missing.yml]\nscrape_config_files: ['jobs.yml']\nscrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    std::fs::write(p("broken.yml"), "scrape_configs:\n  - job_name: [\n").unwrap();

    let diags = check_files(&[p("good_rules.yml"), p("main.yml"), p("broken.yml"), p("nope.yml")]);
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    let d = dir.path().display();
    assert_eq!(diags.len(), 4, "{text:#?}");
    assert!(
        text[0].starts_with(&format!(
            "{d}/main.yml:1:44: warning: rule_files[2]: rule file {d}/missing.yml does not exist"
        )),
        "{}",
        text[0]
    );
    assert!(text[1].starts_with(&format!("{d}/bad_rules.yml:5:9: groups[0].rules[0].expr: group \"a\", rule 1 (\"X\"): could not parse expression")), "{}", text[1]);
    assert_eq!(
        text[2],
        format!("{d}/broken.yml:2:15: scrape_configs[0].job_name: invalid type: sequence, expected a string")
    );
    assert!(
        text[3].starts_with(&format!("{d}/nope.yml: cannot read file:")),
        "{}",
        text[3]
    );
    assert_eq!(diags.iter().filter(|d| d.is_error()).count(), 3);

    // The main config, once the bad rule file is fixed, loads with everything resolved.
    std::fs::write(p("bad_rules.yml"), "groups:\n  - name: fixed\n    rules: []\n").unwrap();
    let (cfg, warnings) = load(&p("main.yml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(warnings.len(), 1);
    let jobs: Vec<&str> = cfg.scrape_configs.iter().map(|s| s.job_name.as_str()).collect();
    assert_eq!(jobs, ["main", "from-file"]);
    let groups: Vec<&str> = cfg.rule_groups.iter().map(|g| g.group.name.as_str()).collect();
    assert_eq!(groups, ["one", "two", "fixed"]);
    assert_eq!(cfg.rule_files[0], format!("{d}/rules/*.yml"));

    // A job defined twice across the main file and a scrape_config_files file.
    std::fs::write(p("jobs.yml"), "scrape_configs:\n  - job_name: main\n").unwrap();
    let e = load(&p("main.yml")).unwrap_err().to_string();
    assert_eq!(e, format!("{d}/jobs.yml:2:5: scrape_configs[0].job_name: found multiple scrape configs with job name \"main\""));
}

#[test]
fn diagnostics_display() {
    let d = Diagnostic::error(Path::new("a.yml"), Some((3, 7)), "bad");
    assert_eq!(d.to_string(), "a.yml:3:7: bad");
    assert_eq!(
        Diagnostic::warning(Path::new("a.yml"), None, "meh").to_string(),
        "a.yml: warning: meh"
    );
    assert!(d.is_error());
}

#[test]
fn redacted_yaml_hides_secrets_and_round_trips() {
    let src = "\
scrape_configs:
  - job_name: a
    basic_auth: {username: u, password: hunter2}
    tls_config: {key: inline-key, cert: inline-cert}
    relabel_configs:
      - source_labels: [x]
        target_label: y
remote_write:
  - url: http://rw/api
    authorization: {credentials: tok}
";
    let (cfg, _) = load_text(src).unwrap();
    let out = cfg.to_redacted_yaml();
    assert!(
        !out.contains("hunter2") && !out.contains("inline-key") && !out.contains("tok\n"),
        "{out}"
    );
    assert!(
        out.contains("password: <secret>") && out.contains("credentials: <secret>"),
        "{out}"
    );
    assert!(
        out.contains("scrape_interval: 1m") && out.contains("username: u"),
        "{out}"
    );
    // Without secrets, the output loads back to the same configuration.
    let (plain, _) = load_text(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 1h30m\n    body_size_limit: 10MB\n",
    )
    .unwrap();
    let (again, _) =
        load_text(&plain.to_redacted_yaml()).unwrap_or_else(|e| panic!("{e}\n{}", plain.to_redacted_yaml()));
    assert_eq!(again, plain);
}

#[test]
fn env_expansion_reaches_every_string_shape() {
    let lookup = |n: &str| (n == "V").then(|| "val".to_string());
    let src = "\
scrape_configs:
  - job_name: j
    proxy_url: 'http://${V}:3128'
    params: {q: ['${V}']}
    file_sd_configs: [{files: ['/sd/${V}.json']}]
    sample_limit: 5
sightline:
  data_dir: /data/${V}
";
    let (cfg, w) = load_str(Path::new("c.yml"), src, &lookup).unwrap_or_else(|e| panic!("{e}"));
    assert!(w.is_empty());
    let sc = &cfg.scrape_configs[0];
    assert_eq!(sc.proxy_url.as_deref(), Some("http://val:3128"));
    assert_eq!(sc.params["q"], ["val"]);
    assert_eq!(sc.file_sd_configs[0].files, [PathBuf::from("/sd/val.json")]);
    assert_eq!(cfg.sightline.data_dir, Some(PathBuf::from("/data/val")));
}

/// Mutated configs (bytes deleted, duplicated or replaced) never panic the loader.
#[test]
fn mutated_inputs_never_panic() {
    let base = std::fs::read_to_string(reference("prometheus.yml")).unwrap()
        + "remote_write:\n  - url: http://x/y\n"
        + "    write_relabel_configs: [{source_labels: [a], regex: '(.*)', target_label: 'l_${1}'}]\n"
        + "sightline:\n  storage: {retention_time: 15d, retention_size: 1GB}\n";
    load_str(Path::new("/nonexistent/m.yml"), &base, &no_env).unwrap();
    let bytes = base.as_bytes();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"{}[]:-'\"$ \n\t#&*!|>%@`0a,";
    for _ in 0..200 {
        let mut m = bytes.to_vec();
        for _ in 0..(1 + next() % 4) {
            let at = (next() % m.len() as u64) as usize;
            match next() % 3 {
                0 => {
                    m.remove(at);
                }
                1 => m.insert(at, m[at]),
                _ => m[at] = alphabet[(next() % alphabet.len() as u64) as usize],
            }
        }
        let text = String::from_utf8_lossy(&m);
        let _ = load_str(Path::new("/nonexistent/m.yml"), &text, &no_env);
        let _ = rules::parse_rule_file(Path::new("r.yml"), &text);
    }
    for s in [
        "",
        "$",
        "${",
        "${}",
        "$$$",
        "${A",
        "}}{{",
        "1y1y",
        "99999999999999999999s",
        "1.e5GB",
    ] {
        let _ = parse_duration(s);
        let _ = parse_size(s);
        let _ = rules::check_template(s);
        let _ = env::expand_env(s, &no_env, |_| {});
    }
}

#[test]
fn scrape_config_file_pattern_errors() {
    assert_error(
        "scrape_config_files: ['a/[x']\n",
        1,
        "scrape_config_files[0]: invalid scrape config file path \"a/[x\"",
    );
}

#[test]
fn rule_file_given_as_main_config_gets_a_hint() {
    let e = load(&reference("alert_rules.yml")).unwrap_err().to_string();
    assert!(e.ends_with("alert_rules.yml:2:1: unknown field `groups` (this looks like a rule file: list it under rule_files in the main config)"), "{e}");
}

#[test]
fn yaml_anchors_aliases_and_merge_keys() {
    let src = "\
scrape_configs:
  - job_name: a
    static_configs: &targets
      - targets: ['a:1']
    relabel_configs: &rl
      - source_labels: [__address__]
        target_label: x
  - job_name: b
    static_configs: *targets
    relabel_configs: *rl
  - &base
    job_name: c
    scrape_interval: 30s
    metrics_path: /m
  - <<: *base
    job_name: d
";
    let (cfg, _) = load_text(src).unwrap_or_else(|e| panic!("{e}"));
    let [a, b, c, d] = &cfg.scrape_configs[..] else {
        panic!("{:?}", cfg.scrape_configs.len())
    };
    assert_eq!(a.static_configs, b.static_configs);
    assert_eq!(b.relabel_configs.len(), 1);
    assert_eq!(c.metrics_path, "/m");
    assert_eq!((d.job_name.as_str(), d.metrics_path.as_str()), ("d", "/m"));
    assert_eq!(d.scrape_interval, Duration::from_secs(30));
}

#[test]
fn more_validation_errors_have_lines() {
    let cases: &[(&str, usize, &str)] = &[
        ("scrape_configs:\n  - job_name: a\n    tls_config: {ca: x, ca_file: y}\n", 3, "at most one of ca and ca_file must be configured"),
        ("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, username_file: f}\n", 3, "at most one of basic_auth username & username_file must be configured"),
        ("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: {credentials: c}\n", 2, "at most one of basic_auth, oauth2 & authorization must be configured"),
        ("scrape_configs:\n  - job_name: a\n    scrape_fallback_protocol: Foo\n", 3, "unknown scrape protocol \"Foo\""),
        ("scrape_configs:\n  - job_name: a\n    metric_name_escaping_scheme: weird\n", 3, "unknown metric name escaping method specified"),
        ("scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [a.json]\n        refresh_interval: 0s\n", 5, "refresh_interval must be greater than 0"),
        ("alerting:\n  alertmanagers:\n    - scheme: gopher\n", 3, "scheme must be \"http\" or \"https\", got \"gopher\""),
        ("alerting:\n  alertmanagers:\n    - timeout: 0s\n", 3, "timeout must be greater than 0"),
        ("alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['a/b']}]\n", 3, "\"a/b\" is not a valid hostname"),
        ("remote_read:\n  - url: http://a/r\n    name: x\n  - url: http://b/r\n    name: x\n", 5, "found multiple remote read configs with job name \"x\""),
        ("remote_read:\n  - url: ftp://a/r\n", 2, "invalid remote_read URL \"ftp://a/r\""),
        ("remote_read:\n  - url: http://a/r\n    headers: {Authorization: x}\n", 3, "Authorization is a reserved header. It must not be changed"),
        ("tracing:\n  sampling_fraction: 2\n", 2, "sampling_fraction must be between 0 and 1"),
        ("sightline:\n  storage:\n    wal_fsync_interval: 0s\n", 3, "wal_fsync_interval must be greater than 0"),
        ("sightline:\n  listen: ''\n", 2, "listen must not be empty"),
        ("sightline:\n  limits:\n    max_series_per_request: 0\n", 3, "max_series_per_request must be greater than 0"),
        ("sightline:\n  statsd:\n    flush_interval: 1.5s\n", 3, "sightline.statsd.flush_interval: not a valid duration string: \"1.5s\""),
    ];
    for (src, line, want) in cases {
        assert_error(src, *line, want);
    }
}

#[test]
fn accepted_but_ignored_sections_warn() {
    let src = "\
runtime: {gogc: 75}
scrape_configs:
  - job_name: a
    oauth2: {client_id: x, client_secret: y, token_url: http://t}
    http_headers: {X-A: {values: [b]}}
alerting:
  alertmanagers:
    - sigv4: {region: eu}
remote_write:
  - url: http://rw/x
    sigv4: {region: eu}
    azuread: {cloud: AzurePublic}
    google_iam: {credentials_file: f}
";
    let (_, w) = load_text(src).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<String> = w
        .iter()
        .map(|d| format!("{}:{} {}", d.line.unwrap(), d.column.unwrap(), d.message))
        .collect();
    assert_eq!(
        got,
        [
            "4:5 scrape_configs[0].oauth2: oauth2: not supported yet, ignored",
            "5:5 scrape_configs[0].http_headers: http_headers: not supported yet, ignored",
            "8:7 alerting.alertmanagers[0].sigv4: sigv4: not supported yet, ignored",
            "11:5 remote_write[0].sigv4: sigv4: not supported yet, ignored",
            "12:5 remote_write[0].azuread: azuread: not supported yet, ignored",
            "13:5 remote_write[0].google_iam: google_iam: not supported yet, ignored",
            "1:1 runtime: runtime: Go runtime settings do not apply to Sightline; ignored",
        ]
    );
    assert!(w.iter().all(|d| !d.is_error()));
}

#[test]
fn more_rule_errors() {
    let src = "\
groups:
  - name: g
    labels: {'bad-x': y}
    rules:
      - record: r
        expr: up
        keep_firing_for: 1m
      - alert: ''
        expr: up
      - record: ''
        expr: up
      - alert: A
        expr: up
        annotations: {'1bad': x}
";
    let errs = rule_errors(src);
    let want = [
        "r.yml:3:5: groups[0].labels: group \"g\": invalid label name \"bad-x\"",
        "r.yml:7:9: groups[0].rules[0].keep_firing_for: group \"g\", rule 1 (\"r\"): invalid field 'keep_firing_for' in recording rule",
        "r.yml:8:9: groups[0].rules[1].alert: group \"g\", rule 2 (\"\"): one of 'record' or 'alert' must be set",
        "r.yml:10:9: groups[0].rules[2].record: group \"g\", rule 3 (\"\"): one of 'record' or 'alert' must be set",
        "r.yml:14:9: groups[0].rules[3].annotations: group \"g\", rule 4 (\"A\"): invalid annotation name: 1bad",
    ];
    assert_eq!(errs, want);
}
