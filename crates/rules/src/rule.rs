//! One rule's evaluation: recording rules produce series, alerting rules
//! drive the pending → firing → resolved state machine exactly as
//! Prometheus's `AlertingRule.Eval` does.

use crate::{Instant, QueryFn, RuleSpec};
use sightline_model::{Labels, METRIC_NAME};
use sightline_template::{expand_alert, AlertData, Funcs};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Resolved alerts are kept (and re-sent as resolved) this long.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// An alert instance of an alerting rule. Times are Unix milliseconds; 0
/// means unset.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: i64,
    pub resolved_at: i64,
    pub last_sent_at: i64,
    pub valid_until: i64,
    pub keep_firing_since: i64,
}

impl Alert {
    /// Whether the notifier should get this alert now (Prometheus's
    /// `needsSending`).
    pub fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if self.last_sent_at == 0 || self.resolved_at > self.last_sent_at {
            return true;
        }
        self.last_sent_at + resend_delay_ms < ts
    }
}

/// Outcome of evaluating a rule once.
#[derive(Debug, Default)]
pub struct EvalOutput {
    /// Series to append at the evaluation time (recording results, or
    /// `ALERTS` / `ALERTS_FOR_STATE`).
    pub samples: Vec<(Labels, f64)>,
}

/// Evaluation state of one rule.
pub struct RuleState {
    pub spec: RuleSpec,
    /// Active alerts by label-set hash (alerting rules).
    pub active: HashMap<u64, Alert>,
    /// Whether `for` state was restored (ALERTS series are written after).
    pub restored: bool,
    pub health: &'static str,
    pub last_error: String,
    pub last_eval_ms: i64,
    pub eval_seconds: f64,
}

impl RuleState {
    pub fn new(spec: RuleSpec) -> Self {
        Self {
            spec,
            active: HashMap::new(),
            restored: false,
            health: "unknown",
            last_error: String::new(),
            last_eval_ms: 0,
            eval_seconds: 0.0,
        }
    }

    /// Evaluates at `ts` (the group's evaluation time, before
    /// `query_offset` is applied by the caller to `query_ts`).
    pub fn eval(
        &mut self,
        ts: i64,
        query_ts: i64,
        query: &QueryFn,
        funcs: &Funcs,
        ctx: &EvalContext,
    ) -> Result<EvalOutput, String> {
        let started = Instant::now();
        let res = match &self.spec {
            RuleSpec::Recording { .. } => self.eval_recording(query_ts, query, ctx.limit),
            RuleSpec::Alerting { .. } => self.eval_alerting(ts, query_ts, query, funcs, ctx),
        };
        self.last_eval_ms = ts;
        self.eval_seconds = started.elapsed().as_secs_f64();
        match &res {
            Ok(_) => {
                self.health = "ok";
                self.last_error.clear();
            }
            Err(e) => {
                self.health = "err";
                self.last_error = e.clone();
            }
        }
        res
    }

