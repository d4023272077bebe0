//! The one SQLite database (WAL) that holds everything localdapr keeps: state, the pub/sub log
//! and its consumer groups, and jobs. One database is what makes the outbox truly atomic: the
//! state write and the published message commit in the same SQLite transaction.
//!
//! - `writer`: every write goes to one connection on its own thread ([`Db::write`]), which
//!   commits the writes that queued while it was busy as one transaction, each in its own
//!   savepoint (group commit): one commit per batch instead of one per request, and no thread
//!   per waiting request.
//! - `read_pool`: reads run on a few `query_only` connections ([`Db::read`]), each in one read
//!   transaction; WAL lets them run beside the writer.
//!
//! A write is answered only after the commit that holds it, at `synchronous = NORMAL` (durable
//! across a crash of the process, which is what a local runtime needs). One more connection
//! only checkpoints the WAL ([`Db::checkpoint`]), so no commit waits for that fsync. The data
//! directory is locked to one process (`localdapr.lock`), and private to its owner
//! (`private_data`: `0700`, files `0600`).
//!
//! Each module owns its tables: it describes them in a [`Migration`], and whoever opens the
//! database ([`LocalDapr::start`](crate::LocalDapr::start)) passes the list to [`Db::open`].

mod read_pool;
mod writer;

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use nix::{
    errno::Errno,
    fcntl::{Flock, FlockArg},
};
use rusqlite::{Connection, Savepoint};

