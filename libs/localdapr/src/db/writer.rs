//! The single writer: one connection on its own thread. Writes queue on a bounded channel; the
//! thread takes every write that queued while it was busy (up to [`MAX_BATCH`]) and runs them
//! in one `BEGIN IMMEDIATE` transaction, each in its own savepoint, then commits once (group
//! commit) and only then answers them. A write is answered after the commit that holds it,
//! so it is as durable as a lone commit would have made it.
//!
//! Each write keeps its own semantics: it runs in order after the writes before it in the
//! batch (and sees them, so etags stay first-write-wins), and what it wraps in a savepoint of
//! its own ([`atomic`](super::atomic)) commits all or nothing. A write that returns an error
//! keeps what it left, as a statement outside a transaction would; one that panics is rolled
//! back to its savepoint. Neither touches the other writes of its batch. If the commit itself
//! fails, or SQLite rolls the whole transaction back (a full disk), every write of the batch
//! is answered with that failure: none of them is reported done.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::DbError;

/// The most writes committed together: bounds the wait of the first write of a batch.
const MAX_BATCH: usize = 256;
/// Writes that may wait for the writer; callers beyond it wait in [`Writer::write`].
const QUEUE_CAPACITY: usize = 1024;
/// The savepoint each write runs in.
const WRITE_SAVEPOINT: &str = "localdapr_write";

/// The sending side of the writer: cheap to clone; the thread stops when the last clone is
/// dropped, after the writes already queued.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    /// Transactions committed, for tests that check writes were grouped.
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `connection`.
    pub(super) fn start(connection: Connection) -> std::io::Result<Self> {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("localdapr-db-writer".into())
            .spawn(move || run(connection, receiver, &counted))?;
        Ok(Self { queue, commits })
    }

    /// Writes waiting for the writer thread.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        QUEUE_CAPACITY - self.queue.capacity()
    }

    /// Transactions committed so far.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `work` in the next batch and answers once that batch has committed.
    pub(super) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(PendingWrite {
            work: Some(work),
            outcome: None,
            reply,
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| E::from(DbError::WriterStopped))?;
        answer.await.map_err(|_| E::from(DbError::WriterStopped))?
    }
}

/// A queued write with its types erased, so one queue carries them all.
trait Job: Send {
    /// Runs the work (at most once); returns whether it panicked.
    fn run(&mut self, connection: &mut Connection) -> bool;
    /// Answers the caller: the work's own result, or `failure` when its batch did not commit.
    fn finish(self: Box<Self>, failure: Option<DbError>);
}

struct PendingWrite<F, T, E> {
    work: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for PendingWrite<F, T, E>
where
    F: FnOnce(&mut Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<DbError> + Send,
{
    fn run(&mut self, connection: &mut Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // The connection is not left broken by a panic: the writer rolls the write back.
        match std::panic::catch_unwind(AssertUnwindSafe(|| work(connection))) {
            Ok(outcome) => {
                self.outcome = Some(outcome);
                false
            }
            Err(_) => {
                self.outcome = Some(Err(E::from(DbError::Panicked)));
                true
            }
        }
    }

    fn finish(self: Box<Self>, failure: Option<DbError>) {
        let answer = match (failure, self.outcome) {
            (Some(failure), _) => Err(E::from(failure)),
            (None, Some(outcome)) => outcome,
            (None, None) => Err(E::from(DbError::Panicked)),
        };
        // A caller that went away no longer needs the answer; its write stands.
        let _ = self.reply.send(answer);
    }
}

/// The writer thread: a batch per wake-up until every sender is gone.
fn run(mut connection: Connection, mut queue: mpsc::Receiver<Box<dyn Job>>, commits: &AtomicU64) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&mut connection, &mut batch, commits);
    }
}

