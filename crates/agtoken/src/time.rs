//! Time and randomness, both injected.
//!
//! The two formats store expiries in different units: 007 in **seconds after the issue
//! time**, 006 as **absolute Unix times**. Users of the official libraries mix them up. Here a
//! lifetime is an [`Expiry`]: either a duration ([`Expiry::After`]) or an instant
//! ([`Expiry::At`]), and the library converts to whatever the format stores.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Seconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// From seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// This instant plus a number of seconds (saturating).
    pub const fn plus_secs(self, secs: u64) -> Self {
        UnixTime(self.0.saturating_add(secs))
    }

    /// The instant of a `SystemTime` (times before the epoch become 0).
    pub fn from_system_time(t: SystemTime) -> Self {
        UnixTime(t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
    }

    /// As a `SystemTime`, saturating at the latest second the platform can represent
    /// (`SystemTime + Duration` panics past it: beyond `i64::MAX` seconds on Unix).
    pub fn to_system_time(self) -> SystemTime {
        let at = |secs: u64| UNIX_EPOCH.checked_add(Duration::from_secs(secs));
        if let Some(t) = at(self.0) {
            return t;
        }
        // Out of range: find the latest representable second (`lo` fits, `hi` does not).
        let (mut lo, mut hi) = (0, self.0);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if at(mid).is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        UNIX_EPOCH + Duration::from_secs(lo)
    }

    pub(crate) fn to_u32(self, field: &'static str) -> Result<u32> {
        u32::try_from(self.0).map_err(|_| Error::OutOfRange { field, value: self.0 as i128 })
    }
}

impl UnixTime {
    /// The instant in RFC 3339, UTC, to the second: `2023-11-14T22:13:20Z`. Instants past
    /// year 9999 (which RFC 3339 cannot write) are given as `<seconds> (Unix seconds)`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

/// RFC 3339 in UTC (`2023-11-14T22:13:20Z`), as every message of the library prints an
/// instant; [`UnixTime::as_secs`] gives the number.
impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SECS_PER_DAY: u64 = 86_400;
        // 9999-12-31T23:59:59Z.
        const LAST_RFC3339: u64 = 253_402_300_799;
        if self.0 > LAST_RFC3339 {
            return write!(f, "{} (Unix seconds)", self.0);
        }
        let days = (self.0 / SECS_PER_DAY) as i64;
        let secs = self.0 % SECS_PER_DAY;
        let (year, month, day) = civil_from_days(days);
        write!(f, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// How long a token or a privilege stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// No limit of its own: stored as `0`. For a 007 token Agora still ends it 24 h after
    /// issue; for a privilege it means "as long as the token".
    Unlimited,
    /// Valid for this long after the issue time.
    After(Duration),
    /// Valid until this instant.
    At(UnixTime),
}

/// Agora ends a 007 token 24 hours after its issue time whatever it says.
pub const MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;

impl Expiry {
    /// Valid for `secs` seconds after issue.
    pub const fn secs(secs: u64) -> Self {
        Expiry::After(Duration::from_secs(secs))
    }

    /// What a 007 token stores: seconds after `issued_at` (`0` for unlimited).
    pub(crate) fn relative_to(self, issued_at: UnixTime, field: &'static str) -> Result<u32> {
        let secs = match self {
            Expiry::Unlimited => 0,
            Expiry::After(d) => d.as_secs(),
            Expiry::At(t) => t.0.checked_sub(issued_at.0).ok_or_else(|| {
                Error::invalid(field, "an expiry instant must not be before the issue time", t.to_string())
            })?,
        };
        u32::try_from(secs).map_err(|_| Error::OutOfRange { field, value: secs as i128 })
    }

    /// What a 006 token stores: an absolute Unix time (`0` for unlimited).
    pub(crate) fn absolute_from(self, issued_at: UnixTime, field: &'static str) -> Result<u32> {
        let at = match self {
            Expiry::Unlimited => 0,
            Expiry::After(d) => issued_at.0.saturating_add(d.as_secs()),
            Expiry::At(t) => t.0,
        };
        u32::try_from(at).map_err(|_| Error::OutOfRange { field, value: at as i128 })
    }

    /// Seconds after issue, for the lifetime rule (`None` for unlimited).
    pub(crate) fn lifetime_secs(self, issued_at: UnixTime) -> Option<u64> {
        match self {
            Expiry::Unlimited => None,
            Expiry::After(d) => Some(d.as_secs()),
            Expiry::At(t) => Some(t.0.saturating_sub(issued_at.0)),
        }
    }
}

impl From<Duration> for Expiry {
    fn from(d: Duration) -> Self {
        Expiry::After(d)
    }
}

impl From<UnixTime> for Expiry {
    fn from(t: UnixTime) -> Self {
        Expiry::At(t)
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> UnixTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_system_time(SystemTime::now())
    }
}

/// A clock stopped at one instant, for tests and reproducible builds.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub UnixTime);

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0
    }
}

