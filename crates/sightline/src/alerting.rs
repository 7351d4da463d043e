//! Glue between the config file, the PromQL engine and the rule manager:
//! rule groups and Alertmanagers from the config, the query function rules
//! evaluate through, and the view `/api/v1/rules` and `/api/v1/alerts` read.

use sightline_config::Config;
use sightline_model::{Labels, Storage};
use sightline_promql::{Engine, QueryOpts, Value};
use sightline_rules::notifier::{AlertmanagerTarget, NotifierConfig};
use sightline_rules::{GroupSpec, QueryFn, RuleManager, RuleSpec};
use std::sync::Arc;

/// Rule groups of the config, ready for the manager.
pub fn group_specs(cfg: &Config) -> Vec<GroupSpec> {
    let ms = |d: std::time::Duration| d.as_millis() as i64;
    cfg.rule_groups
        .iter()
        .map(|lg| {
            let g = &lg.group;
            let rules = g
                .rules
                .iter()
                .map(|r| {
                    // Group labels apply to every rule; a rule's own win.
                    let mut labels = g.labels.clone();
                    labels.extend(r.labels.clone());
                    match &r.record {
                        Some(record) => RuleSpec::Recording {
                            record: record.clone(),
                            expr: r.expr.clone(),
                            labels,
                        },
                        None => RuleSpec::Alerting {
                            name: r.alert.clone().unwrap_or_default(),
                            expr: r.expr.clone(),
                            hold_ms: r.for_.map(ms).unwrap_or(0),
                            keep_firing_for_ms: r.keep_firing_for.map(ms).unwrap_or(0),
                            labels,
                            annotations: r.annotations.clone(),
                        },
                    }
                })
                .collect();
            GroupSpec {
                name: g.name.clone(),
                file: lg.file.display().to_string(),
                interval_ms: ms(g.interval.unwrap_or(cfg.global.evaluation_interval)).max(1),
                limit: g.limit as usize,
                query_offset_ms: ms(g.query_offset.unwrap_or(cfg.global.rule_query_offset)),
                rules,
            }
        })
        .collect()
}

/// Alertmanagers (static targets) and alert relabeling from `alerting`.
pub fn notifier_config(cfg: &Config) -> NotifierConfig {
    let mut targets = Vec::new();
    for am in &cfg.alerting.alertmanagers {
        if am.api_version != "v2" {
            tracing::warn!(api_version = %am.api_version, "only the Alertmanager v2 API is supported; using v2");
        }
        // A credentials file that cannot be read is reported and sends no
        // credential (Alertmanager then answers 401, which is logged too).
        let read = |p: &std::path::PathBuf| match std::fs::read_to_string(p) {
            Ok(s) => Some(s.trim_end().to_string()),
            Err(e) => {
                tracing::error!(file = %p.display(), error = %e, "cannot read Alertmanager credentials file");
                None
            }
        };
        let basic_auth = am.basic_auth.as_ref().map(|b| {
            let password = b
                .password
                .clone()
                .or_else(|| b.password_file.as_ref().and_then(read));
            (b.username.clone(), password.unwrap_or_default())
        });
        let bearer_token = am
            .authorization
            .as_ref()
            .and_then(|a| {
                a.credentials
                    .clone()
                    .or_else(|| a.credentials_file.as_ref().and_then(read))
            })
            .or_else(|| am.bearer_token.clone())
            .or_else(|| am.bearer_token_file.as_ref().and_then(read));
        for sc in &am.static_configs {
            for t in &sc.targets {
                targets.push(AlertmanagerTarget {
                    base_url: format!("{}://{}{}", am.scheme, t, am.path_prefix.trim_end_matches('/')),
                    timeout: am.timeout,
                    basic_auth: basic_auth.clone(),
                    bearer_token: bearer_token.clone(),
                });
            }
        }
        if !am.file_sd_configs.is_empty() {
            tracing::warn!("file_sd_configs for Alertmanagers are not supported yet; ignored");
        }
    }
    let relabel = cfg.alerting.alert_relabel_configs.clone();
    NotifierConfig {
        alertmanagers: targets,
        external_labels: cfg.global.external_labels.clone(),
        relabel: if relabel.is_empty() {
            None
        } else {
            Some(Arc::new(move |l: Labels| {
                sightline_relabel::process_labels(&l, &relabel)
            }))
        },
    }
}

/// Instant queries for rules: a scalar becomes one sample without labels,
/// as in Prometheus; other result types are errors.
pub fn query_fn(storage: Arc<dyn Storage>, opts: QueryOpts) -> QueryFn {
    let engine = Engine::new(opts.clone());
    Arc::new(move |expr: &str, t: i64| {
        let res = engine
            .instant(storage.as_ref(), expr, t, &opts)
            .map_err(|e| e.to_string())?;
        match res.value {
            Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
            Value::Scalar { v, .. } => Ok(vec![(Labels::new(), v)]),
            other => Err(format!(
                "rule result is not a vector or scalar: got {}",
                other.type_name()
            )),
        }
    })
}

/// `/api/v1/rules` and `/api/v1/alerts` from the rule manager.
pub struct RulesApi(pub Arc<RuleManager>);

impl sightline_server::query_api::RulesView for RulesApi {
    fn rules_json(&self, type_filter: Option<&str>) -> serde_json::Value {
        self.0.rules_json(type_filter)
    }

    fn alerts_json(&self) -> serde_json::Value {
        self.0.alerts_json()
    }
}
