//! A completion event in, at most one `CreateTask` out: the next occurrence of a recurring
//! task, created through todo-api for the task's owner with the series id and occurrence
//! index that make its id deterministic.

use chrono::{DateTime, Utc};
use dapr_kit::{DaprClient, HandlerError, TopicEvent};
use todo_core::{UserId, events::known_type, wire_time::timestamp_to_utc};
use todo_proto::todo::v1::{
    Task, TaskEvent, TaskEventType, task_service_client::TaskServiceClient,
};
use tonic::Code;

use crate::{
    error::Error,
    metrics::{self, OccurrenceOutcome},
};

/// Continues recurring series through todo-api.
#[derive(Clone, Debug)]
pub(crate) struct Occurrences {
    dapr: DaprClient,
    /// The app id of todo-api, reached through this app's sidecar.
    tasks_app_id: String,
}

impl Occurrences {
    /// Creates occurrences through `dapr`'s sidecar at the app `tasks_app_id`.
    pub(crate) fn new(dapr: DaprClient, tasks_app_id: String) -> Self {
        Self { dapr, tasks_app_id }
    }

    /// Handles one delivery of `task-events`: an event that does not decode is poison.
    pub(crate) async fn on_task_event(&self, event: TopicEvent) -> Result<(), HandlerError> {
        let event: TaskEvent = event.json()?;
        self.continue_series(&event).await?;
        Ok(())
    }

    /// Creates the occurrence after the one `event` completed, if it is the completion of a
    /// recurring task whose series goes on; every other event of a known type is acknowledged
    /// untouched.
    #[tracing::instrument(skip_all, fields(event_id = %event.event_id, task_id = %event.task_id, version = event.version))]
    async fn continue_series(&self, event: &TaskEvent) -> Result<(), Error> {
        let event_type = known_type(event).ok_or_else(|| Error::UnknownEventType {
            event_id: event.event_id.clone(),
            event_type: event.r#type,
        })?;
        if event_type != TaskEventType::Completed {
            return Ok(());
        }
        let task = event.task.as_ref().ok_or_else(|| Error::MissingTask {
            event_id: event.event_id.clone(),
        })?;
        if task.recurrence.is_none() {
            return Ok(());
        }
        if UserId::parse(&event.user_id).is_err() {
            return Err(Error::InvalidUser {
                event_id: event.event_id.clone(),
                event_user: event.user_id.clone(),
            });
        }
        if task.user_id != event.user_id {
            return Err(Error::UserMismatch {
                event_id: event.event_id.clone(),
                event_user: event.user_id.clone(),
                task_id: task.id.clone(),
            });
        }
        let completed_at = completed_at(event, task)?;
        let next = todo_core::next_occurrence_of(task, completed_at).map_err(|source| {
            Error::UnreadableTask {
                task_id: task.id.clone(),
                source,
            }
        })?;
        let Some(next) = next else {
            tracing::info!(occurrence_index = task.occurrence_index, "series ended");
            metrics::record(OccurrenceOutcome::SeriesEnded);
            return Ok(());
        };
        let request = next.to_create_request();
        let channel = self
            .dapr
            .app_channel_for_user(&self.tasks_app_id, &task.user_id)
            .map_err(|source| Error::UnusableUser {
                task_id: task.id.clone(),
                source,
            })?;
        match TaskServiceClient::new(channel).create_task(request).await {
            Ok(created) => {
                let created = created.into_inner().task.unwrap_or_default();
                tracing::info!(
                    next_task_id = %created.id,
                    occurrence_index = created.occurrence_index,
                    "next occurrence created"
                );
                metrics::record(OccurrenceOutcome::Created);
                Ok(())
            }
            // todo-api answers a repeated create with the task it holds; AlreadyExists is the
            // same fact, from a stricter implementation.
            Err(status) if status.code() == Code::AlreadyExists => {
                metrics::record(OccurrenceOutcome::Created);
                Ok(())
            }
            Err(status) => {
                let error = Error::from_create_status(&task.id, status);
                if matches!(error, Error::TodoApiRefused { .. }) {
                    metrics::record(OccurrenceOutcome::Refused);
                }
                Err(error)
            }
        }
    }
}

/// When the occurrence was completed: the task's completion time, else the event's.
fn completed_at(event: &TaskEvent, task: &Task) -> Result<DateTime<Utc>, Error> {
    task.complete_time
        .as_ref()
        .or(event.occur_time.as_ref())
        .and_then(timestamp_to_utc)
        .ok_or_else(|| Error::MissingCompletionTime {
            task_id: task.id.clone(),
        })
}
