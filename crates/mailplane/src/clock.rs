//! Time, as the control plane reads it.
//!
//! Deadlines (a request expires, a consultation times out) are computed from a [`Clock`], so
//! that an embedder or a test can move time forward instead of waiting days. Production
//! uses [`SystemClock`].

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        mailplane_store::now()
    }
}

/// A clock that stands still until it is moved: for tests and simulations of deadlines.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock showing the system time now.
    pub fn starting_now() -> ManualClock {
        ManualClock(Mutex::new(mailplane_store::now()))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
