//! The Dapr side of notification: reminder records and inboxes in the state store (with etags,
//! so concurrent deliveries cannot lose an update), reminder jobs on its own sidecar, and
//! `ReminderDue` on the `reminders` topic.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use dapr_kit::{
    DaprClient, DaprError, Etag, Publication, StateOperation,
    client::{JobFailurePolicy, JobSpec},
};
use serde::{Serialize, de::DeserializeOwned};
use todo_core::{
    ids::{TaskId, UserId},
    wire_time::utc_to_timestamp,
};
use todo_proto::todo::v1 as proto;
use tonic::Code;

use crate::{
    inbox::{self, Inbox},
    reminder_record::{self, ReminderRecord},
};

/// The topic `ReminderDue` events go to.
pub const REMINDERS_TOPIC: &str = "reminders";
/// How long a record without a reminder keeps the task's version, against older events
/// delivered late (Dapr's `ttlInSeconds`).
const SETTLED_RECORD_TTL_SECONDS: &str = "2592000"; // 30 days
/// `ttlInSeconds` for no expiry.
const NO_TTL: &str = "-1";
/// A failed trigger (the sidecar or the store was away) is retried every 2 s for a minute.
const TRIGGER_RETRY: JobFailurePolicy = JobFailurePolicy::Constant {
    interval: Duration::from_secs(2),
    max_retries: Some(30),
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The sidecar failed the call.
    #[error("{operation} failed")]
    Dapr {
        /// What was being done, e.g. "write reminder".
        operation: &'static str,
        /// The sidecar's error.
        #[source]
        source: DaprError,
    },
    /// An event did not encode as JSON (only a message outside `todo.v1` would not).
    #[error("ReminderDue does not encode")]
    Encode(#[source] todo_proto::json::JsonError),
    /// A stored value does not decode.
    #[error("stored value {key} does not decode")]
    Corrupt {
        /// Its key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Whether the write lost an etag race: read again and retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Dapr { source, .. } if source.is_etag_conflict())
    }
}

fn failed(operation: &'static str) -> impl FnOnce(DaprError) -> StoreError {
    move |source| StoreError::Dapr { operation, source }
}

/// A stored value with the etag it was read at (`None`: the key does not exist).
pub type Versioned<T> = (T, Option<Etag>);

/// notification's state, jobs and topic.
#[derive(Clone, Debug)]
pub struct NotificationStore {
    dapr: DaprClient,
    state_store: String,
    pubsub: String,
}

impl NotificationStore {
    /// Uses `state_store` and `pubsub` through `dapr`.
    pub fn new(dapr: DaprClient, state_store: String, pubsub: String) -> Self {
        Self {
            dapr,
            state_store,
            pubsub,
        }
    }

    /// Reads a task's reminder record; `None` when there is none.
    pub async fn read_record(
        &self,
        task_id: &TaskId,
    ) -> Result<Option<Versioned<ReminderRecord>>, StoreError> {
        let key = reminder_record::state_key(task_id);
        self.read(&key, "read reminder").await
    }

    /// Reads a user's inbox; an empty one when there is none.
    pub async fn read_inbox(&self, user_id: &UserId) -> Result<Versioned<Inbox>, StoreError> {
        let key = inbox::state_key(user_id);
        Ok(self
            .read(&key, "read notifications")
            .await?
            .unwrap_or_default())
    }

    /// Writes `record` if its key is still at `etag` (absent, for `None`).
    pub async fn write_record(
        &self,
        record: &ReminderRecord,
        etag: Option<&Etag>,
    ) -> Result<(), StoreError> {
        let operation = record_write(record, etag)?;
        self.dapr
            .transact(&self.state_store, vec![operation])
            .await
            .map_err(failed("write reminder"))
    }

    /// Writes a fired `record` and the `inbox` holding its notification, both or neither, each
    /// only if still at its etag.
    pub async fn write_firing(
        &self,
        record: (&ReminderRecord, Option<&Etag>),
        inbox: (&UserId, &Inbox, Option<&Etag>),
    ) -> Result<(), StoreError> {
        let operations = vec![
            record_write(record.0, record.1)?,
            inbox_write(inbox.0, inbox.1, inbox.2)?,
        ];
        self.dapr
            .transact(&self.state_store, operations)
            .await
            .map_err(failed("write firing"))
    }

    /// Writes a user's inbox if it is still at `etag`.
    pub async fn write_inbox(
        &self,
        user_id: &UserId,
        inbox: &Inbox,
        etag: Option<&Etag>,
    ) -> Result<(), StoreError> {
        let operation = inbox_write(user_id, inbox, etag)?;
        self.dapr
            .transact(&self.state_store, vec![operation])
            .await
            .map_err(failed("write notifications"))
    }

    /// Schedules (or moves) the one-shot job of a task's reminder to `at`; the trigger carries
    /// `at`, so a trigger of a job that moved since can be told apart.
    pub async fn schedule_job(
        &self,
        task_id: &TaskId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let job = JobSpec {
            data: Some(scheduled_for_data(at)),
            failure_policy: Some(TRIGGER_RETRY),
            ..JobSpec::once(
                reminder_record::job_name(task_id),
                at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            )
        };
        self.dapr
            .schedule_job(job, true)
            .await
            .map_err(failed("schedule reminder job"))
    }

    /// Deletes a task's reminder job; a job that is not there is no error.
    pub async fn delete_job(&self, task_id: &TaskId) -> Result<(), StoreError> {
        match self
            .dapr
            .delete_job(&reminder_record::job_name(task_id))
            .await
        {
            Err(error) if is_missing_job(&error) => Ok(()),
            result => result.map_err(failed("delete reminder job")),
        }
    }

    /// Publishes `event` to `reminders`, keyed by its user, so a user's reminders stay in order.
    pub async fn publish(&self, event: &proto::ReminderDue) -> Result<(), StoreError> {
        let publication = Publication::message(REMINDERS_TOPIC, event)
            .map_err(StoreError::Encode)?
            .partition_key(&event.user_id);
        self.dapr
            .publish(&self.pubsub, publication)
            .await
            .map_err(failed("publish ReminderDue"))
    }

    async fn read<T: DeserializeOwned>(
        &self,
        key: &str,
        operation: &'static str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let Some(entry) = self
            .dapr
            .get_state(&self.state_store, key)
            .await
            .map_err(failed(operation))?
        else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&entry.value).map_err(|source| StoreError::Corrupt {
            key: key.to_string(),
            source,
        })?;
        Ok(Some((value, entry.etag)))
    }
}

