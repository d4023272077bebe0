//! Reading a `Job` as daprd and its Scheduler do (reference §3.2): daprd's own checks
//! (`InvalidArgument`), then go-etcd-cron's `Builder.Parse` (plain errors that daprd reports as
//! `Internal`), producing the [`JobPlan`] the scheduler runs.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use todo_proto::dapr::proto::{common::v1 as common, runtime::v1 as dapr};
use tonic::Status;

use super::schedule::Schedule;
use crate::duration::{parse_go_duration, parse_iso8601_duration};

/// Why a job was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// daprd's own checks: `InvalidArgument`, e.g. "Name is empty".
    #[error("{0} is empty")]
    Empty(&'static str),
    /// The scheduler refused the job; daprd answers `Internal`.
    #[error("{0}")]
    Scheduler(String),
}

impl SpecError {
    fn scheduler(message: impl Into<String>) -> Self {
        Self::Scheduler(message.into())
    }

    /// The status daprd answers `ScheduleJob` with.
    pub fn into_schedule_status(self) -> Status {
        match self {
            Self::Empty(_) => Status::invalid_argument(self.to_string()),
            Self::Scheduler(message) => Status::internal(format!(
                "failed to schedule job due to: rpc error: code = Unknown desc = {message}"
            )),
        }
    }
}

/// When a job's clock starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// The due time: the first tick is at this time.
    DueTime(DateTime<Utc>),
    /// When it was scheduled: the first tick is the schedule's first time after it.
    Start(DateTime<Utc>),
}

/// What happens when a trigger fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// The tick is given up.
    Drop,
    /// The tick is retried every `interval`, at most `max_retries` times (`None`: forever).
    Constant {
        /// The delay between attempts.
        interval: TimeDelta,
        /// The most retries.
        max_retries: Option<u32>,
    },
}

/// The default policy: constant, 1 s, 3 retries (4 attempts).
pub const DEFAULT_FAILURE_POLICY: FailurePolicy = FailurePolicy::Constant {
    interval: TimeDelta::seconds(1),
    max_retries: Some(3),
};

impl FailurePolicy {
    /// The job's policy; an unset one is the default, and one with no policy set gives up.
    pub fn of(job: &dapr::Job) -> Self {
        use common::job_failure_policy::Policy;
        match job.failure_policy.as_ref().map(|policy| &policy.policy) {
            None => DEFAULT_FAILURE_POLICY,
            Some(Some(Policy::Constant(constant))) => Self::Constant {
                interval: constant
                    .interval
                    .map(|interval| {
                        TimeDelta::new(interval.seconds, u32::try_from(interval.nanos).unwrap_or(0))
                            .unwrap_or(TimeDelta::MAX)
                            .max(TimeDelta::zero())
                    })
                    .unwrap_or_default(),
                max_retries: constant.max_retries,
            },
            Some(Some(Policy::Drop(_)) | None) => Self::Drop,
        }
    }

    /// The job as daprd returns it: go-etcd-cron stores the default policy into the job.
    pub fn fill_default(mut job: dapr::Job) -> dapr::Job {
        if job.failure_policy.is_none() {
            job.failure_policy = Some(common::JobFailurePolicy {
                policy: Some(common::job_failure_policy::Policy::Constant(
                    common::JobFailurePolicyConstant {
                        interval: Some(prost_types::Duration {
                            seconds: 1,
                            nanos: 0,
                        }),
                        max_retries: Some(3),
                    },
                )),
            });
        }
        job
    }
}

/// A validated job: when it begins, ends and recurs.
#[derive(Clone, Debug)]
pub struct JobPlan {
    /// When its clock starts.
    pub begin: Begin,
    /// When it expires (`ttl`).
    pub expiration: Option<DateTime<Utc>>,
    /// How it recurs; `None` for a one-shot job.
    pub schedule: Option<Schedule>,
    /// How many ticks it has at most.
    pub repeats: Option<u32>,
    /// What happens when a trigger fails.
    pub failure_policy: FailurePolicy,
}

/// daprd's checks on a name (`GetJob`, `DeleteJob`).
///
/// # Errors
/// `InvalidArgument` for an empty name.
pub fn check_name(name: &str) -> Result<(), SpecError> {
    if name.is_empty() {
        return Err(SpecError::Empty("Name"));
    }
    Ok(())
}

