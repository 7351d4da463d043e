//! Exponential histograms: bucket arithmetic and the conversion to classic
//! cumulative `le` buckets.
//!
//! At scale `s` the base is `2^(2^-s)`; positive bucket `i` holds values in
//! `(base^i, base^(i+1)]`, negative bucket `i` holds `[-base^(i+1), -base^i)`,
//! and the zero bucket holds `[-zero_threshold, zero_threshold]`.
//! Lowering the scale by one merges bucket pairs: index `i` becomes `i >> 1`.
//!
//! Invariant: every [`ExpHist`] built here has `-10 <= scale <= 20` and each
//! bucket span is at most [`MAX_SPAN`] buckets long, so no payload can make
//! the conversion allocate more than that.

use opentelemetry_proto::tonic::metrics::v1::ExponentialHistogramDataPoint;

/// Largest bucket span kept per side; wider histograms are downscaled until
/// they fit (OpenTelemetry SDKs default to 160 buckets, so they never hit it).
pub const MAX_SPAN: i64 = 160;
/// OTLP's valid scale range.
pub const MIN_SCALE: i32 = -10;
pub const MAX_SCALE: i32 = 20;

/// One side's buckets: `counts[k]` is bucket `offset + k`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    pub offset: i64,
    pub counts: Vec<u64>,
}

impl Buckets {
    fn span(&self) -> i64 {
        self.counts.len() as i64
    }

    /// Merges buckets so indexes shift right by `by` bits.
    fn downscale(&mut self, by: u32) {
        if by == 0 || self.counts.is_empty() {
            return;
        }
        let by = by.min(63);
        let new_off = self.offset >> by;
        let last = (self.offset + self.span() - 1) >> by;
        let mut out = vec![0u64; (last - new_off + 1) as usize];
        for (k, c) in self.counts.iter().enumerate() {
            let idx = ((self.offset + k as i64) >> by) - new_off;
            out[idx as usize] = out[idx as usize].saturating_add(*c);
        }
        self.offset = new_off;
        self.counts = out;
    }

    fn add(&mut self, other: &Buckets) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        let lo = self.offset.min(other.offset);
        let hi = (self.offset + self.span()).max(other.offset + other.span());
        let mut out = vec![0u64; (hi - lo) as usize];
        for (k, c) in self.counts.iter().enumerate() {
            out[(self.offset - lo) as usize + k] = *c;
        }
        for (k, c) in other.counts.iter().enumerate() {
            let i = (other.offset - lo) as usize + k;
            out[i] = out[i].saturating_add(*c);
        }
        self.offset = lo;
        self.counts = out;
    }

    /// Moves buckets entirely inside `[-t, t]` (upper bound `<= t`) out,
    /// returning their total.
    fn take_below(&mut self, scale: i32, t: f64) -> u64 {
        let mut moved = 0u64;
        while !self.counts.is_empty() && upper_bound(self.offset, scale) <= t {
            moved = moved.saturating_add(self.counts.remove(0));
            self.offset += 1;
        }
        moved
    }
}

/// An exponential histogram point, normalized for arithmetic.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpHist {
    pub scale: i32,
    pub count: u64,
    pub sum: Option<f64>,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive: Buckets,
    pub negative: Buckets,
}

/// Why an exponential histogram point was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExpHistError {
    #[error("exponential histogram scale {0} is outside the valid range {MIN_SCALE}..={MAX_SCALE}")]
    BadScale(i32),
    #[error("exponential histogram zero_threshold {0} is not a finite non-negative number")]
    BadZeroThreshold(f64),
}

/// `2^e` for any integer `e`, exact where representable.
fn pow2(e: i64) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else if e >= -1074 {
        f64::from_bits(1u64 << (e + 1074))
    } else {
        0.0
    }
}

/// Upper bound of positive bucket `index` at `scale`: `base^(index+1)`.
pub fn upper_bound(index: i64, scale: i32) -> f64 {
    let i = index + 1;
    if scale <= 0 {
        let shift = (-scale) as u32;
        // |i| < 2^33 and shift <= 10, no overflow.
        pow2(i << shift)
    } else {
        let denom = 1i64 << scale;
        let q = i.div_euclid(denom);
        let r = i.rem_euclid(denom);
        pow2(q) * (r as f64 / denom as f64).exp2()
    }
}