use self::{read_pool::ReadPool, writer::Writer};
use crate::private_data;

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite reported an error.
    #[error("sqlite error")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be created or made private.
    #[error("cannot create the data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The data directory is open to other users and is not localdapr's to change.
    #[error(
        "the data directory {path} is open to other users (mode {mode:o}) and {reason}, so \
         localdapr will not make it private; use a directory of your own"
    )]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
        /// Why it is left alone.
        reason: &'static str,
    },
    /// A database file could not be created or made private (`0600`).
    #[error("cannot make {path} private")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the data directory's lock.
    #[error(
        "the data directory {path} is in use by another localdapr process (it holds {lock_file})"
    )]
    InUse {
        /// The data directory.
        path: PathBuf,
        /// The lock file.
        lock_file: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock the data directory {path}")]
    Lock {
        /// The data directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The blocking task running a read or a checkpoint panicked or was cancelled.
    #[error("database task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The write panicked; what it wrote was rolled back.
    #[error("database write panicked")]
    Panicked,
    /// The transaction holding the write could not begin or commit: the write did not happen.
    #[error("the write transaction failed")]
    Transaction(#[source] Arc<rusqlite::Error>),
    /// SQLite rolled back the transaction holding the write, after another write of its batch
    /// failed (a full disk, an I/O error): the write did not happen.
    #[error("the write transaction was rolled back")]
    RolledBack,
    /// The writer thread has stopped: the database is closed.
    #[error("the database writer has stopped")]
    WriterStopped,
    /// The writer thread could not be started.
    #[error("cannot start the database writer")]
    StartWriter(#[source] std::io::Error),
}

/// Brings a database written by an older localdapr up to a module's schema, keeping its data;
/// `now` (milliseconds since the Unix epoch) stamps rows that need a time.
pub type Upgrade = fn(connection: &mut Connection, now: i64) -> rusqlite::Result<()>;

/// One module's tables: created at every open if missing, then upgraded if they are older.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// The module that owns the tables, named in the log when they cannot be set up.
    pub module: &'static str,
    /// `CREATE TABLE IF NOT EXISTS …` statements: a no-op on a database that has them.
    pub schema: &'static str,
    /// Run after `schema`, for tables an older localdapr created with fewer columns.
    pub upgrade: Option<Upgrade>,
}

impl Migration {
    /// Applies the schema, then the upgrade.
    fn apply(&self, connection: &mut Connection, now: i64) -> rusqlite::Result<()> {
        connection.execute_batch(self.schema).inspect_err(
            |e| tracing::error!(module = self.module, error = %e, "cannot apply schema"),
        )?;
        if let Some(upgrade) = self.upgrade {
            upgrade(connection, now).inspect_err(
                |e| tracing::error!(module = self.module, error = %e, "cannot migrate the schema"),
            )?;
        }
        Ok(())
    }
}

/// WAL pages after which a commit checkpoints the WAL itself. Checkpoints normally run on
/// their own connection ([`Db::checkpoint`]); this only bounds the WAL if they fall behind.
const BACKSTOP_CHECKPOINT_PAGES: u32 = 10_000;

/// The shared database handle; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    /// The one write connection's queue; its thread stops when the last handle is dropped.
    writer: Writer,
    readers: Arc<ReadPool>,
    /// A second connection for WAL checkpoints: a checkpoint fsyncs, and on the main
    /// connection it would stall whichever request's commit triggered it.
    checkpointer: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// The exclusive lock on `<data_dir>/localdapr.lock`: two processes on one database would
    /// each deliver every message and fire every job. Held until [`Db::release_lock`] or the
    /// last handle is dropped.
    lock: Arc<Mutex<Option<Flock<File>>>>,
}

impl Db {
    /// Locks `data_dir` for this process, then opens (creating if needed) `localdapr.db` under
    /// it and applies `migrations` in order. Blocking: call it off the async threads.
    ///
    /// # Errors
    /// [`DbError::InUse`] when another process holds the directory; otherwise when the
    /// directory or database cannot be created or migrated.
    pub fn open(data_dir: &Path, migrations: &[Migration]) -> Result<Self, DbError> {
        private_data::ensure_dir(data_dir)?;
        let lock = lock_data_dir(data_dir)?;
        private_data::ensure_files(data_dir)?;
        let path = data_dir.join(private_data::DATABASE_FILE);
        let mut connection = Connection::open(&path)?;
        // WAL lets a crash lose nothing that was committed, and readers run beside the writer.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        configure(&connection)?;
        connection.pragma_update(None, "wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES)?;
        for migration in migrations {
            migration.apply(&mut connection, now_millis())?;
        }
        let readers = Arc::new(ReadPool::open(&path)?);
        let checkpointer = Connection::open(&path)?;
        configure(&checkpointer)?;
        Ok(Self {
            writer: Writer::start(connection).map_err(DbError::StartWriter)?,
            readers,
            checkpointer: Arc::new(Mutex::new(checkpointer)),
            path,
            lock: Arc::new(Mutex::new(Some(lock))),
        })
    }

    /// Releases the data directory at shutdown, so a new runtime may open it even while
    /// aborted tasks still hold clones of this handle.
    pub fn release_lock(&self) {
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// Copies committed WAL pages into the database file on the checkpoint connection. A
    /// passive checkpoint neither waits for nor blocks writers, so commits stay free of fsyncs;
    /// the runtime calls this every [`CHECKPOINT_INTERVAL`](crate::runtime::CHECKPOINT_INTERVAL).
    ///
    /// # Errors
    /// SQLite errors, or a task failure.
    pub async fn checkpoint(&self) -> Result<(), DbError> {
        let checkpointer = self.checkpointer.clone();
        tokio::task::spawn_blocking(move || {
            let connection = checkpointer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .map_err(DbError::Task)?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the write connection, inside the next batch's transaction, and answers
    /// once that transaction has committed. `work` must not begin or end a transaction itself:
    /// what must be all or nothing goes in a savepoint of its own ([`atomic`]).
    ///
    /// # Errors
    /// What `work` returns; [`DbError::Panicked`] when it panics; [`DbError::Transaction`] or
    /// [`DbError::RolledBack`] when its batch did not commit.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// Runs `work` on a read connection of the pool, in one read transaction: it sees every
    /// write answered before it started, and nothing committed while it runs.
    ///
    /// # Errors
    /// What `work` returns, or a task failure.
    pub async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.readers.read(work).await
    }
}

/// The settings every connection shares. NORMAL sync in WAL mode is durable across a crash of
/// the process (not a power loss), which is what a local runtime needs.
fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))
}

/// Takes the exclusive, non-blocking `flock` on `<data_dir>/localdapr.lock`. The kernel drops
/// it when the process ends, however it ends, so a crash leaves no stale lock behind.
fn lock_data_dir(data_dir: &Path) -> Result<Flock<File>, DbError> {
    let lock_file = data_dir.join(private_data::LOCK_FILE);
    let lock_error = |source| DbError::Lock {
        path: data_dir.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(private_data::FILE_MODE)
        .open(&lock_file)
        .map_err(lock_error)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == Errno::EWOULDBLOCK {
            DbError::InUse {
                path: data_dir.to_path_buf(),
                lock_file,
            }
        } else {
            lock_error(std::io::Error::from(errno))
        }
    })
}

/// Begins a savepoint: what runs in it commits all or nothing (`commit` releases it, dropping
/// it rolls it back). Inside [`Db::write`] it nests in the batch's transaction; on a connection
/// outside a transaction (tests) it is one.
pub fn atomic(connection: &mut Connection) -> rusqlite::Result<Savepoint<'_>> {
    connection.savepoint()
}

