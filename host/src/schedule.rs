//! Cron schedules: what one says (a cron expression read in a time zone, the procedure or
//! workflow it calls, its arguments, what to do about missed ticks) and the ticks it gives.
//! Schedules come from a component's manifest (`[[schedule]]`) or from the API
//! (`/v1/schedules`); the store keeps them (`store::ScheduleStore`) and the workflow
//! engine fires them (`workflow::schedules`). docs/operations.md says how.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Most schedules a tenant may have (from the API and from manifests together; manifests
/// are not held to it, the API is).
pub const MAX_SCHEDULES_PER_TENANT: u64 = 100;
/// Longest schedule name given over the API.
pub const MAX_SCHEDULE_NAME_LEN: usize = 64;

/// Longest cron expression accepted.
pub const MAX_CRON_LEN: usize = 256;

/// How late a tick may fire and still count as on time. A later one was missed (no node
/// was running, or all were stopped): [`Missed`] says what becomes of it.
pub const ON_TIME_MS: i64 = 10_000;

/// How many upcoming ticks the API shows.
pub const UPCOMING_SHOWN: usize = 3;

/// One schedule as a component's manifest or an API caller states it.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Its name (a manifest's is stored as `{component}.{name}`).
    pub name: String,
    /// The cron expression.
    pub cron: String,
    /// The IANA time zone it is read in.
    pub timezone: String,
    /// The procedure or workflow it calls.
    pub procedure: String,
    /// The arguments, a JSON object by parameter name.
    pub args: serde_json::Value,
    /// What becomes of missed ticks.
    pub missed: Missed,
}

impl Spec {
    /// The schedule as stored for `tenant`, declared by `component`'s manifest (then named
    /// `{component}.{name}`) or made over the API (None), its first tick the first after `now`.
    pub fn stored(
        &self,
        tenant: &str,
        component: Option<&str>,
        now: i64,
    ) -> Result<crate::store::StoredSchedule, ScheduleError> {
        let ticks = Ticks::parse(&self.cron, &self.timezone)?;
        let next_fire_at = ticks.after(now).ok_or_else(|| ScheduleError::Cron {
            cron: self.cron.clone(),
            why: "it never fires".into(),
        })?;
        Ok(crate::store::StoredSchedule {
            tenant: tenant.to_string(),
            name: match component {
                Some(component) => component_schedule_name(component, &self.name),
                None => self.name.clone(),
            },
            component: component.map(str::to_string),
            cron: self.cron.clone(),
            timezone: self.timezone.clone(),
            procedure: self.procedure.clone(),
            args: self.args.to_string(),
            missed: self.missed.as_str().to_string(),
            next_fire_at,
            last_fired_at: None,
            last_outcome: None,
            fired: 0,
            created_at: now,
            updated_at: now,
        })
    }
}

/// What becomes of ticks that passed while no node could fire them.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Missed {
    /// They collapse into one firing, of the latest of them, as soon as a node runs.
    #[default]
    Latest,
    /// They are dropped; the schedule goes on from its next tick.
    Skip,
}

impl Missed {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Missed::Latest => "latest",
            Missed::Skip => "skip",
        }
    }

    /// The policy named `name` (what [`Missed::as_str`] gives).
    pub fn from_name(name: &str) -> Option<Missed> {
        match name {
            "latest" => Some(Missed::Latest),
            "skip" => Some(Missed::Skip),
            _ => None,
        }
    }
}

/// A schedule that cannot be used; the message says why.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse, or never fires.
    #[error("cron {cron:?}: {why}")]
    Cron {
        /// The expression.
        cron: String,
        /// Why.
        why: String,
    },
    /// Not an IANA time zone name.
    #[error("unknown time zone {0:?}: use an IANA name such as UTC or Europe/Berlin")]
    TimeZone(String),
    /// A schedule name the host does not accept.
    #[error(
        "invalid schedule name {0:?}: use 1 to {MAX_SCHEDULE_NAME_LEN} of a-z, 0-9 and -, starting with a letter"
    )]
    Name(String),
}

/// A cron expression read in a time zone: the ticks of a schedule.
#[derive(Clone, Debug)]
pub struct Ticks {
    cron: croner::Cron,
    zone: Tz,
}

impl Ticks {
    /// Parse `cron` (five fields, or six with seconds first; `@daily` and the like) in the
    /// time zone `timezone`.
    pub fn parse(cron: &str, timezone: &str) -> Result<Ticks, ScheduleError> {
        let bad = |why: String| ScheduleError::Cron {
            cron: cron.to_string(),
            why,
        };
        if cron.len() > MAX_CRON_LEN {
            return Err(bad(format!("longer than {MAX_CRON_LEN} characters")));
        }
        let parsed = croner::Cron::from_str(cron).map_err(|e| bad(e.to_string()))?;
        let zone = Tz::from_str(timezone).map_err(|_| ScheduleError::TimeZone(timezone.into()))?;
        let ticks = Ticks { cron: parsed, zone };
        // An expression such as `0 0 30 2 *` parses but never fires.
        if ticks.after(crate::clock::now_ms()).is_none() {
            return Err(bad("it never fires".into()));
        }
        Ok(ticks)
    }

    /// `ms` as a time in the schedule's zone, cut to the whole second: ticks fall on whole
    /// seconds (croner keeps the fraction of the time it starts from).
    fn at(&self, ms: i64) -> Option<DateTime<Tz>> {
        Some(
            Utc.timestamp_millis_opt(ms.div_euclid(1000) * 1000)
                .single()?
                .with_timezone(&self.zone),
        )
    }

