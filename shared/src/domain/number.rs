//! Numbers from input as the state store can keep them. DynamoDB stores zero and magnitudes from
//! 1E-130 to below 1E+126; a figure smaller than [`TINY`] means nothing to the suite, so it is
//! read as zero rather than refused (or, worse, accepted and then refused by DynamoDB as a 500).

/// Magnitudes below this are zero: far above DynamoDB's 1E-130, far below any figure that means
/// anything here (a latency, a load, a price).
pub const TINY: f64 = 1e-100;

/// `x` with a tiny magnitude read as zero.
pub fn clamp_tiny(x: f64) -> f64 {
    if x.abs() < TINY { 0.0 } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_magnitudes_are_zero_and_the_rest_unchanged() {
        assert_eq!(clamp_tiny(1e-200).to_bits(), 0.0_f64.to_bits());
        assert_eq!(clamp_tiny(-1e-150).to_bits(), 0.0_f64.to_bits());
        assert!((clamp_tiny(1e-99) - 1e-99).abs() < f64::EPSILON);
        assert!((clamp_tiny(42.5) - 42.5).abs() < f64::EPSILON);
        assert!(crate::store::storable(clamp_tiny(1e-131)));
    }
}