/// Runs `batch` in one transaction and answers every write of it; counts the commit in
/// `commits` before answering.
fn commit_batch(connection: &mut Connection, batch: &mut Vec<Box<dyn Job>>, commits: &AtomicU64) {
    // The writes whose work ran in the open transaction, answered when it commits.
    let mut ran: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
    let mut is_open = false;
    for mut job in batch.drain(..) {
        if !is_open {
            if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
                job.finish(Some(DbError::Transaction(Arc::new(error))));
                continue;
            }
            is_open = true;
        }
        if let Err(error) = connection.execute_batch(&format!("SAVEPOINT {WRITE_SAVEPOINT}")) {
            job.finish(Some(DbError::Transaction(Arc::new(error))));
            continue;
        }
        let panicked = job.run(connection);
        let closed = if panicked {
            connection.execute_batch(&format!(
                "ROLLBACK TO {WRITE_SAVEPOINT}; RELEASE {WRITE_SAVEPOINT}"
            ))
        } else {
            connection.execute_batch(&format!("RELEASE {WRITE_SAVEPOINT}"))
        };
        if connection.is_autocommit() {
            // SQLite rolled the whole transaction back (a full disk, an I/O error): the
            // writes before this one are lost with it, and none of them may be reported done.
            tracing::error!("a write failed and SQLite rolled back its batch");
            for lost in ran.drain(..) {
                lost.finish(Some(DbError::RolledBack));
            }
            job.finish(Some(DbError::RolledBack));
            is_open = false;
            continue;
        }
        if let Err(error) = closed {
            // The savepoint is still open inside the transaction: the batch cannot go on.
            let error = Arc::new(error);
            tracing::error!(error = %error, "cannot close a write's savepoint; rolling back its batch");
            rollback(connection);
            for lost in ran.drain(..) {
                lost.finish(Some(DbError::Transaction(error.clone())));
            }
            job.finish(Some(DbError::Transaction(error)));
            is_open = false;
            continue;
        }
        ran.push(job);
    }
    if !is_open {
        return;
    }
    match connection.execute_batch("COMMIT") {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            for job in ran {
                job.finish(None);
            }
        }
        Err(error) => {
            let error = Arc::new(error);
            tracing::error!(error = %error, writes = ran.len(), "cannot commit a batch of writes");
            rollback(connection);
            for job in ran {
                job.finish(Some(DbError::Transaction(error.clone())));
            }
        }
    }
}

