//! `audit_logs` through a sqlx pool, on PostgreSQL or SQLite: migrations at startup, insert-or-
//! ignore on the event id, and a page of one task's history. Each database gets its own SQL
//! (casts to `uuid`/`jsonb` on PostgreSQL, fixed-width UTC text times on SQLite); both order a
//! history by (occurred_at, task_version, event_id).

use std::{future::Future, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{
    PgPool, SqlitePool,
    migrate::Migrator,
    postgres::PgPoolOptions,
    sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use todo_core::{TaskId, UserId};

use crate::{audit_record::AuditRecord, database_url::DatabaseUrl};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a caller waits for a pooled connection before the attempt counts as failed.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long startup keeps trying while the first connection times out (a database still
/// starting, or a machine too busy to open it within [`ACQUIRE_TIMEOUT`]).
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// How long SQLite waits for another connection's write lock before failing with BUSY.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The audit log's storage. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct AuditLog {
    pool: Pool,
}

#[derive(Clone, Debug)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// What recording an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A new row.
    Inserted,
    /// The event id was already there (a redelivery): nothing changed.
    Duplicate,
}

/// A failed database call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, or refused the connection.
    #[error("cannot connect to the {kind} audit database")]
    Connect {
        /// The database kind.
        kind: &'static str,
        /// sqlx's reason.
        #[source]
        source: sqlx::Error,
    },
    /// The migrations failed.
    #[error("cannot migrate the {kind} audit database")]
    Migrate {
        /// The database kind.
        kind: &'static str,
        /// sqlx's reason.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("audit database query failed: {operation}")]
    Query {
        /// What was being done.
        operation: &'static str,
        /// sqlx's reason.
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    fn query(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Query { operation, source }
    }

    /// Whether trying again later may succeed: the connection, the pool or the server failed
    /// rather than the statement. A constraint violation will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        let source = match self {
            Self::Connect { .. } | Self::Migrate { .. } => return true,
            Self::Query { source, .. } => source,
        };
        match source {
            sqlx::Error::Database(error) => matches!(error.kind(), sqlx::error::ErrorKind::Other),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => true,
            _ => false,
        }
    }
}

