//! A job's progress through its ticks, kept as go-etcd-cron's counter keeps it: how many ticks
//! are done, when the last one was due, and how the pending one is being attempted.
//!
//! One rule is localdapr's own. go-etcd-cron computes each tick from the previous one, so a
//! scheduler that was down (or an app that was away or slow) replays every missed tick back to
//! back. localdapr coalesces instead: when a recurring job's pending tick is attempted for the
//! first time, it moves to the latest tick that is due by then, so missed ticks fire **once**,
//! count as one tick toward `repeats`, and the schedule continues from there.

use chrono::{DateTime, Utc};

use super::spec::{Begin, FailurePolicy, JobPlan};

/// Where a job is in its schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Ticks done: delivered, or given up by the failure policy.
    pub count: u32,
    /// When the last tick done was due.
    pub last_tick: Option<DateTime<Utc>>,
    /// When the pending tick is due.
    pub tick: DateTime<Utc>,
    /// Failed attempts at the pending tick.
    pub attempts: u32,
    /// When the pending tick is attempted next (its due time, or a retry).
    pub next_attempt: DateTime<Utc>,
}

impl JobPlan {
    /// The tick that follows `count` ticks, the last due at `last_tick`; `None` once the job has
    /// no more ticks (repeats done, one-shot done, past its ttl, or a schedule with no future).
    fn tick_after(&self, count: u32, last_tick: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        if self.repeats.is_some_and(|repeats| count >= repeats) {
            return None;
        }
        let tick = match (&self.schedule, last_tick, self.begin) {
            (None, _, _) if count >= 1 => return None,
            (_, None, Begin::DueTime(due_time)) => due_time,
            (Some(schedule), None, Begin::Start(start)) => schedule.next_after(start)?,
            (Some(schedule), Some(last_tick), _) => schedule.next_after(last_tick)?,
            // A one-shot job has one tick, at its due time.
            (None, _, _) => return None,
        };
        match self.expiration {
            Some(expiration) if tick > expiration => None,
            _ => Some(tick),
        }
    }

    /// The progress of a new job; `None` when it has no tick at all (already expired).
    pub fn first_progress(&self) -> Option<Progress> {
        let tick = self.tick_after(0, None)?;
        Some(Progress {
            count: 0,
            last_tick: None,
            tick,
            attempts: 0,
            next_attempt: tick,
        })
    }
}

impl Progress {
    /// Coalesces missed ticks before a first attempt: a recurring job's pending tick moves to
    /// the latest tick due by `now` (within its ttl).
    pub fn catch_up(&mut self, plan: &JobPlan, now: DateTime<Utc>) {
        let Some(schedule) = &plan.schedule else {
            return;
        };
        if self.attempts > 0 || self.tick >= now {
            return;
        }
        let until = plan
            .expiration
            .map_or(now, |expiration| expiration.min(now));
        if let Some(latest) = schedule.latest_between(self.tick, until)
            && latest > self.tick
        {
            self.tick = latest;
            self.next_attempt = latest;
        }
    }

    /// The progress after the pending tick was delivered; `None` when the job is finished.
    pub fn delivered(self, plan: &JobPlan) -> Option<Self> {
        let count = self.count.saturating_add(1);
        let last_tick = Some(self.tick);
        let tick = plan.tick_after(count, last_tick)?;
        Some(Self {
            count,
            last_tick,
            tick,
            attempts: 0,
            next_attempt: tick,
        })
    }

    /// The progress after an attempt failed: a retry of the same tick when the failure policy
    /// allows one, else the tick is given up. `None` when the job is finished. As in
    /// go-etcd-cron, a retry is due `interval` after the previous attempt was *due*, so retries
    /// of a late attempt may follow it at once.
    pub fn failed(self, plan: &JobPlan) -> Option<Self> {
        let attempts = self.attempts.saturating_add(1);
        match plan.failure_policy {
            FailurePolicy::Constant {
                interval,
                max_retries,
            } if max_retries.is_none_or(|max_retries| max_retries >= attempts) => Some(Self {
                attempts,
                next_attempt: self
                    .next_attempt
                    .checked_add_signed(interval)
                    .unwrap_or(self.next_attempt),
                ..self
            }),
            _ => self.delivered(plan),
        }
    }

