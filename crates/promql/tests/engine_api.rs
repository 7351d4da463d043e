//! The engine's public API: values, JSON shape, typed errors, limits and
//! annotations, over the in-memory store.

use serde_json::json;
use sightline_model::{LabelRef, Storage};
use sightline_promql::memstore::MemStorage;
use sightline_promql::{to_prometheus_json, Engine, Error, QueryOpts, Value};
use std::time::Duration;

fn store() -> MemStorage {
    let st = MemStorage::new();
    let mut app = st.appender();
    for i in 0..=10i64 {
        for (inst, mult) in [("a", 1.0), ("b", 2.0)] {
            let l = [
                LabelRef::new("__name__", "http_requests_total"),
                LabelRef::new("instance", inst),
            ];
            app.append(&l, i * 60_000, i as f64 * 60.0 * mult).unwrap();
        }
        app.append(&[LabelRef::new("__name__", "temperature")], i * 60_000, 20.0)
            .unwrap();
    }
    app.commit().unwrap();
    st
}

#[test]
fn instant_vector_and_json() {
    let st = store();
    let e = Engine::new(QueryOpts::default());
    let r = e
        .instant(&st, "sum(rate(http_requests_total[5m]))", 600_000, e.opts())
        .unwrap();
    assert_eq!(
        to_prometheus_json(&r.value),
        json!({"resultType": "vector", "result": [{"metric": {}, "value": [600, "3"]}]})
    );
    assert!(r.warnings.is_empty() && r.infos.is_empty());
}

#[test]
fn range_query_is_sorted_matrix() {
    let st = store();
    let e = Engine::default();
    let r = e
        .range(
            &st,
            "http_requests_total / 60",
            0,
            120_000,
            60_000,
            &QueryOpts::default(),
        )
        .unwrap();
    let Value::Matrix(m) = &r.value else {
        panic!("{:?}", r.value)
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].labels.to_string(), "{instance=\"a\"}");
    assert_eq!(
        m[1].samples.iter().map(|s| s.v).collect::<Vec<_>>(),
        vec![0.0, 2.0, 4.0]
    );
    let j = to_prometheus_json(&r.value);
    assert_eq!(j["resultType"], "matrix");
    assert_eq!(j["result"][0]["values"][1], json!([60, "1"]));
}

#[test]
fn scalar_string_and_range_vector_results() {
    let st = store();
    let e = Engine::default();
    let o = QueryOpts::default();
    assert_eq!(
        e.instant(&st, "1 + 2", 5_000, &o).unwrap().value,
        Value::Scalar { t: 5_000, v: 3.0 }
    );
    assert_eq!(
        e.instant(&st, "\"hi\"", 5_000, &o).unwrap().value,
        Value::String {
            t: 5_000,
            v: "hi".into()
        }
    );
    let r = e.instant(&st, "temperature[2m]", 600_000, &o).unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m[0].samples.len(), 2);
}

#[test]
fn errors_are_typed() {
    let st = store();
    let e = Engine::default();
    let o = QueryOpts::default();
    assert!(matches!(e.instant(&st, "sum(", 0, &o), Err(Error::Parse { .. })));
    assert!(matches!(
        e.range(&st, "up", 0, 10, 0, &o),
        Err(Error::Parse { .. })
    ));
    assert!(matches!(
        e.range(&st, "up[5m]", 0, 10, 1, &o),
        Err(Error::Execution(_))
    ));
    let err = e
        .instant(&st, "http_requests_total + on() temperature", 0, &o)
        .unwrap_err();
    assert!(matches!(err, Error::Execution(ref m) if m.contains("many-to-one matching must be explicit")));
    let small = QueryOpts {
        max_samples: 5,
        ..QueryOpts::default()
    };
    let err = e
        .range(&st, "http_requests_total", 0, 600_000, 60_000, &small)
        .unwrap_err();
    assert!(matches!(err, Error::TooManySamples));
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    let expired = QueryOpts {
        timeout: Some(Duration::ZERO),
        ..QueryOpts::default()
    };
    assert!(matches!(
        e.instant(&st, "temperature", 0, &expired),
        Err(Error::Timeout(_))
    ));
}

