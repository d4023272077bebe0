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
CREATE TABLE IF NOT EXISTS pubsub_groups (
    group_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    pubsub     TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    consumer   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (pubsub, topic, consumer)
);
CREATE TABLE IF NOT EXISTS pubsub_pending (
    group_id        INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    partition_key   TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pubsub_pending_key
    ON pubsub_pending (group_id, partition_key, seq) WHERE partition_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS pubsub_pending_seq ON pubsub_pending (seq);
";

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
    transaction
        .prepare_cached(
            "INSERT INTO pubsub_pending (group_id, seq, partition_key, attempts, next_attempt_at)
             SELECT group_id, ?1, ?2, 0, ?3 FROM pubsub_groups WHERE pubsub = ?4 AND topic = ?5",
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
    let transaction = connection.transaction()?;
    let existing: Option<i64> = transaction
        .query_row(
            "SELECT group_id FROM pubsub_groups WHERE pubsub = ?1 AND topic = ?2 AND consumer = ?3",
            params![pubsub, topic, consumer],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(group_id) = existing {
        return Ok(group_id);
    }
    transaction.execute(
        "INSERT INTO pubsub_groups (pubsub, topic, consumer, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![pubsub, topic, consumer, now],
    )?;
    let group_id = transaction.last_insert_rowid();
    if from_oldest {
        transaction.execute(
            "INSERT INTO pubsub_pending (group_id, seq, partition_key, attempts, next_attempt_at)
             SELECT ?1, seq, partition_key, 0, ?2 FROM pubsub_messages
             WHERE pubsub = ?3 AND topic = ?4",
            params![group_id, now, pubsub, topic],
        )?;
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

/// Up to `limit` messages of `group_id` due at `now`, skipping those in `in_flight`. A keyed
/// message is due only when it is the oldest pending one of its key, so a key is delivered one
/// message at a time, in order, and a message being retried holds back the rest of its key.
pub fn due(
    connection: &Connection,
    group_id: i64,
    now: i64,
    in_flight: &[i64],
    limit: usize,
) -> rusqlite::Result<DueMessages> {
    let in_flight = serde_json::to_string(in_flight).unwrap_or_else(|_| "[]".into());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(
        "SELECT p.seq, p.attempts, m.published_at, m.pubsub, m.topic, m.partition_key,
                m.payload, m.metadata
         FROM pubsub_pending p JOIN pubsub_messages m ON m.seq = p.seq
         WHERE p.group_id = ?1 AND p.next_attempt_at <= ?2
           AND p.seq NOT IN (SELECT value FROM json_each(?3))
           AND (p.partition_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM pubsub_pending q
                WHERE q.group_id = p.group_id AND q.partition_key = p.partition_key
                  AND q.seq < p.seq))
         ORDER BY p.seq LIMIT ?4",
    )?;
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
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM pubsub_pending
             WHERE group_id = ?1 AND next_attempt_at > ?2",
        )?
        .query_row(params![group_id, now], |row| row.get(0))?;
    Ok(DueMessages {
        messages,
        next_due_at,
    })
}

/// Acknowledges a message: the group is done with it.
pub fn ack(connection: &Connection, group_id: i64, seq: i64) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM pubsub_pending WHERE group_id = ?1 AND seq = ?2")?
        .execute(params![group_id, seq])?;
    Ok(())
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
    let transaction = connection.transaction()?;
    let copy = StoredMessage {
        topic: dead_letter_topic.to_string(),
        ..message.clone()
    };
    append(&transaction, &copy, now)?;
    ack(&transaction, group_id, seq)?;
    transaction.commit()
}

/// Deletes messages published before `cutoff` that no group still needs.
pub fn delete_processed_before(connection: &Connection, cutoff: i64) -> rusqlite::Result<usize> {
    connection.execute(
        "DELETE FROM pubsub_messages WHERE published_at < ?1
         AND NOT EXISTS (SELECT 1 FROM pubsub_pending p WHERE p.seq = pubsub_messages.seq)",
        params![cutoff],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
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
        ack(&connection, group, first).unwrap();
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
        ack(&connection, group, done).unwrap();
        assert_eq!(delete_processed_before(&connection, 1).unwrap(), 1);
        assert_eq!(due_payloads(&connection, group, &[]), ["pending"]);
    }
}
