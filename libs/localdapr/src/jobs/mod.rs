//! Jobs (reference §3): durable one-shot and recurring triggers delivered to the app that
//! scheduled them through `OnJobEvent` (falling back to `OnJobEventAlpha1`).
//!
//! NOT YET IMPLEMENTED: this module is the interface the rest of localdapr calls.

use std::sync::Arc;

use todo_proto::dapr::proto::runtime::v1 as dapr;
use tonic::Status;

use crate::{db::Db, runtime::Runtime};

/// The jobs table.
pub(crate) const SCHEMA: &str = "";

/// The job scheduler of a runtime.
#[derive(Debug)]
pub struct Scheduler {
    db: Db,
}

impl Scheduler {
    /// A scheduler over `db`; nothing fires until [`Scheduler::start`].
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Starts the trigger loop.
    pub fn start(&self, _runtime: &Arc<Runtime>) {
        let _ = &self.db;
    }

    /// Stops firing triggers (shutdown).
    pub fn stop(&self) {}

    /// Fires triggers that were staged while no instance of `app_id` was connected.
    pub fn app_connected(&self, _app_id: &str) {}

    /// `ScheduleJob`.
    ///
    /// # Errors
    /// The codes of reference §3.2.
    pub async fn schedule(
        &self,
        _app_id: &str,
        _request: dapr::ScheduleJobRequest,
    ) -> Result<dapr::ScheduleJobResponse, Status> {
        Err(Status::unimplemented(
            "localdapr: jobs are not implemented yet",
        ))
    }

    /// `GetJob`.
    ///
    /// # Errors
    /// `Internal` for a missing job, as daprd.
    pub async fn get(
        &self,
        _app_id: &str,
        _request: dapr::GetJobRequest,
    ) -> Result<dapr::GetJobResponse, Status> {
        Err(Status::unimplemented(
            "localdapr: jobs are not implemented yet",
        ))
    }

    /// `DeleteJob`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delete(
        &self,
        _app_id: &str,
        _request: dapr::DeleteJobRequest,
    ) -> Result<dapr::DeleteJobResponse, Status> {
        Err(Status::unimplemented(
            "localdapr: jobs are not implemented yet",
        ))
    }

    /// `DeleteJobsByPrefix`: an empty prefix deletes every job of the app.
    ///
    /// # Errors
    /// `Internal` on failure.
    pub async fn delete_by_prefix(&self, _app_id: &str, _prefix: &str) -> Result<(), Status> {
        Err(Status::unimplemented(
            "localdapr: jobs are not implemented yet",
        ))
    }

    /// `ListJobs`.
    ///
    /// # Errors
    /// `Internal` on failure.
    pub async fn list(&self, _app_id: &str) -> Result<Vec<dapr::Job>, Status> {
        Err(Status::unimplemented(
            "localdapr: jobs are not implemented yet",
        ))
    }
}
