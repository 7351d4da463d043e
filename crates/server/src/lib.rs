//! Sightline's HTTP surface: one axum router serving every ingest endpoint,
//! the Prometheus-compatible read APIs, health and self-metrics.
//!
//! Handlers only translate HTTP to calls on decoders (in the protocol
//! crates) and on the storage boundary (`sightline_model::Storage`); they
//! never parse wire formats themselves and never know how data is stored.

pub mod body;
pub mod error;
pub mod health;
pub mod ingest;
pub mod params;
pub mod query_api;
pub mod read_api;
pub mod selector;
pub mod selfmetrics;
pub mod status_api;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use health::HealthProbe;
use prometheus_client::registry::Registry;
use selfmetrics::{HttpMetrics, IngestMetrics};
use sightline_model::{Limits, Storage};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What `/api/v1/targets` reads (implemented by the scrape manager).
pub trait TargetsView: Send + Sync {
    /// The `data` object of Prometheus's `/api/v1/targets`.
    fn targets_json(&self, state: Option<&str>, scrape_pool: Option<&str>) -> serde_json::Value;
}

/// Reloads the configuration (SIGHUP and `POST /-/reload`).
pub type ReloadFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub storage: Arc<dyn Storage>,
    pub limits: Limits,
    pub registry: Arc<Registry>,
    pub ingest: IngestMetrics,
    pub http: HttpMetrics,
    pub probes: Arc<Vec<Box<dyn HealthProbe>>>,
    pub targets: Option<Arc<dyn TargetsView>>,
    pub reload: Option<ReloadFn>,
    pub flush: Option<ReloadFn>,
    pub push: Option<Arc<parking_lot::Mutex<ingest::push_registry::PushRegistry>>>,
    /// OTLP metrics receiver (`POST /v1/metrics`); `None` disables it.
    pub otlp: Option<Arc<sightline_otlp::OtlpMetrics>>,
    pub engine: Arc<sightline_promql::Engine>,
    pub rules: Option<Arc<dyn query_api::RulesView>>,
    pub status: Option<Arc<dyn query_api::StatusView>>,
    ready: AtomicBool,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Builds the shared state. Register every other component's metrics in
/// `registry` before calling this.
pub struct AppStateBuilder {
    pub storage: Arc<dyn Storage>,
    pub limits: Limits,
    pub registry: Registry,
    pub probes: Vec<Box<dyn HealthProbe>>,
    pub targets: Option<Arc<dyn TargetsView>>,
    pub reload: Option<ReloadFn>,
    /// Persists the head's complete ranges to blocks (`POST /api/v1/admin/tsdb/flush`).
    pub flush: Option<ReloadFn>,
    /// Pushgateway-style groups (`/metrics/job/...`); `None` disables push.
    pub push: Option<Arc<parking_lot::Mutex<ingest::push_registry::PushRegistry>>>,
    pub otlp: Option<Arc<sightline_otlp::OtlpMetrics>>,
    /// Query options (lookback delta, timeout, max samples) for the API.
    pub query_opts: sightline_promql::QueryOpts,
    pub rules: Option<Arc<dyn query_api::RulesView>>,
    pub status: Option<Arc<dyn query_api::StatusView>>,
}

impl AppStateBuilder {
    pub fn new(storage: Arc<dyn Storage>, registry: Registry) -> Self {
        Self {
            storage,
            limits: Limits::default(),
            registry,
            probes: Vec::new(),
            targets: None,
            reload: None,
            flush: None,
            push: None,
            otlp: None,
            query_opts: sightline_promql::QueryOpts::default(),
            rules: None,
            status: None,
        }
    }

    pub fn build(mut self) -> AppState {
        let ingest = IngestMetrics::register(&mut self.registry);
        let http = HttpMetrics::register(&mut self.registry);
        AppState(Arc::new(Inner {
            storage: self.storage,
            limits: self.limits,
            registry: Arc::new(self.registry),
            ingest,
            http,
            probes: Arc::new(self.probes),
            targets: self.targets,
            reload: self.reload,
            flush: self.flush,
            push: self.push,
            otlp: self.otlp,
            engine: Arc::new(sightline_promql::Engine::new(self.query_opts)),
            rules: self.rules,
            status: self.status,
            ready: AtomicBool::new(false),
        }))
    }
}

