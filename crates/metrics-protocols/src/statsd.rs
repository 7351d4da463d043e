//! statsd (to be written)
