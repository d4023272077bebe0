//! The durable side of jobs: one SQLite row per job with the job as scheduled and its
//! [`Progress`], so jobs and their retries survive a restart.
//!
//! Every write after a trigger names the job's `revision` (a new one per `ScheduleJob`), so a
//! trigger that finishes after its job was replaced or deleted changes nothing.

use chrono::{DateTime, Utc};
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use todo_proto::dapr::proto::runtime::v1 as dapr;

use super::{progress::Progress, spec::Begin};
use crate::db::DbError;

/// The jobs table. Times are microseconds since the Unix epoch.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The Job as scheduled (protobuf), returned by GetJob and ListJobs.
    job BLOB NOT NULL,
    revision INTEGER NOT NULL,
    begin_micros INTEGER NOT NULL,
    begin_is_due_time INTEGER NOT NULL,
    expiration_micros INTEGER,
    tick_count INTEGER NOT NULL,
    last_tick_micros INTEGER,
    tick_micros INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_micros INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
) WITHOUT ROWID;
";

/// A job as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredJob {
    /// The app that scheduled it.
    pub app_id: String,
    /// The job as scheduled.
    pub job: dapr::Job,
    /// Which `ScheduleJob` wrote it.
    pub revision: i64,
    /// When its clock starts.
    pub begin: Begin,
    /// When it expires.
    pub expiration: Option<DateTime<Utc>>,
    /// Where it is in its schedule.
    pub progress: Progress,
}

/// Microseconds since the epoch, rounded up so a stored time is never earlier than the real one.
fn to_micros(time: DateTime<Utc>) -> i64 {
    let micros = time.timestamp_micros();
    if time.timestamp_subsec_nanos().is_multiple_of(1_000) {
        micros
    } else {
        micros.saturating_add(1)
    }
}

fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Inserts or replaces a job.
///
/// # Errors
/// SQLite errors.
pub fn put(connection: &Connection, stored: &StoredJob) -> Result<(), DbError> {
    let (begin, begin_is_due_time) = match stored.begin {
        Begin::DueTime(time) => (time, true),
        Begin::Start(time) => (time, false),
    };
    let progress = &stored.progress;
    connection.execute(
        "INSERT OR REPLACE INTO jobs (app_id, name, job, revision, begin_micros,
             begin_is_due_time, expiration_micros, tick_count, last_tick_micros, tick_micros,
             attempts, next_attempt_micros)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            stored.app_id,
            stored.job.name,
            stored.job.encode_to_vec(),
            stored.revision,
            to_micros(begin),
            begin_is_due_time,
            stored.expiration.map(to_micros),
            progress.count,
            progress.last_tick.map(to_micros),
            to_micros(progress.tick),
            progress.attempts,
            to_micros(progress.next_attempt),
        ],
    )?;
    Ok(())
}

/// Records a job's progress, if the job is still at `revision`.
///
/// # Errors
/// SQLite errors.
pub fn put_progress(
    connection: &Connection,
    app_id: &str,
    name: &str,
    revision: i64,
    progress: &Progress,
) -> Result<(), DbError> {
    connection.execute(
        "UPDATE jobs SET tick_count = ?4, last_tick_micros = ?5, tick_micros = ?6,
             attempts = ?7, next_attempt_micros = ?8
         WHERE app_id = ?1 AND name = ?2 AND revision = ?3",
        params![
            app_id,
            name,
            revision,
            progress.count,
            progress.last_tick.map(to_micros),
            to_micros(progress.tick),
            progress.attempts,
            to_micros(progress.next_attempt),
        ],
    )?;
    Ok(())
}

/// Deletes a job; with a `revision`, only if it is still that one.
///
/// # Errors
/// SQLite errors.
pub fn delete(
    connection: &Connection,
    app_id: &str,
    name: &str,
    revision: Option<i64>,
) -> Result<(), DbError> {
    connection.execute(
        "DELETE FROM jobs WHERE app_id = ?1 AND name = ?2 AND (?3 IS NULL OR revision = ?3)",
        params![app_id, name, revision],
    )?;
    Ok(())
}

