//! Shared by every stage: durations as the milliseconds that logs, frames
//! and statuses show. No I/O, no state.

use std::time::Duration;

/// Milliseconds with two decimals (`1.25`), as timings are logged and sent.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

/// Whole milliseconds, saturating at `u64::MAX` (a latency, a timeout).
pub fn whole_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_decimals_rounded_to_nearest() {
        assert_eq!(ms(Duration::from_micros(1_254)), 1.25);
        assert_eq!(ms(Duration::from_micros(1_256)), 1.26);
        assert_eq!(ms(Duration::from_secs(2)), 2000.0);
        assert_eq!(ms(Duration::ZERO), 0.0);
    }

    #[test]
    fn whole_milliseconds_truncate_and_saturate() {
        assert_eq!(whole_ms(Duration::from_micros(1_999)), 1);
        assert_eq!(whole_ms(Duration::from_secs(3)), 3_000);
        assert_eq!(whole_ms(Duration::MAX), u64::MAX);
    }
}
