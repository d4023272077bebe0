//! Jobs: one-shot and recurring triggers that the scheduler delivers back to this app through
//! `AppCallback/OnJobEvent` (see [`crate::callback::JobHandlers`]).

use std::time::Duration;

use prost_types::Any;
use todo_proto::dapr::proto::{common::v1 as common, runtime::v1 as dapr};
use tonic::Code;

use super::DaprClient;
use crate::DaprError;

/// What the scheduler does when a trigger fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobFailurePolicy {
    /// Give up on the tick.
    Drop,
    /// Retry every `interval`, at most `max_retries` times (`None`: forever).
    Constant {
        /// The delay between attempts.
        interval: Duration,
        /// The most retries.
        max_retries: Option<u32>,
    },
}

/// A job to schedule. Times use Dapr's formats (reference §3.2): `due_time` is RFC 3339, a Go
/// duration (`"30s"`) or an ISO-8601 duration; `schedule` is 6-field cron or `@every 1h`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobSpec {
    /// The job name, unique per app.
    pub name: String,
    /// When the job first fires.
    pub due_time: Option<String>,
    /// The recurrence.
    pub schedule: Option<String>,
    /// How many times it fires.
    pub repeats: Option<u32>,
    /// When it expires.
    pub ttl: Option<String>,
    /// The payload delivered with each trigger.
    pub data: Option<Any>,
    /// What to do when a trigger fails; `None` is Dapr's default (constant 1 s, 3 retries).
    pub failure_policy: Option<JobFailurePolicy>,
}

impl JobSpec {
    /// A job that fires once at `due_time`.
    pub fn once(name: impl Into<String>, due_time: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            due_time: Some(due_time.into()),
            ..Default::default()
        }
    }

    fn into_wire(self) -> dapr::Job {
        let failure_policy = self.failure_policy.map(|policy| common::JobFailurePolicy {
            policy: Some(match policy {
                JobFailurePolicy::Drop => {
                    common::job_failure_policy::Policy::Drop(common::JobFailurePolicyDrop {})
                }
                JobFailurePolicy::Constant {
                    interval,
                    max_retries,
                } => {
                    common::job_failure_policy::Policy::Constant(common::JobFailurePolicyConstant {
                        interval: prost_types::Duration::try_from(interval).ok(),
                        max_retries,
                    })
                }
            }),
        });
        dapr::Job {
            name: self.name,
            schedule: self.schedule,
            repeats: self.repeats,
            due_time: self.due_time,
            ttl: self.ttl,
            data: self.data,
            failure_policy,
        }
    }
}

impl DaprClient {
    /// Schedules `job`; with `overwrite`, replaces a job of the same name.
    ///
    /// # Errors
    /// `AlreadyExists` when the name is taken and `overwrite` is false; `InvalidArgument` for an
    /// empty name or no schedule and no due time; `Internal` for other invalid specs.
    #[tracing::instrument(skip_all, fields(job = %job.name, overwrite))]
    pub async fn schedule_job(&self, job: JobSpec, overwrite: bool) -> Result<(), DaprError> {
        self.generated()
            .schedule_job(dapr::ScheduleJobRequest {
                job: Some(job.into_wire()),
                overwrite,
            })
            .await
            .map(|_| ())
            .map_err(|status| DaprError::call("ScheduleJob", status))
    }

    /// Reads the job `name`; `None` when there is no such job.
    ///
    /// # Errors
    /// The sidecar's status for anything but a missing job.
    #[tracing::instrument(skip_all, fields(job = name))]
    pub async fn get_job(&self, name: &str) -> Result<Option<dapr::Job>, DaprError> {
        match self
            .generated()
            .get_job(dapr::GetJobRequest {
                name: name.to_string(),
            })
            .await
        {
            Ok(response) => Ok(response.into_inner().job),
            // daprd reports a missing job as Internal "...job not found..." (reference §3.2).
            Err(status)
                if matches!(status.code(), Code::Internal | Code::NotFound)
                    && status.message().to_ascii_lowercase().contains("not found") =>
            {
                Ok(None)
            }
            Err(status) => Err(DaprError::call("GetJob", status)),
        }
    }

    /// Deletes the job `name`.
    ///
    /// # Errors
    /// The sidecar's status.
    #[tracing::instrument(skip_all, fields(job = name))]
    pub async fn delete_job(&self, name: &str) -> Result<(), DaprError> {
        self.generated()
            .delete_job(dapr::DeleteJobRequest {
                name: name.to_string(),
            })
            .await
            .map(|_| ())
            .map_err(|status| DaprError::call("DeleteJob", status))
    }

    /// Lists this app's jobs.
    ///
    /// # Errors
    /// The sidecar's status.
    pub async fn list_jobs(&self) -> Result<Vec<dapr::Job>, DaprError> {
        self.generated()
            .list_jobs(dapr::ListJobsRequest {})
            .await
            .map(|response| response.into_inner().jobs)
            .map_err(|status| DaprError::call("ListJobs", status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_failure_policy_keeps_its_interval_and_retries() {
        let job = JobSpec {
            failure_policy: Some(JobFailurePolicy::Constant {
                interval: Duration::from_millis(1500),
                max_retries: Some(4),
            }),
            ..JobSpec::once("reminder-1", "2030-01-01T00:00:00Z")
        }
        .into_wire();
        let Some(common::job_failure_policy::Policy::Constant(constant)) =
            job.failure_policy.and_then(|p| p.policy)
        else {
            panic!("expected a constant policy");
        };
        assert_eq!(
            constant.interval,
            Some(prost_types::Duration {
                seconds: 1,
                nanos: 500_000_000
            })
        );
        assert_eq!(constant.max_retries, Some(4));
        assert_eq!(job.due_time.as_deref(), Some("2030-01-01T00:00:00Z"));
    }
}
