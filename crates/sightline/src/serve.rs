//! `sightline serve`: opens the store, starts every listener and background
//! loop, and stops them in reverse order on SIGTERM/SIGINT. SIGHUP (and
//! `POST /-/reload`) reloads the config file.

use crate::logging::{LogFormat, LogLevel};
use anyhow::{anyhow, Context, Result};
use sightline_server::health::{DiskProbe, HealthProbe};
use sightline_server::{AppStateBuilder, ReloadFn};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Config file: a Prometheus `prometheus.yml`, optionally with a `sightline:` section.
    #[arg(long, alias = "config.file", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where embedded storage keeps its data.
    #[arg(long = "data-dir", alias = "storage.tsdb.path", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP address for every API and the UI (use 0.0.0.0:7070 for all interfaces).
    #[arg(long, alias = "web.listen-address", value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// OTLP gRPC listener (`off` disables it).
    #[arg(long = "otlp.grpc-listen", value_name = "HOST:PORT")]
    pub otlp_grpc_listen: Option<String>,
    /// StatsD/DogStatsD UDP listener (off unless set).
    #[arg(long = "statsd.listen", value_name = "HOST:PORT")]
    pub statsd_listen: Option<String>,
    /// How often aggregated StatsD series are written (default 10s).
    #[arg(long = "statsd.flush-interval", value_name = "DURATION")]
    pub statsd_flush_interval: Option<String>,
    /// How long to keep data (e.g. 15d).
    #[arg(
        long = "retention.time",
        alias = "storage.tsdb.retention.time",
        value_name = "DURATION"
    )]
    pub retention_time: Option<String>,
    /// Maximum bytes of stored blocks (e.g. 50GB).
    #[arg(
        long = "retention.size",
        alias = "storage.tsdb.retention.size",
        value_name = "SIZE"
    )]
    pub retention_size: Option<String>,
    /// When the WAL is fsynced: always (before each acknowledgement), interval, never.
    #[arg(long = "storage.wal-fsync", value_name = "POLICY")]
    pub wal_fsync: Option<String>,
    /// How far back a PromQL selector looks for a sample.
    #[arg(long = "query.lookback-delta", value_name = "DURATION", default_value = "5m")]
    pub query_lookback_delta: String,
    /// Longest a query may run.
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m")]
    pub query_timeout: String,
    /// Most samples a query may hold in memory at once.
    #[arg(long = "query.max-samples", value_name = "N", default_value_t = 50_000_000)]
    pub query_max_samples: usize,
    /// The URL Sightline is reached at (alert links, templates' `$externalURL`).
    #[arg(long = "web.external-url", value_name = "URL")]
    pub external_url: Option<String>,
    /// Log level (default `info`, or `sightline.log.level` of the config).
    #[arg(long = "log.level", value_enum)]
    pub log_level: Option<LogLevel>,
    /// Log format (default `logfmt`, or `sightline.log.format` of the config).
    #[arg(long = "log.format", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Settings after merging defaults, the config file and flags (flags win).
struct Settings {
    config: sightline_config::Config,
    config_path: Option<PathBuf>,
    data_dir: PathBuf,
    listen: String,
    otlp_grpc_listen: Option<String>,
    statsd_listen: Option<String>,
    statsd: sightline_server::ingest::statsd::StatsdOptions,
    tsdb: sightline_tsdb::db::TsdbOptions,
    query: sightline_promql::QueryOpts,
    /// Flag name to value, for `/api/v1/status/flags`.
    flags: serde_json::Map<String, serde_json::Value>,
}

