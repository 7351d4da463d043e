//! Semantic checks and resolution after parsing: Prometheus's `UnmarshalYAML`/`Validate`
//! rules, inheritance from `global`, relative paths, `scrape_config_files` and rule files.

use crate::env::{self, Seg};
use crate::types::*;
use crate::{locate_diag, rules, Diagnostic, Warning};
use sightline_relabel::is_valid_label_name;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn k(s: &str) -> Seg {
    Seg::Key(s.into())
}

fn with(base: &[Seg], more: &[Seg]) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend_from_slice(more);
    p
}

/// Errors and warnings against one source file.
struct Sink<'a> {
    file: &'a Path,
    src: &'a str,
    errors: &'a mut Vec<Diagnostic>,
    warnings: &'a mut Vec<Warning>,
}

impl Sink<'_> {
    fn err(&mut self, segs: &[Seg], msg: impl Into<String>) {
        self.errors
            .push(locate_diag(self.file, self.src, segs, msg.into()));
    }

    fn warn(&mut self, segs: &[Seg], msg: impl Into<String>) {
        let mut d = locate_diag(self.file, self.src, segs, msg.into());
        d.severity = crate::Severity::Warning;
        self.warnings.push(d);
    }
}

/// Validates and resolves `cfg` in place; returns the errors (empty = valid).
pub(crate) fn validate(
    file: &Path,
    src: &str,
    cfg: &mut Config,
    warnings: &mut Vec<Warning>,
    lookup: env::Lookup<'_>,
) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut s = Sink {
        file,
        src,
        errors: &mut errors,
        warnings,
    };

    global(&mut s, &mut cfg.global);

    // Scrape configs of the main file, then of scrape_config_files.
    let mut jobs: HashSet<String> = HashSet::new();
    let main_scrapes = std::mem::take(&mut cfg.scrape_configs);
    for (i, mut sc) in main_scrapes.into_iter().enumerate() {
        let base = [k("scrape_configs"), Seg::Index(i)];
        if scrape(&mut s, &base, &mut sc, &cfg.global, &dir, &mut jobs) {
            cfg.scrape_configs.push(sc);
        }
    }
    for (gi, pattern) in cfg.scrape_config_files.clone().iter().enumerate() {
        let at = [k("scrape_config_files"), Seg::Index(gi)];
        for path in expand_glob(&mut s, &at, &dir, pattern, "scrape config file") {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    s.err(
                        &at,
                        format!("cannot read scrape config file {}: {e}", path.display()),
                    );
                    continue;
                }
            };
            match crate::parse_yaml::<ScrapeConfigFile>(&path, &text, Some(lookup)) {
                Err(d) => s.errors.push(d),
                Ok((f, w)) => {
                    s.warnings.extend(w);
                    let sub_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    let mut sub = Sink {
                        file: &path,
                        src: &text,
                        errors: &mut *s.errors,
                        warnings: &mut *s.warnings,
                    };
                    for (i, mut sc) in f.scrape_configs.into_iter().enumerate() {
                        let base = [k("scrape_configs"), Seg::Index(i)];
                        if scrape(&mut sub, &base, &mut sc, &cfg.global, &sub_dir, &mut jobs) {
                            cfg.scrape_configs.push(sc);
                        }
                    }
                }
            }
        }
    }

    alerting(&mut s, &mut cfg.alerting, &dir);
    remote(&mut s, cfg, &dir);
    if let Some(t) = &mut cfg.tracing {
        let base = [k("tracing")];
        if t.client_type != "grpc" && t.client_type != "http" {
            s.err(
                &with(&base, &[k("client_type")]),
                format!(
                    "expected tracing client type to be grpc or http, got {:?}",
                    t.client_type
                ),
            );
        }
        if !(0.0..=1.0).contains(&t.sampling_fraction) {
            s.err(
                &with(&base, &[k("sampling_fraction")]),
                "sampling_fraction must be between 0 and 1",
            );
        }
        tls(&mut s, &with(&base, &[k("tls_config")]), &mut t.tls_config, &dir);
        s.warn(
            &base,
            "tracing: Sightline does not export its own traces yet; section ignored",
        );
    }
    if cfg.runtime.is_some() {
        s.warn(
            &[k("runtime")],
            "runtime: Go runtime settings do not apply to Sightline; ignored",
        );
    }
    sightline(&mut s, &mut cfg.sightline, &dir);
    if cfg.sightline.otlp.promote_resource_attributes.is_empty() {
        cfg.sightline.otlp.promote_resource_attributes = cfg.otlp.promote_resource_attributes.clone();
    }

    // Rule files: globs relative to the config file; each file parsed and validated.
    let mut resolved = Vec::new();
    for (i, pattern) in cfg.rule_files.clone().iter().enumerate() {
        let at = [k("rule_files"), Seg::Index(i)];
        let full = join(&dir, Path::new(pattern));
        resolved.push(full.to_string_lossy().into_owned());
        let paths = expand_glob(&mut s, &at, &dir, pattern, "rule file");
        if paths.is_empty() && !has_glob_meta(pattern) {
            s.warn(&at, format!("rule file {} does not exist", full.display()));
        }
        for path in paths {
            match crate::load_rule_file(&path) {
                Ok(rf) => cfg
                    .rule_groups
                    .extend(rf.groups.into_iter().map(|group| rules::LoadedGroup {
                        file: path.clone(),
                        group,
                    })),
                Err(ds) => s.errors.extend(ds),
            }
        }
    }
    cfg.rule_files = resolved;
    errors
}

