//! Matcher semantics of block selects, checked against a brute-force filter
//! with Prometheus rules (a missing label matches as the empty string).

use sightline_model::{Labels, MatchOp, Matcher, Sample};
use sightline_tsdb::block::gen::Rng;
use sightline_tsdb::block::{Block, BlockWriter};

fn brute(all: &[Labels], ms: &[Matcher]) -> Vec<Labels> {
    let mut v: Vec<Labels> = all
        .iter()
        .filter(|l| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
        .cloned()
        .collect();
    v.sort();
    v
}

#[test]
fn every_operator_matches_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(99);
    let vals = ["a", "b", "c", "foo", "foobar", "1"];
    let mut all = Vec::new();
    let mut w = BlockWriter::new(dir.path(), 0, 1000).unwrap();
    for i in 0..400 {
        let mut pairs = vec![
            ("__name__".to_string(), format!("m{}", i % 4)),
            ("id".to_string(), format!("{i}")),
        ];
        for name in ["x", "y", "z"] {
            // Roughly a quarter of series lack each label.
            let r = rng.below(8) as usize;
            if r < vals.len() {
                pairs.push((name.to_string(), vals[r].to_string()));
            }
        }
        let l = Labels::from_pairs(pairs);
        w.add_series(&l, &mut [Sample { t: i, v: 1.0 }].into_iter())
            .unwrap();
        all.push(l);
    }
    let meta = w.finish().unwrap();
    let b = Block::open(&dir.path().join(&meta.id)).unwrap();

    let patterns = [
        "", "a", "foo", "nope", "a|b", "a|", "fo.*", ".*", ".+", "f.*r", "(a|c)", "1|foo",
    ];
    let mut singles = Vec::new();
    for name in ["x", "y", "missing", "__name__"] {
        for p in patterns {
            for op in [
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::Regex,
                MatchOp::NotRegex,
            ] {
                singles.push(Matcher::new(op, name, p).unwrap());
            }
        }
        singles.push(Matcher::equal(name, "m1"));
    }
    let mut checked = 0;
    for (i, m1) in singles.iter().enumerate() {
        let cases: Vec<Vec<Matcher>> = vec![
            vec![m1.clone()],
            vec![m1.clone(), singles[(i * 7 + 3) % singles.len()].clone()],
            vec![
                singles[(i * 13 + 1) % singles.len()].clone(),
                m1.clone(),
                singles[(i * 5 + 2) % singles.len()].clone(),
            ],
        ];
        for ms in cases {
            let got: Vec<Labels> = b
                .select(&ms, i64::MIN, i64::MAX, true)
                .unwrap()
                .into_iter()
                .map(|(l, _)| l)
                .collect();
            let want = brute(&all, &ms);
            assert_eq!(
                got,
                want,
                "matchers {:?}",
                ms.iter().map(|m| m.to_string()).collect::<Vec<_>>()
            );
            // label_values agrees with the matched series.
            let mut vals: Vec<String> = want
                .iter()
                .filter_map(|l| l.get("x").map(str::to_string))
                .collect();
            vals.sort();
            vals.dedup();
            if !ms.is_empty() {
                assert_eq!(b.label_values("x", &ms).unwrap(), vals);
                let mut names: Vec<String> = want
                    .iter()
                    .flat_map(|l| l.pairs().iter().map(|(n, _)| n.clone()))
                    .collect();
                names.sort();
                names.dedup();
                assert_eq!(b.label_names(&ms).unwrap(), names);
            }
            checked += 1;
        }
    }
    assert!(checked > 500);
    // No matchers: everything.
    assert_eq!(b.select(&[], 0, 0, true).unwrap().len(), 400);
}

#[test]
fn select_results_are_sorted_by_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::new(dir.path(), 0, 10).unwrap();
    let mut all = Vec::new();
    for i in (0..50).rev() {
        let l = Labels::from_pairs([("__name__", format!("n{}", i % 5)), ("i", format!("{i:03}"))]);
        w.add_series(&l, &mut [Sample { t: 1, v: i as f64 }].into_iter())
            .unwrap();
        all.push(l);
    }
    let b = Block::open(&dir.path().join(w.finish().unwrap().id)).unwrap();
    all.sort();
    let got: Vec<Labels> = b
        .select(
            &[Matcher::new(MatchOp::Regex, "__name__", "n.*").unwrap()],
            0,
            10,
            false,
        )
        .unwrap()
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(got, all);
}