impl ExpHist {
    /// Reads a data point, checking scale and threshold. The result is
    /// downscaled so each side spans at most [`MAX_SPAN`] buckets.
    pub fn from_point(p: &ExponentialHistogramDataPoint) -> Result<Self, ExpHistError> {
        if !(MIN_SCALE..=MAX_SCALE).contains(&p.scale) {
            return Err(ExpHistError::BadScale(p.scale));
        }
        if !(p.zero_threshold.is_finite() && p.zero_threshold >= 0.0) {
            return Err(ExpHistError::BadZeroThreshold(p.zero_threshold));
        }
        let side = |b: &Option<
            opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets,
        >| {
            b.as_ref()
                .map(|b| Buckets {
                    offset: i64::from(b.offset),
                    counts: b.bucket_counts.clone(),
                })
                .unwrap_or_default()
        };
        let mut h = ExpHist {
            scale: p.scale,
            count: p.count,
            sum: p.sum,
            zero_count: p.zero_count,
            zero_threshold: p.zero_threshold,
            positive: side(&p.positive),
            negative: side(&p.negative),
        };
        h.fit(MAX_SPAN);
        Ok(h)
    }

    /// Lowers the scale by `by` (never below [`MIN_SCALE`]).
    pub fn downscale(&mut self, by: u32) {
        let by = by.min((self.scale - MIN_SCALE) as u32);
        self.positive.downscale(by);
        self.negative.downscale(by);
        self.scale -= by as i32;
    }

    /// Downscales until each side spans at most `max_span` buckets.
    fn fit(&mut self, max_span: i64) {
        while self.scale > MIN_SCALE && (self.positive.span() > max_span || self.negative.span() > max_span) {
            self.downscale(1);
        }
    }

    /// Widens the zero bucket to `t`, moving buckets that fall inside it.
    fn widen_zero(&mut self, t: f64) {
        if t <= self.zero_threshold {
            return;
        }
        let moved = self.positive.take_below(self.scale, t) + self.negative.take_below(self.scale, t);
        self.zero_count = self.zero_count.saturating_add(moved);
        self.zero_threshold = t;
    }

    /// Adds `other` into `self` (delta accumulation): scales are aligned to
    /// the coarser one and zero thresholds to the wider one.
    pub fn add(&mut self, other: &ExpHist) {
        let mut other = other.clone();
        let scale = self.scale.min(other.scale);
        self.downscale((self.scale - scale) as u32);
        other.downscale((other.scale - scale) as u32);
        let t = self.zero_threshold.max(other.zero_threshold);
        self.widen_zero(t);
        other.widen_zero(t);
        self.count = self.count.saturating_add(other.count);
        self.sum = self.sum.zip(other.sum).map(|(a, b)| a + b);
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.positive.add(&other.positive);
        self.negative.add(&other.negative);
        self.fit(MAX_SPAN);
    }

