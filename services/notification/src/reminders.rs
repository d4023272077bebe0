//! `Reminders`: what notification does with a task event — keep the task's reminder record
//! at the newest version seen, and make its job match it.
//!
//! Delivery is at least once and unordered, and two deliveries may run at once. The record is
//! written first, with its etag, so only a newer event can replace it; then the job is made
//! to match the record. A job call can race another delivery's, so after each job call the
//! record is read again and, if it wants a different job by then, the call is repeated: the
//! last job call always matches the last record written. A trigger checks the record anyway
//! ([`crate::firing`]), so a job left over by a crash fires nothing.

use chrono::{DateTime, Utc};
use dapr_kit::{HandlerError, TopicEvent};
use todo_core::ids::TaskId;
use todo_proto::todo::v1::TaskEvent;

use crate::{
    error::Error,
    reminder_record::{EventDecision, ReminderRecord, apply_event},
    retry::{MAX_ATTEMPTS, backoff},
    store::NotificationStore,
};

/// How many times a job is re-synced when the record keeps moving under it.
const MAX_JOB_SYNCS: u32 = 8;

/// Applies task events to reminder records and jobs.
#[derive(Clone, Debug)]
pub struct Reminders {
    store: NotificationStore,
}

impl Reminders {
    /// Keeps records and jobs through `store`.
    pub fn new(store: NotificationStore) -> Self {
        Self { store }
    }

    /// Handles one delivery of `task-events`.
    ///
    /// # Errors
    /// Poison for an event that does not decode or names no valid task; transient when the
    /// sidecar or the store failed.
    pub async fn on_task_event(&self, event: TopicEvent) -> Result<(), HandlerError> {
        let task_event: TaskEvent = event.json()?;
        let record = ReminderRecord::from_event(&task_event).map_err(HandlerError::poison)?;
        tracing::Span::current().record("task_id", tracing::field::display(&record.task_id));
        Ok(self.apply(record).await?)
    }

    /// Stores `event_record` unless a newer one is stored, then syncs the job.
    async fn apply(&self, event_record: ReminderRecord) -> Result<(), Error> {
        let task_id = event_record.task_id;
        for attempt in 1..=MAX_ATTEMPTS {
            let (stored, etag) = match self.store.read_record(&task_id).await? {
                Some((record, etag)) => (Some(record), etag),
                None => (None, None),
            };
            match apply_event(stored.as_ref(), event_record.clone()) {
                EventDecision::Stale => {
                    tracing::debug!(%task_id, version = event_record.version, "older than the stored reminder, ignored");
                    return Ok(());
                }
                // An earlier delivery may have stored it and failed before its job call.
                EventDecision::Redelivered => {
                    let pending = stored.and_then(|record| record.pending_job());
                    return self.sync_job(&task_id, pending).await;
                }
                EventDecision::Write(record) => {
                    match self.store.write_record(&record, etag.as_ref()).await {
                        Ok(()) => {
                            let before = stored.and_then(|stored| stored.pending_job());
                            let pending = record.pending_job();
                            // A pending job is re-scheduled even when its time is unchanged: an
                            // older delivery that stored it may have failed before its job call,
                            // and is stale now.
                            if pending.is_some() || before != pending {
                                return self.sync_job(&task_id, pending).await;
                            }
                            return Ok(());
                        }
                        Err(error) if error.is_conflict() => {
                            tracing::debug!(%task_id, attempt, max_attempts = MAX_ATTEMPTS, "etag conflict, retrying");
                            tokio::time::sleep(backoff(attempt)).await;
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Makes the job of `task_id` fire at `pending` (or not exist), until the stored record
    /// wants the job that was last set.
    async fn sync_job(
        &self,
        task_id: &TaskId,
        mut pending: Option<DateTime<Utc>>,
    ) -> Result<(), Error> {
        for _ in 0..MAX_JOB_SYNCS {
            match pending {
                Some(at) => self.store.schedule_job(task_id, at).await?,
                None => self.store.delete_job(task_id).await?,
            }
            let wanted = self
                .store
                .read_record(task_id)
                .await?
                .and_then(|(record, _)| record.pending_job());
            if wanted == pending {
                tracing::debug!(%task_id, ?pending, "reminder job in sync");
                return Ok(());
            }
            pending = wanted;
        }
        Err(Error::Contention {
            attempts: MAX_JOB_SYNCS,
        })
    }
}