fn settings(args: &ServeArgs) -> Result<Settings> {
    let (config, warnings) = match &args.config {
        Some(p) => sightline_config::load(p).map_err(|e| anyhow!("{e}"))?,
        None => (sightline_config::Config::default(), Vec::new()),
    };
    for w in warnings {
        tracing::warn!(warning = %w, "config");
    }
    let sl = &config.sightline;
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| sl.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./data"));
    let listen = args
        .listen
        .clone()
        .or_else(|| sl.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:7070".into());
    let off = |s: Option<String>| s.filter(|s| !s.is_empty() && s != "off");
    let otlp_grpc_listen = off(args
        .otlp_grpc_listen
        .clone()
        .or_else(|| sl.otlp.grpc_listen.clone())
        .or(Some("127.0.0.1:4317".into())));
    let statsd_listen = off(args.statsd_listen.clone().or_else(|| sl.statsd.listen.clone()));

    let mut statsd = sightline_server::ingest::statsd::StatsdOptions::default();
    let flush = match &args.statsd_flush_interval {
        Some(s) => {
            Some(sightline_config::parse_duration(s).map_err(|e| anyhow!("--statsd.flush-interval: {e}"))?)
        }
        None => sl.statsd.flush_interval,
    };
    if let Some(d) = flush.filter(|d| !d.is_zero()) {
        statsd.flush_interval = d;
    }

    let mut tsdb = sightline_tsdb::db::TsdbOptions {
        limits: sl.limits.to_model(),
        ..Default::default()
    };
    let retention_time = match &args.retention_time {
        Some(s) => Some(sightline_config::parse_duration(s).map_err(|e| anyhow!("--retention.time: {e}"))?),
        None => sl.storage.retention_time,
    };
    if let Some(d) = retention_time {
        tsdb.retention_time_ms = Some(d.as_millis() as i64);
    }
    let retention_size = match &args.retention_size {
        Some(s) => Some(sightline_config::parse_size(s).map_err(|e| anyhow!("--retention.size: {e}"))?),
        None => sl.storage.retention_size,
    };
    if retention_size.is_some() {
        tsdb.retention_size_bytes = retention_size;
    }
    if let Some(w) = config.storage.tsdb.out_of_order_time_window {
        tsdb.ooo_window_ms = w.as_millis() as i64;
    }
    let fsync = args.wal_fsync.clone().or_else(|| sl.storage.wal_fsync.clone());
    if let Some(p) = fsync {
        tsdb.wal_sync = match p.as_str() {
            "always" => sightline_tsdb::wal::WalSync::Always,
            "interval" => sightline_tsdb::wal::WalSync::Interval(
                sl.storage.wal_fsync_interval.unwrap_or(Duration::from_secs(1)),
            ),
            "never" => sightline_tsdb::wal::WalSync::Never,
            other => {
                return Err(anyhow!(
                    "--storage.wal-fsync: unknown policy {other:?} (always, interval, never)"
                ))
            }
        };
    }
    let dur = |flag: &str, v: &str| sightline_config::parse_duration(v).map_err(|e| anyhow!("--{flag}: {e}"));
    let query = sightline_promql::QueryOpts {
        lookback_delta_ms: dur("query.lookback-delta", &args.query_lookback_delta)?.as_millis() as i64,
        timeout: Some(dur("query.timeout", &args.query_timeout)?),
        max_samples: args.query_max_samples,
        ..Default::default()
    };
    let mut flags = serde_json::Map::new();
    let mut flag = |k: &str, v: String| {
        flags.insert(k.to_string(), serde_json::Value::String(v));
    };
    flag(
        "config.file",
        args.config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    flag("storage.tsdb.path", data_dir.display().to_string());
    flag("web.listen-address", listen.clone());
    flag("web.external-url", args.external_url.clone().unwrap_or_default());
    flag(
        "otlp.grpc-listen",
        otlp_grpc_listen.clone().unwrap_or_else(|| "off".into()),
    );
    flag(
        "statsd.listen",
        statsd_listen.clone().unwrap_or_else(|| "off".into()),
    );
    flag(
        "storage.tsdb.retention.time",
        tsdb.retention_time_ms
            .map(|ms| format!("{}s", ms / 1000))
            .unwrap_or_default(),
    );
    flag(
        "storage.tsdb.retention.size",
        tsdb.retention_size_bytes
            .map(|b| b.to_string())
            .unwrap_or_default(),
    );
    flag("query.lookback-delta", args.query_lookback_delta.clone());
    flag("query.timeout", args.query_timeout.clone());
    flag("query.max-samples", args.query_max_samples.to_string());
    Ok(Settings {
        query,
        flags,
        config,
        config_path: args.config.clone(),
        data_dir,
        listen,
        otlp_grpc_listen,
        statsd_listen,
        statsd,
        tsdb,
    })
}

/// The log level and format: flags, else the config file's `sightline.log`
/// section (read leniently: a broken config is reported by `serve` itself),
/// else info/logfmt.
pub fn log_settings(args: &ServeArgs) -> (LogLevel, LogFormat) {
    use clap::ValueEnum;
    let section = args
        .config
        .as_deref()
        .and_then(|p| sightline_config::load(p).ok())
        .map(|(c, _)| c.sightline.log)
        .unwrap_or_default();
    let level = args
        .log_level
        .or_else(|| {
            section
                .level
                .as_deref()
                .and_then(|s| LogLevel::from_str(s, true).ok())
        })
        .unwrap_or(LogLevel::Info);
    let format = args
        .log_format
        .or_else(|| {
            section
                .format
                .as_deref()
                .and_then(|s| LogFormat::from_str(s, true).ok())
        })
        .unwrap_or(LogFormat::Logfmt);
    (level, format)
}

pub fn run(args: ServeArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sightline")
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: ServeArgs) -> Result<()> {
    let s = settings(&args)?;
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("creating data dir {}", s.data_dir.display()))?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), data_dir = %s.data_dir.display(), "starting sightline");

    let tsdb_dir = s.data_dir.join("metrics");
    let opts = s.tsdb.clone();
    let tsdb = tokio::task::spawn_blocking(move || sightline_tsdb::db::Tsdb::open(&tsdb_dir, opts)).await??;
    let storage: Arc<dyn sightline_model::Storage> = tsdb.clone();

    let http_listener = tokio::net::TcpListener::bind(&s.listen)
        .await
        .with_context(|| format!("binding HTTP listener {}", s.listen))?;
    let http_addr = http_listener.local_addr()?;

    let mut registry = prometheus_client::registry::Registry::default();
    crate::wiring::register_tsdb_metrics(&mut registry, tsdb.clone());
    let scrape = Arc::new(sightline_scrape::ScrapeManager::new(
        storage.clone(),
        &mut registry,
    ));

    let external_url = args
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"))
        .trim_end_matches('/')
        .to_string();
    let notifier = sightline_rules::notifier::Notifier::new(crate::alerting::notifier_config(&s.config));
    let rule_env = sightline_rules::Env {
        storage: storage.clone(),
        query: crate::alerting::query_fn(storage.clone(), s.query.clone()),
        external_labels: s.config.global.external_labels.clone(),
        external_url: external_url.clone(),
        notifier: Some(notifier.clone()),
    };
    let rules = sightline_rules::RuleManager::new(rule_env.clone());
    let apply = {
        let (scrape, rules, notifier, rule_env) =
            (scrape.clone(), rules.clone(), notifier.clone(), rule_env.clone());
        move |cfg: &sightline_config::Config| {
            apply_config(&scrape, cfg, http_addr);
            notifier.apply(crate::alerting::notifier_config(cfg));
            let env = sightline_rules::Env {
                external_labels: cfg.global.external_labels.clone(),
                ..rule_env.clone()
            };
            rules.update(env, crate::alerting::group_specs(cfg));
        }
    };
    let config = Arc::new(parking_lot::Mutex::new(s.config.clone()));
    let config_text = Arc::new(parking_lot::Mutex::new(read_config_text(
        s.config_path.as_deref(),
    )));
    apply(&config.lock());
    let last_reload = Arc::new(parking_lot::Mutex::new((true, chrono::Utc::now())));
    let reload: ReloadFn = {
        let (config, config_text, path) = (config.clone(), config_text.clone(), s.config_path.clone());
        let last_reload = last_reload.clone();
        Arc::new(move || {
            let Some(path) = &path else { return Ok(()) };
            let loaded = sightline_config::load(path).map_err(|e| e.to_string());
            *last_reload.lock() = (loaded.is_ok(), chrono::Utc::now());
            let (cfg, warnings) = loaded?;
            for w in warnings {
                tracing::warn!(warning = %w, "config");
            }
            apply(&cfg);
            *config.lock() = cfg;
            *config_text.lock() = read_config_text(Some(path));
            tracing::info!(file = %path.display(), "configuration reloaded");
            Ok(())
        })
    };
    let (stop_notifier_tx, stop_notifier_rx) = tokio::sync::watch::channel(false);
    let notifier_task = tokio::spawn(notifier.clone().run(stop_notifier_rx));

    let probes: Vec<Box<dyn HealthProbe>> = vec![
        Box::new(DiskProbe {
            path: s.data_dir.clone(),
            min_free_bytes: 256 << 20,
        }),
        Box::new(crate::wiring::TsdbProbe(tsdb.clone())),
    ];
    let push =
        sightline_server::ingest::push_registry::PushRegistry::open(Some(s.data_dir.join("push.json")))
            .with_context(|| {
                format!(
                    "reading pushed metrics from {}",
                    s.data_dir.join("push.json").display()
                )
            })?;
    let push = Arc::new(parking_lot::Mutex::new(push));
    let flush: ReloadFn = {
        let tsdb = tsdb.clone();
        Arc::new(move || tsdb.persist_head_now().map(|_| ()).map_err(|e| e.to_string()))
    };
    let otlp_cfg = otlp_config(&s.config, &s.query)?;

    let mut builder = AppStateBuilder::new(storage.clone(), registry);
    builder.limits = s.tsdb.limits.clone();
    builder.probes = probes;
    builder.targets = Some(Arc::new(crate::wiring::Targets(scrape.clone())));
    builder.reload = Some(reload.clone());
    builder.flush = Some(flush);
    builder.push = Some(push.clone());
    builder.otlp = Some(Arc::new(sightline_otlp::OtlpMetrics::new(otlp_cfg)));
    builder.query_opts = s.query.clone();
    builder.rules = Some(Arc::new(crate::alerting::RulesApi(rules.clone())));
    builder.status = Some(Arc::new(crate::wiring::Status {
        tsdb: tsdb.clone(),
        config_text,
        flags: s.flags.clone(),
        started: chrono::Utc::now(),
        last_reload,
    }));
    let state = builder.build();
    let app = sightline_server::router(state.clone());

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    tracing::info!(listener = "http", address = %http_addr, "listening");
    let mut http_rx = shutdown_rx.clone();
    let http = tokio::spawn(async move {
        axum::serve(http_listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_rx.wait_for(|v| *v).await;
            })
            .await
    });

    let grpc = match &s.otlp_grpc_listen {
        Some(addr) => Some(crate::wiring::start_otlp_grpc(addr, state.clone(), shutdown_rx.clone()).await?),
        None => None,
    };
    let statsd = match &s.statsd_listen {
        Some(addr) => Some(
            crate::wiring::start_statsd(addr, s.statsd.clone(), state.clone(), shutdown_rx.clone()).await?,
        ),
        None => None,
    };
    let maintenance = crate::wiring::start_maintenance(tsdb.clone(), shutdown_rx.clone());
    let reemit = crate::wiring::start_push_reemit(state.clone(), push, shutdown_rx.clone());

    state.set_ready(true);
    tracing::info!("ready");

    wait_for_signals(reload).await;
    tracing::info!("shutting down");
    state.set_ready(false);
    let _ = shutdown_tx.send(true);
    // Reverse order: stop taking data in, then flush the store.
    let _ = http.await;
    if let Some(g) = grpc {
        let _ = g.await;
    }
    if let Some(st) = statsd {
        let _ = st.await;
    }
    scrape.stop().await;
    rules.stop().await;
    let _ = stop_notifier_tx.send(true);
    let _ = notifier_task.await;
    let _ = reemit.await;
    let _ = maintenance.await;
    tokio::task::spawn_blocking(move || tsdb.close()).await??;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The OTLP receiver's settings from Prometheus's `otlp:` section (and
/// `sightline.otlp.promote_resource_attributes`, which wins when set).
fn otlp_config(
    cfg: &sightline_config::Config,
    query: &sightline_promql::QueryOpts,
) -> Result<sightline_otlp::OtlpConfig> {
    let p = &cfg.otlp;
    let mut o = sightline_otlp::OtlpConfig {
        promote_resource_attributes: if cfg.sightline.otlp.promote_resource_attributes.is_empty() {
            p.promote_resource_attributes.clone()
        } else {
            cfg.sightline.otlp.promote_resource_attributes.clone()
        },
        promote_all_resource_attributes: p.promote_all_resource_attributes,
        ignore_resource_attributes: p.ignore_resource_attributes.clone(),
        keep_identifying_resource_attributes: p.keep_identifying_resource_attributes,
        promote_scope_metadata: p.promote_scope_metadata,
        lookback_delta: Duration::from_millis(query.lookback_delta_ms.max(0) as u64),
        ..Default::default()
    };
    if let Some(t) = &p.translation_strategy {
        o.translation = t.parse().map_err(|e| anyhow!("otlp.translation_strategy: {e}"))?;
    }
    o.validate().map_err(|e| anyhow!("otlp: {e}"))?;
    Ok(o)
}

/// The config file's text for `/api/v1/status/config` (empty without one).
fn read_config_text(path: Option<&std::path::Path>) -> String {
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

fn apply_config(
    scrape: &sightline_scrape::ScrapeManager,
    cfg: &sightline_config::Config,
    self_addr: SocketAddr,
) {
    let mut cfg = cfg.clone();
    if cfg.scrape_configs.is_empty() {
        // No scrape config at all: scrape ourselves, as Prometheus's example config does.
        cfg.scrape_configs
            .push(sightline_config::ScrapeConfig::self_scrape(
                "sightline",
                &self_addr.to_string(),
            ));
    }
    scrape.apply_config(&cfg);
}

async fn wait_for_signals(reload: ReloadFn) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stopping");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => {
                let reload = reload.clone();
                match tokio::task::spawn_blocking(move || reload()).await {
                    Ok(Err(e)) => tracing::error!(error = %e, "reload failed; keeping the previous configuration"),
                    Err(e) => tracing::error!(error = %e, "reload task failed"),
                    Ok(Ok(())) => {}
                }
            }
        }
    }
}
