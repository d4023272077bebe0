//! The task operations: read the bucket, apply a `todo-core` transition, write the bucket back
//! with the event, and on an etag conflict start again from a fresh read, a bounded number of
//! times.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use todo_core::{
    PageTokenKey, TaskPatch,
    events::{self, Actor},
    ids::{TaskId, UserId},
    limits::MAX_TASKS_PER_USER,
    listing, task,
};
use todo_proto::todo::v1::{self as proto, Task, TaskEvent};

use crate::{
    error::Error,
    metrics,
    store::{Bucket, StoreError, TaskStore},
};

/// How many times a change is attempted before giving up on a busy bucket. 32 concurrent
/// writers of one bucket each succeed within this many attempts with jittered backoff.
const MAX_ATTEMPTS: u32 = 32;

/// Who is changing a task: the user id and the actor recorded in the event.
#[derive(Clone, Debug)]
pub struct Acting {
    /// The owner of the tasks.
    pub user: UserId,
    /// Who to record as the author.
    pub actor: Actor,
}

/// The task operations of one store.
#[derive(Clone, Debug)]
pub struct Tasks {
    store: TaskStore,
    page_tokens: PageTokenKey,
}

/// What a change function decides for a bucket.
enum Change {
    /// Write the bucket with this task (replacing or adding it), publishing the event.
    Write {
        task: Box<Task>,
        event: Box<TaskEvent>,
    },
    /// Remove the task, publishing the event.
    Remove { id: String, event: Box<TaskEvent> },
    /// Nothing to write; answer with this task (an idempotent create that already happened).
    Unchanged(Box<Task>),
}

impl Tasks {
    /// Operations over `store`, sealing page tokens with `page_tokens`.
    pub fn new(store: TaskStore, page_tokens: PageTokenKey) -> Self {
        Self { store, page_tokens }
    }

    /// Creates a task; a create whose deterministic id exists returns the stored task.
    ///
    /// # Errors
    /// Validation, the per-user limit, contention or store failures.
    pub async fn create(
        &self,
        acting: &Acting,
        request: &proto::CreateTaskRequest,
    ) -> Result<Task, Error> {
        let new = todo_core::NewTask::from_request(request, acting.user, Utc::now())?;
        let id = new.task_id();
        // One read of all the buckets gives both the count and the first attempt's bucket.
        let (bucket, task_count) = self.store.bucket_and_task_count(&acting.user, &id).await?;
        // A retry of an idempotent create answers with the task it made, even at the limit.
        if new.deterministic_id().is_some()
            && let Some(existing) = bucket.find(&id)
        {
            return Ok(existing.clone());
        }
        // Checked once, before the first attempt; concurrent creates can overshoot the limit by
        // their number, which is fine for a limit that protects memory, not money.
        if task_count >= MAX_TASKS_PER_USER {
            return Err(Error::TooManyTasks {
                limit: MAX_TASKS_PER_USER,
            });
        }
        self.change_from(acting, &id, Some(bucket), |bucket, now| {
            if let Some(existing) = bucket.find(&id) {
                return Ok(Change::Unchanged(Box::new(existing.clone())));
            }
            let task = task::create(&new, id, now);
            let event = events::created(&task, &acting.actor, now);
            Ok(Change::Write {
                task: Box::new(task),
                event: Box::new(event),
            })
        })
        .await
    }

    /// Gets task `id` of the acting user.
    ///
    /// # Errors
    /// `NotFound` (also for another user's task), or store failures.
    pub async fn get(&self, user: &UserId, id: &TaskId) -> Result<Task, Error> {
        let bucket = self.store.bucket_of(user, id).await?;
        bucket.find(id).cloned().ok_or_else(|| Error::NotFound {
            task_id: id.to_string(),
        })
    }

    /// Lists the acting user's tasks; the tasks of a bucket that does not decode are left out
    /// (reported by the store), so the others stay readable.
    ///
    /// # Errors
    /// Validation of the listing request, or store failures.
    pub async fn list(
        &self,
        user: &UserId,
        request: &proto::ListTasksRequest,
    ) -> Result<proto::ListTasksResponse, Error> {
        let tasks: Vec<Task> = self
            .store
            .readable_buckets(user)
            .await?
            .into_iter()
            .flat_map(|b| b.tasks)
            .collect();
        Ok(listing::list_tasks(
            &tasks,
            request,
            user,
            &self.page_tokens,
            Utc::now(),
        )?)
    }

    /// Applies an update mask to a task.
    ///
    /// # Errors
    /// Validation, `NotFound`, a stale expected version, contention or store failures.
    pub async fn update(
        &self,
        acting: &Acting,
        request: &proto::UpdateTaskRequest,
    ) -> Result<Task, Error> {
        let patch = TaskPatch::from_request(request)?;
        let id = patch.task_id;
        self.change(acting, &id, |bucket, now| {
            let before = found(bucket, &patch.task_id)?;
            task::check_expected_version(before, patch.expected_version)?;
            let after = todo_core::apply_patch(before, &patch, now)?;
            let event = events::updated(before, &after, &acting.actor, now);
            Ok(Change::Write {
                task: Box::new(after),
                event: Box::new(event),
            })
        })
        .await
    }