    /// Classic buckets as `(le, cumulative count)`, ascending, without the
    /// `+Inf` bucket (which is `count`). Order: negative buckets from the most
    /// negative up (le = `-base^i`), then the zero bucket (le =
    /// `zero_threshold`), then positive buckets (le = `base^(i+1)`). Bounds that
    /// overflow to infinity fold into `+Inf`; a bound not above the previous
    /// one folds its count into the previous bucket.
    pub fn classic_buckets(&self, max_scale: i32) -> Vec<(f64, u64)> {
        let mut h = self.clone();
        if h.scale > max_scale {
            h.downscale((h.scale - max_scale) as u32);
        }
        let mut out: Vec<(f64, u64)> =
            Vec::with_capacity(h.negative.counts.len() + h.positive.counts.len() + 1);
        let mut cum = 0u64;
        let mut push = |le: f64, cum: u64| {
            let le = if le == 0.0 { 0.0 } else { le };
            if le.is_infinite() {
                return;
            }
            match out.last_mut() {
                Some(last) if le <= last.0 => last.1 = cum,
                _ => out.push((le, cum)),
            }
        };
        // SDKs send an all-zero negative side for non-negative data: no
        // negative `le` buckets then.
        let negative = if h.negative.counts.iter().any(|c| *c != 0) {
            h.negative.counts.len()
        } else {
            0
        };
        for k in (0..negative).rev() {
            cum = cum.saturating_add(h.negative.counts[k]);
            let idx = h.negative.offset + k as i64;
            push(-upper_bound(idx - 1, h.scale), cum);
        }
        cum = cum.saturating_add(h.zero_count);
        push(h.zero_threshold, cum);
        for (k, c) in h.positive.counts.iter().enumerate() {
            cum = cum.saturating_add(*c);
            push(upper_bound(h.positive.offset + k as i64, h.scale), cum);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(scale: i32, zero: u64, pos: (i64, Vec<u64>), neg: (i64, Vec<u64>)) -> ExpHist {
        let count = zero + pos.1.iter().sum::<u64>() + neg.1.iter().sum::<u64>();
        ExpHist {
            scale,
            count,
            sum: Some(0.0),
            zero_count: zero,
            zero_threshold: 0.0,
            positive: Buckets {
                offset: pos.0,
                counts: pos.1,
            },
            negative: Buckets {
                offset: neg.0,
                counts: neg.1,
            },
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(upper_bound(0, 0), 2.0);
        assert_eq!(upper_bound(-1, 0), 1.0);
        assert_eq!(upper_bound(1, 0), 4.0);
        assert_eq!(upper_bound(0, -1), 4.0);
        assert_eq!(upper_bound(-2, 0), 0.5);
        assert_eq!(upper_bound(1, 1), 2.0);
        assert!((upper_bound(0, 1) - std::f64::consts::SQRT_2).abs() < 1e-15);
        assert!((upper_bound(2, 3) - 2f64.powf(3.0 / 8.0)).abs() < 1e-15);
        assert_eq!(upper_bound(2000, 0), f64::INFINITY);
        assert_eq!(upper_bound(-3000, 0), 0.0);
    }

    #[test]
    fn classic_conversion_scale0() {
        // Values: 1 zero, 0 in (2,4], 2 in (4,8], 1 in [-2,-1).
        let h = hist(0, 1, (1, vec![0, 2]), (0, vec![1]));
        assert_eq!(
            h.classic_buckets(8),
            vec![(-1.0, 1), (0.0, 2), (4.0, 2), (8.0, 4)]
        );
    }

    #[test]
    fn all_zero_negative_side_gives_no_negative_buckets() {
        let h = hist(0, 1, (0, vec![1]), (0, vec![0, 0]));
        assert_eq!(h.classic_buckets(8), vec![(0.0, 1), (2.0, 2)]);
    }

    #[test]
    fn max_scale_merges_buckets() {
        let h = hist(2, 0, (0, vec![1, 1, 1, 1, 1]), (0, vec![]));
        // Scale 2 -> 0: indexes 0..=3 -> 0, index 4 -> 1.
        assert_eq!(h.classic_buckets(0), vec![(0.0, 0), (2.0, 4), (4.0, 5)]);
    }

    #[test]
    fn add_aligns_scales_and_offsets() {
        let mut a = hist(1, 0, (0, vec![1, 1]), (0, vec![]));
        let b = hist(0, 2, (3, vec![5]), (0, vec![]));
        a.add(&b);
        assert_eq!(a.scale, 0);
        assert_eq!(
            a.positive,
            Buckets {
                offset: 0,
                counts: vec![2, 0, 0, 5]
            }
        );
        assert_eq!(a.zero_count, 2);
        assert_eq!(a.count, 9);
    }

    #[test]
    fn add_widens_zero_bucket() {
        let mut a = hist(0, 0, (-3, vec![1, 1, 1]), (0, vec![]));
        let mut b = hist(0, 1, (0, vec![]), (0, vec![]));
        b.zero_threshold = 0.25;
        a.add(&b);
        // Bucket -3 has upper bound 0.25 and moves into the zero bucket.
        assert_eq!(a.zero_threshold, 0.25);
        assert_eq!(a.zero_count, 2);
        assert_eq!(
            a.positive,
            Buckets {
                offset: -2,
                counts: vec![1, 1]
            }
        );
    }

    #[test]
    fn wide_payloads_are_downscaled() {
        let p = ExponentialHistogramDataPoint {
            scale: 20,
            positive: Some(
                opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets {
                    offset: i32::MAX - 5,
                    bucket_counts: vec![1; 1000],
                },
            ),
            ..Default::default()
        };
        let h = ExpHist::from_point(&p).unwrap();
        assert!(h.positive.counts.len() as i64 <= MAX_SPAN);
        assert_eq!(h.positive.counts.iter().sum::<u64>(), 1000);
        assert!(matches!(
            ExpHist::from_point(&ExponentialHistogramDataPoint {
                scale: 21,
                ..Default::default()
            }),
            Err(ExpHistError::BadScale(21))
        ));
    }
}