    /// Whether the pending attempt is a retry.
    pub fn is_retry(&self) -> bool {
        self.attempts > 0
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use todo_proto::dapr::proto::runtime::v1 as dapr;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn plan(job: dapr::Job) -> JobPlan {
        JobPlan::parse(&job, at("2026-01-01T00:00:00Z")).unwrap()
    }

    fn job() -> dapr::Job {
        dapr::Job {
            name: "job".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_one_shot_job_finishes_after_its_tick_or_its_last_retry() {
        let plan = plan(dapr::Job {
            due_time: Some("10s".into()),
            ..job()
        });
        let first = plan.first_progress().unwrap();
        assert_eq!(first.tick, at("2026-01-01T00:00:10Z"));
        assert_eq!(first.delivered(&plan), None);
        // Default policy: three retries one second apart, then the tick is given up.
        let mut progress = first;
        for retry in 1..=3 {
            progress = progress.failed(&plan).unwrap();
            assert_eq!(progress.attempts, retry);
            assert_eq!(
                progress.next_attempt,
                first.tick + TimeDelta::seconds(retry.into())
            );
        }
        assert_eq!(progress.failed(&plan), None);
    }

    #[test]
    fn repeats_bound_the_ticks_and_a_ttl_ends_them() {
        let repeats = plan(dapr::Job {
            schedule: Some("@every 1s".into()),
            repeats: Some(3),
            ..job()
        });
        let mut progress = repeats.first_progress().unwrap();
        let mut ticks = vec![progress.tick];
        while let Some(next) = progress.delivered(&repeats) {
            progress = next;
            ticks.push(progress.tick);
        }
        assert_eq!(
            ticks,
            [
                "2026-01-01T00:00:01Z",
                "2026-01-01T00:00:02Z",
                "2026-01-01T00:00:03Z"
            ]
            .map(at)
        );
        let ttl = plan(dapr::Job {
            schedule: Some("@every 1s".into()),
            ttl: Some("2500ms".into()),
            ..job()
        });
        let second = ttl.first_progress().unwrap().delivered(&ttl).unwrap();
        assert_eq!(second.tick, at("2026-01-01T00:00:02Z"));
        assert_eq!(second.delivered(&ttl), None);
    }

    #[test]
    fn the_drop_policy_gives_up_the_tick_and_moves_on() {
        let plan = plan(dapr::Job {
            schedule: Some("@every 1s".into()),
            failure_policy: Some(todo_proto::dapr::proto::common::v1::JobFailurePolicy {
                policy: Some(
                    todo_proto::dapr::proto::common::v1::job_failure_policy::Policy::Drop(
                        Default::default(),
                    ),
                ),
            }),
            ..job()
        });
        let after = plan.first_progress().unwrap().failed(&plan).unwrap();
        assert_eq!((after.count, after.attempts), (1, 0));
        assert_eq!(after.tick, at("2026-01-01T00:00:02Z"));
    }

    #[test]
    fn missed_ticks_are_coalesced_into_one_first_attempt() {
        let plan = plan(dapr::Job {
            schedule: Some("@every 1s".into()),
            repeats: Some(5),
            ..job()
        });
        let mut progress = plan.first_progress().unwrap();
        progress.catch_up(&plan, at("2026-01-01T00:01:00.5Z"));
        assert_eq!(progress.tick, at("2026-01-01T00:01:00Z"));
        let next = progress.delivered(&plan).unwrap();
        assert_eq!((next.count, next.tick), (1, at("2026-01-01T00:01:01Z")));
        // A retry keeps its tick.
        let mut retry = next.failed(&plan).unwrap();
        retry.catch_up(&plan, at("2026-01-01T00:05:00Z"));
        assert_eq!(retry.tick, at("2026-01-01T00:01:01Z"));
    }
}
