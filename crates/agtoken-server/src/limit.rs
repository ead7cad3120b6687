//! Rate limits: GCRA (the `governor` crate), keyed by caller or by client address.
//!
//! A limit is written `"30/min"` (also `/s`, `/h`) with an optional burst (default: the count,
//! i.e. the whole allowance at once). Without `limits_store`, limits live in this process's
//! memory: **they are per replica**, so N replicas behind a load balancer let through up to N
//! times the configured rate. With it, the same GCRA runs in Redis for the whole fleet
//! (`limit_store.rs`), and this in-memory limiter is the fallback. A refusal says when to come
//! back (`Retry-After`).

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::error::SettingError;

/// A rate: `count` requests per `period`, at most `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period.
    pub count: NonZeroU32,
    /// The period.
    pub period: Duration,
    /// Requests allowed at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl Rate {
    /// Parses `"N/s"`, `"N/min"` or `"N/h"` (also `sec`, `second`, `m`, `minute`, `hour`), with
    /// `burst` (default `N`).
    pub fn parse(text: &str, burst: Option<u32>) -> Result<Rate, SettingError> {
        let (n, unit) = text.split_once('/').ok_or_else(|| SettingError::NotARate { text: text.to_owned() })?;
        let count: u32 =
            n.trim().parse().map_err(|_| SettingError::RateCount { text: text.to_owned(), count: n.to_owned() })?;
        let count = NonZeroU32::new(count).ok_or_else(|| SettingError::ZeroRate { text: text.to_owned() })?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(SettingError::RateUnit { text: text.to_owned(), unit: other.to_owned() }),
        };
        let burst = match burst {
            None => count,
            Some(b) => NonZeroU32::new(b).ok_or(SettingError::ZeroBurst)?,
        };
        Ok(Rate { count, period, burst })
    }

    fn quota(&self) -> Quota {
        let interval = self.period / self.count.get();
        Quota::with_period(interval.max(Duration::from_nanos(1))).expect("a non-zero interval").allow_burst(self.burst)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)?;
        if self.burst != self.count {
            write!(f, " (burst {})", self.burst)?;
        }
        Ok(())
    }
}

/// How often (in checks) idle keys are dropped, so the table does not grow without bound.
const SWEEP_EVERY: u64 = 4096;

/// One rate per key (caller id, client address), in this replica's memory.
pub(crate) struct Limiter<K: Hash + Eq + Clone> {
    rate: Rate,
    /// What this limiter counts, in the shared store's keys (`ip`, `APP_ID:rule:N`, `APP_ID:app`).
    scope: String,
    inner: RateLimiter<K, DashMapStateStore<K>, MonotonicClock>,
    clock: MonotonicClock,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    #[cfg(test)]
    pub(crate) fn new(rate: Rate) -> Self {
        Limiter::scoped(rate, String::new())
    }

    /// A limiter whose keys in the shared store are `scope:KEY`.
    pub(crate) fn scoped(rate: Rate, scope: String) -> Self {
        let clock = MonotonicClock;
        Limiter {
            rate,
            scope,
            inner: RateLimiter::dashmap_with_clock(rate.quota(), clock.clone()),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    pub(crate) fn rate(&self) -> Rate {
        self.rate
    }

    /// The shared store's key for `key`.
    pub(crate) fn store_key(&self, key: &K) -> String
    where
        K: fmt::Display,
    {
        format!("{}:{key}", self.scope)
    }

    /// Takes one request from `key`'s allowance, or says how long until one is free.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.inner.retain_recent();
            self.inner.shrink_to_fit();
        }
        self.inner.check_key(key).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

impl<K: Hash + Eq + Clone> fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Limiter({})", self.rate)
    }
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        let r = Rate::parse("30/min", None).unwrap();
        assert_eq!((r.count.get(), r.period, r.burst.get()), (30, Duration::from_secs(60), 30));
        assert_eq!(r.to_string(), "30/min");
        assert_eq!(Rate::parse(" 5 / s ", Some(2)).unwrap().to_string(), "5/s (burst 2)");
        assert_eq!(Rate::parse("100/h", None).unwrap().period, Duration::from_secs(3600));
        for bad in ["30", "0/min", "x/min", "3/day", "-1/s"] {
            assert!(Rate::parse(bad, None).is_err(), "{bad}");
        }
        assert!(Rate::parse("1/s", Some(0)).is_err());
    }

    #[test]
    fn a_bad_rate_says_which_part_is_wrong() {
        let e = Rate::parse("30", None).unwrap_err();
        assert!(matches!(&e, SettingError::NotARate { text } if text == "30"), "{e:?}");
        assert_eq!(e.to_string(), "\"30\" is not a rate: write it like \"30/min\" (or /s, /h)");
        let e = Rate::parse("x /min", None).unwrap_err();
        assert!(matches!(&e, SettingError::RateCount { text, count } if text == "x /min" && count == "x "), "{e:?}");
        assert_eq!(e.to_string(), "\"x /min\": \"x \" is not a whole number");
        assert!(matches!(Rate::parse("0/min", None), Err(SettingError::ZeroRate { text }) if text == "0/min"));
        let e = Rate::parse("3/day", None).unwrap_err();
        assert!(matches!(&e, SettingError::RateUnit { unit, .. } if unit == "day"), "{e:?}");
        assert_eq!(e.to_string(), "\"3/day\": unknown unit \"day\" (use s, min or h)");
        assert!(matches!(Rate::parse("1/s", Some(0)), Err(SettingError::ZeroBurst)));
    }

    #[test]
    fn the_burst_passes_then_the_limiter_says_when() {
        let limiter = Limiter::new(Rate::parse("2/min", None).unwrap());
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_ok());
        let wait = limiter.check(&"a").unwrap_err();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(retry_after_secs(wait), wait.as_secs() + 1);
        assert!(limiter.check(&"b").is_ok(), "keys are independent");
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
