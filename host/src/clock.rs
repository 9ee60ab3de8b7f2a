//! Time as the store keeps and judges it: the database's clock.
//!
//! Lease expiry, wake-ups, timers, retries and key expiry are all compared with times
//! other nodes wrote, so every node reads one clock: its own, corrected by the offset to
//! the database's clock that [`follow_database`] keeps (see `host::cluster`). On SQLite the
//! one process's clock is the database's and the offset stays 0. A node's skew then changes
//! nothing beyond the error of the offset: half the round trip of the reading, plus the
//! drift between two readings ([`DATABASE_CLOCK_CHECK`] apart).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a node reads the database's clock again.
pub(crate) const DATABASE_CLOCK_CHECK: Duration = Duration::from_secs(10);
/// A reading whose round trip took longer than this is too uncertain to use.
pub(crate) const MAX_CLOCK_READING_ROUND_TRIP_MS: i64 = 200;

/// The database's clock minus this process's, in ms.
static DATABASE_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Milliseconds since the Unix epoch by the database's clock (0 for a clock set before 1970).
pub(crate) fn now_ms() -> i64 {
    system_ms().saturating_add(DATABASE_OFFSET_MS.load(Ordering::Relaxed))
}

/// Milliseconds since the Unix epoch by this process's own clock.
pub(crate) fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Take a reading of the database's clock: `database` ms, read between `before` and
/// `after` by this process's clock. False (and nothing changed) when the round trip was
/// too long to trust.
pub(crate) fn follow_database(before: i64, database: i64, after: i64) -> bool {
    match offset_of(before, database, after) {
        Some(offset) => {
            DATABASE_OFFSET_MS.store(offset, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// The database's clock minus this process's, from one reading; None when the reading's
/// round trip was too long (or the clock went backwards during it).
fn offset_of(before: i64, database: i64, after: i64) -> Option<i64> {
    let round_trip = after.saturating_sub(before);
    if !(0..=MAX_CLOCK_READING_ROUND_TRIP_MS).contains(&round_trip) {
        return None;
    }
    Some(database.saturating_sub(before.saturating_add(round_trip / 2)))
}

/// The offset [`now_ms`] adds to this process's clock now, in ms.
pub(crate) fn database_offset_ms() -> i64 {
    DATABASE_OFFSET_MS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_gives_the_offset_to_the_database_clock_at_its_midpoint() {
        // A database 30 s ahead, read in 10 ms.
        assert_eq!(offset_of(1_000, 1_005 + 30_000, 1_010), Some(30_000));
        assert_eq!(offset_of(1_000, 1_000 - 20_000, 1_000), Some(-20_000));
        // Too slow a reading, or a clock that went backwards during it, gives nothing.
        assert_eq!(offset_of(1_000, 1_000, 1_000 + 1_000), None);
        assert_eq!(offset_of(1_000, 1_000, 999), None);
    }
}
