//! WASI clocks and randomness inside workflow instances, made deterministic so that code
//! outside the journal cannot make a replay diverge.
//!
//! - Randomness comes from a generator seeded by the execution id and the journal
//!   position: the draws between two durable calls are the same in every run, however the
//!   execution was suspended and resumed. Use an inline step
//!   (`sdk_guest::workflow::run`) for a value that must be drawn once and kept.
//! - The wall clock stands at the execution's creation time and the monotonic clock at
//!   zero: time does not pass inside a run. Use the durable `now` and `sleep`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{SeedableRng, TryRng};
use sha2::{Digest, Sha256};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// How far a run has come in its journal, shared by the replay and the generator.
#[derive(Clone, Default)]
pub(crate) struct JournalPosition(Arc<AtomicU64>);

impl JournalPosition {
    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Random bytes that depend only on the execution and the journal position.
pub(crate) struct ReplayRng {
    execution_seed: [u8; 32],
    position: JournalPosition,
    seeded_at: Option<u64>,
    rng: StdRng,
}

impl ReplayRng {
    pub(crate) fn new(execution_id: &str, purpose: &str, position: JournalPosition) -> ReplayRng {
        let execution_seed: [u8; 32] =
            Sha256::digest(format!("{purpose}:{execution_id}").as_bytes()).into();
        ReplayRng {
            execution_seed,
            position,
            seeded_at: None,
            rng: StdRng::from_seed([0; 32]),
        }
    }

    fn current(&mut self) -> &mut StdRng {
        let at = self.position.get();
        if self.seeded_at != Some(at) {
            let mut hasher = Sha256::new();
            hasher.update(self.execution_seed);
            hasher.update(at.to_le_bytes());
            self.rng = StdRng::from_seed(hasher.finalize().into());
            self.seeded_at = Some(at);
        }
        &mut self.rng
    }
}

impl TryRng for ReplayRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.current().try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.current().try_next_u64()
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        self.current().try_fill_bytes(dest)
    }
}

/// The `wasi:random/insecure-seed` of an execution.
pub(crate) fn seed_of(execution_id: &str) -> u128 {
    let digest: [u8; 32] = Sha256::digest(format!("seed:{execution_id}").as_bytes()).into();
    let mut seed = [0u8; 16];
    seed.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(seed)
}

/// A wall clock standing at one moment.
pub(crate) struct FrozenWallClock(pub Duration);

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock standing at zero.
pub(crate) struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn draws_depend_on_the_execution_and_the_position_only() {
        let position = JournalPosition::default();
        let mut a = ReplayRng::new("e1", "secure", position.clone());
        let first = a.next_u64();
        let second = a.next_u64();
        let mut again = ReplayRng::new("e1", "secure", JournalPosition::default());
        assert_eq!((again.next_u64(), again.next_u64()), (first, second));
        position.advance();
        assert_ne!(a.next_u64(), first, "a new position, new draws");
        let mut other = ReplayRng::new("e2", "secure", JournalPosition::default());
        assert_ne!(other.next_u64(), first, "another execution, other draws");
    }
}