    fn eval_recording(&mut self, query_ts: i64, query: &QueryFn, limit: usize) -> Result<EvalOutput, String> {
        let RuleSpec::Recording { record, expr, labels } = &self.spec else {
            unreachable!("checked by caller")
        };
        let result = query(expr, query_ts)?;
        let mut out = EvalOutput::default();
        let mut seen = HashSet::with_capacity(result.len());
        for (l, v) in result {
            let mut b = l.builder();
            b.set(METRIC_NAME, record.clone());
            for (k, val) in labels {
                b.set(k.clone(), val.clone());
            }
            let l = b.build();
            if !seen.insert(l.hash64()) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels".into(),
                );
            }
            out.samples.push((l, v));
        }
        if limit > 0 && out.samples.len() > limit {
            return Err(format!(
                "exceeded limit of {limit} with {} series",
                out.samples.len()
            ));
        }
        Ok(out)
    }

    fn eval_alerting(
        &mut self,
        ts: i64,
        query_ts: i64,
        query: &QueryFn,
        funcs: &Funcs,
        ctx: &EvalContext,
    ) -> Result<EvalOutput, String> {
        let RuleSpec::Alerting {
            name,
            expr,
            hold_ms,
            keep_firing_for_ms,
            labels,
            annotations,
        } = &self.spec
        else {
            unreachable!("checked by caller")
        };
        let (name, hold_ms, keep_ms) = (name.clone(), *hold_ms, *keep_firing_for_ms);
        let result = query(expr, query_ts)?;
        let mut seen: HashSet<u64> = HashSet::with_capacity(result.len());
        let tmpl_name = format!("__alert_{name}");
        for (metric, v) in result {
            let data = AlertData {
                labels: metric.pairs().iter().cloned().collect(),
                external_labels: ctx.external_labels.clone(),
                external_url: ctx.external_url.clone(),
                value: v,
            };
            let expand = |text: &str| {
                expand_alert(&tmpl_name, text, &data, funcs)
                    .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
            };
            let mut b = metric.builder();
            b.del(METRIC_NAME);
            for (k, t) in labels {
                b.set(k.clone(), expand(t));
            }
            b.set("alertname", name.clone());
            let alert_labels = b.build();
            let anns: BTreeMap<String, String> =
                annotations.iter().map(|(k, t)| (k.clone(), expand(t))).collect();
            let h = alert_labels.hash64();
            if !seen.insert(h) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels".into(),
                );
            }
            if let Some(a) = self.active.get_mut(&h) {
                if a.state != AlertState::Inactive {
                    a.value = v;
                    a.annotations = anns;
                    continue;
                }
            }
            self.active.insert(
                h,
                Alert {
                    labels: alert_labels,
                    annotations: anns,
                    state: AlertState::Pending,
                    value: v,
                    active_at: ts,
                    fired_at: 0,
                    resolved_at: 0,
                    last_sent_at: 0,
                    valid_until: 0,
                    keep_firing_since: 0,
                },
            );
        }

        let mut out = EvalOutput::default();
        let mut active_pending = 0usize;
        let mut gone = Vec::new();
        for (h, a) in self.active.iter_mut() {
            if !seen.contains(h) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_ms > 0 {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    keep_firing = ts - a.keep_firing_since < keep_ms;
                }
                if !keep_firing {
                    if a.state == AlertState::Pending
                        || (a.resolved_at != 0 && ts - a.resolved_at > RESOLVED_RETENTION_MS)
                    {
                        gone.push(*h);
                    }
                    if a.state != AlertState::Inactive {
                        a.state = AlertState::Inactive;
                        a.resolved_at = ts;
                    }
                    continue;
                }
            } else {
                a.keep_firing_since = 0;
            }
            active_pending += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold_ms {
                a.state = AlertState::Firing;
                a.fired_at = ts;
            }
            if self.restored {
                out.samples.push((alerts_series(&a.labels, a.state), 1.0));
                out.samples
                    .push((for_state_series(&a.labels), (a.active_at / 1000) as f64));
            }
        }
        for h in gone {
            self.active.remove(&h);
        }
        if ctx.limit > 0 && active_pending > ctx.limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {} with {active_pending} alerts",
                ctx.limit
            ));
        }
        Ok(out)
    }

    /// Alerts to hand to the notifier at `ts`, marking them sent.
    pub fn alerts_to_send(&mut self, ts: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts, resend_delay_ms) {
                a.last_sent_at = ts;
                a.valid_until = ts + 4 * resend_delay_ms.max(interval_ms);
                out.push(a.clone());
            }
        }
        out
    }
}

/// Group-level inputs to an evaluation.
#[derive(Clone, Debug, Default)]
pub struct EvalContext {
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    /// The group's `limit` (0 = none).
    pub limit: usize,
}

/// `ALERTS{alertname, alertstate, <labels>}`.
pub fn alerts_series(labels: &Labels, state: AlertState) -> Labels {
    let mut b = labels.builder();
    b.set(METRIC_NAME, "ALERTS");
    b.set("alertstate", state.as_str());
    b.build()
}

/// `ALERTS_FOR_STATE{alertname, <labels>}` whose value is the active-since
/// time in seconds.
pub fn for_state_series(labels: &Labels) -> Labels {
    let mut b = labels.builder();
    b.set(METRIC_NAME, "ALERTS_FOR_STATE");
    b.build()
}
