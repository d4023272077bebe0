//! The task buckets in the Dapr state store (ARCHITECTURE.md, "Task storage").
//!
//! A user's tasks live in [`BUCKET_COUNT`] bucket documents (`tasks-<user>-<b>`), each one
//! protobuf `TaskBucket` holding the full tasks of its slice. A change is one
//! `ExecuteStateTransaction` of two operations: the upsert of the bucket it changes, guarded by
//! the etag it read (first-write-wins), and the outbox projection of the same key carrying the
//! `TaskEvent` as JSON, which Dapr publishes to `task-events` atomically with the write.
//!
//! A create reads all the user's buckets in one `GetBulkState` (the per-user limit needs the
//! count) and decodes only the bucket it writes: the others are only counted, by walking their
//! wire format and skipping each task's bytes ([`count_tasks`]), which costs a small fraction of
//! decoding them.
//!
//! A bucket that no longer decodes (written by something else, or damaged) is never overwritten:
//! its bytes may still hold tasks an operator can recover. Listings leave it out, loudly (an
//! error log naming the key, and `todo_task_buckets_unreadable_total`), so the user's other
//! tasks stay readable; reads and writes of a task in it fail with [`StoreError::Corrupt`].
//! README.md, "Repairing an unreadable bucket", says how to recover.

use dapr_kit::{DaprClient, DaprError, Etag, StateOperation, client::BulkStateEntry};
use prost::Message;
use todo_core::{
    ids::{TaskId, UserId},
    limits::{BUCKET_COUNT, all_bucket_keys, bucket_key_for_task},
};
use todo_proto::todo::v1::{Task, TaskEvent};
use todo_telemetry::error_chain;

/// The most bytes one encoded bucket may take. Listing reads all [`BUCKET_COUNT`] buckets in one
/// `GetBulkState`, and daprd answers at most 4 MiB by default (`dapr.io/max-body-size`): 16
/// buckets of 240 KiB stay below it with room for the envelope.
pub const MAX_BUCKET_BYTES: usize = 240 * 1024;

/// The stored form of a bucket.
#[derive(Clone, PartialEq, Message)]
struct TaskBucket {
    /// The tasks of this slice, in insertion order.
    #[prost(message, repeated, tag = "1")]
    tasks: Vec<Task>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The sidecar or the store failed.
    #[error("state store call failed")]
    Dapr(#[from] DaprError),
    /// A bucket holds bytes that are not a `TaskBucket`: the operation is refused and the bucket
    /// left as it is, for an operator to repair.
    #[error("bucket {key} is unreadable")]
    Corrupt {
        /// The bucket key.
        key: String,
        /// Why it does not decode.
        #[source]
        source: prost::DecodeError,
    },
    /// The change would make the bucket larger than [`MAX_BUCKET_BYTES`].
    #[error("bucket {key} would take {bytes} bytes, over the limit of {MAX_BUCKET_BYTES}")]
    BucketFull {
        /// The bucket key.
        key: String,
        /// Its size after the change.
        bytes: usize,
    },
    /// The event could not be encoded as JSON.
    #[error("cannot encode the task event")]
    Json(#[from] todo_proto::json::JsonError),
}

impl StoreError {
    /// Whether the bucket changed since it was read (another writer won).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Dapr(error) if error.is_etag_conflict())
    }
}

/// One bucket as read: its tasks and the etag to write it back with.
#[derive(Clone, Debug)]
pub struct Bucket {
    /// The bucket key.
    pub key: String,
    /// The version read; `None` for a bucket that does not exist yet.
    pub etag: Option<Etag>,
    /// Its tasks.
    pub tasks: Vec<Task>,
}

impl Bucket {
    /// The task `id`, if this bucket has it.
    pub fn find(&self, id: &TaskId) -> Option<&Task> {
        let id = id.to_string();
        self.tasks.iter().find(|t| t.id == id)
    }
}

/// Reads and writes task buckets through the sidecar.
#[derive(Clone, Debug)]
pub struct TaskStore {
    dapr: DaprClient,
    store: String,
}

impl TaskStore {
    /// A store over the Dapr state store `store`.
    pub fn new(dapr: DaprClient, store: impl Into<String>) -> Self {
        Self {
            dapr,
            store: store.into(),
        }
    }

