//! Per-tenant quotas: what one tenant may hold and use at once, so that one tenant's
//! growth or flood cannot take what the others need. Defaults are the constants below; an
//! admin changes a tenant's with `PATCH /v1/tenants/{tenant}`. A quota hit answers 429
//! `quota-exceeded` naming the quota; a per-call limit over the tenant's ceiling refuses the
//! upload (400 `invalid-limits`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits;

/// Components a tenant may have deployed.
pub const DEFAULT_COMPONENTS: u64 = 100;
/// Bytes of deployed components (current versions) a tenant may hold: 1 GiB.
pub const DEFAULT_COMPONENT_BYTES: u64 = 1 << 30;
/// Instances of a tenant's procedures running at once: by default all the host runs
/// ([`limits::MAX_CONCURRENT_INSTANCES`]); an admin lowers it so that one tenant cannot
/// take every slot.
pub const DEFAULT_CONCURRENT_INSTANCES: u64 = limits::MAX_CONCURRENT_INSTANCES as u64;
/// Requests per second a tenant's callers may make (with a burst of as many): by default
/// more than one host serves; an admin lowers it per tenant.
pub const DEFAULT_REQUESTS_PER_SECOND: u64 = 100_000;
/// Unfinished workflow executions a tenant may have.
pub const DEFAULT_RUNNING_EXECUTIONS: u64 = 10_000;
/// Fuel a tenant's calls may burn per minute: by default more than a host can burn
/// (a core burns 7 to 15 billion a second in a tight loop), so the budget is off until an
/// admin sets it.
pub const DEFAULT_FUEL_PER_MINUTE: u64 = 1 << 50;
/// Bytes of journal a tenant's unfinished executions may hold (their steps' requests and
/// outcomes), counted when an execution starts: 1 GiB.
pub const DEFAULT_JOURNAL_BYTES: u64 = 1 << 30;
/// Bytes of key-value data (keys and values, all buckets) a tenant may hold: 256 MiB.
pub const DEFAULT_KV_BYTES: u64 = 256 << 20;
/// The longest call the host allows, in ms: the default time ceiling.
const MAX_TIMEOUT_MS: u64 = limits::MAX_TIMEOUT.as_millis() as u64;
/// The most instances a tenant may run at once: all the host runs.
const MAX_CONCURRENT_INSTANCES: u64 = limits::MAX_CONCURRENT_INSTANCES as u64;
/// The largest value of a quota that counts things (components, executions, requests per
/// second); bytes go to 1 TiB.
const MAX_COUNT: u64 = u32::MAX as u64;
const MAX_BYTES: u64 = 1 << 40;
/// The largest fuel budget per minute: the default, which no host can burn.
const MAX_FUEL_PER_MINUTE: u64 = DEFAULT_FUEL_PER_MINUTE;

/// A tenant's quotas. Stored as JSON; a quota missing there (one added by a later version)
/// has its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Quotas {
    /// Components deployed.
    pub components: u64,
    /// Bytes of deployed components (their current versions).
    pub component_bytes: u64,
    /// Instances of its procedures running at once; past it, calls get 429.
    pub concurrent_instances: u64,
    /// Requests per second to its procedures and its management endpoints.
    pub requests_per_second: u64,
    /// Unfinished workflow executions.
    pub running_executions: u64,
    /// Fuel its calls may burn per minute: each call draws what it used; the budget
    /// refills evenly over the minute. While it is spent, calls get 429.
    pub fuel_per_minute: u64,
    /// Bytes of journal its unfinished executions may hold; past it, starts get 429.
    pub journal_bytes: u64,
    /// Bytes of key-value data (keys and values) its buckets may hold; a write past it
    /// fails and changes nothing.
    pub kv_bytes: u64,
    /// The most fuel a deployment may give a call.
    pub max_fuel: u64,
    /// The most memory a deployment may give a call, in bytes.
    pub max_memory_bytes: u64,
    /// The longest a deployment may let a call run, in ms.
    pub max_timeout_ms: u64,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            components: DEFAULT_COMPONENTS,
            component_bytes: DEFAULT_COMPONENT_BYTES,
            concurrent_instances: DEFAULT_CONCURRENT_INSTANCES,
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            running_executions: DEFAULT_RUNNING_EXECUTIONS,
            fuel_per_minute: DEFAULT_FUEL_PER_MINUTE,
            journal_bytes: DEFAULT_JOURNAL_BYTES,
            kv_bytes: DEFAULT_KV_BYTES,
            max_fuel: limits::MAX_FUEL,
            max_memory_bytes: limits::MAX_MEMORY_BYTES,
            max_timeout_ms: MAX_TIMEOUT_MS,
        }
    }
}

