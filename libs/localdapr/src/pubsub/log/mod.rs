//! The durable log in SQLite: every published message, the consumer groups subscribed to each
//! topic, and what each group still has to process.
//!
//! A message appended to a topic gets a pending row for every group of that topic, in the same
//! transaction (so the outbox and a publish are atomic with their delivery bookkeeping). A
//! group acknowledges a message by deleting its pending row. Rows are never "claimed" in the
//! database: what is in flight lives in the worker's memory only, so a delivery cut short by
//! a crash is simply still pending when the process starts again (at-least-once, §4.3).
//!
//! - this module: messages and their pending rows — append, due, ack, retry, dead letter,
//!   retention.
//! - `groups`: consumer groups — joining, activity, and deleting the idle ones.
//! - `schema`: the tables, and the upgrade of those an older localdapr created.

mod groups;
mod schema;

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::atomic;

use groups::touch;
pub use groups::{delete_inactive_groups, ensure_group};
pub(crate) use schema::{SCHEMA, migrate};

/// A group's deliverable messages, earliest due first (log order among those due at the same
/// time, which keeps messages that were never retried in log order). It reads heads from
/// `pubsub_pending_due` in index order, so `LIMIT` ends the scan: a wake-up costs about the
/// rows it returns, not every pending row of the group.
///
/// The `LIMIT` is [`MAX_DUE`] written out, not a parameter: SQLite plans with a bound `LIMIT`'s
/// value, so it prepared the statement again on every call (most of what `due` cost in a
/// profile of `just bench user-size`); [`due`] stops reading at its own, smaller limit.
const DUE_SQL: &str = "
SELECT p.seq, p.attempts, m.published_at, m.pubsub, m.topic, m.partition_key,
       m.payload, m.metadata
FROM pubsub_pending p JOIN pubsub_messages m ON m.seq = p.seq
WHERE p.group_id = ?1 AND p.is_head = 1 AND p.next_attempt_at <= ?2
  AND p.seq NOT IN (SELECT value FROM json_each(?3))
ORDER BY p.next_attempt_at, p.seq LIMIT 32";

/// The most messages one [`due`] call returns: the `LIMIT` of [`DUE_SQL`].
pub const MAX_DUE: usize = 32;

/// When a group's next retry falls due: one seek in `pubsub_pending_due`.
const NEXT_DUE_SQL: &str = "
SELECT MIN(next_attempt_at) FROM pubsub_pending
WHERE group_id = ?1 AND is_head = 1 AND next_attempt_at > ?2";

/// Messages past retention that no group needs: a range of `pubsub_messages_published`.
const DELETE_PROCESSED_SQL: &str = "
DELETE FROM pubsub_messages WHERE published_at < ?1
AND NOT EXISTS (SELECT 1 FROM pubsub_pending p WHERE p.seq = pubsub_messages.seq)";

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
    transaction: &Connection,
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

/// What a group can deliver now, and when the next retry falls due.
#[derive(Debug, Default)]
pub struct DueMessages {
    /// Due messages in log order: every unkeyed one, and the oldest of each key.
    pub messages: Vec<PendingMessage>,
    /// The earliest `next_attempt_at` still in the future (ms since the epoch).
    pub next_due_at: Option<i64>,
}

/// Up to `limit` (at most [`MAX_DUE`]) messages of `group_id` due at `now`, earliest due first,
/// skipping those in `in_flight`. A keyed message is due only when it is the oldest pending one
/// of its key (its head), so a key is delivered one message at a time, in order, and a message
/// being retried holds back the rest of its key.
pub fn due(
    connection: &Connection,
    group_id: i64,
    now: i64,
    in_flight: &[i64],
    limit: usize,
) -> rusqlite::Result<DueMessages> {
    let in_flight = serde_json::to_string(in_flight).unwrap_or_else(|_| "[]".into());
    let mut statement = connection.prepare_cached(DUE_SQL)?;
    let messages = statement
        .query_map(params![group_id, now, in_flight], |row| {
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
        .take(limit)
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
    let transaction = atomic(connection)?;
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
    let transaction = atomic(connection)?;
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

    pub(super) fn open() -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        migrate(&mut connection, 0).unwrap();
        connection
    }

    pub(super) fn message(topic: &str, key: Option<&str>, payload: &str) -> StoredMessage {
        StoredMessage {
            pubsub: "pubsub".into(),
            topic: topic.into(),
            partition_key: key.map(str::to_string),
            payload: payload.as_bytes().to_vec(),
            metadata: HashMap::new(),
        }
    }

    pub(super) fn publish(connection: &mut Connection, message: &StoredMessage) -> i64 {
        let transaction = connection.transaction().unwrap();
        let seq = append(&transaction, message, 0).unwrap();
        transaction.commit().unwrap();
        seq
    }

    pub(super) fn due_payloads(
        connection: &Connection,
        group: i64,
        in_flight: &[i64],
    ) -> Vec<String> {
        due(connection, group, 10, in_flight, 100)
            .unwrap()
            .messages
            .into_iter()
            .map(|m| String::from_utf8(m.message.payload).unwrap())
            .collect()
    }

    #[test]
    fn due_answers_at_most_its_limit_and_prepares_its_query_once() {
        assert!(DUE_SQL.ends_with(&format!("LIMIT {MAX_DUE}")));
        let mut connection = open();
        let group = ensure_group(&mut connection, "pubsub", "t", "a", false, 0).unwrap();
        for n in 0..MAX_DUE + 5 {
            publish(&mut connection, &message("t", None, &n.to_string()));
        }
        for (now, limit, expected) in [(10, 3, 3), (11, 100, MAX_DUE), (12, 0, 0), (13, 7, 7)] {
            let due = due(&connection, group, now, &[1, 2], limit).unwrap();
            assert_eq!(due.messages.len(), expected, "limit {limit}");
            assert!(
                due.messages.iter().all(|m| m.seq > 2),
                "in flight are skipped"
            );
        }
        // A bound LIMIT made SQLite prepare the statement again for every new value.
        let statement = connection.prepare_cached(DUE_SQL).unwrap();
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0
        );
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

    pub(super) fn last_active(connection: &Connection, group: i64) -> i64 {
        connection
            .query_row(
                "SELECT last_active_at FROM pubsub_groups WHERE group_id = ?1",
                [group],
                |row| row.get(0),
            )
            .unwrap()
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
                3,
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
}