/// Rolls back the open transaction, if SQLite has not already.
fn rollback(connection: &Connection) {
    if !connection.is_autocommit()
        && let Err(error) = connection.execute_batch("ROLLBACK")
    {
        tracing::error!(%error, "cannot roll back a failed batch of writes");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::{OptionalExtension, params};
    use tokio::task::JoinSet;

    use crate::{
        db::{Db, DbError, atomic},
        testsuite::wait_until,
    };

    async fn open() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), &[]).unwrap();
        db.write(|c| {
            Ok::<_, DbError>(
                c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, version INTEGER NOT NULL)")?,
            )
        })
        .await
        .unwrap();
        (dir, db)
    }

    /// Holds the writer thread in a write until the returned sender is dropped, so the writes
    /// made meanwhile queue up and commit as one batch.
    async fn hold_writer(db: &Db) -> std::sync::mpsc::Sender<()> {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (entered, inside) = tokio::sync::oneshot::channel();
        let db = db.clone();
        tokio::spawn(async move {
            db.write(move |_| {
                entered.send(()).unwrap();
                // Returns when the test drops `release`.
                held.recv().ok();
                Ok::<_, DbError>(())
            })
            .await
        });
        inside.await.unwrap();
        release
    }

    async fn wait_queued(db: &Db, writes: usize) {
        wait_until("the writes are queued", Duration::from_secs(10), || async {
            db.writer.queued() == writes
        })
        .await;
    }

    /// Sets `k` from `expected` to `expected + 1`, as an etag check does: a write that finds
    /// another version fails.
    fn bump(c: &mut rusqlite::Connection, expected: i64) -> Result<(), DbError> {
        let current: Option<i64> = c
            .query_row("SELECT version FROM t WHERE k = 'k'", [], |row| row.get(0))
            .optional()?;
        if current.unwrap_or(0) != expected {
            return Err(DbError::RolledBack);
        }
        c.execute(
            "INSERT INTO t (k, version) VALUES ('k', ?1)
             ON CONFLICT (k) DO UPDATE SET version = ?1",
            params![expected + 1],
        )?;
        Ok(())
    }

    async fn rows(db: &Db) -> Vec<(String, i64)> {
        db.read(|c| {
            let mut statement = c.prepare("SELECT k, version FROM t ORDER BY k")?;
            let rows = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok::<_, DbError>(rows)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn writes_queued_while_the_writer_is_busy_commit_in_one_transaction() {
        let (_dir, db) = open().await;
        let release = hold_writer(&db).await;
        let commits_before = db.writer.commits();
        let mut writes = JoinSet::new();
        for n in 0..20 {
            let db = db.clone();
            writes.spawn(async move {
                db.write(move |c| {
                    Ok::<_, DbError>(
                        c.execute("INSERT INTO t VALUES (?1, 0)", [format!("{n:02}")])?,
                    )
                })
                .await
            });
        }
        wait_queued(&db, 20).await;
        drop(release);
        while let Some(written) = writes.join_next().await {
            written.unwrap().unwrap();
        }
        assert_eq!(
            db.writer.commits() - commits_before,
            2,
            "the held write's batch, then one for the 20 queued behind it"
        );
        assert_eq!(rows(&db).await.len(), 20);
    }

    #[tokio::test]
    async fn of_concurrent_writes_under_one_version_exactly_one_wins() {
        let (_dir, db) = open().await;
        let release = hold_writer(&db).await;
        let mut writes = JoinSet::new();
        for _ in 0..10 {
            let db = db.clone();
            writes.spawn(async move { db.write(|c| bump(c, 0)).await });
        }
        wait_queued(&db, 10).await;
        drop(release);
        let outcomes: Vec<_> = writes.join_all().await;
        let won = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        assert_eq!(won, 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|outcome| matches!(outcome, Ok(()) | Err(DbError::RolledBack))),
            "the others saw the winner's version: {outcomes:?}"
        );
        assert_eq!(rows(&db).await, [("k".to_string(), 1)]);
    }

    #[tokio::test]
    async fn a_failing_or_panicking_write_leaves_the_rest_of_its_batch_committed() {
        let (_dir, db) = open().await;
        let release = hold_writer(&db).await;
        let insert = |key: &'static str| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |c| {
                    Ok::<_, DbError>(c.execute("INSERT INTO t VALUES (?1, 0)", [key])?)
                })
                .await
            })
        };
        let before = insert("before");
        wait_queued(&db, 1).await;
        let failing = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(|c| -> Result<(), DbError> {
                    let all_or_nothing = atomic(c)?;
                    all_or_nothing.execute("INSERT INTO t VALUES ('failed', 0)", [])?;
                    // A duplicate key: the savepoint is dropped, and rolls back.
                    all_or_nothing.execute("INSERT INTO t VALUES ('before', 0)", [])?;
                    all_or_nothing.commit()?;
                    Ok(())
                })
                .await
            })
        };
        wait_queued(&db, 2).await;
        let panicking = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(|c| -> Result<(), DbError> {
                    c.execute("INSERT INTO t VALUES ('panicked', 0)", [])?;
                    panic!("a bug in the middle of a write");
                })
                .await
            })
        };
        wait_queued(&db, 3).await;
        let after = insert("after");
        wait_queued(&db, 4).await;
        drop(release);

        before.await.unwrap().unwrap();
        let failed = failing.await.unwrap().unwrap_err();
        assert!(matches!(failed, DbError::Sqlite(_)), "{failed:?}");
        let panicked = panicking.await.unwrap().unwrap_err();
        assert!(matches!(panicked, DbError::Panicked), "{panicked:?}");
        after.await.unwrap().unwrap();
        let keys: Vec<String> = rows(&db).await.into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["after", "before"]);
    }

    #[tokio::test]
    async fn a_write_whose_caller_went_away_still_commits() {
        let (_dir, db) = open().await;
        let release = hold_writer(&db).await;
        let abandoned = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(|c| Ok::<_, DbError>(c.execute("INSERT INTO t VALUES ('kept', 0)", [])?))
                    .await
            })
        };
        wait_queued(&db, 1).await;
        abandoned.abort();
        drop(release);
        wait_until(
            "the abandoned write commits",
            Duration::from_secs(10),
            || async { rows(&db).await.len() == 1 },
        )
        .await;
    }
}
