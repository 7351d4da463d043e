//! Query results and their Prometheus JSON form.
//!
//! A [`Value`] is what an instant or range query returns. Vectors keep the
//! order the engine produced (meaningful after `sort`, `topk`, ...); range
//! results (matrices) are sorted by labels. Timestamps are milliseconds.

use serde_json::{json, Map, Value as Json};
use sightline_model::{Labels, Sample};

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    /// Evaluation time (ms), except in range vectors where it is the sample's.
    pub t: i64,
    pub v: f64,
}

/// One series of a range result.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// The result of a query.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// Prometheus's name of the result type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// A query's value plus the annotations Prometheus returns with it
/// (`warnings` and `infos` of the HTTP API), each already formatted as
/// `PromQL warning: ... (line:col)`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// Formats a float the way Prometheus's JSON API does (Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, with `NaN`, `+Inf`, `-Inf`).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A timestamp in seconds as Prometheus writes it (integer seconds when whole).
fn ts_json(t: i64) -> Json {
    if t % 1000 == 0 {
        json!(t / 1000)
    } else {
        json!(t as f64 / 1000.0)
    }
}

fn labels_json(l: &Labels) -> Json {
    let mut m = Map::new();
    for p in l.iter() {
        m.insert(p.name.to_string(), Json::String(p.value.to_string()));
    }
    Json::Object(m)
}

/// The `data` object of Prometheus's query API: `{"resultType": ..., "result": ...}`.
pub fn to_prometheus_json(v: &Value) -> Json {
    let result = match v {
        Value::Scalar { t, v } => json!([ts_json(*t), format_float(*v)]),
        Value::String { t, v } => json!([ts_json(*t), v]),
        Value::Vector(samples) => Json::Array(
            samples
                .iter()
                .map(
                    |s| json!({"metric": labels_json(&s.labels), "value": [ts_json(s.t), format_float(s.v)]}),
                )
                .collect(),
        ),
        Value::Matrix(series) => Json::Array(
            series
                .iter()
                .map(|s| {
                    let values: Vec<Json> = s
                        .samples
                        .iter()
                        .map(|p| json!([ts_json(p.t), format_float(p.v)]))
                        .collect();
                    json!({"metric": labels_json(&s.labels), "values": values})
                })
                .collect(),
        ),
    };
    json!({"resultType": v.type_name(), "result": result})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_match_prometheus() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let v = Value::Vector(vec![InstantSample {
            labels: l.clone(),
            t: 1_500,
            v: 1.0,
        }]);
        assert_eq!(
            to_prometheus_json(&v),
            json!({"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1.5,"1"]}]})
        );
        let m = Value::Matrix(vec![RangeSeries {
            labels: l,
            samples: vec![
                Sample { t: 2000, v: f64::NAN },
                Sample {
                    t: 3000,
                    v: f64::INFINITY,
                },
            ],
        }]);
        assert_eq!(
            to_prometheus_json(&m)["result"][0]["values"],
            json!([[2, "NaN"], [3, "+Inf"]])
        );
        assert_eq!(
            to_prometheus_json(&Value::Scalar { t: 0, v: -0.5 }),
            json!({"resultType":"scalar","result":[0,"-0.5"]})
        );
        assert_eq!(
            to_prometheus_json(&Value::String {
                t: 1000,
                v: "x".into()
            }),
            json!({"resultType":"string","result":[1,"x"]})
        );
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }
}
