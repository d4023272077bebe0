//! The log's tables, and the in-place upgrade of those an older localdapr created.

use rusqlite::{Connection, params};

use super::mark_key_heads;
use crate::db::atomic;

/// The pub/sub tables.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pubsub_messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    pubsub        TEXT    NOT NULL,
    topic         TEXT    NOT NULL,
    partition_key TEXT,
    payload       BLOB    NOT NULL,
    metadata      TEXT    NOT NULL,
    published_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pubsub_messages_topic ON pubsub_messages (pubsub, topic, seq);
CREATE INDEX IF NOT EXISTS pubsub_messages_published ON pubsub_messages (published_at);
CREATE TABLE IF NOT EXISTS pubsub_groups (
    group_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    pubsub         TEXT    NOT NULL,
    topic          TEXT    NOT NULL,
    consumer       TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    -- When a member last joined or acknowledged; groups idle past the retention are deleted.
    last_active_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (pubsub, topic, consumer)
);
CREATE TABLE IF NOT EXISTS pubsub_pending (
    group_id        INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    partition_key   TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- 1 when the row may be delivered as far as ordering goes: unkeyed, or the oldest pending
    -- row of its key. Kept up to date on append, ack and dead letter, so `due` reads heads only.
    is_head         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pubsub_pending_key
    ON pubsub_pending (group_id, partition_key, seq) WHERE partition_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS pubsub_pending_seq ON pubsub_pending (seq);
";

/// Indexes on columns that [`migrate`] may have to add first. One partial index of the heads
/// serves both delivery queries, in due order; every index costs a page write per commit.
const MIGRATED_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS pubsub_pending_due
    ON pubsub_pending (group_id, next_attempt_at, seq) WHERE is_head = 1;
";

/// Brings a database written by an older localdapr up to [`SCHEMA`], in one transaction.
/// Columns are added with `ALTER TABLE` where missing, so existing data is kept.
pub(crate) fn migrate(connection: &mut Connection, now: i64) -> rusqlite::Result<()> {
    let transaction = atomic(connection)?;
    if add_column_if_missing(
        &transaction,
        "pubsub_groups",
        "last_active_at",
        "INTEGER NOT NULL DEFAULT 0",
    )? {
        // Groups from before count as active now: each gets a full retention period to return.
        transaction.execute("UPDATE pubsub_groups SET last_active_at = ?1", params![now])?;
    }
    if add_column_if_missing(
        &transaction,
        "pubsub_pending",
        "is_head",
        "INTEGER NOT NULL DEFAULT 0",
    )? {
        transaction.execute(
            "UPDATE pubsub_pending SET is_head = 1 WHERE partition_key IS NULL",
            [],
        )?;
        mark_key_heads(&transaction, None)?;
    }
    transaction.execute_batch(MIGRATED_INDEXES)?;
    transaction.commit()
}

/// Adds `column` to `table` unless it is there; returns whether it was added.
fn add_column_if_missing(
    connection: &Connection,
    table: &str,
    column: &str,
    definition: &str,
) -> rusqlite::Result<bool> {
    let exists = connection
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
        ))?
        .exists(params![column])?;
    if !exists {
        connection.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN {column} {definition}"
        ))?;
    }
    Ok(!exists)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::log::{
        ensure_group,
        tests::{due_payloads, last_active, message},
    };

    #[test]
    fn a_database_from_before_last_active_at_is_migrated_in_place() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE pubsub_groups (
                    group_id   INTEGER PRIMARY KEY AUTOINCREMENT,
                    pubsub     TEXT    NOT NULL,
                    topic      TEXT    NOT NULL,
                    consumer   TEXT    NOT NULL,
                    created_at INTEGER NOT NULL,
                    UNIQUE (pubsub, topic, consumer)
                );
                INSERT INTO pubsub_groups (pubsub, topic, consumer, created_at)
                    VALUES ('pubsub', 't', 'old', 1);",
            )
            .unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        migrate(&mut connection, 42).unwrap();
        assert_eq!(
            last_active(&connection, 1),
            42,
            "kept, and active as of the upgrade"
        );
        migrate(&mut connection, 43).unwrap();
        assert_eq!(
            last_active(&connection, 1),
            42,
            "migrating again changes nothing"
        );
        let group = ensure_group(&mut connection, "pubsub", "t", "old", false, 50).unwrap();
        assert_eq!(group, 1);
    }

    #[test]
    fn pending_rows_from_before_is_head_get_their_heads_on_migration() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE pubsub_pending (
                    group_id        INTEGER NOT NULL,
                    seq             INTEGER NOT NULL,
                    partition_key   TEXT,
                    attempts        INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL,
                    PRIMARY KEY (group_id, seq)
                ) WITHOUT ROWID;",
            )
            .unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        let group = ensure_group(&mut connection, "pubsub", "t", "a", false, 0).unwrap();
        for (key, payload) in [(Some("k"), "k1"), (Some("k"), "k2"), (None, "free")] {
            let transaction = connection.transaction().unwrap();
            let stored = message("t", key, payload);
            let metadata = "{}";
            transaction
                .execute(
                    "INSERT INTO pubsub_messages
                         (pubsub, topic, partition_key, payload, metadata, published_at)
                     VALUES ('pubsub', 't', ?1, ?2, ?3, 0)",
                    params![stored.partition_key, stored.payload, metadata],
                )
                .unwrap();
            let seq = transaction.last_insert_rowid();
            transaction
                .execute(
                    "INSERT INTO pubsub_pending (group_id, seq, partition_key, next_attempt_at)
                     VALUES (?1, ?2, ?3, 0)",
                    params![group, seq, stored.partition_key],
                )
                .unwrap();
            transaction.commit().unwrap();
        }
        migrate(&mut connection, 0).unwrap();
        assert_eq!(due_payloads(&connection, group, &[]), ["k1", "free"]);
    }
}
