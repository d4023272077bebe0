//! The read connections: WAL lets readers run beside the writer and each other, so reads do
//! not queue behind writes. Each read runs on the blocking pool in one read transaction (a
//! single snapshot, however many statements), on a connection opened `query_only` so a write
//! sent here by mistake fails instead of bypassing the writer.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::{DbError, configure};

/// Read connections: enough to keep both cores of a small machine busy while the writer runs.
pub(super) const READERS: usize = 4;

/// The idle read connections, and a permit per connection.
#[derive(Debug)]
pub(super) struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// Opens [`READERS`] connections to the database at `path`.
    pub(super) fn open(path: &Path) -> Result<Self, DbError> {
        let idle = (0..READERS)
            .map(|_| {
                let connection = Connection::open(path)?;
                configure(&connection)?;
                connection.pragma_update(None, "query_only", "ON")?;
                Ok(connection)
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(Self {
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(READERS)),
        })
    }

    /// Runs `work` on an idle connection, inside a read transaction.
    pub(super) async fn read<T, E, F>(self: &Arc<Self>, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        // Waiting here, not on the blocking pool, keeps at most READERS threads on reads.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the read pool's semaphore is never closed");
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the lease is back (locals drop in reverse order), even when the caller
            // stops waiting: a permit always finds an idle connection.
            let _permit = permit;
            let mut lease = Lease::take(&pool);
            let transaction = lease.connection().transaction().map_err(DbError::from)?;
            work(&transaction)
        })
        .await
        .map_err(|e| E::from(DbError::Task(e)))?
    }
}

/// A connection out of the pool; it goes back when the lease is dropped, even by a panic (the
/// read transaction on it is rolled back first, when its `Transaction` drops).
struct Lease<'a> {
    pool: &'a ReadPool,
    connection: Option<Connection>,
}

impl<'a> Lease<'a> {
    fn take(pool: &'a ReadPool) -> Self {
        let connection = pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        Self { pool, connection }
    }

    fn connection(&mut self) -> &mut Connection {
        self.connection
            .as_mut()
            .expect("a permit guarantees an idle connection")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
        }
    }
}
