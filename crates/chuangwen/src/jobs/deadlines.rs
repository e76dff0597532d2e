//! The deadline watcher: turns a case amber at 80% of its limit and red when
//! overdue, raising a supervision order (督办) to the unit's lead once per
//! case and stage (PRODUCT.md M3). Idempotent, so several nodes may run it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};

use super::JobContext;
use crate::domain::calendar::{Clock, WorkCalendar};
use crate::store::StoreError;
use crate::store::supervision::RunningClock;

/// How often the watcher runs.
pub const EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// What one pass changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Cases turned amber.
    pub amber: usize,
    /// Cases turned red.
    pub overdue: usize,
    /// Supervision orders raised.
    pub orders: usize,
}

/// The stage a clock belongs to: one supervision order per stage.
pub fn stage_of(clock: &RunningClock) -> String {
    format!("clock-{}", clock.clock_started_at.map(|t| t.timestamp()).unwrap_or_default())
}

/// One pass over every running clock at `now`, each case on its district's
/// calendar. Each change is conditional on the clock read (see
/// `Store::mark_overdue`), so a step taken meanwhile wins and is not counted.
pub async fn watch(ctx: &JobContext, now: DateTime<Utc>) -> Result<Pass, StoreError> {
    let mut calendars: HashMap<i64, WorkCalendar> = HashMap::new();
    let mut pass = Pass::default();
    let mut after = 0;
    loop {
        let clocks = ctx.store.running_clocks(after, 1000).await?;
        let Some(last) = clocks.last() else { break };
        after = last.id;
        for clock in &clocks {
            if now > clock.deadline {
                if clock.overdue_at.is_none() {
                    let (red, ordered) = ctx.store.mark_overdue(clock, &stage_of(clock), now).await?;
                    pass.overdue += red as usize;
                    pass.orders += ordered as usize;
                }
                continue;
            }
            if clock.amber_at.is_none() {
                if let Entry::Vacant(slot) = calendars.entry(clock.district_id) {
                    slot.insert(ctx.store.calendar(clock.district_id).await?);
                }
                let calendar = &calendars[&clock.district_id];
                let start = clock.clock_started_at.unwrap_or(clock.deadline);
                let kind = Clock::from_code(&clock.limit_clock);
                if calendar.past_amber(start, clock.deadline, now, kind) && ctx.store.mark_amber(clock, now).await? {
                    pass.amber += 1;
                }
            }
        }
    }
    Ok(pass)
}

/// The job: one pass now.
pub async fn run(ctx: &JobContext) -> Result<(), String> {
    let pass = watch(ctx, Utc::now()).await.map_err(|e| e.to_string())?;
    if pass != Pass::default() {
        tracing::info!(amber = pass.amber, overdue = pass.overdue, orders = pass.orders, "deadline watch");
    }
    Ok(())
}
