//! Query results and their Loki JSON form.

use serde_json::{json, Map, Value as Json};
use sightline_model::Labels;

/// One log stream of a log query result.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    /// Stream labels plus structured metadata and parsed labels.
    pub labels: Labels,
    /// (timestamp ns, line) in the query's direction.
    pub entries: Vec<(i64, String)>,
}

/// The result of a log query: streams sorted by labels.
pub type Streams = Vec<Stream>;

/// One sample of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t_ns: i64,
    pub v: f64,
}

/// One series of a matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    /// (timestamp ns, value), ascending.
    pub points: Vec<(i64, f64)>,
}

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Streams(Streams),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
    Scalar { t_ns: i64, v: f64 },
}

impl Value {
    /// Loki's `resultType`.
    pub fn result_type(&self) -> &'static str {
        match self {
            Value::Streams(_) => "streams",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
            Value::Scalar { .. } => "scalar",
        }
    }
}

impl From<Streams> for Value {
    fn from(s: Streams) -> Self {
        Value::Streams(s)
    }
}

/// Formats a sample value as Prometheus and Loki do (Go `'f', -1`).
pub fn format_value(v: f64) -> String {
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

/// A timestamp as Unix seconds with millisecond precision (a JSON number).
fn ts_json(t_ns: i64) -> Json {
    let ms = t_ns.div_euclid(1_000_000);
    if ms % 1000 == 0 {
        return Json::from(ms / 1000);
    }
    let secs = ms as f64 / 1000.0;
    serde_json::Number::from_f64(secs).map_or(Json::Null, Json::Number)
}

fn labels_json(l: &Labels) -> Json {
    let mut m = Map::new();
    for p in l.iter() {
        m.insert(p.name.to_string(), Json::String(p.value.to_string()));
    }
    Json::Object(m)
}

/// The `data` object of Loki's query APIs: `{"resultType": ..., "result": ...}`.
/// (The handler adds `stats`.)
pub fn to_loki_json(v: &Value) -> Json {
    let result = match v {
        Value::Streams(ss) => Json::Array(
            ss.iter()
                .map(|s| {
                    json!({
                        "stream": labels_json(&s.labels),
                        "values": s.entries.iter().map(|(t, l)| json!([t.to_string(), l])).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
        Value::Vector(vs) => Json::Array(
            vs.iter()
                .map(|s| json!({"metric": labels_json(&s.labels), "value": [ts_json(s.t_ns), format_value(s.v)]}))
                .collect(),
        ),
        Value::Matrix(ms) => Json::Array(
            ms.iter()
                .map(|s| {
                    json!({
                        "metric": labels_json(&s.labels),
                        "values": s.points.iter().map(|(t, v)| json!([ts_json(*t), format_value(*v)])).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
        Value::Scalar { t_ns, v } => json!([ts_json(*t_ns), format_value(*v)]),
    };
    json!({"resultType": v.result_type(), "result": result})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_shapes() {
        let l = Labels::from_pairs([("app", "a")]);
        let s = to_loki_json(&Value::Streams(vec![Stream {
            labels: l.clone(),
            entries: vec![(1_700_000_000_123_456_789, "hi".into())],
        }]));
        assert_eq!(
            s,
            json!({"resultType":"streams","result":[{"stream":{"app":"a"},"values":[["1700000000123456789","hi"]]}]})
        );
        let m = to_loki_json(&Value::Matrix(vec![Series {
            labels: l.clone(),
            points: vec![
                (1_700_000_000_500_000_000, 0.5),
                (1_700_000_001_000_000_000, f64::INFINITY),
            ],
        }]));
        assert_eq!(
            m.to_string(),
            r#"{"result":[{"metric":{"app":"a"},"values":[[1700000000.5,"0.5"],[1700000001,"+Inf"]]}],"resultType":"matrix"}"#
        );
        let sc = to_loki_json(&Value::Scalar {
            t_ns: 2_000_000_000,
            v: 2.0,
        });
        assert_eq!(sc, json!({"resultType":"scalar","result":[2,"2"]}));
        let v = to_loki_json(&Value::Vector(vec![Sample {
            labels: Labels::new(),
            t_ns: 1_000_000_000,
            v: 1.0,
        }]));
        assert_eq!(
            v,
            json!({"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]})
        );
    }
}
