//! Recording and alerting rules with Prometheus's semantics.
//!
//! A [`RuleManager`] runs one task per rule group. Each evaluation happens
//! at the group's aligned timestamp (`interval` slots offset by a hash of
//! the group, as Prometheus spreads groups), runs every rule in order
//! through the injected PromQL [`QueryFn`], appends results to the store in
//! one commit (staleness markers for series a rule stopped producing), and
//! hands alerts that need sending to the [`notifier::Notifier`].
//!
//! Alert semantics ([`rule`]): pending until `for` has elapsed, then
//! firing; `keep_firing_for`; resolved alerts kept 15 minutes and re-sent
//! as resolved; `ALERTS` and `ALERTS_FOR_STATE` series; labels and
//! annotations expanded with Go templates ([`sightline_template`]); the
//! `for` state restored from `ALERTS_FOR_STATE` after a restart with
//! Prometheus's grace-period rule.
//!
//! Invariants: a failing rule never stops its group (its health becomes
//! `err` with the message); state of groups whose definition did not change
//! survives a reload.

pub mod notifier;
pub mod rule;

use notifier::{Notifier, OutAlert};
use parking_lot::Mutex;
use rule::{AlertState, EvalContext, RuleState};
use serde_json::{json, Value};
use sightline_model::{stale_nan, Labels, MatchOp, Matcher, SelectHints, Storage};
use sightline_template::{prometheus_funcs, Funcs, PromContext, QuerySample};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs an instant query (expression, evaluation time in ms) and returns
/// the resulting vector (a scalar as one sample without labels).
pub type QueryFn = Arc<dyn Fn(&str, i64) -> Result<Vec<(Labels, f64)>, String> + Send + Sync>;

/// Alerts are re-sent this often while firing (Prometheus's default).
pub const RESEND_DELAY_MS: i64 = 60_000;
/// How far back `ALERTS_FOR_STATE` is read at start-up.
pub const OUTAGE_TOLERANCE_MS: i64 = 3_600_000;
/// Minimum `for` left after a restore.
pub const FOR_GRACE_PERIOD_MS: i64 = 600_000;

/// A rule, ready to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleSpec {
    Recording {
        record: String,
        expr: String,
        labels: BTreeMap<String, String>,
    },
    Alerting {
        name: String,
        expr: String,
        hold_ms: i64,
        keep_firing_for_ms: i64,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    },
}

impl RuleSpec {
    pub fn name(&self) -> &str {
        match self {
            RuleSpec::Recording { record, .. } => record,
            RuleSpec::Alerting { name, .. } => name,
        }
    }

    pub fn expr(&self) -> &str {
        match self {
            RuleSpec::Recording { expr, .. } | RuleSpec::Alerting { expr, .. } => expr,
        }
    }
}

/// A rule group, ready to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSpec {
    pub name: String,
    pub file: String,
    pub interval_ms: i64,
    pub limit: usize,
    pub query_offset_ms: i64,
    pub rules: Vec<RuleSpec>,
}

/// What every group needs from the outside.
#[derive(Clone)]
pub struct Env {
    pub storage: Arc<dyn Storage>,
    pub query: QueryFn,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub notifier: Option<Arc<Notifier>>,
}

/// A group's evaluation state.
pub struct GroupState {
    pub spec: GroupSpec,
    pub rules: Vec<RuleState>,
    /// Series each rule wrote at the previous evaluation (for staleness).
    previous: Vec<HashMap<u64, Labels>>,
    pub last_eval_ms: i64,
    pub eval_seconds: f64,
    restore_done: bool,
}

impl GroupState {
    pub fn new(spec: GroupSpec) -> Self {
        let rules = spec.rules.iter().cloned().map(RuleState::new).collect();
        let previous = vec![HashMap::new(); spec.rules.len()];
        GroupState {
            spec,
            rules,
            previous,
            last_eval_ms: 0,
            eval_seconds: 0.0,
            restore_done: false,
        }
    }