    /// The first tick strictly after `ms` (ms since the Unix epoch); None if there is none.
    pub fn after(&self, ms: i64) -> Option<i64> {
        let next = self.cron.find_next_occurrence(&self.at(ms)?, false).ok()?;
        Some(next.timestamp_millis())
    }

    /// The last tick at or before `ms`; None if there is none.
    pub fn at_or_before(&self, ms: i64) -> Option<i64> {
        let previous = self
            .cron
            .find_previous_occurrence(&self.at(ms)?, true)
            .ok()?;
        Some(previous.timestamp_millis())
    }

    /// The next `n` ticks after `ms`.
    pub fn upcoming(&self, ms: i64, n: usize) -> Vec<i64> {
        let mut ticks = Vec::with_capacity(n);
        let mut from = ms;
        while ticks.len() < n {
            match self.after(from) {
                Some(tick) => {
                    ticks.push(tick);
                    from = tick;
                }
                None => break,
            }
        }
        ticks
    }
}

/// Check a schedule name given over the API: like a component name. (A manifest's
/// schedules are named `{component}.{name}`, which no API name can be.)
pub fn check_name(name: &str) -> Result<(), ScheduleError> {
    if crate::access::is_plain_name(name, MAX_SCHEDULE_NAME_LEN) {
        Ok(())
    } else {
        Err(ScheduleError::Name(name.to_string()))
    }
}

/// The name a manifest's schedule `name` of `component` is stored under.
pub fn component_schedule_name(component: &str, name: &str) -> String {
    format!("{component}.{name}")
}

/// What to fire when a node finds a schedule due: the tick it fires (None: the due ticks
/// were missed and are skipped) and the next tick after `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Firing {
    /// The tick to fire, if any.
    pub tick: Option<i64>,
    /// The tick to wait for next; None when the expression fires no more.
    pub next: Option<i64>,
}

/// What a schedule whose next tick is `due` (at or before `now`) fires now under `missed`:
/// the latest tick that has passed (every earlier one missed goes with it), if it is on
/// time or the policy runs the latest of missed ticks.
pub fn firing(ticks: &Ticks, due: i64, now: i64, missed: Missed) -> Firing {
    let latest = ticks.at_or_before(now).filter(|t| *t >= due).unwrap_or(due);
    let on_time = now.saturating_sub(latest) <= ON_TIME_MS;
    let tick = match missed {
        Missed::Latest => Some(latest),
        Missed::Skip => on_time.then_some(latest),
    };
    Firing {
        tick,
        next: ticks.after(now.max(latest)),
    }
}

/// An RFC 3339 time for `ms` in UTC, for people.
pub fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z.
    const NEW_YEAR: i64 = 1_767_225_600_000;

    #[test]
    fn ticks_follow_the_expression_in_its_time_zone() {
        let every_minute = Ticks::parse("* * * * *", "UTC").expect("parses");
        assert_eq!(every_minute.after(NEW_YEAR), Some(NEW_YEAR + 60_000));
        assert_eq!(every_minute.at_or_before(NEW_YEAR + 59_999), Some(NEW_YEAR));
        // Six fields: seconds first.
        let every_2s = Ticks::parse("*/2 * * * * *", "UTC").expect("parses");
        assert_eq!(
            every_2s.upcoming(NEW_YEAR, 3),
            vec![NEW_YEAR + 2_000, NEW_YEAR + 4_000, NEW_YEAR + 6_000]
        );
        // 09:00 in Berlin is 08:00 UTC in winter.
        let berlin = Ticks::parse("0 9 * * *", "Europe/Berlin").expect("parses");
        assert_eq!(berlin.after(NEW_YEAR), Some(NEW_YEAR + 8 * 3_600_000));
    }

    #[test]
    fn bad_expressions_and_zones_are_refused_with_the_reason() {
        let e = Ticks::parse("61 * * * *", "UTC").expect_err("minute 61");
        assert!(e.to_string().contains("61 * * * *"), "{e}");
        let e = Ticks::parse("* * * * *", "Mars/Olympus").expect_err("no such zone");
        assert!(e.to_string().contains("IANA"), "{e}");
        let e = Ticks::parse("0 0 30 2 *", "UTC").expect_err("February 30th");
        assert!(e.to_string().contains("never fires"), "{e}");
        assert!(Ticks::parse("", "UTC").is_err());
    }

    #[test]
    fn missed_ticks_collapse_into_the_latest_or_are_skipped() {
        let minutely = Ticks::parse("* * * * *", "UTC").expect("parses");
        // On time: the due tick fires, the next is a minute on.
        let on_time = firing(&minutely, NEW_YEAR, NEW_YEAR + 500, Missed::Skip);
        assert_eq!(on_time.tick, Some(NEW_YEAR));
        assert_eq!(on_time.next, Some(NEW_YEAR + 60_000));
        // Down for an hour and a half minute: one firing, of the latest tick.
        let later = NEW_YEAR + 3_600_000 + 30_000;
        let latest = firing(&minutely, NEW_YEAR, later, Missed::Latest);
        assert_eq!(latest.tick, Some(NEW_YEAR + 3_600_000));
        assert_eq!(latest.next, Some(NEW_YEAR + 3_660_000));
        // The same with skip: nothing now, then on.
        let skipped = firing(&minutely, NEW_YEAR, later, Missed::Skip);
        assert_eq!(skipped.tick, None);
        assert_eq!(skipped.next, Some(NEW_YEAR + 3_660_000));
    }

    #[test]
    fn api_names_cannot_collide_with_a_manifest_schedule() {
        assert!(check_name("nightly-report").is_ok());
        for bad in ["", "Nightly", "a.b", "-a", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&component_schedule_name("shop", "nightly")).is_err());
    }
}
