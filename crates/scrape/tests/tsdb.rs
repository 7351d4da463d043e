//! Scraping into the real TSDB (in a temporary directory): references,
//! staleness markers and metadata as the store keeps them.

mod common;

use common::{wait_for, Reply, TestServer};
use prometheus_client::registry::Registry;
use sightline_model::{is_stale_nan, Matcher, SelectHints, Storage};
use sightline_scrape::discovery::static_groups;
use sightline_scrape::{PoolConfig, ScrapeManager};
use sightline_tsdb::db::{Tsdb, TsdbOptions};
use std::sync::Arc;
use std::time::Duration;

fn samples(db: &Tsdb, name: &str) -> Vec<(i64, f64)> {
    let q = db.querier(0, i64::MAX).unwrap();
    let hints = SelectHints {
        start: 0,
        end: i64::MAX,
        ..Default::default()
    };
    let mut out = Vec::new();
    for s in q.select(&[Matcher::equal("__name__", name)], &hints).unwrap() {
        let mut s = s.unwrap();
        while let Some(x) = s.samples.next() {
            out.push((x.t, x.v));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_into_the_tsdb() {
    let srv = TestServer::start(Reply::text(
        "# HELP kept Kept.\n# TYPE kept gauge\nkept 1\ngone 2\n",
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let storage: Arc<dyn Storage> = db.clone();
    let mut reg = Registry::default();
    let m = ScrapeManager::new(storage, &mut reg);
    let mut c = PoolConfig::new("t");
    c.scrape_interval = Duration::from_millis(100);
    c.scrape_timeout = Duration::from_millis(100);
    c.static_groups = static_groups([(vec![srv.addr.clone()], sightline_model::Labels::new())]);
    m.apply_pools(vec![c]);
    wait_for("three scrapes", || samples(&db, "up").len() >= 3).await;
    srv.set(|r| r.body = b"kept 3\n".to_vec());
    wait_for("gone is stale", || {
        samples(&db, "gone").last().is_some_and(|(_, v)| is_stale_nan(*v))
    })
    .await;
    wait_for("kept updated", || {
        samples(&db, "kept").last().is_some_and(|(_, v)| *v == 3.0)
    })
    .await;
    m.stop().await;
    assert!(samples(&db, "kept").last().is_some_and(|(_, v)| is_stale_nan(*v)));
    assert!(samples(&db, "up").iter().rev().skip(1).all(|(_, v)| *v == 1.0));
    let gone = samples(&db, "gone");
    assert_eq!(
        gone.iter().filter(|(_, v)| is_stale_nan(*v)).count(),
        1,
        "{gone:?}"
    );
    let meta = db.metadata();
    assert!(
        meta.iter().any(|(f, md)| f == "kept" && md.help == "Kept."),
        "{meta:?}"
    );
    db.close().unwrap();
}
