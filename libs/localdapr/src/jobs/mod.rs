//! Jobs (reference §3): durable one-shot and recurring triggers delivered to the app that
//! scheduled them, as daprd v1.18.3 and its Scheduler (go-etcd-cron) do.
//!
//! - [`spec`]: validation and status codes of `ScheduleJob` (§3.2); due times and TTLs.
//! - [`schedule`]: cron (six fields) and `@every`/`@daily`… schedules, in UTC.
//! - [`progress`]: ticks, repeats, TTL, failure policies, and the catch-up rule.
//! - `store`: the `jobs` table; `table`: the in-memory mirror and queue that firing reads.
//! - `timer`: the trigger loop; [`trigger`]: `OnJobEvent` (then `OnJobEventAlpha1`) to one
//!   instance of the app, round robin; [`metrics`]: daprd's job metric names.
//!
//! Jobs belong to an app id. A trigger goes to one connected, healthy instance of that app;
//! with none connected it is staged until one connects ([`Scheduler::app_connected`]); with
//! instances connected but none healthy it fails (§2.6) and its failure policy decides.
//!
//! Timing: a trigger is never sent before its due time (wall clock), and on an idle machine it
//! is sent within a few milliseconds of it (`benches/jobs.rs`: p50 about 1 ms staggered).
//!
//! Where localdapr differs from daprd, on purpose:
//! - Missed ticks fire once, not once each (see [`progress`]); this includes jobs that came due
//!   while localdapr was down, which fire once when it starts and their app connects.
//! - `DeleteJob` of an unknown name answers OK (go-etcd-cron's delete is idempotent; the
//!   reference marks daprd's answer UNVERIFIED).
//! - Only instances with an app port take triggers: an app id with only client sidecars
//!   stages its triggers like an app with no sidecar connected.
//! - Status codes follow the reference; messages imitate daprd's ("failed to schedule job due
//!   to: rpc error: code = Unknown desc = …") without promising its exact text.
//!
//! Shared with daprd: delivery is at least once (a trigger in flight when localdapr stops is
//! sent again after a restart, as go-etcd-cron stores a tick only after the app answered), and
//! `GetJob`/`ListJobs` return the default failure policy when none was given, because
//! go-etcd-cron stores it into the job (read from its `Builder.Parse`, not observed end to end).

mod metrics;
mod progress;
mod schedule;
mod spec;
mod store;
mod table;
mod timer;
mod trigger;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::Instant,
};

use chrono::Utc;
use todo_proto::dapr::proto::runtime::v1 as dapr;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tracing::Instrument;

use crate::{
    app::AppRegistry,
    db::{Db, Migration},
    runtime::TaskOwner,
};
use spec::{FailurePolicy, JobPlan, SpecError};
use store::StoredJob;
use table::{JobKey, JobTable};

/// The jobs table.
pub(crate) const MIGRATION: Migration = Migration {
    module: "jobs",
    schema: store::SCHEMA,
    upgrade: None,
};

/// Whether the stored jobs were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoadState {
    Loading,
    Ready,
    Failed,
}

/// The job scheduler of a runtime.
#[derive(Debug)]
pub struct Scheduler {
    db: Db,
    /// The instances triggers go to.
    apps: Arc<AppRegistry>,
    /// Owns the trigger loop, each trigger in flight and each write; its shutdown ends them.
    tasks: TaskOwner,
    /// Every job and the queue of waiting ones; never held across an await.
    table: Mutex<JobTable>,
    /// Serialises writes (API calls and trigger outcomes) so the database and the table agree.
    writes: tokio::sync::Mutex<()>,
    /// Wakes the trigger loop when the queue changes.
    wake: Notify,
    /// Cancelled by [`Scheduler::stop`].
    stopped: CancellationToken,
    loaded: watch::Sender<LoadState>,
    next_revision: AtomicI64,
    /// Round robin over an app's instances.
    next_instance: AtomicUsize,
}

impl Scheduler {
    /// A scheduler over `db`, triggering the instances in `apps`; nothing fires until
    /// [`Scheduler::start`].
    pub(crate) fn new(db: Db, apps: Arc<AppRegistry>, tasks: TaskOwner) -> Self {
        Self {
            db,
            apps,
            tasks,
            table: Mutex::new(JobTable::default()),
            writes: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            stopped: CancellationToken::new(),
            loaded: watch::Sender::new(LoadState::Loading),
            next_revision: AtomicI64::new(1),
            next_instance: AtomicUsize::new(0),
        }
    }

