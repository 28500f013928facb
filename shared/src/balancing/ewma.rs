//! Peak EWMA of latency (Finagle, Linkerd): a slower answer counts at once, faster ones pull the
//! average down with a decay of about ten seconds.

/// The decay time constant, seconds.
pub const DECAY_S: f64 = 10.0;

/// Latency assumed for a replica that has not answered yet, seconds.
pub const DEFAULT_LATENCY_S: f64 = 0.05;

/// The new average after a request that took `latency_s`, `elapsed_s` after the previous update.
pub fn update(previous_s: f64, latency_s: f64, elapsed_s: f64) -> f64 {
    if !latency_s.is_finite() || latency_s < 0.0 {
        return previous_s;
    }
    if previous_s <= 0.0 || latency_s > previous_s {
        return latency_s;
    }
    let keep = (-elapsed_s.max(0.0) / DECAY_S).exp();
    // Fed zeros for long enough the average decays below what the store can keep.
    crate::domain::clamp_tiny(previous_s * keep + latency_s * (1.0 - keep))
}

/// What a pick costs on this replica: expected latency times the queue in front of it.
pub fn cost(latency_ewma_s: f64, pending: u32) -> f64 {
    let latency = if latency_ewma_s > 0.0 { latency_ewma_s } else { DEFAULT_LATENCY_S };
    latency * f64::from(pending + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_count_at_once_and_decay_slowly() {
        assert!((update(0.1, 2.0, 1.0) - 2.0).abs() < 1e-12, "a slower answer is taken at once");
        let after_ten = update(2.0, 0.1, 10.0);
        assert!((after_ten - (2.0 * (-1.0f64).exp() + 0.1 * (1.0 - (-1.0f64).exp()))).abs() < 1e-12);
        assert!(update(2.0, 0.1, 0.5) > 1.8, "half a second barely moves it");
        assert!((update(0.0, 0.2, 0.0) - 0.2).abs() < 1e-12, "the first answer sets it");
        assert!((update(0.3, f64::NAN, 1.0) - 0.3).abs() < 1e-12, "a NaN latency is ignored");
        assert!(cost(0.1, 3) > cost(0.1, 0));
        assert!((cost(0.0, 0) - DEFAULT_LATENCY_S).abs() < 1e-12);
    }
}