impl AuditLog {
    /// Opens a pool of up to `max_connections` to `url` and applies the migrations. A SQLite
    /// file is created if missing, in WAL mode so history reads never block event writes.
    ///
    /// # Errors
    /// [`StoreError::Connect`] or [`StoreError::Migrate`].
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self, StoreError> {
        let kind = url.kind();
        let connect = |source| StoreError::Connect { kind, source };
        let migrate = |source| StoreError::Migrate { kind, source };
        let pool = match url {
            DatabaseUrl::Postgres(options) => {
                let pool = until_connected(|| {
                    PgPoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_with(options.clone())
                })
                .await
                .map_err(connect)?;
                POSTGRES_MIGRATIONS.run(&pool).await.map_err(migrate)?;
                Pool::Postgres(pool)
            }
            DatabaseUrl::Sqlite(options) => {
                let options = options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT);
                let pool = until_connected(|| {
                    SqlitePoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_with(options.clone())
                })
                .await
                .map_err(connect)?;
                SQLITE_MIGRATIONS.run(&pool).await.map_err(migrate)?;
                Pool::Sqlite(pool)
            }
        };
        Ok(Self { pool })
    }

    /// Writes `record` unless its event id is already there.
    ///
    /// # Errors
    /// [`StoreError::Query`]; [`StoreError::is_transient`] says whether to retry.
    pub async fn record(&self, record: &AuditRecord) -> Result<Recorded, StoreError> {
        let rows = match &self.pool {
            Pool::Postgres(pool) => sqlx::query(
                "INSERT INTO audit_logs (event_id, task_id, user_id, event_type, task_version, \
                 actor, occurred_at, recorded_at, trace_id, event) \
                 VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, $7, $8, $9, $10::jsonb) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(record.event_id.to_string())
            .bind(record.task_id.to_string())
            .bind(record.user_id.to_string())
            .bind(record.event_type)
            .bind(record.task_version)
            .bind(&record.actor)
            .bind(record.occurred_at)
            .bind(record.recorded_at)
            .bind(&record.trace_id)
            .bind(&record.event_json)
            .execute(pool)
            .await
            .map_err(StoreError::query("insert an event"))?
            .rows_affected(),
            Pool::Sqlite(pool) => sqlx::query(
                "INSERT INTO audit_logs (event_id, task_id, user_id, event_type, task_version, \
                 actor, occurred_at, recorded_at, trace_id, event) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(record.event_id.to_string())
            .bind(record.task_id.to_string())
            .bind(record.user_id.to_string())
            .bind(record.event_type)
            .bind(record.task_version)
            .bind(&record.actor)
            .bind(sortable_utc(record.occurred_at))
            .bind(sortable_utc(record.recorded_at))
            .bind(&record.trace_id)
            .bind(&record.event_json)
            .execute(pool)
            .await
            .map_err(StoreError::query("insert an event"))?
            .rows_affected(),
        };
        Ok(if rows == 0 {
            Recorded::Duplicate
        } else {
            Recorded::Inserted
        })
    }

    /// The event JSON of up to `limit` entries of `user`'s history of `task`, oldest first,
    /// skipping the first `offset`. Another user's task has no history here.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn history(
        &self,
        user: &UserId,
        task: &TaskId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::from(limit);
        let read = StoreError::query("read a task history");
        match &self.pool {
            Pool::Postgres(pool) => sqlx::query_scalar(
                "SELECT event::text FROM audit_logs \
                 WHERE user_id = $1::uuid AND task_id = $2::uuid \
                 ORDER BY occurred_at, task_version, event_id LIMIT $3 OFFSET $4",
            )
            .bind(user.to_string())
            .bind(task.to_string())
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
            .map_err(read),
            Pool::Sqlite(pool) => sqlx::query_scalar(
                "SELECT event FROM audit_logs \
                 WHERE user_id = $1 AND task_id = $2 \
                 ORDER BY occurred_at, task_version, event_id LIMIT $3 OFFSET $4",
            )
            .bind(user.to_string())
            .bind(task.to_string())
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
            .map_err(read),
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }

    /// Runs one statement as is and returns the rows it affected: for tests that try what the
    /// service never does (UPDATE, DELETE) and count rows.
    ///
    /// # Errors
    /// The database's answer.
    #[cfg(feature = "testsuite")]
    pub async fn execute_unchecked(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        Ok(match &self.pool {
            Pool::Postgres(pool) => sqlx::query(sql).execute(pool).await?.rows_affected(),
            Pool::Sqlite(pool) => sqlx::query(sql).execute(pool).await?.rows_affected(),
        })
    }

    /// Counts the rows of `audit_logs`, and the distinct event ids among them.
    ///
    /// # Errors
    /// The database's answer.
    #[cfg(feature = "testsuite")]
    pub async fn count_rows(&self) -> Result<(i64, i64), sqlx::Error> {
        const SQL: &str = "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM audit_logs";
        match &self.pool {
            Pool::Postgres(pool) => sqlx::query_as(SQL).fetch_one(pool).await,
            Pool::Sqlite(pool) => sqlx::query_as(SQL).fetch_one(pool).await,
        }
    }
}

/// A UTC time as fixed-width RFC 3339 text (nanoseconds, `Z`), so text order is time order.
fn sortable_utc(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Opens a pool with `connect`, trying again while the first connection times out, until
/// [`STARTUP_DEADLINE`]; any other error (a refused password, a bad path) fails at once.
async fn until_connected<P, F, Fut>(mut connect: F) -> Result<P, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<P, sqlx::Error>>,
{
    let deadline = tokio::time::Instant::now() + STARTUP_DEADLINE;
    loop {
        match connect().await {
            Err(sqlx::Error::PoolTimedOut) if tokio::time::Instant::now() < deadline => {
                tracing::warn!("the audit database did not answer in time; trying again");
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_times_sort_as_text_in_time_order() {
        let times = [
            "2026-03-29T00:59:59.999999999Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:00:00.000000001Z",
            "2026-03-29T01:00:00.5Z",
        ]
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        });
        let text: Vec<String> = times.iter().copied().map(sortable_utc).collect();
        let mut sorted = text.clone();
        sorted.sort();
        assert_eq!(text, sorted);
        assert!(text.iter().all(|t| t.len() == text[0].len()));
    }

    #[test]
    fn connection_failures_are_transient_and_constraint_violations_are_not() {
        let timeout = StoreError::query("insert")(sqlx::Error::PoolTimedOut);
        assert!(timeout.is_transient());
        let io = StoreError::query("insert")(sqlx::Error::Io(std::io::Error::other("reset")));
        assert!(io.is_transient());
        let decode = StoreError::query("read")(sqlx::Error::ColumnNotFound("event".into()));
        assert!(!decode.is_transient());
    }
}