/// The job data: the reminder time the job was scheduled for.
fn scheduled_for_data(at: DateTime<Utc>) -> prost_types::Any {
    prost_types::Any::from_msg(&utc_to_timestamp(at)).expect("a Timestamp always encodes")
}

/// Reads the reminder time a trigger's job was scheduled for.
pub fn scheduled_for(data: Option<&prost_types::Any>) -> Option<DateTime<Utc>> {
    let timestamp: prost_types::Timestamp = data?.to_msg().ok()?;
    todo_core::wire_time::timestamp_to_utc(&timestamp)
}

/// daprd may answer a delete of a missing job with NotFound, or Internal naming it (§3.2).
fn is_missing_job(error: &DaprError) -> bool {
    matches!(error.code(), Code::NotFound | Code::Internal)
        && error
            .status()
            .is_some_and(|status| status.message().to_ascii_lowercase().contains("not found"))
}

fn record_write(
    record: &ReminderRecord,
    etag: Option<&Etag>,
) -> Result<StateOperation, StoreError> {
    let key = reminder_record::state_key(&record.task_id);
    let ttl = if record.may_expire() {
        SETTLED_RECORD_TTL_SECONDS
    } else {
        NO_TTL
    };
    Ok(conditional_upsert(&key, record, etag)?.with_metadata("ttlInSeconds", ttl))
}

fn inbox_write(
    user_id: &UserId,
    inbox: &Inbox,
    etag: Option<&Etag>,
) -> Result<StateOperation, StoreError> {
    conditional_upsert(&inbox::state_key(user_id), inbox, etag)
}

/// An upsert of `value` as JSON that fails if `key` moved past `etag` (or exists, for `None`).
fn conditional_upsert<T: Serialize>(
    key: &str,
    value: &T,
    etag: Option<&Etag>,
) -> Result<StateOperation, StoreError> {
    let json = serde_json::to_vec(value).map_err(|source| StoreError::Corrupt {
        key: key.to_string(),
        source,
    })?;
    Ok(StateOperation::upsert(key, json).with_etag(etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_reads_back_the_time_its_job_was_scheduled_for() {
        let at = DateTime::parse_from_rfc3339("2026-03-29T08:30:00.125Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(scheduled_for(Some(&scheduled_for_data(at))), Some(at));
        assert_eq!(scheduled_for(None), None);
        let other = prost_types::Any {
            type_url: "type.googleapis.com/google.protobuf.Value".into(),
            value: vec![1, 2],
        };
        assert_eq!(scheduled_for(Some(&other)), None);
    }
}