    /// Reads the bucket that holds (or will hold) task `id` of `user`.
    ///
    /// # Errors
    /// A sidecar failure, or [`StoreError::Corrupt`] when the bucket does not decode.
    pub async fn bucket_of(&self, user: &UserId, id: &TaskId) -> Result<Bucket, StoreError> {
        let key = bucket_key_for_task(user, id);
        let entry = self.dapr.get_state(&self.store, &key).await?;
        match entry {
            Some(entry) => Ok(Bucket {
                tasks: decode(&key, &entry.value)?,
                etag: entry.etag,
                key,
            }),
            None => Ok(Bucket {
                key,
                etag: None,
                tasks: Vec::new(),
            }),
        }
    }

    /// Reads every bucket of `user` in one `GetBulkState`, leaving out (with an error log and
    /// a metric) each bucket that does not decode, so one broken bucket does not hide the rest.
    ///
    /// # Errors
    /// A sidecar failure.
    pub async fn readable_buckets(&self, user: &UserId) -> Result<Vec<Bucket>, StoreError> {
        let keys = all_bucket_keys(user);
        debug_assert_eq!(keys.len(), usize::from(BUCKET_COUNT));
        let entries = self.dapr.get_bulk_state(&self.store, &keys).await?;
        let mut buckets = Vec::with_capacity(entries.len());
        for entry in entries {
            let tasks = match entry
                .value
                .as_deref()
                .map(|value| decode(&entry.key, value))
            {
                None => Vec::new(),
                Some(Ok(tasks)) => tasks,
                Some(Err(error)) => {
                    log_unreadable(&entry.key, &error);
                    continue;
                }
            };
            buckets.push(Bucket {
                key: entry.key,
                etag: entry.etag,
                tasks,
            });
        }
        Ok(buckets)
    }

    /// Reads every bucket of `user` in one `GetBulkState` and returns the bucket of task `id`,
    /// decoded, with the number of tasks the user has in all; the other buckets are counted, not
    /// decoded. A bucket that does not decode is left out of the count (logged, as in
    /// [`Self::readable_buckets`]); its writes are refused, so it cannot grow.
    ///
    /// # Errors
    /// A sidecar failure, or [`StoreError::Corrupt`] when the bucket of `id` does not decode.
    pub async fn bucket_and_task_count(
        &self,
        user: &UserId,
        id: &TaskId,
    ) -> Result<(Bucket, usize), StoreError> {
        let key = bucket_key_for_task(user, id);
        let entries = self
            .dapr
            .get_bulk_state(&self.store, &all_bucket_keys(user))
            .await?;
        let mut bucket = None;
        let mut count = 0;
        for entry in entries {
            if entry.key == key {
                let read = Bucket::read(entry)?;
                count += read.tasks.len();
                bucket = Some(read);
                continue;
            }
            let Some(value) = entry.value else { continue };
            match count_tasks(&entry.key, &value) {
                Ok(tasks) => count += tasks,
                Err(error) => log_unreadable(&entry.key, &error),
            }
        }
        let bucket = bucket.unwrap_or(Bucket {
            key,
            etag: None,
            tasks: Vec::new(),
        });
        Ok((bucket, count))
    }