/// `PATCH /v1/tenants/{tenant}`: the quotas to change; those left out stay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaChange {
    /// Components deployed.
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub components: Option<u64>,
    /// Bytes of deployed components.
    #[schemars(range(min = 1, max = MAX_BYTES))]
    pub component_bytes: Option<u64>,
    /// Instances running at once.
    #[schemars(range(min = 1, max = MAX_CONCURRENT_INSTANCES))]
    pub concurrent_instances: Option<u64>,
    /// Requests per second.
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub requests_per_second: Option<u64>,
    /// Unfinished workflow executions.
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub running_executions: Option<u64>,
    /// Fuel burnt per minute.
    #[schemars(range(min = 1, max = MAX_FUEL_PER_MINUTE))]
    pub fuel_per_minute: Option<u64>,
    /// Bytes of journal held by unfinished executions.
    #[schemars(range(min = 1, max = MAX_BYTES))]
    pub journal_bytes: Option<u64>,
    /// Bytes of key-value data.
    #[schemars(range(min = 1, max = MAX_BYTES))]
    pub kv_bytes: Option<u64>,
    /// Fuel ceiling per call.
    #[schemars(range(min = 1, max = limits::MAX_FUEL))]
    pub max_fuel: Option<u64>,
    /// Memory ceiling per call, in bytes.
    #[schemars(range(min = 1, max = limits::MAX_MEMORY_BYTES))]
    pub max_memory_bytes: Option<u64>,
    /// Time ceiling per call, in ms.
    #[schemars(range(min = 1, max = MAX_TIMEOUT_MS))]
    pub max_timeout_ms: Option<u64>,
}

impl QuotaChange {
    /// Whether every quota it sets is within its bounds.
    pub fn check(&self) -> Result<(), InvalidQuota> {
        Quotas::default().changed(self).map(|_| ())
    }
}

/// A change that cannot be made.
#[derive(Debug, thiserror::Error)]
#[error("quota {name} must be between 1 and {max}")]
pub struct InvalidQuota {
    /// The quota.
    pub name: &'static str,
    /// Its largest value.
    pub max: u64,
}

impl Quotas {
    /// These quotas with `change` made, checked.
    pub fn changed(mut self, change: &QuotaChange) -> Result<Quotas, InvalidQuota> {
        let set = |slot: &mut u64, value: Option<u64>, name: &'static str, max: u64| match value {
            None => Ok(()),
            Some(v) if (1..=max).contains(&v) => {
                *slot = v;
                Ok(())
            }
            Some(_) => Err(InvalidQuota { name, max }),
        };
        set(
            &mut self.components,
            change.components,
            "components",
            MAX_COUNT,
        )?;
        set(
            &mut self.component_bytes,
            change.component_bytes,
            "component_bytes",
            MAX_BYTES,
        )?;
        set(
            &mut self.concurrent_instances,
            change.concurrent_instances,
            "concurrent_instances",
            MAX_CONCURRENT_INSTANCES,
        )?;
        set(
            &mut self.requests_per_second,
            change.requests_per_second,
            "requests_per_second",
            MAX_COUNT,
        )?;
        set(
            &mut self.running_executions,
            change.running_executions,
            "running_executions",
            MAX_COUNT,
        )?;
        set(
            &mut self.fuel_per_minute,
            change.fuel_per_minute,
            "fuel_per_minute",
            MAX_FUEL_PER_MINUTE,
        )?;
        set(
            &mut self.journal_bytes,
            change.journal_bytes,
            "journal_bytes",
            MAX_BYTES,
        )?;
        set(&mut self.kv_bytes, change.kv_bytes, "kv_bytes", MAX_BYTES)?;
        set(
            &mut self.max_fuel,
            change.max_fuel,
            "max_fuel",
            limits::MAX_FUEL,
        )?;
        set(
            &mut self.max_memory_bytes,
            change.max_memory_bytes,
            "max_memory_bytes",
            limits::MAX_MEMORY_BYTES,
        )?;
        set(
            &mut self.max_timeout_ms,
            change.max_timeout_ms,
            "max_timeout_ms",
            MAX_TIMEOUT_MS,
        )?;
        Ok(self)
    }
}

