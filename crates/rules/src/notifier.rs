//! Sends alerts to Alertmanagers through the v2 API
//! (`POST <base>/api/v2/alerts`), as Prometheus's notifier does: external
//! labels added, `alert_relabel_configs` applied by the caller-supplied
//! relabel function, a bounded queue (oldest dropped when full), batches of
//! 64 alerts, each batch posted to every Alertmanager.

use crate::rule::Alert;
use serde_json::json;
use sightline_model::Labels;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Alerts held at most; older ones are dropped when more arrive.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Alerts per request.
pub const BATCH: usize = 64;

/// Where and how to reach one Alertmanager.
#[derive(Clone, Debug)]
pub struct AlertmanagerTarget {
    /// `scheme://host:port/path_prefix` (without `/api/v2/alerts`).
    pub base_url: String,
    pub timeout: Duration,
    pub basic_auth: Option<(String, String)>,
    pub bearer_token: Option<String>,
}

/// Rewrites (or drops, returning `None`) an alert's labels before sending.
pub type RelabelFn = Arc<dyn Fn(Labels) -> Option<Labels> + Send + Sync>;

#[derive(Clone, Default)]
pub struct NotifierConfig {
    pub alertmanagers: Vec<AlertmanagerTarget>,
    pub external_labels: BTreeMap<String, String>,
    pub relabel: Option<RelabelFn>,
}

/// One alert in Alertmanager's v2 shape.
#[derive(Clone, Debug, PartialEq)]
pub struct OutAlert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub generator_url: String,
}

impl OutAlert {
    /// From a rule's alert, as Prometheus's `sendAlerts` builds it.
    pub fn from_alert(a: &Alert, generator_url: String) -> Self {
        OutAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at_ms: a.fired_at,
            ends_at_ms: if a.resolved_at != 0 {
                a.resolved_at
            } else {
                a.valid_until
            },
            generator_url,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let labels: serde_json::Map<String, serde_json::Value> = self
            .labels
            .pairs()
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "labels": labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_at_ms),
            "endsAt": rfc3339(self.ends_at_ms),
            "generatorURL": self.generator_url,
        })
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Default)]
struct Counters {
    sent: u64,
    errors: u64,
    dropped: u64,
}

/// The alert queue and its sender task.
pub struct Notifier {
    cfg: parking_lot::RwLock<NotifierConfig>,
    queue: parking_lot::Mutex<VecDeque<OutAlert>>,
    wake: Notify,
    counters: parking_lot::Mutex<Counters>,
    client: reqwest::Client,
}

impl Notifier {
    pub fn new(cfg: NotifierConfig) -> Arc<Self> {
        Arc::new(Notifier {
            cfg: parking_lot::RwLock::new(cfg),
            queue: parking_lot::Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            counters: parking_lot::Mutex::new(Counters::default()),
            client: reqwest::Client::new(),
        })
    }

    /// Replaces the Alertmanagers, external labels and relabeling (reload).
    pub fn apply(&self, cfg: NotifierConfig) {
        *self.cfg.write() = cfg;
    }

    /// Queues alerts (after external labels and relabeling).
    pub fn send(&self, alerts: Vec<OutAlert>) {
        if alerts.is_empty() {
            return;
        }
        let cfg = self.cfg.read();
        if cfg.alertmanagers.is_empty() {
            return;
        }
        let mut q = self.queue.lock();
        for mut a in alerts {
            if !cfg.external_labels.is_empty() {
                let mut b = a.labels.builder();
                for (k, v) in &cfg.external_labels {
                    if a.labels.get(k).is_none() {
                        b.set(k.clone(), v.clone());
                    }
                }
                a.labels = b.build();
            }
            if let Some(r) = &cfg.relabel {
                match r(a.labels) {
                    Some(l) => a.labels = l,
                    None => continue,
                }
            }
            q.push_back(a);
        }
        let over = q.len().saturating_sub(QUEUE_CAPACITY);
        if over > 0 {
            q.drain(..over);
            self.counters.lock().dropped += over as u64;
            tracing::warn!(dropped = over, "alert queue full; dropped the oldest alerts");
        }
        drop(q);
        self.wake.notify_one();
    }

    /// (sent, errors, dropped) alert counts so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        let c = self.counters.lock();
        (c.sent, c.errors, c.dropped)
    }

    /// Alerts waiting to be sent.
    pub fn queue_len(&self) -> usize {
        self.queue.lock().len()
    }

    /// Sends queued batches until `stop` resolves, then flushes what is left.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            while self.send_batch().await {}
            let stopping = tokio::select! {
                _ = self.wake.notified() => false,
                r = stop.wait_for(|v| *v) => r.is_ok(),
            };
            if stopping {
                while self.send_batch().await {}
                return;
            }
        }
    }

    /// Posts one batch to every Alertmanager; false when the queue was empty.
    async fn send_batch(&self) -> bool {
        let batch: Vec<OutAlert> = {
            let mut q = self.queue.lock();
            let n = q.len().min(BATCH);
            q.drain(..n).collect()
        };
        if batch.is_empty() {
            return false;
        }
        let body = serde_json::Value::Array(batch.iter().map(OutAlert::to_json).collect());
        let targets = self.cfg.read().alertmanagers.clone();
        for am in targets {
            let url = format!("{}/api/v2/alerts", am.base_url.trim_end_matches('/'));
            let mut req = self.client.post(&url).timeout(am.timeout).json(&body);
            if let Some((u, p)) = &am.basic_auth {
                req = req.basic_auth(u, Some(p));
            }
            if let Some(t) = &am.bearer_token {
                req = req.bearer_auth(t);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => self.counters.lock().sent += batch.len() as u64,
                Ok(r) => {
                    self.counters.lock().errors += batch.len() as u64;
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::error!(alertmanager = %url, %status, body = %text.trim(), "sending alerts failed");
                }
                Err(e) => {
                    self.counters.lock().errors += batch.len() as u64;
                    tracing::error!(alertmanager = %url, error = %e, "sending alerts failed");
                }
            }
        }
        true
    }
}
