//! Pseudo-random queries (fixed seed) must evaluate or fail with an error,
//! never panic, in instant and range mode.

use sightline_model::{stale_nan, LabelRef, Storage};
use sightline_promql::memstore::MemStorage;
use sightline_promql::{Engine, QueryOpts};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

const NUMS: &[&str] = &["0", "1", "-1", "0.5", "2", "NaN", "Inf", "-Inf", "1e300", "100"];
const DURS: &[&str] = &["1ms", "10s", "1m", "5m", "1h", "290000000y"];

fn vector(r: &mut Rng, depth: u32) -> String {
    if depth == 0 {
        return r
            .pick(&[
                "a",
                "b{x=\"1\"}",
                "{__name__=~\"a|b\"}",
                "a offset 1m",
                "b @ 60",
                "nothing",
                "a offset -30s",
                "a offset 290000000y",
                "b @ 9000000000000",
            ])
            .to_string();
    }
    let d = depth - 1;
    match r.next() % 12 {
        0 => {
            let f = r.pick(&[
                "rate",
                "increase",
                "delta",
                "irate",
                "idelta",
                "deriv",
                "changes",
                "resets",
                "avg_over_time",
                "sum_over_time",
                "min_over_time",
                "max_over_time",
                "stddev_over_time",
                "last_over_time",
                "first_over_time",
                "mad_over_time",
                "present_over_time",
                "absent_over_time",
                "ts_of_max_over_time",
                "count_over_time",
            ]);
            let sel = r.pick(&["a", "b{x=\"1\"}", "{__name__=~\"a|b\"}", "nothing"]);
            format!("{f}({sel}[{}])", r.pick(DURS))
        }
        1 => format!(
            "{}({})",
            r.pick(&[
                "abs",
                "ceil",
                "floor",
                "exp",
                "ln",
                "sqrt",
                "sgn",
                "timestamp",
                "sort",
                "sort_desc",
                "absent",
                "hour",
                "year",
                "days_in_month",
                "-"
            ]),
            vector(r, d)
        ),
        2 => format!(
            "{} by (x) ({})",
            r.pick(&["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"]),
            vector(r, d)
        ),
        3 => format!(
            "{}({}, {})",
            r.pick(&["topk", "bottomk", "limitk", "limit_ratio", "quantile"]),
            r.pick(NUMS),
            vector(r, d)
        ),
        4 => format!(
            "{} {} {}",
            vector(r, d),
            r.pick(&[
                "+",
                "-",
                "*",
                "/",
                "%",
                "^",
                "atan2",
                "==",
                "!=",
                ">",
                "<=",
                "and",
                "or",
                "unless",
                "> bool",
                "+ on(x)",
                "* ignoring(x) group_left",
                "- on() group_right"
            ]),
            vector(r, d)
        ),
        5 => format!(
            "{} {} {}",
            vector(r, d),
            r.pick(&["+", "*", ">", "< bool", "/"]),
            r.pick(NUMS)
        ),
        6 => {
            let f = r.pick(&[
                "max_over_time(",
                "rate(",
                "avg_over_time(",
                "quantile_over_time(0.5, ",
            ]);
            format!(
                "{f}({})[{}:{}])",
                vector(r, d),
                r.pick(DURS),
                r.pick(&["", "10s", "1m"])
            )
        }
        7 => format!("clamp({}, {}, {})", vector(r, d), r.pick(NUMS), r.pick(NUMS)),
        8 => format!("round({}, {})", vector(r, d), r.pick(NUMS)),
        9 => format!(
            "label_replace({}, \"{}\", \"$1\", \"x\", \"(.*)\")",
            vector(r, d),
            r.pick(&["y", "__name__", "x"])
        ),
        10 => format!("histogram_quantile({}, {})", r.pick(NUMS), vector(r, d)),
        _ => format!("count_values(\"v\", {})", vector(r, d)),
    }
}

#[test]
fn random_queries_do_not_panic() {
    let st = MemStorage::new();
    let mut app = st.appender();
    for i in 0..40i64 {
        let v = match i % 9 {
            3 => f64::NAN,
            5 => stale_nan(),
            7 => f64::INFINITY,
            _ => (i * 3 % 17) as f64,
        };
        for (name, x) in [("a", "1"), ("a", "2"), ("b", "1")] {
            let l = [
                LabelRef::new("__name__", name),
                LabelRef::new("x", x),
                LabelRef::new("le", "0.5"),
            ];
            app.append(&l, i * 15_000, v).unwrap();
        }
    }
    app.commit().unwrap();
    let e = Engine::new(QueryOpts::default());
    let o = QueryOpts::default();
    let mut r = Rng(42);
    let mut ok = 0;
    for _ in 0..1500 {
        let depth = (r.next() % 4) as u32;
        let q = vector(&mut r, depth);
        let t = (r.next() % 700_000) as i64;
        if e.instant(&st, &q, t, &o).is_ok() {
            ok += 1;
        }
        let _ = e.range(&st, &q, t, t + 300_000, 15_000, &o);
    }
    eprintln!("{ok} of 1500 instant queries evaluated");
    assert!(ok > 300, "too few queries evaluated: {ok}");
}
