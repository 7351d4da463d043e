//! Prometheus-compatible scraping: target discovery (static and file),
//! target labels and relabeling, one scrape loop per target writing through
//! [`sightline_model::Appender`], staleness markers, and the data behind
//! `/api/v1/targets`.
//!
//! Entry point: [`ScrapeManager`]. `apply_config` (or the lower-level
//! [`ScrapeManager::apply_pools`]) replaces the set of scrape pools; loops of
//! unchanged targets keep running across reloads; [`ScrapeManager::stop`]
//! ends every loop and writes staleness markers for everything it scraped.
//!
//! Module map:
//! - [`config`] holds the resolved per-pool settings the loops use;
//! - [`target`] holds discovered groups to targets (Prometheus's label rules);
//! - [`discovery`] holds `static_configs` and `file_sd_configs`;
//! - [`client`] holds the HTTP request of a scrape;
//! - [`scrape_loop`] holds the loop, the scrape cache, staleness, report series;
//! - [`manager`] holds pools, reloads, the targets API data;
//! - [`from_config`] holds the mapping from `sightline_config::ScrapeConfig`;
//! - [`metrics`] holds self-metrics.

pub mod api;
pub mod client;
pub mod config;
pub mod discovery;
pub mod error;
pub mod from_config;
pub mod manager;
pub mod metrics;
pub mod scrape_loop;
pub mod target;
pub mod util;

pub use config::{FileSdSettings, HttpSettings, PoolConfig, Secret, TargetGroup, TlsSettings};
pub use error::ScrapeError;
pub use manager::ScrapeManager;
