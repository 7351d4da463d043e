//! Delta temporality to cumulative, as Prometheus's `otlp-deltatocumulative`
//! feature does it (the OpenTelemetry collector's `deltatocumulative`
//! processor semantics).
//!
//! A *stream* is one OTLP series: resource attributes, scope, metric name,
//! unit and kind, and data-point attributes (hashed to 128 bits). Per stream
//! the state keeps the first point's start time, the last point's time and
//! the running total. For each new delta point:
//!
//! - no state yet: the point itself is the first cumulative value;
//! - `start_time < state.start`: the point belongs to an older run of the
//!   series and is dropped ([`DeltaError::OlderStart`]);
//! - `time <= state.time`: out of order or a retry, dropped
//!   ([`DeltaError::OutOfOrder`]);
//! - otherwise it is added and `state.time` advances (gaps are allowed).
//!
//! A histogram whose explicit bounds changed restarts its stream from the
//! new point (a counter reset downstream).
//!
//! Memory is bounded: at most `max_streams` streams; a new stream beyond that
//! is refused ([`DeltaError::Limit`]); a stream idle for `max_stale` is
//! evicted and its next point starts over.

use crate::config::DeltaConfig;
use crate::exphist::ExpHist;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A delta point's payload, and the accumulated cumulative value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Number(f64),
    Histogram {
        count: u64,
        sum: Option<f64>,
        bounds: Vec<f64>,
        counts: Vec<u64>,
    },
    Exponential(ExpHist),
}

impl Value {
    /// `self += other`; `false` when the shapes are incompatible.
    fn add(&mut self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => {
                *a += b;
                true
            }
            (
                Value::Histogram {
                    count,
                    sum,
                    bounds,
                    counts,
                },
                Value::Histogram {
                    count: c2,
                    sum: s2,
                    bounds: b2,
                    counts: n2,
                },
            ) => {
                if bounds.len() != b2.len()
                    || bounds.iter().zip(b2).any(|(a, b)| a.to_bits() != b.to_bits())
                    || counts.len() != n2.len()
                {
                    return false;
                }
                *count = count.saturating_add(*c2);
                *sum = sum.zip(*s2).map(|(a, b)| a + b);
                for (a, b) in counts.iter_mut().zip(n2) {
                    *a = a.saturating_add(*b);
                }
                true
            }
            (Value::Exponential(a), Value::Exponential(b)) => {
                a.add(b);
                true
            }
            _ => false,
        }
    }
}

/// Why a delta point was not accumulated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DeltaError {
    #[error("delta point dropped: its start time {start_ns}ns is before the series' start {series_start_ns}ns (several writers for one series?)")]
    OlderStart { start_ns: u64, series_start_ns: u64 },
    #[error("delta point dropped: time {time_ns}ns is not after the series' last point at {last_ns}ns (out of order or retried)")]
    OutOfOrder { time_ns: u64, last_ns: u64 },
    #[error("delta point dropped: delta-to-cumulative already tracks its limit of {0} streams")]
    Limit(usize),
}

#[derive(Debug)]
struct Stream {
    start: u64,
    last: u64,
    value: Value,
    seen: Instant,
}

/// The per-stream accumulation state. Not synchronized: the owner wraps it
/// in a mutex.
#[derive(Debug)]
pub struct DeltaToCumulative {
    cfg: DeltaConfig,
    streams: HashMap<u128, Stream>,
    last_sweep: Option<Instant>,
}

impl DeltaToCumulative {
    pub fn new(cfg: DeltaConfig) -> Self {
        Self {
            cfg,
            streams: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Streams currently tracked.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Drops streams idle for `max_stale` or longer.
    pub fn evict_idle(&mut self, now: Instant) {
        let max = self.cfg.max_stale;
        self.streams
            .retain(|_, s| now.saturating_duration_since(s.seen) < max);
        self.last_sweep = Some(now);
    }

    /// Sweeps at most every quarter of `max_stale`.
    fn maybe_sweep(&mut self, now: Instant, force: bool) {
        let every = (self.cfg.max_stale / 4).max(Duration::from_millis(1));
        let due = match self.last_sweep {
            None => true,
            Some(t) => now.saturating_duration_since(t) >= every,
        };
        if due
            || (force
                && self
                    .last_sweep
                    .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)))
        {
            self.evict_idle(now);
        }
    }