    /// Completes a task.
    ///
    /// # Errors
    /// `NotFound`, already completed, a stale expected version, contention or store failures.
    pub async fn complete(
        &self,
        acting: &Acting,
        id: &TaskId,
        expected_version: i64,
    ) -> Result<Task, Error> {
        self.transition(
            acting,
            id,
            expected_version,
            task::complete,
            events::completed,
        )
        .await
    }

    /// Reopens a completed task.
    ///
    /// # Errors
    /// `NotFound`, not completed, a stale expected version, contention or store failures.
    pub async fn reopen(
        &self,
        acting: &Acting,
        id: &TaskId,
        expected_version: i64,
    ) -> Result<Task, Error> {
        self.transition(acting, id, expected_version, task::reopen, events::reopened)
            .await
    }

    /// Applies a status transition and records it with `event`.
    async fn transition(
        &self,
        acting: &Acting,
        id: &TaskId,
        expected_version: i64,
        apply: fn(&Task, DateTime<Utc>) -> Result<Task, todo_core::TransitionError>,
        event: fn(&Task, &Task, &Actor, DateTime<Utc>) -> TaskEvent,
    ) -> Result<Task, Error> {
        self.change(acting, id, |bucket, now| {
            let before = found(bucket, id)?;
            task::check_expected_version(before, expected_version)?;
            let after = apply(before, now)?;
            let event = event(before, &after, &acting.actor, now);
            Ok(Change::Write {
                task: Box::new(after),
                event: Box::new(event),
            })
        })
        .await
    }

    /// Deletes a task.
    ///
    /// # Errors
    /// `NotFound`, a stale expected version, contention or store failures.
    pub async fn delete(
        &self,
        acting: &Acting,
        id: &TaskId,
        expected_version: i64,
    ) -> Result<(), Error> {
        self.change(acting, id, |bucket, now| {
            let last = found(bucket, id)?;
            task::check_expected_version(last, expected_version)?;
            let event = events::deleted(last, &acting.actor, now);
            Ok(Change::Remove {
                id: last.id.clone(),
                event: Box::new(event),
            })
        })
        .await
        .map(|_| ())
    }

    /// Reads the bucket of `id`, lets `decide` choose the change, and commits it; on an etag
    /// conflict, starts again from a fresh read.
    async fn change<D>(&self, acting: &Acting, id: &TaskId, decide: D) -> Result<Task, Error>
    where
        D: Fn(&Bucket, DateTime<Utc>) -> Result<Change, Error>,
    {
        self.change_from(acting, id, None, decide).await
    }

    /// [`Self::change`], whose first attempt uses `first_read` when the caller has just read
    /// the bucket.
    async fn change_from<D>(
        &self,
        acting: &Acting,
        id: &TaskId,
        mut first_read: Option<Bucket>,
        decide: D,
    ) -> Result<Task, Error>
    where
        D: Fn(&Bucket, DateTime<Utc>) -> Result<Change, Error>,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let mut bucket = match first_read.take() {
                Some(bucket) => bucket,
                None => self.store.bucket_of(&acting.user, id).await?,
            };
            let (event, answer) = match decide(&bucket, Utc::now())? {
                Change::Unchanged(task) => return Ok(*task),
                Change::Write { task, event } => {
                    match bucket.tasks.iter_mut().find(|t| t.id == task.id) {
                        Some(slot) => slot.clone_from(&task),
                        None => bucket.tasks.push((*task).clone()),
                    }
                    (*event, *task)
                }
                Change::Remove { id, event } => {
                    let last = event.task.clone().unwrap_or_default();
                    bucket.tasks.retain(|t| t.id != id);
                    (*event, last)
                }
            };
            match self.store.commit(bucket, &event).await {
                Ok(()) => {
                    metrics::record_change(event.r#type(), attempt);
                    tracing::debug!(task_id = %id, version = event.version, attempt, "task changed");
                    return Ok(answer);
                }
                Err(error) if error.is_conflict() => {
                    metrics::record_conflict();
                    tracing::debug!(task_id = %id, attempt, max_attempts = MAX_ATTEMPTS, "etag conflict, retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
        tracing::warn!(task_id = %id, attempts = MAX_ATTEMPTS, "bucket too busy, giving up");
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

fn found<'a>(bucket: &'a Bucket, id: &TaskId) -> Result<&'a Task, Error> {
    bucket.find(id).ok_or_else(|| Error::NotFound {
        task_id: id.to_string(),
    })
}

/// Jittered exponential backoff: 2 ms doubling to 64 ms, times a random factor in [0.5, 1.5),
/// so writers that collided do not collide again in lockstep.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(2u64 << attempt.min(5));
    base.mul_f64(rand::rng().random_range(0.5..1.5))
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}
