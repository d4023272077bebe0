//! The durable log in SQLite: every published message, the consumer groups subscribed to each
//! topic, and what each group still has to process.
//!
//! A message appended to a topic gets a pending row for every group of that topic, in the same
//! transaction (so the outbox and a publish are atomic with their delivery bookkeeping). A
//! group acknowledges a message by deleting its pending row. Rows are never "claimed" in the
//! database: what is in flight lives in the worker's memory only, so a delivery cut short by
//! a crash is simply still pending when the process starts again (at-least-once, §4.3).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::db::write_transaction;

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

/// A group's deliverable messages, earliest due first (log order among those due at the same
/// time, which keeps messages that were never retried in log order). It reads heads from
/// `pubsub_pending_due` in index order, so `LIMIT` ends the scan: a wake-up costs about the
/// rows it returns, not every pending row of the group.
const DUE_SQL: &str = "
SELECT p.seq, p.attempts, m.published_at, m.pubsub, m.topic, m.partition_key,
       m.payload, m.metadata
FROM pubsub_pending p JOIN pubsub_messages m ON m.seq = p.seq
WHERE p.group_id = ?1 AND p.is_head = 1 AND p.next_attempt_at <= ?2
  AND p.seq NOT IN (SELECT value FROM json_each(?3))
ORDER BY p.next_attempt_at, p.seq LIMIT ?4";

/// When a group's next retry falls due: one seek in `pubsub_pending_due`.
const NEXT_DUE_SQL: &str = "
SELECT MIN(next_attempt_at) FROM pubsub_pending
WHERE group_id = ?1 AND is_head = 1 AND next_attempt_at > ?2";

/// Messages past retention that no group needs: a range of `pubsub_messages_published`.
const DELETE_PROCESSED_SQL: &str = "
DELETE FROM pubsub_messages WHERE published_at < ?1
AND NOT EXISTS (SELECT 1 FROM pubsub_pending p WHERE p.seq = pubsub_messages.seq)";

/// Brings a database written by an older localdapr up to [`SCHEMA`], in one transaction.
/// Columns are added with `ALTER TABLE` where missing, so existing data is kept.
pub(crate) fn migrate(connection: &mut Connection, now: i64) -> rusqlite::Result<()> {
    let transaction = write_transaction(connection)?;
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

/// Marks the oldest pending row of each key as its head, in group `group_id` or in all groups.
fn mark_key_heads(connection: &Connection, group_id: Option<i64>) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE pubsub_pending SET is_head = 1
         WHERE (?1 IS NULL OR group_id = ?1) AND partition_key IS NOT NULL
           AND seq = (SELECT MIN(q.seq) FROM pubsub_pending q
                      WHERE q.group_id = pubsub_pending.group_id
                        AND q.partition_key = pubsub_pending.partition_key)",
        params![group_id],
    )?;
    Ok(())
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

/// A message as the broker keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    /// The pub/sub component.
    pub pubsub: String,
    /// The topic.
    pub topic: String,
    /// The ordering key, if any.
    pub partition_key: Option<String>,
    /// The broker payload: the CloudEvent as JSON, or the raw bytes of a `rawPayload` publish.
    pub payload: Vec<u8>,
    /// The broker metadata (publish metadata), as given.
    pub metadata: HashMap<String, String>,
}

/// A pending message of a group, due for delivery.
#[derive(Clone, Debug)]
pub struct PendingMessage {
    /// Its position in the log.
    pub seq: i64,
    /// Failed attempts in the current retry cycle.
    pub attempts: u32,
    /// When it was published (ms since the epoch).
    pub published_at: i64,
    /// The message.
    pub message: StoredMessage,
}

/// Appends `message` to its topic and makes it pending for every group of the topic.
pub fn append(
    transaction: &Transaction<'_>,
    message: &StoredMessage,
    now: i64,
) -> rusqlite::Result<i64> {
    let metadata = serde_json::to_string(&message.metadata).unwrap_or_else(|_| "{}".into());
    transaction
        .prepare_cached(
            "INSERT INTO pubsub_messages
                 (pubsub, topic, partition_key, payload, metadata, published_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            message.pubsub,
            message.topic,
            message.partition_key,
            message.payload,
            metadata,
            now
        ])?;
    let seq = transaction.last_insert_rowid();
    // The new row is the youngest: it heads its key only when the key has nothing pending.
    transaction
        .prepare_cached(
            "INSERT INTO pubsub_pending
                 (group_id, seq, partition_key, attempts, next_attempt_at, is_head)
             SELECT g.group_id, ?1, ?2, 0, ?3, ?2 IS NULL OR NOT EXISTS (
                 SELECT 1 FROM pubsub_pending q
                 WHERE q.group_id = g.group_id AND q.partition_key = ?2)
             FROM pubsub_groups g WHERE g.pubsub = ?4 AND g.topic = ?5",
        )?
        .execute(params![
            seq,
            message.partition_key,
            now,
            message.pubsub,
            message.topic
        ])?;
    Ok(seq)
}