    /// Accumulates one delta point of stream `key` and returns the cumulative
    /// value to store.
    pub fn accumulate(
        &mut self,
        key: u128,
        start_ns: u64,
        time_ns: u64,
        value: Value,
        now: Instant,
    ) -> Result<Value, DeltaError> {
        self.maybe_sweep(now, false);
        if let Some(s) = self.streams.get_mut(&key) {
            if now.saturating_duration_since(s.seen) < self.cfg.max_stale {
                if start_ns < s.start {
                    return Err(DeltaError::OlderStart {
                        start_ns,
                        series_start_ns: s.start,
                    });
                }
                if time_ns <= s.last {
                    return Err(DeltaError::OutOfOrder {
                        time_ns,
                        last_ns: s.last,
                    });
                }
                s.seen = now;
                s.last = time_ns;
                if s.value.add(&value) {
                    return Ok(s.value.clone());
                }
                s.start = start_ns;
                s.value = value.clone();
                return Ok(value);
            }
            // Stale: start over below.
            self.streams.remove(&key);
        }
        if self.streams.len() >= self.cfg.max_streams {
            self.maybe_sweep(now, true);
            if self.streams.len() >= self.cfg.max_streams {
                return Err(DeltaError::Limit(self.cfg.max_streams));
            }
        }
        self.streams.insert(
            key,
            Stream {
                start: start_ns,
                last: time_ns,
                value: value.clone(),
                seen: now,
            },
        );
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d2c(max_streams: usize) -> DeltaToCumulative {
        DeltaToCumulative::new(DeltaConfig {
            max_streams,
            max_stale: Duration::from_secs(300),
        })
    }

    #[test]
    fn sums_accumulate_and_bad_points_drop() {
        let mut d = d2c(10);
        let t0 = Instant::now();
        assert_eq!(
            d.accumulate(1, 100, 200, Value::Number(5.0), t0),
            Ok(Value::Number(5.0))
        );
        assert_eq!(
            d.accumulate(1, 200, 300, Value::Number(2.0), t0),
            Ok(Value::Number(7.0))
        );
        // Gap: allowed.
        assert_eq!(
            d.accumulate(1, 400, 500, Value::Number(1.0), t0),
            Ok(Value::Number(8.0))
        );
        assert_eq!(
            d.accumulate(1, 300, 500, Value::Number(1.0), t0),
            Err(DeltaError::OutOfOrder {
                time_ns: 500,
                last_ns: 500
            })
        );
        assert_eq!(
            d.accumulate(1, 50, 600, Value::Number(1.0), t0),
            Err(DeltaError::OlderStart {
                start_ns: 50,
                series_start_ns: 100
            })
        );
        // Other stream independent.
        assert_eq!(
            d.accumulate(2, 100, 200, Value::Number(1.0), t0),
            Ok(Value::Number(1.0))
        );
    }

    #[test]
    fn histograms_accumulate_and_reset_on_new_bounds() {
        let mut d = d2c(10);
        let t0 = Instant::now();
        let h = |count, counts: Vec<u64>, bounds: Vec<f64>| Value::Histogram {
            count,
            sum: Some(1.0),
            bounds,
            counts,
        };
        d.accumulate(1, 0, 1, h(2, vec![1, 1], vec![1.0]), t0).unwrap();
        assert_eq!(
            d.accumulate(1, 1, 2, h(3, vec![1, 2], vec![1.0]), t0),
            Ok(Value::Histogram {
                count: 5,
                sum: Some(2.0),
                bounds: vec![1.0],
                counts: vec![2, 3]
            })
        );
        let reset = h(1, vec![1, 0, 0], vec![1.0, 2.0]);
        assert_eq!(d.accumulate(1, 2, 3, reset.clone(), t0), Ok(reset));
    }

    #[test]
    fn limit_and_idle_eviction() {
        let mut d = d2c(2);
        let t0 = Instant::now();
        d.accumulate(1, 0, 1, Value::Number(1.0), t0).unwrap();
        d.accumulate(2, 0, 1, Value::Number(1.0), t0).unwrap();
        assert_eq!(
            d.accumulate(3, 0, 1, Value::Number(1.0), t0),
            Err(DeltaError::Limit(2))
        );
        // Stream 1 stays active; stream 2 goes idle.
        let t1 = t0 + Duration::from_secs(200);
        d.accumulate(1, 1, 2, Value::Number(1.0), t1).unwrap();
        let t2 = t0 + Duration::from_secs(301);
        assert_eq!(
            d.accumulate(3, 0, 1, Value::Number(4.0), t2),
            Ok(Value::Number(4.0))
        );
        assert_eq!(d.len(), 2);
        // Stream 1 is still tracked and keeps accumulating.
        assert_eq!(
            d.accumulate(1, 2, 3, Value::Number(1.0), t2),
            Ok(Value::Number(3.0))
        );
        // After max_stale of silence a stream starts over.
        let t3 = t2 + Duration::from_secs(400);
        assert_eq!(
            d.accumulate(1, 3, 4, Value::Number(1.0), t3),
            Ok(Value::Number(1.0))
        );
    }
}
