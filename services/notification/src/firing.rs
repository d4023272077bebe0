//! `Firing`: what notification does when a reminder job triggers — if the stored record still
//! wants this trigger, store the firing and the user's notification in one transaction, then
//! publish `ReminderDue` to `reminders`.
//!
//! A trigger may be delivered again (the job's failure policy, or a restart while it was in
//! flight). The firing is stored with the record before anything is published, so a second
//! trigger finds it: it never appends a second notification, and only publishes the same event
//! (same id) again if the first publish did not succeed.

use chrono::{TimeDelta, Utc};
use dapr_kit::{HandlerError, JobTrigger};
use todo_core::ids::TaskId;

use crate::{
    error::Error,
    reminder_record::{self, Firing, ReminderRecord, TriggerAction},
    retry::{MAX_ATTEMPTS, backoff},
    store::{self, NotificationStore},
};

/// The prefix of reminder job names; the rest is the task id.
pub const JOB_PREFIX: &str = "reminder-";

/// Fires reminders on their jobs' triggers.
#[derive(Clone, Debug)]
pub struct Reminding {
    store: NotificationStore,
    late_after: TimeDelta,
}

/// A trigger that can never be handled: not a reminder job of ours.
#[derive(Debug, thiserror::Error)]
#[error("job {job} is not a reminder job scheduled by notification")]
struct ForeignJob {
    job: String,
}

impl Reminding {
    /// Fires through `store`; a firing at least `late_after` after its time is marked late.
    pub fn new(store: NotificationStore, late_after: TimeDelta) -> Self {
        Self { store, late_after }
    }

    /// Handles one trigger of a `reminder-<task_id>` job.
    ///
    /// # Errors
    /// Poison for a job that is not ours (it is consumed); transient when the sidecar or the
    /// store failed (the job's failure policy retries it).
    pub async fn on_trigger(&self, trigger: JobTrigger) -> Result<(), HandlerError> {
        let foreign = || {
            HandlerError::poison(ForeignJob {
                job: trigger.name.clone(),
            })
        };
        let task_id = trigger
            .name
            .strip_prefix(JOB_PREFIX)
            .and_then(|id| TaskId::parse(id).ok())
            .filter(|id| reminder_record::job_name(id) == trigger.name)
            .ok_or_else(foreign)?;
        let scheduled_for = store::scheduled_for(trigger.data.as_ref()).ok_or_else(foreign)?;
        for attempt in 1..=MAX_ATTEMPTS {
            let Some((record, etag)) = self
                .store
                .read_record(&task_id)
                .await
                .map_err(Error::from)?
            else {
                tracing::debug!(%task_id, "no reminder stored, trigger consumed");
                return Ok(());
            };
            match record.trigger(scheduled_for, Utc::now(), self.late_after) {
                TriggerAction::Obsolete => {
                    tracing::debug!(%task_id, "reminder moved or went away, trigger consumed");
                    return Ok(());
                }
                TriggerAction::AlreadyFired(firing) => {
                    if !firing.published {
                        self.publish(&record, &firing).await?;
                    }
                    return Ok(());
                }
                TriggerAction::Fire(fired, firing) => {
                    let (mut inbox, inbox_etag) = self
                        .store
                        .read_inbox(&record.user_id)
                        .await
                        .map_err(Error::from)?;
                    inbox.append(&task_id.to_string(), &firing);
                    let written = self
                        .store
                        .write_firing(
                            (&fired, etag.as_ref()),
                            (&record.user_id, &inbox, inbox_etag.as_ref()),
                        )
                        .await;
                    match written {
                        Ok(()) => {
                            let lateness =
                                firing.fire_time.signed_duration_since(firing.remind_time);
                            crate::metrics::record_firing(lateness, firing.late);
                            tracing::info!(%task_id, event_id = firing.event_id, lateness_ms = lateness.num_milliseconds(), late = firing.late, "reminder fired");
                            self.publish(&fired, &firing).await?;
                            return Ok(());
                        }
                        Err(error) if error.is_conflict() => {
                            tracing::debug!(%task_id, attempt, max_attempts = MAX_ATTEMPTS, "etag conflict, retrying");
                            tokio::time::sleep(backoff(attempt)).await;
                        }
                        Err(error) => return Err(Error::from(error).into()),
                    }
                }
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        }
        .into())
    }

    /// Publishes `firing`'s event, then notes it published (best effort: a note that is lost
    /// means one duplicate publish of the same event id, on a redelivered trigger).
    async fn publish(&self, record: &ReminderRecord, firing: &Firing) -> Result<(), Error> {
        let event = firing.to_event(&record.task_id, &record.user_id);
        self.store.publish(&event).await?;
        for attempt in 1..=MAX_ATTEMPTS {
            let Some((mut stored, etag)) = self.store.read_record(&record.task_id).await? else {
                return Ok(());
            };
            match stored.fired.as_mut() {
                Some(fired) if fired.event_id == firing.event_id && !fired.published => {
                    fired.published = true;
                }
                _ => return Ok(()),
            }
            match self.store.write_record(&stored, etag.as_ref()).await {
                Err(error) if error.is_conflict() => tokio::time::sleep(backoff(attempt)).await,
                result => return Ok(result?),
            }
        }
        Ok(())
    }
}