/// Milliseconds since the Unix epoch: the time unit of every timestamp column.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reopening_the_same_directory_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), &[]).unwrap();
        db.write(|c| {
            c.execute("CREATE TABLE t (v TEXT)", [])?;
            c.execute("INSERT INTO t VALUES ('kept')", [])?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
        drop(db);
        let reopened = Db::open(dir.path(), &[]).unwrap();
        let value: String = reopened
            .read(|c| Ok::<_, DbError>(c.query_row("SELECT v FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(value, "kept");
    }

    #[tokio::test]
    async fn open_applies_each_schema_then_its_upgrade_at_every_open() {
        fn stamp(connection: &mut Connection, now: i64) -> rusqlite::Result<()> {
            connection.execute("INSERT INTO t VALUES (?1)", [now])?;
            Ok(())
        }
        let migrations = [Migration {
            module: "test",
            schema: "CREATE TABLE IF NOT EXISTS t (stamped_at INTEGER NOT NULL)",
            upgrade: Some(stamp),
        }];
        let dir = tempfile::tempdir().unwrap();
        Db::open(dir.path(), &migrations).unwrap().release_lock();
        let reopened = Db::open(dir.path(), &migrations).unwrap();
        let rows: i64 = reopened
            .read(|c| Ok::<_, DbError>(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(
            rows, 2,
            "the table is kept and the upgrade runs at each open"
        );
    }

    #[test]
    fn a_second_open_of_a_locked_directory_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = Db::open(dir.path(), &[]).unwrap();
        let second = Db::open(dir.path(), &[]).unwrap_err();
        assert!(matches!(second, DbError::InUse { .. }), "{second:?}");
        assert!(
            second
                .to_string()
                .contains(&dir.path().display().to_string()),
            "{second}"
        );
        first.release_lock();
        Db::open(dir.path(), &[]).expect("the released directory opens again");
    }

    #[tokio::test]
    async fn a_panic_inside_a_transaction_leaves_the_database_usable() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), &[]).unwrap();
        db.write(|c| Ok::<_, DbError>(c.execute_batch("CREATE TABLE t (v TEXT)")?))
            .await
            .unwrap();
        let panicked = db
            .write(|c| -> Result<(), DbError> {
                let transaction = atomic(c)?;
                transaction.execute("INSERT INTO t VALUES ('lost')", [])?;
                panic!("a bug in the middle of a transaction");
            })
            .await;
        assert!(matches!(panicked, Err(DbError::Panicked)), "{panicked:?}");
        let rows: i64 = db
            .read(|c| Ok::<_, DbError>(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
            .await
            .expect("the connection still serves calls");
        assert_eq!(rows, 0, "the unfinished transaction was rolled back");
        db.write(|c| Ok::<_, DbError>(c.execute("INSERT INTO t VALUES ('kept')", [])?))
            .await
            .expect("and takes writes");
    }
}