/// go-etcd-cron's name rule: without `_`, `:`, `-`, `|` and spaces, lowercased, the name is a
/// DNS-1123 subdomain (dot-separated alphanumeric labels, at most 253 characters). (`|`: the
/// real Scheduler of Dapr 1.18.3 takes `a|b`, seen by the conformance suite on daprd.)
pub fn check_scheduler_name(name: &str) -> Result<(), SpecError> {
    let sanitized: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | ':' | '-' | '|' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    let is_label = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if sanitized.len() > 253 || !sanitized.split('.').all(is_label) {
        return Err(SpecError::scheduler(format!(
            "job name is invalid {sanitized:?}: a lowercase RFC 1123 subdomain must consist of \
             lower case alphanumeric characters, '-' or '.', and must start and end with an \
             alphanumeric character"
        )));
    }
    Ok(())
}

impl JobPlan {
    /// Validates `job` as daprd then go-etcd-cron do, at `now`.
    ///
    /// # Errors
    /// [`SpecError::Empty`] for daprd's checks, [`SpecError::Scheduler`] for the scheduler's.
    pub fn parse(job: &dapr::Job, now: DateTime<Utc>) -> Result<Self, SpecError> {
        check_name(&job.name)?;
        if job.schedule.is_none() && job.due_time.is_none() {
            return Err(SpecError::Empty("Schedule"));
        }
        check_scheduler_name(&job.name)?;
        if job.schedule.is_none() && job.repeats.is_some_and(|repeats| repeats > 1) {
            return Err(SpecError::scheduler("job must have a schedule to repeat"));
        }
        if job.repeats == Some(0) {
            return Err(SpecError::scheduler(
                "defined repeats must be greater than 0",
            ));
        }
        if job.schedule.is_none() && job.ttl.is_some() {
            return Err(SpecError::scheduler(
                "job must have a schedule to have a ttl",
            ));
        }
        let schedule = job
            .schedule
            .as_deref()
            .map(Schedule::parse)
            .transpose()
            .map_err(|error| SpecError::scheduler(error.to_string()))?;
        // go-etcd-cron measures relative times from now truncated to the second.
        let now = now
            .with_nanosecond(0)
            .ok_or_else(|| SpecError::scheduler("clock out of range"))?;
        let begin = match job.due_time.as_deref() {
            Some(due_time) => Begin::DueTime(parse_point_in_time(due_time, now)?),
            None => Begin::Start(now),
        };
        let expiration = match job.ttl.as_deref() {
            None => None,
            Some(ttl) => {
                let start = match begin {
                    Begin::DueTime(due_time) => due_time,
                    Begin::Start(_) => now,
                };
                let expiration = parse_point_in_time(ttl, start)
                    .map_err(|_| SpecError::scheduler("ttl format not recognized"))?;
                if matches!(begin, Begin::DueTime(due_time) if due_time > expiration) {
                    return Err(SpecError::scheduler("ttl must be greater than due time"));
                }
                Some(expiration)
            }
        };
        Ok(Self {
            begin,
            expiration,
            schedule,
            repeats: job.repeats,
            failure_policy: FailurePolicy::of(job),
        })
    }
}

impl JobPlan {
    /// The plan of a stored job, validated when it was scheduled.
    ///
    /// # Errors
    /// When its schedule no longer parses.
    pub fn restore(
        job: &dapr::Job,
        begin: Begin,
        expiration: Option<DateTime<Utc>>,
    ) -> Result<Self, SpecError> {
        let schedule = job
            .schedule
            .as_deref()
            .map(Schedule::parse)
            .transpose()
            .map_err(|error| SpecError::scheduler(error.to_string()))?;
        Ok(Self {
            begin,
            expiration,
            schedule,
            repeats: job.repeats,
            failure_policy: FailurePolicy::of(job),
        })
    }
}

/// go-etcd-cron's `parsePointInTime`: RFC 3339, else a Go duration from `now`, else a
/// non-repeating ISO-8601 duration from `now`.
fn parse_point_in_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SpecError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let out_of_range = || SpecError::scheduler("due time out of range");
    if let Ok(duration) = parse_go_duration(text) {
        let duration = TimeDelta::from_std(duration).map_err(|_| out_of_range())?;
        return now.checked_add_signed(duration).ok_or_else(out_of_range);
    }
    let iso = parse_iso8601_duration(text)
        .map_err(|_| SpecError::scheduler("due time format not recognized"))?;
    if iso.repetitions.is_some_and(|repetitions| repetitions > 0) {
        return Err(SpecError::scheduler("repeats not supported for due time"));
    }
    add_date(now, iso.years, iso.months, iso.days)
        .and_then(|time| time.checked_add_signed(TimeDelta::try_seconds(iso.seconds)?))
        .ok_or_else(out_of_range)
}

