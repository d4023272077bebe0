//! Consumer groups in the log: a group joins a topic at its newest or oldest message, stays
//! active while a member is here or acknowledges, and is deleted once idle past the retention.

use rusqlite::{Connection, OptionalExtension, params};

use super::mark_key_heads;
use crate::db::atomic;

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
    let transaction = atomic(connection)?;
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

/// How stale `last_active_at` may get before an acknowledgement rewrites it: idling is
/// measured in hours, and skipping the write spares a page per acknowledgement.
const ACTIVITY_RESOLUTION_MILLIS: i64 = 60_000;

/// Records that a group was active at `now` (to within [`ACTIVITY_RESOLUTION_MILLIS`]).
pub(super) fn touch(connection: &Connection, group_id: i64, now: i64) -> rusqlite::Result<()> {
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
    let transaction = atomic(connection)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::log::{
        ack, delete_processed_before,
        tests::{due_payloads, last_active, message, open, publish},
    };

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
}