    /// The evaluation slot at or before `now_ms`.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = self.spec.interval_ms.max(1);
        let offset = (group_hash(&self.spec) % interval as u64) as i64;
        let adjusted = now_ms - offset;
        adjusted - adjusted.rem_euclid(interval) + offset
    }

    /// Evaluates every rule at `ts`, writes results and notifies.
    pub fn eval(&mut self, ts: i64, env: &Env, funcs: &Funcs) {
        let started = Instant::now();
        let ctx = EvalContext {
            external_labels: env.external_labels.clone(),
            external_url: env.external_url.clone(),
            limit: self.spec.limit,
        };
        let query_ts = ts - self.spec.query_offset_ms;
        let mut app = env.storage.appender();
        let mut to_send = Vec::new();
        for (i, r) in self.rules.iter_mut().enumerate() {
            let out = r.eval(ts, query_ts, &env.query, funcs, &ctx);
            let mut now: HashMap<u64, Labels> = HashMap::new();
            match out {
                Ok(out) => {
                    for (l, v) in out.samples {
                        if let Err(e) = app.append(&l.as_refs(), ts, v) {
                            tracing::warn!(rule = r.spec.name(), series = %l, error = %e, "rule result not stored");
                        }
                        now.insert(l.hash64(), l);
                    }
                }
                Err(e) => {
                    tracing::warn!(group = %self.spec.name, rule = r.spec.name(), error = %e, "rule evaluation failed")
                }
            }
            for (h, l) in &self.previous[i] {
                if !now.contains_key(h) {
                    if let Err(e) = app.append(&l.as_refs(), ts, stale_nan()) {
                        tracing::debug!(series = %l, error = %e, "staleness marker not stored");
                    }
                }
            }
            self.previous[i] = now;
            if let RuleSpec::Alerting { expr, .. } = &r.spec {
                let url = generator_url(&env.external_url, expr);
                to_send.extend(
                    r.alerts_to_send(ts, RESEND_DELAY_MS, self.spec.interval_ms)
                        .iter()
                        .map(|a| OutAlert::from_alert(a, url.clone())),
                );
            }
        }
        if let Err(e) = app.commit() {
            tracing::error!(group = %self.spec.name, error = %e, "storing rule results failed");
        }
        if !self.restore_done {
            self.restore_done = true;
            self.restore_for_state(ts, env);
        }
        if let Some(n) = &env.notifier {
            n.send(to_send);
        }
        self.last_eval_ms = ts;
        self.eval_seconds = started.elapsed().as_secs_f64();
    }

    /// Restores the `for` state of pending alerts from `ALERTS_FOR_STATE`,
    /// as Prometheus does after its first evaluation.
    fn restore_for_state(&mut self, ts: i64, env: &Env) {
        for r in &mut self.rules {
            let RuleSpec::Alerting { name, hold_ms, .. } = &r.spec else {
                continue;
            };
            let (name, hold) = (name.clone(), *hold_ms);
            if hold < FOR_GRACE_PERIOD_MS || r.active.is_empty() {
                r.restored = true;
                continue;
            }
            let stored = match read_for_state(env, &name, ts) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(rule = %name, error = %e, "restoring alert state failed");
                    r.restored = true;
                    continue;
                }
            };
            for a in r.active.values_mut() {
                let key = rule::for_state_series(&a.labels);
                let Some((down_at, active_secs)) = stored.get(&key.hash64()) else {
                    continue;
                };
                let restored = (*active_secs as i64) * 1000;
                let down_for = ts - down_at;
                let remaining = hold - (down_at - restored);
                a.active_at = if remaining <= 0 {
                    restored
                } else if remaining < FOR_GRACE_PERIOD_MS {
                    ts + FOR_GRACE_PERIOD_MS - hold
                } else {
                    restored + down_for
                };
                tracing::info!(rule = %name, alert = %a.labels, active_at_ms = a.active_at, "restored alert state");
            }
            r.restored = true;
        }
    }
}

/// Last `(time, value)` of each `ALERTS_FOR_STATE` series of `alertname`
/// within the outage tolerance, keyed by label-set hash.
fn read_for_state(env: &Env, alertname: &str, ts: i64) -> Result<HashMap<u64, (i64, f64)>, String> {
    let q = env
        .storage
        .querier(ts - OUTAGE_TOLERANCE_MS, ts)
        .map_err(|e| e.to_string())?;
    let matchers = [
        Matcher::new(MatchOp::Equal, "__name__", "ALERTS_FOR_STATE").map_err(|e| e.to_string())?,
        Matcher::new(MatchOp::Equal, "alertname", alertname).map_err(|e| e.to_string())?,
    ];
    let hints = SelectHints {
        start: ts - OUTAGE_TOLERANCE_MS,
        end: ts,
        ..Default::default()
    };
    let mut out = HashMap::new();
    for s in q.select(&matchers, &hints).map_err(|e| e.to_string())? {
        let mut s = s.map_err(|e| e.to_string())?;
        let mut last = None;
        while let Some(p) = s.samples.next() {
            if !sightline_model::is_stale_nan(p.v) {
                last = Some((p.t, p.v));
            }
        }
        if let Some(l) = last {
            out.insert(s.labels.hash64(), l);
        }
    }
    Ok(out)
}

