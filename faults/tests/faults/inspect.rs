//! What the runs left on disk, read as SQLite files: localdapr's log and jobs
//! (`<data dir>/localdapr.db`) and audit's `audit_logs`. A read sees every committed write
//! (WAL), and never blocks the runtime's writers.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Where localdapr's deliveries and jobs stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// Deliveries not yet acknowledged, over every consumer group.
    pub pending: i64,
    /// Jobs that have yet to fire.
    pub jobs: i64,
    /// Messages on the dead-letter topics (`*-dlq`).
    pub dead_letters: i64,
}

impl Backlog {
    /// Whether nothing is left to deliver or fire: nothing more can happen by itself.
    pub fn is_settled(&self) -> bool {
        self.pending == 0 && self.jobs == 0
    }
}

/// localdapr's backlog in `data_dir`.
pub fn backlog(data_dir: &Path) -> Backlog {
    let connection = open(&data_dir.join("localdapr.db"));
    let count = |sql: &str| connection.query_row(sql, [], |row| row.get(0)).unwrap();
    Backlog {
        pending: count("SELECT count(*) FROM pubsub_pending"),
        jobs: count("SELECT count(*) FROM jobs"),
        dead_letters: count("SELECT count(*) FROM pubsub_messages WHERE topic LIKE '%-dlq'"),
    }
}

/// The rows of `audit_logs`; 0 before audit created the table.
pub fn audit_rows(audit_db: &Path) -> i64 {
    open(audit_db)
        .query_row("SELECT count(*) FROM audit_logs", [], |row| row.get(0))
        .unwrap_or(0)
}

fn open(path: &Path) -> Connection {
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .unwrap_or_else(|error| panic!("cannot open {}: {error}", path.display()));
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    connection
}
