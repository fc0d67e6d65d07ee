//! Percentiles as PostgreSQL's `percentile_cont` takes them, so every
//! backend answers exactly what PostgreSQL would.

/// The `fraction` percentile (0 to 1) of `sorted` (ascending, no NaN) by
/// linear interpolation between the two nearest ranks; None when empty.
///
/// PostgreSQL (`percentile_cont_final_common` in orderedsetaggs.c): with n
/// values, position `fraction * (n - 1)`, rows `floor` and `ceil` of it, and
/// `lo + (hi - lo) * (position - floor)` (`float8_lerp`). The same
/// operations in the same order give the same `f64`, bit for bit.
pub fn percentile_cont(sorted: &[f64], fraction: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = fraction * last as f64;
    let first_row = position.floor();
    let second_row = position.ceil();
    let lo = sorted[(first_row as usize).min(last)];
    let hi = sorted[(second_row as usize).min(last)];
    if first_row == second_row {
        return Some(lo);
    }
    Some(lo + (hi - lo) * (position - first_row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_ranks() {
        assert_eq!(percentile_cont(&[], 0.5), None);
        assert_eq!(percentile_cont(&[7.0], 0.5), Some(7.0));
        assert_eq!(percentile_cont(&[7.0], 0.95), Some(7.0));
        assert_eq!(percentile_cont(&[10.0, 20.0], 0.5), Some(15.0));
        assert_eq!(percentile_cont(&[10.0, 20.0], 0.95), Some(19.5));
        assert_eq!(percentile_cont(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        // Position 0.95 * 99 = 94.05: between 95 and 96.
        let p95 = percentile_cont(&hundred, 0.95).unwrap();
        assert!((p95 - 95.05).abs() < 1e-9, "{p95}");
    }
}
