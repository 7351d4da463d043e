//! Why a scrape failed. The message becomes the target's `lastError`.

use thiserror::Error;

/// A failed scrape (the whole scrape is discarded, `up` is 0).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ScrapeError {
    #[error("Get \"{0}\": context deadline exceeded")]
    Timeout(String),
    #[error("{0}")]
    Http(String),
    #[error("{0}")]
    Status(String),
    #[error("body size limit exceeded: the response is larger than {0} bytes")]
    BodySizeLimit(u64),
    #[error("{0}")]
    Credentials(String),
    #[error("parse error: {0}")]
    Parse(String),
    #[error("sample limit exceeded: {found} samples, limit {limit}")]
    SampleLimit { found: usize, limit: usize },
    #[error("label limit exceeded: {0}")]
    LabelLimit(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("HTTP client configuration: {0}")]
    Client(String),
}