/// What each tenant uses now of the quotas that count things in flight: instance slots and
/// the request rate. Kept per node (a cluster's nodes each allow the quota).
#[derive(Default)]
pub struct Usage {
    tenants: Mutex<HashMap<String, Arc<TenantUsage>>>,
}

/// One tenant's use, for the quota values it was made for.
pub struct TenantUsage {
    quotas: Quotas,
    instances: Arc<tokio::sync::Semaphore>,
    requests: governor::DefaultDirectRateLimiter,
    fuel: Mutex<FuelBudget>,
    /// Its calls on the guest threads now (kept when the quotas change).
    computing: Arc<AtomicUsize>,
}

/// A tenant's fuel for the minute: a bucket that holds at most a minute's budget, refills
/// evenly (a sixtieth of it a second) and is drawn by each call's fuel used once the call
/// ends. Calls running at once each draw what they used, so the balance may go below zero;
/// while it is not above zero, calls are refused until it refills.
struct FuelBudget {
    per_minute: f64,
    balance: f64,
    at: Instant,
}

impl FuelBudget {
    fn full(per_minute: u64, now: Instant) -> FuelBudget {
        FuelBudget {
            per_minute: per_minute as f64,
            balance: per_minute as f64,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.balance = (self.balance + elapsed * self.per_minute / 60.0).min(self.per_minute);
        self.at = now;
    }

    /// None while there is fuel left; else how long until there is.
    fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        if self.balance > 0.0 {
            return None;
        }
        let per_second = self.per_minute / 60.0;
        Some(Duration::from_secs_f64((1.0 - self.balance) / per_second))
    }

    fn draw(&mut self, used: u64, now: Instant) {
        self.refill(now);
        self.balance -= used as f64;
    }
}

/// An instance slot of a tenant, held for one call.
pub type InstanceSlot = tokio::sync::OwnedSemaphorePermit;

impl TenantUsage {
    /// An instance slot for a call, or None when all are taken.
    pub fn instance(&self) -> Option<InstanceSlot> {
        self.instances.clone().try_acquire_owned().ok()
    }

    /// None while the tenant has fuel left this minute; else how long until it has.
    pub fn fuel_wait(&self) -> Option<Duration> {
        self.fuel_wait_at(Instant::now())
    }

    fn fuel_wait_at(&self, now: Instant) -> Option<Duration> {
        self.fuel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .wait(now)
    }

    /// Draw the fuel a call used from the budget.
    pub fn draw_fuel(&self, used: u64) {
        self.draw_fuel_at(used, Instant::now());
    }

    fn draw_fuel_at(&self, used: u64, now: Instant) {
        self.fuel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .draw(used, now);
    }

    /// How many of the tenant's calls are on the guest threads now: the runtime keeps it.
    pub fn computing(&self) -> Arc<AtomicUsize> {
        self.computing.clone()
    }
}