fn has_glob_meta(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Joins a relative path to the config directory (absolute paths are kept).
fn join(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || dir.as_os_str().is_empty() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn join_opt(dir: &Path, p: &mut Option<PathBuf>) {
    if let Some(x) = p {
        *x = join(dir, x);
    }
}

/// The files a glob pattern (relative to `dir`) matches, sorted.
fn expand_glob(s: &mut Sink<'_>, at: &[Seg], dir: &Path, pattern: &str, what: &str) -> Vec<PathBuf> {
    let full = join(dir, Path::new(pattern));
    let text = full.to_string_lossy();
    match glob::glob(&text) {
        Err(e) => {
            s.err(at, format!("invalid {what} path {pattern:?}: {e}"));
            Vec::new()
        }
        Ok(paths) => {
            let mut v: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
            v.sort();
            v
        }
    }
}

fn global(s: &mut Sink<'_>, g: &mut GlobalConfig) {
    let base = [k("global")];
    if g.scrape_interval.is_zero() {
        g.scrape_interval = Duration::from_secs(60);
    }
    if g.scrape_timeout > g.scrape_interval {
        s.err(
            &with(&base, &[k("scrape_timeout")]),
            "global scrape timeout greater than scrape interval",
        );
    }
    if g.scrape_timeout.is_zero() {
        g.scrape_timeout = Duration::from_secs(10).min(g.scrape_interval);
    }
    if g.evaluation_interval.is_zero() {
        g.evaluation_interval = Duration::from_secs(60);
    }
    if g.scrape_protocols.is_empty() {
        g.scrape_protocols = default_scrape_protocols();
    }
    protocols(s, &with(&base, &[k("scrape_protocols")]), &g.scrape_protocols);
    for name in g.external_labels.keys() {
        if !is_valid_label_name(name) {
            s.err(
                &with(&base, &[k("external_labels")]),
                format!("{name:?} is not a valid label name"),
            );
        }
    }
    names_scheme(
        s,
        &base,
        &g.metric_name_validation_scheme,
        &g.metric_name_escaping_scheme,
    );
}

fn names_scheme(s: &mut Sink<'_>, base: &[Seg], validation: &Option<String>, escaping: &Option<String>) {
    if let Some(v) = validation {
        if !["", "utf8", "legacy"].contains(&v.as_str()) {
            s.err(
                &with(base, &[k("metric_name_validation_scheme")]),
                format!("unknown name validation method specified, must be either '', 'legacy' or 'utf8', got {v}"),
            );
        }
    }
    if let Some(v) = escaping {
        if !["", "allow-utf-8", "underscores", "dots", "values"].contains(&v.as_str()) {
            s.err(
                &with(base, &[k("metric_name_escaping_scheme")]),
                format!("unknown metric name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {v}"),
            );
        }
    }
}

fn protocols(s: &mut Sink<'_>, at: &[Seg], ps: &[String]) {
    let mut seen = HashSet::new();
    for (i, p) in ps.iter().enumerate() {
        let at = with(at, &[Seg::Index(i)]);
        if !SCRAPE_PROTOCOLS.contains(&p.as_str()) {
            s.err(
                &at,
                format!(
                    "unknown scrape protocol {p:?}, supported: {}",
                    SCRAPE_PROTOCOLS.join(", ")
                ),
            );
        } else if !seen.insert(p) {
            s.err(
                &at,
                format!("duplicated protocol in scrape_protocols, got {ps:?}"),
            );
        }
    }
}

/// Validates and resolves one scrape config; false when it has errors (it is then left out).
fn scrape(
    s: &mut Sink<'_>,
    base: &[Seg],
    sc: &mut ScrapeConfig,
    g: &GlobalConfig,
    dir: &Path,
    jobs: &mut HashSet<String>,
) -> bool {
    let before = s.errors.len();
    if sc.job_name.is_empty() {
        s.err(base, "job_name is empty");
    } else if !jobs.insert(sc.job_name.clone()) {
        s.err(
            &with(base, &[k("job_name")]),
            format!("found multiple scrape configs with job name {:?}", sc.job_name),
        );
    }
    if sc.scrape_interval.is_zero() {
        sc.scrape_interval = g.scrape_interval;
    }
    if sc.scrape_timeout > sc.scrape_interval {
        s.err(
            &with(base, &[k("scrape_timeout")]),
            format!(
                "scrape timeout greater than scrape interval for scrape config with job name {:?} ({} > {})",
                sc.job_name,
                crate::format_duration(sc.scrape_timeout),
                crate::format_duration(sc.scrape_interval)
            ),
        );
    }
    if sc.scrape_timeout.is_zero() {
        sc.scrape_timeout = g.scrape_timeout.min(sc.scrape_interval);
    }
    if sc.scrape_protocols.is_empty() {
        sc.scrape_protocols = g.scrape_protocols.clone();
    }
    protocols(s, &with(base, &[k("scrape_protocols")]), &sc.scrape_protocols);
    if let Some(p) = &sc.scrape_fallback_protocol {
        if !SCRAPE_PROTOCOLS.contains(&p.as_str()) {
            s.err(
                &with(base, &[k("scrape_fallback_protocol")]),
                format!("unknown scrape protocol {p:?}"),
            );
        }
    }
    names_scheme(
        s,
        base,
        &sc.metric_name_validation_scheme,
        &sc.metric_name_escaping_scheme,
    );
    macro_rules! inherit {
        ($($f:ident),*) => { $( if sc.$f == 0 { sc.$f = g.$f; } )* };
    }
    inherit!(
        body_size_limit,
        sample_limit,
        label_limit,
        label_name_length_limit,
        label_value_length_limit,
        target_limit,
        keep_dropped_targets,
        native_histogram_bucket_limit
    );
    if sc.scheme != "http" && sc.scheme != "https" {
        s.err(
            &with(base, &[k("scheme")]),
            format!("scheme must be \"http\" or \"https\", got {:?}", sc.scheme),
        );
    }
    if !sc.metrics_path.starts_with('/') {
        s.err(
            &with(base, &[k("metrics_path")]),
            format!("metrics_path {:?} must start with '/'", sc.metrics_path),
        );
    }
    static_configs(s, base, &sc.static_configs);
    file_sd(s, base, &mut sc.file_sd_configs, dir);
    for kind in sc.unsupported_sd() {
        s.warn(
            &with(base, &[k(kind)]),
            format!("{kind}: service discovery not supported yet, ignored"),
        );
    }
    let mut h = sc.http_fields_mut();
    http(s, base, &mut h, dir);
    s.errors.len() == before
}

fn static_configs(s: &mut Sink<'_>, base: &[Seg], scs: &[StaticConfig]) {
    for (i, st) in scs.iter().enumerate() {
        let at = with(base, &[k("static_configs"), Seg::Index(i)]);
        for (ti, t) in st.targets.iter().enumerate() {
            if t.is_empty() || t.contains('/') {
                s.err(
                    &with(&at, &[k("targets"), Seg::Index(ti)]),
                    format!("{t:?} is not a valid hostname"),
                );
            }
        }
        for name in st.labels.keys() {
            if !is_valid_label_name(name) {
                s.err(
                    &with(&at, &[k("labels")]),
                    format!("{name:?} is not a valid label name"),
                );
            }
        }
    }
}

/// Prometheus's file_sd pattern: `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn valid_file_sd_path(p: &str) -> bool {
    let ext_ok = ["json", "yml", "yaml", "JSON", "YML", "YAML"]
        .iter()
        .any(|e| p.len() > e.len() && p.ends_with(e) && p.as_bytes()[p.len() - e.len() - 1] == b'.');
    if !ext_ok {
        return false;
    }
    match p.find('*') {
        None => true,
        Some(i) => {
            let rest = &p[i + 1..];
            !rest.contains('*') && !rest.contains('/')
        }
    }
}

fn file_sd(s: &mut Sink<'_>, base: &[Seg], fs: &mut [FileSdConfig], dir: &Path) {
    for (i, f) in fs.iter_mut().enumerate() {
        let at = with(base, &[k("file_sd_configs"), Seg::Index(i)]);
        if f.files.is_empty() {
            s.err(
                &at,
                "file service discovery config must contain at least one path name",
            );
        }
        for (fi, p) in f.files.iter_mut().enumerate() {
            let text = p.to_string_lossy().into_owned();
            if !valid_file_sd_path(&text) {
                s.err(
                    &with(&at, &[k("files"), Seg::Index(fi)]),
                    format!("path name {text:?} is not valid for file discovery"),
                );
            }
            *p = join(dir, p);
        }
        if f.refresh_interval.is_zero() {
            s.err(
                &with(&at, &[k("refresh_interval")]),
                "refresh_interval must be greater than 0",
            );
        }
    }
}

fn http(s: &mut Sink<'_>, base: &[Seg], h: &mut HttpFieldsMut<'_>, dir: &Path) {
    let bearer = h.bearer_token.is_some() || h.bearer_token_file.is_some();
    if h.bearer_token.is_some() && h.bearer_token_file.is_some() {
        s.err(
            base,
            "at most one of bearer_token & bearer_token_file must be configured",
        );
    }
    if h.basic_auth.is_some() && (bearer || h.oauth2.is_some()) {
        s.err(
            base,
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    if h.authorization.is_some() && bearer {
        s.err(
            base,
            "authorization is not compatible with bearer_token & bearer_token_file",
        );
    }
    if h.authorization.is_some() && (h.basic_auth.is_some() || h.oauth2.is_some()) {
        s.err(
            base,
            "at most one of basic_auth, oauth2 & authorization must be configured",
        );
    }
    if let Some(b) = h.basic_auth.as_mut() {
        let at = with(base, &[k("basic_auth")]);
        if b.password.is_some() && b.password_file.is_some() {
            s.err(
                &at,
                "at most one of basic_auth password & password_file must be configured",
            );
        }
        if !b.username.is_empty() && b.username_file.is_some() {
            s.err(
                &at,
                "at most one of basic_auth username & username_file must be configured",
            );
        }
        join_opt(dir, &mut b.password_file);
        join_opt(dir, &mut b.username_file);
    }
    if let Some(a) = h.authorization.as_mut() {
        let at = with(base, &[k("authorization")]);
        if a.kind.is_empty() {
            a.kind = "Bearer".into();
        }
        if a.kind.eq_ignore_ascii_case("basic") {
            s.err(
                &with(&at, &[k("type")]),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
        if a.credentials.is_some() && a.credentials_file.is_some() {
            s.err(
                &at,
                "at most one of authorization credentials & credentials_file must be configured",
            );
        }
        join_opt(dir, &mut a.credentials_file);
    }
    join_opt(dir, h.bearer_token_file);
    if h.oauth2.is_some() {
        s.warn(&with(base, &[k("oauth2")]), "oauth2: not supported yet, ignored");
    }
    if h.http_headers.is_some() {
        s.warn(
            &with(base, &[k("http_headers")]),
            "http_headers: not supported yet, ignored",
        );
    }
    if let Some(u) = h.proxy_url {
        if !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("socks5://")) {
            s.err(
                &with(base, &[k("proxy_url")]),
                format!("proxy_url {u:?} must be an http, https or socks5 URL"),
            );
        }
    }
    tls(s, &with(base, &[k("tls_config")]), h.tls_config, dir);
}

fn tls(s: &mut Sink<'_>, at: &[Seg], t: &mut TlsConfig, dir: &Path) {
    for (inline, file, name) in [
        (&t.ca, &t.ca_file, "ca"),
        (&t.cert, &t.cert_file, "cert"),
        (&t.key, &t.key_file, "key"),
    ] {
        if inline.is_some() && file.is_some() {
            s.err(
                at,
                format!("at most one of {name} and {name}_file must be configured"),
            );
        }
    }
    if (t.cert.is_some() || t.cert_file.is_some()) != (t.key.is_some() || t.key_file.is_some()) {
        s.err(
            at,
            "exactly one of cert/cert_file and key/key_file given: client certificates need both",
        );
    }
    for (v, name) in [(&t.min_version, "min_version"), (&t.max_version, "max_version")] {
        if let Some(v) = v {
            if !["TLS10", "TLS11", "TLS12", "TLS13"].contains(&v.as_str()) {
                s.err(&with(at, &[k(name)]), format!("unknown TLS version: {v}"));
            }
        }
    }
    join_opt(dir, &mut t.ca_file);
    join_opt(dir, &mut t.cert_file);
    join_opt(dir, &mut t.key_file);
}

fn alerting(s: &mut Sink<'_>, a: &mut AlertingConfig, dir: &Path) {
    for (i, am) in a.alertmanagers.iter_mut().enumerate() {
        let base = [k("alerting"), k("alertmanagers"), Seg::Index(i)];
        if am.api_version != "v2" {
            s.err(
                &with(&base, &[k("api_version")]),
                format!(
                    "expected Alertmanager api version to be one of [v2] but got {:?}",
                    am.api_version
                ),
            );
        }
        if am.scheme != "http" && am.scheme != "https" {
            s.err(
                &with(&base, &[k("scheme")]),
                format!("scheme must be \"http\" or \"https\", got {:?}", am.scheme),
            );
        }
        if am.timeout.is_zero() {
            s.err(&with(&base, &[k("timeout")]), "timeout must be greater than 0");
        }
        static_configs(s, &base, &am.static_configs);
        file_sd(s, &base, &mut am.file_sd_configs, dir);
        for kind in am.unsupported_sd() {
            s.warn(
                &with(&base, &[k(kind)]),
                format!("{kind}: service discovery not supported yet, ignored"),
            );
        }
        if am.sigv4.is_some() {
            s.warn(&with(&base, &[k("sigv4")]), "sigv4: not supported yet, ignored");
        }
        let mut h = am.http_fields_mut();
        http(s, &base, &mut h, dir);
    }
}

/// Headers Prometheus does not let remote write/read configs set.
const RESERVED_HEADERS: [&str; 12] = [
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "x-prometheus-remote-write-version",
];

fn url_ok(u: &str) -> bool {
    let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/'))
}

fn remote(s: &mut Sink<'_>, cfg: &mut Config, dir: &Path) {
    let mut names = HashSet::new();
    for (i, rw) in cfg.remote_write.iter_mut().enumerate() {
        let base = [k("remote_write"), Seg::Index(i)];
        if rw.url.is_empty() {
            s.err(&base, "url for remote_write is empty");
        } else if !url_ok(&rw.url) {
            s.err(
                &with(&base, &[k("url")]),
                format!(
                    "invalid remote_write URL {:?}: must be http:// or https:// with a host",
                    rw.url
                ),
            );
        }
        if let Some(n) = &rw.name {
            if !n.is_empty() && !names.insert(n.clone()) {
                s.err(
                    &with(&base, &[k("name")]),
                    format!("found multiple remote write configs with job name {n:?}"),
                );
            }
        }
        headers(s, &base, &rw.headers);
        if !["prometheus.WriteRequest", "io.prometheus.write.v2.Request"]
            .contains(&rw.protobuf_message.as_str())
        {
            s.err(
                &with(&base, &[k("protobuf_message")]),
                format!("unknown remote write protobuf message {:?}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request", rw.protobuf_message),
            );
        }
        for (v, name) in [
            (&rw.sigv4, "sigv4"),
            (&rw.azuread, "azuread"),
            (&rw.google_iam, "google_iam"),
        ] {
            if v.is_some() {
                s.warn(
                    &with(&base, &[k(name)]),
                    format!("{name}: not supported yet, ignored"),
                );
            }
        }
        let mut h = rw.http_fields_mut();
        http(s, &base, &mut h, dir);
    }
    let mut names = HashSet::new();
    for (i, rr) in cfg.remote_read.iter_mut().enumerate() {
        let base = [k("remote_read"), Seg::Index(i)];
        if rr.url.is_empty() {
            s.err(&base, "url for remote_read is empty");
        } else if !url_ok(&rr.url) {
            s.err(
                &with(&base, &[k("url")]),
                format!(
                    "invalid remote_read URL {:?}: must be http:// or https:// with a host",
                    rr.url
                ),
            );
        }
        if let Some(n) = &rr.name {
            if !n.is_empty() && !names.insert(n.clone()) {
                s.err(
                    &with(&base, &[k("name")]),
                    format!("found multiple remote read configs with job name {n:?}"),
                );
            }
        }
        headers(s, &base, &rr.headers);
        let mut h = rr.http_fields_mut();
        http(s, &base, &mut h, dir);
    }
}

fn headers(s: &mut Sink<'_>, base: &[Seg], h: &std::collections::BTreeMap<String, String>) {
    for name in h.keys() {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            s.err(
                &with(base, &[k("headers")]),
                format!("{name} is a reserved header. It must not be changed"),
            );
        }
    }
}

fn sightline(s: &mut Sink<'_>, sl: &mut SightlineConfig, dir: &Path) {
    let base = [k("sightline")];
    if let Some(p) = &sl.storage.wal_fsync {
        if !WAL_FSYNC_POLICIES.contains(&p.as_str()) {
            s.err(
                &with(&base, &[k("storage"), k("wal_fsync")]),
                format!("unknown wal_fsync policy {p:?} (always, interval, never)"),
            );
        }
    }
    if sl.storage.wal_fsync_interval.is_some_and(|d| d.is_zero()) {
        s.err(
            &with(&base, &[k("storage"), k("wal_fsync_interval")]),
            "wal_fsync_interval must be greater than 0",
        );
    }
    if let Some(l) = &sl.log.level {
        if !["debug", "info", "warn", "error"].contains(&l.as_str()) {
            s.err(
                &with(&base, &[k("log"), k("level")]),
                format!("unknown log level {l:?} (debug, info, warn, error)"),
            );
        }
    }
    if let Some(f) = &sl.log.format {
        if !["logfmt", "json"].contains(&f.as_str()) {
            s.err(
                &with(&base, &[k("log"), k("format")]),
                format!("unknown log format {f:?} (logfmt, json)"),
            );
        }
    }
    for (key, v) in [
        ("max_labels_per_series", sl.limits.max_labels_per_series),
        ("max_series_per_request", sl.limits.max_series_per_request),
    ] {
        if v == Some(0) {
            s.err(
                &with(&base, &[k("limits"), k(key)]),
                format!("{key} must be greater than 0"),
            );
        }
    }
    for (key, v) in [("listen", &sl.listen)] {
        if v.as_deref() == Some("") {
            s.err(&with(&base, &[k(key)]), format!("{key} must not be empty"));
        }
    }
    join_opt(dir, &mut sl.data_dir);
}