/// The id of the group `consumer` on a topic, creating it if needed. A new group starts at
/// the end of the log, or at its start when `from_oldest` (`initialOffset: oldest`).
pub fn ensure_group(
    connection: &mut Connection,
    pubsub: &str,
    topic: &str,
    consumer: &str,
    from_oldest: bool,
    now: i64,
) -> rusqlite::Result<i64> {
    let transaction = write_transaction(connection)?;
    let existing: Option<i64> = transaction
        .query_row(
            "SELECT group_id FROM pubsub_groups WHERE pubsub = ?1 AND topic = ?2 AND consumer = ?3",
            params![pubsub, topic, consumer],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(group_id) = existing {
        touch(&transaction, group_id, now)?;
        transaction.commit()?;
        return Ok(group_id);
    }
    transaction.execute(
        "INSERT INTO pubsub_groups (pubsub, topic, consumer, created_at, last_active_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![pubsub, topic, consumer, now],
    )?;
    let group_id = transaction.last_insert_rowid();
    if from_oldest {
        transaction.execute(
            "INSERT INTO pubsub_pending
                 (group_id, seq, partition_key, attempts, next_attempt_at, is_head)
             SELECT ?1, seq, partition_key, 0, ?2, partition_key IS NULL FROM pubsub_messages
             WHERE pubsub = ?3 AND topic = ?4",
            params![group_id, now, pubsub, topic],
        )?;
        mark_key_heads(&transaction, Some(group_id))?;
    }
    transaction.commit()?;
    Ok(group_id)
}

/// What a group can deliver now, and when the next retry falls due.
#[derive(Debug, Default)]
pub struct DueMessages {
    /// Due messages in log order: every unkeyed one, and the oldest of each key.
    pub messages: Vec<PendingMessage>,
    /// The earliest `next_attempt_at` still in the future (ms since the epoch).
    pub next_due_at: Option<i64>,
}

/// Up to `limit` messages of `group_id` due at `now`, earliest due first, skipping those in
/// `in_flight`. A keyed message is due only when it is the oldest pending one of its key (its
/// head), so a key is delivered one message at a time, in order, and a message being retried
/// holds back the rest of its key.
pub fn due(
    connection: &Connection,
    group_id: i64,
    now: i64,
    in_flight: &[i64],
    limit: usize,
) -> rusqlite::Result<DueMessages> {
    let in_flight = serde_json::to_string(in_flight).unwrap_or_else(|_| "[]".into());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(DUE_SQL)?;
    let messages = statement
        .query_map(params![group_id, now, in_flight, limit], |row| {
            let metadata: String = row.get(7)?;
            Ok(PendingMessage {
                seq: row.get(0)?,
                attempts: row.get(1)?,
                published_at: row.get(2)?,
                message: StoredMessage {
                    pubsub: row.get(3)?,
                    topic: row.get(4)?,
                    partition_key: row.get(5)?,
                    payload: row.get(6)?,
                    metadata: serde_json::from_str(&metadata).unwrap_or_default(),
                },
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_due_at = connection
        .prepare_cached(NEXT_DUE_SQL)?
        .query_row(params![group_id, now], |row| row.get(0))?;
    Ok(DueMessages {
        messages,
        next_due_at,
    })
}

/// Acknowledges a message: the group is done with it, and active at `now`.
pub fn ack(connection: &mut Connection, group_id: i64, seq: i64, now: i64) -> rusqlite::Result<()> {
    let transaction = write_transaction(connection)?;
    ack_in(&transaction, group_id, seq, now)?;
    transaction.commit()
}

/// [`ack`] inside an open transaction: deletes the row and makes the next pending row of its
/// key the head, together, so a key is never left without one.
fn ack_in(connection: &Connection, group_id: i64, seq: i64, now: i64) -> rusqlite::Result<()> {
    let key: Option<Option<String>> = connection
        .prepare_cached(
            "DELETE FROM pubsub_pending WHERE group_id = ?1 AND seq = ?2 RETURNING partition_key",
        )?
        .query_row(params![group_id, seq], |row| row.get(0))
        .optional()?;
    if let Some(Some(key)) = key {
        connection
            .prepare_cached(
                "UPDATE pubsub_pending SET is_head = 1
                 WHERE group_id = ?1 AND seq = (SELECT MIN(seq) FROM pubsub_pending
                                                WHERE group_id = ?1 AND partition_key = ?2)",
            )?
            .execute(params![group_id, key])?;
    }
    touch(connection, group_id, now)
}

/// How stale `last_active_at` may get before an acknowledgement rewrites it: idling is
/// measured in hours, and skipping the write spares a page per acknowledgement.
const ACTIVITY_RESOLUTION_MILLIS: i64 = 60_000;

/// Records that a group was active at `now` (to within [`ACTIVITY_RESOLUTION_MILLIS`]).
fn touch(connection: &Connection, group_id: i64, now: i64) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "UPDATE pubsub_groups SET last_active_at = ?2
             WHERE group_id = ?1 AND last_active_at <= ?2 - ?3",
        )?
        .execute(params![group_id, now, ACTIVITY_RESOLUTION_MILLIS])?;
    Ok(())
}

/// Deletes the groups idle since before `cutoff` that have no member in this process (not in
/// `live`), with their pending rows, and returns their ids. Groups in `live` are marked active
/// at `now` first, so a group whose last member leaves gets a full retention period too.
///
/// Like a Kafka consumer group whose offsets expired, a deleted group that comes back starts
/// again from its `initialOffset`. Without this, every `{uuid}` consumer id (a new group per
/// run) would keep a pending row per message forever and hold back retention.
pub fn delete_inactive_groups(
    connection: &mut Connection,
    cutoff: i64,
    live: &[i64],
    now: i64,
) -> rusqlite::Result<Vec<i64>> {
    let live = serde_json::to_string(live).unwrap_or_else(|_| "[]".into());
    let transaction = write_transaction(connection)?;
    transaction.execute(
        "UPDATE pubsub_groups SET last_active_at = ?2
         WHERE group_id IN (SELECT value FROM json_each(?1))",
        params![live, now],
    )?;
    let idle: Vec<i64> = transaction
        .prepare(
            "SELECT group_id FROM pubsub_groups WHERE last_active_at < ?1
             AND group_id NOT IN (SELECT value FROM json_each(?2))",
        )?
        .query_map(params![cutoff, live], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for group_id in &idle {
        transaction.execute(
            "DELETE FROM pubsub_pending WHERE group_id = ?1",
            params![group_id],
        )?;
        transaction.execute(
            "DELETE FROM pubsub_groups WHERE group_id = ?1",
            params![group_id],
        )?;
    }
    transaction.commit()?;
    Ok(idle)
}

/// Schedules the next attempt of a message.
pub fn reschedule(
    connection: &Connection,
    group_id: i64,
    seq: i64,
    attempts: u32,
    next_attempt_at: i64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "UPDATE pubsub_pending SET attempts = ?3, next_attempt_at = ?4
             WHERE group_id = ?1 AND seq = ?2",
        )?
        .execute(params![group_id, seq, attempts, next_attempt_at])?;
    Ok(())
}

/// Publishes `message` (the original) to `dead_letter_topic` and acknowledges it, atomically.
pub fn dead_letter(
    connection: &mut Connection,
    group_id: i64,
    seq: i64,
    message: &StoredMessage,
    dead_letter_topic: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let transaction = write_transaction(connection)?;
    let copy = StoredMessage {
        topic: dead_letter_topic.to_string(),
        ..message.clone()
    };
    append(&transaction, &copy, now)?;
    ack_in(&transaction, group_id, seq, now)?;
    transaction.commit()
}

/// Deletes messages published before `cutoff` that no group still needs.
pub fn delete_processed_before(connection: &Connection, cutoff: i64) -> rusqlite::Result<usize> {
    connection.execute(DELETE_PROCESSED_SQL, params![cutoff])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        migrate(&mut connection, 0).unwrap();
        connection
    }

    fn message(topic: &str, key: Option<&str>, payload: &str) -> StoredMessage {
        StoredMessage {
            pubsub: "pubsub".into(),
            topic: topic.into(),
            partition_key: key.map(str::to_string),
            payload: payload.as_bytes().to_vec(),
            metadata: HashMap::new(),
        }
    }

    fn publish(connection: &mut Connection, message: &StoredMessage) -> i64 {
        let transaction = connection.transaction().unwrap();
        let seq = append(&transaction, message, 0).unwrap();
        transaction.commit().unwrap();
        seq
    }

    fn due_payloads(connection: &Connection, group: i64, in_flight: &[i64]) -> Vec<String> {
        due(connection, group, 10, in_flight, 100)
            .unwrap()
            .messages
            .into_iter()
            .map(|m| String::from_utf8(m.message.payload).unwrap())
            .collect()
    }

    #[test]
    fn a_new_group_starts_at_the_newest_message_unless_told_oldest() {
        let mut connection = open();
        publish(&mut connection, &message("t", None, "before"));
        let newest = ensure_group(&mut connection, "pubsub", "t", "a", false, 0).unwrap();
        let oldest = ensure_group(&mut connection, "pubsub", "t", "b", true, 0).unwrap();
        publish(&mut connection, &message("t", None, "after"));
        assert_eq!(due_payloads(&connection, newest, &[]), ["after"]);
        assert_eq!(due_payloads(&connection, oldest, &[]), ["before", "after"]);
        let again = ensure_group(&mut connection, "pubsub", "t", "a", true, 0).unwrap();
        assert_eq!(again, newest, "an existing group keeps its position");
    }

    #[test]
    fn only_the_oldest_message_of_a_key_is_due() {
        let mut connection = open();
        let group = ensure_group(&mut connection, "pubsub", "t", "a", false, 0).unwrap();
        let first = publish(&mut connection, &message("t", Some("k"), "k1"));
        publish(&mut connection, &message("t", Some("k"), "k2"));
        publish(&mut connection, &message("t", None, "free"));
        assert_eq!(due_payloads(&connection, group, &[]), ["k1", "free"]);
        assert_eq!(
            due_payloads(&connection, group, &[first]),
            ["free"],
            "k2 waits while k1 is in flight"
        );
        reschedule(&connection, group, first, 1, 1_000).unwrap();
        assert_eq!(
            due_payloads(&connection, group, &[]),
            ["free"],
            "a retried message holds back its key"
        );
        ack(&mut connection, group, first, 0).unwrap();
        assert_eq!(due_payloads(&connection, group, &[]), ["k2", "free"]);
    }

    #[test]
    fn dead_lettering_moves_the_original_to_the_dead_letter_topic() {
        let mut connection = open();
        let group = ensure_group(&mut connection, "pubsub", "t", "a", false, 0).unwrap();
        let dlq_group = ensure_group(&mut connection, "pubsub", "dlq", "a", false, 0).unwrap();
        let original = message("t", None, "poison");
        let seq = publish(&mut connection, &original);
        dead_letter(&mut connection, group, seq, &original, "dlq", 0).unwrap();
        assert!(due_payloads(&connection, group, &[]).is_empty());
        assert_eq!(due_payloads(&connection, dlq_group, &[]), ["poison"]);
    }

    #[test]
    fn processed_messages_are_deleted_and_pending_ones_kept() {
        let mut connection = open();
        let group = ensure_group(&mut connection, "pubsub", "t", "a", false, 0).unwrap();
        let done = publish(&mut connection, &message("t", None, "done"));
        publish(&mut connection, &message("t", None, "pending"));
        ack(&mut connection, group, done, 0).unwrap();
        assert_eq!(delete_processed_before(&connection, 1).unwrap(), 1);
        assert_eq!(due_payloads(&connection, group, &[]), ["pending"]);
    }

    fn last_active(connection: &Connection, group: i64) -> i64 {
        connection
            .query_row(
                "SELECT last_active_at FROM pubsub_groups WHERE group_id = ?1",
                [group],
                |row| row.get(0),
            )
            .unwrap()
    }

    fn group_count(connection: &Connection) -> i64 {
        connection
            .query_row("SELECT COUNT(*) FROM pubsub_groups", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn joining_and_acking_mark_a_group_active() {
        let mut connection = open();
        let minute = ACTIVITY_RESOLUTION_MILLIS;
        let group = ensure_group(&mut connection, "pubsub", "t", "a", false, 5).unwrap();
        assert_eq!(last_active(&connection, group), 5);
        let first = publish(&mut connection, &message("t", None, "m1"));
        let second = publish(&mut connection, &message("t", None, "m2"));
        ack(&mut connection, group, first, 5 + minute / 2).unwrap();
        assert_eq!(
            last_active(&connection, group),
            5,
            "within a minute nothing is written"
        );
        ack(&mut connection, group, second, 5 + minute).unwrap();
        assert_eq!(last_active(&connection, group), 5 + minute);
        ensure_group(&mut connection, "pubsub", "t", "a", false, 10 * minute).unwrap();
        assert_eq!(
            last_active(&connection, group),
            10 * minute,
            "joining again"
        );
    }

    #[test]
    fn idle_groups_without_members_are_deleted_with_their_pending_rows() {
        let mut connection = open();
        let idle = ensure_group(&mut connection, "pubsub", "t", "run-1", false, 0).unwrap();
        let recent = ensure_group(&mut connection, "pubsub", "t", "run-2", false, 50).unwrap();
        let live = ensure_group(&mut connection, "pubsub", "t", "running", false, 0).unwrap();
        publish(&mut connection, &message("t", None, "m"));

        let deleted = delete_inactive_groups(&mut connection, 10, &[live], 100).unwrap();

        assert_eq!(deleted, [idle]);
        assert_eq!(group_count(&connection), 2);
        assert!(
            due_payloads(&connection, idle, &[]).is_empty(),
            "its rows are gone"
        );
        assert_eq!(due_payloads(&connection, recent, &[]), ["m"]);
        assert_eq!(
            last_active(&connection, live),
            100,
            "a group with a member is active"
        );
        ack(&mut connection, recent, 1, 60).unwrap();
        ack(&mut connection, live, 1, 100).unwrap();
        assert_eq!(
            delete_processed_before(&connection, 1).unwrap(),
            1,
            "the idle group no longer holds the message back"
        );
    }

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

    fn query_plan(connection: &Connection, sql: &str, parameters: usize) -> String {
        let nulls = vec![rusqlite::types::Null; parameters];
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let details: Vec<String> = statement
            .query_map(rusqlite::params_from_iter(nulls), |row| row.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        details.join("; ")
    }

    #[test]
    fn delivery_and_retention_queries_read_through_their_indexes() {
        let connection = open();
        let cases = [
            (
                "due",
                DUE_SQL,
                4,
                "INDEX pubsub_pending_due (group_id=? AND next_attempt_at<?)",
            ),
            (
                "next due",
                NEXT_DUE_SQL,
                2,
                "INDEX pubsub_pending_due (group_id=? AND next_attempt_at>?)",
            ),
            (
                "retention",
                DELETE_PROCESSED_SQL,
                1,
                "INDEX pubsub_messages_published (published_at<?)",
            ),
        ];
        for (case, sql, parameters, expected) in cases {
            let plan = query_plan(&connection, sql, parameters);
            assert!(plan.contains(expected), "case {case}: {plan}");
            assert!(
                !plan.contains("TEMP B-TREE"),
                "case {case} sorts its rows: {plan}"
            );
        }
    }

    #[test]
    fn dead_lettering_or_replaying_keeps_one_head_per_key() {
        let mut connection = open();
        let group = ensure_group(&mut connection, "pubsub", "t", "a", false, 0).unwrap();
        let poison = message("t", Some("k"), "k1");
        let first = publish(&mut connection, &poison);
        publish(&mut connection, &message("t", Some("k"), "k2"));
        publish(&mut connection, &message("t", Some("j"), "j1"));
        publish(&mut connection, &message("t", Some("j"), "j2"));
        dead_letter(&mut connection, group, first, &poison, "dlq", 0).unwrap();
        assert_eq!(
            due_payloads(&connection, group, &[]),
            ["k2", "j1"],
            "dead-lettering the head promotes the next of its key"
        );
        let replay = ensure_group(&mut connection, "pubsub", "t", "b", true, 0).unwrap();
        assert_eq!(
            due_payloads(&connection, replay, &[]),
            ["k1", "j1"],
            "a group replaying the topic starts with the oldest of each key"
        );
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