fn group_hash(g: &GroupSpec) -> u64 {
    // FNV-1a over file and name: stable across restarts and versions.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in g.file.bytes().chain([0xff]).chain(g.name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Prometheus's `generatorURL`: the expression's table view in the UI.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!(
        "{}/graph?g0.expr={q}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

struct GroupHandle {
    state: Arc<Mutex<GroupState>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Runs rule groups and answers the rules and alerts APIs.
pub struct RuleManager {
    env: Mutex<Env>,
    groups: Mutex<Vec<GroupHandle>>,
}

impl RuleManager {
    pub fn new(env: Env) -> Arc<Self> {
        Arc::new(RuleManager {
            env: Mutex::new(env),
            groups: Mutex::new(Vec::new()),
        })
    }

    fn funcs(env: &Env) -> Funcs {
        let query = env.query.clone();
        let now_query: sightline_template::QueryFn = Arc::new(move |q: &str| {
            let t = chrono::Utc::now().timestamp_millis();
            Ok(query(q, t)?
                .into_iter()
                .map(|(l, v)| QuerySample {
                    labels: l.pairs().iter().cloned().collect(),
                    value: v,
                })
                .collect())
        });
        prometheus_funcs(PromContext {
            query: Some(now_query),
            external_url: env.external_url.clone(),
            path_prefix: String::new(),
        })
    }

    /// Replaces the groups (must run inside a tokio runtime). Groups whose
    /// definition is unchanged keep running with their state; others are
    /// stopped and started anew, taking over the active alerts of rules
    /// with the same name.
    pub fn update(&self, env: Env, specs: Vec<GroupSpec>) {
        *self.env.lock() = env.clone();
        let mut groups = self.groups.lock();
        let mut old: Vec<GroupHandle> = std::mem::take(&mut *groups);
        for spec in specs {
            if let Some(i) = old.iter().position(|g| g.state.lock().spec == spec) {
                let g = old.swap_remove(i);
                // Same definition: keep state; pick up the new environment.
                let _ = g.stop.send(true);
                let st = g.state.clone();
                groups.push(Self::start(st, env.clone()));
                continue;
            }
            let mut st = GroupState::new(spec.clone());
            if let Some(prev) = old.iter().find(|g| {
                let s = g.state.lock();
                s.spec.name == spec.name && s.spec.file == spec.file
            }) {
                let prev = prev.state.lock();
                for r in &mut st.rules {
                    if let Some(pr) = prev.rules.iter().find(|p| p.spec == r.spec) {
                        r.active = pr.active.clone();
                        r.restored = pr.restored;
                    }
                }
            }
            groups.push(Self::start(Arc::new(Mutex::new(st)), env.clone()));
        }
        for g in old {
            let _ = g.stop.send(true);
        }
    }

    fn start(state: Arc<Mutex<GroupState>>, env: Env) -> GroupHandle {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let st = state.clone();
        let task = tokio::spawn(async move {
            let funcs = Arc::new(Self::funcs(&env));
            let env = Arc::new(env);
            loop {
                let (interval, next) = {
                    let g = st.lock();
                    let now = chrono::Utc::now().timestamp_millis();
                    let slot = g.eval_timestamp(now);
                    let next = if g.last_eval_ms >= slot {
                        slot + g.spec.interval_ms
                    } else {
                        slot
                    };
                    (g.spec.interval_ms, next)
                };
                let wait = (next - chrono::Utc::now().timestamp_millis()).max(0) as u64;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    _ = rx.wait_for(|v| *v) => return,
                }
                let (st2, env2, funcs2) = (st.clone(), env.clone(), funcs.clone());
                let r = tokio::task::spawn_blocking(move || st2.lock().eval(next, &env2, &funcs2)).await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "rule group evaluation task failed");
                    tokio::time::sleep(Duration::from_millis(interval.max(1000) as u64)).await;
                }
            }
        });
        GroupHandle {
            state,
            stop: tx,
            task: Mutex::new(Some(task)),
        }
    }

    /// Stops every group and waits for running evaluations.
    pub async fn stop(&self) {
        let handles: Vec<_> = {
            let groups = self.groups.lock();
            groups
                .iter()
                .map(|g| {
                    let _ = g.stop.send(true);
                    g.task.lock().take()
                })
                .collect()
        };
        for h in handles.into_iter().flatten() {
            let _ = h.await;
        }
    }

    /// The `data` of `/api/v1/rules` (`type` = `alert` or `record` filters).
    pub fn rules_json(&self, type_filter: Option<&str>) -> Value {
        let groups = self.groups.lock();
        let out: Vec<Value> = groups
            .iter()
            .map(|g| {
                let g = g.state.lock();
                let rules: Vec<Value> = g
                    .rules
                    .iter()
                    .filter(|r| {
                        !matches!(
                            (type_filter, &r.spec),
                            (Some("alert"), RuleSpec::Recording { .. })
                                | (Some("record"), RuleSpec::Alerting { .. })
                        )
                    })
                    .map(rule_json)
                    .collect();
                json!({
                    "name": g.spec.name,
                    "file": g.spec.file,
                    "rules": rules,
                    "interval": g.spec.interval_ms as f64 / 1000.0,
                    "limit": g.spec.limit,
                    "evaluationTime": g.eval_seconds,
                    "lastEvaluation": rfc3339_nano(g.last_eval_ms),
                })
            })
            .collect();
        json!({ "groups": out })
    }

    /// The `data` of `/api/v1/alerts`: every pending and firing alert.
    pub fn alerts_json(&self) -> Value {
        let groups = self.groups.lock();
        let mut alerts = Vec::new();
        for g in groups.iter() {
            for r in &g.state.lock().rules {
                alerts.extend(active_alerts_json(r));
            }
        }
        json!({ "alerts": alerts })
    }
}