impl AppState {
    /// Marks start-up (WAL replay and the like) as finished.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let read = get(read_api::series).post(read_api::series);
    Router::new()
        .route("/-/healthy", get(health::healthy).head(health::healthy))
        .route("/-/ready", get(health::ready).head(health::ready))
        .route("/health", get(health::health))
        .route("/metrics", get(self_metrics))
        .route(
            "/metrics/{*rest}",
            axum::routing::put(ingest::push::push)
                .post(ingest::push::push)
                .delete(ingest::push::push),
        )
        .route("/write", axum::routing::post(ingest::influx::write_v1))
        .route("/api/v2/write", axum::routing::post(ingest::influx::write_v2))
        .route("/ping", get(ingest::influx::ping).head(ingest::influx::ping))
        .route("/query", axum::routing::post(ingest::influx::query))
        .route("/-/reload", axum::routing::post(reload).put(reload))
        .route("/api/v1/admin/tsdb/flush", axum::routing::post(flush))
        .route("/api/v1/series", read)
        .route(
            "/api/v1/labels",
            get(read_api::label_names).post(read_api::label_names),
        )
        .route("/api/v1/label/{name}/values", get(read_api::label_values))
        .route("/api/v1/write", axum::routing::post(ingest::remote_write::write))
        .route("/api/v1/targets", get(status_api::targets))
        .route("/api/v1/metadata", get(status_api::metadata))
        .route("/api/v1/export", get(read_api::export).post(read_api::export))
        .route("/v1/metrics", axum::routing::post(ingest::otlp::metrics))
        // Prometheus's path for the same receiver.
        .route(
            "/api/v1/otlp/v1/metrics",
            axum::routing::post(ingest::otlp::metrics),
        )
        .route("/api/v1/query", get(query_api::query).post(query_api::query))
        .route(
            "/api/v1/query_range",
            get(query_api::query_range).post(query_api::query_range),
        )
        .route(
            "/api/v1/format_query",
            get(query_api::format_query).post(query_api::format_query),
        )
        .route(
            "/api/v1/query_exemplars",
            get(query_api::query_exemplars).post(query_api::query_exemplars),
        )
        .route("/api/v1/rules", get(query_api::rules))
        .route("/api/v1/alerts", get(query_api::alerts))
        .route("/api/v1/status/{what}", get(query_api::status))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe_http))
        .with_state(state)
}

/// `POST /-/reload`: re-reads the config file, as SIGHUP does.
async fn reload(State(st): State<AppState>) -> Response {
    run_admin(st.reload.clone(), "reload").await
}

/// `POST /api/v1/admin/tsdb/flush`: persists every complete block range
/// (2h by default) the head has moved past, without waiting for the
/// periodic maintenance; the newest, still-open range stays in the head.
async fn flush(State(st): State<AppState>) -> Response {
    run_admin(st.flush.clone(), "flush").await
}

async fn run_admin(f: Option<ReloadFn>, what: &str) -> Response {
    use axum::http::StatusCode;
    let Some(f) = f else {
        return (StatusCode::NOT_IMPLEMENTED, format!("{what} is not available\n")).into_response();
    };
    match tokio::task::spawn_blocking(move || f()).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed: {e}\n")).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} task failed: {e}\n"),
        )
            .into_response(),
    }
}

async fn self_metrics(State(st): State<AppState>) -> Response {
    let reg = st.registry.clone();
    let text = tokio::task::spawn_blocking(move || selfmetrics::render(&reg))
        .await
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Records every request's latency under its route pattern (not the raw
/// path, which would make one series per pushed job or label name).
async fn observe_http(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let method = req.method().clone();
    let resp = next.run(req).await;
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    st.http.observe(
        &route,
        method.as_str(),
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}