/// A source of token salts.
pub trait SaltSource: Send + Sync {
    /// A salt for one token.
    fn salt(&self) -> u32;
}

/// Salts from the operating system's random generator, uniform in `1..=99999999` as the
/// reference libraries draw them.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsSalt;

/// The largest salt the reference libraries draw.
pub const MAX_REFERENCE_SALT: u32 = 99_999_999;

impl SaltSource for OsSalt {
    fn salt(&self) -> u32 {
        // Rejection sampling keeps the draw uniform: accept below the largest multiple of
        // the range that fits a u32.
        const RANGE: u32 = MAX_REFERENCE_SALT;
        const LIMIT: u32 = u32::MAX - (u32::MAX % RANGE);
        loop {
            let v = next_os_random_u32();
            if v < LIMIT {
                return v % RANGE + 1;
            }
        }
    }
}

/// Random words from the OS generator, fetched 64 at a time: one system call per 64 tokens
/// instead of one per token (a salt needs uniqueness, not secrecy, but this is still the OS
/// generator's output, unmodified).
fn next_os_random_u32() -> u32 {
    use std::cell::RefCell;
    const WORDS: usize = 64;
    thread_local! {
        static POOL: RefCell<([u8; WORDS * 4], usize)> = const { RefCell::new(([0; WORDS * 4], WORDS)) };
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let (bytes, next) = &mut *pool;
        if *next == WORDS {
            // The OS generator failing is not recoverable in any useful way for a token
            // builder; getrandom documents it as practically impossible on supported systems.
            getrandom::fill(bytes).expect("the operating system's random generator failed");
            *next = 0;
        }
        let i = *next * 4;
        *next += 1;
        let word = u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        // Used words are not kept around.
        bytes[i..i + 4].fill(0);
        word
    })
}

/// Always the same salt, for tests and reproducible builds.
#[derive(Clone, Copy, Debug)]
pub struct FixedSalt(pub u32);

impl SaltSource for FixedSalt {
    fn salt(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_converted_per_format() {
        let issued = UnixTime(1_700_000_000);
        let e = Expiry::secs(600);
        assert_eq!(e.relative_to(issued, "expire").unwrap(), 600);
        assert_eq!(e.absolute_from(issued, "expire").unwrap(), 1_700_000_600);
        let at = Expiry::At(UnixTime(1_700_000_600));
        assert_eq!(at.relative_to(issued, "expire").unwrap(), 600);
        assert_eq!(at.absolute_from(issued, "expire").unwrap(), 1_700_000_600);
        assert_eq!(Expiry::Unlimited.relative_to(issued, "expire").unwrap(), 0);
        assert_eq!(Expiry::Unlimited.absolute_from(issued, "expire").unwrap(), 0);
    }

    #[test]
    fn instants_before_issue_and_overflows_are_errors() {
        let issued = UnixTime(1_700_000_000);
        assert!(Expiry::At(UnixTime(1)).relative_to(issued, "expire").is_err());
        assert!(matches!(
            Expiry::secs(1 << 32).relative_to(issued, "expire"),
            Err(Error::OutOfRange { field: "expire", .. })
        ));
        assert!(matches!(Expiry::secs(u32::MAX as u64).absolute_from(issued, "expire"), Err(Error::OutOfRange { .. })));
    }

    #[test]
    fn instants_print_as_rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_577_840_400, "2020-01-01T01:00:00Z"),
            (1_700_003_600, "2023-11-14T23:13:20Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
            (4_294_967_295, "2106-02-07T06:28:15Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ];
        for (secs, text) in cases {
            assert_eq!(UnixTime(secs).to_string(), text);
            assert_eq!(UnixTime(secs).to_rfc3339(), text);
        }
        assert_eq!(UnixTime(253_402_300_800).to_string(), "253402300800 (Unix seconds)");
        assert_eq!(UnixTime(u64::MAX).to_string(), format!("{} (Unix seconds)", u64::MAX));
    }

    #[test]
    fn os_salts_are_in_the_reference_range() {
        let salts: Vec<u32> = (0..2000).map(|_| OsSalt.salt()).collect();
        assert!(salts.iter().all(|&s| (1..=MAX_REFERENCE_SALT).contains(&s)));
        // 2000 draws from 10^8 values: a repeat would point at a broken source.
        let mut sorted = salts.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert!(sorted.len() > 1990);
    }
}