    /// Starts the trigger loop (owned by the runtime's tasks, ended by its shutdown). It first
    /// reads the stored jobs; API calls wait for that.
    pub fn start(self: &Arc<Self>) {
        metrics::describe();
        self.tasks.spawn(timer::run(self.clone()));
    }

    /// Stops firing triggers (shutdown); triggers already sent finish.
    pub fn stop(&self) {
        self.stopped.cancel();
    }

    /// Fires triggers that were staged while no instance of `app_id` was connected.
    pub fn app_connected(&self, app_id: &str) {
        let released = self.with_table(|table| table.release_staged(app_id));
        if released > 0 {
            tracing::info!(
                app_id,
                released,
                "app connected, firing its staged job triggers"
            );
            self.wake.notify_one();
        }
    }

    fn with_table<T>(&self, work: impl FnOnce(&mut JobTable) -> T) -> T {
        // A panic while holding the table leaves it consistent enough to keep serving.
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&mut table)
    }

    /// Reads the stored jobs into the table.
    async fn load(&self) {
        let loaded = self
            .db
            .read(|connection| {
                Ok::<_, crate::db::DbError>((
                    store::load_all(connection)?,
                    store::max_revision(connection)?,
                ))
            })
            .await;
        let (jobs, max_revision) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(error = %error, "cannot read the stored jobs; the jobs API is unavailable");
                self.loaded.send_replace(LoadState::Failed);
                return;
            }
        };
        self.next_revision
            .store(max_revision + 1, Ordering::Relaxed);
        let count = jobs.len();
        self.with_table(|table| {
            for stored in jobs {
                match JobPlan::restore(&stored.job, stored.begin, stored.expiration) {
                    Ok(plan) => table.put(stored, plan),
                    Err(error) => tracing::error!(
                        app_id = stored.app_id, job = stored.job.name, %error,
                        "skipping a stored job whose schedule no longer parses"
                    ),
                }
            }
        });
        tracing::info!(jobs = count, "stored jobs loaded");
        self.loaded.send_replace(LoadState::Ready);
        self.wake.notify_one();
    }

    async fn wait_loaded(&self) -> Result<(), Status> {
        let mut loaded = self.loaded.subscribe();
        match loaded.wait_for(|state| *state != LoadState::Loading).await {
            Ok(state) if *state == LoadState::Ready => Ok(()),
            _ => Err(Status::internal("the job store is unavailable")),
        }
    }

    /// `ScheduleJob`.
    ///
    /// # Errors
    /// The codes of reference §3.2: `InvalidArgument` for a missing job, name or schedule;
    /// `AlreadyExists` for a taken name without `overwrite`; `Internal` for whatever the
    /// scheduler refuses (bad cron, due time or ttl, zero repeats, repeats or ttl without a
    /// schedule, an invalid name).
    #[tracing::instrument(skip_all, fields(app_id = %app_id, job = tracing::field::Empty))]
    pub async fn schedule(
        self: &Arc<Self>,
        app_id: &str,
        request: dapr::ScheduleJobRequest,
    ) -> Result<dapr::ScheduleJobResponse, Status> {
        let started = Instant::now();
        let result = self.schedule_job(app_id, request).await;
        metrics::record_operation("schedule_job", result.is_ok(), started.elapsed());
        result.map(|()| dapr::ScheduleJobResponse {})
    }

    async fn schedule_job(
        self: &Arc<Self>,
        app_id: &str,
        request: dapr::ScheduleJobRequest,
    ) -> Result<(), Status> {
        self.wait_loaded().await?;
        let Some(job) = request.job else {
            return Err(SpecError::Empty("Job").into_schedule_status());
        };
        tracing::Span::current().record("job", job.name.as_str());
        let plan = JobPlan::parse(&job, Utc::now()).map_err(SpecError::into_schedule_status)?;
        let scheduler = self.clone();
        let app_id = app_id.to_string();
        let overwrite = request.overwrite;
        let write = async move { scheduler.store_job(&app_id, job, plan, overwrite).await };
        self.tasks
            .run_to_completion(write.instrument(tracing::Span::current()))
            .await
            .map_err(|error| write_task_failed("schedule", &error))?
    }

    /// The write half of `ScheduleJob`: the database, then the table. Runs as a task of the
    /// runtime, so a cancelled call cannot leave a stored job that never fires.
    async fn store_job(
        &self,
        app_id: &str,
        job: dapr::Job,
        plan: JobPlan,
        overwrite: bool,
    ) -> Result<(), Status> {
        let key = JobKey::new(app_id, &job.name);
        let _writes = self.writes.lock().await;
        if !overwrite && self.with_table(|table| table.contains(&key)) {
            return Err(Status::already_exists(format!(
                "failed to schedule job due to: rpc error: code = AlreadyExists desc = job \
                 already exists: {}",
                job.name
            )));
        }
        let stored = plan.first_progress().map(|progress| StoredJob {
            app_id: app_id.to_string(),
            job: job.clone(),
            revision: self.next_revision.fetch_add(1, Ordering::Relaxed),
            begin: plan.begin,
            expiration: plan.expiration,
            progress,
        });
        let written = stored.clone();
        let (app, name) = (app_id.to_string(), job.name.clone());
        self.db
            .write(move |connection| match &written {
                Some(stored) => store::put(connection, stored),
                // Expired before its first tick: go-etcd-cron stores it and deletes it at once.
                None => store::delete(connection, &app, &name, None),
            })
            .await
            .map_err(|error| {
                tracing::error!(error = %error, "cannot store the job");
                Status::internal("failed to schedule job due to: the job store failed")
            })?;
        self.with_table(|table| match stored {
            Some(stored) => table.put(stored, plan),
            None => table.remove(&key),
        });
        metrics::record_created(app_id);
        tracing::debug!("job scheduled");
        self.wake.notify_one();
        Ok(())
    }

    /// `GetJob`: the job as scheduled, with the default failure policy filled in as go-etcd-cron
    /// stores it.
    ///
    /// # Errors
    /// `Internal` for a missing job, as daprd ("failed to get job due to: … job not found: …");
    /// `InvalidArgument` for an empty name.
    pub async fn get(
        &self,
        app_id: &str,
        request: dapr::GetJobRequest,
    ) -> Result<dapr::GetJobResponse, Status> {
        let started = Instant::now();
        let result = self.get_job(app_id, &request.name).await;
        metrics::record_operation("get_job", result.is_ok(), started.elapsed());
        result.map(|job| dapr::GetJobResponse { job: Some(job) })
    }

    async fn get_job(&self, app_id: &str, name: &str) -> Result<dapr::Job, Status> {
        spec::check_name(name).map_err(|error| Status::invalid_argument(error.to_string()))?;
        spec::check_scheduler_name(name).map_err(|error| {
            Status::internal(format!(
                "failed to get job due to: rpc error: code = Unknown desc = {error}"
            ))
        })?;
        self.wait_loaded().await?;
        self.with_table(|table| table.job(&JobKey::new(app_id, name)))
            .map(FailurePolicy::fill_default)
            .ok_or_else(|| {
                Status::internal(format!(
                    "failed to get job due to: rpc error: code = NotFound desc = job not found: \
                     {name}"
                ))
            })
    }

    /// `DeleteJob`. Deleting an unknown job succeeds, as go-etcd-cron's delete is idempotent.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty name; `Internal` when the store fails.
    pub async fn delete(
        self: &Arc<Self>,
        app_id: &str,
        request: dapr::DeleteJobRequest,
    ) -> Result<dapr::DeleteJobResponse, Status> {
        let started = Instant::now();
        let result = self.delete_job(app_id, request.name).await;
        metrics::record_operation("delete_job", result.is_ok(), started.elapsed());
        result.map(|()| dapr::DeleteJobResponse {})
    }

    async fn delete_job(self: &Arc<Self>, app_id: &str, name: String) -> Result<(), Status> {
        spec::check_name(&name).map_err(|error| Status::invalid_argument(error.to_string()))?;
        spec::check_scheduler_name(&name).map_err(|error| {
            Status::internal(format!(
                "failed to delete job due to: rpc error: code = Unknown desc = {error}"
            ))
        })?;
        self.wait_loaded().await?;
        let scheduler = self.clone();
        let app_id = app_id.to_string();
        // As in `store_job`: the deletion and the table must not be parted by a cancellation,
        // or a deleted job would keep firing.
        let write = async move {
            let key = JobKey::new(&app_id, &name);
            let _writes = scheduler.writes.lock().await;
            scheduler
                .db
                .write(move |connection| store::delete(connection, &app_id, &name, None))
                .await
                .map_err(|error| {
                    tracing::error!(error = %error, "cannot delete the job");
                    Status::internal("failed to delete job due to: the job store failed")
                })?;
            scheduler.with_table(|table| table.remove(&key));
            scheduler.wake.notify_one();
            Ok(())
        };
        self.tasks
            .run_to_completion(write)
            .await
            .map_err(|error| write_task_failed("delete", &error))?
    }

    /// `DeleteJobsByPrefix`: an empty prefix deletes every job of the app.
    ///
    /// # Errors
    /// `Internal` on failure.
    pub async fn delete_by_prefix(
        self: &Arc<Self>,
        app_id: &str,
        prefix: &str,
    ) -> Result<(), Status> {
        let started = Instant::now();
        let result = self.delete_jobs_by_prefix(app_id, prefix).await;
        metrics::record_operation("delete_jobs_by_prefix", result.is_ok(), started.elapsed());
        result
    }

    async fn delete_jobs_by_prefix(
        self: &Arc<Self>,
        app_id: &str,
        prefix: &str,
    ) -> Result<(), Status> {
        self.wait_loaded().await?;
        let scheduler = self.clone();
        let (app_id, prefix) = (app_id.to_string(), prefix.to_string());
        // As in `store_job`: no cancellation between the deletion and the table.
        let write = async move {
            let _writes = scheduler.writes.lock().await;
            let (app, owned_prefix) = (app_id.clone(), prefix.clone());
            scheduler
                .db
                .write(move |connection| store::delete_prefix(connection, &app, &owned_prefix))
                .await
                .map_err(|error| {
                    tracing::error!(error = %error, "cannot delete jobs by prefix");
                    Status::internal("failed to delete jobs due to: the job store failed")
                })?;
            scheduler.with_table(|table| table.remove_prefix(&app_id, &prefix));
            scheduler.wake.notify_one();
            Ok(())
        };
        self.tasks
            .run_to_completion(write)
            .await
            .map_err(|error| write_task_failed("delete", &error))?
    }

    /// `ListJobs`: the app's jobs as scheduled, by name.
    ///
    /// # Errors
    /// `Internal` on failure.
    pub async fn list(&self, app_id: &str) -> Result<Vec<dapr::Job>, Status> {
        let started = Instant::now();
        let result = self.wait_loaded().await.map(|()| {
            self.with_table(|table| table.jobs_of(app_id))
                .into_iter()
                .map(FailurePolicy::fill_default)
                .collect()
        });
        metrics::record_operation("list_jobs", result.is_ok(), started.elapsed());
        result
    }
}