#[test]
fn annotations_are_returned() {
    let st = store();
    let e = Engine::default();
    let r = e
        .instant(&st, "rate(temperature[5m])", 600_000, &QueryOpts::default())
        .unwrap();
    assert_eq!(
        r.infos,
        vec!["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"temperature\" (1:6)"]
    );
    let r = e
        .instant(&st, "quantile(1.5, temperature)", 0, &QueryOpts::default())
        .unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].starts_with("PromQL warning: quantile value should be between 0 and 1, got 1.5"));
}

#[test]
fn holt_winters_alias_and_name_dropping() {
    let st = store();
    let e = Engine::default();
    let o = QueryOpts::default();
    let r = e
        .instant(&st, "holt_winters(temperature[5m], 0.5, 0.5)", 600_000, &o)
        .unwrap();
    let Value::Vector(v) = r.value else { panic!() };
    assert_eq!((v.len(), v[0].v), (1, 20.0));
    assert!(v[0].labels.is_empty());
    // Two series that only differ by name collide once the name is dropped.
    let st2 = MemStorage::new();
    let mut app = st2.appender();
    app.append(&[LabelRef::new("__name__", "a"), LabelRef::new("x", "1")], 0, 1.0)
        .unwrap();
    app.append(&[LabelRef::new("__name__", "b"), LabelRef::new("x", "1")], 0, 2.0)
        .unwrap();
    app.commit().unwrap();
    let err = e.instant(&st2, "ceil({x=\"1\"})", 0, &o).unwrap_err();
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
    // ... but not when the name is kept.
    let r = e.instant(&st2, "last_over_time({x=\"1\"}[1m])", 0, &o).unwrap();
    assert!(matches!(r.value, Value::Vector(ref v) if v.len() == 2));
}

#[test]
fn resolution_and_subquery_limits() {
    let st = store();
    let e = Engine::default();
    let o = QueryOpts::default();
    let err = e.range(&st, "temperature", 0, 20_000_000, 1, &o).unwrap_err();
    assert!(matches!(err, Error::Parse { .. }));
    assert!(err
        .to_string()
        .contains("exceeded maximum resolution of 11,000 points per timeseries"));
    let err = e
        .instant(&st, "max_over_time(temperature[10y:1ms])", 0, &o)
        .unwrap_err();
    assert!(matches!(err, Error::TooManySamples));
}

/// Records the time ranges queriers are opened for.
struct Recording {
    inner: MemStorage,
    calls: std::sync::Mutex<Vec<(i64, i64)>>,
}

impl Storage for Recording {
    fn appender(&self) -> Box<dyn sightline_model::Appender + '_> {
        self.inner.appender()
    }

    fn querier(
        &self,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn sightline_model::Querier + '_>, sightline_model::StorageError> {
        self.calls.lock().unwrap().push((mint, maxt));
        self.inner.querier(mint, maxt)
    }
}

#[test]
fn one_querier_covers_the_whole_query() {
    let st = Recording {
        inner: store(),
        calls: Default::default(),
    };
    let e = Engine::default();
    let o = QueryOpts::default();
    let min = 60_000;
    let calls = |q: &str, t: i64| {
        st.calls.lock().unwrap().clear();
        e.instant(&st, q, t, &o).unwrap();
        st.calls.lock().unwrap().clone()
    };
    assert_eq!(
        calls("rate(temperature[5m] offset 1m) + temperature", 10 * min),
        vec![(4 * min, 10 * min)]
    );
    assert_eq!(
        calls("max_over_time(temperature[10m:1m] offset 2m)", 20 * min),
        vec![(3 * min, 18 * min)]
    );
    assert_eq!(calls("temperature @ 120", 20 * min), vec![(-3 * min, 2 * min)]);
    assert_eq!(calls("vector(1) + 2", 20 * min), vec![]);
}

#[test]
fn extreme_times_are_rejected_not_overflowed() {
    let st = store();
    let e = Engine::default();
    let o = QueryOpts::default();
    for q in [
        "rate(temperature[290000000y] offset 290000000y)",
        "temperature offset -290000000y",
        "max_over_time(temperature[1m:290000000y])",
    ] {
        let err = e.instant(&st, q, 0, &o).unwrap_err();
        assert!(matches!(err, Error::Parse { .. }), "{q}: {err}");
    }
    assert!(matches!(
        e.instant(&st, "temperature", i64::MAX, &o),
        Err(Error::Parse { .. })
    ));
    assert!(matches!(
        e.range(&st, "temperature", i64::MIN, 0, 1, &o),
        Err(Error::Parse { .. })
    ));
}