/// Deletes the app's jobs whose names start with `prefix` (all of them for an empty prefix).
///
/// # Errors
/// SQLite errors.
pub fn delete_prefix(connection: &Connection, app_id: &str, prefix: &str) -> Result<(), DbError> {
    connection.execute(
        "DELETE FROM jobs WHERE app_id = ?1 AND substr(name, 1, length(?2)) = ?2",
        params![app_id, prefix],
    )?;
    Ok(())
}

/// Reads every job; rows that cannot be decoded are logged and skipped.
///
/// # Errors
/// SQLite errors.
pub fn load_all(connection: &Connection) -> Result<Vec<StoredJob>, DbError> {
    let mut statement = connection.prepare(
        "SELECT app_id, job, revision, begin_micros, begin_is_due_time, expiration_micros,
             tick_count, last_tick_micros, tick_micros, attempts, next_attempt_micros
         FROM jobs ORDER BY app_id, name",
    )?;
    let rows = statement.query_map([], |row| {
        let app_id: String = row.get(0)?;
        let job: Vec<u8> = row.get(1)?;
        let begin = from_micros(row.get(3)?);
        let begin_is_due_time: bool = row.get(4)?;
        let expiration: Option<i64> = row.get(5)?;
        let last_tick: Option<i64> = row.get(7)?;
        Ok((
            app_id,
            job,
            row.get::<_, i64>(2)?,
            if begin_is_due_time {
                Begin::DueTime(begin)
            } else {
                Begin::Start(begin)
            },
            expiration.map(from_micros),
            Progress {
                count: row.get(6)?,
                last_tick: last_tick.map(from_micros),
                tick: from_micros(row.get(8)?),
                attempts: row.get(9)?,
                next_attempt: from_micros(row.get(10)?),
            },
        ))
    })?;
    let mut jobs = Vec::new();
    for row in rows {
        let (app_id, job, revision, begin, expiration, progress) = row?;
        match dapr::Job::decode(job.as_slice()) {
            Ok(job) => jobs.push(StoredJob {
                app_id,
                job,
                revision,
                begin,
                expiration,
                progress,
            }),
            Err(error) => {
                tracing::error!(app_id, %error, "skipping a stored job that cannot be decoded")
            }
        }
    }
    Ok(jobs)
}

/// The highest revision stored, so new revisions stay unique across restarts.
///
/// # Errors
/// SQLite errors.
pub fn max_revision(connection: &Connection) -> Result<i64, DbError> {
    let revision: Option<i64> = connection
        .query_row("SELECT max(revision) FROM jobs", [], |row| row.get(0))
        .optional()?
        .flatten();
    Ok(revision.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn stored_times_round_up_to_the_microsecond() {
        let time = DateTime::from_timestamp(1_800_000_000, 1_500).unwrap();
        let stored = from_micros(to_micros(time));
        assert!(stored >= time && stored - time < TimeDelta::microseconds(1));
        let whole = DateTime::from_timestamp(1_800_000_000, 2_000).unwrap();
        assert_eq!(from_micros(to_micros(whole)), whole);
    }

    #[test]
    fn a_job_round_trips_and_revision_guards_later_writes() {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        let tick = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let stored = StoredJob {
            app_id: "app".into(),
            job: dapr::Job {
                name: "reminder-1".into(),
                due_time: Some("2027-01-15T08:00:00Z".into()),
                ..Default::default()
            },
            revision: 7,
            begin: Begin::DueTime(tick),
            expiration: None,
            progress: Progress {
                count: 0,
                last_tick: None,
                tick,
                attempts: 0,
                next_attempt: tick,
            },
        };
        put(&connection, &stored).unwrap();
        let retried = Progress {
            attempts: 1,
            next_attempt: tick + TimeDelta::seconds(1),
            ..stored.progress
        };
        put_progress(&connection, "app", "reminder-1", 6, &retried).unwrap();
        assert_eq!(load_all(&connection).unwrap(), vec![stored.clone()]);
        put_progress(&connection, "app", "reminder-1", 7, &retried).unwrap();
        assert_eq!(load_all(&connection).unwrap()[0].progress, retried);
        assert_eq!(max_revision(&connection).unwrap(), 7);
        delete(&connection, "app", "reminder-1", Some(6)).unwrap();
        assert_eq!(load_all(&connection).unwrap().len(), 1);
        delete_prefix(&connection, "app", "rem").unwrap();
        assert!(load_all(&connection).unwrap().is_empty());
    }
}
