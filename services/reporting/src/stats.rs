//! Exact descriptive statistics over points (hundredths), in decimals.
//!
//! Quartile method: linear interpolation between closest ranks with
//! h = (n − 1)·p on the sorted values (Excel QUARTILE.INC, R type 7, NumPy's
//! default); the median is the same with p = ½. With points in hundredths the
//! results have at most four decimals, so they are exact. The mean is the
//! exact sum divided by n, rounded half away from zero to four decimals.

use rust_decimal::{Decimal, RoundingStrategy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub count: usize,
    pub mean: Decimal,
    pub median: Decimal,
    pub q1: Decimal,
    pub q3: Decimal,
    pub min: Decimal,
    pub max: Decimal,
}

/// Quantile `p` (0..=1) of sorted values, exact.
pub fn quantile(sorted: &[Decimal], p: Decimal) -> Decimal {
    let n = sorted.len();
    if n == 0 {
        return Decimal::ZERO;
    }
    let h = Decimal::from(n as i64 - 1) * p;
    let lo = h.floor();
    let frac = h - lo;
    let i = usize::try_from(lo.mantissa() / 10i128.pow(lo.scale())).unwrap_or(0);
    if i + 1 >= n {
        return sorted[n - 1];
    }
    sorted[i] + frac * (sorted[i + 1] - sorted[i])
}

pub fn stats(values: &[Decimal]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort();
    let sum: Decimal = v.iter().sum();
    let mean = (sum / Decimal::from(v.len() as i64))
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    Some(Stats {
        count: v.len(),
        mean: mean.normalize(),
        median: quantile(&v, Decimal::new(5, 1)).normalize(),
        q1: quantile(&v, Decimal::new(25, 2)).normalize(),
        q3: quantile(&v, Decimal::new(75, 2)).normalize(),
        min: v[0].normalize(),
        max: v[v.len() - 1].normalize(),
    })
}

/// Counts per bin of `width` from 0 to `max`; the last bin includes `max`.
pub fn histogram(
    values: &[Decimal],
    max: Decimal,
    width: Decimal,
) -> Vec<(Decimal, Decimal, usize)> {
    let mut bins = vec![];
    if width <= Decimal::ZERO || max <= Decimal::ZERO {
        return bins;
    }
    let mut lo = Decimal::ZERO;
    while lo < max {
        let hi = (lo + width).min(max);
        let last = hi >= max;
        let n = values
            .iter()
            .filter(|x| **x >= lo && (**x < hi || (last && **x <= hi)))
            .count();
        bins.push((lo, hi, n));
        lo = hi;
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn quartiles_interpolate_linearly() {
        // R: quantile(c(1,2,3,4), type=7) → 1.75, 2.5, 3.25
        let s = stats(&[d("4"), d("1"), d("3"), d("2")]).unwrap();
        assert_eq!((s.q1, s.median, s.q3), (d("1.75"), d("2.5"), d("3.25")));
        assert_eq!(
            (s.min, s.max, s.mean, s.count),
            (d("1"), d("4"), d("2.5"), 4)
        );
        let s = stats(&[d("10.01"), d("10.02")]).unwrap();
        assert_eq!(s.q1, d("10.0125"));
        let s = stats(&[d("7")]).unwrap();
        assert_eq!((s.q1, s.median, s.q3), (d("7"), d("7"), d("7")));
        // Mean rounds half away from zero at 4 decimals: 0.00005 → 0.0001.
        let mut v = vec![d("0"); 199];
        v.push(d("0.01"));
        let s = stats(&v).unwrap();
        assert_eq!(s.count, 200);
        assert_eq!(s.mean, d("0.0001"));
    }

    #[test]
    fn histogram_closes_the_last_bin() {
        let h = histogram(&[d("0"), d("9.99"), d("10"), d("100")], d("100"), d("10"));
        assert_eq!(h.len(), 10);
        assert_eq!(h[0].2, 2);
        assert_eq!(h[1].2, 1);
        assert_eq!(h[9], (d("90"), d("100"), 1));
    }
}