fn active_alerts_json(r: &RuleState) -> Vec<Value> {
    let mut v: Vec<&rule::Alert> = r
        .active
        .values()
        .filter(|a| a.state != AlertState::Inactive)
        .collect();
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    v.iter()
        .map(|a| {
            let labels: serde_json::Map<String, Value> = a
                .labels
                .pairs()
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            let mut o = json!({
                "labels": labels,
                "annotations": a.annotations,
                "state": a.state.as_str(),
                "activeAt": rfc3339_nano(a.active_at),
                "value": format_exp(a.value),
            });
            if a.keep_firing_since != 0 {
                o["keepFiringSince"] = json!(rfc3339_nano(a.keep_firing_since));
            }
            o
        })
        .collect()
}

fn rule_json(r: &RuleState) -> Value {
    match &r.spec {
        RuleSpec::Recording { record, expr, labels } => json!({
            "name": record,
            "query": expr,
            "labels": labels,
            "health": r.health,
            "lastError": r.last_error,
            "evaluationTime": r.eval_seconds,
            "lastEvaluation": rfc3339_nano(r.last_eval_ms),
            "type": "recording",
        }),
        RuleSpec::Alerting {
            name,
            expr,
            hold_ms,
            keep_firing_for_ms,
            labels,
            annotations,
        } => {
            let alerts = active_alerts_json(r);
            let state = r
                .active
                .values()
                .map(|a| a.state)
                .fold(AlertState::Inactive, |acc, s| match (acc, s) {
                    (AlertState::Firing, _) | (_, AlertState::Firing) => AlertState::Firing,
                    (AlertState::Pending, _) | (_, AlertState::Pending) => AlertState::Pending,
                    _ => AlertState::Inactive,
                });
            json!({
                "state": state.as_str(),
                "name": name,
                "query": expr,
                "duration": *hold_ms as f64 / 1000.0,
                "keepFiringFor": *keep_firing_for_ms as f64 / 1000.0,
                "labels": labels,
                "annotations": annotations,
                "alerts": alerts,
                "health": r.health,
                "lastError": r.last_error,
                "evaluationTime": r.eval_seconds,
                "lastEvaluation": rfc3339_nano(r.last_eval_ms),
                "type": "alerting",
            })
        }
    }
}

/// Go's `time.Time` JSON form (RFC 3339 with nanoseconds trimmed), and
/// Go's zero time for "never".
fn rfc3339_nano(ms: i64) -> String {
    if ms == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `strconv.FormatFloat(v, 'e', -1, 64)`, as alert values are reported.
pub fn format_exp(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.unsigned_abs())
}