/// The status of a job write whose task failed (it panicked): daprd's `Internal`.
fn write_task_failed(verb: &str, error: &tokio::task::JoinError) -> Status {
    tracing::error!(%error, "the job store task failed");
    Status::internal(format!("failed to {verb} job due to: the job store failed"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{LocalDapr, LocalDaprConfig, Resources};

    fn one_shot(name: &str) -> dapr::ScheduleJobRequest {
        dapr::ScheduleJobRequest {
            job: Some(dapr::Job {
                name: name.into(),
                due_time: Some("1h".into()),
                ..Default::default()
            }),
            overwrite: false,
        }
    }

    #[tokio::test]
    async fn a_schedule_call_given_up_by_its_client_still_stores_and_queues_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let dapr = LocalDapr::start(LocalDaprConfig::new(
            dir.path().to_path_buf(),
            Resources::default(),
        ))
        .await
        .unwrap();
        let runtime = dapr.runtime().clone();
        runtime.jobs.list("app").await.unwrap();
        // Holding the write lock parks the call inside its write; the client then gives up.
        let writes = runtime.jobs.writes.lock().await;
        let call = runtime.jobs.schedule("app", one_shot("kept"));
        let given_up = tokio::time::timeout(Duration::from_millis(50), call).await;
        assert!(given_up.is_err(), "the call was still waiting");
        drop(writes);

        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while runtime.jobs.list("app").await.unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the job never reached the table"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stored = runtime.db.read(store::load_all).await.unwrap();
        let names: Vec<_> = stored.iter().map(|s| s.job.name.as_str()).collect();
        assert_eq!(names, ["kept"], "the table and the database agree");
        assert!(
            runtime.jobs.with_table(|table| table.next_due().is_some()),
            "the job is queued to fire"
        );
    }
}