impl Usage {
    /// `tenant`'s use under `quotas` (made afresh, but for the calls computing, when the
    /// quotas changed: a new fuel budget starts full).
    pub fn of(&self, tenant: &str, quotas: &Quotas) -> Arc<TenantUsage> {
        let mut tenants = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let computing = match tenants.get(tenant) {
            Some(usage) if usage.quotas == *quotas => return usage.clone(),
            Some(usage) => usage.computing.clone(),
            None => Arc::default(),
        };
        let per_second =
            NonZeroU32::new(u32::try_from(quotas.requests_per_second).unwrap_or(u32::MAX))
                .unwrap_or(NonZeroU32::MIN);
        let usage = Arc::new(TenantUsage {
            quotas: *quotas,
            instances: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(quotas.concurrent_instances)
                    .unwrap_or(usize::MAX)
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            )),
            requests: governor::RateLimiter::direct(governor::Quota::per_second(per_second)),
            fuel: Mutex::new(FuelBudget::full(quotas.fuel_per_minute, Instant::now())),
            computing,
        });
        tenants.insert(tenant.to_string(), usage.clone());
        usage
    }

    /// Whether `tenant` may make one more request now.
    pub fn request(&self, tenant: &str, quotas: &Quotas) -> bool {
        self.of(tenant, quotas).requests.check().is_ok()
    }

    /// Forget `tenant` (deleted).
    pub fn forget(&self, tenant: &str) {
        self.tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_sets_what_it_names_within_bounds() {
        let quotas = Quotas::default()
            .changed(&QuotaChange {
                components: Some(3),
                max_fuel: Some(10),
                ..QuotaChange::default()
            })
            .expect("valid");
        assert_eq!((quotas.components, quotas.max_fuel), (3, 10));
        assert_eq!(
            quotas.component_bytes, DEFAULT_COMPONENT_BYTES,
            "the rest stay"
        );
        for bad in [
            QuotaChange {
                components: Some(0),
                ..QuotaChange::default()
            },
            QuotaChange {
                max_fuel: Some(limits::MAX_FUEL + 1),
                ..QuotaChange::default()
            },
            QuotaChange {
                concurrent_instances: Some(limits::MAX_CONCURRENT_INSTANCES as u64 + 1),
                ..QuotaChange::default()
            },
        ] {
            assert!(Quotas::default().changed(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stored_quotas_missing_a_field_read_its_default() {
        let read: Quotas = serde_json::from_str(r#"{"components": 7}"#).expect("reads");
        assert_eq!(read.components, 7);
        assert_eq!(read.running_executions, DEFAULT_RUNNING_EXECUTIONS);
    }

    #[test]
    fn instance_slots_and_requests_are_counted_per_tenant() {
        let usage = Usage::default();
        let one = Quotas {
            concurrent_instances: 1,
            requests_per_second: 1,
            ..Quotas::default()
        };
        let held = usage.of("a", &one).instance().expect("a free slot");
        assert!(
            usage.of("a", &one).instance().is_none(),
            "a's only slot is held"
        );
        assert!(usage.of("b", &one).instance().is_some(), "b has its own");
        drop(held);
        assert!(usage.of("a", &one).instance().is_some());
        assert!(usage.request("a", &one));
        assert!(!usage.request("a", &one), "one per second");
        assert!(usage.request("b", &one));
    }

    #[test]
    fn the_fuel_budget_is_drawn_by_use_and_refills_over_the_minute() {
        let usage = Usage::default();
        let quotas = Quotas {
            fuel_per_minute: 60_000,
            ..Quotas::default()
        };
        let (a, b) = (usage.of("a", &quotas), usage.of("b", &quotas));
        let start = Instant::now();
        assert_eq!(a.fuel_wait_at(start), None, "starts full");
        // Two calls ran at once and used more than the whole budget between them.
        a.draw_fuel_at(50_000, start);
        assert_eq!(a.fuel_wait_at(start), None, "10,000 left");
        a.draw_fuel_at(40_000, start);
        let wait = a.fuel_wait_at(start).expect("30,000 below zero: refused");
        // 1,000 a second refill it: a little over 30 s until it is above zero.
        assert!(
            (30.0..30.1).contains(&wait.as_secs_f64()),
            "{wait:?} until it refills"
        );
        assert!(b.fuel_wait_at(start).is_none(), "b has its own budget");
        let later = start + Duration::from_secs(31);
        assert_eq!(a.fuel_wait_at(later), None, "refilled");
        // Refilled no further than one minute's budget, however long it waited.
        let much_later = start + Duration::from_secs(3_600);
        a.draw_fuel_at(60_000, much_later);
        assert!(a.fuel_wait_at(much_later).is_some());
        // New quotas start a new budget, full; the calls computing are kept.
        a.computing()
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let more = Quotas {
            fuel_per_minute: 120_000,
            ..quotas
        };
        let renewed = usage.of("a", &more);
        assert_eq!(renewed.fuel_wait_at(much_later), None);
        assert_eq!(
            renewed
                .computing()
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }
}