/// Go's `Time.AddDate`: months past December roll into years, days past the month's end roll
/// into the next month (January 31 plus a month is March 3, not February 28).
fn add_date(time: DateTime<Utc>, years: i64, months: i64, days: i64) -> Option<DateTime<Utc>> {
    let month_index = i64::from(time.year())
        .checked_mul(12)?
        .checked_add(i64::from(time.month0()))?
        .checked_add(years.checked_mul(12)?)?
        .checked_add(months)?;
    let year = i32::try_from(month_index.div_euclid(12)).ok()?;
    let month = u32::try_from(month_index.rem_euclid(12)).ok()? + 1;
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let date = first.checked_add_signed(TimeDelta::try_days(
        i64::from(time.day0()).checked_add(days)?,
    )?)?;
    Some(date.and_time(time.time()).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn due_times_are_rfc3339_go_or_iso8601_from_now_truncated_to_the_second() {
        let now = at("2026-01-31T10:00:00.750Z");
        let cases = [
            ("2030-01-01T00:00:00Z", Some("2030-01-01T00:00:00Z")),
            (
                "2030-01-01T01:00:00.123+01:00",
                Some("2030-01-01T00:00:00.123Z"),
            ),
            ("30s", Some("2026-01-31T10:00:30Z")),
            ("1h30m", Some("2026-01-31T11:30:00Z")),
            ("P1DT2H", Some("2026-02-01T12:00:00Z")),
            ("P1M", Some("2026-03-03T10:00:00Z")),
            ("P1Y", Some("2027-01-31T10:00:00Z")),
            ("R0/PT1S", Some("2026-01-31T10:00:01Z")),
            ("R3/PT1S", None),
            ("tomorrow", None),
            ("", None),
        ];
        for (input, expected) in cases {
            let job = dapr::Job {
                name: "job".into(),
                due_time: Some(input.into()),
                ..Default::default()
            };
            let begin = JobPlan::parse(&job, now).ok().map(|plan| plan.begin);
            assert_eq!(
                begin,
                expected.map(|time| Begin::DueTime(at(time))),
                "case {input:?}"
            );
        }
    }

    #[test]
    fn ttl_is_measured_from_the_due_time_when_there_is_one() {
        let now = at("2026-01-01T00:00:00Z");
        let job = dapr::Job {
            name: "job".into(),
            schedule: Some("@every 1s".into()),
            due_time: Some("10s".into()),
            ttl: Some("5s".into()),
            ..Default::default()
        };
        let plan = JobPlan::parse(&job, now).unwrap();
        assert_eq!(plan.expiration, Some(at("2026-01-01T00:00:15Z")));
        let without_due_time = dapr::Job {
            due_time: None,
            ..job
        };
        let plan = JobPlan::parse(&without_due_time, now).unwrap();
        assert_eq!(plan.begin, Begin::Start(now));
        assert_eq!(plan.expiration, Some(at("2026-01-01T00:00:05Z")));
    }

    #[test]
    fn names_follow_the_scheduler_rule() {
        let cases = [
            ("reminder-1", true),
            ("Reminder_1:a b", true),
            ("a.b", true),
            ("a/b", false),
            ("a..b", false),
            ("-", false),
            ("ü", false),
        ];
        for (name, accepted) in cases {
            assert_eq!(
                check_scheduler_name(name).is_ok(),
                accepted,
                "case {name:?}"
            );
        }
    }

    #[test]
    fn the_failure_policy_defaults_to_constant_one_second_three_retries() {
        let job = dapr::Job::default();
        assert_eq!(FailurePolicy::of(&job), DEFAULT_FAILURE_POLICY);
        let filled = FailurePolicy::fill_default(job);
        assert_eq!(FailurePolicy::of(&filled), DEFAULT_FAILURE_POLICY);
        let empty_policy = dapr::Job {
            failure_policy: Some(common::JobFailurePolicy { policy: None }),
            ..Default::default()
        };
        assert_eq!(FailurePolicy::of(&empty_policy), FailurePolicy::Drop);
    }
}
