//! Timings of HTTP endpoint delivery: the response timeout and the
//! exponential backoff between attempts (Firehose guide,
//! `httpdeliveryrequestresponse`: initial 1 s, ×2 per retry, ±15 % jitter,
//! capped at 2 min; endpoints have 3 min to answer).

use std::time::Duration;

use rand::Rng;

/// AWS's initial backoff.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// AWS's backoff cap.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(120);
/// How long AWS waits for an endpoint's response.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(180);
/// `RetryOptions.DurationInSeconds` when the configuration leaves it out.
/// UNVERIFIED: the model gives no default; 300 s is what the console
/// proposes for HTTP endpoints.
pub const DEFAULT_RETRY_DURATION: Duration = Duration::from_secs(300);

/// Jitter applied to every backoff: a factor drawn from `1 ± JITTER`.
const JITTER: f64 = 0.15;

/// The timings of one HTTP destination. `Default` is AWS's; the server
/// shrinks them (a flag meant for tests) so that a retry scenario runs in
/// milliseconds instead of minutes.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Backoff before the first retry; doubles for each later one.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff (before jitter).
    pub max_backoff: Duration,
    /// How long one attempt may take, from sending the request to the end
    /// of the response body.
    pub response_timeout: Duration,
    /// Replaces `RetryOptions.DurationInSeconds` when set (whole seconds are
    /// too coarse for tests).
    pub retry_duration: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            retry_duration: None,
        }
    }
}

impl RetryPolicy {
    /// The un-jittered backoff before retry number `retry` (0 = the first
    /// retry): `initial × 2^retry`, capped at `max_backoff`.
    pub fn base_backoff(&self, retry: u32) -> Duration {
        // 2^31 × anything already exceeds any sane cap; saturate rather than overflow.
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// The backoff before retry number `retry`, with AWS's ±15 % jitter
    /// (applied after the cap, as AWS's formula does).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = rand::thread_rng().gen_range((1.0 - JITTER)..=(1.0 + JITTER));
        self.base_backoff(retry).mul_f64(factor)
    }

    /// The retry budget: the override if any, else the configured
    /// `DurationInSeconds` (0..=7200, enforced by the protocol layer),
    /// else [`DEFAULT_RETRY_DURATION`].
    pub fn retry_duration(&self, configured_secs: Option<i64>) -> Duration {
        if let Some(d) = self.retry_duration {
            return d;
        }
        match configured_secs {
            Some(s) => Duration::from_secs(u64::try_from(s).unwrap_or(0)),
            None => DEFAULT_RETRY_DURATION,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_and_caps_at_two_minutes() {
        let p = RetryPolicy::default();
        assert_eq!(p.base_backoff(0), Duration::from_secs(1));
        assert_eq!(p.base_backoff(1), Duration::from_secs(2));
        assert_eq!(p.base_backoff(6), Duration::from_secs(64));
        assert_eq!(p.base_backoff(7), Duration::from_secs(120));
        assert_eq!(p.base_backoff(40), Duration::from_secs(120));
        assert_eq!(p.base_backoff(u32::MAX), Duration::from_secs(120));
    }

    #[test]
    fn jitter_stays_within_fifteen_percent() {
        let p = RetryPolicy::default();
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        for _ in 0..2000 {
            let b = p.backoff(3);
            lo = lo.min(b);
            hi = hi.max(b);
        }
        assert!(lo >= Duration::from_millis(6800), "{lo:?}");
        assert!(hi <= Duration::from_millis(9200), "{hi:?}");
        // It is really random, not a constant factor.
        assert!(hi - lo > Duration::from_millis(500), "{lo:?}..{hi:?}");
    }

    #[test]
    fn retry_duration_override_then_configured_then_default() {
        let mut p = RetryPolicy::default();
        assert_eq!(p.retry_duration(None), Duration::from_secs(300));
        assert_eq!(p.retry_duration(Some(0)), Duration::ZERO);
        assert_eq!(p.retry_duration(Some(7200)), Duration::from_secs(7200));
        assert_eq!(p.retry_duration(Some(-5)), Duration::ZERO);
        p.retry_duration = Some(Duration::from_millis(250));
        assert_eq!(p.retry_duration(Some(60)), Duration::from_millis(250));
    }
}