    /// Writes `bucket` (with its changed tasks) if it is still at the etag it was read at, and
    /// publishes `event` through the outbox in the same transaction.
    ///
    /// # Errors
    /// [`StoreError::is_conflict`] when another writer changed the bucket first;
    /// [`StoreError::BucketFull`] when the bucket would grow past [`MAX_BUCKET_BYTES`].
    pub async fn commit(&self, bucket: Bucket, event: &TaskEvent) -> Result<(), StoreError> {
        let Bucket { key, etag, tasks } = bucket;
        let value = TaskBucket { tasks }.encode_to_vec();
        if value.len() > MAX_BUCKET_BYTES {
            return Err(StoreError::BucketFull {
                key,
                bytes: value.len(),
            });
        }
        let event_json = todo_proto::json::to_json(event)?;
        // Without an etag the bucket must not exist yet: first-write then refuses a concurrent
        // creator of the same bucket.
        let write = StateOperation::upsert(key.clone(), value).with_etag(etag.as_ref());
        let projection = StateOperation::outbox_projection(key, event_json)
            .with_metadata("partitionKey", &event.task_id);
        self.dapr
            .transact(&self.store, vec![write, projection])
            .await?;
        Ok(())
    }
}

impl Bucket {
    /// Decodes a bucket from a bulk read; one that does not exist yet is empty.
    fn read(entry: BulkStateEntry) -> Result<Self, StoreError> {
        let tasks = match &entry.value {
            Some(value) => decode(&entry.key, value)?,
            None => Vec::new(),
        };
        Ok(Self {
            key: entry.key,
            etag: entry.etag,
            tasks,
        })
    }
}

/// Counts the tasks of a stored bucket without decoding them: walks the `TaskBucket` wire format,
/// skipping each field's bytes, and allocates nothing (at 10,000 tasks a create counts 15
/// buckets of about 600 tasks).
///
/// # Errors
/// [`StoreError::Corrupt`] for bytes that are not a `TaskBucket`, as decoding would say.
fn count_tasks(key: &str, mut value: &[u8]) -> Result<usize, StoreError> {
    use prost::encoding::{DecodeContext, WireType, check_wire_type, decode_key, skip_field};

    let mut count = 0;
    while !value.is_empty() {
        let (tag, wire_type) = decode_key(&mut value).map_err(|source| corrupt(key, source))?;
        if tag == 1 {
            check_wire_type(WireType::LengthDelimited, wire_type)
                .map_err(|source| corrupt(key, source))?;
            count += 1;
        }
        skip_field(wire_type, tag, &mut value, DecodeContext::default())
            .map_err(|source| corrupt(key, source))?;
    }
    Ok(count)
}

/// Reports a bucket left out of a listing or a count: no error reaches error.rs, so it is
/// logged here.
fn log_unreadable(key: &str, error: &StoreError) {
    tracing::error!(
        key,
        error = %error_chain(error),
        "bucket is unreadable: leaving its tasks out of listings and counts, refusing its \
         writes; see README.md, \"Repairing an unreadable bucket\""
    );
}

fn corrupt(key: &str, source: prost::DecodeError) -> StoreError {
    crate::metrics::record_unreadable_bucket();
    StoreError::Corrupt {
        key: key.to_string(),
        source,
    }
}

fn decode(key: &str, bytes: &[u8]) -> Result<Vec<Task>, StoreError> {
    TaskBucket::decode(bytes)
        .map(|bucket| bucket.tasks)
        .map_err(|source| corrupt(key, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_round_trips_through_its_stored_form() {
        let tasks = vec![Task {
            id: "a".into(),
            version: 3,
            ..Default::default()
        }];
        let bytes = TaskBucket {
            tasks: tasks.clone(),
        }
        .encode_to_vec();
        assert_eq!(decode("k", &bytes).unwrap(), tasks);
        assert!(matches!(
            decode("k", b"\xff\xff"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn counting_agrees_with_decoding() {
        let task = |n: i64| Task {
            id: format!("task-{n}"),
            title: "a title".into(),
            tags: vec!["a".into(), "b".into()],
            version: n,
            ..Default::default()
        };
        for size in [0, 1, 2, 625] {
            let bytes = TaskBucket {
                tasks: (0..size).map(task).collect(),
            }
            .encode_to_vec();
            let count = count_tasks("k", &bytes).unwrap();
            assert_eq!(count, decode("k", &bytes).unwrap().len(), "size {size}");
            assert_eq!(count, usize::try_from(size).unwrap(), "size {size}");
        }
        assert!(matches!(
            count_tasks("k", b"\xff\xff"),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
