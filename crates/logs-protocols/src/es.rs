//! Elasticsearch bulk API (placeholder until the bulk decoder lands).
